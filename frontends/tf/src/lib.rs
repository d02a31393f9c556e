//! The TensorFlow importer. It reads what TF1 training leaves behind (a `.meta` with its
//! tensor bundle), eval checkpoints, frozen `.pb` GraphDefs, SavedModel folders, and TF2
//! checkpoints bound by name onto a graph (`--graph`), and produces IR and nothing else.
//!
//! Phases:
//! 1. [`source`]: find the files (a `.meta`, a prefix, a folder, its `checkpoint` state file
//!    with stale absolute paths, a `.pb`, a SavedModel folder) and decode them ([`proto`]);
//!    function calls are inlined ([`functions`]); the checkpoint is opened and every
//!    tensor's crc checked ([`bundle`], [`sstable`]).
//! 2. [`extract`]: the inference subgraph, walking back from the outputs (signature, given
//!    names, or detected), with the training constructs resolved and each rewrite noted.
//! 3. [`bind`]: a TF2 checkpoint's tensors by name, when the graph came from `--graph`.
//! 4. [`convert`] through the op table [`ops`]: NHWC ops and HWIO filters as TensorFlow
//!    has them; the layout pass makes them canonical.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bind;
pub mod bundle;
pub mod convert;
pub mod extract;
pub mod functions;
pub mod graph;
pub mod ops;
pub mod source;
pub mod sstable;
pub mod tensor;
pub mod weights;

/// TensorFlow's messages (the subset in `proto/tensorflow.proto`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
}

use senetc_import::{Builder, FrontendError, ImportNotes};
use senetc_ir::{Graph, TensorType};
use source::Located;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Settings of a TensorFlow import that the files do not carry.
#[derive(Clone, Debug, Default)]
pub struct TfOptions {
    /// Tensors to cut the graph at; they become graph inputs (`--input-name NAME[:k]`).
    pub input_names: Vec<String>,
    /// Tensors to output (`--output-name NAME[:k]`, ATC's `--out-nodes`).
    pub output_names: Vec<String>,
    /// Input shapes by input name (`--input-shape`); -1 leaves a dim symbolic.
    pub input_shapes: Vec<(String, Vec<i64>)>,
    /// Placeholder pins (`--set NAME=VALUE`).
    pub set: Vec<(String, String)>,
    /// The graph a TF2 checkpoint is bound onto (`--graph`).
    pub graph: Option<PathBuf>,
    /// The SavedModel signature to import (default `serving_default`).
    pub signature: Option<String>,
    /// Read each variable from its ExponentialMovingAverage shadow where the checkpoint
    /// has one (what eval scripts restoring `ema.variables_to_restore()` compute).
    pub ema: bool,
}

/// Whether `path` is a TensorFlow model this importer reads.
pub fn recognizes(path: &Path) -> bool {
    source::recognizes(path)
}

/// Import the TensorFlow model at `path`.
pub fn import(path: &Path, opts: &TfOptions) -> Result<(Graph, ImportNotes), FrontendError> {
    let loc = source::locate(path)?;
    let (mut src, tf2) = match (&loc, &opts.graph) {
        (Located::Checkpoint(prefix), Some(graph)) => {
            let (s, b) = source::load_with_graph(prefix, graph, opts.signature.as_deref())?;
            (s, Some(b))
        }
        (_, Some(_)) => return Err(FrontendError::decode(path, "--graph is for checkpoints without a graph; this model has its own")),
        _ => (source::load(&loc, opts.signature.as_deref())?, None),
    };
    let file = src.file.clone();
    let unsupported = |problems| FrontendError::Unsupported { path: file.clone(), problems };
    let g = graph::TfGraph::new(std::mem::take(&mut src.nodes));
    let xopts = extract::Options { input_names: &opts.input_names, output_names: &opts.output_names, set: &opts.set };
    let plan = extract::plan(&g, &src, &xopts).map_err(unsupported)?;
    let mut weights = weights::Weights::new(&src, opts.ema);
    let mut notes = src.notes.clone();
    if let Some(ckpt) = &tf2 {
        let (bound, note) = bind::bind(&g, &plan, &src, &mut weights, ckpt).map_err(unsupported)?;
        weights.bound = Some(bound);
        notes.push(note);
    }
    let cut_types = cut_types(&g, &src, &plan, opts, &mut weights).map_err(unsupported)?;
    notes.extend(plan.notes.iter().cloned());
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut imp = convert::Imp { b: Builder::new(name), g: &g, weights: &mut weights, pinned: &plan.pinned, training_batch: None };
    for n in notes {
        imp.b.note(n);
    }
    convert::run(&mut imp, &plan, &opts.input_shapes, &cut_types);
    if let Some(s) = imp.weights.summary() {
        imp.b.note(s);
    }
    let nt = imp.weights.bound.as_ref().map_or(0, |b| b.len());
    let _ = nt;
    imp.b.finish().map_err(unsupported)
}

/// The types of cut inputs: the graph above each cut converted to see what reaches it.
fn cut_types(g: &graph::TfGraph, src: &source::Source, plan: &extract::Plan, opts: &TfOptions, weights: &mut weights::Weights) -> Result<HashMap<graph::TRef, TensorType>, Vec<senetc_import::Problem>> {
    let cuts: Vec<&extract::InputSpec> = plan.inputs.iter().filter(|i| i.cut && !opts.input_shapes.iter().any(|(n, _)| *n == i.name)).collect();
    let mut out = HashMap::new();
    if cuts.is_empty() {
        return Ok(out);
    }
    let names: Vec<String> = cuts.iter().map(|c| g.value_name(c.tref)).collect();
    let xopts = extract::Options { input_names: &[], output_names: &names, set: &opts.set };
    let above = extract::plan(g, src, &xopts)?;
    let mut imp = convert::Imp { b: Builder::new("above"), g, weights, pinned: &above.pinned, training_batch: None };
    convert::run(&mut imp, &above, &opts.input_shapes, &HashMap::new());
    for (c, name) in cuts.iter().zip(&names) {
        if let (Ok(d), Ok(t)) = (imp.b.shape_of(name), imp.b.dtype_of(name)) {
            out.insert(c.tref, TensorType::new(t, senetc_ir::Shape(d)));
        }
    }
    let problems = imp.b.problems().to_vec();
    if out.len() < cuts.len() && !problems.is_empty() {
        return Err(problems);
    }
    Ok(out)
}

//! senetc's importers: one crate per format in the folders beside this one (`import/` is
//! the layer they share), and the one entry point, [`import`], that recognises a model's
//! format and runs its importer. Each importer produces IR and nothing else.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub use senetc_import::{FrontendError, ImportNotes, Problem};

use senetc_ir::Graph;
use std::path::{Path, PathBuf};

/// The model formats senetc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX protobuf.
    Onnx,
    /// TensorFlow: a TF1 `.meta` with its checkpoint, a frozen `.pb`, a SavedModel folder,
    /// or a TF2 checkpoint bound onto `--graph`.
    TensorFlow,
}

impl Format {
    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::TensorFlow => "tensorflow",
        }
    }
}

/// Settings of an import that the model file does not carry.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Weights to bind by name onto the model's graph (`--weights`).
    pub weights: Option<PathBuf>,
    /// Tensors to cut the graph at, becoming inputs (`--input-name NAME[:k]`; TensorFlow).
    pub input_names: Vec<String>,
    /// Tensors to output (`--output-name NAME[:k]`, ATC's `--out-nodes`; TensorFlow).
    pub output_names: Vec<String>,
    /// Input shapes by input name (`--input-shape`, -1 for a dynamic dim); binds the batch.
    pub input_shapes: Vec<(String, Vec<i64>)>,
    /// Placeholder pins (`--set NAME=VALUE`; TensorFlow).
    pub set: Vec<(String, String)>,
    /// The graph a checkpoint without one is bound onto (`--graph`; TensorFlow).
    pub graph: Option<PathBuf>,
    /// The SavedModel signature to import (`--signature`; default `serving_default`).
    pub signature: Option<String>,
    /// Variables from their ExponentialMovingAverage shadows (`--ema`; TensorFlow).
    pub ema: bool,
}

impl ImportOptions {
    fn tf_only(&self) -> Option<&'static str> {
        if !self.input_names.is_empty() {
            Some("--input-name")
        } else if !self.set.is_empty() {
            Some("--set")
        } else if self.graph.is_some() {
            Some("--graph")
        } else if self.signature.is_some() {
            Some("--signature")
        } else if self.ema {
            Some("--ema")
        } else {
            None
        }
    }
}

/// An imported model.
#[derive(Debug)]
pub struct Imported {
    /// The graph, verified.
    pub graph: Graph,
    /// The format it was read from.
    pub format: Format,
    /// What the importer did and found, for the report.
    pub notes: ImportNotes,
}

/// Which format `path` holds.
pub fn detect(path: &Path) -> Result<Format, FrontendError> {
    if path.is_file() && path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return Ok(Format::Onnx);
    }
    // Folders and checkpoint prefixes (which name no file themselves) too.
    if senetc_tf::recognizes(path) {
        return Ok(Format::TensorFlow);
    }
    std::fs::metadata(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    Err(FrontendError::decode(
        path,
        "unknown model format (senetc reads .onnx; TensorFlow .meta, checkpoint prefixes and folders, frozen .pb, SavedModel folders; .om, .air)",
    ))
}

/// Import the model at `path`.
pub fn import(path: &Path, options: &ImportOptions) -> Result<Imported, FrontendError> {
    let format = detect(path)?;
    let (graph, notes) = match format {
        Format::Onnx => {
            if let Some(flag) = options.tf_only() {
                return Err(FrontendError::decode(path, format!("{flag} applies to TensorFlow models")));
            }
            senetc_onnx::import(path)?
        }
        Format::TensorFlow => {
            let o = senetc_tf::TfOptions {
                input_names: options.input_names.clone(),
                output_names: options.output_names.clone(),
                input_shapes: options.input_shapes.clone(),
                set: options.set.clone(),
                graph: options.graph.clone(),
                signature: options.signature.clone(),
                ema: options.ema,
            };
            senetc_tf::import(path, &o)?
        }
    };
    Ok(Imported { graph, format, notes })
}

/// [`import`] with default options, keeping only the graph.
pub fn import_graph(path: &Path) -> Result<Graph, FrontendError> {
    Ok(import(path, &ImportOptions::default())?.graph)
}

/// The ONNX importer, for callers that import from memory.
pub use senetc_onnx as onnx;
/// The TensorFlow importer.
pub use senetc_tf as tf;

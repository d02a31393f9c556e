//! The MindSpore MindIR importer.
//!
//! Phases: read the file into one normalized model ([`read`]: MindSpore 2.x files with
//! their primitives table and external weights, and the ONNX-shaped files of MindSpore
//! 1.x); check every node's primitive against the op table and report every unsupported one
//! at once; convert node by node in file order through the shared import layer.
//!
//! What MindIR has that the IR has not is resolved here: the side-effect plumbing (`Load`,
//! `UpdateState`, `Depend`) is bypassed, tuples (`MakeTuple`, `TupleGetItem`, the outputs of
//! `Split` and `BatchNorm`) are followed at import, settings are read from Constant inputs
//! and from primitive attributes alike, `Split` becomes one `slice` per part that is read,
//! and a `MatMul` whose only reader is a `BiasAdd` (what `nn.Dense` exports) becomes one `gemm`.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod ops;
pub mod read;
pub mod value;

/// The generated protobuf messages: `mind_ir` (2.x) and `mind_ir_v1` (the 1.x layout).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    /// MindSpore 2.x `mind_ir.ModelProto` (the fields senetc reads).
    pub mod mind_ir {
        include!(concat!(env!("OUT_DIR"), "/mind_ir.rs"));
    }
    /// The ONNX-shaped layout of MindSpore 1.0.
    pub mod mind_ir_v1 {
        include!(concat!(env!("OUT_DIR"), "/mind_ir_v1.rs"));
    }
}

pub use read::{sniff, MAX_MIND_IR_VERSION};

use read::{Form, Model, Node};
use senetc_import::{Builder, FrontendError, ImportNotes, Problem, Val};
use senetc_ir::{Dim, Graph, Outlet, Shape, TensorType};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use value::Value;

/// Import the MindIR model at `path` (its external data files are looked up beside it).
pub fn import(path: &Path) -> Result<(Graph, ImportNotes), FrontendError> {
    let storage = senetc_import::files::map_file(path).map_err(|msg| {
        let source = std::fs::metadata(path).err().unwrap_or_else(|| std::io::Error::other(msg));
        FrontendError::Io { path: path.to_path_buf(), source }
    })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    import_bytes(read::bytes_of(storage), dir, path)
}

/// Import a MindIR model from `data` (shared, never copied); external data is resolved
/// inside `dir`; `path` names the model in errors.
pub fn import_bytes(data: bytes::Bytes, dir: &Path, path: &Path) -> Result<(Graph, ImportNotes), FrontendError> {
    let model = read::read(data, dir).map_err(|msg| FrontendError::decode(path, msg))?;
    let unsupported = |problems| FrontendError::Unsupported { path: path.to_path_buf(), problems };
    let problems = check_support(&model);
    if !problems.is_empty() {
        return Err(unsupported(problems));
    }
    let mut imp = Importer::new(&model);
    imp.run(&model);
    imp.b.finish().map_err(unsupported)
}

/// Every node whose primitive senetc does not convert (or cannot resolve), at once.
fn check_support(m: &Model) -> Vec<Problem> {
    let mut problems = Vec::new();
    for n in &m.nodes {
        if let Some(why) = &n.unresolved {
            problems.push(Problem::new(n.label.as_str(), n.op.as_str(), why.as_str()));
        } else if n.op != "Constant" && ops::lookup(&n.op).is_none() {
            problems.push(Problem::new(n.label.as_str(), n.op.as_str(), "unsupported MindSpore primitive"));
        }
    }
    problems
}

/// What a tuple-valued node holds.
#[derive(Clone, Debug)]
pub(crate) enum Tuple {
    /// `MakeTuple`: the element value names.
    Items(Vec<String>),
    /// `Split`: parts of `x` along `axis`, part i at `starts[i]..starts[i+1]`; each part
    /// becomes a slice when it is read.
    Split { x: String, axis: usize, starts: Vec<usize> },
    /// Multi-output primitives of which only some outputs are supported (`BatchNorm`'s
    /// training outputs): the value, or why it is unavailable.
    Fixed(Vec<Result<Val, String>>),
}

/// The MindIR importer: the shared [`Builder`] plus what is MindIR's own.
pub(crate) struct Importer {
    pub(crate) b: Builder,
    /// Constant nodes, by value name: settings and scalar operands.
    pub(crate) consts: HashMap<String, Value>,
    /// Tuple-valued nodes.
    pub(crate) tuples: HashMap<String, Tuple>,
    /// Value names of the side-effect state (`UpdateState`, monad constants).
    pub(crate) monads: std::collections::HashSet<String>,
    /// For each value read by exactly one node: that node's primitive.
    pub(crate) sole_reader: HashMap<String, String>,
    /// `MatMul`s waiting for their `BiasAdd` (Dense): operands and flags.
    pub(crate) pending_dense: HashMap<String, ops::Dense>,
    /// How often each rewrite happened, for the notes.
    pub(crate) counts: BTreeMap<&'static str, usize>,
}

senetc_import::wraps_builder!(Importer, b);

impl Importer {
    fn new(m: &Model) -> Importer {
        let mut uses: HashMap<String, usize> = HashMap::new();
        let mut readers: HashMap<String, String> = HashMap::new();
        for n in &m.nodes {
            for i in &n.inputs {
                *uses.entry(i.clone()).or_default() += 1;
                readers.insert(i.clone(), n.op.clone());
            }
        }
        for (o, _) in &m.outputs {
            *uses.entry(o.clone()).or_default() += 1;
        }
        let sole_reader = readers.into_iter().filter(|(k, _)| uses.get(k) == Some(&1) && !m.outputs.iter().any(|(o, _)| o == k)).collect();
        Importer {
            b: Builder::new(m.graph_name.clone()),
            consts: HashMap::new(),
            tuples: HashMap::new(),
            monads: Default::default(),
            sole_reader,
            pending_dense: HashMap::new(),
            counts: BTreeMap::new(),
        }
    }

    pub(crate) fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    fn run(&mut self, m: &Model) {
        match &m.form {
            Form::V2 { mind_ir_version, model_version, ir_version } => self.b.note(format!(
                "MindIR written by MindSpore {model_version} (mind_ir_version {mind_ir_version}, ir_version {ir_version:?})"
            )),
            Form::V1 { ir_version } => self.b.note(format!("MindIR in the MindSpore 1.x layout (ONNX-shaped, ir_version {ir_version})")),
        }
        let read_names: std::collections::HashSet<&str> = m.nodes.iter().flat_map(|n| n.inputs.iter().map(String::as_str)).collect();
        for p in &m.params {
            match &p.tensor {
                Ok(t) => {
                    self.b.define(p.name.clone(), Val::constant(t.clone(), p.weight.clone()));
                }
                Err(what) if read_names.contains(p.name.as_str()) => {
                    self.b.problem(Problem::new(p.weight.as_str(), "parameter", what.as_str()));
                    self.b.poison(&[p.name.as_str()]);
                }
                Err(_) => {}
            }
        }
        for input in &m.inputs {
            match input_type(input) {
                Ok(ty) => {
                    // The IR input carries the short name; operands refer to the full one.
                    let o = self.b.input(input.label.clone(), ty);
                    self.b.define(input.name.clone(), Val::Dyn(o));
                }
                Err(what) => self.b.problem(Problem::new(input.label.as_str(), "input", what)),
            }
        }
        for n in &m.nodes {
            if n.op == "Constant" {
                self.constant(n);
                continue;
            }
            let Some(entry) = ops::lookup(&n.op) else { continue };
            let inputs: Vec<&str> = n.inputs.iter().map(String::as_str).collect();
            senetc_import::convert(self, &n.label, &n.op, &inputs, &[n.name.as_str()], |imp| (entry.convert)(imp, n));
        }
        for (name, label) in &m.outputs {
            self.output(name, label);
        }
        let files: std::collections::BTreeSet<&str> = m.params.iter().filter_map(|p| p.location.as_deref()).collect();
        let ext = m.params.iter().filter(|p| p.location.is_some()).count();
        let mut weights = format!("{} weights, {} inline", m.params.len(), m.params.len() - ext);
        if ext > 0 {
            weights += &format!(", {ext} in {}", files.into_iter().collect::<Vec<_>>().join(", "));
        }
        self.b.note(weights);
        let counts: Vec<String> = self.counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !counts.is_empty() {
            self.b.note(format!("MindIR constructs resolved at import: {}", counts.join(", ")));
        }
    }

    /// A Constant node: its value is a setting and, if it is a number or tensor, an operand.
    fn constant(&mut self, n: &Node) {
        let v = n.attr("value").cloned().unwrap_or(Value::None);
        if v == Value::Monad {
            self.monads.insert(n.name.clone());
        } else if let Some(t) = v.to_tensor() {
            self.b.define(n.name.clone(), Val::constant(t, n.label.clone()));
        }
        self.consts.insert(n.name.clone(), v);
    }

    /// Declare a graph output; a tuple output gives one output per element.
    fn output(&mut self, name: &str, label: &str) {
        match self.tuples.get(name).cloned() {
            Some(Tuple::Items(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.b.output(&format!("{label}:{i}"), item);
                }
            }
            Some(_) => self.b.problem(Problem::new(label, "output", "the graph returns a multi-output primitive's tuple")),
            None => self.b.output(label, name),
        }
    }

    /// The tensor value `name`, with a clear error when it is a tuple, a monad or a setting.
    pub(crate) fn data(&self, name: &str) -> Result<&Val, String> {
        if self.tuples.contains_key(name) {
            return Err(format!("{name:?} is a tuple where a tensor is expected"));
        }
        if self.monads.contains(name) {
            return Err(format!("{name:?} is side-effect state where a tensor is expected"));
        }
        if let Some(v) = self.consts.get(name) {
            if !self.b.has(name) {
                return Err(format!("the constant {name:?} ({}) is not a tensor", v.describe()));
            }
        }
        self.b.val(name)
    }

    /// The graph outlet of tensor value `name`.
    pub(crate) fn outlet_of(&mut self, name: &str) -> Result<Outlet, String> {
        self.data(name)?;
        self.b.outlet(name)
    }
}

fn input_type(input: &read::InputDecl) -> Result<TensorType, String> {
    let (dtype, dims) = input.ty.clone()?;
    let mut shape = Vec::with_capacity(dims.len());
    for (i, &d) in dims.iter().enumerate() {
        shape.push(match d {
            d if d >= 0 => Dim::Known(d as usize),
            _ if i == 0 => Dim::Sym("batch".into()),
            _ => return Err(format!("dimension {i} is dynamic; senetc needs static dims except the batch")),
        });
    }
    Ok(TensorType::new(dtype, Shape(shape)))
}

#[cfg(test)]
mod tests;

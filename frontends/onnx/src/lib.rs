//! The ONNX importer (opsets 7 to 28).
//!
//! Phases: decode the protobuf; check every node against the op table and report every
//! unsupported op, opset and attribute at once; convert node by node in file order.
//! Shape arithmetic (Shape, Gather, Unsqueeze, Concat on shapes...) is evaluated at import
//! into static values, symbolic batch included, so it never reaches the IR; settings that
//! ONNX passes as constant inputs (Reshape's shape, Clip's bounds, axes, pads) become
//! attributes.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

mod fused;
mod ops;
mod tensor;

/// The generated protobuf messages of the part of ONNX senetc reads (`proto/onnx.proto`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use tensor::dtype as dtype_from_onnx;

use bytes::Bytes;
use prost::Message;
use proto::ModelProto;
use senetc_import::files::{FolderFiles, MappedFile};
use senetc_import::{Builder, FrontendError, ImportNotes, Problem, Val};
use senetc_ir::{Dim, Graph, Shape, TensorType};
use std::path::Path;
use std::sync::Arc;

/// Oldest and newest default-domain opset the importer accepts.
pub const OPSETS: (i64, i64) = (7, 28);

/// Operator domains a model may declare without using them: tf2onnx declares
/// `ai.onnx.ml` in every file, and senetc's own exports declare `senetc` (its functions).
const IGNORED_DOMAINS: &[&str] = &["ai.onnx.ml"];

/// Import the ONNX model at `path`. The file is memory-mapped and every initializer stored
/// in it is a window of the map (see [`senetc_import::files::window`]), never a copy.
pub fn import(path: &Path) -> Result<(Graph, ImportNotes), FrontendError> {
    let file = MappedFile::open(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let data = senetc_import::files::bytes_of(file.clone());
    import_shared(data, Some(file), dir, path)
}

/// Import an ONNX model from memory; external data is resolved inside `dir`; `path` names
/// the model in errors.
pub fn import_bytes(bytes: &[u8], dir: &Path, path: &Path) -> Result<(Graph, ImportNotes), FrontendError> {
    import_shared(Bytes::copy_from_slice(bytes), None, dir, path)
}

/// Import from `data`, the bytes of `file` when it is given.
fn import_shared(data: Bytes, file: Option<Arc<MappedFile>>, dir: &Path, path: &Path) -> Result<(Graph, ImportNotes), FrontendError> {
    let model = ModelProto::decode(data).map_err(|e| FrontendError::decode(path, format!("not a valid ONNX model: {e}")))?;
    let unsupported = |problems| FrontendError::Unsupported { path: path.to_path_buf(), problems };
    let mut imp = Importer::new(&model, dir, file);
    if imp.problems().is_empty() {
        imp.check_support(&model);
    }
    if !imp.problems().is_empty() {
        return Err(unsupported(imp.b.problems().to_vec()));
    }
    imp.run(model);
    imp.b.finish().map_err(unsupported)
}

/// The ONNX importer: the shared [`Builder`] plus what is ONNX's own.
pub(crate) struct Importer {
    b: Builder,
    opset: i64,
    ext: FolderFiles,
    /// The mapped model file its initializers' bytes are slices of.
    file: Option<Arc<MappedFile>>,
}

senetc_import::wraps_builder!(Importer, b);

impl Importer {
    fn new(model: &ModelProto, dir: &Path, file: Option<Arc<MappedFile>>) -> Importer {
        let name = model.graph.as_ref().map(|g| g.name.clone()).unwrap_or_default();
        let mut imp = Importer { b: Builder::new(name), opset: 0, ext: FolderFiles::new(dir), file };
        let problem = |what: String| Problem::new("", "model", what);
        for o in &model.opset_import {
            match o.domain.as_str() {
                "" | "ai.onnx" => imp.opset = o.version,
                fused::DOMAIN if o.version == 1 => {}
                d if IGNORED_DOMAINS.contains(&d) => {}
                d => imp.b.problem(problem(format!("unsupported operator domain {d:?} (version {})", o.version))),
            }
        }
        if imp.opset == 0 {
            imp.b.problem(problem("no default-domain opset import".into()));
        } else if imp.opset < OPSETS.0 || imp.opset > OPSETS.1 {
            imp.b.problem(problem(format!("opset {} is outside the supported {}..={}", imp.opset, OPSETS.0, OPSETS.1)));
        }
        match model.graph.as_ref() {
            None => imp.b.problem(problem("the model has no graph".into())),
            Some(g) if g.node.len() > senetc_import::limits::MAX_NODES => {
                imp.b.problem(problem(format!("{} nodes exceed the limit of {}", g.node.len(), senetc_import::limits::MAX_NODES)))
            }
            Some(_) => {}
        }
        imp
    }

    /// Report every node whose op or attributes the converter table does not cover.
    fn check_support(&mut self, model: &ModelProto) {
        let Some(graph) = model.graph.as_ref() else { return };
        for n in &graph.node {
            let p = |what: String| Problem::new(n.name.as_str(), n.op_type.as_str(), what);
            let entry = match n.domain.as_str() {
                "" | "ai.onnx" => ops::lookup(&n.op_type),
                fused::DOMAIN => fused::lookup(&n.op_type),
                d => {
                    self.b.problem(p(format!("unsupported domain {d:?}")));
                    continue;
                }
            };
            match entry {
                None => self.b.problem(p("unsupported op".into())),
                Some(entry) => {
                    for a in &n.attribute {
                        if !entry.attrs.contains(&a.name.as_str()) {
                            self.b.problem(p(format!("unsupported attribute {:?}", a.name)));
                        }
                    }
                    if let Err(what) = (entry.check)(n, self.opset) {
                        self.b.problem(p(what));
                    }
                }
            }
        }
    }

    fn run(&mut self, mut model: ModelProto) {
        let Some(graph) = model.graph.as_mut() else { return };
        for init in &mut graph.initializer {
            let name = init.name.clone();
            match tensor::convert(init, &mut self.ext, self.file.as_ref()) {
                Ok(t) => self.b.define(name.clone(), Val::constant(t, name)),
                Err(what) => self.b.problem(Problem::new(name, "initializer", what)),
            }
        }
        for input in &graph.input {
            if self.b.has(&input.name) {
                continue; // an initializer listed as an input (IR version < 4)
            }
            match input_type(input) {
                Ok(ty) => {
                    self.b.input(input.name.clone(), ty);
                }
                Err(what) => self.b.problem(Problem::new(input.name.as_str(), "input", what)),
            }
        }
        let nodes = std::mem::take(&mut graph.node);
        for n in &nodes {
            let entry = if n.domain == fused::DOMAIN { fused::lookup(&n.op_type) } else { ops::lookup(&n.op_type) };
            let inputs: Vec<&str> = n.input.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
            let outputs: Vec<&str> = n.output.iter().map(String::as_str).collect();
            let Some(entry) = entry else {
                self.b.problem(Problem::new(n.name.as_str(), n.op_type.as_str(), "unsupported op"));
                self.b.poison(&outputs);
                continue;
            };
            senetc_import::convert(self, &n.name, &n.op_type, &inputs, &outputs, |imp| (entry.convert)(imp, n));
        }
        for out in &graph.output {
            self.b.output(&out.name, &out.name);
        }
    }
}

fn input_type(v: &proto::ValueInfoProto) -> Result<TensorType, String> {
    use proto::tensor_shape_proto::dimension::Value as DimValue;
    use proto::type_proto::Value;
    let Some(Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err("input is not a tensor".into());
    };
    let dtype = tensor::dtype(t.elem_type).ok_or_else(|| format!("unsupported input element type {}", t.elem_type))?;
    let Some(shape) = t.shape.as_ref() else { return Err("input has no shape".into()) };
    let mut dims = Vec::new();
    for (i, d) in shape.dim.iter().enumerate() {
        dims.push(match &d.value {
            Some(DimValue::DimValue(n)) if *n >= 0 => Dim::Known(*n as usize),
            Some(DimValue::DimParam(s)) if !s.is_empty() => Dim::Sym(sanitize_sym(s)),
            _ if i == 0 => Dim::Sym("batch".into()),
            _ => return Err(format!("dimension {i} is unknown")),
        });
    }
    Ok(TensorType::new(dtype, Shape(dims)))
}

/// Symbols print as bare words in the text format.
fn sanitize_sym(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

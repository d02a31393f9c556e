//! The ONNX importer (opsets 11 to 21).
//!
//! Phases: decode the protobuf; check every node against the op table and report every
//! unsupported op, opset and attribute at once; convert node by node in file order.
//! Shape arithmetic (Shape, Gather, Unsqueeze, Concat on shapes...) is evaluated at import
//! into static values, symbolic batch included, so it never reaches the IR; settings that
//! ONNX passes as constant inputs (Reshape's shape, Clip's bounds, axes, pads) become
//! attributes.

mod fused;
mod ops;
mod tensor;
mod value;

pub use tensor::dtype as dtype_from_onnx;

use crate::{FrontendError, Problem};
use onnx_protobuf::{Message, ModelProto, NodeProto};
use senetc_ir::{Dim, Graph, Shape, TensorType};
use std::collections::HashMap;
use std::path::Path;
use value::Val;

/// Oldest and newest default-domain opset the importer accepts.
pub const OPSETS: (i64, i64) = (11, 21);

/// Import the ONNX model at `path`.
pub fn import(path: &Path) -> Result<Graph, FrontendError> {
    let bytes = std::fs::read(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    import_bytes(&bytes, dir, path)
}

/// Import an ONNX model from memory; external data is resolved inside `dir`; `path` names
/// the model in errors.
pub fn import_bytes(bytes: &[u8], dir: &Path, path: &Path) -> Result<Graph, FrontendError> {
    let model = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| FrontendError::Decode { path: path.to_path_buf(), msg: e.to_string() })?;
    let mut imp = Importer::new(&model, dir);
    let unsupported = |problems| FrontendError::Unsupported { path: path.to_path_buf(), problems };
    if !imp.problems.is_empty() {
        return Err(unsupported(imp.problems));
    }
    imp.check_support(&model);
    if !imp.problems.is_empty() {
        return Err(unsupported(imp.problems));
    }
    let graph = imp.run(model);
    if !imp.problems.is_empty() {
        return Err(unsupported(imp.problems));
    }
    let g = graph.map_err(|p| unsupported(vec![p]))?;
    Ok(g)
}

pub(crate) struct Importer {
    g: Graph,
    vals: HashMap<String, Val>,
    /// Constants already placed in the graph, by weight name.
    weights: HashMap<String, senetc_ir::Outlet>,
    opset: i64,
    ext: tensor::ExternalFiles,
    problems: Vec<Problem>,
}

impl Importer {
    fn new(model: &ModelProto, dir: &Path) -> Importer {
        let name = model.graph.as_ref().map(|g| g.name.clone()).unwrap_or_default();
        let mut imp = Importer {
            g: Graph::new(name),
            vals: HashMap::new(),
            weights: HashMap::new(),
            opset: 0,
            ext: tensor::ExternalFiles::new(dir),
            problems: Vec::new(),
        };
        let problem = |what: String| Problem { node: String::new(), op: "model".into(), what };
        for o in &model.opset_import {
            match o.domain.as_str() {
                "" | "ai.onnx" => imp.opset = o.version,
                fused::DOMAIN if o.version == 1 => {}
                d => imp.problems.push(problem(format!("unsupported operator domain {d:?} (version {})", o.version))),
            }
        }
        if imp.opset == 0 {
            imp.problems.push(problem("no default-domain opset import".into()));
        } else if imp.opset < OPSETS.0 || imp.opset > OPSETS.1 {
            imp.problems.push(problem(format!("opset {} is outside the supported {}..={}", imp.opset, OPSETS.0, OPSETS.1)));
        }
        if model.graph.is_none() {
            imp.problems.push(problem("the model has no graph".into()));
        }
        imp
    }

    /// Report every node whose op or attributes the converter table does not cover.
    fn check_support(&mut self, model: &ModelProto) {
        let Some(graph) = model.graph.as_ref() else { return };
        for n in &graph.node {
            let p = |what: String| Problem { node: n.name.clone(), op: n.op_type.clone(), what };
            let entry = match n.domain.as_str() {
                "" | "ai.onnx" => ops::lookup(&n.op_type),
                fused::DOMAIN => fused::lookup(&n.op_type),
                d => {
                    self.problems.push(p(format!("unsupported domain {d:?}")));
                    continue;
                }
            };
            match entry {
                None => self.problems.push(p("unsupported op".into())),
                Some(entry) => {
                    for a in &n.attribute {
                        if !entry.attrs.contains(&a.name.as_str()) {
                            self.problems.push(p(format!("unsupported attribute {:?}", a.name)));
                        }
                    }
                    if let Err(what) = (entry.check)(n, self.opset) {
                        self.problems.push(p(what));
                    }
                }
            }
        }
    }

    fn run(&mut self, mut model: ModelProto) -> Result<Graph, Problem> {
        let Some(graph) = model.graph.as_mut() else {
            return Err(Problem { node: String::new(), op: "model".into(), what: "no graph".into() });
        };
        for init in &mut graph.initializer {
            let name = init.name.clone();
            match tensor::convert(init, &mut self.ext) {
                Ok(t) => {
                    self.vals.insert(name.clone(), Val::constant(t, name));
                }
                Err(what) => self.problems.push(Problem { node: name, op: "initializer".into(), what }),
            }
        }
        for input in &graph.input {
            if self.vals.contains_key(&input.name) {
                continue; // an initializer listed as an input (IR version < 4)
            }
            match input_type(input) {
                Ok(ty) => {
                    let o = self.g.add_input(input.name.clone(), ty);
                    self.vals.insert(input.name.clone(), Val::Dyn(o));
                }
                Err(what) => self.problems.push(Problem { node: input.name.clone(), op: "input".into(), what }),
            }
        }
        let nodes = std::mem::take(&mut graph.node);
        for n in &nodes {
            if n.input.iter().any(|i| matches!(self.vals.get(i), Some(Val::Poison))) {
                self.poison(n);
                continue;
            }
            let entry = if n.domain == fused::DOMAIN { fused::lookup(&n.op_type) } else { ops::lookup(&n.op_type) };
            let result = entry
                .ok_or_else(|| "unsupported op".to_string())
                .and_then(|entry| (entry.convert)(self, n));
            match result {
                Ok(vals) => {
                    for (name, v) in n.output.iter().zip(vals) {
                        if !name.is_empty() {
                            self.vals.insert(name.clone(), v);
                        }
                    }
                }
                Err(what) => {
                    self.problems.push(Problem { node: n.name.clone(), op: n.op_type.clone(), what });
                    self.poison(n);
                }
            }
        }
        for out in &graph.output {
            let p = |what: String| Problem { node: out.name.clone(), op: "output".into(), what };
            match self.outlet(&out.name) {
                Ok(o) => self.g.add_output(out.name.clone(), o),
                Err(what) => {
                    if !matches!(self.vals.get(&out.name), Some(Val::Poison)) {
                        self.problems.push(p(what));
                    }
                }
            }
        }
        let g = std::mem::take(&mut self.g);
        senetc_ir::verify(&g).map_err(|e| Problem { node: String::new(), op: "graph".into(), what: e.to_string() })?;
        Ok(g)
    }

    fn poison(&mut self, n: &NodeProto) {
        for o in &n.output {
            self.vals.insert(o.clone(), Val::Poison);
        }
    }
}

fn input_type(v: &onnx_protobuf::ValueInfoProto) -> Result<TensorType, String> {
    use onnx_protobuf::tensor_shape_proto::dimension::Value as DimValue;
    use onnx_protobuf::type_proto::Value;
    let Some(Value::TensorType(t)) = v.type_.as_ref().and_then(|t| t.value.as_ref()) else {
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

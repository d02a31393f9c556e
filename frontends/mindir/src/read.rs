//! Reading a MindIR file into one normalized [`Model`], whichever MindSpore wrote it:
//! 2.x files (`mind_ir.ModelProto`: `REF::` op types resolved against the primitives
//! table, settings as attributes or Constant inputs, weights inline or in external data
//! files) and 1.x files (the ONNX-shaped layout: primitive names as op types, attributes in
//! the `ref_attr_name` grammar, weights as initializers). The file is decoded from one
//! memory map and every weight points into it (or into a mapped data file): nothing is copied.

use crate::proto::{mind_ir, mind_ir_v1};
use crate::value::{decode_v1, decode_v2, dims_of, dtype_of_code, tensor_v1, tensor_v2, Value};
use bytes::Bytes;
use prost::Message;
use senetc_import::files::FolderFiles;
use senetc_ir::{DType, Storage, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// The newest `ModelProto.mind_ir_version` senetc reads (3 = IR_VERSION_WITH_SCALAR_GRAPH_HOLDER,
/// what MindSpore 2.10 writes).
pub const MAX_MIND_IR_VERSION: i64 = 3;

/// Which layout a file has.
#[derive(Clone, Debug, PartialEq)]
pub enum Form {
    /// `mind_ir.ModelProto` (MindSpore 2.x; also late 1.x).
    V2 {
        /// `mind_ir_version` (0 when absent).
        mind_ir_version: i64,
        /// The MindSpore version that wrote it.
        model_version: String,
        /// `ir_version` ("1.1", "0.1.1").
        ir_version: String,
    },
    /// The ONNX-shaped layout of MindSpore 1.0.
    V1 {
        /// `ir_version`, an integer in this layout.
        ir_version: i64,
    },
}

/// A graph input.
pub struct InputDecl {
    /// The value name nodes use.
    pub name: String,
    /// The name senetc gives it (without the graph-name prefix).
    pub label: String,
    /// Element type and dims (-1 for a dynamic one), or why not.
    pub ty: Result<(DType, Vec<i64>), String>,
}

/// A weight.
pub struct Param {
    /// The value name nodes use.
    pub name: String,
    /// The weight's name in the IR (the parameter path, `backbone.conv.weight`).
    pub weight: String,
    /// The tensor, or why it cannot be read.
    pub tensor: Result<Tensor, String>,
    /// The external data file it is read from, if it is not inline.
    pub location: Option<String>,
}

/// Attributes: `(name, value)` in file order.
pub type Attrs = Vec<(String, Value)>;

/// A node with its op resolved.
pub struct Node {
    /// Its value name (`output[0]`).
    pub name: String,
    /// The name senetc gives it: the scope path when there is one.
    pub label: String,
    /// The primitive (`Conv2D`, `TupleGetItem`, `Constant`...); 1.x names are kept as written.
    pub op: String,
    /// Operand value names.
    pub inputs: Vec<String>,
    /// The node's own attributes (a Constant's `value`; all of them in 1.x files).
    pub attrs: Attrs,
    /// The attributes of the primitive it refers to (2.x), shared by every node that does.
    pub prim_attrs: Arc<Attrs>,
    /// Why the op could not be resolved, if it could not.
    pub unresolved: Option<String>,
}

impl Node {
    /// Attribute `name`, from the node or its primitive.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attrs.iter().chain(self.prim_attrs.iter()).find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A decoded model.
pub struct Model {
    /// The layout.
    pub form: Form,
    /// The main graph's name.
    pub graph_name: String,
    /// Graph inputs (weights excluded).
    pub inputs: Vec<InputDecl>,
    /// Graph output value names, with the names senetc gives them.
    pub outputs: Vec<(String, String)>,
    /// Weights.
    pub params: Vec<Param>,
    /// Nodes in file (topological) order.
    pub nodes: Vec<Node>,
}

/// A tensor over `raw`, sharing its bytes.
pub fn shared_tensor(dtype: DType, shape: Vec<usize>, raw: Bytes) -> Result<Tensor, String> {
    senetc_import::files::shared_tensor(dtype, shape, raw, None)
}

/// Which layout `bytes` starts like: field 1 as a string (2.x) or as a varint (1.x).
fn is_v1(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x08)
}

/// The part of a value name after `<graph name>:`.
fn strip<'a>(graph: &str, name: &'a str) -> &'a str {
    name.strip_prefix(graph).and_then(|r| r.strip_prefix(':')).filter(|r| !r.is_empty()).unwrap_or(name)
}

/// Decode a whole file. `dir` is the model's folder, where external data must stay.
pub fn read(data: Bytes, dir: &std::path::Path) -> Result<Model, String> {
    if data.is_empty() {
        return Err("the file is empty".into());
    }
    if is_v1(&data) {
        let m = mind_ir_v1::ModelProto::decode(data).map_err(|e| format!("not a valid MindIR file (MindSpore 1.x layout): {e}"))?;
        return read_v1(m);
    }
    let m = mind_ir::ModelProto::decode(data)
        .map_err(|e| format!("not a valid MindIR file: {e} (the file is truncated or corrupted, or encrypted: senetc cannot read encrypted MindIR)"))?;
    read_v2(m, dir)
}

fn check_version(m: &mind_ir::ModelProto) -> Result<(), String> {
    let v = m.mind_ir_version();
    if v > MAX_MIND_IR_VERSION {
        return Err(format!(
            "MindIR version {v} (written by MindSpore {}) is newer than senetc reads: it knows mind_ir_version up to {MAX_MIND_IR_VERSION} (MindSpore 2.10); export with an older MindSpore or update senetc",
            m.model_version()
        ));
    }
    if v < 0 {
        return Err(format!("invalid mind_ir_version {v}"));
    }
    if m.little_endian == Some(false) {
        return Err("the file is big-endian; senetc reads little-endian MindIR only".into());
    }
    Ok(())
}

fn read_v2(m: mind_ir::ModelProto, dir: &std::path::Path) -> Result<Model, String> {
    check_version(&m)?;
    let form = Form::V2 { mind_ir_version: m.mind_ir_version(), model_version: m.model_version().to_string(), ir_version: m.ir_version().to_string() };
    let mind_ir::ModelProto { graph, functions, primitives, .. } = m;
    let g = graph.ok_or("the MindIR model has no graph (is the file truncated?)")?;
    let gname = g.name().to_string();
    let prims: HashMap<&str, (&str, Arc<Attrs>)> = primitives
        .iter()
        .map(|p| {
            let attrs: Attrs = p.attribute.iter().filter(|a| !skipped(a.name())).map(|a| (a.name().to_string(), decode_v2(a))).collect();
            (p.name(), (p.op_type(), Arc::new(attrs)))
        })
        .collect();
    let funcs: Vec<&str> = functions.iter().map(|f| f.name()).collect();
    let empty: Arc<Attrs> = Arc::new(Vec::new());

    let mut inputs = Vec::new();
    for v in &g.input {
        let ty = match v.tensor.first() {
            None => Err("input has no type".to_string()),
            Some(t) => dtype_of_code(t.data_type()).map(|d| (d, t.dims.clone())).ok_or_else(|| format!("unsupported input element type {}", t.data_type())),
        };
        inputs.push(InputDecl { name: v.name().to_string(), label: strip(&gname, v.name()).to_string(), ty });
    }
    let outputs = g.output.iter().map(|v| (v.name().to_string(), strip(&gname, v.name()).to_string())).collect();

    let mut ext = FolderFiles::new(dir);
    let mut checked: HashMap<String, Result<(), String>> = HashMap::new();
    let params = g
        .parameter
        .iter()
        .map(|p| {
            let weight = p.ref_key.clone().filter(|k| !k.is_empty()).unwrap_or_else(|| strip(&gname, p.name()).to_string());
            let location = p.external_data.as_ref().filter(|_| p.raw_data.as_ref().is_none_or(|r| r.is_empty())).map(|e| e.location().to_string());
            Param { name: p.name().to_string(), weight, tensor: param_v2(p, &mut ext, &mut checked), location }
        })
        .collect();

    let mut nodes = Vec::with_capacity(g.node.len());
    for n in &g.node {
        let name = n.output.first().map(String::as_str).filter(|s| !s.is_empty()).unwrap_or(n.name()).to_string();
        let label = match n.domain() {
            "" => strip(&gname, n.name()).to_string(),
            scope => scope.to_string(),
        };
        let attrs: Attrs = n.attribute.iter().filter(|a| !skipped(a.name())).map(|a| (a.name().to_string(), decode_v2(a))).collect();
        let op_type = n.op_type();
        let (op, prim_attrs, unresolved) = if let Some(key) = op_type.strip_prefix("REF::") {
            match prims.get(key) {
                Some((op, attrs)) => (op.to_string(), attrs.clone(), None),
                None if funcs.contains(&key) => (op_type.to_string(), empty.clone(), Some(format!("calls the sub-graph {key:?}; senetc reads graphs without calls (export the network with its cells inlined)"))),
                None => (op_type.to_string(), empty.clone(), Some(format!("{op_type} names no primitive of the file"))),
            }
        } else {
            (op_type.strip_prefix("S-Prim-").unwrap_or(op_type).to_string(), empty.clone(), None)
        };
        nodes.push(Node { name, label, op, inputs: n.input.clone(), attrs, prim_attrs, unresolved });
    }
    Ok(Model { form, graph_name: gname, inputs, outputs, params, nodes })
}

/// Attributes no converter reads (the node's inferred abstract, the primitive's signature).
fn skipped(name: &str) -> bool {
    matches!(name, "shape" | "input_names" | "output_names")
}

/// A 2.x parameter: inline raw data, typed fields, or a window of an external data file.
fn param_v2(p: &mind_ir::TensorProto, ext: &mut FolderFiles, checked: &mut HashMap<String, Result<(), String>>) -> Result<Tensor, String> {
    if p.compression_type() != 0 {
        return Err(format!("compressed weights (compression_type {}) are not supported", p.compression_type()));
    }
    if !p.quant_params.is_empty() {
        return Err("quantized weights are not supported".into());
    }
    let Some(e) = p.external_data.as_ref().filter(|_| p.raw_data.as_ref().is_none_or(|r| r.is_empty())) else {
        let has_fields = !p.float_data.is_empty() || !p.int32_data.is_empty() || !p.int64_data.is_empty() || !p.double_data.is_empty();
        let raw_empty = p.raw_data.as_ref().is_none_or(|r| r.is_empty());
        let numel = senetc_import::limits::numel(&dims_of(&p.dims)?)?;
        if raw_empty && !has_fields && numel > 0 {
            return Err("the parameter has no data (neither raw_data nor external_data)".into());
        }
        return tensor_v2(p);
    };
    let code = p.data_type();
    let dtype = dtype_of_code(code).ok_or_else(|| format!("unsupported tensor data type {code}"))?;
    let shape = dims_of(&p.dims)?;
    let want = shape.iter().try_fold(dtype.size(), |a, &d| a.checked_mul(d)).ok_or("tensor size overflows")?;
    let location = e.location();
    let storage = ext.open(location).map_err(|m| format!("external data: {m}"))?;
    // The data files start with a 64-byte header whose byte 0 is 1 for little-endian;
    // anything else means another byte order or an encrypted file.
    let header = checked
        .entry(location.to_string())
        .or_insert_with(|| match storage.bytes().first() {
            Some(1) => Ok(()),
            Some(b) => Err(format!("external data file {location:?} starts with byte {b}, not 1: it is big-endian or encrypted, which senetc does not read")),
            None => Err(format!("external data file {location:?} is empty")),
        })
        .clone();
    header?;
    let offset = usize::try_from(e.offset()).map_err(|_| format!("negative external data offset {}", e.offset()))?;
    let length = match e.length {
        Some(l) => usize::try_from(l).map_err(|_| format!("negative external data length {l}"))?,
        None => want,
    };
    if length != want {
        return Err(format!("external data length {length} but {dtype}{shape:?} needs {want} bytes"));
    }
    let buf = senetc_import::files::window(&storage, offset, length).ok_or_else(|| format!("external data file {location:?} is shorter than offset {offset} + length {length}"))?;
    Tensor::new(dtype, shape, buf).map_err(|e| e.to_string())
}

fn read_v1(m: mind_ir_v1::ModelProto) -> Result<Model, String> {
    if let Some(o) = m.opset_import.first() {
        return Err(format!("this is an ONNX model (opset {} {}), not MindIR: give it the .onnx extension", o.domain(), o.version()));
    }
    let form = Form::V1 { ir_version: m.ir_version() };
    let g = m.graph.ok_or("the MindIR model has no graph (is the file truncated?)")?;
    let gname = g.name().to_string();
    let empty: Arc<Attrs> = Arc::new(Vec::new());
    let params: Vec<Param> = g
        .initializer
        .iter()
        .map(|t| Param { name: t.name().to_string(), weight: strip(&gname, t.name()).to_string(), tensor: tensor_v1(t), location: None })
        .collect();
    let is_param: std::collections::HashSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let mut inputs = Vec::new();
    for v in g.input.iter().filter(|v| !is_param.contains(v.name())) {
        let ty = match v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) {
            None => Err("input is not a tensor".to_string()),
            Some(t) => {
                let dims = t.shape.as_ref().map(|s| s.dim.iter().map(|d| if d.dim_value.is_some() { d.dim_value() } else { -1 }).collect()).unwrap_or_default();
                dtype_of_code(t.elem_type()).map(|d| (d, dims)).ok_or_else(|| format!("unsupported input element type {}", t.elem_type()))
            }
        };
        inputs.push(InputDecl { name: v.name().to_string(), label: strip(&gname, v.name()).to_string(), ty });
    }
    let outputs = g.output.iter().map(|v| (v.name().to_string(), strip(&gname, v.name()).to_string())).collect();
    let mut nodes = Vec::with_capacity(g.node.len());
    for n in &g.node {
        let name = n.output.first().cloned().unwrap_or_default();
        let label = match n.domain() {
            "" => strip(&gname, if n.name().is_empty() { &name } else { n.name() }).to_string(),
            scope => scope.to_string(),
        };
        let attrs: Attrs = n.attribute.iter().filter(|a| !a.name().is_empty() && !skipped(a.name())).map(|a| (a.name().to_string(), decode_v1(a))).collect();
        nodes.push(Node { name, label, op: n.op_type().to_string(), inputs: n.input.clone(), attrs, prim_attrs: empty.clone(), unresolved: None });
    }
    Ok(Model { form, graph_name: gname, inputs, outputs, params, nodes })
}

/// Whether `bytes` (the start of a file, or all of it) looks like a MindIR model: a
/// protobuf whose field 1 is a string (2.x), or whose producer is MindSpore without an ONNX
/// opset import (1.x). Only top-level fields are read.
pub fn sniff(bytes: &[u8]) -> bool {
    let mut pos = 0;
    let mut v2 = None;
    let mut producer_ms = false;
    let mut opset = false;
    // Top-level fields only (a model has a dozen); a file that is not protobuf stops at
    // the first bad tag.
    for _ in 0..64 {
        let Some((tag, p)) = varint(bytes, pos) else { break };
        pos = p;
        let (field, wire) = (tag >> 3, tag & 7);
        if v2.is_none() {
            match (field, wire) {
                (1, 2) => v2 = Some(true),
                (1, 0) => v2 = Some(false),
                _ => return false,
            }
        }
        match wire {
            0 => match varint(bytes, pos) {
                Some((_, p)) => pos = p,
                None => break,
            },
            2 => {
                let Some((len, p)) = varint(bytes, pos) else { break };
                let Some(end) = usize::try_from(len).ok().and_then(|l| p.checked_add(l)) else { break };
                if field == 2 {
                    producer_ms = bytes.get(p..end.min(bytes.len())).is_some_and(|s| s.starts_with(b"MindSpore"));
                    if v2 == Some(true) {
                        return producer_ms;
                    }
                }
                // ONNX's opset_import; in 2.x MindIR field 8 is `functions`.
                opset |= field == 8;
                pos = end;
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => break,
        }
        if pos >= bytes.len() {
            break;
        }
    }
    v2 == Some(false) && producer_ms && !opset
}

fn varint(b: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(pos)?;
        pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, pos));
        }
    }
    None
}

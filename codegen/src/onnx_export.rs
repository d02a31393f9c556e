//! IR to ONNX (default domain, opset 17): settings that the IR keeps as attributes go back
//! to the constant inputs ONNX wants. The output is deterministic.

use crate::CodegenError;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{self, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};
use senetc_ir::ops::{AutoPad, DataFormat};
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Tensor, TensorType};
use std::collections::{HashMap, HashSet};

/// The opset written.
pub const OPSET: i64 = 17;

/// Serialize `g` as an ONNX model.
pub fn export(g: &Graph) -> Result<Vec<u8>, CodegenError> {
    Ok(to_model(g)?.write_to_bytes().map_err(|e| senetc_ir::IrError::Graph(format!("protobuf: {e}")))?)
}

/// Build the ONNX ModelProto of `g`.
pub fn to_model(g: &Graph) -> Result<ModelProto, CodegenError> {
    let mut x = Exporter { g, graph: GraphProto::new(), names: HashMap::new(), used: HashSet::new() };
    x.graph.name = if g.name.is_empty() { "senetc".into() } else { g.name.clone() };
    let order = g.order();
    // Graph inputs and outputs keep their names; other values get unique ones.
    for &id in g.inputs() {
        let name = g.node(id).name.clone();
        x.used.insert(name.clone());
        x.names.insert(Outlet::new(id), name);
    }
    for (name, o) in g.outputs() {
        if !x.names.contains_key(o) && x.used.insert(name.clone()) {
            x.names.insert(*o, name.clone());
        }
    }
    for &id in g.inputs() {
        let node = g.node(id);
        x.graph.input.push(value_info(&node.name, &node.outputs[0]));
    }
    for id in order {
        let node = g.node(id);
        match &node.op {
            Op::Input => {}
            Op::Const(c) => {
                let o = Outlet::new(id);
                let name = x.fresh(o, &c.name);
                x.graph.initializer.push(tensor_proto(&name, &c.tensor));
            }
            op => x.node(id, op)?,
        }
    }
    for (name, o) in g.outputs() {
        let v = x.name(*o);
        if v != *name {
            let n = NodeProto { op_type: "Identity".into(), name: format!("{name}/output"), input: vec![v], output: vec![name.clone()], ..Default::default() };
            x.graph.node.push(n);
        }
        x.graph.output.push(value_info(name, g.outlet_type(*o)));
    }
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "senetc".into();
    m.producer_version = env!("CARGO_PKG_VERSION").into();
    m.opset_import.push(OperatorSetIdProto { domain: String::new(), version: OPSET, ..Default::default() });
    m.graph = MessageField::some(x.graph);
    Ok(m)
}

struct Exporter<'g> {
    g: &'g Graph,
    graph: GraphProto,
    names: HashMap<Outlet, String>,
    used: HashSet<String>,
}

impl Exporter<'_> {
    /// Name `o`, preferring `hint`, unique in the model.
    fn fresh(&mut self, o: Outlet, hint: &str) -> String {
        if let Some(n) = self.names.get(&o) {
            return n.clone();
        }
        let base = if hint.is_empty() { format!("v{}_{}", o.node.index(), o.slot) } else { hint.to_string() };
        let mut name = base.clone();
        let mut k = 1;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(o, name.clone());
        name
    }

    fn name(&mut self, o: Outlet) -> String {
        self.fresh(o, "")
    }

    /// A new initializer holding `t`; returns its name.
    fn init(&mut self, hint: &str, t: Tensor) -> String {
        let mut name = hint.to_string();
        let mut k = 1;
        while !self.used.insert(name.clone()) {
            name = format!("{hint}_{k}");
            k += 1;
        }
        self.graph.initializer.push(tensor_proto(&name, &t));
        name
    }

    fn node(&mut self, id: senetc_ir::NodeId, op: &Op) -> Result<(), CodegenError> {
        let node = self.g.node(id);
        let base = if node.name.is_empty() { format!("n{}", id.index()) } else { node.name.clone() };
        let mut inputs: Vec<String> = self.g.inputs_of(id).into_iter().map(|o| self.name(o)).collect();
        let out = self.fresh(Outlet::new(id), &format!("{base}_out"));
        let unsupported = |why: &str| CodegenError::Unsupported { node: node.name.clone(), op: op.name(), target: "onnx", why: why.into() };
        let nchw = |f: DataFormat| if f == DataFormat::Nchw { Ok(()) } else { Err(unsupported("NHWC layout is not exported yet")) };
        let mut attrs = Vec::new();
        let op_type = match op {
            Op::Input | Op::Const(_) => return Ok(()),
            Op::Conv(c) => {
                nchw(c.format)?;
                let k = self.g.outlet_type(self.g.inputs_of(id)[1]).shape.as_known().unwrap_or_default();
                attrs.push(ints("kernel_shape", k.get(2..).unwrap_or(&[])));
                attrs.push(ints("strides", &c.strides));
                attrs.push(ints("dilations", &c.dilations));
                attrs.push(int("group", c.group as i64));
                pads_attrs(&mut attrs, c.auto_pad, &c.pads);
                "Conv"
            }
            Op::BatchNorm(b) => {
                if b.axis != 1 {
                    return Err(unsupported("BatchNormalization over an axis other than 1"));
                }
                attrs.push(float("epsilon", b.epsilon));
                "BatchNormalization"
            }
            Op::Relu(_) => "Relu",
            Op::Clip(c) => {
                let lo = if c.min.is_finite() { self.init(&format!("{base}_min"), scalar(c.min)) } else { String::new() };
                let hi = if c.max.is_finite() { self.init(&format!("{base}_max"), scalar(c.max)) } else { String::new() };
                inputs.push(lo);
                if !hi.is_empty() {
                    inputs.push(hi);
                }
                "Clip"
            }
            Op::Sigmoid(_) => "Sigmoid",
            Op::HardSigmoid(h) => {
                attrs.push(float("alpha", h.alpha));
                attrs.push(float("beta", h.beta));
                "HardSigmoid"
            }
            Op::HardSwish(_) => "HardSwish",
            Op::Silu(_) => {
                let sig = format!("{base}_sigmoid");
                self.used.insert(sig.clone());
                self.graph.node.push(NodeProto { op_type: "Sigmoid".into(), name: sig.clone(), input: inputs.clone(), output: vec![sig.clone()], ..Default::default() });
                inputs.push(sig);
                "Mul"
            }
            Op::Add(_) => "Add",
            Op::Sub(_) => "Sub",
            Op::Mul(_) => "Mul",
            Op::Div(_) => "Div",
            Op::GlobalAveragePool(p) => {
                nchw(p.format)?;
                "GlobalAveragePool"
            }
            Op::ReduceMean(r) => {
                if !r.axes.is_empty() {
                    attrs.push(ints("axes", &r.axes));
                }
                attrs.push(int("keepdims", r.keepdims as i64));
                "ReduceMean"
            }
            Op::AveragePool(p) => {
                nchw(p.format)?;
                attrs.push(ints("kernel_shape", &p.kernel));
                attrs.push(ints("strides", &p.strides));
                attrs.push(int("ceil_mode", p.ceil_mode as i64));
                attrs.push(int("count_include_pad", p.count_include_pad as i64));
                pads_attrs(&mut attrs, p.auto_pad, &p.pads);
                "AveragePool"
            }
            Op::MaxPool(p) => {
                nchw(p.format)?;
                attrs.push(ints("kernel_shape", &p.kernel));
                attrs.push(ints("strides", &p.strides));
                attrs.push(ints("dilations", &p.dilations));
                attrs.push(int("ceil_mode", p.ceil_mode as i64));
                pads_attrs(&mut attrs, p.auto_pad, &p.pads);
                "MaxPool"
            }
            Op::Gemm(m) => {
                attrs.push(float("alpha", m.alpha));
                attrs.push(float("beta", m.beta));
                attrs.push(int("transA", m.trans_a as i64));
                attrs.push(int("transB", m.trans_b as i64));
                "Gemm"
            }
            Op::MatMul(_) => "MatMul",
            Op::Flatten(f) => {
                attrs.push(int("axis", f.axis));
                "Flatten"
            }
            Op::Reshape(r) => {
                inputs.push(self.init(&format!("{base}_shape"), Tensor::from_i64(vec![r.shape.len()], &r.shape)));
                if r.allowzero {
                    attrs.push(int("allowzero", 1));
                }
                "Reshape"
            }
            Op::Transpose(t) => {
                if !t.perm.is_empty() {
                    attrs.push(ints("perm", &t.perm));
                }
                "Transpose"
            }
            Op::Squeeze(s) => {
                if !s.axes.is_empty() {
                    inputs.push(self.init(&format!("{base}_axes"), Tensor::from_i64(vec![s.axes.len()], &s.axes)));
                }
                "Squeeze"
            }
            Op::Unsqueeze(u) => {
                inputs.push(self.init(&format!("{base}_axes"), Tensor::from_i64(vec![u.axes.len()], &u.axes)));
                "Unsqueeze"
            }
            Op::Concat(c) => {
                attrs.push(int("axis", c.axis));
                "Concat"
            }
            Op::Pad(p) => {
                inputs.push(self.init(&format!("{base}_pads"), Tensor::from_i64(vec![p.pads.len()], &p.pads)));
                let dt = self.g.outlet_type(self.g.inputs_of(id)[0]).dtype;
                inputs.push(self.init(&format!("{base}_value"), scalar(p.value).cast(dt)));
                attrs.push(string("mode", p.mode.name()));
                "Pad"
            }
            Op::Softmax(s) => {
                attrs.push(int("axis", s.axis));
                "Softmax"
            }
            Op::Identity(_) => "Identity",
            Op::Dropout(_) => "Identity",
            Op::Cast(c) => {
                attrs.push(int("to", crate::onnx_export::onnx_code(c.to) as i64));
                "Cast"
            }
        };
        self.graph.node.push(NodeProto {
            op_type: op_type.into(),
            name: base,
            input: inputs,
            output: vec![out],
            attribute: attrs,
            ..Default::default()
        });
        Ok(())
    }
}

fn pads_attrs(attrs: &mut Vec<AttributeProto>, auto_pad: AutoPad, pads: &[usize]) {
    match auto_pad {
        AutoPad::NotSet => attrs.push(ints("pads", pads)),
        AutoPad::SameUpper => attrs.push(string("auto_pad", "SAME_UPPER")),
        AutoPad::SameLower => attrs.push(string("auto_pad", "SAME_LOWER")),
        AutoPad::Valid => attrs.push(string("auto_pad", "VALID")),
    }
}

fn scalar(v: f32) -> Tensor {
    Tensor::from_f32(vec![], &[v])
}

/// The ONNX TensorProto.DataType code of an IR dtype.
pub fn onnx_code(d: DType) -> i32 {
    match d {
        DType::F32 => 1,
        DType::U8 => 2,
        DType::I8 => 3,
        DType::I32 => 6,
        DType::I64 => 7,
        DType::Bool => 9,
        DType::F16 => 10,
        DType::F64 => 11,
        DType::BF16 => 16,
    }
}

fn tensor_proto(name: &str, t: &Tensor) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: onnx_code(t.dtype()),
        raw_data: t.bytes().to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, t: &TensorType) -> ValueInfoProto {
    let dims = t
        .shape
        .0
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Known(n) => dimension::Value::DimValue(*n as i64),
                Dim::Sym(s) => dimension::Value::DimParam(s.clone()),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: onnx_code(t.dtype),
        shape: MessageField::some(TensorShapeProto { dim: dims, ..Default::default() }),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: MessageField::some(TypeProto { value: Some(TypeValue::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto { name: name.into(), type_: EnumOrUnknown::new(ty), ..Default::default() }
}
fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: v, ..attr(name, AttributeType::INT) }
}
fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { f: v, ..attr(name, AttributeType::FLOAT) }
}
fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: v.as_bytes().to_vec(), ..attr(name, AttributeType::STRING) }
}
fn ints<T: Copy + TryInto<i64>>(name: &str, v: &[T]) -> AttributeProto {
    AttributeProto { ints: v.iter().map(|&x| x.try_into().unwrap_or(i64::MAX)).collect(), ..attr(name, AttributeType::INTS) }
}

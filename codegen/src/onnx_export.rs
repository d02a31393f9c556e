//! IR to ONNX (default domain, opset 17): settings that the IR keeps as attributes go back
//! to the constant inputs ONNX wants. The output is deterministic.

use crate::CodegenError;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{self, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, FunctionProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};
use senetc_ir::ops::{AutoPad, DataFormat, FusedAct, SeGate};
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Tensor, TensorType};
use std::collections::{HashMap, HashSet};

/// The opset written.
pub const OPSET: i64 = 17;

/// The domain of the model-local functions that fused ops export as.
pub const FUNCTION_DOMAIN: &str = "senetc";

/// Serialize `g` as an ONNX model.
pub fn export(g: &Graph) -> Result<Vec<u8>, CodegenError> {
    Ok(to_model(g)?.write_to_bytes().map_err(|e| senetc_ir::IrError::Graph(format!("protobuf: {e}")))?)
}

/// Build the ONNX ModelProto of `g`.
pub fn to_model(g: &Graph) -> Result<ModelProto, CodegenError> {
    let mut x = Exporter { g, graph: GraphProto::new(), names: HashMap::new(), used: HashSet::new(), functions: Vec::new() };
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
    if !x.functions.is_empty() {
        m.opset_import.push(OperatorSetIdProto { domain: FUNCTION_DOMAIN.into(), version: 1, ..Default::default() });
    }
    m.functions = x.functions;
    m.graph = MessageField::some(x.graph);
    Ok(m)
}

struct Exporter<'g> {
    g: &'g Graph,
    graph: GraphProto,
    names: HashMap<Outlet, String>,
    used: HashSet<String>,
    functions: Vec<FunctionProto>,
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
                let ins = self.g.inputs_of(id);
                let (xs, k) = (self.g.outlet_type(ins[0]).shape.clone(), self.g.outlet_type(ins[1]).shape.as_known().unwrap_or_default());
                attrs.push(ints("strides", &c.strides));
                attrs.push(ints("dilations", &c.dilations));
                attrs.push(int("group", c.group as i64));
                if c.act == FusedAct::None {
                    attrs.push(ints("kernel_shape", k.get(2..).unwrap_or(&[])));
                    pads_attrs(&mut attrs, c.auto_pad, &c.pads);
                    "Conv"
                } else {
                    // The function body takes explicit pads: resolve SAME here (spatial dims are static).
                    let h = xs.0.get(2).and_then(|d| d.known()).unwrap_or(0);
                    let w = xs.0.get(3).and_then(|d| d.known()).unwrap_or(0);
                    let (ph, pw) = (c.pads_for(0, h, k[2]), c.pads_for(1, w, k[3]));
                    attrs.push(ints("pads", &[ph.0, pw.0, ph.1, pw.1]));
                    if inputs.len() == 2 {
                        inputs.push(self.init(&format!("{base}_zero_bias"), Tensor::from_f32(vec![k[0]], &vec![0.0; k[0]]).cast(self.g.outlet_type(ins[0]).dtype)));
                    }
                    return self.call(base, conv_act_function(c.act), inputs, out, attrs);
                }
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
            Op::SqueezeExcite(se) => {
                nchw(se.format)?;
                return self.call(base, se_function(se), inputs, out, attrs);
            }
            Op::AddAct(a) => return self.call(base, add_act_function(a.act), inputs, out, attrs),
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

impl Exporter<'_> {
    /// A node calling the model-local function `f` (added to the model once).
    fn call(&mut self, name: String, f: FunctionProto, input: Vec<String>, out: String, attribute: Vec<AttributeProto>) -> Result<(), CodegenError> {
        let op_type = f.name.clone();
        if !self.functions.iter().any(|g| g.name == f.name) {
            self.functions.push(f);
        }
        self.graph.node.push(NodeProto { op_type, domain: FUNCTION_DOMAIN.into(), name, input, output: vec![out], attribute, ..Default::default() });
        Ok(())
    }
}

fn node(op: &str, input: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn tensor_attr(name: &str, t: &Tensor) -> AttributeProto {
    AttributeProto { t: MessageField::some(tensor_proto("", t)), ..attr(name, AttributeType::TENSOR) }
}

/// Nodes computing `out = act(input)` inside a function body.
fn act_nodes(act: FusedAct, input: &str, out: &str) -> Vec<NodeProto> {
    match act {
        FusedAct::None => vec![node("Identity", &[input], out, vec![])],
        FusedAct::Relu => vec![node("Relu", &[input], out, vec![])],
        FusedAct::Sigmoid => vec![node("Sigmoid", &[input], out, vec![])],
        FusedAct::HardSwish => vec![node("HardSwish", &[input], out, vec![])],
        FusedAct::Silu => vec![node("Sigmoid", &[input], &format!("{out}_sig"), vec![]), node("Mul", &[input, &format!("{out}_sig")], out, vec![])],
        FusedAct::Relu6 => vec![
            node("Constant", &[], &format!("{out}_lo"), vec![tensor_attr("value", &scalar(0.0))]),
            node("Constant", &[], &format!("{out}_hi"), vec![tensor_attr("value", &scalar(6.0))]),
            node("Clip", &[input, &format!("{out}_lo"), &format!("{out}_hi")], out, vec![]),
        ],
    }
}

fn function(name: String, input: &[&str], node: Vec<NodeProto>, attribute: &[&str]) -> FunctionProto {
    FunctionProto {
        name,
        domain: FUNCTION_DOMAIN.into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: vec!["Y".into()],
        attribute: attribute.iter().map(|s| s.to_string()).collect(),
        node,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET, ..Default::default() }],
        ..Default::default()
    }
}

fn ref_attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto { ref_attr_name: name.into(), ..attr(name, ty) }
}

fn conv_act_function(act: FusedAct) -> FunctionProto {
    let conv_attrs = vec![
        ref_attr("strides", AttributeType::INTS),
        ref_attr("pads", AttributeType::INTS),
        ref_attr("dilations", AttributeType::INTS),
        ref_attr("group", AttributeType::INT),
    ];
    let mut body = vec![node("Conv", &["X", "W", "B"], "C", conv_attrs)];
    body.extend(act_nodes(act, "C", "Y"));
    function(format!("Conv_{}", act.name()), &["X", "W", "B"], body, &["strides", "pads", "dilations", "group"])
}

fn add_act_function(act: FusedAct) -> FunctionProto {
    let mut body = vec![node("Add", &["A", "B"], "S", vec![])];
    body.extend(act_nodes(act, "S", "Y"));
    function(format!("Add_{}", act.name()), &["A", "B"], body, &[])
}

fn se_function(se: &senetc_ir::ops::SqueezeExcite) -> FunctionProto {
    let mut body = vec![
        node("GlobalAveragePool", &["X"], "P", vec![]),
        node("Flatten", &["P"], "F", vec![int("axis", 1)]),
        node("Gemm", &["F", "W1", "B1"], "H0", vec![int("transB", 1)]),
    ];
    body.extend(act_nodes(se.act, "H0", "H"));
    body.push(node("Gemm", &["H", "W2", "B2"], "G0", vec![int("transB", 1)]));
    let name = match se.gate {
        SeGate::Sigmoid => {
            body.push(node("Sigmoid", &["G0"], "G", vec![]));
            format!("SqueezeExcite_{}_sigmoid", se.act.name())
        }
        SeGate::HardSigmoid => {
            body.push(node("HardSigmoid", &["G0"], "G", vec![float("alpha", se.gate_alpha), float("beta", se.gate_beta)]));
            format!("SqueezeExcite_{}_hard_sigmoid_{:08x}_{:08x}", se.act.name(), se.gate_alpha.to_bits(), se.gate_beta.to_bits())
        }
    };
    body.push(node("Constant", &[], "axes", vec![tensor_attr("value", &Tensor::from_i64(vec![2], &[2, 3]))]));
    body.push(node("Unsqueeze", &["G", "axes"], "G4", vec![]));
    body.push(node("Mul", &["X", "G4"], "Y", vec![]));
    function(name, &["X", "W1", "B1", "W2", "B2"], body, &[])
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

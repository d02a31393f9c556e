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
use senetc_ir::ops::{AutoPad, DataFormat, FusedAct};
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Tensor, TensorType};
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// The opset written (a model with a dilated average pool needs opset 19: see [`opset_of`]).
pub const OPSET: i64 = 17;

/// The default-domain opset a model needs: [`OPSET`], or 19 when an average pool is
/// dilated (AveragePool has `dilations` since opset 19).
pub fn opset_of(g: &Graph) -> i64 {
    let dilated = g.order().into_iter().any(|id| matches!(&g.node(id).op, Op::AveragePool(p) if p.dilations.iter().any(|&d| d != 1)));
    if dilated {
        19
    } else {
        OPSET
    }
}

/// The domain of the model-local functions that fused ops export as.
pub const FUNCTION_DOMAIN: &str = "senetc";

/// Serialize `g` as an ONNX model in memory (see [`write`]).
pub fn export(g: &Graph) -> Result<Vec<u8>, CodegenError> {
    let mut out = Vec::new();
    write(g, &mut out)?;
    Ok(out)
}

/// Write `g` as an ONNX model to `out`. The message is built without the initializers'
/// bytes; each weight then goes to `out` once, from the IR's own (possibly memory-mapped)
/// buffer. The bytes are those rust-protobuf writes for the whole message: it writes fields
/// in declaration order, so a message is the concatenation of its fields declared before a
/// large field, that field, and those declared after it.
pub fn write(g: &Graph, out: &mut dyn Write) -> Result<(), CodegenError> {
    let (mut m, weights) = build(g)?;
    // ModelProto: ir_version .. doc_string, graph (7), metadata_props, training_info, functions.
    let mut graph = m.graph.take().unwrap_or_default();
    let model_tail = ModelProto {
        metadata_props: std::mem::take(&mut m.metadata_props),
        training_info: std::mem::take(&mut m.training_info),
        functions: std::mem::take(&mut m.functions),
        ..Default::default()
    };
    // GraphProto: node, name, initializer (5), then everything else.
    let graph_head = GraphProto { node: std::mem::take(&mut graph.node), name: std::mem::take(&mut graph.name), ..Default::default() };
    let initializers = std::mem::take(&mut graph.initializer);
    // TensorProto: dims .. doc_string, raw_data (9); the initializers set nothing after it.
    let tensors = initializers
        .iter()
        .zip(&weights)
        .map(|(t, w)| {
            let head = encode(t)?;
            let raw = w.bytes().len();
            let len = head.len() + if raw == 0 { 0 } else { 1 + varint_len(raw as u64) + raw };
            Ok((head, len))
        })
        .collect::<Result<Vec<_>, CodegenError>>()?;
    let (model_head, model_tail, graph_head, graph_tail) = (encode(&m)?, encode(&model_tail)?, encode(&graph_head)?, encode(&graph)?);
    let graph_len = graph_head.len() + tensors.iter().map(|(_, len)| 1 + varint_len(*len as u64) + len).sum::<usize>() + graph_tail.len();
    out.write_all(&model_head)?;
    write_key(out, 7, graph_len)?;
    out.write_all(&graph_head)?;
    for ((head, len), w) in tensors.iter().zip(&weights) {
        write_key(out, 5, *len)?;
        out.write_all(head)?;
        let raw = w.bytes();
        if !raw.is_empty() {
            write_key(out, 9, raw.len())?;
            out.write_all(raw)?;
        }
    }
    out.write_all(&graph_tail)?;
    out.write_all(&model_tail)?;
    Ok(())
}

fn encode<M: Message>(m: &M) -> Result<Vec<u8>, CodegenError> {
    Ok(m.write_to_bytes().map_err(|e| senetc_ir::IrError::Graph(format!("protobuf: {e}")))?)
}

/// The key of length-delimited field `field` and its length.
fn write_key(out: &mut dyn Write, field: u32, len: usize) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(11);
    put_varint(&mut b, u64::from(field << 3 | 2));
    put_varint(&mut b, len as u64);
    out.write_all(&b)
}

fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

/// The ONNX ModelProto of `g`, its initializers without their bytes, and the tensor of each
/// initializer, in order.
fn build(g: &Graph) -> Result<(ModelProto, Vec<Tensor>), CodegenError> {
    let mut x = Exporter { g, graph: GraphProto::new(), weights: Vec::new(), names: HashMap::new(), used: HashSet::new(), functions: Vec::new() };
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
                x.initializer(name, c.tensor.clone());
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
    m.opset_import.push(OperatorSetIdProto { domain: String::new(), version: opset_of(g), ..Default::default() });
    if !x.functions.is_empty() {
        m.opset_import.push(OperatorSetIdProto { domain: FUNCTION_DOMAIN.into(), version: 1, ..Default::default() });
    }
    m.functions = x.functions;
    m.graph = MessageField::some(x.graph);
    Ok((m, x.weights))
}

struct Exporter<'g> {
    g: &'g Graph,
    graph: GraphProto,
    /// The tensor of each of `graph.initializer`, whose `raw_data` stays empty.
    weights: Vec<Tensor>,
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
        self.initializer(name.clone(), t);
        name
    }

    /// Add initializer `name` holding `t`.
    fn initializer(&mut self, name: String, t: Tensor) {
        self.graph.initializer.push(TensorProto { name, dims: dims(&t), data_type: onnx_code(t.dtype()), ..Default::default() });
        self.weights.push(t);
    }

    fn node(&mut self, id: senetc_ir::NodeId, op: &Op) -> Result<(), CodegenError> {
        let g = self.g;
        let node = g.node(id);
        let base = if node.name.is_empty() { format!("n{}", id.index()) } else { node.name.clone() };
        let ins = g.inputs_of(id);
        let inputs: Vec<String> = ins.iter().map(|&o| self.name(o)).collect();
        let types: Vec<TensorType> = ins.iter().map(|&o| g.outlet_type(o).clone()).collect();
        let out = self.fresh(Outlet::new(id), &format!("{base}_out"));
        let unsupported = |why: String| CodegenError::Unsupported { node: node.name.clone(), op: op.name(), target: "onnx", why };
        // Settings the IR keeps as attributes become initializers of the graph.
        let mut konst = |hint: &str, t: Tensor| self.init(&format!("{base}_{hint}"), t);
        let nodes = op_nodes(op, &base, inputs, &types, &out, &mut konst).map_err(unsupported)?;
        match nodes {
            Lowered::Nodes(nodes) => self.graph.node.extend(nodes),
            Lowered::Call { function, input, attribute } => {
                let op_type = function.name.clone();
                if !self.functions.iter().any(|f| f.name == function.name) {
                    self.functions.push(*function);
                }
                self.graph.node.push(NodeProto { op_type, domain: FUNCTION_DOMAIN.into(), name: base, input, output: vec![out], attribute, ..Default::default() });
            }
        }
        Ok(())
    }
}

/// What one IR op becomes: ONNX nodes, or a call of a model-local function (fused ops).
enum Lowered {
    Nodes(Vec<NodeProto>),
    Call { function: Box<FunctionProto>, input: Vec<String>, attribute: Vec<AttributeProto> },
}

/// A constant input: `konst(hint, value)` returns the name of a value holding it (an
/// initializer in the graph, a Constant node in a function body).
type Konst<'a> = dyn FnMut(&str, Tensor) -> String + 'a;

/// The ONNX form of `op` applied to `inputs` (of types `types`), producing `out`. Nodes
/// are named from `base`. The one exhaustive match from IR ops to ONNX.
fn op_nodes(op: &Op, base: &str, mut inputs: Vec<String>, types: &[TensorType], out: &str, konst: &mut Konst<'_>) -> Result<Lowered, String> {
    let nchw = |f: DataFormat| if f == DataFormat::Nchw { Ok(()) } else { Err("NHWC layout is not exported (the layout pass makes graphs NCHW)".to_string()) };
    let one = |op_type: &str, inputs: Vec<String>, attrs: Vec<AttributeProto>| {
        Ok(Lowered::Nodes(vec![NodeProto { op_type: op_type.into(), name: base.into(), input: inputs, output: vec![out.into()], attribute: attrs, ..Default::default() }]))
    };
    let mut attrs = Vec::new();
    match op {
        Op::Input | Op::Const(_) => Err("leaves are not nodes".into()),
        Op::Conv(c) => {
            nchw(c.format)?;
            let k = types[1].shape.as_known().unwrap_or_default();
            attrs.push(ints("strides", &c.strides));
            attrs.push(ints("dilations", &c.dilations));
            attrs.push(int("group", c.group as i64));
            if c.act == FusedAct::None {
                attrs.push(ints("kernel_shape", k.get(2..).unwrap_or(&[])));
                pads_attrs(&mut attrs, c.auto_pad, &c.pads);
                return one("Conv", inputs, attrs);
            }
            // The function body takes explicit pads: resolve SAME here (spatial dims are static).
            let dim = |i: usize| types[0].shape.0.get(i).and_then(|d| d.known()).unwrap_or(0);
            let (ph, pw) = (c.pads_for(0, dim(2), k[2]), c.pads_for(1, dim(3), k[3]));
            attrs.push(ints("pads", &[ph.0, pw.0, ph.1, pw.1]));
            if inputs.len() == 2 {
                inputs.push(konst("zero_bias", Tensor::from_f32(vec![k[0]], &vec![0.0; k[0]]).cast(types[0].dtype)));
            }
            attrs.push(text_attr("act", &c.act));
            Ok(Lowered::Call { function: Box::new(conv_act_function(&c.act)?), input: inputs, attribute: attrs })
        }
        Op::BatchNorm(b) => {
            if b.axis != 1 {
                return Err("BatchNormalization over an axis other than 1".into());
            }
            attrs.push(float("epsilon", b.epsilon));
            one("BatchNormalization", inputs, attrs)
        }
        Op::ScaleShift(ss) => {
            let trailing = types[0].rank().saturating_sub(ss.axis + 1);
            let attribute = vec![text_attr("act", &ss.act), int("axis", ss.axis as i64)];
            Ok(Lowered::Call { function: Box::new(scale_shift_function(&ss.act, trailing)?), input: inputs, attribute })
        }
        Op::Relu(_) => one("Relu", inputs, attrs),
        Op::Clip(c) => {
            inputs.push(if c.min.is_finite() { konst("min", scalar(c.min).cast(types[0].dtype)) } else { String::new() });
            if c.max.is_finite() {
                inputs.push(konst("max", scalar(c.max).cast(types[0].dtype)));
            }
            one("Clip", inputs, attrs)
        }
        Op::Sigmoid(_) => one("Sigmoid", inputs, attrs),
        Op::HardSigmoid(h) => one("HardSigmoid", inputs, vec![float("alpha", h.alpha), float("beta", h.beta)]),
        Op::HardSwish(_) => one("HardSwish", inputs, attrs),
        Op::LeakyRelu(l) => one("LeakyRelu", inputs, vec![float("alpha", l.alpha)]),
        Op::Silu(_) => {
            let sig = format!("{base}_sigmoid");
            Ok(Lowered::Nodes(vec![
                NodeProto { op_type: "Sigmoid".into(), name: sig.clone(), input: inputs.clone(), output: vec![sig.clone()], ..Default::default() },
                NodeProto { op_type: "Mul".into(), name: base.into(), input: vec![inputs[0].clone(), sig], output: vec![out.into()], ..Default::default() },
            ]))
        }
        Op::Tanh(_) => one("Tanh", inputs, attrs),
        Op::Elu(e) => one("Elu", inputs, vec![float("alpha", e.alpha)]),
        Op::Add(_) => one("Add", inputs, attrs),
        Op::Sub(_) => one("Sub", inputs, attrs),
        Op::Mul(_) => one("Mul", inputs, attrs),
        Op::Div(_) => one("Div", inputs, attrs),
        Op::Max(_) => one("Max", inputs, attrs),
        Op::Min(_) => one("Min", inputs, attrs),
        Op::GlobalAveragePool(p) => {
            nchw(p.format)?;
            one("GlobalAveragePool", inputs, attrs)
        }
        Op::ReduceMean(r) => {
            if !r.axes.is_empty() {
                attrs.push(ints("axes", &r.axes));
            }
            attrs.push(int("keepdims", r.keepdims as i64));
            one("ReduceMean", inputs, attrs)
        }
        Op::ReduceMax(r) => {
            if !r.axes.is_empty() {
                attrs.push(ints("axes", &r.axes));
            }
            attrs.push(int("keepdims", r.keepdims as i64));
            one("ReduceMax", inputs, attrs)
        }
        Op::AveragePool(p) => {
            nchw(p.format)?;
            attrs.push(ints("kernel_shape", &p.kernel));
            attrs.push(ints("strides", &p.strides));
            attrs.push(int("ceil_mode", p.ceil_mode as i64));
            attrs.push(int("count_include_pad", p.count_include_pad as i64));
            if p.dilations.iter().any(|&d| d != 1) {
                attrs.push(ints("dilations", &p.dilations));
            }
            pads_attrs(&mut attrs, p.auto_pad, &p.pads);
            one("AveragePool", inputs, attrs)
        }
        Op::MaxPool(p) => {
            nchw(p.format)?;
            attrs.push(ints("kernel_shape", &p.kernel));
            attrs.push(ints("strides", &p.strides));
            attrs.push(ints("dilations", &p.dilations));
            attrs.push(int("ceil_mode", p.ceil_mode as i64));
            pads_attrs(&mut attrs, p.auto_pad, &p.pads);
            one("MaxPool", inputs, attrs)
        }
        Op::MaxPoolIndices(p) => {
            // MaxPool's second output; its first, the values, gets a name nothing reads.
            attrs.push(ints("kernel_shape", &p.kernel));
            attrs.push(ints("strides", &p.strides));
            attrs.push(ints("dilations", &p.dilations));
            attrs.push(int("ceil_mode", p.ceil_mode as i64));
            attrs.push(int("storage_order", p.column_major as i64));
            pads_attrs(&mut attrs, p.auto_pad, &p.pads);
            let values = format!("{out}/values");
            Ok(Lowered::Nodes(vec![NodeProto { op_type: "MaxPool".into(), name: base.into(), input: inputs, output: vec![values, out.into()], attribute: attrs, ..Default::default() }]))
        }
        Op::Gemm(m) => {
            attrs.push(float("alpha", m.alpha));
            attrs.push(float("beta", m.beta));
            attrs.push(int("transA", m.trans_a as i64));
            attrs.push(int("transB", m.trans_b as i64));
            one("Gemm", inputs, attrs)
        }
        Op::MatMul(_) => one("MatMul", inputs, attrs),
        Op::Flatten(f) => one("Flatten", inputs, vec![int("axis", f.axis)]),
        Op::Reshape(r) => {
            inputs.push(konst("shape", Tensor::from_i64(vec![r.shape.len()], &r.shape)));
            if r.allowzero {
                attrs.push(int("allowzero", 1));
            }
            one("Reshape", inputs, attrs)
        }
        Op::Transpose(t) => {
            if !t.perm.is_empty() {
                attrs.push(ints("perm", &t.perm));
            }
            one("Transpose", inputs, attrs)
        }
        Op::Squeeze(s) => {
            if !s.axes.is_empty() {
                inputs.push(konst("axes", Tensor::from_i64(vec![s.axes.len()], &s.axes)));
            }
            one("Squeeze", inputs, attrs)
        }
        Op::Unsqueeze(u) => {
            inputs.push(konst("axes", Tensor::from_i64(vec![u.axes.len()], &u.axes)));
            one("Unsqueeze", inputs, attrs)
        }
        Op::Concat(c) => one("Concat", inputs, vec![int("axis", c.axis)]),
        Op::Slice(s) => {
            let v = |x: &[usize]| x.iter().map(|&d| d as i64).collect::<Vec<i64>>();
            let n = s.axes.len();
            // ONNX reads a negative end as counting from the end; the IR's -1 (through index
            // 0, negative steps only) is any end below -extent, which ONNX clamps to -1.
            let ends: Vec<i64> = s.ends.iter().map(|&e| if e < 0 { i64::MIN } else { e }).collect();
            inputs.push(konst("starts", Tensor::from_i64(vec![n], &v(&s.starts))));
            inputs.push(konst("ends", Tensor::from_i64(vec![n], &ends)));
            inputs.push(konst("axes", Tensor::from_i64(vec![n], &v(&s.axes))));
            inputs.push(konst("steps", Tensor::from_i64(vec![n], &s.steps)));
            one("Slice", inputs, attrs)
        }
        Op::Gather(g) => one("Gather", inputs, vec![int("axis", g.axis)]),
        Op::Pad(p) => {
            inputs.push(konst("pads", Tensor::from_i64(vec![p.pads.len()], &p.pads)));
            inputs.push(konst("value", scalar(p.value).cast(types[0].dtype)));
            one("Pad", inputs, vec![string("mode", p.mode.name())])
        }
        Op::Softmax(s) => one("Softmax", inputs, vec![int("axis", s.axis)]),
        Op::Identity(_) | Op::Dropout(_) => one("Identity", inputs, attrs),
        Op::Cast(c) => one("Cast", inputs, vec![int("to", onnx_code(c.to) as i64)]),
        Op::SqueezeExcite(se) => {
            nchw(se.format)?;
            let attribute = vec![text_attr("act", &se.act), text_attr("gate", &se.gate)];
            Ok(Lowered::Call { function: Box::new(se_function(se)?), input: inputs, attribute })
        }
        Op::AddAct(a) => Ok(Lowered::Call { function: Box::new(add_act_function(&a.act)?), input: inputs, attribute: vec![text_attr("act", &a.act)] }),
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

/// The IR text of an activation (`relu`, `clip{min=0.0, max=6.0}`), as a string attribute:
/// how senetc's importer reads a fused op back exactly.
fn text_attr(name: &str, act: &FusedAct) -> AttributeProto {
    let mut s = String::new();
    senetc_ir::ops::AttrValue::write(act, &mut s);
    string(name, &s)
}

/// Function-name suffix of an activation: its name, and a hash of its attributes when it
/// has any, so that different settings get different bodies.
fn act_suffix(act: &FusedAct) -> String {
    let mut s = String::new();
    senetc_ir::ops::AttrValue::write(act, &mut s);
    if s == act.name() {
        return s;
    }
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    format!("{}_{:08x}", act.name(), h as u32)
}

/// Nodes of a function body computing `out = act(input)`.
fn act_nodes(act: &FusedAct, input: &str, out: &str) -> Result<Vec<NodeProto>, String> {
    let Some(op) = act.to_op() else { return Ok(vec![node("Identity", &[input], out, vec![])]) };
    let mut consts = Vec::new();
    let lowered = {
        let mut konst = |hint: &str, t: Tensor| {
            let name = format!("{out}_{hint}");
            consts.push(node("Constant", &[], &name, vec![tensor_attr("value", &t)]));
            name
        };
        // Activations need no operand types beyond f32.
        let ty = TensorType::new(DType::F32, senetc_ir::Shape(vec![]));
        op_nodes(&op, out, vec![input.to_string()], &[ty], out, &mut konst)?
    };
    let Lowered::Nodes(nodes) = lowered else { return Err(format!("activation {} is not a plain op", act.name())) };
    consts.extend(nodes);
    Ok(consts)
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

fn conv_act_function(act: &FusedAct) -> Result<FunctionProto, String> {
    let conv_attrs = vec![
        ref_attr("strides", AttributeType::INTS),
        ref_attr("pads", AttributeType::INTS),
        ref_attr("dilations", AttributeType::INTS),
        ref_attr("group", AttributeType::INT),
    ];
    let mut body = vec![node("Conv", &["X", "W", "B"], "C", conv_attrs)];
    body.extend(act_nodes(act, "C", "Y")?);
    Ok(function(format!("Conv_{}", act_suffix(act)), &["X", "W", "B"], body, &["strides", "pads", "dilations", "group", "act"]))
}

fn add_act_function(act: &FusedAct) -> Result<FunctionProto, String> {
    let mut body = vec![node("Add", &["A", "B"], "S", vec![])];
    body.extend(act_nodes(act, "S", "Y")?);
    Ok(function(format!("Add_{}", act_suffix(act)), &["A", "B"], body, &["act"]))
}

/// `act(X * S + B)` with S and B vectors along the axis that has `trailing` axes after it.
fn scale_shift_function(act: &FusedAct, trailing: usize) -> Result<FunctionProto, String> {
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, trailing));
    let mut body = vec![
        node("Constant", &[], "shape", vec![tensor_attr("value", &Tensor::from_i64(vec![shape.len()], &shape))]),
        node("Reshape", &["S", "shape"], "S1", vec![]),
        node("Reshape", &["B", "shape"], "B1", vec![]),
        node("Mul", &["X", "S1"], "M", vec![]),
        node("Add", &["M", "B1"], "A", vec![]),
    ];
    body.extend(act_nodes(act, "A", "Y")?);
    Ok(function(format!("ScaleShift_{}_{trailing}", act_suffix(act)), &["X", "S", "B"], body, &["act", "axis"]))
}

fn se_function(se: &senetc_ir::ops::SqueezeExcite) -> Result<FunctionProto, String> {
    let mut body = vec![
        node("GlobalAveragePool", &["X"], "P", vec![]),
        node("Flatten", &["P"], "F", vec![int("axis", 1)]),
        node("Gemm", &["F", "W1", "B1"], "H0", vec![int("transB", 1)]),
    ];
    body.extend(act_nodes(&se.act, "H0", "H")?);
    body.push(node("Gemm", &["H", "W2", "B2"], "G0", vec![int("transB", 1)]));
    body.extend(act_nodes(&se.gate, "G0", "G")?);
    body.push(node("Constant", &[], "axes", vec![tensor_attr("value", &Tensor::from_i64(vec![2], &[2, 3]))]));
    body.push(node("Unsqueeze", &["G", "axes"], "G4", vec![]));
    body.push(node("Mul", &["X", "G4"], "Y", vec![]));
    let name = format!("SqueezeExcite_{}_{}", act_suffix(&se.act), act_suffix(&se.gate));
    Ok(function(name, &["X", "W1", "B1", "W2", "B2"], body, &["act", "gate"]))
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

fn dims(t: &Tensor) -> Vec<i64> {
    t.shape().iter().map(|&d| d as i64).collect()
}

fn tensor_proto(name: &str, t: &Tensor) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims(t),
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

//! Unit tests of the MindIR reader and converter on small hand-built models: the two
//! attribute styles, settings as Constant inputs, the plumbing, and the errors. The
//! MindSpore-made files are tested from the workspace's `tests/mindir.rs`.

use super::*;
use crate::proto::mind_ir::{AttributeProto, GraphProto, ModelProto, NodeProto, PrimitiveProto, TensorProto, ValueInfoProto};
use bytes::Bytes;
use prost::Message;
use senetc_ir::ops::{AutoPad, Conv};
use senetc_ir::Op;

const G: &str = "g";

fn attr(name: &str, ty: i32) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(ty), ..Default::default() }
}
fn a_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: Some(v), ..attr(name, 7) }
}
fn a_bool(name: &str, v: bool) -> AttributeProto {
    AttributeProto { i: Some(i64::from(v)), ..attr(name, 9) }
}
fn a_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto { f: Some(v), ..attr(name, 1) }
}
fn a_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: Some(Bytes::from(v.to_string())), ..attr(name, 8) }
}
fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
    let values = v.iter().map(|&i| AttributeProto { ints: vec![i], r#type: Some(7), ..Default::default() }).collect();
    AttributeProto { values, ..attr(name, 20) }
}
fn a_monad(name: &str) -> AttributeProto {
    attr(name, 23)
}

/// Value names as MindSpore writes them: `<graph>:<name>` for nodes, parameters and inputs;
/// Constants (here `#...`) have bare names.
fn full(n: &str) -> String {
    if n.starts_with('#') {
        n.to_string()
    } else {
        format!("{G}:{n}")
    }
}

fn constant(name: &str, mut value: AttributeProto) -> NodeProto {
    value.name = Some("value".into());
    NodeProto { name: Some(name.into()), output: vec![name.into()], op_type: Some("Constant".into()), attribute: vec![value], ..Default::default() }
}

fn node(name: &str, op_type: &str, inputs: &[&str]) -> NodeProto {
    NodeProto {
        name: Some(full(name)),
        output: vec![full(name)],
        op_type: Some(op_type.into()),
        input: inputs.iter().map(|i| full(i)).collect(),
        domain: Some(format!("Default/{name}")),
        ..Default::default()
    }
}

fn prim(key: &str, op: &str, attrs: Vec<AttributeProto>) -> PrimitiveProto {
    PrimitiveProto { name: Some(key.into()), op_type: Some(op.into()), attribute: attrs, prim_type: Some(1), ..Default::default() }
}

fn param(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(full(name)),
        ref_key: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        raw_data: Some(Bytes::from(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto { name: Some(full(name)), tensor: vec![TensorProto { dims: dims.to_vec(), data_type: Some(1), ..Default::default() }] }
}

fn model(nodes: Vec<NodeProto>, prims: Vec<PrimitiveProto>, params: Vec<TensorProto>, input: (&str, &[i64]), outputs: &[&str]) -> ModelProto {
    ModelProto {
        ir_version: Some("1.1".into()),
        producer_name: Some("MindSpore".into()),
        model_version: Some("2.10.0".into()),
        mind_ir_version: Some(3),
        little_endian: Some(true),
        graph: Some(GraphProto {
            name: Some(G.into()),
            node: nodes,
            parameter: params,
            input: vec![value_info(input.0, input.1)],
            output: outputs.iter().map(|o| ValueInfoProto { name: Some(full(o)), tensor: vec![] }).collect(),
        }),
        primitives: prims,
        ..Default::default()
    }
}

fn import_model(m: &ModelProto) -> Result<(Graph, ImportNotes), FrontendError> {
    import_bytes(Bytes::from(m.encode_to_vec()), Path::new("."), Path::new("test.mindir"))
}

fn ir(m: &ModelProto) -> Graph {
    import_model(m).unwrap_or_else(|e| panic!("{e}")).0
}

/// The printed IR.
fn text(g: &Graph) -> String {
    senetc_ir::text::print(g)
}

fn err(m: &ModelProto) -> String {
    match import_model(m) {
        Ok(_) => panic!("imported but must not"),
        Err(e) => e.to_string(),
    }
}

/// The same small graph written the 2.10 way (settings as Constant inputs, enums as
/// integers) and the 2.0 way (settings as primitive attributes, enums as strings).
fn two_spellings() -> (ModelProto, ModelProto) {
    let w: Vec<f32> = (0..4 * 4 * 9).map(|i| (i as f32 * 0.37).sin()).collect();
    let params = || {
        vec![
            param("w", &[4, 4, 3, 3], &w),
            param("gamma", &[4], &[1.0, 2.0, 0.5, 1.5]),
            param("beta", &[4], &[0.0, 0.1, 0.2, 0.3]),
            param("mean", &[4], &[0.5, -0.5, 0.0, 1.0]),
            param("var", &[4], &[1.0, 2.0, 3.0, 4.0]),
        ]
    };
    let conv = || {
        // Conv2D keeps attributes in both versions: a 4-tuple stride, pad_mode in upper case here.
        prim("Conv2D:1", "Conv2D", vec![a_ints("kernel_size", &[3, 3]), a_ints("stride", &[1, 1, 2, 2]), a_ints("dilation", &[1, 1, 1, 1]), a_str("pad_mode", "SAME"), a_int("group", 1), a_int("groups", 1), a_str("format", "NCHW")])
    };
    let maxpool = || prim("MaxPool:2", "MaxPool", vec![a_str("pad_mode", "same"), a_ints("kernel_size", &[1, 1, 3, 3]), a_ints("strides", &[1, 1, 1, 1]), a_str("format", "NCHW")]);
    let body = |bn_ins: &[&str], avg_ins: &[&str]| {
        vec![
            node("conv", "REF::Conv2D:1", &["x", "w"]),
            node("bn", "REF::BatchNorm:3", bn_ins),
            node("bn0", "REF::TupleGetItem:4", &["bn", "#0"]),
            node("pool", "REF::MaxPool:2", &["bn0"]),
            node("avg", "REF::AvgPool:5", avg_ins),
        ]
    };
    // 2.10: one INT64 0 shared by TupleGetItem's index and both data_format settings.
    let mut nodes = vec![
        constant("#0", a_int("", 0)),
        constant("#F", a_bool("", false)),
        constant("#E", a_f("", 1e-3)),
        constant("#M", a_f("", 0.1)),
        constant("#K", a_ints("", &[2, 2])),
        constant("#V", a_int("", 2)),
    ];
    nodes.extend(body(&["conv", "gamma", "beta", "mean", "var", "#F", "#E", "#M", "#0"], &["pool", "#K", "#K", "#V", "#0"]));
    let prims = vec![conv(), maxpool(), prim("BatchNorm:3", "BatchNorm", vec![]), prim("TupleGetItem:4", "TupleGetItem", vec![]), prim("AvgPool:5", "AvgPool", vec![])];
    let new = model(nodes, prims, params(), ("x", &[1, 4, 8, 8]), &["avg"]);
    // 2.0: the same as attributes.
    let mut nodes = vec![constant("#0", a_int("", 0))];
    nodes.extend(body(&["conv", "gamma", "beta", "mean", "var"], &["pool"]));
    let prims = vec![
        conv(),
        maxpool(),
        prim("BatchNorm:3", "BatchNorm", vec![a_bool("is_training", false), a_f("epsilon", 1e-3), a_f("momentum", 0.1), a_str("format", "NCHW")]),
        prim("TupleGetItem:4", "TupleGetItem", vec![]),
        prim("AvgPool:5", "AvgPool", vec![a_ints("kernel_size", &[1, 1, 2, 2]), a_ints("strides", &[1, 1, 2, 2]), a_str("pad_mode", "VALID"), a_str("format", "NCHW")]),
    ];
    let old = model(nodes, prims, params(), ("x", &[1, 4, 8, 8]), &["avg"]);
    (new, old)
}

#[test]
fn settings_read_alike_from_constant_inputs_and_attributes_in_any_case() {
    let (new, old) = two_spellings();
    let (g_new, g_old) = (ir(&new), ir(&old));
    assert_eq!(text(&g_new), text(&g_old));
    let t = text(&g_new);
    assert!(t.contains("conv(%0, %1) {strides=[2,2], auto_pad=same_upper}"), "{t}");
    assert!(t.contains("batch_norm(") && t.contains("{epsilon=0.001}"), "{t}");
    assert!(t.contains("max_pool(") && t.contains("{kernel=[3,3], auto_pad=same_upper}"), "{t}");
    assert!(t.contains("average_pool(") && t.contains("{kernel=[2,2], strides=[2,2], auto_pad=valid}"), "{t}");
    assert_eq!(g_new.inputs().len(), 1);
    assert_eq!(g_new.node(g_new.inputs()[0]).name, "x", "the graph-name prefix is dropped");
    assert!(g_new.weights().contains_key("gamma"), "weights are named by their parameter path");
}

#[test]
fn conv_pads_follow_mindspores_top_bottom_left_right_order() {
    let (mut m, _) = two_spellings();
    let p = &mut m.primitives[0];
    p.attribute.retain(|a| a.name() != "pad_mode");
    p.attribute.push(a_str("pad_mode", "pad"));
    p.attribute.push(a_ints("pad_list", &[1, 2, 3, 4]));
    let g = ir(&m);
    let conv = g.node_ids().find_map(|id| match &g.node(id).op {
        Op::Conv(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(conv, Some(Conv { strides: vec![2, 2], pads: vec![1, 3, 2, 4], auto_pad: AutoPad::NotSet, ..Conv::default() }));
}

#[test]
fn dense_is_one_gemm_and_a_shared_matmul_is_not_fused() {
    let w: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let prims = vec![prim("MatMul:1", "MatMul", vec![]), prim("BiasAdd:2", "BiasAdd", vec![]), prim("Load:3", "Load", vec![]), prim("Add:4", "Add", vec![])];
    let params = vec![param("w", &[3, 4], &w), param("b", &[3], &[1.0, 2.0, 3.0])];
    let consts = || vec![constant("#U", a_monad("")), constant("#F", a_bool("", false)), constant("#T", a_bool("", true)), constant("#0", a_int("", 0))];
    // Dense: x @ w' + b with the weights read through Load.
    let mut nodes = consts();
    nodes.extend([
        node("lw", "REF::Load:3", &["w", "#U"]),
        node("lb", "REF::Load:3", &["b", "#U"]),
        node("mm", "REF::MatMul:1", &["x", "lw", "#F", "#T"]),
        node("y", "REF::BiasAdd:2", &["mm", "lb", "#0"]),
    ]);
    let g = ir(&model(nodes, prims.clone(), params.clone(), ("x", &[2, 4]), &["y"]));
    let h = senetc_ir::stats::op_histogram(&g);
    assert_eq!(h.get("gemm"), Some(&1), "{h:?}");
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(text(&g).contains("gemm(%0, %1, %2) {trans_b=true}"), "{}", text(&g));
    // The product read twice: a bias-less gemm, then an add.
    let mut nodes = consts();
    nodes.extend([
        node("lw", "REF::Load:3", &["w", "#U"]),
        node("lb", "REF::Load:3", &["b", "#U"]),
        node("mm", "REF::MatMul:1", &["x", "lw", "#F", "#T"]),
        node("y", "REF::BiasAdd:2", &["mm", "lb", "#0"]),
        node("z", "REF::Add:4", &["y", "mm"]),
    ]);
    let g = ir(&model(nodes, prims.clone(), params.clone(), ("x", &[2, 4]), &["z"]));
    let h = senetc_ir::stats::op_histogram(&g);
    assert_eq!((h.get("gemm"), h.get("add")), (Some(&1), Some(&2)), "{h:?}");
    // transpose_a: x' @ w' with x stored [4, 2].
    let mut nodes = consts();
    nodes.extend([node("lw", "REF::Load:3", &["w", "#U"]), node("y", "REF::MatMul:1", &["x", "lw", "#T", "#T"])]);
    let g = ir(&model(nodes, prims, params, ("x", &[4, 2]), &["y"]));
    assert!(text(&g).contains("gemm(%0, %1) {trans_a=true, trans_b=true} : f32[2,3]"), "{}", text(&g));
}

#[test]
fn every_unresolved_or_unsupported_primitive_is_reported_at_once() {
    let mut m = model(
        vec![node("a", "REF::Nope:1", &["x"]), node("b", "REF::sub_graph", &["a"]), node("c", "REF::LSTM:2", &["b"]), node("d", "Erf", &["c"])],
        vec![prim("LSTM:2", "LSTM", vec![])],
        vec![],
        ("x", &[1, 2]),
        &["d"],
    );
    m.functions.push(GraphProto { name: Some("sub_graph".into()), ..Default::default() });
    let e = err(&m);
    assert!(e.contains("4 problem(s)"), "{e}");
    assert!(e.contains("REF::Nope:1 names no primitive"), "{e}");
    assert!(e.contains("calls the sub-graph \"sub_graph\""), "{e}");
    assert!(e.contains("(LSTM): unsupported MindSpore primitive"), "{e}");
    assert!(e.contains("(Erf): unsupported MindSpore primitive"), "{e}");
}

#[test]
fn versions_byte_order_and_empty_files() {
    let (mut m, _) = two_spellings();
    m.mind_ir_version = Some(7);
    m.model_version = Some("3.1.0".into());
    let e = err(&m);
    assert!(e.contains("MindIR version 7 (written by MindSpore 3.1.0) is newer than senetc reads"), "{e}");
    let (mut m, _) = two_spellings();
    m.little_endian = Some(false);
    assert!(err(&m).contains("big-endian"));
    let e = import_bytes(Bytes::new(), Path::new("."), Path::new("empty.mindir")).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let e = import_bytes(Bytes::from_static(b"\x0a\x05ab"), Path::new("."), Path::new("cut.mindir")).unwrap_err().to_string();
    assert!(e.contains("not a valid MindIR file"), "{e}");
}

#[test]
fn weights_point_into_the_buffer_the_file_was_decoded_from() {
    let (m, _) = two_spellings();
    let data = Bytes::from(m.encode_to_vec());
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let (g, _) = import_bytes(data.clone(), Path::new("."), Path::new("m.mindir")).unwrap();
    let w = &g.weights()["w"];
    assert!(range.contains(&(w.bytes().as_ptr() as usize)), "the weight was copied");
}

#[test]
fn training_outputs_tuples_and_state_are_not_tensors() {
    let (mut m, _) = two_spellings();
    // Read BatchNorm's batch_mean (TupleGetItem 1) instead of its output.
    let graph = m.graph.as_mut().unwrap();
    graph.node.push(constant("#1", a_int("", 1)));
    let tgi = graph.node.iter().position(|n| n.name() == full("bn0")).unwrap();
    graph.node[tgi].input[1] = "#1".into();
    let c1 = graph.node.pop().unwrap();
    graph.node.insert(0, c1);
    let e = err(&m);
    assert!(e.contains("batch_mean (a training output) is not supported"), "{e}");

    let (mut m, _) = two_spellings();
    let bn = m.primitives.iter_mut().find(|p| p.op_type() == "BatchNorm").unwrap();
    bn.attribute.clear();
    let graph = m.graph.as_mut().unwrap();
    graph.node.retain(|n| n.name() != "#F");
    graph.node.insert(0, constant("#F", a_bool("", true)));
    assert!(err(&m).contains("training-mode BatchNorm"));

    let m = model(
        vec![constant("#U", a_monad("")), node("t", "REF::MakeTuple:1", &["x", "x"]), node("r", "REF::ReLU:2", &["t"]), node("s", "REF::ReLU:2", &["#U"])],
        vec![prim("MakeTuple:1", "MakeTuple", vec![]), prim("ReLU:2", "ReLU", vec![])],
        vec![],
        ("x", &[1, 2]),
        &["r", "s"],
    );
    let e = err(&m);
    assert!(e.contains("is a tuple where a tensor is expected") && e.contains("is side-effect state"), "{e}");
}

#[test]
fn sniffing_tells_mindir_from_onnx_and_other_files() {
    let (m, _) = two_spellings();
    assert!(sniff(&m.encode_to_vec()));
    let v1 = proto::mind_ir_v1::ModelProto { ir_version: Some(4), producer_name: Some("MindSpore".into()), graph: Some(Default::default()), ..Default::default() };
    assert!(sniff(&v1.encode_to_vec()));
    let onnx = proto::mind_ir_v1::ModelProto { opset_import: vec![Default::default()], ..v1 };
    assert!(!sniff(&onnx.encode_to_vec()), "an ONNX model (opset_import) is not MindIR");
    let other = ModelProto { producer_name: Some("TensorFlow".into()), ..m };
    assert!(!sniff(&other.encode_to_vec()));
    for junk in [&b""[..], b"\x00\x01", b"PK\x03\x04", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"] {
        assert!(!sniff(junk));
    }
}

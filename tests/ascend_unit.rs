//! The Ascend backend on small hand-built graphs: every lowering path (fused ops, depthwise,
//! pooling, gemm, softmax, NHWC input, mixed precision) runs the same after an OM round
//! trip; files are well formed (header, 512-byte aligned weights, descs); bad input is
//! refused with an error, never a panic.

mod common;

use senetc_codegen::ascend::{AscendOptions, InputFormat, PrecisionMode, SocVersion};
use senetc_ge::{attr, proto};
use senetc_codegen::cpu::CpuPlan;
use senetc_codegen::CodegenError;
use senetc_ir::ops::*;
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Shape, Tensor, TensorType};

/// Deterministic pseudo-random values in [-scale, scale].
fn vals(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn konst(g: &mut Graph, name: &str, shape: &[usize], seed: u32, scale: f32) -> Outlet {
    let n = shape.iter().product();
    g.add_const(name, Tensor::from_f32(shape.to_vec(), &vals(n, seed, scale)))
}

/// conv(+relu) → squeeze-excite (hard-sigmoid gate) → add_act(relu6) → batch norm →
/// depthwise conv(+leaky relu) → clip → leaky relu → max pool → avg pool → silu → global
/// pool → flatten → gemm → softmax: one of every lowering path the corpus does not exercise.
fn small_graph() -> Graph {
    let mut g = Graph::new("small");
    let ty = TensorType::new(DType::F32, Shape(vec![Dim::Sym("batch".into()), 4.into(), 8.into(), 8.into()]));
    let x = g.add_input("x", ty);
    let w = konst(&mut g, "w", &[20, 4, 3, 3], 1, 0.3);
    let b = konst(&mut g, "b", &[20], 2, 0.1);
    let c = g.add("conv", Op::Conv(Conv { pads: vec![1, 1, 1, 1], act: FusedAct::Relu(Relu {}), ..Default::default() }), &[x, w, b]).unwrap();
    let w1 = konst(&mut g, "se.w1", &[5, 20], 3, 0.3);
    let b1 = konst(&mut g, "se.b1", &[5], 4, 0.1);
    let w2 = konst(&mut g, "se.w2", &[20, 5], 5, 0.3);
    let b2 = konst(&mut g, "se.b2", &[20], 6, 0.1);
    let se_op = SqueezeExcite { act: FusedAct::Relu(Relu {}), gate: FusedAct::HardSigmoid(HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 }), ..Default::default() };
    let se = g.add("se", Op::SqueezeExcite(se_op), &[c, w1, b1, w2, b2]).unwrap();
    let r = g.add("res", Op::AddAct(AddAct { act: FusedAct::relu6() }), &[se, c]).unwrap();
    let bn: Vec<Outlet> = (0..4).map(|i| konst(&mut g, &format!("bn{i}"), &[20], 10 + i, 0.5)).collect();
    let var = g.add_const("bn.var", Tensor::from_f32(vec![20], &vals(20, 20, 0.5).iter().map(|v| v.abs() + 0.5).collect::<Vec<_>>()));
    let n = g.add("bn", Op::BatchNorm(BatchNorm::default()), &[r, bn[0], bn[1], bn[2], var]).unwrap();
    let dw = konst(&mut g, "dw", &[20, 1, 3, 3], 7, 0.3);
    let leaky = FusedAct::LeakyRelu(LeakyRelu { alpha: 0.2 });
    let d = g.add("dw", Op::Conv(Conv { pads: vec![1, 1, 1, 1], group: 20, act: leaky, ..Default::default() }), &[n, dw]).unwrap();
    let cl = g.add("clip", Op::Clip(Clip { min: -0.5, max: 0.75 }), &[d]).unwrap();
    let lk = g.add("leaky", Op::LeakyRelu(LeakyRelu { alpha: 0.1 }), &[cl]).unwrap();
    let mp = g.add("mp", Op::MaxPool(MaxPool { kernel: vec![2, 2], strides: vec![2, 2], ..Default::default() }), &[lk]).unwrap();
    let ap = g.add("ap", Op::AveragePool(AveragePool { kernel: vec![3, 3], pads: vec![1, 1, 1, 1], ..Default::default() }), &[mp]).unwrap();
    let si = g.add("silu", Op::Silu(Silu {}), &[ap]).unwrap();
    let gp = g.add("gap", Op::GlobalAveragePool(GlobalAveragePool::default()), &[si]).unwrap();
    let f = g.add("flat", Op::Flatten(Flatten { axis: 1 }), &[gp]).unwrap();
    let fw = konst(&mut g, "fc.w", &[10, 20], 8, 0.5);
    let fb = konst(&mut g, "fc.b", &[10], 9, 0.1);
    let fc = g.add("fc", Op::Gemm(Gemm { trans_b: true, ..Default::default() }), &[f, fw, fb]).unwrap();
    let sm = g.add("softmax", Op::Softmax(Softmax { axis: -1 }), &[fc]).unwrap();
    g.add_output("y", sm);
    g
}

fn input(batch: usize) -> Tensor {
    Tensor::from_f32(vec![batch, 4, 8, 8], &vals(batch * 256, 99, 1.0))
}

fn run(g: &Graph, x: &Tensor) -> Vec<f32> {
    let mut plan = CpuPlan::new(g, &[x.shape().to_vec()], 1).unwrap();
    plan.run(std::slice::from_ref(x)).unwrap()[0].1.to_f32().into_owned()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn ops_of(om: &[u8]) -> Vec<proto::OpDef> {
    senetc_om::read_om(om).unwrap().model.graph[0].op.clone()
}

#[test]
fn every_lowering_path_round_trips() {
    let g = small_graph();
    let x = input(1);
    let want = run(&g, &x);
    for (mode, tol) in [(PrecisionMode::ForceFp32, 1e-5), (PrecisionMode::MustKeepOriginDtype, 1e-5), (PrecisionMode::ForceFp16, 1e-2), (PrecisionMode::AllowMixPrecision, 1e-2)] {
        let g = common::with_precision(&g, mode);
        for runtime_formats in [true, false] {
            let opts = AscendOptions { precision_mode: mode, runtime_formats, ..Default::default() };
            let om = common::emit_om(&g, &opts).unwrap();
            let back = senetc_om::read_om(&om).unwrap().to_graph().unwrap();
            let d = max_diff(&run(&back, &x), &want);
            eprintln!("{} formats={runtime_formats}: max|diff| {d:.2e}", mode.name());
            assert!(d <= tol, "{} formats={runtime_formats}: {d}", mode.name());
        }
    }
}

#[test]
fn fused_ops_share_a_fusion_group() {
    let g = common::with_precision(&small_graph(), PrecisionMode::ForceFp16);
    let om = common::emit_om(&g, &AscendOptions::default()).unwrap();
    let ops = ops_of(&om);
    let group_of = |name: &str| {
        let op = ops.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("no op {name}"));
        attr::get_int(&op.attr, "_fusion_group")
    };
    // conv + relu: one group; squeeze-excite: one group of 7 ops; add_act: another.
    assert!(group_of("conv").is_some());
    assert_eq!(group_of("conv"), group_of("conv/Relu"));
    let se: Vec<&proto::OpDef> = ops.iter().filter(|o| o.name.starts_with("se/")).collect();
    let types: Vec<&str> = se.iter().map(|o| o.r#type.as_str()).collect();
    assert_eq!(types, ["ReduceMeanD", "Conv2D", "Relu", "Conv2D", "HardSigmoid", "Mul"]);
    let g0 = group_of("se/squeeze");
    assert!(g0.is_some() && se.iter().all(|o| attr::get_int(&o.attr, "_fusion_group") == g0));
    assert_ne!(g0, group_of("conv"));
    assert_eq!(group_of("res"), group_of("res/Relu6"));
    // Unfused ops carry no group; every op names its source node.
    assert_eq!(group_of("bn"), None);
    let names = |n: &str| attr::get_strings(&ops.iter().find(|o| o.name == n).unwrap().attr, "original_op_names").unwrap();
    assert_eq!(names("se/expand"), ["se"]);
    assert_eq!(names("dw"), ["dw"]);
}

#[test]
fn runtime_formats_and_fp16_descs() {
    // The fp16 pass decides the types (force_fp16, ATC's default); the backend carries them.
    let g = common::with_precision(&small_graph(), PrecisionMode::ForceFp16);
    let om = common::emit_om(&g, &AscendOptions::default()).unwrap();
    let ops = ops_of(&om);
    let find = |n: &str| ops.iter().find(|o| o.name == n).unwrap();
    // Depthwise conv with group == channels.
    assert_eq!(find("dw").r#type, "DepthwiseConv2D");
    let conv = find("conv");
    assert_eq!(conv.r#type, "Conv2D");
    assert_eq!(conv.input_desc[0].layout, "NC1HWC0");
    assert_eq!(conv.input_desc[0].shape.as_ref().unwrap().dim, [1, 1, 8, 8, 16]);
    assert_eq!(attr::get_ints(&conv.input_desc[0].attr, "origin_shape").unwrap(), [1, 4, 8, 8]);
    assert_eq!(attr::get_str(&conv.input_desc[0].attr, "origin_format").unwrap(), "NCHW");
    assert_eq!(conv.input_desc[1].layout, "FRACTAL_Z");
    assert_eq!(conv.input_desc[1].shape.as_ref().unwrap().dim, [9, 2, 16, 16]);
    assert_eq!(conv.input_desc[1].dtype, proto::DataType::DtFloat16 as i32);
    assert_eq!(conv.output_desc[0].shape.as_ref().unwrap().dim, [1, 2, 8, 8, 16]);
    assert_eq!(attr::get_ints(&conv.attr, "strides").unwrap(), [1, 1, 1, 1]);
    assert_eq!(attr::get_ints(&conv.attr, "pads").unwrap(), [1, 1, 1, 1]);
    assert_eq!(attr::get_str(&conv.attr, "data_format").unwrap(), "NCHW");
    // BNInferenceD statistics stay fp32 ND.
    let bn = find("bn");
    assert!(bn.input_desc[1..].iter().all(|d| d.dtype == proto::DataType::DtFloat as i32 && d.layout == "ND"));
    // The boundary: Data fp32 NCHW → Cast → TransData; ... → TransData → Cast → NetOutput fp32.
    let types: Vec<&str> = ops.iter().filter(|o| o.r#type != "Const").map(|o| o.r#type.as_str()).collect();
    assert_eq!(&types[..4], ["Data", "Cast", "TransData", "Conv2D"]);
    assert_eq!(types.last(), Some(&"NetOutput"));
    let out = ops.last().unwrap();
    assert_eq!(out.input_desc[0].dtype, proto::DataType::DtFloat as i32);
    assert_eq!(out.input_desc[0].name, "y");
    // The gemm runs ND after a TransData back from NC1HWC0; it is a MatMulV2 with bias.
    let fc = find("fc");
    assert_eq!(fc.r#type, "MatMulV2");
    assert_eq!(fc.input.len(), 3);
    assert!(fc.input_desc.iter().all(|d| d.layout == "ND"));
    assert_eq!(attr::get_bool(&fc.attr, "transpose_x2"), Some(true));
    // Each Cast's dst_type is a ge::DataType number (fp16 = 1, fp32 = 0): into fp16 at the
    // input, back to fp32 around the global pool and the softmax, which the fp16 policy keeps fp32.
    let casts: Vec<i64> = ops.iter().filter(|o| o.r#type == "Cast").map(|o| attr::get_int(&o.attr, "dst_type").unwrap()).collect();
    assert_eq!(casts, [1, 0, 1, 0]);
    // TransData appears only where formats change: never between two NC1HWC0 ops.
    for op in ops.iter().filter(|o| o.r#type == "TransData") {
        assert_ne!(op.input_desc[0].layout, op.output_desc[0].layout);
    }
}

#[test]
fn om_container_is_well_formed() {
    let om = common::emit_om(&small_graph(), &AscendOptions::default()).unwrap();
    assert_eq!(&om[0..4], b"IMOD");
    assert_eq!(u32::from_le_bytes(om[76..80].try_into().unwrap()) as usize, om.len() - 256);
    let m = senetc_om::read_om(&om).unwrap();
    let h = m.header.as_ref().unwrap();
    assert_eq!((h.version, h.om_ir_version, h.model_num, h.name.as_str()), (0x2000_0000, 2, 1, "small"));
    let kinds: Vec<u32> = m.partitions.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [0, 1, 2]);
    assert_eq!(m.partitions[2].size, 0, "TASK_INFO is empty: kernels come from CANN");
    // Every weight at a 512-aligned offset (first at 512), bytes cleared from the Const.
    let mut offsets = Vec::new();
    for op in m.model.graph[0].op.iter().filter(|o| o.r#type == "Const") {
        let t = attr::get_tensor(&op.attr, "value").unwrap();
        assert!(t.data.is_empty());
        let d = t.desc.as_ref().unwrap();
        assert_eq!(d.data_offset % 512, 0);
        assert!(d.data_offset >= 512);
        assert_eq!(d.weight_size, d.size);
        offsets.push(d.data_offset);
    }
    offsets.sort();
    offsets.dedup();
    assert_eq!(offsets[0], 512);
    // Consumers mark const inputs and carry the offset.
    let conv = m.model.graph[0].op.iter().find(|o| o.name == "conv").unwrap();
    assert_eq!(conv.is_input_const, [false, true, true]);
    assert!(conv.input_desc[1].data_offset >= 512);
    assert_eq!(attr::get_int(&m.model.attr, "weight_size").unwrap() as usize, m.weights.len());
    // describe() lists every op.
    let text = m.describe();
    assert!(text.contains("DepthwiseConv2D") && text.contains("NC1HWC0") && text.contains("WEIGHTS_DATA"), "{text}");
}

#[test]
fn options_bind_batch_nhwc_and_out_nodes() {
    let g = small_graph();
    // Batch 3 through input_shapes.
    let opts = AscendOptions { input_shapes: [("x".to_string(), vec![3, 4, 8, 8])].into(), precision_mode: PrecisionMode::ForceFp32, ..Default::default() };
    let back = senetc_om::read_om(&common::emit_om(&g, &opts).unwrap()).unwrap().to_graph().unwrap();
    let x3 = input(3);
    assert!(max_diff(&run(&back, &x3), &run(&g, &x3)) <= 1e-5);
    // A wrong shape is refused.
    let bad = AscendOptions { input_shapes: [("x".to_string(), vec![3, 5, 8, 8])].into(), ..Default::default() };
    assert!(matches!(common::emit_om(&g, &bad), Err(CodegenError::Input(_))));
    // NHWC input: Data is NHWC, a TransposeD follows, results equal on transposed input.
    let opts = AscendOptions { input_format: InputFormat::Nhwc, precision_mode: PrecisionMode::ForceFp32, ..Default::default() };
    let m = senetc_om::read_om(&common::emit_om(&g, &opts).unwrap()).unwrap();
    let data = &m.model.graph[0].op.iter().find(|o| o.r#type == "Data").unwrap().output_desc[0];
    assert_eq!((data.layout.as_str(), data.shape.as_ref().unwrap().dim.as_slice()), ("NHWC", &[1i64, 8, 8, 4][..]));
    let back = m.to_graph().unwrap();
    let x = input(1);
    let xv = x.to_f32();
    let mut nhwc = vec![0f32; 256];
    for c in 0..4 {
        for hw in 0..64 {
            nhwc[hw * 4 + c] = xv[c * 64 + hw];
        }
    }
    let got = run(&back, &Tensor::from_f32(vec![1, 8, 8, 4], &nhwc));
    assert!(max_diff(&got, &run(&g, &x)) <= 1e-5);
    // out_nodes: the model ends at the squeeze-excite block.
    let opts = AscendOptions { out_nodes: vec![("se".into(), 0)], ..Default::default() };
    let m = senetc_om::read_om(&common::emit_om(&g, &opts).unwrap()).unwrap();
    assert!(m.node_types().iter().all(|t| t != "MatMulV2" && t != "SoftmaxV2"));
    assert_eq!(m.model.graph[0].output.len(), 1);
    assert!(matches!(common::emit_om(&g, &AscendOptions { out_nodes: vec![("nope".into(), 0)], ..Default::default() }), Err(CodegenError::Input(_))));
}

#[test]
fn ascend310_refuses_fp32_cube_ops() {
    let opts = AscendOptions { soc_version: SocVersion::Ascend310, precision_mode: PrecisionMode::ForceFp32, ..Default::default() };
    let e = common::emit_om(&small_graph(), &opts).unwrap_err();
    assert!(matches!(e, CodegenError::Unsupported { target: "ascend910", .. }), "{e}");
    let opts = AscendOptions { soc_version: SocVersion::Ascend310, ..Default::default() };
    assert!(common::emit_om(&common::with_precision(&small_graph(), PrecisionMode::ForceFp16), &opts).is_ok());
}

#[test]
fn unsupported_ops_name_their_node() {
    let mut g = Graph::new("bad");
    let x = g.add_input("x", TensorType::new(DType::F32, Shape::known(&[1, 8, 8, 4])));
    let w = konst(&mut g, "w", &[4, 4, 1, 1], 1, 1.0);
    let c = g.add("nhwc_conv", Op::Conv(Conv { format: DataFormat::Nhwc, ..Default::default() }), &[x, w]).unwrap();
    g.add_output("y", c);
    match common::emit_om(&g, &AscendOptions::default()) {
        Err(CodegenError::Unsupported { node, op, target, why }) => {
            assert_eq!((node.as_str(), op, target), ("nhwc_conv", "conv", "ascend910"));
            assert!(why.contains("NHWC"), "{why}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let mut g = Graph::new("bad2");
    let a = g.add_input("a", TensorType::new(DType::F32, Shape::known(&[2, 3, 4])));
    let b = g.add_input("b", TensorType::new(DType::F32, Shape::known(&[2, 4, 5])));
    let m = g.add("bmm", Op::MatMul(MatMul {}), &[a, b]).unwrap();
    g.add_output("y", m);
    assert!(matches!(common::emit_om(&g, &AscendOptions::default()), Err(CodegenError::Unsupported { .. })));
}

/// Pooling other than 2-D (and dilated average pooling) runs on the CPU reference; the
/// Ascend lowering refuses it with an error naming the node.
#[test]
fn non_2d_pooling_is_refused_by_node() {
    let one = |shape: &[usize], op: Op, want: &str| {
        let mut g = Graph::new("pool");
        let x = g.add_input("x", TensorType::new(DType::F32, Shape::known(shape)));
        let y = g.add("the_pool", op, &[x]).unwrap();
        g.add_output("y", y);
        match common::emit_om(&g, &AscendOptions::default()) {
            Err(CodegenError::Unsupported { node, why, .. }) => {
                assert_eq!(node, "the_pool");
                assert!(why.contains(want), "{why}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    };
    one(&[1, 2, 9], Op::MaxPool(MaxPool { kernel: vec![3], strides: vec![1], dilations: vec![1], pads: vec![0, 0], ..Default::default() }), "1-D");
    let avg3 = AveragePool { kernel: vec![2, 2, 2], strides: vec![1; 3], dilations: vec![1; 3], pads: vec![0; 6], ..Default::default() };
    one(&[1, 2, 4, 4, 4], Op::AveragePool(avg3), "3-D");
    one(&[1, 2, 7, 7], Op::AveragePool(AveragePool { kernel: vec![2, 2], dilations: vec![2, 2], ..Default::default() }), "dilated");
    one(&[1, 2, 4, 4, 4], Op::GlobalAveragePool(GlobalAveragePool::default()), "5-D");
}

#[test]
fn json_looks_like_atc_mode_1() {
    let g = common::with_precision(&small_graph(), PrecisionMode::ForceFp16);
    let j = String::from_utf8(common::emit_json(&g, &AscendOptions::default()).unwrap()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["name"], "small");
    assert_eq!(v["version"], 2);
    let ops = v["graph"][0]["op"].as_array().unwrap();
    let conv = ops.iter().find(|o| o["name"] == "conv").unwrap();
    assert_eq!(conv["type"], "Conv2D");
    let attrs = conv["attr"].as_array().unwrap();
    let names = attrs.iter().find(|a| a["key"] == "original_op_names").unwrap();
    assert_eq!(names["value"]["list"]["s"][0], "conv");
    assert_eq!(names["value"]["list"]["val_type"], "VT_LIST_STRING");
    assert_eq!(conv["input_desc"][0]["dtype"], "DT_FLOAT16");
    assert_eq!(conv["input_desc"][0]["layout"], "NC1HWC0");
    // Fields GE's dumper drops are absent.
    for dropped in ["\"data_offset\": ", "\"weight_size\": ", "\"size\": ", "\"data\": ", "\"output\": "] {
        assert!(!j.contains(dropped), "{dropped} present");
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(senetc_om::read_om(b"").is_err());
    assert!(senetc_om::read_om(&[0u8; 300]).is_err());
    assert!(senetc_om::read_air(b"\xff\xff\xff\xff").is_err());
    let om = common::emit_om(&small_graph(), &AscendOptions::default()).unwrap();
    // Truncation, a wrong length, a corrupted table, flipped bytes anywhere: Err or a model, never a panic.
    assert!(senetc_om::read_om(&om[..om.len() - 1]).is_err());
    let mut bad = om.clone();
    bad[256] = 200;
    assert!(senetc_om::read_om(&bad).is_err());
    let mut s = 12345u32;
    for _ in 0..300 {
        let mut b = om.clone();
        for _ in 0..4 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let i = 256 + (s as usize) % (b.len() - 256).min(4096);
            b[i] ^= (s >> 8) as u8 | 1;
        }
        if let Ok(m) = senetc_om::read_om(&b) {
            let _ = m.describe();
            let _ = m.to_graph();
        }
    }
}

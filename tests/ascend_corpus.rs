//! The Ascend backend on every ONNX model of the corpus (and the one the repo ships): OM,
//! AIR and JSON emit deterministically; the OM read back and run by the CPU reference
//! reproduces the framework's stored output — fp32 (force_fp32) to 1e-4 of the output's
//! scale, fp16 (force_fp16, the default) to 1e-2 relative with the same argmax.
//!
//! With `SENETC_OM_DIR` set, every OM is also written there with its `atc --mode=1` JSON
//! beside it (`<model>.<precision>.om` / `.json`; optimized graphs as
//! `<dir>__optimized.<model>.<precision>.om`) for `tests/python/om_validate.sh`.

mod common;

use senetc_codegen::ascend::{AscendOptions, PrecisionMode};
use senetc_codegen::cpu::CpuPlan;
use senetc_ir::{stats, Graph, Tensor};
use senetc_passes::{PassManager, PassOptions};
use std::path::{Path, PathBuf};

struct Case {
    label: String,
    model: PathBuf,
    input: PathBuf,
    expected: PathBuf,
}

fn cases() -> Vec<Case> {
    let mut v = vec![Case {
        label: "repo/tiny_se_resnet.onnx".into(),
        model: common::repo("models/tiny_se_resnet.onnx"),
        input: common::repo("models/tiny_se_resnet.input.npy"),
        expected: common::repo("models/tiny_se_resnet.expected.npy"),
    }];
    if let Some(root) = common::corpus() {
        for (label, model) in common::corpus_onnx_models(&root) {
            let dir = model.parent().unwrap().to_path_buf();
            let (input, expected) = if dir.join("meta.json").exists() {
                (dir.join("input.npy"), dir.join("expected.npy"))
            } else {
                (dir.join("input_nchw.npy"), dir.join("expected_logits.npy"))
            };
            v.push(Case { label, model, input, expected });
        }
    }
    v
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// Read `om` back, run it on `x`; (max |diff|, max |expected|, argmax equal).
fn run_om(label: &str, om: &[u8], x: &Tensor, want: &Tensor) -> (f32, f32, bool) {
    let m = senetc_om::read_om(om).unwrap_or_else(|e| panic!("{label}: read_om: {e}"));
    let g = m.to_graph().unwrap_or_else(|e| panic!("{label}: to_graph: {e}"));
    let mut plan = CpuPlan::new(&g, &[x.shape().to_vec()], 2).unwrap_or_else(|e| panic!("{label}: plan: {e}"));
    let outs = plan.run(std::slice::from_ref(x)).unwrap_or_else(|e| panic!("{label}: run: {e}"));
    let got = &outs[0].1;
    assert_eq!(got.shape(), want.shape(), "{label}: output shape");
    let (g, w) = (got.to_f32(), want.to_f32());
    let max_abs = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = g.iter().zip(w.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    (diff, max_abs, argmax(&g) == argmax(&w))
}

fn dump(dir: &Path, label: &str, tag: &str, om: &[u8], json: &[u8]) {
    let stem = label.replace('/', "__").trim_end_matches(".onnx").to_string();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{stem}.{tag}.om")), om).unwrap();
    std::fs::write(dir.join(format!("{stem}.{tag}.json")), json).unwrap();
}

#[test]
fn every_model_round_trips_through_om() {
    let dump_dir = std::env::var_os("SENETC_OM_DIR").map(PathBuf::from);
    let mut report = Vec::new();
    for c in cases() {
        let g = senetc_frontends::import_graph(&c.model).unwrap_or_else(|e| panic!("{}: {e}", c.label));
        let x = senetc::npy::read_npy(&c.input).unwrap();
        let want = senetc::npy::read_npy(&c.expected).unwrap();
        for mode in [PrecisionMode::ForceFp32, PrecisionMode::ForceFp16] {
            let label = format!("{} [{}]", c.label, mode.name());
            let opts = AscendOptions { precision_mode: mode, ..Default::default() };
            let g = common::with_precision(&g, mode);
            let om = common::emit_om(&g, &opts).unwrap_or_else(|e| panic!("{label}: emit_om: {e}"));
            let om2 = common::emit_om(&g, &opts).unwrap();
            assert!(om == om2, "{label}: two OM emits differ");
            let json = common::emit_json(&g, &opts).unwrap();
            assert!(json == common::emit_json(&g, &opts).unwrap(), "{label}: two JSON emits differ");
            if let Some(d) = &dump_dir {
                dump(d, &c.label, mode.name(), &om, &json);
            }
            let (diff, max_abs, same_argmax) = run_om(&label, &om, &x, &want);
            let line = format!("{label}: OM {} bytes, max|diff| {diff:.3e}, rel {:.3e}, argmax same: {same_argmax}", om.len(), diff / max_abs.max(1e-12));
            eprintln!("{line}");
            report.push(line);
            match mode {
                PrecisionMode::ForceFp32 => assert!(diff <= 1e-4 * max_abs.max(1.0), "{label}: max|diff| {diff} > {}", 1e-4 * max_abs.max(1.0)),
                _ => {
                    assert!(diff <= 1e-2 * max_abs.max(1e-6), "{label}: relative error {} > 1e-2", diff / max_abs);
                    assert!(same_argmax, "{label}: argmax differs");
                }
            }
        }
        // AIR: framework-level graph, weights inline; it reads back and runs in fp32.
        let opts = AscendOptions::default();
        let air = common::emit_air(&g, &opts).unwrap_or_else(|e| panic!("{}: emit_air: {e}", c.label));
        assert!(air == common::emit_air(&g, &opts).unwrap(), "{}: two AIR emits differ", c.label);
        let m = senetc_om::read_air(&air).unwrap();
        assert!(m.node_types().iter().all(|t| t != "TransData" && t != "Cast"), "{}: AIR has layout/precision ops", c.label);
        let ag = m.to_graph().unwrap();
        let mut plan = CpuPlan::new(&ag, &[x.shape().to_vec()], 2).unwrap();
        let got = plan.run(std::slice::from_ref(&x)).unwrap();
        let (gv, wv) = (got[0].1.to_f32(), want.to_f32());
        let max_abs = wv.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = gv.iter().zip(wv.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{} [air]: {} bytes, max|diff| {diff:.3e}", c.label, air.len());
        assert!(diff <= 1e-4 * max_abs.max(1.0), "{} [air]: max|diff| {diff}", c.label);
    }
    eprintln!("\n{}", report.join("\n"));
}

/// After senetc's optimizer (SE blocks, conv+activation and add+activation fused), every
/// fused op lowers to its CANN chain marked with one `_fusion_group`, and the OM still runs
/// within tolerance (fp32 and fp16).
#[test]
fn optimized_models_lower_fused_ops_to_fusion_groups() {
    let Some(root) = common::corpus() else { return };
    for (label, model) in common::corpus_onnx_models(&root) {
        let dir = model.parent().unwrap();
        if !dir.join("meta.json").exists() {
            continue;
        }
        let mut g: Graph = senetc_frontends::import_graph(&model).unwrap();
        PassManager::new(PassOptions::default()).unwrap().run(&mut g, None).unwrap_or_else(|e| panic!("{label}: optimize: {e}"));
        let fused = stats::op_histogram(&g).get("squeeze_excite").copied().unwrap_or(0);
        let x = senetc::npy::read_npy(&dir.join("input.npy")).unwrap();
        let want = senetc::npy::read_npy(&dir.join("expected.npy")).unwrap();
        for mode in [PrecisionMode::ForceFp32, PrecisionMode::ForceFp16] {
            let label = format!("{label} optimized [{}]", mode.name());
            let opts = AscendOptions { precision_mode: mode, ..Default::default() };
            let g = common::with_precision(&g, mode);
            let om = common::emit_om(&g, &opts).unwrap_or_else(|e| panic!("{label}: {e}"));
            if let Some(d) = std::env::var_os("SENETC_OM_DIR") {
                dump(Path::new(&d), &format!("{}/optimized", model.parent().unwrap().file_name().unwrap().to_string_lossy()) , &format!("{}.{}", model.file_stem().unwrap().to_string_lossy(), mode.name()), &om, &common::emit_json(&g, &opts).unwrap());
            }
            let m = senetc_om::read_om(&om).unwrap();
            // One group per fused IR node; every SE block becomes ReduceMeanD ... Mul in one group.
            let mut groups = std::collections::BTreeMap::<i64, Vec<String>>::new();
            for op in &m.model.graph[0].op {
                if let Some(f) = senetc_ge::attr::get_int(&op.attr, "_fusion_group") {
                    groups.entry(f).or_default().push(op.r#type.clone());
                }
            }
            let se_groups = groups.values().filter(|t| t.first().map(String::as_str) == Some("ReduceMeanD") && t.last().map(String::as_str) == Some("Mul")).count();
            assert_eq!(se_groups, fused, "{label}: SE fusion groups");
            let (diff, max_abs, same_argmax) = run_om(&label, &om, &x, &want);
            eprintln!("{label}: {} fusion groups ({se_groups} SE), max|diff| {diff:.3e}, rel {:.3e}", groups.len(), diff / max_abs);
            match mode {
                PrecisionMode::ForceFp32 => assert!(diff <= 1e-4 * max_abs.max(1.0), "{label}: max|diff| {diff}"),
                _ => assert!(diff <= 1e-2 * max_abs && same_argmax, "{label}: rel {} argmax {same_argmax}", diff / max_abs),
            }
        }
    }
}

/// OMs from TensorFlow checkpoints: the recipes' training checkpoints (SE-ResNet with its
/// pre-activation scale-shifts, MobileNetV1 through tf.cond and an iterator input) and
/// EfficientNet's eval checkpoint, optimized, lowered in fp32 and fp16, read back and run.
/// With `SENETC_OM_DIR` they are written there too, so `tests/python/om_validate.sh` checks
/// them with netron's OM reader.
#[test]
fn tf_checkpoints_lower_to_om() {
    let tf = |rel: &str| common::repo("tests/fixtures/tf").join(rel);
    let cases = [
        ("tf__seresnet_cifar_d29_narrow__train_ckpt", tf("seresnet_cifar_d29_narrow/train_ckpt"), tf("seresnet_cifar_d29_narrow")),
        ("tf__mobilenet_v1_slim_0125__train_ckpt", tf("mobilenet_v1_slim_0125/train_ckpt"), tf("mobilenet_v1_slim_0125")),
        ("tf__efficientnet_b0_narrow__eval_ckpt", tf("efficientnet_b0_narrow/eval_ckpt"), tf("efficientnet_b0_narrow")),
    ];
    let dump_dir = std::env::var_os("SENETC_OM_DIR").map(PathBuf::from);
    for (label, model, dir) in cases {
        // Logits; batch 1 as a deployed OM has it.
        let output = if label.contains("mobilenet") { vec!["MobilenetV1/Logits/SpatialSqueeze".to_string()] } else { vec![] };
        let o = senetc_frontends::ImportOptions { output_names: output, ..Default::default() };
        let mut g = senetc_frontends::import(&model, &o).unwrap_or_else(|e| panic!("{label}: {e}")).graph;
        PassManager::new(PassOptions::default()).unwrap().run(&mut g, None).unwrap_or_else(|e| panic!("{label}: optimize: {e}"));
        let x = senetc::npy::read_npy(&dir.join("input.npy")).unwrap();
        let want = senetc::npy::read_npy(&dir.join("expected.npy")).unwrap();
        for mode in [PrecisionMode::ForceFp32, PrecisionMode::ForceFp16] {
            let l = format!("{label} [{}]", mode.name());
            let opts = AscendOptions { precision_mode: mode, ..Default::default() };
            let gp = common::with_precision(&g, mode);
            let om = common::emit_om(&gp, &opts).unwrap_or_else(|e| panic!("{l}: emit_om: {e}"));
            assert!(om == common::emit_om(&gp, &opts).unwrap(), "{l}: two OM emits differ");
            if let Some(d) = &dump_dir {
                dump(d, label, mode.name(), &om, &common::emit_json(&gp, &opts).unwrap());
            }
            let (diff, max_abs, same_argmax) = run_om(&l, &om, &x, &want);
            eprintln!("{l}: OM {} bytes, max|diff| {diff:.3e}", om.len());
            match mode {
                PrecisionMode::ForceFp32 => assert!(diff <= 1e-4 * max_abs.max(1.0), "{l}: max|diff| {diff}"),
                _ => assert!(diff <= 1e-2 * max_abs.max(1e-6) && same_argmax, "{l}: rel {} argmax {same_argmax}", diff / max_abs),
            }
        }
    }
}

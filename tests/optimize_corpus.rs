//! The optimizer on every shared model: every SE block fused (as many as meta.json counts),
//! no batch norm left, fewer nodes than onnxruntime's and onnxsim's optimized graphs, the
//! CPU reference still within tolerance of the framework output; fp16 modes within 1e-2
//! relative error with the same argmax.

mod common;

use senetc_codegen::cpu::CpuPlan;
use senetc_ir::{stats, Graph, Tensor};
use senetc_passes::{PassManager, PassOptions, PrecisionMode, PrecisionOptions};
use std::path::Path;

/// Node counts of the peers' optimized graphs (../shared/models/README.md): onnxruntime
/// ORT_ENABLE_EXTENDED, ORT_ENABLE_ALL, onnxsim.
const PEERS: &[(&str, [usize; 3])] = &[
    ("seresnet110_cifar", [546, 710, 709]),
    ("seresnext50_32x4d", [153, 234, 218]),
    ("efficientnet_b0", [174, 236, 239]),
    ("mobilenetv1_100", [30, 31, 59]),
];

fn optimize(path: &Path, mode: PrecisionMode) -> Graph {
    let mut g = senetc_frontends::import_graph(path).unwrap();
    let options = PassOptions { verify_each: true, precision: PrecisionOptions { mode, ..Default::default() }, ..Default::default() };
    PassManager::new(options).unwrap().run(&mut g, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    g
}

fn run(g: &Graph, x: &Tensor) -> Vec<f32> {
    let mut plan = CpuPlan::new(g, &[x.shape().to_vec()], 2).unwrap();
    plan.run(std::slice::from_ref(x)).unwrap()[0].1.to_f32().into_owned()
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

fn models(root: &Path) -> Vec<(String, std::path::PathBuf, serde_json::Value)> {
    let mut v = Vec::new();
    for (name, _) in PEERS {
        let dir = root.join("models").join(name);
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        for file in ["model.onnx", "model.folded.onnx"] {
            if dir.join(file).exists() {
                v.push((format!("{name}/{file}"), dir.join(file), meta.clone()));
            }
        }
    }
    v
}

#[test]
fn o2_fuses_every_se_block_folds_every_bn_and_stays_exact() {
    let Some(root) = common::corpus() else { return };
    for (label, path, meta) in models(&root) {
        let g = optimize(&path, PrecisionMode::MustKeepOriginDtype);
        let h = stats::op_histogram(&g);
        assert_eq!(h.get("squeeze_excite").copied().unwrap_or(0) as u64, meta["se_blocks"].as_u64().unwrap(), "{label}: {h:?}");
        assert!(!h.contains_key("batch_norm"), "{label}: batch norm left: {h:?}");
        let name = meta["name"].as_str().unwrap();
        let peers = PEERS.iter().find(|(n, _)| *n == name).unwrap().1;
        let nodes = stats::compute_nodes(&g);
        assert!(peers.iter().all(|&p| nodes < p), "{label}: {nodes} nodes, peers {peers:?}");
        let dir = path.parent().unwrap();
        let x = senetc::npy::read_npy(&dir.join("input.npy")).unwrap();
        let want = senetc::npy::read_npy(&dir.join("expected.npy")).unwrap().to_f32().into_owned();
        let got = run(&g, &x);
        let tol = 1e-4 * want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{label}: {nodes} nodes (peers {peers:?}), max|diff| {diff:.2e}");
        assert!(diff <= tol, "{label}: max|diff| {diff} > {tol}");
        assert_eq!(argmax(&got), argmax(&want), "{label}");
    }
}

#[test]
fn fp16_modes_stay_within_one_percent() {
    let Some(root) = common::corpus() else { return };
    for (label, path, _) in models(&root).into_iter().filter(|(l, ..)| l.ends_with("/model.onnx")) {
        let dir = path.parent().unwrap();
        let x = senetc::npy::read_npy(&dir.join("input.npy")).unwrap();
        let want = senetc::npy::read_npy(&dir.join("expected.npy")).unwrap().to_f32().into_owned();
        for mode in [PrecisionMode::ForceFp16, PrecisionMode::AllowMixPrecision] {
            let g = optimize(&path, mode);
            let f16_ops = g.node_ids().filter(|&id| g.node(id).outputs[0].dtype == senetc_ir::DType::F16).count();
            assert!(f16_ops > 0, "{label} {mode:?}: nothing runs in fp16");
            let got = run(&g, &x);
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let rel = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
            eprintln!("{label} {mode:?}: relative error {rel:.2e}, {f16_ops} fp16 nodes");
            assert!(rel <= 1e-2, "{label} {mode:?}: relative error {rel}");
            assert_eq!(argmax(&got), argmax(&want), "{label} {mode:?}");
        }
    }
}

#[test]
fn numeric_check_names_the_first_diverging_node() {
    let g = senetc_frontends::import_graph(&common::repo("models/tiny_se_resnet.onnx")).unwrap();
    assert!(senetc::numeric::check(&g, &g).is_ok());
    // Corrupt one weight: the check must blame the conv that uses it.
    let mut bad = g.clone();
    let (wid, conv_name) = bad
        .node_ids()
        .find_map(|id| match &bad.node(id).op {
            senetc_ir::Op::Conv(_) => Some((bad.inputs_of(id)[1], bad.node(id).name.clone())),
            _ => None,
        })
        .unwrap();
    let senetc_ir::Op::Const(c) = &bad.node(wid.node).op else { panic!() };
    let scaled: Vec<f32> = c.tensor.to_f32().iter().map(|v| v * 1.5).collect();
    let t = Tensor::from_f32(c.tensor.shape().to_vec(), &scaled);
    let k = bad.add_const("corrupt", t);
    let conv = bad.node_ids().find(|&id| bad.node(id).name == conv_name).unwrap();
    bad.set_operand(conv, 1, k);
    let err = senetc::numeric::check(&g, &bad).unwrap_err();
    assert!(err.contains(&conv_name), "{err}");
}

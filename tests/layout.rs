//! The layout pass on graphs TensorFlow's converters write: tf2onnx files (NHWC, with
//! transposes around the convs) keep at most the one transpose at their input after -O2,
//! fuse every SE block, and the CPU reference still reproduces TensorFlow's output (which
//! onnxruntime reproduces too: see the fixtures' meta.json).

mod common;

use senetc_passes::{PassManager, PassOptions};

fn optimize(g: &mut senetc_ir::Graph) {
    PassManager::new(PassOptions::default()).unwrap().run(g, None).unwrap();
}

#[test]
fn tf2onnx_graphs_become_nchw_with_one_transpose() {
    let dir = common::repo("tests/fixtures/tf2onnx");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    cases.sort();
    assert!(cases.len() >= 2, "tf2onnx fixtures missing in {}", dir.display());
    for case in cases {
        let g0 = senetc_frontends::import_graph(&case.join("model.onnx")).unwrap();
        let transposes = |g: &senetc_ir::Graph| senetc_ir::stats::op_histogram(g).get("transpose").copied().unwrap_or(0);
        let mut g = g0.clone();
        optimize(&mut g);
        assert!(transposes(&g) <= 1, "{}: {} transposes left of {}", case.display(), transposes(&g), transposes(&g0));
        // Every SE block fused: no gate (sigmoid) is left outside a squeeze_excite (the
        // other sigmoids, of swish, become silu epilogues).
        let h = senetc_ir::stats::op_histogram(&g);
        assert!(!h.contains_key("sigmoid") && h.get("squeeze_excite").is_some_and(|&n| n > 0), "{}: {h:?}", case.display());
        for id in g.node_ids() {
            if let senetc_ir::Op::Conv(c) = &g.node(id).op {
                assert_eq!(c.format, senetc_ir::ops::DataFormat::Nchw);
            }
        }
        let x = senetc::npy::read_npy(&case.join("input.npy")).unwrap();
        let want = senetc::npy::read_npy(&case.join("expected.npy")).unwrap();
        let mut plan = senetc_codegen::cpu::CpuPlan::new(&g, &[x.shape().to_vec()], 1).unwrap();
        let got = plan.run(&[x]).unwrap().remove(0).1;
        let (got, want) = (got.to_f32(), want.to_f32());
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = got.iter().zip(want.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-4 * scale, "{}: max |diff| {diff}", case.display());
    }
}

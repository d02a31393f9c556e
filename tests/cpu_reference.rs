//! The CPU reference reproduces the framework's stored output for every ONNX model in the
//! corpus (and the one the repo ships): max |diff| <= 1e-4 * max(1, max |expected|), same
//! argmax. Expected outputs come from torch or onnxruntime, never from senetc.

mod common;

use senetc_codegen::cpu::CpuPlan;
use senetc_ir::Tensor;
use std::path::Path;

fn check(label: &str, model: &Path, input: &Path, expected: &Path, threads: usize) {
    let g = senetc_frontends::import_graph(model).unwrap_or_else(|e| panic!("{label}: {e}"));
    let x = senetc::npy::read_npy(input).unwrap();
    let want = senetc::npy::read_npy(expected).unwrap();
    let mut plan = CpuPlan::new(&g, &[x.shape().to_vec()], threads).unwrap_or_else(|e| panic!("{label}: {e}"));
    let outs = plan.run(&[x]).unwrap_or_else(|e| panic!("{label}: {e}"));
    let got: &Tensor = &outs[0].1;
    assert_eq!(got.shape(), want.shape(), "{label}: output shape");
    let (g, w) = (got.to_f32(), want.to_f32());
    let max_abs = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = g.iter().zip(w.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let tol = 1e-4 * max_abs.max(1.0);
    let argmax = |v: &[f32]| v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0;
    eprintln!("{label}: max|diff| = {diff:.3e} (tol {tol:.1e}), planned peak {} bytes", plan.peak_bytes());
    assert!(diff <= tol, "{label}: max|diff| {diff} > {tol}");
    assert_eq!(argmax(&g), argmax(&w), "{label}: argmax differs");
}

#[test]
fn shipped_model_matches_onnxruntime() {
    let m = common::repo("models/tiny_se_resnet.onnx");
    check("tiny_se_resnet", &m, &common::repo("models/tiny_se_resnet.input.npy"), &common::repo("models/tiny_se_resnet.expected.npy"), 2);
    // One thread gives the same answer.
    check("tiny_se_resnet/1 thread", &m, &common::repo("models/tiny_se_resnet.input.npy"), &common::repo("models/tiny_se_resnet.expected.npy"), 1);
}

#[test]
fn every_corpus_model_matches_its_framework() {
    let Some(root) = common::corpus() else { return };
    for (label, model) in common::corpus_onnx_models(&root) {
        let dir = model.parent().unwrap();
        let (input, expected) = if dir.join("meta.json").exists() {
            (dir.join("input.npy"), dir.join("expected.npy"))
        } else {
            (dir.join("input_nchw.npy"), dir.join("expected_logits.npy"))
        };
        check(&label, &model, &input, &expected, 2);
    }
}

#[test]
fn memory_plan_reuses_buffers() {
    let Some(root) = common::corpus() else { return };
    let g = senetc_frontends::import_graph(&root.join("models/seresnext50_32x4d/model.onnx")).unwrap();
    let plan = CpuPlan::new(&g, &[vec![1, 3, 224, 224]], 1).unwrap();
    // The largest live set of SE-ResNeXt50 at batch 1 is a few 256x56x56 maps (~3.2 MB each);
    // without reuse the intermediates add up to over 100 MB.
    assert!(plan.peak_bytes() * 5 < plan.unplanned_bytes(), "peak {} vs {}", plan.peak_bytes(), plan.unplanned_bytes());
    assert!(plan.peak_bytes() < 24 << 20, "peak {}", plan.peak_bytes());
}

#[test]
fn batch_is_bound_at_plan_time() {
    let Some(root) = common::corpus() else { return };
    let g = senetc_frontends::import_graph(&root.join("models/seresnet110_cifar/model.onnx")).unwrap();
    let x = senetc::npy::read_npy(&root.join("models/seresnet110_cifar/input.npy")).unwrap();
    let one = CpuPlan::new(&g, &[vec![1, 3, 32, 32]], 2).unwrap().run(std::slice::from_ref(&x)).unwrap();
    // The same image twice in a batch of 2 gives the batch-1 answer twice.
    let mut two_bytes = x.bytes().to_vec();
    two_bytes.extend_from_slice(x.bytes());
    let x2 = Tensor::from_bytes(senetc_ir::DType::F32, vec![2, 3, 32, 32], two_bytes).unwrap();
    let mut plan2 = CpuPlan::new(&g, &[vec![2, 3, 32, 32]], 2).unwrap();
    assert_eq!(plan2.bindings().get("batch"), Some(&2));
    let two = plan2.run(&[x2]).unwrap();
    let (a, b) = (one[0].1.to_f32(), two[0].1.to_f32());
    assert_eq!(b.len(), 2 * a.len());
    for (i, v) in b.iter().enumerate() {
        assert!((v - a[i % a.len()]).abs() <= 1e-5 * a[i % a.len()].abs().max(1.0), "batch element {i}");
    }
    // A wrong shape is refused with both signatures named.
    let err = CpuPlan::new(&g, &[vec![1, 3, 224, 224]], 1).err().unwrap().to_string();
    assert!(err.contains("[batch,3,32,32]") && err.contains("224"), "{err}");
}

/// 16-bit values are stored rounded to their type (round to nearest even) and computed in
/// fp32, as Ascend does; the expected values come from the `half` crate's conversions.
#[test]
fn sixteen_bit_storage_rounds_like_the_hardware() {
    for (dt, round) in [("f16", (|v: f32| half::f16::from_f32(v).to_f32()) as fn(f32) -> f32), ("bf16", |v: f32| half::bf16::from_f32(v).to_f32())] {
        let src = format!(
            "graph \"t\" {{\n  input %0 \"x\" : f32[2,3]\n  %1 = cast(%0) {{to={dt}}} : {dt}[2,3]\n  %2 = const : {dt}[3] = [0.1, -0.2, 0.3]\n  %3 = add(%1, %2) : {dt}[2,3]\n  %4 = relu(%3) : {dt}[2,3]\n  %5 = cast(%4) {{to=f32}} : f32[2,3]\n  output \"y\" = %5\n}}\n"
        );
        let g = senetc_ir::text::parse(&src, &Default::default()).unwrap();
        let x = [1.0 + 1.0 / 256.0, -2.0, std::f32::consts::PI, 1000.7, 0.1, 3e-5];
        let mut plan = CpuPlan::new(&g, &[vec![2, 3]], 1).unwrap();
        let y = plan.run(&[Tensor::from_f32(vec![2, 3], &x)]).unwrap()[0].1.to_f32().into_owned();
        let k = [0.1f32, -0.2, 0.3].map(round);
        for (i, &v) in x.iter().enumerate() {
            let want = round(round(round(v) + k[i % 3]).max(0.0));
            assert_eq!(y[i], want, "{dt} element {i}: {v}");
        }
    }
}

//! The native engine (LLVM) against the interpreter, the reference: on every shared model and
//! ONNX fixture at batch 1 and 8, max |diff| <= 1e-4 * max(1, max |expected|) and the same
//! argmax per image; at batch 1 also against the framework's stored output. And the
//! ahead-of-time library: `senetc compile --target x86_64` writes a .so (and a .o) with a C
//! entry point; a C driver built with `cc` reproduces the stored output.
#![cfg(feature = "llvm")]

mod common;

use senetc_codegen::cpu::CpuPlan;
use senetc_codegen::native::NativePlan;
use senetc_ir::Tensor;
use std::path::Path;

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

fn close(label: &str, got: &Tensor, want: &Tensor, batch: usize) {
    assert_eq!(got.shape(), want.shape(), "{label}: output shape");
    let (g, w) = (got.to_f32(), want.to_f32());
    let max_abs = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = g.iter().zip(w.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let tol = 1e-4 * max_abs.max(1.0);
    eprintln!("{label}: max|diff| = {diff:.3e} (tol {tol:.1e})");
    assert!(diff <= tol, "{label}: max|diff| {diff} > {tol}");
    let per = g.len() / batch;
    for i in 0..batch {
        assert_eq!(argmax(&g[i * per..(i + 1) * per]), argmax(&w[i * per..(i + 1) * per]), "{label}: argmax of image {i}");
    }
}

fn optimized(model: &Path) -> senetc_ir::Graph {
    let mut g = senetc_frontends::import_graph(model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    senetc_passes::PassManager::new(senetc_passes::PassOptions::default()).unwrap().run(&mut g, None).unwrap();
    g
}

fn stored_io(model: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = model.parent().unwrap();
    if dir.join("input.npy").exists() {
        (dir.join("input.npy"), dir.join("expected.npy"))
    } else {
        (dir.join("input_nchw.npy"), dir.join("expected_logits.npy"))
    }
}

#[test]
fn llvm_engine_agrees_with_the_interpreter_on_every_model() {
    let Some(root) = common::corpus() else { return };
    let mut models = common::corpus_onnx_models(&root);
    models.push(("tiny_se_resnet".into(), common::repo("models/tiny_se_resnet.onnx")));
    for (label, model) in models {
        let g = optimized(&model);
        let (input, expected) = if label == "tiny_se_resnet" {
            (common::repo("models/tiny_se_resnet.input.npy"), common::repo("models/tiny_se_resnet.expected.npy"))
        } else {
            stored_io(&model)
        };
        let x = senetc::npy::read_npy(&input).unwrap();
        let want = senetc::npy::read_npy(&expected).unwrap();
        let mut native = NativePlan::new(&g, &[x.shape().to_vec()], 2).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(native.reference_steps().is_empty(), "{label}: ops without a native kernel: {:?}", native.reference_steps());
        let got = native.run(std::slice::from_ref(&x)).unwrap();
        close(&format!("{label} llvm vs framework"), &got[0].1, &want, 1);
        for batch in [1, 8] {
            let inputs = senetc::numeric::seeded_inputs(&g, 0x5eed + batch as u64, batch).unwrap();
            let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
            let mut interp = CpuPlan::new(&g, &shapes, 2).unwrap();
            let want = interp.run(&inputs).unwrap();
            let mut native = NativePlan::new(&g, &shapes, 2).unwrap_or_else(|e| panic!("{label}: {e}"));
            let got = native.run(&inputs).unwrap();
            close(&format!("{label} batch {batch} llvm vs interp"), &got[0].1, &want[0].1, batch);
            // Runs are repeatable (buffers are reused between runs).
            let again = native.run(&inputs).unwrap();
            assert_eq!(again[0].1.to_f32(), got[0].1.to_f32(), "{label}: second run differs");
        }
    }
}

/// Ops the kernels do not cover (N-D pooling, a mean over three spatial axes, Gather) run their
/// reference evaluation between generated steps, and the result still matches the interpreter.
#[test]
fn ops_without_a_kernel_fall_back_to_their_reference() {
    let model = common::repo("tests/data/native_fallback.onnx");
    let g = optimized(&model);
    for batch in [1, 3] {
        let inputs = senetc::numeric::seeded_inputs(&g, 0xfa11 + batch as u64, batch).unwrap();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let want = CpuPlan::new(&g, &shapes, 2).unwrap().run(&inputs).unwrap();
        let mut native = NativePlan::new(&g, &shapes, 2).unwrap();
        assert_eq!(native.reference_steps(), ["max_pool", "global_average_pool", "gather"]);
        let got = native.run(&inputs).unwrap();
        close(&format!("native_fallback batch {batch} llvm vs interp"), &got[0].1, &want[0].1, batch);
    }
}

fn senetc() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_senetc"))
}

const DRIVER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    static float in[SENETC_MODEL_INPUT_SIZE], out[SENETC_MODEL_OUTPUT_SIZE];
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(in, sizeof(float), SENETC_MODEL_INPUT_SIZE, f) != SENETC_MODEL_INPUT_SIZE) return 3;
    fclose(f);
    int rc = senetc_model_init(argv[1]);
    if (rc != 0) { fprintf(stderr, "init: %d\n", rc); return 4; }
    if (senetc_model_run(in, out) != 0) return 5;
    /* Twice: the second run reuses the activations and must give the same answer. */
    if (senetc_model_run(in, out) != 0) return 5;
    senetc_model_free();
    if (senetc_model_run(in, out) != -1) return 6;
    f = fopen(argv[3], "wb");
    if (!f || fwrite(out, sizeof(float), SENETC_MODEL_OUTPUT_SIZE, f) != SENETC_MODEL_OUTPUT_SIZE) return 7;
    fclose(f);
    return 0;
}
"#;

fn aot_case(label: &str, model: &Path, input: &Path, expected: &Path, ext: &str) {
    let dir = std::env::temp_dir().join(format!("senetc-aot-test-{}-{label}-{ext}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join(format!("model.{ext}"));
    let r = std::process::Command::new(senetc()).args(["compile"]).arg(model).args(["--target", "x86_64", "-o"]).arg(&lib).output().unwrap();
    assert!(r.status.success(), "{label}: compile: {}", String::from_utf8_lossy(&r.stderr));
    assert!(dir.join("model.h").exists() && dir.join("model.weights").exists(), "{label}: header and weights beside the library");
    std::fs::write(dir.join("driver.c"), DRIVER).unwrap();
    let exe = dir.join("driver");
    let mut cc = std::process::Command::new("cc");
    cc.arg("-O1").arg("-o").arg(&exe).arg(dir.join("driver.c")).arg(&lib).arg(format!("-I{}", dir.display()));
    if ext == "so" {
        cc.arg(format!("-Wl,-rpath,{}", dir.display()));
    }
    let r = cc.output().unwrap();
    assert!(r.status.success(), "{label}: cc: {}", String::from_utf8_lossy(&r.stderr));
    let x = senetc::npy::read_npy(input).unwrap();
    let raw: Vec<u8> = x.to_f32().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("in.bin"), raw).unwrap();
    let r = std::process::Command::new(&exe).arg(dir.join("model.weights")).arg(dir.join("in.bin")).arg(dir.join("out.bin")).output().unwrap();
    assert!(r.status.success(), "{label}: driver exited {:?}: {}", r.status.code(), String::from_utf8_lossy(&r.stderr));
    let want = senetc::npy::read_npy(expected).unwrap();
    let bytes = std::fs::read(dir.join("out.bin")).unwrap();
    let vals: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    close(&format!("{label} .{ext} vs framework"), &Tensor::from_f32(want.shape().to_vec(), &vals), &want, 1);
    // A wrong weights file is refused, not read.
    std::fs::write(dir.join("bad.weights"), [0u8; 12]).unwrap();
    let r = std::process::Command::new(&exe).arg(dir.join("bad.weights")).arg(dir.join("in.bin")).arg(dir.join("out.bin")).output().unwrap();
    assert_eq!(r.status.code(), Some(4), "{label}: a truncated weights file must fail init");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aot_library_runs_from_a_c_driver() {
    let m = common::repo("models/tiny_se_resnet.onnx");
    let (i, e) = (common::repo("models/tiny_se_resnet.input.npy"), common::repo("models/tiny_se_resnet.expected.npy"));
    aot_case("tiny", &m, &i, &e, "so");
    aot_case("tiny", &m, &i, &e, "o");
    let Some(root) = common::corpus() else { return };
    let m = root.join("models/efficientnet_b0/model.onnx");
    let (i, e) = stored_io(&m);
    aot_case("efficientnet_b0", &m, &i, &e, "so");
}

#[test]
fn engine_flag() {
    let m = common::repo("models/tiny_se_resnet.onnx");
    let i = common::repo("models/tiny_se_resnet.input.npy");
    for engine in ["llvm", "interp", "auto"] {
        let r = std::process::Command::new(senetc()).arg("run").arg(&m).arg("--input").arg(&i).args(["--engine", engine]).output().unwrap();
        assert!(r.status.success(), "--engine {engine}: {}", String::from_utf8_lossy(&r.stderr));
        let r = std::process::Command::new(senetc()).arg("bench").arg(&m).args(["--runs", "2", "--warmup", "0", "--profile", "--engine", engine]).output().unwrap();
        assert!(r.status.success(), "bench --engine {engine}: {}", String::from_utf8_lossy(&r.stderr));
        let out = String::from_utf8_lossy(&r.stdout);
        let want = if engine == "interp" { "engine: interp" } else { "engine: llvm" };
        assert!(out.contains(want), "{out}");
    }
    let r = std::process::Command::new(senetc()).arg("run").arg(&m).arg("--input").arg(&i).args(["--engine", "gpu"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
}

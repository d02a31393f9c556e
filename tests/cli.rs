//! The `senetc` command line: exit codes, atomic outputs, reports, determinism.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn senetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_senetc")).args(args).output().expect("run senetc")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("senetc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn tiny() -> String {
    repo("models/tiny_se_resnet.onnx").display().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compile_writes_onnx_ir_and_report() {
    let onnx = tmp("tiny.onnx");
    let report = tmp("report.json");
    let out = senetc(&["compile", &tiny(), "--emit", "onnx", "-o", s(&onnx), "--report", s(&report), "-O0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "quiet when not on a terminal: {}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["inputs"][0]["name"], "input");
    assert_eq!(r["inputs"][0]["shape"], serde_json::json!([1, 3, 32, 32]));
    assert_eq!(r["outputs"][0]["name"], "logits");
    assert_eq!(r["op_counts"]["conv"], 8);
    assert_eq!(r["nodes"], 29);
    assert!(r["timings_ms"]["total"].as_f64().unwrap() > 0.0);
    assert!(r["warnings"].is_array());
    assert_eq!(r["op_counts_before"], r["op_counts"], "-O0 changes nothing");
    // The re-exported file imports again.
    senetc_frontends::import_graph(&onnx).unwrap();

    let sir = tmp("tiny.sir");
    let out = senetc(&["compile", &tiny(), "--emit", "ir", "-o", s(&sir)]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&sir).unwrap();
    assert!(text.starts_with("graph "), "{text}");
}

#[test]
fn compiles_are_byte_identical() {
    for emit in ["ir", "onnx"] {
        let a = tmp(&format!("a.{emit}"));
        let b = tmp(&format!("b.{emit}"));
        assert!(senetc(&["compile", &tiny(), "--emit", emit, "-o", s(&a)]).status.success());
        assert!(senetc(&["compile", &tiny(), "--emit", emit, "-o", s(&b)]).status.success());
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{emit} output differs between runs");
    }
}

#[test]
fn unreadable_input_exits_2_and_writes_nothing() {
    let out_path = tmp("never.onnx");
    let out = senetc(&["compile", "/no/such/model.onnx", "--emit", "onnx", "-o", s(&out_path)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model.onnx"));
    assert!(!out_path.exists());

    let garbage = tmp("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff not a protobuf at all").unwrap();
    let out = senetc(&["compile", s(&garbage), "--emit", "onnx", "-o", s(&out_path)]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.onnx") && err.contains("not a valid ONNX model"), "{err}");
    assert!(!out_path.exists());

    let unknown = tmp("model.xyz");
    std::fs::write(&unknown, b"x").unwrap();
    assert_eq!(senetc(&["compile", s(&unknown)]).status.code(), Some(2));
}

#[test]
fn unsupported_model_exits_1_listing_every_problem() {
    let out_path = tmp("unsupported.onnx");
    let model = repo("tests/golden/onnx/unsupported_many.onnx");
    let out = senetc(&["compile", s(&model), "--emit", "onnx", "-o", s(&out_path)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["\"lstm\" (LSTM): unsupported op", "\"conv\" (Conv): unsupported attribute \"foo\"", "\"pool\" (MaxPool)"] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!out_path.exists(), "a failed compile left a file");
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(senetc(&["compile"]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "--emit", "bogus"]).status.code(), Some(2));
    assert_eq!(senetc(&["frobnicate"]).status.code(), Some(2));
    // Refuses to overwrite its own input.
    let copy = tmp("self.onnx");
    std::fs::copy(tiny(), &copy).unwrap();
    let out = senetc(&["compile", s(&copy), "--emit", "onnx", "-o", s(&copy)]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_describes_the_model() {
    let out = senetc(&["inspect", &tiny(), "--verbose"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["input : f32[1,3,32,32]", "logits : f32[1,10]", "parameters:", "flops:", "conv", "/stem/conv/Conv"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn corrupted_models_never_panic() {
    let bytes = std::fs::read(tiny()).unwrap();
    let dir = std::env::temp_dir();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let mut b = bytes.clone();
        match i % 3 {
            0 => b.truncate((next() as usize) % bytes.len()),
            1 => {
                for _ in 0..4 {
                    let j = (next() as usize) % b.len();
                    b[j] ^= 1 << (next() % 8);
                }
            }
            _ => {
                let j = (next() as usize) % b.len();
                b[j] = (next() & 0xff) as u8;
            }
        }
        let r = std::panic::catch_unwind(|| {
            let _ = senetc_frontends::onnx::import_bytes(&b, &dir, Path::new("fuzz.onnx")).map(|(g, _)| g);
        });
        assert!(r.is_ok(), "mutation {i} made the importer panic");
    }
}

#[test]
fn pass_flags_work() {
    let dump = tmp("dumps");
    let out = tmp("o.sir");
    let r = senetc(&["compile", &tiny(), "-o", s(&out), "--dump-ir-after", "all", "--dump-dir", s(&dump), "--time-passes", "--verify-each"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("fuse-se") && err.contains("fold-bn"), "{err}");
    let mut dumps: Vec<String> = std::fs::read_dir(&dump).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    dumps.sort();
    assert_eq!(dumps.first().map(String::as_str), Some("01-canonicalize-layout.sir"), "{dumps:?}");
    assert!(dumps.iter().any(|d| d.ends_with("-fuse-se.sir")), "{dumps:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("squeeze_excite"), "{text}");

    // A chosen pipeline, and a disabled pass.
    let r = senetc(&["compile", &tiny(), "-o", s(&out), "--passes", "eliminate-identity,eliminate-dead-code"]);
    assert!(r.status.success());
    assert!(!std::fs::read_to_string(&out).unwrap().contains("squeeze_excite"));
    let r = senetc(&["compile", &tiny(), "-o", s(&out), "--disable-pass", "fuse-se"]);
    assert!(r.status.success());
    assert!(!std::fs::read_to_string(&out).unwrap().contains("squeeze_excite"));
    // Bad names are usage errors.
    assert_eq!(senetc(&["compile", &tiny(), "-o", s(&out), "--passes", "no-such-pass"]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "-o", s(&out), "--fp16-allow", "nonsense"]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "-o", s(&out), "--precision-mode", "fp8"]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "-o", s(&out), "-O3"]).status.code(), Some(2));
}

#[test]
fn report_counts_fusions_and_casts() {
    let report = tmp("opt-report.json");
    let out = tmp("opt.onnx");
    let r = senetc(&["compile", &tiny(), "--emit", "onnx", "-o", s(&out), "--report", s(&report), "--precision-mode", "allow_mix_precision"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["op_counts_before"]["batch_norm"], serde_json::Value::Null);
    assert!(r["op_counts_before"]["relu"].as_u64().unwrap() > 0);
    assert!(r["nodes"].as_u64().unwrap() < 29, "{}", r["nodes"]);
    // The tiny SE-ResNet has two SE blocks.
    assert_eq!(r["fused"]["squeeze_excite"], 2, "{}", r["fused"]);
    assert!(r["casts_inserted"].as_u64().unwrap() >= 2);
    assert!(r["fp16_weight_bytes"].as_u64().unwrap() > 0);
    assert!(r["passes"].as_array().unwrap().len() >= 6);
}

#[test]
fn run_reports_signature_mismatches() {
    let bad = tmp("bad_input.npy");
    std::fs::write(&bad, senetc::npy::npy_bytes(&senetc_ir::Tensor::from_f32(vec![1, 3, 8, 8], &[0.0; 192]))).unwrap();
    let r = senetc(&["run", &tiny(), "--input", s(&bad)]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("expects f32[1,3,32,32]") && err.contains("[1, 3, 8, 8]"), "{err}");
    let r = senetc(&["run", &tiny(), "--input", &format!("nosuch={}", repo("models/tiny_se_resnet.input.npy").display())]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no input \"nosuch\""));
    // The real input runs and writes the output.
    let out = tmp("logits.npy");
    let r = senetc(&["run", &tiny(), "--input", &format!("input={}", repo("models/tiny_se_resnet.input.npy").display()), "-o", s(&out), "--threads", "1"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let got = senetc::npy::read_npy(&out).unwrap();
    let want = senetc::npy::read_npy(&repo("models/tiny_se_resnet.expected.npy")).unwrap();
    let diff = got.to_f32().iter().zip(want.to_f32().iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn bench_prints_median_last() {
    let r = senetc(&["bench", &tiny(), "--runs", "3", "--warmup", "1", "--threads", "1"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8_lossy(&r.stdout);
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("median_ms=") && last[10..].parse::<f64>().is_ok(), "{text}");
    assert!(text.contains("min") && text.contains("max"));
}

#[test]
fn ascend_outputs_inspect_and_run() {
    let om = tmp("tiny.om");
    let r = senetc(&["compile", &tiny(), "--target", "ascend910", "-o", s(&om)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let bytes = std::fs::read(&om).unwrap();
    assert_eq!(&bytes[..4], b"IMOD", "OM magic (ModelFileHeader, ascend_om.md §1.1)");
    let air = tmp("tiny.air");
    assert!(senetc(&["compile", &tiny(), "--soc-version", "Ascend910", "--emit", "air", "-o", s(&air)]).status.success());
    let json = tmp("tiny.json");
    assert!(senetc(&["compile", &tiny(), "--target", "ascend910", "--emit", "json", "-o", s(&json)]).status.success());
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(j["graph"][0]["op"].as_array().unwrap().len() > 10);
    // inspect prints the GE graph; run executes it on the CPU reference (fp16 by default).
    let r = senetc(&["inspect", s(&om)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("precision_mode = force_fp16") && text.contains("Conv2D"), "{text}");
    let out = tmp("om_out.npy");
    let r = senetc(&["run", s(&om), "--input", &repo("models/tiny_se_resnet.input.npy").display().to_string(), "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let got = senetc::npy::read_npy(&out).unwrap().to_f32().into_owned();
    let want = senetc::npy::read_npy(&repo("models/tiny_se_resnet.expected.npy")).unwrap().to_f32().into_owned();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let rel = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(rel < 1e-2, "{rel}");
    // Same model, same bytes.
    let om2 = tmp("tiny2.om");
    assert!(senetc(&["compile", &tiny(), "--target", "ascend910", "-o", s(&om2)]).status.success());
    assert!(std::fs::read(&om2).unwrap() == bytes, "OM not deterministic");
}

#[test]
fn failed_ascend_compile_leaves_no_file() {
    // The OM is streamed into a temporary file; the Ascend310 cube unit refuses fp32 while
    // lowering, after that file was created.
    let out = tmp("ascend_fail/x.om");
    let r = senetc(&["compile", &tiny(), "--soc-version", "Ascend310", "--precision-mode", "force_fp32", "-o", s(&out)]);
    assert_eq!(r.status.code(), Some(1), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("Ascend310"));
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().collect();
    assert!(left.is_empty(), "a failed compile left {left:?}");
}

#[test]
fn ascend_flags_are_checked() {
    let out = tmp("x.om");
    assert_eq!(senetc(&["compile", &tiny(), "--emit", "om", "-o", s(&out)]).status.code(), Some(2), "om needs the ascend target");
    assert_eq!(senetc(&["compile", &tiny(), "--soc-version", "Ascend999", "-o", s(&out)]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "--target", "ascend910", "--input-format", "NCDHW", "-o", s(&out)]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", &tiny(), "--target", "ascend910", "--input-shape", "input:1,x", "-o", s(&out)]).status.code(), Some(2));
    // Valid ATC-style flags.
    let r = senetc(&["compile", &tiny(), "--soc-version", "Ascend310", "--input-shape", "input:1,3,32,32", "--input-format", "NCHW", "--out-nodes", "/fc/Gemm:0", "--log", "info", "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("compiled"));
    // A corrupted OM is unreadable input.
    let bad = tmp("bad.om");
    std::fs::write(&bad, b"ZZZZ not really an om").unwrap();
    assert_eq!(senetc(&["inspect", s(&bad)]).status.code(), Some(2));
}

/// TensorFlow models through the command line: a training checkpoint folder compiles with
/// its rewrites in the report; --output-name, --input-shape and --set reach the importer;
/// `run` reproduces TensorFlow; a damaged checkpoint is exit 2, an unsupported op exit 1.
#[test]
fn tensorflow_checkpoints_compile_and_run() {
    let ckpt = repo("tests/fixtures/tf/mobilenet_v1_slim_0125/train_ckpt");
    let report = tmp("tf_report.json");
    let om = tmp("tf.om");
    let out = senetc(&[
        "compile", s(&ckpt), "--target", "ascend910", "-o", s(&om), "--report", s(&report),
        "--output-name", "MobilenetV1/Logits/SpatialSqueeze", "--input-shape", "IteratorGetNext:1,224,224,3", "--input-format", "NHWC",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["format"], "tensorflow");
    assert_eq!(r["inputs"][0]["shape"], serde_json::json!([1, 224, 224, 3]));
    assert_eq!(r["outputs"][0]["name"], "MobilenetV1/Logits/SpatialSqueeze");
    let notes = r["import_notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(notes.contains("is_training (PlaceholderWithDefault) pinned to false") && notes.contains("EMA shadows"), "{notes}");
    assert_eq!(r["op_counts"].get("batch_norm"), None, "every BN folded: {}", r["op_counts"]);

    // ATC's --out-nodes names TensorFlow outputs too.
    let out = senetc(&["compile", s(&repo("tests/fixtures/tf/mobilenet_v1_slim_0125/eval_ckpt")), "-o", s(&tmp("o.sir")), "--report", s(&report), "--out-nodes", "MobilenetV1/Logits/SpatialSqueeze:0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["outputs"][0]["name"], "MobilenetV1/Logits/SpatialSqueeze");

    let case = repo("tests/fixtures/tf/seresnet_cifar_d29_narrow");
    let y = tmp("tf_out.npy");
    let out = senetc(&["run", s(&case.join("train_ckpt")), "--input", s(&case.join("input.npy")), "-o", s(&y)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (got, want) = (senetc::npy::read_npy(&y).unwrap(), senetc::npy::read_npy(&case.join("expected.npy")).unwrap());
    let diff = got.to_f32().iter().zip(want.to_f32().iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff <= 1e-4, "run: max |diff| {diff}");

    let golden = repo("tests/golden/tf");
    let out = senetc(&["compile", s(&golden.join("cond_needs_set.pb")), "-o", s(&tmp("c.sir")), "--set", "use_gelu=true"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = senetc(&["compile", s(&golden.join("unsupported_op.pb")), "-o", s(&tmp("u.sir"))]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("node \"cumsum\" (Cumsum): unsupported op"));
    let bad = tmp("bad.pb");
    std::fs::write(&bad, b"\x0a\xff\xff\xff\xff\x0fjunk").unwrap();
    let out = senetc(&["compile", s(&bad), "-o", s(&tmp("b.sir"))]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!tmp("b.sir").exists());
    let out = senetc(&["compile", &tiny(), "-o", s(&tmp("t.sir")), "--set", "x=1"]);
    assert_eq!(out.status.code(), Some(2), "--set on ONNX: {}", String::from_utf8_lossy(&out.stderr));
}

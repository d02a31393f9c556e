//! The PyTorch weights frontend end to end: every torch fixture (real checkpoints made
//! with the recipes' own model code, `tests/fixtures/torch/`) and every shared .pth and
//! .safetensors compiles with its `--arch` and runs within the reference tolerance of
//! torch's stored output (max |diff| <= 1e-4 * max(1, max |expected|), same argmax), as
//! imported and after -O2; -O2 gives the same op counts as the ONNX import of the same net;
//! mismatches, unknown architectures and refused files give one error that says it all.

mod common;

use common::repo;
use senetc_codegen::cpu::CpuPlan;
use senetc_frontends::{FrontendError, ImportOptions};
use senetc_ir::{stats, Graph, Tensor};
use senetc_passes::{PassManager, PassOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn options(arch: &str, input: Option<usize>) -> ImportOptions {
    ImportOptions { arch: Some(arch.into()), input_size: input.map(|n| [n, n]), ..Default::default() }
}

fn import(path: &Path, arch: &str, input: Option<usize>) -> senetc_frontends::Imported {
    senetc_frontends::import(path, &options(arch, input)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn optimized(g: &Graph) -> Graph {
    let mut g = g.clone();
    PassManager::new(PassOptions { verify_each: true, ..Default::default() }).unwrap().run(&mut g, None).unwrap();
    g
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// Run `g` on `input` and compare with `expected` at the reference tolerance.
fn check(label: &str, g: &Graph, input: &Path, expected: &Path) {
    let x = senetc::npy::read_npy(input).unwrap();
    let want = senetc::npy::read_npy(expected).unwrap().to_f32().into_owned();
    let mut plan = CpuPlan::new(g, &[x.shape().to_vec()], 2).unwrap_or_else(|e| panic!("{label}: {e}"));
    let got = plan.run(&[x]).unwrap()[0].1.to_f32().into_owned();
    assert_eq!(got.len(), want.len(), "{label}");
    let tol = 1e-4 * want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{label}: max|diff| {diff:.2e} (tol {tol:.1e})");
    assert!(diff <= tol, "{label}: max|diff| {diff} > {tol}");
    assert_eq!(argmax(&got), argmax(&want), "{label}: argmax");
}

/// (arch, file, input size, expected) of the torch fixtures.
fn fixture_cases() -> Vec<(&'static str, PathBuf, Option<usize>, PathBuf)> {
    let d = |case: &str, f: &str| repo(&format!("tests/fixtures/torch/{case}/{f}"));
    let senet = "cadene_senet154_narrow";
    vec![
        ("senet154", d(senet, "model.pth"), None, d(senet, "expected.npy")),
        ("senet154", d(senet, "model_legacy.pth"), None, d(senet, "expected.npy")),
        ("senet154", d(senet, "model.safetensors"), None, d(senet, "expected.npy")),
        ("senet154", d(senet, "checkpoint-10.pth.rar"), None, d(senet, "expected_fp16weights.npy")),
        ("se_resnext50_32x4d", d("cadene_se_resnext50_32x4d_narrow", "model.pth"), None, d("cadene_se_resnext50_32x4d_narrow", "expected.npy")),
        ("seresnext50_32x4d", d("timm_seresnext50_32x4d_narrow", "model.pth"), Some(64), d("timm_seresnext50_32x4d_narrow", "expected.npy")),
        ("efficientnet_b0", d("timm_efficientnet_b0_narrow", "model.pth"), Some(64), d("timm_efficientnet_b0_narrow", "expected.npy")),
        ("mobilenetv1_100", d("timm_mobilenetv1_100_narrow", "model.pth"), Some(64), d("timm_mobilenetv1_100_narrow", "expected.npy")),
    ]
}

#[test]
fn every_torch_fixture_matches_torch_as_imported_and_optimized() {
    for (arch, file, input, expected) in fixture_cases() {
        let label = format!("{arch} <- {}", file.file_name().unwrap().to_string_lossy());
        let m = import(&file, arch, input);
        let by_content = if file.extension().is_some_and(|e| e == "safetensors") { senetc_frontends::Format::Safetensors } else { senetc_frontends::Format::Torch };
        assert_eq!(m.format, by_content, "{label}");
        let inp = expected.parent().unwrap().join("input.npy");
        check(&label, &m.graph, &inp, &expected);
        check(&format!("{label} -O2"), &optimized(&m.graph), &inp, &expected);
    }
}

#[test]
fn the_recipe_checkpoint_loads_its_fp16_weights_in_fp32_and_says_so() {
    let file = repo("tests/fixtures/torch/cadene_senet154_narrow/checkpoint-10.pth.rar");
    assert_eq!(senetc_frontends::detect(&file).unwrap(), senetc_frontends::Format::Torch, "recognised by content, not by .rar");
    let m = import(&file, "senet154", None);
    let notes = m.notes.notes.join("\n");
    for needle in ["under 'net'", "'optimizer'", "`module.` prefix", "359 float16", "157 num_batches_tracked"] {
        assert!(notes.contains(needle), "missing {needle:?} in:\n{notes}");
    }
    // Every weight in the graph is f32: the fp16 pass decides precision, not the file.
    assert!(m.graph.weights().values().all(|t| t.dtype() == senetc_ir::DType::F32));
    // The SE blocks and batch norms of a 154-layer net: 50 SE blocks fused, no BN left.
    let h = stats::op_histogram(&optimized(&m.graph));
    assert_eq!(h.get("squeeze_excite"), Some(&50), "{h:?}");
    assert!(!h.contains_key("batch_norm"), "{h:?}");
}

#[test]
fn shared_weights_files_match_their_framework() {
    let Some(root) = common::corpus() else { return };
    let p = root.join("fixtures/pytorch");
    for f in ["state_dict.pth", "state_dict_legacy.pth", "checkpoint_dataparallel.pth", "model.safetensors"] {
        let m = import(&p.join(f), "tiny_se_resnet", None);
        check(&format!("tiny_se_resnet <- {f}"), &m.graph, &p.join("input_nchw.npy"), &p.join("expected_logits.npy"));
    }
    for (arch, files) in [("seresnet110_cifar", &["model.pth", "model.safetensors"][..]), ("efficientnet_b0", &["model.pth"][..])] {
        let d = root.join("models").join(arch);
        for f in files {
            let m = import(&d.join(f), arch, None);
            check(&format!("{arch} <- {f}"), &m.graph, &d.join("input.npy"), &d.join("expected.npy"));
        }
    }
}

#[test]
fn o2_op_counts_equal_the_onnx_twins() {
    let Some(root) = common::corpus() else { return };
    let cases = [
        ("seresnet110_cifar", root.join("models/seresnet110_cifar/model.pth"), root.join("models/seresnet110_cifar/model.onnx"), 221),
        ("efficientnet_b0", root.join("models/efficientnet_b0/model.pth"), root.join("models/efficientnet_b0/model.onnx"), 76),
        ("tiny_se_resnet", root.join("fixtures/pytorch/state_dict.pth"), root.join("fixtures/onnx/model_bn_unfolded.onnx"), 12),
        ("tiny_se_resnet", root.join("fixtures/pytorch/state_dict.pth"), root.join("fixtures/onnx/model.onnx"), 12),
    ];
    for (arch, pth, onnx, nodes) in cases {
        let torch = optimized(&import(&pth, arch, None).graph);
        let twin = optimized(&senetc_frontends::import_graph(&onnx).unwrap());
        let (a, b) = (stats::op_histogram(&torch), stats::op_histogram(&twin));
        eprintln!("{arch}: torch {} nodes {a:?}, onnx {} nodes {b:?}", stats::compute_nodes(&torch), stats::compute_nodes(&twin));
        assert_eq!(a, b, "{arch}: -O2 op counts differ from {}", onnx.display());
        assert_eq!(stats::compute_nodes(&torch), nodes, "{arch}");
    }
}

#[test]
fn a_mismatch_lists_every_missing_unexpected_and_misshaped_tensor() {
    let file = repo("tests/fixtures/torch/cadene_se_resnext50_32x4d_narrow/model.pth");
    let mut w = senetc_frontends::torch::read_weights(&file).unwrap().weights();
    w.remove("layer2.1.bn2.running_var");
    w.remove("last_linear.bias");
    w.insert("layer9.0.conv1.weight".into(), Tensor::from_f32(vec![1], &[0.0]));
    w.insert("layer1.0.se_module.fc1.weight".into(), Tensor::from_f32(vec![3, 5, 1, 1], &[0.0; 15]));
    let a = senetc_frontends::torch::arch::find("se_resnext50_32x4d").unwrap();
    let problems = senetc_frontends::torch::arch::build(a, &w, [224, 224]).err().unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text, [
        "node \"layer1.0.se_module.fc1.weight\" (weight): has shape [3, 5, 1, 1], expected [?, 16, 1, 1]",
        "node \"layer2.1.bn2.running_var\" (weight): missing (expected shape [16])",
        "node \"last_linear.bias\" (weight): missing (expected shape [10])",
        "node \"layer9.0.conv1.weight\" (weight): unexpected (no such weight in se_resnext50_32x4d)",
    ]);
    // The wrong architecture: the same kind of list, then which one fits.
    let e = senetc_frontends::import(&file, &options("senet154", None)).unwrap_err();
    let FrontendError::Unsupported { problems, .. } = &e else { panic!("{e}") };
    assert!(problems.iter().any(|p| p.to_string().contains("\"layer0.conv2.weight\" (weight): missing")), "{e}");
    let last = problems.last().unwrap().to_string();
    assert!(last.contains("do not fit senet154") && last.contains("fit se_resnext50_32x4d best (331 of 331"), "{last}");
}

#[test]
fn no_or_unknown_arch_lists_the_architectures_and_the_best_fit() {
    let file = repo("tests/fixtures/torch/timm_efficientnet_b0_narrow/model.pth");
    for opts in [ImportOptions::default(), options("", None), options("resnet50", None)] {
        let e = senetc_frontends::import(&file, &opts).unwrap_err();
        assert!(matches!(e, FrontendError::Decode { .. }), "{e}");
        let msg = e.to_string();
        for needle in ["senet154", "se_resnext50_32x4d", "seresnext50_32x4d", "mobilenetv1_100", "seresnet110_cifar", "tiny_se_resnet", "fit efficientnet_b0 best (311 of 311 tensors match)"] {
            assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
        }
    }
}

#[test]
fn cadene_heads_need_their_7x7_map() {
    let file = repo("tests/fixtures/torch/cadene_senet154_narrow/model.pth");
    let e = senetc_frontends::import(&file, &options("senet154", Some(128))).unwrap_err().to_string();
    assert!(e.contains("AvgPool2d(7)") && e.contains("4x4") && e.contains("224"), "{e}");
}

#[test]
fn retrained_weights_replace_onnx_initializers_by_name() {
    let Some(root) = common::corpus() else { return };
    let onnx = root.join("fixtures/onnx/model_bn_unfolded.onnx");
    let pth = root.join("fixtures/pytorch/checkpoint_dataparallel.pth");
    let opts = ImportOptions { weights: Some(pth.clone()), ..Default::default() };
    let m = senetc_frontends::import(&onnx, &opts).unwrap();
    assert!(m.notes.notes.iter().any(|n| n.contains("replaced 40 initializers")), "{:?}", m.notes);
    check("onnx + state dict", &m.graph, &root.join("fixtures/pytorch/input_nchw.npy"), &root.join("fixtures/pytorch/expected_logits.npy"));
    // Different weights change the answer: the initializers really were replaced.
    let d = root.join("models/seresnet110_cifar");
    let m = senetc_frontends::import(&d.join("model.onnx"), &ImportOptions { weights: Some(d.join("model.safetensors")), ..Default::default() }).unwrap();
    check("seresnet110 onnx + safetensors", &m.graph, &d.join("input.npy"), &d.join("expected.npy"));
    // Weights of another net: one error listing every mismatch, against the weights file.
    let e = senetc_frontends::import(&onnx, &ImportOptions { weights: Some(d.join("model.pth")), ..Default::default() }).unwrap_err();
    let FrontendError::Unsupported { path, problems } = &e else { panic!("{e}") };
    assert_eq!(path, &d.join("model.pth"));
    let text = e.to_string();
    assert!(text.contains("\"stem.conv.weight\" (weight): missing") && text.contains("\"layers.0.conv1.weight\" (weight): unexpected"), "{text}");
    assert!(problems.len() > 40);
    // --arch on an ONNX model is a usage error.
    assert!(matches!(senetc_frontends::import(&onnx, &options("tiny_se_resnet", None)), Err(FrontendError::Decode { .. })));
}

fn senetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_senetc")).args(args).output().expect("run senetc")
}

#[test]
fn refused_files_exit_2_saying_what_to_do() {
    let dir = repo("tests/fixtures/torch/refuse");
    #[rustfmt::skip]
    let cases = [
        ("os_system.pth", &["os.system", "GLOBAL at offset", "os_system/data.pkl", "never runs code"][..]),
        ("builtins_eval.pth", &["builtins.eval", "GLOBAL at offset"][..]),
        ("builtin_eval_py2name.pth", &["__builtin__.eval", "GLOBAL at offset"][..]),
        ("subprocess_popen.pth", &["subprocess.Popen", "GLOBAL at offset"][..]),
        ("os_system_legacy.pth", &["os.system", "main pickle"][..]),
        ("torchscript_semodule.pt", &["TorchScript", "state_dict()", "ONNX"][..]),
        ("full_model_sebottleneck.pth", &["whole pickled model", "state_dict()", "ONNX"][..]),
    ];
    let mut files: Vec<PathBuf> = cases.iter().map(|(f, _)| dir.join(f)).collect();
    if let Some(root) = common::corpus() {
        files.push(root.join("fixtures/pytorch/model_torchscript.pt"));
        files.push(root.join("fixtures/pytorch/full_model_pickle.pth"));
    }
    for (i, f) in files.iter().enumerate() {
        for args in [vec!["inspect", f.to_str().unwrap()], vec!["compile", "--arch", "senet154", "--weights", f.to_str().unwrap(), "-o", "/dev/null"]] {
            let out = senetc(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(f.to_str().unwrap()), "{err}");
            let needles: &[&str] = cases.get(i).map_or(&["state_dict()", "ONNX"][..], |c| c.1);
            for n in needles {
                assert!(err.contains(n), "{}: missing {n:?} in {err}", f.display());
            }
        }
    }
}

#[test]
fn cli_compiles_runs_and_inspects_weights_files() {
    let d = repo("tests/fixtures/torch/cadene_senet154_narrow");
    let ckpt = d.join("checkpoint-10.pth.rar");
    let tmp = std::env::temp_dir().join(format!("senetc-torch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let report = tmp.join("report.json");
    let out = senetc(&["compile", "--arch", "senet154", "--weights", ckpt.to_str().unwrap(), "-o", tmp.join("s.sir").to_str().unwrap(), "--report", report.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["format"], "torch");
    assert!(r["import_notes"].to_string().contains("359 float16"), "{}", r["import_notes"]);
    assert_eq!(r["fused"]["squeeze_excite"], 50);
    // The file as the positional model works too; run matches torch.
    let y = tmp.join("y.npy");
    let out = senetc(&["run", ckpt.to_str().unwrap(), "--arch", "senet154", "--input", d.join("input.npy").to_str().unwrap(), "-o", y.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = senetc::npy::read_npy(&y).unwrap().to_f32().into_owned();
    let want = senetc::npy::read_npy(&d.join("expected_fp16weights.npy")).unwrap().to_f32().into_owned();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-4 * 3.3), "{got:?} vs {want:?}");
    // inspect lists the tensors, the wrapper and the fit.
    let out = senetc(&["inspect", ckpt.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["under 'net'", "`module.` prefix", "1144 (359 float16, 628 float32, 157 int64)", "architecture: senet154 (987 of 987 tensors match)", "layer1.0.se_module.fc1.weight", "float16   [1, 8, 1, 1]"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // With --arch, inspect describes the built graph.
    let out = senetc(&["inspect", "--arch", "senet154", "--weights", ckpt.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("output : f32[batch,10]"), "{}", String::from_utf8_lossy(&out.stdout));
    // A mismatch exits 1, a missing or unknown --arch 2.
    let other = repo("tests/fixtures/torch/timm_mobilenetv1_100_narrow/model.pth");
    assert_eq!(senetc(&["compile", "--arch", "senet154", "--weights", other.to_str().unwrap(), "-o", "/dev/null"]).status.code(), Some(1));
    let out = senetc(&["compile", "--arch", "--weights", other.to_str().unwrap(), "-o", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fit mobilenetv1_100 best"));
    assert_eq!(senetc(&["compile", other.to_str().unwrap(), "-o", "/dev/null"]).status.code(), Some(2));
    assert_eq!(senetc(&["compile", "--arch", "nope", "--weights", other.to_str().unwrap(), "-o", "/dev/null"]).status.code(), Some(2));
    assert_eq!(senetc(&["bench", "--arch", "mobilenetv1_100", "--weights", other.to_str().unwrap(), "--input-size", "64", "--runs", "1", "--warmup", "0"]).status.code(), Some(0));
}

#[test]
fn corrupted_weights_files_never_panic() {
    let src = std::fs::read(repo("tests/fixtures/torch/cadene_se_resnext50_32x4d_narrow/model.pth")).unwrap();
    let legacy = std::fs::read(repo("tests/fixtures/torch/cadene_senet154_narrow/model_legacy.pth")).unwrap();
    let st = std::fs::read(repo("tests/fixtures/torch/cadene_senet154_narrow/model.safetensors")).unwrap();
    let dir = std::env::temp_dir().join(format!("senetc-torch-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (k, bytes) in [&src, &legacy, &st].into_iter().enumerate() {
        for i in 0..60 {
            let mut b = bytes.clone();
            match i % 3 {
                0 => b.truncate((next() as usize) % b.len()),
                // Hit the pickle and headers more often than the tensor bytes.
                1 => {
                    for _ in 0..4 {
                        let j = (next() as usize) % b.len().min(200_000);
                        b[j] ^= 1 << (next() % 8);
                    }
                }
                _ => {
                    let j = (next() as usize) % b.len();
                    b[j] = (next() & 0xff) as u8;
                }
            }
            let path = dir.join(format!("m{k}-{i}.bin"));
            std::fs::write(&path, &b).unwrap();
            let r = std::panic::catch_unwind(|| {
                let _ = senetc_frontends::import(&path, &options("senet154", None));
            });
            assert!(r.is_ok(), "mutation {k}/{i} made the importer panic");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

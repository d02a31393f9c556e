//! `senetc precision`: on a model made here with three fp16 hazards (a layer whose
//! activations exceed 65504, a wide softmax whose logits do, a batch norm with a tiny
//! variance whose folded weights do) the tool names the broken layers first, --fix finds the
//! fewest ops to keep in fp32, and the files it writes round-trip through `senetc compile`
//! to the same graph types as the flags they stand for. The HTML report renders in a real
//! headless browser with one bar per node and no console error.

mod common;

use senetc::precision::{self as prec, lists, Config, Samples, Target};
use senetc_ir::ops::*;
use senetc_ir::{DType, Graph, Op, Outlet, Shape, Tensor, TensorType};
use senetc_passes::{PassManager, PassOptions, PrecisionMode, PrecisionOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn filled(g: &mut Graph, name: &str, shape: &[usize], v: f32) -> Outlet {
    let n = shape.iter().product();
    g.add_const(name, Tensor::from_f32(shape.to_vec(), &vec![v; n]))
}

fn conv1x1(g: &mut Graph, name: &str, x: Outlet, cin: usize, cout: usize, seed: u32, scale: f32) -> Outlet {
    let w = konst(g, &format!("{name}.weight"), &[cout, cin, 1, 1], seed, scale);
    g.add(name, Op::Conv(Conv::default()), &[x, w]).unwrap()
}

/// The layers fp16 breaks in [`hazard_model`], by framework name.
const BROKEN: [&str; 3] = ["overflow/conv", "wide/fc", "tiny_bn/bn"];

/// stem conv + relu → SE block (both well-behaved in fp16), then three heads, one output each:
/// - `overflow`: a 1x1 conv whose activations reach ~2e5, global pool, a small fc;
/// - `wide`: global pool → an fc to 1000 sharp logits (beyond 65504) → softmax over 1000;
/// - `tiny_bn`: a 1x1 conv and a batch norm of variance 1e-10 (epsilon 1e-10), which folds
///   into the conv as weights beyond fp16's range, global pool, a small scale.
fn hazard_model() -> Graph {
    let mut g = Graph::new("hazards");
    let x = g.add_input("x", TensorType::new(DType::F32, Shape(vec![1.into(), 4.into(), 16.into(), 16.into()])));
    let w = konst(&mut g, "stem/conv.weight", &[8, 4, 3, 3], 1, 0.4);
    let b = konst(&mut g, "stem/conv.bias", &[8], 2, 0.1);
    let c = g.add("stem/conv", Op::Conv(Conv { pads: vec![1, 1, 1, 1], ..Default::default() }), &[x, w, b]).unwrap();
    let t = g.add("stem/relu", Op::Relu(Relu {}), &[c]).unwrap();
    // Squeeze-excitation, as exporters write it.
    let p = g.add("se/pool", Op::GlobalAveragePool(GlobalAveragePool::default()), &[t]).unwrap();
    let w1 = konst(&mut g, "se/fc1.weight", &[2, 8, 1, 1], 3, 0.5);
    let b1 = konst(&mut g, "se/fc1.bias", &[2], 4, 0.1);
    let f1 = g.add("se/fc1", Op::Conv(Conv::default()), &[p, w1, b1]).unwrap();
    let r1 = g.add("se/relu", Op::Relu(Relu {}), &[f1]).unwrap();
    let w2 = konst(&mut g, "se/fc2.weight", &[8, 2, 1, 1], 5, 0.5);
    let b2 = konst(&mut g, "se/fc2.bias", &[8], 6, 0.1);
    let f2 = g.add("se/fc2", Op::Conv(Conv::default()), &[r1, w2, b2]).unwrap();
    let gate = g.add("se/sigmoid", Op::Sigmoid(Sigmoid {}), &[f2]).unwrap();
    let se = g.add("se/mul", Op::Mul(Mul {}), &[t, gate]).unwrap();

    // Activations beyond 65504: inf in fp16.
    let a = conv1x1(&mut g, "overflow/conv", se, 8, 8, 7, 4e4);
    let ap = g.add("overflow/pool", Op::GlobalAveragePool(GlobalAveragePool::default()), &[a]).unwrap();
    let af = g.add("overflow/flatten", Op::Flatten(Flatten { axis: 1 }), &[ap]).unwrap();
    let aw = konst(&mut g, "overflow/fc.weight", &[8, 10], 8, 1e-4);
    let ab = konst(&mut g, "overflow/fc.bias", &[10], 9, 0.1);
    let ao = g.add("overflow/fc", Op::Gemm(Gemm::default()), &[af, aw, ab]).unwrap();
    g.add_output("overflow", ao);

    // A wide softmax over sharp logits: the fc's output does not fit fp16.
    let wp = g.add("wide/pool", Op::GlobalAveragePool(GlobalAveragePool::default()), &[se]).unwrap();
    let wf = g.add("wide/flatten", Op::Flatten(Flatten { axis: 1 }), &[wp]).unwrap();
    let ww = konst(&mut g, "wide/fc.weight", &[8, 1000], 10, 6e4);
    let wb = konst(&mut g, "wide/fc.bias", &[1000], 11, 6e4);
    let wl = g.add("wide/fc", Op::Gemm(Gemm::default()), &[wf, ww, wb]).unwrap();
    let wo = g.add("wide/softmax", Op::Softmax(Softmax { axis: 1 }), &[wl]).unwrap();
    g.add_output("wide", wo);

    // A batch norm with a tiny variance: folded, its scale 1/sqrt(2e-10) ~ 7e4 puts the
    // conv's weights beyond fp16.
    let c3 = conv1x1(&mut g, "tiny_bn/conv", se, 8, 8, 12, 1.0);
    let gamma = filled(&mut g, "tiny_bn/bn.weight", &[8], 1.0);
    let beta = konst(&mut g, "tiny_bn/bn.bias", &[8], 13, 0.1);
    let mean = konst(&mut g, "tiny_bn/bn.running_mean", &[8], 14, 0.05);
    let var = filled(&mut g, "tiny_bn/bn.running_var", &[8], 1e-10);
    let bn = g.add("tiny_bn/bn", Op::BatchNorm(BatchNorm { epsilon: 1e-10, axis: 1 }), &[c3, gamma, beta, mean, var]).unwrap();
    let bp = g.add("tiny_bn/pool", Op::GlobalAveragePool(GlobalAveragePool::default()), &[bn]).unwrap();
    let s = g.add_const("tiny_bn/scale.value", Tensor::from_f32(vec![], &[1e-4]));
    let bo = g.add("tiny_bn/scale", Op::Mul(Mul {}), &[bp, s]).unwrap();
    g.add_output("tiny_bn", bo);
    g
}

fn optimized(mut g: Graph) -> Graph {
    let pm = PassManager::new(PassOptions::default()).unwrap();
    pm.run(&mut g, None).unwrap();
    g
}

fn config(mode: PrecisionMode) -> Config {
    Config { precision: PrecisionOptions { mode, ..Default::default() }, threads: 1 }
}

fn senetc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_senetc"))
}

fn scratch(name: &str) -> PathBuf {
    let d = common::repo("target/test-precision").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The hazard model as an ONNX file (what a user would give the CLI).
fn hazard_onnx(dir: &Path) -> PathBuf {
    let path = dir.join("hazards.onnx");
    std::fs::write(&path, senetc_codegen::onnx_export::export(&hazard_model()).unwrap()).unwrap();
    path
}

#[test]
fn names_the_broken_layers_first_and_fixes_them_with_the_fewest_fp32_ops() {
    let g = optimized(hazard_model());
    for mode in [PrecisionMode::ForceFp16, PrecisionMode::AllowMixPrecision] {
        let cfg = config(mode);
        let samples = Samples::seeded(&g, 7, 3).unwrap();
        let a = prec::analyze(&g, &cfg, &samples).unwrap();
        print!("{}", prec::summary("hazards", &a, None, None, 8));
        // The fused SE and the folded batch norm carry every framework name behind them.
        let se = a.nodes.iter().find(|n| n.op == "squeeze_excite").expect("the SE block fuses");
        assert_eq!(se.framework_names, ["se/pool", "se/fc1", "se/relu", "se/fc2", "se/sigmoid", "se/mul"]);
        let bn = a.nodes.iter().find(|n| n.framework_names.iter().any(|f| f == "tiny_bn/bn")).unwrap();
        assert_eq!(bn.framework_names, ["tiny_bn/conv", "tiny_bn/bn"]);
        assert!(bn.hazards.weight_overflow > 0, "{:?}", bn.hazards);
        // The broken layers rank first, ahead of every well-behaved one.
        let first: Vec<&str> = a.ranking[..BROKEN.len()].iter().map(|&k| a.nodes[k].framework_names.last().unwrap().as_str()).collect();
        for b in BROKEN {
            assert!(first.contains(&b), "{mode}: {b} not among the first {}: {first:?}", BROKEN.len());
        }
        for b in ["overflow/conv", "wide/fc"] {
            let n = a.nodes.iter().find(|n| n.framework_names.iter().any(|f| f == b)).unwrap();
            assert!(n.hazards.overflow > 0 && n.hazards.inf > 0, "{b}: {:?}", n.hazards);
        }
        assert!(a.outputs.iter().all(|o| o.error.cos.is_nan() || o.error.cos < 0.9999), "every head is broken: {:?}", a.outputs);

        let f = prec::fix(&g, &cfg, &samples, &a, Target { cos: Some(0.9999), top1: None }).unwrap();
        print!("{}", prec::summary("hazards", &a, Some(&f), None, 0));
        assert!(f.met && f.after.cos >= 0.9999 && (f.before.cos.is_nan() || f.before.cos < 0.9999), "{f:?}");
        let kept: Vec<&str> = f.kept.iter().map(|k| k.framework_names.last().unwrap().as_str()).collect();
        assert_eq!(kept.len(), BROKEN.len(), "{mode}: kept {kept:?}");
        for b in BROKEN {
            assert!(kept.contains(&b), "{mode}: {b} not kept: {kept:?}");
        }
        // Fewest: without any one of them the target is missed.
        for drop in 0..f.kept.len() {
            let mut p = cfg.precision.clone();
            p.keep_dtype = f.kept.iter().enumerate().filter(|&(i, _)| i != drop).flat_map(|(_, k)| k.framework_names.clone()).collect();
            let h = prec::with_fp16(&g, &p).unwrap();
            let mut plan = senetc_codegen::cpu::CpuPlan::new(&h, &[vec![1, 4, 16, 16]], 1).unwrap();
            let mut p32 = senetc_codegen::cpu::CpuPlan::new(&g, &[vec![1, 4, 16, 16]], 1).unwrap();
            let worst = samples
                .inputs
                .iter()
                .flat_map(|s| {
                    let (x, y) = (p32.run(s).unwrap(), plan.run(s).unwrap());
                    x.into_iter().zip(y).map(|((_, x), (_, y))| cosine(&x.to_f32(), &y.to_f32())).collect::<Vec<_>>()
                })
                .fold(1.0f64, |m, c| if c.is_nan() { -1.0 } else { m.min(c) });
            assert!(worst < 0.9999, "{mode}: keeping all but {} still meets the target", f.kept[drop].name);
        }
        // The files: keep_dtype.cfg names the framework nodes, the mixlist their CANN types.
        assert_eq!(f.keep_dtype, ["overflow/conv", "wide/fc", "tiny_bn/conv", "tiny_bn/bn"]);
        assert_eq!(f.mixlist_black, ["Conv2D", "DepthwiseConv2D", "MatMulV2"]);
        assert!(f.mixlist_after.cos >= 0.9999 && f.mixlist_after.fp32_ops >= f.after.fp32_ops, "{f:?}");
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

#[test]
fn cli_report_fix_and_compile_round_trip() {
    let dir = scratch("cli");
    let model = hazard_onnx(&dir);
    let (fix, report, html) = (dir.join("fix"), dir.join("report.json"), dir.join("report.html"));
    let out = senetc()
        .arg("precision")
        .arg(&model)
        .args(["--precision-mode", "allow_mix_precision", "--samples", "2", "--target-cos", "0.9999"])
        .arg("--fix")
        .arg(&fix)
        .arg("--report")
        .arg(&report)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    print!("{stdout}");
    assert!(stdout.contains("fix (cosine >= 0.9999): met with 3 ops kept in fp32"), "{stdout}");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(j["precision_mode"], "allow_mix_precision");
    assert_eq!(j["nodes"].as_array().unwrap().len(), j["nodes"].as_array().unwrap().iter().filter(|n| n["index"].is_u64()).count());
    assert_eq!(j["fix"]["keep_dtype"].as_array().unwrap().len(), 4);
    assert!(j["nodes"].as_array().unwrap().iter().any(|n| n["own"]["rel"] == "Infinity"), "non-finite errors are written as strings");

    let keep = std::fs::read_to_string(fix.join("keep_dtype.cfg")).unwrap();
    assert_eq!(keep, "overflow/conv\nwide/fc\ntiny_bn/conv\ntiny_bn/bn\n");
    let mix: serde_json::Value = serde_json::from_slice(&std::fs::read(fix.join("modify_mixlist.json")).unwrap()).unwrap();
    assert_eq!(mix["black-list"]["to-add"], serde_json::json!(["Conv2D", "DepthwiseConv2D", "MatMulV2"]));

    // The files through `senetc compile` give the graph types the flags they stand for give.
    let compile = |extra: &[&str], out: &str| -> String {
        let o = dir.join(out);
        let r = senetc().arg("compile").arg(&model).args(["--precision-mode", "allow_mix_precision", "--emit", "ir", "-o"]).arg(&o).args(extra).output().unwrap();
        assert!(r.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&r.stderr));
        std::fs::read_to_string(o).unwrap()
    };
    let (mixf, keepf) = (fix.join("modify_mixlist.json"), fix.join("keep_dtype.cfg"));
    let kinds = lists::kinds_of_types(&["Conv2D".into(), "DepthwiseConv2D".into(), "MatMulV2".into()]).unwrap();
    assert_eq!(kinds, ["conv", "gemm", "matmul", "squeeze_excite"]);
    let by_files = compile(&["--modify-mixlist", mixf.to_str().unwrap()], "mix.sir");
    let by_flags = compile(&["--fp16-deny", &kinds.join(",")], "deny.sir");
    assert_eq!(by_files, by_flags);
    let by_file = compile(&["--keep-dtype", keepf.to_str().unwrap()], "keep.sir");
    let by_flag = compile(&["--keep-dtype", "overflow/conv,wide/fc,tiny_bn/conv,tiny_bn/bn"], "keep_flag.sir");
    assert_eq!(by_file, by_flag);
    let plain = compile(&[], "plain.sir");
    assert_ne!(by_file, plain, "the keep list changes the graph");
    // keep_dtype's OpType:: lines keep every op of the type, like the black-list.
    let types = dir.join("types.cfg");
    std::fs::write(&types, "OpType::Conv2D\nOpType::DepthwiseConv2D\nOpType::MatMulV2\n").unwrap();
    assert_eq!(compile(&["--keep-dtype", types.to_str().unwrap()], "types.sir"), by_flags);
    // Unknown CANN types are errors naming them.
    std::fs::write(dir.join("bad.json"), r#"{"black-list": {"to-add": ["Conv2D", "FancyOp"]}}"#).unwrap();
    let r = senetc().arg("compile").arg(&model).args(["--emit", "ir", "-o"]).arg(dir.join("bad.sir")).arg("--modify-mixlist").arg(dir.join("bad.json")).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("\"FancyOp\""), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn real_inputs_report_top1() {
    let dir = scratch("inputs");
    let model = hazard_onnx(&dir);
    let samples = dir.join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    let g = hazard_model();
    for i in 0..3 {
        let s = senetc::numeric::seeded_inputs(&g, 100 + i, 1).unwrap();
        senetc::npy::write_npy(&samples.join(format!("s{i}.npy")), &s[0]).unwrap();
    }
    let out = senetc().arg("precision").arg(&model).arg("--input").arg(&samples).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(3 samples)") && stdout.contains("top-1 agreement"), "{stdout}");
    // A sample that does not fit the model is a usage error naming it.
    senetc::npy::write_npy(&samples.join("s9.npy"), &Tensor::from_f32(vec![1, 3, 16, 16], &[0.0; 768])).unwrap();
    let out = senetc().arg("precision").arg(&model).arg("--input").arg(&samples).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("s9.npy"));
}

/// Headless Chromium from the system's packages, or `None` (then the browser test skips
/// loudly, unless SENETC_REQUIRE_BROWSER=1).
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].iter().map(PathBuf::from).find(|p| p.exists())
}

#[test]
fn html_report_renders_in_a_headless_browser() {
    let dir = scratch("html");
    let g = optimized(hazard_model());
    let cfg = config(PrecisionMode::ForceFp16);
    let samples = Samples::seeded(&g, 3, 2).unwrap();
    let a = prec::analyze(&g, &cfg, &samples).unwrap();
    let f = prec::fix(&g, &cfg, &samples, &a, Target { cos: Some(0.9999), top1: None }).unwrap();
    let page = prec::html::render("hazards <test>", &a, Some(&f));
    // Self-contained: nothing fetched from anywhere.
    for remote in ["http://", "https://", "src=\"", "href=\"", "@import", "url("] {
        assert!(!page.contains(remote), "the page refers to something outside it: {remote}");
    }
    assert_eq!(page.matches("class=\"bar\"").count(), a.nodes.len());
    assert!(page.contains("hazards &lt;test&gt;"));
    let path = dir.join("report.html");
    std::fs::write(&path, &page).unwrap();

    let Some(browser) = chromium() else {
        assert!(std::env::var("SENETC_REQUIRE_BROWSER").as_deref() != Ok("1"), "SENETC_REQUIRE_BROWSER=1 but no chromium (apt-get install chromium)");
        eprintln!("SKIPPED: no headless chromium (apt-get install chromium); the HTML report was not rendered");
        return;
    };
    let profile = dir.join("profile");
    let out = Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", path.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    // The script ran to its end (it counts the bars) and the DOM has one bar per node.
    let ready = format!("data-ready=\"{}\"", a.nodes.len());
    assert!(dom.contains(&ready), "the page's script did not finish ({ready} missing); log:\n{log}");
    assert_eq!(dom.matches("class=\"bar\"").count(), a.nodes.len());
    assert!(dom.contains("id=\"keep-dtype\"") && dom.contains("overflow/conv"));
    // No console message at all (Chromium logs console.error and uncaught exceptions alike
    // as `INFO:CONSOLE` lines, without the level; the page logs nothing on purpose).
    for line in log.lines() {
        assert!(!line.contains(":CONSOLE") && !line.to_ascii_lowercase().contains("uncaught"), "console message: {line}");
    }
}

/// `mixlist_types` (what the lists name for an op kind) agrees with what the Ascend lowering
/// emits for every node: every CANN op lowered from a node is one of its kind's types, or an
/// activation fused into it (ATC's gray list lets those follow), or a gemm's alpha/beta
/// arithmetic.
#[test]
fn mixlist_types_match_lowering() {
    use senetc_ge::cann::{mixlist_types, CannOp};
    use std::collections::{BTreeMap, BTreeSet};
    let mut graphs = vec![("hazards".to_string(), optimized(hazard_model()))];
    let mut paths = vec![("tiny_se_resnet".to_string(), common::repo("models/tiny_se_resnet.onnx"))];
    if let Some(root) = common::corpus() {
        paths.extend(common::corpus_onnx_models(&root));
    }
    for (name, p) in paths {
        graphs.push((name, optimized(senetc_frontends::import(&p, &Default::default()).unwrap().graph)));
    }
    let acts = [CannOp::Relu, CannOp::Relu6, CannOp::ClipByValue, CannOp::Sigmoid, CannOp::HardSigmoid, CannOp::Swish, CannOp::HardSwish, CannOp::LeakyRelu];
    for (name, g) in graphs {
        for mode in [PrecisionMode::MustKeepOriginDtype, PrecisionMode::ForceFp16] {
            let h = prec::with_fp16(&g, &PrecisionOptions { mode, ..Default::default() }).unwrap();
            let mut allowed: BTreeMap<Vec<String>, BTreeSet<CannOp>> = BTreeMap::new();
            for id in h.node_ids() {
                let n = h.node(id);
                let kind = n.op.kind();
                let set = allowed.entry(n.framework_names().into_iter().map(str::to_string).collect()).or_default();
                set.extend(mixlist_types(kind));
                match kind {
                    OpKind::Conv | OpKind::AddAct | OpKind::SqueezeExcite => set.extend(acts),
                    OpKind::Gemm => set.extend([CannOp::Mul, CannOp::Add]),
                    OpKind::Input => set.extend([CannOp::Data, CannOp::TransposeD]),
                    _ => {}
                }
            }
            let lowered = senetc_codegen::ascend::lower::lower(&h, &Default::default()).unwrap();
            for op in &lowered.ops {
                if matches!(op.op, CannOp::Const | CannOp::TransData | CannOp::NetOutput) {
                    continue;
                }
                let origin = senetc_ge::attr::get_strings(&op.attrs, "original_op_names").unwrap_or_default();
                let ok = allowed.get(&origin).is_some_and(|s| s.contains(&op.op));
                assert!(ok, "{name} ({mode}): {} ({}) from {origin:?} is not among its node's mixlist types {:?}", op.name, op.op.name(), allowed.get(&origin));
            }
        }
    }
}

/// Every format senetc imports goes through the same tool: MindIR, a torch state dict onto
/// its architecture, and an OM senetc wrote (read back), each with its real input.
#[test]
fn every_format_imports() {
    let dir = scratch("formats");
    let om = dir.join("tiny.om");
    let r = senetc().arg("compile").arg(common::repo("models/tiny_se_resnet.onnx")).args(["--target", "ascend910", "--precision-mode", "force_fp32", "-o"]).arg(&om).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let fx = common::repo("tests/fixtures");
    let cases: Vec<(PathBuf, Vec<String>, PathBuf)> = vec![
        (fx.join("mindir/seresnext50_narrow/seresnext50_narrow.mindir"), vec![], fx.join("mindir/seresnext50_narrow/input.npy")),
        (fx.join("torch/timm_efficientnet_b0_narrow/model.pth"), vec!["--arch".into(), "efficientnet_b0".into(), "--input-size".into(), "64".into()], fx.join("torch/timm_efficientnet_b0_narrow/input.npy")),
        (om, vec![], common::repo("models/tiny_se_resnet.input.npy")),
    ];
    for (model, extra, input) in cases {
        let out = senetc().arg("precision").arg(&model).args(&extra).arg("--input").arg(&input).args(["--top", "3"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {stdout}{}", model.display(), String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("top-1 agreement") && stdout.contains("in fp16"), "{}: {stdout}", model.display());
    }
}

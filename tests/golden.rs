//! File-driven golden tests of the ONNX importer: every `tests/golden/onnx/NAME.onnx` is
//! imported and printed; the text must equal `NAME.sir`, or, for a model that must be
//! refused, the error must equal `NAME.err`. `SENETC_BLESS=1` rewrites the expectations.

mod common;

use common::{check_golden, repo};

#[test]
fn onnx_importer_goldens() {
    let dir = repo("tests/golden/onnx");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "onnx")).collect();
    cases.sort();
    assert!(cases.len() >= 5, "golden cases missing in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let sir = case.with_extension("sir");
        let err = case.with_extension("err");
        let result = senetc_frontends::import_graph(case);
        let outcome = match (result, err.exists()) {
            (Ok(g), false) => {
                let text = senetc_ir::text::print(&g);
                // The printed text parses back to a graph that prints identically.
                let back = senetc_ir::text::parse(&text, &g.weights()).map(|g2| senetc_ir::text::print(&g2));
                match back {
                    Ok(t2) if t2 == text => check_golden(&sir, &text),
                    Ok(t2) => Err(format!("{}: text does not round-trip:\n{t2}", case.display())),
                    Err(e) => Err(format!("{}: printed text does not parse: {e}", case.display())),
                }
            }
            (Err(e), true) => {
                // Paths differ between machines: keep only the part after the file name.
                let msg = e.to_string();
                let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, rest)| rest).to_string() + "\n";
                check_golden(&err, &msg)
            }
            (Ok(_), true) => Err(format!("{} imported but {} expects an error", case.display(), err.display())),
            (Err(e), false) => Err(format!("{}: {e}", case.display())),
        };
        if let Err(m) = outcome {
            failures.push(m);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The import options of a TensorFlow golden case, from `NAME.args` (one `key=value` per
/// line: `output-name`, `input-name`, `set` (`NAME=VALUE`), `input-shape` (`name:d0,d1`)).
fn tf_options(case: &std::path::Path) -> senetc_frontends::ImportOptions {
    let mut o = senetc_frontends::ImportOptions::default();
    let Ok(text) = std::fs::read_to_string(case.with_extension("args")) else { return o };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{}: bad line {line:?}", case.display()));
        match k {
            "output-name" => o.output_names.push(v.into()),
            "input-name" => o.input_names.push(v.into()),
            "set" => {
                let (n, val) = v.split_once('=').expect("set=NAME=VALUE");
                o.set.push((n.into(), val.into()));
            }
            "input-shape" => o.input_shapes.extend(senetc::load::parse_input_shapes(v).unwrap()),
            other => panic!("{}: unknown option {other}", case.display()),
        }
    }
    o
}

/// File-driven golden tests of the TensorFlow importer: every `tests/golden/tf/NAME.pb`
/// (small graphs TensorFlow itself wrote, see `make.py` there) with the options of
/// `NAME.args` imports to the IR of `NAME.sir`, or fails with `NAME.err`. Where `NAME.npz`
/// holds an input and TensorFlow's outputs, the imported graph and the -O2 graph must both
/// reproduce them on the CPU reference.
#[test]
fn tf_importer_goldens() {
    let dir = repo("tests/golden/tf");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "pb")).collect();
    cases.sort();
    assert!(cases.len() >= 10, "golden cases missing in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let (sir, err) = (case.with_extension("sir"), case.with_extension("err"));
        let result = senetc_frontends::import(case, &tf_options(case)).map(|m| m.graph);
        let outcome = match (result, err.exists()) {
            (Ok(g), false) => check_golden(&sir, &senetc_ir::text::print(&g)).and_then(|_| check_tf_numbers(case, &g)),
            (Err(e), true) => {
                let msg = e.to_string();
                let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, rest)| rest).to_string() + "\n";
                check_golden(&err, &msg)
            }
            (Ok(_), true) => Err(format!("{} imported but {} expects an error", case.display(), err.display())),
            (Err(e), false) => Err(format!("{}: {e}", case.display())),
        };
        if let Err(m) = outcome {
            failures.push(m);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The imported and the optimized graph reproduce TensorFlow's outputs stored in `NAME.npz`.
fn check_tf_numbers(case: &std::path::Path, g: &senetc_ir::Graph) -> Result<(), String> {
    let npz = case.with_extension("npz");
    if !npz.exists() {
        return Ok(());
    }
    let entries: std::collections::BTreeMap<String, senetc_ir::Tensor> = senetc::npy::read_npz(&npz).map_err(|e| e.to_string())?.into_iter().collect();
    let x = entries["input"].clone();
    let mut opt = g.clone();
    senetc_passes::PassManager::new(senetc_passes::PassOptions::default()).unwrap().run(&mut opt, None).map_err(|e| format!("{}: -O2: {e}", case.display()))?;
    for (label, graph) in [("imported", g), ("-O2", &opt)] {
        let mut plan = senetc_codegen::cpu::CpuPlan::new(graph, &[x.shape().to_vec()], 1).map_err(|e| format!("{}: {label}: {e}", case.display()))?;
        let outs = plan.run(std::slice::from_ref(&x)).map_err(|e| format!("{}: {label}: {e}", case.display()))?;
        for (i, (name, got)) in outs.iter().enumerate() {
            let want = &entries[&format!("output{i}")];
            if got.shape() != want.shape() {
                return Err(format!("{}: {label}: output {name} has shape {:?}, TensorFlow {:?}", case.display(), got.shape(), want.shape()));
            }
            let (gv, wv) = (got.to_f32(), want.to_f32());
            let scale = wv.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = gv.iter().zip(wv.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            if diff > 1e-4 * scale {
                return Err(format!("{}: {label}: output {name} differs from TensorFlow by {diff}", case.display()));
            }
        }
    }
    Ok(())
}

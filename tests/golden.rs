//! File-driven golden tests of the importers. Every model under `tests/golden/<frontend>/`
//! (any format senetc reads, a file or a folder), imported with the options of `NAME.args`
//! if there is one, is printed; the text must equal `NAME.sir`, or match the FileCheck lines
//! of `NAME.check`; a model that must be refused has its error in `NAME.err`. Where
//! `NAME.npz` holds an `input` and the framework's outputs (`output0`, ...), the imported and
//! the -O2 graph must both reproduce them on the CPU reference. `SENETC_BLESS=1` rewrites
//! `.sir` and `.err` files.

mod common;

use common::{check_golden, filecheck, repo};
use std::path::{Path, PathBuf};

/// Files that describe cases rather than being them.
const NOT_MODELS: &[&str] = &["sir", "err", "check", "args", "npz", "py", "md"];

fn cases() -> Vec<PathBuf> {
    let root = repo("tests/golden");
    let mut v = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir() && !p.ends_with("passes")) {
        for e in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            let ext = e.extension().and_then(|x| x.to_str()).unwrap_or("");
            if !NOT_MODELS.contains(&ext) && !e.file_name().is_some_and(|n| n.to_string_lossy().contains(".data")) {
                v.push(e);
            }
        }
    }
    v.sort();
    v
}

fn with_ext(case: &Path, ext: &str) -> PathBuf {
    let stem = case.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    case.with_file_name(format!("{stem}.{ext}"))
}

fn run(case: &Path) -> Result<(), String> {
    let (sir, err, check) = (with_ext(case, "sir"), with_ext(case, "err"), with_ext(case, "check"));
    let imported = senetc_frontends::import(case, &options(case)).map(|m| m.graph);
    match (imported, err.exists()) {
        (Ok(g), false) => {
            let text = senetc_ir::text::print(&g);
            // The printed text parses back to a graph that prints identically.
            match senetc_ir::text::parse(&text, &g.weights()).map(|g2| senetc_ir::text::print(&g2)) {
                Ok(t2) if t2 == text => {}
                Ok(t2) => return Err(format!("text does not round-trip:\n{t2}")),
                Err(e) => return Err(format!("printed text does not parse: {e}")),
            }
            if check.exists() {
                filecheck(&text, &std::fs::read_to_string(&check).map_err(|e| e.to_string())?).map_err(|e| format!("{}: {e}", check.display()))?;
            } else {
                check_golden(&sir, &text)?;
            }
            check_numbers(case, &g)
        }
        (Err(e), true) => {
            // Paths differ between machines: keep only the part after the file name.
            let msg = e.to_string();
            let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, rest)| rest).to_string() + "\n";
            check_golden(&err, &msg)
        }
        (Ok(_), true) => Err(format!("imported but {} expects an error", err.display())),
        (Err(e), false) => Err(e.to_string()),
    }
}

/// The import options of a case, from `NAME.args` (one `key=value` per line: `output-name`,
/// `input-name`, `set` (`NAME=VALUE`), `input-shape` (`name:d0,d1`)).
fn options(case: &Path) -> senetc_frontends::ImportOptions {
    let mut o = senetc_frontends::ImportOptions::default();
    let Ok(text) = std::fs::read_to_string(with_ext(case, "args")) else { return o };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{}: bad line {line:?}", case.display()));
        match k {
            "output-name" => o.output_names.push(v.into()),
            "input-name" => o.input_names.push(v.into()),
            "set" => {
                let (n, val) = v.split_once('=').expect("set=NAME=VALUE");
                o.set.push((n.into(), val.into()));
            }
            "input-shape" => {
                let (n, dims) = v.rsplit_once(':').expect("input-shape=name:d0,d1");
                o.input_shapes.push((n.into(), dims.split(',').map(|d| d.trim().parse().expect("a dim")).collect()));
            }
            other => panic!("{}: unknown option {other}", case.display()),
        }
    }
    o
}

/// The imported and the optimized graph reproduce the framework's outputs in `NAME.npz`.
fn check_numbers(case: &Path, g: &senetc_ir::Graph) -> Result<(), String> {
    let npz = with_ext(case, "npz");
    if !npz.exists() {
        return Ok(());
    }
    let entries: std::collections::BTreeMap<String, senetc_ir::Tensor> = senetc::npy::read_npz(&npz).map_err(|e| e.to_string())?.into_iter().collect();
    let x = entries["input"].clone();
    let mut opt = g.clone();
    senetc_passes::PassManager::new(senetc_passes::PassOptions::default()).unwrap().run(&mut opt, None).map_err(|e| format!("-O2: {e}"))?;
    for (label, graph) in [("imported", g), ("-O2", &opt)] {
        let mut plan = senetc_codegen::cpu::CpuPlan::new(graph, &[x.shape().to_vec()], 1).map_err(|e| format!("{label}: {e}"))?;
        let outs = plan.run(std::slice::from_ref(&x)).map_err(|e| format!("{label}: {e}"))?;
        for (i, (name, got)) in outs.iter().enumerate() {
            let want = &entries[&format!("output{i}")];
            if got.shape() != want.shape() {
                return Err(format!("{label}: output {name} has shape {:?}, the framework {:?}", got.shape(), want.shape()));
            }
            let (gv, wv) = (got.to_f32(), want.to_f32());
            let scale = wv.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = gv.iter().zip(wv.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            if diff > 1e-4 * scale {
                return Err(format!("{label}: output {name} differs from the framework's by {diff}"));
            }
        }
    }
    Ok(())
}

#[test]
fn importer_goldens() {
    let cases = cases();
    assert!(cases.len() >= 5, "golden cases missing");
    let failures: Vec<String> = cases.iter().filter_map(|c| run(c).err().map(|e| format!("{}: {e}", c.display()))).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn filecheck_directives() {
    let text = "a\nb x\nc\nd y\n";
    assert!(filecheck(text, "check: b\nnext: c\nnot: zzz\ncheck: y").is_ok());
    assert!(filecheck(text, "check: b\nnext: d").is_err());
    assert!(filecheck(text, "check: a\nnot: c\ncheck: y").is_err());
    assert!(filecheck(text, "check: y\ncheck: a").is_err());
    assert!(filecheck(text, "; check: a\n; not: q").is_ok());
}

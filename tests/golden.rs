//! File-driven golden tests of the importers. Every model under `tests/golden/<frontend>/`
//! (any format senetc reads, a file or a folder) is imported and printed; the text must
//! equal `NAME.sir`, or match the FileCheck lines of `NAME.check`; a model that must be
//! refused has its error in `NAME.err`. `SENETC_BLESS=1` rewrites `.sir` and `.err` files.

mod common;

use common::{check_golden, filecheck, repo};
use std::path::{Path, PathBuf};

/// Files that describe cases rather than being them.
const NOT_MODELS: &[&str] = &["sir", "err", "check", "py", "md"];

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
    match (senetc_frontends::import_graph(case), err.exists()) {
        (Ok(g), false) => {
            let text = senetc_ir::text::print(&g);
            // The printed text parses back to a graph that prints identically.
            match senetc_ir::text::parse(&text, &g.weights()).map(|g2| senetc_ir::text::print(&g2)) {
                Ok(t2) if t2 == text => {}
                Ok(t2) => return Err(format!("text does not round-trip:\n{t2}")),
                Err(e) => return Err(format!("printed text does not parse: {e}")),
            }
            if check.exists() {
                filecheck(&text, &std::fs::read_to_string(&check).map_err(|e| e.to_string())?).map_err(|e| format!("{}: {e}", check.display()))
            } else {
                check_golden(&sir, &text)
            }
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

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

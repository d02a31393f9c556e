//! File-driven golden tests of the passes. Each `tests/golden/passes/NAME.sir` holds a
//! `; pass:` line (the pipeline: pass names, or `-O0`/`-O1`/`-O2`), an optional
//! `; precision:` line, and the input: the graph in text below, or `; input: PATH` naming a
//! model file of any format senetc reads (relative to the golden). The result must equal the
//! IR after `; expected:` (blessed with `SENETC_BLESS=1`), or, for large graphs, match the
//! file's `; check:` / `; next:` / `; not:` lines. Every case is also translation validated:
//! the CPU reference runs input and output on a seeded input and they must agree.

mod common;

use senetc_passes::{PassManager, PassOptions, PrecisionOptions};
use std::collections::BTreeMap;

const MARK: &str = "; expected:";

fn run_case(path: &std::path::Path) -> Result<(), String> {
    let src = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let input = src.split(MARK).next().unwrap_or(&src).to_string();
    let directive = |key: &str| input.lines().find_map(|l| l.strip_prefix(&format!("; {key}:")).map(|v| v.trim().to_string()));
    let pipeline = directive("pass").ok_or("no `; pass:` line")?;
    let (passes, opt_level) = match pipeline.strip_prefix("-O") {
        Some(level) => (None, level.parse().map_err(|_| format!("bad level {pipeline}"))?),
        None => (Some(pipeline.split(',').map(|s| s.trim().to_string()).collect()), 2),
    };
    let mode = directive("precision").map(|m| m.parse().unwrap()).unwrap_or_default();
    let before = match directive("input") {
        Some(model) => senetc_frontends::import_graph(&path.parent().unwrap().join(model)).map_err(|e| format!("input: {e}"))?,
        None => senetc_ir::text::parse(&input, &BTreeMap::new()).map_err(|e| format!("input: {e}"))?,
    };
    let mut after = before.clone();
    let options = PassOptions { passes, opt_level, verify_each: true, precision: PrecisionOptions { mode, ..Default::default() }, ..Default::default() };
    PassManager::new(options).map_err(|e| e.to_string())?.run(&mut after, None).map_err(|e| e.to_string())?;
    senetc::numeric::check(&before, &after).map_err(|e| format!("translation validation: {e}"))?;
    let printed = senetc_ir::text::print(&after);
    if common::has_checks(&input) {
        return common::filecheck(&printed, &input);
    }
    let expected_block: String = printed.lines().map(|l| format!("; {l}\n")).collect();
    let actual_file = format!("{}{MARK}\n{expected_block}", input.trim_end_matches('\n').to_string() + "\n");
    common::check_golden(path, &actual_file)
}

#[test]
fn pass_goldens() {
    let dir = common::repo("tests/golden/passes");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "sir")).collect();
    cases.sort();
    assert!(cases.len() >= 7);
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err().map(|e| format!("{}: {e}", c.display()))).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

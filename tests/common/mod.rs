//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared corpus folder (`SENETC_CORPUS`, default `../shared`), or `None` with a loud
/// note when it is absent. With `SENETC_REQUIRE_CORPUS=1` (as in CI) absence is a failure.
pub fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("SENETC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if root.join("models").is_dir() {
        return Some(root);
    }
    if std::env::var("SENETC_REQUIRE_CORPUS").as_deref() == Ok("1") {
        panic!("SENETC_REQUIRE_CORPUS=1 but the corpus is missing at {}", root.display());
    }
    eprintln!("\n*** SKIPPED: corpus not found at {} (set SENETC_CORPUS) ***\n", root.display());
    None
}

/// Every ONNX model of the corpus: (label, path).
pub fn corpus_onnx_models(root: &std::path::Path) -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("models")).expect("models/").flatten().map(|e| e.path()).collect();
    dirs.push(root.join("fixtures/onnx"));
    dirs.sort();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "onnx") {
                let label = format!("{}/{}", d.file_name().unwrap().to_string_lossy(), f.file_name().unwrap().to_string_lossy());
                v.push((label, f));
            }
        }
    }
    v
}

/// Path of a file in the repo.
pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Compare `actual` with the golden file, or rewrite it when `SENETC_BLESS=1`.
pub fn check_golden(path: &std::path::Path, actual: &str) -> Result<(), String> {
    if std::env::var("SENETC_BLESS").as_deref() == Ok("1") {
        std::fs::write(path, actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|e| format!("{}: {e} (bless with SENETC_BLESS=1)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let mut msg = format!("{} differs (bless with SENETC_BLESS=1):\n", path.display());
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            msg += &format!("  first difference at line {}:\n  - {e}\n  + {a}\n", i + 1);
            break;
        }
    }
    if expected.lines().count() != actual.lines().count() {
        msg += &format!("  expected {} lines, got {}\n", expected.lines().count(), actual.lines().count());
    }
    Err(msg)
}

/// `g` after the fp16 pass in `mode`: what the CLI does before any backend lowers it.
pub fn with_precision(g: &senetc_ir::Graph, mode: senetc_ir::PrecisionMode) -> senetc_ir::Graph {
    let mut g = g.clone();
    let options = senetc_passes::PassOptions {
        passes: Some(vec!["insert-fp16-casts".into()]),
        precision: senetc_passes::PrecisionOptions { mode, ..Default::default() },
        ..Default::default()
    };
    senetc_passes::PassManager::new(options).expect("pipeline").run(&mut g, None).expect("fp16 pass");
    g
}

/// FileCheck-style matching of `text` against `directives`, for large graphs where a whole
/// golden text would be noise. Each directive line is `check: S` (a later line contains S),
/// `next: S` (the line right after the previous match contains S) or `not: S` (no line
/// between the previous match and the next one contains S); other lines are ignored, and a
/// leading `; ` is allowed so directives can sit in `.sir` comments.
pub fn filecheck(text: &str, directives: &str) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0usize; // first line not yet consumed
    let mut pending_not: Vec<&str> = Vec::new();
    let mut count = 0;
    let check_nots = |nots: &mut Vec<&str>, from: usize, to: usize| -> Result<(), String> {
        for n in nots.drain(..) {
            if let Some(i) = (from..to).find(|&i| lines[i].contains(n)) {
                return Err(format!("not: {n:?} found at line {}: {}", i + 1, lines[i]));
            }
        }
        Ok(())
    };
    for d in directives.lines() {
        let d = d.trim_start_matches(';').trim();
        let (kind, pat) = match d.split_once(':') {
            Some((k @ ("check" | "next" | "not"), p)) => (k, p.trim()),
            _ => continue,
        };
        count += 1;
        match kind {
            "not" => pending_not.push(pat),
            "check" => {
                let i = (at..lines.len()).find(|&i| lines[i].contains(pat)).ok_or_else(|| format!("check: {pat:?} not found after line {at}"))?;
                check_nots(&mut pending_not, at, i)?;
                at = i + 1;
            }
            _ => {
                if at >= lines.len() || !lines[at].contains(pat) {
                    return Err(format!("next: {pat:?} is not on line {}: {}", at + 1, lines.get(at).unwrap_or(&"<end>")));
                }
                check_nots(&mut pending_not, at, at)?;
                at += 1;
            }
        }
    }
    check_nots(&mut pending_not, at, lines.len())?;
    if count == 0 {
        return Err("no check:/next:/not: directives".into());
    }
    Ok(())
}

/// Whether `src` holds FileCheck directives (`; check:` and friends).
pub fn has_checks(src: &str) -> bool {
    src.lines().any(|l| {
        let l = l.trim_start_matches(';').trim();
        l.starts_with("check:") || l.starts_with("next:") || l.starts_with("not:")
    })
}

/// `g` as an OM file in memory.
pub fn emit_om(g: &senetc_ir::Graph, opts: &senetc_codegen::ascend::AscendOptions) -> Result<Vec<u8>, senetc_codegen::CodegenError> {
    let mut out = Vec::new();
    senetc_codegen::ascend::emit_om(g, opts, &mut out)?;
    Ok(out)
}

/// `g` as an AIR file in memory.
pub fn emit_air(g: &senetc_ir::Graph, opts: &senetc_codegen::ascend::AscendOptions) -> Result<Vec<u8>, senetc_codegen::CodegenError> {
    let mut out = Vec::new();
    senetc_codegen::ascend::emit_air(g, opts, &mut out)?;
    Ok(out)
}

/// `g` as `atc --mode=1` JSON in memory.
pub fn emit_json(g: &senetc_ir::Graph, opts: &senetc_codegen::ascend::AscendOptions) -> Result<Vec<u8>, senetc_codegen::CodegenError> {
    let mut out = Vec::new();
    senetc_codegen::ascend::emit_json(g, opts, &mut out)?;
    Ok(out)
}

/// Deterministic pseudo-random values in [-scale, scale].
pub fn vals(n: usize, seed: u32, scale: f32) -> Vec<f32> {
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

/// A constant of that shape filled by [`vals`].
pub fn konst(g: &mut senetc_ir::Graph, name: &str, shape: &[usize], seed: u32, scale: f32) -> senetc_ir::Outlet {
    let n = shape.iter().product();
    g.add_const(name, senetc_ir::Tensor::from_f32(shape.to_vec(), &vals(n, seed, scale)))
}

//! Every input the fuzzers found a crash, hang or leak with, kept in
//! `fuzz/regressions/<target>/`, run through the binary. Beside each input, `NAME.expect`
//! holds the command (`args:`, with `{file}` and `{out}`), the exit code (`exit:`) and
//! substrings the one error message must hold (`contains:`): the message pins the fix,
//! since without overflow checks (the release profile) an overflow does not panic.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut v = Vec::new();
    for target in std::fs::read_dir(&root).expect("fuzz/regressions").flatten() {
        for f in std::fs::read_dir(target.path()).unwrap().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "expect") {
                let input = p.with_extension("");
                assert!(input.exists(), "{} has no input beside it", p.display());
                v.push((input, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn fuzz_regressions_are_clean_errors() {
    let cases = cases();
    assert!(!cases.is_empty(), "no regression inputs found");
    let out_dir = std::env::temp_dir().join(format!("senetc-fuzz-regressions-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for (input, expect) in &cases {
        let label = input.display();
        let out = out_dir.join("out");
        let mut args = Vec::new();
        let mut exit = None;
        let mut needles = Vec::new();
        for line in expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("{label}.expect: bad line {line:?}"));
            let v = v.trim();
            match k {
                "args" => args = v.split_whitespace().map(|a| a.replace("{file}", input.to_str().unwrap()).replace("{out}", out.to_str().unwrap())).collect(),
                "exit" => exit = Some(v.parse::<i32>().unwrap()),
                "contains" => needles.push(v.to_string()),
                _ => panic!("{label}.expect: unknown key {k:?}"),
            }
        }
        assert!(!args.is_empty() && exit.is_some(), "{label}.expect needs args: and exit:");
        let o = Command::new(env!("CARGO_BIN_EXE_senetc")).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{label}: panic:\n{err}");
        assert_eq!(o.status.code(), exit, "{label}: exit code:\n{err}");
        assert_eq!(err.matches("senetc: error:").count(), 1, "{label}: want one error message:\n{err}");
        for n in &needles {
            assert!(err.contains(n.as_str()), "{label}: the message does not say {n:?}:\n{err}");
        }
        assert!(!out.exists(), "{label}: a failed run wrote its output");
    }
}

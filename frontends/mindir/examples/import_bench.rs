//! Import one MindIR file and report how long it took and the process's peak resident
//! memory, as one JSON line (what `bench/mindir_import.py` reads):
//!
//! `cargo run --release -p senetc-mindir --example import_bench -- MODEL.mindir [--repeat N]`
//!
//! `import_ms` is the best of N imports (each maps the file, decodes it and builds the
//! verified IR graph); `peak_rss_bytes` is the process's VmHWM after them, and
//! `baseline_rss_bytes` the resident size before the first import (the executable itself).

use std::time::Instant;

/// A `/proc/self/status` field in bytes (Linux; 0 elsewhere).
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first().map(std::path::PathBuf::from) else {
        eprintln!("usage: import_bench MODEL.mindir [--repeat N]");
        std::process::exit(2);
    };
    let repeat = args.iter().position(|a| a == "--repeat").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok()).unwrap_or(1usize);
    let baseline = status_kb("VmRSS:");
    let mut best = f64::INFINITY;
    let mut summary = String::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let (g, _notes) = match senetc_mindir::import(&path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        let weights = g.weights();
        let weight_bytes: usize = weights.values().map(|t| t.bytes().len()).sum();
        summary = format!("\"nodes\": {}, \"weights\": {}, \"weight_bytes\": {weight_bytes}", g.node_count(), weights.len());
    }
    let file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "{{\"file\": {:?}, \"file_bytes\": {file_bytes}, \"import_ms\": {best:.2}, \"peak_rss_bytes\": {}, \"baseline_rss_bytes\": {baseline}, {summary}}}",
        path.display().to_string(),
        status_kb("VmHWM:")
    );
}

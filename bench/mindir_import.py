#!/usr/bin/env python3
"""Import time and peak memory of the MindIR frontend against the file's size.

Runs the `import_bench` example of senetc-mindir (map the file, decode it, build the verified
IR graph; weights stay in the mapped file) in fresh processes and prints, for each file: its
size, the import time (best and median of --runs processes, each importing --repeat times and
reporting its best), the peak resident memory of the process (VmHWM, and getrusage's
ru_maxrss of the child as a cross-check), and the ratios the frontend promises:
import time / 0.3 s and peak RSS / file size (both must stay <= 1; the second at most 1.2).

Usage:
  cargo build --release -p senetc-mindir --example import_bench
  bench/mindir_import.py /tmp/ms_bench/se_resnext50.mindir [more.mindir ...] [--runs 5] [--repeat 3]
Make the 110 MB file with the recipe's own code (not committed):
  /tmp/venv-ms/bin/python tests/fixtures/gen/ms_seresnext50.py <recipe dir> bench /tmp/ms_bench
"""
import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXE = ROOT / "target" / "release" / "examples" / "import_bench"
TIME_BUDGET_S = 0.3
MEMORY_BUDGET = 1.2
# Below this size the process's own footprint (executable, allocator) dominates the ratio.
JUDGED_FROM_BYTES = 50 << 20


def run_once(exe, model, repeat):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run([str(exe), str(model), "--repeat", str(repeat)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"import_bench failed on {model}:\n{r.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest child so far (KiB); only a new maximum is informative.
    out["ru_maxrss_bytes"] = after * 1024 if after > before else None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--exe", default=str(EXE))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    exe = pathlib.Path(a.exe)
    if not exe.exists():
        sys.exit(f"{exe} is missing: cargo build --release -p senetc-mindir --example import_bench")
    rows = []
    for model in a.models:
        runs = [run_once(exe, model, a.repeat) for _ in range(a.runs)]
        size = runs[0]["file_bytes"]
        times = [r["import_ms"] for r in runs]
        peak = max(r["peak_rss_bytes"] for r in runs)
        base = min(r["baseline_rss_bytes"] for r in runs)
        ru = max((r["ru_maxrss_bytes"] or 0) for r in runs) or None
        row = {
            "file": model, "file_bytes": size, "nodes": runs[0]["nodes"], "weights": runs[0]["weights"],
            "import_ms_best": min(times), "import_ms_median": statistics.median(times),
            "peak_rss_bytes": peak, "baseline_rss_bytes": base, "ru_maxrss_bytes": ru,
            "time_ratio": statistics.median(times) / 1e3 / TIME_BUDGET_S,
            "memory_ratio": peak / size, "memory_ratio_above_baseline": (peak - base) / size,
        }
        rows.append(row)
    print(f"{'file':32s} {'MB':>7s} {'nodes':>6s} {'import ms best/median':>22s} {'peak RSS MB':>12s} "
          f"{'peak/file':>10s} {'(-base)/file':>13s} {'t/0.3s':>7s}")
    for r in rows:
        print(f"{pathlib.Path(r['file']).name:32s} {r['file_bytes'] / 1e6:7.1f} {r['nodes']:6d} "
              f"{r['import_ms_best']:10.1f} / {r['import_ms_median']:8.1f}  {r['peak_rss_bytes'] / 1e6:12.1f} "
              f"{r['memory_ratio']:10.3f} {r['memory_ratio_above_baseline']:13.3f} {r['time_ratio']:7.3f}")
    judged = [r for r in rows if r["file_bytes"] >= JUDGED_FROM_BYTES]
    ok = all(r["time_ratio"] <= 1 and r["memory_ratio"] <= MEMORY_BUDGET for r in judged)
    verdict = "no file is large enough to judge" if not judged else ("met" if ok else "NOT met")
    print(f"budget for files >= {JUDGED_FROM_BYTES >> 20} MiB (import <= {TIME_BUDGET_S} s, "
          f"peak RSS <= {MEMORY_BUDGET} x file): {verdict}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

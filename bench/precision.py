#!/usr/bin/env python3
"""Time of `senetc precision` against a plain fp32 + fp16 run, on every shared model.

For each model of the corpus (SENETC_CORPUS or ../shared: models/*/model.onnx with its
input.npy) this times, in fresh processes (median of --runs):
  plain:  `senetc run MODEL --input input.npy --precision-mode force_fp32`
        + `senetc run MODEL --input input.npy --precision-mode MODE`
  report: `senetc precision MODEL --input input.npy --precision-mode MODE --report R --html H`
and prints report / plain, which the tool promises stays at most 4 (the report runs both
graphs, evaluates every node once more in fp16 and writes the JSON and HTML).

Usage:
  cargo build --release
  python3 bench/precision.py [--runs 3] [--mode force_fp16] [--fix]
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXE = ROOT / "target" / "release" / "senetc"
BUDGET = 4.0


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stderr}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", default="force_fp16")
    ap.add_argument("--fix", action="store_true", help="also time --fix (not part of the 4x promise)")
    args = ap.parse_args()
    corpus = pathlib.Path(os.environ.get("SENETC_CORPUS", ROOT.parent / "shared"))
    models = sorted(p for p in (corpus / "models").glob("*/model.onnx") if (p.parent / "input.npy").exists())
    if not models:
        sys.exit(f"no models under {corpus}/models")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="senetc-precision-bench-"))
    print(f"| model | plain fp32 + {args.mode} s | precision report s | ratio |" + (" with --fix s |" if args.fix else ""))
    print("|---|---|---|---|" + ("---|" if args.fix else ""))
    worst = 0.0
    for m in models:
        name = m.parent.name
        x = m.parent / "input.npy"
        plain, report, fix = [], [], []
        for _ in range(args.runs):
            plain.append(
                timed([EXE, "run", m, "--input", x, "--precision-mode", "force_fp32"])
                + timed([EXE, "run", m, "--input", x, "--precision-mode", args.mode])
            )
            report.append(timed([EXE, "precision", m, "--input", x, "--precision-mode", args.mode, "--report", tmp / f"{name}.json", "--html", tmp / f"{name}.html"]))
            if args.fix:
                fix.append(timed([EXE, "precision", m, "--input", x, "--precision-mode", args.mode, "--fix", tmp / name, "--target-cos", "0.9999"]))
        p, r = statistics.median(plain), statistics.median(report)
        worst = max(worst, r / p)
        row = f"| {name} | {p:.2f} | {r:.2f} | {r / p:.2f} |"
        if args.fix:
            row += f" {statistics.median(fix):.2f} |"
        print(row, flush=True)
        phases = json.loads((tmp / f"{name}.json").read_text())["timings_ms"]
        print(f"<!-- {name}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in phases.items()) + " -->")
    print(f"worst ratio {worst:.2f} (budget {BUDGET})")
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())

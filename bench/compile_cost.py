#!/usr/bin/env python3
"""Compile cost: senetc against onnxruntime's offline optimizer on the same ONNX file, in one run.

For each model, interleaved --runs times (so load changes hit every tool alike):

  ort      onnxruntime offline optimization in its own process: InferenceSession with
           ORT_ENABLE_EXTENDED and optimized_model_filepath (load + optimize + save)
  onnx     senetc compile MODEL --emit onnx -o OUT.onnx
  om       senetc compile MODEL --target ascend910 -o OUT.om

Each is one whole process: wall time and that process's own peak RSS (os.wait4). Outputs are
deleted before every run, so each tool writes a new file: replacing an existing one costs an
extra flush on ext4 (its auto_da_alloc heuristic starts writeback of the new file at the rename
or truncation), for every tool alike, that is the disk's cost and not the compiler's. onnxruntime's
process also reports the time of the session creation alone (its Python start-up and
`import onnxruntime` excluded), printed as `ort in-process`. The medians are printed with the
ratios senetc/ort (time; below 1 means senetc is faster) and peak RSS / model file size.
Goals (issue 13): seresnext50_32x4d in at most 0.5x onnxruntime's time with peak RSS at most
1.3x the file; senet154 in at most 1.5 s and 700 MB.

Usage: bench/compile_cost.py [--senetc target/release/senetc] [--corpus ../shared] [--runs 5]
       [--model PATH ...] [--python PYTHON] [--json out.json]
--model (repeatable) replaces the default, the corpus' seresnext50_32x4d/model.onnx; senet154 is
made by `../shared/models/make_models.py senet154` (see that folder's README). --python names the
interpreter that has onnxruntime (default: this one).
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

ORT_SCRIPT = r"""
import sys, time
import onnxruntime as ort
t = time.perf_counter()
o = ort.SessionOptions()
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
o.optimized_model_filepath = sys.argv[2]
ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
print(f"session_s={time.perf_counter() - t}")
"""


def run(cmd, output):
    """Wall seconds, peak RSS bytes and stdout of one process that writes `output`."""
    if os.path.exists(output):
        os.remove(output)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss * 1024, out.decode()


def load():
    return open("/proc/loadavg").read().split()[:3]


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--senetc", default=str(root / "target/release/senetc"))
    ap.add_argument("--corpus", default=str(root.parent / "shared"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", action="append")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--json")
    a = ap.parse_args()
    models = a.model or [str(pathlib.Path(a.corpus) / "models/seresnext50_32x4d/model.onnx")]
    out = tempfile.mkdtemp(prefix="senetc-compile-cost-")
    results = []
    print(f"load average before: {' '.join(load())}")
    for model in models:
        size = os.path.getsize(model)
        outputs = {k: os.path.join(out, f) for k, f in (("ort", "ort.onnx"), ("onnx", "senetc.onnx"), ("om", "senetc.om"))}
        tools = {
            "ort": [a.python, "-c", ORT_SCRIPT, model, outputs["ort"]],
            "onnx": [a.senetc, "compile", model, "--emit", "onnx", "-o", outputs["onnx"], "--quiet"],
            "om": [a.senetc, "compile", model, "--target", "ascend910", "-o", outputs["om"], "--quiet"],
        }
        for k, cmd in tools.items():
            run(cmd, outputs[k])  # warm the page cache: the goal is about compiling, not the disk
        samples = {k: [] for k in tools}
        ort_session = []
        for _ in range(a.runs):
            for k, cmd in tools.items():
                wall, rss, stdout = run(cmd, outputs[k])
                samples[k].append((wall, rss))
                if k == "ort":
                    ort_session.append(float(stdout.strip().rsplit("session_s=", 1)[1]))
        med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in samples.items()}
        ort_s = med["ort"][0]
        ort_in = statistics.median(ort_session)
        name = pathlib.Path(model).parent.name if pathlib.Path(model).name == "model.onnx" else pathlib.Path(model).stem
        print(f"\n{name}: {model} ({size / 1e6:.1f} MB), median of {a.runs}, peak RSS = max over runs")
        print(f"{'':<16} {'wall s':>8} {'peak RSS MB':>12} {'RSS/file':>9} {'time/ort':>9} {'time/ort in-process':>20}")
        print(f"{'ort':<16} {ort_s:>8.3f} {med['ort'][1] / 1e6:>12.1f} {med['ort'][1] / size:>9.2f}")
        print(f"{'ort in-process':<16} {ort_in:>8.3f}")
        row = dict(model=model, file_mb=size / 1e6, ort_s=ort_s, ort_in_process_s=ort_in, ort_rss_mb=med["ort"][1] / 1e6)
        for k in ("onnx", "om"):
            s, rss = med[k]
            print(f"{'senetc ' + k:<16} {s:>8.3f} {rss / 1e6:>12.1f} {rss / size:>9.2f} {s / ort_s:>9.2f} {s / ort_in:>20.2f}")
            row.update({f"{k}_s": s, f"{k}_rss_mb": rss / 1e6, f"{k}_rss_ratio": rss / size, f"{k}_time_ratio": s / ort_s,
                        f"{k}_time_ratio_in_process": s / ort_in})
        worst_t = max(row["onnx_time_ratio"], row["om_time_ratio"])
        worst_r = max(row["onnx_rss_ratio"], row["om_rss_ratio"])
        print(f"ratios: time senetc/ort <= {worst_t:.2f} (goal 0.5), peak RSS/file <= {worst_r:.2f} (goal 1.3)")
        if "senet154" in name:
            worst_s = max(row["onnx_s"], row["om_s"])
            worst_mb = max(row["onnx_rss_mb"], row["om_rss_mb"])
            print(f"senet154: {worst_s:.2f} s (goal 1.5), {worst_mb:.0f} MB (goal 700)")
        results.append(row)
    print(f"\nload average after: {' '.join(load())}")
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    os.rmdir(out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(load=load(), results=results), f, indent=1)


if __name__ == "__main__":
    main()

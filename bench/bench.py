#!/usr/bin/env python3
"""Latency of senetc's CPU engines against onnxruntime and tract, in one run.

Each model of ../shared/models at batch 1 and 8, 2 threads, median of --runs runs after
warm-up, in --rounds rounds that alternate senetc and onnxruntime (so a spell of load on a
shared machine falls on both); the table holds the median over rounds. senetc is timed by `senetc bench --engine E` for each engine asked
(`--engine interp|llvm|both`; inference only: compile happens once before);
onnxruntime with ORT_ENABLE_ALL; tract through its Python bindings (load, into_model,
into_runnable).
Prints a table and the ratios senetc/peer (below 1 means senetc is faster).

Usage: bench/bench.py [--senetc target/release/senetc] [--corpus ../shared] [--runs 20] [--rounds 3]
       [--models a,b] [--batches 1,8] [--engine interp|llvm|both] [--json out.json]
Setup: pip install onnxruntime numpy tract
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

MODELS = ["seresnext50_32x4d", "efficientnet_b0", "mobilenetv1_100", "seresnet110_cifar"]


def median_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        a = time.perf_counter()
        fn()
        t.append((time.perf_counter() - a) * 1e3)
    return float(np.median(t))


def bench_senetc(exe, model, batch, threads, warmup, runs, engine):
    r = subprocess.run([exe, "bench", str(model), "--batch", str(batch), "--threads", str(threads),
                        "--warmup", str(warmup), "--runs", str(runs), "--engine", engine],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("median_ms="), last
    return float(last.split("=", 1)[1])


def ort_session(model, threads):
    """A run function for `model` on onnxruntime (ORT_ENABLE_ALL, `threads` intra-op threads)."""
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})


def bench_tract(model, x, warmup, runs):
    try:
        import tract
    except ImportError:
        return None
    m = tract.onnx().load(str(model))
    m.set_input_fact(0, ",".join(str(d) for d in x.shape) + ",f32")
    r = m.into_model().into_runnable()  # into_runnable optimises the typed model
    return median_ms(lambda: r.run([x]), warmup, runs)


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--senetc", default=str(root / "target/release/senetc"))
    ap.add_argument("--corpus", default=str(root.parent / "shared"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--engine", default="both", choices=["interp", "llvm", "both"])
    ap.add_argument("--json")
    a = ap.parse_args()
    engines = ["interp", "llvm"] if a.engine == "both" else [a.engine]
    rows = []
    load = open("/proc/loadavg").read().split()[:3] if pathlib.Path("/proc/loadavg").exists() else ["?"] * 3
    print(f"load average at start: {' '.join(load)}; {a.rounds} rounds of {a.runs} runs, {a.threads} threads")
    head = "".join(f" {e + ' ms':>10}" for e in engines)
    ratios = "".join(f" {e + '/ort':>11}" for e in engines) + "".join(f" {e + '/tract':>13}" for e in engines)
    print(f"{'model':<20} {'batch':>5}{head} {'ort ms':>8} {'tract ms':>9}{ratios}")
    for name in a.models.split(","):
        model = pathlib.Path(a.corpus) / "models" / name / "model.onnx"
        x1 = np.load(model.parent / "input.npy")
        for batch in [int(b) for b in a.batches.split(",")]:
            x = np.ascontiguousarray(np.repeat(x1, batch, axis=0))
            run_ort = ort_session(model, a.threads)
            per_round = {e: [] for e in engines + ["ort"]}
            for _ in range(a.rounds):
                for e in engines:
                    per_round[e].append(bench_senetc(a.senetc, model, batch, a.threads, a.warmup, a.runs, e))
                per_round["ort"].append(median_ms(lambda: run_ort(x), a.warmup, a.runs))
            s = {e: float(np.median(per_round[e])) for e in engines}
            o = float(np.median(per_round["ort"]))
            t = bench_tract(model, x, a.warmup, a.runs)
            row = {"model": name, "batch": batch, "ort_ms": o, "tract_ms": t, "rounds": per_round}
            for e in engines:
                row[f"{e}_ms"] = s[e]
                row[f"{e}_over_ort"] = s[e] / o
                row[f"{e}_over_tract"] = (s[e] / t) if t else None
            rows.append(row)
            ts = f"{t:9.2f}" if t else f"{'n/a':>9}"
            cols = "".join(f" {s[e]:10.2f}" for e in engines)
            rat = "".join(f" {s[e] / o:11.2f}" for e in engines)
            rat += "".join((f" {s[e] / t:13.2f}" if t else f" {'n/a':>13}") for e in engines)
            print(f"{name:<20} {batch:>5}{cols} {o:8.2f} {ts}{rat}", flush=True)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

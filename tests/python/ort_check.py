#!/usr/bin/env python3
"""Cross-check senetc's ONNX export with onnxruntime, an independent implementation.

For every model in the corpus, `senetc compile --emit onnx` re-exports the IR, once as
imported (-O0) and once optimized (-O2: fused ops become model-local functions in the
`senetc` domain); onnxruntime runs each file on the stored input and must reproduce the
stored framework output (max |diff| <= 1e-4 * max(1, max |expected|), same argmax). For
-O2 the file's top-level node count must equal the one senetc reports.
Usage: ort_check.py SENETC_BINARY CORPUS_DIR OUT_DIR
"""
import json
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort


def cases(corpus: pathlib.Path):
    for d in sorted((corpus / "models").iterdir()):
        if not (d / "meta.json").exists():
            continue
        meta = json.loads((d / "meta.json").read_text())
        for m in sorted(d.glob("*.onnx")):
            yield f"{d.name}/{m.name}", m, d / "input.npy", d / "expected.npy", meta["input_name"]
    fx = corpus / "fixtures" / "onnx"
    for m in sorted(fx.glob("*.onnx")):
        yield f"fixtures/{m.name}", m, fx / "input_nchw.npy", fx / "expected_logits.npy", None


def main() -> int:
    senetc, corpus, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    for (label, model, inp, exp, _), level in [(c, lv) for c in cases(corpus) for lv in ("-O0", "-O2")]:
        label = f"{label} {level}"
        target = out / (label.replace("/", "__").replace(" ", "") + ".senetc.onnx")
        report = target.with_suffix(".json")
        r = subprocess.run([str(senetc), "compile", str(model), "--emit", "onnx", "-o", str(target), "--quiet", level,
                            "--report", str(report)], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {label}: senetc exited {r.returncode}: {r.stderr.strip()}")
            failed += 1
            continue
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])
        x = np.load(inp)
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        e = np.load(exp)
        diff = float(np.max(np.abs(y - e)))
        tol = 1e-4 * max(1.0, float(np.max(np.abs(e))))
        same_argmax = bool((y.argmax(-1) == e.argmax(-1)).all())
        ok = y.shape == e.shape and diff <= tol and same_argmax
        if level == "-O2":
            m = onnx.load(str(target))
            reported = json.loads(report.read_text())["nodes"]
            functions = sorted(f.name for f in m.functions)
            # Each fused op is one call node; Identity nodes naming outputs are not IR nodes.
            top = sum(1 for n in m.graph.node if not n.name.endswith("/output"))
            if top != reported or not functions:
                print(f"FAIL {label}: {top} top-level nodes vs {reported} reported; functions {functions}")
                ok = False
        print(f"{'ok  ' if ok else 'FAIL'} {label}: max|diff|={diff:.3g} tol={tol:.3g} argmax_equal={same_argmax}")
        passed += ok
        failed += not ok
    # The hand-made golden graphs (every op the importer reads, fused activations included):
    # onnxruntime runs the original and senetc's re-exports on one random input; they must agree.
    golden = pathlib.Path(__file__).resolve().parents[1] / "golden" / "onnx"
    rng = np.random.default_rng(0)
    for model in sorted(golden.glob("*.onnx")):
        if model.with_suffix(".err").exists():
            continue
        ref_sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        feeds = {}
        for i in ref_sess.get_inputs():
            shape = [d if isinstance(d, int) else 2 for d in i.shape]
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
        ref = ref_sess.run(None, feeds)[0]
        for level in ("-O0", "-O2"):
            label = f"golden/{model.name} {level}"
            target = out / (model.stem + level + ".senetc.onnx")
            r = subprocess.run([str(senetc), "compile", str(model), "--emit", "onnx", "-o", str(target), "--quiet", level],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {label}: senetc exited {r.returncode}: {r.stderr.strip()}")
                failed += 1
                continue
            y = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            # An empty output (reshape_allowzero_empty) has nothing to differ in, only its shape.
            same_shape = y.shape == ref.shape
            diff = float(np.max(np.abs(y - ref), initial=0.0)) if same_shape else float("inf")
            ok = same_shape and diff <= 1e-4 * max(1.0, float(np.max(np.abs(ref), initial=0.0)))
            print(f"{'ok  ' if ok else 'FAIL'} {label}: max|diff|={diff:.3g}")
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

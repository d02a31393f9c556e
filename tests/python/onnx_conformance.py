#!/usr/bin/env python3
"""ONNX conformance: the onnx package's own backend node tests, run through `senetc run`.

The installed onnx wheel ships the test-case definitions but not their data folder, so the
cases are generated here with `onnx.backend.test.case.node.collect_testcases()` into a
temporary folder, in the layout onnx's backend runner reads (NAME/model.onnx,
NAME/test_data_set_K/input_I.pb and output_I.pb). The tests in scope are listed in
tests/onnx_conformance_scope.txt (regenerate it with --write-scope, see that file).

Each test in scope runs in three element types:
  f32  the test as onnx writes it (a few tests, Cast's, are natively f16 or f64);
  f16  every float32 tensor of the model (inputs, outputs, initializers, Constant values)
       turned into float16, the inputs rounded to f16, the expected outputs computed by
       onnx's reference evaluator from those rounded inputs and rounded to f16;
  f64  likewise in float64 (the inputs and the expected outputs are the f32 test's, exactly).
A test name with a dtype suffix (`test_relu@f16`) names that variant; the bare name is f32.
`test_relu@opset7` is the f32 test written at opset 7: each test is also run at one older
opset per distinct combination of the versions of its ops, down to 7 (settings go back from
inputs to attributes, attributes an older op lacks must be at their default; a form that does
not exist, such as a dilated AveragePool before opset 19, is left out). Before opset 13 a
lone Softmax's expected output is recomputed with that opset's semantics (softmax of the input
viewed as 2-D at `axis`).

senetc compiles static graphs, so an input that only feeds an op's setting (Reshape's shape,
Squeeze/Unsqueeze/ReduceMean axes, Pad's pads, Clip's bounds, Split's sizes...) is bound to
its test value as an initializer before the run, as a user freezes such a model.

Every case runs with `senetc run -O0` and with the default -O2; both must match the expected
outputs within the test's tolerance (onnx's runner: rtol=1e-3, atol=1e-7 unless the case
sets its own). f16 variants use rtol=4e-3, atol=1e-4: senetc's CPU reference computes in
f32 and rounds every f16 value it stores, so one op may differ from the correctly rounded
result by an f16 ulp (2^-10 relative), and the reference evaluator by as much again. f64
variants keep the test's tolerance: senetc reads f64 inputs into f32 (relative error 2^-24)
and computes in f32, far inside rtol=1e-3.

Prints one line per failure and `N passed, M failed`; exits non-zero when a test in scope
fails or is missing from the onnx package.

Usage: onnx_conformance.py SENETC_BINARY [--scope FILE] [--work DIR] [-k SUBSTRING] [--keep]
       onnx_conformance.py --write-scope [--scope FILE]      (rewrite the scope list)
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_SCOPE = REPO / "tests" / "onnx_conformance_scope.txt"

# The default-domain ops senetc claims: its importer's table (frontends/onnx/src/ops.rs).
SENETC_OPS = {
    "Conv", "BatchNormalization", "Relu", "Sigmoid", "HardSwish", "LeakyRelu", "HardSigmoid", "Clip",
    "Add", "Sub", "Mul", "Div", "GlobalAveragePool", "ReduceMean", "AveragePool", "MaxPool", "Gemm",
    "MatMul", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Pad", "Softmax",
    "Identity", "Dropout", "Constant", "Cast", "Shape", "Gather", "Slice", "Split",
}

# Float types the IR has and `senetc run` reads and writes as .npy.
FLOATS = {TensorProto.FLOAT: "f32", TensorProto.FLOAT16: "f16", TensorProto.DOUBLE: "f64"}
NP_OF = {"f16": np.float16, "f32": np.float32, "f64": np.float64}
ONNX_OF = {"f16": TensorProto.FLOAT16, "f32": TensorProto.FLOAT, "f64": TensorProto.DOUBLE}
INTS = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT8, TensorProto.UINT8, TensorProto.BOOL}

# Which inputs of an op are settings (read at import as static values), by position.
SETTINGS = {
    "Reshape": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "ReduceMean": {1}, "Split": {1},
    "Pad": {1, 2, 3}, "Clip": {1, 2}, "Dropout": {1, 2}, "Slice": {1, 2, 3, 4},
}

F16_TOL = (4e-3, 1e-4)

# The oldest default-domain opset senetc reads (frontends/onnx/src/lib.rs, OPSETS).
OLDEST = 7


def why_out_of_scope(case) -> str | None:
    """None for a test in scope, else the reason it is not."""
    g = case.model.graph
    ops = {n.op_type for n in g.node}
    domains = {n.domain for n in g.node} - {"", "ai.onnx"}
    if domains:
        return f"ops of domain {sorted(domains)}"
    if not ops <= SENETC_OPS:
        return f"ops senetc does not claim: {sorted(ops - SENETC_OPS)}"
    elem = lambda v: v.type.tensor_type.elem_type if v.type.HasField("tensor_type") else None
    if any(elem(v) is None for v in list(g.input) + list(g.output)):
        return "non-tensor inputs or outputs (sequence, optional)"
    data_inputs = [v for v in g.input if not feeds_only_settings(g, v.name)]
    types = {elem(v) for v in data_inputs} | {elem(v) for v in g.output}
    if not types & set(FLOATS):
        return "integer-only (senetc compiles float models; its CPU reference holds integers in f32 and does not wrap)"
    odd = types - set(FLOATS) - INTS
    if odd == {TensorProto.BFLOAT16}:
        return "bfloat16 data (the IR has bf16, but .npy, what senetc run reads and writes, has none)"
    if odd:
        names = sorted(TensorProto.DataType.Name(t) for t in odd - {TensorProto.BFLOAT16})
        return f"element types the IR does not have: {names}"
    for n in g.node:
        if n.op_type == "BatchNormalization" and any(a.name == "training_mode" and a.i for a in n.attribute):
            return "training-mode BatchNormalization (senetc compiles for inference)"
        if n.op_type == "Dropout" and (len(n.input) > 2 and n.input[2] or len([o for o in n.output if o]) > 1):
            return "training-mode Dropout or its mask output (senetc compiles for inference)"
    return None


def feeds_only_settings(g, name) -> bool:
    uses = [(n, i) for n in g.node for i, x in enumerate(n.input) if x == name]
    return bool(uses) and all(i in SETTINGS.get(n.op_type, ()) for n, i in uses)


# ---- generating the cases in onnx's on-disk layout ----

def write_case(case, root: pathlib.Path) -> pathlib.Path:
    d = root / case.name
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(case.model, d / "model.onnx")
    g = case.model.graph
    for k, (ins, outs) in enumerate(case.data_sets):
        ds = d / f"test_data_set_{k}"
        ds.mkdir(exist_ok=True)
        for i, (v, a) in enumerate(zip(g.input, ins)):
            (ds / f"input_{i}.pb").write_bytes(to_proto(a, v.name).SerializeToString())
        for i, (v, a) in enumerate(zip(g.output, outs)):
            (ds / f"output_{i}.pb").write_bytes(to_proto(a, v.name).SerializeToString())
    return d


def to_proto(a, name: str) -> TensorProto:
    if isinstance(a, TensorProto):
        t = TensorProto()
        t.CopyFrom(a)
        t.name = name
        return t
    return numpy_helper.from_array(np.asarray(a), name)


def read_pb(path: pathlib.Path) -> np.ndarray:
    t = TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def read_case(d: pathlib.Path):
    model = onnx.load(d / "model.onnx")
    sets = []
    for ds in sorted(d.glob("test_data_set_*")):
        ins = [read_pb(ds / f"input_{i}.pb") for i in range(len(list(ds.glob("input_*.pb"))))]
        outs = [read_pb(ds / f"output_{i}.pb") for i in range(len(list(ds.glob("output_*.pb"))))]
        sets.append((ins, outs))
    return model, sets


# ---- freezing settings and changing the float type ----

def freeze_settings(model, ins):
    """Bind every input that only feeds settings to its value, as an initializer."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep, data = [], []
    for v, a in zip(list(g.input), ins):
        if feeds_only_settings(g, v.name):
            g.initializer.append(numpy_helper.from_array(np.asarray(a), v.name))
        else:
            keep.append(v)
            data.append(a)
    del g.input[:]
    g.input.extend(keep)
    return m, data


def retype(model, to: str):
    """The model with every float32 tensor turned into `to` (f16 or f64)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    target = ONNX_OF[to]

    def fix_tensor(t):
        if t.data_type == TensorProto.FLOAT:
            a = numpy_helper.to_array(t).astype(NP_OF[to])
            t.CopyFrom(numpy_helper.from_array(a, t.name))

    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = target
    for t in g.initializer:
        fix_tensor(t)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                fix_tensor(a.t)
            if n.op_type == "Constant" and a.name in ("value_float", "value_floats"):
                vals = np.array(a.f if a.name == "value_float" else list(a.floats), dtype=NP_OF[to])
                n.attribute.remove(a)
                n.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(vals)))
                break
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = target
    return m


def jobs(model, sets, kind: str):
    """[(frozen model, data inputs, expected outputs)] and a tolerance override for one
    variant (`f32`, `f16`, `f64` or `opsetN`); or a message saying why there is none."""
    if kind.startswith("opset"):
        v = int(kind[5:])
        out = []
        for ins, outs in sets:
            frozen, data = freeze_settings(model, ins)
            m, why = at_opset(frozen, v)
            if m is None:
                return f"no opset {v} form: {why}", None
            softmax = [n for n in m.graph.node if n.op_type == "Softmax"]
            if v < 13 and len(m.graph.node) == 1 and softmax:
                axis = next(a.i for a in softmax[0].attribute if a.name == "axis")
                outs = [old_softmax(np.asarray(data[0]), axis)]
            out.append((m, data, outs))
        return out, None
    v = variant(model, sets, kind)
    if v is None:
        return f"no {kind} variant of this test", None
    m, s, tol = v
    return [(*freeze_settings(m, ins), outs) for ins, outs in s], tol


def variant(model, sets, dtype: str):
    """(model, [(inputs, expected)], rtol/atol override) of one dtype variant, or None."""
    if dtype == "f32":
        return model, sets, None
    if any(n.op_type == "Cast" for n in model.graph.node):
        return None
    tensors = [v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)]
    if any(t in FLOATS and t != TensorProto.FLOAT for t in tensors):
        return None
    m = retype(model, dtype)
    cast = lambda a: a.astype(NP_OF[dtype]) if a.dtype == np.float32 else a
    if dtype == "f64":
        return m, [([cast(a) for a in ins], [cast(a) for a in outs]) for ins, outs in sets], None
    from onnx.reference import ReferenceEvaluator
    back = retype_back(m)
    ref = ReferenceEvaluator(back)
    names = [v.name for v in back.graph.input]
    out = []
    for ins, _ in sets:
        rounded = [cast(a) for a in ins]
        feeds = {n: (a.astype(np.float32) if a.dtype == np.float16 else a) for n, a in zip(names, rounded)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ref.run(None, feeds)
        out.append((rounded, [np.asarray(r).astype(np.float16) if np.asarray(r).dtype == np.float32 else np.asarray(r) for r in res]))
    return m, out, F16_TOL


def retype_back(m16):
    """An f16 model in f32 with the same (rounded) values, for the reference evaluator."""
    m = onnx.ModelProto()
    m.CopyFrom(m16)
    g = m.graph
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT16:
            v.type.tensor_type.elem_type = TensorProto.FLOAT
    def fix(t):
        if t.data_type == TensorProto.FLOAT16:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
    for t in g.initializer:
        fix(t)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                fix(a.t)
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT16:
                a.i = TensorProto.FLOAT
    return m


# ---- the same test at an older opset ----

def own_opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def schema_versions(ops, v):
    """The since_version of every op at opset v (None when an op does not exist yet)."""
    out = []
    for op in ops:
        try:
            out.append(onnx.defs.get_schema(op, v, "").since_version)
        except onnx.defs.SchemaError:
            out.append(None)
    return tuple(out)


def older_opsets(model):
    """One opset per distinct combination of the test's op versions below its own, down to
    7: the lowest opset of each combination (every version of every op it uses)."""
    ops = sorted({n.op_type for n in model.graph.node})
    own = own_opset(model)
    seen, picks = {schema_versions(ops, own)}, {}
    for v in range(own - 1, OLDEST - 1, -1):
        key = schema_versions(ops, v)
        if None in key:
            break
        if key not in seen:
            picks[key] = v
        elif key in picks:
            picks[key] = v
        seen.add(key)
    return sorted(picks.values())


def at_opset(model, v):
    """The frozen model `model` written at opset `v` with the same meaning (settings back to
    attributes, attributes the older op lacks dropped at their default), or the reason it
    cannot be."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    for t in g.initializer:
        ranks[t.name] = len(t.dims)
    used = set()

    def const(name, what):
        if name not in inits:
            raise ValueError(f"{what} is not a constant")
        used.add(name)
        return inits[name]

    def get(n, name):
        return next((a for a in n.attribute if a.name == name), None)

    def drop(n, name, default=None):
        a = get(n, name)
        if a is None:
            return
        val = onnx.helper.get_attribute_value(a)
        if default is not None and val != default:
            raise ValueError(f"{n.op_type} {name}={val} has no form at opset {v}")
        n.attribute.remove(a)

    def setting_to_attr(n, i, name, what, conv=lambda a: [int(x) for x in a.reshape(-1)]):
        if len(n.input) > i and n.input[i]:
            val = conv(const(n.input[i], what))
            if val != []:
                n.attribute.append(onnx.helper.make_attribute(name, val))
        del n.input[i:]

    def nonneg(n, name, rank):
        a = get(n, name)
        if a is None or v >= 11:
            return
        if rank is None:
            raise ValueError("rank unknown")
        if a.type == onnx.AttributeProto.INT:
            a.i = a.i + rank if a.i < 0 else a.i
        else:
            vals = [x + rank if x < 0 else x for x in a.ints]
            del a.ints[:]
            a.ints.extend(vals)

    try:
        for n in g.node:
            op = n.op_type
            rank_in = ranks.get(n.input[0]) if n.input else None
            if op == "Clip" and v < 11:
                for i, name in ((1, "min"), (2, "max")):
                    if len(n.input) > i and n.input[i]:
                        n.attribute.append(onnx.helper.make_attribute(name, float(const(n.input[i], "Clip bound"))))
                del n.input[1:]
            elif op == "Pad":
                if len(n.input) > 3 and n.input[3] and v < 18:
                    axes = [int(a) % rank_in for a in const(n.input[3], "Pad axes")]
                    pads = const(n.input[1], "Pad pads")
                    full = [0] * (2 * rank_in)
                    for k, a in enumerate(axes):
                        full[a], full[a + rank_in] = int(pads[k]), int(pads[k + len(axes)])
                    name = f"{n.name or n.output[0]}_full_pads"
                    g.initializer.append(numpy_helper.from_array(np.array(full, dtype=np.int64), name))
                    inits[name] = np.array(full)
                    n.input[1] = name
                    del n.input[3:]
                if v < 11:
                    setting_to_attr(n, 2, "value", "Pad value", lambda a: float(a.reshape(-1)[0]))
                    setting_to_attr(n, 1, "pads", "Pad pads")
            elif op in ("Squeeze", "Unsqueeze") and v < 13:
                setting_to_attr(n, 1, "axes", f"{op} axes")
                out_rank = ranks.get(n.output[0])
                nonneg(n, "axes", rank_in if op == "Squeeze" else out_rank)
            elif op == "ReduceMean" and v < 18:
                drop(n, "noop_with_empty_axes", 0)
                setting_to_attr(n, 1, "axes", "ReduceMean axes")
                nonneg(n, "axes", rank_in)
            elif op == "Split":
                if get(n, "num_outputs") is not None and v < 18:
                    k = get(n, "num_outputs").i
                    axis = get(n, "axis").i if get(n, "axis") else 0
                    vis = [vi for vi in list(inferred.graph.input) + list(inferred.graph.value_info) if vi.name == n.input[0]]
                    dims = vis[0].type.tensor_type.shape.dim if vis else []
                    if not dims or not dims[axis].HasField("dim_value"):
                        raise ValueError("Split num_outputs of an axis of unknown extent")
                    extent = dims[axis].dim_value
                    each = -(-extent // k)
                    split = [max(0, min(each, extent - i * each)) for i in range(k)]
                    drop(n, "num_outputs")
                    name = f"{n.name or n.output[0]}_split"
                    g.initializer.append(numpy_helper.from_array(np.array(split, dtype=np.int64), name))
                    inits[name] = np.array(split)
                    n.input.append(name)
                if v < 13:
                    setting_to_attr(n, 1, "split", "Split sizes")
                nonneg(n, "axis", rank_in)
            elif op == "Slice" and v < 10:
                if len(n.input) > 4 and n.input[4] and any(int(x) != 1 for x in const(n.input[4], "Slice steps")):
                    raise ValueError("Slice steps have no form before opset 10")
                for i, name in ((3, "axes"), (2, "ends"), (1, "starts")):
                    if len(n.input) > i and n.input[i]:
                        n.attribute.append(onnx.helper.make_attribute(name, [int(x) for x in const(n.input[i], f"Slice {name}")]))
                del n.input[1:]
            elif op == "Dropout" and v < 12:
                if len(n.input) > 2 and n.input[2]:
                    raise ValueError("Dropout training_mode")
                drop(n, "seed")
                setting_to_attr(n, 1, "ratio", "Dropout ratio", lambda a: float(a.reshape(-1)[0]))
            elif op == "Softmax" and v < 13:
                a = get(n, "axis")
                axis = (a.i if a else -1) % rank_in
                drop(n, "axis")
                n.attribute.append(onnx.helper.make_attribute("axis", axis))
            elif op == "AveragePool":
                if v < 19:
                    drop(n, "dilations", [1] * len(get(n, "kernel_shape").ints))
                if v < 10:
                    drop(n, "ceil_mode", 0)
            elif op == "MaxPool" and v < 10:
                drop(n, "dilations", [1] * len(get(n, "kernel_shape").ints))
                drop(n, "ceil_mode", 0)
                if v < 8:
                    drop(n, "storage_order", 0)
            elif op == "Reshape" and v < 14:
                drop(n, "allowzero", 0)
            elif op == "Cast":
                if v < 19:
                    drop(n, "saturate", 1)
                if v < 24:
                    drop(n, "round_mode", "up")
            elif op == "Shape" and v < 15 and (get(n, "start") or get(n, "end")):
                raise ValueError("Shape start/end")
            elif op == "BatchNormalization" and v < 14:
                drop(n, "training_mode", 0)
            elif op == "Gemm" and v < 11 and (len(n.input) < 3 or not n.input[2]):
                raise ValueError("Gemm's C is required before opset 11")
            elif op == "Constant" and v < 12:
                a = n.attribute[0]
                if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
                    val = onnx.helper.get_attribute_value(a)
                    dt = np.float32 if "float" in a.name else np.int64
                    n.attribute.remove(a)
                    n.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(np.array(val, dtype=dt))))
            if op in ("Flatten", "Concat", "Gather", "Softmax") and v < 11:
                nonneg(n, "axis", rank_in)
        for t in list(g.initializer):
            if t.name in used and not any(t.name in n.input for n in g.node):
                g.initializer.remove(t)
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = v
        m.ir_version = min(m.ir_version, IR_OF_OPSET.get(v, m.ir_version))
        if m.ir_version < 4:
            # Before IR version 4 every initializer is also a graph input.
            for t in g.initializer:
                g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001 (any failure means: no such form)
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return m, None


# The IR version that came with each opset (older runtimes refuse newer IR versions).
IR_OF_OPSET = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def old_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax before opset 13: over the input viewed as 2-D at `axis`."""
    two = x.reshape(int(np.prod(x.shape[:axis])), -1).astype(np.float64)
    e = np.exp(two - two.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape).astype(x.dtype)


# ---- running ----

def compare(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    if got.shape != want.shape:
        return f"shape {got.shape} != expected {want.shape}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != expected {want.dtype}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    try:
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    except AssertionError:
        bad = ~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        i = np.unravel_index(np.argmax(bad), bad.shape) if bad.ndim else ()
        return f"{int(bad.sum())} of {bad.size} elements differ (first at {list(i)}: {g[i]!r} vs {w[i]!r})"
    return None


def run_variant(senetc, name, runs, tol, work: pathlib.Path):
    """Failure messages of one test variant (empty when it passes)."""
    work.mkdir(parents=True, exist_ok=True)
    failures = []
    for k, (m, data, outs) in enumerate(runs):
        mpath = work / f"model_{k}.onnx"
        onnx.save(m, mpath)
        args = []
        for v, a in zip(m.graph.input, data):
            p = work / f"in_{k}_{len(args)}.npy"
            np.save(p, np.asarray(a))
            args += ["--input", f"{v.name}={p}"]
        rtol, atol = tol
        for level in ("-O0", "-O2"):
            out = work / f"out_{k}{level}.npy"
            cmd = [str(senetc), "run", str(mpath), *args, "-o", str(out), "--threads", "1"]
            if level == "-O0":
                cmd.append("-O0")
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
                failures.append(f"{level} data set {k}: exit {r.returncode}: {' | '.join(msg[:4])}")
                continue
            names = [v.name for v in m.graph.output]
            for i, (oname, want) in enumerate(zip(names, outs)):
                p = out if len(names) == 1 else out.with_name(f"{out.stem}.{oname}.npy")
                if not p.exists():
                    failures.append(f"{level} data set {k}: no output {oname!r}")
                    continue
                why = compare(np.load(p), np.asarray(want), rtol, atol)
                if why:
                    failures.append(f"{level} data set {k} output {oname!r}: {why}")
    return failures


def split_name(entry: str):
    name, _, dtype = entry.partition("@")
    return name, dtype or "f32"


def scope_entries(path: pathlib.Path):
    return [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]


def write_scope(path: pathlib.Path):
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    lines, out, no_form = [], {}, {}
    for c in sorted(cases, key=lambda c: c.name):
        why = why_out_of_scope(c)
        if why:
            if set(n.op_type for n in c.model.graph.node) & SENETC_OPS:
                out.setdefault(why, []).append(c.name)
            continue
        for dt in ("f32", "f16", "f64"):
            if variant_possible(c.model, dt):
                lines.append(c.name if dt == "f32" else f"{c.name}@{dt}")
        for v in older_opsets(c.model):
            runs, _ = jobs(c.model, [(list(ins), list(outs)) for ins, outs in c.data_sets], f"opset{v}")
            if isinstance(runs, str):
                no_form.setdefault(runs.split(":")[0].replace(f" {v}", " N"), []).append(f"{c.name}@opset{v}")
            else:
                lines.append(f"{c.name}@opset{v}")
    header = [
        "# The ONNX backend node tests senetc must pass (tests/python/onnx_conformance.py runs them).",
        f"# Made by `python3 tests/python/onnx_conformance.py --write-scope` with onnx {onnx.__version__}",
        f"# (newest default-domain opset {onnx.defs.onnx_opset_version()}); regenerate it the same way after",
        "# upgrading onnx or claiming a new op, and review the diff.",
        "# In scope: every node test whose ops are all in senetc's ONNX op table, on float data",
        "# (f32 as written; @f16 and @f64 variants derived from each f32 test without a Cast), and",
        f"# @opsetN: the f32 test written at an older opset N >= {OLDEST}, one N per distinct combination of",
        "# the versions of the ops it uses (settings back to attributes, and so on).",
        "# Tests of claimed ops left out, by reason:",
    ]
    unclaimed = [n for why, names in out.items() if why.startswith("ops senetc does not claim") for n in names]
    out = {w: n for w, n in out.items() if not w.startswith("ops senetc does not claim")}
    out["they also use ops senetc does not claim (mostly *_expanded functions)"] = sorted(unclaimed)
    for why, names in sorted(out.items()):
        header.append(f"#   {why}: {len(names)} ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    no_form_total = sum(len(v) for v in no_form.values())
    header.append(f"# Older-opset forms that do not exist (the test uses what the older op lacks): {no_form_total}")
    lines_by_kind = {}
    for l in lines:
        k = split_name(l)[1]
        lines_by_kind[k if not k.startswith("opset") else "opset"] = lines_by_kind.get(k if not k.startswith("opset") else "opset", 0) + 1
    path.write_text("\n".join(header + lines) + "\n")
    counts = lines_by_kind
    print(f"wrote {path}: {len(lines)} entries {counts}")


def variant_possible(model, dtype) -> bool:
    if dtype == "f32":
        return True
    if any(n.op_type == "Cast" for n in model.graph.node):
        return False
    tensors = [v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)]
    return not any(t in FLOATS and t != TensorProto.FLOAT for t in tensors)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("senetc", nargs="?")
    ap.add_argument("--scope", type=pathlib.Path, default=DEFAULT_SCOPE)
    ap.add_argument("--work", type=pathlib.Path)
    ap.add_argument("-k", dest="filter", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--write-scope", action="store_true")
    a = ap.parse_args()
    if a.write_scope:
        write_scope(a.scope)
        return 0
    if not a.senetc:
        ap.error("SENETC_BINARY is required")
    senetc = pathlib.Path(a.senetc).resolve()
    entries = [e for e in scope_entries(a.scope) if a.filter in e]
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {c.name: c for c in collect_testcases()}
    work = a.work or pathlib.Path(tempfile.mkdtemp(prefix="senetc-onnx-conformance-"))
    gen = work / "node"
    missing = sorted({split_name(e)[0] for e in entries} - cases.keys())
    for name in sorted({split_name(e)[0] for e in entries} & cases.keys()):
        write_case(cases[name], gen)

    def one(entry):
        name, dtype = split_name(entry)
        if name in missing:
            return entry, ["not in the onnx package's node tests"]
        model, sets = read_case(gen / name)
        case = cases[name]
        runs, tol = jobs(model, sets, dtype)
        if isinstance(runs, str):
            return entry, [runs]
        return entry, run_variant(senetc, entry, runs, tol or (case.rtol, case.atol), work / "run" / entry.replace("@", "__"))

    with ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(one, entries))
    passed = failed = 0
    per = {}
    for entry, fails in results:
        dt = split_name(entry)[1]
        if dt.startswith("opset"):
            v = int(dt[5:])
            dt = "f32 opset 7-12" if v < 13 else "f32 opset 13-21" if v < 22 else "f32 opset 22+"
        per.setdefault(dt, [0, 0])
        if fails:
            failed += 1
            per[dt][1] += 1
            for f in fails:
                print(f"FAIL {entry}: {f}")
        else:
            passed += 1
            per[dt][0] += 1
    for dt in sorted(per):
        print(f"  {dt}: {per[dt][0]} passed, {per[dt][1]} failed")
    own = {}
    for entry, fails in results:
        name, kind = split_name(entry)
        if kind == "f32" and name in cases:
            v = own_opset(cases[name].model)
            band = "7-12" if v < 13 else "13-21" if v < 22 else "22-28"
            own.setdefault(band, [0, 0])[bool(fails)] += 1
    for band in sorted(own):
        print(f"  f32 tests written at opset {band}: {own[band][0]} passed, {own[band][1]} failed")
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not entries else 0


if __name__ == "__main__":
    sys.exit(main())

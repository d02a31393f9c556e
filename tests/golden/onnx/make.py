#!/usr/bin/env python3
"""Writes the small hand-written ONNX graphs the importer golden tests read.

Each case NAME.onnx has a golden NAME.sir (the IR senetc prints; blessed with
SENETC_BLESS=1 cargo test --test golden) or NAME.err (the expected error lines).
Re-run after changing a case: python3 make.py  (needs the onnx package)."""
import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh


def save(name, nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="senetc-golden")
    m.ir_version = 8
    onnx.save(m, f"{name}.onnx")


rng = np.random.default_rng(7)
def w(name, *shape):
    return nh.from_array(rng.standard_normal(shape).astype(np.float32), name)


x = lambda shape, n="x": h.make_tensor_value_info(n, T.FLOAT, shape)
i64 = lambda name, vals: nh.from_array(np.array(vals, dtype=np.int64), name)
f32 = lambda name, v: nh.from_array(np.array(v, dtype=np.float32), name)

# Conv with asymmetric pads, stride, dilation, groups, then Relu.
save("conv_asym_pads", [
    h.make_node("Conv", ["x", "w", "b"], ["c"], "conv", pads=[0, 1, 2, 1], strides=[2, 1], dilations=[1, 2], group=2),
    h.make_node("Relu", ["c"], ["y"], "relu"),
], [x(["batch", 4, 9, 9])], [x(None, "y")], [w("w", 6, 2, 3, 3), w("b", 6)])

# SAME_UPPER conv and a ceil_mode max pool.
save("same_pad_pool", [
    h.make_node("Conv", ["x", "w"], ["c"], "conv", auto_pad="SAME_UPPER", strides=[2, 2], kernel_shape=[3, 3]),
    h.make_node("MaxPool", ["c"], ["p"], "pool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    h.make_node("AveragePool", ["p"], ["y"], "avg", kernel_shape=[2, 2], pads=[1, 1, 0, 0], count_include_pad=1),
], [x([1, 3, 10, 10])], [x(None, "y")], [w("w", 4, 3, 3, 3)])

# The SE block as the TorchScript exporter writes it: shape arithmetic on the symbolic batch.
save("se_block_shape_arith", [
    h.make_node("Shape", ["x"], ["s"], "shape"),
    h.make_node("Constant", [], ["i0"], "c0", value=nh.from_array(np.array(0, dtype=np.int64))),
    h.make_node("Gather", ["s", "i0"], ["n"], "gather_n", axis=0),
    h.make_node("Shape", ["x"], ["s1"], "shape1"),
    h.make_node("Constant", [], ["i1"], "c1", value=nh.from_array(np.array(1, dtype=np.int64))),
    h.make_node("Gather", ["s1", "i1"], ["c"], "gather_c", axis=0),
    h.make_node("GlobalAveragePool", ["x"], ["gap"], "pool"),
    h.make_node("Flatten", ["gap"], ["f"], "flatten", axis=1),
    h.make_node("Gemm", ["f", "w1", "b1"], ["fc1"], "fc1", transB=1),
    h.make_node("Relu", ["fc1"], ["r"], "relu"),
    h.make_node("Gemm", ["r", "w2", "b2"], ["fc2"], "fc2", transB=1),
    h.make_node("Sigmoid", ["fc2"], ["gate"], "sigmoid"),
    h.make_node("Unsqueeze", ["n", "ax0"], ["un"], "unsq_n"),
    h.make_node("Unsqueeze", ["c", "ax0"], ["uc"], "unsq_c"),
    h.make_node("Concat", ["un", "uc", "one", "one"], ["shape4"], "concat", axis=0),
    h.make_node("Reshape", ["gate", "shape4"], ["g4"], "reshape"),
    h.make_node("Mul", ["x", "g4"], ["y"], "scale"),
], [x(["batch", 8, 4, 4])], [x(None, "y")],
    [w("w1", 2, 8), w("b1", 2), w("w2", 8, 2), w("b2", 8), i64("ax0", [0]), i64("one", [1])])

# Settings passed as inputs (opset 13+): Clip bounds, Squeeze/Unsqueeze axes, Pad, ReduceMean axes (18).
save("settings_as_inputs", [
    h.make_node("Clip", ["x", "lo", "hi"], ["c"], "relu6"),
    h.make_node("Pad", ["c", "pads", "pv"], ["p"], "pad", mode="constant"),
    h.make_node("ReduceMean", ["p", "axes"], ["m"], "mean", keepdims=0),
    h.make_node("Unsqueeze", ["m", "uax"], ["u"], "unsqueeze"),
    h.make_node("Squeeze", ["u", "uax"], ["s"], "squeeze"),
    h.make_node("Softmax", ["s"], ["y"], "softmax", axis=-1),
], [x([1, 3, 4, 4])], [x(None, "y")],
    [f32("lo", 0.0), f32("hi", 6.0), i64("pads", [0, 0, 1, 1, 0, 0, 1, 1]), f32("pv", 0.5), i64("axes", [2, 3]),
     i64("uax", [2])], opset=18)

# Opset 11 forms: attributes where later opsets use inputs.
save("opset11_attrs", [
    h.make_node("Unsqueeze", ["x"], ["u"], "unsqueeze", axes=[0]),
    h.make_node("Squeeze", ["u"], ["s"], "squeeze", axes=[0]),
    h.make_node("ReduceMean", ["s"], ["m"], "mean", axes=[-1], keepdims=1),
    h.make_node("HardSigmoid", ["m"], ["hs"], "hsig", alpha=0.25, beta=0.4),
    h.make_node("Transpose", ["hs"], ["y"], "transpose", perm=[1, 0]),
], [x([2, 5])], [x(None, "y")], opset=11)

# Every unsupported thing is reported at once.
save("unsupported_many", [
    h.make_node("LSTM", ["x", "w", "w"], ["l"], "lstm", hidden_size=2),
    h.make_node("Conv", ["x", "w"], ["c"], "conv", kernel_shape=[1], foo=3),
    h.make_node("MaxPool", ["c"], ["p", "idx"], "pool", kernel_shape=[2, 2], storage_order=2),
    h.make_node("Relu", ["p"], ["y"], "relu"),
], [x([1, 2, 4, 4])], [x(None, "y")], [w("w", 2, 2, 1, 1)])

# The cases below draw from their own generator, so the ones above keep their weights.
rng_old = rng
rng = np.random.default_rng(28)

# Opsets outside 7..=28.
save("opset_too_old", [h.make_node("Relu", ["x"], ["y"], "relu")], [x([1, 2])], [x(None, "y")], opset=6)
save("opset_too_new", [h.make_node("Relu", ["x"], ["y"], "relu")], [x([1, 2])], [x(None, "y")], opset=29)

# Opset 8 forms: BatchNormalization's `spatial`, Clip's and Pad's settings as attributes,
# Dropout's ratio attribute, MaxPool's storage_order, Softmax over the input viewed as 2-D
# (axis 1 of a 4-D input: reshapes around a softmax along the last axis).
save("opset8_forms", [
    h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], "bn", epsilon=1e-3, spatial=1),
    h.make_node("Clip", ["bn"], ["c"], "clip", min=-1.0, max=2.0),
    h.make_node("Pad", ["c"], ["p"], "pad", pads=[0, 0, 1, 0, 0, 0, 0, 1], value=0.5),
    h.make_node("Dropout", ["p"], ["d"], "dropout", ratio=0.3),
    h.make_node("MaxPool", ["d"], ["mp"], "pool", kernel_shape=[2, 2], strides=[2, 2], storage_order=1),
    h.make_node("Softmax", ["mp"], ["sm"], "softmax", axis=1),
    h.make_node("Flatten", ["sm"], ["f"], "flatten", axis=1),
    h.make_node("Gemm", ["f", "gw", "gc"], ["y"], "fc", transB=1),
], [x(["batch", 3, 4, 4])], [x(None, "y")],
    [w("s", 3), w("b", 3), w("m", 3), f32("v", [0.5, 1.0, 2.0]), w("gw", 5, 12), w("gc", 1, 5)], opset=8)

# Opset 8 BatchNormalization with spatial=0: statistics per activation, parameters [C,H,W]
# (a constant scale and shift).
save("bn_per_activation", [
    h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], "bn", spatial=0),
], [x([2, 3, 2, 2])], [x(None, "y")],
    [w("s", 3, 2, 2), w("b", 3, 2, 2), w("m", 3, 2, 2), f32("v", np.full((3, 2, 2), 0.25))], opset=8)

# Opset 9 shape arithmetic with Slice's attribute form: flatten all but the batch.
save("slice_opset9", [
    h.make_node("Shape", ["x"], ["s"], "shape"),
    h.make_node("Slice", ["s"], ["n"], "slice", starts=[0], ends=[1], axes=[0]),
    h.make_node("Concat", ["n", "minus1"], ["t"], "target", axis=0),
    h.make_node("Reshape", ["x", "t"], ["y"], "reshape"),
], [x(["batch", 3, 4, 4])], [x(None, "y")], [i64("minus1", [-1])], opset=9)

# Pooling over 1 and 3 spatial axes, dilated average pooling (opset 19), global pooling of a
# 3-D volume.
save("pool_nd", [
    h.make_node("AveragePool", ["x1"], ["y1"], "avg1d", kernel_shape=[3], strides=[2], dilations=[2], pads=[1, 1], count_include_pad=1),
    h.make_node("AveragePool", ["x2"], ["y2"], "avg2d_dilated", kernel_shape=[2, 2], dilations=[2, 2], ceil_mode=1),
    h.make_node("MaxPool", ["x3"], ["m3"], "max3d", kernel_shape=[2, 2, 2], strides=[1, 2, 2], dilations=[1, 1, 2], ceil_mode=1),
    h.make_node("GlobalAveragePool", ["m3"], ["y3"], "gap3d"),
], [x([1, 2, 9], "x1"), x([1, 2, 7, 7], "x2"), x([1, 2, 4, 5, 6], "x3")], [x(None, "y1"), x(None, "y2"), x(None, "y3")], opset=19)

# Reshape with allowzero of an empty tensor: a 0 in the target is an extent, not a copy.
save("reshape_allowzero_empty", [
    h.make_node("Reshape", ["x", "shape"], ["y"], "reshape", allowzero=1),
], [x([0, 3, 4])], [x(None, "y")], [i64("shape", [3, 4, 0])], opset=14)

# A 1-D convolution (a 2-D one of height 1 between an unsqueeze and a squeeze), and a Slice
# of a data tensor with a step.
save("conv1d_slice", [
    h.make_node("Conv", ["x", "w", "b"], ["c"], "conv1d", kernel_shape=[3], strides=[2], pads=[1, 1], dilations=[1]),
    h.make_node("Slice", ["c", "starts", "ends", "axes", "steps"], ["y"], "slice"),
], [x([1, 2, 10])], [x(None, "y")],
    [w("w", 3, 2, 3), w("b", 3), i64("starts", [1]), i64("ends", [-1]), i64("axes", [2]), i64("steps", [2])], opset=13)

# Gather of a data tensor with constant 2-D indices (one negative).
save("gather_data", [
    h.make_node("Gather", ["x", "idx"], ["y"], "gather", axis=1),
], [x([2, 5, 3])], [x(None, "y")], [i64("idx", [[0, 4], [-1, 1]])], opset=13)
rng = rng_old

# Malformed settings are errors naming the node, never panics: Pad with more axes than pads,
# and an initializer whose dims overflow.
big = onnx.TensorProto()
big.name = "huge"
big.data_type = T.FLOAT
big.dims.extend([1 << 40, 1 << 40, 1 << 40])
save("malformed_settings", [
    h.make_node("Pad", ["x", "pads", "", "axes"], ["p"], "pad"),
    h.make_node("Add", ["p", "huge"], ["y"], "add"),
], [x([1, 2, 3, 3])], [x(None, "y")], [i64("pads", [1, 1]), i64("axes", [2, 3]), big], opset=18)

# What tf2onnx writes for a TensorFlow conv: NHWC input, a Transpose around the NCHW Conv,
# and an `ai.onnx.ml` opset import no node uses (checked with FileCheck lines: .check).
g = h.make_graph([
    h.make_node("Transpose", ["x"], ["xt"], "conv/to_nchw", perm=[0, 3, 1, 2]),
    h.make_node("Conv", ["xt", "k", "kb"], ["c"], "conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    h.make_node("Transpose", ["c"], ["ct"], "conv/to_nhwc", perm=[0, 2, 3, 1]),
    h.make_node("Relu", ["ct"], ["y"], "relu"),
], "tf2onnx_style", [x(["unk__6", 8, 8, 3])], [x(None, "y")], [w("k", 4, 3, 3, 3), w("kb", 4)])
m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("ai.onnx.ml", 2)], producer_name="tf2onnx")
m.ir_version = 8
onnx.save(m, "tf2onnx_style.onnx")

# LeakyRelu after a conv: imported as leaky_relu with its alpha.
save("leaky_relu", [
    h.make_node("Conv", ["x", "w"], ["c"], "conv", kernel_shape=[1, 1]),
    h.make_node("LeakyRelu", ["c"], ["y"], "leaky", alpha=0.1),
], [x(["batch", 3, 4, 4])], [x(None, "y")], [w("w", 2, 3, 1, 1)])
# Split (the grouped convs MindSpore's ONNX export writes): opset 11 `split` attribute, opset 13
# `split` input (an output no node reads; an empty output name would crash onnxruntime 1.32), opset 18 `num_outputs` (the last part smaller). Own generator,
# so these files do not depend on the cases above.
rs = np.random.default_rng(11)
ws = lambda name, *shape: nh.from_array(rs.standard_normal(shape).astype(np.float32), name)
save("split_opset11", [
    h.make_node("Split", ["x"], ["s0", "s1", "s2"], "split", axis=1, split=[2, 2, 2]),
    h.make_node("Conv", ["s0", "w0"], ["c0"], "conv0"),
    h.make_node("Conv", ["s1", "w1"], ["c1"], "conv1"),
    h.make_node("Conv", ["s2", "w2"], ["c2"], "conv2"),
    h.make_node("Concat", ["c0", "c1", "c2"], ["y"], "concat", axis=1),
], [x([1, 6, 4, 4])], [x(None, "y")], [ws("w0", 2, 2, 1, 1), ws("w1", 2, 2, 1, 1), ws("w2", 2, 2, 1, 1)], opset=11)
save("split_opset13", [
    h.make_node("Split", ["x", "sizes"], ["a", "b", "c"], "split", axis=-1),
    h.make_node("Concat", ["c", "a"], ["y"], "concat", axis=-1),
], [x([2, 6])], [x(None, "y")], [i64("sizes", [1, 2, 3])], opset=13)
save("split_opset18", [
    h.make_node("Split", ["x"], ["a", "b", "c"], "split", axis=1, num_outputs=3),
    h.make_node("Concat", ["c", "b", "a"], ["y"], "concat", axis=1),
], [x([1, 8])], [x(None, "y")], opset=18)

# MaxPool's Indices (column-major, as storage_order=1 asks) next to its values, and Slice with
# negative steps (an end below -extent: through index 0). No weights, so no generator.
save("maxpool_indices_neg_slice", [
    h.make_node("MaxPool", ["x"], ["p", "idx"], "pool", kernel_shape=[2, 2], strides=[2, 2], storage_order=1),
    h.make_node("Slice", ["p", "starts", "ends", "axes", "steps"], ["y"], "flip"),
], [x([1, 2, 6, 6])], [x(None, "y"), h.make_tensor_value_info("idx", T.INT64, None)],
   [i64("starts", [-1, 2]), i64("ends", [-100, 0]), i64("axes", [3, 2]), i64("steps", [-1, -2])], opset=13)

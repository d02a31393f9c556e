#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/ from the repo's fixtures and the shared
corpus (SENETC_CORPUS, default ../shared beside the repo). Small files only: large fixtures
are cut or wrapped so each target's seeds stay within a few hundred KB. Needs numpy, onnx
and a built senetc (target/release/senetc) for the OM/AIR seeds.

    python3 fuzz/seed.py
"""
import glob, io, json, os, struct, subprocess, sys, tempfile, zipfile
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SENETC_CORPUS", os.path.join(os.path.dirname(ROOT), "shared"))
FIX = os.path.join(SHARED, "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX = 128 * 1024  # no seed larger than this


def put(target, name, data):
    if len(data) > MAX:
        print(f"skip {target}/{name}: {len(data)} bytes", file=sys.stderr)
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def split(a, b):
    return struct.pack("<I", len(a)) + a + b


# ONNX: the hand-made goldens, one model with external data in weights.bin.
for p in sorted(glob.glob(os.path.join(ROOT, "tests/golden/onnx/*.onnx"))):
    put("onnx", os.path.basename(p), read(p))
import onnx
from onnx import helper, TensorProto
w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 2, 1, 1])  # no values: they are external
w.data_location = TensorProto.EXTERNAL
for k, v in (("location", "weights.bin"), ("offset", "64"), ("length", "16")):
    e = w.external_data.add(); e.key = k; e.value = v
g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "ext",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
put("onnx", "external_data.onnx", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())

# TF bundles: [u32 index length][index][data]; full small checkpoints and index-only ones.
for d, prefix in (("tf2_ckpt_keras2", "weights"), ("tf2_ckpt", "module_ckpt"), ("tf2_ckpt", "ckpt-1"), ("tf1_ckpt", "model.ckpt")):
    idx = read(os.path.join(FIX, d, prefix + ".index"))
    data = read(os.path.join(FIX, d, prefix + ".data-00000-of-00001"))
    put("tf_bundle", f"{d}_{prefix}", split(idx, data))
    put("tf_bundle", f"{d}_{prefix}_index_only", split(idx, b""))

# TF graphs: 0 + frozen GraphDef, 1 + MetaGraphDef (a GraphDef wrapped as field 2), 2 + SavedModel.
for p in sorted(glob.glob(os.path.join(ROOT, "tests/golden/tf/*.pb"))):
    gd = read(p)
    put("tf_graph", "frozen_" + os.path.basename(p), b"\x00" + gd)
    meta = b"\x12" + varint(len(gd)) + gd
    put("tf_graph", "meta_" + os.path.basename(p), b"\x01" + meta)
    put("tf_graph", "saved_" + os.path.basename(p), b"\x02" + b"\x08\x01" + b"\x12" + varint(len(meta)) + meta)
put("tf_graph", "frozen_shared.pb", b"\x00" + read(os.path.join(FIX, "tf_frozen_pb/frozen.pb")))

# Pickles: data.pkl of the zip fixtures, the legacy stream's head, the refusal fixtures.
for p in [os.path.join(FIX, "pytorch/state_dict.pth"), os.path.join(FIX, "pytorch/checkpoint_dataparallel.pth"), os.path.join(FIX, "pytorch/full_model_pickle.pth")] + sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/torch/refuse/*.pth"))):
    try:
        z = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        put("torch_pickle", os.path.basename(p), read(p)[:16384])
        continue
    for n in z.namelist():
        if n.endswith("data.pkl"):
            put("torch_pickle", os.path.basename(p) + ".data.pkl", z.read(n))
put("torch_pickle", "state_dict_legacy_head", read(os.path.join(FIX, "pytorch/state_dict_legacy.pth"))[:8192])

# torch.save files: small archives made here (stored members, as torch writes them) and the refusal fixtures.
def torch_zip(storages, pkl, folder="archive"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(folder + "/data.pkl", pkl)
        z.writestr(folder + "/byteorder", b"little")
        for k, v in storages.items():
            z.writestr(f"{folder}/data/{k}", v)
        z.writestr(folder + "/version", b"3\n")
    return b.getvalue()

def state_dict_pickle(entries):
    """protocol 2 OrderedDict of name -> _rebuild_tensor_v2(storage pid, 0, size, stride)."""
    out = bytearray(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
    for i, (name, shape) in enumerate(entries):
        nb = name.encode()
        out += b"X" + struct.pack("<I", len(nb)) + nb
        out += b"ctorch._utils\n_rebuild_tensor_v2\n("
        out += b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX" + struct.pack("<I", len(str(i))) + str(i).encode() + b"X\x03\x00\x00\x00cpu"
        n = int(np.prod(shape)) if shape else 1
        out += b"J" + struct.pack("<i", n) + b"tQ"
        out += b"K\x00(" + b"".join(b"K" + bytes([d]) for d in shape) + b"t("
        st = [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
        out += b"".join(b"K" + bytes([s]) for s in st) + b"t\x89ccollections\nOrderedDict\n)Rtq" + bytes([i + 2]) + b"R"
    out += b"u."
    return bytes(out)

entries = [("conv.weight", [4, 2, 1, 1]), ("fc.bias", [3])]
pkl = state_dict_pickle(entries)
stor = {str(i): np.arange(int(np.prod(s)), dtype=np.float32).tobytes() for i, (_, s) in enumerate(entries)}
put("torch_zip", "small_state_dict.pth", torch_zip(stor, pkl))
put("torch_pickle", "small_state_dict.pkl", pkl)
for p in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/torch/refuse/*"))):
    if not p.endswith((".json", ".md")):
        put("torch_zip", os.path.basename(p), read(p))
put("torch_zip", "state_dict_legacy.pth", read(os.path.join(FIX, "pytorch/state_dict_legacy.pth")))

# safetensors: a small file made here, and the shared one.
def safetensors(tensors, meta=None):
    header, data = {}, b""
    for name, (dt, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data
put("safetensors", "small.safetensors", safetensors({"conv.weight": ("F32", np.ones((4, 2, 1, 1), np.float32)), "n": ("I64", np.array([3], np.int64)), "h": ("F16", np.ones(3, np.float16)), "s": ("I16", np.ones(2, np.int16))}, {"format": "pt"}))
put("safetensors", "model.safetensors", read(os.path.join(FIX, "pytorch/model.safetensors")))

# MindIR: [u32 model length][model][the split weights file].
put("mindir", "split", split(read(os.path.join(FIX, "mindir/split/tiny_se_resnet_graph.mindir")), read(os.path.join(FIX, "mindir/split/tiny_se_resnet_variables/data_0"))))
put("mindir", "split_no_data", split(read(os.path.join(FIX, "mindir/split/tiny_se_resnet_graph.mindir")), b""))
put("mindir", "inline", split(read(os.path.join(FIX, "mindir/tiny_se_resnet.mindir")), b""))
for p in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/mindir/*/*.mindir"))):
    put("mindir", os.path.basename(os.path.dirname(p)), split(read(p), b""))

# OM and AIR: senetc's own outputs for two small golden models.
senetc = os.path.join(ROOT, "target/release/senetc")
with tempfile.TemporaryDirectory() as t:
    for m in ("conv_asym_pads", "se_block_shape_arith"):
        for emit, sel in (("om", b"\x00"), ("air", b"\x01")):
            out = os.path.join(t, f"{m}.{emit}")
            r = subprocess.run([senetc, "compile", os.path.join(ROOT, f"tests/golden/onnx/{m}.onnx"), "--target", "ascend910", "--emit", emit, "-o", out], capture_output=True)
            if r.returncode == 0:
                put("om", f"{m}.{emit}", sel + read(out))
            else:
                print(r.stderr.decode(), file=sys.stderr)

# Text IR: every golden .sir.
for p in sorted(glob.glob(os.path.join(ROOT, "tests/golden/**/*.sir"), recursive=True)):
    put("sir", os.path.relpath(p, os.path.join(ROOT, "tests/golden")).replace("/", "_"), read(p))

# npy/npz: 0 + .npy, 1 + .npz.
for p in sorted(glob.glob(os.path.join(ROOT, "tests/golden/tf/*.npz")))[:4]:
    put("npy", os.path.basename(p), b"\x01" + read(p))
for arr in (np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(4, dtype=">i8"), np.ones((2, 2), np.float16, order="F"), np.array(True)):
    b = io.BytesIO(); np.save(b, arr); put("npy", f"{arr.dtype.str}_{arr.ndim}.npy".replace("<", "le").replace(">", "be").replace("|", ""), b"\x00" + b.getvalue())
b = io.BytesIO(); np.savez_compressed(b, x=np.ones((2, 3), np.float32)); put("npy", "compressed.npz", b"\x01" + b.getvalue())

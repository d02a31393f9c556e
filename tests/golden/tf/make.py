"""Writes the TensorFlow importer's golden inputs: small TF1 graphs, frozen to GraphDef .pb
files by TensorFlow itself (tensorflow-cpu 2.21, v1 graph mode). Each case is NAME.pb, with
NAME.args holding the import options one per line (`output-name=x`, `set=flag=true`,
`input-name=t`, `input-shape=x:1,8,8,3`) when it needs any. The expected IR (NAME.sir) or
error (NAME.err) is blessed by the Rust test: SENETC_BLESS=1 cargo test --release --test golden

    /tmp/venv-tf/bin/python tests/golden/tf/make.py
"""
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
tf1.disable_v2_behavior()
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def w(*shape):
    return tf1.constant(rng.standard_normal(shape).astype(np.float32) * 0.5)


def save(name, outputs, args=(), feed=None, pins=None):
    """Write NAME.pb (and NAME.args); with `feed` (placeholder -> shape), also NAME.npz
    holding `input` and TensorFlow's value of every output (`output0`, ...)."""
    g = tf1.get_default_graph()
    gd = g.as_graph_def()
    with open(os.path.join(HERE, name + ".pb"), "wb") as f:
        f.write(gd.SerializeToString())
    if args:
        with open(os.path.join(HERE, name + ".args"), "w") as f:
            f.write("\n".join(args) + "\n")
    if feed:
        (ph, shape), = feed.items()
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        fetch = [t if isinstance(t, tf.Tensor) else g.get_tensor_by_name(t + ":0") for t in outputs]
        with tf1.Session(graph=g) as sess:
            vals = sess.run(fetch, {ph + ":0": x, **{k + ":0": v for k, v in (pins or {}).items()}})
        np.savez(os.path.join(HERE, name + ".npz"), input=x, **{f"output{i}": v for i, v in enumerate(vals)})
    print(name, len(gd.node), "nodes ->", outputs)


def case(fn):
    tf1.reset_default_graph()
    fn()
    return fn


@case
def conv_padding():
    # SAME on even inputs pads asymmetrically: 3x3 s2 on 8 -> (0, 1); 5x5 s2 on 8 -> (1, 2).
    x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
    a = tf1.nn.conv2d(x, w(3, 3, 3, 4), strides=[1, 2, 2, 1], padding="SAME", name="same_3x3_s2")
    b = tf1.nn.conv2d(x, w(5, 5, 3, 4), strides=[1, 2, 2, 1], padding="SAME", name="same_5x5_s2")
    c = tf1.nn.conv2d(x, w(3, 3, 3, 4), strides=[1, 1, 1, 1], padding="VALID", dilations=[1, 2, 2, 1], name="valid_dilated")
    d = tf1.nn.conv2d(x, w(3, 3, 3, 4), strides=[1, 2, 2, 1], padding=[[0, 0], [1, 2], [0, 1], [0, 0]], name="explicit")
    g = tf1.nn.conv2d(x, w(1, 1, 1, 6), strides=1, padding="VALID", name="grouped")  # 3 groups of 1 channel
    y = tf1.concat([a, b], axis=3, name="ab")
    save("conv_padding", [y, c, d, g], ["output-name=ab", "output-name=valid_dilated", "output-name=explicit", "output-name=grouped"], feed={"x": [1, 8, 8, 3]})


@case
def depthwise_bn_activations():
    x = tf1.placeholder(tf.float32, [1, 8, 8, 4], name="x")
    y = tf1.nn.depthwise_conv2d(x, w(3, 3, 4, 2), strides=[1, 2, 2, 1], padding="SAME", name="dw")
    y, _, _ = tf1.nn.fused_batch_norm(y, w(8), w(8), mean=w(8), variance=tf1.abs(w(8)) + 0.5, epsilon=1e-3, is_training=False, name="bn")
    y = tf1.nn.relu6(y, name="relu6")
    e = tf1.nn.elu(y, name="elu")
    t = tf1.nn.tanh(y, name="tanh")
    m = tf1.maximum(e, t, name="maximum")
    n = tf1.minimum(m, 0.5, name="clip_max")
    # Keras-style unfused batch norm on constants: x * (gamma * rsqrt(var + eps)) + (beta - mean * ...)
    inv = tf1.math.rsqrt(tf1.abs(w(8)) + 1e-3) * w(8)
    z = tf1.add(n * inv, w(8) - w(8) * inv, name="unfused_bn")
    save("depthwise_bn_activations", [z], feed={"x": [1, 8, 8, 4]})


@case
def se_blocks():
    # SE-ResNet style: Mean -> dense (no bias) -> relu -> dense -> sigmoid -> reshape -> mul;
    # EfficientNet style: Mean keepdims -> 1x1 conv + bias -> swish (IdentityN) -> 1x1 conv -> sigmoid -> mul.
    x = tf1.placeholder(tf.float32, [None, 4, 4, 8], name="x")
    s = tf1.reduce_mean(x, axis=[1, 2], keepdims=False, name="se1/mean")
    s = tf1.nn.relu(tf1.matmul(s, w(8, 2)), name="se1/relu")
    s = tf1.nn.sigmoid(tf1.matmul(s, w(2, 8)), name="se1/sigmoid")
    y = tf1.multiply(x, tf1.reshape(s, [-1, 1, 1, 8]), name="se1/mul")
    s = tf1.reduce_mean(y, axis=[1, 2], keepdims=True, name="se2/mean")
    s = tf1.nn.bias_add(tf1.nn.conv2d(s, w(1, 1, 8, 2), 1, "SAME"), w(2), name="se2/reduce")
    beta = tf1.constant(1.0, name="se2/beta")
    sw = s * tf1.nn.sigmoid(beta * s)
    s = tf1.identity_n([sw, s, beta], name="se2/swish")[0]
    s = tf1.nn.sigmoid(tf1.nn.bias_add(tf1.nn.conv2d(s, w(1, 1, 2, 8), 1, "SAME"), w(8)), name="se2/gate")
    y = tf1.multiply(s, y, name="se2/mul")
    save("se_blocks", [y], feed={"x": [2, 4, 4, 8]})


@case
def pools_and_head():
    # MobileNet's tail: AvgPool 7x7 VALID -> 1x1 conv + bias -> Squeeze [1,2] -> softmax via Reshape.
    x = tf1.placeholder(tf.float32, [None, 7, 7, 4], name="x")
    m = tf1.nn.max_pool2d(x, 3, 2, "SAME", name="maxpool")
    p = tf1.nn.avg_pool2d(x, 7, 2, "VALID", name="avgpool")
    logits = tf1.squeeze(tf1.nn.bias_add(tf1.nn.conv2d(p, w(1, 1, 4, 5), 1, "SAME"), w(5)), [1, 2], name="SpatialSqueeze")
    flat = tf1.reshape(logits, [-1, 5])
    probs = tf1.reshape(tf1.nn.softmax(flat), tf1.shape(logits), name="Predictions")
    mx = tf1.reduce_max(m, axis=[1, 2], name="globalmax")
    save("pools_and_head", [probs, mx], ["output-name=Predictions", "output-name=globalmax"], feed={"x": [1, 7, 7, 4]})


@case
def shape_arithmetic():
    x = tf1.placeholder(tf.float32, [None, 4, 4, 3], name="x")
    sh = tf1.shape(x)
    flat = tf1.reshape(x, tf1.stack([sh[0], tf1.reduce_prod(sh[1:])]), name="flatten")
    y = tf1.matmul(flat, w(5, 48), transpose_b=True, name="dense_tb")
    y = tf1.add_n([y, y, y * 0.5], name="addn")
    e = tf1.expand_dims(tf1.expand_dims(y, 1), 1, name="expand")
    t = tf1.transpose(x, [0, 3, 1, 2], name="transpose")
    p = tf1.pad(x, [[0, 0], [1, 1], [2, 0], [0, 0]], name="pad")
    pv = tf1.pad(x, [[0, 0], [1, 0], [0, 1], [0, 0]], constant_values=0.5, name="padv2")
    mp = tf1.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT", name="mirrorpad")
    c = tf1.cast(tf1.concat([p, mp], axis=3), tf.float32, name="concat")
    save("shape_arithmetic", [e, t, pv, c], ["output-name=expand", "output-name=transpose", "output-name=padv2", "output-name=concat"], feed={"x": [2, 4, 4, 3]})


@case
def cond_is_training():
    # tf.cond on an is_training PlaceholderWithDefault(True) (slim's batch_norm and dropout
    # under a placeholder): the inference branch is taken; dropout becomes the identity.
    x = tf1.placeholder(tf.float32, [None, 4, 4, 3], name="x")
    is_training = tf1.placeholder_with_default(True, [], name="is_training")
    g, b, m, v = w(3), w(3), w(3), tf1.abs(w(3)) + 0.5

    def train():
        return tf1.nn.fused_batch_norm(x, g, b, epsilon=1e-3, is_training=True)[0]

    def infer():
        return tf1.nn.fused_batch_norm(x, g, b, mean=m, variance=v, epsilon=1e-3, is_training=False)[0]

    y = tf1.cond(is_training, train, infer, name="bn_cond")
    y = tf1.cond(is_training, lambda: tf1.nn.dropout(y, rate=0.2), lambda: tf1.identity(y), name="dropout_cond")
    save("cond_is_training", [y], ["set=is_training=false"], feed={"x": [1, 4, 4, 3]}, pins={"is_training": False})
    # Without --set, the name tells senetc is_training is the training flag.
    save("cond_is_training_by_name", [y])


@case
def cond_needs_set():
    # The predicate is a plain bool placeholder: senetc cannot tell which branch is inference.
    x = tf1.placeholder(tf.float32, [None, 3], name="x")
    flag = tf1.placeholder(tf.bool, [], name="use_gelu")
    y = tf1.cond(flag, lambda: tf1.nn.sigmoid(x), lambda: tf1.nn.relu(x), name="act")
    save("cond_needs_set", [y])
    save("cond_pinned", [y], ["set=use_gelu=false"], feed={"x": [1, 3]}, pins={"use_gelu": False})


@case
def dropout_forms():
    # Dropout as training graphs have it: TF2's SelectV2 form, TF1's floor(keep + uniform) form.
    x = tf1.placeholder(tf.float32, [None, 8], name="x")
    y = tf1.nn.dropout(x, rate=0.3, name="select_form")
    keep = 0.8
    mask = tf1.floor(keep + tf1.random.uniform(tf1.shape(y)), name="floor_form/mask")
    y = tf1.multiply(tf1.math.divide(y, keep), mask, name="floor_form/mul")
    y = tf1.nn.relu(y, name="out")
    # At inference both are the identity: TensorFlow's value of relu(x) is the expectation.
    ref = tf1.nn.relu(x, name="reference")
    save("dropout_forms", [ref], ["output-name=out"], feed={"x": [2, 8]})


@case
def random_noise():
    # Gaussian noise is not dropout: refused with the eval-graph hint.
    x = tf1.placeholder(tf.float32, [None, 8], name="x")
    y = tf1.nn.relu(x + tf1.random.normal(tf1.shape(x), stddev=0.1), name="out")
    save("random_noise", [y])


@case
def ambiguous_outputs():
    x = tf1.placeholder(tf.float32, [None, 8], name="x")
    tf1.nn.relu(x, name="a")
    tf1.nn.sigmoid(x, name="b")
    save("ambiguous_outputs", ["a", "b"])


@case
def unsupported_op():
    x = tf1.placeholder(tf.float32, [None, 8], name="x")
    y = tf1.math.cumsum(x, axis=1, name="cumsum")
    tf1.nn.relu(y, name="out")
    save("unsupported_op", ["out"])


@case
def cut_at_tensor():
    # --input-name cuts the graph (the normalization of raw pixels stays out).
    x = tf1.placeholder(tf.float32, [None, 4, 4, 3], name="pixels")
    n = tf1.math.truediv(x - 127.5, 58.0, name="normalized")
    y = tf1.nn.relu(tf1.nn.conv2d(n, w(3, 3, 3, 2), 1, "SAME"), name="out")
    save("cut_at_tensor", [y], ["input-name=normalized"], feed={"normalized": [1, 4, 4, 3]})


@case
def iterator_batch():
    # A tf.data pipeline with a static training batch of 16: the iterator's output becomes
    # the input with a symbolic batch, and the shape constant [16, 48] of a reshape is read
    # as [batch, 48], so the graph runs at any batch.
    ds = tf1.data.Dataset.from_tensors(np.zeros([4, 4, 3], np.float32)).repeat().batch(16, drop_remainder=True)
    x = tf1.data.make_one_shot_iterator(ds).get_next()
    y = tf1.reshape(tf1.nn.relu(x), [16, 48], name="flatten")
    y = tf1.matmul(y, w(48, 5), name="logits")
    save("iterator_batch", [y], feed={"IteratorGetNext": [16, 4, 4, 3]})

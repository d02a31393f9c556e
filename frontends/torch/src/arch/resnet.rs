//! The ResNet family: Cadene's SENet154 and SE-ResNeXt50 (`pretrainedmodels.models.senet`,
//! what the Ascend SENet154 recipe trains), timm's SE-ResNeXt50, the CIFAR SE-ResNet110 of
//! the corpus and the tiny fixture net. The spec fixes blocks, strides, kernel sizes and
//! where SE sits; widths, groups and classes come from the weights. A block has a
//! projection shortcut exactly when torch builds one: stride != 1 or the channels change.

use super::net::{Act, Groups, Net, X};
use senetc_ir::ops::*;
use senetc_ir::Op;

/// Which member of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Cadene `senet154`: SEBottleneck [3, 8, 36, 3], 3x3 stem, 3x3 shortcut convs after layer1.
    CadeneSenet154,
    /// Cadene `se_resnext50_32x4d`: SEResNeXtBottleneck [3, 4, 6, 3], 7x7 stem, 1x1 shortcuts.
    CadeneSeResNeXt50,
    /// timm `seresnext50_32x4d`: Bottleneck [3, 4, 6, 3] with SEModule.
    TimmSeResNeXt50,
    /// timm `senet154`: Bottleneck [3, 8, 36, 3] with SEModule, deep 3x3 stem, 3x3 shortcut
    /// convs where the stride is 2.
    TimmSenet154,
    /// The corpus SE-ResNet110 for CIFAR-10: 3 stages of 18 SE basic blocks.
    CifarSeResNet110,
    /// The tiny SE-ResNet of the shared fixtures.
    Tiny,
}

/// Build `v` on `x` (the image input); returns the logits.
pub fn build(net: &mut Net<'_>, v: Variant, x: X) -> X {
    match v {
        Variant::CadeneSenet154 => cadene(net, x, [3, 8, 36, 3], true, 3),
        Variant::CadeneSeResNeXt50 => cadene(net, x, [3, 4, 6, 3], false, 1),
        Variant::TimmSeResNeXt50 => timm(net, x, [3, 4, 6, 3], false, 1),
        Variant::TimmSenet154 => timm(net, x, [3, 8, 36, 3], true, 3),
        Variant::CifarSeResNet110 => cifar(net, x, 18),
        Variant::Tiny => tiny(net, x),
    }
}

/// Whether torch built a projection shortcut: stride or channels change. When a failed
/// weight left a channel count unknown, the file decides.
fn needs_shortcut(net: &Net<'_>, x: X, main: X, stride: usize, weight: &str) -> bool {
    match (x.c, main.c) {
        (Some(a), Some(b)) => stride != 1 || a != b,
        _ => stride != 1 || net.has(weight),
    }
}

fn maxpool(k: usize, s: usize, p: usize, ceil_mode: bool) -> Op {
    Op::MaxPool(MaxPool { kernel: vec![k, k], strides: vec![s, s], pads: vec![p; 4], ceil_mode, ..MaxPool::default() })
}

fn gap() -> Op {
    Op::GlobalAveragePool(GlobalAveragePool::default())
}

fn spatial_mean(keepdims: bool) -> Op {
    Op::ReduceMean(ReduceMean { axes: vec![2, 3], keepdims })
}

fn flatten() -> Op {
    Op::Flatten(Flatten { axis: 1 })
}

/// SE with 1x1 convs: pool, fc1, act, fc2, sigmoid, x * gate (named after the module).
fn se_conv(net: &mut Net<'_>, x: X, m: &str, pool: (&str, Op), names: [&str; 4]) -> X {
    let [fc1, act, fc2, gate] = names;
    let s = net.op(x, &format!("{m}.{}", pool.0), pool.1);
    let s = net.conv(s, &format!("{m}.{fc1}"), 1, 1, Groups::One, true);
    let s = net.act(s, &format!("{m}.{act}"), Act::Relu);
    let s = net.conv(s, &format!("{m}.{fc2}"), 1, 1, Groups::One, true);
    let s = net.act(s, &format!("{m}.{gate}"), Act::Sigmoid);
    net.mul(x, s, m)
}

/// Cadene's SENet: `layer0` stem, `layer1..4` of bottlenecks, AvgPool2d(7), `last_linear`.
fn cadene(net: &mut Net<'_>, x: X, layers: [usize; 4], stem3x3: bool, down_k: usize) -> X {
    let mut x = if stem3x3 {
        let mut x = x;
        for (i, s) in [(1, 2), (2, 1), (3, 1)] {
            x = net.conv(x, &format!("layer0.conv{i}"), 3, s, Groups::One, false);
            x = net.bn(x, &format!("layer0.bn{i}"));
            x = net.act(x, &format!("layer0.relu{i}"), Act::Relu);
        }
        x
    } else {
        let x = net.conv(x, "layer0.conv1", 7, 2, Groups::One, false);
        let x = net.bn(x, "layer0.bn1");
        net.act(x, "layer0.relu1", Act::Relu)
    };
    x = net.op(x, "layer0.pool", maxpool(3, 2, 0, true));
    for (li, &blocks) in layers.iter().enumerate() {
        for b in 0..blocks {
            let p = format!("layer{}.{b}", li + 1);
            let stride = if b == 0 && li > 0 { 2 } else { 1 };
            // Cadene's _make_layer: layer1's shortcut is always 1x1.
            let dk = if li == 0 { 1 } else { down_k };
            let t = net.conv(x, &format!("{p}.conv1"), 1, 1, Groups::One, false);
            let t = net.bn(t, &format!("{p}.bn1"));
            let t = net.act(t, &format!("{p}.relu"), Act::Relu);
            let t = net.conv(t, &format!("{p}.conv2"), 3, stride, Groups::FromShape, false);
            let t = net.bn(t, &format!("{p}.bn2"));
            let t = net.act(t, &format!("{p}.relu_1"), Act::Relu);
            let t = net.conv(t, &format!("{p}.conv3"), 1, 1, Groups::One, false);
            let t = net.bn(t, &format!("{p}.bn3"));
            let t = se_conv(net, t, &format!("{p}.se_module"), ("avg_pool", gap()), ["fc1", "relu", "fc2", "sigmoid"]);
            let r = if needs_shortcut(net, x, t, stride, &format!("{p}.downsample.0.weight")) {
                let r = net.conv(x, &format!("{p}.downsample.0"), dk, stride, Groups::One, false);
                net.bn(r, &format!("{p}.downsample.1"))
            } else {
                x
            };
            let y = net.add(t, r, &format!("{p}.add"));
            x = net.act(y, &format!("{p}.relu_2"), Act::Relu);
        }
    }
    if let Some((h, w)) = net.hw(x) {
        if (h, w) != (7, 7) {
            net.problem("avg_pool", "AvgPool2d(7)", format!("needs the 7x7 feature map of a 224x224 input (as Cadene's logits() views it), got {h}x{w}: set --input-size 224"));
            return X { o: None, c: x.c };
        }
    }
    let x = net.op(x, "avg_pool", Op::AveragePool(AveragePool { kernel: vec![7, 7], strides: vec![1, 1], pads: vec![0; 4], ..AveragePool::default() }));
    let x = net.op(x, "view", flatten());
    net.linear(x, "last_linear")
}

/// timm's ResNet with SE bottlenecks (`seresnext50_32x4d`; `senet154` with the deep stem
/// `conv1.0..6` and `down_k`-wide shortcut convs where the stride is 2).
fn timm(net: &mut Net<'_>, x: X, layers: [usize; 4], deep_stem: bool, down_k: usize) -> X {
    let x = if deep_stem {
        let x = net.conv(x, "conv1.0", 3, 2, Groups::One, false);
        let x = net.bn(x, "conv1.1");
        let x = net.act(x, "conv1.2", Act::Relu);
        let x = net.conv(x, "conv1.3", 3, 1, Groups::One, false);
        let x = net.bn(x, "conv1.4");
        let x = net.act(x, "conv1.5", Act::Relu);
        net.conv(x, "conv1.6", 3, 1, Groups::One, false)
    } else {
        net.conv(x, "conv1", 7, 2, Groups::One, false)
    };
    let x = net.bn(x, "bn1");
    let x = net.act(x, "act1", Act::Relu);
    let mut x = net.op(x, "maxpool", maxpool(3, 2, 1, false));
    for (li, &blocks) in layers.iter().enumerate() {
        for b in 0..blocks {
            let p = format!("layer{}.{b}", li + 1);
            let stride = if b == 0 && li > 0 { 2 } else { 1 };
            let t = net.conv(x, &format!("{p}.conv1"), 1, 1, Groups::One, false);
            let t = net.bn(t, &format!("{p}.bn1"));
            let t = net.act(t, &format!("{p}.act1"), Act::Relu);
            let t = net.conv(t, &format!("{p}.conv2"), 3, stride, Groups::FromShape, false);
            let t = net.bn(t, &format!("{p}.bn2"));
            let t = net.act(t, &format!("{p}.act2"), Act::Relu);
            let t = net.conv(t, &format!("{p}.conv3"), 1, 1, Groups::One, false);
            let t = net.bn(t, &format!("{p}.bn3"));
            let t = se_conv(net, t, &format!("{p}.se"), ("mean", spatial_mean(true)), ["fc1", "act", "fc2", "gate"]);
            let r = if needs_shortcut(net, x, t, stride, &format!("{p}.downsample.0.weight")) {
                // timm's downsample_conv: a 1x1 conv where the stride is 1.
                let k = if stride == 1 { 1 } else { down_k };
                let r = net.conv(x, &format!("{p}.downsample.0"), k, stride, Groups::One, false);
                net.bn(r, &format!("{p}.downsample.1"))
            } else {
                x
            };
            let y = net.add(t, r, &format!("{p}.add"));
            x = net.act(y, &format!("{p}.act3"), Act::Relu);
        }
    }
    let x = net.op(x, "global_pool.pool", gap());
    let x = net.op(x, "global_pool.flatten", flatten());
    net.linear(x, "fc")
}

/// SE with linear layers on the pooled vector, its gate viewed back to [N, C, 1, 1].
fn se_linear(net: &mut Net<'_>, x: X, m: &str) -> X {
    let s = net.op(x, &format!("{m}.pool"), gap());
    let s = net.op(s, &format!("{m}.flatten"), flatten());
    let s = net.linear(s, &format!("{m}.fc1"));
    let s = net.act(s, &format!("{m}.relu"), Act::Relu);
    let s = net.linear(s, &format!("{m}.fc2"));
    let s = net.act(s, &format!("{m}.sigmoid"), Act::Sigmoid);
    let c = s.c.map_or(-1, |c| c as i64);
    let s = net.op(s, &format!("{m}.view"), Op::Reshape(Reshape { shape: vec![0, c, 1, 1], allowzero: false }));
    net.mul(x, s, m)
}

/// The corpus SE-ResNet110 (`shared/models/make_models.py`, SEResNetCifar).
fn cifar(net: &mut Net<'_>, x: X, per_stage: usize) -> X {
    let x = net.conv(x, "conv1", 3, 1, Groups::One, false);
    let x = net.bn(x, "bn1");
    let mut x = net.act(x, "relu", Act::Relu);
    for i in 0..3 * per_stage {
        let p = format!("layers.{i}");
        let stride = if i > 0 && i % per_stage == 0 { 2 } else { 1 };
        let t = net.conv(x, &format!("{p}.conv1"), 3, stride, Groups::One, false);
        let t = net.bn(t, &format!("{p}.bn1"));
        let t = net.act(t, &format!("{p}.relu"), Act::Relu);
        let t = net.conv(t, &format!("{p}.conv2"), 3, 1, Groups::One, false);
        let t = net.bn(t, &format!("{p}.bn2"));
        let t = se_linear(net, t, &format!("{p}.se"));
        let r = if needs_shortcut(net, x, t, stride, &format!("{p}.down.0.weight")) {
            let r = net.conv(x, &format!("{p}.down.0"), 1, stride, Groups::One, false);
            net.bn(r, &format!("{p}.down.1"))
        } else {
            x
        };
        let y = net.add(t, r, &format!("{p}.add"));
        x = net.act(y, &format!("{p}.relu_1"), Act::Relu);
    }
    let x = net.op(x, "pool", gap());
    let x = net.op(x, "flatten", flatten());
    net.linear(x, "fc")
}

/// The tiny SE-ResNet of `shared/fixtures/gen` (torch_gen.py): a stem, one block whose SE
/// uses 1x1 convs, one stride-2 block whose SE uses linear layers, a linear head.
fn tiny(net: &mut Net<'_>, x: X) -> X {
    let x = net.conv(x, "stem.conv", 3, 1, Groups::One, false);
    let x = net.bn(x, "stem.bn");
    let x = net.act(x, "stem.relu", Act::Relu);
    // block1: identity shortcut.
    let t = net.conv(x, "block1.conv1", 3, 1, Groups::One, false);
    let t = net.bn(t, "block1.bn1");
    let t = net.act(t, "block1.relu", Act::Relu);
    let t = net.conv(t, "block1.conv2", 3, 1, Groups::One, false);
    let t = net.bn(t, "block1.bn2");
    let t = se_conv(net, t, "block1.se", ("mean", spatial_mean(true)), ["fc1", "relu", "fc2", "sigmoid"]);
    let y = net.add(t, x, "block1.add");
    let x = net.act(y, "block1.relu_1", Act::Relu);
    // block2: stride 2, projection shortcut, SE on the pooled vector.
    let t = net.conv(x, "block2.conv1", 3, 2, Groups::One, false);
    let t = net.bn(t, "block2.bn1");
    let t = net.act(t, "block2.relu", Act::Relu);
    let t = net.conv(t, "block2.conv2", 3, 1, Groups::One, false);
    let t = net.bn(t, "block2.bn2");
    let s = net.op(t, "block2.se.mean", spatial_mean(false));
    let s = net.linear(s, "block2.se.fc1");
    let s = net.act(s, "block2.se.relu", Act::Relu);
    let s = net.linear(s, "block2.se.fc2");
    let s = net.act(s, "block2.se.sigmoid", Act::Sigmoid);
    let s = net.op(s, "block2.se.unsqueeze", Op::Unsqueeze(Unsqueeze { axes: vec![2] }));
    let s = net.op(s, "block2.se.unsqueeze_1", Op::Unsqueeze(Unsqueeze { axes: vec![3] }));
    let t = net.mul(t, s, "block2.se");
    let r = net.conv(x, "block2.shortcut.conv", 1, 2, Groups::One, false);
    let r = net.bn(r, "block2.shortcut.bn");
    let y = net.add(t, r, "block2.add");
    let x = net.act(y, "block2.relu_1", Act::Relu);
    let x = net.op(x, "mean", spatial_mean(false));
    net.linear(x, "fc")
}

//! timm's EfficientNet family (`timm.models.efficientnet`): EfficientNet-B0 and
//! MobileNetV1. The stage table fixes block kinds, repeats, kernel sizes, strides and SE;
//! widths, the SE width and classes come from the weights, and a block adds its input back
//! exactly when timm's `has_skip` holds (stride 1, same channels, skips allowed).

use super::net::{Act, Groups, Net, X};
use senetc_ir::ops::*;
use senetc_ir::Op;

/// A block kind of timm's arch strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// `ds`: depthwise conv, SE, pointwise conv (no activation after it).
    Ds,
    /// `dsa`: depthwise conv, pointwise conv with activation, never a skip (MobileNetV1).
    Dsa,
    /// `ir`: inverted residual: pointwise expansion, depthwise conv, SE, pointwise projection.
    Ir,
}

/// One stage: kind, repeats, kernel, stride of its first block, SE.
type Stage = (Block, usize, usize, usize, bool);

/// Which member of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `efficientnet_b0`.
    EfficientNetB0,
    /// `mobilenetv1_100`.
    MobileNetV1,
}

#[rustfmt::skip]
const B0: &[Stage] = &[
    (Block::Ds, 1, 3, 1, true),
    (Block::Ir, 2, 3, 2, true),
    (Block::Ir, 2, 5, 2, true),
    (Block::Ir, 3, 3, 2, true),
    (Block::Ir, 3, 5, 1, true),
    (Block::Ir, 4, 5, 2, true),
    (Block::Ir, 1, 3, 1, true),
];

#[rustfmt::skip]
const MOBILENET_V1: &[Stage] = &[
    (Block::Dsa, 1, 3, 1, false),
    (Block::Dsa, 2, 3, 2, false),
    (Block::Dsa, 2, 3, 2, false),
    (Block::Dsa, 6, 3, 2, false),
    (Block::Dsa, 2, 3, 2, false),
];

/// Build `v` on `x` (the image input); returns the logits.
pub fn build(net: &mut Net<'_>, v: Variant, x: X) -> X {
    let (stages, act, head_conv) = match v {
        Variant::EfficientNetB0 => (B0, Act::Silu, true),
        Variant::MobileNetV1 => (MOBILENET_V1, Act::Relu6, false),
    };
    let x = net.conv(x, "conv_stem", 3, 2, Groups::One, false);
    let mut x = bn_act(net, x, "bn1", Some(act));
    for (si, &(kind, repeats, k, stride, se)) in stages.iter().enumerate() {
        for b in 0..repeats {
            let p = format!("blocks.{si}.{b}");
            let s = if b == 0 { stride } else { 1 };
            x = block(net, x, &p, kind, k, s, se, act);
        }
    }
    if head_conv {
        x = net.conv(x, "conv_head", 1, 1, Groups::One, false);
        x = bn_act(net, x, "bn2", Some(act));
    }
    let x = net.op(x, "global_pool.pool", Op::GlobalAveragePool(GlobalAveragePool::default()));
    let x = net.op(x, "global_pool.flatten", Op::Flatten(Flatten { axis: 1 }));
    net.linear(x, "classifier")
}

/// timm's BatchNormAct2d: the norm, then its activation (`<m>.act`).
fn bn_act(net: &mut Net<'_>, x: X, m: &str, act: Option<Act>) -> X {
    let x = net.bn(x, m);
    match act {
        Some(a) => net.act(x, &format!("{m}.act"), a),
        None => x,
    }
}

#[allow(clippy::too_many_arguments)]
fn block(net: &mut Net<'_>, x: X, p: &str, kind: Block, k: usize, stride: usize, se: bool, act: Act) -> X {
    let mut t = x;
    if kind == Block::Ir {
        t = net.conv(t, &format!("{p}.conv_pw"), 1, 1, Groups::One, false);
        t = bn_act(net, t, &format!("{p}.bn1"), Some(act));
    }
    t = net.conv(t, &format!("{p}.conv_dw"), k, stride, Groups::Depthwise, false);
    t = bn_act(net, t, &format!("{p}.{}", if kind == Block::Ir { "bn2" } else { "bn1" }), Some(act));
    if se {
        t = squeeze_excite(net, t, &format!("{p}.se"), act);
    }
    let (pw, bn, pw_act) = match kind {
        Block::Ir => ("conv_pwl", "bn3", None),
        Block::Ds => ("conv_pw", "bn2", None),
        Block::Dsa => ("conv_pw", "bn2", Some(act)),
    };
    t = net.conv(t, &format!("{p}.{pw}"), 1, 1, Groups::One, false);
    t = bn_act(net, t, &format!("{p}.{bn}"), pw_act);
    let skip = kind != Block::Dsa && stride == 1 && x.c.is_some() && x.c == t.c;
    if skip {
        net.add(t, x, &format!("{p}.add"))
    } else {
        t
    }
}

/// timm's SqueezeExcite: mean, conv_reduce, act1, conv_expand, gate, x * gate.
fn squeeze_excite(net: &mut Net<'_>, x: X, m: &str, act: Act) -> X {
    let s = net.op(x, &format!("{m}.mean"), Op::ReduceMean(ReduceMean { axes: vec![2, 3], keepdims: true }));
    let s = net.conv(s, &format!("{m}.conv_reduce"), 1, 1, Groups::One, true);
    let s = net.act(s, &format!("{m}.act1"), act);
    let s = net.conv(s, &format!("{m}.conv_expand"), 1, 1, Groups::One, true);
    let s = net.act(s, &format!("{m}.gate"), Act::Sigmoid);
    net.mul(x, s, m)
}

//! BatchNorm folding. A batch norm (or a per-channel constant Mul/Add, as TensorFlow and
//! MindSpore graphs write it) that follows a convolution or a fully connected layer is
//! folded into that layer's weights and bias; a batch norm that follows anything else (a
//! pre-activation network's BN -> ReLU -> conv, a BN on the input image) becomes one
//! per-channel `scale_shift`, with the activation that follows it fused in, so no
//! BatchNormalization survives.

use crate::manager::PassReport;
use crate::util::{const_of, derived_name, single_use};
use senetc_ir::ops::{FusedAct, Gemm, ScaleShift};
use senetc_ir::{DType, Graph, NodeId, Op, Outlet, Tensor};

/// Per-channel affine map y = scale * x + shift, folded from a BN or a Mul/Add.
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

/// Fold batch norms and per-channel affine constants into the preceding conv or gemm.
pub fn fold_bn(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        if !g.contains(id) {
            continue;
        }
        let ins = g.inputs_of(id);
        let Some(affine) = affine_of(g, id, &ins) else { continue };
        let src = ins[0];
        let producer = src.node;
        let foldable = single_use(g, src)
            && match &g.node(producer).op {
                Op::Conv(c) => c.act == FusedAct::None && channels_of_conv(g, producer) == Some(affine.scale.len()),
                Op::Gemm(m) => gemm_out_features(g, producer, m) == Some(affine.scale.len()),
                Op::MatMul(_) => matmul_as_gemm(g, producer).is_some_and(|n| n == affine.scale.len()),
                _ => false,
            };
        let kind = if matches!(g.node(id).op, Op::BatchNorm(_)) { "batch_norm" } else { "per-channel affine" };
        if foldable {
            if let Some(new) = fold_into(g, producer, &affine) {
                let sources = senetc_ir::merged_sources([g.node(producer), g.node(id)]);
                g.node_mut(new.node).set_sources(sources);
                let what = format!("folded {kind} into {}", g.node(producer).op.name());
                g.replace_uses(Outlet::new(id), new);
                g.remove_node(id);
                g.remove_node(producer);
                r.changes += 1;
                *r.counts.entry(what).or_default() += 1;
            }
        } else if matches!(g.node(id).op, Op::BatchNorm(_)) {
            if let Some(fused) = lower_to_scale_shift(g, id, &affine) {
                r.changes += 1;
                *r.counts.entry("lowered batch_norm to scale_shift".into()).or_default() += 1;
                if let Some(act) = fused {
                    *r.counts.entry(format!("fused scale_shift+{act}")).or_default() += 1;
                }
            }
        }
    }
    // Batch norms along another axis (an NHWC one before the first transpose) cannot fold
    // into a conv but still become a scale-shift.
    for id in g.order() {
        if !g.contains(id) {
            continue;
        }
        let Op::BatchNorm(b) = &g.node(id).op else { continue };
        let b = b.clone();
        let ins = g.inputs_of(id);
        let Some(affine) = bn_affine(g, &b, &ins) else { continue };
        if let Some(fused) = lower_to_scale_shift(g, id, &affine) {
            r.changes += 1;
            *r.counts.entry("lowered batch_norm to scale_shift".into()).or_default() += 1;
            if let Some(act) = fused {
                *r.counts.entry(format!("fused scale_shift+{act}")).or_default() += 1;
            }
        }
    }
}

/// The affine map of a batch norm over any axis, from constant parameters.
fn bn_affine(g: &Graph, b: &senetc_ir::ops::BatchNorm, ins: &[Outlet]) -> Option<Affine> {
    if g.outlet_type(ins[0]).dtype != DType::F32 {
        return None;
    }
    let p: Vec<Vec<f32>> = ins[1..].iter().map(|&o| const_of(g, o).map(|t| t.to_f32().into_owned())).collect::<Option<_>>()?;
    let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
    let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| (*g as f64 / (*v as f64 + b.epsilon as f64).sqrt()) as f32).collect();
    let shift = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| (*b as f64 - *m as f64 * *s as f64) as f32).collect();
    Some(Affine { scale, shift })
}

/// The affine map of a BN node, or of a Mul/Add by a constant that varies only along
/// axis 1 ([C], [C,1,1] or [1,C,1,1] against a 4-D conv output; [C] or [1,C] after a gemm).
fn affine_of(g: &Graph, id: NodeId, ins: &[Outlet]) -> Option<Affine> {
    let node = g.node(id);
    if node.outputs[0].dtype != DType::F32 {
        return None;
    }
    match &node.op {
        Op::BatchNorm(b) if b.axis == 1 => {
            let p: Vec<Vec<f32>> = ins[1..].iter().map(|&o| const_of(g, o).map(|t| t.to_f32().into_owned())).collect::<Option<_>>()?;
            let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
            let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| (*g as f64 / (*v as f64 + b.epsilon as f64).sqrt()) as f32).collect();
            let shift = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| (*b as f64 - *m as f64 * *s as f64) as f32).collect();
            Some(Affine { scale, shift })
        }
        Op::Mul(_) | Op::Add(_) => {
            let (x, k) = (ins[0], ins[1]);
            let t = const_of(g, k)?;
            let rank = g.outlet_type(x).rank();
            let c = per_channel(t.shape(), rank)?;
            let v = t.to_f32();
            let v: Vec<f32> = if v.len() == 1 { vec![v[0]; c] } else { v.into_owned() };
            if matches!(node.op, Op::Mul(_)) {
                Some(Affine { scale: v, shift: vec![0.0; c] })
            } else {
                Some(Affine { scale: vec![1.0; c], shift: v })
            }
        }
        _ => None,
    }
}

/// Channel count of a constant that varies only along axis 1 of a rank-`rank` value.
fn per_channel(shape: &[usize], rank: usize) -> Option<usize> {
    match (rank, shape) {
        (4, [c, 1, 1]) | (4, [1, c, 1, 1]) | (2, [c]) | (2, [1, c]) => Some(*c),
        _ => None,
    }
}

fn channels_of_conv(g: &Graph, conv: NodeId) -> Option<usize> {
    g.outlet_type(g.inputs_of(conv)[1]).shape.as_known().map(|s| s[0])
}

/// Output features of a 2-D matmul by a constant [K, N] matrix (a gemm without bias).
fn matmul_as_gemm(g: &Graph, id: NodeId) -> Option<usize> {
    let ins = g.inputs_of(id);
    let w = const_of(g, ins[1])?;
    (g.outlet_type(ins[0]).rank() == 2 && w.shape().len() == 2).then(|| w.shape()[1])
}

fn gemm_out_features(g: &Graph, id: NodeId, m: &Gemm) -> Option<usize> {
    let w = g.outlet_type(g.inputs_of(id)[1]).shape.as_known()?;
    Some(if m.trans_b { w[0] } else { w[1] })
}

/// A new producer node computing `affine(producer(x))`; returns its output.
fn fold_into(g: &mut Graph, producer: NodeId, a: &Affine) -> Option<Outlet> {
    let ins = g.inputs_of(producer);
    let w = const_of(g, ins[1])?.clone();
    if w.dtype() != DType::F32 {
        return None;
    }
    let mut op = match &g.node(producer).op {
        // x @ W is gemm(x, W) with no bias; folding gives it one.
        Op::MatMul(_) => Op::Gemm(Gemm { beta: 0.0, ..Gemm::default() }),
        op => op.clone(),
    };
    // Output channel o owns row o of OIHW / [out,in] weights, or column o of [in,out] ones.
    let (rows_are_outputs, beta) = match &mut op {
        Op::Gemm(m) if m.trans_a => return None,
        Op::Gemm(m) => {
            let beta = if m.beta == 0.0 { 1.0 } else { m.beta };
            let had_bias = m.beta != 0.0;
            m.beta = beta;
            (m.trans_b, if had_bias { beta } else { -beta })
        }
        _ => (true, 1.0),
    };
    let c = a.scale.len();
    let per = w.len() / c;
    let mut nw = w.to_f32().into_owned();
    for (i, v) in nw.iter_mut().enumerate() {
        let o = if rows_are_outputs { i / per } else { i % c };
        *v *= a.scale[o];
    }
    // With y = alpha*A*W + beta*b: scale*(alpha*A*W + beta*b) + shift = alpha*A*(W*scale) + beta*(scale*b + shift/beta).
    // A negative `beta` above marks a gemm whose old C was ignored (beta was 0).
    let old_bias: Vec<f32> = match ins.get(2) {
        Some(&b) if beta > 0.0 => {
            let v = const_of(g, b)?.to_f32();
            match v.len() {
                1 => vec![v[0]; c],
                n if n == c => v.into_owned(),
                _ => return None,
            }
        }
        _ => vec![0.0; c],
    };
    let beta = beta.abs();
    let nb: Vec<f32> = (0..c).map(|o| a.scale[o] * old_bias[o] + a.shift[o] / beta).collect();
    let w_name = derived_name(g, ins[1], "bn_folded");
    let b_name = match ins.get(2) {
        Some(&b) => derived_name(g, b, "bn_folded"),
        None => format!("{}:bias", g.node(producer).name),
    };
    let new_w = g.add_const(w_name, Tensor::from_f32(w.shape().to_vec(), &nw));
    let new_b = g.add_const(b_name, Tensor::from_f32(vec![c], &nb));
    let name = g.node(producer).name.clone();
    g.add(name, op, &[ins[0], new_w, new_b]).ok()
}

/// Replace batch norm `id` by `scale_shift` (fusing the activation that is its only reader);
/// returns the fused activation's name, if any.
fn lower_to_scale_shift(g: &mut Graph, id: NodeId, a: &Affine) -> Option<Option<&'static str>> {
    let Op::BatchNorm(b) = &g.node(id).op else { return None };
    let axis = b.axis;
    let x = g.inputs_of(id)[0];
    let out = Outlet::new(id);
    let c = a.scale.len();
    let name = g.node(id).name.clone();
    // The activation that alone reads the batch norm joins it.
    let act = match g.consumers(out).as_slice() {
        [(reader, 0)] if single_use(g, out) => FusedAct::from_op(&g.node(*reader).op).map(|act| (*reader, act)),
        _ => None,
    };
    let s = g.add_const(format!("{name}:scale"), Tensor::from_f32(vec![c], &a.scale));
    let t = g.add_const(format!("{name}:shift"), Tensor::from_f32(vec![c], &a.shift));
    let op = ScaleShift { axis, act: act.as_ref().map_or(FusedAct::None, |(_, act)| act.clone()) };
    let y = g.add(name, Op::ScaleShift(op), &[x, s, t]).ok()?;
    // The batch norm of the source model, and the activation it took in.
    let merged: Vec<&senetc_ir::Node> = std::iter::once(g.node(id)).chain(act.as_ref().map(|(r, _)| g.node(*r))).collect();
    let sources = senetc_ir::merged_sources(merged);
    g.node_mut(y.node).set_sources(sources);
    match act {
        Some((reader, act)) => {
            g.replace_uses(Outlet::new(reader), y);
            g.remove_node(reader);
            g.remove_node(id);
            Some(Some(act.name()))
        }
        None => {
            g.replace_uses(out, y);
            g.remove_node(id);
            Some(None)
        }
    }
}

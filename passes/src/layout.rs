//! The layout pass: every graph leaves it canonical, with NCHW activations and OIHW filters,
//! so the passes after it (BN folding, SE fusion, fp16) and the backends see one layout
//! whatever the frontend read. TensorFlow and Keras graphs are NHWC from end to end and
//! tf2onnx wraps every conv in a pair of Transposes; both become NCHW graphs with at most
//! the one transpose at an NHWC input.
//!
//! 1. An op that reads NHWC activations (`format=nhwc`) becomes the NCHW op between two
//!    transposes. Transposes of constants (a TensorFlow HWIO filter) are folded offline.
//! 2. Transposes move down through every op that commutes with them (each op says how, in
//!    [`senetc_ir::ops::OpDef::through_transpose`]): elementwise ops, batch norm,
//!    reductions, concat, pad, softmax. The op's other operands follow: a constant is
//!    transposed offline, a value whose transpose only moves dims of extent 1 is reshaped.
//!    Two transposes in a row compose, and cancel when they are inverse.
//! 3. A transpose left that only moves dims of extent 1 is a reshape.
//!
//! A transpose moves only when every reader of it can take it, so the count never grows.

use crate::manager::PassReport;
use crate::util::{const_of, derived_name};
use senetc_ir::ops::{DataFormat, Reshape, Transpose, View};
use senetc_ir::{Dim, Graph, NodeId, Op, Outlet, Shape, Tensor};

const TO_NCHW: [usize; 4] = [0, 3, 1, 2];
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

/// Make `g` canonical (see the module doc).
pub fn canonicalize_layout(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        if nchw_of_nhwc(g, id) {
            count(r, "nhwc ops made nchw");
        }
    }
    loop {
        let mut changed = false;
        for id in g.order() {
            if !g.contains(id) {
                continue;
            }
            let step = match &g.node(id).op {
                Op::Transpose(_) => simplify_transpose(g, id),
                Op::Input | Op::Const(_) => None,
                _ => sink_into(g, id),
            };
            if let Some(what) = step {
                count(r, what);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for id in g.order() {
        if g.contains(id) && transpose_as_reshape(g, id) {
            count(r, "transposes of unit dims made reshapes");
        }
    }
    let dead = g.prune();
    r.changes += dead;
}

fn count(r: &mut PassReport, what: &str) {
    r.changes += 1;
    *r.counts.entry(what.to_string()).or_default() += 1;
}

fn perm_of(g: &Graph, id: NodeId) -> Option<Vec<usize>> {
    match &g.node(id).op {
        Op::Transpose(t) => Some(t.perm_for(g.outlet_type(g.inputs_of(id)[0]).rank())),
        _ => None,
    }
}

fn is_identity(p: &[usize]) -> bool {
    p.iter().enumerate().all(|(i, &v)| i == v)
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &v) in p.iter().enumerate() {
        inv[v] = i;
    }
    inv
}

/// `transpose(x, perm)` as a graph node named `name`.
fn transpose(g: &mut Graph, name: String, x: Outlet, perm: &[usize]) -> Option<Outlet> {
    g.add(name, Op::Transpose(Transpose { perm: perm.to_vec() }), &[x]).ok()
}

/// An op on NHWC activations becomes transpose → the NCHW op → transpose.
fn nchw_of_nhwc(g: &mut Graph, id: NodeId) -> bool {
    let mut op = g.node(id).op.clone();
    let format = match &mut op {
        Op::Conv(c) => &mut c.format,
        Op::GlobalAveragePool(p) => &mut p.format,
        Op::AveragePool(p) => &mut p.format,
        Op::MaxPool(p) => &mut p.format,
        Op::SqueezeExcite(s) => &mut s.format,
        _ => return false,
    };
    if *format != DataFormat::Nhwc {
        return false;
    }
    *format = DataFormat::Nchw;
    let name = g.node(id).name.clone();
    let mut ins = g.inputs_of(id);
    let Some(x) = transpose(g, format!("{name}/to_nchw"), ins[0], &TO_NCHW) else { return false };
    ins[0] = x;
    let Ok(y) = g.add(name.clone(), op, &ins) else { return false };
    let Some(back) = transpose(g, format!("{name}/to_nhwc"), y, &TO_NHWC) else { return false };
    g.replace_uses(Outlet::new(id), back);
    g.remove_node(id);
    true
}

/// Fold a transpose of a constant, compose two transposes, drop an identity transpose.
fn simplify_transpose(g: &mut Graph, id: NodeId) -> Option<&'static str> {
    let perm = perm_of(g, id)?;
    let src = g.inputs_of(id)[0];
    let out = Outlet::new(id);
    if is_identity(&perm) && !(g.is_output(out) && matches!(g.node(src.node).op, Op::Input)) {
        g.replace_uses(out, src);
        g.remove_node(id);
        return Some("identity transposes removed");
    }
    if let Some(t) = const_of(g, src).cloned() {
        let folded = transposed_const(&t, &perm)?;
        let name = derived_name(g, src, "transposed");
        let c = g.add_const(name, folded);
        g.replace_uses(out, c);
        g.remove_node(id);
        return Some("constants transposed offline");
    }
    let inner = perm_of(g, src.node)?;
    // transpose(transpose(x, p1), p2) is transpose(x, p1[p2[i]]).
    let composed: Vec<usize> = perm.iter().map(|&i| inner[i]).collect();
    let x = g.inputs_of(src.node)[0];
    if is_identity(&composed) && g.is_output(out) && matches!(g.node(x.node).op, Op::Input) {
        return None;
    }
    let name = g.node(id).name.clone();
    let new = if is_identity(&composed) { x } else { transpose(g, name, x, &composed)? };
    g.replace_uses(out, new);
    g.remove_node(id);
    Some(if is_identity(&composed) { "transpose pairs cancelled" } else { "transposes composed" })
}

fn transposed_const(t: &Tensor, perm: &[usize]) -> Option<Tensor> {
    if perm.len() != t.shape().len() {
        return None;
    }
    let shape: Vec<usize> = perm.iter().map(|&p| t.shape()[p]).collect();
    let data = t.to_f32();
    let mut out = vec![0.0; data.len()];
    Op::Transpose(Transpose { perm: perm.to_vec() }).eval(&[View { data: &data, shape: t.shape() }], &mut out, &shape).ok()?;
    Some(Tensor::from_f32(shape, &out).cast(t.dtype()))
}

/// Whether every reader of `o` can take a transpose moved past it.
fn readers_absorb(g: &Graph, o: Outlet, perm: &[usize]) -> bool {
    !g.is_output(o) && g.consumers(o).iter().all(|&(c, _)| matches!(g.node(c).op, Op::Transpose(_)) || g.node(c).op.through_transpose(perm).is_some())
}

/// Move the transposes feeding `id` past it.
fn sink_into(g: &mut Graph, id: NodeId) -> Option<&'static str> {
    let ins = g.inputs_of(id);
    // The first transposed operand sets the permutation; every operand of its rank that is
    // transposed must use the same one.
    let perm = ins.iter().find_map(|&o| perm_of(g, o.node))?;
    let rank = perm.len();
    let inv = inverse(&perm);
    let moved = g.node(id).op.through_transpose(&perm)?;
    let mut operands = Vec::with_capacity(ins.len());
    // A batch norm's (and a scale-shift's) parameters are vectors along `axis`, which the moved op renumbers;
    // they are not broadcast operands.
    let params_from = if matches!(g.node(id).op, Op::BatchNorm(_) | Op::ScaleShift(_)) { 1 } else { ins.len() };
    for (k, &o) in ins.iter().enumerate() {
        let ty = g.outlet_type(o).clone();
        if ty.rank() > rank {
            return None;
        }
        if k >= params_from {
            operands.push(Operand::Kept(o));
            continue;
        }
        if let Some(p) = perm_of(g, o.node) {
            if p != perm || !readers_absorb(g, o, &perm) {
                return None;
            }
            operands.push(Operand::Untransposed(g.inputs_of(o.node)[0]));
        } else if let Some(t) = const_of(g, o) {
            // Broadcast operands of lower rank are aligned to the right first.
            let aligned = t.reshaped(aligned(t.shape(), rank)).ok()?;
            operands.push(Operand::Const(o, transposed_const(&aligned, &inv)?));
        } else {
            let target = unit_move(&ty.shape, rank, &inv)?;
            operands.push(Operand::Reshaped(o, target));
        }
    }
    let name = g.node(id).name.clone();
    let before = g.node(id).outputs[0].clone();
    let mut new_ins = Vec::with_capacity(operands.len());
    for op in operands {
        new_ins.push(match op {
            Operand::Untransposed(x) | Operand::Kept(x) => x,
            Operand::Const(o, t) => {
                let cname = derived_name(g, o, "transposed");
                g.add_const(cname, t)
            }
            Operand::Reshaped(o, shape) => {
                let rname = format!("{}/reshaped", g.node(o.node).name);
                g.add(rname, Op::Reshape(Reshape { shape, allowzero: false }), &[o]).ok()?
            }
        });
    }
    let y = g.add(name.clone(), moved.op, &new_ins).ok()?;
    let out = if is_identity(&moved.out_perm) { y } else { transpose(g, format!("{name}/transpose"), y, &moved.out_perm)? };
    if *g.outlet_type(out) != before {
        // Never expected: the op's own rule disagrees with its type inference. Leave the
        // node where it was (the new nodes have no readers and are pruned).
        return None;
    }
    g.replace_uses(Outlet::new(id), out);
    g.remove_node(id);
    Some("transposes moved down")
}

enum Operand {
    /// The input of the transpose that fed the op.
    Untransposed(Outlet),
    /// An operand the move leaves as it is (a batch norm's parameters).
    Kept(Outlet),
    /// A constant, transposed offline.
    Const(Outlet, Tensor),
    /// A value whose transpose only moves unit dims: reshaped to this target.
    Reshaped(Outlet, Vec<i64>),
}

/// `shape` with 1s prepended up to `rank` (numpy broadcasting's alignment).
fn aligned(shape: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1; rank.saturating_sub(shape.len())];
    v.extend_from_slice(shape);
    v
}

/// If transposing `shape` (aligned to `rank`) by `perm` only moves dims of extent 1, the
/// reshape target that does the same (known dims as numbers, a symbol as 0 where the input
/// has it at the same place, else -1).
fn unit_move(shape: &Shape, rank: usize, perm: &[usize]) -> Option<Vec<i64>> {
    let mut dims: Vec<Dim> = vec![Dim::Known(1); rank.saturating_sub(shape.rank())];
    dims.extend(shape.0.iter().cloned());
    let moved: Vec<Dim> = perm.iter().map(|&p| dims[p].clone()).collect();
    // The dims that are not 1 must keep their order: compare where they come from, not
    // their extents (a transpose of [n,16,16,16] moves data although the extents agree).
    let sources: Vec<usize> = perm.iter().copied().filter(|&p| dims[p] != Dim::Known(1)).collect();
    if sources.windows(2).any(|w| w[0] > w[1]) {
        return None;
    }
    let syms = moved.iter().filter(|d| d.known().is_none()).count();
    moved
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Known(n) => Some(*n as i64),
            Dim::Sym(_) if shape.0.get(i) == Some(d) => Some(0),
            Dim::Sym(_) if syms == 1 => Some(-1),
            Dim::Sym(_) => None,
        })
        .collect()
}

/// A transpose that only moves dims of extent 1 becomes a reshape.
fn transpose_as_reshape(g: &mut Graph, id: NodeId) -> bool {
    let Some(perm) = perm_of(g, id) else { return false };
    let x = g.inputs_of(id)[0];
    let Some(target) = unit_move(&g.outlet_type(x).shape.clone(), perm.len(), &perm) else { return false };
    let name = g.node(id).name.clone();
    let Ok(y) = g.add(name, Op::Reshape(Reshape { shape: target, allowzero: false }), &[x]) else { return false };
    g.replace_uses(Outlet::new(id), y);
    g.remove_node(id);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use senetc_ir::ops::{OpDef, ReduceMean};

    #[test]
    fn unit_moves_are_reshapes() {
        let s = |dims: Vec<Dim>| Shape(dims);
        let b = || Dim::Sym("batch".into());
        // [batch,1,1,C] to NCHW is [batch,C,1,1]: the batch copied, C known.
        assert_eq!(unit_move(&s(vec![b(), 1.into(), 1.into(), 8.into()]), 4, &TO_NCHW), Some(vec![0, 8, 1, 1]));
        // A bias [C] aligned to [1,1,1,C] becomes [1,C,1,1].
        assert_eq!(unit_move(&s(vec![8.into()]), 4, &TO_NCHW), Some(vec![1, 8, 1, 1]));
        // Real spatial dims move: not a reshape.
        assert_eq!(unit_move(&s(vec![b(), 4.into(), 4.into(), 8.into()]), 4, &TO_NCHW), None);
        assert_eq!(inverse(&TO_NCHW), TO_NHWC);
        assert!(is_identity(&[0, 1, 2]) && !is_identity(&TO_NCHW));
    }

    #[test]
    fn a_mean_that_drops_dims_needs_no_transpose_after_it() {
        // mean over H,W of transpose(x_nchw, to_nhwc) without keeping them: the mean over
        // [2,3] of x, and the kept axes (batch, channels) are already in order.
        let t = ReduceMean { axes: vec![1, 2], keepdims: false }.through_transpose(&TO_NHWC).unwrap();
        assert_eq!(t.op.axes, [2, 3]);
        assert_eq!(t.out_perm, [0, 1]);
        let kept = ReduceMean { axes: vec![1, 2], keepdims: true }.through_transpose(&TO_NHWC).unwrap();
        assert_eq!((kept.op.axes.as_slice(), kept.out_perm.as_slice()), (&[2, 3][..], &TO_NHWC[..]));
    }

    #[test]
    fn transposes_of_constants_fold() {
        // HWIO [1,1,2,3] to OIHW [3,2,1,1]: element (o, i) = hwio (i, o).
        let hwio = Tensor::from_f32(vec![1, 1, 2, 3], &[0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
        let oihw = transposed_const(&hwio, &[3, 2, 0, 1]).unwrap();
        assert_eq!(oihw.shape(), [3, 2, 1, 1]);
        assert_eq!(&*oihw.to_f32(), &[0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
    }
}

//! Identity elimination and dead-code elimination.

use crate::manager::PassReport;
use senetc_ir::{Graph, Op, Outlet};

/// Remove Identity and Dropout (inference), casts to the same type and reshapes that keep
/// the shape. A value that is a graph output keeps its producer when its input is a graph
/// input (an output cannot alias an input).
pub fn eliminate_identity(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        let node = g.node(id);
        let ins = g.inputs_of(id);
        let noop = match &node.op {
            Op::Identity(_) | Op::Dropout(_) => true,
            Op::Cast(c) => g.outlet_type(ins[0]).dtype == c.to,
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => g.outlet_type(ins[0]).shape == node.outputs[0].shape,
            _ => false,
        };
        if !noop {
            continue;
        }
        let src = ins[0];
        let out = Outlet::new(id);
        if g.is_output(out) && matches!(g.node(src.node).op, Op::Input) {
            continue;
        }
        *r.counts.entry(format!("removed {}", g.node(id).op.name())).or_default() += 1;
        g.replace_uses(out, src);
        g.remove_node(id);
        r.changes += 1;
    }
}

/// Remove nodes no output depends on.
pub fn eliminate_dead_code(g: &mut Graph, r: &mut PassReport) {
    let n = g.prune();
    r.changes += n;
    if n > 0 {
        r.counts.insert("removed nodes".into(), n);
    }
}

/// Collapse chains of view ops (reshape, flatten, squeeze, unsqueeze) into one reshape
/// whose target keeps the batch symbol as 0, so a chain prints and runs as one node; and
/// a view that drops the 1x1 dims of a spatial mean into the mean itself
/// (`flatten(global_average_pool(x))` is `reduce_mean{axes=[2,3], keepdims=false}(x)`).
pub fn canonicalize_reshapes(g: &mut Graph, r: &mut PassReport) {
    let is_view = |op: &Op| matches!(op, Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_));
    for id in g.order() {
        if !g.contains(id) || !is_view(&g.node(id).op) {
            continue;
        }
        let src = g.inputs_of(id)[0];
        if is_spatial_mean(g, src.node) && crate::util::single_use(g, src) {
            let out = &g.node(id).outputs[0].shape;
            let x = g.inputs_of(src.node)[0];
            let xs = &g.outlet_type(x).shape;
            if out.rank() == 2 && out.0[..] == xs.0[..2] {
                let name = g.node(src.node).name.clone();
                let op = Op::ReduceMean(senetc_ir::ops::ReduceMean { axes: vec![2, 3], keepdims: false });
                if let Ok(new) = g.add(name, op, &[x]) {
                    g.replace_uses(Outlet::new(id), new);
                    g.remove_node(id);
                    g.remove_node(src.node);
                    r.changes += 1;
                    *r.counts.entry("merged spatial mean and flatten".into()).or_default() += 1;
                }
                continue;
            }
        }
        if !is_view(&g.node(src.node).op) || !crate::util::single_use(g, src) {
            continue;
        }
        // view(view(x)) -> reshape(x) to the outer view's shape.
        let root = g.inputs_of(src.node)[0];
        let Some(target) = reshape_target(g.outlet_type(root), &g.node(id).outputs[0]) else { continue };
        let name = g.node(id).name.clone();
        let Ok(new) = g.add(name, Op::Reshape(senetc_ir::ops::Reshape { shape: target, allowzero: false }), &[root]) else { continue };
        g.replace_uses(Outlet::new(id), new);
        g.remove_node(id);
        g.remove_node(src.node);
        r.changes += 1;
        *r.counts.entry("merged view chains".into()).or_default() += 1;
    }
}

/// A reshape target from `from` to `to`: known dims as numbers, a symbol as 0 when it
/// stands at the same place in the input, otherwise -1 (at most one).
fn reshape_target(from: &senetc_ir::TensorType, to: &senetc_ir::TensorType) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    let mut inferred = false;
    for (i, d) in to.shape.0.iter().enumerate() {
        out.push(match d {
            senetc_ir::Dim::Known(n) => *n as i64,
            s if from.shape.0.get(i) == Some(s) => 0,
            _ if !inferred => {
                inferred = true;
                -1
            }
            _ => return None,
        });
    }
    Some(out)
}

/// A mean over H and W of a 4-D NCHW value that keeps them as 1.
fn is_spatial_mean(g: &Graph, id: senetc_ir::NodeId) -> bool {
    let rank4 = || g.outlet_type(g.inputs_of(id)[0]).rank() == 4;
    match &g.node(id).op {
        Op::GlobalAveragePool(p) => p.format == senetc_ir::ops::DataFormat::Nchw && rank4(),
        Op::ReduceMean(m) => m.keepdims && rank4() && m.axes_for(4).ok() == Some(vec![2, 3]),
        _ => false,
    }
}

//! Constant folding: an op whose operands are all constants becomes a constant, computed by
//! the op's own reference evaluation.

use crate::manager::PassReport;
use crate::util::{const_of, derived_name};
use senetc_ir::ops::View;
use senetc_ir::{DType, Graph, NodeId, Op, Outlet, Tensor};

/// Folds larger than this many elements are left to run time (a folded constant is stored).
const MAX_FOLDED_ELEMENTS: usize = 1 << 24;

/// Fold every node whose operands are all constants: views re-label the constant's bytes
/// (exact for every type); other ops on float or integer operands run their evaluation.
pub fn fold_constants(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        if !g.contains(id) || matches!(g.node(id).op, Op::Const(_) | Op::Input) {
            continue;
        }
        let ins = g.inputs_of(id);
        let Some(consts) = ins.iter().map(|&o| const_of(g, o).cloned()).collect::<Option<Vec<Tensor>>>() else { continue };
        let Some(t) = evaluate(g, id, &consts) else { continue };
        let name = derived_name(g, Outlet::new(id), "folded");
        let c = g.add_const(name, t);
        g.replace_uses(Outlet::new(id), c);
        g.remove_node(id);
        r.changes += 1;
        *r.counts.entry("folded nodes".into()).or_default() += 1;
    }
}

fn evaluate(g: &Graph, id: NodeId, ins: &[Tensor]) -> Option<Tensor> {
    let node = g.node(id);
    let out = &node.outputs[0];
    let shape = out.shape.as_known()?;
    if shape.iter().product::<usize>() > MAX_FOLDED_ELEMENTS || node.outputs.len() != 1 {
        return None;
    }
    if node.op.is_view() {
        return ins[0].reshaped(shape).ok();
    }
    // Integers are evaluated through f32, exact up to 2^24: larger ones are not folded.
    let exact = |t: &Tensor| t.dtype().is_float() || t.to_i64().iter().all(|v| v.unsigned_abs() < 1 << 24);
    if !ins.iter().all(exact) || out.dtype == DType::F64 {
        return None;
    }
    let data: Vec<_> = ins.iter().map(|t| t.to_f32()).collect();
    let views: Vec<View> = data.iter().zip(ins).map(|(d, t)| View { data: d, shape: t.shape() }).collect();
    let mut values = vec![0.0; shape.iter().product()];
    node.op.eval(&views, &mut values, &shape).ok()?;
    Some(Tensor::from_f32(shape, &values).cast(out.dtype))
}

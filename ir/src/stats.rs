//! Summary numbers of a graph: op histogram, parameter count, FLOPs.

use crate::{Graph, Op};
use std::collections::BTreeMap;

/// Count of nodes per op name, excluding graph inputs and constants.
pub fn op_histogram(g: &Graph) -> BTreeMap<&'static str, usize> {
    let mut h = BTreeMap::new();
    for id in g.node_ids() {
        let op = &g.node(id).op;
        if !matches!(op, Op::Input | Op::Const(_)) {
            *h.entry(op.name()).or_insert(0) += 1;
        }
    }
    h
}

/// Number of compute nodes (excluding graph inputs and constants).
pub fn compute_nodes(g: &Graph) -> usize {
    op_histogram(g).values().sum()
}

/// Total elements of all float constants: the model's parameters.
pub fn param_count(g: &Graph) -> usize {
    g.node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Const(c) if c.tensor.dtype().is_float() => Some(c.tensor.len()),
            _ => None,
        })
        .sum()
}

/// Floating-point operations of one inference with every symbolic dim bound to `batch`
/// (each op counts its own, see [`crate::ops::OpDef::flops`]).
pub fn flops(g: &Graph, batch: usize) -> u64 {
    let bind = |_: &str| Some(batch);
    let shape = |t: &crate::TensorType| t.shape.bind(&bind).as_known().unwrap_or_default();
    g.node_ids()
        .map(|id| {
            let node = g.node(id);
            let ins: Vec<Vec<usize>> = g.inputs_of(id).iter().map(|&o| shape(g.outlet_type(o))).collect();
            let ins: Vec<&[usize]> = ins.iter().map(Vec::as_slice).collect();
            node.outputs.first().map_or(0, |t| node.op.flops(&ins, &shape(t)))
        })
        .sum()
}

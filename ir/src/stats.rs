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
/// (a multiply-add counts as 2).
pub fn flops(g: &Graph, batch: usize) -> u64 {
    let bind = |_: &str| Some(batch);
    let elems = |t: &crate::TensorType| t.shape.bind(&bind).as_known().map_or(0, |s| s.iter().product::<usize>() as u64);
    let mut total = 0u64;
    for id in g.node_ids() {
        let node = g.node(id);
        let ins = g.inputs_of(id);
        let out = node.outputs.first().map_or(0, elems);
        let in0 = ins.first().map_or(0, |o| elems(g.outlet_type(*o)));
        total += match &node.op {
            Op::Input | Op::Const(_) | Op::Identity(_) | Op::Dropout(_) | Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => 0,
            Op::Conv(_) => {
                let w = g.outlet_type(ins[1]).shape.as_known().unwrap_or_default();
                let per_out = w.get(1..).map_or(0, |s| s.iter().product::<usize>()) as u64;
                2 * out * per_out + if ins.len() > 2 { out } else { 0 }
            }
            Op::Gemm(m) => {
                let a = g.outlet_type(ins[0]).shape.bind(&bind).as_known().unwrap_or_default();
                let k = if m.trans_a { a.first() } else { a.get(1) }.copied().unwrap_or(0) as u64;
                2 * out * k + if ins.len() > 2 { out } else { 0 }
            }
            Op::MatMul(_) => {
                let a = g.outlet_type(ins[0]).shape.as_known().unwrap_or_default();
                2 * out * a.last().copied().unwrap_or(0) as u64
            }
            Op::GlobalAveragePool(_) | Op::ReduceMean(_) | Op::AveragePool(_) | Op::MaxPool(_) => in0,
            Op::BatchNorm(_) | Op::Silu(_) | Op::HardSwish(_) | Op::HardSigmoid(_) => 2 * out,
            Op::Softmax(_) => 3 * out,
            _ => out,
        };
    }
    total
}

//! One node at a time: every op runs its own reference evaluation.

use crate::CodegenError;
use senetc_ir::ops::View;
use senetc_ir::Node;

/// Compute `node` from its operands (data, shape) into `out` (of shape `out_shape`).
pub fn run_node(node: &Node, ins: &[(&[f32], &[usize])], out_shape: &[usize], out: &mut [f32]) -> Result<(), CodegenError> {
    let views: Vec<View> = ins.iter().map(|&(data, shape)| View { data, shape }).collect();
    node.op
        .eval(&views, out, out_shape)
        .map_err(|why| CodegenError::Unsupported { node: node.name.clone(), op: node.op.name(), target: "cpu", why })
}

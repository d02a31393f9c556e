//! The verifier: a structural and type check of a whole graph, run after import, after
//! parsing and after every pass. Its messages name the node.

use crate::ops::Op;
use crate::{Graph, IrError};

/// Check that `g` is well formed: acyclic; every node's operands exist and fit its arity;
/// stored output types equal what inference gives; inputs and outputs exist; large
/// constants carry a name (text dumps bind them by it).
pub fn verify(g: &Graph) -> Result<(), IrError> {
    g.topo_order()?;
    for id in g.node_ids() {
        let node = g.node(id);
        let err = |msg: String| IrError::Node { node: node.name.clone(), op: node.op.name(), msg };
        let ins = g.inputs_of(id);
        for (i, o) in ins.iter().enumerate() {
            if !g.contains(o.node) || o.slot >= g.node(o.node).outputs.len() {
                return Err(err(format!("operand {i} refers to a value that does not exist")));
            }
        }
        match &node.op {
            Op::Input => {
                if !g.inputs().contains(&id) {
                    return Err(err("input node is not a graph input".into()));
                }
                if node.outputs.len() != 1 {
                    return Err(err("an input has one type".into()));
                }
            }
            op => {
                let want = g.infer_node(&node.name, op, &ins)?;
                if want != node.outputs {
                    let show = |v: &[crate::TensorType]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
                    return Err(err(format!("declared type {} but operands give {}", show(&node.outputs), show(&want))));
                }
            }
        }
    }
    if g.outputs().is_empty() {
        return Err(IrError::Graph("the graph has no outputs".into()));
    }
    for (name, o) in g.outputs() {
        if !g.contains(o.node) || o.slot >= g.node(o.node).outputs.len() {
            return Err(IrError::Graph(format!("output {name:?} refers to a value that does not exist")));
        }
    }
    Ok(())
}

//! Small graph helpers shared by the passes.

use senetc_ir::{Graph, Op, Outlet, Tensor};

/// The constant behind an outlet, if it is one.
pub fn const_of(g: &Graph, o: Outlet) -> Option<&Tensor> {
    match &g.node(o.node).op {
        Op::Const(c) => Some(&c.tensor),
        _ => None,
    }
}

/// Whether exactly one node reads `o` and it is not a graph output.
pub fn single_use(g: &Graph, o: Outlet) -> bool {
    g.consumers(o).len() == 1 && !g.is_output(o)
}

/// Name for a constant derived from `base` by a pass (kept stable: dumps bind weights by name).
pub fn derived_name(g: &Graph, base: Outlet, suffix: &str) -> String {
    let n = &g.node(base.node).name;
    if n.is_empty() {
        format!("{suffix}#{}", base.node.index())
    } else {
        format!("{n}:{suffix}")
    }
}


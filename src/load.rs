//! Model loading: the frontends' entry point, with the format recorded for the report.

use anyhow::Result;
use senetc_frontends::{Format, ImportNotes, ImportOptions};
use senetc_ir::{Graph, Op};
use std::path::Path;

/// Import the model at `path` into IR (verified), with its format and the importer's notes.
/// Weights holding NaN or infinite values are warnings in the notes, whatever the format.
pub fn load(path: &Path, options: &ImportOptions) -> Result<(Graph, Format, ImportNotes)> {
    let m = senetc_frontends::import(path, options)?;
    let mut notes = m.notes;
    for name in non_finite_weights(&m.graph) {
        let quoted = format!("weight {name:?} holds NaN");
        if !notes.warnings.iter().any(|w| w.contains(&quoted)) {
            notes.warnings.push(format!("{}: weight {name:?} holds NaN or infinite values", path.display()));
        }
    }
    Ok((m.graph, m.format, notes))
}

/// Names of the graph's float constants that hold NaN or an infinity, in graph order.
pub fn non_finite_weights(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for id in g.order() {
        let n = g.node(id);
        if let Op::Const(c) = &n.op {
            if c.tensor.dtype().is_float() && c.tensor.to_f32().iter().any(|v| !v.is_finite()) {
                out.push(if c.name.is_empty() { n.name.clone() } else { c.name.clone() });
            }
        }
    }
    out
}

//! The JSON report of a compile (`--report`).

use senetc_ir::{Graph, TensorType};
use serde::Serialize;
use std::collections::BTreeMap;

/// A graph input or output.
#[derive(Serialize)]
pub struct Signature {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: String,
    /// Dims; symbols as strings.
    pub shape: Vec<serde_json::Value>,
}

impl Signature {
    /// Describe a value.
    pub fn new(name: &str, t: &TensorType) -> Signature {
        Signature {
            name: name.to_string(),
            dtype: t.dtype.to_string(),
            shape: t
                .shape
                .0
                .iter()
                .map(|d| match d {
                    senetc_ir::Dim::Known(n) => serde_json::json!(n),
                    senetc_ir::Dim::Sym(s) => serde_json::json!(s),
                })
                .collect(),
        }
    }
}

/// Inputs and outputs of a graph.
pub fn signature(g: &Graph) -> (Vec<Signature>, Vec<Signature>) {
    let ins = g.inputs().iter().map(|&id| Signature::new(&g.node(id).name, &g.node(id).outputs[0])).collect();
    let outs = g.outputs().iter().map(|(n, o)| Signature::new(n, g.outlet_type(*o))).collect();
    (ins, outs)
}

/// What `senetc compile --report` writes.
#[derive(Serialize)]
pub struct Report {
    /// senetc's version.
    pub senetc_version: &'static str,
    /// The model file.
    pub model: String,
    /// Its format.
    pub format: &'static str,
    /// What the importer did to the model (training constructs resolved, what a file held).
    pub import_notes: Vec<String>,
    /// The target.
    pub target: String,
    /// What was emitted.
    pub emit: String,
    /// Where.
    pub output: String,
    /// Graph inputs.
    pub inputs: Vec<Signature>,
    /// Graph outputs.
    pub outputs: Vec<Signature>,
    /// Compute nodes per op, after the passes.
    pub op_counts: BTreeMap<&'static str, usize>,
    /// Total compute nodes.
    pub nodes: usize,
    /// Parameter count.
    pub parameters: usize,
    /// FLOPs at batch 1.
    pub flops_batch1: u64,
    /// Wall time per phase, milliseconds.
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// Compute nodes per op as imported, before the passes.
    pub op_counts_before: BTreeMap<String, usize>,
    /// Every pass that ran, in order.
    pub passes: Vec<PassSummary>,
    /// Fused and folded patterns by kind.
    pub fused: BTreeMap<String, usize>,
    /// Casts the precision pass inserted.
    pub casts_inserted: usize,
    /// Bytes of weights stored as fp16.
    pub fp16_weight_bytes: usize,
    /// The exit code (a failed compile writes a report with what it knew and its errors).
    pub exit_code: i32,
    /// Why the compile failed; empty on success.
    pub errors: Vec<String>,
}

/// One pass in the report.
#[derive(Serialize)]
pub struct PassSummary {
    /// Its name.
    pub name: String,
    /// Wall time.
    pub millis: f64,
    /// Edits made.
    pub changes: usize,
    /// Compute nodes after it.
    pub nodes_after: usize,
    /// Its counters.
    pub counts: BTreeMap<String, usize>,
}

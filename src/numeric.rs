//! Numeric translation validation for `--verify-each`: run the graph before and after a
//! pass on the same seeded random input and compare, naming the first node whose output
//! diverges.

use senetc_codegen::cpu::CpuPlan;
use senetc_ir::{DType, Graph, Op, Tensor};
use std::collections::HashMap;

/// Seeded inputs for `g` with symbolic dims bound to `batch`: uniform in [-1, 1).
pub fn seeded_inputs(g: &Graph, seed: u64, batch: usize) -> Result<Vec<Tensor>, String> {
    let mut state = seed | 1;
    g.inputs()
        .iter()
        .map(|&id| {
            let t = &g.node(id).outputs[0];
            let shape = t.shape.bind(&|_| Some(batch)).as_known().ok_or("unknown input dim")?;
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
                })
                .collect();
            Ok(Tensor::from_f32(shape, &v).cast(t.dtype))
        })
        .collect()
}

fn has_f16(g: &Graph) -> bool {
    g.node_ids().any(|id| g.node(id).outputs.iter().any(|t| matches!(t.dtype, DType::F16 | DType::BF16)))
}

/// Allowed max |diff| against `reference`: 1e-4 of its magnitude in fp32, 1e-2 with fp16.
fn tolerance(reference: &[f32], half: bool) -> f32 {
    let m = reference.iter().fold(0f32, |a, v| a.max(v.abs())).max(1.0);
    if half { 2e-2 * m } else { 1e-4 * m }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Compare `after` with `before` on a seeded input.
pub fn check(before: &Graph, after: &Graph) -> Result<(), String> {
    let inputs = seeded_inputs(before, 0x5eed_5e4e, 1)?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let mut pb = CpuPlan::capturing(before, &shapes, 0).map_err(|e| e.to_string())?;
    let mut pa = CpuPlan::capturing(after, &shapes, 0).map_err(|e| e.to_string())?;
    let ob = pb.run(&inputs).map_err(|e| e.to_string())?;
    let oa = pa.run(&inputs).map_err(|e| e.to_string())?;
    let half = has_f16(after) || has_f16(before);
    let mut worst = None;
    for ((name, b), (_, a)) in ob.iter().zip(&oa) {
        let (b, a) = (b.to_f32(), a.to_f32());
        if b.len() != a.len() {
            return Err(format!("output {name:?} changed size from {} to {}", b.len(), a.len()));
        }
        let d = max_diff(&a, &b);
        if d > tolerance(&b, half) {
            worst = Some(format!("output {name:?} max |diff| {d:.3e} (tolerance {:.1e})", tolerance(&b, half)));
            break;
        }
    }
    let Some(summary) = worst else { return Ok(()) };
    // Find the first node, in the original order, whose same-named counterpart diverges.
    let after_by_name: HashMap<&str, senetc_ir::NodeId> =
        after.node_ids().filter(|&id| !after.node(id).name.is_empty()).map(|id| (after.node(id).name.as_str(), id)).collect();
    for id in before.topo_order().map_err(|e| e.to_string())? {
        let node = before.node(id);
        if matches!(node.op, Op::Input | Op::Const(_)) {
            continue;
        }
        let Some(&aid) = after_by_name.get(node.name.as_str()) else { continue };
        let (Some((sb, vb)), Some((sa, va))) = (pb.node_value(id), pa.node_value(aid)) else { continue };
        if sb != sa {
            continue;
        }
        let d = max_diff(va, vb);
        if d > tolerance(vb, half) {
            return Err(format!("{summary}; first diverging node: {:?} ({}), max |diff| {d:.3e}", node.name, node.op.name()));
        }
    }
    Err(summary)
}

//! The plan's nodes to IR, in order, through the op table (`ops.rs`) and the shared
//! [`Builder`]: graph inputs first (their types from the graph, `--input-shape`, or the
//! graph above a cut), then every node, then the outputs.

use crate::extract::{InputSpec, Plan};
use crate::graph::{TRef, TfGraph};
use crate::ops;
use crate::weights::Weights;
use senetc_import::{Builder, Problem, Val};
use senetc_ir::{DType, Dim, Shape, TensorType};
use std::collections::HashMap;

/// The symbol of a graph's batch dim.
pub const BATCH: &str = "batch";

/// The converter's state: the builder and what ops need to know.
pub struct Imp<'a, 'w> {
    /// The IR being built.
    pub b: Builder,
    /// The TensorFlow graph.
    pub g: &'a TfGraph,
    /// Variable values.
    pub weights: &'a mut Weights<'w>,
    /// Placeholders pinned to constants.
    pub pinned: &'a HashMap<usize, senetc_ir::Tensor>,
    /// An iterator input's static training batch, and the dim that replaced it: shape
    /// constants holding that batch are read as the graph's batch.
    pub training_batch: Option<(usize, Dim)>,
}

impl AsMut<Builder> for Imp<'_, '_> {
    fn as_mut(&mut self) -> &mut Builder {
        &mut self.b
    }
}

/// The type of a graph input: its dims from the graph, or `--input-shape` (which also binds
/// the batch), a leading unknown dim becoming the symbolic batch.
pub fn input_type(spec: &InputSpec, shapes: &[(String, Vec<i64>)], known: Option<&TensorType>) -> Result<TensorType, String> {
    let dtype = spec.dtype.or(known.map(|t| t.dtype)).unwrap_or(DType::F32);
    let graph_dims: Option<Vec<Dim>> = match (&spec.dims, known) {
        (_, Some(t)) => Some(t.shape.0.clone()),
        (Some(d), None) => Some(
            d.iter()
                .enumerate()
                .map(|(i, &x)| match x {
                    _ if i == 0 && spec.training_batch.is_some() => Dim::Sym(BATCH.into()),
                    x if x >= 0 => Dim::Known(x as usize),
                    _ if i == 0 => Dim::Sym(BATCH.into()),
                    _ => Dim::Sym(format!("unknown{i}")),
                })
                .collect(),
        ),
        (None, None) => None,
    };
    let given = shapes.iter().find(|(n, _)| *n == spec.name || n.strip_suffix(":0") == Some(spec.name.as_str())).map(|(_, d)| d);
    let dims = match (given, graph_dims) {
        (Some(g), Some(d)) => {
            if g.len() != d.len() {
                return Err(format!("--input-shape gives {} dims, the graph's input has {}", g.len(), d.len()));
            }
            g.iter()
                .zip(&d)
                .enumerate()
                .map(|(i, (&x, dd))| match (x, dd) {
                    (x, Dim::Known(k)) if x >= 0 && x as usize != *k && !(i == 0 && spec.training_batch.is_some()) => {
                        Err(format!("--input-shape gives {x} for dim {i}, the graph has {k}"))
                    }
                    (x, _) if x >= 0 => Ok(Dim::Known(x as usize)),
                    (_, dd) if i == 0 => Ok(if dd.known().is_some() && spec.training_batch.is_none() { dd.clone() } else { Dim::Sym(BATCH.into()) }),
                    _ => Err(format!("--input-shape leaves dim {i} unknown")),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        (Some(g), None) => g.iter().enumerate().map(|(i, &x)| if x >= 0 { Ok(Dim::Known(x as usize)) } else if i == 0 { Ok(Dim::Sym(BATCH.into())) } else { Err(format!("--input-shape leaves dim {i} unknown")) }).collect::<Result<_, _>>()?,
        (None, Some(d)) => {
            if let Some((i, _)) = d.iter().enumerate().find(|(_, x)| matches!(x, Dim::Sym(s) if s != BATCH)) {
                return Err(format!("dim {i} of the input is unknown in the graph: give it with --input-shape {}:d0,d1,...", spec.name));
            }
            d
        }
        (None, None) => return Err(format!("the input's shape is unknown in the graph: give it with --input-shape {}:d0,d1,...", spec.name)),
    };
    Ok(TensorType::new(dtype, Shape(dims)))
}

/// Convert the plan. `cut_types` gives the types of cut inputs learnt from the graph above.
pub fn run(imp: &mut Imp, plan: &Plan, shapes: &[(String, Vec<i64>)], cut_types: &HashMap<TRef, TensorType>) {
    for spec in &plan.inputs {
        match input_type(spec, shapes, cut_types.get(&spec.tref)) {
            Ok(ty) => {
                if let Some(b) = spec.training_batch {
                    imp.training_batch = Some((b, ty.shape.0.first().cloned().unwrap_or(Dim::Known(b))));
                }
                let name = imp.g.value_name(spec.tref);
                imp.b.input(name, ty);
            }
            Err(what) => imp.b.problem(Problem::new(spec.name.as_str(), "input", what)),
        }
    }
    // Output slots other nodes read, per node.
    let mut slots: HashMap<usize, usize> = HashMap::new();
    for ops in plan.operands.values() {
        for t in ops {
            let e = slots.entry(t.node).or_insert(0);
            *e = (*e).max(t.slot);
        }
    }
    for (_, t) in &plan.outputs {
        let e = slots.entry(t.node).or_insert(0);
        *e = (*e).max(t.slot);
    }
    for &node in &plan.order {
        let g = imp.g;
        let def = g.node(node);
        let ins: Vec<String> = plan.operands.get(&node).map(|v| v.iter().map(|&t| g.value_name(t)).collect()).unwrap_or_default();
        let n_out = slots.get(&node).copied().unwrap_or(0) + 1;
        let outs: Vec<String> = (0..n_out).map(|slot| g.value_name(TRef { node, slot })).collect();
        let ins_ref: Vec<&str> = ins.iter().map(String::as_str).collect();
        let outs_ref: Vec<&str> = outs.iter().map(String::as_str).collect();
        let n = ops::N { idx: node, def, ins: &ins };
        match ops::lookup(&def.op) {
            Some(f) => senetc_import::convert(imp, &def.name, &def.op, &ins_ref, &outs_ref, |imp| {
                let vals = f(imp, &n)?;
                if vals.len() < n_out {
                    return Err(format!("output {} of this op is not supported", vals.len()));
                }
                Ok(vals)
            }),
            None => {
                let hint = if def.op.contains("Grad") || def.op.starts_with("Apply") || def.op.starts_with("Assign") || def.op.contains("Random") { format!("; {}", crate::extract::EVAL_HINT) } else { String::new() };
                senetc_import::convert(imp, &def.name, &def.op, &ins_ref, &outs_ref, |_| Err::<Vec<Val>, String>(format!("unsupported op{hint}")));
            }
        }
    }
    for (name, t) in &plan.outputs {
        let v = imp.g.value_name(*t);
        imp.b.output(name, &v);
    }
}

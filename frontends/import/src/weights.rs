//! Weights bound by name: a format that keeps its graph and its weights apart (a
//! checkpoint beside a graph, a state dict onto an architecture, a retrained state dict
//! onto an ONNX graph) checks the whole set at once and reports every missing, unexpected
//! and mis-shaped tensor in one error.

use crate::Problem;
use senetc_ir::{Graph, Op, Tensor};
use std::collections::BTreeMap;

/// Tensors by name.
pub type WeightMap = BTreeMap<String, Tensor>;

/// What a weight set must hold: names and shapes.
pub type Expected = BTreeMap<String, Vec<usize>>;

/// Check `given` against `expected`: every expected name present with its shape, nothing
/// else (names `ignore` accepts are allowed extras, e.g. optimizer state). All mismatches
/// are returned, sorted by name.
pub fn check(expected: &Expected, given: &WeightMap, ignore: impl Fn(&str) -> bool) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    for (name, shape) in expected {
        match given.get(name) {
            None => problems.push(Problem::new(name.as_str(), "weight", format!("missing (expected shape {shape:?})"))),
            Some(t) if t.shape() != shape.as_slice() => problems.push(Problem::new(name.as_str(), "weight", format!("has shape {:?}, expected {shape:?}", t.shape()))),
            Some(_) => {}
        }
    }
    for name in given.keys().filter(|n| !expected.contains_key(*n) && !ignore(n)) {
        problems.push(Problem::new(name.as_str(), "weight", "unexpected (no such weight in the model)"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The named constants of `g` and their shapes: what `--weights` must provide.
pub fn expected_of(g: &Graph) -> Expected {
    g.weights().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect()
}

/// Replace every named constant of `g` by the tensor of the same name in `given` (converted
/// to the constant's element type), after checking the whole set; returns how many were
/// replaced.
pub fn replace(g: &mut Graph, given: &WeightMap, ignore: impl Fn(&str) -> bool) -> Result<usize, Vec<Problem>> {
    check(&expected_of(g), given, ignore)?;
    let ids: Vec<_> = g.node_ids().collect();
    let mut n = 0;
    for id in ids {
        if let Op::Const(c) = &mut g.node_mut(id).op {
            if let Some(t) = given.get(&c.name) {
                c.tensor = t.cast(c.tensor.dtype());
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Names of weights holding NaN or infinite values: a warning, not a failure.
pub fn non_finite(weights: &WeightMap) -> Vec<String> {
    weights.iter().filter(|(_, t)| t.dtype().is_float() && t.to_f32().iter().any(|v| !v.is_finite())).map(|(n, _)| n.clone()).collect()
}

//! A TF2 checkpoint bound by name onto a graph given with `--graph`. Keys of object-based
//! checkpoints are object paths (Keras 2 `layer_with_weights-N/kernel/...`, Keras 3
//! `model/_operations/N/_kernel/...`); the names are in its object graph (`full_name`, e.g.
//! `stem_conv/kernel`). Each weight the graph reads (a SavedModel variable, by its name; a
//! frozen graph's float Const, by its node name) takes the checkpoint tensor of the same
//! name; names that differ only in `/` against `_` (a TF1 scope path against a Keras layer
//! name) match when the match is unique. Every weight must be found with its shape.

use crate::bundle::Bundle;
use crate::extract::{Plan, VARIABLE_OPS};
use crate::graph::TfGraph;
use crate::source::{tf2_names, trim_key, Source};
use crate::weights::Weights;
use senetc_import::weights::{check, Expected, WeightMap};
use senetc_import::Problem;
use senetc_ir::Tensor;
use std::collections::BTreeMap;

fn relaxed(s: &str) -> String {
    s.replace('/', "_")
}

/// The tensors of `ckpt` for every weight the plan reads, by weight name; with a note.
pub fn bind(g: &TfGraph, plan: &Plan, src: &Source, weights: &mut Weights, ckpt: &Bundle) -> Result<(WeightMap, String), Vec<Problem>> {
    let names: BTreeMap<String, String> = match tf2_names(ckpt) {
        Ok(n) => n,
        // A bundle without an object graph (TF1 Saver): names are the keys.
        Err(_) => ckpt.names().map(|k| (trim_key(k), k.to_string())).collect(),
    };
    let style = if ckpt.names().any(|k| k.contains("/_operations/")) {
        "Keras 3 keys (_operations/N/...)"
    } else if ckpt.names().any(|k| k.contains("layer_with_weights-")) {
        "Keras 2 keys (layer_with_weights-N/...)"
    } else if ckpt.names().any(|k| k.ends_with("/.ATTRIBUTES/VARIABLE_VALUE")) {
        "object-path keys"
    } else {
        "variable-name keys"
    };
    // What the graph reads, with the shapes of its own values.
    let mut expected = Expected::new();
    for &node in &plan.order {
        let n = g.node(node);
        if VARIABLE_OPS.contains(&n.op.as_str()) {
            let name = weights.variable_name(n);
            let shape = weights.variable(n).map(|(_, t)| t.shape().to_vec()).unwrap_or_default();
            expected.insert(name, shape);
        } else if n.op == "Const" {
            if let Some(t) = crate::graph::attr_tensor(n, "value") {
                if let Ok(t) = crate::tensor::convert(&t) {
                    if t.dtype().is_float() && !t.shape().is_empty() {
                        expected.insert(n.name.clone(), t.shape().to_vec());
                    }
                }
            }
        }
    }
    let _ = src;
    let by_relaxed: BTreeMap<String, Vec<&String>> = names.keys().fold(BTreeMap::new(), |mut m, k| {
        m.entry(relaxed(k)).or_insert_with(Vec::new).push(k);
        m
    });
    let mut given = WeightMap::new();
    let mut relaxed_matches = 0;
    let mut problems = Vec::new();
    for name in expected.keys() {
        let key = match names.get(name) {
            Some(k) => Some(k),
            None => match by_relaxed.get(&relaxed(name)).map(Vec::as_slice) {
                Some([one]) => {
                    relaxed_matches += 1;
                    names.get(*one)
                }
                _ => None,
            },
        };
        if let Some(k) = key {
            match ckpt.tensor(k) {
                Ok(t) => {
                    given.insert(name.clone(), t);
                }
                Err(e) => problems.push(Problem::new(name.as_str(), "weight", e)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Extras (optimizer state, counters, weights the graph does not read) are allowed.
    check(&expected, &given, |_| true)?;
    let unused = names.len().saturating_sub(given.len());
    let note = format!(
        "bound {} weights by name from the TF2 checkpoint {} ({style}){}{}",
        given.len(),
        ckpt.prefix().display(),
        if relaxed_matches > 0 { format!("; {relaxed_matches} matched with '/' and '_' alike") } else { String::new() },
        if unused > 0 { format!("; {unused} checkpoint variables not used") } else { String::new() }
    );
    Ok((given.into_iter().map(|(k, t): (String, Tensor)| (k, t)).collect(), note))
}

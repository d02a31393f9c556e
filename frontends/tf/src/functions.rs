//! Function calls inlined: a SavedModel's serving graph is a `StatefulPartitionedCall` of
//! a function of the library, which calls further functions. Each call node becomes the
//! function's nodes under the call's name (`call/inner/node`), its arguments Identity nodes
//! reading the call's inputs, and the call itself an `IdentityN` of the function's results,
//! so every reference to `call:k` still holds.

use crate::graph::split_name;
use crate::proto::{attr_value, FunctionDef, NodeDef};
use std::collections::HashMap;

/// Deepest call nesting inlined (SavedModels nest 2 or 3 levels).
const MAX_DEPTH: usize = 32;

/// The function a node calls: `PartitionedCall`/`StatefulPartitionedCall` name it in `f`;
/// a node whose op is a library function calls it directly.
fn callee<'a>(n: &NodeDef, lib: &'a HashMap<&str, &FunctionDef>) -> Option<&'a FunctionDef> {
    match n.op.as_str() {
        "PartitionedCall" | "StatefulPartitionedCall" => lib.get(crate::graph::attr_func(n, "f")?.as_str()).copied(),
        op => lib.get(op).copied(),
    }
}

/// The flat output slot of `arg:idx` of a node of type `op` inside a function body.
fn output_slot(op: &str, arg: &str, idx: usize, lib: &HashMap<&str, &FunctionDef>) -> usize {
    const MULTI: &[(&str, &[&str])] = &[
        ("FusedBatchNorm", &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"]),
        ("FusedBatchNormV2", &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"]),
        ("FusedBatchNormV3", &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"]),
        ("Switch", &["output_false", "output_true"]),
        ("RefSwitch", &["output_false", "output_true"]),
        ("Merge", &["output", "value_index"]),
        ("TopKV2", &["values", "indices"]),
        ("Unique", &["y", "idx"]),
    ];
    if let Some((_, args)) = MULTI.iter().find(|(o, _)| *o == op) {
        return args.iter().position(|a| *a == arg).unwrap_or(0) + idx;
    }
    if let Some(f) = lib.get(op) {
        return f.signature.as_ref().and_then(|s| s.output_arg.iter().position(|a| a.name == arg)).unwrap_or(0) + idx;
    }
    idx
}

/// Rewrite a function-body input reference (`arg`, `node:out_arg:idx`, `^node`) into a
/// graph reference under `prefix`.
fn rewrite_input(s: &str, prefix: &str, body_ops: &HashMap<&str, &str>, lib: &HashMap<&str, &FunctionDef>) -> String {
    if let Some(ctrl) = s.strip_prefix('^') {
        return format!("^{prefix}{ctrl}");
    }
    let mut parts = s.splitn(3, ':');
    let node = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (Some(arg), Some(idx)) => {
            let idx = idx.parse().unwrap_or(0);
            let op = body_ops.get(node).copied().unwrap_or("");
            let slot = output_slot(op, arg, idx, lib);
            if slot == 0 {
                format!("{prefix}{node}")
            } else {
                format!("{prefix}{node}:{slot}")
            }
        }
        _ => {
            let (n, slot, _) = split_name(s);
            if slot == 0 {
                format!("{prefix}{n}")
            } else {
                format!("{prefix}{n}:{slot}")
            }
        }
    }
}

/// Inline every function call of `nodes` (recursively). Returns the new node list and how
/// many calls were inlined.
pub fn inline(nodes: Vec<NodeDef>, library: &[FunctionDef]) -> Result<(Vec<NodeDef>, usize), String> {
    let lib: HashMap<&str, &FunctionDef> = library.iter().filter_map(|f| Some((f.signature.as_ref()?.name.as_str(), f))).collect();
    if lib.is_empty() {
        return Ok((nodes, 0));
    }
    // Calls nested in calls multiply: bound what inlining may make, relative to the file.
    let budget = senetc_import::limits::MAX_NODES.min(64 * (nodes.len() + library.iter().map(|f| f.node_def.len()).sum::<usize>()) + 100_000);
    let mut out = Vec::with_capacity(nodes.len());
    let mut work: Vec<(NodeDef, usize)> = nodes.into_iter().rev().map(|n| (n, 0)).collect();
    let mut calls = 0;
    while let Some((n, depth)) = work.pop() {
        if out.len() + work.len() > budget {
            return Err(format!("inlining the function calls makes more than {budget} nodes (at {:?})", n.name));
        }
        let Some(f) = callee(&n, &lib) else {
            out.push(n);
            continue;
        };
        if depth >= MAX_DEPTH {
            return Err(format!("function calls nest deeper than {MAX_DEPTH} at {:?}", n.name));
        }
        calls += 1;
        let sig = f.signature.clone().unwrap_or_default();
        let prefix = format!("{}/", n.name);
        let data_inputs: Vec<&String> = n.input.iter().filter(|s| !s.starts_with('^')).collect();
        if data_inputs.len() != sig.input_arg.len() {
            return Err(format!("call {:?} of {:?} passes {} inputs, the function takes {}", n.name, sig.name, data_inputs.len(), sig.input_arg.len()));
        }
        let body_ops: HashMap<&str, &str> = f.node_def.iter().map(|b| (b.name.as_str(), b.op.as_str())).collect();
        let mut new_nodes = Vec::with_capacity(f.node_def.len() + sig.input_arg.len() + 1);
        for (arg, src) in sig.input_arg.iter().zip(&data_inputs) {
            new_nodes.push(NodeDef { name: format!("{prefix}{}", arg.name), op: "Identity".into(), input: vec![(*src).clone()], device: String::new(), attr: vec![] });
        }
        for b in &f.node_def {
            let mut c = b.clone();
            c.name = format!("{prefix}{}", b.name);
            c.input = b.input.iter().map(|s| rewrite_input(s, &prefix, &body_ops, &lib)).collect();
            new_nodes.push(c);
        }
        let results: Vec<String> = sig
            .output_arg
            .iter()
            .map(|a| f.ret.get(&a.name).map(|r| rewrite_input(r, &prefix, &body_ops, &lib)).ok_or_else(|| format!("function {:?} does not return {:?}", sig.name, a.name)))
            .collect::<Result<_, _>>()?;
        let attr = vec![crate::graph::attr_entry("_inlined_from", attr_value::Value::S(sig.name.clone().into_bytes()))];
        new_nodes.push(NodeDef { name: n.name.clone(), op: "IdentityN".into(), input: results, device: String::new(), attr });
        for c in new_nodes.into_iter().rev() {
            work.push((c, depth + 1));
        }
    }
    Ok((out, calls))
}

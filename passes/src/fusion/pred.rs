//! Side conditions of the rules, as small named predicates over the match.

use egg::{EGraph, Subst, SymbolLang, Var};
use std::collections::HashSet;
use std::sync::Arc;

/// Facts about the original graph that predicates consult.
#[derive(Clone, Default)]
pub struct Preds {
    /// Node indices whose single output has exactly one reader and is not a graph output.
    pub single_use: Arc<HashSet<usize>>,
    /// Constant node indices holding a 1-D vector (or [1, n]): usable as a gemm bias.
    pub vectors: Arc<HashSet<usize>>,
}

fn leaf_symbol(eg: &EGraph<SymbolLang, ()>, s: &Subst, var: &str) -> Option<String> {
    let v: Var = var.parse().ok()?;
    let class = &eg[*s.get(v)?];
    class.nodes.iter().find(|n| n.children.is_empty()).map(|n| n.op.as_str().to_string())
}

/// The original node behind meta variable `var` has one reader.
pub fn single_use(p: &Preds, eg: &EGraph<SymbolLang, ()>, s: &Subst, var: &str) -> bool {
    leaf_symbol(eg, s, var)
        .and_then(|m| m.strip_prefix('m').and_then(|i| i.parse::<usize>().ok()))
        .is_some_and(|i| p.single_use.contains(&i))
}

/// Every variable is bound to a constant of the original graph (or to an absent bias).
pub fn all_const(eg: &EGraph<SymbolLang, ()>, s: &Subst, vars: &[&str]) -> bool {
    vars.iter().all(|v| leaf_symbol(eg, s, v).is_some_and(|m| m.starts_with('k') || m == "nobias"))
}

/// The variable is bound to a constant vector ([n] or [1, n]).
pub fn vector_const(p: &Preds, eg: &EGraph<SymbolLang, ()>, s: &Subst, var: &str) -> bool {
    leaf_symbol(eg, s, var)
        .and_then(|m| m.strip_prefix('k').and_then(|i| i.parse::<usize>().ok()))
        .is_some_and(|i| p.vectors.contains(&i))
}

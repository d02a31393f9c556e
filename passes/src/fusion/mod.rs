//! Pattern fusions as typed egg rewrites.
//!
//! - **Language** (`lang`): an e-node is an op kind of the IR ([`senetc_ir::ops::OpKind`],
//!   so patterns say `(conv ?x ?w ?b)`), its operands, and an index into a node table that
//!   holds the op's attributes and name. A missing optional operand is the `absent` leaf.
//! - **Analysis** (`analysis`): every e-class knows its value's type (by `Op::infer`),
//!   whether it is a constant and how many readers it has; every e-node knows the facts of
//!   its attributes the rules ask about (a 1x1 pointwise conv, a spatial mean, a view to
//!   [N,C]...).
//! - **Rules** (`rules`, `pattern`, `apply`): one named table per theme; patterns name their
//!   nodes, conditions read the facts, and the applier of each fused result builds the fused
//!   op from the matched ops and type-checks it. A result that does not type-check is skipped
//!   with a warning naming the rule; the pass goes on.
//! - **Extraction and rebuild**: the cheapest term (see [`Depth`]) is rebuilt as IR; a
//!   node the IR rejects is an error naming the rule that made it.

mod analysis;
mod apply;
mod lang;
mod pattern;
pub mod rules;
#[cfg(test)]
mod tests;

use crate::manager::PassReport;
use crate::PassError;
use analysis::{Entry, Fusion};
use egg::{CostFunction, EGraph, Extractor, Id, Runner, StopReason};
use lang::{FNode, Sym};
use rules::Rw;
use senetc_ir::ops::OpKind;
use senetc_ir::{Graph, NodeId, Op, Outlet};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

/// Which rule tables a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// Canonical forms (silu, gemm) and squeeze-excitation fusion.
    SqueezeExcite,
    /// Conv + activation and residual add + activation.
    Activations,
}

static SE_RULES: LazyLock<Vec<Rw>> = LazyLock::new(|| rules::canon().into_iter().chain(rules::squeeze_excite()).collect());
static ACT_RULES: LazyLock<Vec<Rw>> = LazyLock::new(rules::activations);

impl Theme {
    /// The theme's rules.
    pub fn rules(self) -> &'static [Rw] {
        match self {
            Theme::SqueezeExcite => &SE_RULES,
            Theme::Activations => &ACT_RULES,
        }
    }
}

/// Explicit limits of one egg run; a run that stops for any other reason than saturation
/// is reported as a warning.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Rule-application rounds.
    pub iterations: usize,
    /// E-graph nodes.
    pub nodes: usize,
    /// Wall time.
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { iterations: 12, nodes: 200_000, time: Duration::from_secs(20) }
    }
}

/// Run one theme's rules over `g`.
pub fn run_theme(g: &mut Graph, theme: Theme, limits: &Limits, report: &mut PassReport) -> Result<(), PassError> {
    if let Some(id) = g.node_ids().find(|&id| g.node(id).outputs.len() != 1) {
        // The e-graph has one value per node.
        let n = g.node(id);
        report.warnings.push(format!("{theme:?} fusion skipped: node {:?} ({}) has {} outputs", n.name, n.op.name(), n.outputs.len()));
        return Ok(());
    }
    let (egraph, outputs) = to_egraph(g)?;
    let mut runner = Runner::default()
        .with_iter_limit(limits.iterations)
        .with_node_limit(limits.nodes)
        .with_time_limit(limits.time)
        .with_egraph(egraph)
        .run(theme.rules());
    match &runner.stop_reason {
        Some(StopReason::Saturated) | None => {}
        Some(other) => report.warnings.push(format!("{theme:?} rewriting stopped early: {other:?} (graph still correct, maybe less fused)")),
    }
    report.warnings.append(&mut runner.egraph.analysis.warnings);
    let extractor = Extractor::new(&runner.egraph, Depth);
    let mut counts = BTreeMap::new();
    let rebuilt = from_egraph(g, &runner.egraph, &extractor, &outputs, &mut counts)?;
    if counts.is_empty() {
        return Ok(());
    }
    *g = rebuilt;
    for (k, n) in counts {
        report.changes += n;
        *report.counts.entry(k).or_default() += n;
    }
    Ok(())
}

/// The e-graph of `g`: one e-node per node (in canonical order, so runs are reproducible),
/// and the class of each graph output.
fn to_egraph(g: &Graph) -> Result<(EGraph<FNode, Fusion>, Vec<Id>), PassError> {
    let missing = |id: NodeId| PassError::Ir(senetc_ir::IrError::Graph(format!("node {:?} reads a value that is not computed before it (a cycle?)", g.node(id).name)));
    let mut eg = EGraph::new(Fusion::default());
    let mut ids: HashMap<NodeId, Id> = HashMap::new();
    let absent = eg.add(FNode::absent());
    for id in g.order() {
        let node = g.node(id);
        let out = Outlet::new(id);
        let uses = g.consumers(out).len() + g.outputs().iter().filter(|(_, o)| *o == out).count();
        let mut entry = Entry::original(node.op.clone(), node.name.clone(), id, uses, node.sources.clone());
        if matches!(node.op, Op::Input) {
            entry.input_type = Some(node.outputs[0].clone());
        }
        let mut children: Vec<Id> = g.inputs_of(id).iter().map(|o| ids.get(&o.node).copied().ok_or_else(|| missing(id))).collect::<Result<_, _>>()?;
        // Optional third operands are always present, so patterns have one arity.
        if matches!(node.op, Op::Conv(_) | Op::Gemm(_)) && children.len() == 2 {
            children.push(absent);
        }
        let kind = node.op.kind();
        let origin = eg.analysis.push(entry);
        ids.insert(id, eg.add(FNode::op(kind, origin, children)));
    }
    eg.rebuild();
    let outputs = g.outputs().iter().map(|(_, o)| ids.get(&o.node).map(|&id| eg.find(id)).ok_or_else(|| missing(o.node))).collect::<Result<_, _>>()?;
    Ok((eg, outputs))
}

/// Extraction cost: every op 1, leaves 0, along the longest chain of operands. A fused node
/// reads only operands at the border of the nodes it replaces; the replaced root reaches
/// each of them through at least one replaced node, and the costliest of them through two or
/// more in every rule (a new rule must keep this), so the fused node is always cheaper. A sum
/// over operands instead (1 + the operands' costs) counts a shared operand once per reader and
/// grows as 2^n along n residual blocks, past f64's exact integers in SE-ResNet-110; the
/// longest chain stays small and exact.
pub struct Depth;

impl CostFunction<FNode> for Depth {
    type Cost = usize;
    fn cost<C: FnMut(Id) -> usize>(&mut self, n: &FNode, mut costs: C) -> usize {
        let own = match n.sym {
            Sym::Op(OpKind::Input | OpKind::Const) | Sym::Absent => 0,
            Sym::Op(_) => 1,
        };
        own + n.children.iter().map(|&c| costs(c)).max().unwrap_or(0)
    }
}

fn rebuild_error(e: &Entry, msg: impl Into<String>) -> PassError {
    PassError::Fusion { node: e.name.clone(), made_by: e.made_by(), msg: msg.into() }
}

/// Rebuild IR from the extracted term; `counts` gets the report counter of every extracted
/// node a rule made.
fn from_egraph(old: &Graph, eg: &EGraph<FNode, Fusion>, ex: &Extractor<Depth, FNode, Fusion>, outputs: &[Id], counts: &mut BTreeMap<String, usize>) -> Result<Graph, PassError> {
    let mut g = Graph::new(old.name.clone());
    let mut inputs: HashMap<NodeId, Outlet> = HashMap::new();
    for &id in old.inputs() {
        let n = old.node(id);
        inputs.insert(id, g.add_input(n.name.clone(), n.outputs[0].clone()));
    }
    let internal = |msg: String| PassError::Fusion { node: String::new(), made_by: "the e-graph".into(), msg };
    // `None`: the absent operand.
    let mut built: HashMap<Id, Option<Outlet>> = HashMap::new();
    // Classes whose operands are being built: the path from the output being built.
    let mut open: HashSet<Id> = HashSet::new();
    for &root in outputs {
        // Iterative post-order: a class is built once its operands are.
        let mut stack = vec![(eg.find(root), false)];
        while let Some((class, ready)) = stack.pop() {
            if built.contains_key(&class) {
                continue;
            }
            let n = ex.find_best_node(class);
            if !ready {
                stack.push((class, true));
                open.insert(class);
                for &c in n.children.iter().rev() {
                    let c = eg.find(c);
                    if open.contains(&c) {
                        return Err(internal(format!("the extracted term has a cycle through class {c}")));
                    }
                    if !built.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
                continue;
            }
            open.remove(&class);
            let Sym::Op(kind) = n.sym else {
                built.insert(class, None);
                continue;
            };
            let e = eg.analysis.entry(n).ok_or_else(|| internal(format!("a {} node has no table entry", kind.name())))?;
            if e.op.kind() != kind {
                return Err(rebuild_error(e, format!("an e-node of kind {} holds a {}", kind.name(), e.op.name())));
            }
            let out = match &e.op {
                Op::Input => *e.source.and_then(|s| inputs.get(&s)).ok_or_else(|| rebuild_error(e, "an input that the graph does not have"))?,
                Op::Const(c) => g.add_const(c.name.clone(), c.tensor.clone()),
                op => {
                    let mut operands = Vec::with_capacity(n.children.len());
                    let mut absent = false;
                    for &c in &n.children {
                        match built.get(&eg.find(c)) {
                            Some(Some(o)) if !absent => operands.push(*o),
                            Some(None) => absent = true,
                            _ => return Err(rebuild_error(e, "an operand is missing or follows an absent one")),
                        }
                    }
                    let out = g.add(e.name.clone(), op.clone(), &operands).map_err(|err| rebuild_error(e, err.to_string()))?;
                    g.node_mut(out.node).set_sources(e.sources.clone());
                    if let Some(want) = &eg[class].data.ty {
                        if g.outlet_type(out) != want {
                            return Err(rebuild_error(e, format!("built as {} where the e-graph has {want}", g.outlet_type(out))));
                        }
                    }
                    out
                }
            };
            if let Some(k) = &e.count {
                *counts.entry(k.clone()).or_insert(0) += 1;
            }
            built.insert(class, Some(out));
        }
    }
    for ((name, _), &root) in old.outputs().iter().zip(outputs) {
        let o = built.get(&eg.find(root)).copied().flatten().ok_or_else(|| internal(format!("output {name:?} was not built")))?;
        g.add_output(name.clone(), o);
    }
    Ok(g)
}

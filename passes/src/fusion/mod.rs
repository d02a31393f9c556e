//! Pattern fusions as egg rewrites. A theme's rules run on an e-graph built from the IR;
//! extraction prefers fused nodes; the result is rebuilt as IR, keeping every node's
//! original op, attributes and name through the meta leaves.

mod pred;
pub mod rules;

use crate::manager::PassReport;
use crate::PassError;
use egg::{CostFunction, Extractor, Id, Language, RecExpr, Runner, StopReason, SymbolLang};
use pred::Preds;
use senetc_ir::ops::{Clip, FusedAct, Relu, Sigmoid, Silu, SqueezeExcite};
use senetc_ir::{Dim, Graph, NodeId, Op, Outlet, Tensor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Which rule tables a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// Activation canonicalization and squeeze-excitation fusion.
    SqueezeExcite,
    /// Conv + activation and residual add + relu.
    Activations,
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
    let vectors = g
        .node_ids()
        .filter(|&id| match &g.node(id).op {
            Op::Const(c) => matches!(c.tensor.shape(), [_] | [1, _]),
            _ => false,
        })
        .map(|id| id.index())
        .collect();
    let preds = Preds { single_use: std::sync::Arc::new(single_use_nodes(g)), vectors: std::sync::Arc::new(vectors) };
    let rules = match theme {
        Theme::SqueezeExcite => {
            let mut r = rules::activation_canon(&preds);
            r.extend(rules::squeeze_excite(&preds));
            r
        }
        Theme::Activations => rules::activation_fusion(&preds),
    };
    let expr = to_egg(g);
    let runner = Runner::default()
        .with_iter_limit(limits.iterations)
        .with_node_limit(limits.nodes)
        .with_time_limit(limits.time)
        .with_expr(&expr)
        .run(&rules);
    match &runner.stop_reason {
        Some(StopReason::Saturated) | None => {}
        Some(other) => report.warnings.push(format!("{theme:?} rewriting stopped early: {other:?} (graph still correct, maybe less fused)")),
    }
    let extractor = Extractor::new(&runner.egraph, PreferFused);
    let (_, best) = extractor.find_best(runner.roots[0]);
    let fused = count_fused(&best);
    if fused.is_empty() {
        return Ok(());
    }
    *g = from_egg(g, &best)?;
    for (k, n) in fused {
        report.changes += n;
        *report.counts.entry(k).or_default() += n;
    }
    Ok(())
}

fn single_use_nodes(g: &Graph) -> HashSet<usize> {
    g.node_ids()
        .filter(|&id| g.node(id).outputs.len() == 1 && crate::util::single_use(g, Outlet::new(id)))
        .map(|id| id.index())
        .collect()
}

/// What the rules may assume about a node: a category symbol.
fn category(g: &Graph, id: NodeId) -> String {
    let node = g.node(id);
    let ins = g.inputs_of(id);
    let in_shape = |i: usize| &g.outlet_type(ins[i]).shape;
    let out = &node.outputs[0].shape;
    let is_nc11 = |s: &senetc_ir::Shape| s.rank() == 4 && s.0[2] == Dim::Known(1) && s.0[3] == Dim::Known(1);
    let nc_of_4d = |s4: &senetc_ir::Shape, s2: &senetc_ir::Shape| s2.rank() == 2 && s4.0[..2] == s2.0[..];
    match &node.op {
        Op::Conv(c) if c.act != FusedAct::None => "conv_act".into(),
        Op::Conv(c) => {
            let k = g.outlet_type(ins[1]).shape.as_known().unwrap_or_default();
            let one = k.len() == 4 && k[2] == 1 && k[3] == 1 && c.strides == [1, 1] && c.dilations == [1, 1] && c.group == 1 && c.pads.iter().all(|&p| p == 0);
            if one { "conv1x1".into() } else { "conv".into() }
        }
        Op::GlobalAveragePool(_) => "gap".into(),
        Op::ReduceMean(r) if in_shape(0).rank() == 4 && r.axes_for(4).ok() == Some(vec![2, 3]) => {
            if r.keepdims { "gap".into() } else { "gap2d".into() }
        }
        Op::Flatten(_) | Op::Reshape(_) | Op::Squeeze(_) if is_nc11(in_shape(0)) && nc_of_4d(in_shape(0), out) => "to2d".into(),
        Op::Reshape(_) | Op::Unsqueeze(_) if is_nc11(out) && nc_of_4d(out, in_shape(0)) => "to4d".into(),
        Op::Unsqueeze(u) if u.axes.len() == 1 && (u.axes[0] == -1 || u.axes[0] == in_shape(0).rank() as i64) => "unsq1".into(),
        Op::Gemm(m) if m.alpha == 1.0 && m.beta == 1.0 && !m.trans_a => "fc".into(),
        Op::MatMul(_) if in_shape(0).rank() == 2 && g.outlet_type(ins[1]).rank() == 2 && matches!(g.node(ins[1].node).op, Op::Const(_)) => "mm2d".into(),
        Op::Clip(c) if c.min == 0.0 && c.max == 6.0 => "relu6".into(),
        Op::HardSigmoid(_) => "hsig".into(),
        Op::HardSwish(_) => "hswish".into(),
        op => op.name().into(),
    }
}

/// Build the e-graph term: one node per IR node in canonical order, then a root over the outputs.
fn to_egg(g: &Graph) -> RecExpr<SymbolLang> {
    let mut expr = RecExpr::default();
    let mut ids: HashMap<Outlet, Id> = HashMap::new();
    let nobias = expr.add(SymbolLang::leaf("nobias"));
    for id in g.order() {
        let node = g.node(id);
        let e = match &node.op {
            Op::Input => expr.add(SymbolLang::leaf(format!("i{}", id.index()))),
            Op::Const(_) => expr.add(SymbolLang::leaf(format!("k{}", id.index()))),
            op => {
                let mut children: Vec<Id> = g.inputs_of(id).iter().map(|o| ids[o]).collect();
                // Optional third operands are always present, so patterns have one arity.
                if matches!(op, Op::Conv(_) | Op::Gemm(_)) && children.len() == 2 {
                    children.push(nobias);
                }
                children.push(expr.add(SymbolLang::leaf(format!("m{}", id.index()))));
                expr.add(SymbolLang::new(category(g, id), children))
            }
        };
        for slot in 0..node.outputs.len() {
            ids.insert(Outlet { node: id, slot }, e);
        }
    }
    let outs: Vec<Id> = g.outputs().iter().map(|(_, o)| ids[o]).collect();
    expr.add(SymbolLang::new("root", outs));
    expr
}

/// Fused nodes cost less than the nodes they replace; leaves cost nothing.
struct PreferFused;

impl CostFunction<SymbolLang> for PreferFused {
    type Cost = f64;
    fn cost<C: FnMut(Id) -> f64>(&mut self, enode: &SymbolLang, mut costs: C) -> f64 {
        let op = enode.op.as_str();
        let own = if enode.children.is_empty() || op == "root" {
            0.0
        } else if op.starts_with("F:") {
            0.5
        } else {
            1.0
        };
        enode.children.iter().fold(own, |acc, &c| acc + costs(c))
    }
}

fn count_fused(expr: &RecExpr<SymbolLang>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in expr.as_ref() {
        let op = n.op.as_str();
        if let Some(rest) = op.strip_prefix("F:") {
            let kind = match rest.split(':').collect::<Vec<_>>().as_slice() {
                ["se", ..] => "fused squeeze_excite".to_string(),
                [what, act] => format!("fused {what}+{act}"),
                _ => format!("fused {rest}"),
            };
            *m.entry(kind).or_insert(0) += 1;
        } else if op == "silu" && n.children.len() == 2 {
            *m.entry("canonicalized silu".into()).or_insert(0) += 1;
        }
    }
    m
}

fn leaf_index(expr: &RecExpr<SymbolLang>, id: Id, prefix: char) -> Option<usize> {
    let n = &expr[id];
    if !n.is_leaf() {
        return None;
    }
    n.op.as_str().strip_prefix(prefix)?.parse().ok()
}

/// Rebuild IR from the extracted term.
fn from_egg(old: &Graph, expr: &RecExpr<SymbolLang>) -> Result<Graph, PassError> {
    let mut g = Graph::new(old.name.clone());
    let mut map: HashMap<Id, Outlet> = HashMap::new();
    let mut inputs: HashMap<usize, Outlet> = HashMap::new();
    for &id in old.inputs() {
        let n = old.node(id);
        inputs.insert(id.index(), g.add_input(n.name.clone(), n.outputs[0].clone()));
    }
    let meta = |id: Id| leaf_index(expr, id, 'm').map(NodeId::new);
    let nodes = expr.as_ref();
    for (i, n) in nodes.iter().enumerate() {
        let id = Id::from(i);
        let op = n.op.as_str();
        let operand = |map: &HashMap<Id, Outlet>, c: Id| -> Result<Outlet, PassError> {
            map.get(&c).copied().ok_or_else(|| PassError::Options(format!("fusion: operand of {op} is not a value")))
        };
        if n.is_leaf() {
            if let Some(k) = leaf_index(expr, id, 'k') {
                let Op::Const(c) = &old.node(NodeId::new(k)).op else { continue };
                map.insert(id, g.add_const(c.name.clone(), c.tensor.clone()));
            } else if let Some(k) = leaf_index(expr, id, 'i') {
                map.insert(id, inputs[&k]);
            }
            continue;
        }
        if op == "root" {
            for ((name, _), &c) in old.outputs().iter().zip(&n.children) {
                g.add_output(name.clone(), operand(&map, c)?);
            }
            continue;
        }
        let is_marker = |c: Id| expr[c].is_leaf() && meta(c).is_some();
        // Value operands in order; `None` where an optional operand is absent.
        let values: Vec<Option<Outlet>> = n
            .children
            .iter()
            .filter(|&&c| !is_marker(c))
            .map(|&c| if expr[c].is_leaf() && expr[c].op.as_str() == "nobias" { Ok(None) } else { operand(&map, c).map(Some) })
            .collect::<Result<_, _>>()?;
        let present: Vec<Outlet> = values.iter().flatten().copied().collect();
        let metas: Vec<NodeId> = n.children.iter().filter_map(|&c| meta(c)).collect();
        let out = if let Some(rest) = op.strip_prefix("F:") {
            build_fused(old, &mut g, rest, &values, &metas)?
        } else if op == "silu" {
            let name = metas.first().map(|&m| old.node(m).name.clone()).unwrap_or_default();
            g.add(name, Op::Silu(Default::default()), &present)?
        } else {
            let m = *metas.last().ok_or_else(|| PassError::Options(format!("fusion: {op} lost its origin")))?;
            let on = old.node(m);
            match (&on.op, op) {
                // A matmul + add extracted as a gemm (rule act-fc-from-matmul-add).
                (Op::MatMul(_), "fc") => g.add(on.name.clone(), Op::Gemm(senetc_ir::ops::Gemm::default()), &present)?,
                (op, _) => g.add(on.name.clone(), op.clone(), &present)?,
            }
        };
        map.insert(id, out);
    }
    Ok(g)
}

fn act_of(name: &str) -> FusedAct {
    match name {
        "relu" => FusedAct::Relu(Relu {}),
        "relu6" => FusedAct::Clip(Clip { min: 0.0, max: 6.0 }),
        "sigmoid" => FusedAct::Sigmoid(Sigmoid {}),
        "silu" => FusedAct::Silu(Silu {}),
        "hard_swish" => FusedAct::HardSwish(Default::default()),
        _ => FusedAct::None,
    }
}

/// The longest `/`-separated prefix shared by the fused nodes' names (the block's scope).
fn scope_name(names: &[&str]) -> String {
    let Some(first) = names.first() else { return String::new() };
    let mut prefix: &str = first;
    for n in &names[1..] {
        while !n.starts_with(prefix) {
            match prefix.trim_end_matches('/').rfind('/') {
                Some(i) => prefix = &prefix[..=i],
                None => return names.last().copied().unwrap_or("").to_string(),
            }
        }
    }
    match prefix.trim_end_matches('/') {
        "" => names.last().copied().unwrap_or("").to_string(),
        scope => scope.to_string(),
    }
}

fn build_fused(old: &Graph, g: &mut Graph, what: &str, values: &[Option<Outlet>], metas: &[NodeId]) -> Result<Outlet, PassError> {
    let parts: Vec<&str> = what.split(':').collect();
    let ops: Vec<Outlet> = values.iter().flatten().copied().collect();
    let ops = ops.as_slice();
    match parts.as_slice() {
        ["conv", act] => {
            let conv = old.node(metas[0]);
            let Op::Conv(mut c) = conv.op.clone() else { return Err(PassError::Options("fusion: conv origin is not a conv".into())) };
            c.act = act_of(act);
            Ok(g.add(conv.name.clone(), Op::Conv(c), ops)?)
        }
        ["add", act] => Ok(g.add(old.node(metas[0]).name.clone(), Op::AddAct(senetc_ir::ops::AddAct { act: act_of(act) }), ops)?),
        ["se", act, gate] => {
            // metas: pool, first product, second product, gate, mul.
            let names: Vec<&str> = metas.iter().map(|&m| old.node(m).name.as_str()).collect();
            let mut se = SqueezeExcite { act: act_of(act), ..SqueezeExcite::default() };
            if *gate == "hard_sigmoid" {
                if let Op::HardSigmoid(h) = &old.node(metas[3]).op {
                    se.gate = FusedAct::HardSigmoid(h.clone());
                }
            }
            let x = values[0].ok_or_else(|| PassError::Options("fusion: SE without input".into()))?;
            let w1 = matrix(old, g, values[1].ok_or_else(|| PassError::Options("fusion: SE without w1".into()))?, metas[1])?;
            let w2 = matrix(old, g, values[3].ok_or_else(|| PassError::Options("fusion: SE without w2".into()))?, metas[2])?;
            let rows = |g: &Graph, w: Outlet| g.outlet_type(w).shape.as_known().map_or(0, |s| s[0]);
            let (cr, c) = (rows(g, w1), rows(g, w2));
            let b1 = vector(g, values[2], cr, &old.node(metas[1]).name)?;
            let b2 = vector(g, values[4], c, &old.node(metas[2]).name)?;
            Ok(g.add(scope_name(&names), Op::SqueezeExcite(se), &[x, w1, b1, w2, b2])?)
        }
        _ => Err(PassError::Options(format!("fusion: unknown fused node {what}"))),
    }
}

fn const_tensor(g: &Graph, o: Outlet) -> Result<(String, Tensor), PassError> {
    match &g.node(o.node).op {
        Op::Const(c) => Ok((c.name.clone(), c.tensor.clone())),
        _ => Err(PassError::Options("fusion: SE weights must be constants".into())),
    }
}

/// An SE product's weights as [out, in], from a 1x1 conv ([out,in,1,1]), a gemm or a matmul.
fn matrix(old: &Graph, g: &mut Graph, w: Outlet, producer: NodeId) -> Result<Outlet, PassError> {
    let (name, t) = const_tensor(g, w)?;
    let s = t.shape().to_vec();
    let t = match &old.node(producer).op {
        Op::Gemm(senetc_ir::ops::Gemm { trans_b: false, .. }) | Op::MatMul(_) => {
            let mut out = vec![0.0; t.len()];
            senetc_kernels::layout::transpose(&t.to_f32(), &s, &[1, 0], &mut out);
            Tensor::from_f32(vec![s[1], s[0]], &out).cast(t.dtype())
        }
        _ => t.reshaped(vec![s[0], s[1..].iter().product()])?,
    };
    if t.shape() == s.as_slice() {
        return Ok(w);
    }
    Ok(g.add_const(format!("{name}:se"), t))
}

/// A bias as a vector of `n` (zeros where the product had none).
fn vector(g: &mut Graph, b: Option<Outlet>, n: usize, producer_name: &str) -> Result<Outlet, PassError> {
    let Some(b) = b else {
        return Ok(g.add_const(format!("{producer_name}:zero_bias"), Tensor::from_f32(vec![n], &vec![0.0; n])));
    };
    let (name, t) = const_tensor(g, b)?;
    if t.shape().len() == 1 {
        return Ok(b);
    }
    let t = t.reshaped(vec![t.len()])?;
    Ok(g.add_const(format!("{name}:se"), t))
}


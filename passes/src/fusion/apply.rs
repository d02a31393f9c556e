//! Applying a rule: conditions over the analysis facts, then a builder per fused result that
//! makes the fused `Op` from the matched nodes' ops, then a type check of the result.
//!
//! A result that does not type-check (or does not have the type of the value it replaces) is
//! not added: the rule is skipped with a warning that names it, and the pass goes on.

use super::analysis::{infer, Entry, Fact, Fusion, NodeFacts};
use super::lang::FNode;
use super::pattern::{var, Clause, Match};
use egg::{Applier, EGraph, Id, PatternAst, Subst, Symbol, Var};
use senetc_ir::ops::{AddAct, Const, FusedAct, Gemm, OpKind, Silu, SqueezeExcite};
use senetc_ir::{Op, Tensor, TensorType};

/// A side condition, read from the analysis facts of the match.
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    /// The matched node named by the variable has the fact.
    Is(Var, Fact),
    /// The value has one reader and is not a graph output.
    OneUse(Var),
    /// Like `OneUse`, but two readers are fine when the node named by the second variable is
    /// a silu made from x * sigmoid(x) of this value ([`Fact::SplitSilu`]): the sigmoid is the
    /// other reader and goes away with the silu.
    OneUseBesidesSilu(Var, Var),
    /// A constant, or `absent` (a missing bias).
    ConstOrAbsent(Var),
    /// A constant [n] or [1,n].
    Vector(Var),
    /// Both variables are bound to one value (patterns are linear; see `pattern`).
    Same(Var, Var),
}

impl Cond {
    /// Whether the condition holds of `m`.
    pub fn holds(&self, m: &Match) -> bool {
        let uses = |v: Var| m.facts(v).map(|f| f.uses);
        match *self {
            Cond::Is(v, fact) => m.entry(v).is_some_and(|e| e.facts.has(fact)),
            Cond::OneUse(v) => uses(v) == Some(1),
            Cond::OneUseBesidesSilu(v, act) => match uses(v) {
                Some(1) => true,
                Some(2) => m.entry(act).is_some_and(|e| e.facts.has(Fact::SplitSilu)),
                _ => false,
            },
            Cond::ConstOrAbsent(v) => m.facts(v).is_some_and(|f| f.konst || f.absent),
            Cond::Vector(v) => m.facts(v).is_some_and(|f| f.is_vector()),
            Cond::Same(a, b) => m.class(a).is_some() && m.class(a) == m.class(b),
        }
    }
}

/// An operand of a fused node.
#[derive(Clone, Debug)]
pub enum Operand {
    /// A value of the e-graph (maybe `absent`, as a trailing optional operand).
    Value(Id),
    /// A constant the rule derives (weights reshaped or transposed for the fused op).
    Derived(Const),
}

/// What a builder makes of a match.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The fused op.
    pub op: Op,
    /// Its name.
    pub name: String,
    /// Its operands.
    pub operands: Vec<Operand>,
    /// The report counter an extracted node increments.
    pub count: String,
    /// Facts the node carries beyond its attributes' ([`Fact::SplitSilu`]).
    pub facts: NodeFacts,
}

/// Makes the fused op of a match from the matched nodes' ops; `Err` says why it cannot.
pub type Build = fn(&Match) -> Result<Plan, String>;

/// The applier of every rule: conditions, builder, type check, and the record that makes a
/// second application of the same match a no-op.
pub struct Fuse {
    /// The rule's pattern (to identify the matched nodes).
    pub clauses: Vec<Clause>,
    /// Side conditions.
    pub conds: Vec<Cond>,
    /// The fused result.
    pub build: Build,
}

impl Fuse {
    /// Type-check `plan`: the fused op over its operands' types (absent ones left out: they
    /// are missing optional operands) must give the type of the value it replaces.
    fn check(eg: &EGraph<FNode, Fusion>, eclass: Id, plan: &Plan) -> Result<(), String> {
        let mut tys: Vec<TensorType> = Vec::new();
        let mut absent = false;
        for (i, o) in plan.operands.iter().enumerate() {
            let ty = match o {
                Operand::Value(id) if eg[*id].data.absent => {
                    absent = true;
                    continue;
                }
                Operand::Value(id) => eg[*id].data.ty.clone().ok_or_else(|| format!("operand {i} has no type"))?,
                Operand::Derived(c) => c.tensor_type(),
            };
            if absent {
                return Err(format!("operand {i} follows an absent one"));
            }
            tys.push(ty);
        }
        let refs: Vec<&TensorType> = tys.iter().collect();
        let got = infer(&plan.op, &refs).map_err(|e| format!("the fused {} does not type-check: {e}", plan.op.name()))?;
        match &eg[eclass].data.ty {
            Some(want) if *want == got => Ok(()),
            Some(want) => Err(format!("the fused {} gives {got} where the matched value is {want}", plan.op.name())),
            None => Err("the matched value has no type".into()),
        }
    }

    /// Enter the planned node in the node table, and its derived constants in the table and
    /// the e-graph; returns the e-node to add in place of the match.
    fn add(eg: &mut EGraph<FNode, Fusion>, eclass: Id, plan: Plan, sources: Vec<String>, rule: Symbol) -> FNode {
        let mut children = Vec::with_capacity(plan.operands.len());
        for o in plan.operands {
            children.push(match o {
                Operand::Value(id) => id,
                Operand::Derived(c) => {
                    let entry = Entry { name: c.name.clone(), op: Op::Const(c), source: None, input_type: None, uses: 1, rule: Some(rule), count: None, facts: NodeFacts::default(), sources: Vec::new() };
                    let origin = eg.analysis.push(entry);
                    eg.add(FNode::op(OpKind::Const, origin, Vec::new()))
                }
            });
        }
        let uses = eg[eclass].data.uses;
        let kind = plan.op.kind();
        let entry = Entry { op: plan.op, name: plan.name, source: None, input_type: None, uses, rule: Some(rule), count: Some(plan.count), facts: plan.facts, sources };
        let origin = eg.analysis.push(entry);
        FNode::op(kind, origin, children)
    }
}

fn union(eg: &mut EGraph<FNode, Fusion>, eclass: Id, node: FNode, rule: Symbol) -> Vec<Id> {
    let id = eg.add(node);
    if eg.union_trusted(eclass, id, rule) {
        vec![eclass]
    } else {
        vec![]
    }
}

impl Applier<FNode, Fusion> for Fuse {
    fn apply_one(&self, eg: &mut EGraph<FNode, Fusion>, eclass: Id, subst: &Subst, _: Option<&PatternAst<FNode>>, rule: Symbol) -> Vec<Id> {
        let (key, planned, at) = {
            let Some(m) = Match::new(eg, subst, &self.clauses) else { return vec![] };
            if !self.conds.iter().all(|c| c.holds(&m)) {
                return vec![];
            }
            let key = (rule, m.origins());
            if let Some(done) = eg.analysis.memo.get(&key) {
                return match done.clone() {
                    Some(node) => union(eg, eclass, node, rule),
                    None => vec![],
                };
            }
            let at = self.clauses.first().and_then(|c| m.entry(c.var)).map(|e| e.name.clone()).unwrap_or_default();
            let planned = (self.build)(&m).and_then(|plan| Fuse::check(eg, eclass, &plan).map(|()| (plan, m.sources())));
            (key, planned, at)
        };
        match planned {
            Err(why) => {
                eg.analysis.warnings.push(format!("rule {rule} matched at {at:?} but was skipped: {why}"));
                eg.analysis.memo.insert(key, None);
                vec![]
            }
            Ok((plan, sources)) => {
                let node = Fuse::add(eg, eclass, plan, sources, rule);
                eg.analysis.memo.insert(key, Some(node.clone()));
                union(eg, eclass, node, rule)
            }
        }
    }
}

// ---- Builders: one per fused result. ----

fn value(m: &Match, name: &str) -> Result<Operand, String> {
    m.class(var(name)).map(Operand::Value).ok_or_else(|| format!("{name} is not bound"))
}

fn entry<'a>(m: &Match<'a>, name: &str) -> Result<&'a Entry, String> {
    m.entry(var(name)).ok_or_else(|| format!("{name} matched no node"))
}

fn activation(m: &Match, name: &str) -> Result<FusedAct, String> {
    let e = entry(m, name)?;
    FusedAct::from_op(&e.op).ok_or_else(|| format!("{} is not a fusable activation", e.op.name()))
}

/// How reports name a fused activation (`relu6` is `clip {min=0, max=6}`).
fn label(act: &FusedAct) -> &'static str {
    if *act == FusedAct::relu6() {
        "relu6"
    } else {
        act.name()
    }
}

/// `silu(?a)` in place of `?mul` = x * sigmoid(x), named after the multiply.
pub fn silu(m: &Match) -> Result<Plan, String> {
    let mut facts = NodeFacts::default();
    facts.set(Fact::SplitSilu);
    Ok(Plan { op: Op::Silu(Silu {}), name: entry(m, "?mul")?.name.clone(), operands: vec![value(m, "?a")?], count: "canonicalized silu".into(), facts })
}

/// `gemm(?x, ?w, ?b)` in place of `?add` = matmul + bias, named after the matmul.
pub fn gemm(m: &Match) -> Result<Plan, String> {
    let operands = vec![value(m, "?x")?, value(m, "?w")?, value(m, "?b")?];
    Ok(Plan { op: Op::Gemm(Gemm::default()), name: entry(m, "?mm")?.name.clone(), operands, count: "canonicalized gemm".into(), facts: NodeFacts::default() })
}

/// `?conv` with `?act` in its epilogue.
pub fn conv_act(m: &Match) -> Result<Plan, String> {
    let conv = entry(m, "?conv")?;
    let Op::Conv(c) = &conv.op else { return Err(format!("?conv is a {}", conv.op.name())) };
    let act = activation(m, "?act")?;
    let count = format!("fused conv+{}", label(&act));
    let op = Op::Conv(senetc_ir::ops::Conv { act, ..c.clone() });
    Ok(Plan { op, name: conv.name.clone(), operands: vec![value(m, "?x")?, value(m, "?w")?, value(m, "?b")?], count, facts: NodeFacts::default() })
}

/// `add_act{?act}(?a, ?b)` in place of `?act(?add)`, named after the add.
pub fn add_act(m: &Match) -> Result<Plan, String> {
    let act = activation(m, "?act")?;
    let count = format!("fused add+{}", label(&act));
    Ok(Plan { op: Op::AddAct(AddAct { act }), name: entry(m, "?add")?.name.clone(), operands: vec![value(m, "?a")?, value(m, "?b")?], count, facts: NodeFacts::default() })
}

/// The constant a variable is bound to.
fn konst<'a>(m: &Match<'a>, name: &str) -> Result<&'a Const, String> {
    match m.konst(var(name)).map(|e| &e.op) {
        Some(Op::Const(c)) => Ok(c),
        _ => Err(format!("{name} is not a constant")),
    }
}

/// An SE product's weights as [out, in]: a 1x1 conv's [out,in,1,1] reshaped, a gemm's
/// [in,out] (trans_b = false) or a matmul's transposed, a gemm's [out,in] (trans_b) as is.
/// Returns the operand and `out`.
fn matrix(m: &Match, w: &str, product: &str) -> Result<(Operand, usize), String> {
    let c = konst(m, w)?;
    let s = c.tensor.shape().to_vec();
    let transposed = matches!(entry(m, product)?.op, Op::Gemm(Gemm { trans_b: false, .. }) | Op::MatMul(_));
    if transposed {
        let [rows, cols] = s[..] else { return Err(format!("{w} is {s:?}, not a matrix")) };
        let mut out = vec![0.0; c.tensor.len()];
        senetc_kernels::layout::transpose(&c.tensor.to_f32(), &s, &[1, 0], &mut out);
        let t = Tensor::from_f32(vec![cols, rows], &out).cast(c.tensor.dtype());
        return Ok((Operand::Derived(Const { name: format!("{}:se", c.name), tensor: t }), cols));
    }
    let Some((&rows, rest)) = s.split_first() else { return Err(format!("{w} is a scalar")) };
    let flat = [rows, rest.iter().product()];
    if s[..] == flat[..] {
        return Ok((value(m, w)?, rows));
    }
    let t = c.tensor.reshaped(flat.to_vec()).map_err(|e| e.to_string())?;
    Ok((Operand::Derived(Const { name: format!("{}:se", c.name), tensor: t }), rows))
}

/// An SE product's bias as a vector of `n`: zeros where the product has none (an `absent`
/// operand, or a matmul that has no bias operand at all), [1,n] reshaped, a vector as is.
fn vector(m: &Match, b: &str, n: usize, product: &str) -> Result<Operand, String> {
    if m.facts(var(b)).is_none_or(|f| f.absent) {
        let name = format!("{}:zero_bias", entry(m, product)?.name);
        return Ok(Operand::Derived(Const { name, tensor: Tensor::from_f32(vec![n], &vec![0.0; n]) }));
    }
    let c = konst(m, b)?;
    if c.tensor.shape().len() == 1 {
        return value(m, b);
    }
    let t = c.tensor.reshaped(vec![c.tensor.len()]).map_err(|e| e.to_string())?;
    Ok(Operand::Derived(Const { name: format!("{}:se", c.name), tensor: t }))
}

/// The longest `/`-separated prefix shared by the fused nodes' names (the block's scope).
pub fn scope_name(names: &[&str]) -> String {
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

/// `squeeze_excite(?x, w1, b1, w2, b2)` in place of `?mul`, with the matched activation and
/// gate (attributes kept: clip bounds, hard-sigmoid alpha and beta), named after the scope
/// of the pool, the products, the gate and the multiply.
pub fn squeeze_excite(m: &Match) -> Result<Plan, String> {
    let act = activation(m, "?act")?;
    let gate = activation(m, "?gate")?;
    let names = ["?pool", "?fc1", "?fc2", "?gate", "?mul"].map(|v| entry(m, v).map(|e| e.name.as_str()));
    let names: Vec<&str> = names.into_iter().collect::<Result<_, _>>()?;
    // Matrices first, then biases (whose lengths are the matrices' rows).
    let (w1, cr) = matrix(m, "?w1", "?fc1")?;
    let (w2, c) = matrix(m, "?w2", "?fc2")?;
    let b1 = vector(m, "?b1", cr, "?fc1")?;
    let b2 = vector(m, "?b2", c, "?fc2")?;
    let op = Op::SqueezeExcite(SqueezeExcite { act, gate, ..SqueezeExcite::default() });
    Ok(Plan { op, name: scope_name(&names), operands: vec![value(m, "?x")?, w1, b1, w2, b2], count: "fused squeeze_excite".into(), facts: NodeFacts::default() })
}

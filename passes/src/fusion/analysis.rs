//! The e-graph analysis: what rule conditions may rely on.
//!
//! Facts about a value are per e-class ([`Facts`]): its type (by `Op::infer` over the operands'
//! facts, so every class is typed), whether it is a constant, how many readers it has in the
//! source graph. Facts about an op's attributes are per e-node ([`NodeFacts`], in the node
//! table next to the op): a class can hold a fused node next to the node it replaces (a
//! `conv {act=relu}` in the class of the `relu`), and a condition asks about the node the
//! pattern matched, not about its class.

use super::lang::{FNode, Sym};
use egg::{Analysis, DidMerge, EGraph, Id, Symbol};
use senetc_ir::ops::{DataFormat, OpKind};
use senetc_ir::{Dim, NodeId, Op, Shape, TensorType};
use std::collections::HashMap;

/// One op of the e-graph: an original node of the graph, or one a rule built.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The op with its attributes (a constant holds its tensor).
    pub op: Op,
    /// The node's name.
    pub name: String,
    /// The source graph's node (inputs are rebuilt from it).
    pub source: Option<NodeId>,
    /// A graph input's type (inputs have nothing to infer from).
    pub input_type: Option<TensorType>,
    /// Readers of the value in the source graph (a graph output counts as one). A fused node
    /// has the readers of the value it replaces.
    pub uses: usize,
    /// The rule that built it; `None` for nodes of the source graph.
    pub rule: Option<Symbol>,
    /// The report counter an extracted node of this rule increments ("fused squeeze_excite").
    pub count: Option<String>,
    /// Attribute facts, filled in when the node enters the e-graph.
    pub facts: NodeFacts,
    /// The framework nodes it stands for (see `senetc_ir::Node::sources`; empty: its name).
    pub sources: Vec<String>,
}

impl Entry {
    /// An entry for a node of the source graph.
    pub fn original(op: Op, name: String, source: NodeId, uses: usize, sources: Vec<String>) -> Entry {
        Entry { op, name, source: Some(source), input_type: None, uses, rule: None, count: None, facts: NodeFacts::default(), sources }
    }

    /// Who made the node, for messages.
    pub fn made_by(&self) -> String {
        match self.rule {
            Some(r) => format!("rule {r}"),
            None => "the source graph".into(),
        }
    }
}

/// What rules may assume about an op's attributes and operand types; each fact belongs to
/// one or a few kinds (see [`node_facts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Fact {
    /// A mean over H and W of an NCHW value that keeps them as 1: `global_average_pool`,
    /// `reduce_mean {axes=[2,3], keepdims=true}`.
    MeanHwKeep,
    /// `reduce_mean {axes=[2,3], keepdims=false}` of a 4-D value: [N,C].
    MeanHwDrop,
    /// A conv without a fused activation.
    NoAct,
    /// A 1x1, stride-1, unpadded, ungrouped NCHW conv without a fused activation: a
    /// matrix product over channels.
    Pointwise,
    /// A gemm that is a dense layer: alpha = beta = 1, A not transposed.
    Fc,
    /// A matmul of a 2-D value by a 2-D constant.
    MatMul2dConst,
    /// A view (flatten, reshape, squeeze) from [N,C,1,1] to [N,C].
    To2d,
    /// A view (reshape, unsqueeze) from [N,C] to [N,C,1,1].
    To4d,
    /// An unsqueeze of one axis after the last.
    UnsqueezeLast,
    /// A silu a rule made from x * sigmoid(x): its operand has one more reader, the sigmoid,
    /// that goes away with it.
    SplitSilu,
}

/// A set of [`Fact`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts(u16);

impl NodeFacts {
    /// Whether `f` holds.
    pub fn has(self, f: Fact) -> bool {
        self.0 & (1 << f as u16) != 0
    }

    /// Add `f`.
    pub fn set(&mut self, f: Fact) {
        self.0 |= 1 << f as u16;
    }

    fn with(mut self, f: Fact, holds: bool) -> NodeFacts {
        if holds {
            self.set(f);
        }
        self
    }
}

/// Facts about a value: the analysis data of an e-class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Its type; `None` for `absent` (and for an op whose inference failed, which no rule matches).
    pub ty: Option<TensorType>,
    /// A constant.
    pub konst: bool,
    /// The `absent` leaf (a missing optional operand).
    pub absent: bool,
    /// Readers in the source graph (a graph output counts as one).
    pub uses: usize,
}

impl Facts {
    /// A constant of shape [n] or [1,n]: usable as a bias.
    pub fn is_vector(&self) -> bool {
        self.konst && self.ty.as_ref().is_some_and(|t| t.rank() == 1 || (t.rank() == 2 && t.shape.0[0] == Dim::Known(1)))
    }
}

/// The analysis: the node table, the record of what each rule application produced, and the
/// warnings of rewrites that were skipped.
#[derive(Default)]
pub struct Fusion {
    /// Every op of the e-graph, indexed by [`FNode::origin`].
    pub nodes: Vec<Entry>,
    /// What a rule made of a match (by rule and matched origins): the e-node it added, or
    /// `None` if it skipped it. Rules run every iteration; this makes a second application a
    /// no-op (same e-node, already in the e-graph) and warns once.
    pub(crate) memo: HashMap<(Symbol, Vec<u32>), Option<FNode>>,
    /// Rewrites skipped because their result did not type-check, naming the rule.
    pub warnings: Vec<String>,
}

impl Fusion {
    /// Add a table entry; returns its origin index.
    pub fn push(&mut self, e: Entry) -> u32 {
        self.nodes.push(e);
        (self.nodes.len() - 1) as u32
    }

    /// The entry of an e-node (`None` for `absent` and pattern nodes).
    pub fn entry(&self, n: &FNode) -> Option<&Entry> {
        self.nodes.get(n.origin as usize)
    }
}

/// `op` applied to operands of types `ins`: its (single) output type. Checks the arity
/// first, as `Op::infer` indexes its operands.
pub fn infer(op: &Op, ins: &[&TensorType]) -> Result<TensorType, String> {
    let (lo, hi) = op.arity();
    if ins.len() < lo || ins.len() > hi {
        return Err(format!("{} takes {lo}..={hi} operands, got {}", op.name(), ins.len()));
    }
    op.infer(ins)?.into_iter().next().ok_or_else(|| format!("{} infers no output", op.name()))
}

fn is_nc11(s: &Shape) -> bool {
    s.rank() == 4 && s.0[2] == Dim::Known(1) && s.0[3] == Dim::Known(1)
}

/// `four` is [N,C,1,1] and `two` is [N,C].
fn nc11_of(four: &Shape, two: &Shape) -> bool {
    is_nc11(four) && two.rank() == 2 && four.0[..2] == two.0[..]
}

/// The attribute facts of `op` applied to operands with facts `ins` (absent ones included),
/// giving `out`.
pub fn node_facts(op: &Op, ins: &[&Facts], out: Option<&TensorType>) -> NodeFacts {
    let f = NodeFacts::default();
    let in_ty = |i: usize| ins.get(i).and_then(|d| d.ty.as_ref());
    let (Some(x), Some(out)) = (in_ty(0), out) else { return f };
    match op {
        Op::GlobalAveragePool(p) => f.with(Fact::MeanHwKeep, p.format == DataFormat::Nchw && x.rank() == 4),
        Op::ReduceMean(r) => {
            let hw = x.rank() == 4 && r.axes_for(4).ok() == Some(vec![2, 3]);
            f.with(Fact::MeanHwKeep, hw && r.keepdims).with(Fact::MeanHwDrop, hw && !r.keepdims)
        }
        Op::Conv(c) => {
            let no_act = c.act == senetc_ir::ops::FusedAct::None;
            let k = in_ty(1).and_then(|w| w.shape.as_known()).unwrap_or_default();
            let pointwise = no_act
                && c.format == DataFormat::Nchw
                && k.len() == 4
                && k[2] == 1
                && k[3] == 1
                && c.strides == [1, 1]
                && c.dilations == [1, 1]
                && c.group == 1
                && c.pads.iter().all(|&p| p == 0);
            f.with(Fact::NoAct, no_act).with(Fact::Pointwise, pointwise)
        }
        Op::Gemm(m) => f.with(Fact::Fc, m.alpha == 1.0 && m.beta == 1.0 && !m.trans_a),
        Op::MatMul(_) => f.with(Fact::MatMul2dConst, x.rank() == 2 && ins.get(1).is_some_and(|w| w.konst && w.ty.as_ref().is_some_and(|t| t.rank() == 2))),
        Op::Flatten(_) | Op::Reshape(_) | Op::Squeeze(_) if nc11_of(&x.shape, &out.shape) => f.with(Fact::To2d, true),
        Op::Reshape(_) | Op::Unsqueeze(_) if nc11_of(&out.shape, &x.shape) => f.with(Fact::To4d, true),
        Op::Unsqueeze(u) => f.with(Fact::UnsqueezeLast, u.axes.len() == 1 && (u.axes[0] == -1 || u.axes[0] == x.rank() as i64)),
        _ => f,
    }
}

impl Analysis<FNode> for Fusion {
    type Data = Facts;

    fn make(eg: &mut EGraph<FNode, Self>, n: &FNode, _id: Id) -> Facts {
        let Sym::Op(kind) = n.sym else {
            return Facts { absent: true, ..Facts::default() };
        };
        let Some(entry) = eg.analysis.entry(n) else { return Facts::default() };
        let ins: Vec<&Facts> = n.children.iter().map(|&c| &eg[c].data).collect();
        let ty = match &entry.op {
            Op::Input => entry.input_type.clone(),
            op => {
                // An absent operand is a missing optional one: it is not passed.
                let present: Option<Vec<&TensorType>> = ins.iter().filter(|d| !d.absent).map(|d| d.ty.as_ref()).collect();
                present.and_then(|tys| infer(op, &tys).ok())
            }
        };
        let mut facts = node_facts(&entry.op, &ins, ty.as_ref());
        if entry.facts.has(Fact::SplitSilu) {
            facts.set(Fact::SplitSilu);
        }
        let data = Facts { ty, konst: kind == OpKind::Const, absent: false, uses: entry.uses };
        eg.analysis.nodes[n.origin as usize].facts = facts;
        data
    }

    fn merge(&mut self, a: &mut Facts, b: Facts) -> DidMerge {
        let before = a.clone();
        // Classes merge only when a rule adds a node in place of another, after checking that
        // its type is the class's type, so types agree; keep the first known.
        if a.ty.is_none() {
            a.ty = b.ty.clone();
        }
        a.konst |= b.konst;
        a.absent |= b.absent;
        // A value has one reader only if every node of the class says so.
        a.uses = a.uses.max(b.uses);
        DidMerge(*a != before, *a != b)
    }
}

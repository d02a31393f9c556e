//! Rule tables, one per theme. Law (after Cranelift's opts README): every rule is
//! directional and never makes the graph worse (the nodes it replaces go away: the
//! conditions ask that each interior node have no other reader); no blanket commutativity or
//! associativity; every rule has a kebab-case name `<theme>-<what>` and a one-line identity.
//!
//! Patterns name their nodes (`?conv:(conv ?x ?w ?b)`, see `super::pattern`); conditions
//! ([`Cond`]) read the analysis facts of those nodes and values; the applier of each fused
//! result (`super::apply`) builds the fused op from the matched nodes' ops. Where a form has
//! variants (the SE's activation, gate and layout, the activation fused into a conv or an
//! add), a loop generates one rule per variant; activations come from [`FusedAct::KINDS`],
//! so a new fusable activation of the IR needs no change here.

use super::analysis::{Fact, Fusion};
use super::apply::{self, Build, Cond, Fuse};
use super::lang::FNode;
use super::pattern::{var, Shape};
use egg::Rewrite;
use senetc_ir::ops::{FusedAct, OpKind};

/// A rewrite of this language.
pub type Rw = Rewrite<FNode, Fusion>;

/// A rule: name, pattern, conditions, fused result. Patterns are constants: a bad one is a
/// bug that shows the first time the table is built.
fn rule(name: impl Into<String>, pattern: &str, conds: &[Cond], build: Build) -> Rw {
    rule_for(name.into(), parse(pattern), conds, build)
}

fn parse(pattern: &str) -> Shape {
    Shape::parse(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))
}

fn rule_for(name: String, shape: Shape, conds: &[Cond], build: Build) -> Rw {
    let fuse = Fuse { clauses: shape.clauses.clone(), conds: conds.to_vec(), build };
    Rewrite::new(name.clone(), shape, fuse).unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

fn is(v: &str, f: Fact) -> Cond {
    Cond::Is(var(v), f)
}
fn one_use(v: &str) -> Cond {
    Cond::OneUse(var(v))
}
fn const_or_absent(v: &str) -> Cond {
    Cond::ConstOrAbsent(var(v))
}
fn vector(v: &str) -> Cond {
    Cond::Vector(var(v))
}
fn same(a: &str, b: &str) -> Cond {
    Cond::Same(var(a), var(b))
}

/// An op's name as a rule-name word (`hard_sigmoid` -> `hard-sigmoid`).
fn word(k: OpKind) -> String {
    k.name().replace('_', "-")
}

/// `canon-*`: the canonical forms the SE rules match.
#[rustfmt::skip]
pub fn canon() -> Vec<Rw> {
    vec![
        // x * sigmoid(x) == silu(x)
        rule("canon-silu-from-mul-sigmoid", "?mul:(mul ?a ?sig:(sigmoid ?a2))", &[same("?a", "?a2"), one_use("?sig")], apply::silu),
        // sigmoid(x) * x == silu(x)
        rule("canon-silu-from-sigmoid-mul", "?mul:(mul ?sig:(sigmoid ?a2) ?a)", &[same("?a", "?a2"), one_use("?sig")], apply::silu),
        // x @ W + b == gemm(x, W, b), for a 2-D x, a constant W and a constant vector b (TensorFlow's dense layer)
        rule("canon-gemm-from-matmul-add", "?add:(add ?mm:(matmul ?x ?w) ?b)", &[is("?mm", Fact::MatMul2dConst), one_use("?mm"), vector("?b")], apply::gemm),
    ]
}

/// The gates of an SE block: the sigmoid-shaped activations (the SE kernels and the Ascend
/// lowering have a gate path for each).
pub const SE_GATES: &[OpKind] = &[OpKind::Sigmoid, OpKind::HardSigmoid];

/// The two dense layers with the activation and the gate, as gemms, over a pooled [N,C].
const FC: &str = "?gate:({gate} ?fc2:(gemm ?act:({act} ?fc1:(gemm {pooled} ?w1 ?b1)) ?w2 ?b2))";
/// The same with bias-free dense layers, as TensorFlow writes them (SE-ResNet recipe): 2-D
/// matmuls by constant matrices.
const MM: &str = "?gate:({gate} ?fc2:(matmul ?act:({act} ?fc1:(matmul {pooled} ?w1)) ?w2))";
/// Pooling that keeps [N,C,1,1], then a view to [N,C].
const FLAT: &str = "?flat:(flatten|reshape|squeeze ?pool:(global_average_pool|reduce_mean ?xp))";
/// Pooling straight to [N,C].
const MEAN: &str = "?pool:(reduce_mean ?xp)";

/// The SE forms: name, the gate at [N,C,1,1] (over `{act}` and `{gate}`), and the facts its
/// nodes need. Weights and biases the pattern binds must be constants (a matmul form binds
/// no biases: they are zero).
#[rustfmt::skip]
fn se_forms() -> Vec<(&'static str, String, Vec<Cond>)> {
    let fc_flat = FC.replace("{pooled}", FLAT);
    let fc_mean = FC.replace("{pooled}", MEAN);
    let mm_flat = MM.replace("{pooled}", FLAT);
    let mm_mean = MM.replace("{pooled}", MEAN);
    let flat = [is("?flat", Fact::To2d), is("?pool", Fact::MeanHwKeep), is("?fc1", Fact::Fc), is("?fc2", Fact::Fc)];
    let mean = [is("?pool", Fact::MeanHwDrop), is("?fc1", Fact::Fc), is("?fc2", Fact::Fc)];
    let mm = [is("?fc1", Fact::MatMul2dConst), is("?fc2", Fact::MatMul2dConst)];
    let mm_flat_facts = [is("?flat", Fact::To2d), is("?pool", Fact::MeanHwKeep)];
    let mm_mean_facts = [is("?pool", Fact::MeanHwDrop)];
    let reshape = [is("?view", Fact::To4d)];
    let unsqueeze = [is("?view", Fact::UnsqueezeLast), is("?unsq", Fact::UnsqueezeLast)];
    vec![
        ("mm-reshape",        format!("?view:(reshape|unsqueeze {mm_flat})"),                  [&reshape[..], &mm_flat_facts[..], &mm[..]].concat()),
        ("mean-mm-reshape",   format!("?view:(reshape|unsqueeze {mm_mean})"),                  [&reshape[..], &mm_mean_facts[..], &mm[..]].concat()),
        ("mean-mm-unsqueeze", format!("?view:(unsqueeze ?unsq:(unsqueeze {mm_mean}))"),        [&unsqueeze[..], &mm_mean_facts[..], &mm[..]].concat()),
        ("conv",              "?gate:({gate} ?fc2:(conv ?act:({act} ?fc1:(conv ?pool:(global_average_pool|reduce_mean ?xp) ?w1 ?b1)) ?w2 ?b2))".to_string(),
                              vec![is("?pool", Fact::MeanHwKeep), is("?fc1", Fact::Pointwise), is("?fc2", Fact::Pointwise)]),
        ("fc-reshape",        format!("?view:(reshape|unsqueeze {fc_flat})"),                  [&reshape[..], &flat[..]].concat()),
        ("fc-unsqueeze",      format!("?view:(unsqueeze ?unsq:(unsqueeze {fc_flat}))"),        [&unsqueeze[..], &flat[..]].concat()),
        ("mean-fc-reshape",   format!("?view:(reshape|unsqueeze {fc_mean})"),                  [&reshape[..], &mean[..]].concat()),
        ("mean-fc-unsqueeze", format!("?view:(unsqueeze ?unsq:(unsqueeze {fc_mean}))"),        [&unsqueeze[..], &mean[..]].concat()),
    ]
}

/// `se-*`: squeeze-excitation, every variant of the seed families: pooling by
/// global_average_pool or reduce_mean (dims kept or dropped), the two products as 1x1 convs,
/// as gemms (a TensorFlow matmul + add is a gemm after `canon-gemm-from-matmul-add`) or as
/// bias-free matmuls, with
/// flatten/reshape/squeeze/unsqueeze around them, any fusable activation between, a sigmoid
/// or hard-sigmoid gate, and the gate multiplied on either side. Named
/// `se-<form>-<act>-<gate>-gate-<side>`, the side being the gate's operand of the multiply.
pub fn squeeze_excite() -> Vec<Rw> {
    let mut rules = Vec::new();
    for (form, gate4, facts) in se_forms() {
        for &act in FusedAct::KINDS {
            for &gate in SE_GATES {
                let gate4 = gate4.replace("{act}", act.name()).replace("{gate}", gate.name());
                for (side, pattern) in [("right", format!("?mul:(mul ?x {gate4})")), ("left", format!("?mul:(mul {gate4} ?x)"))] {
                    let shape = parse(&pattern);
                    let mut conds = facts.clone();
                    let bound = ["?w1", "?b1", "?w2", "?b2"].into_iter().filter(|v| shape.binds(var(v)));
                    conds.extend(bound.map(const_or_absent));
                    conds.push(same("?x", "?xp"));
                    // Every node the SE replaces has no other reader, except that fc1 has two
                    // when the activation is x * sigmoid(x).
                    conds.extend(shape.interior().filter(|&v| v != var("?fc1")).map(Cond::OneUse));
                    conds.push(Cond::OneUseBesidesSilu(var("?fc1"), var("?act")));
                    let name = format!("se-{form}-{}-{}-gate-{side}", word(act), word(gate));
                    // x * gate(fc2(act(fc1(pool(x))))) == squeeze_excite(x)
                    rules.push(rule_for(name, shape, &conds, apply::squeeze_excite));
                }
            }
        }
    }
    rules
}

/// `conv-act-*` and `residual-add-*`: an activation fused into the conv or the add that
/// feeds it, for every fusable activation.
pub fn activations() -> Vec<Rw> {
    let mut rules = Vec::new();
    for &act in FusedAct::KINDS {
        // act(conv(x)) == conv{act}(x)
        let pattern = format!("?act:({} ?conv:(conv ?x ?w ?b))", act.name());
        rules.push(rule(format!("conv-act-{}", word(act)), &pattern, &[is("?conv", Fact::NoAct), one_use("?conv")], apply::conv_act));
    }
    for &act in FusedAct::KINDS {
        // act(a + b) == add_act{act}(a, b)
        let pattern = format!("?act:({} ?add:(add ?a ?b))", act.name());
        rules.push(rule(format!("residual-add-{}", word(act)), &pattern, &[one_use("?add")], apply::add_act));
    }
    rules
}

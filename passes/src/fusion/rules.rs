//! Rule tables, one per theme. Law (after Cranelift's opts README): every rule is
//! directional and never makes the graph worse; no blanket commutativity or
//! associativity; every rule has a kebab-case name `<theme>-<what>` and a one-line
//! identity; side conditions are the small named predicates of `super::pred`.
//!
//! Nodes of the e-graph are `SymbolLang`: an original IR node is `(category operands.. ?meta)`
//! where the category says what the rules may rely on (`conv1x1`, `gap`, `to2d`, `fc`...,
//! see `super::category`) and the meta leaf names the original node, so attributes and names
//! survive; fused results are `F:`-prefixed.

use super::pred::{all_const, single_use, vector_const, Preds};
use egg::{ConditionalApplier, Pattern, Rewrite, SymbolLang};

type Rw = Rewrite<SymbolLang, ()>;

fn pat(s: &str) -> Pattern<SymbolLang> {
    s.parse().unwrap_or_else(|e| panic!("rule pattern {s:?}: {e}"))
}

fn rule(name: String, lhs: &str, rhs: &str, cond: impl Fn(&Preds, &mut egg::EGraph<SymbolLang, ()>, &egg::Subst) -> bool + Send + Sync + 'static, preds: &Preds) -> Rw {
    let p = preds.clone();
    let applier = ConditionalApplier { condition: move |eg: &mut egg::EGraph<SymbolLang, ()>, _id, s: &egg::Subst| cond(&p, eg, s), applier: pat(rhs) };
    Rewrite::new(name, pat(lhs), applier).unwrap_or_else(|e| panic!("rule: {e}"))
}

/// Activations the SE's middle step may use: (category, IR name).
const SE_ACTS: &[(&str, &str)] = &[("relu", "relu"), ("silu", "silu"), ("relu6", "relu6")];
/// SE gates: (category, IR name).
const SE_GATES: &[(&str, &str)] = &[("sigmoid", "sigmoid"), ("hsig", "hard_sigmoid")];

/// `act-*`: canonical activations. x * sigmoid(x) is silu.
#[rustfmt::skip]
pub fn activation_canon(p: &Preds) -> Vec<Rw> {
    vec![
        // x * sigmoid(x) == silu(x)
        rule("act-silu-from-mul-sigmoid".into(), "(mul ?a (sigmoid ?a ?ms) ?mm)", "(silu ?a ?mm)", |p, eg, s| single_use(p, eg, s, "?ms"), p),
        // sigmoid(x) * x == silu(x)
        rule("act-silu-from-sigmoid-mul".into(), "(mul (sigmoid ?a ?ms) ?a ?mm)", "(silu ?a ?mm)", |p, eg, s| single_use(p, eg, s, "?ms"), p),
        // x @ W + b == gemm(x, W, b), for a 2-D x and constant W and b (TensorFlow's dense layer)
        rule("act-fc-from-matmul-add".into(), "(add (mm2d ?x ?w ?m1) ?b ?ma)", "(fc ?x ?w ?b ?m1)", |p, eg, s| single_use(p, eg, s, "?m1") && all_const(eg, s, &["?w", "?b"]) && vector_const(p, eg, s, "?b"), p),
    ]
}

/// `se-*`: squeeze-excitation, every variant of the seed families: pooling by
/// global_average_pool or reduce_mean (kept or dropped dims), the two products as 1x1
/// convs or as gemms with flatten/reshape/unsqueeze around them, relu/silu/relu6 between,
/// sigmoid or hard sigmoid gate, and the gate multiplied on either side.
pub fn squeeze_excite(p: &Preds) -> Vec<Rw> {
    let mut rules = Vec::new();
    for &(act, act_name) in SE_ACTS {
        for &(gate, gate_name) in SE_GATES {
            let a = |inner: &str| format!("({act} {inner} ?ma)");
            let g = |inner: &str| format!("({gate} {inner} ?mg)");
            // (form name, gate at [N,C,1,1])
            let conv = g(&format!("(conv1x1 {} ?w2 ?b2 ?m2)", a("(conv1x1 (gap ?x ?m0) ?w1 ?b1 ?m1)")));
            let fc_flat = g(&format!("(fc {} ?w2 ?b2 ?m2)", a("(fc (to2d (gap ?x ?m0) ?mf) ?w1 ?b1 ?m1)")));
            let fc_mean = g(&format!("(fc {} ?w2 ?b2 ?m2)", a("(fc (gap2d ?x ?m0) ?w1 ?b1 ?m1)")));
            let forms = [
                ("conv", conv),
                ("fc-reshape", format!("(to4d {fc_flat} ?mr)")),
                ("fc-unsqueeze", format!("(unsq1 (unsq1 {fc_flat} ?mu) ?mr)")),
                ("mean-fc-reshape", format!("(to4d {fc_mean} ?mr)")),
                ("mean-fc-unsqueeze", format!("(unsq1 (unsq1 {fc_mean} ?mu) ?mr)")),
            ];
            let rhs = format!("(F:se:{act_name}:{gate_name} ?x ?w1 ?b1 ?w2 ?b2 ?m0 ?m1 ?m2 ?mg ?mm)");
            for (form, gate4) in &forms {
                for (side, lhs) in [("left", format!("(mul ?x {gate4} ?mm)")), ("right", format!("(mul {gate4} ?x ?mm)"))] {
                    // x * gate(fc2(act(fc1(pool(x))))) == squeeze_excite(x)
                    let name = format!("se-{form}-{act}-{gate}-gate-{side}");
                    rules.push(rule(name, &lhs, &rhs, |p, eg, s| {
                        // ?m1 may have two readers when the activation is x*sigmoid(x).
                        all_const(eg, s, &["?w1", "?b1", "?w2", "?b2"]) && ["?m0", "?ma", "?m2"].iter().all(|v| single_use(p, eg, s, v))
                    }, p));
                }
            }
        }
    }
    rules
}

/// `conv-act-*` and `residual-*`: an activation fused into the conv or add that feeds it.
pub fn activation_fusion(p: &Preds) -> Vec<Rw> {
    let mut rules = Vec::new();
    for (act, act_name) in [("relu", "relu"), ("relu6", "relu6"), ("sigmoid", "sigmoid"), ("silu", "silu"), ("hswish", "hard_swish")] {
        for conv in ["conv", "conv1x1"] {
            // act(conv(x)) == conv{act}(x)
            rules.push(rule(
                format!("conv-act-{conv}-{act}"),
                &format!("({act} ({conv} ?x ?w ?b ?m) ?ma)"),
                &format!("(F:conv:{act_name} ?x ?w ?b ?m ?ma)"),
                |p, eg, s| single_use(p, eg, s, "?m"),
                p,
            ));
        }
    }
    for (act, act_name) in [("relu", "relu"), ("relu6", "relu6")] {
        // relu(a + b) == add_act{relu}(a, b)
        rules.push(rule(
            format!("residual-add-{act}"),
            &format!("({act} (add ?a ?b ?m) ?ma)"),
            &format!("(F:add:{act_name} ?a ?b ?m ?ma)"),
            |p, eg, s| single_use(p, eg, s, "?m"),
            p,
        ));
    }
    rules
}

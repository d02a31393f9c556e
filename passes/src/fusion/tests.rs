//! Goal tests in egg's style: a small graph enters the e-graph, a theme's rules run to
//! saturation, and the output's e-class must reach the goal term (`egraph.equivs` in egg's
//! `test_fn!`; here a pattern searched in the output's class), with the fused node's
//! attributes checked on its table entry. Then the pass end to end: skipped rewrites warn
//! with the rule's name, and the rebuilt graph carries the derived weights.

use super::analysis::{Entry, Fusion};
use super::lang::{FNode, Sym};
use super::*;
use egg::{Pattern, Searcher};
use senetc_ir::ops::{Clip, FusedAct, HardSigmoid, HardSwish, Relu, Silu, SqueezeExcite};
use senetc_ir::text;

fn graph(src: &str) -> Graph {
    text::parse(src, &BTreeMap::new()).unwrap_or_else(|e| panic!("test IR: {e}\n{src}"))
}

/// The e-graph of `src` after `theme`'s rules ran to saturation, and its output classes.
fn saturate(theme: Theme, src: &str) -> (EGraph<FNode, Fusion>, Vec<Id>) {
    let (eg, outputs) = to_egraph(&graph(src)).unwrap();
    let runner = Runner::default().with_egraph(eg).run(theme.rules());
    assert!(matches!(runner.stop_reason, Some(StopReason::Saturated)), "{:?}", runner.stop_reason);
    let outputs = outputs.iter().map(|&o| runner.egraph.find(o)).collect();
    (runner.egraph, outputs)
}

/// The rule-made nodes of `class` that `goal` matches there, if the goal is reached.
fn reached<'a>(eg: &'a EGraph<FNode, Fusion>, class: Id, goal: &str) -> Vec<&'a Entry> {
    let pattern: Pattern<FNode> = goal.parse().unwrap_or_else(|e| panic!("goal {goal:?}: {e}"));
    if pattern.search_eclass(eg, class).is_none() {
        return Vec::new();
    }
    let root = pattern.ast.as_ref().last().and_then(|n| match n {
        egg::ENodeOrVar::ENode(n) => Some(n.sym),
        egg::ENodeOrVar::Var(_) => None,
    });
    eg[class].nodes.iter().filter(|n| Some(n.sym) == root).filter_map(|n| eg.analysis.entry(n)).filter(|e| e.rule.is_some()).collect()
}

/// `src`'s first output reaches `goal` under `theme`: the one rule-made node it reached.
fn reach(theme: Theme, src: &str, goal: &str) -> Entry {
    let (eg, outputs) = saturate(theme, src);
    let found = reached(&eg, outputs[0], goal);
    assert_eq!(found.len(), 1, "{goal} not reached (or reached {} times); warnings: {:?}", found.len(), eg.analysis.warnings);
    found[0].clone()
}

/// `src`'s first output does not reach `goal`; the warnings of the run.
fn not_reach(theme: Theme, src: &str, goal: &str) -> Vec<String> {
    let (eg, outputs) = saturate(theme, src);
    assert!(reached(&eg, outputs[0], goal).is_empty(), "{goal} reached");
    eg.analysis.warnings.clone()
}

fn se_of(e: &Entry) -> &SqueezeExcite {
    match &e.op {
        Op::SqueezeExcite(se) => se,
        op => panic!("{} is not an SE", op.name()),
    }
}

const SE: &str = "(squeeze_excite ?x ?w1 ?b1 ?w2 ?b2)";

/// The timm form: mean over H,W kept, 1x1 conv, `{act}`, 1x1 conv, `{gate}`, `{scale}`.
const SE_CONV: &str = r#"graph "se_conv" {
  input %0 "x" : f32[batch,4,3,3]
  %1 = {pool} : f32[batch,4,1,1] "blk/se/pool"
  %2 = const "w1" : f32[2,4,1,1] = [0.5, -0.5, 1.0, 0.25, -1.0, 0.5, 0.5, 0.75]
  %3 = const "b1" : f32[2] = [0.1, 0.2]
  %4 = conv(%1, %2, %3) : f32[batch,2,1,1] "blk/se/fc1"
  %5 = {act}(%4) : f32[batch,2,1,1] "blk/se/act"
  %6 = const "w2" : f32[4,2,1,1] = [1.0, -1.0, 0.5, 0.5, -0.25, 1.5, 2.0, 0.0]
  %7 = const "b2" : f32[4] = [0.0, 0.1, -0.1, 0.3]
  %8 = conv(%5, %6, %7) : f32[batch,4,1,1] "blk/se/fc2"
  %9 = {gate}(%8) : f32[batch,4,1,1] "blk/se/gate"
  %10 = {scale} : f32[batch,4,3,3] "blk/se/scale"
  output "y" = %10
}"#;

fn se_conv(pool: &str, act: &str, gate: &str, scale: &str) -> String {
    SE_CONV.replace("{pool}", pool).replace("{act}", act).replace("{gate}", gate).replace("{scale}", scale)
}

#[test]
fn silu_from_x_times_sigmoid_x() {
    for mul in ["mul(%0, %1)", "mul(%1, %0)"] {
        let src = format!(
            r#"graph "silu" {{
  input %0 "x" : f32[1,4,2,2]
  %1 = sigmoid(%0) : f32[1,4,2,2] "act/sigmoid"
  %2 = {mul} : f32[1,4,2,2] "act/mul"
  output "y" = %2
}}"#
        );
        let e = reach(Theme::SqueezeExcite, &src, "(silu ?x)");
        assert_eq!((&e.op, e.name.as_str()), (&Op::Silu(Silu {}), "act/mul"));
        assert_eq!(e.rule.map(|r| r.to_string()).as_deref(), Some(if mul == "mul(%0, %1)" { "canon-silu-from-mul-sigmoid" } else { "canon-silu-from-sigmoid-mul" }));
    }
}

#[test]
fn se_conv_form_either_side() {
    for (scale, side) in [("mul(%0, %9)", "right"), ("mul(%9, %0)", "left")] {
        for pool in ["reduce_mean(%0) {axes=[2,3], keepdims=true}", "global_average_pool(%0)"] {
            let e = reach(Theme::SqueezeExcite, &se_conv(pool, "relu", "sigmoid", scale), SE);
            assert_eq!(se_of(&e), &SqueezeExcite::default());
            assert_eq!(e.name, "blk/se");
            assert_eq!(e.rule.unwrap().to_string(), format!("se-conv-relu-sigmoid-gate-{side}"));
        }
    }
}

#[test]
fn se_relu6_and_hard_swish_middle_activations() {
    let scale = "mul(%0, %9)";
    let e = reach(Theme::SqueezeExcite, &se_conv("global_average_pool(%0)", "clip", "sigmoid", scale).replace("clip(%4)", "clip(%4) {min=0.0, max=6.0}"), SE);
    assert_eq!(se_of(&e).act, FusedAct::Clip(Clip { min: 0.0, max: 6.0 }));
    // Generated from FusedAct::KINDS: not one of the seed families' activations, still fused.
    let e = reach(Theme::SqueezeExcite, &se_conv("global_average_pool(%0)", "hard_swish", "sigmoid", scale), SE);
    assert_eq!(se_of(&e).act, FusedAct::HardSwish(HardSwish {}));
}

#[test]
fn se_gemm_flatten_reshape_form() {
    let src = r#"graph "se_fc" {
  input %0 "x" : f32[batch,4,2,2]
  %1 = global_average_pool(%0) : f32[batch,4,1,1] "se/pool"
  %2 = flatten(%1) : f32[batch,4] "se/flatten"
  %3 = const "w1" : f32[2,4] = [0.5, -0.5, 1.0, 0.25, -1.0, 0.5, 0.5, 0.75]
  %4 = const "b1" : f32[2] = [0.1, 0.2]
  %5 = gemm(%2, %3, %4) {trans_b=true} : f32[batch,2] "se/fc1"
  %6 = relu(%5) : f32[batch,2] "se/relu"
  %7 = const "w2" : f32[4,2] = [1.0, -1.0, 0.5, 0.5, -0.25, 1.5, 2.0, 0.0]
  %8 = gemm(%6, %7) {trans_b=true} : f32[batch,4] "se/fc2"
  %9 = sigmoid(%8) : f32[batch,4] "se/gate"
  %10 = reshape(%9) {shape=[0,4,1,1]} : f32[batch,4,1,1] "se/reshape"
  %11 = mul(%0, %10) : f32[batch,4,2,2] "se/scale"
  output "y" = %11
}"#;
    let e = reach(Theme::SqueezeExcite, src, SE);
    assert_eq!((se_of(&e), e.name.as_str()), (&SqueezeExcite::default(), "se"));
    assert_eq!(e.rule.unwrap().to_string(), "se-fc-reshape-relu-sigmoid-gate-right");
    // fc2 has no bias: the pass gives the SE a zero one named after fc2.
    let mut g = graph(src);
    run_theme(&mut g, Theme::SqueezeExcite, &Limits::default(), &mut PassReport::default()).unwrap();
    assert!(g.weights().contains_key("se/fc2:zero_bias"), "{}", text::print(&g));
}

/// The gemm form with the pooled dims dropped: x*sigmoid(x) between, a hard-sigmoid gate
/// (alpha and beta kept), `{view}` back to [N,C,1,1].
const SE_MEAN: &str = r#"graph "se_mean" {
  input %0 "x" : f32[batch,4,2,2]
  %1 = reduce_mean(%0) {axes=[2,3], keepdims=false} : f32[batch,4] "blk/se/pool"
  %2 = const "w1" : f32[2,4] = [0.5, -0.5, 1.0, 0.25, -1.0, 0.5, 0.5, 0.75]
  %3 = const "b1" : {b1} = {b1v}
  %4 = gemm(%1, %2, %3) {trans_b=true} : f32[batch,2] "blk/se/fc1"
  %5 = sigmoid(%4) : f32[batch,2] "blk/se/act/sigmoid"
  %6 = mul(%4, %5) : f32[batch,2] "blk/se/act/mul"
  %7 = const "w2" : f32[2,4] = [1.0, -1.0, 0.5, 0.5, -0.25, 1.5, 2.0, 0.0]
  %8 = const "b2" : f32[4] = [0.0, 0.1, -0.1, 0.3]
  %9 = gemm(%6, %7, %8) : f32[batch,4] "blk/se/fc2"
  %10 = hard_sigmoid(%9) {alpha=0.16666667, beta=0.25} : f32[batch,4] "blk/se/gate"
  {view}
  %12 = mul(%11, %0) : f32[batch,4,2,2] "blk/se/scale"
  output "y" = %12
}"#;

fn se_mean(view: &str, b1: &str) -> String {
    let (ty, values) = b1.split_once(" = ").unwrap();
    SE_MEAN.replace("{view}", view).replace("{b1}", ty).replace("{b1v}", values)
}

const RESHAPE: &str = r#"%11 = reshape(%10) {shape=[0,4,1,1]} : f32[batch,4,1,1] "blk/se/reshape""#;

#[test]
fn se_mean_gemm_form_with_silu_and_hard_sigmoid() {
    let e = reach(Theme::SqueezeExcite, &se_mean(RESHAPE, "f32[2] = [0.1, 0.2]"), SE);
    let se = se_of(&e);
    assert_eq!(se.act, FusedAct::Silu(Silu {}));
    assert_eq!(se.gate, FusedAct::HardSigmoid(HardSigmoid { alpha: 0.16666667, beta: 0.25 }));
    assert_eq!(e.name, "blk/se");
    assert_eq!(e.rule.unwrap().to_string(), "se-mean-fc-reshape-silu-hard-sigmoid-gate-left");
}

#[test]
fn se_unsqueeze_form() {
    let view = r#"%13 = unsqueeze(%10) {axes=[-1]} : f32[batch,4,1] "blk/se/unsq0"
  %11 = unsqueeze(%13) {axes=[3]} : f32[batch,4,1,1] "blk/se/unsq1""#;
    let e = reach(Theme::SqueezeExcite, &se_mean(view, "f32[2] = [0.1, 0.2]"), SE);
    assert_eq!(e.rule.unwrap().to_string(), "se-mean-fc-unsqueeze-silu-hard-sigmoid-gate-left");
}

#[test]
fn se_tensorflow_matmul_add_form() {
    let src = r#"graph "se_tf" {
  input %0 "x" : f32[batch,4,2,2]
  %1 = reduce_mean(%0) {axes=[2,3], keepdims=false} : f32[batch,4] "se/Mean"
  %2 = const "k1" : f32[4,2] = [0.5, -0.5, 1.0, 0.25, -1.0, 0.5, 0.5, 0.75]
  %3 = matmul(%1, %2) : f32[batch,2] "se/dense1/MatMul"
  %4 = const "c1" : f32[2] = [0.1, 0.2]
  %5 = add(%3, %4) : f32[batch,2] "se/dense1/BiasAdd"
  %6 = relu(%5) : f32[batch,2] "se/Relu"
  %7 = const "k2" : f32[2,4] = [1.0, -1.0, 0.5, 0.5, -0.25, 1.5, 2.0, 0.0]
  %8 = matmul(%6, %7) : f32[batch,4] "se/dense2/MatMul"
  %9 = const "c2" : f32[1,4] = [0.0, 0.1, -0.1, 0.3]
  %10 = add(%8, %9) : f32[batch,4] "se/dense2/BiasAdd"
  %11 = sigmoid(%10) : f32[batch,4] "se/Sigmoid"
  %12 = reshape(%11) {shape=[0,4,1,1]} : f32[batch,4,1,1] "se/Reshape"
  %13 = mul(%0, %12) : f32[batch,4,2,2] "se/mul"
  output "y" = %13
}"#;
    reach(Theme::SqueezeExcite, src, SE);
    let mut g = graph(src);
    run_theme(&mut g, Theme::SqueezeExcite, &Limits::default(), &mut PassReport::default()).unwrap();
    let w = g.weights();
    // Dense kernels are [in,out]: transposed; the [1,4] bias flattened.
    assert_eq!(w["k1:se"].to_f32().as_ref(), [0.5, 1.0, -1.0, 0.5, -0.5, 0.25, 0.5, 0.75]);
    assert_eq!(w["c2:se"].shape(), [4]);
}

#[test]
fn se_square_dense_weights_are_transposed() {
    // C = Cr: the transposed kernel has the kernel's shape and must still be used.
    let src = r#"graph "se_square" {
  input %0 "x" : f32[1,2,2,2]
  %1 = reduce_mean(%0) {axes=[2,3], keepdims=false} : f32[1,2] "se/pool"
  %2 = const "w1" : f32[2,2] = [1.0, 2.0, 3.0, 4.0]
  %3 = gemm(%1, %2) : f32[1,2] "se/fc1"
  %4 = relu(%3) : f32[1,2] "se/relu"
  %5 = const "w2" : f32[2,2] = [5.0, 6.0, 7.0, 8.0]
  %6 = gemm(%4, %5) {trans_b=true} : f32[1,2] "se/fc2"
  %7 = sigmoid(%6) : f32[1,2] "se/gate"
  %8 = reshape(%7) {shape=[0,2,1,1]} : f32[1,2,1,1] "se/reshape"
  %9 = mul(%0, %8) : f32[1,2,2,2] "se/scale"
  output "y" = %9
}"#;
    let mut g = graph(src);
    run_theme(&mut g, Theme::SqueezeExcite, &Limits::default(), &mut PassReport::default()).unwrap();
    let w = g.weights();
    assert_eq!(w["w1:se"].to_f32().as_ref(), [1.0, 3.0, 2.0, 4.0], "{}", text::print(&g));
    assert!(!w.contains_key("w2:se"), "trans_b: already [out,in]");
}

#[test]
fn conv_relu6_fuses_into_the_conv() {
    let src = r#"graph "conv_relu6" {
  input %0 "x" : f32[1,2,3,3]
  %1 = const "w" : f32[2,2,1,1] = [1.0, -1.0, 0.5, 2.0]
  %2 = conv(%0, %1) {strides=[2,2]} : f32[1,2,2,2] "conv"
  %3 = clip(%2) {min=0.0, max=6.0} : f32[1,2,2,2] "relu6"
  output "y" = %3
}"#;
    let e = reach(Theme::Activations, src, "(conv ?x ?w absent)");
    let Op::Conv(c) = &e.op else { panic!("{}", e.op.name()) };
    assert_eq!((&c.act, c.strides.as_slice(), e.name.as_str()), (&FusedAct::relu6(), &[2, 2][..], "conv"));
    assert_eq!(e.count.as_deref(), Some("fused conv+relu6"));
}

#[test]
fn residual_add_relu_fuses() {
    let src = r#"graph "residual" {
  input %0 "a" : f32[1,2,2,2]
  input %1 "b" : f32[1,2,2,2]
  %2 = add(%0, %1) : f32[1,2,2,2] "add"
  %3 = relu(%2) : f32[1,2,2,2] "relu"
  output "y" = %3
}"#;
    let e = reach(Theme::Activations, src, "(add_act ?a ?b)");
    assert_eq!((&e.op, e.name.as_str()), (&Op::AddAct(senetc_ir::ops::AddAct { act: FusedAct::Relu(Relu {}) }), "add"));
    let mut g = graph(src);
    let mut report = PassReport::default();
    run_theme(&mut g, Theme::Activations, &Limits::default(), &mut report).unwrap();
    assert_eq!(report.counts.get("fused add+relu"), Some(&1));
    assert_eq!(senetc_ir::stats::compute_nodes(&g), 1);
}

#[test]
fn a_rewrite_that_does_not_type_check_is_skipped_with_a_warning() {
    // A [1] bias broadcasts in the gemm but is not the [Cr] vector the SE takes.
    let src = se_mean(RESHAPE, "f32[1] = [0.1]");
    let warnings = not_reach(Theme::SqueezeExcite, &src, SE);
    let rule = "se-mean-fc-reshape-silu-hard-sigmoid-gate-left";
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(rule) && warnings[0].contains("input 2 must be [2], got [1]"), "{warnings:?}");
    // The pass goes on: the rest still fuses (x * sigmoid(x) is a silu), the SE stays.
    let mut g = graph(&src);
    let mut report = PassReport::default();
    run_theme(&mut g, Theme::SqueezeExcite, &Limits::default(), &mut report).unwrap();
    assert!(report.warnings.iter().any(|w| w.contains(rule)), "{:?}", report.warnings);
    assert_eq!(report.counts.get("canonicalized silu"), Some(&1));
    assert!(!text::print(&g).contains("squeeze_excite"));
}

#[test]
fn an_interior_node_with_another_reader_blocks_fusion() {
    let base = se_conv("global_average_pool(%0)", "relu", "sigmoid", "mul(%0, %9)");
    // The activation is also a graph output: the SE would have to keep computing it.
    let src = base.replace(r#"output "y" = %10"#, "output \"y\" = %10\n  output \"act\" = %5");
    assert!(not_reach(Theme::SqueezeExcite, &src, SE).is_empty());
    // The pooled value has a second reader.
    let src = base.replace(r#"output "y" = %10"#, "%11 = relu(%1) : f32[batch,4,1,1] \"other\"\n  output \"y\" = %10\n  output \"z\" = %11");
    assert!(not_reach(Theme::SqueezeExcite, &src, SE).is_empty());
    // A conv whose output has two readers keeps its activation separate.
    let src = r#"graph "two_readers" {
  input %0 "x" : f32[1,2,3,3]
  %1 = const "w" : f32[2,2,1,1] = [1.0, -1.0, 0.5, 2.0]
  %2 = conv(%0, %1) : f32[1,2,3,3] "conv"
  %3 = relu(%2) : f32[1,2,3,3] "relu"
  %4 = add(%2, %3) : f32[1,2,3,3] "add"
  output "y" = %4
}"#;
    let (eg, _) = saturate(Theme::Activations, src);
    assert!(eg.analysis.nodes.iter().all(|e| e.rule.is_none()));
}

#[test]
fn every_op_is_a_pattern_symbol() {
    for &k in senetc_ir::ops::OpKind::ALL {
        let n: FNode = egg::FromOp::from_op(k.name(), vec![]).unwrap();
        assert_eq!(n.sym, Sym::Op(k));
    }
    assert!(<FNode as egg::FromOp>::from_op("absent", vec![]).is_ok());
    assert!(<FNode as egg::FromOp>::from_op("F:se:relu:sigmoid", vec![]).is_err());
}

#[test]
fn rule_names_are_unique_kebab_case_with_a_theme() {
    let mut names = Vec::new();
    for theme in [Theme::SqueezeExcite, Theme::Activations] {
        for r in theme.rules() {
            let n = r.name.to_string();
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
            assert!(["canon-", "se-", "conv-act-", "residual-add-"].iter().any(|p| n.starts_with(p)), "{n}");
            names.push(n);
        }
    }
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
}

#[test]
fn patterns_are_linear() {
    let err = pattern::Shape::parse("?mul:(mul ?a (sigmoid ?a))").unwrap_err();
    assert!(err.contains("?a appears twice"), "{err}");
    assert!(pattern::Shape::parse("(nosuchop ?a)").is_err());
    assert!(pattern::Shape::parse("?r:(relu ?a ?b)").is_err(), "arity is checked");
}

#[test]
fn a_node_the_ir_rejects_is_an_error_naming_its_rule() {
    let g = graph(
        r#"graph "broken" {
  input %0 "a" : f32[1,2,2,2]
  %1 = relu(%0) : f32[1,2,2,2] "relu"
  %2 = relu(%1) : f32[1,2,2,2] "relu2"
  output "y" = %2
}"#,
    );
    let (mut eg, outputs) = to_egraph(&g).unwrap();
    let input = eg.classes().find(|c| c.nodes.iter().any(|n| n.kind() == Some(OpKind::Input))).map(|c| c.id).unwrap();
    // A one-operand conv in place of relu2: cheaper, so extracted, and the IR rejects it.
    let rule = egg::Symbol::from("conv-act-broken");
    let entry = Entry { op: Op::Conv(Default::default()), name: "broken".into(), source: None, input_type: None, uses: 1, rule: Some(rule), count: None, facts: Default::default(), sources: Vec::new() };
    let origin = eg.analysis.push(entry);
    let id = eg.add(FNode::op(OpKind::Conv, origin, vec![input]));
    eg.union(id, outputs[0]);
    eg.rebuild();
    let extractor = Extractor::new(&eg, Depth);
    let err = from_egraph(&g, &eg, &extractor, &outputs, &mut BTreeMap::new()).unwrap_err().to_string();
    assert!(err.contains("\"broken\" made by rule conv-act-broken") && err.contains("takes 2..=3 inputs"), "{err}");
}

//! senetc's own fused ops, as `--emit onnx` writes them: nodes in the `senetc` domain that
//! call model-local functions (`SqueezeExcite_<act>_<gate>[_<alpha>_<beta>]`, `Conv_<act>`,
//! `Add_<act>`). Reading them back makes an optimized export import as the same IR.

use super::ops::Entry;
use super::value::Val;
use super::Importer;
use onnx_protobuf::NodeProto;
use senetc_ir::ops::{AddAct, Conv, FusedAct, SeGate, SqueezeExcite};
use senetc_ir::Op;

/// The domain of senetc's functions.
pub const DOMAIN: &str = "senetc";

static SE: Entry = Entry { name: "SqueezeExcite", attrs: &[], check: |n, _| parse_se(&n.op_type).map(|_| ()), convert: squeeze_excite };
static CONV: Entry = Entry { name: "Conv", attrs: &["strides", "pads", "dilations", "group"], check: |n, _| act_after(&n.op_type, "Conv_").map(|_| ()), convert: conv_act };
static ADD: Entry = Entry { name: "Add", attrs: &[], check: |n, _| act_after(&n.op_type, "Add_").map(|_| ()), convert: add_act };

/// The entry for a `senetc`-domain op type.
pub fn lookup(op_type: &str) -> Option<&'static Entry> {
    if op_type.starts_with("SqueezeExcite_") {
        Some(&SE)
    } else if op_type.starts_with("Conv_") {
        Some(&CONV)
    } else if op_type.starts_with("Add_") {
        Some(&ADD)
    } else {
        None
    }
}

const ACTS: [FusedAct; 6] = [FusedAct::HardSwish, FusedAct::Sigmoid, FusedAct::Relu6, FusedAct::None, FusedAct::Relu, FusedAct::Silu];

/// The activation named by the rest of `op_type` after `prefix`.
fn act_after(op_type: &str, prefix: &str) -> Result<FusedAct, String> {
    let rest = op_type.strip_prefix(prefix).ok_or("not a senetc fused op")?;
    ACTS.into_iter().find(|a| a.name() == rest).ok_or_else(|| format!("unknown fused activation {rest:?}"))
}

fn parse_se(op_type: &str) -> Result<SqueezeExcite, String> {
    let rest = op_type.strip_prefix("SqueezeExcite_").ok_or("not a squeeze-excite op")?;
    // Longest names first: `relu6` before `relu`, `hard_swish` before anything else.
    let (act, rest) = ACTS
        .into_iter()
        .find_map(|a| rest.strip_prefix(a.name()).and_then(|r| r.strip_prefix('_')).map(|r| (a, r)))
        .ok_or_else(|| format!("bad squeeze-excite op type {op_type:?}"))?;
    let mut se = SqueezeExcite { act, ..SqueezeExcite::default() };
    if rest == "sigmoid" {
        se.gate = SeGate::Sigmoid;
    } else if let Some(params) = rest.strip_prefix("hard_sigmoid_") {
        let (a, b) = params.split_once('_').ok_or_else(|| format!("bad hard-sigmoid parameters in {op_type:?}"))?;
        let bits = |h: &str| u32::from_str_radix(h, 16).map(f32::from_bits).map_err(|_| format!("bad parameter {h:?} in {op_type:?}"));
        se.gate = SeGate::HardSigmoid;
        se.gate_alpha = bits(a)?;
        se.gate_beta = bits(b)?;
    } else {
        return Err(format!("bad squeeze-excite gate in {op_type:?}"));
    }
    Ok(se)
}

fn inputs(n: &NodeProto, count: usize) -> Result<Vec<&str>, String> {
    let v: Vec<&str> = n.input.iter().map(String::as_str).take(count).collect();
    if v.len() != count || v.iter().any(|s| s.is_empty()) {
        return Err(format!("{} needs {count} inputs", n.op_type));
    }
    Ok(v)
}

fn squeeze_excite(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let se = parse_se(&n.op_type)?;
    Ok(vec![imp.add(&n.name, Op::SqueezeExcite(se), &inputs(n, 5)?)?])
}

fn conv_act(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let ints = |k: &str, d: Vec<usize>| -> Result<Vec<usize>, String> {
        match n.attribute.iter().find(|a| a.name == k) {
            Some(a) => a.ints.iter().map(|&v| usize::try_from(v).map_err(|_| format!("negative {k}"))).collect(),
            None => Ok(d),
        }
    };
    let group = n.attribute.iter().find(|a| a.name == "group").map_or(1, |a| a.i);
    let op = Conv {
        strides: ints("strides", vec![1, 1])?,
        dilations: ints("dilations", vec![1, 1])?,
        pads: ints("pads", vec![0; 4])?,
        group: usize::try_from(group).map_err(|_| "negative group")?,
        act: act_after(&n.op_type, "Conv_")?,
        ..Conv::default()
    };
    Ok(vec![imp.add(&n.name, Op::Conv(op), &inputs(n, 3)?)?])
}

fn add_act(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let act = act_after(&n.op_type, "Add_")?;
    Ok(vec![imp.add(&n.name, Op::AddAct(AddAct { act }), &inputs(n, 2)?)?])
}

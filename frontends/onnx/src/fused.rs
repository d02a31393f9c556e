//! senetc's own fused ops, as `--emit onnx` writes them: nodes in the `senetc` domain that
//! call model-local functions (`SqueezeExcite_*`, `Conv_*`, `Add_*`, `ScaleShift_*`). The call node carries
//! the fused activations as IR text in string attributes (`act`, `gate`), so an optimized
//! export imports back as the same IR.

use super::ops::Entry;
use super::Importer;
use senetc_import::Val;
use onnx_protobuf::NodeProto;
use senetc_ir::ops::{AddAct, AttrValue, Conv, FusedAct, ScaleShift, SqueezeExcite};
use senetc_ir::text::lexer::Lexer;
use senetc_ir::Op;

/// The domain of senetc's functions.
pub const DOMAIN: &str = "senetc";

static SE: Entry = Entry { name: "SqueezeExcite", attrs: &["act", "gate"], check: |n, _| act(n, "gate").map(|_| ()), convert: squeeze_excite };
static CONV: Entry = Entry { name: "Conv", attrs: &["strides", "pads", "dilations", "group", "act"], check: |n, _| act(n, "act").map(|_| ()), convert: conv_act };
static ADD: Entry = Entry { name: "Add", attrs: &["act"], check: |n, _| act(n, "act").map(|_| ()), convert: add_act };
static SCALE_SHIFT: Entry = Entry { name: "ScaleShift", attrs: &["act", "axis"], check: |n, _| act(n, "act").map(|_| ()), convert: scale_shift };

/// The entry for a `senetc`-domain op type.
pub fn lookup(op_type: &str) -> Option<&'static Entry> {
    if op_type.starts_with("SqueezeExcite_") {
        Some(&SE)
    } else if op_type.starts_with("Conv_") {
        Some(&CONV)
    } else if op_type.starts_with("Add_") {
        Some(&ADD)
    } else if op_type.starts_with("ScaleShift_") {
        Some(&SCALE_SHIFT)
    } else {
        None
    }
}

/// The activation in string attribute `name` (IR text: `relu`, `clip{min=0.0, max=6.0}`).
fn act(n: &NodeProto, name: &str) -> Result<FusedAct, String> {
    let a = n.attribute.iter().find(|a| a.name == name).ok_or_else(|| format!("{} has no {name:?} attribute", n.op_type))?;
    let text = String::from_utf8_lossy(&a.s);
    let bad = |e: senetc_ir::IrError| format!("attribute {name:?} = {text:?}: {e}");
    let mut lex = Lexer::new(&text).map_err(bad)?;
    let act = FusedAct::read(&mut lex).map_err(bad)?;
    if lex.peek().is_some() {
        return Err(format!("attribute {name:?} = {text:?}: trailing text"));
    }
    Ok(act)
}

fn inputs(n: &NodeProto, count: usize) -> Result<Vec<&str>, String> {
    let v: Vec<&str> = n.input.iter().map(String::as_str).take(count).collect();
    if v.len() != count || v.iter().any(|s| s.is_empty()) {
        return Err(format!("{} needs {count} inputs", n.op_type));
    }
    Ok(v)
}

fn squeeze_excite(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let se = SqueezeExcite { act: act(n, "act")?, gate: act(n, "gate")?, ..SqueezeExcite::default() };
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
        act: act(n, "act")?,
        ..Conv::default()
    };
    Ok(vec![imp.add(&n.name, Op::Conv(op), &inputs(n, 3)?)?])
}

fn add_act(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    Ok(vec![imp.add(&n.name, Op::AddAct(AddAct { act: act(n, "act")? }), &inputs(n, 2)?)?])
}

fn scale_shift(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let axis = n.attribute.iter().find(|a| a.name == "axis").map_or(1, |a| a.i);
    let op = ScaleShift { axis: usize::try_from(axis).map_err(|_| "negative axis")?, act: act(n, "act")? };
    Ok(vec![imp.add(&n.name, Op::ScaleShift(op), &inputs(n, 3)?)?])
}

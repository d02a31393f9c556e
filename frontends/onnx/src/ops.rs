//! The ONNX op table: one entry per op type, with the attributes it accepts, an
//! opset-aware check of attribute values, and the converter to IR.

use super::{tensor, Importer};
use senetc_import::{gather_ints, int_binary, reshape_target, slice_ints, IntOp, SymInt, Val};
use crate::proto::{AttributeProto, NodeProto};
use senetc_ir::ops::*;
use senetc_ir::{Op, Tensor};

type Convert = fn(&mut Importer, &NodeProto) -> Result<Vec<Val>, String>;
type Check = fn(&NodeProto, i64) -> Result<(), String>;

pub struct Entry {
    pub name: &'static str,
    pub attrs: &'static [&'static str],
    pub check: Check,
    pub convert: Convert,
}

fn ok(_: &NodeProto, _: i64) -> Result<(), String> {
    Ok(())
}

#[rustfmt::skip]
static TABLE: &[Entry] = &[
    Entry { name: "Conv",               attrs: &["kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"], check: check_auto_pad, convert: conv },
    Entry { name: "BatchNormalization", attrs: &["epsilon", "momentum", "training_mode", "spatial", "is_test"], check: check_bn, convert: batch_norm },
    Entry { name: "Relu",               attrs: &[], check: ok, convert: |i, n| unary(i, n, Op::Relu(Relu {})) },
    Entry { name: "Sigmoid",            attrs: &[], check: ok, convert: |i, n| unary(i, n, Op::Sigmoid(Sigmoid {})) },
    Entry { name: "HardSwish",          attrs: &[], check: ok, convert: |i, n| unary(i, n, Op::HardSwish(HardSwish {})) },
    Entry { name: "LeakyRelu",          attrs: &["alpha"], check: ok, convert: |i, n| unary(i, n, Op::LeakyRelu(LeakyRelu { alpha: af(n, "alpha", 0.01) })) },
    Entry { name: "HardSigmoid",        attrs: &["alpha", "beta"], check: ok, convert: |i, n| unary(i, n, Op::HardSigmoid(HardSigmoid { alpha: af(n, "alpha", 0.2), beta: af(n, "beta", 0.5) })) },
    Entry { name: "Clip",               attrs: &["min", "max"], check: ok, convert: clip },
    Entry { name: "Tanh",               attrs: &[], check: ok, convert: |i, n| unary(i, n, Op::Tanh(Tanh {})) },
    Entry { name: "Elu",                attrs: &["alpha"], check: ok, convert: |i, n| unary(i, n, Op::Elu(Elu { alpha: af(n, "alpha", 1.0) })) },
    Entry { name: "Max",                attrs: &[], check: ok, convert: |i, n| { let (a, b) = (req(n, 0)?, req(n, 1)?); if n.input.len() != 2 { return Err("Max of other than 2 inputs".into()) } Ok(vec![i.add(&n.name, Op::Max(Max {}), &[a, b])?]) } },
    Entry { name: "Min",                attrs: &[], check: ok, convert: |i, n| { let (a, b) = (req(n, 0)?, req(n, 1)?); if n.input.len() != 2 { return Err("Min of other than 2 inputs".into()) } Ok(vec![i.add(&n.name, Op::Min(Min {}), &[a, b])?]) } },
    Entry { name: "Add",                attrs: &[], check: ok, convert: |i, n| binary(i, n, BinKind::Add) },
    Entry { name: "Sub",                attrs: &[], check: ok, convert: |i, n| binary(i, n, BinKind::Sub) },
    Entry { name: "Mul",                attrs: &[], check: ok, convert: |i, n| binary(i, n, BinKind::Mul) },
    Entry { name: "Div",                attrs: &[], check: ok, convert: |i, n| binary(i, n, BinKind::Div) },
    Entry { name: "GlobalAveragePool",  attrs: &[], check: ok, convert: |i, n| unary(i, n, Op::GlobalAveragePool(GlobalAveragePool::default())) },
    Entry { name: "ReduceMean",         attrs: &["axes", "keepdims", "noop_with_empty_axes"], check: ok, convert: reduce_mean },
    Entry { name: "ReduceMax",          attrs: &["axes", "keepdims", "noop_with_empty_axes"], check: ok, convert: reduce_max },
    Entry { name: "AveragePool",        attrs: &["kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad", "dilations"], check: check_avg_pool, convert: average_pool },
    Entry { name: "MaxPool",            attrs: &["kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations", "storage_order"], check: check_max_pool, convert: max_pool },
    Entry { name: "Gemm",               attrs: &["alpha", "beta", "transA", "transB", "broadcast"], check: ok, convert: gemm },
    Entry { name: "MatMul",             attrs: &[], check: ok, convert: |i, n| { let (a, b) = (req(n, 0)?, req(n, 1)?); Ok(vec![i.add(&n.name, Op::MatMul(MatMul {}), &[a, b])?]) } },
    Entry { name: "Flatten",            attrs: &["axis"], check: ok, convert: flatten },
    Entry { name: "Reshape",            attrs: &["allowzero"], check: ok, convert: reshape },
    Entry { name: "Transpose",          attrs: &["perm"], check: ok, convert: transpose },
    Entry { name: "Squeeze",            attrs: &["axes"], check: ok, convert: squeeze },
    Entry { name: "Unsqueeze",          attrs: &["axes"], check: ok, convert: unsqueeze },
    Entry { name: "Concat",             attrs: &["axis"], check: ok, convert: concat },
    Entry { name: "Pad",                attrs: &["mode", "pads", "value"], check: check_pad, convert: pad },
    Entry { name: "Softmax",            attrs: &["axis"], check: ok, convert: softmax },
    Entry { name: "Identity",           attrs: &[], check: ok, convert: identity },
    Entry { name: "Dropout",            attrs: &["ratio", "seed", "is_test"], check: check_dropout, convert: dropout },
    Entry { name: "Constant",           attrs: &["value", "value_float", "value_floats", "value_int", "value_ints"], check: ok, convert: constant },
    Entry { name: "Cast",               attrs: &["to", "saturate", "round_mode"], check: ok, convert: cast },
    Entry { name: "Shape",              attrs: &["start", "end"], check: ok, convert: shape },
    Entry { name: "Gather",             attrs: &["axis"], check: ok, convert: gather },
    Entry { name: "Slice",              attrs: &["starts", "ends", "axes"], check: ok, convert: slice },
    Entry { name: "Split",              attrs: &["axis", "split", "num_outputs"], check: ok, convert: split },
];

/// The table entry for an ONNX op type.
pub fn lookup(op_type: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name == op_type)
}

// ---- attribute and operand access ----

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}
fn ai(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}
fn af(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}
fn aints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}
fn astr(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}
fn req(n: &NodeProto, i: usize) -> Result<&str, String> {
    opt(n, i).ok_or_else(|| format!("input {i} is missing"))
}
fn opt(n: &NodeProto, i: usize) -> Option<&str> {
    n.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
}
fn usizes(v: &[i64], what: &str) -> Result<Vec<usize>, String> {
    v.iter().map(|&x| usize::try_from(x).map_err(|_| format!("negative {what} {x}"))).collect()
}
fn one(v: Val) -> Result<Vec<Val>, String> {
    Ok(vec![v])
}

// ---- checks ----

fn auto_pad(n: &NodeProto) -> Result<AutoPad, String> {
    match astr(n, "auto_pad").as_deref() {
        None | Some("NOTSET") | Some("") => Ok(AutoPad::NotSet),
        Some("SAME_UPPER") => Ok(AutoPad::SameUpper),
        Some("SAME_LOWER") => Ok(AutoPad::SameLower),
        Some("VALID") => Ok(AutoPad::Valid),
        Some(s) => Err(format!("unsupported auto_pad {s:?}")),
    }
}
fn check_auto_pad(n: &NodeProto, _: i64) -> Result<(), String> {
    auto_pad(n).map(|_| ())
}
fn check_bn(n: &NodeProto, _: i64) -> Result<(), String> {
    if ai(n, "training_mode", 0) != 0 || n.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("training-mode BatchNormalization is not supported (inference only)".into());
    }
    if attr(n, "is_test").is_some() && ai(n, "is_test", 0) == 0 {
        return Err("BatchNormalization with is_test=0 (training) is not supported (inference only)".into());
    }
    Ok(())
}
fn check_avg_pool(n: &NodeProto, o: i64) -> Result<(), String> {
    check_auto_pad(n, o)
}
/// `storage_order` orders the Indices output: 0 row-major, 1 column-major.
fn check_max_pool(n: &NodeProto, o: i64) -> Result<(), String> {
    if !matches!(ai(n, "storage_order", 0), 0 | 1) {
        return Err(format!("MaxPool storage_order {} (0 or 1)", ai(n, "storage_order", 0)));
    }
    check_auto_pad(n, o)
}
fn check_pad(n: &NodeProto, _: i64) -> Result<(), String> {
    match astr(n, "mode").as_deref() {
        None | Some("constant") | Some("reflect") | Some("edge") => Ok(()),
        Some(m) => Err(format!("Pad mode {m:?} is not supported")),
    }
}
fn check_dropout(n: &NodeProto, _: i64) -> Result<(), String> {
    if n.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("Dropout's mask output is not supported (inference only)".into());
    }
    Ok(())
}

// ---- converters ----

fn unary(imp: &mut Importer, n: &NodeProto, op: Op) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    one(imp.add(&n.name, op, &[x])?)
}

/// Convolution over 2 spatial axes, or over 1 as the 2-D convolution of height 1: the input
/// and the weight get an axis of 1 before the spatial one, the output loses it.
fn conv(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let (x, w) = (req(n, 0)?, req(n, 1)?);
    let ws = imp.shape_of(w)?;
    if ws.len() == 3 {
        return conv_1d(imp, n, x, w);
    }
    if ws.len() != 4 {
        return Err(format!("only 1-D and 2-D convolution are supported (weight has rank {})", ws.len()));
    }
    if let Some(k) = aints(n, "kernel_shape") {
        let wk: Vec<i64> = ws[2..].iter().map(|d| d.known().map_or(-1, |v| v as i64)).collect();
        if k != wk {
            return Err(format!("kernel_shape {k:?} disagrees with weight {wk:?}"));
        }
    }
    let op = Conv {
        strides: usizes(&aints(n, "strides").unwrap_or(vec![1, 1]), "stride")?,
        dilations: usizes(&aints(n, "dilations").unwrap_or(vec![1, 1]), "dilation")?,
        pads: usizes(&aints(n, "pads").unwrap_or(vec![0; 4]), "pad")?,
        auto_pad: auto_pad(n)?,
        group: usize::try_from(ai(n, "group", 1)).map_err(|_| "negative group")?,
        ..Conv::default()
    };
    let mut ins = vec![x, w];
    ins.extend(opt(n, 2));
    one(imp.add(&n.name, Op::Conv(op), &ins)?)
}

fn conv_1d(imp: &mut Importer, n: &NodeProto, x: &str, w: &str) -> Result<Vec<Val>, String> {
    let ws = imp.shape_of(w)?;
    if let Some(k) = aints(n, "kernel_shape") {
        if k.len() != 1 || ws[2].known() != usize::try_from(k[0]).ok() {
            return Err(format!("kernel_shape {k:?} disagrees with weight {ws:?}"));
        }
    }
    let one_axis = |name: &str, default: usize| -> Result<usize, String> {
        match aints(n, name).as_deref() {
            None => Ok(default),
            Some([v]) => usize::try_from(*v).map_err(|_| format!("negative {name} {v}")),
            Some(v) => Err(format!("{name} {v:?} of a 1-D convolution")),
        }
    };
    let pads = usizes(&aints(n, "pads").unwrap_or(vec![0, 0]), "pad")?;
    if pads.len() != 2 {
        return Err(format!("pads {pads:?} of a 1-D convolution"));
    }
    let op = Conv {
        strides: vec![1, one_axis("strides", 1)?],
        dilations: vec![1, one_axis("dilations", 1)?],
        pads: vec![0, pads[0], 0, pads[1]],
        auto_pad: auto_pad(n)?,
        group: usize::try_from(ai(n, "group", 1)).map_err(|_| "negative group")?,
        ..Conv::default()
    };
    let height = |imp: &mut Importer, v: &str, what: &str| -> Result<senetc_ir::Outlet, String> {
        if let Val::Const { tensor, name } = imp.val(v)?.clone() {
            let mut dims = tensor.shape().to_vec();
            dims.insert(2, 1);
            // A name no ONNX value has (NUL), for the reshaped constant.
            let tmp = format!("{v}\u{0}2d");
            imp.define(tmp.clone(), Val::constant(tensor.reshaped(dims).map_err(|e| e.to_string())?, name));
            return imp.outlet(&tmp);
        }
        let o = imp.outlet(v)?;
        match imp.add_outlets(&format!("{}/{what}_2d", n.name), Op::Unsqueeze(Unsqueeze { axes: vec![2] }), &[o])? {
            Val::Dyn(o) => Ok(o),
            _ => Err("internal: unsqueeze".into()),
        }
    };
    let mut ins = vec![height(imp, x, "x")?, height(imp, w, "w")?];
    if let Some(b) = opt(n, 2) {
        ins.push(imp.outlet(b)?);
    }
    let Val::Dyn(y) = imp.add_outlets(&format!("{}/conv_2d", n.name), Op::Conv(op), &ins)? else { return Err("internal: conv".into()) };
    one(imp.add_outlets(&n.name, Op::Squeeze(Squeeze { axes: vec![2] }), &[y])?)
}

/// Inference batch normalization. Opsets 7 and 8 also have `spatial=0`: statistics per
/// activation, parameters of shape [C, D1, ...]; with constant parameters that is
/// `x * a + b` with a = scale / sqrt(var + eps) and b = B - mean * a, broadcast over the batch.
fn batch_norm(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let ins: Vec<&str> = (0..5).map(|i| req(n, i)).collect::<Result<_, _>>()?;
    let epsilon = af(n, "epsilon", 1e-5);
    let per_activation = imp.opset < 9 && ai(n, "spatial", 1) == 0 && imp.shape_of(ins[1])?.len() > 1;
    if !per_activation {
        return one(imp.add(&n.name, Op::BatchNorm(BatchNorm { epsilon, axis: 1 }), &ins)?);
    }
    let params: Vec<Tensor> = ins[1..]
        .iter()
        .map(|p| imp.constant(p).cloned().ok_or("BatchNormalization with spatial=0 needs constant parameters"))
        .collect::<Result<_, _>>()?;
    let shape = params[0].shape().to_vec();
    if params.iter().any(|t| t.shape() != shape.as_slice()) {
        return Err("BatchNormalization parameters differ in shape".into());
    }
    let v: Vec<Vec<f64>> = params.iter().map(Tensor::to_f64).collect();
    let a: Vec<f64> = (0..v[0].len()).map(|i| v[0][i] / (v[3][i] + epsilon as f64).sqrt()).collect();
    let b: Vec<f64> = (0..a.len()).map(|i| v[1][i] - v[2][i] * a[i]).collect();
    let dtype = imp.dtype_of(ins[0])?;
    let konst = |vals: &[f64]| Tensor::from_f32(shape.clone(), &vals.iter().map(|&x| x as f32).collect::<Vec<_>>()).cast(dtype);
    let (ta, tb) = (konst(&a), konst(&b));
    let x = imp.outlet(ins[0])?;
    let ca = imp.add_const(String::new(), ta);
    let cb = imp.add_const(String::new(), tb);
    let Val::Dyn(y) = imp.add_outlets(&format!("{}/mul", n.name), Op::Mul(Mul {}), &[x, ca])? else { return Err("internal: mul".into()) };
    one(imp.add_outlets(&n.name, Op::Add(Add {}), &[y, cb])?)
}

fn clip(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let (min, max) = if imp.opset < 11 {
        (af(n, "min", f32::NEG_INFINITY), af(n, "max", f32::INFINITY))
    } else {
        let min = opt(n, 1).map(|m| imp.static_f32(m, "Clip min")).transpose()?.unwrap_or(f32::NEG_INFINITY);
        let max = opt(n, 2).map(|m| imp.static_f32(m, "Clip max")).transpose()?.unwrap_or(f32::INFINITY);
        (min, max)
    };
    one(imp.add(&n.name, Op::Clip(Clip { min, max }), &[x])?)
}

#[derive(Clone, Copy)]
enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
}

fn binary(imp: &mut Importer, n: &NodeProto, kind: BinKind) -> Result<Vec<Val>, String> {
    let (a, b) = (req(n, 0)?, req(n, 1)?);
    // Shape arithmetic on static integers is evaluated here.
    let int_op = match kind {
        BinKind::Add => IntOp::Add,
        BinKind::Sub => IntOp::Sub,
        BinKind::Mul => IntOp::Mul,
        BinKind::Div => IntOp::Div,
    };
    if let Some(v) = int_binary(int_op, imp.val(a)?, imp.val(b)?) {
        return one(v?);
    }
    let op = match kind {
        BinKind::Add => Op::Add(Add {}),
        BinKind::Sub => Op::Sub(Sub {}),
        BinKind::Mul => Op::Mul(Mul {}),
        BinKind::Div => Op::Div(Div {}),
    };
    one(imp.add(&n.name, op, &[a, b])?)
}

fn reduce_max(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let axes = if imp.opset >= 18 {
        opt(n, 1).map(|a| imp.static_ints(a, "ReduceMax axes")).transpose()?.unwrap_or_default()
    } else {
        aints(n, "axes").unwrap_or_default()
    };
    if axes.is_empty() && ai(n, "noop_with_empty_axes", 0) != 0 {
        return one(imp.add(&n.name, Op::Identity(Identity {}), &[x])?);
    }
    one(imp.add(&n.name, Op::ReduceMax(ReduceMax { axes, keepdims: ai(n, "keepdims", 1) != 0 }), &[x])?)
}

fn reduce_mean(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let axes = if imp.opset >= 18 {
        opt(n, 1).map(|a| imp.static_ints(a, "ReduceMean axes")).transpose()?.unwrap_or_default()
    } else {
        aints(n, "axes").unwrap_or_default()
    };
    if axes.is_empty() && ai(n, "noop_with_empty_axes", 0) != 0 {
        return one(imp.add(&n.name, Op::Identity(Identity {}), &[x])?);
    }
    one(imp.add(&n.name, Op::ReduceMean(ReduceMean { axes, keepdims: ai(n, "keepdims", 1) != 0 }), &[x])?)
}

/// Kernel, strides, dilations and pads of a pooling node: 1, 2 or 3 spatial axes, the
/// kernel's length.
type PoolWindow = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

fn window(n: &NodeProto) -> Result<PoolWindow, String> {
    let kernel = usizes(&aints(n, "kernel_shape").ok_or("kernel_shape is required")?, "kernel")?;
    let r = kernel.len();
    if !(1..=3).contains(&r) {
        return Err(format!("pooling over {r} spatial axes is not supported (kernel_shape {kernel:?}); 1, 2 or 3 are"));
    }
    let strides = usizes(&aints(n, "strides").unwrap_or(vec![1; r]), "stride")?;
    let dilations = usizes(&aints(n, "dilations").unwrap_or(vec![1; r]), "dilation")?;
    let pads = usizes(&aints(n, "pads").unwrap_or(vec![0; 2 * r]), "pad")?;
    Ok((kernel, strides, dilations, pads))
}

fn average_pool(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let (kernel, strides, dilations, pads) = window(n)?;
    let op = AveragePool {
        kernel,
        strides,
        pads,
        dilations,
        auto_pad: auto_pad(n)?,
        ceil_mode: ai(n, "ceil_mode", 0) != 0,
        count_include_pad: ai(n, "count_include_pad", 0) != 0,
        format: DataFormat::Nchw,
    };
    unary(imp, n, Op::AveragePool(op))
}

/// Max pooling; its optional second output `Indices` is the IR's `max_pool_indices` on the
/// same input, a node of its own (named after that output).
fn max_pool(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let (kernel, strides, dilations, pads) = window(n)?;
    let op = MaxPool {
        kernel,
        strides,
        dilations,
        pads,
        auto_pad: auto_pad(n)?,
        ceil_mode: ai(n, "ceil_mode", 0) != 0,
        format: DataFormat::Nchw,
    };
    let indices = match n.output.get(1).filter(|o| !o.is_empty()) {
        Some(out) => {
            let MaxPool { kernel, strides, dilations, pads, auto_pad, ceil_mode, .. } = op.clone();
            let column_major = ai(n, "storage_order", 0) == 1;
            let ix = MaxPoolIndices { kernel, strides, dilations, pads, auto_pad, ceil_mode, column_major };
            Some(imp.add(out, Op::MaxPoolIndices(ix), &[req(n, 0)?])?)
        }
        None => None,
    };
    let mut vals = unary(imp, n, Op::MaxPool(op))?;
    vals.extend(indices);
    Ok(vals)
}

fn gemm(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let mut ins = vec![req(n, 0)?, req(n, 1)?];
    ins.extend(opt(n, 2));
    let op = Gemm { alpha: af(n, "alpha", 1.0), beta: af(n, "beta", 1.0), trans_a: ai(n, "transA", 0) != 0, trans_b: ai(n, "transB", 0) != 0 };
    one(imp.add(&n.name, Op::Gemm(op), &ins)?)
}

fn flatten(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    unary(imp, n, Op::Flatten(Flatten { axis: ai(n, "axis", 1) }))
}

fn reshape(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let (x, s) = (req(n, 0)?, req(n, 1)?);
    let allowzero = ai(n, "allowzero", 0) != 0;
    let (target, _) = imp.val(s)?.sym_ints().ok_or("Reshape's shape must be computable at import")?;
    let shape = reshape_target(&imp.shape_of(x)?, &target, allowzero)?;
    if let Val::Const { tensor, name } = imp.val(x)?.clone() {
        let out = Reshape { shape: shape.clone(), allowzero }.output_shape(&senetc_ir::Shape::known(tensor.shape()))?;
        if let Some(dims) = out.as_known() {
            return one(Val::constant(tensor.reshaped(dims).map_err(|e| e.to_string())?, name));
        }
    }
    one(imp.add(&n.name, Op::Reshape(Reshape { shape, allowzero }), &[x])?)
}

fn transpose(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let perm = usizes(&aints(n, "perm").unwrap_or_default(), "perm")?;
    unary(imp, n, Op::Transpose(Transpose { perm }))
}

fn axes_setting(imp: &Importer, n: &NodeProto, since: i64, what: &str) -> Result<Vec<i64>, String> {
    if imp.opset >= since {
        Ok(opt(n, 1).map(|a| imp.static_ints(a, what)).transpose()?.unwrap_or_default())
    } else {
        Ok(aints(n, "axes").unwrap_or_default())
    }
}

fn squeeze(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let axes = axes_setting(imp, n, 13, "Squeeze axes")?;
    if let Some((v, false)) = imp.val(x)?.sym_ints() {
        if v.len() == 1 && (axes.is_empty() || axes == [0] || axes == [-1]) {
            return one(Val::Ints { v, scalar: true });
        }
    }
    unary(imp, n, Op::Squeeze(Squeeze { axes }))
}

fn unsqueeze(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let axes = axes_setting(imp, n, 13, "Unsqueeze axes")?;
    if let Some((v, true)) = imp.val(x)?.sym_ints() {
        if axes == [0] || axes == [-1] {
            return one(Val::Ints { v, scalar: false });
        }
    }
    unary(imp, n, Op::Unsqueeze(Unsqueeze { axes }))
}

fn concat(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let axis = ai(n, "axis", 0);
    let ins: Vec<&str> = n.input.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let statics: Option<Vec<_>> = ins.iter().map(|i| imp.val(i).ok().and_then(Val::sym_ints)).collect();
    if let Some(parts) = statics {
        if parts.iter().all(|(_, scalar)| !scalar) && (axis == 0 || axis == -1) {
            return one(Val::Ints { v: parts.into_iter().flat_map(|(v, _)| v).collect(), scalar: false });
        }
    }
    one(imp.add(&n.name, Op::Concat(Concat { axis }), &ins)?)
}

fn pad(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let mode = match astr(n, "mode").as_deref() {
        Some("reflect") => PadMode::Reflect,
        Some("edge") => PadMode::Edge,
        _ => PadMode::Constant,
    };
    let (mut pads, value) = if imp.opset < 11 {
        (aints(n, "pads").ok_or("pads is required")?, af(n, "value", 0.0))
    } else {
        let pads = imp.static_ints(req(n, 1)?, "Pad pads")?;
        let value = opt(n, 2).map(|v| imp.static_f32(v, "Pad constant_value")).transpose()?.unwrap_or(0.0);
        (pads, value)
    };
    if let Some(axes) = opt(n, 3) {
        let axes = imp.static_ints(axes, "Pad axes")?;
        if pads.len() != 2 * axes.len() {
            return Err(format!("Pad has {} pads for {} axes", pads.len(), axes.len()));
        }
        let rank = imp.shape_of(x)?.len();
        let mut full = vec![0; 2 * rank];
        for (i, &a) in axes.iter().enumerate() {
            let a = norm_axis(a, rank)?;
            full[a] = pads[i];
            full[a + rank] = pads[i + axes.len()];
        }
        pads = full;
    }
    unary(imp, n, Op::Pad(Pad { pads, mode, value }))
}

/// Softmax along `axis` (13+). Before opset 13 the input is viewed as 2-D, [d0*..*d(axis-1),
/// d(axis)*..], and normalised along its second axis: a reshape that joins the trailing axes,
/// the softmax along the last axis, and a reshape back.
fn softmax(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let dims = imp.shape_of(x)?;
    let rank = dims.len();
    let default = if imp.opset >= 13 { -1 } else { 1 };
    let axis = ai(n, "axis", default);
    if imp.opset >= 13 || rank == 0 || norm_axis(axis, rank)? == rank - 1 {
        return unary(imp, n, Op::Softmax(Softmax { axis }));
    }
    let a = norm_axis(axis, rank)?;
    let mut inner: i64 = 1;
    for d in &dims[a..] {
        inner *= d.known().ok_or_else(|| format!("Softmax (opset {}) over symbolic axes {a}.. of {dims:?}", imp.opset))? as i64;
    }
    // Symbols can only be leading dims, which keep their place: 0 copies them.
    let keep = |d: &senetc_ir::Dim| d.known().map_or(0, |v| v as i64);
    let joined: Vec<i64> = dims[..a].iter().map(keep).chain([inner]).collect();
    let back: Vec<i64> = dims.iter().map(keep).collect();
    let x = imp.outlet(x)?;
    let view = |shape| Op::Reshape(Reshape { shape, allowzero: false });
    let Val::Dyn(flat) = imp.add_outlets(&format!("{}/to_2d", n.name), view(joined), &[x])? else { return Err("internal: reshape".into()) };
    let Val::Dyn(y) = imp.add_outlets(&format!("{}/softmax", n.name), Op::Softmax(Softmax { axis: -1 }), &[flat])? else {
        return Err("internal: softmax".into());
    };
    one(imp.add_outlets(&n.name, view(back), &[y])?)
}

fn identity(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    match imp.val(x)? {
        Val::Dyn(_) => unary(imp, n, Op::Identity(Identity {})),
        v => one(v.clone()),
    }
}

fn dropout(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    if let Some(t) = opt(n, 2).filter(|_| imp.opset >= 12) {
        let training = imp.constant(t).map(|c| c.to_f64().iter().any(|&v| v != 0.0));
        if training != Some(false) {
            return Err("training-mode Dropout is not supported (inference only: training_mode must be a constant false)".into());
        }
    }
    let ratio = if imp.opset >= 12 {
        opt(n, 1).map(|r| imp.static_f32(r, "Dropout ratio")).transpose()?.unwrap_or(0.5)
    } else {
        af(n, "ratio", 0.5)
    };
    unary(imp, n, Op::Dropout(Dropout { ratio }))
}

fn constant(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let out = n.output.first().cloned().unwrap_or_default();
    let a = n.attribute.first().ok_or("Constant has no value")?;
    let t = match a.name.as_str() {
        "value" => {
            let mut t = a.t.as_ref().ok_or("Constant value is not a tensor")?.clone();
            tensor::convert(&mut t, &mut imp.ext, imp.file.as_ref())?
        }
        "value_float" => Tensor::from_f32(vec![], &[a.f]),
        "value_floats" => Tensor::from_f32(vec![a.floats.len()], &a.floats),
        "value_int" => Tensor::from_i64(vec![], &[a.i]),
        "value_ints" => Tensor::from_i64(vec![a.ints.len()], &a.ints),
        other => return Err(format!("Constant attribute {other:?} is not supported")),
    };
    // Named after the value, as initializers are, so dumps bind it by a stable name.
    one(Val::constant(t, out))
}

fn cast(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let to = tensor::dtype(ai(n, "to", 0) as i32).ok_or_else(|| format!("Cast to type {} is not supported", ai(n, "to", 0)))?;
    match imp.val(x)?.clone() {
        Val::Ints { v, scalar } if !to.is_float() => one(Val::Ints { v, scalar }),
        Val::Const { tensor, name } => one(Val::constant(tensor.cast(to), name)),
        _ => unary(imp, n, Op::Cast(Cast { to })),
    }
}

fn shape(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let dims = imp.shape_of(req(n, 0)?)?;
    let r = dims.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (s, e) = (clampi(ai(n, "start", 0)), clampi(ai(n, "end", r)));
    let v = dims.get(s..e.max(s)).unwrap_or(&[]).iter().map(SymInt::of_dim).collect();
    one(Val::Ints { v, scalar: false })
}

/// Gather: of a shape value along axis 0 (evaluated at import), or of a tensor (the IR's
/// `gather`).
fn gather(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let (data, idx) = (req(n, 0)?, req(n, 1)?);
    let axis = ai(n, "axis", 0);
    if let (Some((v, false)), Some((ix, scalar))) = (imp.val(data)?.sym_ints(), imp.val(idx)?.sym_ints()) {
        if axis == 0 || axis == -1 {
            return one(Val::Ints { v: gather_ints(&v, &ix).map_err(|e| format!("Gather: {e}"))?, scalar });
        }
    }
    one(imp.add(&n.name, Op::Gather(Gather { axis }), &[data, idx])?)
}

/// A strided window: of a shape value (evaluated at import, so it can feed Reshape), or of
/// a tensor (the IR's `slice`, steps of either sign). Opsets before 10 give starts, ends and axes
/// as attributes, later ones as constant inputs.
fn slice(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let data = req(n, 0)?;
    let (starts, ends, axes, steps) = if imp.opset < 10 {
        (aints(n, "starts").ok_or("starts is required")?, aints(n, "ends").ok_or("ends is required")?, aints(n, "axes"), None)
    } else {
        let steps = opt(n, 4).map(|s| imp.static_ints(s, "Slice steps")).transpose()?;
        let axes = opt(n, 3).map(|s| imp.static_ints(s, "Slice axes")).transpose()?;
        (imp.static_ints(req(n, 1)?, "Slice starts")?, imp.static_ints(req(n, 2)?, "Slice ends")?, axes, steps)
    };
    let count = starts.len();
    let steps = steps.unwrap_or(vec![1; count]);
    if ends.len() != count || steps.len() != count || axes.as_ref().is_some_and(|a| a.len() != count) {
        return Err(format!("Slice has {count} starts, {} ends, {} steps and {:?} axes", ends.len(), steps.len(), axes));
    }
    if let Some((v, false)) = imp.val(data)?.sym_ints() {
        if count == 1 && axes.as_ref().is_none_or(|a| a == &[0] || a == &[-1]) && steps[0] > 0 {
            return one(Val::Ints { v: slice_ints(&v, starts[0], ends[0], steps[0])?, scalar: false });
        }
    }
    let dims = imp.shape_of(data)?;
    let rank = dims.len();
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&x| norm_axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..count).collect(),
    };
    let mut op = Slice::default();
    for (i, &axis) in axes.iter().enumerate() {
        if op.axes.contains(&axis) {
            return Err(format!("Slice axes {axes:?} repeat an axis"));
        }
        if steps[i] == 0 {
            return Err("Slice step is 0".into());
        }
        let extent = dims[axis].known().ok_or_else(|| format!("Slice along the symbolic axis {axis}"))?;
        let (start, end) = Slice::resolve(starts[i], ends[i], steps[i], extent);
        op.axes.push(axis);
        op.starts.push(start);
        op.ends.push(end);
        op.steps.push(steps[i]);
    }
    one(imp.add(&n.name, Op::Slice(op), &[data])?)
}


/// Split into parts along an axis: one `slice` per output that is read. Sizes come from
/// the `split` attribute (opset < 13) or input (13+), else `num_outputs` (18+: equal
/// parts, the last one smaller), else as many equal parts as outputs.
fn split(imp: &mut Importer, n: &NodeProto) -> Result<Vec<Val>, String> {
    let x = req(n, 0)?;
    let shape = imp.shape_of(x)?;
    let axis = norm_axis(ai(n, "axis", 0), shape.len())?;
    let extent = shape[axis].known().ok_or("Split along a symbolic axis")?;
    let parts = n.output.len();
    let sizes = if imp.opset >= 13 { opt(n, 1).map(|s| imp.static_ints(s, "Split split")).transpose()? } else { aints(n, "split") };
    let sizes: Vec<usize> = match sizes {
        Some(s) => usizes(&s, "split size")?,
        None if attr(n, "num_outputs").is_some() => {
            let k = usize::try_from(ai(n, "num_outputs", 0)).ok().filter(|&k| k == parts && k > 0).ok_or("Split num_outputs disagrees with the outputs")?;
            let each = extent.div_ceil(k);
            (0..k).map(|i| each.min(extent.saturating_sub(i * each))).collect()
        }
        None if parts > 0 && extent % parts == 0 => vec![extent / parts; parts],
        None => return Err(format!("Split of {extent} into {parts} equal parts")),
    };
    if sizes.len() != parts || sizes.iter().sum::<usize>() != extent {
        return Err(format!("Split sizes {sizes:?} do not make {parts} parts of {extent}"));
    }
    let mut vals = Vec::with_capacity(parts);
    let mut start = 0;
    for (out, size) in n.output.iter().zip(sizes) {
        let op = Slice { axes: vec![axis], starts: vec![start], ends: vec![(start + size) as i64], steps: vec![1] };
        start += size;
        vals.push(if out.is_empty() { Val::Poison } else { imp.add(out, Op::Slice(op), &[x])? });
    }
    Ok(vals)
}

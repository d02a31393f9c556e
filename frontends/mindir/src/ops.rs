//! The MindIR op table: one line per MindSpore primitive, and its converter to IR.
//!
//! Settings are read the same way whichever MindSpore wrote the file ([`setting`]): the
//! Constant at the operand position MindSpore 2.x passes it in, else the primitive
//! attribute 2.0 and 1.x files carry (under each name MindSpore has used for it). Enum
//! settings are integers in 2.x (data_format 0 = NCHW, pad_mode 2 = VALID) and strings of
//! either case before, and both are accepted.

use crate::read::Node;
use crate::value::{dtype_of_type_id, Value};
use crate::{Importer, Tuple};
use senetc_import::Val;
use senetc_ir::ops::*;
use senetc_ir::{DType, Op, Outlet};

type Convert = fn(&mut Importer, &Node) -> Result<Vec<Val>, String>;

/// A converter-table entry.
pub struct Entry {
    /// The primitive's name as MindSpore writes it.
    pub name: &'static str,
    /// Converts one node; returns its value (nothing for tuples and state, which the
    /// importer tracks itself).
    pub convert: Convert,
}

#[rustfmt::skip]
static TABLE: &[Entry] = &[
    // Side-effect plumbing and tuples: resolved at import, never in the IR.
    Entry { name: "Load",              convert: pass_through },
    Entry { name: "Depend",            convert: pass_through },
    Entry { name: "UpdateState",       convert: state },
    Entry { name: "MakeTuple",         convert: make_tuple },
    Entry { name: "make_tuple",        convert: make_tuple },
    Entry { name: "TupleGetItem",      convert: tuple_get_item },
    Entry { name: "tuple_getitem",     convert: tuple_get_item },
    Entry { name: "Identity",          convert: pass_through },
    // Compute.
    Entry { name: "Conv2D",            convert: conv2d },
    Entry { name: "BatchNorm",         convert: batch_norm },
    Entry { name: "MaxPool",           convert: |i, n| pool(i, n, true) },
    Entry { name: "AvgPool",           convert: |i, n| pool(i, n, false) },
    Entry { name: "AdaptiveAvgPool2D", convert: adaptive_avg_pool },
    Entry { name: "ReLU",              convert: |i, n| unary(i, n, Op::Relu(Relu {})) },
    Entry { name: "ReLU6",             convert: |i, n| unary(i, n, Op::Clip(Clip { min: 0.0, max: 6.0 })) },
    Entry { name: "Sigmoid",           convert: |i, n| unary(i, n, Op::Sigmoid(Sigmoid {})) },
    Entry { name: "SiLU",              convert: |i, n| unary(i, n, Op::Silu(Silu {})) },
    Entry { name: "Swish",             convert: |i, n| unary(i, n, Op::Silu(Silu {})) },
    Entry { name: "HSwish",            convert: |i, n| unary(i, n, Op::HardSwish(HardSwish {})) },
    Entry { name: "HSigmoid",          convert: |i, n| unary(i, n, Op::HardSigmoid(HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 })) },
    Entry { name: "Add",               convert: |i, n| binary(i, n, Op::Add(Add {})) },
    Entry { name: "TensorAdd",         convert: |i, n| binary(i, n, Op::Add(Add {})) },
    Entry { name: "Sub",               convert: |i, n| binary(i, n, Op::Sub(Sub {})) },
    Entry { name: "Mul",               convert: |i, n| binary(i, n, Op::Mul(Mul {})) },
    Entry { name: "RealDiv",           convert: |i, n| binary(i, n, Op::Div(Div {})) },
    Entry { name: "Div",               convert: |i, n| binary(i, n, Op::Div(Div {})) },
    // Tensor-by-scalar forms MindSpore 2.x picks for `x * 3.0`, `x / 2.0`...
    Entry { name: "Adds",              convert: |i, n| binary(i, n, Op::Add(Add {})) },
    Entry { name: "Subs",              convert: |i, n| binary(i, n, Op::Sub(Sub {})) },
    Entry { name: "Muls",              convert: |i, n| binary(i, n, Op::Mul(Mul {})) },
    Entry { name: "Divs",              convert: |i, n| binary(i, n, Op::Div(Div {})) },
    Entry { name: "ReduceMean",        convert: reduce_mean },
    Entry { name: "MatMul",            convert: matmul },
    Entry { name: "BiasAdd",           convert: bias_add },
    Entry { name: "Dense",             convert: dense },
    Entry { name: "Reshape",           convert: reshape },
    Entry { name: "Flatten",           convert: |i, n| unary(i, n, Op::Flatten(Flatten { axis: 1 })) },
    Entry { name: "Squeeze",           convert: squeeze },
    Entry { name: "ExpandDims",        convert: expand_dims },
    Entry { name: "Transpose",         convert: transpose },
    Entry { name: "Softmax",           convert: softmax },
    Entry { name: "Split",             convert: split },
    Entry { name: "Concat",            convert: concat },
    Entry { name: "Cast",              convert: cast },
    Entry { name: "Dropout",           convert: dropout },
];

/// The table entry for a primitive.
pub fn lookup(op: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name == op)
}

/// A `MatMul` of 2-D operands waiting to see whether a `BiasAdd` completes it (`nn.Dense`).
#[derive(Clone, Debug)]
pub struct Dense {
    a: String,
    w: String,
    trans_a: bool,
    trans_b: bool,
    label: String,
}

// ---- operands and settings ----

/// The operand index of a setting that is a primitive attribute in every MindSpore version.
const ATTRIBUTE: usize = usize::MAX;

/// The name of a weight stored under another shape: the shape is part of it, so two
/// readers of one weight that want it in different shapes get different constants.
fn reshaped_name(name: &str, dims: &[usize]) -> String {
    if name.is_empty() {
        return String::new();
    }
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("{name}:{}", dims.join("x"))
}

fn input(n: &Node, i: usize) -> Result<&str, String> {
    n.inputs.get(i).map(String::as_str).ok_or_else(|| format!("operand {i} is missing"))
}

fn one(v: Val) -> Result<Vec<Val>, String> {
    Ok(vec![v])
}

/// Setting `what` of `n`: the Constant at operand `index` (MindSpore 2.x), else the first
/// of the primitive attributes `attrs` that is present (2.0, 1.x), else `None`.
fn setting(imp: &Importer, n: &Node, index: usize, attrs: &[&str]) -> Result<Option<Value>, String> {
    if let Some(name) = n.inputs.get(index) {
        if let Some(v) = imp.consts.get(name) {
            return Ok(Some(v.clone()));
        }
        if let Some(t) = imp.b.constant(name) {
            return Ok(Some(Value::Tensor(t.clone())));
        }
        return Err(format!("operand {index} ({}) must be a constant", attrs.first().copied().unwrap_or("a setting")));
    }
    Ok(attrs.iter().find_map(|a| n.attr(a)).cloned())
}

fn bad(what: &str, v: &Value) -> String {
    format!("{what} = {} is not supported", v.describe())
}

fn s_int(imp: &Importer, n: &Node, index: usize, attrs: &[&str], default: i64) -> Result<i64, String> {
    match setting(imp, n, index, attrs)? {
        None | Some(Value::None) => Ok(default),
        Some(v) => v.as_int().ok_or_else(|| bad(attrs[0], &v)),
    }
}

fn s_bool(imp: &Importer, n: &Node, index: usize, attrs: &[&str], default: bool) -> Result<bool, String> {
    match setting(imp, n, index, attrs)? {
        None | Some(Value::None) => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad(attrs[0], &v)),
    }
}

fn s_f32(imp: &Importer, n: &Node, index: usize, attrs: &[&str], default: f32) -> Result<f32, String> {
    match setting(imp, n, index, attrs)? {
        None | Some(Value::None) => Ok(default),
        Some(v) => v.as_f64().map(|f| f as f32).ok_or_else(|| bad(attrs[0], &v)),
    }
}

fn s_ints(imp: &Importer, n: &Node, index: usize, attrs: &[&str]) -> Result<Option<Vec<i64>>, String> {
    match setting(imp, n, index, attrs)? {
        None | Some(Value::None) => Ok(None),
        Some(v) => v.as_ints().map(Some).ok_or_else(|| bad(attrs[0], &v)),
    }
}

/// `data_format`/`format`: `"NCHW"`/`"NHWC"` in any case, or the Format enum (0 NCHW, 1 NHWC).
fn s_format(imp: &Importer, n: &Node, index: usize) -> Result<DataFormat, String> {
    let attrs = ["data_format", "format"];
    match setting(imp, n, index, &attrs)? {
        None | Some(Value::None) => Ok(DataFormat::Nchw),
        Some(v) => match (&v, v.as_int()) {
            (Value::Str(s), _) if s.eq_ignore_ascii_case("nchw") || s.eq_ignore_ascii_case("nd") => Ok(DataFormat::Nchw),
            (Value::Str(s), _) if s.eq_ignore_ascii_case("nhwc") => Ok(DataFormat::Nhwc),
            (_, Some(0)) => Ok(DataFormat::Nchw),
            (_, Some(1)) => Ok(DataFormat::Nhwc),
            _ => Err(bad("data_format", &v)),
        },
    }
}

/// How a conv or pool is padded.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PadKind {
    Pad,
    Same,
    Valid,
}

/// `pad_mode`/`padding`: `"pad"`, `"same"`, `"valid"` in any case (Conv2D writes lower
/// case, MaxPool upper case), or the PadMode enum (0 PAD, 1 SAME, 2 VALID).
fn s_pad_mode(imp: &Importer, n: &Node, index: usize, default: PadKind) -> Result<PadKind, String> {
    match setting(imp, n, index, &["pad_mode", "padding"])? {
        None | Some(Value::None) => Ok(default),
        Some(v) => match (&v, v.as_int()) {
            (Value::Str(s), _) if s.eq_ignore_ascii_case("pad") => Ok(PadKind::Pad),
            (Value::Str(s), _) if s.eq_ignore_ascii_case("same") => Ok(PadKind::Same),
            (Value::Str(s), _) if s.eq_ignore_ascii_case("valid") => Ok(PadKind::Valid),
            (_, Some(0)) => Ok(PadKind::Pad),
            (_, Some(1)) => Ok(PadKind::Same),
            (_, Some(2)) => Ok(PadKind::Valid),
            _ => Err(bad("pad_mode", &v)),
        },
    }
}

/// A window setting as (height, width): one value for both, a pair, or MindSpore's 4-tuple
/// `(1, 1, h, w)` of an NCHW op.
fn pair(v: Option<Vec<i64>>, what: &str, default: usize) -> Result<[usize; 2], String> {
    let v = match v {
        None => return Ok([default, default]),
        Some(v) => v,
    };
    let hw = match v.as_slice() {
        [a] => [*a, *a],
        [h, w] => [*h, *w],
        [1, 1, h, w] => [*h, *w],
        _ => return Err(format!("{what} {v:?} is not a value, a pair or (1, 1, h, w)")),
    };
    let ok = |x: i64| usize::try_from(x).ok().filter(|&x| x >= 1);
    match (ok(hw[0]), ok(hw[1])) {
        (Some(h), Some(w)) => Ok([h, w]),
        _ => Err(format!("{what} {v:?} must be positive")),
    }
}

fn rank_of(imp: &Importer, name: &str) -> Result<usize, String> {
    imp.data(name)?;
    Ok(imp.shape_of(name)?.len())
}

/// Add an IR node named after `n` on tensor operands.
fn add(imp: &mut Importer, n: &Node, op: Op, ins: &[&str]) -> Result<Val, String> {
    let outs = ins.iter().map(|i| imp.outlet_of(i)).collect::<Result<Vec<Outlet>, String>>()?;
    imp.b.add_outlets(&n.label, op, &outs)
}

// ---- plumbing ----

/// `Load(param, U)`, `Depend(x, state)`, `Identity(x)`: the first operand, whatever it is.
fn pass_through(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    imp.count(match n.op.as_str() {
        "Load" => "Load bypassed",
        "Depend" => "Depend bypassed",
        _ => "Identity bypassed",
    });
    alias(imp, n, x)
}

/// `n`'s value is `x`'s (a tuple, state or tensor).
fn alias(imp: &mut Importer, n: &Node, x: &str) -> Result<Vec<Val>, String> {
    if let Some(t) = imp.tuples.get(x).cloned() {
        imp.tuples.insert(n.name.clone(), t);
        return Ok(vec![]);
    }
    if imp.monads.contains(x) {
        imp.monads.insert(n.name.clone());
        return Ok(vec![]);
    }
    if let Some(v) = imp.consts.get(x).cloned() {
        imp.consts.insert(n.name.clone(), v);
    }
    one(imp.data(x)?.clone())
}

fn state(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    imp.count("UpdateState dropped");
    imp.monads.insert(n.name.clone());
    Ok(vec![])
}

fn make_tuple(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    imp.tuples.insert(n.name.clone(), Tuple::Items(n.inputs.clone()));
    Ok(vec![])
}

fn tuple_get_item(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let t = input(n, 0)?;
    let index = s_int(imp, n, 1, &["index"], -1)?;
    let tuple = imp.tuples.get(t).cloned().ok_or_else(|| format!("operand {t:?} is not a tuple"))?;
    let len = match &tuple {
        Tuple::Items(v) => v.len(),
        Tuple::Split { starts, .. } => starts.len() - 1,
        Tuple::Fixed(v) => v.len(),
    };
    let i = usize::try_from(index).ok().filter(|&i| i < len).ok_or_else(|| format!("index {index} out of range for a tuple of {len}"))?;
    match tuple {
        Tuple::Items(items) => {
            let item = &items[i];
            if imp.is_poisoned(item) {
                return one(Val::Poison);
            }
            alias(imp, n, item)
        }
        Tuple::Split { x, axis, starts } => {
            imp.count("Split part read as slice");
            let op = Slice { axes: vec![axis], starts: vec![starts[i]], ends: vec![starts[i + 1] as i64], steps: vec![1] };
            one(add(imp, n, Op::Slice(op), &[x.as_str()])?)
        }
        Tuple::Fixed(v) => one(v[i].clone()?),
    }
}

// ---- convolution and pooling ----

fn conv2d(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let (x, w) = (input(n, 0)?, input(n, 1)?);
    if s_format(imp, n, ATTRIBUTE)? != DataFormat::Nchw {
        return Err("NHWC Conv2D is not supported".into());
    }
    let ws = imp.shape_of(w)?;
    if ws.len() != 4 {
        return Err(format!("only 2-D convolution is supported (weight has rank {})", ws.len()));
    }
    let attr_ints = |names: &[&str]| -> Result<Option<Vec<i64>>, String> { s_ints(imp, n, ATTRIBUTE, names) };
    if let Some(k) = attr_ints(&["kernel_size"])? {
        let k = pair(Some(k), "kernel_size", 1)?;
        let wk = [ws[2].known(), ws[3].known()];
        if wk != [Some(k[0]), Some(k[1])] {
            return Err(format!("kernel_size {k:?} disagrees with the weight's {wk:?}"));
        }
    }
    let strides = pair(attr_ints(&["stride", "strides"])?, "stride", 1)?;
    let dilations = pair(attr_ints(&["dilation", "dilations"])?, "dilation", 1)?;
    let group = s_int(imp, n, ATTRIBUTE, &["group"], 1)?;
    let groups = s_int(imp, n, ATTRIBUTE, &["groups"], group)?;
    if group != groups {
        return Err(format!("group {group} and groups {groups} disagree"));
    }
    let group = usize::try_from(group).ok().filter(|&g| g >= 1).ok_or_else(|| format!("group {group} must be positive"))?;
    let (auto_pad, pads) = match s_pad_mode(imp, n, ATTRIBUTE, PadKind::Valid)? {
        PadKind::Same => (AutoPad::SameUpper, vec![0; 4]),
        PadKind::Valid => (AutoPad::Valid, vec![0; 4]),
        PadKind::Pad => {
            let p = match attr_ints(&["pad_list"])?.filter(|p| p.len() == 4) {
                Some(p) => p,
                None => attr_ints(&["pad"])?.unwrap_or(vec![0]),
            };
            // MindSpore: (top, bottom, left, right); the IR: (h begin, w begin, h end, w end).
            let p = match p.as_slice() {
                [a] => vec![*a; 4],
                [t, b, l, r] => vec![*t, *l, *b, *r],
                _ => return Err(format!("pad {p:?} is not one value or (top, bottom, left, right)")),
            };
            let p = p.iter().map(|&v| usize::try_from(v).map_err(|_| format!("negative pad {v}"))).collect::<Result<Vec<_>, _>>()?;
            (AutoPad::NotSet, p)
        }
    };
    let op = Conv { strides: strides.to_vec(), dilations: dilations.to_vec(), pads, auto_pad, group, ..Conv::default() };
    one(add(imp, n, Op::Conv(op), &[x, w])?)
}

fn pool(imp: &mut Importer, n: &Node, max: bool) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    let kernel = pair(s_ints(imp, n, 1, &["kernel_size", "ksize"])?, "kernel_size", 1)?.to_vec();
    let strides = pair(s_ints(imp, n, 2, &["strides", "stride"])?, "strides", 1)?.to_vec();
    let auto_pad = match s_pad_mode(imp, n, 3, PadKind::Valid)? {
        PadKind::Same => AutoPad::SameUpper,
        PadKind::Valid => AutoPad::Valid,
        PadKind::Pad => return Err("pooling with pad_mode PAD is not supported".into()),
    };
    let format = s_format(imp, n, 4)?;
    // TF-style SAME pooling: padding never wins the max and is not counted in the mean.
    let op = if max {
        Op::MaxPool(MaxPool { kernel, strides, auto_pad, format, ..MaxPool::default() })
    } else {
        Op::AveragePool(AveragePool { kernel, strides, auto_pad, format, ..AveragePool::default() })
    };
    one(add(imp, n, op, &[x])?)
}

fn adaptive_avg_pool(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let size = s_ints(imp, n, 1, &["output_size"])?;
    if !matches!(size.as_deref(), Some([1]) | Some([1, 1])) {
        return Err(format!("AdaptiveAvgPool2D to {size:?} is not supported (only to 1x1)"));
    }
    unary(imp, n, Op::GlobalAveragePool(GlobalAveragePool::default()))
}

fn batch_norm(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let ins: Vec<&str> = (0..5).map(|i| input(n, i)).collect::<Result<_, _>>()?;
    if s_bool(imp, n, 5, &["is_training"], false)? {
        return Err("training-mode BatchNorm is not supported (export with the network in eval mode)".into());
    }
    let epsilon = s_f32(imp, n, 6, &["epsilon"], 1e-5)?;
    let format = s_format(imp, n, 8)?;
    let rank = rank_of(imp, ins[0])?;
    let axis = if format == DataFormat::Nhwc && rank == 4 { 3 } else { 1 };
    let y = add(imp, n, Op::BatchNorm(BatchNorm { epsilon, axis }), &ins)?;
    let training = |what: &str| Err(format!("BatchNorm's {what} (a training output) is not supported"));
    let outs = vec![Ok(y), training("batch_mean"), training("batch_variance"), training("reserve_space_1"), training("reserve_space_2")];
    imp.tuples.insert(n.name.clone(), Tuple::Fixed(outs));
    Ok(vec![])
}

// ---- elementwise ----

fn unary(imp: &mut Importer, n: &Node, op: Op) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    one(add(imp, n, op, &[x])?)
}

/// The outlet of `name` as `dtype`: a constant of another type (a Python scalar, which
/// MindSpore converts to the other operand's type) is converted.
fn operand_as(imp: &mut Importer, name: &str, dtype: DType) -> Result<Outlet, String> {
    if let Val::Const { tensor, name: wname } = imp.data(name)?.clone() {
        if tensor.dtype() != dtype {
            let key = format!("{name}\u{0}{dtype}");
            if !imp.has(&key) {
                let cast = tensor.cast(dtype);
                let wname = if wname.is_empty() { String::new() } else { format!("{wname}:{dtype}") };
                imp.define(key.clone(), Val::constant(cast, wname));
            }
            return imp.outlet(&key);
        }
    }
    imp.outlet_of(name)
}

fn binary(imp: &mut Importer, n: &Node, op: Op) -> Result<Vec<Val>, String> {
    let (a, b) = (input(n, 0)?, input(n, 1)?);
    let is_const = |imp: &Importer, x: &str| matches!(imp.data(x), Ok(Val::Const { .. }));
    let (da, db) = (imp.dtype_of(a)?, imp.dtype_of(b)?);
    let (oa, ob) = if da != db && is_const(imp, b) {
        (imp.outlet_of(a)?, operand_as(imp, b, da)?)
    } else if da != db && is_const(imp, a) {
        (operand_as(imp, a, db)?, imp.outlet_of(b)?)
    } else {
        (imp.outlet_of(a)?, imp.outlet_of(b)?)
    };
    one(imp.b.add_outlets(&n.label, op, &[oa, ob])?)
}

fn cast(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    let to = match setting(imp, n, 1, &["DstT", "dst_type", "dtype"])? {
        Some(Value::Type(d)) => d,
        Some(v) => match v.as_int() {
            Some(id) => dtype_of_type_id(id).ok_or_else(|| format!("Cast to MindSpore type id {id} is not supported"))?,
            None => return Err(bad("Cast dtype", &v)),
        },
        None => return Err("Cast has no target type".into()),
    };
    match imp.data(x)?.clone() {
        Val::Const { tensor, name } if tensor.dtype() != to => {
            // A cast weight is stored converted, under a name that says so.
            imp.count("Cast of a weight folded");
            let name = if name.is_empty() { name } else { format!("{name}:{to}") };
            one(Val::constant(tensor.cast(to), name))
        }
        v if imp.dtype_of(x)? == to => one(v),
        _ => unary(imp, n, Op::Cast(Cast { to })),
    }
}

// ---- reductions, products ----

fn reduce_mean(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let axes = s_ints(imp, n, 1, &["axis"])?.unwrap_or_default();
    let keepdims = s_bool(imp, n, 2, &["keep_dims"], false)?;
    unary(imp, n, Op::ReduceMean(ReduceMean { axes, keepdims }))
}

fn softmax(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let axes = s_ints(imp, n, 1, &["axis"])?.unwrap_or(vec![-1]);
    let [axis] = axes[..] else { return Err(format!("Softmax over axes {axes:?} is not supported (one axis only)")) };
    unary(imp, n, Op::Softmax(Softmax { axis }))
}

fn matmul(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let (a, b) = (input(n, 0)?, input(n, 1)?);
    let trans_a = s_bool(imp, n, 2, &["transpose_a", "transpose_x1"], false)?;
    let trans_b = s_bool(imp, n, 3, &["transpose_b", "transpose_x2"], false)?;
    let (ra, rb) = (rank_of(imp, a)?, rank_of(imp, b)?);
    if ra == 2 && rb == 2 {
        let d = Dense { a: a.to_string(), w: b.to_string(), trans_a, trans_b, label: n.label.clone() };
        if imp.sole_reader.get(&n.name).map(String::as_str) == Some("BiasAdd") {
            imp.pending_dense.insert(n.name.clone(), d);
            return Ok(vec![]);
        }
        let op = Op::Gemm(Gemm { trans_a, trans_b, ..Gemm::default() });
        return one(add(imp, n, op, &[a, b])?);
    }
    // Batched: transposes of the last two axes, then numpy matmul.
    let mut ins = Vec::new();
    for (x, t, r) in [(a, trans_a, ra), (b, trans_b, rb)] {
        let o = imp.outlet_of(x)?;
        ins.push(if t && r >= 2 {
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 2, r - 1);
            match imp.b.add_outlets(&format!("{}:transpose", n.label), Op::Transpose(Transpose { perm }), &[o])? {
                Val::Dyn(o) => o,
                _ => return Err("transpose did not give a value".into()),
            }
        } else {
            o
        });
    }
    one(imp.b.add_outlets(&n.label, Op::MatMul(MatMul {}), &ins)?)
}

/// The scope two nodes share (`.../fc1-Dense` for its MatMul and BiasAdd).
fn common_scope(a: &str, b: &str) -> String {
    let (pa, pb) = (a.rsplit_once('/').map(|p| p.0), b.rsplit_once('/').map(|p| p.0));
    match (pa, pb) {
        (Some(x), Some(y)) if x == y && !x.is_empty() => x.to_string(),
        _ => a.to_string(),
    }
}

fn bias_add(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let (x, b) = (input(n, 0)?, input(n, 1)?);
    if let Some(d) = imp.pending_dense.remove(x) {
        if rank_of(imp, b)? != 1 {
            return Err("BiasAdd's bias must be 1-D".into());
        }
        imp.count("MatMul + BiasAdd (Dense) as one gemm");
        let op = Op::Gemm(Gemm { trans_a: d.trans_a, trans_b: d.trans_b, ..Gemm::default() });
        let outs = [imp.outlet_of(&d.a)?, imp.outlet_of(&d.w)?, imp.outlet_of(b)?];
        return one(imp.b.add_outlets(&common_scope(&d.label, &n.label), op, &outs)?);
    }
    let format = s_format(imp, n, 2)?;
    let rank = rank_of(imp, x)?;
    let bs = imp.shape_of(b)?;
    if bs.len() != 1 {
        return Err(format!("BiasAdd's bias must be 1-D, got rank {}", bs.len()));
    }
    // The bias runs along the channel axis: axis 1 (NCHW), the last axis (NHWC).
    let target: Vec<i64> = if format == DataFormat::Nchw && rank > 2 {
        let c = bs[0].known().ok_or("BiasAdd's bias has a symbolic length")? as i64;
        std::iter::once(c).chain(std::iter::repeat_n(1, rank - 2)).collect()
    } else {
        vec![-1]
    };
    let bias = if target.len() == 1 {
        imp.outlet_of(b)?
    } else if let Val::Const { tensor, name } = imp.data(b)?.clone() {
        let dims: Vec<usize> = target.iter().map(|&d| d as usize).collect();
        let key = format!("{b}\u{0}bias");
        let name = reshaped_name(&name, &dims);
        imp.define(key.clone(), Val::constant(tensor.reshaped(dims).map_err(|e| e.to_string())?, name));
        imp.outlet(&key)?
    } else {
        let o = imp.outlet_of(b)?;
        match imp.b.add_outlets(&format!("{}:bias", n.label), Op::Reshape(Reshape { shape: target, allowzero: false }), &[o])? {
            Val::Dyn(o) => o,
            _ => return Err("reshape did not give a value".into()),
        }
    };
    let xo = imp.outlet_of(x)?;
    one(imp.b.add_outlets(&n.label, Op::Add(Add {}), &[xo, bias])?)
}

/// MindSpore's `Dense(x, w, b)` primitive: x @ w' + b.
fn dense(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let (x, w) = (input(n, 0)?, input(n, 1)?);
    let mut ins = vec![x, w];
    if let Some(b) = n.inputs.get(2).filter(|b| !matches!(imp.consts.get(b.as_str()), Some(Value::None))) {
        ins.push(b);
    }
    one(add(imp, n, Op::Gemm(Gemm { trans_b: true, ..Gemm::default() }), &ins)?)
}

// ---- shapes ----

fn reshape(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    let shape = s_ints(imp, n, 1, &["shape"])?.ok_or("Reshape has no target shape")?;
    // MindSpore's 0 is a zero extent, not "copy the input's".
    let allowzero = shape.contains(&0);
    let op = Reshape { shape, allowzero };
    if let Val::Const { tensor, name } = imp.data(x)?.clone() {
        let out = op.output_shape(&senetc_ir::Shape::known(tensor.shape()))?;
        if let Some(dims) = out.as_known() {
            let name = if dims == tensor.shape() { name } else { reshaped_name(&name, &dims) };
            return one(Val::constant(tensor.reshaped(dims).map_err(|e| e.to_string())?, name));
        }
    }
    unary(imp, n, Op::Reshape(op))
}

fn squeeze(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let axes = s_ints(imp, n, 1, &["axis"])?.unwrap_or_default();
    unary(imp, n, Op::Squeeze(Squeeze { axes }))
}

fn expand_dims(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let axis = s_ints(imp, n, 1, &["axis"])?.ok_or("ExpandDims has no axis")?;
    unary(imp, n, Op::Unsqueeze(Unsqueeze { axes: axis }))
}

fn transpose(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let perm = s_ints(imp, n, 1, &["perm", "input_perm"])?.ok_or("Transpose has no permutation")?;
    let perm = perm.iter().map(|&p| usize::try_from(p).map_err(|_| format!("negative axis {p} in {perm:?}"))).collect::<Result<_, _>>()?;
    unary(imp, n, Op::Transpose(Transpose { perm }))
}

fn split(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    let shape = imp.shape_of(x)?;
    let axis = norm_axis(s_int(imp, n, 1, &["axis"], 0)?, shape.len())?;
    let parts = s_int(imp, n, 2, &["output_num", "num_split"], 1)?;
    let extent = shape[axis].known().ok_or("Split along a symbolic axis")?;
    let parts = usize::try_from(parts).ok().filter(|&p| p >= 1 && p <= extent.max(1)).ok_or_else(|| format!("Split into {parts} parts of {extent}"))?;
    let sizes: Vec<usize> = match n.attr("size_splits").and_then(Value::as_ints) {
        Some(s) if s.len() == parts && s.iter().all(|&v| v >= 0) && s.iter().sum::<i64>() == extent as i64 => s.iter().map(|&v| v as usize).collect(),
        _ if extent % parts == 0 => vec![extent / parts; parts],
        _ => return Err(format!("Split of {extent} into {parts} equal parts")),
    };
    let mut starts = vec![0];
    for s in sizes {
        starts.push(starts[starts.len() - 1] + s);
    }
    imp.tuples.insert(n.name.clone(), Tuple::Split { x: x.to_string(), axis, starts });
    imp.count("Split");
    Ok(vec![])
}

fn concat(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let first = input(n, 0)?;
    let (items, axis) = match imp.tuples.get(first).cloned() {
        Some(Tuple::Items(items)) => (items, s_int(imp, n, 1, &["axis"], 0)?),
        Some(_) => return Err("Concat of a multi-output primitive's tuple is not supported".into()),
        None => {
            let data: Vec<String> = n.inputs.iter().filter(|i| !imp.consts.contains_key(*i) || imp.has(i)).cloned().collect();
            let axis = s_int(imp, n, ATTRIBUTE, &["axis"], 0)?;
            (data, axis)
        }
    };
    if items.is_empty() {
        return Err("Concat of nothing".into());
    }
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    if refs.len() == 1 {
        return alias(imp, n, refs[0]);
    }
    one(add(imp, n, Op::Concat(Concat { axis }), &refs)?)
}

fn dropout(imp: &mut Importer, n: &Node) -> Result<Vec<Val>, String> {
    let x = input(n, 0)?;
    let y = imp.data(x)?.clone();
    imp.tuples.insert(n.name.clone(), Tuple::Fixed(vec![Ok(y), Err("Dropout's mask (a training output) is not supported".into())]));
    Ok(vec![])
}

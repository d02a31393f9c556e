//! The TensorFlow op table: one line per op type, its converter to IR. Activations and
//! convolutions stay NHWC as TensorFlow computes them (`Conv{format: nhwc}`, pools nhwc,
//! BatchNorm over axis 3); HWIO filters become `transpose(filter, [3,2,0,1])` (depthwise
//! HWIM filters reshaped to [kh,kw,1,C*M] first, group = C); the layout pass makes it NCHW.
//! SAME padding is resolved to explicit pads from the static spatial sizes (TensorFlow puts
//! the odd pad at the end). Shape arithmetic (Shape, StridedSlice, Pack, Prod, ...) is
//! evaluated at import; arithmetic on constants (an unfused batch norm's rsqrt chain) is
//! folded at import.

use crate::convert::Imp;
use crate::graph::{attr_bool, attr_float, attr_int, attr_ints, attr_str, attr_type};
use crate::proto::NodeDef;
use senetc_import::{gather_ints, int_binary, reshape_target, slice_ints, IntOp, SymInt, Val};
use senetc_ir::ops::*;
use senetc_ir::{DType, Dim, Op, Tensor};

/// A node being converted: its definition and the value names of its operands.
pub struct N<'a> {
    /// Node index.
    pub idx: usize,
    /// The NodeDef.
    pub def: &'a NodeDef,
    /// Operand value names (training constructs already resolved).
    pub ins: &'a [String],
}

impl N<'_> {
    fn name(&self) -> &str {
        &self.def.name
    }
    fn input(&self, k: usize) -> Result<&str, String> {
        self.ins.get(k).map(String::as_str).ok_or_else(|| format!("input {k} is missing"))
    }
}

type Convert = fn(&mut Imp, &N) -> Result<Vec<Val>, String>;

#[rustfmt::skip]
static TABLE: &[(&str, Convert)] = &[
    ("Const",                 konst),
    ("VariableV2",            variable),
    ("Variable",              variable),
    ("VarHandleOp",           variable),
    ("Placeholder",           pinned),
    ("PlaceholderV2",         pinned),
    ("PlaceholderWithDefault", pinned),
    ("Identity",              identity),
    ("IdentityN",             identity_n),
    ("StopGradient",          identity),
    ("Snapshot",              identity),
    ("ReadVariableOp",        identity),
    ("NoOp",                  |_, _| Ok(vec![])),
    ("Conv2D",                conv2d),
    ("DepthwiseConv2dNative", depthwise),
    ("FusedBatchNorm",        fused_bn),
    ("FusedBatchNormV2",      fused_bn),
    ("FusedBatchNormV3",      fused_bn),
    ("BiasAdd",               bias_add),
    ("BiasAddV1",             bias_add),
    ("Relu",                  |i, n| unary(i, n, Op::Relu(Relu {}))),
    ("Relu6",                 |i, n| unary(i, n, Op::Clip(Clip { min: 0.0, max: 6.0 }))),
    ("Elu",                   |i, n| unary(i, n, Op::Elu(Elu { alpha: 1.0 }))),
    ("Sigmoid",               |i, n| unary(i, n, Op::Sigmoid(Sigmoid {}))),
    ("Tanh",                  |i, n| unary(i, n, Op::Tanh(Tanh {}))),
    ("Swish",                 |i, n| unary(i, n, Op::Silu(Silu {}))),
    ("Mul",                   |i, n| binary(i, n, Bin::Mul)),
    ("Add",                   |i, n| binary(i, n, Bin::Add)),
    ("AddV2",                 |i, n| binary(i, n, Bin::Add)),
    ("Sub",                   |i, n| binary(i, n, Bin::Sub)),
    ("RealDiv",               |i, n| binary(i, n, Bin::Div)),
    ("Div",                   |i, n| binary(i, n, Bin::Div)),
    ("TrueDiv",               |i, n| binary(i, n, Bin::Div)),
    ("FloorDiv",              |i, n| binary(i, n, Bin::FloorDiv)),
    ("Maximum",               |i, n| binary(i, n, Bin::Max)),
    ("Minimum",               |i, n| binary(i, n, Bin::Min)),
    ("AddN",                  add_n),
    ("Rsqrt",                 |i, n| const_unary(i, n, |x| 1.0 / x.sqrt())),
    ("Sqrt",                  |i, n| const_unary(i, n, f64::sqrt)),
    ("Reciprocal",            |i, n| const_unary(i, n, |x| 1.0 / x)),
    ("Inv",                   |i, n| const_unary(i, n, |x| 1.0 / x)),
    ("Square",                |i, n| const_unary(i, n, |x| x * x)),
    ("Neg",                   |i, n| const_unary(i, n, |x| -x)),
    ("Abs",                   |i, n| const_unary(i, n, f64::abs)),
    ("Floor",                 |i, n| const_unary(i, n, f64::floor)),
    ("Exp",                   |i, n| const_unary(i, n, f64::exp)),
    ("LogicalNot",            |i, n| const_unary(i, n, |x| if x == 0.0 { 1.0 } else { 0.0 })),
    ("Mean",                  |i, n| reduce(i, n, true)),
    ("Max",                   |i, n| reduce(i, n, false)),
    ("Prod",                  prod),
    ("AvgPool",               |i, n| pool(i, n, true)),
    ("MaxPool",               |i, n| pool(i, n, false)),
    ("MatMul",                matmul),
    ("Reshape",               reshape),
    ("Squeeze",               squeeze),
    ("ExpandDims",            expand_dims),
    ("Pad",                   pad),
    ("PadV2",                 pad),
    ("MirrorPad",             pad),
    ("Softmax",               |i, n| unary(i, n, Op::Softmax(Softmax { axis: -1 }))),
    ("ConcatV2",              concat),
    ("Transpose",             transpose),
    ("Cast",                  cast),
    ("Shape",                 shape),
    ("StridedSlice",          strided_slice),
    ("Pack",                  pack),
];

/// The converter of a TensorFlow op type.
pub fn lookup(op: &str) -> Option<Convert> {
    TABLE.iter().find(|(n, _)| *n == op).map(|(_, f)| *f)
}

/// Every op type the table converts.
pub fn supported() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _)| *n)
}

// ---- helpers ----

fn one(v: Val) -> Result<Vec<Val>, String> {
    Ok(vec![v])
}

fn nhwc(n: &N) -> Result<bool, String> {
    match attr_str(n.def, "data_format").as_deref() {
        None | Some("NHWC") => Ok(true),
        Some("NCHW") => Ok(false),
        Some(f) => Err(format!("data_format {f:?} is not supported")),
    }
}

/// The constant tensor behind a value, if it is one.
fn tensor_of(imp: &Imp, name: &str) -> Option<Tensor> {
    imp.b.constant(name).cloned()
}

/// The static dims of a value.
fn dims(imp: &Imp, name: &str) -> Result<Vec<Dim>, String> {
    imp.b.shape_of(name)
}

/// A static spatial extent.
fn known(d: &Dim, what: &str) -> Result<usize, String> {
    d.known().ok_or_else(|| format!("{what} must be static, got {d}"))
}

/// Two spatial values of a 4-element attribute in `nhwc` or `nchw` order.
fn spatial(n: &N, key: &str, nhwc: bool) -> Result<[usize; 2], String> {
    let v = attr_ints(n.def, key).unwrap_or_else(|| vec![1; 4]);
    if v.len() != 4 {
        return Err(format!("{key} must have 4 values, got {v:?}"));
    }
    let (h, w) = if nhwc { (v[1], v[2]) } else { (v[2], v[3]) };
    let batch_chan = if nhwc { (v[0], v[3]) } else { (v[0], v[1]) };
    if batch_chan != (1, 1) {
        return Err(format!("{key} {v:?} steps over the batch or channel axis"));
    }
    Ok([usize::try_from(h).map_err(|_| format!("negative {key}"))?, usize::try_from(w).map_err(|_| format!("negative {key}"))?])
}

/// Explicit pads [top, left, bottom, right] for TensorFlow's `padding` on `hw` with a
/// `k` window: SAME gives ceil(in/stride) outputs with the odd pad at the end.
fn pads(n: &N, hw: [usize; 2], k: [usize; 2], s: [usize; 2], d: [usize; 2], nhwc: bool) -> Result<Vec<usize>, String> {
    match attr_str(n.def, "padding").as_deref() {
        Some("VALID") => Ok(vec![0; 4]),
        Some("SAME") => {
            let p: Vec<(usize, usize)> = (0..2).map(|i| resolve_pads(AutoPad::SameUpper, hw[i], k[i], s[i], d[i], (0, 0))).collect();
            Ok(vec![p[0].0, p[1].0, p[0].1, p[1].1])
        }
        Some("EXPLICIT") => {
            let e = attr_ints(n.def, "explicit_paddings").unwrap_or_default();
            if e.len() != 8 || e.iter().any(|&x| x < 0) {
                return Err(format!("explicit_paddings {e:?} must be 8 non-negative values"));
            }
            let (h, w) = if nhwc { (2, 4) } else { (4, 6) };
            Ok(vec![e[h] as usize, e[w] as usize, e[h + 1] as usize, e[w + 1] as usize])
        }
        p => Err(format!("padding {p:?} is not supported")),
    }
}

// ---- leaves ----

fn konst(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let t = crate::tensor::convert(&crate::graph::attr_tensor(n.def, "value").ok_or("Const without a tensor value")?)?;
    let (name, t) = imp.weights.constant(n.def, t);
    one(Val::constant(t, name))
}

fn variable(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (name, t) = imp.weights.variable(n.def)?;
    one(Val::constant(t, name))
}

fn pinned(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let t = imp.pinned.get(&n.idx).cloned().ok_or("a placeholder that is neither a graph input nor pinned")?;
    one(Val::constant(t, String::new()))
}

fn identity(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    one(imp.b.val(n.input(0)?)?.clone())
}

fn identity_n(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    n.ins.iter().map(|i| imp.b.val(i).cloned()).collect()
}

// ---- convolutions ----

fn conv2d(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, w) = (n.input(0)?, n.input(1)?);
    let filter = tensor_of(imp, w).ok_or("the filter must be a constant (a variable or Const)")?;
    let fs = filter.shape().to_vec();
    if fs.len() != 4 {
        return Err(format!("filter must be 4-D HWIO, got {fs:?}"));
    }
    let is_nhwc = nhwc(n)?;
    let xd = dims(imp, x)?;
    if xd.len() != 4 {
        return Err(format!("input must be 4-D, got rank {}", xd.len()));
    }
    let (c, hw) = if is_nhwc { (&xd[3], [&xd[1], &xd[2]]) } else { (&xd[1], [&xd[2], &xd[3]]) };
    let c = known(c, "the channel count")?;
    if fs[2] == 0 || c % fs[2] != 0 {
        return Err(format!("{c} input channels do not split into groups of {}", fs[2]));
    }
    let hw = [known(hw[0], "height")?, known(hw[1], "width")?];
    let (s, d) = (spatial(n, "strides", is_nhwc)?, spatial(n, "dilations", is_nhwc)?);
    let p = pads(n, hw, [fs[0], fs[1]], s, d, is_nhwc)?;
    let op = Conv { strides: s.to_vec(), dilations: d.to_vec(), pads: p, group: c / fs[2], format: if is_nhwc { DataFormat::Nhwc } else { DataFormat::Nchw }, ..Conv::default() };
    conv_with_filter(imp, n, x, w, op)
}

/// `conv(x, transpose(filter, [3,2,0,1]))`: the HWIO filter as OIHW, which the layout pass
/// folds offline.
fn conv_with_filter(imp: &mut Imp, n: &N, x: &str, w: &str, op: Conv) -> Result<Vec<Val>, String> {
    let xo = imp.b.outlet(x)?;
    let wo = imp.b.outlet(w)?;
    let Val::Dyn(f) = imp.b.add_outlets(&format!("{}/filter_oihw", n.name()), Op::Transpose(Transpose { perm: vec![3, 2, 0, 1] }), &[wo])? else {
        return Err("filter transpose".into());
    };
    one(imp.b.add_outlets(n.name(), Op::Conv(op), &[xo, f])?)
}

fn depthwise(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, w) = (n.input(0)?, n.input(1)?);
    let filter = tensor_of(imp, w).ok_or("the filter must be a constant (a variable or Const)")?;
    let fs = filter.shape().to_vec();
    if fs.len() != 4 {
        return Err(format!("depthwise filter must be 4-D [kh,kw,C,M], got {fs:?}"));
    }
    let is_nhwc = nhwc(n)?;
    let xd = dims(imp, x)?;
    if xd.len() != 4 {
        return Err(format!("input must be 4-D, got rank {}", xd.len()));
    }
    let (c, hw) = if is_nhwc { (&xd[3], [&xd[1], &xd[2]]) } else { (&xd[1], [&xd[2], &xd[3]]) };
    let c = known(c, "the channel count")?;
    if c != fs[2] {
        return Err(format!("filter {fs:?} for {c} channels"));
    }
    let hw = [known(hw[0], "height")?, known(hw[1], "width")?];
    let (s, d) = (spatial(n, "strides", is_nhwc)?, spatial(n, "dilations", is_nhwc)?);
    let p = pads(n, hw, [fs[0], fs[1]], s, d, is_nhwc)?;
    // [kh,kw,C,M] -> [kh,kw,1,C*M]: output channel c*M+m, as TensorFlow orders them.
    let wname = imp.b.val(w).ok().and_then(|v| if let Val::Const { name, .. } = v { Some(name.clone()) } else { None }).unwrap_or_default();
    let reshaped = filter.reshaped(vec![fs[0], fs[1], 1, fs[2] * fs[3]]).map_err(|e| e.to_string())?;
    let rname = format!("{}/depthwise_hwio", n.name());
    imp.b.define(rname.clone(), Val::constant(reshaped, if wname.is_empty() { String::new() } else { format!("{wname}:hwio") }));
    let op = Conv { strides: s.to_vec(), dilations: d.to_vec(), pads: p, group: c, format: if is_nhwc { DataFormat::Nhwc } else { DataFormat::Nchw }, ..Conv::default() };
    conv_with_filter(imp, n, x, &rname, op)
}

fn fused_bn(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let ins: Vec<&str> = (0..5).map(|k| n.input(k)).collect::<Result<_, _>>()?;
    for (k, what) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
        if tensor_of(imp, ins[k]).is_none() {
            return Err(format!("the {what} must be a constant"));
        }
    }
    let rank = dims(imp, ins[0])?.len();
    let axis = if nhwc(n)? { rank.saturating_sub(1) } else { 1 };
    let epsilon = attr_float(n.def, "epsilon").unwrap_or(1e-4);
    let y = imp.b.add(n.name(), Op::BatchNorm(BatchNorm { epsilon, axis }), &ins)?;
    one(y)
}

fn bias_add(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, b) = (n.input(0)?, n.input(1)?);
    let rank = dims(imp, x)?.len();
    if nhwc(n)? || rank <= 2 {
        return one(imp.b.add(n.name(), Op::Add(Add {}), &[x, b])?);
    }
    let t = tensor_of(imp, b).ok_or("an NCHW bias must be a constant")?;
    let mut shape = vec![t.len()];
    shape.extend(std::iter::repeat_n(1, rank - 2));
    let bn = format!("{}/bias_nchw", n.name());
    imp.b.define(bn.clone(), Val::constant(t.reshaped(shape).map_err(|e| e.to_string())?, String::new()));
    one(imp.b.add(n.name(), Op::Add(Add {}), &[x, &bn])?)
}

// ---- elementwise ----

fn unary(imp: &mut Imp, n: &N, op: Op) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    one(imp.b.add(n.name(), op, &[x])?)
}

#[derive(Clone, Copy, PartialEq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Max,
    Min,
}

/// `a op b` on two constants, numpy broadcasting, computed in f64.
fn fold2(a: &Tensor, b: &Tensor, op: Bin) -> Result<Tensor, String> {
    let shape = broadcast_shapes(&senetc_ir::Shape::known(a.shape()), &senetc_ir::Shape::known(b.shape()))?.as_known().ok_or("broadcast")?;
    let (x, y) = (a.to_f64(), b.to_f64());
    let idx = |s: &[usize], i: usize| -> usize {
        // Map a flat index of the broadcast shape to one of `s` (right-aligned).
        let mut rem = i;
        let mut off = 0;
        let mut stride = 1;
        for (k, &d) in shape.iter().enumerate().rev() {
            let coord = rem % d.max(1);
            rem /= d.max(1);
            let j = k as isize - (shape.len() - s.len()) as isize;
            if j >= 0 {
                let sd = s[j as usize];
                off += if sd == 1 { 0 } else { coord * stride };
                stride *= sd;
            }
        }
        off
    };
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = (0..n)
        .map(|i| {
            let (p, q) = (x[idx(a.shape(), i)], y[idx(b.shape(), i)]);
            match op {
                Bin::Add => p + q,
                Bin::Sub => p - q,
                Bin::Mul => p * q,
                Bin::Div => p / q,
                Bin::FloorDiv => (p / q).floor(),
                Bin::Max => p.max(q),
                Bin::Min => p.min(q),
            }
        })
        .collect();
    let t = Tensor::from_bytes(DType::F64, shape, vals.iter().flat_map(|v| v.to_le_bytes()).collect()).map_err(|e| e.to_string())?;
    Ok(t.cast(a.dtype()))
}

fn binary(imp: &mut Imp, n: &N, op: Bin) -> Result<Vec<Val>, String> {
    let (a, b) = (n.input(0)?, n.input(1)?);
    let (va, vb) = (imp.b.val(a)?.clone(), imp.b.val(b)?.clone());
    // Shape arithmetic on integers.
    let int_op = match op {
        Bin::Add => Some(IntOp::Add),
        Bin::Sub => Some(IntOp::Sub),
        Bin::Mul => Some(IntOp::Mul),
        Bin::FloorDiv => Some(IntOp::Div),
        Bin::Div if !imp.b.dtype_of(a)?.is_float() => Some(IntOp::Div),
        _ => None,
    };
    if let Some(iop) = int_op {
        if let Some(r) = int_binary(iop, &va, &vb) {
            return one(r?);
        }
    }
    if let (Some(ta), Some(tb)) = (tensor_of(imp, a), tensor_of(imp, b)) {
        return one(Val::constant(fold2(&ta, &tb, op)?, String::new()));
    }
    // x * 1 (a swish's beta of 1): the value itself, when the constant does not broadcast it.
    if op == Bin::Mul {
        for (c, other) in [(a, b), (b, a)] {
            if let Some(t) = tensor_of(imp, c) {
                let od = dims(imp, other)?;
                if t.shape().len() <= od.len() && t.shape().iter().all(|&d| d == 1) && t.to_f64().iter().all(|&v| v == 1.0) {
                    return one(imp.b.val(other)?.clone());
                }
            }
        }
    }
    // max(x, c) / min(x, c) with a scalar constant: a clip.
    if matches!(op, Bin::Max | Bin::Min) {
        for (c, other) in [(b, a), (a, b)] {
            if let Some(t) = tensor_of(imp, c).filter(|t| t.len() == 1) {
                let v = t.to_f32()[0];
                let clip = if op == Bin::Max { Clip { min: v, max: f32::INFINITY } } else { Clip { min: f32::NEG_INFINITY, max: v } };
                return one(imp.b.add(n.name(), Op::Clip(clip), &[other])?);
            }
        }
    }
    let ir = match op {
        Bin::Add => Op::Add(Add {}),
        Bin::Sub => Op::Sub(Sub {}),
        Bin::Mul => Op::Mul(Mul {}),
        Bin::Div => Op::Div(Div {}),
        Bin::Max => Op::Max(Max {}),
        Bin::Min => Op::Min(Min {}),
        Bin::FloorDiv => return Err("FloorDiv on computed values is not supported".into()),
    };
    // A constant operand takes the other's element type (TensorFlow graphs agree already).
    one(imp.b.add(n.name(), ir, &[a, b])?)
}

fn add_n(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let mut acc = n.input(0)?.to_string();
    for (k, x) in n.ins.iter().enumerate().skip(1) {
        let name = if k + 1 == n.ins.len() { n.name().to_string() } else { format!("{}/add_{k}", n.name()) };
        let v = imp.b.add(&name, Op::Add(Add {}), &[&acc, x])?;
        let vn = format!("{}/partial_{k}", n.name());
        imp.b.define(vn.clone(), v);
        acc = vn;
    }
    one(imp.b.val(&acc)?.clone())
}

/// An elementwise function of a constant (an unfused batch norm's `rsqrt(var + eps)`).
fn const_unary(imp: &mut Imp, n: &N, f: fn(f64) -> f64) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    let t = tensor_of(imp, x).ok_or_else(|| format!("{} of a computed value is not supported (only of constants)", n.def.op))?;
    let vals: Vec<f64> = t.to_f64().into_iter().map(f).collect();
    let r = Tensor::from_bytes(DType::F64, t.shape().to_vec(), vals.iter().flat_map(|v| v.to_le_bytes()).collect()).map_err(|e| e.to_string())?;
    one(Val::constant(r.cast(t.dtype()), String::new()))
}

// ---- reductions and pooling ----

fn axes_of(imp: &Imp, name: &str, rank: usize) -> Result<Vec<i64>, String> {
    let v = imp.b.static_ints(name, "the reduction axes")?;
    v.into_iter().map(|a| norm_axis(a, rank).map(|a| a as i64)).collect()
}

fn reduce(imp: &mut Imp, n: &N, mean: bool) -> Result<Vec<Val>, String> {
    let (x, ax) = (n.input(0)?, n.input(1)?);
    let rank = dims(imp, x)?.len();
    let axes = axes_of(imp, ax, rank)?;
    let keepdims = attr_bool(n.def, "keep_dims").unwrap_or(false);
    if axes.is_empty() {
        // TensorFlow reduces nothing over no axes (the IR's empty list means all).
        return one(imp.b.val(x)?.clone());
    }
    let op = if mean { Op::ReduceMean(ReduceMean { axes, keepdims }) } else { Op::ReduceMax(ReduceMax { axes, keepdims }) };
    one(imp.b.add(n.name(), op, &[x])?)
}

fn prod(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, ax) = (n.input(0)?, n.input(1)?);
    let Some((v, false)) = imp.b.val(x)?.sym_ints() else {
        return Err("Prod is supported only on shape values computable at import".into());
    };
    let axes = imp.b.static_ints(ax, "Prod axes")?;
    if !(axes.is_empty() || axes.iter().all(|&a| a == 0 || a == -1)) {
        return Err(format!("Prod over axes {axes:?} of a vector"));
    }
    let mut acc = Val::Ints { v: vec![SymInt::Int(1)], scalar: true };
    for e in v {
        acc = int_binary(IntOp::Mul, &acc, &Val::Ints { v: vec![e], scalar: true }).ok_or("Prod")??;
    }
    if attr_bool(n.def, "keep_dims").unwrap_or(false) {
        if let Val::Ints { v, .. } = acc {
            return one(Val::Ints { v, scalar: false });
        }
    }
    one(acc)
}

fn pool(imp: &mut Imp, n: &N, avg: bool) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    let is_nhwc = nhwc(n)?;
    let xd = dims(imp, x)?;
    if xd.len() != 4 {
        return Err(format!("input must be 4-D, got rank {}", xd.len()));
    }
    let hw = if is_nhwc { [&xd[1], &xd[2]] } else { [&xd[2], &xd[3]] };
    let hw = [known(hw[0], "height")?, known(hw[1], "width")?];
    let (k, s) = (spatial(n, "ksize", is_nhwc)?, spatial(n, "strides", is_nhwc)?);
    let p = pads(n, hw, k, s, [1, 1], is_nhwc)?;
    let format = if is_nhwc { DataFormat::Nhwc } else { DataFormat::Nchw };
    let op = if avg {
        Op::AveragePool(AveragePool { kernel: k.to_vec(), strides: s.to_vec(), pads: p, count_include_pad: false, format, ..AveragePool::default() })
    } else {
        Op::MaxPool(MaxPool { kernel: k.to_vec(), strides: s.to_vec(), pads: p, format, ..MaxPool::default() })
    };
    one(imp.b.add(n.name(), op, &[x])?)
}

fn matmul(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (a, b) = (n.input(0)?, n.input(1)?);
    let (ta, tb) = (attr_bool(n.def, "transpose_a").unwrap_or(false), attr_bool(n.def, "transpose_b").unwrap_or(false));
    let op = if ta || tb { Op::Gemm(Gemm { alpha: 1.0, beta: 0.0, trans_a: ta, trans_b: tb }) } else { Op::MatMul(MatMul {}) };
    one(imp.b.add(n.name(), op, &[a, b])?)
}

// ---- shapes ----

/// A shape operand's elements, the training batch read as the graph's batch.
fn shape_operand(imp: &Imp, data: &[Dim], name: &str, what: &str) -> Result<Vec<SymInt>, String> {
    let (v, _) = imp.b.val(name)?.sym_ints().ok_or_else(|| format!("{what} must be a constant or computed from shapes"))?;
    let from_const = matches!(imp.b.val(name)?, Val::Const { .. });
    if let (Some((b, dim)), true) = (&imp.training_batch, from_const) {
        if v.first() == Some(&SymInt::Int(*b as i64)) && data.first() == Some(dim) && SymInt::of_dim(dim) != SymInt::Int(*b as i64) {
            let mut v = v;
            v[0] = SymInt::of_dim(dim);
            return Ok(v);
        }
    }
    Ok(v)
}

/// The note for a shape constant that carried the training batch.
fn note_batch(imp: &mut Imp, n: &N, before: &[SymInt], after: &[SymInt]) {
    if before != after {
        let b = imp.training_batch.as_ref().map(|(b, _)| *b).unwrap_or(0);
        imp.b.note(format!("{}: shape constant {:?} carried the training batch {b}; recomputed from the input batch", n.name(), before.iter().map(show).collect::<Vec<_>>()));
    }
}

fn show(s: &SymInt) -> String {
    match s {
        SymInt::Int(i) => i.to_string(),
        SymInt::Sym(s) => s.clone(),
    }
}

fn reshape(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, s) = (n.input(0)?, n.input(1)?);
    let xd = dims(imp, x)?;
    let raw = imp.b.val(s)?.sym_ints().map(|(v, _)| v).unwrap_or_default();
    let target = shape_operand(imp, &xd, s, "the target shape")?;
    note_batch(imp, n, &raw, &target);
    if let Some(t) = tensor_of(imp, x) {
        let ints: Vec<i64> = target.iter().map(|e| if let SymInt::Int(i) = e { Ok(*i) } else { Err("symbolic reshape of a constant") }).collect::<Result<_, _>>()?;
        let shape = Reshape { shape: ints, allowzero: true }.output_shape(&senetc_ir::Shape::known(t.shape()))?.as_known().ok_or("reshape")?;
        let name = match imp.b.val(x)? {
            Val::Const { name, .. } if !name.is_empty() => format!("{name}:reshaped"),
            _ => String::new(),
        };
        return one(Val::constant(t.reshaped(shape).map_err(|e| e.to_string())?, name));
    }
    // TensorFlow's 0 is a zero-length dim, never "copy the input dim".
    let allowzero = target.contains(&SymInt::Int(0));
    let shape = reshape_target(&xd, &target, allowzero)?;
    one(imp.b.add(n.name(), Op::Reshape(Reshape { shape, allowzero }), &[x])?)
}

fn squeeze(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    let axes = attr_ints(n.def, "squeeze_dims").unwrap_or_default();
    if let Some(t) = tensor_of(imp, x) {
        let r = t.shape().len();
        let drop: Vec<usize> = axes.iter().map(|&a| norm_axis(a, r)).collect::<Result<_, _>>()?;
        let shape: Vec<usize> = t.shape().iter().enumerate().filter(|(i, &d)| !(if drop.is_empty() { d == 1 } else { drop.contains(i) })).map(|(_, &d)| d).collect();
        return one(Val::constant(t.reshaped(shape).map_err(|e| e.to_string())?, String::new()));
    }
    if let Some((v, false)) = imp.b.val(x)?.sym_ints() {
        if v.len() == 1 {
            return one(Val::Ints { v, scalar: true });
        }
    }
    one(imp.b.add(n.name(), Op::Squeeze(Squeeze { axes }), &[x])?)
}

fn expand_dims(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, ax) = (n.input(0)?, n.input(1)?);
    let axis = imp.b.static_ints(ax, "the axis")?.first().copied().ok_or("empty axis")?;
    if let Some((v, true)) = imp.b.val(x)?.sym_ints() {
        return one(Val::Ints { v, scalar: false });
    }
    if let Some(t) = tensor_of(imp, x) {
        let r = t.shape().len() + 1;
        let a = norm_axis(axis, r)?;
        let mut shape = t.shape().to_vec();
        shape.insert(a, 1);
        return one(Val::constant(t.reshaped(shape).map_err(|e| e.to_string())?, String::new()));
    }
    one(imp.b.add(n.name(), Op::Unsqueeze(Unsqueeze { axes: vec![axis] }), &[x])?)
}

fn pad(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, p) = (n.input(0)?, n.input(1)?);
    let t = tensor_of(imp, p).ok_or("the paddings must be a constant")?;
    let v = t.to_i64();
    let rank = dims(imp, x)?.len();
    if t.dtype().is_float() || t.shape() != [rank, 2] {
        return Err(format!("paddings must be [{rank}, 2], got {v:?}"));
    }
    let pads: Vec<i64> = (0..rank).map(|i| v[2 * i]).chain((0..rank).map(|i| v[2 * i + 1])).collect();
    let (mode, value) = match n.def.op.as_str() {
        "MirrorPad" => match attr_str(n.def, "mode").as_deref() {
            Some("REFLECT") => (PadMode::Reflect, 0.0),
            m => return Err(format!("MirrorPad mode {m:?} is not supported (REFLECT is)")),
        },
        "PadV2" => (PadMode::Constant, imp.b.static_f32(n.input(2)?, "the pad value")?),
        _ => (PadMode::Constant, 0.0),
    };
    one(imp.b.add(n.name(), Op::Pad(Pad { pads, mode, value }), &[x])?)
}

fn concat(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let k = n.ins.len().checked_sub(1).ok_or("ConcatV2 without inputs")?;
    let axis = imp.b.static_ints(&n.ins[k], "the axis")?.first().copied().ok_or("empty axis")?;
    let parts: Vec<&str> = n.ins[..k].iter().map(String::as_str).collect();
    let ints: Option<Vec<Vec<SymInt>>> = parts.iter().map(|p| imp.b.val(p).ok().and_then(|v| v.sym_ints()).map(|(v, _)| v)).collect();
    if let (Some(ints), true) = (ints, axis == 0 || axis == -1) {
        return one(Val::Ints { v: ints.concat(), scalar: false });
    }
    one(imp.b.add(n.name(), Op::Concat(Concat { axis }), &parts)?)
}

fn transpose(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let (x, p) = (n.input(0)?, n.input(1)?);
    let perm = imp.b.static_ints(p, "the permutation")?;
    let perm: Vec<usize> = perm.into_iter().map(|v| usize::try_from(v).map_err(|_| "negative permutation entry")).collect::<Result<_, _>>()?;
    one(imp.b.add(n.name(), Op::Transpose(Transpose { perm }), &[x])?)
}

fn cast(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    let code = attr_type(n.def, "DstT").ok_or("Cast without DstT")?;
    let to = crate::bundle::dtype(code).ok_or_else(|| format!("Cast to {} is not supported", crate::bundle::dtype_name(code)))?;
    match imp.b.val(x)?.clone() {
        Val::Ints { v, scalar } if !to.is_float() => one(Val::Ints { v, scalar }),
        Val::Const { tensor, name } => one(Val::constant(tensor.cast(to), name)),
        _ => unary(imp, n, Op::Cast(Cast { to })),
    }
}

fn shape(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let d = dims(imp, n.input(0)?)?;
    one(Val::shape_of(&d))
}

fn strided_slice(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    let x = n.input(0)?;
    let Some((v, false)) = imp.b.val(x)?.sym_ints() else {
        return Err("StridedSlice is supported only on shape values computable at import".into());
    };
    let get = |imp: &Imp, k: usize, what: &str| -> Result<i64, String> {
        let s = imp.b.static_ints(n.input(k)?, what)?;
        match s.as_slice() {
            [x] => Ok(*x),
            _ => Err(format!("{what} of a 1-D shape value must have one element, got {s:?}")),
        }
    };
    let (mut b, mut e, s) = (get(imp, 1, "begin")?, get(imp, 2, "end")?, get(imp, 3, "strides")?);
    let mask = |k: &str| attr_int(n.def, k).unwrap_or(0);
    if mask("ellipsis_mask") != 0 || mask("new_axis_mask") != 0 {
        return Err("StridedSlice with ellipsis or new axes on a shape value".into());
    }
    if mask("begin_mask") & 1 != 0 {
        b = 0;
    }
    if mask("end_mask") & 1 != 0 {
        e = i64::MAX;
    }
    if mask("shrink_axis_mask") & 1 != 0 {
        let el = gather_ints(&v, &[SymInt::Int(b)])?;
        return one(Val::Ints { v: el, scalar: true });
    }
    one(Val::Ints { v: slice_ints(&v, b, e, s)?, scalar: false })
}

fn pack(imp: &mut Imp, n: &N) -> Result<Vec<Val>, String> {
    if attr_int(n.def, "axis").unwrap_or(0) != 0 {
        return Err("Pack along an axis other than 0 is supported only for shape values".into());
    }
    let mut out = Vec::new();
    for i in n.ins {
        match imp.b.val(i)?.sym_ints() {
            Some((v, true)) => out.extend(v),
            _ => return Err("Pack is supported only on scalars computable at import (shape values)".into()),
        }
    }
    one(Val::Ints { v: out, scalar: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_folding_broadcasts() {
        let a = Tensor::from_f32(vec![2, 1], &[1.0, 2.0]);
        let b = Tensor::from_f32(vec![3], &[10.0, 20.0, 30.0]);
        let r = fold2(&a, &b, Bin::Add).unwrap();
        assert_eq!(r.shape(), &[2, 3]);
        assert_eq!(r.to_f32().as_ref(), &[11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let r = fold2(&b, &Tensor::from_f32(vec![], &[2.0]), Bin::Min).unwrap();
        assert_eq!(r.to_f32().as_ref(), &[2.0, 2.0, 2.0]);
    }
}

//! THE CANN op table, and the IR ↔ CANN mapping: everything the Ascend side knows about a
//! CANN op type is in this file.
//!
//! * The table declares each op type once: its type name, where its tensors live (format
//!   rule), where its compute type comes from, whether it is a cube op, and its prototype's
//!   inputs (ascend_om.md §3) with what the op wants of each and which IR operand each carries.
//! * [`from_ir`] maps an IR op that is one CANN op with attributes (activations, elementwise
//!   arithmetic, Identity, Cast) to that op; it is an exhaustive match over [`Op`], and ops with
//!   richer lowerings (extra Const inputs, shape-dependent attributes, chains) return `None`
//!   and are lowered by codegen's `ascend::lower`. Activations fused into a conv, an add or a
//!   squeeze-excitation lower through it too (`FusedAct::to_op`).
//! * [`to_ir`] gives every CANN op type its meaning in IR for the OM/AIR read-back; it is an
//!   exhaustive match over [`CannOp`], so a row without read-back semantics does not compile.
//!
//! Adding an elementwise op: one table row, one arm in each function.

use crate::attr::{self, Attrs};
use crate::desc::Desc;
use crate::table::cann_ops;
use crate::types::{ge_dtype_from_number, ge_dtype_number};
use senetc_ir::ops::{self as irops, AutoPad, DataFormat, OpKind, PadMode};
use senetc_ir::{Op, Tensor};

#[rustfmt::skip]
cann_ops! {
    // variant      type name          format  compute  cube  inputs: name role, @k = IR operand k, @attr = an IR attribute
    /// A graph input.
    Data            "Data"             Origin  Fixed    -     [];
    /// A constant (attr `value`).
    Const           "Const"            Origin  Fixed    -     [];
    /// The graph outputs.
    NetOutput       "NetOutput"        Origin  Fixed    -     [x AsIs];
    /// A layout change; placed by `assign`, never lowered from an IR op.
    TransData       "TransData"        Origin  Fixed    -     [src AsIs];
    /// Element type conversion.
    Cast            "Cast"             Follow  Fixed    -     [x AsIs];
    /// Axis permutation.
    TransposeD      "TransposeD"       Origin  Carried  -     [x Act];
    /// 2-D convolution.
    Conv2D          "Conv2D"           Hd5     Carried  cube  [x Act, filter Filter, bias Weight];
    /// Depthwise 2-D convolution (filter [K, C, H, W] in NCHW).
    DepthwiseConv2D "DepthwiseConv2D"  Hd5     Carried  cube  [x Act, filter Filter, bias Weight];
    /// Inference batch norm with the statistics as inputs.
    BNInferenceD    "BNInferenceD"     Hd5     Carried  -     [x Act, mean Stat @3, variance Stat @4, scale Stat @1, b Stat @2];
    /// max(x, 0).
    Relu            "Relu"             Follow  Carried  -     [x Act];
    /// min(max(x, 0), 6).
    Relu6           "Relu6"            Follow  Carried  -     [x Act];
    /// Clamp to bounds given as scalar inputs.
    ClipByValue     "ClipByValue"      Follow  Carried  -     [x Act, clip_value_min Weight @attr, clip_value_max Weight @attr];
    /// Logistic sigmoid.
    Sigmoid         "Sigmoid"          Follow  Carried  -     [x Act];
    /// max(0, min(1, alpha * x + beta)).
    HardSigmoid     "HardSigmoid"      Follow  Carried  -     [x Act];
    /// x * sigmoid(scale * x).
    Swish           "Swish"            Follow  Carried  -     [x Act];
    /// x * relu6(x + 3) / 6.
    HardSwish       "HardSwish"        Follow  Carried  -     [x Act];
    /// x, or negative_slope * x below zero.
    LeakyRelu       "LeakyRelu"        Follow  Carried  -     [x Act];
    /// Hyperbolic tangent.
    Tanh            "Tanh"             Follow  Carried  -     [x Act];
    /// x above zero, alpha * (exp(x) - 1) below.
    Elu             "Elu"              Follow  Carried  -     [x Act];
    /// Broadcasting maximum.
    Maximum         "Maximum"          Follow  Carried  -     [x1 Act, x2 Act];
    /// Broadcasting minimum.
    Minimum         "Minimum"          Follow  Carried  -     [x1 Act, x2 Act];
    /// Per-channel x * scale + bias along `axis` (a batch norm that cannot fold).
    Scale           "Scale"            Origin  Carried  -     [x Act, scale Weight, bias Weight];
    /// Broadcasting addition.
    Add             "Add"              Follow  Carried  -     [x1 Act, x2 Act];
    /// Broadcasting subtraction.
    Sub             "Sub"              Follow  Carried  -     [x1 Act, x2 Act];
    /// Broadcasting multiplication.
    Mul             "Mul"              Follow  Carried  -     [x1 Act, x2 Act];
    /// Broadcasting division.
    RealDiv         "RealDiv"          Follow  Carried  -     [x1 Act, x2 Act];
    /// Mean over the axes attribute.
    ReduceMeanD     "ReduceMeanD"      Hd5     Carried  -     [x Act];
    /// Maximum over the axes attribute.
    ReduceMaxD      "ReduceMaxD"       Hd5     Carried  -     [x Act];
    /// Average pooling with explicit pads.
    AvgPoolV2       "AvgPoolV2"        Hd5     Carried  -     [x Act];
    /// Max pooling with explicit pads.
    MaxPoolV3       "MaxPoolV3"        Hd5     Carried  -     [x Act];
    /// 2-D matrix product with optional bias.
    MatMulV2        "MatMulV2"         Origin  Carried  cube  [x1 Act, x2 Weight, bias Weight];
    /// Collapse to 2-D around an axis.
    Flatten         "Flatten"          Origin  Carried  -     [x Act];
    /// Change shape (the shape as an int tensor input).
    Reshape         "Reshape"          Origin  Carried  -     [x Act, shape AsIs @attr];
    /// Join along an axis (dynamic inputs x0, x1, ...).
    ConcatD         "ConcatD"          Origin  Carried  -     [x Act];
    /// Zero padding.
    PadD            "PadD"             Origin  Carried  -     [x Act];
    /// Constant, reflect or edge padding with paddings and value as inputs.
    PadV3           "PadV3"            Origin  Carried  -     [x Act, paddings AsIs @attr, constant_values Weight @attr];
    /// A strided window.
    StridedSliceD   "StridedSliceD"    Origin  Carried  -     [x Act];
    /// Normalised exponential along axes.
    SoftmaxV2       "SoftmaxV2"        Origin  Carried  -     [x Act];
    /// The input, unchanged.
    Identity        "Identity"         Follow  Carried  -     [x Act];
}

fn attrs<const N: usize>(entries: [(&str, crate::proto::AttrDef); N]) -> Attrs {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The CANN op an IR op is, with its prototype attributes, when it is exactly one CANN op
/// whose inputs are the IR op's operands in order; `None` for ops lowered otherwise.
pub fn from_ir(op: &Op) -> Option<(CannOp, Attrs)> {
    Some(match op {
        Op::Relu(_) => (CannOp::Relu, Attrs::new()),
        Op::Clip(c) if c.min == 0.0 && c.max == 6.0 => (CannOp::Relu6, Attrs::new()),
        Op::Clip(c) if c.min == 0.0 && c.max == f32::INFINITY => (CannOp::Relu, Attrs::new()),
        Op::Sigmoid(_) => (CannOp::Sigmoid, Attrs::new()),
        Op::HardSigmoid(h) => (CannOp::HardSigmoid, attrs([("alpha", attr::float(h.alpha)), ("beta", attr::float(h.beta))])),
        Op::HardSwish(_) => (CannOp::HardSwish, Attrs::new()),
        Op::LeakyRelu(l) => (CannOp::LeakyRelu, attrs([("negative_slope", attr::float(l.alpha))])),
        Op::Tanh(_) => (CannOp::Tanh, Attrs::new()),
        Op::Elu(e) => (CannOp::Elu, attrs([("alpha", attr::float(e.alpha))])),
        Op::Max(_) => (CannOp::Maximum, Attrs::new()),
        Op::Min(_) => (CannOp::Minimum, Attrs::new()),
        Op::Silu(_) => (CannOp::Swish, attrs([("scale", attr::float(1.0))])),
        Op::Add(_) => (CannOp::Add, Attrs::new()),
        Op::Sub(_) => (CannOp::Sub, Attrs::new()),
        Op::Mul(_) => (CannOp::Mul, Attrs::new()),
        Op::Div(_) => (CannOp::RealDiv, Attrs::new()),
        Op::Identity(_) | Op::Dropout(_) => (CannOp::Identity, Attrs::new()),
        Op::Cast(c) => (CannOp::Cast, attrs([("dst_type", attr::int(ge_dtype_number(c.to))), ("truncate", attr::boolean(false))])),
        // Other bounds are ClipByValue with its bounds as Const inputs.
        Op::Clip(_)
        // Leaves, shape-dependent attributes, Const inputs made from attributes, fused chains.
        | Op::Input
        | Op::Const(_)
        | Op::Conv(_)
        | Op::BatchNorm(_)
        | Op::GlobalAveragePool(_)
        | Op::ReduceMean(_)
        | Op::ReduceMax(_)
        | Op::ScaleShift(_)
        | Op::AveragePool(_)
        | Op::MaxPool(_)
        | Op::MaxPoolIndices(_)
        | Op::Gemm(_)
        | Op::MatMul(_)
        | Op::Flatten(_)
        | Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Concat(_)
        | Op::Slice(_)
        | Op::Gather(_)
        | Op::Pad(_)
        | Op::Softmax(_)
        | Op::SqueezeExcite(_)
        | Op::AddAct(_) => return None,
    })
}

/// The CANN op types an IR op kind becomes on Ascend, for the arithmetic it does (the
/// Consts, TransData and Casts around it excepted): what ATC's mixed-precision lists
/// (`--modify_mixlist`) and `--keep_dtype`'s `OpType::` lines name for it. It follows
/// [`from_ir`] and codegen's `ascend::lower` (which the `mixlist_types_match_lowering` test
/// checks on every op): a conv is Conv2D or DepthwiseConv2D; a fused op lists its chain's
/// types except fused activations, which ATC's gray list lets follow the op before them.
/// A clip that is a plain relu (bounds 0 and +inf) lowers to Relu but is listed by its
/// usual types, so that black-listing Relu does not reach clips.
pub fn mixlist_types(kind: OpKind) -> &'static [CannOp] {
    use CannOp as C;
    match kind {
        OpKind::Input | OpKind::Const => &[],
        OpKind::Conv => &[C::Conv2D, C::DepthwiseConv2D],
        OpKind::BatchNorm => &[C::BNInferenceD],
        OpKind::Relu => &[C::Relu],
        OpKind::Clip => &[C::Relu6, C::ClipByValue],
        OpKind::Sigmoid => &[C::Sigmoid],
        OpKind::HardSigmoid => &[C::HardSigmoid],
        OpKind::HardSwish => &[C::HardSwish],
        OpKind::Silu => &[C::Swish],
        OpKind::LeakyRelu => &[C::LeakyRelu],
        OpKind::Tanh => &[C::Tanh],
        OpKind::Elu => &[C::Elu],
        OpKind::ScaleShift => &[C::Scale],
        OpKind::Add | OpKind::AddAct => &[C::Add],
        OpKind::Sub => &[C::Sub],
        OpKind::Mul => &[C::Mul],
        OpKind::Div => &[C::RealDiv],
        OpKind::Max => &[C::Maximum],
        OpKind::Min => &[C::Minimum],
        OpKind::ReduceMax => &[C::ReduceMaxD],
        OpKind::GlobalAveragePool | OpKind::ReduceMean => &[C::ReduceMeanD],
        OpKind::AveragePool => &[C::AvgPoolV2],
        OpKind::MaxPool => &[C::MaxPoolV3],
        OpKind::Gemm | OpKind::MatMul => &[C::MatMulV2],
        OpKind::Flatten => &[C::Flatten],
        OpKind::Reshape | OpKind::Squeeze | OpKind::Unsqueeze => &[C::Reshape],
        OpKind::Transpose => &[C::TransposeD],
        OpKind::Concat => &[C::ConcatD],
        OpKind::Slice => &[C::StridedSliceD],
        OpKind::Pad => &[C::PadD, C::PadV3],
        OpKind::Softmax => &[C::SoftmaxV2],
        OpKind::Identity | OpKind::Dropout => &[C::Identity],
        OpKind::Cast => &[C::Cast],
        OpKind::SqueezeExcite => &[C::ReduceMeanD, C::Conv2D, C::Mul],
        // Not lowered to Ascend: nothing in an ATC list names it.
        OpKind::Gather | OpKind::MaxPoolIndices => &[],
    }
}

/// The IR op kinds a CANN op type in an ATC list stands for: every kind whose
/// [`mixlist_types`] include it. ATC's lists work by type, so black-listing Conv2D also
/// reaches the 1x1 convs inside every squeeze-excitation block, and senetc reads it so.
pub fn kinds_of_type(cann: CannOp) -> Vec<OpKind> {
    OpKind::ALL.iter().copied().filter(|&k| mixlist_types(k).contains(&cann)).collect()
}

/// What the read-back makes of one CANN op.
#[derive(Clone, Debug)]
pub enum Read {
    /// A graph input: its output desc gives the type.
    Input,
    /// A constant: its bytes come from the file.
    Constant,
    /// Its input unchanged in another layout: no IR node.
    Relayout,
    /// The graph's outputs.
    Outputs,
    /// An IR node over these operands.
    Node(Op, Vec<Operand>),
}

/// An operand of a node the read-back makes.
#[derive(Clone, Debug)]
pub enum Operand {
    /// The op's data input with this index.
    Input(usize),
    /// A constant made from one of the op's Const inputs, called after that prototype input.
    Const(&'static str, Tensor),
}

/// What [`to_ir`] may ask about the op being read.
pub trait ReadContext {
    /// Number of data inputs.
    fn num_inputs(&self) -> usize;
    /// The value of data input `k`, which must come from a Const.
    fn const_input(&self, k: usize) -> Result<Tensor, String>;
    /// Output `k`'s desc.
    fn output(&self, k: usize) -> Result<Desc, String>;
}

/// The meaning of a CANN op (type `cann`, attributes `a`) in IR. Attributes come from an
/// untrusted file: anything missing or out of range is an error, never a panic.
pub fn to_ir(cann: CannOp, a: &Attrs, cx: &dyn ReadContext) -> Result<Read, String> {
    let ints = |k: &str| attr::get_ints(a, k).ok_or_else(|| format!("missing list attr {k}"));
    let us = |v: &[i64]| -> Result<Vec<usize>, String> { v.iter().map(|&x| usize::try_from(x).map_err(|_| format!("negative value in {v:?}"))).collect() };
    let nchw = |k: &str| match attr::get_str(a, k).as_deref() {
        None | Some("NCHW") => Ok(()),
        Some(f) => Err(format!("data_format {f} (only NCHW is read)")),
    };
    let spatial = |k: &str| -> Result<Vec<usize>, String> {
        let v = us(&ints(k)?)?;
        if v.len() != 4 {
            return Err(format!("{k} {v:?} must have 4 values"));
        }
        Ok(vec![v[2], v[3]])
    };
    // GE pads are [top, bottom, left, right]; the IR's [top, left, bottom, right].
    let pads = || -> Result<Vec<usize>, String> {
        let p = us(&ints("pads")?)?;
        if p.len() != 4 {
            return Err(format!("pads {p:?} must have 4 values"));
        }
        Ok(vec![p[0], p[2], p[1], p[3]])
    };
    let f = |k: &str, d: f32| attr::get_float(a, k).unwrap_or(d);
    let b = |k: &str, d: bool| attr::get_bool(a, k).unwrap_or(d);
    let scalar = |k: usize| -> Result<f32, String> { cx.const_input(k)?.to_f32().first().copied().ok_or_else(|| "empty constant".to_string()) };
    let mut operands: Vec<Operand> = cann.ir_operands(cx.num_inputs())?.into_iter().map(Operand::Input).collect();
    let op = match cann {
        CannOp::Data => return Ok(Read::Input),
        CannOp::Const => return Ok(Read::Constant),
        CannOp::TransData => return Ok(Read::Relayout),
        CannOp::NetOutput => return Ok(Read::Outputs),
        CannOp::Conv2D => {
            nchw("data_format")?;
            let group = attr::get_int(a, "groups").unwrap_or(1).max(1) as usize;
            let dilations = if a.contains_key("dilations") { spatial("dilations")? } else { vec![1, 1] };
            Op::Conv(irops::Conv { strides: spatial("strides")?, dilations, pads: pads()?, auto_pad: AutoPad::NotSet, group, format: DataFormat::Nchw, ..Default::default() })
        }
        CannOp::DepthwiseConv2D => {
            nchw("data_format")?;
            let group = cx.output(0)?.origin_shape.get(1).copied().ok_or("depthwise output is not 4-D")?;
            let dilations = if a.contains_key("dilations") { spatial("dilations")? } else { vec![1, 1] };
            // The NCHW filter [K, C, H, W] (K = multiplier) back to ONNX's [C, K, H, W].
            let filter = cx.const_input(1)?;
            let s = filter.shape().to_vec();
            if s.len() != 4 || s[0] != 1 || operands.len() < 2 {
                return Err(format!("depthwise filter {s:?} (only multiplier 1 is read)"));
            }
            operands[1] = Operand::Const("filter", filter.reshaped(vec![s[1], 1, s[2], s[3]]).map_err(|e| e.to_string())?);
            Op::Conv(irops::Conv { strides: spatial("strides")?, dilations, pads: pads()?, auto_pad: AutoPad::NotSet, group, format: DataFormat::Nchw, ..Default::default() })
        }
        CannOp::BNInferenceD => {
            if !b("use_global_stats", true) {
                return Err("BNInferenceD without global statistics".into());
            }
            Op::BatchNorm(irops::BatchNorm { epsilon: f("epsilon", 1e-5), axis: 1 })
        }
        CannOp::Relu => Op::Relu(irops::Relu {}),
        CannOp::Relu6 => Op::Clip(irops::Clip { min: 0.0, max: 6.0 }),
        CannOp::ClipByValue => Op::Clip(irops::Clip { min: scalar(1)?, max: scalar(2)? }),
        CannOp::Sigmoid => Op::Sigmoid(irops::Sigmoid {}),
        CannOp::Swish => {
            let scale = f("scale", 1.0);
            if scale != 1.0 {
                return Err(format!("Swish with scale {scale} (only 1 is read)"));
            }
            Op::Silu(irops::Silu {})
        }
        CannOp::HardSwish => Op::HardSwish(irops::HardSwish {}),
        CannOp::LeakyRelu => Op::LeakyRelu(irops::LeakyRelu { alpha: f("negative_slope", 0.0) }),
        CannOp::Tanh => Op::Tanh(irops::Tanh {}),
        CannOp::Elu => Op::Elu(irops::Elu { alpha: f("alpha", 1.0) }),
        CannOp::Maximum => Op::Max(irops::Max {}),
        CannOp::Minimum => Op::Min(irops::Min {}),
        CannOp::Scale => {
            if attr::get_int(a, "num_axes").unwrap_or(1) != 1 {
                return Err("Scale over more than one axis".into());
            }
            let axis = usize::try_from(attr::get_int(a, "axis").unwrap_or(1)).map_err(|_| "negative Scale axis")?;
            Op::ScaleShift(irops::ScaleShift { axis, act: irops::FusedAct::None })
        }
        CannOp::HardSigmoid => Op::HardSigmoid(irops::HardSigmoid { alpha: f("alpha", 1.0 / 6.0), beta: f("beta", 0.5) }),
        CannOp::Add => Op::Add(irops::Add {}),
        CannOp::Sub => Op::Sub(irops::Sub {}),
        CannOp::Mul => Op::Mul(irops::Mul {}),
        CannOp::RealDiv => Op::Div(irops::Div {}),
        CannOp::ReduceMeanD => Op::ReduceMean(irops::ReduceMean { axes: ints("axes")?, keepdims: b("keep_dims", false) }),
        CannOp::ReduceMaxD => Op::ReduceMax(irops::ReduceMax { axes: ints("axes")?, keepdims: b("keep_dims", false) }),
        CannOp::AvgPoolV2 | CannOp::MaxPoolV3 => {
            nchw("data_format")?;
            if attr::get_str(a, "padding_mode").as_deref().is_some_and(|m| m != "CALCULATED") || b("global_pooling", false) {
                return Err("only CALCULATED, non-global pooling is read".into());
            }
            let (kernel, strides, pads, ceil_mode) = (spatial("ksize")?, spatial("strides")?, pads()?, b("ceil_mode", false));
            if cann == CannOp::AvgPoolV2 {
                Op::AveragePool(irops::AveragePool { kernel, strides, pads, ceil_mode, count_include_pad: !b("exclusive", true), ..Default::default() })
            } else {
                Op::MaxPool(irops::MaxPool { kernel, strides, pads, ceil_mode, ..Default::default() })
            }
        }
        CannOp::MatMulV2 => Op::Gemm(irops::Gemm { alpha: 1.0, beta: 1.0, trans_a: b("transpose_x1", false), trans_b: b("transpose_x2", false) }),
        CannOp::Flatten => Op::Flatten(irops::Flatten { axis: attr::get_int(a, "axis").unwrap_or(1) }),
        CannOp::Reshape => Op::Reshape(irops::Reshape { shape: cx.const_input(1)?.to_i64(), allowzero: false }),
        CannOp::TransposeD => Op::Transpose(irops::Transpose { perm: us(&ints("perm")?)? }),
        CannOp::ConcatD => Op::Concat(irops::Concat { axis: attr::get_int(a, "concat_dim").ok_or("missing concat_dim")? }),
        CannOp::PadD => {
            let p = attr::get_int_lists(a, "paddings").ok_or("missing paddings")?;
            if p.iter().any(|x| x.len() != 2) {
                return Err("paddings must be pairs".into());
            }
            Op::Pad(irops::Pad { pads: p.iter().map(|x| x[0]).chain(p.iter().map(|x| x[1])).collect(), mode: PadMode::Constant, value: 0.0 })
        }
        CannOp::PadV3 => {
            let p = cx.const_input(1)?.to_i64();
            let r = p.len() / 2;
            let mode = match attr::get_str(a, "mode").as_deref() {
                None | Some("constant") => PadMode::Constant,
                Some("reflect") => PadMode::Reflect,
                Some("edge") => PadMode::Edge,
                Some(m) => return Err(format!("pad mode {m}")),
            };
            let value = if mode == PadMode::Constant { scalar(2).unwrap_or(0.0) } else { 0.0 };
            Op::Pad(irops::Pad { pads: (0..r).map(|i| p[2 * i]).chain((0..r).map(|i| p[2 * i + 1])).collect(), mode, value })
        }
        CannOp::StridedSliceD => {
            let (b, e, st) = (us(&ints("begin")?)?, us(&ints("end")?)?, us(&ints("strides")?)?);
            if b.len() != e.len() || b.len() != st.len() {
                return Err("begin, end and strides differ in length".into());
            }
            let axes: Vec<usize> = (0..b.len()).collect();
            // Non-negative values only (`us`): TF-style negative ends and strides wrap and
            // take masks, and senetc never writes them.
            let signed = |v: Vec<usize>| v.into_iter().map(|x| x as i64).collect();
            Op::Slice(irops::Slice { axes, starts: b, ends: signed(e), steps: signed(st) })
        }
        CannOp::SoftmaxV2 => match ints("axes")?.as_slice() {
            [axis] => Op::Softmax(irops::Softmax { axis: *axis }),
            v => return Err(format!("softmax over axes {v:?}")),
        },
        CannOp::Identity => Op::Identity(irops::Identity {}),
        CannOp::Cast => {
            let n = attr::get_int(a, "dst_type").ok_or("missing dst_type")?;
            Op::Cast(irops::Cast { to: ge_dtype_from_number(n).ok_or_else(|| format!("dst_type {n}"))? })
        }
    };
    Ok(Read::Node(op, operands))
}

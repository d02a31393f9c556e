//! The op set. Each op is declared once, in the file of its family: the `op!` macro gives
//! its attributes, their defaults and their text syntax, and an [`OpDef`] impl gives
//! everything else senetc knows about it: arity, type inference, the reference evaluation
//! (the one evaluation path of constant folding, the CPU reference and numeric checks), its
//! fp16 class and its FLOPs. The `declare_ops!` table at the end of this file lists every
//! op once and generates the [`Op`] enum, the fieldless [`OpKind`] and the dispatch over
//! them, so every backend match over `Op` is exhaustive. Adding an op: write it in its
//! family file, add one line to the table (see README, "Adding an op").

pub mod attr;
mod activation;
mod binary;
mod conv;
mod fused;
mod linalg;
mod misc;
mod norm;
mod pool;
mod reduce;
mod shape_ops;
#[cfg(test)]
mod tests;

pub use activation::*;
pub use attr::{AttrValue, AutoPad, DataFormat, PadMode};
pub use binary::*;
pub use conv::*;
pub use fused::*;
pub use linalg::*;
pub use misc::*;
pub use norm::*;
pub use pool::*;
pub use reduce::*;
pub use shape_ops::*;

use crate::text::lexer::Lexer;
use crate::{IrError, TensorType};

/// An operand of the reference evaluation: f32 values (integers hold exact values, as the
/// CPU reference stores them) in row-major order, and the static shape.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// The shape.
    pub shape: &'a [usize],
}

/// Whether an op runs in fp16 under mixed precision (ATC's black/white/gray lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fp16 {
    /// Always in fp16 when the mode allows fp16 at all (compute-bound ops of the cube unit).
    Always,
    /// In fp16 when one of its operands is.
    Follow,
    /// Always in fp32 (accumulations that overflow or lose too much in fp16).
    Never,
}

/// An op's precision facts: its fp16 class, and whether its arithmetic accumulates in
/// fp32 whatever its operands' type (the cube unit's convolutions and products, reductions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precision {
    /// The fp16 class.
    pub fp16: Fp16,
    /// Accumulates in fp32.
    pub fp32_accumulate: bool,
}

impl Precision {
    /// Follows its operands; no accumulation.
    pub const FOLLOW: Precision = Precision { fp16: Fp16::Follow, fp32_accumulate: false };
    /// fp16 with fp32 accumulation (conv, gemm, matmul).
    pub const CUBE: Precision = Precision { fp16: Fp16::Always, fp32_accumulate: true };
    /// fp32 only (reductions, softmax).
    pub const FP32: Precision = Precision { fp16: Fp16::Never, fp32_accumulate: true };
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// What every op declares.
pub trait OpDef: Attrs {
    /// Keyword in the text format (snake_case).
    const NAME: &'static str;
    /// Minimum and maximum number of inputs.
    const ARITY: (usize, usize);
    /// Whether the output holds the first operand's elements unchanged, in the same order
    /// (reshape and friends): backends alias it, constant folding re-labels the bytes.
    const VIEW: bool = false;
    /// Output types from input types; the message says what is wrong, the caller adds the node.
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String>;
    /// The reference evaluation of output 0 into `out` (of shape `out_shape`), from operands
    /// whose types passed [`OpDef::infer`]. f32 arithmetic, accumulations in f32 or better.
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String>;
    /// How the op takes fp16.
    fn precision(&self) -> Precision {
        Precision::FOLLOW
    }
    /// Floating-point operations of one evaluation (a multiply-add counts 2); by default one
    /// per output element.
    fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
        let _ = ins;
        numel(out) as u64
    }
    /// How the op commutes with a transpose of its full-rank operands (what the layout pass
    /// uses to move transposes): `op(transpose(x, perm)) == transpose(op'(x), out_perm)`.
    /// `None` when it does not (the default).
    fn through_transpose(&self, perm: &[usize]) -> Option<Transposed<Self>>
    where
        Self: Sized,
    {
        let _ = perm;
        None
    }
}

/// An op rewritten to run before a transpose instead of after it; see
/// [`OpDef::through_transpose`].
#[derive(Clone, Debug, PartialEq)]
pub struct Transposed<T> {
    /// The op on the untransposed operands.
    pub op: T,
    /// The transpose that follows it (`transpose(y, out_perm)`).
    pub out_perm: Vec<usize>,
}

impl<T: Clone> Transposed<T> {
    /// The same op, the same transpose after it: ops that work elementwise.
    pub fn same(op: &T, perm: &[usize]) -> Option<Transposed<T>> {
        Some(Transposed { op: op.clone(), out_perm: perm.to_vec() })
    }
}

/// Attribute printing and parsing, generated by `op!`.
pub trait Attrs: Sized {
    /// Append ` {a=.., b=..}` for the attributes that differ from their defaults (nothing
    /// when none does), so adding an attribute leaves existing text unchanged.
    fn write_attrs(&self, out: &mut String);
    /// Read an optional `{..}` list; absent attributes keep their defaults.
    fn read_attrs(lex: &mut Lexer) -> Result<Self, IrError>;
}

/// Declare an op's attribute struct: `op! { /// doc  pub struct Name { /// doc  field: Type = default, ... } }`.
#[macro_export]
macro_rules! op {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty = $default:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)] // fields are described in the op's doc
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
        impl Default for $name {
            fn default() -> Self { $name { $($field: $default),* } }
        }
        impl $crate::ops::Attrs for $name {
            #[allow(unused_mut, unused_variables)]
            fn write_attrs(&self, out: &mut String) {
                let default = $name::default();
                let mut first = true;
                $(
                    if self.$field != default.$field {
                        out.push_str(if first { " {" } else { ", " });
                        first = false;
                        out.push_str(stringify!($field));
                        out.push('=');
                        $crate::ops::AttrValue::write(&self.$field, out);
                    }
                )*
                if !first { out.push('}'); }
            }
            #[allow(unused_mut)]
            fn read_attrs(lex: &mut $crate::text::lexer::Lexer) -> Result<Self, $crate::IrError> {
                let mut op = $name::default();
                #[allow(unused_variables)]
                $crate::ops::attr::read_attr_list(lex, |name, lex| {
                    match name {
                        $(stringify!($field) => { op.$field = $crate::ops::AttrValue::read(lex)?; Ok(true) })*
                        _ => Ok(false),
                    }
                })?;
                Ok(op)
            }
        }
    };
}

macro_rules! declare_ops {
    ($($(#[$m:meta])* $v:ident),+ $(,)?) => {
        /// Every op of the IR. `Input` and `Const` are the graph's leaves.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            /// A graph input; its type is the node's output type.
            Input,
            /// A constant tensor.
            Const(Const),
            $($(#[$m])* $v($v)),+
        }

        /// Which op a node is, without its attributes: the keys of tables and the symbols
        /// of the fusion e-graph.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            /// A graph input.
            Input,
            /// A constant.
            Const,
            $($(#[$m])* $v),+
        }

        impl OpKind {
            /// Every kind, in table order.
            pub const ALL: &'static [OpKind] = &[OpKind::Input, OpKind::Const, $(OpKind::$v),+];
            /// Keyword in the text format.
            pub fn name(self) -> &'static str {
                match self { OpKind::Input => "input", OpKind::Const => "const", $(OpKind::$v => <$v as OpDef>::NAME),+ }
            }
            /// The kind whose text keyword is `name`.
            pub fn from_name(name: &str) -> Option<OpKind> {
                Self::ALL.iter().copied().find(|k| k.name() == name)
            }
            /// Minimum and maximum number of inputs.
            pub fn arity(self) -> (usize, usize) {
                match self { OpKind::Input | OpKind::Const => (0, 0), $(OpKind::$v => <$v as OpDef>::ARITY),+ }
            }
        }

        impl Op {
            /// The op's kind.
            pub fn kind(&self) -> OpKind {
                match self { Op::Input => OpKind::Input, Op::Const(_) => OpKind::Const, $(Op::$v(_) => OpKind::$v),+ }
            }
            /// Keyword in the text format.
            pub fn name(&self) -> &'static str {
                self.kind().name()
            }
            /// Minimum and maximum number of inputs.
            pub fn arity(&self) -> (usize, usize) {
                self.kind().arity()
            }
            /// Whether the output is the first operand's elements under another shape.
            pub fn is_view(&self) -> bool {
                match self { Op::Input | Op::Const(_) => false, $(Op::$v(_) => <$v as OpDef>::VIEW),+ }
            }
            /// Output types from input types (`Input` has none to infer: its caller gives it).
            pub fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
                match self {
                    Op::Input => Err("graph inputs carry their own type".into()),
                    Op::Const(c) => Ok(vec![c.tensor_type()]),
                    $(Op::$v(op) => op.infer(inputs)),+
                }
            }
            /// The reference evaluation (see [`OpDef::eval`]); leaves have none.
            pub fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
                match self {
                    Op::Input | Op::Const(_) => Err("graph inputs and constants are not evaluated".into()),
                    $(Op::$v(op) => op.eval(ins, out, out_shape)),+
                }
            }
            /// How the op takes fp16 (leaves follow: their type is given).
            pub fn precision(&self) -> Precision {
                match self { Op::Input | Op::Const(_) => Precision::FOLLOW, $(Op::$v(op) => op.precision()),+ }
            }
            /// See [`OpDef::through_transpose`]; leaves never move.
            pub fn through_transpose(&self, perm: &[usize]) -> Option<Transposed<Op>> {
                match self {
                    Op::Input | Op::Const(_) => None,
                    $(Op::$v(op) => op.through_transpose(perm).map(|t| Transposed { op: Op::$v(t.op), out_perm: t.out_perm })),+
                }
            }
            /// FLOPs of one evaluation on these operand and output shapes.
            pub fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
                match self { Op::Input | Op::Const(_) => 0, $(Op::$v(op) => op.flops(ins, out)),+ }
            }
            /// Append the attribute list of a non-leaf op.
            pub fn write_attrs(&self, out: &mut String) {
                match self { Op::Input | Op::Const(_) => {}, $(Op::$v(op) => op.write_attrs(out)),+ }
            }
            /// Parse the attributes of the non-leaf op called `name`; `None` if no op has that name.
            pub fn read(name: &str, lex: &mut Lexer) -> Option<Result<Op, IrError>> {
                match name {
                    $(<$v as OpDef>::NAME => Some(<$v as Attrs>::read_attrs(lex).map(Op::$v)),)+
                    _ => None,
                }
            }
            /// Text names of all non-leaf ops.
            pub const NAMES: &'static [&'static str] = &[$(<$v as OpDef>::NAME),+];
        }
    };
}

declare_ops! {
    /// 2-D convolution.
    Conv,
    /// Inference batch normalization.
    BatchNorm,
    /// Per-channel scale and shift with an activation (a batch norm that cannot fold).
    ScaleShift,
    /// max(x, 0).
    Relu,
    /// Clamp to [min, max] (Relu6 is `clip {min=0, max=6}`).
    Clip,
    /// Logistic sigmoid.
    Sigmoid,
    /// max(0, min(1, alpha*x + beta)).
    HardSigmoid,
    /// x * hard_sigmoid(x) with alpha=1/6, beta=0.5.
    HardSwish,
    /// x * sigmoid(x).
    Silu,
    /// x, or alpha * x below zero.
    LeakyRelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Exponential linear unit.
    Elu,
    /// Broadcasting addition.
    Add,
    /// Broadcasting subtraction.
    Sub,
    /// Broadcasting multiplication.
    Mul,
    /// Broadcasting division.
    Div,
    /// Broadcasting maximum.
    Max,
    /// Broadcasting minimum.
    Min,
    /// Mean over the spatial axes, keeping them as 1.
    GlobalAveragePool,
    /// Mean over the given axes.
    ReduceMean,
    /// Maximum over the given axes.
    ReduceMax,
    /// Average pooling over 1, 2 or 3 spatial axes.
    AveragePool,
    /// Max pooling over 1, 2 or 3 spatial axes.
    MaxPool,
    /// Where max pooling takes each output from (ONNX MaxPool's `Indices`).
    MaxPoolIndices,
    /// alpha * A' * B' + beta * C.
    Gemm,
    /// numpy matmul.
    MatMul,
    /// Collapse to 2-D around an axis.
    Flatten,
    /// Change shape, same elements.
    Reshape,
    /// Permute axes.
    Transpose,
    /// Drop axes of extent 1.
    Squeeze,
    /// Insert axes of extent 1.
    Unsqueeze,
    /// Join along an axis.
    Concat,
    /// A strided window along some axes.
    Slice,
    /// Elements at integer indices along an axis.
    Gather,
    /// Pad or crop borders.
    Pad,
    /// Normalised exponential along an axis.
    Softmax,
    /// The input, unchanged.
    Identity,
    /// Identity at inference.
    Dropout,
    /// Element type conversion.
    Cast,
    /// Fused squeeze-excitation block.
    SqueezeExcite,
    /// Addition followed by an activation.
    AddAct,
}

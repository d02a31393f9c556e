//! Elementwise activations: one float input, output of the same type. Each declares its
//! function once ([`Activation::apply`]); the op's evaluation, and the epilogue of every op
//! it can be fused into ([`FusedAct`]), run that same function.

use super::{OpDef, Precision, View};
use crate::{op, TensorType};
use senetc_kernels::elementwise::{clamp, exp, map_transcendental, sigmoid};

/// A pointwise function applied in place.
pub trait Activation {
    /// `xs[i] = f(xs[i])`.
    fn apply(&self, xs: &mut [f32]);
}

fn float_same(name: &str, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    if !inputs[0].dtype.is_float() {
        return Err(format!("{name} needs a float input, got {}", inputs[0].dtype));
    }
    Ok(vec![inputs[0].clone()])
}

/// An activation op: its text name, its function, and its FLOPs per element.
macro_rules! activation {
    ($ty:ident, $name:literal, flops = $flops:expr, |$s:ident, $xs:ident| $body:expr) => {
        impl Activation for $ty {
            fn apply(&self, $xs: &mut [f32]) {
                let $s = self;
                $body
            }
        }
        impl OpDef for $ty {
            const NAME: &'static str = $name;
            const ARITY: (usize, usize) = (1, 1);
            fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
                float_same($name, inputs)
            }
            fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
                out.copy_from_slice(ins[0].data);
                senetc_kernels::elementwise::apply_par(&|xs: &mut [f32]| Activation::apply(self, xs), out);
                Ok(())
            }
            fn precision(&self) -> Precision {
                Precision::FOLLOW
            }
            fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
                $flops * super::numel(out) as u64
            }
            fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
                super::Transposed::same(self, perm)
            }
        }
    };
}

op! {
    /// max(x, 0).
    pub struct Relu {}
}
activation!(Relu, "relu", flops = 1, |_s, xs| xs.iter_mut().for_each(|x| *x = if *x < 0.0 { 0.0 } else { *x }));

op! {
    /// min(max(x, min), max); bounds may be infinite.
    pub struct Clip { min: f32 = f32::NEG_INFINITY, max: f32 = f32::INFINITY }
}
activation!(Clip, "clip", flops = 2, |s, xs| xs.iter_mut().for_each(|x| *x = clamp(*x, s.min, s.max)));

op! {
    /// 1 / (1 + exp(-x)).
    pub struct Sigmoid {}
}
activation!(Sigmoid, "sigmoid", flops = 4, |_s, xs| map_transcendental(xs, sigmoid));

op! {
    /// max(0, min(1, alpha * x + beta)).
    pub struct HardSigmoid { alpha: f32 = 0.2, beta: f32 = 0.5 }
}
activation!(HardSigmoid, "hard_sigmoid", flops = 3, |s, xs| {
    let (a, b) = (s.alpha, s.beta);
    xs.iter_mut().for_each(|x| *x = clamp(a * *x + b, 0.0, 1.0))
});

op! {
    /// x * max(0, min(1, x / 6 + 0.5)).
    pub struct HardSwish {}
}
activation!(HardSwish, "hard_swish", flops = 4, |_s, xs| xs.iter_mut().for_each(|x| *x *= clamp(*x / 6.0 + 0.5, 0.0, 1.0)));

op! {
    /// x * sigmoid(x) (also called Swish).
    pub struct Silu {}
}
activation!(Silu, "silu", flops = 5, |_s, xs| map_transcendental(xs, |x| x * sigmoid(x)));

op! {
    /// x for x >= 0, alpha * x below.
    pub struct LeakyRelu { alpha: f32 = 0.01 }
}
activation!(LeakyRelu, "leaky_relu", flops = 2, |s, xs| {
    let a = s.alpha;
    xs.iter_mut().for_each(|x| *x = if *x < 0.0 { a * *x } else { *x })
});

op! {
    /// Hyperbolic tangent.
    pub struct Tanh {}
}
activation!(Tanh, "tanh", flops = 5, |_s, xs| xs.iter_mut().for_each(|x| *x = x.tanh()));

op! {
    /// x if x > 0, else alpha * (exp(x) - 1).
    pub struct Elu { alpha: f32 = 1.0 }
}
activation!(Elu, "elu", flops = 4, |s, xs| {
    let a = s.alpha;
    map_transcendental(xs, move |x| if x > 0.0 { x } else { a * (exp(x) - 1.0) })
});

/// Declares which activation ops can be fused into the epilogue of a conv, an add or a
/// squeeze-excitation: [`FusedAct`] has one variant per listed op.
macro_rules! fusable {
    ($($ty:ident),+ $(,)?) => {
        /// An activation fused into the op that produces its input: `none`, or one of the
        /// activation ops with its attributes (text: `act=relu`, `act=clip{min=0.0, max=6.0}`).
        #[derive(Clone, Debug, PartialEq, Default)]
        #[allow(missing_docs)]
        pub enum FusedAct {
            /// No activation.
            #[default]
            None,
            $($ty($ty)),+
        }

        impl FusedAct {
            /// The kinds of the ops that can be fused.
            pub const KINDS: &'static [super::OpKind] = &[$(super::OpKind::$ty),+];

            /// The activation `op` is, if it can be fused.
            pub fn from_op(op: &super::Op) -> Option<FusedAct> {
                match op {
                    $(super::Op::$ty(a) => Some(FusedAct::$ty(a.clone())),)+
                    _ => None,
                }
            }

            /// The standalone op of this activation (`None` for no activation).
            pub fn to_op(&self) -> Option<super::Op> {
                match self {
                    FusedAct::None => None,
                    $(FusedAct::$ty(a) => Some(super::Op::$ty(a.clone())),)+
                }
            }

            /// Text name (`none` or the op's name).
            pub fn name(&self) -> &'static str {
                match self {
                    FusedAct::None => "none",
                    $(FusedAct::$ty(_) => <$ty as OpDef>::NAME,)+
                }
            }

            /// FLOPs per element.
            pub fn flops_per_element(&self) -> u64 {
                match self {
                    FusedAct::None => 0,
                    $(FusedAct::$ty(a) => a.flops(&[], &[1]),)+
                }
            }
        }

        $(impl From<$ty> for FusedAct {
            fn from(a: $ty) -> FusedAct {
                FusedAct::$ty(a)
            }
        })+

        impl senetc_kernels::Act for FusedAct {
            fn apply(&self, xs: &mut [f32]) {
                match self {
                    FusedAct::None => {}
                    $(FusedAct::$ty(a) => Activation::apply(a, xs),)+
                }
            }
            fn is_identity(&self) -> bool {
                matches!(self, FusedAct::None)
            }
        }

        impl super::AttrValue for FusedAct {
            fn write(&self, out: &mut String) {
                out.push_str(self.name());
                match self {
                    FusedAct::None => {}
                    $(FusedAct::$ty(a) => {
                        let mut attrs = String::new();
                        super::Attrs::write_attrs(a, &mut attrs);
                        out.push_str(attrs.trim_start());
                    })+
                }
            }
            fn read(lex: &mut crate::text::lexer::Lexer) -> Result<Self, crate::IrError> {
                let name = lex.ident()?;
                match name.as_str() {
                    "none" => Ok(FusedAct::None),
                    $(<$ty as OpDef>::NAME => Ok(FusedAct::$ty(<$ty as super::Attrs>::read_attrs(lex)?)),)+
                    other => Err(lex.error(format!("`{other}` is not a fusable activation"))),
                }
            }
        }
    };
}

fusable!(Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Silu, LeakyRelu);

impl FusedAct {
    /// `clip{min=0, max=6}`: ReLU6.
    pub fn relu6() -> FusedAct {
        FusedAct::Clip(Clip { min: 0.0, max: 6.0 })
    }
}

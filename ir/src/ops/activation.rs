//! Elementwise activations: one input, output of the same type.

use super::OpDef;
use crate::{op, TensorType};

fn float_same(name: &str, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    if !inputs[0].dtype.is_float() {
        return Err(format!("{name} needs a float input, got {}", inputs[0].dtype));
    }
    Ok(vec![inputs[0].clone()])
}

macro_rules! activation {
    ($ty:ident, $name:literal) => {
        impl OpDef for $ty {
            const NAME: &'static str = $name;
            const ARITY: (usize, usize) = (1, 1);
            fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
                float_same($name, inputs)
            }
        }
    };
}

op! {
    /// max(x, 0).
    pub struct Relu {}
}
activation!(Relu, "relu");

op! {
    /// min(max(x, min), max); bounds may be infinite.
    pub struct Clip { min: f32 = f32::NEG_INFINITY, max: f32 = f32::INFINITY }
}
activation!(Clip, "clip");

op! {
    /// 1 / (1 + exp(-x)).
    pub struct Sigmoid {}
}
activation!(Sigmoid, "sigmoid");

op! {
    /// max(0, min(1, alpha * x + beta)).
    pub struct HardSigmoid { alpha: f32 = 0.2, beta: f32 = 0.5 }
}
activation!(HardSigmoid, "hard_sigmoid");

op! {
    /// x * max(0, min(1, x / 6 + 0.5)).
    pub struct HardSwish {}
}
activation!(HardSwish, "hard_swish");

op! {
    /// x * sigmoid(x) (also called Swish).
    pub struct Silu {}
}
activation!(Silu, "silu");

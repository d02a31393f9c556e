//! Broadcasting binary arithmetic.

use super::{OpDef, View};
use crate::{op, Dim, Shape, TensorType};
use senetc_kernels::BinaryOp;

/// numpy broadcasting of two shapes; symbols broadcast against 1 and against themselves.
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Result<Shape, String> {
    let rank = a.rank().max(b.rank());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.rank()).checked_sub(rank).map(|j| &a.0[j]);
        let db = (i + b.rank()).checked_sub(rank).map(|j| &b.0[j]);
        let d = match (da, db) {
            (None, Some(d)) | (Some(d), None) => d.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(Dim::Known(1)), Some(d)) | (Some(d), Some(Dim::Known(1))) => d.clone(),
            (Some(x), Some(y)) => return Err(format!("shapes {a} and {b} do not broadcast ({x} vs {y})")),
            (None, None) => unreachable!("i < rank"),
        };
        out.push(d);
    }
    Ok(Shape(out))
}

pub(crate) fn infer_binary(inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    let (a, b) = (inputs[0], inputs[1]);
    if a.dtype != b.dtype {
        return Err(format!("operand types differ: {} and {}", a.dtype, b.dtype));
    }
    Ok(vec![TensorType::new(a.dtype, broadcast_shapes(&a.shape, &b.shape)?)])
}

pub(crate) fn eval_binary(op: BinaryOp, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) {
    senetc_kernels::binary(op, ins[0].data, ins[0].shape, ins[1].data, ins[1].shape, out, out_shape);
}

macro_rules! binary {
    ($(#[$m:meta])* $ty:ident, $name:literal) => {
        op! { $(#[$m])* pub struct $ty {} }
        impl OpDef for $ty {
            const NAME: &'static str = $name;
            const ARITY: (usize, usize) = (2, 2);
            fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
                infer_binary(inputs)
            }
            fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
                eval_binary(BinaryOp::$ty, ins, out, out_shape);
                Ok(())
            }
            fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
                super::Transposed::same(self, perm)
            }
        }
    };
}

binary!(/// a + b.
    Add, "add");
binary!(/// a - b.
    Sub, "sub");
binary!(/// a * b.
    Mul, "mul");
binary!(/// a / b.
    Div, "div");
binary!(/// max(a, b) (TensorFlow's Maximum).
    Max, "max");
binary!(/// min(a, b) (TensorFlow's Minimum).
    Min, "min");

//! Leaves and pass-through ops: constants, identity, dropout, cast.

use super::{OpDef, View};
use crate::{op, DType, Shape, Tensor, TensorType};

/// A constant tensor. `name` binds it to a weight of the source model (empty for
/// constants senetc made); the text format prints large ones by name and content hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    /// The value.
    pub tensor: Tensor,
    /// Weight name in the source model, or empty.
    pub name: String,
}

impl Const {
    /// The type of the constant's value.
    pub fn tensor_type(&self) -> TensorType {
        TensorType::new(self.tensor.dtype(), Shape::known(self.tensor.shape()))
    }
}

fn same_as_first(inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    Ok(vec![inputs[0].clone()])
}

/// The evaluation of every view op: the operand's elements, unchanged.
pub(crate) fn eval_copy(ins: &[View<'_>], out: &mut [f32]) -> Result<(), String> {
    out.copy_from_slice(ins[0].data);
    Ok(())
}

op! {
    /// Returns its input.
    pub struct Identity {}
}
impl OpDef for Identity {
    const NAME: &'static str = "identity";
    const ARITY: (usize, usize) = (1, 1);
    const VIEW: bool = true;
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        same_as_first(inputs)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        super::Transposed::same(self, perm)
    }
}

op! {
    /// Dropout in inference mode: returns its input. The ratio is kept for export.
    pub struct Dropout { ratio: f32 = 0.5 }
}
impl OpDef for Dropout {
    const NAME: &'static str = "dropout";
    const ARITY: (usize, usize) = (1, 1);
    const VIEW: bool = true;
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        same_as_first(inputs)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        super::Transposed::same(self, perm)
    }
}

op! {
    /// Converts elements to `to` (floats to integers truncate toward zero).
    pub struct Cast { to: DType = DType::F32 }
}
impl OpDef for Cast {
    const NAME: &'static str = "cast";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let mut t = inputs[0].clone();
        t.dtype = self.to;
        Ok(vec![t])
    }
    /// Values are f32 whatever the type; rounding to a 16-bit float is the storage's job
    /// (the CPU reference rounds every f16/bf16 value it stores), integers truncate.
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        out.copy_from_slice(ins[0].data);
        match self.to {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {}
            DType::Bool => out.iter_mut().for_each(|v| *v = f32::from(*v != 0.0)),
            _ => out.iter_mut().for_each(|v| *v = v.trunc()),
        }
        Ok(())
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        super::Transposed::same(self, perm)
    }
}

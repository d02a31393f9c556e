//! Reductions and softmax.

use super::{numel, OpDef, Precision, View};
use crate::{op, Dim, Shape, TensorType};

/// Normalise a possibly negative axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    Ok(a as usize)
}

op! {
    /// Mean over `axes` (all axes when empty); `keepdims` keeps them as 1.
    pub struct ReduceMean { axes: Vec<i64> = vec![], keepdims: bool = true }
}
impl ReduceMean {
    /// The reduced axes, normalised and sorted.
    pub fn axes_for(&self, rank: usize) -> Result<Vec<usize>, String> {
        let mut axes: Vec<usize> = if self.axes.is_empty() {
            (0..rank).collect()
        } else {
            self.axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?
        };
        axes.sort_unstable();
        axes.dedup();
        Ok(axes)
    }
}
impl OpDef for ReduceMean {
    const NAME: &'static str = "reduce_mean";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let axes = self.axes_for(t.rank())?;
        let mut dims = Vec::new();
        for (i, d) in t.shape.0.iter().enumerate() {
            if axes.contains(&i) {
                if self.keepdims {
                    dims.push(Dim::Known(1));
                }
            } else {
                dims.push(d.clone());
            }
        }
        Ok(vec![TensorType::new(t.dtype, Shape(dims))])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let axes = self.axes_for(ins[0].shape.len())?;
        senetc_kernels::reduce::reduce_mean(ins[0].data, ins[0].shape, &axes, out);
        Ok(())
    }
    fn precision(&self) -> Precision {
        Precision::FP32
    }
    fn flops(&self, ins: &[&[usize]], _: &[usize]) -> u64 {
        numel(ins[0]) as u64
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let axes = self.axes_for(perm.len()).ok()?;
        let op = ReduceMean { axes: axes.iter().map(|&a| perm[a] as i64).collect(), keepdims: self.keepdims };
        if self.keepdims {
            return Some(super::Transposed { op, out_perm: perm.to_vec() });
        }
        // The kept axes, in output order, are source axes perm[i]; the reduction leaves them
        // in increasing order, so the transpose after it ranks them.
        let kept: Vec<usize> = (0..perm.len()).filter(|i| !axes.contains(i)).map(|i| perm[i]).collect();
        let mut sorted = kept.clone();
        sorted.sort_unstable();
        let out_perm = kept.iter().map(|k| sorted.iter().position(|s| s == k).unwrap_or(0)).collect();
        Some(super::Transposed { op, out_perm })
    }
}

op! {
    /// Maximum over `axes` (all axes when empty); `keepdims` keeps them as 1.
    pub struct ReduceMax { axes: Vec<i64> = vec![], keepdims: bool = true }
}
impl ReduceMax {
    /// The reduced axes, normalised and sorted.
    pub fn axes_for(&self, rank: usize) -> Result<Vec<usize>, String> {
        ReduceMean { axes: self.axes.clone(), keepdims: self.keepdims }.axes_for(rank)
    }
}
impl OpDef for ReduceMax {
    const NAME: &'static str = "reduce_max";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        ReduceMean { axes: self.axes.clone(), keepdims: self.keepdims }.infer(inputs)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let axes = self.axes_for(ins[0].shape.len())?;
        senetc_kernels::reduce::reduce_max(ins[0].data, ins[0].shape, &axes, out);
        Ok(())
    }
    fn flops(&self, ins: &[&[usize]], _: &[usize]) -> u64 {
        numel(ins[0]) as u64
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let t = ReduceMean { axes: self.axes.clone(), keepdims: self.keepdims }.through_transpose(perm)?;
        Some(super::Transposed { op: ReduceMax { axes: t.op.axes, keepdims: t.op.keepdims }, out_perm: t.out_perm })
    }
}

op! {
    /// exp(x) / sum(exp(x)) along `axis`.
    pub struct Softmax { axis: i64 = -1 }
}
impl OpDef for Softmax {
    const NAME: &'static str = "softmax";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        norm_axis(self.axis, inputs[0].rank())?;
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let s = ins[0].shape;
        let axis = norm_axis(self.axis, s.len())?;
        senetc_kernels::reduce::softmax(ins[0].data, numel(&s[..axis]), s[axis], numel(&s[axis + 1..]), out);
        Ok(())
    }
    fn precision(&self) -> Precision {
        Precision::FP32
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        3 * numel(out) as u64
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let axis = perm[norm_axis(self.axis, perm.len()).ok()?] as i64;
        Some(super::Transposed { op: Softmax { axis }, out_perm: perm.to_vec() })
    }
}

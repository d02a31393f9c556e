//! Normalisation.

use super::{numel, FusedAct, OpDef, View};
use crate::{op, Shape, TensorType};

op! {
    /// Inference batch normalization over axis `axis` (1 for NCHW, 3 for NHWC):
    /// y = (x - mean) / sqrt(var + epsilon) * scale + bias. Inputs: x, scale, bias, mean, var.
    pub struct BatchNorm { epsilon: f32 = 1e-5, axis: usize = 1 }
}
impl OpDef for BatchNorm {
    const NAME: &'static str = "batch_norm";
    const ARITY: (usize, usize) = (5, 5);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let x = inputs[0];
        if self.axis >= x.rank() {
            return Err(format!("axis {} out of range for {}", self.axis, x.shape));
        }
        if let Some(c) = x.shape.0[self.axis].known() {
            for (i, p) in inputs[1..].iter().enumerate() {
                if p.shape != Shape::known(&[c]) {
                    return Err(format!("parameter {} must be [{c}], got {}", i + 1, p.shape));
                }
            }
        }
        Ok(vec![x.clone()])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let s = ins[0].shape;
        let (outer, c, inner) = (numel(&s[..self.axis]), s[self.axis], numel(&s[self.axis + 1..]));
        let p = |i: usize| ins[i].data;
        senetc_kernels::norm::batch_norm(ins[0].data, outer, c, inner, p(1), p(2), p(3), p(4), self.epsilon, out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        2 * numel(out) as u64
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        Some(super::Transposed { op: BatchNorm { axis: *perm.get(self.axis)?, ..self.clone() }, out_perm: perm.to_vec() })
    }
}

op! {
    /// Per-channel scale and shift along `axis`, then an activation:
    /// y = act(x * scale[c] + shift[c]). Inputs: x, scale [C], shift [C]. What a batch norm
    /// becomes when it cannot fold into the op that produces its input (a pre-activation
    /// network's BN -> ReLU -> conv, a BN on the input image), with the activation after it.
    pub struct ScaleShift { axis: usize = 1, act: FusedAct = FusedAct::None }
}
impl OpDef for ScaleShift {
    const NAME: &'static str = "scale_shift";
    const ARITY: (usize, usize) = (3, 3);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let x = inputs[0];
        if self.axis >= x.rank() {
            return Err(format!("axis {} out of range for {}", self.axis, x.shape));
        }
        let c = x.shape.0[self.axis].known().ok_or("scale_shift needs a static channel count")?;
        for (i, p) in inputs[1..].iter().enumerate() {
            if p.shape != Shape::known(&[c]) || p.dtype != x.dtype {
                return Err(format!("parameter {} must be {}[{c}], got {p}", i + 1, x.dtype));
            }
        }
        Ok(vec![x.clone()])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let s = ins[0].shape;
        let (c, inner) = (s[self.axis], numel(&s[self.axis + 1..]));
        let (scale, shift) = (ins[1].data, ins[2].data);
        if inner > 0 && c > 0 {
            for (j, (o, x)) in out.chunks_mut(inner).zip(ins[0].data.chunks(inner)).enumerate() {
                let (a, b) = (scale[j % c], shift[j % c]);
                o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * a + b);
            }
        }
        senetc_kernels::elementwise::apply_par(&self.act, out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        numel(out) as u64 * (2 + self.act.flops_per_element())
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        Some(super::Transposed { op: ScaleShift { axis: *perm.get(self.axis)?, ..self.clone() }, out_perm: perm.to_vec() })
    }
}

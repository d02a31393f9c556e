//! Matrix products.

use super::binary::broadcast_shapes;
use super::{numel, OpDef, Precision, View};
use crate::{op, Dim, Shape, TensorType};

fn dims_agree(a: &Dim, b: &Dim) -> bool {
    a == b || a.known().is_none() || b.known().is_none()
}

op! {
    /// Y = alpha * A' * B' + beta * C, where A' is A or its transpose ([M,K]), B' likewise
    /// ([K,N]), and C (optional) broadcasts to [M,N].
    pub struct Gemm { alpha: f32 = 1.0, beta: f32 = 1.0, trans_a: bool = false, trans_b: bool = false }
}
impl OpDef for Gemm {
    const NAME: &'static str = "gemm";
    const ARITY: (usize, usize) = (2, 3);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let (a, b) = (inputs[0], inputs[1]);
        if a.rank() != 2 || b.rank() != 2 {
            return Err(format!("gemm needs 2-D operands, got {} and {}", a.shape, b.shape));
        }
        let (m, ka) = if self.trans_a { (&a.shape.0[1], &a.shape.0[0]) } else { (&a.shape.0[0], &a.shape.0[1]) };
        let (kb, n) = if self.trans_b { (&b.shape.0[1], &b.shape.0[0]) } else { (&b.shape.0[0], &b.shape.0[1]) };
        if !dims_agree(ka, kb) {
            return Err(format!("inner dims differ: {ka} vs {kb}"));
        }
        let out = Shape(vec![m.clone(), n.clone()]);
        if let Some(c) = inputs.get(2) {
            let b = broadcast_shapes(&c.shape, &out)?;
            if b != out {
                return Err(format!("C {} does not broadcast to {out}", c.shape));
            }
        }
        Ok(vec![TensorType::new(a.dtype, out)])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let (a, b) = (ins[0].shape, ins[1].shape);
        let (m, k) = if self.trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
        let n = if self.trans_b { b[0] } else { b[1] };
        let c = ins.get(2).map(|c| (c.data, c.shape));
        senetc_kernels::linalg::gemm(m, n, k, ins[0].data, self.trans_a, ins[1].data, self.trans_b, self.alpha, self.beta, c, out);
        Ok(())
    }
    fn precision(&self) -> Precision {
        Precision::CUBE
    }
    fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
        let k = if self.trans_a { ins[0].first() } else { ins[0].get(1) }.copied().unwrap_or(0) as u64;
        let n = numel(out) as u64;
        2 * n * k + if ins.len() > 2 { n } else { 0 }
    }
}

op! {
    /// numpy matmul: batch dims broadcast, 1-D operands get a dim of 1 added then removed.
    pub struct MatMul {}
}
impl OpDef for MatMul {
    const NAME: &'static str = "matmul";
    const ARITY: (usize, usize) = (2, 2);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let (a, b) = (&inputs[0].shape, &inputs[1].shape);
        if a.rank() == 0 || b.rank() == 0 {
            return Err("matmul operands must have rank >= 1".into());
        }
        let mut a2 = a.0.clone();
        let mut b2 = b.0.clone();
        if a2.len() == 1 {
            a2.insert(0, Dim::Known(1));
        }
        if b2.len() == 1 {
            b2.push(Dim::Known(1));
        }
        let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
        if !dims_agree(ka, kb) {
            return Err(format!("inner dims differ: {ka} vs {kb}"));
        }
        let batch = broadcast_shapes(&Shape(a2[..a2.len() - 2].to_vec()), &Shape(b2[..b2.len() - 2].to_vec()))?;
        let mut out = batch.0;
        if a.rank() > 1 {
            out.push(a2[a2.len() - 2].clone());
        }
        if b.rank() > 1 {
            out.push(b2[b2.len() - 1].clone());
        }
        Ok(vec![TensorType::new(inputs[0].dtype, Shape(out))])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        senetc_kernels::linalg::matmul(ins[0].data, ins[0].shape, ins[1].data, ins[1].shape, out, out_shape);
        Ok(())
    }
    fn precision(&self) -> Precision {
        Precision::CUBE
    }
    fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
        2 * numel(out) as u64 * ins[0].last().copied().unwrap_or(0) as u64
    }
}

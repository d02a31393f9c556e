//! Matrix products.

use super::binary::broadcast_shapes;
use super::OpDef;
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
}

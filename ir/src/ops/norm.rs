//! Normalisation.

use super::OpDef;
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
}

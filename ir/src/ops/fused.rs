//! Fused ops that the optimization passes create: each replaces a chain of ops with one
//! node that backends run as one kernel (CPU) or one fusion group (Ascend).

use super::binary::{eval_binary, infer_binary};
use super::conv::{eval_nchw, split_4d};
use super::{numel, DataFormat, FusedAct, OpDef, Precision, Sigmoid, View};
use crate::{op, Shape, TensorType};
use senetc_kernels::BinaryOp;

op! {
    /// Squeeze-excitation: y = x * gate(w2 · act(w1 · mean_hw(x) + b1) + b2), the gate
    /// broadcast over height and width. Inputs: x (4-D in `format`), w1 [Cr,C], b1 [Cr],
    /// w2 [C,Cr], b2 [C]. The pooled vector and the gate are accumulated in fp32.
    pub struct SqueezeExcite {
        act: FusedAct = FusedAct::Relu(super::Relu {}),
        gate: FusedAct = FusedAct::Sigmoid(Sigmoid {}),
        format: DataFormat = DataFormat::Nchw,
    }
}
impl OpDef for SqueezeExcite {
    const NAME: &'static str = "squeeze_excite";
    const ARITY: (usize, usize) = (5, 5);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let (_, c, _, _) = split_4d(inputs[0], self.format, "squeeze_excite")?;
        let c = c.known().ok_or("squeeze_excite needs a static channel count")?;
        let w1 = inputs[1].shape.as_known().filter(|s| s.len() == 2 && s[1] == c).ok_or_else(|| format!("w1 must be [Cr,{c}], got {}", inputs[1].shape))?;
        let cr = w1[0];
        let expect = [(2, Shape::known(&[cr])), (3, Shape::known(&[c, cr])), (4, Shape::known(&[c]))];
        for (i, want) in expect {
            if inputs[i].shape != want {
                return Err(format!("input {i} must be {want}, got {}", inputs[i].shape));
            }
        }
        if let Some(t) = inputs.iter().find(|t| t.dtype != inputs[0].dtype) {
            return Err(format!("weights are {} but the input is {}", t.dtype, inputs[0].dtype));
        }
        Ok(vec![inputs[0].clone()])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            let s = ins[0].shape;
            let se = senetc_kernels::se::SqueezeExcite { w1: ins[1].data, b1: ins[2].data, w2: ins[3].data, b2: ins[4].data, act: &self.act, gate: &self.gate };
            senetc_kernels::se::squeeze_excite(&se, s[0], s[1], s[2] * s[3], ins[0].data, out);
            Ok(())
        })
    }
    fn precision(&self) -> Precision {
        Precision { fp32_accumulate: true, ..Precision::FOLLOW }
    }
    fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
        let (n, c) = (ins[0][0] as u64, ins[1][1] as u64);
        let cr = ins[1][0] as u64;
        numel(ins[0]) as u64 + n * (4 * c * cr + c * (self.gate.flops_per_element() + 1)) + numel(out) as u64
    }
}

op! {
    /// a + b (broadcasting) followed by an activation: the residual join of ResNet blocks.
    pub struct AddAct { act: FusedAct = FusedAct::Relu(super::Relu {}) }
}
impl OpDef for AddAct {
    const NAME: &'static str = "add_act";
    const ARITY: (usize, usize) = (2, 2);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        infer_binary(inputs)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_binary(BinaryOp::Add, ins, out, out_shape);
        senetc_kernels::elementwise::apply_par(&self.act, out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        numel(out) as u64 * (1 + self.act.flops_per_element())
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        super::Transposed::same(self, perm)
    }
}

//! Fused ops that the optimization passes create: each replaces a chain of ops with one
//! node that backends run as one kernel (CPU) or one fusion group (Ascend).

use super::conv::split_4d;
use super::{DataFormat, OpDef};
use crate::{attr_enum, op, Shape, TensorType};

attr_enum! {
    /// An activation applied in the epilogue of the op that produces the value.
    FusedAct { None = "none", Relu = "relu", Relu6 = "relu6", Sigmoid = "sigmoid", Silu = "silu", HardSwish = "hard_swish" }
}

attr_enum! {
    /// The gate of a squeeze-excitation block.
    SeGate { Sigmoid = "sigmoid", HardSigmoid = "hard_sigmoid" }
}

op! {
    /// Squeeze-excitation: y = x * gate(w2 · act(w1 · mean_hw(x) + b1) + b2), the gate
    /// broadcast over height and width. Inputs: x (4-D in `format`), w1 [Cr,C], b1 [Cr],
    /// w2 [C,Cr], b2 [C]. `gate_alpha`/`gate_beta` parameterise a hard-sigmoid gate
    /// (max(0, min(1, alpha*v + beta))). The pooled vector and the gate are accumulated in fp32.
    pub struct SqueezeExcite {
        act: FusedAct = FusedAct::Relu,
        gate: SeGate = SeGate::Sigmoid,
        gate_alpha: f32 = 1.0 / 6.0,
        gate_beta: f32 = 0.5,
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
        Ok(vec![inputs[0].clone()])
    }
}

op! {
    /// a + b (broadcasting) followed by an activation: the residual join of ResNet blocks.
    pub struct AddAct { act: FusedAct = FusedAct::Relu }
}
impl OpDef for AddAct {
    const NAME: &'static str = "add_act";
    const ARITY: (usize, usize) = (2, 2);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        super::Add {}.infer(inputs)
    }
}

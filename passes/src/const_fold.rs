//! Constant folding: an op whose operands are all constants becomes a constant.

use crate::manager::PassReport;
use crate::util::{const_of, derived_name};
use senetc_ir::{DType, Graph, NodeId, Op, Outlet, Tensor};
use senetc_kernels::elementwise::{unary, Activation};
use senetc_kernels::BinaryOp;

/// Fold every node whose operands are all constants and whose op the folder evaluates
/// (views, transpose, cast, elementwise arithmetic and activations, concat).
pub fn fold_constants(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        if !g.contains(id) || matches!(g.node(id).op, Op::Const(_) | Op::Input) {
            continue;
        }
        let ins = g.inputs_of(id);
        let Some(consts) = ins.iter().map(|&o| const_of(g, o).cloned()).collect::<Option<Vec<Tensor>>>() else { continue };
        let Some(t) = evaluate(g, id, &consts) else { continue };
        let name = derived_name(g, Outlet::new(id), "folded");
        let c = g.add_const(name, t);
        g.replace_uses(Outlet::new(id), c);
        g.remove_node(id);
        r.changes += 1;
        *r.counts.entry("folded nodes".into()).or_default() += 1;
    }
}

fn evaluate(g: &Graph, id: NodeId, ins: &[Tensor]) -> Option<Tensor> {
    let node = g.node(id);
    let out_ty = &node.outputs[0];
    let out_shape = out_ty.shape.as_known()?;
    let f32_only = ins.iter().all(|t| t.dtype() == DType::F32);
    let n: usize = out_shape.iter().product();
    let act = |a: Activation| {
        let mut out = vec![0.0; n];
        unary(a, &ins[0].to_f32(), &mut out);
        Some(Tensor::from_f32(out_shape.clone(), &out))
    };
    let bin = |op: BinaryOp| {
        let mut out = vec![0.0; n];
        senetc_kernels::binary(op, &ins[0].to_f32(), ins[0].shape(), &ins[1].to_f32(), ins[1].shape(), &mut out, &out_shape);
        Some(Tensor::from_f32(out_shape.clone(), &out))
    };
    match &node.op {
        Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Identity(_) | Op::Dropout(_) => {
            ins[0].reshaped(out_shape.clone()).ok()
        }
        Op::Cast(c) => Some(ins[0].cast(c.to)),
        Op::Transpose(t) if f32_only => {
            let mut out = vec![0.0; n];
            senetc_kernels::layout::transpose(&ins[0].to_f32(), ins[0].shape(), &t.perm_for(ins[0].shape().len()), &mut out);
            Some(Tensor::from_f32(out_shape, &out))
        }
        Op::Add(_) if f32_only => bin(BinaryOp::Add),
        Op::Sub(_) if f32_only => bin(BinaryOp::Sub),
        Op::Mul(_) if f32_only => bin(BinaryOp::Mul),
        Op::Div(_) if f32_only => bin(BinaryOp::Div),
        Op::Relu(_) if f32_only => act(Activation::Relu),
        Op::Sigmoid(_) if f32_only => act(Activation::Sigmoid),
        Op::Clip(c) if f32_only => act(Activation::Clip { min: c.min, max: c.max }),
        Op::Concat(c) if f32_only => {
            let axis = senetc_ir::ops::norm_axis(c.axis, out_shape.len()).ok()?;
            let data: Vec<_> = ins.iter().map(|t| t.to_f32().into_owned()).collect();
            let parts: Vec<(&[f32], &[usize])> = data.iter().zip(ins).map(|(d, t)| (d.as_slice(), t.shape())).collect();
            let mut out = vec![0.0; n];
            senetc_kernels::layout::concat(&parts, axis, &mut out);
            Some(Tensor::from_f32(out_shape, &out))
        }
        _ => None,
    }
}

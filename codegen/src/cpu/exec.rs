//! One node at a time: the exhaustive match from IR ops to kernels.

use crate::CodegenError;
use senetc_ir::ops::{norm_axis, AutoPad, FusedAct, SeGate};
use senetc_ir::{DType, Node, Op};
use senetc_kernels::elementwise::{unary, Activation};
use senetc_kernels::{conv, layout, linalg, norm, pool, reduce, BinaryOp, Conv2d, Pool2d};

/// Compute `node` from its operands (data, shape) into `out` (of shape `out_shape`).
pub fn run_node(node: &Node, ins: &[(&[f32], &[usize])], out_shape: &[usize], out: &mut [f32]) -> Result<(), CodegenError> {
    let fail = |why: String| CodegenError::Unsupported { node: node.name.clone(), op: node.op.name(), target: "cpu", why };
    let x = ins[0];
    match &node.op {
        Op::Input | Op::Const(_) => {}
        // The memory plan aliases views to their input, so the executor skips them; a copy
        // keeps this function correct for any caller that does not.
        Op::Identity(_) | Op::Dropout(_) | Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
            out.copy_from_slice(x.0);
        }
        Op::Conv(c) => {
            let (xs, ws) = (x.1, ins[1].1);
            let (ph, pw) = (c.pads_for(0, xs[2], ws[2]), c.pads_for(1, xs[3], ws[3]));
            let p = Conv2d {
                n: xs[0],
                c_in: xs[1],
                h: xs[2],
                w: xs[3],
                c_out: ws[0],
                kh: ws[2],
                kw: ws[3],
                stride: [c.strides[0], c.strides[1]],
                dilation: [c.dilations[0], c.dilations[1]],
                pads: [ph.0, pw.0, ph.1, pw.1],
                group: c.group,
            };
            conv::conv2d(&p, x.0, ins[1].0, ins.get(2).map(|b| b.0), activation(c.act), out);
        }
        Op::BatchNorm(b) => {
            let (n, c) = (x.1[0], x.1[1]);
            let inner = x.1[2..].iter().product();
            norm::batch_norm(x.0, n, c, inner, ins[1].0, ins[2].0, ins[3].0, ins[4].0, b.epsilon, out);
        }
        Op::Relu(_) => unary(Activation::Relu, x.0, out),
        Op::Clip(c) => unary(Activation::Clip { min: c.min, max: c.max }, x.0, out),
        Op::Sigmoid(_) => unary(Activation::Sigmoid, x.0, out),
        Op::HardSigmoid(h) => unary(Activation::HardSigmoid { alpha: h.alpha, beta: h.beta }, x.0, out),
        Op::HardSwish(_) => unary(Activation::HardSwish, x.0, out),
        Op::Silu(_) => unary(Activation::Silu, x.0, out),
        Op::Add(_) => senetc_kernels::binary(BinaryOp::Add, x.0, x.1, ins[1].0, ins[1].1, out, out_shape),
        Op::Sub(_) => senetc_kernels::binary(BinaryOp::Sub, x.0, x.1, ins[1].0, ins[1].1, out, out_shape),
        Op::Mul(_) => senetc_kernels::binary(BinaryOp::Mul, x.0, x.1, ins[1].0, ins[1].1, out, out_shape),
        Op::Div(_) => senetc_kernels::binary(BinaryOp::Div, x.0, x.1, ins[1].0, ins[1].1, out, out_shape),
        Op::GlobalAveragePool(_) => pool::global_avg_pool(x.1[0] * x.1[1], x.1[2] * x.1[3], x.0, out),
        Op::ReduceMean(r) => {
            let axes = r.axes_for(x.1.len()).map_err(fail)?;
            reduce::reduce_mean(x.0, x.1, &axes, out);
        }
        Op::AveragePool(p) => {
            let pp = pool2d(x.1, &p.kernel, &p.strides, &[1, 1], &p.pads, p.auto_pad, p.ceil_mode, p.count_include_pad);
            pool::avg_pool2d(&pp, x.0, out);
        }
        Op::MaxPool(p) => {
            let pp = pool2d(x.1, &p.kernel, &p.strides, &p.dilations, &p.pads, p.auto_pad, p.ceil_mode, false);
            pool::max_pool2d(&pp, x.0, out);
        }
        Op::Gemm(g) => {
            let (a, b) = (x, ins[1]);
            let (m, k) = if g.trans_a { (a.1[1], a.1[0]) } else { (a.1[0], a.1[1]) };
            let n = if g.trans_b { b.1[0] } else { b.1[1] };
            linalg::gemm(m, n, k, a.0, g.trans_a, b.0, g.trans_b, g.alpha, g.beta, ins.get(2).map(|c| (c.0, c.1)), out);
        }
        Op::MatMul(_) => linalg::matmul(x.0, x.1, ins[1].0, ins[1].1, out, out_shape),
        Op::Transpose(t) => layout::transpose(x.0, x.1, &t.perm_for(x.1.len()), out),
        Op::Concat(c) => {
            let axis = norm_axis(c.axis, x.1.len()).map_err(fail)?;
            layout::concat(ins, axis, out);
        }
        Op::Pad(p) => {
            let mode = match p.mode {
                senetc_ir::ops::PadMode::Constant => layout::PadMode::Constant(p.value),
                senetc_ir::ops::PadMode::Reflect => layout::PadMode::Reflect,
                senetc_ir::ops::PadMode::Edge => layout::PadMode::Edge,
            };
            layout::pad(x.0, x.1, &p.pads, mode, out);
        }
        Op::Softmax(s) => {
            let axis = norm_axis(s.axis, x.1.len()).map_err(fail)?;
            let outer = x.1[..axis].iter().product();
            let inner = x.1[axis + 1..].iter().product();
            reduce::softmax(x.0, outer, x.1[axis], inner, out);
        }
        Op::SqueezeExcite(s) => {
            let gate = match s.gate {
                SeGate::Sigmoid => Activation::Sigmoid,
                SeGate::HardSigmoid => Activation::HardSigmoid { alpha: s.gate_alpha, beta: s.gate_beta },
            };
            let se = senetc_kernels::se::SqueezeExcite { w1: ins[1].0, b1: ins[2].0, w2: ins[3].0, b2: ins[4].0, act: activation(s.act), gate };
            senetc_kernels::se::squeeze_excite(&se, x.1[0], x.1[1], x.1[2] * x.1[3], x.0, out);
        }
        Op::AddAct(a) => {
            senetc_kernels::binary(BinaryOp::Add, x.0, x.1, ins[1].0, ins[1].1, out, out_shape);
            activation(a.act).apply_slice_par(out);
        }
        Op::Cast(c) => {
            out.copy_from_slice(x.0);
            match c.to {
                DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {}
                DType::Bool => out.iter_mut().for_each(|v| *v = f32::from(*v != 0.0)),
                _ => out.iter_mut().for_each(|v| *v = v.trunc()),
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn pool2d(xs: &[usize], k: &[usize], s: &[usize], d: &[usize], pads: &[usize], auto_pad: AutoPad, ceil_mode: bool, count_include_pad: bool) -> Pool2d {
    let ph = senetc_ir::ops::resolve_pads(auto_pad, xs[2], k[0], s[0], d[0], (pads[0], pads[2]));
    let pw = senetc_ir::ops::resolve_pads(auto_pad, xs[3], k[1], s[1], d[1], (pads[1], pads[3]));
    Pool2d {
        n: xs[0],
        c: xs[1],
        h: xs[2],
        w: xs[3],
        kh: k[0],
        kw: k[1],
        stride: [s[0], s[1]],
        dilation: [d[0], d[1]],
        pads: [ph.0, pw.0, ph.1, pw.1],
        ceil_mode,
        count_include_pad,
    }
}

/// The kernel epilogue for a fused activation.
pub fn activation(a: FusedAct) -> Activation {
    match a {
        FusedAct::None => Activation::None,
        FusedAct::Relu => Activation::Relu,
        FusedAct::Relu6 => Activation::Clip { min: 0.0, max: 6.0 },
        FusedAct::Sigmoid => Activation::Sigmoid,
        FusedAct::Silu => Activation::Silu,
        FusedAct::HardSwish => Activation::HardSwish,
    }
}

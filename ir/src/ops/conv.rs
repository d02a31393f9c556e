//! 2-D convolution, and the window arithmetic that pooling shares with it.

use super::{numel, AutoPad, DataFormat, FusedAct, OpDef, Precision, View};
use crate::{op, Dim, Shape, TensorType};

op! {
    /// 2-D convolution. Inputs: x (4-D, in `format`), w (OIHW: [out, in/group, kh, kw]),
    /// optional bias [out]. `pads` is [h_begin, w_begin, h_end, w_end] and is used when
    /// `auto_pad` is `explicit`; SAME and VALID are resolved from the input size. `act` is an
    /// activation fused into the epilogue by the passes.
    pub struct Conv {
        strides: Vec<usize> = vec![1, 1],
        dilations: Vec<usize> = vec![1, 1],
        pads: Vec<usize> = vec![0, 0, 0, 0],
        auto_pad: AutoPad = AutoPad::NotSet,
        group: usize = 1,
        format: DataFormat = DataFormat::Nchw,
        act: FusedAct = FusedAct::None,
    }
}

impl Conv {
    /// Begin and end pads of spatial axis `i` (0 = height, 1 = width) for input extent `input`
    /// and kernel extent `k`.
    pub fn pads_for(&self, i: usize, input: usize, k: usize) -> (usize, usize) {
        resolve_pads(self.auto_pad, input, k, self.strides[i], self.dilations[i], (self.pads[i], self.pads[i + 2]))
    }
}

/// Begin and end padding of one spatial axis under `auto_pad` (ONNX semantics: SAME gives
/// output ceil(input/stride); SAME_UPPER puts the odd pad at the end).
pub fn resolve_pads(auto_pad: AutoPad, input: usize, k: usize, stride: usize, dilation: usize, explicit: (usize, usize)) -> (usize, usize) {
    match auto_pad {
        AutoPad::NotSet => explicit,
        AutoPad::Valid => (0, 0),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let out = input.div_ceil(stride.max(1));
            // Saturating: sizes come from model files; window_out refuses what overflows.
            let extent = k.saturating_sub(1).saturating_mul(dilation).saturating_add(1);
            let total = out.saturating_sub(1).saturating_mul(stride).saturating_add(extent).saturating_sub(input);
            let small = total / 2;
            if auto_pad == AutoPad::SameUpper {
                (small, total - small)
            } else {
                (total - small, small)
            }
        }
    }
}

/// Output extent of a sliding window (ONNX formula; with `ceil_mode` the last window must
/// still start inside the input or the begin padding).
pub fn window_out(input: usize, k: usize, stride: usize, dilation: usize, pads: (usize, usize), ceil_mode: bool) -> Result<usize, String> {
    let too_large = || format!("window of {k} (dilation {dilation}) over {input} (+{}+{} padding) is too large", pads.0, pads.1);
    if k == 0 {
        return Err("kernel extent is 0".into());
    }
    let extent = (k - 1).checked_mul(dilation).and_then(|e| e.checked_add(1)).ok_or_else(too_large)?;
    let span = input.checked_add(pads.0).and_then(|s| s.checked_add(pads.1)).ok_or_else(too_large)?;
    if span < extent {
        return Err(format!("window of {extent} does not fit in {input} (+{}+{} padding)", pads.0, pads.1));
    }
    if stride == 0 {
        return Err("stride is 0".into());
    }
    let mut out = if ceil_mode { (span - extent).div_ceil(stride) + 1 } else { (span - extent) / stride + 1 };
    if ceil_mode && (out - 1).checked_mul(stride).is_none_or(|v| v >= input + pads.0) {
        out -= 1;
    }
    Ok(out)
}

/// Check a 4-D activation and return its type's (batch, channels, height, width) dims.
pub(crate) fn split_4d<'a>(t: &'a TensorType, format: DataFormat, what: &str) -> Result<(&'a Dim, &'a Dim, usize, usize), String> {
    if t.rank() != 4 {
        return Err(format!("{what} needs a 4-D input, got {}", t.shape));
    }
    let [h, w] = format.spatial_axes();
    let (Some(hv), Some(wv)) = (t.shape.0[h].known(), t.shape.0[w].known()) else {
        return Err(format!("{what} needs static spatial dims, got {}", t.shape));
    };
    Ok((&t.shape.0[0], &t.shape.0[format.channel_axis()], hv, wv))
}

/// Build a 4-D shape from (batch, channels, height, width) in `format`.
pub(crate) fn join_4d(n: Dim, c: Dim, h: usize, w: usize, format: DataFormat) -> Shape {
    Shape(match format {
        DataFormat::Nchw => vec![n, c, Dim::Known(h), Dim::Known(w)],
        DataFormat::Nhwc => vec![n, Dim::Known(h), Dim::Known(w), c],
    })
}

/// Evaluate an op defined on NCHW activations for operand 0 in `format`: NHWC operands are
/// transposed to NCHW, computed, and the output transposed back.
pub(crate) fn eval_nchw(
    format: DataFormat,
    ins: &[View<'_>],
    out: &mut [f32],
    out_shape: &[usize],
    f: impl FnOnce(&[View<'_>], &mut [f32], &[usize]) -> Result<(), String>,
) -> Result<(), String> {
    if format == DataFormat::Nchw {
        return f(ins, out, out_shape);
    }
    let x = ins[0];
    let xs = [x.shape[0], x.shape[3], x.shape[1], x.shape[2]];
    let mut xt = vec![0.0; x.data.len()];
    senetc_kernels::layout::transpose(x.data, x.shape, &[0, 3, 1, 2], &mut xt);
    let os = [out_shape[0], out_shape[3], out_shape[1], out_shape[2]];
    let mut ot = vec![0.0; out.len()];
    let mut operands = ins.to_vec();
    operands[0] = View { data: &xt, shape: &xs };
    f(&operands, &mut ot, &os)?;
    senetc_kernels::layout::transpose(&ot, &os, &[0, 2, 3, 1], out);
    Ok(())
}

impl OpDef for Conv {
    const NAME: &'static str = "conv";
    const ARITY: (usize, usize) = (2, 3);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        if self.strides.len() != 2 || self.dilations.len() != 2 || self.pads.len() != 4 {
            return Err("conv needs 2 strides, 2 dilations and 4 pads".into());
        }
        if self.group == 0 {
            return Err("group is 0".into());
        }
        let (n, c, h, w) = split_4d(inputs[0], self.format, "conv")?;
        let wt = inputs[1];
        let Some(ws) = wt.shape.as_known().filter(|s| s.len() == 4) else {
            return Err(format!("conv weight must be static 4-D OIHW, got {}", wt.shape));
        };
        if let Some(c) = c.known() {
            if ws[1] * self.group != c {
                return Err(format!("weight {:?} with group {} expects {} input channels, got {c}", ws, self.group, ws[1] * self.group));
            }
        }
        if ws[0] % self.group != 0 {
            return Err(format!("{} output channels do not split into {} groups", ws[0], self.group));
        }
        if let Some(b) = inputs.get(2) {
            if b.shape != Shape::known(&[ws[0]]) {
                return Err(format!("bias must be [{}], got {}", ws[0], b.shape));
            }
        }
        if inputs[0].dtype != wt.dtype {
            return Err(format!("input is {} but weight is {}", inputs[0].dtype, wt.dtype));
        }
        let oh = window_out(h, ws[2], self.strides[0], self.dilations[0], self.pads_for(0, h, ws[2]), false)?;
        let ow = window_out(w, ws[3], self.strides[1], self.dilations[1], self.pads_for(1, w, ws[3]), false)?;
        let shape = join_4d(n.clone(), Dim::Known(ws[0]), oh, ow, self.format);
        Ok(vec![TensorType::new(inputs[0].dtype, shape)])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            let (xs, ws) = (ins[0].shape, ins[1].shape);
            let (ph, pw) = (self.pads_for(0, xs[2], ws[2]), self.pads_for(1, xs[3], ws[3]));
            let p = senetc_kernels::Conv2d {
                n: xs[0],
                c_in: xs[1],
                h: xs[2],
                w: xs[3],
                c_out: ws[0],
                kh: ws[2],
                kw: ws[3],
                stride: [self.strides[0], self.strides[1]],
                dilation: [self.dilations[0], self.dilations[1]],
                pads: [ph.0, pw.0, ph.1, pw.1],
                group: self.group,
            };
            senetc_kernels::conv2d(&p, ins[0].data, ins[1].data, ins.get(2).map(|b| b.data), &self.act, out);
            Ok(())
        })
    }
    fn precision(&self) -> Precision {
        Precision::CUBE
    }
    fn flops(&self, ins: &[&[usize]], out: &[usize]) -> u64 {
        let per_out = ins[1].get(1..).map_or(0, numel) as u64;
        let n = numel(out) as u64;
        2 * n * per_out + if ins.len() > 2 { n } else { 0 } + n * self.act.flops_per_element()
    }
}

//! Pooling.

use super::conv::{eval_nchw, join_4d, resolve_pads, split_4d, window_out};
use super::{numel, AutoPad, DataFormat, OpDef, Precision, View};
use crate::{op, TensorType};
use senetc_kernels::Pool2d;

op! {
    /// Mean over height and width, which become 1.
    pub struct GlobalAveragePool { format: DataFormat = DataFormat::Nchw }
}
impl OpDef for GlobalAveragePool {
    const NAME: &'static str = "global_average_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let (n, c, _, _) = split_4d(inputs[0], self.format, "global_average_pool")?;
        let shape = join_4d(n.clone(), c.clone(), 1, 1, self.format);
        Ok(vec![TensorType::new(inputs[0].dtype, shape)])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            let s = ins[0].shape;
            senetc_kernels::pool::global_avg_pool(s[0] * s[1], s[2] * s[3], ins[0].data, out);
            Ok(())
        })
    }
    fn precision(&self) -> Precision {
        Precision::FP32
    }
    fn flops(&self, ins: &[&[usize]], _: &[usize]) -> u64 {
        numel(ins[0]) as u64
    }
}

/// The window attributes average and max pooling share.
struct Window<'a> {
    kernel: &'a [usize],
    strides: &'a [usize],
    dilations: &'a [usize],
    pads: &'a [usize],
    auto_pad: AutoPad,
    ceil_mode: bool,
}

impl Window<'_> {
    fn infer(&self, what: &str, t: &TensorType, format: DataFormat) -> Result<Vec<TensorType>, String> {
        let Window { kernel, strides, dilations, pads, auto_pad, ceil_mode } = *self;
        if kernel.len() != 2 || strides.len() != 2 || dilations.len() != 2 || pads.len() != 4 {
            return Err(format!("{what} needs 2 kernel dims, 2 strides, 2 dilations and 4 pads"));
        }
        let (n, c, h, w) = split_4d(t, format, what)?;
        let mut out = [0; 2];
        for (i, extent) in [h, w].into_iter().enumerate() {
            let p = resolve_pads(auto_pad, extent, kernel[i], strides[i], dilations[i], (pads[i], pads[i + 2]));
            out[i] = window_out(extent, kernel[i], strides[i], dilations[i], p, ceil_mode)?;
        }
        Ok(vec![TensorType::new(t.dtype, join_4d(n.clone(), c.clone(), out[0], out[1], format))])
    }

    /// The kernel's geometry for an NCHW input of shape `xs`.
    fn geometry(&self, xs: &[usize], count_include_pad: bool) -> Pool2d {
        let (k, s, d) = (self.kernel, self.strides, self.dilations);
        let ph = resolve_pads(self.auto_pad, xs[2], k[0], s[0], d[0], (self.pads[0], self.pads[2]));
        let pw = resolve_pads(self.auto_pad, xs[3], k[1], s[1], d[1], (self.pads[1], self.pads[3]));
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
            ceil_mode: self.ceil_mode,
            count_include_pad,
        }
    }
}

op! {
    /// 2-D average pooling; `pads` as in `conv`.
    pub struct AveragePool {
        kernel: Vec<usize> = vec![1, 1],
        strides: Vec<usize> = vec![1, 1],
        pads: Vec<usize> = vec![0, 0, 0, 0],
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        count_include_pad: bool = false,
        format: DataFormat = DataFormat::Nchw,
    }
}
impl AveragePool {
    fn window(&self) -> Window<'_> {
        Window { kernel: &self.kernel, strides: &self.strides, dilations: &[1, 1], pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode }
    }
}
impl OpDef for AveragePool {
    const NAME: &'static str = "average_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        self.window().infer("average_pool", inputs[0], self.format)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            senetc_kernels::pool::avg_pool2d(&self.window().geometry(ins[0].shape, self.count_include_pad), ins[0].data, out);
            Ok(())
        })
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        (numel(out) * numel(&self.kernel)) as u64
    }
}

op! {
    /// 2-D max pooling; `pads` as in `conv` (padding never wins the max).
    pub struct MaxPool {
        kernel: Vec<usize> = vec![1, 1],
        strides: Vec<usize> = vec![1, 1],
        dilations: Vec<usize> = vec![1, 1],
        pads: Vec<usize> = vec![0, 0, 0, 0],
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        format: DataFormat = DataFormat::Nchw,
    }
}
impl MaxPool {
    fn window(&self) -> Window<'_> {
        Window { kernel: &self.kernel, strides: &self.strides, dilations: &self.dilations, pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode }
    }
}
impl OpDef for MaxPool {
    const NAME: &'static str = "max_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        self.window().infer("max_pool", inputs[0], self.format)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            senetc_kernels::pool::max_pool2d(&self.window().geometry(ins[0].shape, false), ins[0].data, out);
            Ok(())
        })
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        (numel(out) * numel(&self.kernel)) as u64
    }
}

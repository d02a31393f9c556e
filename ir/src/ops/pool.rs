//! Pooling over 1, 2 or 3 spatial axes.

use super::conv::{eval_nchw, join_4d, resolve_pads, split_4d, window_out};
use super::{numel, AutoPad, DataFormat, OpDef, Precision, View};
use crate::{op, DType, Dim, Shape, TensorType};
use senetc_kernels::{Pool2d, PoolNd};

op! {
    /// Mean over the spatial axes (every axis after the channels: 1, 2 or 3 of them), which
    /// become 1. NHWC inputs are 4-D.
    pub struct GlobalAveragePool { format: DataFormat = DataFormat::Nchw }
}
impl OpDef for GlobalAveragePool {
    const NAME: &'static str = "global_average_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        if self.format == DataFormat::Nhwc || t.rank() == 4 {
            let (n, c, _, _) = split_4d(t, self.format, "global_average_pool")?;
            let shape = join_4d(n.clone(), c.clone(), 1, 1, self.format);
            return Ok(vec![TensorType::new(t.dtype, shape)]);
        }
        if t.rank() < 3 {
            return Err(format!("global_average_pool needs an input with spatial axes, got {}", t.shape));
        }
        let mut shape = t.shape.clone();
        shape.0[2..].iter_mut().for_each(|d| *d = Dim::Known(1));
        Ok(vec![TensorType::new(t.dtype, shape)])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        eval_nchw(self.format, ins, out, out_shape, |ins, out, _| {
            let s = ins[0].shape;
            senetc_kernels::pool::global_avg_pool(s[0] * s[1], numel(&s[2..]), ins[0].data, out);
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

/// The window attributes average and max pooling share. The kernel's length is the number
/// of spatial axes (1, 2 or 3); strides and dilations have one value per axis, pads two.
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
        let r = kernel.len();
        if r == 0 || strides.len() != r || dilations.len() != r || pads.len() != 2 * r {
            return Err(format!(
                "{what} needs one stride and dilation per kernel dim and two pads, got kernel {kernel:?}, strides {strides:?}, dilations {dilations:?}, pads {pads:?}"
            ));
        }
        if kernel.contains(&0) || dilations.contains(&0) {
            return Err(format!("{what} kernel {kernel:?} and dilations {dilations:?} must be positive"));
        }
        let extents: Vec<usize> = if format == DataFormat::Nhwc {
            if r != 2 {
                return Err(format!("{what} in NHWC is 2-D, got a {r}-D kernel"));
            }
            let (_, _, h, w) = split_4d(t, format, what)?;
            vec![h, w]
        } else {
            if t.rank() != r + 2 {
                return Err(format!("{what} with a {r}-D kernel needs a {}-D input, got {}", r + 2, t.shape));
            }
            t.shape.0[2..].iter().map(Dim::known).collect::<Option<_>>().ok_or_else(|| format!("{what} needs static spatial dims, got {}", t.shape))?
        };
        let mut out = Vec::with_capacity(r);
        for (i, &extent) in extents.iter().enumerate() {
            let p = resolve_pads(auto_pad, extent, kernel[i], strides[i], dilations[i], (pads[i], pads[i + r]));
            out.push(window_out(extent, kernel[i], strides[i], dilations[i], p, ceil_mode)?);
        }
        let shape = if format == DataFormat::Nhwc {
            join_4d(t.shape.0[0].clone(), t.shape.0[3].clone(), out[0], out[1], format)
        } else {
            Shape(t.shape.0[..2].iter().cloned().chain(out.into_iter().map(Dim::Known)).collect())
        };
        Ok(vec![TensorType::new(t.dtype, shape)])
    }

    /// The 2-D kernel's geometry for an NCHW input of shape `xs`.
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

    /// The N-D kernel's geometry for an input of shape `xs` (`[n, c, spatial...]`).
    fn geometry_nd(&self, xs: &[usize], count_include_pad: bool) -> PoolNd {
        let r = self.kernel.len();
        let mut pads = vec![0; 2 * r];
        for i in 0..r {
            let p = resolve_pads(self.auto_pad, xs[i + 2], self.kernel[i], self.strides[i], self.dilations[i], (self.pads[i], self.pads[i + r]));
            (pads[i], pads[i + r]) = p;
        }
        PoolNd {
            n: xs[0],
            c: xs[1],
            dims: xs[2..].to_vec(),
            kernel: self.kernel.to_vec(),
            stride: self.strides.to_vec(),
            dilation: self.dilations.to_vec(),
            pads,
            ceil_mode: self.ceil_mode,
            count_include_pad,
        }
    }

    /// Evaluate with the 2-D kernel (any format) or the N-D one (NCHW-style layouts).
    fn eval(
        &self,
        format: DataFormat,
        ins: &[View<'_>],
        out: &mut [f32],
        out_shape: &[usize],
        count_include_pad: bool,
        max: bool,
    ) -> Result<(), String> {
        if self.kernel.len() != 2 {
            let p = self.geometry_nd(ins[0].shape, count_include_pad);
            if max {
                senetc_kernels::pool::max_pool_nd(&p, ins[0].data, out);
            } else {
                senetc_kernels::pool::avg_pool_nd(&p, ins[0].data, out);
            }
            return Ok(());
        }
        eval_nchw(format, ins, out, out_shape, |ins, out, _| {
            let p = self.geometry(ins[0].shape, count_include_pad);
            if max {
                senetc_kernels::pool::max_pool2d(&p, ins[0].data, out);
            } else {
                senetc_kernels::pool::avg_pool2d(&p, ins[0].data, out);
            }
            Ok(())
        })
    }
}

op! {
    /// Average pooling over 1, 2 or 3 spatial axes (the kernel's length); `pads` holds every
    /// axis' begin then every axis' end, as in `conv`.
    pub struct AveragePool {
        kernel: Vec<usize> = vec![1, 1],
        strides: Vec<usize> = vec![1, 1],
        pads: Vec<usize> = vec![0, 0, 0, 0],
        dilations: Vec<usize> = vec![1, 1],
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        count_include_pad: bool = false,
        format: DataFormat = DataFormat::Nchw,
    }
}
impl AveragePool {
    fn window(&self) -> Window<'_> {
        Window { kernel: &self.kernel, strides: &self.strides, dilations: &self.dilations, pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode }
    }
}
impl OpDef for AveragePool {
    const NAME: &'static str = "average_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        self.window().infer("average_pool", inputs[0], self.format)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        self.window().eval(self.format, ins, out, out_shape, self.count_include_pad, false)
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        (numel(out) * numel(&self.kernel)) as u64
    }
}

op! {
    /// Max pooling over 1, 2 or 3 spatial axes, laid out as in `average_pool` (padding never
    /// wins the max).
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
        self.window().eval(self.format, ins, out, out_shape, false, true)
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        (numel(out) * numel(&self.kernel)) as u64
    }
}

op! {
    /// Where `max_pool` with the same window takes each output from: ONNX MaxPool's second
    /// output `Indices`, an i64 tensor of the values' shape holding, for each output, the flat
    /// index into the whole NCHW input (batch and channel included) of the first tap in
    /// row-major window order that holds the window's maximum (its first NaN, if any). With
    /// `column_major` (ONNX `storage_order=1`) the index within each `[n, c]` plane counts the
    /// first spatial axis fastest. A window with no tap inside the input gives -1. A separate
    /// op rather than a second output of `max_pool`, so that every op has one output: a graph
    /// that reads both has two nodes on the same input. NCHW-style layouts only.
    pub struct MaxPoolIndices {
        kernel: Vec<usize> = vec![1, 1],
        strides: Vec<usize> = vec![1, 1],
        dilations: Vec<usize> = vec![1, 1],
        pads: Vec<usize> = vec![0, 0, 0, 0],
        auto_pad: AutoPad = AutoPad::NotSet,
        ceil_mode: bool = false,
        column_major: bool = false,
    }
}
impl MaxPoolIndices {
    fn window(&self) -> Window<'_> {
        Window { kernel: &self.kernel, strides: &self.strides, dilations: &self.dilations, pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode }
    }
}
impl OpDef for MaxPoolIndices {
    const NAME: &'static str = "max_pool_indices";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        if !inputs[0].dtype.is_float() {
            return Err(format!("max_pool_indices needs a float input, got {}", inputs[0].dtype));
        }
        let mut out = self.window().infer("max_pool_indices", inputs[0], DataFormat::Nchw)?;
        out[0].dtype = DType::I64;
        Ok(out)
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        // The reference holds integers in f32, exact below 2^24.
        if ins[0].data.len() > 1 << 24 {
            return Err(format!("max_pool_indices over {} elements: indices above 2^24 are not exact in the f32 reference", ins[0].data.len()));
        }
        let p = self.window().geometry_nd(ins[0].shape, false);
        senetc_kernels::pool::max_pool_nd_indices(&p, ins[0].data, out, self.column_major);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], out: &[usize]) -> u64 {
        (numel(out) * numel(&self.kernel)) as u64
    }
}

//! Pooling.

use super::conv::{format_layout, join_4d, resolve_pads, split_4d, window_out};
use super::{AutoPad, DataFormat, OpDef};
use crate::{op, TensorType};

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
        Ok(vec![TensorType { dtype: inputs[0].dtype, shape, layout: format_layout(self.format) }])
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

fn pool_infer(what: &str, t: &TensorType, format: DataFormat, w: Window<'_>) -> Result<Vec<TensorType>, String> {
    let Window { kernel, strides, dilations, pads, auto_pad, ceil_mode } = w;
    if kernel.len() != 2 || strides.len() != 2 || dilations.len() != 2 || pads.len() != 4 {
        return Err(format!("{what} needs 2 kernel dims, 2 strides, 2 dilations and 4 pads"));
    }
    let (n, c, h, w) = split_4d(t, format, what)?;
    let mut out = [0; 2];
    for (i, extent) in [h, w].into_iter().enumerate() {
        let p = resolve_pads(auto_pad, extent, kernel[i], strides[i], dilations[i], (pads[i], pads[i + 2]));
        out[i] = window_out(extent, kernel[i], strides[i], dilations[i], p, ceil_mode)?;
    }
    let shape = join_4d(n.clone(), c.clone(), out[0], out[1], format);
    Ok(vec![TensorType { dtype: t.dtype, shape, layout: format_layout(format) }])
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
impl OpDef for AveragePool {
    const NAME: &'static str = "average_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let w = Window { kernel: &self.kernel, strides: &self.strides, dilations: &[1, 1], pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode };
        pool_infer("average_pool", inputs[0], self.format, w)
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
impl OpDef for MaxPool {
    const NAME: &'static str = "max_pool";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let w = Window { kernel: &self.kernel, strides: &self.strides, dilations: &self.dilations, pads: &self.pads, auto_pad: self.auto_pad, ceil_mode: self.ceil_mode };
        pool_infer("max_pool", inputs[0], self.format, w)
    }
}

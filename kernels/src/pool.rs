//! Max/average pooling with ONNX semantics (pads, dilation, ceil_mode) and global pooling: a
//! 2-D kernel for the image models, and an N-D one (any number of spatial axes) for the rest.

use rayon::prelude::*;

/// Geometry of a 2-D pooling window over NCHW input.
#[derive(Clone, Debug)]
pub struct Pool2d {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// [stride_h, stride_w], both >= 1.
    pub stride: [usize; 2],
    /// [dilation_h, dilation_w], both >= 1.
    pub dilation: [usize; 2],
    /// [top, left, bottom, right] (= ONNX [h_begin, w_begin, h_end, w_end]).
    pub pads: [usize; 4],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Average pooling divides by the window size including padding (never ceil overhang).
    pub count_include_pad: bool,
}

/// Output length of one pooled axis (ONNX / PyTorch rule: with ceil_mode the last window must
/// start inside the input or the begin padding).
fn out_len(inp: usize, pb: usize, pe: usize, k: usize, s: usize, d: usize, ceil: bool) -> usize {
    let span = (k - 1) * d + 1;
    let padded = inp + pb + pe;
    if padded < span {
        return 0;
    }
    let mut out = if ceil { (padded - span).div_ceil(s) + 1 } else { (padded - span) / s + 1 };
    if ceil && (out - 1) * s >= inp + pb {
        out -= 1;
    }
    out
}

/// Taps of one window along one axis: input index of tap j is `first + j * d`; taps `lo..hi` are
/// inside the input and `count_padded` taps are inside input + explicit padding.
#[derive(Clone, Copy)]
struct Taps {
    first: isize,
    lo: usize,
    hi: usize,
    count_padded: usize,
}

fn taps(o: usize, s: usize, d: usize, k: usize, pb: usize, pe: usize, len: usize) -> Taps {
    let first = (o * s) as isize - pb as isize;
    let inside = |lo_bound: isize, hi_bound: isize| -> (usize, usize) {
        let (mut lo, mut hi) = (k, 0);
        for j in 0..k {
            let i = first + (j * d) as isize;
            if i >= lo_bound && i < hi_bound {
                lo = lo.min(j);
                hi = hi.max(j + 1);
            }
        }
        (lo, hi.max(lo))
    };
    let (lo, hi) = inside(0, len as isize);
    let (plo, phi) = inside(-(pb as isize), (len + pe) as isize);
    Taps { first, lo, hi, count_padded: phi - plo }
}

impl Pool2d {
    /// Output (height, width) per the ONNX formula, including the ceil_mode rule.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            out_len(self.h, self.pads[0], self.pads[2], self.kh, self.stride[0], self.dilation[0], self.ceil_mode),
            out_len(self.w, self.pads[1], self.pads[3], self.kw, self.stride[1], self.dilation[1], self.ceil_mode),
        )
    }

    /// Per-output-row and per-output-column taps.
    fn axis_taps(&self) -> (Vec<Taps>, Vec<Taps>) {
        let (oh, ow) = self.out_hw();
        let rows = (0..oh)
            .map(|o| taps(o, self.stride[0], self.dilation[0], self.kh, self.pads[0], self.pads[2], self.h))
            .collect();
        let cols = (0..ow)
            .map(|o| taps(o, self.stride[1], self.dilation[1], self.kw, self.pads[1], self.pads[3], self.w))
            .collect();
        (rows, cols)
    }

    /// Runs `f(input_plane, output_plane, row_taps, col_taps)` over all N*C planes in parallel.
    fn for_planes(&self, input: &[f32], out: &mut [f32], f: impl Fn(&[f32], &mut [f32], &[Taps], &[Taps]) + Sync) {
        let (oh, ow) = self.out_hw();
        debug_assert_eq!(input.len(), self.n * self.c * self.h * self.w);
        debug_assert_eq!(out.len(), self.n * self.c * oh * ow);
        if out.is_empty() {
            return;
        }
        let (rows, cols) = self.axis_taps();
        let hw = self.h * self.w;
        out.par_chunks_mut(oh * ow)
            .zip(input.par_chunks(hw.max(1)))
            .with_min_len(4)
            .for_each(|(o, x)| f(x, o, &rows, &cols));
    }
}

/// Max pooling; padding never wins (it acts as -inf). Input NCHW, output `[n, c, oh, ow]`.
pub fn max_pool2d(p: &Pool2d, input: &[f32], out: &mut [f32]) {
    let (w, ow) = (p.w, p.out_hw().1);
    let (dh, dw) = (p.dilation[0] as isize, p.dilation[1] as isize);
    p.for_planes(input, out, |x, o, rows, cols| {
        for (orow, ty) in o.chunks_mut(ow).zip(rows) {
            for (ov, tx) in orow.iter_mut().zip(cols) {
                let mut m = f32::NEG_INFINITY;
                for jy in ty.lo..ty.hi {
                    let base = (ty.first + jy as isize * dh) as usize * w;
                    for jx in tx.lo..tx.hi {
                        let v = x[base + (tx.first + jx as isize * dw) as usize];
                        // Also taking NaN makes NaN propagate like onnxruntime.
                        if v > m || v.is_nan() {
                            m = v;
                        }
                    }
                }
                *ov = m;
            }
        }
    });
}

/// Average pooling with ONNX semantics: the divisor counts in-input taps, plus explicit-padding
/// taps when `count_include_pad`; taps in the ceil_mode overhang never count.
pub fn avg_pool2d(p: &Pool2d, input: &[f32], out: &mut [f32]) {
    let (w, ow) = (p.w, p.out_hw().1);
    let (dh, dw) = (p.dilation[0] as isize, p.dilation[1] as isize);
    let include_pad = p.count_include_pad;
    p.for_planes(input, out, |x, o, rows, cols| {
        for (orow, ty) in o.chunks_mut(ow).zip(rows) {
            for (ov, tx) in orow.iter_mut().zip(cols) {
                let mut s = 0.0f32;
                for jy in ty.lo..ty.hi {
                    let base = (ty.first + jy as isize * dh) as usize * w;
                    for jx in tx.lo..tx.hi {
                        s += x[base + (tx.first + jx as isize * dw) as usize];
                    }
                }
                let count = if include_pad {
                    ty.count_padded * tx.count_padded
                } else {
                    (ty.hi - ty.lo) * (tx.hi - tx.lo)
                };
                *ov = if count == 0 { 0.0 } else { s / count as f32 };
            }
        }
    });
}

/// Geometry of a pooling window over `[n, c, d0, d1, ...]` input, any number of spatial axes.
#[derive(Clone, Debug)]
pub struct PoolNd {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Spatial input extents.
    pub dims: Vec<usize>,
    /// Window extents (one per spatial axis).
    pub kernel: Vec<usize>,
    /// Strides, all >= 1.
    pub stride: Vec<usize>,
    /// Dilations, all >= 1.
    pub dilation: Vec<usize>,
    /// Every axis' begin pad, then every axis' end pad (ONNX order).
    pub pads: Vec<usize>,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Average pooling divides by the window size including padding (never ceil overhang).
    pub count_include_pad: bool,
}

impl PoolNd {
    /// Output extents per the ONNX formula, including the ceil_mode rule.
    pub fn out_dims(&self) -> Vec<usize> {
        let r = self.dims.len();
        (0..r)
            .map(|i| out_len(self.dims[i], self.pads[i], self.pads[i + r], self.kernel[i], self.stride[i], self.dilation[i], self.ceil_mode))
            .collect()
    }

    /// Runs `f(plane, input_plane, window_taps_per_axis, input_strides)` for every output
    /// element (`plane` is the index of the N*C plane), all planes in parallel.
    fn for_windows(&self, input: &[f32], out: &mut [f32], f: impl Fn(usize, &[f32], &[Taps], &[usize]) -> f32 + Sync) {
        let r = self.dims.len();
        let od = self.out_dims();
        let plane_out: usize = od.iter().product();
        let plane_in: usize = self.dims.iter().product();
        debug_assert_eq!(input.len(), self.n * self.c * plane_in);
        debug_assert_eq!(out.len(), self.n * self.c * plane_out);
        if out.is_empty() {
            return;
        }
        let taps: Vec<Vec<Taps>> = (0..r)
            .map(|i| {
                (0..od[i])
                    .map(|o| taps(o, self.stride[i], self.dilation[i], self.kernel[i], self.pads[i], self.pads[i + r], self.dims[i]))
                    .collect()
            })
            .collect();
        let mut in_strides = vec![1usize; r];
        for i in (0..r.saturating_sub(1)).rev() {
            in_strides[i] = in_strides[i + 1] * self.dims[i + 1];
        }
        out.par_chunks_mut(plane_out).zip(input.par_chunks(plane_in.max(1))).enumerate().for_each(|(plane, (o, x))| {
            let mut idx = vec![0usize; r];
            let mut window = Vec::with_capacity(r);
            for v in o.iter_mut() {
                window.clear();
                window.extend((0..r).map(|i| taps[i][idx[i]]));
                *v = f(plane, x, &window, &in_strides);
                for i in (0..r).rev() {
                    idx[i] += 1;
                    if idx[i] < od[i] {
                        break;
                    }
                    idx[i] = 0;
                }
            }
        });
    }
}

/// Visit the in-input taps of one window: `f(flat input index)`.
fn each_tap(window: &[Taps], dilation: &[usize], strides: &[usize], mut f: impl FnMut(usize)) {
    let r = window.len();
    if window.iter().any(|t| t.lo >= t.hi) {
        return;
    }
    let mut j: Vec<usize> = window.iter().map(|t| t.lo).collect();
    loop {
        let at = (0..r).map(|i| (window[i].first + (j[i] * dilation[i]) as isize) as usize * strides[i]).sum();
        f(at);
        let mut i = r;
        loop {
            if i == 0 {
                return;
            }
            i -= 1;
            j[i] += 1;
            if j[i] < window[i].hi {
                break;
            }
            j[i] = window[i].lo;
        }
    }
}

/// N-D max pooling; padding never wins. Input `[n, c, dims...]`, output `[n, c, out_dims...]`.
pub fn max_pool_nd(p: &PoolNd, input: &[f32], out: &mut [f32]) {
    p.for_windows(input, out, |_, x, window, strides| {
        let mut m = f32::NEG_INFINITY;
        each_tap(window, &p.dilation, strides, |i| {
            let v = x[i];
            if v > m || v.is_nan() {
                m = v;
            }
        });
        m
    });
}

/// Where N-D max pooling takes each output from (ONNX MaxPool's `Indices`): the flat index
/// into the whole input `[n, c, dims...]` of the first tap, in row-major window order, that
/// holds the window's maximum (or its first NaN, which is what [`max_pool_nd`] returns
/// then), as an f32 (exact below 2^24). With `column_major` the index within the plane
/// counts the first spatial axis fastest (ONNX `storage_order=1`); the plane's offset
/// `(n * C + c) * plane_size` is the same in both orders. A window with no tap inside the
/// input gives -1.
pub fn max_pool_nd_indices(p: &PoolNd, input: &[f32], out: &mut [f32], column_major: bool) {
    let plane_in: usize = p.dims.iter().product();
    let r = p.dims.len();
    let col_strides: Vec<usize> = (0..r).map(|i| p.dims[..i].iter().product()).collect();
    p.for_windows(input, out, |plane, x, window, strides| {
        let mut best: Option<(usize, f32)> = None;
        each_tap(window, &p.dilation, strides, |i| {
            let v = x[i];
            let take = match best {
                None => true,
                Some((_, m)) => !m.is_nan() && (v > m || v.is_nan()),
            };
            if take {
                best = Some((i, v));
            }
        });
        let Some((at, _)) = best else { return -1.0 };
        let local = if column_major {
            // Row-major `at` back to coordinates, then column-major strides.
            let mut rest = at;
            (0..r).rev().fold(0, |col, i| {
                let coord = rest % p.dims[i];
                rest /= p.dims[i];
                col + coord * col_strides[i]
            })
        } else {
            at
        };
        (plane * plane_in + local) as f32
    });
}

/// N-D average pooling, with the divisor rule of [`avg_pool2d`].
pub fn avg_pool_nd(p: &PoolNd, input: &[f32], out: &mut [f32]) {
    p.for_windows(input, out, |_, x, window, strides| {
        let mut s = 0.0f32;
        each_tap(window, &p.dilation, strides, |i| s += x[i]);
        let count: usize = if p.count_include_pad {
            window.iter().map(|t| t.count_padded).product()
        } else {
            window.iter().map(|t| t.hi - t.lo).product()
        };
        if count == 0 {
            0.0
        } else {
            s / count as f32
        }
    });
}

/// Global average pooling: `out[i] = mean(input[i * hw .. (i + 1) * hw])` for `i < n_c`,
/// accumulated in f64.
pub fn global_avg_pool(n_c: usize, hw: usize, input: &[f32], out: &mut [f32]) {
    debug_assert_eq!(input.len(), n_c * hw);
    debug_assert_eq!(out.len(), n_c);
    if hw == 0 {
        out.fill(f32::NAN);
        return;
    }
    let mean = |plane: &[f32]| (plane.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32;
    if n_c * hw <= crate::PAR_CHUNK {
        out.iter_mut().zip(input.chunks(hw)).for_each(|(o, x)| *o = mean(x));
    } else {
        out.par_iter_mut().zip(input.par_chunks(hw)).with_min_len(16).for_each(|(o, x)| *o = mean(x));
    }
}

#[cfg(test)]
mod tests;

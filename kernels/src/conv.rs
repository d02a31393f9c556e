//! 2-D convolution (NCHW, OIHW weights) with fused bias + activation.
//!
//! Three paths: 1x1/stride-1/unpadded convs are a GEMM straight on the input; depthwise convs
//! (one input channel per group) are a direct loop over channel planes; everything else lowers
//! to im2col + GEMM, with many small groups run as independent GEMMs in parallel (each lowering
//! only its own channels, so its im2col stays in cache). Strided kernels are lowered through
//! stride phases so every im2col row is a contiguous copy.

use std::cell::Cell;

use gemm::Parallelism;
use rayon::prelude::*;

use crate::elementwise::{apply_with_bias, Act};
use crate::linalg::{parallelism_for, sgemm, MatRef};

/// Geometry of a 2-D convolution.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// [stride_h, stride_w], both >= 1.
    pub stride: [usize; 2],
    /// [dilation_h, dilation_w], both >= 1.
    pub dilation: [usize; 2],
    /// [top, left, bottom, right] (= ONNX [h_begin, w_begin, h_end, w_end]).
    pub pads: [usize; 4],
    /// Groups; divides both `c_in` and `c_out`.
    pub group: usize,
}

impl Conv2d {
    /// Output (height, width): `(in + pads - dilated_kernel) / stride + 1`, or 0 when the padded
    /// input is smaller than the dilated kernel.
    pub fn out_hw(&self) -> (usize, usize) {
        let dim = |inp: usize, pb: usize, pe: usize, k: usize, s: usize, d: usize| {
            let span = (k - 1) * d + 1;
            let padded = inp + pb + pe;
            if padded < span {
                0
            } else {
                (padded - span) / s + 1
            }
        };
        (
            dim(self.h, self.pads[0], self.pads[2], self.kh, self.stride[0], self.dilation[0]),
            dim(self.w, self.pads[1], self.pads[3], self.kw, self.stride[1], self.dilation[1]),
        )
    }

    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pads == [0; 4]
    }

    fn is_depthwise(&self) -> bool {
        self.group > 1 && self.group == self.c_in
    }
}

/// Convolution with fused epilogue: `out = act(conv(input, weight) + bias)`.
///
/// `input` is NCHW `[n, c_in, h, w]`, `weight` OIHW `[c_out, c_in / group, kh, kw]`, `bias`
/// `[c_out]`, `out` NCHW `[n, c_out, oh, ow]` with `(oh, ow) = p.out_hw()`. Padding is zeros.
pub fn conv2d(p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>, act: &dyn Act, out: &mut [f32]) {
    let (oh, ow) = p.out_hw();
    let (ohw, hw) = (oh * ow, p.h * p.w);
    debug_assert!(p.group > 0 && p.c_in.is_multiple_of(p.group) && p.c_out.is_multiple_of(p.group));
    debug_assert_eq!(input.len(), p.n * p.c_in * hw);
    debug_assert_eq!(weight.len(), p.c_out * (p.c_in / p.group) * p.kh * p.kw);
    debug_assert!(bias.is_none_or(|b| b.len() == p.c_out));
    debug_assert_eq!(out.len(), p.n * p.c_out * ohw);
    if out.is_empty() {
        return;
    }
    if p.is_depthwise() {
        if crate::depthwise_tiles::applies(p) {
            crate::depthwise_tiles::depthwise(p, input, weight, bias, act, out);
        } else {
            depthwise(p, input, weight, bias, act, out);
        }
        return;
    }
    let k = (p.c_in / p.group) * p.kh * p.kw;
    let image = |x: &[f32], o: &mut [f32]| {
        if p.is_pointwise() {
            gemm_groups(p, weight, x, k, ohw, bias, act, o);
        } else if groups_in_parallel(p, k, ohw) {
            // Each task lowers only its own group, straight into a per-thread buffer small
            // enough to stay in L2 for the GEMM that follows.
            let cog = p.c_out / p.group;
            o.par_chunks_mut(cog * ohw).enumerate().for_each(|(g, og)| {
                with_scratch(k * ohw + phase_len(p, p.c_in / p.group), |buf| {
                    let (col, phases) = buf.split_at_mut(k * ohw);
                    im2col(p, x, g * k, col, phases, false);
                    group_gemm(p, weight, col, k, ohw, g, og, Parallelism::None);
                    epilogue(bias, act, g * cog, ohw, og);
                })
            });
        } else {
            let col_len = p.c_in * p.kh * p.kw * ohw;
            with_scratch(col_len + phase_len(p, p.c_in), |buf| {
                let (col, phases) = buf.split_at_mut(col_len);
                im2col(p, x, 0, col, phases, true);
                gemm_groups(p, weight, col, k, ohw, bias, act, o);
            });
        }
    };
    let images = input.chunks(p.c_in * hw).zip(out.chunks_mut(p.c_out * ohw));
    // Small images (CIFAR-sized planes) give GEMMs too small to split well across threads:
    // in a batch, images go to threads instead (each keeps its own im2col scratch).
    if p.n > 1 && p.c_out * ohw * k < SMALL_IMAGE_MACS {
        images.par_bridge().for_each(|(x, o)| image(x, o));
    } else {
        images.for_each(|(x, o)| image(x, o));
    }
}

/// Below this many multiply-adds per image, a batch is parallelised across images.
const SMALL_IMAGE_MACS: usize = 1 << 24;

/// Whether groups should run as independent single-threaded GEMMs (many small groups, as in
/// ResNeXt) rather than one after another with a parallel GEMM each.
fn groups_in_parallel(p: &Conv2d, k: usize, ohw: usize) -> bool {
    let threads = rayon::current_num_threads();
    p.group > 1 && (p.group >= 2 * threads || matches!(parallelism_for(p.c_out / p.group, ohw, k), Parallelism::None))
}

/// `og = W[g] x col[g]` for group `g`, where `col` starts at the group's first row.
#[allow(clippy::too_many_arguments)]
fn group_gemm(p: &Conv2d, weight: &[f32], col: &[f32], k: usize, ohw: usize, g: usize, og: &mut [f32], par: Parallelism) {
    let cog = p.c_out / p.group;
    let w = MatRef::row_major(&weight[g * cog * k..(g + 1) * cog * k], cog, k, false);
    let x = MatRef::row_major(&col[..k * ohw], k, ohw, false);
    sgemm(cog, ohw, k, w, x, 1.0, false, og, par);
}

/// `rows = act(rows + bias[c0 + i])` for each output-channel row i of length `ohw`.
fn epilogue(bias: Option<&[f32]>, act: &dyn Act, c0: usize, ohw: usize, rows: &mut [f32]) {
    if bias.is_some() || !act.is_identity() {
        for (i, row) in rows.chunks_mut(ohw).enumerate() {
            apply_with_bias(act, row, bias.map_or(0.0, |b| b[c0 + i]));
        }
    }
}

/// `o[g] = act(W[g] x col[g] + bias)` for every group g, where `col` is `[c_in * kh * kw, ohw]`
/// (group-major rows) and `o` one batch item's output.
#[allow(clippy::too_many_arguments)]
fn gemm_groups(
    p: &Conv2d,
    weight: &[f32],
    col: &[f32],
    k: usize,
    ohw: usize,
    bias: Option<&[f32]>,
    act: &dyn Act,
    o: &mut [f32],
) {
    let cog = p.c_out / p.group;
    if groups_in_parallel(p, k, ohw) {
        o.par_chunks_mut(cog * ohw).enumerate().for_each(|(g, og)| {
            group_gemm(p, weight, &col[g * k * ohw..], k, ohw, g, og, Parallelism::None);
            epilogue(bias, act, g * cog, ohw, og);
        });
        return;
    }
    let par = parallelism_for(cog, ohw, k);
    for (g, og) in o.chunks_mut(cog * ohw).enumerate() {
        group_gemm(p, weight, &col[g * k * ohw..], k, ohw, g, og, par);
    }
    // Several rows per task so tiny late-stage planes (7x7) do not drown in scheduling.
    let threads = rayon::current_num_threads();
    let rows_per_task = (crate::PAR_CHUNK / ohw).clamp(1, p.c_out.div_ceil(threads).max(1));
    o.par_chunks_mut(rows_per_task * ohw)
        .enumerate()
        .for_each(|(t, rows)| epilogue(bias, act, t * rows_per_task, ohw, rows));
}

/// Whether im2col reads strided kernels through stride phases (see [`build_phases`]).
fn uses_phases(p: &Conv2d) -> bool {
    p.stride != [1, 1] && p.kh * p.kw > 1
}

/// Phase plane dims (rows, cols): `ceil(h / sh) x ceil(w / sw)`.
fn phase_dims(p: &Conv2d) -> (usize, usize) {
    (p.h.div_ceil(p.stride[0]), p.w.div_ceil(p.stride[1]))
}

/// Scratch floats the phases of `channels` input channels need (0 when phases are unused).
fn phase_len(p: &Conv2d, channels: usize) -> usize {
    if !uses_phases(p) {
        return 0;
    }
    let (ph, pw) = phase_dims(p);
    channels * p.stride[0] * p.stride[1] * ph * pw
}

/// Splits each input channel into its `sh * sw` stride phases,
/// `phase[a][b][yy][xx] = x[yy * sh + a][xx * sw + b]` (0 past the input edge). A strided tap then
/// reads a stride-1 window of one phase, so im2col rows become plain shifted copies instead of
/// one strided gather per output row.
fn build_phases(p: &Conv2d, x: &[f32], c0: usize, buf: &mut [f32], parallel: bool) {
    let [sh, sw] = p.stride;
    let (ph, pw) = phase_dims(p);
    let one_channel = |c: usize, out: &mut [f32]| {
        let plane = &x[(c0 + c) * p.h * p.w..][..p.h * p.w];
        for (ab, ph_plane) in out.chunks_mut(ph * pw).enumerate() {
            let (a, b) = (ab / sw, ab % sw);
            let nx = if b < p.w { (p.w - b).div_ceil(sw) } else { 0 };
            for (yy, prow) in ph_plane.chunks_mut(pw).enumerate() {
                let iy = yy * sh + a;
                if iy >= p.h || nx == 0 {
                    prow.fill(0.0);
                    continue;
                }
                gather(&mut prow[..nx], &plane[iy * p.w + b..(iy + 1) * p.w], sw);
                prow[nx..].fill(0.0);
            }
        }
    };
    let per_channel = sh * sw * ph * pw;
    if parallel {
        buf.par_chunks_mut(per_channel).enumerate().for_each(|(c, o)| one_channel(c, o));
    } else {
        buf.chunks_mut(per_channel).enumerate().for_each(|(c, o)| one_channel(c, o));
    }
}

/// Lays the receptive fields of one batch item out as `col[(ci, ky, kx)][(oy, ox)]`, zero where
/// the window reads padding, for the `col.len() / (oh * ow)` rows starting at row `row0` (which
/// must start a channel). `phases` is scratch of at least `phase_len` for those channels.
fn im2col(p: &Conv2d, x: &[f32], row0: usize, col: &mut [f32], phases: &mut [f32], parallel: bool) {
    let (oh, ow) = p.out_hw();
    let (kh, kw) = (p.kh, p.kw);
    let c0 = row0 / (kh * kw);
    let [sh, sw] = p.stride;
    let (ph, pw) = phase_dims(p);
    let strided = uses_phases(p);
    if strided {
        let n = phase_len(p, col.len() / (oh * ow * kh * kw));
        build_phases(p, x, c0, &mut phases[..n], parallel);
    }
    let phases = &*phases;
    let fill = |r: usize, row: &mut [f32]| {
        let ci = r / (kh * kw);
        let (ky, kx) = ((r / kw) % kh, r % kw);
        // Tap offsets relative to the output position, in input coordinates.
        let ty = (ky * p.dilation[0]) as isize - p.pads[0] as isize;
        let tx = (kx * p.dilation[1]) as isize - p.pads[1] as isize;
        if strided {
            let (a, qy) = (ty.rem_euclid(sh as isize) as usize, ty.div_euclid(sh as isize));
            let (b, qx) = (tx.rem_euclid(sw as isize) as usize, tx.div_euclid(sw as isize));
            let plane = &phases[((ci * sh + a) * sw + b) * ph * pw..][..ph * pw];
            window_row(row, plane, (ph, pw), (oh, ow), (1, 1), (qy, qx));
        } else {
            let plane = &x[(c0 + ci) * p.h * p.w..][..p.h * p.w];
            window_row(row, plane, (p.h, p.w), (oh, ow), (sh, sw), (ty, tx));
        }
    };
    let ohw = oh * ow;
    if parallel {
        col.par_chunks_mut(ohw).with_min_len(8).enumerate().for_each(|(r, row)| fill(r, row));
    } else {
        col.chunks_mut(ohw).enumerate().for_each(|(r, row)| fill(r, row));
    }
}

/// Output positions `[lo, hi)` (of `n`) whose input coordinate `o * s + off` lies in `[0, len)`.
fn valid_range(off: isize, s: usize, len: usize, n: usize) -> (usize, usize) {
    let (s, len) = (s as isize, len as isize);
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if len - off <= 0 { 0 } else { (len - off + s - 1) / s };
    let hi = (hi as usize).min(n);
    ((lo as usize).min(hi), hi)
}

/// One im2col row: `row[oy * ow + ox] = plane[oy * sy + offy][ox * sx + offx]`, 0 outside the
/// `h x w` plane.
fn window_row(
    row: &mut [f32],
    plane: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (sy, sx): (usize, usize),
    (offy, offx): (isize, isize),
) {
    let (ox0, ox1) = valid_range(offx, sx, w, ow);
    let (oy0, oy1) = valid_range(offy, sy, h, oh);
    if ox0 >= ox1 || oy0 >= oy1 {
        row.fill(0.0);
        return;
    }
    row[..oy0 * ow].fill(0.0);
    row[oy1 * ow..].fill(0.0);
    if sy == 1 && sx == 1 && ow == w {
        // Consecutive output rows read consecutive plane rows: the whole row is one shifted
        // copy of the plane, after which the columns that wrapped around are zeroed.
        let shift = offy * w as isize + offx;
        let lo = ((oy0 * ow) as isize).max(-shift) as usize;
        let hi = ((oy1 * ow) as isize).min((h * w) as isize - shift) as usize;
        let src = (lo as isize + shift) as usize;
        row[lo..hi].copy_from_slice(&plane[src..src + (hi - lo)]);
        for orow in row[oy0 * ow..oy1 * ow].chunks_mut(ow) {
            orow[..ox0].iter_mut().for_each(|v| *v = 0.0);
            orow[ox1..].iter_mut().for_each(|v| *v = 0.0);
        }
        return;
    }
    let start = ((ox0 * sx) as isize + offx) as usize;
    for (oy, orow) in row.chunks_mut(ow).enumerate().take(oy1).skip(oy0) {
        let iy = ((oy * sy) as isize + offy) as usize;
        orow[..ox0].iter_mut().for_each(|v| *v = 0.0);
        orow[ox1..].iter_mut().for_each(|v| *v = 0.0);
        gather(&mut orow[ox0..ox1], &plane[iy * w + start..(iy + 1) * w], sx);
    }
}

/// `dst[i] = src[i * step]`, in shapes LLVM vectorises for the common steps.
fn gather(dst: &mut [f32], src: &[f32], step: usize) {
    match step {
        1 => dst.copy_from_slice(&src[..dst.len()]),
        2 => {
            // Pairs for all but the last element, whose pair may run past the row end.
            let n = dst.len().saturating_sub(1);
            dst[..n].iter_mut().zip(src.chunks_exact(2)).for_each(|(d, pair)| *d = pair[0]);
            if let Some(last) = dst.last_mut() {
                *last = src[2 * n];
            }
        }
        _ => dst.iter_mut().zip(src.iter().step_by(step)).for_each(|(d, &v)| *d = v),
    }
}

/// Depthwise conv (group == c_in, c_out = multiplier * c_in): each output plane accumulates
/// `kh * kw` shifted, scaled rows of its single input plane; planes run in parallel.
fn depthwise(p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>, act: &dyn Act, out: &mut [f32]) {
    let (oh, ow) = p.out_hw();
    let mult = p.c_out / p.c_in;
    let (kh, kw) = (p.kh, p.kw);
    let [sh, sw] = p.stride;
    let [dh, dw] = p.dilation;
    let (pt, pl) = (p.pads[0] as isize, p.pads[1] as isize);
    let (h, w) = (p.h as isize, p.w as isize);
    out.par_chunks_mut(oh * ow).enumerate().for_each(|(plane_idx, o)| {
        let (b, oc) = (plane_idx / p.c_out, plane_idx % p.c_out);
        let ic = oc / mult;
        let x = &input[(b * p.c_in + ic) * p.h * p.w..][..p.h * p.w];
        let wk = &weight[oc * kh * kw..(oc + 1) * kh * kw];
        o.fill(bias.map_or(0.0, |bv| bv[oc]));
        for ky in 0..kh {
            for kx in 0..kw {
                let wv = wk[ky * kw + kx];
                let xoff = (kx * dw) as isize - pl;
                // Valid output columns: 0 <= ox*sw + xoff < w.
                let s = sw as isize;
                let lo = if xoff >= 0 { 0 } else { ((-xoff + s - 1) / s) as usize };
                let hi = if w - xoff <= 0 { 0 } else { (((w - xoff + s - 1) / s) as usize).min(ow) };
                if lo >= hi {
                    continue;
                }
                for (oy, orow) in o.chunks_mut(ow).enumerate() {
                    let iy = (oy * sh) as isize + (ky * dh) as isize - pt;
                    if iy < 0 || iy >= h {
                        continue;
                    }
                    let irow = &x[iy as usize * p.w..(iy as usize + 1) * p.w];
                    let start = ((lo * sw) as isize + xoff) as usize;
                    let dst = &mut orow[lo..hi];
                    if sw == 1 {
                        dst.iter_mut().zip(&irow[start..]).for_each(|(d, &v)| *d += wv * v);
                    } else {
                        dst.iter_mut().zip(irow[start..].iter().step_by(sw)).for_each(|(d, &v)| *d += wv * v);
                    }
                }
            }
        }
        act.apply(o);
    });
}

thread_local! {
    /// im2col buffer reused across calls on this thread (grow-only; see [`release_scratch`]).
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a scratch slice of `len` floats with unspecified contents.
///
/// The buffer is taken out of the thread-local for the duration, so a nested call (rayon may run
/// another conv on this thread while it waits) simply allocates its own.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    SCRATCH.with(|s| {
        let old = s.take();
        s.set(if old.len() > buf.len() { old } else { buf });
    });
    r
}

/// Frees the calling thread's cached im2col buffer (it grows to the largest conv seen).
pub fn release_scratch() {
    SCRATCH.with(|s| drop(s.take()));
}

#[cfg(test)]
mod tests;

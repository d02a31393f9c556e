//! Depthwise convolution on small planes (width <= 28: EfficientNet's and MobileNet's late
//! stages), vectorised across channels. On a 7x7 plane a row-wise multiply-add is 7 lanes
//! long and call overhead dominates; here a block of channels is copied into a zero-padded
//! channels-last tile, so every kernel tap is one multiply-add over a contiguous run of
//! `CB` channels whatever the plane size, and the result is transposed back to NCHW.

use crate::conv::Conv2d;
use crate::elementwise::Act;
use rayon::prelude::*;

/// Channels per tile: 4 AVX-512 vectors, and a 28x28 tile stays within L2.
const CB: usize = 64;

/// Whether the channels-last path applies (and pays): multiplier 1, narrow planes.
pub(crate) fn applies(p: &Conv2d) -> bool {
    let (_, ow) = p.out_hw();
    p.c_out == p.c_in && ow <= 28 && p.w <= 56
}

/// `out = act(depthwise_conv(input, weight) + bias)`, shapes as in [`crate::conv2d`].
pub(crate) fn depthwise(p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>, act: &dyn Act, out: &mut [f32]) {
    let (oh, ow) = p.out_hw();
    let ohw = oh * ow;
    let c = p.c_in;
    let blocks = c.div_ceil(CB);
    // One task per (image, channel block); each writes its own channels' output planes.
    let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::with_capacity(p.n * blocks);
    for (b, img) in out.chunks_mut(c * ohw).enumerate() {
        let mut rest = img;
        for blk in 0..blocks {
            let cb = CB.min(c - blk * CB);
            let (mine, tail) = rest.split_at_mut(cb * ohw);
            tasks.push((b, blk * CB, mine));
            rest = tail;
        }
    }
    tasks.into_par_iter().for_each(|(b, c0, o)| {
        let cb = o.len() / ohw;
        let x = &input[(b * c + c0) * p.h * p.w..][..cb * p.h * p.w];
        tile(p, (oh, ow), x, &weight[c0 * p.kh * p.kw..][..cb * p.kh * p.kw], bias.map(|bv| &bv[c0..c0 + cb]), act, cb, o);
    });
}

#[allow(clippy::too_many_arguments)]
fn tile(p: &Conv2d, (oh, ow): (usize, usize), x: &[f32], w: &[f32], bias: Option<&[f32]>, act: &dyn Act, cb: usize, o: &mut [f32]) {
    let [sh, sw] = p.stride;
    let [dh, dw] = p.dilation;
    let (pt, pl) = (p.pads[0], p.pads[1]);
    let taps = p.kh * p.kw;
    // Padded extents covering every position a tap reads.
    let hp = ((oh - 1) * sh + (p.kh - 1) * dh + 1).max(p.h + pt);
    let wp = ((ow - 1) * sw + (p.kw - 1) * dw + 1).max(p.w + pl);
    let mut xin = vec![0.0f32; hp * wp * cb];
    for ch in 0..cb {
        let plane = &x[ch * p.h * p.w..(ch + 1) * p.h * p.w];
        for (y, row) in plane.chunks_exact(p.w).enumerate() {
            let base = ((y + pt) * wp + pl) * cb + ch;
            for (xx, &v) in row.iter().enumerate() {
                xin[base + xx * cb] = v;
            }
        }
    }
    // Weights tap-major: wt[tap][ch].
    let mut wt = vec![0.0f32; taps * cb];
    for ch in 0..cb {
        for t in 0..taps {
            wt[t * cb + ch] = w[ch * taps + t];
        }
    }
    let mut acc = vec![0.0f32; oh * ow * cb];
    for oy in 0..oh {
        for ox in 0..ow {
            let a = &mut acc[(oy * ow + ox) * cb..][..cb];
            if let Some(b) = bias {
                a.copy_from_slice(b);
            }
            for ky in 0..p.kh {
                let iy = oy * sh + ky * dh;
                for kx in 0..p.kw {
                    let ix = ox * sw + kx * dw;
                    let src = &xin[(iy * wp + ix) * cb..][..cb];
                    let wv = &wt[(ky * p.kw + kx) * cb..][..cb];
                    for ((d, &s), &k) in a.iter_mut().zip(src).zip(wv) {
                        *d += k * s;
                    }
                }
            }
        }
    }
    act.apply(&mut acc);
    let ohw = oh * ow;
    for ch in 0..cb {
        let dst = &mut o[ch * ohw..(ch + 1) * ohw];
        for (pix, d) in dst.iter_mut().enumerate() {
            *d = acc[pix * cb + ch];
        }
    }
}

//! Reductions: mean and max over arbitrary axes, and softmax along one axis.

use rayon::prelude::*;

/// Mean of `input` (shape `shape`) over `axes` (any order, no duplicates, each < rank).
///
/// `out` holds the non-reduced dims in their original order (keepdims only changes the shape,
/// not the layout), so its length is the product of the kept dims. Sums accumulate in f64.
pub fn reduce_mean(input: &[f32], shape: &[usize], axes: &[usize], out: &mut [f32]) {
    let total: usize = shape.iter().product();
    debug_assert_eq!(input.len(), total);
    debug_assert!(axes.iter().all(|&a| a < shape.len()));
    let reduced = |i: usize| axes.contains(&i);
    let count: usize = (0..shape.len()).filter(|&i| reduced(i)).map(|i| shape[i]).product();
    debug_assert_eq!(out.len() * count, total);
    if out.is_empty() {
        return;
    }
    if count == 0 {
        out.fill(f32::NAN);
        return;
    }

    // Merge neighbouring dims of equal kind and drop size-1 dims: (size, reduced).
    let mut dims: Vec<(usize, bool)> = Vec::new();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.1 == reduced(i) => last.0 *= d,
            _ => dims.push((d, reduced(i))),
        }
    }
    let scale = 1.0 / count as f64;
    let mean = |xs: &[f32]| (xs.iter().map(|&v| v as f64).sum::<f64>() * scale) as f32;

    match dims.as_slice() {
        // Nothing reduced (all reduced dims had size 1) or everything reduced.
        [] | [(_, false)] => out.copy_from_slice(input),
        [(_, true)] => out[0] = mean(input),
        // Trailing reduction, e.g. NCHW over [2, 3]: contiguous rows.
        [(_, false), (inner, true)] => {
            out.par_iter_mut().zip(input.par_chunks(*inner)).with_min_len(16).for_each(|(o, x)| *o = mean(x))
        }
        // Leading reduction, e.g. over axis 0: accumulate whole rows.
        [(outer, true), (inner, false)] => {
            let mut acc = vec![0.0f64; *inner];
            for row in input.chunks(*inner).take(*outer) {
                acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
            }
            out.iter_mut().zip(&acc).for_each(|(o, &a)| *o = (a * scale) as f32);
        }
        // Middle reduction [outer, red, inner] (softmax-like axes), per outer block in parallel.
        [(_, false), (red, true), (inner, false)] => {
            let (red, inner) = (*red, *inner);
            out.par_chunks_mut(inner).zip(input.par_chunks(red * inner)).for_each(|(o, x)| {
                let mut acc = vec![0.0f64; inner];
                for row in x.chunks(inner) {
                    acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
                }
                o.iter_mut().zip(&acc).for_each(|(o, &a)| *o = (a * scale) as f32);
            });
        }
        _ => general(input, &dims, scale, out),
    }
}

/// Any interleaving of kept and reduced dims: walk the input once with an odometer.
fn general(input: &[f32], dims: &[(usize, bool)], scale: f64, out: &mut [f32]) {
    let rank = dims.len();
    // Output stride of each dim (0 for reduced dims).
    let mut ostride = vec![0; rank];
    let mut acc = 1;
    for i in (0..rank).rev() {
        if !dims[i].1 {
            ostride[i] = acc;
            acc *= dims[i].0;
        }
    }
    let mut sums = vec![0.0f64; out.len()];
    let mut idx = vec![0; rank];
    let mut o = 0;
    for &v in input {
        sums[o] += v as f64;
        for i in (0..rank).rev() {
            idx[i] += 1;
            o += ostride[i];
            if idx[i] < dims[i].0 {
                break;
            }
            o -= ostride[i] * dims[i].0;
            idx[i] = 0;
        }
    }
    out.iter_mut().zip(&sums).for_each(|(o, &s)| *o = (s * scale) as f32);
}

/// Maximum of `input` (shape `shape`) over `axes`; `out` as in [`reduce_mean`]. NaN wins.
pub fn reduce_max(input: &[f32], shape: &[usize], axes: &[usize], out: &mut [f32]) {
    let rank = shape.len();
    let mut ostride = vec![0; rank];
    let mut acc = 1;
    for i in (0..rank).rev() {
        if !axes.contains(&i) {
            ostride[i] = acc;
            acc *= shape[i];
        }
    }
    out.fill(f32::NEG_INFINITY);
    let mut idx = vec![0; rank];
    let mut o = 0;
    for &v in input {
        let m = &mut out[o];
        if v > *m || v.is_nan() {
            *m = v;
        }
        for i in (0..rank).rev() {
            idx[i] += 1;
            o += ostride[i];
            if idx[i] < shape[i] {
                break;
            }
            o -= ostride[i] * shape[i];
            idx[i] = 0;
        }
    }
}

/// Softmax along the middle axis of `[outer, axis_len, inner]`: `exp(x - max) / sum(exp(x - max))`.
pub fn softmax(input: &[f32], outer: usize, axis_len: usize, inner: usize, out: &mut [f32]) {
    let block = axis_len * inner;
    debug_assert_eq!(input.len(), outer * block);
    debug_assert_eq!(out.len(), outer * block);
    if block == 0 {
        return;
    }
    let one = |x: &[f32], o: &mut [f32]| {
        if inner == 1 {
            let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut s = 0.0f64;
            for (o, &v) in o.iter_mut().zip(x) {
                *o = (v - m).exp();
                s += *o as f64;
            }
            let r = (1.0 / s) as f32;
            o.iter_mut().for_each(|v| *v *= r);
        } else {
            let mut m = vec![f32::NEG_INFINITY; inner];
            for row in x.chunks(inner) {
                m.iter_mut().zip(row).for_each(|(m, &v)| *m = m.max(v));
            }
            let mut s = vec![0.0f64; inner];
            for (orow, row) in o.chunks_mut(inner).zip(x.chunks(inner)) {
                for ((o, &v), (s, &m)) in orow.iter_mut().zip(row).zip(s.iter_mut().zip(&m)) {
                    *o = (v - m).exp();
                    *s += *o as f64;
                }
            }
            let r: Vec<f32> = s.iter().map(|&s| (1.0 / s) as f32).collect();
            for orow in o.chunks_mut(inner) {
                orow.iter_mut().zip(&r).for_each(|(o, &r)| *o *= r);
            }
        }
    };
    if outer * block <= crate::PAR_CHUNK {
        input.chunks(block).zip(out.chunks_mut(block)).for_each(|(x, o)| one(x, o));
    } else {
        input.par_chunks(block).zip(out.par_chunks_mut(block)).for_each(|(x, o)| one(x, o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, in_pool, Rng};

    /// Definition: for each output element sum every input element that maps onto it.
    fn naive_mean(x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
        let kept: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
        let osize: usize = kept.iter().map(|&i| shape[i]).product();
        let mut sums = vec![0.0f64; osize];
        let mut counts = vec![0usize; osize];
        for (f, &v) in x.iter().enumerate() {
            let mut rem = f;
            let mut idx = vec![0; shape.len()];
            for i in (0..shape.len()).rev() {
                idx[i] = rem % shape[i];
                rem /= shape[i];
            }
            let o = kept.iter().fold(0, |o, &i| o * shape[i] + idx[i]);
            sums[o] += v as f64;
            counts[o] += 1;
        }
        sums.iter().zip(&counts).map(|(&s, &c)| (s / c as f64) as f32).collect()
    }

    #[test]
    fn reduce_max_hand_computed() {
        let x = [1.0, 5.0, -2.0, 3.0, 0.5, 4.0];
        let mut out = [0.0; 2];
        reduce_max(&x, &[2, 3], &[1], &mut out);
        assert_eq!(out, [5.0, 4.0]);
        let mut out = [0.0; 3];
        reduce_max(&x, &[2, 3], &[0], &mut out);
        assert_eq!(out, [3.0, 5.0, 4.0]);
        let mut all = [0.0; 1];
        reduce_max(&x, &[2, 3], &[0, 1], &mut all);
        assert_eq!(all, [5.0]);
    }

    #[test]
    fn reduce_mean_hand_computed() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut out = [0.0; 3];
        reduce_mean(&x, &[1, 3, 2, 2], &[2, 3], &mut out);
        assert_eq!(out, [1.5, 5.5, 9.5]);
        let mut out = [0.0; 4];
        reduce_mean(&x, &[3, 4], &[0], &mut out);
        assert_eq!(out, [4.0, 5.0, 6.0, 7.0]);
        let mut out = [0.0; 3];
        reduce_mean(&x, &[3, 4], &[1], &mut out);
        assert_eq!(out, [1.5, 5.5, 9.5]);
    }

    #[test]
    fn reduce_mean_matches_naive() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 64, 7, 7], &[2, 3]),
            (&[2, 64, 7, 7], &[3, 2]),
            (&[2, 5, 3], &[1]),
            (&[4, 5, 3], &[0]),
            (&[4, 5, 3], &[2]),
            (&[2, 3, 4, 5], &[0, 2]),
            (&[2, 3, 4, 5], &[1, 3]),
            (&[2, 3, 4, 5], &[0, 1, 2, 3]),
            (&[2, 1, 4, 5], &[1]),
            (&[1, 256, 56, 56], &[2, 3]),
        ];
        for (i, (shape, axes)) in cases.iter().enumerate() {
            let x = Rng::new(i as u64).vec(shape.iter().product());
            let want = naive_mean(&x, shape, axes);
            let mut out = vec![f32::NAN; want.len()];
            in_pool(|| reduce_mean(&x, shape, axes, &mut out));
            assert_close(&out, &want, 1e-6);
        }
    }

    #[test]
    fn softmax_hand_computed_and_stable() {
        let mut out = [0.0; 3];
        softmax(&[1.0, 2.0, 3.0], 1, 3, 1, &mut out);
        let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
        let s: f64 = e.iter().sum();
        assert_close(&out, &[(e[0] / s) as f32, (e[1] / s) as f32, (e[2] / s) as f32], 1e-6);
        softmax(&[1000.0, 1000.0, -1000.0], 1, 3, 1, &mut out);
        assert_eq!(out, [0.5, 0.5, 0.0]);
    }

    #[test]
    fn softmax_matches_naive() {
        for &(outer, len, inner) in &[(2, 10, 1), (3, 7, 5), (1, 1000, 1), (64, 1000, 1), (2, 3, 40000)] {
            let x: Vec<f32> = Rng::new(len as u64).vec(outer * len * inner).iter().map(|v| v * 20.0).collect();
            let mut want = vec![0.0; x.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let at = |a: usize| (o * len + a) * inner + i;
                    let m = (0..len).map(|a| x[at(a)] as f64).fold(f64::NEG_INFINITY, f64::max);
                    let s: f64 = (0..len).map(|a| (x[at(a)] as f64 - m).exp()).sum();
                    for a in 0..len {
                        want[at(a)] = ((x[at(a)] as f64 - m).exp() / s) as f32;
                    }
                }
            }
            let mut out = vec![f32::NAN; x.len()];
            in_pool(|| softmax(&x, outer, len, inner, &mut out));
            assert_close(&out, &want, 1e-5);
        }
    }
}

//! Data movement: transpose, pad, concat.

use rayon::prelude::*;

use crate::PAR_CHUNK;

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Fills `out` row by row (rows of `inner` elements) in parallel chunks of whole rows, calling
/// `row(row_index, out_row)`.
fn for_rows(out: &mut [f32], inner: usize, row: impl Fn(usize, &mut [f32]) + Sync) {
    if inner == 0 {
        return;
    }
    if out.len() <= PAR_CHUNK {
        out.chunks_mut(inner).enumerate().for_each(|(r, o)| row(r, o));
    } else {
        let per = (PAR_CHUNK / inner).max(1);
        out.par_chunks_mut(per * inner).enumerate().for_each(|(t, chunk)| {
            chunk.chunks_mut(inner).enumerate().for_each(|(i, o)| row(t * per + i, o));
        });
    }
}

/// `out = input.transpose(perm)`: output dim i is input dim `perm[i]`.
pub fn transpose(input: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    debug_assert_eq!(shape.len(), perm.len());
    debug_assert_eq!(input.len(), shape.iter().product::<usize>());
    debug_assert_eq!(out.len(), input.len());
    if input.is_empty() {
        return;
    }
    let in_strides = strides(shape);
    // Output dims as (size, input stride), dropping size-1 dims and merging dims that stay
    // adjacent and in order (so NCHW->NHWC becomes a 2-D transpose [C, HW] -> [HW, C]).
    let mut dims: Vec<(usize, usize)> = Vec::new();
    for &p in perm {
        let (d, s) = (shape[p], in_strides[p]);
        if d == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.1 == s * d => *last = (last.0 * d, s),
            _ => dims.push((d, s)),
        }
    }
    let (inner, inner_stride) = *dims.last().unwrap_or(&(1, 1));
    if inner_stride == 1 && dims.len() <= 1 {
        out.copy_from_slice(input);
        return;
    }
    let outer = &dims[..dims.len().saturating_sub(1)];
    for_rows(out, inner, |r, o| {
        let (mut rem, mut base) = (r, 0);
        for &(d, s) in outer.iter().rev() {
            base += (rem % d) * s;
            rem /= d;
        }
        if inner_stride == 1 {
            o.copy_from_slice(&input[base..base + inner]);
        } else {
            o.iter_mut().zip(input[base..].iter().step_by(inner_stride)).for_each(|(o, &v)| *o = v);
        }
    });
}

/// Value source for out-of-range coordinates in [`pad`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// Fill with the constant.
    Constant(f32),
    /// Mirror without repeating the edge (numpy "reflect"): `[a b c]` -> `c b | a b c | b a`.
    Reflect,
    /// Repeat the edge value.
    Edge,
}

/// Maps an output coordinate shifted by the begin pad onto the input axis of length `n`, or None
/// when it reads the constant.
fn source(i: isize, n: usize, mode: PadMode) -> Option<usize> {
    let n_i = n as isize;
    if (0..n_i).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant(_) => None,
        PadMode::Edge => Some(i.clamp(0, n_i - 1) as usize),
        PadMode::Reflect => {
            if n == 1 {
                return Some(0);
            }
            // Reflection is periodic with period 2(n-1); this also covers pads wider than n-1.
            let period = 2 * (n_i - 1);
            let m = i.rem_euclid(period);
            Some(if m < n_i { m } else { period - m } as usize)
        }
    }
}

/// ONNX Pad: `pads` is all begins then all ends (length 2 * rank); negative values crop.
/// `out` has shape `shape[i] + pads[i] + pads[rank + i]`. Reflect/Edge need non-empty axes.
pub fn pad(input: &[f32], shape: &[usize], pads: &[i64], mode: PadMode, out: &mut [f32]) {
    let rank = shape.len();
    debug_assert_eq!(pads.len(), 2 * rank);
    debug_assert_eq!(input.len(), shape.iter().product::<usize>());
    let out_shape: Vec<usize> =
        (0..rank).map(|i| (shape[i] as i64 + pads[i] + pads[rank + i]).max(0) as usize).collect();
    debug_assert_eq!(out.len(), out_shape.iter().product::<usize>());
    if out.is_empty() {
        return;
    }
    if rank == 0 {
        out[0] = input[0];
        return;
    }
    let fill = match mode {
        PadMode::Constant(v) => v,
        _ => 0.0,
    };
    if input.is_empty() {
        out.fill(fill);
        return;
    }
    let in_strides = strides(shape);
    let last = rank - 1;
    let (inner, n_last, b_last) = (out_shape[last], shape[last], pads[last] as isize);
    // The contiguous run of the last axis that copies straight from the input: [lo, hi).
    let lo = (b_last.max(0) as usize).min(inner);
    let hi = ((b_last + n_last as isize).max(0) as usize).min(inner).max(lo);
    for_rows(out, inner, |r, o| {
        let (mut rem, mut base) = (r, 0);
        for i in (0..last).rev() {
            let idx = (rem % out_shape[i]) as isize;
            rem /= out_shape[i];
            match source(idx - pads[i] as isize, shape[i], mode) {
                Some(s) => base += s * in_strides[i],
                None => {
                    o.fill(fill);
                    return;
                }
            }
        }
        let row = &input[base..base + n_last];
        let border = |j: usize| source(j as isize - b_last, n_last, mode).map_or(fill, |s| row[s]);
        let (left, rest) = o.split_at_mut(lo);
        let (mid, right) = rest.split_at_mut(hi - lo);
        left.iter_mut().enumerate().for_each(|(j, v)| *v = border(j));
        right.iter_mut().enumerate().for_each(|(j, v)| *v = border(hi + j));
        let start = (lo as isize - b_last) as usize;
        mid.copy_from_slice(&row[start..start + mid.len()]);
    });
}

/// Concatenates `inputs` (each `(data, shape)`, all of equal rank and equal dims except `axis`)
/// along `axis` into `out`.
pub fn concat(inputs: &[(&[f32], &[usize])], axis: usize, out: &mut [f32]) {
    let Some(&(_, first)) = inputs.first() else { return };
    debug_assert!(axis < first.len());
    let outer: usize = first[..axis].iter().product();
    // Per input, the contiguous run it contributes to each outer row.
    let runs: Vec<usize> = inputs.iter().map(|(_, s)| s[axis..].iter().product()).collect();
    let row: usize = runs.iter().sum();
    debug_assert_eq!(out.len(), outer * row);
    debug_assert!(inputs.iter().zip(&runs).all(|((d, _), r)| d.len() == outer * r));
    if row == 0 {
        return;
    }
    for_rows(out, row, |r, o| {
        let mut at = 0;
        for ((data, _), &run) in inputs.iter().zip(&runs) {
            o[at..at + run].copy_from_slice(&data[r * run..(r + 1) * run]);
            at += run;
        }
    });
}

#[cfg(test)]
mod tests;

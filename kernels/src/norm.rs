//! Inference-mode batch normalisation.

use rayon::prelude::*;

/// `y = (x - mean) / sqrt(var + eps) * scale + bias` per channel (axis 1) of `x` viewed as
/// `[n, c, inner]`; all parameter slices have length `c`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    input: &[f32],
    n: usize,
    c: usize,
    inner: usize,
    scale: &[f32],
    bias: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    debug_assert_eq!(input.len(), n * c * inner);
    debug_assert_eq!(out.len(), input.len());
    debug_assert!([scale, bias, mean, var].iter().all(|p| p.len() == c));
    if input.is_empty() {
        return;
    }
    // Per-channel multiplier in f64 so the only f32 roundings are those of the formula itself.
    let mult: Vec<f32> =
        (0..c).map(|i| (scale[i] as f64 / (var[i] as f64 + eps as f64).sqrt()) as f32).collect();
    let plane = |idx: usize, x: &[f32], o: &mut [f32]| {
        let ch = idx % c;
        let (m, s, b) = (mean[ch], mult[ch], bias[ch]);
        o.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - m) * s + b);
    };
    if input.len() <= crate::PAR_CHUNK || inner == 0 {
        input.chunks(inner.max(1)).zip(out.chunks_mut(inner.max(1))).enumerate().for_each(|(i, (x, o))| plane(i, x, o));
    } else {
        input
            .par_chunks(inner)
            .zip(out.par_chunks_mut(inner))
            .enumerate()
            .with_min_len((crate::PAR_CHUNK / inner).max(1))
            .for_each(|(i, (x, o))| plane(i, x, o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, in_pool, Rng};

    #[test]
    fn hand_computed() {
        // Channel 0: (x - 1) / sqrt(3 + 1) * 2 + 0.5 ; channel 1: (x - 0) / sqrt(0 + 1) * -1 + 0.
        let x = [1.0, 3.0, 5.0, -2.0];
        let mut out = [0.0; 4];
        batch_norm(&x, 1, 2, 2, &[2.0, -1.0], &[0.5, 0.0], &[1.0, 0.0], &[3.0, 0.0], 1.0, &mut out);
        assert_eq!(out, [0.5, 2.5, -5.0, 2.0]);
    }

    #[test]
    fn matches_definition() {
        let mut rng = Rng::new(9);
        for &(n, c, inner) in &[(2, 3, 5), (1, 64, 3136), (3, 16, 1)] {
            let x = rng.vec(n * c * inner);
            let scale = rng.vec(c);
            let bias = rng.vec(c);
            let mean = rng.vec(c);
            let var: Vec<f32> = rng.vec(c).iter().map(|v| v.abs() + 0.1).collect();
            let eps = 1e-5;
            let want: Vec<f32> = (0..x.len())
                .map(|i| {
                    let ch = (i / inner) % c;
                    ((x[i] as f64 - mean[ch] as f64) / (var[ch] as f64 + eps as f64).sqrt() * scale[ch] as f64
                        + bias[ch] as f64) as f32
                })
                .collect();
            let mut out = vec![f32::NAN; x.len()];
            in_pool(|| batch_norm(&x, n, c, inner, &scale, &bias, &mean, &var, eps, &mut out));
            assert_close(&out, &want, 1e-5);
        }
    }
}

//! Squeeze-excitation as one kernel: pool, two small matrix-vector products, gate, scale.
//! Only vectors of length C and Cr are materialised, never a [N,C,1,1] tensor per step.

use crate::elementwise::Act;
use rayon::prelude::*;

/// Weights and activations of one SE block; w1 is [cr, c], w2 is [c, cr], row-major.
#[derive(Clone, Copy)]
pub struct SqueezeExcite<'a> {
    /// Reduction weights [cr, c].
    pub w1: &'a [f32],
    /// Reduction bias [cr].
    pub b1: &'a [f32],
    /// Expansion weights [c, cr].
    pub w2: &'a [f32],
    /// Expansion bias [c].
    pub b2: &'a [f32],
    /// Activation between the two products.
    pub act: &'a dyn Act,
    /// The gate (sigmoid or hard sigmoid).
    pub gate: &'a dyn Act,
}

/// y = x * gate(w2 · act(w1 · mean_hw(x) + b1) + b2) for x of shape [n, c, hw] (NCHW).
pub fn squeeze_excite(se: &SqueezeExcite<'_>, n: usize, c: usize, hw: usize, x: &[f32], out: &mut [f32]) {
    let cr = se.b1.len();
    debug_assert_eq!(se.w1.len(), cr * c);
    debug_assert_eq!(se.w2.len(), c * cr);
    debug_assert_eq!(x.len(), n * c * hw);
    for b in 0..n {
        let xb = &x[b * c * hw..(b + 1) * c * hw];
        let pooled: Vec<f32> = xb
            .par_chunks(hw.max(1))
            .map(|plane| (plane.iter().map(|&v| v as f64).sum::<f64>() / hw.max(1) as f64) as f32)
            .collect();
        let mut hidden: Vec<f32> = (0..cr)
            .map(|j| {
                let row = &se.w1[j * c..(j + 1) * c];
                row.iter().zip(&pooled).map(|(w, p)| w * p).sum::<f32>() + se.b1[j]
            })
            .collect();
        se.act.apply(&mut hidden);
        let mut gate: Vec<f32> = (0..c)
            .map(|i| {
                let row = &se.w2[i * cr..(i + 1) * cr];
                row.iter().zip(&hidden).map(|(w, h)| w * h).sum::<f32>() + se.b2[i]
            })
            .collect();
        se.gate.apply(&mut gate);
        out[b * c * hw..(b + 1) * c * hw]
            .par_chunks_mut(hw.max(1))
            .zip(xb.par_chunks(hw.max(1)))
            .zip(gate.par_iter())
            .for_each(|((o, xi), &g)| o.iter_mut().zip(xi).for_each(|(o, &v)| *o = v * g));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_unfused_definition() {
        // n=1, c=2, hw=2, cr=1, by hand: pooled = [2, 5]; hidden = relu(1*2 - 1*5 + 4) = 1;
        // gate = sigmoid([2*1 + 0, -1*1 + 1]) = [sigmoid(2), 0.5].
        let x = [1.0, 3.0, 4.0, 6.0];
        let relu = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = x.max(0.0));
        let sigmoid = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = crate::elementwise::sigmoid(*x));
        let se = SqueezeExcite { w1: &[1.0, -1.0], b1: &[4.0], w2: &[2.0, -1.0], b2: &[0.0, 1.0], act: &relu, gate: &sigmoid };
        let mut out = [0.0; 4];
        squeeze_excite(&se, 1, 2, 2, &x, &mut out);
        let s2 = 1.0 / (1.0 + (-2.0f32).exp());
        let want = [1.0 * s2, 3.0 * s2, 2.0, 3.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?} vs {want:?}");
        }
    }
}

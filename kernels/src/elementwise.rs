//! Unary activations (also fused into conv epilogues) and numpy-broadcasting binary arithmetic.

use rayon::prelude::*;

use crate::PAR_CHUNK;

/// A pointwise function applied in place: what a kernel runs in its epilogue (an activation
/// fused into a conv, an add or a squeeze-excitation). The IR's activation ops implement it;
/// kernels call it on contiguous runs of their output, serially (callers parallelise).
pub trait Act: Sync {
    /// `xs[i] = f(xs[i])`.
    fn apply(&self, xs: &mut [f32]);
    /// Whether `apply` leaves every value unchanged (kernels then skip the pass).
    fn is_identity(&self) -> bool {
        false
    }
}

/// The identity epilogue.
pub struct NoAct;

impl<F: Fn(&mut [f32]) + Sync> Act for F {
    fn apply(&self, xs: &mut [f32]) {
        self(xs)
    }
}

impl Act for NoAct {
    fn apply(&self, _: &mut [f32]) {}
    fn is_identity(&self) -> bool {
        true
    }
}

/// `x = act(x + bias)` in place: the fused epilogue of conv/gemm rows.
pub fn apply_with_bias(act: &dyn Act, xs: &mut [f32], bias: f32) {
    if bias != 0.0 {
        xs.iter_mut().for_each(|x| *x += bias);
    }
    act.apply(xs);
}

/// [`Act::apply`] parallelised over chunks for large slices.
pub fn apply_par(act: &dyn Act, xs: &mut [f32]) {
    if act.is_identity() {
        return;
    }
    if xs.len() <= PAR_CHUNK {
        act.apply(xs);
    } else {
        xs.par_chunks_mut(PAR_CHUNK).for_each(|c| act.apply(c));
    }
}

/// `min(max(x, lo), hi)`, written as comparisons so that NaN propagates like onnxruntime;
/// with `lo > hi` every result is `hi` (ONNX Clip).
#[inline(always)]
pub fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if y > hi {
        hi
    } else {
        y
    }
}

/// `1 / (1 + exp(-x))`, correct and finite for any finite x.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// e^x for f32 without a libm call, so loops over it vectorise (libm's `expf` cost 1.5 ns
/// per element and dominated SiLU-heavy models). x = n*ln2 + r with |r| <= ln2/2 and n an
/// integer; e^r from a degree-6 polynomial (relative error about 1e-7 over the range);
/// 2^n built in the exponent bits. Inputs are clamped to [-87, 88], so the result is
/// always finite and positive (e^-87 is 1.6e-38, e^88 is 1.7e38); NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so n*LN2_HI is exact for |n| <= 128.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer (ties to even) held in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n + 127 in the exponent field: n is the low bits of t's representation.
    let biased = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127);
    er * f32::from_bits(biased << 23)
}

/// `xs[i] = f(xs[i])` for functions built on [`exp`]. The crate is built for baseline x86-64
/// (SSE2); where the CPU has AVX2 and FMA (checked at run time) the loop is compiled for them,
/// which makes it 8 lanes wide with fused multiply-adds.
#[inline(always)]
pub fn map_transcendental(xs: &mut [f32], f: impl Fn(f32) -> f32 + Copy) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // Safety: the features this function is compiled for were just detected.
        unsafe { map_avx2(xs, f) };
        return;
    }
    xs.iter_mut().for_each(|x| *x = f(*x));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_avx2(xs: &mut [f32], f: impl Fn(f32) -> f32 + Copy) {
    xs.iter_mut().for_each(|x| *x = f(*x));
}

/// Arithmetic of [`binary`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b (IEEE: x/0 = ±inf)
    Div,
    /// max(a, b) (NaN if either is NaN)
    Max,
    /// min(a, b) (NaN if either is NaN)
    Min,
}

/// numpy-style broadcasting of `a` (shape `a_shape`) and `b` (shape `b_shape`) into `out`
/// (shape `out_shape`, the broadcast of the two, computed by the caller).
///
/// Shapes are right-aligned; every operand dim must equal the output dim or be 1.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    match op {
        BinaryOp::Add => binary_with(|x, y| x + y, a, a_shape, b, b_shape, out, out_shape),
        BinaryOp::Sub => binary_with(|x, y| x - y, a, a_shape, b, b_shape, out, out_shape),
        BinaryOp::Mul => binary_with(|x, y| x * y, a, a_shape, b, b_shape, out, out_shape),
        BinaryOp::Div => binary_with(|x, y| x / y, a, a_shape, b, b_shape, out, out_shape),
        BinaryOp::Max => binary_with(|x, y| if x.is_nan() || y.is_nan() { f32::NAN } else { x.max(y) }, a, a_shape, b, b_shape, out, out_shape),
        BinaryOp::Min => binary_with(|x, y| if x.is_nan() || y.is_nan() { f32::NAN } else { x.min(y) }, a, a_shape, b, b_shape, out, out_shape),
    }
}

/// The broadcast reduced to `rows` rows of `inner` elements: the collapsed output shape and,
/// per operand, an element stride for every collapsed dim (0 where that operand broadcasts).
struct Plan {
    dims: Vec<usize>,
    a_strides: Vec<usize>,
    b_strides: Vec<usize>,
}

/// Drops size-1 output dims and merges neighbours in which both operands behave alike
/// (both present, or one broadcast in both), so SE gates become [N*C, H*W] with a [N*C, 1] side.
fn plan(a_shape: &[usize], b_shape: &[usize], out_shape: &[usize]) -> Plan {
    let r = out_shape.len();
    let dim_of = |s: &[usize], i: usize| -> usize {
        let off = r - s.len();
        if i < off {
            1
        } else {
            s[i - off]
        }
    };
    // (size, a_broadcasts, b_broadcasts) per kept dim.
    let mut merged: Vec<(usize, bool, bool)> = Vec::with_capacity(r);
    for (i, &d) in out_shape.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let ab = dim_of(a_shape, i) == 1;
        let bb = dim_of(b_shape, i) == 1;
        match merged.last_mut() {
            Some(last) if last.1 == ab && last.2 == bb => last.0 *= d,
            _ => merged.push((d, ab, bb)),
        }
    }
    if merged.is_empty() {
        merged.push((1, false, false));
    }
    let strides = |pick: fn(&(usize, bool, bool)) -> bool| {
        let mut s = vec![0; merged.len()];
        let mut acc = 1;
        for (i, m) in merged.iter().enumerate().rev() {
            if !pick(m) {
                s[i] = acc;
                acc *= m.0;
            }
        }
        s
    };
    Plan {
        a_strides: strides(|m| m.1),
        b_strides: strides(|m| m.2),
        dims: merged.iter().map(|m| m.0).collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn binary_with<F: Fn(f32, f32) -> f32 + Sync + Copy>(
    f: F,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    let total: usize = out_shape.iter().product();
    debug_assert_eq!(out.len(), total);
    if total == 0 {
        return;
    }
    let p = plan(a_shape, b_shape, out_shape);
    let inner = *p.dims.last().unwrap_or(&1);
    let rank = p.dims.len();
    let (sa, sb) = (p.a_strides[rank - 1], p.b_strides[rank - 1]);
    debug_assert!(a.len() > p.dims.iter().zip(&p.a_strides).map(|(d, s)| (d - 1) * s).sum::<usize>());
    debug_assert!(b.len() > p.dims.iter().zip(&p.b_strides).map(|(d, s)| (d - 1) * s).sum::<usize>());

    // Element offsets of operand rows for a given row index of the collapsed output.
    let row_offsets = |row: usize| -> (usize, usize) {
        let (mut rem, mut oa, mut ob) = (row, 0, 0);
        for i in (0..rank - 1).rev() {
            let idx = rem % p.dims[i];
            rem /= p.dims[i];
            oa += idx * p.a_strides[i];
            ob += idx * p.b_strides[i];
        }
        (oa, ob)
    };
    let do_row = |row: usize, o: &mut [f32]| {
        let (oa, ob) = row_offsets(row);
        match (sa, sb) {
            (1, 1) => o.iter_mut().zip(&a[oa..oa + inner]).zip(&b[ob..ob + inner]).for_each(|((o, &x), &y)| *o = f(x, y)),
            (1, _) => {
                let y = b[ob];
                o.iter_mut().zip(&a[oa..oa + inner]).for_each(|(o, &x)| *o = f(x, y))
            }
            (_, 1) => {
                let x = a[oa];
                o.iter_mut().zip(&b[ob..ob + inner]).for_each(|(o, &y)| *o = f(x, y))
            }
            _ => o.fill(f(a[oa], b[ob])),
        }
    };
    // Rows per task: whole rows, roughly PAR_CHUNK elements.
    let rows_per_task = (PAR_CHUNK / inner).max(1);
    if total <= PAR_CHUNK {
        out.chunks_mut(inner).enumerate().for_each(|(r, o)| do_row(r, o));
    } else {
        out.par_chunks_mut(rows_per_task * inner).enumerate().for_each(|(t, chunk)| {
            for (i, o) in chunk.chunks_mut(inner).enumerate() {
                do_row(t * rows_per_task + i, o);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, in_pool, Rng};

    /// Direct definition: unravel each output index and pick operand elements by broadcasting.
    fn naive_binary(op: BinaryOp, a: &[f32], ash: &[usize], b: &[f32], bsh: &[usize], osh: &[usize]) -> Vec<f32> {
        let total: usize = osh.iter().product();
        let r = osh.len();
        let index = |sh: &[usize], idx: &[usize]| {
            let off = r - sh.len();
            let mut flat = 0;
            for (i, &d) in sh.iter().enumerate() {
                let c = if d == 1 { 0 } else { idx[off + i] };
                flat = flat * d + c;
            }
            flat
        };
        (0..total)
            .map(|mut f| {
                let mut idx = vec![0; r];
                for i in (0..r).rev() {
                    idx[i] = f % osh[i];
                    f /= osh[i];
                }
                let (x, y) = (a[index(ash, &idx)], b[index(bsh, &idx)]);
                match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    BinaryOp::Max => x.max(y),
                    BinaryOp::Min => x.min(y),
                }
            })
            .collect()
    }

    fn check(op: BinaryOp, ash: &[usize], bsh: &[usize], osh: &[usize], seed: u64) {
        let mut rng = Rng::new(seed);
        let a = rng.vec(ash.iter().product());
        let b: Vec<f32> = rng.vec(bsh.iter().product()).iter().map(|v| v + 3.0).collect();
        let mut out = vec![0.0; osh.iter().product()];
        in_pool(|| binary(op, &a, ash, &b, bsh, &mut out, osh));
        assert_close(&out, &naive_binary(op, &a, ash, &b, bsh, osh), 0.0);
    }

    #[test]
    fn hand_computed_broadcast_3x1_by_1x4() {
        let a = [1.0, 2.0, 3.0];
        let b = [10.0, 20.0, 30.0, 40.0];
        let mut out = [0.0; 12];
        binary(BinaryOp::Sub, &a, &[3, 1], &b, &[1, 4], &mut out, &[3, 4]);
        assert_eq!(out, [-9.0, -19.0, -29.0, -39.0, -8.0, -18.0, -28.0, -38.0, -7.0, -17.0, -27.0, -37.0]);
    }

    #[test]
    fn broadcast_patterns_match_naive() {
        let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min];
        let cases: &[(&[usize], &[usize], &[usize])] = &[
            (&[2, 3, 4, 5], &[2, 3, 4, 5], &[2, 3, 4, 5]),
            (&[2, 3, 4, 5], &[1], &[2, 3, 4, 5]),
            (&[], &[2, 3], &[2, 3]),
            (&[2, 8, 1, 1], &[2, 8, 6, 7], &[2, 8, 6, 7]),
            (&[2, 8, 6, 7], &[2, 8, 1, 1], &[2, 8, 6, 7]),
            (&[1, 8, 1, 1], &[2, 8, 6, 7], &[2, 8, 6, 7]),
            (&[8, 1, 1], &[2, 8, 6, 7], &[2, 8, 6, 7]),
            (&[3, 1], &[1, 4], &[3, 4]),
            (&[4], &[3, 1], &[3, 4]),
            (&[2, 1, 4], &[3, 1], &[2, 3, 4]),
            (&[1, 3, 1, 5], &[2, 1, 4, 1], &[2, 3, 4, 5]),
            (&[2, 1, 3, 1], &[2, 1, 3, 1], &[2, 1, 3, 1]),
        ];
        for (i, (a, b, o)) in cases.iter().enumerate() {
            for op in ops {
                check(op, a, b, o, i as u64);
            }
        }
    }

    #[test]
    fn large_se_gate_runs_in_parallel_chunks() {
        check(BinaryOp::Mul, &[1, 256, 56, 56], &[1, 256, 1, 1], &[1, 256, 56, 56], 7);
        check(BinaryOp::Mul, &[1, 256, 1, 1], &[1, 256, 56, 56], &[1, 256, 56, 56], 8);
        check(BinaryOp::Add, &[3, 70000], &[3, 1], &[3, 70000], 9);
        check(BinaryOp::Add, &[100000], &[100000], &[100000], 10);
    }

    #[test]
    fn exp_matches_f64_to_1e_6() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let got = super::exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 1e-6, "max relative error {worst:e}");
        assert!(super::exp(f32::NAN).is_nan());
        assert!(super::exp(-1e30) > 0.0 && super::exp(1e30).is_finite());
    }

    #[test]
    fn sigmoid_is_finite_for_extremes() {
        for x in [-1e30f32, -100.0, -89.0, 89.0, 100.0, 1e30] {
            let s = super::sigmoid(x);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "{x} -> {s}");
            assert!((x * s).is_finite() || x.abs() > 1e29);
        }
        // Below e^-87 the result is clamped to ~6e-39 rather than flushed to 0.
        assert!(super::sigmoid(-200.0) < 1e-38);
        assert_eq!(super::sigmoid(200.0), 1.0);
        let mut v = [1.0f32, f32::NAN, -3.0];
        map_transcendental(&mut v, super::sigmoid);
        assert!(v[1].is_nan() && (v[0] - 0.731_058_6).abs() < 1e-6);
    }
}

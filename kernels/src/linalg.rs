//! Matrix products: ONNX Gemm, numpy MatMul, and the safe wrapper over the `gemm` crate that
//! every other kernel (convolution included) goes through.

use gemm::Parallelism;
use rayon::prelude::*;

/// A strided read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Row stride in elements.
    pub rs: usize,
    /// Column stride in elements.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major `[rows, cols]` matrix, or its transpose view when `trans` (storage `[cols, rows]`).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, trans: bool) -> Self {
        if trans {
            MatRef { data, rs: 1, cs: rows }
        } else {
            MatRef { data, rs: cols, cs: 1 }
        }
    }

    /// True when every element of a `rows x cols` view lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// Parallelism for a `m x n x k` product: rayon over the current pool unless the problem is so
/// small that fork/join costs more than it saves.
pub fn parallelism_for(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if threads <= 1 || m.saturating_mul(n).saturating_mul(k) < 64 * 64 * 64 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// `out[m, n] (row-major, contiguous) = alpha * a * b (+ out if accumulate)`.
///
/// Panics if a view does not fit its slice: that check is what makes the wrapped unsafe call
/// sound, and it costs O(1).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    alpha: f32,
    accumulate: bool,
    out: &mut [f32],
    par: Parallelism,
) {
    assert!(a.fits(m, k) && b.fits(k, n) && out.len() >= m * n, "sgemm operand out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the assert above guarantees every (i, p) of `a` (i < m, p < k), every (p, j) of `b`
    // and every (i, j) of `out` at the strides passed is in bounds of its slice; `out` is borrowed
    // mutably so it aliases neither input; strides fit in isize because they index live slices.
    // gemm computes dst := alpha*dst + beta*lhs*rhs and ignores dst's old value when
    // read_dst == false.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            par,
        );
    }
}

/// ONNX Gemm: `Y = alpha * op(A) * op(B) + beta * C`.
///
/// `a` is `[m, k]` (`[k, m]` if `trans_a`), `b` is `[k, n]` (`[n, k]` if `trans_b`), `out` is
/// `[m, n]`. `c` is `(data, shape)` with shape of rank 0..=2 unidirectionally broadcastable to
/// `[m, n]` (`[]`, `[1]`, `[n]`, `[1, n]`, `[m, 1]`, `[m, n]`).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
    alpha: f32,
    beta: f32,
    c: Option<(&[f32], &[usize])>,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), m * n);
    let mut accumulate = false;
    if let Some((cdata, cshape)) = c {
        if beta != 0.0 && m * n > 0 {
            let (cr, cc) = match *cshape {
                [] => (1, 1),
                [x] => (1, x),
                [r, c] => (r, c),
                _ => {
                    debug_assert!(false, "C must have rank <= 2");
                    (1, 1)
                }
            };
            debug_assert!((cr == 1 || cr == m) && (cc == 1 || cc == n));
            for (i, row) in out.chunks_mut(n).enumerate() {
                let crow = if cr == 1 { 0 } else { i * cc };
                if cc == 1 {
                    row.fill(beta * cdata[crow]);
                } else {
                    row.iter_mut().zip(&cdata[crow..crow + n]).for_each(|(o, &v)| *o = beta * v);
                }
            }
            accumulate = true;
        }
    }
    sgemm(
        m,
        n,
        k,
        MatRef::row_major(a, m, k, trans_a),
        MatRef::row_major(b, k, n, trans_b),
        alpha,
        accumulate,
        out,
        parallelism_for(m, n, k),
    );
}

/// numpy `matmul` with batch broadcasting.
///
/// Shapes have rank >= 1. A 1-D `a` is treated as `[1, k]` and a 1-D `b` as `[k, 1]`, with the
/// added dim absent from `out_shape`, as numpy does. Batch dims (all but the last two) broadcast.
pub fn matmul(a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out: &mut [f32], out_shape: &[usize]) {
    debug_assert!(!a_shape.is_empty() && !b_shape.is_empty());
    let (m, k) = match a_shape {
        [k] => (1, *k),
        [.., m, k] => (*m, *k),
        [] => return,
    };
    let n = match b_shape {
        [_] => 1,
        [.., kb, n] => {
            debug_assert_eq!(*kb, k);
            *n
        }
        [] => return,
    };
    let a_batch = &a_shape[..a_shape.len().saturating_sub(2)];
    let b_batch = &b_shape[..b_shape.len().saturating_sub(2)];
    let rank = a_batch.len().max(b_batch.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
    let (ab, bb) = (pad(a_batch), pad(b_batch));
    let batch: Vec<usize> = ab.iter().zip(&bb).map(|(&x, &y)| x.max(y)).collect();
    let nbatch: usize = batch.iter().product();
    debug_assert_eq!(out.len(), nbatch * m * n);
    debug_assert_eq!(out_shape.iter().product::<usize>(), nbatch * m * n);
    if nbatch * m * n == 0 {
        return;
    }

    // When only `a` has batch dims they fold into m: one big product instead of many small ones.
    if bb.iter().all(|&d| d == 1) {
        let rows = nbatch * m;
        sgemm(
            rows,
            n,
            k,
            MatRef::row_major(a, rows, k, false),
            MatRef::row_major(b, k, n, false),
            1.0,
            false,
            out,
            parallelism_for(rows, n, k),
        );
        return;
    }

    // Offsets of batch item `t` in a and b, broadcasting size-1 dims.
    let offsets = |mut t: usize| -> (usize, usize) {
        let (mut oa, mut ob, mut sa, mut sb) = (0, 0, m * k, k * n);
        for i in (0..rank).rev() {
            let idx = t % batch[i];
            t /= batch[i];
            if ab[i] != 1 {
                oa += idx * sa;
            }
            if bb[i] != 1 {
                ob += idx * sb;
            }
            sa *= ab[i];
            sb *= bb[i];
        }
        (oa, ob)
    };
    let one = |t: usize, o: &mut [f32], par: Parallelism| {
        let (oa, ob) = offsets(t);
        sgemm(
            m,
            n,
            k,
            MatRef::row_major(&a[oa..oa + m * k], m, k, false),
            MatRef::row_major(&b[ob..ob + k * n], k, n, false),
            1.0,
            false,
            o,
            par,
        );
    };
    let par = parallelism_for(m, n, k);
    if matches!(par, Parallelism::None) {
        out.par_chunks_mut(m * n).enumerate().for_each(|(t, o)| one(t, o, Parallelism::None));
    } else {
        out.chunks_mut(m * n).enumerate().for_each(|(t, o)| one(t, o, par));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close_scaled as assert_close, in_pool, Rng};

    /// Triple loop from the definition, f64 accumulation.
    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let x = if ta { a[p * m + i] } else { a[i * k + p] };
                    let y = if tb { b[j * k + p] } else { b[p * n + j] };
                    s += x as f64 * y as f64;
                }
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn gemm_hand_computed() {
        // [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]; 2*that + 0.5*[10,20] (C of shape [n]).
        let mut out = [0.0; 4];
        gemm(2, 2, 2, &[1., 2., 3., 4.], false, &[5., 6., 7., 8.], false, 2.0, 0.5, Some((&[10., 20.], &[2])), &mut out);
        assert_eq!(out, [43.0, 54.0, 91.0, 110.0]);
    }

    #[test]
    fn gemm_all_transposes_and_c_shapes() {
        let mut rng = Rng::new(1);
        for &(m, n, k) in &[(3, 5, 7), (1, 1, 1), (17, 33, 9), (70, 80, 90), (5, 4, 0)] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let c_full = rng.vec(m * n);
            for ta in [false, true] {
                for tb in [false, true] {
                    let prod = naive(m, n, k, &a, ta, &b, tb);
                    // (C shape, element strides of C along m and n under broadcasting).
                    let c_cases: [(Vec<usize>, usize, usize); 5] =
                        [(vec![], 0, 0), (vec![n], 0, 1), (vec![1, n], 0, 1), (vec![m, 1], 1, 0), (vec![m, n], n, 1)];
                    for (cs, rs_c, cs_c) in &c_cases {
                        let (alpha, beta) = (0.75, -1.5);
                        let want: Vec<f32> = (0..m * n)
                            .map(|e| alpha * prod[e] + beta * c_full[(e / n) * rs_c + (e % n) * cs_c])
                            .collect();
                        let mut out = vec![f32::NAN; m * n];
                        in_pool(|| gemm(m, n, k, &a, ta, &b, tb, alpha, beta, Some((&c_full, cs)), &mut out));
                        assert_close(&out, &want, 1e-5);
                    }
                    let mut out = vec![f32::NAN; m * n];
                    in_pool(|| gemm(m, n, k, &a, ta, &b, tb, 1.0, 1.0, None, &mut out));
                    assert_close(&out, &prod, 1e-5);
                }
            }
        }
    }

    fn check_matmul(ash: &[usize], bsh: &[usize], osh: &[usize], seed: u64) {
        let mut rng = Rng::new(seed);
        let a = rng.vec(ash.iter().product());
        let b = rng.vec(bsh.iter().product());
        let mut out = vec![f32::NAN; osh.iter().product()];
        in_pool(|| matmul(&a, ash, &b, bsh, &mut out, osh));
        // Independent reference: explicit numpy rules, element by element.
        let a2: Vec<usize> = if ash.len() == 1 { vec![1, ash[0]] } else { ash.to_vec() };
        let b2: Vec<usize> = if bsh.len() == 1 { vec![bsh[0], 1] } else { bsh.to_vec() };
        let (m, k, n) = (a2[a2.len() - 2], a2[a2.len() - 1], b2[b2.len() - 1]);
        let (abat, bbat) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
        let r = abat.len().max(bbat.len());
        let get = |sh: &[usize], idx: &[usize]| -> usize {
            let off = r - sh.len();
            sh.iter().enumerate().fold(0, |f, (i, &d)| f * d + if d == 1 { 0 } else { idx[off + i] })
        };
        let batch: Vec<usize> = (0..r)
            .map(|i| {
                let d = |sh: &[usize]| if i + sh.len() >= r { sh[i + sh.len() - r] } else { 1 };
                d(abat).max(d(bbat))
            })
            .collect();
        let nb: usize = batch.iter().product();
        let mut want = vec![0.0; nb * m * n];
        for t in 0..nb {
            let mut idx = vec![0; r];
            let mut rem = t;
            for i in (0..r).rev() {
                idx[i] = rem % batch[i];
                rem /= batch[i];
            }
            let (ao, bo) = (get(abat, &idx) * m * k, get(bbat, &idx) * k * n);
            let w = naive(m, n, k, &a[ao..ao + m * k], false, &b[bo..bo + k * n], false);
            want[t * m * n..(t + 1) * m * n].copy_from_slice(&w);
        }
        assert_close(&out, &want, 1e-5);
    }

    #[test]
    fn matmul_batch_broadcast_and_vectors() {
        check_matmul(&[2, 3, 4], &[4, 5], &[2, 3, 5], 1);
        check_matmul(&[4, 5], &[2, 3, 5, 6], &[2, 3, 4, 6], 2);
        check_matmul(&[2, 1, 3, 4], &[1, 5, 4, 2], &[2, 5, 3, 2], 3);
        check_matmul(&[6, 64, 64], &[6, 64, 80], &[6, 64, 80], 4);
        check_matmul(&[4], &[4, 3], &[3], 5);
        check_matmul(&[2, 3, 4], &[4], &[2, 3], 6);
        check_matmul(&[4], &[4], &[], 7);
        check_matmul(&[1, 2048], &[2048, 100], &[1, 100], 8);
    }
}

use super::*;
use crate::testutil::{in_pool, Rng};

fn unravel(mut f: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = f % shape[i];
        f /= shape[i];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |f, (&i, &d)| f * d + i)
}

#[test]
fn transpose_hand_computed() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut out = [0.0; 6];
    transpose(&x, &[2, 3], &[1, 0], &mut out);
    assert_eq!(out, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
}

#[test]
fn transpose_matches_naive() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[2, 3, 4, 5], &[0, 2, 3, 1]),
        (&[2, 3, 4, 5], &[0, 3, 1, 2]),
        (&[2, 3, 4, 5], &[3, 2, 1, 0]),
        (&[2, 3, 4, 5], &[0, 1, 2, 3]),
        (&[2, 3, 4, 5], &[2, 3, 0, 1]),
        (&[1, 3, 1, 5], &[3, 2, 0, 1]),
        (&[7], &[0]),
        (&[1, 256, 56, 56], &[0, 2, 3, 1]),
    ];
    for (ci, (shape, perm)) in cases.iter().enumerate() {
        let x = Rng::new(ci as u64).vec(shape.iter().product());
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let mut want = vec![0.0; x.len()];
        for (f, w) in want.iter_mut().enumerate() {
            let oi = unravel(f, &out_shape);
            let mut ii = vec![0; shape.len()];
            for (k, &p) in perm.iter().enumerate() {
                ii[p] = oi[k];
            }
            *w = x[ravel(&ii, shape)];
        }
        let mut out = vec![f32::NAN; x.len()];
        in_pool(|| transpose(&x, shape, perm, &mut out));
        assert_eq!(out, want, "case {ci}");
    }
}

#[test]
fn pad_hand_computed() {
    let x = [1.0, 2.0, 3.0];
    let mut out = [0.0; 7];
    pad(&x, &[3], &[2, 2], PadMode::Reflect, &mut out);
    assert_eq!(out, [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
    pad(&x, &[3], &[2, 2], PadMode::Edge, &mut out);
    assert_eq!(out, [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]);
    pad(&x, &[3], &[1, 3], PadMode::Constant(9.0), &mut out);
    assert_eq!(out, [9.0, 1.0, 2.0, 3.0, 9.0, 9.0, 9.0]);
    let mut out = [0.0; 2];
    pad(&x, &[3], &[-1, 0], PadMode::Constant(0.0), &mut out);
    assert_eq!(out, [2.0, 3.0]);
    // 2-D: [[1,2],[3,4]] padded one row on top (constant 0) and cropped one column on the left.
    let mut out = [0.0; 3];
    pad(&[1.0, 2.0, 3.0, 4.0], &[2, 2], &[1, -1, 0, 0], PadMode::Constant(0.0), &mut out);
    assert_eq!(out, [0.0, 2.0, 4.0]);
}

/// Definition: numpy-style index mapping per axis, written independently of `source`.
fn naive_pad(x: &[f32], shape: &[usize], pads: &[i64], mode: PadMode) -> Vec<f32> {
    let r = shape.len();
    let out_shape: Vec<usize> = (0..r).map(|i| (shape[i] as i64 + pads[i] + pads[r + i]) as usize).collect();
    let total: usize = out_shape.iter().product();
    (0..total)
        .map(|f| {
            let oi = unravel(f, &out_shape);
            let mut ii = vec![0; r];
            for a in 0..r {
                let n = shape[a] as i64;
                let mut i = oi[a] as i64 - pads[a];
                if i < 0 || i >= n {
                    match mode {
                        PadMode::Constant(v) => return v,
                        PadMode::Edge => i = i.clamp(0, n - 1),
                        PadMode::Reflect => {
                            // Bounce off the edges until inside.
                            while i < 0 || i >= n {
                                if i < 0 {
                                    i = -i;
                                }
                                if i >= n {
                                    i = 2 * (n - 1) - i;
                                }
                            }
                        }
                    }
                }
                ii[a] = i as usize;
            }
            x[ravel(&ii, shape)]
        })
        .collect()
}

#[test]
fn pad_matches_naive() {
    let cases: &[(&[usize], &[i64])] = &[
        (&[2, 3, 4, 5], &[0, 0, 1, 2, 0, 0, 2, 1]),
        (&[2, 3, 4, 5], &[1, 0, 0, 3, 0, 1, 2, 0]),
        (&[2, 3, 4, 5], &[0, -1, 1, -2, 0, 0, -1, 2]),
        (&[3, 4], &[2, 3, 2, 3]),
        (&[3, 4], &[5, 7, 6, 8]),
        (&[1, 64, 56, 56], &[0, 0, 1, 1, 0, 0, 1, 1]),
    ];
    for (ci, (shape, pads)) in cases.iter().enumerate() {
        let x = Rng::new(ci as u64).vec(shape.iter().product());
        for mode in [PadMode::Constant(0.25), PadMode::Reflect, PadMode::Edge] {
            let want = naive_pad(&x, shape, pads, mode);
            let mut out = vec![f32::NAN; want.len()];
            in_pool(|| pad(&x, shape, pads, mode, &mut out));
            assert_eq!(out, want, "case {ci} {mode:?}");
        }
    }
}

#[test]
fn concat_on_several_axes() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0];
    let mut out = [0.0; 6];
    concat(&[(&a, &[2, 2]), (&b, &[1, 2])], 0, &mut out);
    assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    concat(&[(&a, &[2, 2]), (&b, &[2, 1])], 1, &mut out);
    assert_eq!(out, [1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);

    let mut rng = Rng::new(5);
    let shapes: [&[usize]; 3] = [&[2, 3, 4, 5], &[2, 1, 4, 5], &[2, 6, 4, 5]];
    let xs: Vec<Vec<f32>> = shapes.iter().map(|s| rng.vec(s.iter().product())).collect();
    let inputs: Vec<(&[f32], &[usize])> = xs.iter().map(|v| &v[..]).zip(shapes).collect();
    let mut out = vec![f32::NAN; 2 * 10 * 20];
    concat(&inputs, 1, &mut out);
    for (f, &v) in out.iter().enumerate() {
        let idx = unravel(f, &[2, 10, 4, 5]);
        let (which, c) = if idx[1] < 3 { (0, idx[1]) } else if idx[1] < 4 { (1, idx[1] - 3) } else { (2, idx[1] - 4) };
        assert_eq!(v, xs[which][ravel(&[idx[0], c, idx[2], idx[3]], shapes[which])]);
    }
    // Last axis.
    let mut out = vec![0.0; 3 * 7];
    let (p, q) = (rng.vec(3 * 3), rng.vec(3 * 4));
    concat(&[(&p, &[3, 3]), (&q, &[3, 4])], 1, &mut out);
    for r in 0..3 {
        assert_eq!(&out[r * 7..r * 7 + 3], &p[r * 3..r * 3 + 3]);
        assert_eq!(&out[r * 7 + 3..r * 7 + 7], &q[r * 4..r * 4 + 4]);
    }
}

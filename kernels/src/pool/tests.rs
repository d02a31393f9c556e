use super::*;
use crate::testutil::{assert_close, in_pool, Rng};

#[allow(clippy::too_many_arguments)]
fn geom(n: usize, c: usize, h: usize, w: usize, k: [usize; 2], stride: [usize; 2], dilation: [usize; 2], pads: [usize; 4], ceil_mode: bool, count_include_pad: bool) -> Pool2d {
    Pool2d { n, c, h, w, kh: k[0], kw: k[1], stride, dilation, pads, ceil_mode, count_include_pad }
}

/// Definition: classify every tap of every window as input, explicit padding, or overhang.
fn naive(p: &Pool2d, x: &[f32], max: bool) -> Vec<f32> {
    let (oh, ow) = p.out_hw();
    let mut out = Vec::new();
    for plane in 0..p.n * p.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut m, mut s, mut inside, mut padded) = (f32::NEG_INFINITY, 0.0f64, 0, 0);
                for ky in 0..p.kh {
                    for kx in 0..p.kw {
                        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads[0] as isize;
                        let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads[1] as isize;
                        let in_pad_y = iy >= -(p.pads[0] as isize) && iy < (p.h + p.pads[2]) as isize;
                        let in_pad_x = ix >= -(p.pads[1] as isize) && ix < (p.w + p.pads[3]) as isize;
                        if in_pad_y && in_pad_x {
                            padded += 1;
                        }
                        if iy >= 0 && ix >= 0 && (iy as usize) < p.h && (ix as usize) < p.w {
                            let v = x[(plane * p.h + iy as usize) * p.w + ix as usize];
                            m = m.max(v);
                            s += v as f64;
                            inside += 1;
                        }
                    }
                }
                let div = if p.count_include_pad { padded } else { inside };
                out.push(if max { m } else { (s / div as f64) as f32 });
            }
        }
    }
    out
}

fn check(p: &Pool2d, seed: u64) {
    let x = Rng::new(seed).vec(p.n * p.c * p.h * p.w);
    let (oh, ow) = p.out_hw();
    let mut out = vec![f32::NAN; p.n * p.c * oh * ow];
    in_pool(|| max_pool2d(p, &x, &mut out));
    assert_close(&out, &naive(p, &x, true), 0.0);
    in_pool(|| avg_pool2d(p, &x, &mut out));
    assert_close(&out, &naive(p, &x, false), 1e-6);
}

#[test]
fn out_hw_ceil_mode_rules() {
    let p = |h, k, s, pb, pe, ceil| geom(1, 1, h, h, [k, k], [s, s], [1, 1], [pb, pb, pe, pe], ceil, false).out_hw().0;
    assert_eq!(p(4, 3, 2, 0, 0, false), 1);
    assert_eq!(p(4, 3, 2, 0, 0, true), 2);
    assert_eq!(p(112, 3, 2, 1, 1, false), 56);
    assert_eq!(p(112, 3, 2, 0, 0, true), 56);
    // Last window would start in the end padding: dropped.
    assert_eq!(p(3, 2, 2, 1, 1, true), 2);
    assert_eq!(p(5, 2, 2, 0, 2, true), 3);
}

#[test]
fn hand_computed_ceil_mode() {
    let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let mut out = [0.0; 4];
    for include_pad in [false, true] {
        let p = geom(1, 1, 4, 4, [3, 3], [2, 2], [1, 1], [0; 4], true, include_pad);
        max_pool2d(&p, &x, &mut out);
        assert_eq!(out, [11.0, 12.0, 15.0, 16.0]);
        avg_pool2d(&p, &x, &mut out);
        assert_eq!(out, [6.0, 7.5, 12.0, 13.5], "overhang never counts (include_pad={include_pad})");
    }
    let mut out = [0.0; 9];
    let p = geom(1, 1, 4, 4, [3, 3], [2, 2], [1, 1], [1; 4], true, true);
    avg_pool2d(&p, &x, &mut out);
    assert_eq!((out[0], out[8]), (14.0 / 9.0, 4.0));
    let p = Pool2d { count_include_pad: false, ..p };
    avg_pool2d(&p, &x, &mut out);
    assert_eq!((out[0], out[8]), (3.5, 16.0));
}

#[test]
fn pools_match_naive() {
    let mut seed = 0;
    for ceil in [false, true] {
        for include_pad in [false, true] {
            let cases = [
                geom(1, 3, 9, 9, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], ceil, include_pad),
                geom(2, 2, 10, 7, [3, 2], [2, 3], [1, 1], [0, 1, 2, 0], ceil, include_pad),
                geom(1, 2, 11, 11, [3, 3], [2, 2], [2, 2], [1, 2, 1, 0], ceil, include_pad),
                geom(1, 1, 8, 8, [2, 2], [3, 3], [1, 1], [0; 4], ceil, include_pad),
                geom(1, 64, 112, 112, [3, 3], [2, 2], [1, 1], [1; 4], ceil, include_pad),
                geom(1, 1, 5, 5, [2, 2], [2, 2], [1, 1], [0, 0, 2, 2], ceil, include_pad),
            ];
            for p in &cases {
                seed += 1;
                check(p, seed);
            }
        }
    }
}

#[test]
fn global_average() {
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let mut out = [0.0; 3];
    global_avg_pool(3, 4, &x, &mut out);
    assert_eq!(out, [1.5, 5.5, 9.5]);
    let x = Rng::new(3).vec(512 * 49);
    let mut out = vec![0.0; 512];
    in_pool(|| global_avg_pool(512, 49, &x, &mut out));
    let want: Vec<f32> = x.chunks(49).map(|c| (c.iter().map(|&v| v as f64).sum::<f64>() / 49.0) as f32).collect();
    assert_close(&out, &want, 1e-7);
}

fn nd_of(p: &Pool2d) -> PoolNd {
    PoolNd {
        n: p.n,
        c: p.c,
        dims: vec![p.h, p.w],
        kernel: vec![p.kh, p.kw],
        stride: p.stride.to_vec(),
        dilation: p.dilation.to_vec(),
        pads: p.pads.to_vec(),
        ceil_mode: p.ceil_mode,
        count_include_pad: p.count_include_pad,
    }
}

/// The N-D kernels on two spatial axes agree with the definition, as the 2-D ones do.
#[test]
fn nd_pools_match_naive_in_2d() {
    let mut seed = 100;
    for ceil in [false, true] {
        for include_pad in [false, true] {
            for p in [
                geom(1, 3, 9, 9, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], ceil, include_pad),
                geom(2, 2, 10, 7, [3, 2], [2, 3], [2, 1], [0, 1, 2, 0], ceil, include_pad),
                geom(1, 2, 11, 11, [3, 3], [2, 2], [2, 3], [1, 2, 1, 0], ceil, include_pad),
                geom(1, 1, 5, 5, [2, 2], [2, 2], [1, 1], [0, 0, 2, 2], ceil, include_pad),
            ] {
                seed += 1;
                let x = Rng::new(seed).vec(p.n * p.c * p.h * p.w);
                let nd = nd_of(&p);
                let (oh, ow) = p.out_hw();
                assert_eq!(nd.out_dims(), vec![oh, ow]);
                let mut out = vec![f32::NAN; p.n * p.c * oh * ow];
                in_pool(|| max_pool_nd(&nd, &x, &mut out));
                assert_close(&out, &naive(&p, &x, true), 0.0);
                in_pool(|| avg_pool_nd(&nd, &x, &mut out));
                assert_close(&out, &naive(&p, &x, false), 1e-6);
            }
        }
    }
}

/// One and three spatial axes: a 1-D pool is the 2-D pool of height 1, and a 3-D pool with a
/// depth window of 1 is the 2-D pool of every depth slice.
#[test]
fn nd_pools_in_1d_and_3d() {
    let x = Rng::new(7).vec(2 * 3 * 13);
    let p1 = PoolNd { n: 2, c: 3, dims: vec![13], kernel: vec![3], stride: vec![2], dilation: vec![2], pads: vec![1, 2], ceil_mode: true, count_include_pad: true };
    let p2 = geom(2, 3, 1, 13, [1, 3], [1, 2], [1, 2], [0, 1, 0, 2], true, true);
    let (oh, ow) = p2.out_hw();
    assert_eq!((oh, p1.out_dims()), (1, vec![ow]));
    let (mut a, mut b) = (vec![0.0; 2 * 3 * ow], vec![0.0; 2 * 3 * ow]);
    max_pool_nd(&p1, &x, &mut a);
    max_pool2d(&p2, &x, &mut b);
    assert_eq!(a, b);
    avg_pool_nd(&p1, &x, &mut a);
    avg_pool2d(&p2, &x, &mut b);
    assert_close(&a, &b, 1e-6);

    let (d, h, w) = (4, 6, 5);
    let x = Rng::new(8).vec(d * h * w);
    let p3 = PoolNd { n: 1, c: 1, dims: vec![d, h, w], kernel: vec![1, 3, 2], stride: vec![1, 2, 1], dilation: vec![1, 1, 2], pads: vec![0, 1, 0, 0, 1, 1], ceil_mode: false, count_include_pad: false };
    let p2 = geom(1, 1, h, w, [3, 2], [2, 1], [1, 2], [1, 0, 1, 1], false, false);
    let (oh, ow) = p2.out_hw();
    assert_eq!(p3.out_dims(), vec![d, oh, ow]);
    let mut a = vec![0.0; d * oh * ow];
    avg_pool_nd(&p3, &x, &mut a);
    for z in 0..d {
        let mut b = vec![0.0; oh * ow];
        avg_pool2d(&p2, &x[z * h * w..(z + 1) * h * w], &mut b);
        assert_close(&a[z * oh * ow..(z + 1) * oh * ow], &b, 1e-6);
    }
}

use super::*;
use crate::testutil::{assert_close_scaled, in_pool, Rng, TestAct};

/// Convolution straight from the definition, f64 accumulation.
fn naive(p: &Conv2d, x: &[f32], wt: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow) = p.out_hw();
    let (cig, cog) = (p.c_in / p.group, p.c_out / p.group);
    let mut out = vec![0.0; p.n * p.c_out * oh * ow];
    for b in 0..p.n {
        for oc in 0..p.c_out {
            let g = oc / cog;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |v| v[oc] as f64);
                    for icg in 0..cig {
                        let ic = g * cig + icg;
                        for ky in 0..p.kh {
                            for kx in 0..p.kw {
                                let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads[0] as isize;
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                    continue;
                                }
                                let xv = x[((b * p.c_in + ic) * p.h + iy as usize) * p.w + ix as usize];
                                let wv = wt[((oc * cig + icg) * p.kh + ky) * p.kw + kx];
                                s += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out[((b * p.c_out + oc) * oh + oy) * ow + ox] = s as f32;
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn geom(n: usize, c_in: usize, h: usize, w: usize, c_out: usize, k: [usize; 2], stride: [usize; 2], dilation: [usize; 2], pads: [usize; 4], group: usize) -> Conv2d {
    Conv2d { n, c_in, h, w, c_out, kh: k[0], kw: k[1], stride, dilation, pads, group }
}

fn check(p: &Conv2d, act: TestAct, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = rng.vec(p.n * p.c_in * p.h * p.w);
    let wt = rng.vec(p.c_out * (p.c_in / p.group) * p.kh * p.kw);
    let bias = rng.vec(p.c_out);
    let (oh, ow) = p.out_hw();
    for with_bias in [false, true] {
        let b = with_bias.then_some(&bias[..]);
        let mut want = naive(p, &x, &wt, b);
        crate::Act::apply(&act, &mut want);
        let mut out = vec![f32::NAN; p.n * p.c_out * oh * ow];
        in_pool(|| conv2d(p, &x, &wt, b, &act, &mut out));
        assert_close_scaled(&out, &want, 1e-5);
    }
}

#[test]
fn hand_computed_3x3_padded() {
    // 1x1x3x3 input 1..9, all-ones 3x3 kernel, pad 1: each output is the sum of its neighbourhood.
    let p = geom(1, 1, 3, 3, 1, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1);
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let mut out = [0.0; 9];
    conv2d(&p, &x, &[1.0; 9], Some(&[0.5]), &crate::NoAct, &mut out);
    assert_eq!(out, [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5]);
}

#[test]
fn hand_computed_asymmetric_pad_stride2() {
    // 1x1x4x4 input 0..15, 2x2 kernel [[1,0],[0,-1]], stride 2, pads top 1 left 0 bottom 0 right 1.
    let p = geom(1, 1, 4, 4, 1, [2, 2], [2, 2], [1, 1], [1, 0, 0, 1], 1);
    assert_eq!(p.out_hw(), (2, 2));
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let mut out = [0.0; 4];
    conv2d(&p, &x, &[1.0, 0.0, 0.0, -1.0], None, &TestAct::Relu, &mut out);
    // Windows start at rows -1, 1 and cols 0, 2; output = x[r][c] - x[r+1][c+1] (pad reads 0):
    // 0-1, 0-3, 4-9, 6-11 -> all negative -> relu gives 0; the mirrored kernel gives 1, 3, 5, 5.
    assert_eq!(out, [0.0, 0.0, 0.0, 0.0]);
    conv2d(&p, &x, &[-1.0, 0.0, 0.0, 1.0], None, &crate::NoAct, &mut out);
    assert_eq!(out, [1.0, 3.0, 5.0, 5.0]);
}

#[test]
fn pointwise_fast_path() {
    check(&geom(1, 16, 7, 9, 24, [1, 1], [1, 1], [1, 1], [0; 4], 1), TestAct::Relu, 1);
    check(&geom(2, 64, 14, 14, 96, [1, 1], [1, 1], [1, 1], [0; 4], 1), TestAct::None, 2);
    check(&geom(1, 64, 8, 8, 64, [1, 1], [1, 1], [1, 1], [0; 4], 2), TestAct::Silu, 3);
}

#[test]
fn strided_and_padded_1x1_use_general_path() {
    check(&geom(1, 32, 9, 9, 16, [1, 1], [2, 2], [1, 1], [0; 4], 1), TestAct::None, 4);
    check(&geom(1, 8, 5, 6, 4, [1, 1], [1, 1], [1, 1], [1, 0, 2, 1], 1), TestAct::None, 5);
}

#[test]
fn general_kernels_pads_dilation_strides() {
    let cases = [
        geom(1, 3, 11, 13, 8, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1),
        geom(2, 4, 10, 9, 6, [3, 2], [1, 1], [1, 1], [0, 2, 1, 0], 1),
        geom(1, 5, 12, 12, 7, [3, 3], [1, 1], [2, 3], [2, 3, 2, 3], 1),
        geom(1, 3, 23, 23, 8, [7, 7], [2, 2], [1, 1], [3, 3, 3, 3], 1),
        geom(1, 4, 13, 11, 5, [2, 2], [3, 4], [1, 1], [0, 0, 0, 0], 1),
        geom(1, 2, 6, 6, 3, [3, 3], [2, 1], [2, 1], [3, 0, 0, 4], 1),
        geom(1, 2, 3, 3, 2, [5, 5], [1, 1], [1, 1], [2, 2, 2, 2], 1),
        geom(1, 16, 20, 20, 32, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 1),
    ];
    for (i, p) in cases.iter().enumerate() {
        check(p, TestAct::Clip { min: -0.5, max: 0.5 }, 10 + i as u64);
    }
}

#[test]
fn grouped_convs() {
    check(&geom(1, 8, 9, 9, 6, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 2), TestAct::Relu, 20);
    check(&geom(2, 6, 7, 8, 4, [3, 1], [2, 1], [1, 2], [1, 0, 0, 2], 2), TestAct::None, 21);
    // ResNeXt: 32 groups of 4 channels, stride 1 and 2.
    check(&geom(1, 128, 14, 14, 128, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 32), TestAct::Relu, 22);
    check(&geom(1, 128, 15, 15, 128, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 32), TestAct::Relu, 23);
    check(&geom(1, 64, 10, 10, 128, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 32), TestAct::None, 24);
    // Two big groups: parallelism inside each group's GEMM instead of across groups.
    check(&geom(1, 128, 16, 16, 128, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 2), TestAct::Relu, 25);
}

#[test]
fn depthwise_convs() {
    check(&geom(1, 8, 9, 10, 8, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 8), TestAct::HardSwish, 30);
    check(&geom(2, 6, 11, 11, 6, [5, 5], [2, 2], [1, 1], [2, 1, 2, 3], 6), TestAct::Relu, 31);
    check(&geom(1, 4, 9, 9, 4, [3, 3], [1, 1], [2, 2], [2, 2, 2, 2], 4), TestAct::None, 32);
    check(&geom(1, 4, 7, 7, 4, [2, 2], [3, 3], [1, 1], [0, 0, 0, 0], 4), TestAct::None, 33);
    // Channel multiplier 3.
    check(&geom(1, 4, 8, 8, 12, [3, 3], [1, 2], [1, 1], [1, 1, 1, 1], 4), TestAct::Sigmoid, 34);
}

#[test]
fn scratch_reuse_across_shapes() {
    // A big conv then a small one on the same thread must not see stale data.
    check(&geom(1, 16, 20, 20, 8, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1), TestAct::None, 40);
    check(&geom(1, 2, 4, 4, 3, [3, 3], [1, 1], [1, 1], [0, 1, 2, 0], 1), TestAct::None, 41);
    release_scratch();
}


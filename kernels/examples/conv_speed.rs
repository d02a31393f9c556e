//! Times typical SE-ResNeXt50 convolutions at batch 1 on 2 rayon threads and prints GFLOP/s.
//!
//! `cargo run -p senetc-kernels --release --example conv_speed`

use std::time::{Duration, Instant};

use senetc_kernels::{conv2d, Conv2d};

fn layer(name: &str, c_in: usize, hw: usize, c_out: usize, k: usize, stride: usize, group: usize) {
    let pad = k / 2;
    let p = Conv2d {
        n: 1,
        c_in,
        h: hw,
        w: hw,
        c_out,
        kh: k,
        kw: k,
        stride: [stride; 2],
        dilation: [1, 1],
        pads: [pad; 4],
        group,
    };
    let (oh, ow) = p.out_hw();
    let x: Vec<f32> = (0..c_in * hw * hw).map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5).collect();
    let w: Vec<f32> = (0..c_out * (c_in / group) * k * k).map(|i| ((i * 104729) % 997) as f32 * 1e-3 - 0.5).collect();
    let b = vec![0.1f32; c_out];
    let mut out = vec![0.0f32; c_out * oh * ow];
    let flops = 2.0 * (c_out * (c_in / group) * k * k * oh * ow) as f64;
    for _ in 0..3 {
        conv2d(&p, &x, &w, Some(&b), &|v: &mut [f32]| v.iter_mut().for_each(|x| *x = x.max(0.0)), &mut out);
    }
    // Best single run: the machine is shared, and the minimum is the least noisy statistic.
    let (mut iters, start, mut secs) = (0u32, Instant::now(), f64::INFINITY);
    while start.elapsed() < Duration::from_millis(400) || iters < 5 {
        let t = Instant::now();
        conv2d(&p, &x, &w, Some(&b), &|v: &mut [f32]| v.iter_mut().for_each(|x| *x = x.max(0.0)), &mut out);
        secs = secs.min(t.elapsed().as_secs_f64());
        iters += 1;
    }
    spot_check(&p, &x, &w, &b, &out);
    println!("{name:<44} {:>8.3} ms {:>7.1} GFLOP/s", secs * 1e3, flops / secs / 1e9);
}

/// Recomputes a few outputs directly, so a fast-but-wrong kernel cannot report a good number.
fn spot_check(p: &Conv2d, x: &[f32], w: &[f32], b: &[f32], out: &[f32]) {
    let (oh, ow) = p.out_hw();
    let (cig, cog) = (p.c_in / p.group, p.c_out / p.group);
    for t in 0..64usize {
        let (oc, oy, ox) = ((t * 37) % p.c_out, (t * 13) % oh, (t * 29) % ow);
        let mut s = b[oc] as f64;
        for icg in 0..cig {
            let ic = (oc / cog) * cig + icg;
            for ky in 0..p.kh {
                for kx in 0..p.kw {
                    let iy = (oy * p.stride[0] + ky) as isize - p.pads[0] as isize;
                    let ix = (ox * p.stride[1] + kx) as isize - p.pads[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < p.h && (ix as usize) < p.w {
                        let xv = x[(ic * p.h + iy as usize) * p.w + ix as usize] as f64;
                        s += xv * w[((oc * cig + icg) * p.kh + ky) * p.kw + kx] as f64;
                    }
                }
            }
        }
        let want = s.max(0.0) as f32;
        let got = out[(oc * oh + oy) * ow + ox];
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "wrong result: {got} vs {want}");
    }
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    pool.install(|| {
        layer("stem 7x7/2 3->64 @224", 3, 224, 64, 7, 2, 1);
        layer("1x1 256->128 @56", 256, 56, 128, 1, 1, 1);
        layer("3x3 128->128 g32 @56", 128, 56, 128, 3, 1, 32);
        layer("1x1 128->256 @56", 128, 56, 256, 1, 1, 1);
        layer("3x3/2 256->256 g32 @56", 256, 56, 256, 3, 2, 32);
        layer("3x3 512->512 g32 @14", 512, 14, 512, 3, 1, 32);
        layer("3x3 1024->1024 g32 @7", 1024, 7, 1024, 3, 1, 32);
        layer("1x1 1024->2048 @14 (stride 1)", 1024, 14, 2048, 1, 1, 1);
        layer("1x1/2 1024->2048 @14 (downsample)", 1024, 14, 2048, 1, 2, 1);
        layer("1x1 2048->1024 @7", 2048, 7, 1024, 1, 1, 1);
    });
}

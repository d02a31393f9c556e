//! Time the activation epilogues on 1M elements (single thread).
use senetc_kernels::Activation;
use std::time::Instant;
fn main() {
    let mut v: Vec<f32> = (0..1 << 20).map(|i| (i as f32 * 0.001).sin() * 4.0).collect();
    for act in [Activation::Relu, Activation::Clip { min: 0.0, max: 6.0 }, Activation::Sigmoid, Activation::Silu] {
        let t = Instant::now();
        for _ in 0..10 {
            act.apply_slice(&mut v);
        }
        println!("{act:?}: {:.2} ns/element", t.elapsed().as_secs_f64() * 1e9 / (10.0 * v.len() as f64));
    }
}

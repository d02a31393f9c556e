//! Shared helpers of the unit tests: a deterministic PRNG and tolerant comparison.

/// xorshift64* generator; deterministic so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }
}

/// Asserts |a - b| <= tol * max(1, |b|) element-wise (relative for large values, absolute near 0).
#[track_caller]
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length mismatch");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol * w.abs().max(1.0) || (g.is_nan() && w.is_nan()) || g == w;
        assert!(ok, "mismatch at {i}: got {g}, want {w}");
    }
}

/// Runs `f` inside a 2-thread rayon pool, as the backend does.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(f)
}

/// Like [`assert_close`] but relative to the largest |want| of the whole tensor: the right
/// yardstick for long dot products, whose near-zero outputs come from cancellation.
#[track_caller]
pub fn assert_close_scaled(got: &[f32], want: &[f32], tol: f32) {
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    assert_eq!(got.len(), want.len(), "length mismatch");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * scale, "mismatch at {i}: got {g}, want {w} (scale {scale})");
    }
}

/// Epilogues for kernel tests, with their scalar definitions (the real ones are IR ops).
#[derive(Clone, Copy, Debug)]
pub enum TestAct {
    None,
    Relu,
    Clip { min: f32, max: f32 },
    Sigmoid,
    HardSwish,
    Silu,
}

impl TestAct {
    pub fn scalar(self, x: f32) -> f32 {
        let sig = |x: f32| (1.0 / (1.0 + (-(x as f64)).exp())) as f32;
        match self {
            TestAct::None => x,
            TestAct::Relu => x.max(0.0),
            TestAct::Clip { min, max } => x.clamp(min, max),
            TestAct::Sigmoid => sig(x),
            TestAct::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            TestAct::Silu => x * sig(x),
        }
    }
}

impl crate::Act for TestAct {
    fn apply(&self, xs: &mut [f32]) {
        xs.iter_mut().for_each(|x| *x = self.scalar(*x));
    }
}

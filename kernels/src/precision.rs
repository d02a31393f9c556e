//! Emulation of Ascend's 16-bit storage: values are rounded through fp16/bf16 between ops while
//! arithmetic stays fp32.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// Rounds every value to the nearest IEEE fp16 (ties to even; overflow to ±inf) and back.
pub fn round_f16(xs: &mut [f32]) {
    let mut buf = [f16::ZERO; 256];
    for chunk in xs.chunks_mut(256) {
        let b = &mut buf[..chunk.len()];
        // The slice conversions use F16C when the CPU has it.
        b.convert_from_f32_slice(chunk);
        b.convert_to_f32_slice(chunk);
    }
}

/// Rounds every value to the nearest bf16 (ties to even; NaN stays NaN) and back.
pub fn round_bf16(xs: &mut [f32]) {
    xs.iter_mut().for_each(|x| *x = bf16::from_f32(*x).to_f32());
}

/// fp16 encoding of `xs`, 2 little-endian bytes per value.
pub fn f32_to_f16_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect()
}

/// Decodes little-endian fp16 bytes (a trailing odd byte is ignored).
pub fn f16_bytes_to_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2).map(|p| f16::from_le_bytes([p[0], p[1]]).to_f32()).collect()
}

/// bf16 encoding of `xs`, 2 little-endian bytes per value.
pub fn f32_to_bf16_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect()
}

/// Decodes little-endian bf16 bytes (a trailing odd byte is ignored).
pub fn bf16_bytes_to_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2).map(|p| bf16::from_le_bytes([p[0], p[1]]).to_f32()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding_hand_computed() {
        // fp16 has 10 mantissa bits: spacing 2^-10 in [1, 2); 1 + 2^-11 is a tie -> even (1.0).
        let mut xs = [1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11), 65504.0, 65520.0, 1e-8, -0.0, 0.1];
        round_f16(&mut xs);
        assert_eq!(xs[0], 1.0);
        assert_eq!(xs[1], 1.0 + 2.0 * 2f32.powi(-10));
        assert_eq!(xs[2], 65504.0);
        assert_eq!(xs[3], f32::INFINITY);
        assert_eq!(xs[4], 0.0);
        assert!(xs[5] == 0.0 && xs[5].is_sign_negative());
        assert_eq!(xs[6], 0.099975586);
    }

    #[test]
    fn bf16_rounding_hand_computed() {
        // bf16 keeps 7 mantissa bits: spacing 2^-7 in [1, 2).
        let mut xs = [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8), 3.0e38, 0.1, f32::NAN];
        round_bf16(&mut xs);
        assert_eq!(xs[0], 1.0);
        assert_eq!(xs[1], 1.0 + 2.0 * 2f32.powi(-7));
        // 3e38 = 1.7634 * 2^127 -> mantissa 226/128.
        assert_eq!(xs[2], 226.0 / 128.0 * 2f32.powi(127));
        assert_eq!(xs[3], 205.0 / 128.0 / 16.0);
        assert!(xs[4].is_nan());
    }

    #[test]
    fn long_slices_and_byte_round_trips() {
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.37).collect();
        let mut r = xs.clone();
        round_f16(&mut r);
        let bytes = f32_to_f16_bytes(&xs);
        assert_eq!(bytes.len(), 2000);
        assert_eq!(f16_bytes_to_f32(&bytes), r);
        for (a, b) in xs.iter().zip(&r) {
            assert!((a - b).abs() <= a.abs() * 2f32.powi(-11));
        }
        let mut r = xs.clone();
        round_bf16(&mut r);
        assert_eq!(bf16_bytes_to_f32(&f32_to_bf16_bytes(&xs)), r);
        assert_eq!(f32_to_f16_bytes(&[1.0]), [0x00, 0x3c]);
        assert_eq!(f32_to_bf16_bytes(&[1.0]), [0x80, 0x3f]);
    }
}

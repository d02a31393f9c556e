//! The AI Core's runtime formats and the byte re-layouts senetc does offline.
//!
//! * **NC1HWC0** ("5HD"): an NCHW tensor with channels split into `C1 = ceil(C/C0)` blocks
//!   of `C0` and the block made innermost: `[N, C1, H, W, C0]`, the missing channels zero.
//! * **FRACTAL_Z**: a conv filter in origin NCHW `[N(out), C(in), H, W]` arranged for the
//!   cube unit as `[C1*H*W, N1, N0, C0]` with `N1 = ceil(N/N0)`, so element
//!   `(c1*H*W + h*W + w, n1, n0, c0)` holds `filter[n1*N0+n0][c1*C0+c0][h][w]` (zero past the
//!   edges). For grouped filters this is the layout of the per-group `[N, C/group, H, W]`
//!   tensor itself (GE's group-padded FRACTAL_Z variant is not reproduced).
//!
//! senetc uses `C0 = N0 = 16` for every float type: 16 fp16 values are the 32-byte block
//! the cube unit reads; fp32 keeps the same blocking so one layout code path serves both
//! precisions (it only appears in force_fp32 graphs, which ATC would re-block anyway).
//! Activations never carry data in senetc's files, so only constants are re-laid out here;
//! activation layout changes are TransData ops in the graph.

/// Channels per block (C0) and output channels per fractal (N0).
pub const C0: usize = 16;

/// `[N, C, H, W]` as NC1HWC0: `[N, C1, H, W, C0]`.
pub fn nc1hwc0_shape(s: &[usize]) -> Vec<usize> {
    vec![s[0], s[1].div_ceil(C0), s[2], s[3], C0]
}

/// `[N, C, H, W]` filter as FRACTAL_Z: `[C1*H*W, N1, N0, C0]`.
pub fn fractal_z_shape(s: &[usize]) -> Vec<usize> {
    vec![s[1].div_ceil(C0) * s[2] * s[3], s[0].div_ceil(C0), C0, C0]
}

/// Visit every (NCHW element index, runtime element index) pair of an NC1HWC0 layout.
fn nc1hwc0_pairs(s: &[usize], mut f: impl FnMut(usize, usize)) {
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let c1 = c.div_ceil(C0);
    for ni in 0..n {
        for ci in 0..c {
            for hw in 0..h * w {
                let src = (ni * c + ci) * h * w + hw;
                let dst = (((ni * c1 + ci / C0) * h * w) + hw) * C0 + ci % C0;
                f(src, dst);
            }
        }
    }
}

/// Visit every (NCHW element index, runtime element index) pair of a FRACTAL_Z layout.
fn fractal_z_pairs(s: &[usize], mut f: impl FnMut(usize, usize)) {
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let n1 = n.div_ceil(C0);
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    let src = ((ni * c + ci) * h + hi) * w + wi;
                    let row = ((ci / C0) * h + hi) * w + wi;
                    let dst = ((row * n1 + ni / C0) * C0 + ni % C0) * C0 + ci % C0;
                    f(src, dst);
                }
            }
        }
    }
}

fn scatter(bytes: &[u8], esize: usize, total: usize, pairs: impl FnOnce(&mut dyn FnMut(usize, usize))) -> Vec<u8> {
    let mut out = vec![0u8; total * esize];
    pairs(&mut |src, dst| out[dst * esize..(dst + 1) * esize].copy_from_slice(&bytes[src * esize..(src + 1) * esize]));
    out
}

fn gather(bytes: &[u8], esize: usize, total: usize, pairs: impl FnOnce(&mut dyn FnMut(usize, usize))) -> Vec<u8> {
    let mut out = vec![0u8; total * esize];
    pairs(&mut |src, dst| out[src * esize..(src + 1) * esize].copy_from_slice(&bytes[dst * esize..(dst + 1) * esize]));
    out
}

/// Re-lay out NCHW bytes (elements of `esize` bytes, shape `s`) as NC1HWC0.
pub fn to_nc1hwc0(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    let total = nc1hwc0_shape(s).iter().product();
    scatter(bytes, esize, total, |f| nc1hwc0_pairs(s, f))
}

/// NC1HWC0 bytes back to NCHW of shape `s` (the caller checked the byte count).
pub fn from_nc1hwc0(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    gather(bytes, esize, s.iter().product(), |f| nc1hwc0_pairs(s, f))
}

/// Re-lay out an NCHW filter as FRACTAL_Z.
pub fn to_fractal_z(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    let total = fractal_z_shape(s).iter().product();
    scatter(bytes, esize, total, |f| fractal_z_pairs(s, f))
}

/// FRACTAL_Z bytes back to the NCHW filter of shape `s`.
pub fn from_fractal_z(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    gather(bytes, esize, s.iter().product(), |f| fractal_z_pairs(s, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc1hwc0_round_trips_and_pads() {
        let s = [2, 20, 3, 2];
        let n: usize = s.iter().product();
        let src: Vec<u8> = (0..n as u32).flat_map(|v| (v + 1).to_le_bytes()).collect();
        let packed = to_nc1hwc0(&src, &s, 4);
        assert_eq!(packed.len(), 2 * 2 * 3 * 2 * 16 * 4);
        // Channel 17 of batch 1 at (h=2,w=1) is block 1, lane 1.
        let at = |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        let src_i = ((20 + 17) * 3 + 2) * 2 + 1;
        let dst_i = (((2 + 1) * 3 + 2) * 2 + 1) * 16 + 1;
        assert_eq!(at(&packed, dst_i), at(&src, src_i));
        // Padding lanes are zero: channels 20..32 of block 1.
        assert_eq!(at(&packed, ((2 + 1) * 6) * 16 + 5), 0);
        assert_eq!(from_nc1hwc0(&packed, &s, 4), src);
    }

    #[test]
    fn fractal_z_round_trips() {
        let s = [33, 5, 3, 3];
        let n: usize = s.iter().product();
        let src: Vec<u8> = (0..n as u16).flat_map(|v| v.to_le_bytes()).collect();
        let packed = to_fractal_z(&src, &s, 2);
        assert_eq!(fractal_z_shape(&s), vec![9, 3, 16, 16]);
        assert_eq!(packed.len(), 9 * 3 * 16 * 16 * 2);
        // filter[17][2][1][2] sits at row (0*3+1)*3+2 = 5, n1 = 1, n0 = 1, c0 = 2.
        let at = |b: &[u8], i: usize| u16::from_le_bytes([b[i * 2], b[i * 2 + 1]]);
        assert_eq!(at(&packed, ((5 * 3 + 1) * 16 + 1) * 16 + 2), at(&src, ((17 * 5 + 2) * 3 + 1) * 3 + 2));
        assert_eq!(from_fractal_z(&packed, &s, 2), src);
    }
}

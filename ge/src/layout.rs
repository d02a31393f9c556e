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

/// A runtime layout, as the (NCHW element index, runtime element index) pairs it maps.
trait Layout {
    /// Visit every pair of a tensor of origin shape `s`.
    fn pairs(s: &[usize], f: impl FnMut(usize, usize));
}

/// NC1HWC0.
struct Nc1hwc0;

impl Layout for Nc1hwc0 {
    fn pairs(s: &[usize], mut f: impl FnMut(usize, usize)) {
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
}

/// FRACTAL_Z.
struct FractalZ;

impl Layout for FractalZ {
    fn pairs(s: &[usize], mut f: impl FnMut(usize, usize)) {
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
}

/// Copy element `from` of `src` to element `to` of `dst`, elements of `E` bytes.
#[inline(always)]
fn move_elem<const E: usize>(dst: &mut [u8], to: usize, src: &[u8], from: usize) {
    dst[to * E..to * E + E].copy_from_slice(&src[from * E..from * E + E]);
}

/// Every pair's element moved from `bytes` into a zeroed buffer of `total` elements: from the
/// pair's first index to its second (`to_runtime`) or back. Generic over the layout and
/// specialized for 2- and 4-byte elements, so each move is one load and one store.
fn relayout<L: Layout>(bytes: &[u8], s: &[usize], esize: usize, total: usize, to_runtime: bool) -> Vec<u8> {
    let mut out = vec![0u8; total * esize];
    let o = &mut out;
    match (esize, to_runtime) {
        (2, true) => L::pairs(s, |a, b| move_elem::<2>(o, b, bytes, a)),
        (2, false) => L::pairs(s, |a, b| move_elem::<2>(o, a, bytes, b)),
        (4, true) => L::pairs(s, |a, b| move_elem::<4>(o, b, bytes, a)),
        (4, false) => L::pairs(s, |a, b| move_elem::<4>(o, a, bytes, b)),
        (e, true) => L::pairs(s, |a, b| o[b * e..(b + 1) * e].copy_from_slice(&bytes[a * e..(a + 1) * e])),
        (e, false) => L::pairs(s, |a, b| o[a * e..(a + 1) * e].copy_from_slice(&bytes[b * e..(b + 1) * e])),
    }
    out
}

/// Re-lay out NCHW bytes (elements of `esize` bytes, shape `s`) as NC1HWC0.
pub fn to_nc1hwc0(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    relayout::<Nc1hwc0>(bytes, s, esize, nc1hwc0_shape(s).iter().product(), true)
}

/// NC1HWC0 bytes back to NCHW of shape `s` (the caller checked the byte count).
pub fn from_nc1hwc0(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    relayout::<Nc1hwc0>(bytes, s, esize, s.iter().product(), false)
}

/// Re-lay out an NCHW filter as FRACTAL_Z.
pub fn to_fractal_z(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(fractal_z_shape(s).iter().product::<usize>() * esize);
    write_fractal_z(bytes, s, esize, &mut out).expect("writing to a Vec does not fail");
    out
}

/// [`to_fractal_z`] streamed into `out` through a small buffer, for writers that need the
/// bytes once: every conv weight of a model goes through here, so no whole re-laid-out copy is
/// made. The bytes are made in output order, 16 channels at a time (contiguous in the source
/// for 1x1 filters). Returns the number of bytes written.
pub fn write_fractal_z(bytes: &[u8], s: &[usize], esize: usize, out: &mut dyn std::io::Write) -> std::io::Result<usize> {
    let total: usize = fractal_z_shape(s).iter().product::<usize>() * esize;
    match esize {
        2 => fractal_z_blocks::<2>(bytes, s, out)?,
        4 => fractal_z_blocks::<4>(bytes, s, out)?,
        _ => out.write_all(&relayout::<FractalZ>(bytes, s, esize, total / esize, true))?,
    }
    Ok(total)
}

/// Blocks gathered before they are passed on.
const STAGE_BLOCKS: usize = 2048;

/// [`write_fractal_z`] for `E`-byte elements: the output is one C0 block per
/// (row = c1*H*W + h*W + w, n = n1*N0 + n0), in that order.
fn fractal_z_blocks<const E: usize>(bytes: &[u8], s: &[usize], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
    let mut stage = vec![0u8; STAGE_BLOCKS * C0 * E];
    let mut used = 0;
    for cb in 0..c.div_ceil(C0) {
        let lanes = (c - cb * C0).min(C0);
        for k in 0..hw {
            for ni in 0..n.div_ceil(C0) * C0 {
                if used == stage.len() {
                    out.write_all(&stage)?;
                    used = 0;
                }
                let block = &mut stage[used..used + C0 * E];
                used += C0 * E;
                let first = (ni * c + cb * C0) * hw + k;
                if ni >= n {
                    block.fill(0);
                } else if hw == 1 && lanes == C0 {
                    // A constant-size copy, which compiles to a few vector moves.
                    block.copy_from_slice(&bytes[first * E..first * E + C0 * E]);
                } else {
                    block.fill(0);
                    for c0 in 0..lanes {
                        move_elem::<E>(block, c0, bytes, first + c0 * hw);
                    }
                }
            }
        }
    }
    out.write_all(&stage[..used])
}

/// FRACTAL_Z bytes back to the NCHW filter of shape `s`.
pub fn from_fractal_z(bytes: &[u8], s: &[usize], esize: usize) -> Vec<u8> {
    relayout::<FractalZ>(bytes, s, esize, s.iter().product(), false)
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

    #[test]
    fn fractal_z_blocks_are_the_layout_pairs() {
        for s in [[33, 5, 3, 3], [40, 20, 1, 1], [16, 16, 1, 1], [7, 3, 2, 5], [1, 40, 1, 1]] {
            for esize in [2, 4, 3] {
                let n: usize = s.iter().product::<usize>() * esize;
                let src: Vec<u8> = (0..n).map(|v| (v % 251) as u8 + 1).collect();
                let total = fractal_z_shape(&s).iter().product();
                assert_eq!(to_fractal_z(&src, &s, esize), relayout::<FractalZ>(&src, &s, esize, total, true), "{s:?} x {esize}");
            }
        }
    }
}

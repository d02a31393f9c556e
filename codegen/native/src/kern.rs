//! Kernel generators. Each returns the body of one step function
//! `void @name(float** %P, i64 %lo, i64 %hi)` that computes
//! work items `lo..hi` of its step (the plan splits items over threads). Every size, stride
//! and offset is a constant of the generated code.
//!
//! Layout: activations between blocked ops are NCHWc, `[n][C/B][h][w][B]` with B lanes
//! (16 with AVX-512, 8 with AVX2), channels past C zero-padded in the weights (so padded
//! output lanes hold finite values no reader uses). Weights are re-laid out offline into the
//! plan's weight blob (`%W`).

use crate::act;
use crate::llir::Fb;
use senetc_ir::ops::FusedAct;

/// Where a buffer lives: a base pointer and an offset in floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// The base pointer.
    pub base: Base,
    /// Offset in floats.
    pub off: usize,
}

/// The four base pointers every step function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// The activation arena.
    Arena,
    /// The weight blob.
    Weights,
    /// The graph input.
    Input,
    /// The graph output.
    Output,
}

impl Loc {
    fn ptr(&self, f: &mut Fb) -> String {
        f.param(*self)
    }
}

/// A generated body, the buffers it takes (`%P[k]`) and its work items.
pub type Gen = (String, Vec<Loc>, usize);

fn s(v: usize) -> String {
    v.to_string()
}

/// Decompose item `it` into mixed-radix digits, most significant first (`dims` are the radices).
fn digits(f: &mut Fb, it: &str, dims: &[usize]) -> Vec<String> {
    let mut out = vec![String::new(); dims.len()];
    let mut rest = it.to_string();
    for (k, &d) in dims.iter().enumerate().rev() {
        if k == 0 {
            out[0] = rest.clone();
        } else {
            out[k] = f.i("urem", &rest, &s(d));
            rest = f.i("udiv", &rest, &s(d));
        }
    }
    out
}

/// The body of a kernel that loops over its items.
fn items(f: &mut Fb, body: impl FnOnce(&mut Fb, &str)) {
    f.for_("%lo", "%hi", 1, &[], |f, it, _| {
        body(f, it);
        vec![]
    });
}

/// Sliding-window geometry of a conv or pool.
#[derive(Clone, Debug)]
pub struct Window {
    /// Input height, width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides (h, w).
    pub sh: usize,
    /// Stride w.
    pub sw: usize,
    /// Dilations (h, w).
    pub dh: usize,
    /// Dilation w.
    pub dw: usize,
    /// Top padding.
    pub pt: usize,
    /// Left padding.
    pub pl: usize,
}

impl Window {
    /// Output columns whose every tap is inside the input: `[lo, hi)`.
    fn interior_x(&self) -> (usize, usize) {
        let lo = self.pl.div_ceil(self.sw).min(self.ow);
        let reach = (self.kw - 1) * self.dw;
        let hi = if self.w + self.pl < reach + 1 { 0 } else { ((self.w - 1 + self.pl - reach) / self.sw + 1).min(self.ow) };
        (lo, hi.max(lo))
    }

    /// Runtime `[lo, hi)` of taps along one axis for output position `o` (i64 SSA):
    /// taps k with `0 <= o*s - p + k*d < len`.
    fn taps(f: &mut Fb, o: &str, s_: usize, p: usize, d: usize, len: usize, k: usize) -> (String, String) {
        let os = f.i("mul", o, &s(s_));
        let dlo = f.i("sub", &s(p), &os);
        let dpos = f.i("add", &dlo, &s(d - 1));
        let q = f.i("sdiv", &dpos, &s(d));
        let neg = f.icmp("sle", &dlo, "0");
        let lo = f.isel(&neg, "0", &q);
        let e = f.i("add", &dlo, &s(len - 1));
        let eq = f.i("sdiv", &e, &s(d));
        let eq1 = f.i("add", &eq, "1");
        let hk = f.imin(&eq1, &s(k));
        let eneg = f.icmp("slt", &e, "0");
        let hi = f.isel(&eneg, "0", &hk);
        let hi = f.imax(&hi, &lo);
        (lo, hi)
    }
}

/// How a conv's output lanes find their input channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvMode {
    /// Each output block lies in one group whose input channels start at a block boundary:
    /// every input channel is one scalar broadcast to all lanes (dense and wide-group convs).
    Broadcast {
        /// Output blocks per register tile.
        obt: usize,
    },
    /// `C_in == C_out`, `cg` input channels per group and `B % cg == 0`: lane l of an output
    /// block reads lane `(l / cg) * cg + j` of the same input block (depthwise: cg = 1).
    Shuffle,
}

/// A convolution on NCHWc activations with its fused epilogue.
#[derive(Clone, Debug)]
pub struct ConvK {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Groups.
    pub group: usize,
    /// Window geometry.
    pub win: Window,
    /// Activation after bias.
    pub act: FusedAct,
    /// Input (blocked).
    pub x: Loc,
    /// Output (blocked).
    pub out: Loc,
    /// Packed weights `[OB][cg][kh][kw][B]`.
    pub w: Loc,
    /// Packed bias `[OB*B]`.
    pub bias: Option<Loc>,
    /// A residual added after `act`, then `act2`: `act2(act(conv + b) + r)`.
    pub residual: Option<(Loc, FusedAct)>,
    /// Per-(image, input channel) scale of the input (a squeeze-excitation gate), `[n][CBin*B]`.
    pub in_gate: Option<Loc>,
    /// Lane mapping.
    pub mode: ConvMode,
    /// Pixels per register tile.
    pub owt: usize,
}

impl ConvK {
    /// Whether the output plane is walked as one flat row of pixels (1x1, stride 1, no padding).
    pub fn flat(&self) -> bool {
        let w = &self.win;
        w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.oh == w.h && w.ow == w.w
    }

    fn cg(&self) -> usize {
        self.cin / self.group
    }

    fn obt(&self) -> usize {
        match self.mode {
            ConvMode::Broadcast { obt } => obt,
            ConvMode::Shuffle => 1,
        }
    }

    /// Pixels per flat row.
    fn flat_len(&self) -> usize {
        let hw = self.win.oh * self.win.ow;
        let t = self.owt;
        // About 8 tiles per item (enough work per item, enough items to share), the rows of
        // about equal length: a last row of a pixel or two would leave the multiply-add units
        // waiting on a few accumulators.
        let rows = hw.div_ceil(t * 8);
        hw.div_ceil(rows)
    }

    /// (items, radices of the item index).
    pub fn items(&self, b: usize) -> (usize, Vec<usize>) {
        let ob = self.cout.div_ceil(b);
        let obg = ob / self.obt();
        let rows = if self.flat() { (self.win.oh * self.win.ow).div_ceil(self.flat_len()) } else { self.win.oh };
        // Output blocks vary fastest: consecutive items (one thread's share) read the same
        // input rows, which stay in cache while every block of weights streams past them.
        (self.n * obg * rows, vec![self.n, rows, obg])
    }

    /// Multiply-adds, for splitting work.
    pub fn macs(&self) -> usize {
        self.n * self.cout * self.win.oh * self.win.ow * self.cg() * self.win.kh * self.win.kw
    }
}

/// Generate a conv kernel.
pub fn conv(k: &ConvK, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let vt = f.vt.clone();
    let win = k.win.clone();
    let (cbin, ob) = (k.cin.div_ceil(b), k.cout.div_ceil(b));
    let cg = k.cg();
    let cog = k.cout / k.group;
    let obt = k.obt();
    let (_, radices) = k.items(b);
    let xp = k.x.ptr(&mut f);
    let op = k.out.ptr(&mut f);
    let wp = k.w.ptr(&mut f);
    let bp = k.bias.map(|l| l.ptr(&mut f));
    let rp = k.residual.as_ref().map(|(l, _)| l.ptr(&mut f));
    let gp = k.in_gate.map(|l| l.ptr(&mut f));
    let flat = k.flat();
    let (ihw, ohw) = (win.h * win.w, win.oh * win.ow);
    let taps = win.kh * win.kw;
    items(&mut f, |f, it| {
        let d = digits(f, it, &radices);
        let (n, row, obg) = (&d[0], &d[1], &d[2]);
        let ob0 = f.i("mul", obg, &s(obt));
        let xn_off = f.i("mul", n, &s(cbin * ihw * b));
        let xn = f.gep(&xp, &xn_off);
        let on_off = f.i("mul", n, &s(ob * ohw * b));
        let on = f.gep(&op, &on_off);
        let rn = rp.as_ref().map(|r| f.gep(r, &on_off));
        let gn = gp.as_ref().map(|g| {
            let o = f.i("mul", n, &s(cbin * b));
            f.gep(g, &o)
        });
        // First input block of this tile's group (broadcast mode).
        let ib0 = if k.group == 1 {
            "0".to_string()
        } else {
            let c0 = f.i("mul", &ob0, &s(b));
            let g = f.i("udiv", &c0, &s(cog));
            let ch = f.i("mul", &g, &s(cg));
            f.i("udiv", &ch, &s(b))
        };
        // An activation that costs more than the multiply-adds of a small conv's output (e^x)
        // runs in a pass over each finished row, out of the register tile: there it has the
        // vector registers to itself.
        let deferred = act::expensive(&k.act) || k.residual.as_ref().is_some_and(|(_, a)| act::expensive(a));
        // Offset (floats) of output vector `ti` of a tile at `x0` in output block `obo`: pixel
        // `x0 + ti` (flat), or column `x0 + ti` of the row `row`.
        let out_offset = |f: &mut Fb, obo: &str, x0: &str, ti: usize| {
            let base = if flat {
                let a = f.i("mul", obo, &s(ohw));
                let px = f.i("add", x0, &s(ti));
                f.i("add", &a, &px)
            } else {
                let a = f.i("mul", obo, &s(win.oh));
                let r = f.i("add", &a, row);
                let r = f.i("mul", &r, &s(win.ow));
                let ox = f.i("add", x0, &s(ti));
                f.i("add", &r, &ox)
            };
            f.i("mul", &base, &s(b))
        };
        let row_pass = |f: &mut Fb, x0: &str, count: usize| {
            for o in 0..obt {
                let obo = f.i("add", &ob0, &s(o));
                let start = out_offset(f, &obo, x0, 0);
                act_pass(f, &on, rn.as_deref(), &start, count, &k.act, k.residual.as_ref().map(|(_, a)| a));
            }
        };
        // One register tile of `t` pixels starting at pixel `x0` (flat) or column `x0` of row `oy`.
        // An edge tile has its first column `x0c` fixed at generation time: each pixel's column
        // taps that fall outside the input are left out of its code.
        let tile = |f: &mut Fb, oy: &str, x0: &str, t: usize, kyr: &(String, String), x0c: Option<usize>| {
            let inside = |ti: usize, kx: usize| {
                x0c.is_none_or(|c| {
                    let ix = ((c + ti) * win.sw + kx * win.dw) as isize - win.pl as isize;
                    ix >= 0 && ix < win.w as isize
                })
            };
            let mut accs = Vec::new();
            for o in 0..obt {
                let init = match &bp {
                    Some(bp) => {
                        let obo = f.i("add", &ob0, &s(o));
                        let bo = f.i("mul", &obo, &s(b));
                        f.vld(bp, &bo)
                    }
                    None => f.vzero(),
                };
                for _ in 0..t {
                    accs.push(init.clone());
                }
            }
            let ty: Vec<(String, String)> = accs.iter().map(|a| (vt.clone(), a.clone())).collect();
            let accs = match k.mode {
                ConvMode::Broadcast { .. } => {
                    let full = cg / b;
                    let rem = cg % b;
                    // One input block `ib` (absolute), `lanes` of its channels.
                    let block = |f: &mut Fb, ib: &str, lanes: usize, accs: &[String]| -> Vec<String> {
                        let ty: Vec<(String, String)> = accs.iter().map(|a| (vt.clone(), a.clone())).collect();
                        let jb = f.i("sub", ib, &ib0);
                        f.for_(&kyr.0, &kyr.1, 1, &ty, |f, ky, accs| {
                            let ty: Vec<(String, String)> = accs.iter().map(|a| (vt.clone(), a.clone())).collect();
                            // Column tap `kx` (SSA), `kxc` when it is a constant of an edge tile.
                            let column = |f: &mut Fb, kx: &str, kxc: Option<usize>, accs: &[String]| {
                                let mut accs = accs.to_vec();
                                // Input row: x[ib][iy][..]
                                let xrow = if flat {
                                    let o = f.i("mul", ib, &s(ihw * b));
                                    f.gep(&xn, &o)
                                } else {
                                    let oys = f.i("mul", oy, &s(win.sh));
                                    let kyd = f.i("mul", ky, &s(win.dh));
                                    let iy0 = f.i("add", &oys, &kyd);
                                    let iy = f.i("sub", &iy0, &s(win.pt));
                                    let ibh = f.i("mul", ib, &s(win.h));
                                    let r = f.i("add", &ibh, &iy);
                                    let o = f.i("mul", &r, &s(win.w * b));
                                    f.gep(&xn, &o)
                                };
                                let xoffs: Vec<String> = (0..t)
                                    .map(|ti| {
                                        if flat {
                                            let px = f.i("add", x0, &s(ti));
                                            f.i("mul", &px, &s(b))
                                        } else {
                                            let ox = f.i("add", x0, &s(ti));
                                            let oxs = f.i("mul", &ox, &s(win.sw));
                                            let kxd = f.i("mul", kx, &s(win.dw));
                                            let a = f.i("add", &oxs, &kxd);
                                            let ix = f.i("sub", &a, &s(win.pl));
                                            f.i("mul", &ix, &s(b))
                                        }
                                    })
                                    .collect();
                                // Weight rows: W[ob][j][ky][kx][B], j = jb*B + lane.
                                let wrows: Vec<String> = (0..obt)
                                    .map(|o| {
                                        let obo = f.i("add", &ob0, &s(o));
                                        let a = f.i("mul", &obo, &s(cg));
                                        let jb0 = f.i("mul", &jb, &s(b));
                                        let j = f.i("add", &a, &jb0);
                                        let jt = f.i("mul", &j, &s(taps));
                                        let kyw = f.i("mul", ky, &s(win.kw));
                                        let tap = f.i("add", &kyw, kx);
                                        let e = f.i("add", &jt, &tap);
                                        let e = f.i("mul", &e, &s(b));
                                        f.gep(&wp, &e)
                                    })
                                    .collect();
                                for lane in 0..lanes {
                                    let g = gn.as_ref().map(|gn| {
                                        let ibb = f.i("mul", ib, &s(b));
                                        let gi = f.i("add", &ibb, &s(lane));
                                        let gv = f.ld(gn, &gi);
                                        f.splat(&gv)
                                    });
                                    let wv: Vec<String> = wrows
                                        .iter()
                                        .map(|wr| {
                                            let v = f.vld(wr, &s(lane * taps * b));
                                            match &g {
                                                Some(g) => f.vop("fmul", &v, g),
                                                None => v,
                                            }
                                        })
                                        .collect();
                                    for (ti, xo) in xoffs.iter().enumerate() {
                                        if kxc.is_some_and(|kx| !inside(ti, kx)) {
                                            continue;
                                        }
                                        let xi = f.i("add", xo, &s(lane));
                                        let xs = f.ld(&xrow, &xi);
                                        let xv = f.splat(&xs);
                                        for (o, w) in wv.iter().enumerate() {
                                            let a = &accs[o * t + ti];
                                            accs[o * t + ti] = f.fma(&xv, w, a);
                                        }
                                    }
                                }
                                accs
                            };
                            if x0c.is_some() {
                                (0..win.kw).fold(accs.to_vec(), |accs, kx| column(f, &s(kx), Some(kx), &accs))
                            } else {
                                f.for_("0", &s(win.kw), 1, &ty, |f, kx, accs| column(f, kx, None, accs))
                            }
                        })
                    };
                    let mut accs = accs;
                    if full > 0 {
                        let ty: Vec<(String, String)> = accs.iter().map(|a| (vt.clone(), a.clone())).collect();
                        let hi = f.i("add", &ib0, &s(full));
                        accs = f.for_(&ib0, &hi, 1, &ty, |f, ib, accs| block(f, ib, b, accs));
                    }
                    if rem > 0 {
                        let ib = f.i("add", &ib0, &s(full));
                        accs = block(f, &ib, rem, &accs);
                    }
                    accs
                }
                ConvMode::Shuffle => {
                    // The row's input vectors are loaded once and reused by every tap that reads
                    // them (t + kw - 1 loads per kernel row at stride 1, instead of t * kw); the
                    // plan sizes `t` so they stay in registers with the accumulators.
                    f.for_(&kyr.0, &kyr.1, 1, &ty, |f, ky, accs| {
                        let mut accs = accs.to_vec();
                        let xrow = input_row(f, &xn, oy, ky, &ob0, &win, b);
                        let x0s = f.i("mul", x0, &s(win.sw));
                        let ix0 = f.i("sub", &x0s, &s(win.pl));
                        let mut window: std::collections::BTreeMap<usize, String> = std::collections::BTreeMap::new();
                        let kyw = f.i("mul", ky, &s(win.kw));
                        for kx in 0..win.kw {
                            let tap = f.i("add", &kyw, &s(kx));
                            for j in 0..cg {
                                let a = f.i("mul", &ob0, &s(cg));
                                let jj = f.i("add", &a, &s(j));
                                let jt = f.i("mul", &jj, &s(taps));
                                let e = f.i("add", &jt, &tap);
                                let e = f.i("mul", &e, &s(b));
                                let w = f.vld(&wp, &e);
                                let mask: Vec<usize> = (0..b).map(|l| (l / cg) * cg + j).collect();
                                for (ti, acc) in accs.iter_mut().enumerate().take(t) {
                                    if !inside(ti, kx) {
                                        continue;
                                    }
                                    let pos = ti * win.sw + kx * win.dw;
                                    let xv = match window.get(&pos) {
                                        Some(v) => v.clone(),
                                        None => {
                                            let ix = f.i("add", &ix0, &s(pos));
                                            let xo = f.i("mul", &ix, &s(b));
                                            let v = f.vld(&xrow, &xo);
                                            window.insert(pos, v.clone());
                                            v
                                        }
                                    };
                                    let xs = if cg == 1 { xv } else { f.shuffle(&xv, &mask) };
                                    *acc = f.fma(&xs, &w, acc);
                                }
                            }
                        }
                        accs
                    })
                }
            };
            // Epilogue and store: each activation over the whole tile at once (interleaved),
            // unless a pass over the finished row does it (`deferred`).
            if deferred {
                for (o, acc) in accs.chunks(t).enumerate() {
                    let obo = f.i("add", &ob0, &s(o));
                    for (ti, v) in acc.iter().enumerate() {
                        let off = out_offset(f, &obo, x0, ti);
                        f.vst(v, &on, &off);
                    }
                }
                return;
            }
            let mut offs = Vec::with_capacity(accs.len());
            for o in 0..obt {
                let obo = f.i("add", &ob0, &s(o));
                for ti in 0..t {
                    offs.push(out_offset(f, &obo, x0, ti));
                }
            }
            epilogue(f, &accs, &offs, &on, rn.as_deref(), &k.act, k.residual.as_ref().map(|(_, a)| a));
        };
        let t = k.owt;
        if flat {
            let len = k.flat_len();
            let total = ohw;
            let last_len = total - (total.div_ceil(len) - 1) * len;
            let p0 = f.i("mul", row, &s(len));
            let emit_row = |f: &mut Fb, len: usize| {
                let kyr = ("0".to_string(), "1".to_string());
                let (nt, rest) = tiling(len, t);
                if nt > 0 {
                    f.for_("0", &s(nt), 1, &[], |f, i, _| {
                        let a = f.i("mul", i, &s(t));
                        let x0 = f.i("add", &p0, &a);
                        tile(f, "0", &x0, t, &kyr, None);
                        vec![]
                    });
                }
                let mut at = nt * t;
                for r in rest {
                    let x0 = f.i("add", &p0, &s(at));
                    tile(f, "0", &x0, r, &kyr, None);
                    at += r;
                }
                if deferred {
                    row_pass(f, &p0, len);
                }
            };
            if last_len == len {
                emit_row(f, len);
            } else {
                let is_last = f.icmp("eq", row, &s(total.div_ceil(len) - 1));
                let not_last = f.def(&format!("xor i1 {is_last}, true"));
                f.if_(&is_last, |f| emit_row(f, last_len));
                f.if_(&not_last, |f| emit_row(f, len));
            }
        } else {
            let oy = row.clone();
            let kyr = Window::taps(f, &oy, win.sh, win.pt, win.dh, win.h, win.kh);
            let (lo, hi) = win.interior_x();
            // Edge tiles (fixed columns) cover the columns whose taps leave the input, whole
            // tiles from each end; the columns between run in a loop. A narrow row is all edge tiles.
            let ow = win.ow;
            let (l, r) = if hi <= lo || ow <= 2 * t {
                (ow, ow)
            } else {
                let l = (lo.div_ceil(t) * t).min(ow);
                (l, (ow - (ow - hi).div_ceil(t) * t).max(l))
            };
            let edge = |f: &mut Fb, from: usize, to: usize| {
                let (nt, rest) = tiling(to - from, t);
                let mut at = from;
                for size in std::iter::repeat_n(t, nt).chain(rest) {
                    tile(f, &oy, &s(at), size, &kyr, Some(at));
                    at += size;
                }
            };
            edge(f, 0, l);
            let (nt, rest) = tiling(r - l, t);
            if nt > 0 {
                f.for_("0", &s(nt), 1, &[], |f, i, _| {
                    let a = f.i("mul", i, &s(t));
                    let x0 = f.i("add", &s(l), &a);
                    tile(f, &oy, &x0, t, &kyr, None);
                    vec![]
                });
            }
            let mut at = l + nt * t;
            for size in rest {
                tile(f, &oy, &s(at), size, &kyr, None);
                at += size;
            }
            edge(f, r, ow);
            if deferred {
                row_pass(f, "0", win.ow);
            }
        }
    });
    let (body, locs) = f.finish();
    (body, locs, k.items(b).0)
}

/// Store `act2(act(v) + r[off])` (`act` alone without `r`) for each vector `v` to `out[off]`.
fn epilogue(f: &mut Fb, vs: &[String], offs: &[String], out: &str, r: Option<&str>, act_: &FusedAct, act2: Option<&FusedAct>) {
    let mut ys = act::apply_all(f, act_, vs);
    if let (Some(r), Some(a2)) = (r, act2) {
        let sums: Vec<String> = ys
            .iter()
            .zip(offs)
            .map(|(y, o)| {
                let rv = f.vld(r, o);
                f.vop("fadd", y, &rv)
            })
            .collect();
        ys = act::apply_all(f, a2, &sums);
    }
    for (y, o) in ys.iter().zip(offs) {
        f.vst(y, out, o);
    }
}

/// [`epilogue`] in place over `count` consecutive vectors of `out` from offset `start`, a group
/// of vectors interleaved per iteration.
fn act_pass(f: &mut Fb, out: &str, r: Option<&str>, start: &str, count: usize, act_: &FusedAct, act2: Option<&FusedAct>) {
    let b = f.b;
    let g = act::group(b);
    let run = |f: &mut Fb, first: &str, n: usize| {
        let offs: Vec<String> = (0..n)
            .map(|i| {
                let v = f.i("add", first, &s(i));
                let o = f.i("mul", &v, &s(b));
                f.i("add", start, &o)
            })
            .collect();
        let xs: Vec<String> = offs.iter().map(|o| f.vld(out, o)).collect();
        epilogue(f, &xs, &offs, out, r, act_, act2);
    };
    let full = count / g;
    if full > 0 {
        f.for_("0", &s(full), 1, &[], |f, i, _| {
            let first = f.i("mul", i, &s(g));
            run(f, &first, g);
            vec![]
        });
    }
    if !count.is_multiple_of(g) {
        run(f, &s(full * g), count % g);
    }
}

/// `len` pixels in register tiles of `t`: (full tiles, the sizes of the tiles after them). A
/// short remainder shares the last full tile's pixels (7 as 4 + 3, not 6 + 1): a tile of one
/// or two pixels has too few independent accumulators to keep the multiply-adds busy.
fn tiling(len: usize, t: usize) -> (usize, Vec<usize>) {
    let (nt, r) = (len / t, len % t);
    if r == 0 {
        (nt, vec![])
    } else if nt > 0 && 2 * r < t {
        (nt - 1, vec![(t + r).div_ceil(2), (t + r) / 2])
    } else {
        (nt, vec![r])
    }
}

/// The input row an output row `oy` reads at kernel row `ky`, in input block `ob0`: a
/// pointer into `xn` (rows of `win.w` pixels of `b` lanes), unpadded coordinates.
fn input_row(f: &mut Fb, xn: &str, oy: &str, ky: &str, ob0: &str, win: &Window, b: usize) -> String {
    let oys = f.i("mul", oy, &s(win.sh));
    let kyd = f.i("mul", ky, &s(win.dh));
    let iy0 = f.i("add", &oys, &kyd);
    let iy = f.i("sub", &iy0, &s(win.pt));
    let ibh = f.i("mul", ob0, &s(win.h));
    let r = f.i("add", &ibh, &iy);
    let o = f.i("mul", &r, &s(win.w * b));
    f.gep(xn, &o)
}

/// Max pooling on NCHWc; items are (n, block, output row).
pub fn max_pool(x: Loc, out: Loc, n: usize, c: usize, win: &Window, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let vt = f.vt.clone();
    let cb = c.div_ceil(b);
    let xp = x.ptr(&mut f);
    let op = out.ptr(&mut f);
    let radices = [n * cb, win.oh];
    items(&mut f, |f, it| {
        let d = digits(f, it, &radices);
        let (plane, oy) = (&d[0], &d[1]);
        let xo = f.i("mul", plane, &s(win.h * win.w * b));
        let xn = f.gep(&xp, &xo);
        let kyr = Window::taps(f, oy, win.sh, win.pt, win.dh, win.h, win.kh);
        f.for_("0", &s(win.ow), 1, &[], |f, ox, _| {
            let kxr = Window::taps(f, ox, win.sw, win.pl, win.dw, win.w, win.kw);
            let init = f.vconst(f32::NEG_INFINITY);
            let r = f.for_(&kyr.0, &kyr.1, 1, &[(vt.clone(), init)], |f, ky, acc| {
                let acc0 = acc[0].clone();
                f.for_(&kxr.0, &kxr.1, 1, &[(vt.clone(), acc0)], |f, kx, acc| {
                    let oys = f.i("mul", oy, &s(win.sh));
                    let kyd = f.i("mul", ky, &s(win.dh));
                    let iy = f.i("add", &oys, &kyd);
                    let iy = f.i("sub", &iy, &s(win.pt));
                    let oxs = f.i("mul", ox, &s(win.sw));
                    let kxd = f.i("mul", kx, &s(win.dw));
                    let ix = f.i("add", &oxs, &kxd);
                    let ix = f.i("sub", &ix, &s(win.pl));
                    let r = f.i("mul", &iy, &s(win.w));
                    let p = f.i("add", &r, &ix);
                    let p = f.i("mul", &p, &s(b));
                    let v = f.vld(&xn, &p);
                    vec![f.vsel_cmp("ogt", &v, &acc[0], &v, &acc[0])]
                })
            });
            let pl = f.i("mul", plane, &s(win.oh));
            let q = f.i("add", &pl, oy);
            let q = f.i("mul", &q, &s(win.ow));
            let q = f.i("add", &q, ox);
            let q = f.i("mul", &q, &s(b));
            f.vst(&r[0], &op, &q);
            vec![]
        });
    });
    let (body, locs) = f.finish();
    (body, locs, n * cb * win.oh)
}

/// Sum over the plane of every (image, block) divided by `hw`: `pooled[n][cb*B..]`.
/// With `plain_c` set, writes only the real channels into a plain `[n][c]` output instead.
pub fn channel_mean(x: Loc, out: Loc, n: usize, c: usize, hw: usize, plain_c: bool, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let vt = f.vt.clone();
    let cb = c.div_ceil(b);
    let xp = x.ptr(&mut f);
    let op = out.ptr(&mut f);
    items(&mut f, |f, it| {
        let xo = f.i("mul", it, &s(hw * b));
        let xn = f.gep(&xp, &xo);
        // Four partial sums: the adds of one plane do not wait on each other.
        let z = f.vzero();
        let quads = hw / 4;
        let ty: Vec<(String, String)> = (0..4).map(|_| (vt.clone(), z.clone())).collect();
        let mut acc = f.for_("0", &s(quads), 1, &ty, |f, q, acc| {
            let base = f.i("mul", q, &s(4 * b));
            (0..4)
                .map(|k| {
                    let o = f.i("add", &base, &s(k * b));
                    let v = f.vld(&xn, &o);
                    f.vop("fadd", &acc[k], &v)
                })
                .collect()
        });
        for p in quads * 4..hw {
            let v = f.vld(&xn, &s(p * b));
            acc[0] = f.vop("fadd", &acc[0], &v);
        }
        let a = f.vop("fadd", &acc[0], &acc[1]);
        let c2 = f.vop("fadd", &acc[2], &acc[3]);
        let sum = f.vop("fadd", &a, &c2);
        let inv = f.vconst(1.0 / hw as f32);
        let mean = f.vop("fmul", &sum, &inv);
        if plain_c {
            // it = img * cb + blk; channel = blk * B + lane.
            let img = f.i("udiv", it, &s(cb));
            let blk = f.i("urem", it, &s(cb));
            let last = f.icmp("eq", &blk, &s(cb - 1));
            let nl = f.def(&format!("xor i1 {last}, true"));
            let io = f.i("mul", &img, &s(c));
            let bo = f.i("mul", &blk, &s(b));
            let o = f.i("add", &io, &bo);
            let tail = c - (cb - 1) * b;
            let m2 = mean.clone();
            let o2 = o.clone();
            f.if_(&last, |f| {
                for l in 0..tail {
                    let e = f.extract(&m2, l);
                    let q = f.i("add", &o2, &s(l));
                    f.st(&e, &op, &q);
                }
            });
            f.if_(&nl, |f| {
                for l in 0..b {
                    let e = f.extract(&mean, l);
                    let q = f.i("add", &o, &s(l));
                    f.st(&e, &op, &q);
                }
            });
        } else {
            let o = f.i("mul", it, &s(b));
            f.vst(&mean, &op, &o);
        }
    });
    let (body, locs) = f.finish();
    (body, locs, n * cb)
}

/// The two small products of a squeeze-excitation, per image:
/// `gate = gate_act(W2 · act(W1 · pooled + b1) + b2)`. `w1t` is `[c][CRB*B]` (W1
/// transposed, padded), `w2t` `[cr][CB*B]`; `hidden` is scratch `[n][CRB*B]`.
#[allow(clippy::too_many_arguments)]
pub fn se_fc(pooled: Loc, hidden: Loc, gate: Loc, w1t: Loc, b1: Loc, w2t: Loc, b2: Loc, n: usize, c: usize, cr: usize, act_: &FusedAct, gate_act: &FusedAct, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let (cb, crb) = (c.div_ceil(b), cr.div_ceil(b));
    let pp = pooled.ptr(&mut f);
    let hp = hidden.ptr(&mut f);
    let gp = gate.ptr(&mut f);
    let w1 = w1t.ptr(&mut f);
    let b1p = b1.ptr(&mut f);
    let w2 = w2t.ptr(&mut f);
    let b2p = b2.ptr(&mut f);
    items(&mut f, |f, img| {
        let po = f.i("mul", img, &s(cb * b));
        let pn = f.gep(&pp, &po);
        let ho = f.i("mul", img, &s(crb * b));
        let hn = f.gep(&hp, &ho);
        let gn = f.gep(&gp, &po);
        // hidden = act(b1 + W1 · pooled), then gate = gate_act(b2 + W2 · hidden)
        dense(f, &pn, c, crb, &w1, &b1p, act_, &hn);
        dense(f, &hn, cr, cb, &w2, &b2p, gate_act, &gn);
    });
    let (body, locs) = f.finish();
    (body, locs, n)
}

/// `dst[ob] = act(bias[ob] + sum_i src[i] * w[i][ob])` over `out_blocks` blocks of lanes: one
/// fully connected layer of [`se_fc`], with `w` laid out `[n_in][out_blocks*B]`.
#[allow(clippy::too_many_arguments)]
fn dense(f: &mut Fb, src: &str, n_in: usize, out_blocks: usize, w: &str, bias: &str, act_: &FusedAct, dst: &str) {
    let (b, vt) = (f.b, f.vt.clone());
    f.for_("0", &s(out_blocks), 1, &[], |f, ob, _| {
        let oo = f.i("mul", ob, &s(b));
        let init = f.vld(bias, &oo);
        let r = f.for_("0", &s(n_in), 1, &[(vt.clone(), init)], |f, i, acc| {
            let x = f.ld(src, i);
            let xv = f.splat(&x);
            let wo = f.i("mul", i, &s(out_blocks * b));
            let wo = f.i("add", &wo, &oo);
            let wv = f.vld(w, &wo);
            vec![f.fma(&xv, &wv, &acc[0])]
        });
        let y = act::apply(f, act_, &r[0]);
        f.vst(&y, dst, &oo);
        vec![]
    });
}

/// Elementwise `out = act(a * gate + r)` on blocked `[n][cb][hw][B]` data: `gate` (per image
/// and channel, `[n][cb*B]`) and `r` are optional. Items are (image, block) planes.
#[allow(clippy::too_many_arguments)]
pub fn blocked_eltwise(a: Loc, gate: Option<Loc>, r: Option<Loc>, out: Loc, planes: usize, hw: usize, act_: &FusedAct, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let ap = a.ptr(&mut f);
    let gp = gate.map(|g| g.ptr(&mut f));
    let rp = r.map(|r| r.ptr(&mut f));
    let op = out.ptr(&mut f);
    items(&mut f, |f, it| {
        let base = f.i("mul", it, &s(hw * b));
        let g = gp.as_ref().map(|gp| {
            let go = f.i("mul", it, &s(b));
            f.vld(gp, &go)
        });
        f.for_("0", &s(hw), 1, &[], |f, p, _| {
            let o = f.i("mul", p, &s(b));
            let o = f.i("add", &o, &base);
            let mut v = f.vld(&ap, &o);
            if let Some(g) = &g {
                v = f.vop("fmul", &v, g);
            }
            if let Some(rp) = &rp {
                let rv = f.vld(rp, &o);
                v = f.vop("fadd", &v, &rv);
            }
            let v = act::apply(f, act_, &v);
            f.vst(&v, &op, &o);
            vec![]
        });
    });
    let (body, locs) = f.finish();
    (body, locs, planes)
}

/// Elementwise `out = act(a + r)` (r optional) on `len` plain floats, in chunks.
pub fn plain_eltwise(a: Loc, r: Option<Loc>, out: Loc, len: usize, act_: &FusedAct, b: usize) -> Gen {
    const CHUNK: usize = 4096;
    let mut f = Fb::new(b);
    let ap = a.ptr(&mut f);
    let rp = r.map(|r| r.ptr(&mut f));
    let op = out.ptr(&mut f);
    let vecs = len / b;
    let chunks = vecs.div_ceil(CHUNK / b).max(1);
    let per = (CHUNK / b).min(vecs.max(1));
    items(&mut f, |f, it| {
        let v0 = f.i("mul", it, &s(per));
        let v1 = f.i("add", &v0, &s(per));
        let v1 = f.imin(&v1, &s(vecs));
        f.for_(&v0, &v1, 1, &[], |f, vi, _| {
            let o = f.i("mul", vi, &s(b));
            let mut v = f.vld(&ap, &o);
            if let Some(rp) = &rp {
                let rv = f.vld(rp, &o);
                v = f.vop("fadd", &v, &rv);
            }
            let v = act::apply(f, act_, &v);
            f.vst(&v, &op, &o);
            vec![]
        });
        // The scalar tail, done by the last item: one lane at a time through lane 0.
        let last = f.icmp("eq", it, &s(chunks - 1));
        let tail = len % b;
        if tail > 0 {
            f.if_(&last, |f| {
                for k in vecs * b..len {
                    let x = f.ld(&ap, &s(k));
                    let vt = f.vt.clone();
                    let xv = f.def(&format!("insertelement {vt} zeroinitializer, float {x}, i32 0"));
                    let v = match &rp {
                        Some(rp) => {
                            let y = f.ld(rp, &s(k));
                            let yv = f.def(&format!("insertelement {vt} zeroinitializer, float {y}, i32 0"));
                            f.vop("fadd", &xv, &yv)
                        }
                        None => xv,
                    };
                    let v = act::apply(f, act_, &v);
                    let e = f.extract(&v, 0);
                    f.st(&e, &op, &s(k));
                }
            });
        }
    });
    let (body, locs) = f.finish();
    (body, locs, chunks)
}

/// `out[m][n] = sum_k a[m][k] * wt[k][n] + bias[n]`, `wt` packed `[k][NB*B]` (alpha folded in),
/// `bias` `[NB*B]` (beta folded in) or none. Items are (row, group of 4 column blocks).
#[allow(clippy::too_many_arguments)]
pub fn gemm(a: Loc, wt: Loc, bias: Option<Loc>, out: Loc, m: usize, k: usize, n: usize, b: usize) -> Gen {
    const NBT: usize = 4;
    let mut f = Fb::new(b);
    let vt = f.vt.clone();
    let nb = n.div_ceil(b);
    let groups = nb.div_ceil(NBT);
    let ap = a.ptr(&mut f);
    let wp = wt.ptr(&mut f);
    let bp = bias.map(|l| l.ptr(&mut f));
    let op = out.ptr(&mut f);
    let gen_group = |f: &mut Fb, row: &str, nb0: &str, cnt: usize| {
        let init: Vec<String> = (0..cnt)
            .map(|j| match &bp {
                Some(bp) => {
                    let c = f.i("add", nb0, &s(j));
                    let o = f.i("mul", &c, &s(b));
                    f.vld(bp, &o)
                }
                None => f.vzero(),
            })
            .collect();
        let ty: Vec<(String, String)> = init.iter().map(|v| (vt.clone(), v.clone())).collect();
        let arow = f.i("mul", row, &s(k));
        let accs = f.for_("0", &s(k), 1, &ty, |f, kk, accs| {
            let ai = f.i("add", &arow, kk);
            let av = f.ld(&ap, &ai);
            let sv = f.splat(&av);
            let wr = f.i("mul", kk, &s(nb * b));
            (0..cnt)
                .map(|j| {
                    let c = f.i("add", nb0, &s(j));
                    let o = f.i("mul", &c, &s(b));
                    let o = f.i("add", &o, &wr);
                    let w = f.vld(&wp, &o);
                    f.fma(&sv, &w, &accs[j])
                })
                .collect()
        });
        let orow = f.i("mul", row, &s(n));
        for (j, acc) in accs.iter().enumerate() {
            let c = f.i("add", nb0, &s(j));
            let col0 = f.i("mul", &c, &s(b));
            let o = f.i("add", &orow, &col0);
            // Columns past n: only whole blocks inside the row are stored as vectors.
            let end = f_add(f, &col0, b);
            let full = f.icmp("sle", &end, &s(n));
            let nfull = f.def(&format!("xor i1 {full}, true"));
            let (acc2, o2, col2) = (acc.clone(), o.clone(), col0.clone());
            f.if_(&full, |f| f.vst(&acc2, &op, &o2));
            f.if_(&nfull, |f| {
                for l in 0..b {
                    let cl = f.i("add", &col2, &s(l));
                    let inside = f.icmp("slt", &cl, &s(n));
                    let (acc3, o3) = (acc.clone(), o.clone());
                    f.if_(&inside, |f| {
                        let e = f.extract(&acc3, l);
                        let q = f.i("add", &o3, &s(l));
                        f.st(&e, &op, &q);
                    });
                }
            });
        }
    };
    items(&mut f, |f, it| {
        let d = digits(f, it, &[m, groups]);
        let (row, grp) = (&d[0], &d[1]);
        let nb0 = f.i("mul", grp, &s(NBT));
        let tail = nb - (groups - 1) * NBT;
        if tail == NBT {
            gen_group(f, row, &nb0, NBT);
        } else {
            let last = f.icmp("eq", grp, &s(groups - 1));
            let nl = f.def(&format!("xor i1 {last}, true"));
            f.if_(&last, |f| gen_group(f, row, &nb0, tail));
            f.if_(&nl, |f| gen_group(f, row, &nb0, NBT));
        }
    });
    let (body, locs) = f.finish();
    (body, locs, m * groups)
}

fn f_add(f: &mut Fb, a: &str, v: usize) -> String {
    f.i("add", a, &s(v))
}

/// The flat index of pixel (`y`, `x`) of plane `plane` of image `img` in `[n][planes][h][w]`
/// (plain data: planes are channels; blocked: channel blocks, times the lanes after).
#[allow(clippy::too_many_arguments)]
fn pixel_index(f: &mut Fb, img: &str, planes: usize, plane: &str, h: usize, y: &str, w: usize, x: &str) -> String {
    let q = f.i("mul", img, &s(planes));
    let q = f.i("add", &q, plane);
    let q = f.i("mul", &q, &s(h));
    let q = f.i("add", &q, y);
    let q = f.i("mul", &q, &s(w));
    f.i("add", &q, x)
}

/// NCHW `[n][c][hw]` to NCHWc, zero in padded lanes; items are (image, block, row of w).
pub fn to_blocked(x: Loc, out: Loc, n: usize, c: usize, h: usize, w: usize, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let cb = c.div_ceil(b);
    let xp = x.ptr(&mut f);
    let op = out.ptr(&mut f);
    let radices = [n, cb, h];
    items(&mut f, |f, it| {
        let d = digits(f, it, &radices);
        let (img, blk, y) = (&d[0], &d[1], &d[2]);
        f.for_("0", &s(w), 1, &[], |f, xx, _| {
            let q = pixel_index(f, img, cb, blk, h, y, w, xx);
            let q = f.i("mul", &q, &s(b));
            for l in 0..b {
                let ch = f.i("mul", blk, &s(b));
                let ch = f.i("add", &ch, &s(l));
                let inside = f.icmp("slt", &ch, &s(c));
                let src = pixel_index(f, img, c, &ch, h, y, w, xx);
                // Clamp the read index for padded lanes (their value is replaced by 0).
                let safe = f.isel(&inside, &src, "0");
                let v = f.ld(&xp, &safe);
                let v = f.def(&format!("select i1 {inside}, float {v}, float 0.0"));
                let qi = f.i("add", &q, &s(l));
                f.st(&v, &op, &qi);
            }
            vec![]
        });
    });
    let (body, locs) = f.finish();
    (body, locs, n * cb * h)
}

/// NCHWc to NCHW; items are (image, channel, row).
pub fn to_plain(x: Loc, out: Loc, n: usize, c: usize, h: usize, w: usize, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let cb = c.div_ceil(b);
    let xp = x.ptr(&mut f);
    let op = out.ptr(&mut f);
    let radices = [n, c, h];
    items(&mut f, |f, it| {
        let d = digits(f, it, &radices);
        let (img, ch, y) = (&d[0], &d[1], &d[2]);
        let blk = f.i("udiv", ch, &s(b));
        let lane = f.i("urem", ch, &s(b));
        f.for_("0", &s(w), 1, &[], |f, xx, _| {
            let q = pixel_index(f, img, cb, &blk, h, y, w, xx);
            let q = f.i("mul", &q, &s(b));
            let q = f.i("add", &q, &lane);
            let v = f.ld(&xp, &q);
            let dst = pixel_index(f, img, c, ch, h, y, w, xx);
            f.st(&v, &op, &dst);
            vec![]
        });
    });
    let (body, locs) = f.finish();
    (body, locs, n * c * h)
}

/// Copy `len` floats; one item.
pub fn copy(x: Loc, out: Loc, len: usize, b: usize) -> Gen {
    let mut f = Fb::new(b);
    let xp = x.ptr(&mut f);
    let op = out.ptr(&mut f);
    items(&mut f, |f, _| {
        f.for_("0", &s(len), 1, &[], |f, i, _| {
            let v = f.ld(&xp, i);
            f.st(&v, &op, i);
            vec![]
        });
    });
    let (body, locs) = f.finish();
    (body, locs, 1)
}

//! Activations as vector IR: the same functions as the IR ops' reference evaluation
//! (`senetc_ir::ops::Activation`), with e^x from the same range reduction and polynomial as
//! `senetc_kernels::elementwise::exp`, so fused epilogues agree with the interpreter to a few
//! ulps. Two liberties, each worth about 1 ulp: the polynomial's multiply-adds are fused, and
//! the sigmoid's division is an `arcp ninf` one, which the module's `reciprocal-estimates`
//! attribute lowers to a reciprocal estimate and one Newton step (a vector division costs
//! several times a whole polynomial on most x86 cores, and SiLU epilogues were dominated by it).
//!
//! Every function takes several vectors and emits each stage for all of them before the next:
//! e^x is a chain of about twenty dependent operations, and a few chains interleaved keep the
//! core busy while each waits on its previous result. Clamps are compares and selects, which
//! x86 does in one `max`/`min` (LLVM's `maxnum` adds a NaN fix-up of two more instructions).

use crate::llir::Fb;
use senetc_ir::ops::FusedAct;

fn ivec(b: usize, v: i32) -> String {
    let lanes: Vec<String> = (0..b).map(|_| format!("i32 {v}")).collect();
    format!("<{}>", lanes.join(", "))
}

/// `g(x)` for every `x`, in order.
fn each(f: &mut Fb, xs: &[String], mut g: impl FnMut(&mut Fb, &str) -> String) -> Vec<String> {
    xs.iter().map(|x| g(f, x)).collect()
}

/// `g(x, y)` for every pair.
fn each2(f: &mut Fb, xs: &[String], ys: &[String], mut g: impl FnMut(&mut Fb, &str, &str) -> String) -> Vec<String> {
    xs.iter().zip(ys).map(|(x, y)| g(f, x, y)).collect()
}

/// `x < lo ? lo : (x > hi ? hi : x)`: the reference's `clamp` (NaN stays NaN).
fn clamp(f: &mut Fb, xs: &[String], lo: f32, hi: f32) -> Vec<String> {
    let (l, h) = (f.vconst(lo), f.vconst(hi));
    let a = each(f, xs, |f, x| f.vsel_cmp("olt", x, &l, &l, x));
    each(f, &a, |f, x| f.vsel_cmp("ogt", x, &h, &h, x))
}

/// e^x lane-wise (clamped to [-87, 88] as the reference is).
pub fn exp(f: &mut Fb, xs: &[String]) -> Vec<String> {
    let x = clamp(f, xs, -87.0, 88.0);
    let log2e = f.vconst(std::f32::consts::LOG2_E);
    let shift = f.vconst(12_582_912.0);
    let t = each(f, &x, |f, x| f.fma(x, &log2e, &shift));
    let n = each(f, &t, |f, t| f.vop("fsub", t, &shift));
    // r = x - n*ln2_hi - n*ln2_lo, with n*ln2_hi exact (|n| <= 128).
    let nhi = f.vconst(-0.693_359_4);
    let nlo = f.vconst(2.121_944_4e-4);
    let r = each2(f, &n, &x, |f, n, x| f.fma(n, &nhi, x));
    let r = each2(f, &n, &r, |f, n, r| f.fma(n, &nlo, r));
    let c0 = f.vconst(1.987_569_1e-4);
    let mut p = vec![c0; xs.len()];
    for c in [1.398_199_9e-3f32, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        let cc = f.vconst(c);
        p = each2(f, &p, &r, |f, p, r| f.fma(p, r, &cc));
    }
    let pr = each2(f, &p, &r, |f, p, r| f.vop("fmul", p, r));
    let s = each2(f, &pr, &r, |f, pr, r| f.fma(pr, r, r));
    let one = f.vconst(1.0);
    let er = each(f, &s, |f, s| f.vop("fadd", s, &one));
    let nb = f.b;
    let it = format!("<{nb} x i32>");
    let vt = f.vt.clone();
    let p2 = each(f, &t, |f, t| {
        let bits = f.def(&format!("bitcast {vt} {t} to {it}"));
        let sb = f.def(&format!("sub {it} {bits}, {}", ivec(nb, 0x4B40_0000)));
        let bi = f.def(&format!("add {it} {sb}, {}", ivec(nb, 127)));
        let sh = f.def(&format!("shl {it} {bi}, {}", ivec(nb, 23)));
        f.def(&format!("bitcast {it} {sh} to {vt}"))
    });
    each2(f, &er, &p2, |f, e, p| f.vop("fmul", e, p))
}

/// 1 / (1 + e^-x).
pub fn sigmoid(f: &mut Fb, xs: &[String]) -> Vec<String> {
    let vt = f.vt.clone();
    let nx = each(f, xs, |f, x| f.def(&format!("fneg {vt} {x}")));
    let e = exp(f, &nx);
    let one = f.vconst(1.0);
    let d = each(f, &e, |f, e| f.vop("fadd", &one, e));
    // `ninf` holds: e^-x is clamped finite, so 1 + e^-x and its reciprocal are finite.
    each(f, &d, |f, d| f.vop("fdiv arcp ninf", &one, d))
}

/// Vectors per interleaved group: their intermediate values and the constants stay in
/// registers (16 vector registers with AVX2, 32 with AVX-512).
pub fn group(b: usize) -> usize {
    if b >= 16 {
        8
    } else {
        4
    }
}

/// `act(x)` lane-wise for every vector of `xs`, interleaved in groups.
pub fn apply_all(f: &mut Fb, a: &FusedAct, xs: &[String]) -> Vec<String> {
    let g = group(f.b);
    xs.chunks(g).flat_map(|c| apply_group(f, a, c)).collect()
}

fn apply_group(f: &mut Fb, a: &FusedAct, xs: &[String]) -> Vec<String> {
    match a {
        FusedAct::None => xs.to_vec(),
        FusedAct::Relu(_) => {
            let z = f.vzero();
            each(f, xs, |f, x| f.vsel_cmp("olt", x, &z, &z, x))
        }
        FusedAct::Clip(c) => clamp(f, xs, c.min, c.max),
        FusedAct::Sigmoid(_) => sigmoid(f, xs),
        FusedAct::HardSigmoid(h) => {
            let (al, be) = (f.vconst(h.alpha), f.vconst(h.beta));
            let s = each(f, xs, |f, x| {
                let m = f.vop("fmul", &al, x);
                f.vop("fadd", &m, &be)
            });
            clamp(f, &s, 0.0, 1.0)
        }
        FusedAct::HardSwish(_) => {
            let (six, half) = (f.vconst(6.0), f.vconst(0.5));
            let s = each(f, xs, |f, x| {
                let d = f.vop("fdiv", x, &six);
                f.vop("fadd", &d, &half)
            });
            let c = clamp(f, &s, 0.0, 1.0);
            each2(f, xs, &c, |f, x, c| f.vop("fmul", x, c))
        }
        FusedAct::Silu(_) => {
            let s = sigmoid(f, xs);
            each2(f, xs, &s, |f, x, s| f.vop("fmul", x, s))
        }
        FusedAct::LeakyRelu(l) => {
            let al = f.vconst(l.alpha);
            let z = f.vzero();
            each(f, xs, |f, x| {
                let m = f.vop("fmul", &al, x);
                f.vsel_cmp("olt", x, &z, &m, x)
            })
        }
    }
}

/// `act(x)` lane-wise.
pub fn apply(f: &mut Fb, a: &FusedAct, x: &str) -> String {
    apply_group(f, a, &[x.to_string()]).pop().expect("one vector")
}

/// Whether the activation goes through e^x (a chain of about twenty vector operations).
pub fn expensive(a: &FusedAct) -> bool {
    matches!(a, FusedAct::Sigmoid(_) | FusedAct::Silu(_))
}

//! Activations as vector IR: the same functions as the IR ops' reference evaluation
//! (`senetc_ir::ops::Activation`), with e^x from the same range reduction and polynomial as
//! `senetc_kernels::elementwise::exp`, so fused epilogues agree with the interpreter to a few
//! ulps. Two liberties, each worth about 1 ulp: the polynomial's multiply-adds are fused, and
//! the sigmoid's division is an `arcp ninf` one, which the module's `reciprocal-estimates`
//! attribute lowers to a reciprocal estimate and one Newton step (a vector division costs
//! several times a whole polynomial on most x86 cores, and SiLU epilogues were dominated by it).

use crate::llir::Fb;
use senetc_ir::ops::FusedAct;

fn ivec(b: usize, v: i32) -> String {
    let lanes: Vec<String> = (0..b).map(|_| format!("i32 {v}")).collect();
    format!("<{}>", lanes.join(", "))
}

/// e^x lane-wise (clamped to [-87, 88] as the reference is).
pub fn exp(f: &mut Fb, x: &str) -> String {
    let (lo, hi) = (f.vconst(-87.0), f.vconst(88.0));
    let x = f.vcall("maxnum", &[x, &lo]);
    let x = f.vcall("minnum", &[&x, &hi]);
    let log2e = f.vconst(std::f32::consts::LOG2_E);
    let shift = f.vconst(12_582_912.0);
    let t = f.fma(&x, &log2e, &shift);
    let n = f.vop("fsub", &t, &shift);
    // r = x - n*ln2_hi - n*ln2_lo, with n*ln2_hi exact (|n| <= 128).
    let nhi = f.vconst(-0.693_359_4);
    let nlo = f.vconst(2.121_944_4e-4);
    let r = f.fma(&n, &nhi, &x);
    let r = f.fma(&n, &nlo, &r);
    let mut p = f.vconst(1.987_569_1e-4);
    for c in [1.398_199_9e-3f32, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        let cc = f.vconst(c);
        p = f.fma(&p, &r, &cc);
    }
    let pr = f.vop("fmul", &p, &r);
    let s = f.fma(&pr, &r, &r);
    let one = f.vconst(1.0);
    let er = f.vop("fadd", &s, &one);
    let nb = f.b;
    let it = format!("<{nb} x i32>");
    let vt = f.vt.clone();
    let bits = f.def(&format!("bitcast {vt} {t} to {it}"));
    let sb = f.def(&format!("sub {it} {bits}, {}", ivec(nb, 0x4B40_0000)));
    let bi = f.def(&format!("add {it} {sb}, {}", ivec(nb, 127)));
    let sh = f.def(&format!("shl {it} {bi}, {}", ivec(nb, 23)));
    let p2 = f.def(&format!("bitcast {it} {sh} to {vt}"));
    f.vop("fmul", &er, &p2)
}

/// 1 / (1 + e^-x).
pub fn sigmoid(f: &mut Fb, x: &str) -> String {
    let vt = f.vt.clone();
    let nx = f.def(&format!("fneg {vt} {x}"));
    let e = exp(f, &nx);
    let one = f.vconst(1.0);
    let d = f.vop("fadd", &one, &e);
    // `ninf` holds: e^-x is clamped finite, so 1 + e^-x and its reciprocal are finite.
    f.vop("fdiv arcp ninf", &one, &d)
}

fn clamp(f: &mut Fb, x: &str, lo: f32, hi: f32) -> String {
    // kernels::elementwise::clamp: below lo gives lo, above hi gives hi.
    let (l, h) = (f.vconst(lo), f.vconst(hi));
    let a = f.vsel_cmp("olt", x, &l, &l, x);
    f.vsel_cmp("ogt", &a, &h, &h, &a)
}

/// `act(x)` lane-wise.
pub fn apply(f: &mut Fb, a: &FusedAct, x: &str) -> String {
    match a {
        FusedAct::None => x.to_string(),
        FusedAct::Relu(_) => {
            let z = f.vzero();
            f.vsel_cmp("olt", x, &z, &z, x)
        }
        FusedAct::Clip(c) => clamp(f, x, c.min, c.max),
        FusedAct::Sigmoid(_) => sigmoid(f, x),
        FusedAct::HardSigmoid(h) => {
            let (al, be) = (f.vconst(h.alpha), f.vconst(h.beta));
            let m = f.vop("fmul", &al, x);
            let s = f.vop("fadd", &m, &be);
            clamp(f, &s, 0.0, 1.0)
        }
        FusedAct::HardSwish(_) => {
            let (six, half) = (f.vconst(6.0), f.vconst(0.5));
            let d = f.vop("fdiv", x, &six);
            let s = f.vop("fadd", &d, &half);
            let c = clamp(f, &s, 0.0, 1.0);
            f.vop("fmul", x, &c)
        }
        FusedAct::Silu(_) => {
            let s = sigmoid(f, x);
            f.vop("fmul", x, &s)
        }
        FusedAct::LeakyRelu(l) => {
            let al = f.vconst(l.alpha);
            let m = f.vop("fmul", &al, x);
            let z = f.vzero();
            f.vsel_cmp("olt", x, &z, &m, x)
        }
    }
}

/// Whether the activation is the identity.
pub fn is_none(a: &FusedAct) -> bool {
    matches!(a, FusedAct::None)
}

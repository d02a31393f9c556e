//! A small writer of textual LLVM IR (LLVM 14, typed pointers). Kernels are generated as
//! text and parsed by LLVM (`Context::create_module_from_ir`): loop nests with constant
//! bounds read far better as IR text than as builder calls, and the text can be dumped
//! (`SENETC_DUMP_LL=path`) and fed to `opt`/`llc` when a kernel needs looking at.
//!
//! Values are SSA names (`%t12`) or literals; every helper returns the name of its result.

use std::fmt::Write;

/// A float constant in the exact hexadecimal form LLVM requires for non-representable decimals.
pub fn fc(v: f32) -> String {
    format!("0x{:016X}", (v as f64).to_bits())
}

/// One function body being written.
pub struct Fb {
    body: String,
    n: usize,
    cur: String,
    /// Vector lanes.
    pub b: usize,
    /// The vector type, `<B x float>`.
    pub vt: String,
    phis: Vec<(String, String)>,
    /// The buffers the body addresses, in parameter order (`%P[k]`).
    pub params: Vec<crate::kern::Loc>,
}

impl Fb {
    /// A body whose first block is `entry`, for vectors of `b` lanes.
    pub fn new(b: usize) -> Fb {
        Fb { body: "entry:\n".into(), n: 0, cur: "entry".into(), b, vt: format!("<{b} x float>"), phis: Vec::new(), params: Vec::new() }
    }

    /// The finished body (its blocks; the caller wraps it in `define ... { }`) and the
    /// buffers it takes.
    pub fn finish(mut self) -> (String, Vec<crate::kern::Loc>) {
        self.line("ret void");
        let mut s = self.body;
        for (key, text) in self.phis {
            s = s.replacen(&key, &text, 1);
        }
        (s, self.params)
    }

    fn t(&mut self) -> String {
        self.n += 1;
        format!("%t{}", self.n)
    }

    fn label_name(&mut self, hint: &str) -> String {
        self.n += 1;
        format!("{hint}{}", self.n)
    }

    /// Append one instruction line.
    pub fn line(&mut self, s: &str) {
        self.body.push_str("  ");
        self.body.push_str(s);
        self.body.push('\n');
    }

    fn label(&mut self, l: &str) {
        let _ = writeln!(self.body, "{l}:");
        self.cur = l.to_string();
    }

    /// `%r = <text>`.
    pub fn def(&mut self, text: &str) -> String {
        let r = self.t();
        self.line(&format!("{r} = {text}"));
        r
    }

    /// i64 binary op (`add`, `mul`, `sub`, `sdiv`, `srem`).
    pub fn i(&mut self, op: &str, a: &str, b: &str) -> String {
        self.def(&format!("{op} i64 {a}, {b}"))
    }

    /// i64 comparison (`slt`, `sge`, `eq`...).
    pub fn icmp(&mut self, pred: &str, a: &str, b: &str) -> String {
        self.def(&format!("icmp {pred} i64 {a}, {b}"))
    }

    /// `c ? a : b` on i64.
    pub fn isel(&mut self, c: &str, a: &str, b: &str) -> String {
        self.def(&format!("select i1 {c}, i64 {a}, i64 {b}"))
    }

    /// max(a, b) on i64.
    pub fn imax(&mut self, a: &str, b: &str) -> String {
        let c = self.icmp("sgt", a, b);
        self.isel(&c, a, b)
    }

    /// min(a, b) on i64.
    pub fn imin(&mut self, a: &str, b: &str) -> String {
        let c = self.icmp("slt", a, b);
        self.isel(&c, a, b)
    }

    /// The pointer to buffer `loc`, a parameter of the function: bodies that differ only
    /// in where their buffers are are one function.
    pub fn param(&mut self, loc: crate::kern::Loc) -> String {
        let k = match self.params.iter().position(|l| *l == loc) {
            Some(k) => k,
            None => {
                self.params.push(loc);
                self.params.len() - 1
            }
        };
        let pp = self.def(&format!("getelementptr inbounds float*, float** %P, i64 {k}"));
        self.def(&format!("load float*, float** {pp}, align 8"))
    }

    /// `base + idx` (in floats).
    pub fn gep(&mut self, base: &str, idx: &str) -> String {
        self.def(&format!("getelementptr inbounds float, float* {base}, i64 {idx}"))
    }

    /// Scalar load `base[idx]`.
    pub fn ld(&mut self, base: &str, idx: &str) -> String {
        let p = self.gep(base, idx);
        self.def(&format!("load float, float* {p}, align 4"))
    }

    /// Scalar store `base[idx] = v`.
    pub fn st(&mut self, v: &str, base: &str, idx: &str) {
        let p = self.gep(base, idx);
        self.line(&format!("store float {v}, float* {p}, align 4"));
    }

    fn vptr(&mut self, base: &str, idx: &str) -> String {
        let p = self.gep(base, idx);
        let vt = self.vt.clone();
        self.def(&format!("bitcast float* {p} to {vt}*"))
    }

    /// Vector load of `B` floats at `base[idx..]`.
    pub fn vld(&mut self, base: &str, idx: &str) -> String {
        let p = self.vptr(base, idx);
        let vt = self.vt.clone();
        self.def(&format!("load {vt}, {vt}* {p}, align 4"))
    }

    /// Vector store at `base[idx..]`.
    pub fn vst(&mut self, v: &str, base: &str, idx: &str) {
        let p = self.vptr(base, idx);
        let vt = self.vt.clone();
        self.line(&format!("store {vt} {v}, {vt}* {p}, align 4"));
    }

    /// A vector constant literal with every lane `v`.
    pub fn vconst(&self, v: f32) -> String {
        let c = fc(v);
        let lanes: Vec<String> = (0..self.b).map(|_| format!("float {c}")).collect();
        format!("<{}>", lanes.join(", "))
    }

    /// The zero vector.
    pub fn vzero(&self) -> String {
        "zeroinitializer".into()
    }

    /// Splat scalar `s` over all lanes.
    pub fn splat(&mut self, s: &str) -> String {
        let one = self.def(&format!("insertelement <1 x float> undef, float {s}, i32 0"));
        let mask = format!("<{} x i32> zeroinitializer", self.b);
        self.def(&format!("shufflevector <1 x float> {one}, <1 x float> undef, {mask}"))
    }

    /// Lane `l` of `v`.
    pub fn extract(&mut self, v: &str, l: usize) -> String {
        let vt = self.vt.clone();
        self.def(&format!("extractelement {vt} {v}, i32 {l}"))
    }

    /// `shufflevector v, v, mask` (lane l takes lane `mask[l]` of v).
    pub fn shuffle(&mut self, v: &str, mask: &[usize]) -> String {
        let vt = self.vt.clone();
        let m: Vec<String> = mask.iter().map(|i| format!("i32 {i}")).collect();
        self.def(&format!("shufflevector {vt} {v}, {vt} undef, <{} x i32> <{}>", self.b, m.join(", ")))
    }

    /// Vector float binary op (`fadd`, `fmul`, `fsub`, `fdiv`).
    pub fn vop(&mut self, op: &str, a: &str, b: &str) -> String {
        let vt = self.vt.clone();
        self.def(&format!("{op} {vt} {a}, {b}"))
    }

    /// `a * b + c` as one fused multiply-add.
    pub fn fma(&mut self, a: &str, b: &str, c: &str) -> String {
        let vt = self.vt.clone();
        let nb = self.b;
        self.def(&format!("call {vt} @llvm.fma.v{nb}f32({vt} {a}, {vt} {b}, {vt} {c})"))
    }

    /// Lane-wise `pred(a, b) ? x : y` with a float comparison.
    pub fn vsel_cmp(&mut self, pred: &str, a: &str, b: &str, x: &str, y: &str) -> String {
        let vt = self.vt.clone();
        let c = self.def(&format!("fcmp {pred} {vt} {a}, {b}"));
        self.def(&format!("select <{} x i1> {c}, {vt} {x}, {vt} {y}", self.b))
    }

    /// A counted loop `for iv in lo..hi step` carrying values of the given types
    /// (`(type, initial value)`); `body` gets the induction variable and the carried values and
    /// returns their next values. Returns the carried values after the loop.
    pub fn for_(&mut self, lo: &str, hi: &str, step: i64, carry: &[(String, String)], body: impl FnOnce(&mut Fb, &str, &[String]) -> Vec<String>) -> Vec<String> {
        let (h, bl, latch, exit) = (self.label_name("h"), self.label_name("b"), self.label_name("l"), self.label_name("e"));
        let pre = self.cur.clone();
        self.line(&format!("br label %{h}"));
        self.label(&h);
        let key = format!(";@@PHI{}@@", self.n);
        self.body.push_str(&key);
        self.body.push('\n');
        let iv = self.t();
        let ivn = self.t();
        let vals: Vec<String> = carry.iter().map(|_| self.t()).collect();
        let c = self.icmp("slt", &iv, hi);
        self.line(&format!("br i1 {c}, label %{bl}, label %{exit}"));
        self.label(&bl);
        let next = body(self, &iv, &vals);
        assert_eq!(next.len(), carry.len(), "loop body returned the wrong number of values");
        self.line(&format!("br label %{latch}"));
        self.label(&latch);
        self.line(&format!("{ivn} = add i64 {iv}, {step}"));
        self.line(&format!("br label %{h}"));
        self.label(&exit);
        let mut phis = format!("  {iv} = phi i64 [{lo}, %{pre}], [{ivn}, %{latch}]");
        for ((ty, init), (v, nx)) in carry.iter().zip(vals.iter().zip(&next)) {
            let _ = write!(phis, "\n  {v} = phi {ty} [{init}, %{pre}], [{nx}, %{latch}]");
        }
        self.phis.push((key, phis));
        vals
    }

    /// `if cond { then }`, merging values: `ins` are the values when `cond` is false, `then`
    /// returns the values when it is true. Returns the merged values.
    pub fn if_vals(&mut self, cond: &str, tys: &[String], ins: &[String], then: impl FnOnce(&mut Fb) -> Vec<String>) -> Vec<String> {
        let (tl, jl) = (self.label_name("then"), self.label_name("join"));
        let pre = self.cur.clone();
        self.line(&format!("br i1 {cond}, label %{tl}, label %{jl}"));
        self.label(&tl);
        let out = then(self);
        let tcur = self.cur.clone();
        self.line(&format!("br label %{jl}"));
        self.label(&jl);
        tys.iter()
            .zip(ins.iter().zip(&out))
            .map(|(ty, (a, b))| self.def(&format!("phi {ty} [{a}, %{pre}], [{b}, %{tcur}]")))
            .collect()
    }

    /// `if cond { then }`.
    pub fn if_(&mut self, cond: &str, then: impl FnOnce(&mut Fb)) {
        self.if_vals(cond, &[], &[], |f| {
            then(f);
            vec![]
        });
    }
}

/// Declarations of the intrinsics the kernels call, for `b`-lane vectors.
pub fn declarations(b: usize) -> String {
    let vt = format!("<{b} x float>");
    let mut s = String::new();
    let _ = writeln!(s, "declare {vt} @llvm.fma.v{b}f32({vt}, {vt}, {vt})");
    s
}

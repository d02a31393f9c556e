//! Lowering a graph at fixed shapes to a list of steps: generated kernels on NCHWc
//! activations with fused epilogues, layout conversions where a consumer needs NCHW, and
//! reference-evaluation steps for ops without a native kernel (JIT only).
//!
//! Memory: activations live in one arena at constant offsets. Buffers are planned by
//! liveness like the interpreter's plan (`senetc_codegen::cpu::plan`: best-fit reuse of a
//! dead buffer, never within the step that frees it); that plan cannot be reused as is
//! because the arena holds buffers that are not graph values (blocked copies, SE gates) and
//! blocked sizes include padded channels. Lowering runs twice: once to learn each buffer's
//! size and live range, once with the offsets to emit the code.

use crate::kern::{self, Base, ConvK, ConvMode, Loc, Window};
use crate::NativeError;
use senetc_ir::ops::{resolve_pads, FusedAct};
use senetc_ir::{DType, Dim, Graph, NodeId, Op, Outlet};
use std::collections::{BTreeMap, HashMap};

/// What a step runs.
pub enum StepKind {
    /// A generated function.
    Gen {
        /// Its body.
        body: String,
    },
    /// The op's reference evaluation on NCHW buffers.
    Reference {
        /// The node's op.
        op: Op,
        /// Operands: location and shape.
        ins: Vec<(Loc, Vec<usize>)>,
        /// Output location and shape.
        out: (Loc, Vec<usize>),
    },
}

/// One step of the plan.
pub struct Step {
    /// Function name (steps with the same code share one function).
    pub name: String,
    /// The buffers the function takes, in parameter order.
    pub locs: Vec<Loc>,
    /// Profile bucket.
    pub label: &'static str,
    /// Work items (split over threads).
    pub items: usize,
    /// Rough cost (multiply-adds or elements), to decide whether to split.
    pub cost: usize,
    /// Its items fall into this many equal, consecutive parts, one per image, each reading and
    /// writing only that image's part of every buffer (1: the step mixes images, or reads
    /// weights so large that it should see the whole batch at once).
    pub images: usize,
    /// What it runs.
    pub kind: StepKind,
}

/// A lowered graph.
pub struct Lowered {
    /// Vector lanes.
    pub b: usize,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The weight blob.
    pub weights: Vec<f32>,
    /// Arena floats.
    pub arena: usize,
    /// Input shape.
    pub input: Vec<usize>,
    /// Output name and shape.
    pub output: (String, Vec<usize>),
    /// Runs of steps that may run image by image (each image through the whole run before
    /// the next): at batch > 1 an image's activations stay in cache from one step to the next,
    /// where step by step over the whole batch they do not. Buffers touched in a run are live
    /// for all of it, so either order is correct.
    pub segments: Vec<std::ops::Range<usize>>,
}

#[derive(Clone)]
struct Val {
    shape: Vec<usize>,
    plain: Option<Loc>,
    blocked: Option<Loc>,
    /// `blocked * gate[n][c]`, not materialised (a squeeze-excitation's output).
    gated: Option<(Loc, Loc)>,
}

struct Buf {
    size: usize,
    def: usize,
    last: usize,
}

struct Lower<'g> {
    g: &'g Graph,
    b: usize,
    offsets: Option<Vec<usize>>,
    bufs: Vec<Buf>,
    steps: Vec<Step>,
    weights: Vec<f32>,
    vals: HashMap<Outlet, Val>,
    shapes: HashMap<Outlet, Vec<usize>>,
    const_locs: HashMap<NodeId, Loc>,
    /// Add nodes whose work a conv epilogue already did: their output is the conv's.
    absorbed: HashMap<NodeId, Outlet>,
    outputs: Vec<Outlet>,
}

fn unsupported(node: &str, why: impl Into<String>) -> NativeError {
    NativeError::Unsupported { node: node.to_string(), why: why.into() }
}

fn conv_label(group: usize, cin: usize, k: (usize, usize)) -> &'static str {
    if group > 1 && group == cin {
        "conv (depthwise)"
    } else if group > 1 {
        "conv (grouped)"
    } else if k == (1, 1) {
        "conv (1x1)"
    } else {
        "conv (kxk)"
    }
}

impl<'g> Lower<'g> {
    fn alloc(&mut self, size: usize) -> Loc {
        let id = self.bufs.len();
        let step = self.steps.len();
        self.bufs.push(Buf { size: size.max(1), def: step, last: step });
        let off = self.offsets.as_ref().map_or(id, |o| o[id]);
        Loc { base: Base::Arena, off }
    }

    /// Record that the next step reads or writes `loc`.
    fn touch(&mut self, loc: Loc) {
        // Live ranges come from the first pass, where offsets are buffer ids.
        if loc.base != Base::Arena || self.offsets.is_some() {
            return;
        }
        let step = self.steps.len();
        let b = &mut self.bufs[loc.off];
        b.last = b.last.max(step);
    }

    fn push_weights(&mut self, data: &[f32]) -> Loc {
        // 64-byte aligned.
        while !self.weights.len().is_multiple_of(16) {
            self.weights.push(0.0);
        }
        let off = self.weights.len();
        self.weights.extend_from_slice(data);
        Loc { base: Base::Weights, off }
    }

    fn step(&mut self, name_hint: &str, label: &'static str, cost: usize, images: usize, locs: &[Loc], gen: kern::Gen) {
        for &l in locs {
            self.touch(l);
        }
        let (body, params, items) = gen;
        // FNV-1a of the body: identical code (same shapes, other buffers) is one function.
        let h = body.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| (h ^ c as u64).wrapping_mul(0x0100_0000_01b3));
        let name = format!("{name_hint}_{h:016x}");
        debug_assert!(items.is_multiple_of(images), "{name}: {items} items in {images} images");
        self.steps.push(Step { name, locs: params, label, items, cost, images, kind: StepKind::Gen { body } });
    }

    fn const_data(&self, o: Outlet) -> Option<Vec<f32>> {
        match &self.g.node(o.node).op {
            Op::Const(c) => Some(c.tensor.to_f32().into_owned()),
            _ => None,
        }
    }

    fn val(&mut self, o: Outlet, who: &str) -> Result<Val, NativeError> {
        let o = *self.absorbed.get(&o.node).filter(|_| o.slot == 0).unwrap_or(&o);
        if let Some(v) = self.vals.get(&o) {
            return Ok(v.clone());
        }
        if let Op::Const(c) = &self.g.node(o.node).op {
            let loc = match self.const_locs.get(&o.node) {
                Some(l) => *l,
                None => {
                    let l = self.push_weights(&c.tensor.to_f32());
                    self.const_locs.insert(o.node, l);
                    l
                }
            };
            let v = Val { shape: c.tensor.shape().to_vec(), plain: Some(loc), blocked: None, gated: None };
            self.vals.insert(o, v.clone());
            return Ok(v);
        }
        Err(unsupported(who, "operand not computed"))
    }

    fn resolve(&self, o: Outlet) -> Outlet {
        *self.absorbed.get(&o.node).filter(|_| o.slot == 0).unwrap_or(&o)
    }

    fn blocked(&mut self, o: Outlet, who: &str) -> Result<Loc, NativeError> {
        let o = self.resolve(o);
        let v = self.val(o, who)?;
        if let Some(l) = v.blocked {
            return Ok(l);
        }
        if v.shape.len() != 4 {
            return Err(unsupported(who, "blocked layout needs 4-D"));
        }
        let (n, c, h, w) = (v.shape[0], v.shape[1], v.shape[2], v.shape[3]);
        let cb = c.div_ceil(self.b);
        let out = self.alloc(n * cb * h * w * self.b);
        if let Some((x, gate)) = v.gated {
            let k = kern::blocked_eltwise(x, Some(gate), None, out, n * cb, h * w, &FusedAct::None, self.b);
            self.step("se_scale", "squeeze_excite", n * cb * h * w * self.b, n, &[x, gate, out], k);
        } else {
            let x = v.plain.ok_or_else(|| unsupported(who, "value has no home"))?;
            let k = kern::to_blocked(x, out, n, c, h, w, self.b);
            self.step("to_nchwc", "reorder", n * c * h * w, n, &[x, out], k);
        }
        let e = self.vals.get_mut(&o).expect("value");
        e.blocked = Some(out);
        Ok(out)
    }

    fn plain(&mut self, o: Outlet, who: &str) -> Result<Loc, NativeError> {
        let o = self.resolve(o);
        let v = self.val(o, who)?;
        if let Some(l) = v.plain {
            return Ok(l);
        }
        let x = self.blocked(o, who)?;
        let s = &v.shape;
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let out = self.alloc(n * c * h * w);
        let k = kern::to_plain(x, out, n, c, h, w, self.b);
        self.step("to_nchw", "reorder", n * c * h * w, n, &[x, out], k);
        self.vals.get_mut(&o).expect("value").plain = Some(out);
        Ok(out)
    }

    fn set(&mut self, o: Outlet, v: Val) {
        self.vals.insert(o, v);
    }

    fn single_consumer(&self, o: Outlet) -> Option<NodeId> {
        let c = self.g.consumers(o);
        if c.len() == 1 && !self.outputs.contains(&o) {
            Some(c[0].0)
        } else {
            None
        }
    }

    fn lower_node(&mut self, id: NodeId) -> Result<(), NativeError> {
        let g = self.g;
        let node = g.node(id);
        let name = node.name.clone();
        let ins = g.inputs_of(id);
        let out_o = Outlet::new(id);
        let oshape = self.shapes[&out_o].clone();
        if self.absorbed.contains_key(&id) {
            return Ok(());
        }
        let b = self.b;
        match &node.op {
            Op::Input | Op::Const(_) => Ok(()),
            op if op.is_view() => {
                let x = self.plain(ins[0], &name)?;
                self.set(out_o, Val { shape: oshape, plain: Some(x), blocked: None, gated: None });
                Ok(())
            }
            Op::Conv(c) if self.conv_ok(c, &ins) => self.conv(id, c, &ins, &oshape),
            Op::SqueezeExcite(se) if se.format == senetc_ir::ops::DataFormat::Nchw && ins[1..].iter().all(|&o| self.const_data(o).is_some()) => {
                let xs = self.shapes[&ins[0]].clone();
                let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
                let cr = self.shapes[&ins[1]][0];
                let x = self.blocked(ins[0], &name)?;
                let (cb, crb) = (c.div_ceil(b), cr.div_ceil(b));
                let pooled = self.alloc(n * cb * b);
                let k = kern::channel_mean(x, pooled, n, c, h * w, false, b);
                self.step("se_pool", "squeeze_excite", n * cb * h * w * b, n, &[x, pooled], k);
                let (w1, b1, w2, b2) = (self.const_data(ins[1]).unwrap(), self.const_data(ins[2]).unwrap(), self.const_data(ins[3]).unwrap(), self.const_data(ins[4]).unwrap());
                let mut w1t = vec![0.0; c * crb * b];
                for j in 0..cr {
                    for ci in 0..c {
                        w1t[ci * crb * b + j] = w1[j * c + ci];
                    }
                }
                let mut w2t = vec![0.0; cr * cb * b];
                for ci in 0..c {
                    for j in 0..cr {
                        w2t[j * cb * b + ci] = w2[ci * cr + j];
                    }
                }
                let mut b1p = b1.clone();
                b1p.resize(crb * b, 0.0);
                let mut b2p = b2.clone();
                b2p.resize(cb * b, 0.0);
                let (w1l, b1l, w2l, b2l) = (self.push_weights(&w1t), self.push_weights(&b1p), self.push_weights(&w2t), self.push_weights(&b2p));
                let hidden = self.alloc(n * crb * b);
                let gate = self.alloc(n * cb * b);
                let k = kern::se_fc(pooled, hidden, gate, w1l, b1l, w2l, b2l, n, c, cr, &se.act, &se.gate, b);
                self.step("se_fc", "squeeze_excite", 1, n, &[pooled, hidden, gate], k);
                // The gate is applied by the consumer when it can (a conv's weights, an add). A conv
                // scales its weight vectors once per input channel and register tile, about 1/t more
                // vector work than the conv itself; a separate scaling pass costs about one vector op
                // per input element, which is cheaper once the conv has more than a few output blocks.
                let fusable = self.single_consumer(out_o).is_some_and(|cid| match &g.node(cid).op {
                    Op::Conv(cc) => {
                        let ci = g.inputs_of(cid);
                        self.conv_ok(cc, &ci) && cc.group == 1 && ci[0] == out_o && self.shapes[&ci[1]][0] <= 4 * b
                    }
                    Op::Add(_) | Op::AddAct(_) => {
                        let ci = g.inputs_of(cid);
                        self.shapes[&ci[0]] == self.shapes[&ci[1]]
                    }
                    _ => false,
                });
                if fusable {
                    self.set(out_o, Val { shape: oshape, plain: None, blocked: None, gated: Some((x, gate)) });
                } else {
                    let out = self.alloc(n * cb * h * w * b);
                    let k = kern::blocked_eltwise(x, Some(gate), None, out, n * cb, h * w, &FusedAct::None, b);
                    self.step("se_scale", "squeeze_excite", n * cb * h * w * b, n, &[x, gate, out], k);
                    self.set(out_o, Val { shape: oshape, plain: None, blocked: Some(out), gated: None });
                }
                Ok(())
            }
            Op::Add(_) | Op::AddAct(_) if self.shapes[&ins[0]] == self.shapes[&ins[1]] => {
                let act = match &node.op {
                    Op::AddAct(a) => a.act.clone(),
                    _ => FusedAct::None,
                };
                self.eltwise(id, &ins, Some(ins[1]), act, &oshape, "add")
            }
            op if FusedAct::from_op(op).is_some() => {
                let act = FusedAct::from_op(op).unwrap();
                self.eltwise(id, &ins, None, act, &oshape, "act")
            }
            Op::MaxPool(p) if p.kernel.len() == 2 && p.format == senetc_ir::ops::DataFormat::Nchw && self.shapes[&ins[0]].len() == 4 => {
                let xs = self.shapes[&ins[0]].clone();
                let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
                let ph = resolve_pads(p.auto_pad, h, p.kernel[0], p.strides[0], p.dilations[0], (p.pads[0], p.pads[2]));
                let pw = resolve_pads(p.auto_pad, w, p.kernel[1], p.strides[1], p.dilations[1], (p.pads[1], p.pads[3]));
                let win = Window { h, w, oh: oshape[2], ow: oshape[3], kh: p.kernel[0], kw: p.kernel[1], sh: p.strides[0], sw: p.strides[1], dh: p.dilations[0], dw: p.dilations[1], pt: ph.0, pl: pw.0 };
                let x = self.blocked(ins[0], &name)?;
                let out = self.alloc(n * c.div_ceil(b) * win.oh * win.ow * b);
                let k = kern::max_pool(x, out, n, c, &win, b);
                self.step("max_pool", "max_pool", n * c * win.oh * win.ow * win.kh * win.kw, n, &[x, out], k);
                self.set(out_o, Val { shape: oshape, plain: None, blocked: Some(out), gated: None });
                Ok(())
            }
            Op::ReduceMean(r) if self.shapes[&ins[0]].len() == 4 && r.axes_for(4).ok() == Some(vec![2, 3]) => self.global_mean(id, &ins, &oshape),
            // 1-D and 3-D inputs (N-D pooling) run their reference evaluation below.
            Op::GlobalAveragePool(p) if p.format == senetc_ir::ops::DataFormat::Nchw && self.shapes[&ins[0]].len() == 4 => self.global_mean(id, &ins, &oshape),
            Op::Gemm(gm) if !gm.trans_a && self.const_data(ins[1]).is_some() && ins.get(2).is_none_or(|&c| self.const_data(c).is_some() && self.shapes[&c].iter().product::<usize>() == oshape[1] && self.shapes[&c].len() <= 2 && self.shapes[&c].first().is_some_and(|&d| d == 1 || self.shapes[&c].len() == 1)) => {
                let (m, n) = (oshape[0], oshape[1]);
                let k = self.shapes[&ins[0]][1];
                let wd = self.const_data(ins[1]).unwrap();
                let nb = n.div_ceil(b);
                let mut wt = vec![0.0; k * nb * b];
                for kk in 0..k {
                    for j in 0..n {
                        let v = if gm.trans_b { wd[j * k + kk] } else { wd[kk * n + j] };
                        wt[kk * nb * b + j] = gm.alpha * v;
                    }
                }
                let wl = self.push_weights(&wt);
                let bl = match ins.get(2) {
                    Some(&c) => {
                        let mut cd: Vec<f32> = self.const_data(c).unwrap().iter().map(|v| gm.beta * v).collect();
                        cd.resize(nb * b, 0.0);
                        Some(self.push_weights(&cd))
                    }
                    None => None,
                };
                let a = self.plain(ins[0], &name)?;
                let out = self.alloc(m * n);
                let kk = kern::gemm(a, wl, bl, out, m, k, n, b);
                self.step("gemm", "gemm", m * n * k, 1, &[a, out], kk);
                self.set(out_o, Val { shape: oshape, plain: Some(out), blocked: None, gated: None });
                Ok(())
            }
            op => {
                let mut operands = Vec::new();
                for &o in &ins {
                    let l = self.plain(o, &name)?;
                    operands.push((l, self.shapes[&self.resolve(o)].clone()));
                }
                let out = self.alloc(oshape.iter().product());
                for (l, _) in operands.clone() {
                    self.touch(l);
                }
                self.touch(out);
                let nm = format!("ref{}_{}", self.steps.len(), op.name());
                self.steps.push(Step { name: nm, locs: vec![], label: op.name(), items: 1, cost: 1, images: 1, kind: StepKind::Reference { op: op.clone(), ins: operands, out: (out, oshape.clone()) } });
                self.set(out_o, Val { shape: oshape, plain: Some(out), blocked: None, gated: None });
                Ok(())
            }
        }
    }

    fn global_mean(&mut self, id: NodeId, ins: &[Outlet], oshape: &[usize]) -> Result<(), NativeError> {
        let name = self.g.node(id).name.clone();
        let xs = self.shapes[&ins[0]].clone();
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let x = self.blocked(ins[0], &name)?;
        let out = self.alloc(n * c);
        let k = kern::channel_mean(x, out, n, c, h * w, true, self.b);
        self.step("mean", "reduce_mean", n * c * h * w, n, &[x, out], k);
        self.set(Outlet::new(id), Val { shape: oshape.to_vec(), plain: Some(out), blocked: None, gated: None });
        Ok(())
    }

    fn eltwise(&mut self, id: NodeId, ins: &[Outlet], other: Option<Outlet>, act: FusedAct, oshape: &[usize], hint: &str) -> Result<(), NativeError> {
        let name = self.g.node(id).name.clone();
        let b = self.b;
        let out_o = Outlet::new(id);
        let (a0, a1) = (self.resolve(ins[0]), other.map(|o| self.resolve(o)));
        let v0 = self.val(a0, &name)?;
        let v1 = match a1 {
            Some(o) => Some(self.val(o, &name)?),
            None => None,
        };
        let label: &'static str = if hint == "add" { if matches!(act, FusedAct::None) { "add" } else { "add_act" } } else { self.g.node(id).op.name() };
        let four = oshape.len() == 4;
        let any_blocked = v0.blocked.is_some() || v0.gated.is_some() || v1.as_ref().is_some_and(|v| v.blocked.is_some() || v.gated.is_some());
        if four && any_blocked {
            let (n, c, h, w) = (oshape[0], oshape[1], oshape[2], oshape[3]);
            let cb = c.div_ceil(b);
            // The gated operand (if any) goes first, where the kernel applies the gate.
            let (first, second) = if v1.as_ref().is_some_and(|v| v.gated.is_some()) && v0.gated.is_none() { (a1.unwrap(), Some(a0)) } else { (a0, a1) };
            let fv = self.val(first, &name)?;
            let (x, gate) = match fv.gated {
                Some((x, g)) if fv.blocked.is_none() => (x, Some(g)),
                _ => (self.blocked(first, &name)?, None),
            };
            let r = match second {
                Some(o) => Some(self.blocked(o, &name)?),
                None => None,
            };
            let out = self.alloc(n * cb * h * w * b);
            let mut locs = vec![x, out];
            locs.extend(gate);
            locs.extend(r);
            let k = kern::blocked_eltwise(x, gate, r, out, n * cb, h * w, &act, b);
            self.step(hint, label, n * cb * h * w * b, n, &locs, k);
            self.set(out_o, Val { shape: oshape.to_vec(), plain: None, blocked: Some(out), gated: None });
        } else {
            let x = self.plain(a0, &name)?;
            let r = match a1 {
                Some(o) => Some(self.plain(o, &name)?),
                None => None,
            };
            let len: usize = oshape.iter().product();
            let out = self.alloc(len);
            let mut locs = vec![x, out];
            locs.extend(r);
            let k = kern::plain_eltwise(x, r, out, len, &act, b);
            self.step(hint, label, len, 1, &locs, k);
            self.set(out_o, Val { shape: oshape.to_vec(), plain: Some(out), blocked: None, gated: None });
        }
        Ok(())
    }

    fn conv_mode(&self, c: &senetc_ir::ops::Conv, cin: usize, cout: usize) -> Option<ConvMode> {
        let b = self.b;
        let (cg, cog) = (cin / c.group, cout / c.group);
        if c.group == 1 {
            Some(ConvMode::Broadcast { obt: 1 })
        } else if cin == cout && cg == cog && b.is_multiple_of(cg) {
            Some(ConvMode::Shuffle)
        } else if cg.is_multiple_of(b) && cog.is_multiple_of(b) {
            Some(ConvMode::Broadcast { obt: 1 })
        } else {
            None
        }
    }

    fn conv_ok(&self, c: &senetc_ir::ops::Conv, ins: &[Outlet]) -> bool {
        if c.format != senetc_ir::ops::DataFormat::Nchw || self.const_data(ins[1]).is_none() || ins.get(2).is_some_and(|&o| self.const_data(o).is_none()) {
            return false;
        }
        let (xs, ws) = (&self.shapes[&ins[0]], &self.shapes[&ins[1]]);
        self.conv_mode(c, xs[1], ws[0]).is_some()
    }

    fn conv(&mut self, id: NodeId, c: &senetc_ir::ops::Conv, ins: &[Outlet], oshape: &[usize]) -> Result<(), NativeError> {
        let g = self.g;
        let name = g.node(id).name.clone();
        let b = self.b;
        let xs = self.shapes[&ins[0]].clone();
        let ws = self.shapes[&ins[1]].clone();
        let (n, cin, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let (cout, kh, kw) = (ws[0], ws[2], ws[3]);
        let (ph, pw) = (c.pads_for(0, h, kh), c.pads_for(1, w, kw));
        let win = Window { h, w, oh: oshape[2], ow: oshape[3], kh, kw, sh: c.strides[0], sw: c.strides[1], dh: c.dilations[0], dw: c.dilations[1], pt: ph.0, pl: pw.0 };
        let mut mode = self.conv_mode(c, cin, cout).expect("checked");
        let ob = cout.div_ceil(b);
        let cg = cin / c.group;
        let cog = cout / c.group;
        // Register tile: accumulators fill about 3/4 of the vector registers.
        let regs = if b >= 16 { 24 } else { 12 };
        if let ConvMode::Broadcast { .. } = mode {
            let per_group = if c.group == 1 { ob } else { cog / b };
            let obt = [4, 3, 2, 1].into_iter().find(|&t| per_group.is_multiple_of(t) && t * 3 <= regs / 2).unwrap_or(1);
            mode = ConvMode::Broadcast { obt };
        }
        let obt = match mode {
            ConvMode::Broadcast { obt } => obt,
            ConvMode::Shuffle => 1,
        };
        let owt = match mode {
            ConvMode::Broadcast { .. } => (regs / obt).max(1),
            // The accumulators and one kernel row's input window (reused across the row's taps)
            // stay in registers, with two to spare for a weight and a shuffled input.
            ConvMode::Shuffle => {
                let vregs = if b >= 16 { 32 } else { 16 };
                let window = |t: usize| (t - 1) * win.sw + (kw - 1) * win.dw + 1;
                (1..=(regs / 2).max(1)).rev().find(|&t| t + window(t) + 2 <= vregs).unwrap_or(1)
            }
        };
        // Weights packed [OB][cg][kh][kw][B].
        let wd = self.const_data(ins[1]).unwrap();
        let taps = kh * kw;
        let mut wp = vec![0.0f32; ob * cg * taps * b];
        for oc in 0..cout {
            let (obk, lane) = (oc / b, oc % b);
            for j in 0..cg {
                for t in 0..taps {
                    wp[((obk * cg + j) * taps + t) * b + lane] = wd[(oc * cg + j) * taps + t];
                }
            }
        }
        let wl = self.push_weights(&wp);
        let bl = match ins.get(2) {
            Some(&bo) => {
                let mut bd = self.const_data(bo).unwrap();
                bd.resize(ob * b, 0.0);
                Some(self.push_weights(&bd))
            }
            None => None,
        };
        let _ = cog;
        // The input: blocked, or a squeeze-excitation's output whose gate scales the weights.
        let xo = self.resolve(ins[0]);
        let xv = self.val(xo, &name)?;
        let (x, in_gate) = match (xv.blocked, xv.gated) {
            (None, Some((x, gate))) if matches!(mode, ConvMode::Broadcast { .. }) && c.group == 1 => (x, Some(gate)),
            _ => (self.blocked(xo, &name)?, None),
        };
        // A residual add (or add+act) as the only consumer, its other operand already computed.
        let out_o = Outlet::new(id);
        let mut residual = None;
        if let Some(cid) = self.single_consumer(out_o) {
            let cn = g.node(cid);
            let act2 = match &cn.op {
                Op::Add(_) => Some(FusedAct::None),
                Op::AddAct(a) => Some(a.act.clone()),
                _ => None,
            };
            let cins = g.inputs_of(cid);
            if let Some(act2) = act2 {
                if cins.len() == 2 && self.shapes[&cins[0]] == self.shapes[&cins[1]] {
                    let other = if cins[0] == out_o { cins[1] } else { cins[0] };
                    let ready = other != out_o && (matches!(g.node(other.node).op, Op::Input) || self.vals.contains_key(&self.resolve(other)));
                    let other_v = if ready { Some(self.val(self.resolve(other), &name)?) } else { None };
                    if let Some(ov) = other_v {
                        if ov.gated.is_none() || ov.blocked.is_some() {
                            let r = self.blocked(other, &name)?;
                            residual = Some((r, act2, cid));
                        }
                    }
                }
            }
        }
        let out = self.alloc(n * ob * win.oh * win.ow * b);
        let k = ConvK {
            n,
            cin,
            cout,
            group: c.group,
            win,
            act: c.act.clone(),
            x,
            out,
            w: wl,
            bias: bl,
            residual: residual.as_ref().map(|(r, a, _)| (*r, a.clone())),
            in_gate,
            mode,
            owt,
        };
        let _ = cg;
        let (items, _) = k.items(b);
        let mut locs = vec![x, out];
        locs.extend(in_gate);
        if let Some((r, _, _)) = &residual {
            locs.push(*r);
        }
        let gen = kern::conv(&k, b);
        let _ = items;
        let label = conv_label(c.group, cin, (kh, kw));
        // Image by image unless the weights outweigh an image's activations (the late layers of
        // a classifier): those are better read once for the whole batch.
        let images = if wp.len() > cin * h * w + cout * oshape[2] * oshape[3] { 1 } else { n };
        self.step("conv", label, k.macs(), images, &locs, gen);
        let v = Val { shape: oshape.to_vec(), plain: None, blocked: Some(out), gated: None };
        if let Some((_, _, cid)) = residual {
            self.absorbed.insert(cid, out_o);
        }
        self.set(out_o, v);
        Ok(())
    }
}

/// Vector lanes for CPU features `features` (LLVM's `+avx512f,...` list).
pub fn lanes_for(features: &str) -> usize {
    let has = |f: &str| features.split(',').any(|x| x == format!("+{f}"));
    if has("avx512f") {
        16
    } else if has("avx2") && has("fma") {
        8
    } else {
        4
    }
}

type Shapes = HashMap<Outlet, Vec<usize>>;

fn shapes_of(g: &Graph, input_shapes: &[Vec<usize>]) -> Result<(Vec<NodeId>, Shapes), NativeError> {
    let bad = |m: String| NativeError::Input(m);
    if input_shapes.len() != g.inputs().len() {
        return Err(bad(format!("the model has {} inputs, {} given", g.inputs().len(), input_shapes.len())));
    }
    let mut bindings: BTreeMap<String, usize> = BTreeMap::new();
    for (&id, given) in g.inputs().iter().zip(input_shapes) {
        let want = &g.node(id).outputs[0].shape;
        if want.rank() != given.len() {
            return Err(bad(format!("input {:?} expects shape {want}, got {given:?}", g.node(id).name)));
        }
        for (d, &n) in want.0.iter().zip(given) {
            match d {
                Dim::Known(k) if *k != n => return Err(bad(format!("input {:?} expects shape {want}, got {given:?}", g.node(id).name))),
                Dim::Sym(s) => {
                    bindings.insert(s.clone(), n);
                }
                _ => {}
            }
        }
    }
    let order = g.topo_order().map_err(|e| bad(e.to_string()))?;
    let mut shapes = HashMap::new();
    for &id in &order {
        let node = g.node(id);
        for (slot, t) in node.outputs.iter().enumerate() {
            if t.dtype != DType::F32 && !matches!(node.op, Op::Const(_)) {
                return Err(unsupported(&node.name, format!("the native engine runs f32 graphs; this value is {}", t.dtype)));
            }
            let s = t.shape.bind(&|s| bindings.get(s).copied()).as_known().ok_or_else(|| bad(format!("node {:?}: unbound shape {}", node.name, t.shape)))?;
            shapes.insert(Outlet { node: id, slot }, s);
        }
    }
    Ok((order, shapes))
}

fn run_lowering<'g>(g: &'g Graph, input_shapes: &[Vec<usize>], b: usize, offsets: Option<Vec<usize>>) -> Result<(Lower<'g>, Vec<NodeId>), NativeError> {
    let (order, shapes) = shapes_of(g, input_shapes)?;
    if g.inputs().len() != 1 || g.outputs().len() != 1 {
        return Err(NativeError::Input(format!("the native engine takes models with one input and one output ({} and {} here)", g.inputs().len(), g.outputs().len())));
    }
    // A constant output (a folded Shape, say) may be of any type; the engine writes f32.
    let (oname, o) = &g.outputs()[0];
    let odtype = g.node(o.node).outputs[o.slot].dtype;
    if odtype != DType::F32 {
        return Err(unsupported(oname, format!("the native engine writes f32 outputs; this one is {odtype}")));
    }
    let outputs = g.outputs().iter().map(|(_, o)| *o).collect();
    let mut l = Lower { g, b, offsets, bufs: Vec::new(), steps: Vec::new(), weights: Vec::new(), vals: HashMap::new(), shapes, const_locs: HashMap::new(), absorbed: HashMap::new(), outputs };
    let inp = g.inputs()[0];
    let ishape = l.shapes[&Outlet::new(inp)].clone();
    l.vals.insert(Outlet::new(inp), Val { shape: ishape, plain: Some(Loc { base: Base::Input, off: 0 }), blocked: None, gated: None });
    for &id in &order {
        l.lower_node(id)?;
    }
    let (_, o) = g.outputs()[0].clone();
    let src = l.plain(o, "output")?;
    let len: usize = l.shapes[&o].iter().product();
    let dst = Loc { base: Base::Output, off: 0 };
    let k = kern::copy(src, dst, len, b);
    l.step("output", "reorder", len, 1, &[src], k);
    Ok((l, order))
}

/// Plan arena offsets for buffers by liveness: best-fit reuse of a buffer whose last use
/// is before the new one's first.
fn plan_offsets(bufs: &[Buf]) -> (Vec<usize>, usize) {
    let align = |v: usize| v.div_ceil(16) * 16;
    // Slots: (offset, capacity, free after step).
    let mut slots: Vec<(usize, usize, usize)> = Vec::new();
    let mut end = 0usize;
    let mut offsets = Vec::with_capacity(bufs.len());
    for b in bufs {
        let need = align(b.size);
        let pick = slots.iter().enumerate().filter(|(_, s)| s.2 < b.def && s.1 >= need).min_by_key(|(_, s)| s.1).map(|(i, _)| i);
        match pick {
            Some(i) => {
                slots[i].2 = b.last;
                offsets.push(slots[i].0);
            }
            None => {
                slots.push((end, need, b.last));
                offsets.push(end);
                end += need;
            }
        }
    }
    (offsets, end)
}

/// The maximal runs of steps that split by image, at a batch of more than one image.
fn segments(steps: &[Step], batch: usize) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    if batch < 2 {
        return out;
    }
    for (i, st) in steps.iter().enumerate() {
        if st.images != batch {
            continue;
        }
        match out.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// Lower `g` for inputs of `input_shapes` with `b`-lane vectors.
pub fn lower(g: &Graph, input_shapes: &[Vec<usize>], b: usize) -> Result<Lowered, NativeError> {
    let (mut first, _) = run_lowering(g, input_shapes, b, None)?;
    let batch = first.shapes[&Outlet::new(g.inputs()[0])].first().copied().unwrap_or(1);
    // A buffer touched inside a segment is live for all of it: image 1 still reads what
    // image 0 has finished with.
    for seg in segments(&first.steps, batch) {
        for buf in &mut first.bufs {
            if seg.contains(&buf.def) {
                buf.def = seg.start;
            }
            if seg.contains(&buf.last) {
                buf.last = seg.end - 1;
            }
        }
    }
    let (offsets, arena) = plan_offsets(&first.bufs);
    let (second, _) = run_lowering(g, input_shapes, b, Some(offsets))?;
    let segments = segments(&second.steps, batch);
    let input = second.shapes[&Outlet::new(g.inputs()[0])].clone();
    let (oname, o) = g.outputs()[0].clone();
    let oshape = second.shapes[&o].clone();
    Ok(Lowered { b, steps: second.steps, weights: second.weights, arena: arena.max(16), input, output: (oname, oshape), segments })
}

//! The layers architectures are made of, each binding its weights by module path: a conv
//! reads `<module>.weight` (OIHW) and its channel count and groups from the tensor's shape,
//! a batch norm its four vectors, a linear layer its matrix. Every missing and mis-shaped
//! tensor is recorded and the walk goes on (an activation whose weights failed has no graph
//! value but may still know its channel count), so one pass over the topology reports them
//! all; tensors nothing took are reported after it. Ops are the unfused ones an ONNX export
//! of the same module gives, so the passes fuse them exactly as for ONNX.

use senetc_import::weights::WeightMap;
use senetc_import::Problem;
use senetc_ir::ops::*;
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Shape, Tensor, TensorType};
use std::collections::{BTreeMap, BTreeSet};

/// An activation during the walk: its graph value (none once something it depends on
/// failed) and its channel count (none when no weight told it).
#[derive(Clone, Copy, Debug)]
pub struct X {
    /// The graph value.
    pub o: Option<Outlet>,
    /// Channels.
    pub c: Option<usize>,
}

/// How a conv's groups follow from its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Groups {
    /// A plain conv: the weight's second dim is the input channel count.
    One,
    /// A grouped conv: groups = input channels / the weight's second dim.
    FromShape,
    /// Depthwise: one filter per input channel.
    Depthwise,
}

/// Activations, as the IR ops an export gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// x * sigmoid(x).
    Silu,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
}

/// Builds one architecture's graph from a weight map.
pub struct Net<'w> {
    g: Graph,
    weights: &'w WeightMap,
    /// Only check names and shapes; no graph, no conversions (scoring the architectures).
    check_only: bool,
    used: BTreeSet<String>,
    problems: Vec<Problem>,
    /// Tensors converted to f32 at bind time, by the file's element type.
    pub converted: BTreeMap<DType, usize>,
}

fn show(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

impl<'w> Net<'w> {
    /// A graph called `name` over `weights`.
    pub fn new(name: &str, weights: &'w WeightMap, check_only: bool) -> Net<'w> {
        Net { g: Graph::new(name), weights, check_only, used: BTreeSet::new(), problems: Vec::new(), converted: BTreeMap::new() }
    }

    /// The image input `input` : f32[batch, 3, h, w].
    pub fn input(&mut self, h: usize, w: usize) -> X {
        let ty = TensorType::new(DType::F32, Shape(vec![Dim::Sym("batch".into()), Dim::Known(3), Dim::Known(h), Dim::Known(w)]));
        let o = self.g.add_input("input", ty);
        X { o: Some(o), c: Some(3) }
    }

    /// Record a problem that is not about one weight (a node, the topology).
    pub fn problem(&mut self, node: &str, op: &str, what: impl Into<String>) {
        self.problems.push(Problem::new(node, op, what));
    }

    /// Whether the map holds `name`.
    pub fn has(&self, name: &str) -> bool {
        self.weights.contains_key(name)
    }

    /// The shape of `name` in the map, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.weights.get(name).map(Tensor::shape)
    }

    /// Take the weight `name`, which must have `want`'s rank and its known dims.
    fn take(&mut self, name: &str, want: &[Option<usize>]) -> Option<Tensor> {
        let Some(t) = self.weights.get(name) else {
            self.problems.push(Problem::new(name, "weight", format!("missing (expected shape {})", show(want))));
            return None;
        };
        self.used.insert(name.to_string());
        let fits = t.shape().len() == want.len() && t.shape().iter().zip(want).all(|(&d, w)| w.is_none_or(|w| w == d));
        if !fits {
            self.problems.push(Problem::new(name, "weight", format!("has shape {:?}, expected {}", t.shape(), show(want))));
            return None;
        }
        if !t.dtype().is_float() {
            self.problems.push(Problem::new(name, "weight", format!("holds {} values, expected floats", t.dtype())));
            return None;
        }
        Some(t.clone())
    }

    fn mis_shaped(&mut self, name: &str, t: &Tensor, want: String) {
        self.problems.push(Problem::new(name, "weight", format!("has shape {:?}, {want}", t.shape())));
    }

    /// A constant for a bound weight, converted to f32 (the fp16 pass decides precision later).
    fn constant(&mut self, name: &str, t: Tensor) -> Option<Outlet> {
        if self.check_only {
            return None;
        }
        let t = if t.dtype() == DType::F32 {
            t
        } else {
            *self.converted.entry(t.dtype()).or_insert(0) += 1;
            t.cast(DType::F32)
        };
        Some(self.g.add_const(name, t))
    }

    /// Add a node; a failed shape inference is a problem of that node.
    fn node(&mut self, name: &str, op: Op, inputs: &[Option<Outlet>]) -> Option<Outlet> {
        let ins: Option<Vec<Outlet>> = inputs.iter().copied().collect();
        let ins = ins?;
        let kind = op.name();
        match self.g.add(name, op, &ins) {
            Ok(o) => Some(o),
            Err(e) => {
                let msg = match e {
                    senetc_ir::IrError::Node { msg, .. } => msg,
                    e => e.to_string(),
                };
                self.problems.push(Problem::new(name, kind, msg));
                None
            }
        }
    }

    /// A conv module `m`: weight `[out, in/groups, k, k]`, optional bias `[out]`; padding
    /// k/2 on every side, as every conv of these families has.
    pub fn conv(&mut self, x: X, m: &str, k: usize, stride: usize, groups: Groups, bias: bool) -> X {
        let wname = format!("{m}.weight");
        let in_dim = match groups {
            Groups::One => x.c,
            Groups::FromShape => None,
            Groups::Depthwise => Some(1),
        };
        let out_dim = if groups == Groups::Depthwise { x.c } else { None };
        let w = self.take(&wname, &[out_dim, in_dim, Some(k), Some(k)]);
        let out = w.as_ref().map(|w| w.shape()[0]);
        let g = match (&w, groups, x.c) {
            (Some(_), Groups::One, _) => Some(1),
            (Some(_), Groups::Depthwise, c) => c,
            (Some(w), Groups::FromShape, Some(c)) => {
                let per = w.shape()[1];
                let g = if per > 0 && c % per == 0 { Some(c / per) } else { None };
                match g.filter(|&g| w.shape()[0] % g == 0) {
                    Some(g) => Some(g),
                    None => {
                        self.mis_shaped(&wname, w, format!("which does not split {c} input channels into groups"));
                        None
                    }
                }
            }
            _ => None,
        };
        let b = if bias { self.take(&format!("{m}.bias"), &[out, ]) } else { None };
        let (Some(w), Some(group)) = (w, g) else { return X { o: None, c: out } };
        if bias && b.is_none() {
            return X { o: None, c: out };
        }
        let wo = self.constant(&wname, w);
        let mut ins = vec![x.o, wo];
        if let Some(b) = b {
            ins.push(self.constant(&format!("{m}.bias"), b));
        }
        let p = k / 2;
        let op = Conv { strides: vec![stride, stride], pads: vec![p, p, p, p], group, ..Conv::default() };
        X { o: self.node(m, Op::Conv(op), &ins), c: out }
    }

    /// A BatchNorm2d module `m` over `x`'s channels (`num_batches_tracked` is not used at
    /// inference and is ignored).
    pub fn bn(&mut self, x: X, m: &str) -> X {
        let mut c = x.c;
        let mut ts = Vec::new();
        for p in ["weight", "bias", "running_mean", "running_var"] {
            let t = self.take(&format!("{m}.{p}"), &[c]);
            if let Some(t) = &t {
                c = Some(t.shape()[0]);
            }
            ts.push(t);
        }
        if ts.iter().any(Option::is_none) {
            return X { o: None, c };
        }
        let mut ins = vec![x.o];
        for (p, t) in ["weight", "bias", "running_mean", "running_var"].into_iter().zip(ts.into_iter().flatten()) {
            ins.push(self.constant(&format!("{m}.{p}"), t));
        }
        X { o: self.node(m, Op::BatchNorm(BatchNorm { epsilon: 1e-5, axis: 1 }), &ins), c }
    }

    /// A Linear module `m` on a 2-D `x`: Gemm with the `[out, in]` weight transposed, as the
    /// ONNX exporter writes it.
    pub fn linear(&mut self, x: X, m: &str) -> X {
        let w = self.take(&format!("{m}.weight"), &[None, x.c]);
        let out = w.as_ref().map(|w| w.shape()[0]);
        let b = self.take(&format!("{m}.bias"), &[out]);
        let (Some(w), Some(b)) = (w, b) else { return X { o: None, c: out } };
        let wo = self.constant(&format!("{m}.weight"), w);
        let bo = self.constant(&format!("{m}.bias"), b);
        let op = Gemm { trans_b: true, ..Gemm::default() };
        X { o: self.node(m, Op::Gemm(op), &[x.o, wo, bo]), c: out }
    }

    /// An activation node.
    pub fn act(&mut self, x: X, name: &str, act: Act) -> X {
        let op = match act {
            Act::Relu => Op::Relu(Relu {}),
            Act::Relu6 => Op::Clip(Clip { min: 0.0, max: 6.0 }),
            Act::Silu => Op::Silu(Silu {}),
            Act::Sigmoid => Op::Sigmoid(Sigmoid {}),
        };
        X { o: self.node(name, op, &[x.o]), ..x }
    }

    /// An op with no weights on one activation.
    pub fn op(&mut self, x: X, name: &str, op: Op) -> X {
        X { o: self.node(name, op, &[x.o]), ..x }
    }

    /// `a + b` (a residual join): both must have the same channels.
    pub fn add(&mut self, a: X, b: X, name: &str) -> X {
        if let (Some(ca), Some(cb)) = (a.c, b.c) {
            if ca != cb {
                self.problem(name, "add", format!("the residual branches have {ca} and {cb} channels"));
                return X { o: None, c: a.c };
            }
        }
        X { o: self.node(name, Op::Add(Add {}), &[a.o, b.o]), c: a.c.or(b.c) }
    }

    /// `a * b` (an SE gate).
    pub fn mul(&mut self, a: X, b: X, name: &str) -> X {
        X { o: self.node(name, Op::Mul(Mul {}), &[a.o, b.o]), c: a.c }
    }

    /// The spatial size of an activation, if it is in the graph.
    pub fn hw(&self, x: X) -> Option<(usize, usize)> {
        let t = self.g.outlet_type(x.o?);
        Some((t.shape.0.get(2)?.known()?, t.shape.0.get(3)?.known()?))
    }

    /// Finish: declare `x` the output `output`, report the tensors nothing took (but
    /// those `ignore` accepts), and return the graph (verified) or every problem.
    pub fn finish(mut self, x: X, ignore: impl Fn(&str) -> bool, arch: &str) -> Result<Graph, Vec<Problem>> {
        for name in self.weights.keys() {
            if !self.used.contains(name) && !ignore(name) {
                self.problems.push(Problem::new(name.as_str(), "weight", format!("unexpected (no such weight in {arch})")));
            }
        }
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        let Some(o) = x.o else { return Err(vec![Problem::new("", "graph", "the output was not built")]) };
        self.g.add_output("output", o);
        senetc_ir::verify(&self.g).map_err(|e| vec![Problem::new("", "graph", e.to_string())])?;
        Ok(self.g)
    }

    /// For scoring: (tensors taken, missing, mis-shaped, untaken but for `ignore`).
    pub fn tally(&self, ignore: impl Fn(&str) -> bool) -> (usize, usize, usize, usize) {
        let weight = self.problems.iter().filter(|p| p.op == "weight");
        let missing = weight.clone().filter(|p| p.what.starts_with("missing")).count();
        let misshaped = weight.count() - missing;
        let unexpected = self.weights.keys().filter(|n| !self.used.contains(*n) && !ignore(n)).count();
        (self.used.len(), missing, misshaped, unexpected)
    }
}

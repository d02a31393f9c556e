//! Step 1: IR → CANN ops at the framework level ("logical" ops): op types, prototype input
//! order and attributes, with every tensor still in its origin element type and format
//! (NCHW for 4-D activations, ND otherwise). [`super::assign`] then picks runtime formats
//! and precisions. The symbolic batch is bound here, so every shape is static.

use super::{AscendOptions, InputFormat, TARGET};
use crate::CodegenError;
use senetc_ge::attr::{self, Attrs};
use senetc_ge::{from_ir, CannOp, Format, FormatRule};
use senetc_ir::ops::{norm_axis, DataFormat, FusedAct, PadMode};
use senetc_ir::{DType, Dim, Graph, Node, NodeId, Op, Outlet, Tensor};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One output of a logical op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LRef {
    /// Index into [`Lowered::ops`].
    pub op: usize,
    /// Output index.
    pub slot: usize,
}

/// Type of a logical op output, in origin terms.
#[derive(Clone, Debug, PartialEq)]
pub struct LOut {
    /// Element type of the source graph.
    pub dtype: DType,
    /// Static shape in `format`.
    pub shape: Vec<usize>,
    /// Origin format: NCHW for 4-D activations, NHWC for NHWC Data, ND otherwise.
    pub format: Format,
}

/// A logical CANN op. What it wants of each input, where its compute type comes from and
/// whether it is a cube op are facts of its [`CannOp`] table row.
#[derive(Clone, Debug)]
pub struct LOp {
    /// Unique op name.
    pub name: String,
    /// CANN op type.
    pub op: CannOp,
    /// Data inputs in prototype order.
    pub inputs: Vec<LRef>,
    /// Outputs in prototype order.
    pub outputs: Vec<LOut>,
    /// Prototype attributes (plus `original_op_names`, `_fusion_group`).
    pub attrs: Attrs,
    /// Where its tensors live: the table's rule unless the lowering knows better.
    pub format: FormatRule,
    /// A Const's value (origin layout and type).
    pub value: Option<Tensor>,
}

/// The result of lowering: ops in a topological order, and the graph outputs.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// Model name.
    pub name: String,
    /// Ops; Data ops come first, in input order.
    pub ops: Vec<LOp>,
    /// Graph outputs: (name, value).
    pub outputs: Vec<(String, LRef)>,
}

/// Lower `g` for `opts`.
pub fn lower(g: &Graph, opts: &AscendOptions) -> Result<Lowered, CodegenError> {
    let bindings = bind_symbols(g, opts)?;
    let outputs: Vec<(String, Outlet)> = if opts.out_nodes.is_empty() {
        g.outputs().to_vec()
    } else {
        let mut v = Vec::new();
        for (name, idx) in &opts.out_nodes {
            let id = g
                .node_ids()
                .find(|&id| g.node(id).name == *name)
                .ok_or_else(|| CodegenError::Input(format!("out_nodes: no node named {name:?}")))?;
            if *idx >= g.node(id).outputs.len() {
                return Err(CodegenError::Input(format!("out_nodes: node {name:?} has no output {idx}")));
            }
            v.push((format!("{name}:{idx}"), Outlet { node: id, slot: *idx }));
        }
        v
    };
    // Only what the outputs need is lowered (ATC prunes too); inputs always stay.
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = outputs.iter().map(|(_, o)| o.node).collect();
    stack.extend(g.inputs().iter().copied());
    while let Some(n) = stack.pop() {
        if live.insert(n) {
            stack.extend(g.inputs_of(n).into_iter().map(|o| o.node));
        }
    }
    let mut l = Lowerer {
        g,
        opts,
        bindings,
        ops: Vec::new(),
        map: HashMap::new(),
        names: HashSet::new(),
        origin: Vec::new(),
        fusion: None,
        next_fusion: 0,
        shape_cache: HashMap::new(),
        reserved: live.iter().map(|&id| g.node(id)).filter(|n| !matches!(n.op, Op::Const(_))).map(|n| n.name.replace(':', "_")).collect(),
    };
    for id in g.order() {
        if live.contains(&id) {
            l.node(id)?;
        }
    }
    let outs = outputs
        .into_iter()
        .map(|(name, o)| Ok((name, *l.map.get(&o).ok_or_else(|| CodegenError::Input("graph output was not lowered".into()))?)))
        .collect::<Result<Vec<_>, CodegenError>>()?;
    Ok(Lowered { name: if g.name.is_empty() { "senetc".into() } else { g.name.clone() }, ops: l.ops, outputs: outs })
}

/// Symbol values: from `opts.input_shapes`, else 1.
fn bind_symbols(g: &Graph, opts: &AscendOptions) -> Result<BTreeMap<String, usize>, CodegenError> {
    let mut bindings = BTreeMap::new();
    for name in opts.input_shapes.keys() {
        if !g.inputs().iter().any(|&id| g.node(id).name == *name) {
            return Err(CodegenError::Input(format!("input_shape names {name:?}, which is not a graph input")));
        }
    }
    for &id in g.inputs() {
        let node = g.node(id);
        let want = &node.outputs[0].shape;
        let Some(given) = opts.input_shapes.get(&node.name) else { continue };
        let mut given = given.clone();
        if opts.input_format == InputFormat::Nhwc && given.len() == 4 {
            given = vec![given[0], given[3], given[1], given[2]];
        }
        let bad = || CodegenError::Input(format!("input {:?}: shape {given:?} does not fit {want}", node.name));
        if given.len() != want.rank() {
            return Err(bad());
        }
        for (d, &n) in want.0.iter().zip(&given) {
            match d {
                Dim::Known(k) if *k != n => return Err(bad()),
                Dim::Sym(s) if *bindings.entry(s.clone()).or_insert(n) != n => {
                    return Err(CodegenError::Input(format!("symbol {s} bound to two sizes by input_shape")));
                }
                _ => {}
            }
        }
    }
    Ok(bindings)
}

struct Lowerer<'g> {
    g: &'g Graph,
    opts: &'g AscendOptions,
    bindings: BTreeMap<String, usize>,
    ops: Vec<LOp>,
    map: HashMap<Outlet, LRef>,
    names: HashSet<String>,
    /// Source names of the IR node being lowered.
    origin: Vec<String>,
    /// Fusion group of the IR node being lowered, when it expands to several ops.
    fusion: Option<i64>,
    next_fusion: i64,
    shape_cache: HashMap<Outlet, Vec<usize>>,
    /// Names of the source ops being lowered.
    reserved: HashSet<String>,
}

fn origin_format(rank: usize) -> Format {
    if rank == 4 {
        Format::Nchw
    } else {
        Format::Nd
    }
}

impl<'g> Lowerer<'g> {
    fn unsupported(&self, node: &Node, why: impl Into<String>) -> CodegenError {
        CodegenError::Unsupported { node: node.name.clone(), op: node.op.name(), target: TARGET, why: why.into() }
    }

    /// Static shape of an IR value with symbols bound (unbound ones default to 1).
    fn shape(&mut self, o: Outlet) -> Vec<usize> {
        if let Some(s) = self.shape_cache.get(&o) {
            return s.clone();
        }
        let b = &self.bindings;
        let s: Vec<usize> = self.g.outlet_type(o).shape.0.iter().map(|d| d.known().unwrap_or_else(|| match d {
            Dim::Sym(s) => b.get(s).copied().unwrap_or(1),
            Dim::Known(k) => *k,
        })).collect();
        self.shape_cache.insert(o, s.clone());
        s
    }

    fn lout(&mut self, o: Outlet) -> LOut {
        let shape = self.shape(o);
        LOut { dtype: self.g.outlet_type(o).dtype, format: origin_format(shape.len()), shape }
    }

    fn unique(&mut self, base: &str, op: CannOp) -> String {
        // ':' separates op name and output index in GE edge strings.
        let base = if base.is_empty() { op.name().to_string() } else { base.replace(':', "_") };
        let mut name = base.clone();
        let mut n = 1;
        // Source op names win over weight names: a Const never takes a name an op will need.
        let yields = |name: &str| op == CannOp::Const && self.reserved.contains(name);
        while yields(&name) || !self.names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    fn push(&mut self, name: &str, op: CannOp, inputs: Vec<LRef>, outputs: Vec<LOut>, mut attrs: Attrs) -> LRef {
        let name = self.unique(name, op);
        attrs.insert("original_op_names".into(), attr::strings(&self.origin));
        if let Some(f) = self.fusion {
            attrs.insert("_fusion_group".into(), attr::int(f));
        }
        self.ops.push(LOp { name, op, inputs, outputs, attrs, format: op.format_rule(), value: None });
        LRef { op: self.ops.len() - 1, slot: 0 }
    }

    fn konst(&mut self, name: &str, t: Tensor) -> LRef {
        let out = LOut { dtype: t.dtype(), shape: t.shape().to_vec(), format: origin_format(t.shape().len()) };
        let r = self.push(name, CannOp::Const, vec![], vec![out], Attrs::new());
        self.ops[r.op].value = Some(t);
        r
    }

    fn scalar(&mut self, name: &str, v: f32, dtype: DType) -> LRef {
        self.konst(name, Tensor::from_f32(vec![], &[v]).cast(dtype))
    }

    /// The logical value of IR value `o`. Constants become Const ops on first use, so a
    /// filter that is re-shaped for its consumer does not leave an unused twin behind.
    fn input(&mut self, o: Outlet) -> LRef {
        if let Some(&r) = self.map.get(&o) {
            return r;
        }
        let (name, t) = match &self.g.node(o.node).op {
            Op::Const(c) => (c.name.clone(), c.tensor.clone()),
            // Unreachable for a topological walk; an empty Identity keeps this total.
            _ => (String::new(), Tensor::from_f32(vec![], &[0.0])),
        };
        let saved = std::mem::take(&mut self.origin);
        let fusion = self.fusion.take();
        self.origin = if name.is_empty() { vec![] } else { vec![name.clone()] };
        let r = self.konst(&name, t);
        self.origin = saved;
        self.fusion = fusion;
        self.map.insert(o, r);
        r
    }

    /// The constant feeding operand `i` of `id`, if it is one.
    fn const_operand(&self, id: NodeId, i: usize) -> Option<Tensor> {
        let o = *self.g.inputs_of(id).get(i)?;
        match &self.g.node(o.node).op {
            Op::Const(c) => Some(c.tensor.clone()),
            _ => None,
        }
    }

    /// An activation on a value already lowered (`x`) after the op that fused it, named
    /// `name/<CANN type>`; nothing for `none`. It lowers as the standalone op would.
    fn act(&mut self, node: &Node, name: &str, x: LRef, act: &FusedAct, out: &LOut) -> Result<LRef, CodegenError> {
        match act.to_op() {
            None => Ok(x),
            Some(op) => self.activation(node, name, None, &op, |_| x, out),
        }
    }

    /// Activation `op` on the value `x` gives, named `op_name` or, for a fused activation
    /// (`None`), `base/<CANN type>`; the Consts it needs are named under `base`. Ops that are
    /// one CANN op come from the table's mapping ([`from_ir`]).
    fn activation(&mut self, node: &Node, base: &str, op_name: Option<&str>, op: &Op, x: impl FnOnce(&mut Self) -> LRef, out: &LOut) -> Result<LRef, CodegenError> {
        let name = |cann: CannOp| op_name.map_or_else(|| format!("{base}/{}", cann.name()), str::to_string);
        if let Some((cann, attrs)) = from_ir(op) {
            let x = x(self);
            return Ok(self.push(&name(cann), cann, vec![x], vec![out.clone()], attrs));
        }
        match op {
            Op::Clip(c) => {
                let lo = self.scalar(&format!("{base}/clip_value_min"), c.min.max(f32::MIN), out.dtype);
                let hi = self.scalar(&format!("{base}/clip_value_max"), c.max.min(f32::MAX), out.dtype);
                let x = x(self);
                Ok(self.push(&name(CannOp::ClipByValue), CannOp::ClipByValue, vec![x, lo, hi], vec![out.clone()], Attrs::new()))
            }
            other => Err(self.unsupported(node, format!("{} as an activation", other.name()))),
        }
    }

    fn start_fusion(&mut self) {
        self.fusion = Some(self.next_fusion);
        self.next_fusion += 1;
    }

    fn node(&mut self, id: NodeId) -> Result<(), CodegenError> {
        let g = self.g;
        let node = g.node(id);
        if matches!(node.op, Op::Const(_)) {
            // Lowered on first use (see `input`).
            return Ok(());
        }
        // Every framework node the IR node stands for (a fused SE block's pool, products,
        // gate and multiply; a conv and its folded batch norm), so accuracy tools map back.
        self.origin = node.framework_names().into_iter().map(str::to_string).collect();
        self.fusion = None;
        let r = match from_ir(&node.op) {
            // One CANN op over the operands in order.
            Some((cann, attrs)) => {
                let o = self.lout(Outlet::new(id));
                let mut inputs = Vec::new();
                for i in g.inputs_of(id) {
                    let r = self.input(i);
                    inputs.push(r);
                }
                self.push(&node.name, cann, inputs, vec![o], attrs)
            }
            None => self.richer(id)?,
        };
        self.map.insert(Outlet::new(id), r);
        for slot in 1..node.outputs.len() {
            self.map.insert(Outlet { node: id, slot }, LRef { op: r.op, slot });
        }
        Ok(())
    }

    /// The IR ops the table's one-to-one mapping leaves out: the result's first output.
    fn richer(&mut self, id: NodeId) -> Result<LRef, CodegenError> {
        let g = self.g;
        let node = g.node(id);
        let ins: Vec<Outlet> = g.inputs_of(id);
        let out0 = Outlet::new(id);
        let name = node.name.clone();
        let nchw = |f: DataFormat, me: &Self| if f == DataFormat::Nchw { Ok(()) } else { Err(me.unsupported(node, "NHWC activations (the Ascend backend lowers NCHW graphs)")) };
        Ok(match &node.op {
            Op::Input => {
                let shape = self.shape(out0);
                let dtype = node.outputs[0].dtype;
                let index = g.inputs().iter().position(|&i| i == id).unwrap_or(0) as i64;
                let attrs: Attrs = [("index".to_string(), attr::int(index))].into();
                if self.opts.input_format == InputFormat::Nhwc && shape.len() == 4 {
                    let nhwc = vec![shape[0], shape[2], shape[3], shape[1]];
                    let data = self.push(&name, CannOp::Data, vec![], vec![LOut { dtype, shape: nhwc, format: Format::Nhwc }], attrs);
                    let perm: Attrs = [("perm".to_string(), attr::ints(&[0, 3, 1, 2]))].into();
                    let o = LOut { dtype, format: Format::Nchw, shape };
                    self.push(&format!("{name}/nhwc_to_nchw"), CannOp::TransposeD, vec![data], vec![o], perm)
                } else {
                    let o = LOut { dtype, format: origin_format(shape.len()), shape };
                    self.push(&name, CannOp::Data, vec![], vec![o], attrs)
                }
            }
            Op::Conv(c) => {
                nchw(c.format, self)?;
                let xs = self.shape(ins[0]);
                let Some(w) = self.const_operand(id, 1) else {
                    return Err(self.unsupported(node, "the filter is not a constant (filters are re-laid out offline)"));
                };
                let ws = w.shape().to_vec();
                let (pt, pb) = c.pads_for(0, xs[2], ws[2]);
                let (pl, pr) = c.pads_for(1, xs[3], ws[3]);
                let mut attrs: Attrs = [
                    ("strides".to_string(), attr::ints(&[1, 1, c.strides[0] as i64, c.strides[1] as i64])),
                    ("pads".to_string(), attr::ints(&[pt as i64, pb as i64, pl as i64, pr as i64])),
                    ("dilations".to_string(), attr::ints(&[1, 1, c.dilations[0] as i64, c.dilations[1] as i64])),
                    ("data_format".to_string(), attr::string("NCHW")),
                    ("offset_x".to_string(), attr::int(0)),
                ]
                .into();
                let depthwise = c.group > 1 && c.group == xs[1] && ws[0] == xs[1];
                if c.act != FusedAct::None {
                    self.start_fusion();
                }
                let xi = self.input(ins[0]);
                let (cann, f) = if depthwise {
                    // DepthwiseConv2D's NCHW filter is [K, C, H, W] (K = multiplier = 1 here):
                    // the same bytes as ONNX's [C, 1, H, W].
                    let wname = g.node(ins[1].node).name.clone();
                    (CannOp::DepthwiseConv2D, self.konst(&wname, w.reshaped(vec![1, ws[0], ws[2], ws[3]])?))
                } else {
                    attrs.insert("groups".into(), attr::int(c.group as i64));
                    (CannOp::Conv2D, self.input(ins[1]))
                };
                let mut inputs = vec![xi, f];
                if let Some(&b) = ins.get(2) {
                    inputs.push(self.input(b));
                }
                let o = self.lout(out0);
                let y = self.push(&name, cann, inputs, vec![o.clone()], attrs);
                self.act(node, &name, y, &c.act, &o)?
            }
            Op::BatchNorm(b) => {
                let xs = self.shape(ins[0]);
                if b.axis != 1 || xs.len() != 4 {
                    return Err(self.unsupported(node, "BNInferenceD needs a 4-D NCHW input (axis 1)"));
                }
                // BNInferenceD: inference batch norm with the statistics as inputs, in the
                // prototype's order (the table says which IR operand each one carries).
                let attrs: Attrs = [
                    ("epsilon".to_string(), attr::float(b.epsilon)),
                    ("momentum".to_string(), attr::float(0.9)),
                    ("use_global_stats".to_string(), attr::boolean(true)),
                    ("mode".to_string(), attr::int(1)),
                ]
                .into();
                let mut inputs = Vec::new();
                for (k, input) in CannOp::BNInferenceD.inputs().iter().enumerate() {
                    let Some(&o) = input.ir_operand(k).and_then(|i| ins.get(i)) else {
                        return Err(self.unsupported(node, format!("no operand for BNInferenceD's {}", input.name)));
                    };
                    let r = self.input(o);
                    inputs.push(r);
                }
                let o = self.lout(out0);
                self.push(&name, CannOp::BNInferenceD, inputs, vec![o], attrs)
            }
            Op::Clip(_) => {
                let o = self.lout(out0);
                self.activation(node, &name, Some(&name), &node.op, |me| me.input(ins[0]), &o)?
            }
            Op::AddAct(a) => {
                if a.act != FusedAct::None {
                    self.start_fusion();
                }
                let o = self.lout(out0);
                let x1 = self.input(ins[0]);
                let x2 = self.input(ins[1]);
                let y = self.push(&name, CannOp::Add, vec![x1, x2], vec![o.clone()], Attrs::new());
                self.act(node, &name, y, &a.act, &o)?
            }
            Op::GlobalAveragePool(p) => {
                nchw(p.format, self)?;
                let rank = self.shape(ins[0]).len();
                if rank != 4 {
                    return Err(self.unsupported(node, format!("global average pooling of a {rank}-D input (Ascend pools 2-D NCHW)")));
                }
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::ReduceMeanD, vec![xi], vec![o], reduce_attrs(&[2, 3], true))
            }
            Op::ReduceMean(r) => {
                let xs = self.shape(ins[0]);
                let axes = r.axes_for(xs.len()).map_err(|e| self.unsupported(node, e))?;
                let axes: Vec<i64> = axes.into_iter().map(|a| a as i64).collect();
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                let y = self.push(&name, CannOp::ReduceMeanD, vec![xi], vec![o], reduce_attrs(&axes, r.keepdims));
                if !(xs.len() == 4 && r.keepdims && axes == [2, 3]) {
                    // Only a spatial mean keeps the channel blocking of NC1HWC0.
                    self.ops[y.op].format = FormatRule::Origin;
                }
                y
            }
            Op::ReduceMax(r) => {
                let xs = self.shape(ins[0]);
                let axes = r.axes_for(xs.len()).map_err(|e| self.unsupported(node, e))?;
                let axes: Vec<i64> = axes.into_iter().map(|a| a as i64).collect();
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                let y = self.push(&name, CannOp::ReduceMaxD, vec![xi], vec![o], reduce_attrs(&axes, r.keepdims));
                if !(xs.len() == 4 && r.keepdims && axes == [2, 3]) {
                    // Only a spatial reduction keeps the channel blocking of NC1HWC0.
                    self.ops[y.op].format = FormatRule::Origin;
                }
                y
            }
            Op::ScaleShift(ss) => {
                // CANN's Scale: x * scale + bias along `axis` (ND), the activation after it in
                // the same fusion group.
                if ss.act != FusedAct::None {
                    self.start_fusion();
                }
                let attrs: Attrs = [
                    ("axis".to_string(), attr::int(ss.axis as i64)),
                    ("num_axes".to_string(), attr::int(1)),
                    ("scale_from_blob".to_string(), attr::boolean(true)),
                ]
                .into();
                let o = self.lout(out0);
                let inputs = vec![self.input(ins[0]), self.input(ins[1]), self.input(ins[2])];
                let y = self.push(&name, CannOp::Scale, inputs, vec![o.clone()], attrs);
                self.act(node, &name, y, &ss.act, &o)?
            }
            Op::AveragePool(p) => {
                nchw(p.format, self)?;
                if p.kernel.len() != 2 {
                    return Err(self.unsupported(node, format!("{}-D average pooling (AvgPoolV2 is 2-D)", p.kernel.len())));
                }
                if p.dilations.iter().any(|&d| d != 1) {
                    return Err(self.unsupported(node, "dilated average pooling (AvgPoolV2 has no dilations)"));
                }
                let xs = self.shape(ins[0]);
                let pads = pool_pads(p.auto_pad, &xs, &p.kernel, &p.strides, &[1, 1], &p.pads);
                let mut attrs = pool_attrs(&p.kernel, &p.strides, pads, p.ceil_mode);
                attrs.insert("exclusive".into(), attr::boolean(!p.count_include_pad));
                attrs.insert("divisor_override".into(), attr::int(0));
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::AvgPoolV2, vec![xi], vec![o], attrs)
            }
            Op::MaxPoolIndices(_) => {
                // MaxPoolWithArgmax-style CANN ops give TF's NHWC argmax or a bit mask, not
                // ONNX's NCHW flat indices.
                return Err(self.unsupported(node, "max pooling indices (ONNX MaxPool's Indices) are not lowered to Ascend: CANN's argmax pooling ops give other indices"));
            }
            Op::MaxPool(p) => {
                nchw(p.format, self)?;
                if p.kernel.len() != 2 {
                    return Err(self.unsupported(node, format!("{}-D max pooling (MaxPoolV3 is 2-D)", p.kernel.len())));
                }
                if p.dilations.iter().any(|&d| d != 1) {
                    return Err(self.unsupported(node, "dilated max pooling (MaxPoolV3 has no dilations)"));
                }
                let xs = self.shape(ins[0]);
                let pads = pool_pads(p.auto_pad, &xs, &p.kernel, &p.strides, &p.dilations, &p.pads);
                let attrs = pool_attrs(&p.kernel, &p.strides, pads, p.ceil_mode);
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::MaxPoolV3, vec![xi], vec![o], attrs)
            }
            Op::Gemm(gm) => {
                let c = ins.get(2).copied();
                let n = self.shape(out0)[1];
                let bias_ok = c.is_some_and(|c| self.shape(c) == [n]) && gm.beta == 1.0 && gm.alpha == 1.0;
                if !bias_ok && (c.is_some() || gm.alpha != 1.0) {
                    self.start_fusion();
                }
                let a = self.input(ins[0]);
                let b = self.input(ins[1]);
                let mut inputs = vec![a, b];
                if let (Some(c), true) = (c, bias_ok) {
                    inputs.push(self.input(c));
                }
                let attrs = matmul_attrs(gm.trans_a, gm.trans_b);
                let o = self.lout(out0);
                let mut y = self.push(&name, CannOp::MatMulV2, inputs, vec![o.clone()], attrs);
                let dt = o.dtype;
                if gm.alpha != 1.0 {
                    let a = self.scalar(&format!("{name}/alpha"), gm.alpha, dt);
                    y = self.push(&format!("{name}/alpha_mul"), CannOp::Mul, vec![y, a], vec![o.clone()], Attrs::new());
                }
                if let (Some(c), false) = (c, bias_ok) {
                    let mut cv = self.input(c);
                    let cout = self.lout(c);
                    if gm.beta != 1.0 {
                        let b = self.scalar(&format!("{name}/beta"), gm.beta, dt);
                        cv = self.push(&format!("{name}/beta_mul"), CannOp::Mul, vec![cv, b], vec![cout], Attrs::new());
                    }
                    y = self.push(&format!("{name}/add_c"), CannOp::Add, vec![y, cv], vec![o], Attrs::new());
                }
                y
            }
            Op::MatMul(_) => {
                if self.shape(ins[0]).len() != 2 || self.shape(ins[1]).len() != 2 {
                    return Err(self.unsupported(node, "only 2-D matmul (MatMulV2) is lowered"));
                }
                let o = self.lout(out0);
                let a = self.input(ins[0]);
                let b = self.input(ins[1]);
                self.push(&name, CannOp::MatMulV2, vec![a, b], vec![o], matmul_attrs(false, false))
            }
            Op::Flatten(f) => {
                let rank = self.shape(ins[0]).len();
                let axis = if f.axis == rank as i64 { rank as i64 } else { norm_axis(f.axis, rank).map_err(|e| self.unsupported(node, e))? as i64 };
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::Flatten, vec![xi], vec![o], [("axis".to_string(), attr::int(axis))].into())
            }
            Op::Reshape(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
                let o = self.lout(out0);
                let dims: Vec<i64> = o.shape.iter().map(|&d| d as i64).collect();
                let shape_t = Tensor::from_i64(vec![dims.len()], &dims);
                let s = self.konst(&format!("{name}/shape"), shape_t);
                let xi = self.input(ins[0]);
                let attrs: Attrs = [("axis".to_string(), attr::int(0)), ("num_axes".to_string(), attr::int(-1))].into();
                self.push(&name, CannOp::Reshape, vec![xi, s], vec![o], attrs)
            }
            Op::Transpose(t) => {
                let rank = self.shape(ins[0]).len();
                let perm: Vec<i64> = t.perm_for(rank).into_iter().map(|p| p as i64).collect();
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::TransposeD, vec![xi], vec![o], [("perm".to_string(), attr::ints(&perm))].into())
            }
            Op::Concat(c) => {
                let rank = self.shape(ins[0]).len();
                let axis = norm_axis(c.axis, rank).map_err(|e| self.unsupported(node, e))? as i64;
                let o = self.lout(out0);
                let mut inputs = Vec::new();
                for &i in &ins {
                    let r = self.input(i);
                    inputs.push(r);
                }
                let attrs: Attrs = [("concat_dim".to_string(), attr::int(axis)), ("N".to_string(), attr::int(ins.len() as i64))].into();
                self.push(&name, CannOp::ConcatD, inputs, vec![o], attrs)
            }
            Op::Pad(p) => {
                if p.pads.iter().any(|&v| v < 0) {
                    return Err(self.unsupported(node, "negative pads (cropping)"));
                }
                let r = p.pads.len() / 2;
                let pairs: Vec<Vec<i64>> = (0..r).map(|i| vec![p.pads[i], p.pads[i + r]]).collect();
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                if p.mode == PadMode::Constant && p.value == 0.0 {
                    self.push(&name, CannOp::PadD, vec![xi], vec![o], [("paddings".to_string(), attr::int_lists(&pairs))].into())
                } else {
                    let flat: Vec<i64> = pairs.concat();
                    let pt = self.konst(&format!("{name}/paddings"), Tensor::from_i64(vec![r, 2], &flat));
                    let cv = self.scalar(&format!("{name}/constant_values"), p.value, o.dtype);
                    let mode = match p.mode {
                        PadMode::Constant => "constant",
                        PadMode::Reflect => "reflect",
                        PadMode::Edge => "edge",
                    };
                    let attrs: Attrs = [("mode".to_string(), attr::string(mode)), ("paddings_contiguous".to_string(), attr::boolean(true))].into();
                    self.push(&name, CannOp::PadV3, vec![xi, pt, cv], vec![o], attrs)
                }
            }
            Op::Gather(_) => return Err(self.unsupported(node, "gather is not lowered to Ascend (it runs on the CPU reference)")),
            Op::Slice(sl) => {
                // StridedSliceD with begin/end/strides for every axis. Its negative strides
                // follow TF (an end of -1 wraps to the last element; through index 0 takes
                // end_mask), which the prototypes senetc has do not pin down: not lowered.
                if sl.steps.iter().any(|&s| s < 0) {
                    return Err(self.unsupported(node, format!("slice with negative steps {:?} (StridedSliceD is lowered with positive strides only)", sl.steps)));
                }
                let xs = self.shape(ins[0]);
                let (mut begin, mut end, mut strides): (Vec<i64>, Vec<i64>, Vec<i64>) = (vec![0; xs.len()], xs.iter().map(|&d| d as i64).collect(), vec![1; xs.len()]);
                for (i, &a) in sl.axes.iter().enumerate() {
                    begin[a] = sl.starts[i] as i64;
                    end[a] = sl.ends[i].min(xs[a] as i64);
                    strides[a] = sl.steps[i];
                }
                let attrs: Attrs = [
                    ("begin".to_string(), attr::ints(&begin)),
                    ("end".to_string(), attr::ints(&end)),
                    ("strides".to_string(), attr::ints(&strides)),
                    ("begin_mask".to_string(), attr::int(0)),
                    ("end_mask".to_string(), attr::int(0)),
                    ("ellipsis_mask".to_string(), attr::int(0)),
                    ("new_axis_mask".to_string(), attr::int(0)),
                    ("shrink_axis_mask".to_string(), attr::int(0)),
                ]
                .into();
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                self.push(&name, CannOp::StridedSliceD, vec![xi], vec![o], attrs)
            }
            Op::Softmax(s) => {
                let rank = self.shape(ins[0]).len();
                let axis = norm_axis(s.axis, rank).map_err(|e| self.unsupported(node, e))? as i64;
                let o = self.lout(out0);
                let xi = self.input(ins[0]);
                let attrs: Attrs = [("axes".to_string(), attr::ints(&[axis])), ("half_to_float".to_string(), attr::boolean(false))].into();
                self.push(&name, CannOp::SoftmaxV2, vec![xi], vec![o], attrs)
            }
            Op::SqueezeExcite(se) => {
                nchw(se.format, self)?;
                let (Some(w1), Some(w2)) = (self.const_operand(id, 1), self.const_operand(id, 3)) else {
                    return Err(self.unsupported(node, "squeeze-excite weights are not constants"));
                };
                self.start_fusion();
                let xs = self.shape(ins[0]);
                let (c, cr) = (w1.shape()[1], w1.shape()[0]);
                let dt = node.outputs[0].dtype;
                let xi = self.input(ins[0]);
                let pooled = LOut { dtype: dt, shape: vec![xs[0], c, 1, 1], format: Format::Nchw };
                let reduced = LOut { dtype: dt, shape: vec![xs[0], cr, 1, 1], format: Format::Nchw };
                let p = self.push(&format!("{name}/squeeze"), CannOp::ReduceMeanD, vec![xi], vec![pooled.clone()], reduce_attrs(&[2, 3], true));
                let conv_attrs = || -> Attrs {
                    [
                        ("strides".to_string(), attr::ints(&[1, 1, 1, 1])),
                        ("pads".to_string(), attr::ints(&[0, 0, 0, 0])),
                        ("dilations".to_string(), attr::ints(&[1, 1, 1, 1])),
                        ("groups".to_string(), attr::int(1)),
                        ("data_format".to_string(), attr::string("NCHW")),
                        ("offset_x".to_string(), attr::int(0)),
                    ]
                    .into()
                };
                let wn1 = g.node(ins[1].node).name.clone();
                let wn2 = g.node(ins[3].node).name.clone();
                let f1 = self.konst(&wn1, w1.reshaped(vec![cr, c, 1, 1])?);
                let b1 = self.input(ins[2]);
                let h = self.push(&format!("{name}/reduce"), CannOp::Conv2D, vec![p, f1, b1], vec![reduced.clone()], conv_attrs());
                let h = self.act(node, &format!("{name}/reduce"), h, &se.act, &reduced)?;
                let f2 = self.konst(&wn2, w2.reshaped(vec![c, cr, 1, 1])?);
                let b2 = self.input(ins[4]);
                let e = self.push(&format!("{name}/expand"), CannOp::Conv2D, vec![h, f2, b2], vec![pooled.clone()], conv_attrs());
                // The gate is one op called `<se>/gate`, whatever its function.
                let gate_name = format!("{name}/gate");
                let gate = match se.gate.to_op() {
                    None => e,
                    Some(op) => self.activation(node, &gate_name, Some(&gate_name), &op, |_| e, &pooled)?,
                };
                let o = self.lout(out0);
                self.push(&format!("{name}/scale"), CannOp::Mul, vec![xi, gate], vec![o], Attrs::new())
            }
            other => return Err(self.unsupported(node, format!("no Ascend lowering for {}", other.name()))),
        })
    }
}

fn reduce_attrs(axes: &[i64], keep_dims: bool) -> Attrs {
    [
        ("axes".to_string(), attr::ints(axes)),
        ("keep_dims".to_string(), attr::boolean(keep_dims)),
        ("noop_with_empty_axes".to_string(), attr::boolean(false)),
    ]
    .into()
}

fn matmul_attrs(tx1: bool, tx2: bool) -> Attrs {
    [
        ("transpose_x1".to_string(), attr::boolean(tx1)),
        ("transpose_x2".to_string(), attr::boolean(tx2)),
        ("offset_x".to_string(), attr::int(0)),
    ]
    .into()
}

/// [top, bottom, left, right] pads with SAME/VALID resolved for the input size.
fn pool_pads(auto_pad: senetc_ir::ops::AutoPad, xs: &[usize], k: &[usize], s: &[usize], d: &[usize], pads: &[usize]) -> [usize; 4] {
    let ph = senetc_ir::ops::resolve_pads(auto_pad, xs[2], k[0], s[0], d[0], (pads[0], pads[2]));
    let pw = senetc_ir::ops::resolve_pads(auto_pad, xs[3], k[1], s[1], d[1], (pads[1], pads[3]));
    [ph.0, ph.1, pw.0, pw.1]
}

fn pool_attrs(k: &[usize], s: &[usize], pads: [usize; 4], ceil_mode: bool) -> Attrs {
    [
        ("ksize".to_string(), attr::ints(&[1, 1, k[0] as i64, k[1] as i64])),
        ("strides".to_string(), attr::ints(&[1, 1, s[0] as i64, s[1] as i64])),
        ("padding_mode".to_string(), attr::string("CALCULATED")),
        ("pads".to_string(), attr::ints(&pads.map(|p| p as i64))),
        ("data_format".to_string(), attr::string("NCHW")),
        ("global_pooling".to_string(), attr::boolean(false)),
        ("ceil_mode".to_string(), attr::boolean(ceil_mode)),
    ]
    .into()
}

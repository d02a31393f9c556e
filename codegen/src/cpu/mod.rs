//! The CPU reference backend: executes an IR graph with the kernels of `senetc-kernels`.
//!
//! A [`CpuPlan`] is built once for concrete input shapes (binding the symbolic batch): it
//! fixes every value's shape, plans memory by liveness ([`plan`]), and owns a thread pool.
//! Values are stored as f32; f16 and bf16 values are rounded to their type after every
//! op that produces them, which is how Ascend's 16-bit storage with fp32 accumulation
//! behaves. Integer values hold exact integers in f32 (exact below 2^24).

mod exec;
pub mod plan;

use crate::CodegenError;
use plan::{Home, MemoryPlan};
use senetc_ir::{DType, Dim, Graph, NodeId, Op, Outlet, Tensor};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// Constant data ready for the kernels.
enum ConstData {
    /// f32 bytes that are aligned: borrowed from the tensor at run time.
    Borrowed(Tensor),
    /// Converted once at plan time.
    Owned(Vec<f32>),
}

impl ConstData {
    fn slice(&self) -> &[f32] {
        match self {
            ConstData::Borrowed(t) => match t.to_f32() {
                std::borrow::Cow::Borrowed(s) => s,
                // Plan-time checks guarantee the borrow; an owned result cannot outlive this call.
                std::borrow::Cow::Owned(_) => &[],
            },
            ConstData::Owned(v) => v,
        }
    }
}

/// A graph compiled for the CPU at fixed input shapes.
pub struct CpuPlan {
    g: Graph,
    order: Vec<NodeId>,
    shapes: HashMap<Outlet, Vec<usize>>,
    consts: HashMap<NodeId, ConstData>,
    mem: MemoryPlan,
    slots: Vec<Vec<f32>>,
    pool: std::sync::Arc<rayon::ThreadPool>,
    bindings: BTreeMap<String, usize>,
    profile: Option<BTreeMap<&'static str, (usize, std::time::Duration)>>,
}

impl CpuPlan {
    /// Compile `g` for inputs of the given shapes (in graph-input order), running on
    /// `threads` threads (0: all cores).
    pub fn new(g: &Graph, input_shapes: &[Vec<usize>], threads: usize) -> Result<CpuPlan, CodegenError> {
        Self::build(g, input_shapes, threads, true)
    }

    /// Like [`CpuPlan::new`], but every intermediate keeps its own buffer so that
    /// [`CpuPlan::node_value`] can read any node's output after a run.
    pub fn capturing(g: &Graph, input_shapes: &[Vec<usize>], threads: usize) -> Result<CpuPlan, CodegenError> {
        Self::build(g, input_shapes, threads, false)
    }

    fn build(g: &Graph, input_shapes: &[Vec<usize>], threads: usize, reuse: bool) -> Result<CpuPlan, CodegenError> {
        let bad = |msg: String| CodegenError::Input(msg);
        if input_shapes.len() != g.inputs().len() {
            return Err(bad(format!("the model has {} inputs, {} given", g.inputs().len(), input_shapes.len())));
        }
        // Bind symbols from the input shapes.
        let mut bindings: BTreeMap<String, usize> = BTreeMap::new();
        for (&id, given) in g.inputs().iter().zip(input_shapes) {
            let node = g.node(id);
            let want = &node.outputs[0].shape;
            let mismatch = || bad(format!("input {:?} expects shape {want}, got {given:?}", node.name));
            if want.rank() != given.len() {
                return Err(mismatch());
            }
            for (d, &n) in want.0.iter().zip(given) {
                match d {
                    Dim::Known(k) if *k != n => return Err(mismatch()),
                    Dim::Sym(s) if *bindings.entry(s.clone()).or_insert(n) != n => {
                        return Err(bad(format!("symbol {s} bound to two sizes by the inputs")));
                    }
                    _ => {}
                }
            }
        }
        let order = g.topo_order()?;
        let mut shapes = HashMap::new();
        let mut elems = HashMap::new();
        let mut consts = HashMap::new();
        for &id in &order {
            let node = g.node(id);
            for (slot, t) in node.outputs.iter().enumerate() {
                let s = t.shape.bind(&|s| bindings.get(s).copied()).as_known().ok_or_else(|| {
                    bad(format!("node {:?}: shape {} has a symbol no input binds", node.name, t.shape))
                })?;
                let o = Outlet { node: id, slot };
                let n = s.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|n| n.checked_mul(4).is_some_and(|b| b <= isize::MAX as usize));
                elems.insert(o, n.ok_or_else(|| bad(format!("node {:?}: shape {s:?} is too large to address", node.name)))?);
                shapes.insert(o, s);
            }
            if let Op::Const(c) = &node.op {
                let data = match c.tensor.to_f32() {
                    std::borrow::Cow::Borrowed(_) => ConstData::Borrowed(c.tensor.clone()),
                    std::borrow::Cow::Owned(v) => ConstData::Owned(v),
                };
                consts.insert(id, data);
            }
        }
        let mem = MemoryPlan::new(g, &order, &elems, reuse);
        // Sizes come from the model: allocate fallibly, so a model too large for this
        // machine is an error, not an abort.
        let slots = mem
            .slots
            .iter()
            .map(|&n| {
                let mut v: Vec<f32> = Vec::new();
                v.try_reserve_exact(n).map_err(|_| bad(format!("cannot allocate {} bytes for the CPU reference's buffers", n.saturating_mul(4))))?;
                v.resize(n, 0.0);
                Ok(v)
            })
            .collect::<Result<_, CodegenError>>()?;
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| bad(format!("cannot start {threads} threads: {e}")))?;
        Ok(CpuPlan { g: g.clone(), order, shapes, consts, mem, slots, pool: std::sync::Arc::new(pool), bindings, profile: None })
    }

    /// Bytes of intermediate buffers the plan holds (the planned peak, weights and inputs excluded).
    pub fn peak_bytes(&self) -> usize {
        self.mem.peak_bytes()
    }

    /// Bytes the intermediates would take without reuse.
    pub fn unplanned_bytes(&self) -> usize {
        self.order
            .iter()
            .filter(|&&id| !matches!(self.g.node(id).op, Op::Input | Op::Const(_)) && !plan::is_view(&self.g.node(id).op))
            .map(|&id| self.shapes[&Outlet::new(id)].iter().product::<usize>() * 4)
            .sum()
    }

    /// The output of node `id` of the planned graph after the last run (only meaningful for
    /// a [`CpuPlan::capturing`] plan; graph inputs are not kept).
    pub fn node_value(&self, id: NodeId) -> Option<(&[usize], &[f32])> {
        let o = Outlet::new(id);
        let shape = self.shapes.get(&o)?;
        let n: usize = shape.iter().product();
        match self.mem.homes.get(&o)? {
            Home::Slot(s) => Some((shape, &self.slots[*s][..n])),
            Home::Const(c) => Some((shape, self.consts[c].slice())),
            Home::Input(_) => None,
        }
    }

    /// The planned graph.
    pub fn graph(&self) -> &Graph {
        &self.g
    }

    /// Start (or stop) accumulating time per op kind over the following runs.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(BTreeMap::new);
    }

    /// Accumulated (calls, time) per op kind since profiling started.
    pub fn profile(&self) -> Option<&BTreeMap<&'static str, (usize, std::time::Duration)>> {
        self.profile.as_ref()
    }

    /// Symbol values the inputs fixed.
    pub fn bindings(&self) -> &BTreeMap<String, usize> {
        &self.bindings
    }

    /// Run on `inputs` (graph-input order; any numeric dtype, shapes as planned). Returns
    /// the graph outputs by name, each in its graph dtype: values are computed in f32, so an
    /// f64 output carries f32 precision and integer outputs are exact below 2^24.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<(String, Tensor)>, CodegenError> {
        let ins = self.check_inputs(inputs)?;
        let pool = self.pool.clone();
        pool.install(|| self.execute(&ins))?;
        let mut outs = Vec::new();
        for (name, o) in self.g.outputs() {
            let t = Tensor::from_f32(self.shapes[o].clone(), self.value(*o, &ins));
            outs.push((name.clone(), t.cast(self.g.outlet_type(*o).dtype)));
        }
        Ok(outs)
    }

    /// The inputs as f32, borrowed when they already are aligned f32 (the usual case).
    fn check_inputs<'t>(&self, inputs: &'t [Tensor]) -> Result<Vec<Cow<'t, [f32]>>, CodegenError> {
        if inputs.len() != self.g.inputs().len() {
            return Err(CodegenError::Input(format!("the model has {} inputs, {} given", self.g.inputs().len(), inputs.len())));
        }
        let mut v = Vec::with_capacity(inputs.len());
        for (&id, t) in self.g.inputs().iter().zip(inputs) {
            let want = &self.shapes[&Outlet::new(id)];
            if t.shape() != want.as_slice() {
                return Err(CodegenError::Input(format!("input {:?} was planned as {want:?}, got {:?}", self.g.node(id).name, t.shape())));
            }
            v.push(t.to_f32());
        }
        Ok(v)
    }

    /// The data of a value after (or during) execution.
    fn value<'a>(&'a self, o: Outlet, ins: &'a [Cow<'_, [f32]>]) -> &'a [f32] {
        let n: usize = self.shapes[&o].iter().product();
        match self.mem.homes[&o] {
            Home::Input(i) => &ins[i][..n],
            Home::Const(id) => self.consts[&id].slice(),
            Home::Slot(s) => &self.slots[s][..n],
        }
    }

    fn execute(&mut self, ins: &[Cow<'_, [f32]>]) -> Result<(), CodegenError> {
        for i in 0..self.order.len() {
            let id = self.order[i];
            let node = self.g.node(id);
            if matches!(node.op, Op::Input | Op::Const(_)) || plan::is_view(&node.op) {
                continue;
            }
            let out_o = Outlet::new(id);
            let Home::Slot(s) = self.mem.homes[&out_o] else { continue };
            let mut out = std::mem::take(&mut self.slots[s]);
            let n: usize = self.shapes[&out_o].iter().product();
            let operands: Vec<(&[f32], &[usize])> = self
                .g
                .inputs_of(id)
                .into_iter()
                .map(|o| (self.value(o, ins), self.shapes[&o].as_slice()))
                .collect();
            let t = self.profile.is_some().then(|| (std::time::Instant::now(), profile_label(node, &operands)));
            let r = exec::run_node(node, &operands, &self.shapes[&out_o], &mut out[..n]);
            drop(operands);
            if let (Some((t, label)), Some(p)) = (t, self.profile.as_mut()) {
                let e = p.entry(label).or_default();
                e.0 += 1;
                e.1 += t.elapsed();
            }
            if r.is_ok() {
                match node.outputs[0].dtype {
                    DType::F16 => senetc_kernels::precision::round_f16(&mut out[..n]),
                    DType::BF16 => senetc_kernels::precision::round_bf16(&mut out[..n]),
                    _ => {}
                }
            }
            self.slots[s] = out;
            r?;
        }
        Ok(())
    }
}

/// Profile bucket of a node: convolutions split by kind, where the time goes.
fn profile_label(node: &senetc_ir::Node, operands: &[(&[f32], &[usize])]) -> &'static str {
    match &node.op {
        Op::Conv(c) => {
            let w = operands[1].1;
            if c.group > 1 && c.group == operands[0].1[1] {
                "conv (depthwise)"
            } else if c.group > 1 {
                "conv (grouped)"
            } else if w[2] == 1 && w[3] == 1 {
                "conv (1x1)"
            } else {
                "conv (kxk)"
            }
        }
        op => op.name(),
    }
}

//! senetc's native CPU engine: model-specific code generated through LLVM.
//!
//! A graph is lowered once for concrete input shapes ([`lower`]) into steps: generated,
//! shape-specialised kernels on NCHWc activations (direct and depthwise/grouped convs with
//! bias, activation, residual add and squeeze-excitation gate fused into them, pooling,
//! elementwise, the SE products, the classifier GEMM, layout conversions at the graph
//! boundary), plus reference-evaluation steps for ops with no kernel. The kernels form one
//! LLVM module, compiled for the host CPU (its name and features from LLVM, so vectors are
//! 16 lanes with AVX-512 and 8 with AVX2), then either JIT-compiled and run by
//! [`NativePlan`] on a small team of threads, or written to an object file with a C entry
//! point ([`aot`]).
#![warn(missing_docs)]

pub mod act;
pub mod aot;
pub mod kern;
pub mod llir;
pub mod lower;
mod team;

use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use inkwell::OptimizationLevel;
use kern::{Base, Loc};
use lower::{Lowered, StepKind};
use senetc_ir::ops::View;
use senetc_ir::{Graph, Tensor};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Why the native engine cannot take a graph or an input.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A node the engine (or ahead-of-time code) cannot run.
    #[error("node {node:?}: not supported by the native engine: {why}")]
    Unsupported {
        /// The node's name.
        node: String,
        /// What is missing.
        why: String,
    },
    /// Inputs that do not fit the plan.
    #[error("{0}")]
    Input(String),
    /// LLVM refused the generated code, or the target machine could not be created.
    #[error("LLVM: {0}")]
    Llvm(String),
    /// Writing an artifact failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The host CPU as LLVM sees it.
#[derive(Clone, Debug)]
pub struct Host {
    /// CPU name (`znver3`, `skylake-avx512`...).
    pub cpu: String,
    /// Feature list (`+avx2,+fma,-avx512f,...`).
    pub features: String,
    /// Vector lanes the kernels use.
    pub lanes: usize,
}

/// The host CPU. `SENETC_NATIVE_LANES` (4, 8 or 16) lowers the vector width, for testing
/// the narrower code paths on a wider machine.
pub fn host() -> Host {
    let cpu = TargetMachine::get_host_cpu_name().to_string();
    let features = TargetMachine::get_host_cpu_features().to_string();
    let mut lanes = lower::lanes_for(&features);
    if let Some(l) = std::env::var("SENETC_NATIVE_LANES").ok().and_then(|v| v.parse::<usize>().ok()) {
        if [4, 8, 16].contains(&l) && l <= lanes {
            lanes = l;
        }
    }
    Host { cpu, features, lanes }
}

fn target_machine(host: &Host) -> Result<TargetMachine, NativeError> {
    Target::initialize_native(&InitializationConfig::default()).map_err(NativeError::Llvm)?;
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| NativeError::Llvm(e.to_string()))?;
    target
        .create_target_machine(&triple, &host.cpu, &host.features, OptimizationLevel::Aggressive, RelocMode::PIC, CodeModel::Default)
        .ok_or_else(|| NativeError::Llvm("no target machine for the host".into()))
}

/// The LLVM IR text of every generated step of `l` (and, with `aot`, the C entry points).
pub fn module_text(l: &Lowered, host: &Host, aot: Option<&aot::AotInfo>) -> Result<String, NativeError> {
    let mut s = String::new();
    let _ = writeln!(s, "; senetc native module: {} steps, {}-lane vectors", l.steps.len(), l.b);
    s.push_str(&llir::declarations(l.b));
    let mut seen = std::collections::HashSet::new();
    for st in &l.steps {
        match &st.kind {
            StepKind::Gen { body } => {
                if seen.insert(st.name.clone()) {
                    let _ = writeln!(s, "define void @{}(float** noalias %P, i64 %lo, i64 %hi) #0 {{\n{body}}}\n", st.name);
                }
            }
            StepKind::Reference { .. } => {
                if aot.is_some() {
                    return Err(NativeError::Unsupported { node: st.name.clone(), why: format!("{} has no native kernel, and ahead-of-time code cannot fall back to the interpreter", st.label) });
                }
            }
        }
    }
    if let Some(info) = aot {
        s.push_str(&aot::entry_points(l, info));
    }
    // Only divisions marked `arcp` (the sigmoid's) take the estimate; the others stay exact.
    let _ = writeln!(s, "attributes #0 = {{ nounwind \"target-cpu\"=\"{}\" \"target-features\"=\"{}\" \"reciprocal-estimates\"=\"vec-divf:1\" }}", host.cpu, host.features);
    Ok(s)
}

/// Parse, verify and optimise a module.
fn build_module<'c>(ctx: &'c Context, text: &str, tm: &TargetMachine) -> Result<Module<'c>, NativeError> {
    if let Ok(path) = std::env::var("SENETC_DUMP_LL") {
        let _ = std::fs::write(path, text);
    }
    let buf = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), "senetc");
    let m = ctx.create_module_from_ir(buf).map_err(|e| NativeError::Llvm(e.to_string()))?;
    m.set_triple(&tm.get_triple());
    m.set_data_layout(&tm.get_target_data().get_data_layout());
    m.verify().map_err(|e| NativeError::Llvm(e.to_string()))?;
    m.run_passes("default<O2>", tm, PassBuilderOptions::create()).map_err(|e| NativeError::Llvm(e.to_string()))?;
    Ok(m)
}

type StepFn = unsafe extern "C" fn(*const *mut f32, i64, i64);

/// The JIT's code: the engine owns the machine code; the context must outlive it.
struct Jit {
    // Drop order: the engine before the context it was made in.
    _ee: ExecutionEngine<'static>,
    _ctx: Box<Context>,
}

// The engine is only used to look up addresses at plan time; the code it owns is immutable.
unsafe impl Send for Jit {}

enum Exec {
    Fn(StepFn),
    Reference,
}

pub(crate) struct RunStep {
    exec: Exec,
    /// The function's buffer pointers (input and output ones patched every run).
    ptrs: Vec<*mut f32>,
    locs: Vec<Loc>,
    items: usize,
    parallel: bool,
    label: &'static str,
    index: usize,
    /// Profiling: time spent in per-image runs.
    spent: std::sync::atomic::AtomicU64,
}

/// A graph compiled to native code for fixed input shapes.
pub struct NativePlan {
    lowered: Lowered,
    steps: Vec<RunStep>,
    arena: Vec<f32>,
    weights: Vec<f32>,
    team: team::Team,
    profile: Option<BTreeMap<&'static str, (usize, Duration)>>,
    host: Host,
    _jit: Jit,
}

fn aligned(len: usize) -> Vec<f32> {
    vec![0.0f32; len + 16]
}

fn align_off(v: &[f32]) -> usize {
    let p = v.as_ptr() as usize;
    (64 - p % 64) % 64 / 4
}

impl NativePlan {
    /// Compile `g` for inputs of `input_shapes` (graph-input order), to run on `threads`
    /// threads (0: all cores).
    pub fn new(g: &Graph, input_shapes: &[Vec<usize>], threads: usize) -> Result<NativePlan, NativeError> {
        Self::with_lanes(g, input_shapes, threads, host().lanes)
    }

    /// Like [`NativePlan::new`] with vectors of `lanes` (4, 8 or 16, at most the host's): the
    /// tests run every layout the host can execute.
    pub fn with_lanes(g: &Graph, input_shapes: &[Vec<usize>], threads: usize, lanes: usize) -> Result<NativePlan, NativeError> {
        let mut host = host();
        if ![4, 8, 16].contains(&lanes) || lanes > host.lanes {
            return Err(NativeError::Input(format!("{lanes}-lane vectors: the host takes 4, 8{}", if host.lanes == 16 { " or 16" } else { "" })));
        }
        host.lanes = lanes;
        let lowered = lower::lower(g, input_shapes, host.lanes)?;
        let tm = target_machine(&host)?;
        let text = module_text(&lowered, &host, None)?;
        let ctx = Box::new(Context::create());
        // Safety: the context is boxed (its address is stable) and dropped after the engine
        // (field order of `Jit`); nothing borrowed from it escapes the plan.
        let ctx_ref: &'static Context = unsafe { &*(ctx.as_ref() as *const Context) };
        let module = build_module(ctx_ref, &text, &tm)?;
        let ee = module.create_jit_execution_engine(OptimizationLevel::Aggressive).map_err(|e| NativeError::Llvm(e.to_string()))?;
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let mut steps = Vec::new();
        for (index, st) in lowered.steps.iter().enumerate() {
            let exec = match &st.kind {
                StepKind::Gen { .. } => {
                    let addr = ee.get_function_address(&st.name).map_err(|e| NativeError::Llvm(format!("{}: {e}", st.name)))?;
                    // Safety: the function was generated with exactly this signature.
                    Exec::Fn(unsafe { std::mem::transmute::<usize, StepFn>(addr) })
                }
                StepKind::Reference { .. } => Exec::Reference,
            };
            // Below this much work a step runs on one thread: splitting costs more than it saves.
            let parallel = threads > 1 && st.items > 1 && st.cost >= 32 * 1024;
            let ptrs = vec![std::ptr::null_mut(); st.locs.len()];
            steps.push(RunStep { exec, ptrs, locs: st.locs.clone(), items: st.items, parallel, label: st.label, index, spent: Default::default() });
        }
        let arena = aligned(lowered.arena);
        let mut weights = aligned(lowered.weights.len());
        let wo = align_off(&weights);
        weights[wo..wo + lowered.weights.len()].copy_from_slice(&lowered.weights);
        Ok(NativePlan { lowered, steps, arena, weights, team: team::Team::new(threads), profile: None, host, _jit: Jit { _ee: ee, _ctx: ctx } })
    }

    /// Vector lanes of the generated code.
    pub fn lanes(&self) -> usize {
        self.lowered.b
    }

    /// The host CPU the code was generated for.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Bytes of the activation arena.
    pub fn peak_bytes(&self) -> usize {
        self.lowered.arena * 4
    }

    /// Steps that run the reference evaluation instead of generated code, by op name.
    pub fn reference_steps(&self) -> Vec<&'static str> {
        self.lowered.steps.iter().filter(|s| matches!(s.kind, StepKind::Reference { .. })).map(|s| s.label).collect()
    }

    /// Start (or stop) accumulating time per op kind.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(BTreeMap::new);
    }

    /// Accumulated (calls, time) per op kind.
    pub fn profile(&self) -> Option<&BTreeMap<&'static str, (usize, Duration)>> {
        self.profile.as_ref()
    }

    /// Run on `input` (f32, the planned shape). Returns the output by name.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<(String, Tensor)>, NativeError> {
        if inputs.len() != 1 {
            return Err(NativeError::Input(format!("the model has 1 input, {} given", inputs.len())));
        }
        if inputs[0].shape() != self.lowered.input.as_slice() {
            return Err(NativeError::Input(format!("the input was planned as {:?}, got {:?}", self.lowered.input, inputs[0].shape())));
        }
        let x = inputs[0].to_f32();
        let (oname, oshape) = self.lowered.output.clone();
        let mut out = vec![0.0f32; oshape.iter().product()];
        let ao = align_off(&self.arena);
        let wo = align_off(&self.weights);
        let ptrs = Ptrs { a: self.arena[ao..].as_mut_ptr(), w: self.weights[wo..].as_ptr(), i: x.as_ptr(), o: out.as_mut_ptr() };
        for st in &mut self.steps {
            for (p, l) in st.ptrs.iter_mut().zip(&st.locs) {
                // Safety: in-bounds offsets of buffers the lowering sized.
                *p = unsafe {
                    match l.base {
                        Base::Arena => ptrs.a.add(l.off),
                        Base::Weights => (ptrs.w as *mut f32).add(l.off),
                        Base::Input => (ptrs.i as *mut f32).add(l.off),
                        Base::Output => ptrs.o.add(l.off),
                    }
                };
            }
        }
        let lowered = &self.lowered;
        let reference = |index: usize| run_reference(lowered, index, &ptrs);
        let profile = self.profile.as_mut();
        self.team.run(&self.steps, &lowered.segments, lowered.input[0], &ptrs, &reference, profile);
        Ok(vec![(oname, Tensor::from_f32(oshape, &out))])
    }
}

/// The base pointers of one run.
pub(crate) struct Ptrs {
    pub a: *mut f32,
    pub w: *const f32,
    pub i: *const f32,
    pub o: *mut f32,
}

// The pointers are shared by the team; every step writes disjoint items.
unsafe impl Sync for RunStep {}
unsafe impl Send for RunStep {}
unsafe impl Sync for Ptrs {}
unsafe impl Send for Ptrs {}

impl Ptrs {
    /// The buffer at `l`.
    ///
    /// # Safety
    /// The caller is the only code touching that buffer while the slice lives (a reference
    /// step runs alone, between barriers), and `l` with `len` lies within it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn loc(&self, l: Loc, len: usize) -> &mut [f32] {
        // Safety: see above.
        unsafe {
            let p = match l.base {
                Base::Arena => self.a,
                Base::Weights => self.w as *mut f32,
                Base::Input => self.i as *mut f32,
                Base::Output => self.o,
            };
            std::slice::from_raw_parts_mut(p.add(l.off), len)
        }
    }
}

fn run_reference(l: &Lowered, index: usize, p: &Ptrs) {
    let StepKind::Reference { op, ins, out } = &l.steps[index].kind else { return };
    // Safety: a reference step runs alone; the lowering sized these buffers. Operands are
    // copied first, so an output slice never overlaps a live operand borrow.
    let datas: Vec<Vec<f32>> = ins.iter().map(|(loc, shape)| unsafe { p.loc(*loc, shape.iter().product()) }.to_vec()).collect();
    let views: Vec<View> = datas.iter().zip(ins).map(|(d, (_, s))| View { data: d, shape: s }).collect();
    let o = unsafe { p.loc(out.0, out.1.iter().product()) };
    // The graph passed the verifier, so the reference evaluation accepts these operands.
    if let Err(e) = op.eval(&views, o, &out.1) {
        eprintln!("senetc: native engine: reference step {} failed: {e}", l.steps[index].name);
    }
}

impl team::Exec for RunStep {
    fn call(&self, _: &Ptrs, lo: usize, hi: usize) {
        if let Exec::Fn(f) = self.exec {
            // Safety: generated for these buffers; items lo..hi are within the step.
            unsafe { f(self.ptrs.as_ptr(), lo as i64, hi as i64) }
        }
    }
    fn items(&self) -> usize {
        self.items
    }
    fn parallel(&self) -> bool {
        self.parallel
    }
    fn reference(&self) -> Option<usize> {
        matches!(self.exec, Exec::Reference).then_some(self.index)
    }
    fn label(&self) -> &'static str {
        self.label
    }
    fn spent(&self) -> &std::sync::atomic::AtomicU64 {
        &self.spent
    }
}

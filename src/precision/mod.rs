//! `senetc precision`: which layers fp16 breaks, and the lists that keep them in fp32.
//!
//! The optimized graph runs twice on the CPU reference on the same inputs: in fp32, and
//! with the fp16 pass applied in the chosen mode (the same node ids: the pass only adds
//! casts and converted constants). Per node this gives
//!
//! - the error of its output in the fp16 run against the fp32 run (max |diff|, relative L2,
//!   cosine similarity), which grows along the graph;
//! - the error it adds by itself: its op evaluated once in fp16 semantics on the fp32 run's
//!   operands (operands rounded to fp16, the op's reference evaluation with the
//!   accumulation it declares, the output rounded to fp16), which is that node alone in
//!   fp16 with the rest in fp32, for the price of one more graph evaluation instead of one
//!   graph run per node. Nodes the mode keeps in fp32 add nothing;
//! - the fp16 hazards: inf and NaN in the fp16 run, fp32 values beyond fp16's range
//!   (|x| > 65504) or in its subnormal range (0 < |x| < 2^-14), and constant operands that
//!   do not fit fp16 (weights are converted, not cast).
//!
//! Nodes carry their framework names (the source-model nodes behind a fused or folded
//! node), so a user finds them in the source model.
//!
//! [`fix`] searches a small set of nodes to keep in fp32: candidates ranked by the error they
//! add, the shortest prefix of the ranking that meets the target by bisection, then greedily
//! without members the target does not need. Each probe applies the fp16 pass with that
//! keep list and runs every sample.

pub mod html;
pub mod lists;

use senetc_codegen::cpu::CpuPlan;
use senetc_ir::{DType, Graph, NodeId, Op, Tensor};
use senetc_passes::{PassReport, PrecisionMode, PrecisionOptions};
use serde::{Serialize, Serializer};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

/// Largest finite fp16.
pub const F16_MAX: f32 = 65504.0;
/// Smallest normal fp16 (2^-14); nonzero magnitudes below it lose precision.
pub const F16_MIN_NORMAL: f32 = 6.103_515_6e-5;

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum PrecisionError {
    /// Inputs or lists that do not fit the model (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The CPU reference failed.
    #[error(transparent)]
    Codegen(#[from] senetc_codegen::CodegenError),
    /// The fp16 pass failed.
    #[error(transparent)]
    Pass(#[from] senetc_passes::PassError),
}

/// The inputs the graphs run on.
pub struct Samples {
    /// One entry per sample: a tensor per graph input, in graph-input order.
    pub inputs: Vec<Vec<Tensor>>,
    /// Where they came from, for the report.
    pub origin: String,
    /// Whether they are real inputs (files) rather than seeded noise.
    pub real: bool,
}

impl Samples {
    /// `count` seeded samples, uniform in [-1, 1), symbolic dims bound to 1.
    pub fn seeded(g: &Graph, seed: u64, count: usize) -> Result<Samples, PrecisionError> {
        let inputs = (0..count as u64)
            .map(|i| crate::numeric::seeded_inputs(g, seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)), 1).map_err(PrecisionError::Usage))
            .collect::<Result<_, _>>()?;
        Ok(Samples { inputs, origin: format!("{count} seeded sample{} (seed {seed})", if count == 1 { "" } else { "s" }), real: false })
    }

    /// Samples from files: each `.npy` is one sample of a one-input model, each `.npz` one
    /// sample with its entries by input name; a folder gives its `.npy`/`.npz` files in name
    /// order.
    pub fn from_paths(g: &Graph, paths: &[std::path::PathBuf]) -> Result<Samples, PrecisionError> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut in_dir: Vec<std::path::PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| PrecisionError::Usage(format!("{}: {e}", p.display())))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("npy") || x.eq_ignore_ascii_case("npz")))
                    .collect();
                in_dir.sort();
                if in_dir.is_empty() {
                    return Err(PrecisionError::Usage(format!("{}: no .npy or .npz files", p.display())));
                }
                files.extend(in_dir);
            } else {
                files.push(p.clone());
            }
        }
        let names: Vec<&str> = g.inputs().iter().map(|&id| g.node(id).name.as_str()).collect();
        let mut inputs = Vec::new();
        for f in &files {
            let bad = |msg: String| PrecisionError::Usage(format!("{}: {msg}", f.display()));
            let is_npz = f.extension().is_some_and(|x| x.eq_ignore_ascii_case("npz"));
            let sample: Vec<Tensor> = if is_npz {
                let mut entries = crate::npy::read_npz(f).map_err(|e| bad(e.to_string()))?;
                if names.len() == 1 && entries.len() == 1 {
                    vec![entries.remove(0).1]
                } else {
                    names
                        .iter()
                        .map(|n| entries.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone()).ok_or_else(|| bad(format!("no entry for input {n:?}"))))
                        .collect::<Result<_, _>>()?
                }
            } else if names.len() == 1 {
                vec![crate::npy::read_npy(f).map_err(|e| bad(e.to_string()))?]
            } else {
                return Err(bad(format!("the model has {} inputs: give each sample as an .npz with entries {names:?}", names.len())));
            };
            for (t, &id) in sample.iter().zip(g.inputs()) {
                let want = &g.node(id).outputs[0];
                let fits = t.shape().len() == want.rank() && want.shape.0.iter().zip(t.shape()).all(|(d, &n)| d.known().is_none_or(|k| k == n));
                if !fits || t.dtype() != want.dtype {
                    return Err(bad(format!("input {:?} expects {want}, got {}{:?}", g.node(id).name, t.dtype(), t.shape())));
                }
            }
            if let Some(first) = inputs.first() {
                let shapes = |s: &Vec<Tensor>| s.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>();
                if shapes(first) != shapes(&sample) {
                    return Err(bad("every sample must have the same shapes".into()));
                }
            }
            inputs.push(sample);
        }
        let origin = match paths {
            [one] => one.display().to_string(),
            _ => format!("{} files", files.len()),
        };
        Ok(Samples { inputs, origin: format!("{origin} ({} sample{})", files.len(), if files.len() == 1 { "" } else { "s" }), real: true })
    }

    fn shapes(&self) -> Vec<Vec<usize>> {
        self.inputs.first().map(|s| s.iter().map(|t| t.shape().to_vec()).collect()).unwrap_or_default()
    }
}

/// A float written to JSON as a number, or as the string `"Infinity"`, `"-Infinity"` or
/// `"NaN"` (JSON has no such numbers; JavaScript's `Number()` reads these strings back).
fn num<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else {
        s.serialize_str(&x.to_string().replace("inf", "Infinity"))
    }
}

/// How far one tensor (over all samples) is from its fp32 reference.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct ErrorStats {
    /// Largest |fp16 - fp32|; infinite when the fp16 value is inf or NaN.
    #[serde(serialize_with = "num")]
    pub max_abs: f64,
    /// ||fp16 - fp32|| / ||fp32|| (L2).
    #[serde(serialize_with = "num")]
    pub rel: f64,
    /// Cosine similarity of the two.
    #[serde(serialize_with = "num")]
    pub cos: f64,
}

/// Running sums for [`ErrorStats`].
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    max_abs: f64,
    d2: f64,
    a2: f64,
    b2: f64,
    ab: f64,
    bad: bool,
}

impl Acc {
    fn add(&mut self, reference: &[f32], got: &[f32]) {
        for (&r, &g) in reference.iter().zip(got) {
            let (r, g) = (r as f64, g as f64);
            if !g.is_finite() || !r.is_finite() {
                self.bad |= g.is_finite() != r.is_finite() || g.is_nan() || (g != r);
                continue;
            }
            let d = g - r;
            self.max_abs = self.max_abs.max(d.abs());
            self.d2 += d * d;
            self.a2 += r * r;
            self.b2 += g * g;
            self.ab += r * g;
        }
    }

    fn stats(&self) -> ErrorStats {
        if self.bad {
            return ErrorStats { max_abs: f64::INFINITY, rel: f64::INFINITY, cos: f64::NAN };
        }
        let rel = if self.a2 > 0.0 { (self.d2 / self.a2).sqrt() } else if self.d2 > 0.0 { f64::INFINITY } else { 0.0 };
        let cos = if self.a2 == 0.0 && self.b2 == 0.0 { 1.0 } else if self.a2 == 0.0 || self.b2 == 0.0 { 0.0 } else { self.ab / (self.a2.sqrt() * self.b2.sqrt()) };
        ErrorStats { max_abs: self.max_abs, rel, cos: cos.clamp(-1.0, 1.0) }
    }
}

/// fp16 hazards of one node's output (element counts over all samples).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Hazards {
    /// Infinities in the fp16 run.
    pub inf: u64,
    /// NaNs in the fp16 run.
    pub nan: u64,
    /// fp32 values with |x| > 65504: they overflow to inf in fp16.
    pub overflow: u64,
    /// fp32 values with 0 < |x| < 2^-14: subnormal (or zero) in fp16.
    pub subnormal: u64,
    /// Constant operand elements beyond fp16's range (weights are stored as fp16).
    pub weight_overflow: u64,
    /// Output elements looked at.
    pub elements: u64,
}

impl Hazards {
    /// Whether anything that breaks fp16 outright was seen (subnormals only lose precision).
    pub fn severe(&self) -> bool {
        self.inf + self.nan + self.overflow + self.weight_overflow > 0
    }

    /// One line for tables: the nonzero counts.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        for (n, what) in [(self.inf, "inf"), (self.nan, "NaN"), (self.overflow, ">65504"), (self.weight_overflow, "weights>65504"), (self.subnormal, "subnormal")] {
            if n > 0 {
                v.push(format!("{n} {what}"));
            }
        }
        v.join(", ")
    }
}

/// One node of the optimized graph.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    /// Position in graph order (operands before readers).
    pub index: usize,
    /// The IR node's name.
    pub name: String,
    /// The op (IR keyword).
    pub op: String,
    /// The source-model nodes it stands for.
    pub framework_names: Vec<String>,
    /// Whether it stands for several source nodes (a fusion or a fold).
    pub fused: bool,
    /// Whether the mode runs it in fp16.
    pub fp16: bool,
    /// Its output in the fp16 run against the fp32 run.
    pub error: ErrorStats,
    /// The error it adds alone in fp16.
    pub own: ErrorStats,
    /// What fp16 cannot hold.
    pub hazards: Hazards,
    /// 1-based place in the ranking (fp16 nodes only).
    pub rank: Option<usize>,
}

/// A graph output.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    /// The output's name.
    pub name: String,
    /// fp16 against fp32.
    pub error: ErrorStats,
    /// Share of rows (samples x batch) whose argmax agrees.
    #[serde(serialize_with = "num")]
    pub top1: f64,
}

/// The whole analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// The fp16 mode analysed.
    pub precision_mode: String,
    /// Where the inputs came from.
    pub inputs: String,
    /// Whether they are real inputs.
    pub real_inputs: bool,
    /// Number of samples.
    pub samples: usize,
    /// Every compute node, in graph order.
    pub nodes: Vec<NodeReport>,
    /// The graph outputs.
    pub outputs: Vec<OutputReport>,
    /// Indices (into `nodes`) of the fp16 nodes, most harmful first.
    pub ranking: Vec<usize>,
    /// Milliseconds per phase.
    pub timings_ms: std::collections::BTreeMap<String, f64>,
    #[serde(skip)]
    ids: Vec<NodeId>,
    #[serde(skip)]
    reference: Vec<Vec<Vec<f32>>>,
}

/// How to build the fp16 graph.
#[derive(Clone, Debug)]
pub struct Config {
    /// The mode and the user's lists (--fp16-allow/deny, --keep-dtype, a mixlist).
    pub precision: PrecisionOptions,
    /// CPU threads (0: all cores).
    pub threads: usize,
}

/// `g` (an optimized fp32 graph) with the fp16 pass applied under `p`.
pub fn with_fp16(g: &Graph, p: &PrecisionOptions) -> Result<Graph, PrecisionError> {
    let mut h = g.clone();
    senetc_passes::precision::insert_fp16_casts(&mut h, p, &mut PassReport::default())?;
    Ok(h)
}

fn is_compute(op: &Op) -> bool {
    !matches!(op, Op::Input | Op::Const(_))
}

/// Compute nodes of `g` by precision: (fp32, fp16); casts are not counted.
pub fn count_ops(g: &Graph) -> (usize, usize) {
    let mut n = (0, 0);
    for id in g.node_ids() {
        let node = g.node(id);
        if !is_compute(&node.op) || matches!(node.op, Op::Cast(_)) || !node.outputs[0].dtype.is_float() {
            continue;
        }
        if node.outputs[0].dtype == DType::F16 {
            n.1 += 1;
        } else {
            n.0 += 1;
        }
    }
    n
}

/// Run `plan` on every sample, returning each output's values per sample.
fn run_outputs(plan: &mut CpuPlan, samples: &Samples) -> Result<Vec<Vec<Vec<f32>>>, PrecisionError> {
    samples.inputs.iter().map(|s| Ok(plan.run(s)?.into_iter().map(|(_, t)| t.to_f32().into_owned()).collect())).collect()
}

/// Rows whose argmax agree, and rows, of one output of shape `shape` (rows = dim 0).
fn top1_counts(shape: &[usize], a: &[f32], b: &[f32]) -> (usize, usize) {
    let rows = shape.first().copied().unwrap_or(1).max(1);
    let per = a.len() / rows;
    if per == 0 {
        return (0, 0);
    }
    let argmax = |v: &[f32]| v.iter().enumerate().fold((0, f32::NEG_INFINITY), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
    let agree = (0..rows).filter(|&r| argmax(&a[r * per..(r + 1) * per]) == argmax(&b[r * per..(r + 1) * per])).count();
    (agree, rows)
}

/// Analyse `g32` (the optimized graph, all fp32) under `cfg` on `samples`.
pub fn analyze(g32: &Graph, cfg: &Config, samples: &Samples) -> Result<Analysis, PrecisionError> {
    let mut timings = std::collections::BTreeMap::new();
    let t = Instant::now();
    let g16 = with_fp16(g32, &cfg.precision)?;
    let shapes = samples.shapes();
    let mut p32 = CpuPlan::capturing(g32, &shapes, cfg.threads)?;
    let mut p16 = CpuPlan::capturing(&g16, &shapes, cfg.threads)?;
    timings.insert("plan".to_string(), t.elapsed().as_secs_f64() * 1e3);
    let ids: Vec<NodeId> = g32.order().into_iter().filter(|&id| is_compute(&g32.node(id).op)).collect();
    let half: Vec<bool> = ids.iter().map(|&id| g16.node(id).outputs[0].dtype == DType::F16).collect();
    // Constant operands that do not fit fp16, once per node (they do not depend on samples).
    let weight_overflow: Vec<u64> = ids
        .iter()
        .zip(&half)
        .map(|(&id, &h)| {
            if !h {
                return 0;
            }
            g32.inputs_of(id)
                .iter()
                .filter_map(|o| match &g32.node(o.node).op {
                    Op::Const(c) if c.tensor.dtype() == DType::F32 => Some(c.tensor.to_f32().iter().filter(|x| x.abs() > F16_MAX).count() as u64),
                    _ => None,
                })
                .sum()
        })
        .collect();
    let mut cum = vec![Acc::default(); ids.len()];
    let mut own = vec![Acc::default(); ids.len()];
    let mut hazards = vec![Hazards::default(); ids.len()];
    let outs = g32.outputs().to_vec();
    let mut out_acc = vec![Acc::default(); outs.len()];
    let mut agree = vec![(0usize, 0usize); outs.len()];
    let mut reference = Vec::new();
    let (mut t_run, mut t_own) = (0.0, 0.0);
    for sample in &samples.inputs {
        let t = Instant::now();
        let o32 = p32.run(sample)?;
        let o16 = p16.run(sample)?;
        t_run += t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let input_pos: HashMap<NodeId, usize> = g32.inputs().iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let sample_f32: Vec<std::borrow::Cow<[f32]>> = sample.iter().map(|t| t.to_f32()).collect();
        let value = |id: NodeId| -> Option<(&[usize], &[f32])> {
            match input_pos.get(&id) {
                Some(&i) => Some((sample[i].shape(), &sample_f32[i][..])),
                None => p32.node_value(id),
            }
        };
        for (k, &id) in ids.iter().enumerate() {
            let (Some((shape, v32)), Some((_, v16))) = (value(id), p16.node_value(id)) else { continue };
            cum[k].add(v32, v16);
            let h = &mut hazards[k];
            h.elements += v32.len() as u64;
            // Weights do not depend on the sample: counted once.
            h.weight_overflow = weight_overflow[k];
            for (&a, &b) in v32.iter().zip(v16) {
                h.inf += b.is_infinite() as u64;
                h.nan += b.is_nan() as u64;
                h.overflow += (a.abs() > F16_MAX && a.is_finite()) as u64;
                h.subnormal += (a != 0.0 && a.abs() < F16_MIN_NORMAL) as u64;
            }
            if !half[k] {
                continue;
            }
            // The node alone in fp16: its operands as fp16 would hold them, its own
            // evaluation, its output rounded.
            let node = g32.node(id);
            let mut operands: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
            for o in g32.inputs_of(id) {
                let Some((s, v)) = value(o.node) else { break };
                let mut v = v.to_vec();
                if g32.outlet_type(o).dtype.is_float() {
                    senetc_kernels::precision::round_f16(&mut v);
                }
                operands.push((v, s.to_vec()));
            }
            if operands.len() != g32.inputs_of(id).len() {
                continue;
            }
            let views: Vec<senetc_ir::ops::View> = operands.iter().map(|(d, s)| senetc_ir::ops::View { data: d, shape: s }).collect();
            let mut out = vec![0f32; v32.len()];
            if node.op.eval(&views, &mut out, shape).is_ok() {
                senetc_kernels::precision::round_f16(&mut out);
                own[k].add(v32, &out);
            }
        }
        for (i, ((_, a), (_, b))) in o32.iter().zip(&o16).enumerate() {
            let (a, b) = (a.to_f32(), b.to_f32());
            out_acc[i].add(&a, &b);
            let (ag, rows) = top1_counts(o32[i].1.shape(), &a, &b);
            agree[i].0 += ag;
            agree[i].1 += rows;
        }
        reference.push(o32.into_iter().map(|(_, t)| t.to_f32().into_owned()).collect());
        t_own += t.elapsed().as_secs_f64() * 1e3;
    }
    timings.insert("run fp32 + fp16".to_string(), t_run);
    timings.insert("per-node errors".to_string(), t_own);
    let mut nodes: Vec<NodeReport> = ids
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let n = g32.node(id);
            let names: Vec<String> = n.framework_names().into_iter().map(str::to_string).collect();
            NodeReport {
                index: k,
                name: n.name.clone(),
                op: n.op.name().to_string(),
                fused: names.len() > 1,
                framework_names: names,
                fp16: half[k],
                error: cum[k].stats(),
                own: own[k].stats(),
                hazards: hazards[k],
                rank: None,
            }
        })
        .collect();
    let ranking = rank(&nodes);
    for (r, &k) in ranking.iter().enumerate() {
        nodes[k].rank = Some(r + 1);
    }
    let outputs = outs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| OutputReport { name: name.clone(), error: out_acc[i].stats(), top1: if agree[i].1 == 0 { 1.0 } else { agree[i].0 as f64 / agree[i].1 as f64 } })
        .collect();
    Ok(Analysis {
        precision_mode: cfg.precision.mode.name().to_string(),
        inputs: samples.origin.clone(),
        real_inputs: samples.real,
        samples: samples.inputs.len(),
        nodes,
        outputs,
        ranking,
        timings_ms: timings,
        ids,
        reference,
    })
}

/// A sort key where NaN counts as the worst.
fn worst(x: f64) -> f64 {
    if x.is_nan() {
        f64::INFINITY
    } else {
        x
    }
}

/// fp16 nodes, most harmful first: by the relative error they add alone, then by severe
/// hazards, then earlier in the graph first (the cause before what it feeds).
fn rank(nodes: &[NodeReport]) -> Vec<usize> {
    let mut v: Vec<usize> = nodes.iter().filter(|n| n.fp16).map(|n| n.index).collect();
    let severe = |n: &NodeReport| n.hazards.inf + n.hazards.nan + n.hazards.overflow + n.hazards.weight_overflow;
    v.sort_by(|&a, &b| {
        let (x, y) = (&nodes[a], &nodes[b]);
        worst(y.own.rel).total_cmp(&worst(x.own.rel)).then(severe(y).cmp(&severe(x))).then(a.cmp(&b))
    });
    v
}

/// What a fix must reach on the final outputs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Target {
    /// Cosine similarity to fp32 of every output, at least.
    pub cos: Option<f64>,
    /// Top-1 agreement with fp32 of every output, at least.
    pub top1: Option<f64>,
}

/// The final outputs of one fp16 graph against fp32.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Probe {
    /// The worst output's cosine similarity.
    #[serde(serialize_with = "num")]
    pub cos: f64,
    /// The worst output's relative L2 error.
    #[serde(serialize_with = "num")]
    pub rel: f64,
    /// The worst output's top-1 agreement.
    #[serde(serialize_with = "num")]
    pub top1: f64,
    /// Compute ops in fp32.
    pub fp32_ops: usize,
    /// Compute ops in fp16.
    pub fp16_ops: usize,
}

impl Target {
    /// Whether `p` meets the target.
    pub fn met(&self, p: &Probe) -> bool {
        self.cos.is_none_or(|c| p.cos >= c) && self.top1.is_none_or(|t| p.top1 >= t)
    }
}

/// A node the fix keeps in fp32.
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    /// Index into the analysis' nodes.
    pub index: usize,
    /// The IR node's name.
    pub name: String,
    /// Its op.
    pub op: String,
    /// Its framework names (what keep_dtype.cfg lists).
    pub framework_names: Vec<String>,
}

/// The result of the repair search.
#[derive(Clone, Debug, Serialize)]
pub struct Fix {
    /// The target.
    pub target: Target,
    /// Whether the kept set meets it.
    pub met: bool,
    /// Graphs built and run by the search.
    pub probes: usize,
    /// The nodes kept in fp32, in graph order.
    pub kept: Vec<Kept>,
    /// keep_dtype.cfg: the framework names of the kept nodes.
    pub keep_dtype: Vec<String>,
    /// modify_mixlist.json's black-list: CANN types of the kept nodes' op kinds.
    pub mixlist_black: Vec<String>,
    /// The IR op kinds that black-list reaches (what `--modify-mixlist` denies in senetc).
    pub mixlist_kinds: Vec<String>,
    /// The fp16 graph as the mode makes it.
    pub before: Probe,
    /// With keep_dtype.cfg.
    pub after: Probe,
    /// With modify_mixlist.json alone (ATC's lists work by type: everything of those types stays fp32).
    pub mixlist_after: Probe,
    /// Whether that meets the target too.
    pub mixlist_met: bool,
}

struct Prober<'a> {
    g32: &'a Graph,
    cfg: &'a Config,
    samples: &'a Samples,
    reference: &'a [Vec<Vec<f32>>],
    probes: usize,
}

impl Prober<'_> {
    fn probe_with(&mut self, p: &PrecisionOptions) -> Result<Probe, PrecisionError> {
        self.probes += 1;
        let g = with_fp16(self.g32, p)?;
        let mut plan = CpuPlan::new(&g, &self.samples.shapes(), self.cfg.threads)?;
        let got = run_outputs(&mut plan, self.samples)?;
        let (fp32_ops, fp16_ops) = count_ops(&g);
        let mut probe = Probe { cos: 1.0, rel: 0.0, top1: 1.0, fp32_ops, fp16_ops };
        for (i, (name, o)) in self.g32.outputs().iter().enumerate() {
            let _ = name;
            let mut acc = Acc::default();
            let (mut agree, mut rows) = (0, 0);
            let shape = self.output_shape(*o);
            for (r, s) in self.reference.iter().zip(&got) {
                acc.add(&r[i], &s[i]);
                let (a, n) = top1_counts(&shape, &r[i], &s[i]);
                agree += a;
                rows += n;
            }
            let st = acc.stats();
            probe.cos = if probe.cos.is_nan() || st.cos.is_nan() { f64::NAN } else { probe.cos.min(st.cos) };
            probe.rel = probe.rel.max(worst(st.rel));
            probe.top1 = probe.top1.min(if rows == 0 { 1.0 } else { agree as f64 / rows as f64 });
        }
        Ok(probe)
    }

    fn output_shape(&self, o: senetc_ir::Outlet) -> Vec<usize> {
        self.g32.outlet_type(o).shape.bind(&|_| self.samples.inputs.first().and_then(|s| s.first()).map(|t| t.shape()[0])).as_known().unwrap_or_default()
    }

    fn keep(&mut self, nodes: &[NodeId]) -> Result<Probe, PrecisionError> {
        let mut p = self.cfg.precision.clone();
        p.keep_dtype.extend(keep_names(self.g32, nodes));
        self.probe_with(&p)
    }
}

/// The framework names of `nodes`, each once, in order.
fn keep_names(g: &Graph, nodes: &[NodeId]) -> Vec<String> {
    senetc_ir::merged_sources(nodes.iter().map(|&id| g.node(id)))
}

/// Search the fewest nodes to keep in fp32 that bring the outputs within `target`.
pub fn fix(g32: &Graph, cfg: &Config, samples: &Samples, a: &Analysis, target: Target) -> Result<Fix, PrecisionError> {
    let mut pr = Prober { g32, cfg, samples, reference: &a.reference, probes: 0 };
    let before = pr.keep(&[])?;
    let cands: Vec<NodeId> = a.ranking.iter().map(|&k| a.ids[k]).collect();
    let mut keep: Vec<NodeId> = Vec::new();
    let mut met = target.met(&before);
    if !met && !cands.is_empty() {
        // Bisection for the shortest prefix that meets the target: `lo` fails, `hi` passes.
        let all = pr.keep(&cands)?;
        met = target.met(&all);
        let (mut lo, mut hi) = (0, cands.len());
        if met {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if target.met(&pr.keep(&cands[..mid])?) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        keep = cands[..hi].to_vec();
        // Then without every member the target does not need, the least harmful first.
        if met {
            let mut i = keep.len();
            while i > 0 && keep.len() > 1 {
                i -= 1;
                let mut trial = keep.clone();
                trial.remove(i);
                if target.met(&pr.keep(&trial)?) {
                    keep = trial;
                }
            }
        }
    }
    let index: HashMap<NodeId, usize> = a.ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    keep.sort_by_key(|id| index[id]);
    let after = pr.keep(&keep)?;
    let kinds: BTreeSet<&str> = keep.iter().map(|&id| g32.node(id).op.name()).collect();
    let mixlist_black = lists::types_of_kinds(kinds.iter().copied());
    let mixlist_kinds = lists::kinds_of_types(&mixlist_black).map_err(PrecisionError::Usage)?;
    let mut p = cfg.precision.clone();
    p.deny.extend(mixlist_kinds.iter().cloned());
    let mixlist_after = pr.probe_with(&p)?;
    let kept = keep
        .iter()
        .map(|&id| {
            let n = g32.node(id);
            Kept { index: index[&id], name: n.name.clone(), op: n.op.name().to_string(), framework_names: n.framework_names().into_iter().map(str::to_string).collect() }
        })
        .collect();
    let mixlist_met = target.met(&mixlist_after);
    Ok(Fix { target, met, probes: pr.probes, kept, keep_dtype: keep_names(g32, &keep), mixlist_black, mixlist_kinds, before, after, mixlist_after, mixlist_met })
}

/// Write modify_mixlist.json and keep_dtype.cfg into `dir`; returns their paths.
pub fn write_fix(dir: &Path, f: &Fix) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mix = dir.join("modify_mixlist.json");
    let keep = dir.join("keep_dtype.cfg");
    crate::output::write_atomic(&mix, lists::mixlist_json(&f.mixlist_black).as_bytes()).map_err(std::io::Error::other)?;
    crate::output::write_atomic(&keep, lists::keep_dtype_cfg(&f.keep_dtype).as_bytes()).map_err(std::io::Error::other)?;
    Ok(vec![mix, keep])
}

/// Whether `mode` runs anything in fp16 at all.
pub fn mode_uses_fp16(mode: PrecisionMode) -> bool {
    matches!(mode, PrecisionMode::ForceFp16 | PrecisionMode::AllowMixPrecision)
}

fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2e}")
    } else {
        x.to_string()
    }
}

/// What `senetc precision` prints: the outputs, the `top` most harmful nodes, the fix.
pub fn summary(model: &str, a: &Analysis, fix: Option<&Fix>, dir: Option<&Path>, top: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{model}: --precision-mode {} against fp32 on {}", a.precision_mode, a.inputs);
    for o in &a.outputs {
        let _ = write!(s, "output {:?}: cosine {:.8}  rel. L2 {}  max |diff| {}", o.name, o.error.cos, fmt(o.error.rel), fmt(o.error.max_abs));
        if a.real_inputs {
            let _ = write!(s, "  top-1 agreement {:.1}%", o.top1 * 100.0);
        }
        s.push('\n');
    }
    let fp16 = a.nodes.iter().filter(|n| n.fp16).count();
    let severe = a.nodes.iter().filter(|n| n.fp16 && n.hazards.severe()).count();
    let _ = writeln!(s, "{} nodes, {fp16} in fp16, {severe} with overflow, inf or NaN", a.nodes.len());
    let _ = writeln!(s, "{:>4}  {:>9}  {:>9}  {:>9}  {:<24} {:<28} framework names", "rank", "adds rel", "out rel", "out cos", "op", "hazards");
    for &k in a.ranking.iter().take(top) {
        let n = &a.nodes[k];
        let _ = writeln!(
            s,
            "{:>4}  {:>9}  {:>9}  {:>9.6}  {:<24} {:<28} {}",
            n.rank.unwrap_or(0),
            fmt(n.own.rel),
            fmt(n.error.rel),
            n.error.cos,
            format!("{}{}", n.op, if n.fused { " (fused)" } else { "" }),
            n.hazards.describe(),
            n.framework_names.join(", ")
        );
    }
    if let Some(f) = fix {
        let target = [f.target.cos.map(|c| format!("cosine >= {c}")), f.target.top1.map(|t| format!("top-1 >= {t}"))].into_iter().flatten().collect::<Vec<_>>().join(", ");
        let _ = writeln!(s, "fix ({target}): {} with {} op{} kept in fp32 ({} probes)", if f.met { "met" } else { "NOT met" }, f.kept.len(), if f.kept.len() == 1 { "" } else { "s" }, f.probes);
        for (what, p) in [("before", &f.before), ("after keep_dtype.cfg", &f.after), ("after modify_mixlist.json", &f.mixlist_after)] {
            let _ = writeln!(s, "  {what:<26} cosine {:.8}  rel. L2 {}  top-1 {:.1}%  fp32 ops {}  fp16 ops {}", p.cos, fmt(p.rel), p.top1 * 100.0, p.fp32_ops, p.fp16_ops);
        }
        if !f.mixlist_black.is_empty() {
            let _ = writeln!(s, "  modify_mixlist.json black-lists {} (every op of those types: {} in senetc); target {} with it", f.mixlist_black.join(", "), f.mixlist_kinds.join(", "), if f.mixlist_met { "met" } else { "not met" });
        }
        for k in &f.kept {
            let _ = writeln!(s, "  keep {} ({}): {}", k.name, k.op, k.framework_names.join(", "));
        }
        if let Some(d) = dir {
            let _ = writeln!(s, "wrote {} and {}", d.join("keep_dtype.cfg").display(), d.join("modify_mixlist.json").display());
        }
    }
    s
}

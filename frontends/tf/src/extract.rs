//! The inference subgraph of a TensorFlow graph. A training checkpoint's `.meta` holds the
//! whole training graph; what inference needs is found by walking back from the outputs
//! over data edges only (control edges order side effects: BN updates, savers, summaries),
//! so gradients, optimizer updates, savers, summaries and the variables they update are
//! never reached. On the way the training constructs are resolved, each recorded as a note:
//!
//! - `Switch`/`Merge` (tf.cond) whose predicate is static: a `--set` pin, a Const, or an
//!   is_training-style placeholder (pinned to its inference value) take one branch;
//! - dropout and drop-connect (a random mask multiplied with, or selecting, the rescaled
//!   input) become the identity;
//! - `FusedBatchNorm*` in training mode normalizes with the moving statistics of its scope;
//! - a bool or scalar `PlaceholderWithDefault` takes its default;
//! - `IteratorGetNext` outputs become graph inputs (the static training batch is dropped).
//!
//! Anything random, or a training-mode construct that cannot be resolved, is an error that
//! names it and says how to get an eval graph.

use crate::graph::{attr_bool, attr_shape, attr_shapes, attr_type, dims_of, TRef, TfGraph};
use crate::source::Source;
use senetc_import::Problem;
use senetc_ir::{DType, Tensor};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What extraction is told.
#[derive(Default)]
pub struct Options<'a> {
    /// Tensors to cut the graph at, becoming graph inputs (`--input-name`).
    pub input_names: &'a [String],
    /// Tensors to output (`--output-name`, `--out-nodes`).
    pub output_names: &'a [String],
    /// Placeholder pins (`--set NAME=VALUE`).
    pub set: &'a [(String, String)],
}

/// A graph input.
#[derive(Clone, Debug)]
pub struct InputSpec {
    /// The tensor it replaces.
    pub tref: TRef,
    /// Its name in the IR (the TensorFlow tensor name, `:0` left out).
    pub name: String,
    /// Element type (`None`: learn it from the graph above a cut).
    pub dtype: Option<DType>,
    /// Dims, -1 where unknown (`None`: unknown rank, or learn it from the graph above a cut).
    pub dims: Option<Vec<i64>>,
    /// A cut (`--input-name`) rather than a placeholder or iterator.
    pub cut: bool,
    /// The static batch of an iterator output, dropped in favour of a symbolic batch.
    pub training_batch: Option<usize>,
}

/// The inference subgraph and how to read it.
#[derive(Default)]
pub struct Plan {
    /// Nodes to convert, every one after its operands.
    pub order: Vec<usize>,
    /// The operands of each kept node: its data inputs with training constructs resolved.
    pub operands: HashMap<usize, Vec<TRef>>,
    /// Graph inputs, in order.
    pub inputs: Vec<InputSpec>,
    /// Graph outputs: (name, tensor).
    pub outputs: Vec<(String, TRef)>,
    /// Placeholders replaced by constants (`--set`, defaults).
    pub pinned: HashMap<usize, Tensor>,
    /// What was done, for the report.
    pub notes: Vec<String>,
}

const IDENTITY_OPS: &[&str] = &["Identity", "StopGradient", "Snapshot", "PreventGradient", "ReadVariableOp", "EnsureShape", "CheckNumerics", "RefIdentity"];
/// Ops that hold a variable: their value is a weight of the checkpoint.
pub const VARIABLE_OPS: &[&str] = &["VariableV2", "Variable", "VarHandleOp", "_VarHandlesOp"];
const ITERATOR_OPS: &[&str] = &["IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional"];
const LOSS_OPS: &[&str] = &["SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits"];
/// Ops whose outputs never are a model output.
const NOT_OUTPUTS: &[&str] = &["ArgMax", "ArgMin", "Shape", "ShapeN", "Size", "Rank", "NoOp", "Assert", "Print", "PrintV2", "Equal", "NotEqual", "InTopK", "InTopKV2"];

fn is_random(op: &str) -> bool {
    op.contains("Random") || op.contains("TruncatedNormal") || op == "Multinomial"
}

fn is_training_op(op: &str) -> bool {
    op.starts_with("Apply") || op.starts_with("ResourceApply") || op.ends_with("Grad") || op.contains("Backprop") || op.starts_with("Assign") || op.starts_with("Save") || op.starts_with("Restore") || op.contains("Summary") || op == "MergeV2Checkpoints" || op == "ShardedFilename"
}

/// The hint every training-construct error ends with.
pub const EVAL_HINT: &str = "export an eval graph instead (rebuild the net with is_training=False and save it, or freeze it), or cut the graph before it with --output-name/--input-name";

/// The value an is_training-style placeholder has at inference, by its name.
fn inference_value_by_name(name: &str) -> Option<bool> {
    let last = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    if last.contains("train") || last.contains("learning_phase") || last.contains("dropout") {
        return Some(false);
    }
    if last.contains("eval") || last.contains("test") || last.contains("infer") {
        return Some(true);
    }
    None
}

/// Parse a `--set` value for a placeholder of type `dt`.
fn parse_pin(value: &str, dt: DType, dims: Option<&[i64]>) -> Result<Tensor, String> {
    let parts: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let shape = match dims {
        Some(d) if d.iter().all(|&x| x >= 0) && d.iter().product::<i64>() as usize == parts.len() => d.iter().map(|&x| x as usize).collect(),
        _ if parts.len() == 1 => vec![],
        _ => vec![parts.len()],
    };
    let floats: Vec<f64> = parts
        .iter()
        .map(|p| match p.to_ascii_lowercase().as_str() {
            "true" => Ok(1.0),
            "false" => Ok(0.0),
            s => s.parse::<f64>().map_err(|_| format!("cannot read {p:?} as a {dt} value")),
        })
        .collect::<Result<_, _>>()?;
    let t = Tensor::from_bytes(DType::F64, shape, floats.iter().flat_map(|v| v.to_le_bytes()).collect()).map_err(|e| e.to_string())?;
    Ok(t.cast(dt))
}

struct Ex<'a> {
    g: &'a TfGraph,
    src: &'a Source,
    pins: HashMap<usize, Tensor>,
    cuts: HashMap<TRef, usize>,
    /// Static value of each Switch's predicate (`None`: not static).
    switch_pred: HashMap<usize, Option<bool>>,
    dead_node: Vec<bool>,
    dead_slot: HashSet<TRef>,
    random: Vec<bool>,
    /// Dropout patterns: the identity of the value they rescale.
    dropout_at: Vec<bool>,
    notes: Vec<String>,
    problems: Vec<Problem>,
    /// Placeholders pinned by name, with the number of Switches they decide.
    name_pins: BTreeMap<usize, (bool, usize)>,
    merges: BTreeSet<String>,
    dropouts: BTreeSet<usize>,
    memo: HashMap<TRef, TRef>,
}

/// Build the plan for `src` (indexed as `g`).
pub fn plan(g: &TfGraph, src: &Source, opts: &Options) -> Result<Plan, Vec<Problem>> {
    let mut ex = Ex {
        g,
        src,
        pins: HashMap::new(),
        cuts: HashMap::new(),
        switch_pred: HashMap::new(),
        dead_node: vec![false; g.len()],
        dead_slot: HashSet::new(),
        random: vec![false; g.len()],
        dropout_at: vec![false; g.len()],
        notes: Vec::new(),
        problems: Vec::new(),
        name_pins: BTreeMap::new(),
        merges: BTreeSet::new(),
        dropouts: BTreeSet::new(),
        memo: HashMap::new(),
    };
    ex.read_pins(opts);
    let mut cut_specs = Vec::new();
    for name in opts.input_names {
        match g.tensor(name) {
            Some(t) => {
                ex.cuts.insert(t, cut_specs.len());
                cut_specs.push(InputSpec { tref: t, name: g.value_name(t), dtype: None, dims: None, cut: true, training_batch: None });
            }
            None => ex.problems.push(Problem::new(name.as_str(), "--input-name", "no node of that name in the graph")),
        }
    }
    let outputs = ex.outputs(opts);
    if !ex.problems.is_empty() {
        return Err(ex.problems);
    }
    ex.resolve_switches();
    ex.taint_random();
    let mut plan = Plan { inputs: cut_specs, ..Plan::default() };
    let mut resolved_outputs = Vec::new();
    for (name, t) in outputs {
        match ex.resolve(t) {
            Ok(r) => resolved_outputs.push((name, r)),
            Err(p) => ex.problems.push(p),
        }
    }
    ex.walk(&resolved_outputs, &mut plan);
    if !ex.problems.is_empty() {
        return Err(ex.problems);
    }
    for (&node, &(value, switches)) in &ex.name_pins {
        ex.notes.push(format!(
            "{} ({}) pinned to {value} as the inference value of an is_training-style flag{}",
            g.node(node).name,
            g.node(node).op,
            if switches > 0 { format!("; {switches} Switch nodes take that branch") } else { String::new() }
        ));
    }
    if !ex.merges.is_empty() {
        ex.notes.push(format!("{} tf.cond Merge nodes resolved to their inference branch:", ex.merges.len()));
        let merges = std::mem::take(&mut ex.merges);
        ex.notes.extend(merges);
    }
    plan.outputs = resolved_outputs;
    plan.pinned = ex.pins;
    let mut notes = ex.notes;
    notes.append(&mut plan.notes);
    plan.notes = notes;
    Ok(plan)
}

impl Ex<'_> {
    fn problem(&mut self, node: usize, what: impl Into<String>) -> Problem {
        let n = self.g.node(node);
        Problem::new(n.name.as_str(), n.op.as_str(), what)
    }

    fn read_pins(&mut self, opts: &Options) {
        for (name, value) in opts.set {
            let Some(i) = self.g.find(name.trim_end_matches(":0")) else {
                self.problems.push(Problem::new(name.as_str(), "--set", "no node of that name in the graph"));
                continue;
            };
            let n = self.g.node(i);
            if !matches!(n.op.as_str(), "Placeholder" | "PlaceholderWithDefault" | "PlaceholderV2") {
                self.problems.push(Problem::new(name.as_str(), n.op.as_str(), "--set pins placeholders only"));
                continue;
            }
            let dt = attr_type(n, "dtype").and_then(crate::bundle::dtype).unwrap_or(DType::F32);
            let dims = attr_shape(n, "shape").as_ref().and_then(dims_of);
            match parse_pin(value, dt, dims.as_deref()) {
                Ok(t) => {
                    self.notes.push(format!("{name} pinned to {value} (--set)"));
                    self.pins.insert(i, t);
                }
                Err(e) => self.problems.push(Problem::new(name.as_str(), "--set", e)),
            }
        }
    }

    /// The graph outputs: given names, the signature's, or detected.
    fn outputs(&mut self, opts: &Options) -> Vec<(String, TRef)> {
        let g = self.g;
        if !opts.output_names.is_empty() {
            let mut v = Vec::new();
            for name in opts.output_names {
                match g.tensor(name) {
                    Some(t) => v.push((g.value_name(t), t)),
                    None => self.problems.push(Problem::new(name.as_str(), "--output-name", "no node of that name in the graph")),
                }
            }
            return v;
        }
        if let Some(sig) = &self.src.signature {
            let mut v = Vec::new();
            for (key, tensor) in &sig.outputs {
                match g.tensor(tensor) {
                    Some(t) => v.push((key.clone(), t)),
                    None => self.problems.push(Problem::new(key.as_str(), "signature output", format!("names {tensor:?}, which is not in the graph"))),
                }
            }
            return v;
        }
        match self.detect_outputs() {
            Ok(v) => v.into_iter().map(|t| (g.value_name(t), t)).collect(),
            Err(p) => {
                self.problems.push(p);
                vec![]
            }
        }
    }

    /// Outputs of a graph that names none: the logits its loss reads (training graphs), or
    /// the float values computed from the inputs that nothing reads.
    fn detect_outputs(&mut self) -> Result<Vec<TRef>, Problem> {
        let g = self.g;
        let mut from_loss: Vec<TRef> = Vec::new();
        for (i, n) in g.nodes.iter().enumerate() {
            if !LOSS_OPS.contains(&n.op.as_str()) || n.name.starts_with("gradients") {
                continue;
            }
            let scope = format!("{}/", n.name.split('/').next().unwrap_or(""));
            let mut t = match g.data_input(i, 0) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let mut steps = 0;
            while g.node(t.node).name.starts_with(&scope) && steps < 64 {
                match g.data_input(t.node, 0) {
                    Ok(x) => t = x,
                    Err(_) => break,
                }
                steps += 1;
            }
            if !from_loss.contains(&t) {
                from_loss.push(t);
            }
        }
        let names = |v: &[TRef]| v.iter().map(|&t| g.value_name(t)).collect::<Vec<_>>().join(", ");
        match from_loss.len() {
            1 => {
                self.notes.push(format!("output {} detected: the logits the training loss reads", g.value_name(from_loss[0])));
                return Ok(from_loss);
            }
            n if n > 1 => return Err(Problem::new("", "outputs", format!("the graph has several losses; their logits are {}: choose with --output-name", names(&from_loss)))),
            _ => {}
        }
        let forward = |n: &crate::proto::NodeDef| !n.name.starts_with("gradients") && !n.name.contains("/gradients/") && !is_training_op(&n.op);
        // A value named `logits`.
        let named: Vec<TRef> = (0..g.len())
            .filter(|&i| {
                let n = g.node(i);
                forward(n) && n.name.rsplit('/').next().is_some_and(|l| l.eq_ignore_ascii_case("logits")) && !matches!(n.op.as_str(), "Const" | "VariableV2" | "VarHandleOp")
            })
            .map(|node| TRef { node, slot: 0 })
            .collect();
        if named.len() == 1 {
            self.notes.push(format!("output {} detected: the value named logits", g.value_name(named[0])));
            return Ok(named);
        }
        // Values computed from a data input that nothing reads.
        let mut reach = vec![false; g.len()];
        let mut stack: Vec<usize> = (0..g.len())
            .filter(|&i| {
                let n = g.node(i);
                let float = attr_type(n, "dtype").or_else(|| attr_type(n, "T")).and_then(crate::bundle::dtype).is_some_and(|d| d.is_float());
                ITERATOR_OPS.contains(&n.op.as_str()) || (matches!(n.op.as_str(), "Placeholder" | "PlaceholderWithDefault") && float)
            })
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut reach[i], true) {
                continue;
            }
            stack.extend(g.consumers(i).iter().map(|&(c, _)| c).filter(|&c| !reach[c]));
        }
        let sinks: Vec<TRef> = (0..g.len())
            .filter(|&i| {
                let n = g.node(i);
                reach[i]
                    && forward(n)
                    && g.consumers(i).is_empty()
                    && !NOT_OUTPUTS.contains(&n.op.as_str())
                    && !is_training_op(&n.op)
                    && !matches!(n.op.as_str(), "Placeholder" | "PlaceholderWithDefault")
                    && !ITERATOR_OPS.contains(&n.op.as_str())
                    && attr_type(n, "T").is_none_or(|t| crate::bundle::dtype(t).is_some_and(|d| d.is_float()))
            })
            .map(|node| TRef { node, slot: 0 })
            .collect();
        match sinks.len() {
            // In a training graph the one unread value is the loss, not an output.
            1 if !self.src.training => {
                self.notes.push(format!("output {} detected: the one value computed from the inputs that nothing reads", g.value_name(sinks[0])));
                Ok(sinks)
            }
            0 => Err(Problem::new("", "outputs", "no output found (no loss, no unread value computed from an input): name it with --output-name")),
            _ => Err(Problem::new("", "outputs", format!("several candidate outputs: {}: choose with --output-name", names(&sinks)))),
        }
    }

    /// The static boolean value of `t`, if it has one.
    fn static_bool(&mut self, t: TRef, depth: usize) -> Option<bool> {
        if depth > 32 {
            return None;
        }
        let g = self.g;
        let n = g.node(t.node);
        match n.op.as_str() {
            "Identity" | "Snapshot" | "StopGradient" | "Switch" | "RefSwitch" | "Cast" => self.static_bool(g.data_input(t.node, 0).ok()?, depth + 1),
            "LogicalNot" => self.static_bool(g.data_input(t.node, 0).ok()?, depth + 1).map(|b| !b),
            "Const" => {
                let tensor = crate::tensor::convert(&crate::graph::attr_tensor(n, "value")?).ok()?;
                (tensor.len() == 1).then(|| tensor.to_f64()[0] != 0.0)
            }
            "Placeholder" | "PlaceholderWithDefault" | "PlaceholderV2" => {
                if let Some(p) = self.pins.get(&t.node) {
                    return (p.len() == 1).then(|| p.to_f64()[0] != 0.0);
                }
                let dt = attr_type(n, "dtype").unwrap_or(0);
                let v = inference_value_by_name(&n.name).filter(|_| dt % 100 == 10)?;
                self.name_pins.entry(t.node).or_insert((v, 0)).1 += 1;
                Some(v)
            }
            _ => None,
        }
    }

    /// Evaluate every Switch predicate and mark the untaken branches dead.
    fn resolve_switches(&mut self) {
        let g = self.g;
        let switches: Vec<usize> = (0..g.len()).filter(|&i| matches!(g.node(i).op.as_str(), "Switch" | "RefSwitch")).collect();
        if switches.is_empty() {
            return;
        }
        let mut queue = Vec::new();
        for s in switches {
            let v = g.data_input(s, 1).ok().and_then(|p| self.static_bool(p, 0));
            self.switch_pred.insert(s, v);
            if let Some(v) = v {
                let dead = TRef { node: s, slot: usize::from(!v) };
                self.dead_slot.insert(dead);
                for &(c, _) in g.consumers(s) {
                    queue.push(c);
                }
            }
        }
        // Forward: a node is dead when one of its data inputs is (a Merge when all are).
        while let Some(c) = queue.pop() {
            if self.dead_node[c] {
                continue;
            }
            let ins: Vec<TRef> = g.data_inputs(c).into_iter().flatten().collect();
            let dead = |t: &TRef| self.dead_node[t.node] || self.dead_slot.contains(t);
            let now_dead = if matches!(g.node(c).op.as_str(), "Merge" | "RefMerge") { !ins.is_empty() && ins.iter().all(dead) } else { ins.iter().any(dead) };
            if now_dead {
                self.dead_node[c] = true;
                queue.extend(g.consumers(c).iter().map(|&(n, _)| n));
            }
        }
    }

    /// Mark every value that depends on a random op, in topological order: a dropout
    /// pattern (a random mask times a clean value, or a select on a random condition between
    /// clean values) is where the taint stops, since it becomes the identity.
    fn taint_random(&mut self) {
        let g = self.g;
        if !g.nodes.iter().any(|n| is_random(&n.op)) {
            return;
        }
        let mut indeg: Vec<usize> = (0..g.len()).map(|i| g.data_inputs(i).iter().filter(|r| r.is_ok()).count()).collect();
        let mut queue: Vec<usize> = (0..g.len()).filter(|&i| indeg[i] == 0).collect();
        while let Some(i) = queue.pop() {
            let ins: Vec<TRef> = g.data_inputs(i).into_iter().flatten().collect();
            let tainted = |t: &TRef| self.random[t.node] && !self.dead_slot.contains(t);
            let any = ins.iter().any(tainted);
            let op = g.node(i).op.as_str();
            // The clean operand must carry data (an input's value), not a constant: a random
            // draw scaled by a constant (random_normal * stddev) is noise, not dropout.
            let pattern = any
                && match (op, ins.as_slice()) {
                    ("Mul", [a, b]) => tainted(a) != tainted(b) && !self.is_static(if tainted(a) { *b } else { *a }),
                    ("Select" | "SelectV2", [c, x, y]) => tainted(c) && !tainted(x) && !tainted(y) && !self.is_static(*x),
                    _ => false,
                };
            if !self.dead_node[i] {
                if pattern {
                    self.dropout_at[i] = true;
                } else {
                    self.random[i] = is_random(op) || any;
                }
            }
            for &(c, _) in g.consumers(i) {
                indeg[c] -= 1;
                if indeg[c] == 0 {
                    queue.push(c);
                }
            }
        }
    }

    fn is_dead(&self, t: TRef) -> bool {
        self.dead_node[t.node] || self.dead_slot.contains(&t)
    }

    /// Whether `t` is computed from constants only (a dropout's keep probability).
    fn is_static(&self, t: TRef) -> bool {
        let mut stack = vec![t.node];
        let mut seen = HashSet::new();
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if seen.len() > 64 {
                return false;
            }
            let n = self.g.node(i);
            if matches!(n.op.as_str(), "Const") {
                continue;
            }
            if n.op.contains("Placeholder") || VARIABLE_OPS.contains(&n.op.as_str()) || ITERATOR_OPS.contains(&n.op.as_str()) || self.random[i] {
                return false;
            }
            for inp in self.g.data_inputs(i) {
                match inp {
                    Ok(x) => stack.push(x.node),
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// The tensor `t` stands for once identities, tf.cond, dropout and defaults are resolved.
    fn resolve(&mut self, t0: TRef) -> Result<TRef, Problem> {
        if let Some(&r) = self.memo.get(&t0) {
            return Ok(r);
        }
        let g = self.g;
        let mut t = t0;
        for _ in 0..100_000 {
            if self.cuts.contains_key(&t) {
                break;
            }
            let n = g.node(t.node);
            let op = n.op.as_str();
            let input = |k: usize| g.data_input(t.node, k).map_err(|e| Problem::new(n.name.as_str(), op, e));
            if self.is_dead(t) {
                return Err(self.problem(t.node, "is reached through an untaken tf.cond branch (internal: a Merge chose a dead input)"));
            }
            match op {
                _ if IDENTITY_OPS.contains(&op) && t.slot == 0 => t = input(0)?,
                "IdentityN" => t = input(t.slot)?,
                "Switch" | "RefSwitch" => match self.switch_pred.get(&t.node).copied().flatten() {
                    Some(_) => t = input(0)?,
                    None => {
                        let pred = g.data_input(t.node, 1).map(|p| g.value_name(p)).unwrap_or_default();
                        return Err(self.problem(t.node, format!("tf.cond switch on {pred}, which is not a constant, a pinned placeholder or an is_training-style flag: pin it with --set NAME=true|false")));
                    }
                },
                "Merge" | "RefMerge" => {
                    if t.slot != 0 {
                        return Err(self.problem(t.node, "the branch index output of a Merge is not supported"));
                    }
                    let live: Vec<TRef> = g.data_inputs(t.node).into_iter().flatten().filter(|x| !self.is_dead(*x)).collect();
                    match live.as_slice() {
                        [one] => {
                            self.merges.insert(format!("  {} takes {}", n.name, g.value_name(*one)));
                            t = *one;
                        }
                        _ => {
                            let preds = self.merge_predicates(t.node);
                            return Err(self.problem(
                                t.node,
                                format!("tf.cond Merge with {} live branches: its predicate {preds} is not static; pin it with --set NAME=true|false", live.len()),
                            ));
                        }
                    }
                }
                "PlaceholderWithDefault" if !self.pins.contains_key(&t.node) && !looks_like_data(n) => {
                    let d = input(0)?;
                    self.notes.push(format!("{} (PlaceholderWithDefault) takes its default {}", n.name, g.value_name(d)));
                    t = d;
                }
                _ if self.dropout_at[t.node] => t = self.dropout(t)?,
                "Select" | "SelectV2" => {
                    let c = input(0)?;
                    match self.static_bool(c, 0) {
                        Some(v) => t = input(if v { 1 } else { 2 })?,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        self.memo.insert(t0, t);
        Ok(t)
    }

    /// The predicates of the Switches a Merge's branches come from, for messages.
    fn merge_predicates(&self, merge: usize) -> String {
        let g = self.g;
        let mut found = BTreeSet::new();
        let mut stack: Vec<(usize, usize)> = g.data_inputs(merge).into_iter().flatten().map(|t| (t.node, 0)).collect();
        let mut seen = HashSet::new();
        while let Some((i, depth)) = stack.pop() {
            if !seen.insert(i) || depth > 64 {
                continue;
            }
            if matches!(g.node(i).op.as_str(), "Switch" | "RefSwitch") {
                if let Ok(mut p) = g.data_input(i, 1) {
                    while matches!(g.node(p.node).op.as_str(), "Identity" | "Switch") {
                        match g.data_input(p.node, 0) {
                            Ok(x) => p = x,
                            Err(_) => break,
                        }
                    }
                    found.insert(g.value_name(p));
                }
                continue;
            }
            stack.extend(g.data_inputs(i).into_iter().flatten().map(|t| (t.node, depth + 1)));
        }
        found.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// Dropout and drop-connect at inference: the identity of the input they rescale.
    fn dropout(&mut self, t: TRef) -> Result<TRef, Problem> {
        let g = self.g;
        let n = g.node(t.node);
        let ins: Vec<TRef> = g.data_inputs(t.node).into_iter().flatten().collect();
        let data = match (n.op.as_str(), ins.as_slice()) {
            ("Mul", [a, b]) => Some(if self.random[a.node] { *b } else { *a }),
            ("Select" | "SelectV2", [_, x, _]) => Some(*x),
            _ => None,
        };
        let scaled = match data {
            Some(d) => self.resolve(d)?,
            None => return Err(self.random_error(t.node)),
        };
        // The kept values are rescaled by 1/keep_prob: x * (1/keep) or x / keep.
        let sn = g.node(scaled.node);
        let sins: Vec<TRef> = g.data_inputs(scaled.node).into_iter().flatten().collect();
        let x = match (sn.op.as_str(), sins.as_slice()) {
            ("Mul", [a, b]) if self.is_static(*b) => *a,
            ("Mul", [a, b]) if self.is_static(*a) => *b,
            ("RealDiv" | "Div" | "TrueDiv", [a, b]) if self.is_static(*b) => *a,
            _ => return Err(self.problem(t.node, format!("multiplies by a random mask, but {} is not a rescaled input (x * 1/keep_prob or x / keep_prob); {EVAL_HINT}", sn.name))),
        };
        if self.dropouts.insert(t.node) {
            self.notes.push(format!("dropout at {} (random mask, input rescaled by {}) made the identity of {}", n.name, sn.name, g.value_name(x)));
        }
        self.resolve(x)
    }

    fn random_error(&mut self, node: usize) -> Problem {
        let g = self.g;
        // Name where the random values meet the data: step back through nodes that only
        // read random values.
        let mut node = node;
        for _ in 0..256 {
            let ins: Vec<TRef> = g.data_inputs(node).into_iter().flatten().collect();
            let mixes = ins.iter().any(|t| !self.random[t.node] && !self.is_static(*t));
            match ins.iter().find(|t| self.random[t.node]) {
                Some(t) if !mixes && !is_random(&g.node(t.node).op) => node = t.node,
                _ => break,
            }
        }
        // Name the random op behind it.
        let mut stack = vec![node];
        let mut seen = HashSet::new();
        let mut source = None;
        while let Some(i) = stack.pop() {
            if !seen.insert(i) || seen.len() > 256 {
                continue;
            }
            if is_random(&g.node(i).op) {
                source = Some(i);
                break;
            }
            stack.extend(g.data_inputs(i).into_iter().flatten().map(|t| t.node).filter(|&j| self.random[j]));
        }
        let from = source.map(|i| format!(" ({} {})", g.node(i).op, g.node(i).name)).unwrap_or_default();
        self.problem(node, format!("training construct: its value draws random numbers{from} and is not a dropout pattern senetc knows; {EVAL_HINT}"))
    }

    /// The moving statistics a training-mode batch norm uses at inference.
    fn moving_stats(&mut self, bn: usize) -> Result<[TRef; 2], Problem> {
        let g = self.g;
        let is_var = |g: &TfGraph, t: TRef| VARIABLE_OPS.contains(&g.node(t.node).op.as_str());
        let mean = g.data_input(bn, 3).ok().map(|t| self.resolve(t)).transpose()?;
        let var = g.data_input(bn, 4).ok().map(|t| self.resolve(t)).transpose()?;
        if let (Some(m), Some(v)) = (mean, var) {
            if is_var(g, m) && is_var(g, v) && self.src_shape_nonempty(m) && self.src_shape_nonempty(v) {
                return Ok([m, v]);
            }
        }
        let mut scopes = Vec::new();
        for k in [1, 2] {
            if let Some(t) = g.data_input(bn, k).ok().map(|t| self.resolve(t)).transpose()? {
                if is_var(g, t) {
                    if let Some((scope, _)) = g.node(t.node).name.rsplit_once('/') {
                        scopes.push(scope.to_string());
                    }
                }
            }
        }
        let mut s = g.node(bn).name.as_str();
        while let Some((parent, _)) = s.rsplit_once('/') {
            scopes.push(parent.to_string());
            s = parent;
        }
        for scope in &scopes {
            let (m, v) = (g.find(&format!("{scope}/moving_mean")), g.find(&format!("{scope}/moving_variance")));
            if let (Some(m), Some(v)) = (m, v) {
                let (m, v) = (TRef { node: m, slot: 0 }, TRef { node: v, slot: 0 });
                if is_var(g, m) && is_var(g, v) {
                    return Ok([m, v]);
                }
            }
        }
        Err(self.problem(
            bn,
            format!(
                "batch norm in training mode (is_training=true normalizes with batch statistics), and no moving statistics were found for it (looked for {}/moving_mean and moving_variance); {EVAL_HINT}",
                scopes.first().map(String::as_str).unwrap_or("<scope>")
            ),
        ))
    }

    /// Whether a variable's checkpoint value is non-empty (training BNs read empty Consts).
    fn src_shape_nonempty(&self, t: TRef) -> bool {
        let n = self.g.node(t.node);
        match attr_shape(n, "shape").as_ref().and_then(dims_of) {
            Some(d) => !d.is_empty() && d.iter().all(|&x| x != 0),
            None => self.src.bundle.as_ref().and_then(|b| b.shape(&n.name)).is_some_and(|s| !s.is_empty() && s.iter().all(|&x| x > 0)),
        }
    }

    /// Depth-first from the outputs: every node an output needs, operands first.
    fn walk(&mut self, outputs: &[(String, TRef)], plan: &mut Plan) {
        let g = self.g;
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; g.len()];
        let mut inputs_seen: HashSet<TRef> = plan.inputs.iter().map(|i| i.tref).collect();
        let mut found_inputs: Vec<InputSpec> = Vec::new();
        let mut bn_notes = Vec::new();
        // (node, its operands resolved, next operand to visit)
        let mut stack: Vec<(usize, Vec<TRef>, usize)> = Vec::new();
        for &(_, t) in outputs {
            if self.cuts.contains_key(&t) || inputs_seen.contains(&t) {
                continue;
            }
            if let Some(spec) = self.leaf_input(t) {
                inputs_seen.insert(t);
                found_inputs.push(spec);
                continue;
            }
            if state[t.node] != NEW {
                continue;
            }
            match self.enter(t.node, &mut bn_notes) {
                Ok(ops) => {
                    state[t.node] = OPEN;
                    stack.push((t.node, ops, 0));
                }
                Err(p) => {
                    state[t.node] = DONE;
                    self.problems.push(p);
                }
            }
            while let Some((node, ops, next)) = stack.last_mut() {
                let Some(&child) = ops.get(*next) else {
                    let node = *node;
                    let ops = std::mem::take(ops);
                    stack.pop();
                    state[node] = DONE;
                    plan.order.push(node);
                    plan.operands.insert(node, ops);
                    continue;
                };
                *next += 1;
                if self.cuts.contains_key(&child) || inputs_seen.contains(&child) {
                    continue;
                }
                if let Some(spec) = self.leaf_input(child) {
                    inputs_seen.insert(child);
                    found_inputs.push(spec);
                    continue;
                }
                match state[child.node] {
                    DONE => {}
                    OPEN => {
                        let p = self.problem(child.node, "is on a cycle (a while loop?), which senetc does not import");
                        self.problems.push(p);
                        return;
                    }
                    _ => match self.enter(child.node, &mut bn_notes) {
                        Ok(ops) => {
                            state[child.node] = OPEN;
                            stack.push((child.node, ops, 0));
                        }
                        Err(p) => {
                            state[child.node] = DONE;
                            self.problems.push(p);
                        }
                    },
                }
            }
        }
        found_inputs.sort_by_key(|s| (s.tref.node, s.tref.slot));
        plan.inputs.extend(found_inputs);
        if !bn_notes.is_empty() {
            plan.notes.push(format!("{} batch norms in training mode normalize with their moving statistics:", bn_notes.len()));
            bn_notes.sort();
            plan.notes.extend(bn_notes.into_iter().map(|n| format!("  {n}")));
        }
        if !self.dropouts.is_empty() {
            plan.notes.push(format!("{} dropout / drop-connect patterns made the identity", self.dropouts.len()));
        }
    }

    /// A graph input found by the walk (placeholder, iterator output).
    fn leaf_input(&mut self, t: TRef) -> Option<InputSpec> {
        let g = self.g;
        let n = g.node(t.node);
        let op = n.op.as_str();
        if matches!(op, "Placeholder" | "PlaceholderV2" | "PlaceholderWithDefault") && !self.pins.contains_key(&t.node) {
            let dims = attr_shape(n, "shape").as_ref().and_then(dims_of);
            let dtype = attr_type(n, "dtype").and_then(crate::bundle::dtype);
            return Some(InputSpec { tref: t, name: g.value_name(t), dtype, dims, cut: false, training_batch: None });
        }
        if ITERATOR_OPS.contains(&op) {
            let dims = attr_shapes(n, "output_shapes").and_then(|s| s.get(t.slot).and_then(dims_of));
            let dtype = match crate::graph::attr(n, "output_types") {
                Some(crate::proto::attr_value::Value::List(l)) => l.r#type.get(t.slot).copied().and_then(crate::bundle::dtype),
                _ => None,
            };
            let training_batch = dims.as_ref().and_then(|d| d.first()).and_then(|&b| usize::try_from(b).ok());
            self.notes.push(format!(
                "{} (tf.data iterator output) becomes a graph input{}",
                g.value_name(t),
                training_batch.map(|b| format!("; its static training batch {b} is replaced by a symbolic batch")).unwrap_or_default()
            ));
            return Some(InputSpec { tref: t, name: g.value_name(t), dtype, dims, cut: false, training_batch });
        }
        None
    }

    /// The resolved operands of a node about to be kept; checks what it is.
    fn enter(&mut self, node: usize, bn_notes: &mut Vec<String>) -> Result<Vec<TRef>, Problem> {
        let g = self.g;
        let n = g.node(node);
        let op = n.op.as_str();
        if op == "Const" || VARIABLE_OPS.contains(&op) || self.pins.contains_key(&node) {
            return Ok(vec![]);
        }
        if self.random[node] {
            return Err(self.random_error(node));
        }
        if is_training_op(op) {
            return Err(self.problem(node, format!("training op on the path to the outputs; {EVAL_HINT}")));
        }
        let raw = g.data_inputs(node);
        let training_bn = op.starts_with("FusedBatchNorm") && attr_bool(n, "is_training").unwrap_or(true);
        let mut ops = Vec::with_capacity(raw.len());
        for (k, r) in raw.into_iter().enumerate() {
            let t = r.map_err(|name| Problem::new(n.name.as_str(), op, format!("input {name:?} names no node")))?;
            if training_bn && k >= 3 {
                continue;
            }
            ops.push(self.resolve(t)?);
        }
        if training_bn {
            let [m, v] = self.moving_stats(node)?;
            bn_notes.push(format!("{} uses {}, {}", n.name, g.node(m.node).name, g.node(v.node).name));
            ops.push(m);
            ops.push(v);
        }
        Ok(ops)
    }
}

/// A PlaceholderWithDefault that feeds data (rank >= 2 float), not a setting.
fn looks_like_data(n: &crate::proto::NodeDef) -> bool {
    let float = attr_type(n, "dtype").and_then(crate::bundle::dtype).is_some_and(|d| d.is_float());
    let rank = attr_shape(n, "shape").as_ref().and_then(dims_of).map_or(0, |d| d.len());
    float && rank >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_flags_by_name() {
        assert_eq!(inference_value_by_name("is_training"), Some(false));
        assert_eq!(inference_value_by_name("model/phase_train"), Some(false));
        assert_eq!(inference_value_by_name("keras_learning_phase"), Some(false));
        assert_eq!(inference_value_by_name("is_eval"), Some(true));
        assert_eq!(inference_value_by_name("Placeholder_2"), None);
        let t = parse_pin("false", DType::Bool, Some(&[])).unwrap();
        assert_eq!(t.to_i64(), [0]);
        let t = parse_pin("1,2", DType::I32, None).unwrap();
        assert_eq!(t.shape(), &[2]);
        assert!(parse_pin("x", DType::F32, None).is_err());
    }
}

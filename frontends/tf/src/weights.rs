//! Where each variable's value comes from: the checkpoint beside the graph (a TF1 bundle
//! keyed by variable name, or a SavedModel's variables keyed through its object graph),
//! optionally its ExponentialMovingAverage shadow (`--ema`), or a TF2 checkpoint bound by
//! name onto the graph (`--graph`). What the bundle held besides the weights (optimizer
//! slots, EMA shadows, step counters, loss-scale state) is summarised for the report.

use crate::proto::NodeDef;
use crate::source::Source;
use senetc_ir::Tensor;
use std::collections::{BTreeMap, BTreeSet};

/// Suffix of the EMA shadow of a variable (`tf.train.ExponentialMovingAverage`).
pub const EMA_SUFFIX: &str = "/ExponentialMovingAverage";

/// The values of a graph's variables and constants.
pub struct Weights<'a> {
    src: &'a Source,
    ema: bool,
    /// Values bound by name (a TF2 checkpoint onto `--graph`): weight name → tensor.
    pub bound: Option<BTreeMap<String, Tensor>>,
    /// Bundle keys read.
    pub used: BTreeSet<String>,
    /// Variables read from their EMA shadow.
    pub ema_used: usize,
}

impl<'a> Weights<'a> {
    /// Weights of `src`.
    pub fn new(src: &'a Source, ema: bool) -> Weights<'a> {
        Weights { src, ema, bound: None, used: BTreeSet::new(), ema_used: 0 }
    }

    /// The name a variable node's value has (the checkpoint's name for it).
    pub fn variable_name(&self, n: &NodeDef) -> String {
        if let Some((name, _)) = self.src.var_keys.get(&n.name) {
            return name.clone();
        }
        match crate::graph::attr_str(n, "shared_name") {
            Some(s) if !s.is_empty() => s,
            _ => n.name.clone(),
        }
    }

    /// The value of the variable node `n`: (weight name, tensor).
    pub fn variable(&mut self, n: &NodeDef) -> Result<(String, Tensor), String> {
        let name = self.variable_name(n);
        if let Some(bound) = &self.bound {
            return bound.get(&name).cloned().map(|t| (name.clone(), t)).ok_or_else(|| format!("variable {name:?} has no value in the bound checkpoint"));
        }
        let key = self.src.var_keys.get(&n.name).map_or_else(|| name.clone(), |(_, k)| k.clone());
        let b = self.src.bundle.as_ref().ok_or_else(|| format!("variable {name:?}: there is no checkpoint beside the graph to read it from"))?;
        let shadow = format!("{key}{EMA_SUFFIX}");
        let key = if self.ema && b.contains(&shadow) {
            self.ema_used += 1;
            shadow
        } else {
            key
        };
        let t = b.tensor(&key)?;
        self.used.insert(key);
        Ok((name, t))
    }

    /// A Const node's value (a weight of a frozen graph), or its bound replacement.
    pub fn constant(&mut self, n: &NodeDef, t: Tensor) -> (String, Tensor) {
        if let Some(b) = self.bound.as_ref().and_then(|b| b.get(&n.name)) {
            return (n.name.clone(), b.clone());
        }
        (n.name.clone(), t)
    }

    /// What the bundle held that the model does not read, by kind, for the report.
    pub fn summary(&self) -> Option<String> {
        let b = self.src.bundle.as_ref()?;
        if self.bound.is_some() {
            return None;
        }
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for name in b.names().filter(|n| !self.used.contains(*n)) {
            *kinds.entry(kind_of(name)).or_default() += 1;
        }
        let rest: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        Some(format!(
            "checkpoint {}: {} tensors; {} read as weights{}{}",
            b.prefix().display(),
            b.len(),
            self.used.len(),
            if self.ema_used > 0 { format!(" ({} from their ExponentialMovingAverage shadows)", self.ema_used) } else { String::new() },
            if rest.is_empty() { String::new() } else { format!("; not used: {}", rest.join(", ")) }
        ))
    }
}

/// What an unused checkpoint tensor is, by its name.
pub fn kind_of(name: &str) -> &'static str {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.ends_with(EMA_SUFFIX) {
        "EMA shadows"
    } else if ["Momentum", "RMSProp", "RMSProp_1", "Adam", "Adam_1", "Adagrad", "Ftrl", "Ftrl_1", "Adadelta", "Adadelta_1", "LARSOptimizer"].contains(&last) || name.contains(".OPTIMIZER_SLOT") {
        "optimizer slots"
    } else if matches!(last, "global_step" | "save_counter") || name.starts_with("global_step") {
        "step counters"
    } else if matches!(last, "loss_scale" | "good_steps" | "bad_steps" | "current_loss_scale" | "num_good_steps") {
        "loss-scale state"
    } else if matches!(last, "biased" | "local_step") {
        "zero-debias state"
    } else if name == "_CHECKPOINTABLE_OBJECT_GRAPH" {
        "object graph"
    } else if matches!(last, "moving_mean" | "moving_variance") {
        "unused batch-norm statistics"
    } else {
        "other variables"
    }
}

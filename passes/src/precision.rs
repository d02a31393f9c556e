//! fp16 mixed precision, with the modes ATC gives `--precision_mode`:
//!
//! - `force_fp32`, `must_keep_origin_dtype`: nothing changes (models arrive in fp32).
//! - `force_fp16`: every float op runs in fp16 except the policy's `never` class.
//! - `allow_mix_precision`: `always` ops run in fp16, `never` ops in fp32, `follow` ops in
//!   fp16 when an operand already is.
//!
//! Each op declares its class ([`senetc_ir::ops::OpDef::precision`]);
//!
//! Casts go only where a value crosses between the two precisions; constants are
//! converted instead of cast (weights stored as fp16). Reductions and softmax are `never`:
//! their accumulations stay fp32; squeeze_excite accumulates its pooled vector and gate in
//! fp32 by definition, so it may follow.

use crate::manager::PassReport;
use crate::PassError;
use senetc_ir::ops::{Cast, Fp16};
use senetc_ir::{DType, Graph, NodeId, Op, Outlet};
use std::collections::{BTreeMap, HashMap};

pub use senetc_ir::PrecisionMode;

/// Mixed-precision settings.
#[derive(Clone, Debug, Default)]
pub struct PrecisionOptions {
    /// The mode.
    pub mode: PrecisionMode,
    /// Op types forced to `always` (`--fp16-allow`).
    pub allow: Vec<String>,
    /// Op types forced to `never` (`--fp16-deny`).
    pub deny: Vec<String>,
    /// Op types moved to `follow` (an ATC mixlist's gray-list, or a type taken off the
    /// black or white list).
    pub follow: Vec<String>,
    /// Node names kept in their original type (`--keep-dtype`): a node's own name or any of
    /// the framework nodes it stands for ([`senetc_ir::Node::sources`]), so the names of the
    /// source model work on fused and folded nodes.
    pub keep_dtype: Vec<String>,
}

impl PrecisionOptions {
    fn class(&self, op: &Op) -> Fp16 {
        if self.deny.iter().any(|d| d == op.name()) {
            Fp16::Never
        } else if self.allow.iter().any(|a| a == op.name()) {
            Fp16::Always
        } else if self.follow.iter().any(|a| a == op.name()) {
            Fp16::Follow
        } else {
            op.precision().fp16
        }
    }

    /// Check op type names against the op set.
    pub fn validate(&self) -> Result<(), PassError> {
        for t in self.allow.iter().chain(&self.deny).chain(&self.follow) {
            if !Op::NAMES.contains(&t.as_str()) {
                return Err(PassError::Options(format!("unknown op type {t:?} in --fp16-allow/--fp16-deny; op types are: {}", Op::NAMES.join(", "))));
            }
        }
        Ok(())
    }
}

/// Insert the casts and convert the weights the mode asks for.
pub fn insert_fp16_casts(g: &mut Graph, o: &PrecisionOptions, r: &mut PassReport) -> Result<(), PassError> {
    o.validate()?;
    if !matches!(o.mode, PrecisionMode::ForceFp16 | PrecisionMode::AllowMixPrecision) {
        return Ok(());
    }
    for k in &o.keep_dtype {
        if !g.node_ids().any(|id| g.node(id).answers_to(k)) {
            r.warnings.push(format!("--keep-dtype {k:?}: no node has that name"));
        }
    }
    let order = g.topo_order()?;
    // Decide which nodes run in fp16.
    let mut half: HashMap<NodeId, bool> = HashMap::new();
    for &id in &order {
        let node = g.node(id);
        if matches!(node.op, Op::Input | Op::Const(_) | Op::Cast(_)) || node.outputs[0].dtype != DType::F32 {
            continue;
        }
        let class = if o.keep_dtype.iter().any(|k| node.answers_to(k)) { Fp16::Never } else { o.class(&node.op) };
        let h = match (o.mode, class) {
            (_, Fp16::Never) => false,
            (PrecisionMode::ForceFp16, _) | (_, Fp16::Always) => true,
            (_, Fp16::Follow) => g.inputs_of(id).iter().any(|i| half.get(&i.node).copied().unwrap_or(false)),
        };
        half.insert(id, h);
    }
    let mut to16: HashMap<Outlet, Outlet> = HashMap::new();
    let mut to32: HashMap<Outlet, Outlet> = HashMap::new();
    let mut casts = 0usize;
    let mut weight_bytes = 0usize;
    let is16 = |g: &Graph, half: &HashMap<NodeId, bool>, src: Outlet| half.get(&src.node).copied().unwrap_or(false) || g.outlet_type(src).dtype == DType::F16;
    for &id in &order {
        let Some(&h) = half.get(&id) else { continue };
        for (i, src) in g.inputs_of(id).into_iter().enumerate() {
            if !g.outlet_type(src).dtype.is_float() {
                continue;
            }
            let src16 = is16(g, &half, src);
            let replacement = match (h, src16) {
                (true, false) => Some(*to16.entry(src).or_insert_with(|| {
                    if let Op::Const(c) = &g.node(src.node).op {
                        let (name, t) = (format!("{}:fp16", c.name), c.tensor.cast(DType::F16));
                        weight_bytes += t.bytes().len();
                        g.add_const(name, t)
                    } else {
                        casts += 1;
                        let name = format!("{}:to_fp16", g.node(src.node).name);
                        g.add(name, Op::Cast(Cast { to: DType::F16 }), &[src]).expect("casting a float value")
                    }
                })),
                (false, true) => Some(*to32.entry(src).or_insert_with(|| {
                    casts += 1;
                    let name = format!("{}:to_fp32", g.node(src.node).name);
                    g.add(name, Op::Cast(Cast { to: DType::F32 }), &[src]).expect("casting a float value")
                })),
                _ => None,
            };
            if let Some(rep) = replacement {
                g.set_operand(id, i, rep);
            }
        }
        if h {
            for t in &mut g.node_mut(id).outputs {
                t.dtype = DType::F16;
            }
        }
        // Types downstream are refreshed by reinfer below; set this node's now so later
        // nodes see fp16 operands.
    }
    // Outputs keep their original type.
    for (i, (_, o)) in g.outputs().to_vec().into_iter().enumerate() {
        if half.get(&o.node).copied().unwrap_or(false) {
            casts += 1;
            let name = format!("{}:to_fp32", g.node(o.node).name);
            let c = g.add(name, Op::Cast(Cast { to: DType::F32 }), &[o])?;
            g.set_output(i, c);
        }
    }
    g.reinfer()?;
    g.prune();
    let n16 = half.values().filter(|&&h| h).count();
    r.changes += casts + n16;
    let counts: BTreeMap<String, usize> =
        [("casts inserted".to_string(), casts), ("ops in fp16".to_string(), n16), ("fp16 weight bytes".to_string(), weight_bytes)].into();
    r.counts.extend(counts);
    Ok(())
}

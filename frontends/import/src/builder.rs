//! Building an IR graph from a model's nodes: values by name, constants placed lazily,
//! shape arithmetic folded at import, problems collected and failures poisoned.

use crate::{ImportNotes, Problem};
use senetc_ir::{Dim, Graph, Op, Outlet, Tensor, TensorType};
use std::collections::HashMap;

/// One element of a shape computation.
#[derive(Clone, Debug, PartialEq)]
pub enum SymInt {
    /// A known integer.
    Int(i64),
    /// A symbolic dim.
    Sym(String),
}

impl SymInt {
    /// The element for a dim.
    pub fn of_dim(d: &Dim) -> SymInt {
        match d {
            Dim::Known(n) => SymInt::Int(*n as i64),
            Dim::Sym(s) => SymInt::Sym(s.clone()),
        }
    }
}

/// A model's value during import.
#[derive(Clone, Debug)]
pub enum Val {
    /// Computed by the graph.
    Dyn(Outlet),
    /// A constant; placed in the graph on first use by a real op. `name` binds it to a
    /// weight of the source model.
    Const {
        /// The value.
        tensor: Tensor,
        /// Weight name (empty for constants the importer made).
        name: String,
    },
    /// An integer scalar (`scalar`) or vector from shape arithmetic, possibly symbolic.
    Ints {
        /// The elements.
        v: Vec<SymInt>,
        /// Rank 0 rather than rank 1.
        scalar: bool,
    },
    /// Produced by a node that failed; its readers are skipped (the failure is reported once).
    Poison,
}

impl Val {
    /// A named constant.
    pub fn constant(tensor: Tensor, name: impl Into<String>) -> Val {
        Val::Const { tensor, name: name.into() }
    }

    /// Integer values as SymInts (with whether it is a scalar), if static and integral.
    pub fn sym_ints(&self) -> Option<(Vec<SymInt>, bool)> {
        match self {
            Val::Ints { v, scalar } => Some((v.clone(), *scalar)),
            Val::Const { tensor, .. } if !tensor.dtype().is_float() && tensor.shape().len() <= 1 => {
                Some((tensor.to_i64().into_iter().map(SymInt::Int).collect(), tensor.shape().is_empty()))
            }
            _ => None,
        }
    }

    /// A rank-1 integer vector of a shape's dims.
    pub fn shape_of(dims: &[Dim]) -> Val {
        Val::Ints { v: dims.iter().map(SymInt::of_dim).collect(), scalar: false }
    }
}

/// Integer arithmetic of shape computations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// floor(a / b)
    Div,
}

/// `a op b` elementwise with scalar broadcasting, if both are static integer values; a
/// symbolic element survives only where the other side leaves it unchanged (x*1, x/1,
/// x+0, x-0). `None` when the operands are not shape values at all.
pub fn int_binary(op: IntOp, a: &Val, b: &Val) -> Option<Result<Val, String>> {
    let ((x, xs), (y, ys)) = (a.sym_ints()?, b.sym_ints()?);
    if !(x.len() == y.len() || x.len() == 1 || y.len() == 1) {
        return None;
    }
    let len = x.len().max(y.len());
    let get = |v: &Vec<SymInt>, i: usize| v[if v.len() == 1 { 0 } else { i }].clone();
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let r = match (get(&x, i), get(&y, i)) {
            (SymInt::Int(p), SymInt::Int(q)) => SymInt::Int(match op {
                IntOp::Add => p.wrapping_add(q),
                IntOp::Sub => p.wrapping_sub(q),
                IntOp::Mul => p.wrapping_mul(q),
                IntOp::Div if q != 0 => p.div_euclid(q),
                IntOp::Div => return Some(Err("integer division by zero in shape arithmetic".into())),
            }),
            (s @ SymInt::Sym(_), SymInt::Int(1)) if matches!(op, IntOp::Mul | IntOp::Div) => s,
            (SymInt::Int(1), s @ SymInt::Sym(_)) if op == IntOp::Mul => s,
            (s @ SymInt::Sym(_), SymInt::Int(0)) if matches!(op, IntOp::Add | IntOp::Sub) => s,
            (SymInt::Int(0), s @ SymInt::Sym(_)) if op == IntOp::Add => s,
            _ => return Some(Err("shape arithmetic on a symbolic dim that senetc cannot fold".into())),
        };
        out.push(r);
    }
    Some(Ok(Val::Ints { v: out, scalar: xs && ys }))
}

/// Elements `indices` of a static integer vector (negative indices count from the end).
pub fn gather_ints(data: &[SymInt], indices: &[SymInt]) -> Result<Vec<SymInt>, String> {
    indices
        .iter()
        .map(|i| {
            let SymInt::Int(i) = i else { return Err("symbolic gather index".to_string()) };
            let j = if *i < 0 { i + data.len() as i64 } else { *i };
            usize::try_from(j).ok().and_then(|j| data.get(j)).cloned().ok_or_else(|| format!("index {i} out of range for {} elements", data.len()))
        })
        .collect()
}

/// Python-style `v[start:end:step]` of a static integer vector (clamped, step > 0).
pub fn slice_ints(v: &[SymInt], start: i64, end: i64, step: i64) -> Result<Vec<SymInt>, String> {
    if step <= 0 {
        return Err(format!("slice step {step} of a shape value (only positive steps)"));
    }
    let len = v.len() as i64;
    let clamp = |x: i64| (if x < 0 { x + len } else { x }).clamp(0, len) as usize;
    let (s, e) = (clamp(start), clamp(end));
    Ok(if e > s { v[s..e].iter().step_by(step as usize).cloned().collect() } else { vec![] })
}

/// The reshape target senetc stores for a shape computed at import: known dims as
/// numbers; a symbol as 0 (copy the input dim) where it stands at the same place in the
/// input, or as -1 when it is the only unknown. `allowzero` as in ONNX.
pub fn reshape_target(input: &[Dim], target: &[SymInt], allowzero: bool) -> Result<Vec<i64>, String> {
    let syms = target.iter().filter(|t| matches!(t, SymInt::Sym(_))).count();
    target
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            SymInt::Int(v) => Ok(*v),
            SymInt::Sym(s) if !allowzero && input.get(i) == Some(&Dim::Sym(s.clone())) => Ok(0),
            SymInt::Sym(_) if syms == 1 && !target.contains(&SymInt::Int(-1)) => Ok(-1),
            SymInt::Sym(s) => Err(format!("reshape target depends on the symbolic dim {s} in a way senetc cannot express")),
        })
        .collect()
}

/// Convert one node of a model: `f` computes its output values from `ctx`, a frontend's
/// importer that holds the [`Builder`]. Nodes reading a poisoned value are skipped; a
/// failure is recorded against the node and poisons its outputs.
pub fn convert<C: AsMut<Builder>>(ctx: &mut C, node: &str, op_type: &str, inputs: &[&str], outputs: &[&str], f: impl FnOnce(&mut C) -> Result<Vec<Val>, String>) {
    if inputs.iter().any(|i| ctx.as_mut().is_poisoned(i)) {
        ctx.as_mut().poison(outputs);
        return;
    }
    match f(ctx) {
        Ok(vals) => {
            let b = ctx.as_mut();
            for (name, v) in outputs.iter().zip(vals) {
                if !name.is_empty() {
                    b.define(*name, v);
                }
            }
        }
        Err(what) => {
            let b = ctx.as_mut();
            b.problem(Problem::new(node, op_type, what));
            b.poison(outputs);
        }
    }
}

/// Make a frontend's importer, a struct holding the [`Builder`] in field `$field`, usable as
/// the builder itself: `Deref`, `DerefMut` and `AsMut<Builder>` (what [`convert`] takes).
#[macro_export]
macro_rules! wraps_builder {
    ($ty:ty, $field:ident) => {
        impl std::ops::Deref for $ty {
            type Target = $crate::Builder;
            fn deref(&self) -> &$crate::Builder {
                &self.$field
            }
        }
        impl std::ops::DerefMut for $ty {
            fn deref_mut(&mut self) -> &mut $crate::Builder {
                &mut self.$field
            }
        }
        impl AsMut<$crate::Builder> for $ty {
            fn as_mut(&mut self) -> &mut $crate::Builder {
                &mut self.$field
            }
        }
    };
}

/// Builds the IR graph of one import (see the crate doc).
pub struct Builder {
    g: Graph,
    vals: HashMap<String, Val>,
    /// Constants already placed in the graph, by weight name: one node per weight, however
    /// many values alias it.
    placed: HashMap<String, Outlet>,
    /// Where constant and shape values were placed, by value name (they stay constants for
    /// the settings and shape arithmetic that read them too).
    value_outlets: HashMap<String, Outlet>,
    problems: Vec<Problem>,
    notes: ImportNotes,
}

impl AsMut<Builder> for Builder {
    fn as_mut(&mut self) -> &mut Builder {
        self
    }
}

impl Builder {
    /// An empty graph called `name`.
    pub fn new(name: impl Into<String>) -> Builder {
        Builder { g: Graph::new(name), vals: HashMap::new(), placed: HashMap::new(), value_outlets: HashMap::new(), problems: Vec::new(), notes: ImportNotes::default() }
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.g
    }

    /// Record a problem.
    pub fn problem(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Problems recorded so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Record a fact for the report (a rewrite the importer made, what a file held).
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.notes.push(note.into());
    }

    /// Record a warning for the report.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.notes.warnings.push(warning.into());
    }

    /// Define (or redefine) the value `name`.
    pub fn define(&mut self, name: impl Into<String>, v: Val) {
        let name = name.into();
        self.value_outlets.remove(&name);
        self.vals.insert(name, v);
    }

    /// Whether `name` is defined.
    pub fn has(&self, name: &str) -> bool {
        self.vals.contains_key(name)
    }

    /// The value `name`.
    pub fn val(&self, name: &str) -> Result<&Val, String> {
        self.vals.get(name).ok_or_else(|| format!("input {name:?} is not defined before use"))
    }

    /// Whether `name` comes from a failed node.
    pub fn is_poisoned(&self, name: &str) -> bool {
        matches!(self.vals.get(name), Some(Val::Poison))
    }

    /// Add a graph input.
    pub fn input(&mut self, name: impl Into<String>, ty: TensorType) -> Outlet {
        let name = name.into();
        let o = self.g.add_input(name.clone(), ty);
        self.define(name, Val::Dyn(o));
        o
    }

    /// Mark values as coming from a failed node.
    pub fn poison(&mut self, names: &[&str]) {
        for n in names.iter().filter(|n| !n.is_empty()) {
            self.define(*n, Val::Poison);
        }
    }

    /// The graph value for `name`, placing constants (and fully known integer vectors) on demand.
    pub fn outlet(&mut self, name: &str) -> Result<Outlet, String> {
        let v = self.vals.get(name).ok_or_else(|| format!("value {name:?} is not defined before use"))?;
        if let Some(&o) = self.value_outlets.get(name) {
            return Ok(o);
        }
        let o = match v {
            Val::Dyn(o) => return Ok(*o),
            Val::Const { tensor, name: wname } => match self.placed.get(wname.as_str()) {
                Some(&o) if !wname.is_empty() => o,
                _ => {
                    let o = self.g.add_const(wname.clone(), tensor.clone());
                    if !wname.is_empty() {
                        self.placed.insert(wname.clone(), o);
                    }
                    o
                }
            },
            Val::Ints { v, scalar } => {
                let ints: Option<Vec<i64>> = v.iter().map(|s| if let SymInt::Int(i) = s { Some(*i) } else { None }).collect();
                let ints = ints.ok_or_else(|| format!("{name:?} depends on a symbolic dim at run time, which senetc does not support"))?;
                let shape = if *scalar { vec![] } else { vec![ints.len()] };
                self.g.add_const(String::new(), Tensor::from_i64(shape, &ints))
            }
            Val::Poison => return Err(format!("{name:?} comes from a failed node")),
        };
        self.value_outlets.insert(name.to_string(), o);
        Ok(o)
    }

    /// A setting passed as an input: a known integer vector.
    pub fn static_ints(&self, name: &str, what: &str) -> Result<Vec<i64>, String> {
        let (v, _) = self.val(name)?.sym_ints().ok_or_else(|| format!("{what} must be a constant integer input"))?;
        v.into_iter()
            .map(|s| match s {
                SymInt::Int(i) => Ok(i),
                SymInt::Sym(d) => Err(format!("{what} depends on the symbolic dim {d}")),
            })
            .collect()
    }

    /// A float setting passed as an input: a constant scalar (or one-element tensor).
    pub fn static_f32(&self, name: &str, what: &str) -> Result<f32, String> {
        match self.val(name)? {
            Val::Const { tensor, .. } if tensor.len() == 1 => Ok(tensor.to_f32()[0]),
            Val::Ints { v, .. } if v.len() == 1 => match &v[0] {
                SymInt::Int(i) => Ok(*i as f32),
                SymInt::Sym(s) => Err(format!("{what} depends on the symbolic dim {s}")),
            },
            _ => Err(format!("{what} must be a constant scalar input")),
        }
    }

    /// The constant tensor behind `name`, if it is one.
    pub fn constant(&self, name: &str) -> Option<&Tensor> {
        match self.vals.get(name)? {
            Val::Const { tensor, .. } => Some(tensor),
            _ => None,
        }
    }

    /// Add an IR node named `node` reading the values `inputs`.
    pub fn add(&mut self, node: &str, op: Op, inputs: &[&str]) -> Result<Val, String> {
        let mut outs = Vec::with_capacity(inputs.len());
        for i in inputs {
            outs.push(self.outlet(i)?);
        }
        self.add_outlets(node, op, &outs)
    }

    /// Add a constant the importer made (named `name`, which binds no source weight).
    pub fn add_const(&mut self, name: impl Into<String>, tensor: Tensor) -> Outlet {
        self.g.add_const(name, tensor)
    }

    /// Add an IR node on given outlets.
    pub fn add_outlets(&mut self, node: &str, op: Op, inputs: &[Outlet]) -> Result<Val, String> {
        let o = self.g.add(node, op, inputs).map_err(|e| match e {
            senetc_ir::IrError::Node { msg, .. } => msg,
            e => e.to_string(),
        })?;
        Ok(Val::Dyn(o))
    }

    /// The type of a graph value.
    pub fn outlet_type(&self, o: Outlet) -> &TensorType {
        self.g.outlet_type(o)
    }

    /// The static shape of a value, symbols included.
    pub fn shape_of(&self, name: &str) -> Result<Vec<Dim>, String> {
        Ok(match self.val(name)? {
            Val::Dyn(o) => self.g.outlet_type(*o).shape.0.clone(),
            Val::Const { tensor, .. } => tensor.shape().iter().map(|&d| Dim::Known(d)).collect(),
            Val::Ints { v, scalar } => {
                if *scalar {
                    vec![]
                } else {
                    vec![Dim::Known(v.len())]
                }
            }
            Val::Poison => return Err("comes from a failed node".into()),
        })
    }

    /// The element type of a value.
    pub fn dtype_of(&self, name: &str) -> Result<senetc_ir::DType, String> {
        Ok(match self.val(name)? {
            Val::Dyn(o) => self.g.outlet_type(*o).dtype,
            Val::Const { tensor, .. } => tensor.dtype(),
            Val::Ints { .. } => senetc_ir::DType::I64,
            Val::Poison => return Err("comes from a failed node".into()),
        })
    }

    /// Declare the value `value` a graph output called `name`; a missing value is a problem
    /// (unless it comes from a failed node, already reported).
    pub fn output(&mut self, name: &str, value: &str) {
        match self.outlet(value) {
            Ok(o) => self.g.add_output(name, o),
            Err(what) if !self.is_poisoned(value) => self.problems.push(Problem::new(name, "output", what)),
            Err(_) => {}
        }
    }

    /// The finished graph, verified (the one verification of an import), with the notes;
    /// or every problem found.
    pub fn finish(self) -> Result<(Graph, ImportNotes), Vec<Problem>> {
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        if self.g.outputs().is_empty() {
            return Err(vec![Problem::new("", "graph", "the model has no outputs")]);
        }
        senetc_ir::verify(&self.g).map_err(|e| vec![Problem::new("", "graph", e.to_string())])?;
        Ok((self.g, self.notes))
    }
}

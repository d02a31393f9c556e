//! What an ONNX value is at import time: a graph value, a constant not yet placed in the
//! graph, or a small integer vector that may hold symbolic dims (shape arithmetic).

use super::Importer;
use senetc_ir::{Dim, Op, Outlet, Tensor};

/// One element of a shape computation.
#[derive(Clone, Debug, PartialEq)]
pub enum SymInt {
    /// A known integer.
    Int(i64),
    /// A symbolic dim.
    Sym(String),
}

impl SymInt {
    pub fn of_dim(d: &Dim) -> SymInt {
        match d {
            Dim::Known(n) => SymInt::Int(*n as i64),
            Dim::Sym(s) => SymInt::Sym(s.clone()),
        }
    }
}

/// An ONNX value during import.
#[derive(Clone)]
pub enum Val {
    /// Computed by the graph.
    Dyn(Outlet),
    /// A constant; placed in the graph on first use by a real op.
    Const { tensor: Tensor, name: String, placed: Option<Outlet> },
    /// An i64 scalar (`scalar`) or vector from shape arithmetic, possibly symbolic.
    Ints { v: Vec<SymInt>, scalar: bool },
    /// Produced by a node that failed; its readers are skipped (the failure is reported once).
    Poison,
}

impl Val {
    pub fn constant(tensor: Tensor, name: String) -> Val {
        Val::Const { tensor, name, placed: None }
    }

    /// Integer values as SymInts, if static and integral.
    pub fn sym_ints(&self) -> Option<(Vec<SymInt>, bool)> {
        match self {
            Val::Ints { v, scalar } => Some((v.clone(), *scalar)),
            Val::Const { tensor, .. } if !tensor.dtype().is_float() && tensor.shape().len() <= 1 => {
                Some((tensor.to_i64().into_iter().map(SymInt::Int).collect(), tensor.shape().is_empty()))
            }
            _ => None,
        }
    }
}

impl Importer {
    pub fn val(&self, name: &str) -> Result<&Val, String> {
        self.vals.get(name).ok_or_else(|| format!("input {name:?} is not defined before use"))
    }

    /// The graph value for `name`, placing constants (and fully known integer vectors) on demand.
    pub fn outlet(&mut self, name: &str) -> Result<Outlet, String> {
        let v = self.vals.get_mut(name).ok_or_else(|| format!("value {name:?} is not defined before use"))?;
        match v {
            Val::Dyn(o) => Ok(*o),
            Val::Const { placed: Some(o), .. } => Ok(*o),
            Val::Const { tensor, name: wname, placed } => {
                // One node per weight, however many values alias it (Identity of an initializer).
                let o = match self.weights.get(wname.as_str()) {
                    Some(&o) if !wname.is_empty() => o,
                    _ => {
                        let o = self.g.add_const(wname.clone(), tensor.clone());
                        self.weights.insert(wname.clone(), o);
                        o
                    }
                };
                *placed = Some(o);
                Ok(o)
            }
            Val::Ints { v, scalar } => {
                let ints: Option<Vec<i64>> = v.iter().map(|s| if let SymInt::Int(i) = s { Some(*i) } else { None }).collect();
                let ints = ints.ok_or_else(|| format!("{name:?} depends on a symbolic dim at run time, which senetc does not support"))?;
                let shape = if *scalar { vec![] } else { vec![ints.len()] };
                let o = self.g.add_const(String::new(), Tensor::from_i64(shape, &ints));
                *v = Vec::new();
                self.vals.insert(name.to_string(), Val::Dyn(o));
                Ok(o)
            }
            Val::Poison => Err(format!("{name:?} comes from a failed node")),
        }
    }

    /// A setting passed as an input: must be a known integer vector.
    pub fn static_ints(&self, name: &str, what: &str) -> Result<Vec<i64>, String> {
        let (v, _) = self.val(name)?.sym_ints().ok_or_else(|| format!("{what} must be a constant integer input"))?;
        v.into_iter()
            .map(|s| match s {
                SymInt::Int(i) => Ok(i),
                SymInt::Sym(d) => Err(format!("{what} depends on the symbolic dim {d}")),
            })
            .collect()
    }

    /// A float setting passed as an input (Clip bounds, Pad value): a constant scalar.
    pub fn static_f32(&self, name: &str, what: &str) -> Result<f32, String> {
        match self.val(name)? {
            Val::Const { tensor, .. } if tensor.len() == 1 => Ok(tensor.to_f32()[0]),
            _ => Err(format!("{what} must be a constant scalar input")),
        }
    }

    /// Add an IR node named after the ONNX node.
    pub fn add(&mut self, name: &str, op: Op, inputs: &[&str]) -> Result<Val, String> {
        let mut outs = Vec::with_capacity(inputs.len());
        for i in inputs {
            outs.push(self.outlet(i)?);
        }
        self.add_outlets(name, op, &outs)
    }

    /// Add an IR node on given outlets.
    pub fn add_outlets(&mut self, name: &str, op: Op, inputs: &[Outlet]) -> Result<Val, String> {
        let o = self.g.add(name, op, inputs).map_err(|e| match e {
            senetc_ir::IrError::Node { msg, .. } => msg,
            e => e.to_string(),
        })?;
        Ok(Val::Dyn(o))
    }

    /// The static shape of a value, symbols included.
    pub fn shape_of(&self, name: &str) -> Result<Vec<Dim>, String> {
        Ok(match self.val(name)? {
            Val::Dyn(o) => self.g.outlet_type(*o).shape.0.clone(),
            Val::Const { tensor, .. } => tensor.shape().iter().map(|&d| Dim::Known(d)).collect(),
            Val::Ints { v, scalar } => if *scalar { vec![] } else { vec![Dim::Known(v.len())] },
            Val::Poison => return Err("poisoned".into()),
        })
    }
}

//! Ops that move or regroup elements without computing on them.

use super::reduce::norm_axis;
use super::{OpDef, PadMode};
use crate::{op, Dim, Layout, Shape, TensorType};

/// A product of dims: a known factor times named symbols (sorted).
#[derive(Clone, Debug, PartialEq)]
struct DimProduct {
    known: usize,
    syms: Vec<String>,
}

impl DimProduct {
    fn of(dims: &[Dim]) -> DimProduct {
        let mut p = DimProduct { known: 1, syms: vec![] };
        for d in dims {
            p.mul(d);
        }
        p
    }
    fn mul(&mut self, d: &Dim) {
        match d {
            Dim::Known(n) => self.known *= n,
            Dim::Sym(s) => {
                self.syms.push(s.clone());
                self.syms.sort();
            }
        }
    }
    /// self / other, if exact.
    fn div(&self, other: &DimProduct) -> Option<DimProduct> {
        if other.known == 0 || !self.known.is_multiple_of(other.known) {
            return None;
        }
        let mut syms = self.syms.clone();
        for s in &other.syms {
            let i = syms.iter().position(|x| x == s)?;
            syms.remove(i);
        }
        Some(DimProduct { known: self.known / other.known, syms })
    }
    /// As a single dim, if it is a known number or exactly one symbol.
    fn as_dim(&self) -> Option<Dim> {
        match (self.syms.as_slice(), self.known) {
            ([], k) => Some(Dim::Known(k)),
            ([s], 1) => Some(Dim::Sym(s.clone())),
            _ => None,
        }
    }
}

op! {
    /// Reshape to `shape` (ONNX semantics: 0 copies the input dim unless `allowzero`, one -1 is inferred).
    pub struct Reshape { shape: Vec<i64> = vec![], allowzero: bool = false }
}
impl Reshape {
    /// The output shape for input shape `input`.
    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let total = DimProduct::of(&input.0);
        let mut dims: Vec<Option<Dim>> = Vec::new();
        let mut known = DimProduct { known: 1, syms: vec![] };
        let mut infer_at = None;
        for (i, &s) in self.shape.iter().enumerate() {
            let d = match s {
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    None
                }
                0 if !self.allowzero => Some(input.0.get(i).cloned().ok_or("0 refers past the input rank")?),
                s if s >= 0 => Some(Dim::Known(s as usize)),
                _ => return Err(format!("bad reshape target {:?}", self.shape)),
            };
            if let Some(d) = &d {
                known.mul(d);
            }
            dims.push(d);
        }
        let rest = total.div(&known).ok_or_else(|| format!("cannot reshape {input} to {:?}", self.shape))?;
        match infer_at {
            Some(i) => {
                dims[i] = Some(rest.as_dim().ok_or_else(|| format!("cannot infer -1 reshaping {input} to {:?}", self.shape))?)
            }
            None if rest.as_dim() != Some(Dim::Known(1)) => {
                return Err(format!("cannot reshape {input} to {:?}: element counts differ", self.shape))
            }
            None => {}
        }
        Ok(Shape(dims.into_iter().map(|d| d.expect("all dims set")).collect()))
    }
}
impl OpDef for Reshape {
    const NAME: &'static str = "reshape";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        Ok(vec![TensorType::new(inputs[0].dtype, self.output_shape(&inputs[0].shape)?)])
    }
}

op! {
    /// Collapse dims before `axis` into one and the rest into another.
    pub struct Flatten { axis: i64 = 1 }
}
impl OpDef for Flatten {
    const NAME: &'static str = "flatten";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let axis = if self.axis == t.rank() as i64 { t.rank() } else { norm_axis(self.axis, t.rank())? };
        let outer = DimProduct::of(&t.shape.0[..axis]).as_dim().ok_or("flatten would multiply symbolic dims")?;
        let inner = DimProduct::of(&t.shape.0[axis..]).as_dim().ok_or("flatten would multiply symbolic dims")?;
        Ok(vec![TensorType::new(t.dtype, Shape(vec![outer, inner]))])
    }
}

op! {
    /// Permute axes: output axis i is input axis perm[i] (empty: reverse).
    pub struct Transpose { perm: Vec<usize> = vec![] }
}
impl Transpose {
    /// The permutation for rank `rank`.
    pub fn perm_for(&self, rank: usize) -> Vec<usize> {
        if self.perm.is_empty() {
            (0..rank).rev().collect()
        } else {
            self.perm.clone()
        }
    }
}
impl OpDef for Transpose {
    const NAME: &'static str = "transpose";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let perm = self.perm_for(t.rank());
        let mut seen = vec![false; t.rank()];
        for &p in &perm {
            if p >= t.rank() || std::mem::replace(&mut seen[p], true) {
                return Err(format!("{perm:?} is not a permutation of rank {}", t.rank()));
            }
        }
        if perm.len() != t.rank() {
            return Err(format!("{perm:?} is not a permutation of rank {}", t.rank()));
        }
        Ok(vec![TensorType::new(t.dtype, Shape(perm.iter().map(|&p| t.shape.0[p].clone()).collect()))])
    }
}

op! {
    /// Remove the given axes of extent 1 (all of them when empty).
    pub struct Squeeze { axes: Vec<i64> = vec![] }
}
impl OpDef for Squeeze {
    const NAME: &'static str = "squeeze";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let axes: Vec<usize> = self.axes.iter().map(|&a| norm_axis(a, t.rank())).collect::<Result<_, _>>()?;
        let mut dims = Vec::new();
        for (i, d) in t.shape.0.iter().enumerate() {
            let drop = if axes.is_empty() { *d == Dim::Known(1) } else { axes.contains(&i) };
            if drop && *d != Dim::Known(1) {
                return Err(format!("axis {i} of {} is not 1", t.shape));
            }
            if !drop {
                dims.push(d.clone());
            }
        }
        Ok(vec![TensorType::new(t.dtype, Shape(dims))])
    }
}

op! {
    /// Insert axes of extent 1 at the given positions of the output.
    pub struct Unsqueeze { axes: Vec<i64> = vec![] }
}
impl OpDef for Unsqueeze {
    const NAME: &'static str = "unsqueeze";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let rank = t.rank() + self.axes.len();
        let mut axes: Vec<usize> = self.axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?;
        axes.sort_unstable();
        axes.dedup();
        if axes.len() != self.axes.len() {
            return Err(format!("repeated axes {:?}", self.axes));
        }
        let mut src = t.shape.0.iter();
        let dims = (0..rank)
            .map(|i| if axes.contains(&i) { Dim::Known(1) } else { src.next().cloned().unwrap_or(Dim::Known(1)) })
            .collect();
        Ok(vec![TensorType::new(t.dtype, Shape(dims))])
    }
}

op! {
    /// Join inputs along `axis`; other dims must agree.
    pub struct Concat { axis: i64 = 0 }
}
impl OpDef for Concat {
    const NAME: &'static str = "concat";
    const ARITY: (usize, usize) = (1, usize::MAX);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let first = inputs[0];
        let axis = norm_axis(self.axis, first.rank())?;
        let mut total = DimProduct { known: 0, syms: vec![] };
        for t in inputs {
            if t.rank() != first.rank() || t.dtype != first.dtype {
                return Err(format!("cannot concat {t} with {first}"));
            }
            for i in 0..t.rank() {
                if i != axis && t.shape.0[i] != first.shape.0[i] {
                    return Err(format!("cannot concat {} with {} on axis {axis}", t.shape, first.shape));
                }
            }
            match &t.shape.0[axis] {
                Dim::Known(n) => total.known += n,
                Dim::Sym(_) => return Err("concat along a symbolic axis".into()),
            }
        }
        let mut shape = first.shape.clone();
        shape.0[axis] = Dim::Known(total.known);
        Ok(vec![TensorType { dtype: first.dtype, shape, layout: first.layout }])
    }
}

op! {
    /// Pad (or crop, with negative values) each axis: `pads` holds every axis' begin,
    /// then every axis' end, as in ONNX.
    pub struct Pad { pads: Vec<i64> = vec![], mode: PadMode = PadMode::Constant, value: f32 = 0.0 }
}
impl OpDef for Pad {
    const NAME: &'static str = "pad";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let r = t.rank();
        if self.pads.len() != 2 * r {
            return Err(format!("pad needs {} values for rank {r}, got {}", 2 * r, self.pads.len()));
        }
        let mut dims = Vec::with_capacity(r);
        for (i, d) in t.shape.0.iter().enumerate() {
            let (b, e) = (self.pads[i], self.pads[i + r]);
            dims.push(match d {
                _ if b == 0 && e == 0 => d.clone(),
                Dim::Known(n) => {
                    let v = *n as i64 + b + e;
                    if v < 0 {
                        return Err(format!("pads {:?} crop axis {i} below zero", self.pads));
                    }
                    Dim::Known(v as usize)
                }
                Dim::Sym(_) => return Err("padding a symbolic axis".into()),
            });
        }
        let layout = if t.layout == Layout::Any { Layout::Any } else { t.layout };
        Ok(vec![TensorType { dtype: t.dtype, shape: Shape(dims), layout }])
    }
}

//! Ops that move or regroup elements without computing on them.

use super::misc::eval_copy;
use super::reduce::norm_axis;
use super::{OpDef, PadMode, View};
use crate::{op, Dim, Shape, TensorType};

/// A product of dims: a known factor times named symbols (sorted).
#[derive(Clone, Debug, PartialEq)]
struct DimProduct {
    known: usize,
    syms: Vec<String>,
}

impl DimProduct {
    fn of(dims: &[Dim]) -> Result<DimProduct, String> {
        let mut p = DimProduct { known: 1, syms: vec![] };
        for d in dims {
            p.mul(d)?;
        }
        Ok(p)
    }
    /// Multiply by `d`; dims come from model files, so the product may overflow.
    fn mul(&mut self, d: &Dim) -> Result<(), String> {
        match d {
            Dim::Known(n) => self.known = self.known.checked_mul(*n).ok_or_else(|| format!("element count overflows (a dim of {n})"))?,
            Dim::Sym(s) => {
                self.syms.push(s.clone());
                self.syms.sort();
            }
        }
        Ok(())
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
        let total = DimProduct::of(&input.0)?;
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
                known.mul(d)?;
            }
            dims.push(d);
        }
        if known.known == 0 {
            // A 0 extent (allowzero, or copied from the input): no -1 to infer, no elements.
            if infer_at.is_some() || total.known != 0 {
                return Err(format!("cannot reshape {input} to {:?}: element counts differ", self.shape));
            }
            return Ok(Shape(dims.into_iter().map(|d| d.expect("no -1")).collect()));
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
    const VIEW: bool = true;
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
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
    const VIEW: bool = true;
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let t = inputs[0];
        let axis = if self.axis == t.rank() as i64 { t.rank() } else { norm_axis(self.axis, t.rank())? };
        let outer = DimProduct::of(&t.shape.0[..axis])?.as_dim().ok_or("flatten would multiply symbolic dims")?;
        let inner = DimProduct::of(&t.shape.0[axis..])?.as_dim().ok_or("flatten would multiply symbolic dims")?;
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
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        senetc_kernels::layout::transpose(ins[0].data, ins[0].shape, &self.perm_for(ins[0].shape.len()), out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
}

op! {
    /// Remove the given axes of extent 1 (all of them when empty).
    pub struct Squeeze { axes: Vec<i64> = vec![] }
}
impl OpDef for Squeeze {
    const NAME: &'static str = "squeeze";
    const ARITY: (usize, usize) = (1, 1);
    const VIEW: bool = true;
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
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
    const VIEW: bool = true;
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        eval_copy(ins, out)
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
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
                Dim::Known(n) => total.known = total.known.checked_add(*n).ok_or("concat extent overflows")?,
                Dim::Sym(_) => return Err("concat along a symbolic axis".into()),
            }
        }
        let mut shape = first.shape.clone();
        shape.0[axis] = Dim::Known(total.known);
        Ok(vec![TensorType::new(first.dtype, shape)])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let axis = norm_axis(self.axis, ins[0].shape.len())?;
        let parts: Vec<(&[f32], &[usize])> = ins.iter().map(|v| (v.data, v.shape)).collect();
        senetc_kernels::layout::concat(&parts, axis, out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let axis = perm[norm_axis(self.axis, perm.len()).ok()?] as i64;
        Some(super::Transposed { op: Concat { axis }, out_perm: perm.to_vec() })
    }
}

op! {
    /// Elements `starts[i], starts[i] + steps[i], ...` up to (excluding) `ends[i]` along
    /// `axes[i]`; the other axes whole. A step may be negative (the window walks backwards)
    /// but not 0. Positions do not count from the end (frontends resolve them with
    /// [`Slice::resolve`]); they are clamped to the axis, a start to `[0, extent]` and an end
    /// to `[0, extent]`, or for a negative step to `[0, extent - 1]` and `[-1, extent - 1]`,
    /// where an end of -1 means "through index 0".
    pub struct Slice { axes: Vec<usize> = vec![], starts: Vec<usize> = vec![], ends: Vec<i64> = vec![], steps: Vec<i64> = vec![] }
}
impl Slice {
    /// Resolve ONNX-style positions for an axis of `extent`: a negative start or end counts
    /// from the end (once), then both are clamped to `[0, extent]` for a positive step and to
    /// `[0, extent - 1]` (start) and `[-1, extent - 1]` (end) for a negative one (ONNX's and
    /// numpy's rule). `step` must not be 0.
    pub fn resolve(start: i64, end: i64, step: i64, extent: usize) -> (usize, i64) {
        let n = i64::try_from(extent).unwrap_or(i64::MAX);
        let wrap = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        Slice::clamp(wrap(start).max(0) as usize, wrap(end).max(-1), step, extent)
    }

    /// Clamp a start and an end that do not count from the end (`end >= -1`) to the axis.
    fn clamp(start: usize, end: i64, step: i64, extent: usize) -> (usize, i64) {
        let n = i64::try_from(extent).unwrap_or(i64::MAX);
        if step > 0 {
            (start.min(extent), end.clamp(0, n))
        } else {
            (start.min(extent.saturating_sub(1)), end.clamp(-1, (n - 1).max(-1)))
        }
    }

    /// (start, step, count) of every axis of a rank-`rank` input of shape `dims`.
    fn ranges(&self, dims: &[Dim]) -> Result<Vec<(usize, i64, Dim)>, String> {
        let n = self.axes.len();
        if self.starts.len() != n || self.ends.len() != n || self.steps.len() != n {
            return Err(format!("slice needs one start, end and step per axis, got {:?} {:?} {:?} for axes {:?}", self.starts, self.ends, self.steps, self.axes));
        }
        let mut r: Vec<(usize, i64, Dim)> = dims.iter().map(|d| (0, 1, d.clone())).collect();
        for (i, &a) in self.axes.iter().enumerate() {
            let extent = dims.get(a).ok_or_else(|| format!("slice axis {a} out of range for rank {}", dims.len()))?;
            let Dim::Known(extent) = *extent else { return Err("slicing a symbolic axis".into()) };
            let step = self.steps[i];
            if step == 0 {
                return Err("slice step is 0".into());
            }
            let end = self.ends[i];
            if end < if step > 0 { 0 } else { -1 } {
                return Err(format!("slice end {end} with step {step} counts from the end (resolve it first)"));
            }
            let (start, end) = Slice::clamp(self.starts[i], end, step, extent);
            let span = if step > 0 { end - start as i64 } else { start as i64 - end };
            let count = if span > 0 && extent > 0 { (span as u64).div_ceil(step.unsigned_abs()) as usize } else { 0 };
            r[a] = (start, step, Dim::Known(count));
        }
        Ok(r)
    }
}
impl OpDef for Slice {
    const NAME: &'static str = "slice";
    const ARITY: (usize, usize) = (1, 1);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let r = self.ranges(&inputs[0].shape.0)?;
        Ok(vec![TensorType::new(inputs[0].dtype, Shape(r.into_iter().map(|(_, _, d)| d).collect()))])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], out_shape: &[usize]) -> Result<(), String> {
        let s = ins[0].shape;
        let dims: Vec<Dim> = s.iter().map(|&d| Dim::Known(d)).collect();
        let r = self.ranges(&dims)?;
        // Row-major walk over the output, one innermost run at a time; element `idx` of an
        // axis is input position `start + idx * step`, within the axis by construction.
        let rank = s.len();
        let mut in_strides = vec![1usize; rank];
        for i in (0..rank.saturating_sub(1)).rev() {
            in_strides[i] = in_strides[i + 1] * s[i + 1];
        }
        let at = |r: &(usize, i64, Dim), idx: usize| (r.0 as i64 + idx as i64 * r.1) as usize;
        let inner = out_shape.last().copied().unwrap_or(1);
        for (row, o) in out.chunks_mut(inner.max(1)).enumerate() {
            let mut rem = row;
            let mut base = 0;
            for i in (0..rank.saturating_sub(1)).rev() {
                let idx = rem % out_shape[i];
                rem /= out_shape[i];
                base += at(&r[i], idx) * in_strides[i];
            }
            match r.last() {
                Some(last) => o.iter_mut().enumerate().for_each(|(j, v)| *v = ins[0].data[base + at(last, j)]),
                None => o.iter_mut().for_each(|v| *v = ins[0].data[base]),
            }
        }
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let axes = self.axes.iter().map(|&a| perm.get(a).copied()).collect::<Option<_>>()?;
        Some(super::Transposed { op: Slice { axes, ..self.clone() }, out_perm: perm.to_vec() })
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
                    let v = i64::try_from(*n).ok().and_then(|n| n.checked_add(b)?.checked_add(e)).ok_or_else(|| format!("pads {:?} overflow axis {i}", self.pads))?;
                    if v < 0 {
                        return Err(format!("pads {:?} crop axis {i} below zero", self.pads));
                    }
                    Dim::Known(v as usize)
                }
                Dim::Sym(_) => return Err("padding a symbolic axis".into()),
            });
        }
        Ok(vec![TensorType::new(t.dtype, Shape(dims))])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let mode = match self.mode {
            PadMode::Constant => senetc_kernels::PadMode::Constant(self.value),
            PadMode::Reflect => senetc_kernels::PadMode::Reflect,
            PadMode::Edge => senetc_kernels::PadMode::Edge,
        };
        senetc_kernels::layout::pad(ins[0].data, ins[0].shape, &self.pads, mode, out);
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
    fn through_transpose(&self, perm: &[usize]) -> Option<super::Transposed<Self>> {
        let r = perm.len();
        if self.pads.len() != 2 * r {
            return None;
        }
        let mut pads = vec![0; 2 * r];
        for (i, &p) in perm.iter().enumerate() {
            pads[p] = self.pads[i];
            pads[p + r] = self.pads[i + r];
        }
        Some(super::Transposed { op: Pad { pads, ..self.clone() }, out_perm: perm.to_vec() })
    }
}

op! {
    /// Elements of `data` (operand 0) at `indices` (operand 1, an integer tensor) along
    /// `axis`, as numpy's `take`: the output shape is data[..axis] ++ indices ++ data[axis+1..];
    /// negative indices count from the end, others out of range are an error.
    pub struct Gather { axis: i64 = 0 }
}
impl OpDef for Gather {
    const NAME: &'static str = "gather";
    const ARITY: (usize, usize) = (2, 2);
    fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let (data, idx) = (inputs[0], inputs[1]);
        if idx.dtype.is_float() {
            return Err(format!("gather indices must be integers, got {}", idx.dtype));
        }
        let axis = norm_axis(self.axis, data.rank())?;
        let dims = data.shape.0[..axis].iter().chain(&idx.shape.0).chain(&data.shape.0[axis + 1..]).cloned().collect();
        Ok(vec![TensorType::new(data.dtype, Shape(dims))])
    }
    fn eval(&self, ins: &[View<'_>], out: &mut [f32], _: &[usize]) -> Result<(), String> {
        let (data, idx) = (ins[0], ins[1]);
        let s = data.shape;
        let axis = norm_axis(self.axis, s.len())?;
        let (n, inner) = (s[axis], super::numel(&s[axis + 1..]));
        let rows = idx.data.len();
        for (o, block) in out.chunks_mut((rows * inner).max(1)).enumerate() {
            for (j, &iv) in idx.data.iter().enumerate() {
                let i = iv as i64;
                let i = if i < 0 { i + n as i64 } else { i };
                if i < 0 || i >= n as i64 {
                    return Err(format!("gather index {iv} is out of range for extent {n}"));
                }
                let from = (o * n + i as usize) * inner;
                block[j * inner..(j + 1) * inner].copy_from_slice(&data.data[from..from + inner]);
            }
        }
        Ok(())
    }
    fn flops(&self, _: &[&[usize]], _: &[usize]) -> u64 {
        0
    }
}

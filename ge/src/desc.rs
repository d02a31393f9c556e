//! Tensor descriptions (`TensorDescriptor`): what the writer puts in every op's input and
//! output descs and what the reader accepts back, in one place so the two agree.

use crate::attr::{self, Attrs};
use crate::layout;
use crate::proto;
use crate::types::{ir_dtype, proto_dtype, Format};
use senetc_ir::DType;

/// A tensor as GE describes it: runtime dtype, format and shape, and the origin (source
/// graph) format and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Desc {
    /// Element type at run time.
    pub dtype: DType,
    /// Runtime format.
    pub format: Format,
    /// Runtime shape (e.g. 5-D for NC1HWC0).
    pub shape: Vec<usize>,
    /// Format of the source graph.
    pub origin_format: Format,
    /// Shape in the origin format.
    pub origin_shape: Vec<usize>,
}

impl Desc {
    /// The desc of a tensor of origin (`origin_format`, `origin_shape`) held as (`dtype`,
    /// `format`). A runtime format (NC1HWC0, FRACTAL_Z) needs a 4-D origin shape.
    pub fn new(dtype: DType, format: Format, origin_format: Format, origin_shape: Vec<usize>) -> Desc {
        let shape = match format {
            Format::Nc1hwc0 => layout::nc1hwc0_shape(&origin_shape),
            Format::FractalZ => layout::fractal_z_shape(&origin_shape),
            _ => origin_shape.clone(),
        };
        Desc { dtype, format, shape, origin_format, origin_shape }
    }

    /// Bytes the runtime tensor takes.
    pub fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }

    /// The protobuf form: format name in `layout`, the origin format and shape in the desc's
    /// attrs (as GE stores them), byte size in `size`.
    pub fn to_proto(&self) -> proto::TensorDescriptor {
        let mut a = Attrs::new();
        a.insert("format_for_int".into(), attr::int(self.format.number()));
        a.insert("origin_format".into(), attr::string(self.origin_format.name()));
        a.insert("origin_format_for_int".into(), attr::int(self.origin_format.number()));
        a.insert("origin_shape".into(), attr::ints(&self.origin_shape.iter().map(|&x| x as i64).collect::<Vec<_>>()));
        a.insert("origin_shape_initialized".into(), attr::boolean(true));
        proto::TensorDescriptor {
            dtype: proto_dtype(self.dtype) as i32,
            shape: Some(proto::ShapeDef { dim: self.shape.iter().map(|&x| x as i64).collect() }),
            layout: self.format.name().into(),
            attr: a,
            size: self.bytes() as i64,
            real_dim_cnt: self.shape.len() as i64,
            ..Default::default()
        }
    }

    /// Read a desc from an untrusted file: `format_for_int` wins over `layout` (as in GE),
    /// origin format and shape default to the runtime ones, and the runtime shape must be
    /// what the origin shape gives in the runtime format. [`Desc::bytes`] of the result does
    /// not overflow.
    pub fn from_proto(d: &proto::TensorDescriptor) -> Result<Desc, String> {
        let dtype = ir_dtype(d.dtype).ok_or_else(|| format!("unsupported dtype {}", d.dtype))?;
        let format = match attr::get_int(&d.attr, "format_for_int") {
            Some(n) => Format::from_number(n).ok_or_else(|| format!("unsupported format number {n}"))?,
            None => Format::from_name(&d.layout).ok_or_else(|| format!("unsupported format {:?}", d.layout))?,
        };
        let shape = dims(d.shape.as_ref().map_or(&[][..], |s| &s.dim)).ok_or("negative (dynamic) dims")?;
        let origin_format = match attr::get_str(&d.attr, "origin_format") {
            Some(s) => Format::from_name(&s).ok_or_else(|| format!("unsupported origin format {s:?}"))?,
            None => format,
        };
        let origin_shape = match attr::get_ints(&d.attr, "origin_shape") {
            Some(v) => dims(&v).ok_or("negative origin dims")?,
            None => shape.clone(),
        };
        // Sizes are products of untrusted dims: refuse what does not fit before computing any.
        let fits = |s: &[usize]| s.iter().try_fold(dtype.size(), |a, &d| a.checked_mul(d)).is_some();
        if !fits(&shape) || !fits(&origin_shape) {
            return Err(format!("shape {shape:?} (origin {origin_shape:?}) is too large"));
        }
        if format.is_runtime() && origin_shape.len() != 4 {
            return Err(format!("{} with origin shape {origin_shape:?}", format.name()));
        }
        let d = Desc::new(dtype, format, origin_format, origin_shape);
        if d.shape != shape {
            return Err(format!("{} shape {shape:?} does not match origin shape {:?}", format.name(), d.origin_shape));
        }
        Ok(d)
    }
}

fn dims(v: &[i64]) -> Option<Vec<usize>> {
    v.iter().map(|&d| usize::try_from(d).ok()).collect()
}

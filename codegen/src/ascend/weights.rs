//! Const weights on their way into a file. [`super::assign`] decides what each Const holds
//! at run time (element type, format) but converts nothing: a [`Weight`] is the source tensor
//! (a view of the IR's shared, possibly memory-mapped buffer) plus those decisions. Its bytes
//! are made once, by the writer that needs them: a weight that needs no conversion is the
//! source's own bytes; one that needs a cast or an NC1HWC0 re-layout is converted into one
//! temporary; a FRACTAL_Z filter is re-laid out on its way into the file ([`Weight::write`]).
//! [`Placement`] lays the weights out in an OM's WEIGHTS_DATA from their sizes alone.

use bytes::Bytes;
use senetc_ge::om::WEIGHT_ALIGN;
use senetc_ge::{layout, Desc, Format};
use super::assign::GeOp;
use senetc_ir::Tensor;

/// A Const's runtime bytes, described.
#[derive(Clone, Debug)]
pub struct Weight {
    source: Tensor,
    desc: Desc,
}

impl Weight {
    /// `source` (origin layout) held as `desc` (whose origin shape is the source's, and whose
    /// element type is the source's or, for a float source, another float type).
    pub fn new(source: Tensor, desc: Desc) -> Weight {
        Weight { source, desc }
    }

    /// Byte size at run time.
    pub fn len(&self) -> usize {
        self.desc.bytes()
    }

    /// Whether the weight has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The runtime bytes: a view of the source when its type and layout are the runtime ones,
    /// else converted once.
    pub fn bytes(&self) -> Bytes {
        let t = self.source.cast(self.desc.dtype);
        let es = self.desc.dtype.size();
        match self.desc.format {
            Format::FractalZ => Bytes::from(layout::to_fractal_z(t.bytes(), t.shape(), es)),
            Format::Nc1hwc0 => Bytes::from(layout::to_nc1hwc0(t.bytes(), t.shape(), es)),
            Format::Nchw | Format::Nhwc | Format::Nd => Bytes::from_owner(Shared(t)),
        }
    }

    /// Write the runtime bytes to `out` (what [`Weight::bytes`] gives, without a whole
    /// re-laid-out copy for FRACTAL_Z filters); returns how many were written.
    pub fn write(&self, out: &mut dyn std::io::Write) -> std::io::Result<usize> {
        let t = self.source.cast(self.desc.dtype);
        match self.desc.format {
            Format::FractalZ => layout::write_fractal_z(t.bytes(), t.shape(), self.desc.dtype.size(), out),
            _ => {
                let b = self.bytes();
                out.write_all(&b)?;
                Ok(b.len())
            }
        }
    }
}

/// A tensor as the owner of the bytes it points into (cloning a tensor shares its buffer).
struct Shared(Tensor);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// Where each weight of a graph sits in WEIGHTS_DATA, as GE's builder lays them out: in op
/// order, the first at 512, each next one at the following 512-byte boundary.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Per op: the offset of its weight (`None` for ops without one).
    pub offsets: Vec<Option<usize>>,
    /// Size of WEIGHTS_DATA (no padding after the last weight; 0 without weights).
    pub len: usize,
}

impl Placement {
    /// Lay out the weights of `ops`.
    pub fn of(ops: &[GeOp]) -> Placement {
        let mut p = Placement::default();
        for op in ops {
            let offset = op.value.as_ref().map(|w| {
                let offset = p.len.max(WEIGHT_ALIGN).next_multiple_of(WEIGHT_ALIGN);
                p.len = offset + w.len();
                offset
            });
            p.offsets.push(offset);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use senetc_ir::DType;

    fn filter() -> Tensor {
        Tensor::from_f32(vec![20, 3, 2, 2], &(0..240).map(|v| v as f32 / 7.0).collect::<Vec<_>>())
    }

    #[test]
    fn unconverted_weights_are_the_source_bytes() {
        let t = filter();
        let w = Weight::new(t.clone(), Desc::new(DType::F32, Format::Nchw, Format::Nchw, t.shape().to_vec()));
        let b = w.bytes();
        assert_eq!(b.len(), w.len());
        assert_eq!(b.as_ptr(), t.bytes().as_ptr(), "no copy of an unconverted weight");
    }

    #[test]
    fn converted_weights_are_cast_then_laid_out() {
        let t = filter();
        let w = Weight::new(t.clone(), Desc::new(DType::F16, Format::FractalZ, Format::Nchw, t.shape().to_vec()));
        let want = layout::to_fractal_z(t.cast(DType::F16).bytes(), t.shape(), 2);
        assert_eq!(w.len(), want.len());
        assert_eq!(&w.bytes()[..], &want[..]);
        let mut streamed = Vec::new();
        assert_eq!(w.write(&mut streamed).unwrap(), want.len());
        assert_eq!(streamed, want);
    }

    #[test]
    fn placement_aligns_every_weight_to_512() {
        let konst = |n: usize| GeOp {
            name: String::new(),
            ty: senetc_ge::CannOp::Const,
            inputs: vec![],
            in_descs: vec![],
            out_descs: vec![],
            attrs: Default::default(),
            value: Some(Weight::new(Tensor::from_f32(vec![n], &vec![0.0; n]), Desc::new(DType::F32, Format::Nd, Format::Nd, vec![n]))),
            output_names: vec![],
        };
        let mut relu = konst(0);
        relu.ty = senetc_ge::CannOp::Relu;
        relu.value = None;
        let p = Placement::of(&[konst(3), relu, konst(0), konst(200), konst(1)]);
        // An empty weight takes an offset and no bytes, as GE's builder leaves it.
        assert_eq!(p.offsets, [Some(512), None, Some(1024), Some(1024), Some(2048)]);
        assert_eq!(p.len, 2052);
        assert_eq!(Placement::of(&[]).len, 0);
    }
}

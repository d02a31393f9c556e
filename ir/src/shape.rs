//! Shapes with symbolic dimensions, tensor types and layouts.

use crate::DType;
use std::fmt;
use std::str::FromStr;

/// One dimension: a known extent or a named symbol (the dynamic batch).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A static extent.
    Known(usize),
    /// A symbolic extent, such as `batch`; equal names mean equal extents.
    Sym(String),
}

impl Dim {
    /// The static extent, if known.
    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Known(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// A tensor shape, outermost dimension first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// A fully static shape.
    pub fn known(dims: &[usize]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// All extents, if every one is known.
    pub fn as_known(&self) -> Option<Vec<usize>> {
        self.0.iter().map(Dim::known).collect()
    }
    /// Dimension `i`.
    pub fn dim(&self, i: usize) -> &Dim {
        &self.0[i]
    }
    /// The shape with every symbol bound through `bind` (unbound symbols stay).
    pub fn bind(&self, bind: &dyn Fn(&str) -> Option<usize>) -> Shape {
        Shape(
            self.0
                .iter()
                .map(|d| match d {
                    Dim::Sym(s) => bind(s).map(Dim::Known).unwrap_or_else(|| d.clone()),
                    k => k.clone(),
                })
                .collect(),
        )
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Memory layout of a value. Frontends set NCHW or NHWC on 4-D activations; the Ascend
/// backend assigns its own formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Layout {
    /// No particular layout (vectors, matrices, weights).
    #[default]
    Any,
    /// Batch, channels, height, width.
    Nchw,
    /// Batch, height, width, channels.
    Nhwc,
    /// Ascend 5-D activations: channels split into C1 blocks of C0.
    Nc1hwc0,
    /// Ascend fractal weight format for the cube unit.
    FractalZ,
}

impl Layout {
    /// The name used in the text format.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Any => "any",
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
            Layout::Nc1hwc0 => "nc1hwc0",
            Layout::FractalZ => "fractal_z",
        }
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Layout::Any, Layout::Nchw, Layout::Nhwc, Layout::Nc1hwc0, Layout::FractalZ]
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("unknown layout `{s}`"))
    }
}

/// The type of a value: element type, shape and layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Shape (may hold symbols).
    pub shape: Shape,
    /// Layout; `Any` unless a frontend or pass set one.
    pub layout: Layout,
}

impl TensorType {
    /// A type with no particular layout.
    pub fn new(dtype: DType, shape: Shape) -> TensorType {
        TensorType { dtype, shape, layout: Layout::Any }
    }
    /// The same type with another layout.
    pub fn with_layout(mut self, layout: Layout) -> TensorType {
        self.layout = layout;
        self
    }
    /// Rank of the shape.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)?;
        if self.layout != Layout::Any {
            write!(f, ":{}", self.layout.name())?;
        }
        Ok(())
    }
}

//! Element types and tensor formats as GE numbers and names them (ascend_om.md §2.1, §2.2).

use crate::proto;
use senetc_ir::DType;

/// GE's protobuf `DataType` for an IR element type (the numbering of `TensorDescriptor.dtype`).
pub fn proto_dtype(d: DType) -> proto::DataType {
    use proto::DataType as P;
    match d {
        DType::F32 => P::DtFloat,
        DType::F16 => P::DtFloat16,
        DType::BF16 => P::DtBf16,
        DType::F64 => P::DtDouble,
        DType::I64 => P::DtInt64,
        DType::I32 => P::DtInt32,
        DType::I8 => P::DtInt8,
        DType::U8 => P::DtUint8,
        DType::Bool => P::DtBool,
    }
}

/// The IR element type of a protobuf `DataType`, if senetc has one.
pub fn ir_dtype(p: i32) -> Option<DType> {
    use proto::DataType as P;
    Some(match P::try_from(p).ok()? {
        P::DtFloat => DType::F32,
        P::DtFloat16 => DType::F16,
        P::DtBf16 => DType::BF16,
        P::DtDouble => DType::F64,
        P::DtInt64 => DType::I64,
        P::DtInt32 => DType::I32,
        P::DtInt8 => DType::I8,
        P::DtUint8 => DType::U8,
        P::DtBool => DType::Bool,
        _ => return None,
    })
}

/// The C++ `ge::DataType` number (used by int attributes such as Cast's `dst_type`); it
/// differs from the protobuf enum.
pub fn ge_dtype_number(d: DType) -> i64 {
    match d {
        DType::F32 => 0,
        DType::F16 => 1,
        DType::I8 => 2,
        DType::I32 => 3,
        DType::U8 => 4,
        DType::I64 => 9,
        DType::F64 => 11,
        DType::Bool => 12,
        DType::BF16 => 27,
    }
}

/// The IR element type of a `ge::DataType` number.
pub fn ge_dtype_from_number(n: i64) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| ge_dtype_number(d) == n)
}

/// The tensor formats senetc writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Batch, channels, height, width.
    Nchw,
    /// Batch, height, width, channels.
    Nhwc,
    /// No particular layout (vectors, matrices, shape tensors).
    Nd,
    /// AI-Core activations: [N, C1, H, W, C0], channels padded to C1*C0.
    Nc1hwc0,
    /// Cube-unit weights: [C1*H*W, N1, N0, C0].
    FractalZ,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 5] = [Format::Nchw, Format::Nhwc, Format::Nd, Format::Nc1hwc0, Format::FractalZ];

    /// The name GE writes in `TensorDescriptor.layout` and format attributes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Nchw => "NCHW",
            Format::Nhwc => "NHWC",
            Format::Nd => "ND",
            Format::Nc1hwc0 => "NC1HWC0",
            Format::FractalZ => "FRACTAL_Z",
        }
    }

    /// The `ge::Format` number (`format_for_int`).
    pub fn number(self) -> i64 {
        match self {
            Format::Nchw => 0,
            Format::Nhwc => 1,
            Format::Nd => 2,
            Format::Nc1hwc0 => 3,
            Format::FractalZ => 4,
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format numbered `n`.
    pub fn from_number(n: i64) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.number() == n)
    }

    /// Whether this is one of the AI Core's runtime formats (not a framework one).
    pub fn is_runtime(self) -> bool {
        matches!(self, Format::Nc1hwc0 | Format::FractalZ)
    }
}

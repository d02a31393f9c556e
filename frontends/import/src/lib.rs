//! The import layer every frontend shares. A frontend parses its format and walks the
//! model's nodes in order; this crate does the rest the same way for every format:
//!
//! - [`Builder`]: values by the format's own names, constants placed in the graph once per
//!   weight and only when a real op reads them, settings read from constant inputs,
//!   shape arithmetic evaluated at import on static and symbolic dims ([`SymInt`]), every
//!   problem collected (node, op, what) and the nodes that depend on a failed one poisoned
//!   so each failure is reported once, and the graph verified once at the end;
//! - [`weights`]: binding weights by name with one report of every missing, unexpected
//!   and mis-shaped tensor;
//! - [`files`]: memory-mapped model files and paths that must stay inside the model's folder;
//! - [`limits`]: what a file may make senetc allocate, checked before allocating.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod builder;
pub mod files;
pub mod limits;
pub mod weights;

pub use builder::{convert, gather_ints, int_binary, reshape_target, slice_ints, Builder, IntOp, SymInt, Val};

use std::path::PathBuf;

/// One thing in a model the importer cannot take, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Node name (or value or weight name for inputs and weights).
    pub node: String,
    /// Op type, or what kind of thing it is.
    pub op: String,
    /// What is missing or wrong.
    pub what: String,
}

impl Problem {
    /// A problem at `node` (of type `op`).
    pub fn new(node: impl Into<String>, op: impl Into<String>, what: impl Into<String>) -> Problem {
        Problem { node: node.into(), op: op.into(), what: what.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.node.is_empty() {
            write!(f, "{}: {}", self.op, self.what)
        } else {
            write!(f, "node {:?} ({}): {}", self.node, self.op, self.what)
        }
    }
}

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid model of its format (or not one senetc reads).
    #[error("{path}: {msg}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The model uses things senetc does not support, or is inconsistent; all are listed.
    #[error("{path}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

impl FrontendError {
    /// A decode error for `path`.
    pub fn decode(path: &std::path::Path, msg: impl Into<String>) -> FrontendError {
        FrontendError::Decode { path: path.to_path_buf(), msg: msg.into() }
    }
}

/// What an import produced besides the graph: facts the compile report lists (rewrites the
/// importer made, what a checkpoint held).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportNotes {
    /// One line each, in the order they happened.
    pub notes: Vec<String>,
    /// Things the user should look at (NaN weights...).
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests;

/// The element type of an ONNX `TensorProto.DataType` code (MindIR numbers its types the same
/// way), or `None` for a type senetc does not support.
pub fn dtype_of_onnx_code(code: i32) -> Option<senetc_ir::DType> {
    use senetc_ir::DType;
    Some(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        16 => DType::BF16,
        _ => return None,
    })
}

//! Importers: each turns one model format into senetc IR and nothing else.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod onnx;

use std::path::PathBuf;

/// One thing in a model the importer cannot take, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Node name (or value name for inputs and initializers).
    pub node: String,
    /// Op type, or what kind of thing it is.
    pub op: String,
    /// What is missing or wrong.
    pub what: String,
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
    /// The file is not a valid model of its format.
    #[error("{path}: not a valid model: {msg}")]
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

//! senetc backends: ONNX export (so any senetc graph opens in Netron and runs in
//! onnxruntime), the CPU reference, and the Ascend writers (OM, AIR, JSON).
#![warn(missing_docs)]

pub mod ascend;
pub mod cpu;
pub mod onnx_export;
pub mod target;

/// The native engine through LLVM (built with the `llvm` feature).
#[cfg(feature = "llvm")]
pub use senetc_native as native;

/// Why a graph could not be lowered to a target.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The target has no lowering for this op (or these attributes).
    #[error("node {node:?} ({op}): not supported by the {target} backend: {why}")]
    Unsupported {
        /// The node's name.
        node: String,
        /// The op's text name.
        op: &'static str,
        /// The backend.
        target: &'static str,
        /// What exactly is missing.
        why: String,
    },
    /// Inputs given to a compiled model do not fit it.
    #[error("{0}")]
    Input(String),
    /// The graph itself is malformed.
    #[error(transparent)]
    Ir(#[from] senetc_ir::IrError),
    /// The output could not be written.
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
}

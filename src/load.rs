//! Model loading: pick the frontend from the file.

use crate::UsageError;
use anyhow::Result;
use senetc_ir::Graph;
use std::path::Path;

/// The formats senetc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ONNX protobuf.
    Onnx,
}

/// Which frontend reads `path`.
pub fn format_of(path: &Path) -> Result<Format> {
    if !path.exists() {
        return Err(UsageError(format!("{}: no such file", path.display())).into());
    }
    if path.is_dir() {
        return Err(UsageError(format!("{}: is a directory, expected a model file", path.display())).into());
    }
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("onnx") => Ok(Format::Onnx),
        _ => Err(UsageError(format!("{}: unknown model format (senetc reads .onnx)", path.display())).into()),
    }
}

/// Import the model at `path` into IR.
pub fn load(path: &Path) -> Result<(Graph, Format)> {
    let format = format_of(path)?;
    let g = match format {
        Format::Onnx => senetc_frontends::onnx::import(path)?,
    };
    Ok((g, format))
}

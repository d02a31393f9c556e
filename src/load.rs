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
    /// An Ascend offline model senetc wrote.
    Om,
    /// An Ascend AIR graph senetc wrote.
    Air,
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
        Some("om") => Ok(Format::Om),
        Some("air") => Ok(Format::Air),
        _ => Err(UsageError(format!("{}: unknown model format (senetc reads .onnx, .om, .air)", path.display())).into()),
    }
}

/// Import the model at `path` into IR.
pub fn load(path: &Path) -> Result<(Graph, Format)> {
    let format = format_of(path)?;
    let g = match format {
        Format::Onnx => senetc_frontends::onnx::import(path)?,
        Format::Om | Format::Air => {
            let m = read_ascend(path)?.ok_or_else(|| UsageError(format!("{}: not an Ascend model", path.display())))?;
            m.to_graph().map_err(|e| UsageError(format!("{}: {e}", path.display())))?
        }
    };
    Ok((g, format))
}

/// Read an `.om` or `.air` file senetc wrote (`None` for other formats).
pub fn read_ascend(path: &Path) -> Result<Option<senetc_om::AscendModel>> {
    let format = format_of(path)?;
    if !matches!(format, Format::Om | Format::Air) {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let m = match format {
        Format::Om => senetc_om::read_om(&bytes),
        _ => senetc_om::read_air(&bytes),
    };
    Ok(Some(m.map_err(|e| UsageError(format!("{}: {e}", path.display())))?))
}

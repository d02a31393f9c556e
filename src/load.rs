//! Model loading: pick the frontend from the file.

use crate::UsageError;
use anyhow::Result;
use senetc_frontends::ImportNotes;
use senetc_ir::Graph;
use std::path::Path;

/// The formats senetc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ONNX protobuf.
    Onnx,
    /// MindSpore MindIR.
    MindIr,
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
        Some("om") => Ok(Format::Om),
        Some("air") => Ok(Format::Air),
        _ => match senetc_frontends::detect(path) {
            Ok(senetc_frontends::Format::Onnx) => Ok(Format::Onnx),
            Ok(senetc_frontends::Format::MindIr) => Ok(Format::MindIr),
            Err(e) => Err(UsageError(e.to_string()).into()),
        },
    }
}

/// Import the model at `path` into IR (verified), with the importer's notes for the report.
pub fn load(path: &Path) -> Result<(Graph, Format, ImportNotes)> {
    let format = format_of(path)?;
    let (g, notes) = match format {
        Format::Onnx | Format::MindIr => {
            let m = senetc_frontends::import(path, &Default::default())?;
            (m.graph, m.notes)
        }
        Format::Om | Format::Air => {
            let m = read_ascend(path)?.ok_or_else(|| UsageError(format!("{}: not an Ascend model", path.display())))?;
            let g = m.to_graph().map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
            senetc_ir::verify(&g).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
            (g, ImportNotes::default())
        }
    };
    Ok((g, format, notes))
}

/// Read an `.om` or `.air` file senetc wrote (`None` for other formats).
pub fn read_ascend(path: &Path) -> Result<Option<senetc_codegen::ascend::AscendModel>> {
    let format = format_of(path)?;
    if !matches!(format, Format::Om | Format::Air) {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let m = match format {
        Format::Om => senetc_codegen::ascend::read_om(&bytes),
        _ => senetc_codegen::ascend::read_air(&bytes),
    };
    Ok(Some(m.map_err(|e| UsageError(format!("{}: {e}", path.display())))?))
}

//! Model loading: pick the frontend from the file.

use crate::UsageError;
use anyhow::Result;
use senetc_frontends::{ImportNotes, ImportOptions};
use senetc_ir::Graph;
use std::path::Path;

/// The formats senetc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ONNX protobuf.
    Onnx,
    /// TensorFlow (TF1 checkpoint with its .meta, frozen .pb, SavedModel, TF2 checkpoint).
    TensorFlow,
    /// An Ascend offline model senetc wrote.
    Om,
    /// An Ascend AIR graph senetc wrote.
    Air,
}

/// Which frontend reads `path`.
pub fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("om") if path.is_file() => return Ok(Format::Om),
        Some("air") if path.is_file() => return Ok(Format::Air),
        _ => {}
    }
    match senetc_frontends::detect(path) {
        Ok(senetc_frontends::Format::Onnx) => Ok(Format::Onnx),
        Ok(senetc_frontends::Format::TensorFlow) => Ok(Format::TensorFlow),
        Err(_) if !path.exists() => Err(UsageError(format!("{}: no such file", path.display())).into()),
        Err(_) if path.is_dir() => Err(UsageError(format!("{}: is a directory, but not a TensorFlow SavedModel or checkpoint folder", path.display())).into()),
        Err(_) => Err(UsageError(format!(
            "{}: unknown model format (senetc reads .onnx; TensorFlow .meta, checkpoint prefixes and folders, frozen .pb, SavedModel folders; .om, .air)",
            path.display()
        ))
        .into()),
    }
}

/// Import the model at `path` into IR (verified), with the importer's notes for the report.
pub fn load(path: &Path, options: &ImportOptions) -> Result<(Graph, Format, ImportNotes)> {
    let format = format_of(path)?;
    let (g, notes) = match format {
        Format::Onnx | Format::TensorFlow => {
            let m = senetc_frontends::import(path, options)?;
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

/// `--input-shape "name:1,3,224,224;name2:..."` (ATC's syntax; -1 leaves a dim dynamic).
pub fn parse_input_shapes(spec: &str) -> Result<Vec<(String, Vec<i64>)>> {
    let bad = |s: &str| UsageError(format!("bad --input-shape entry {s:?} (want name:d1,d2,...)"));
    spec.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (name, dims) = part.rsplit_once(':').ok_or_else(|| bad(part))?;
            let dims = dims.split(',').map(|d| d.trim().parse::<i64>()).collect::<Result<Vec<_>, _>>().map_err(|_| bad(part))?;
            if dims.iter().any(|&d| d < -1) {
                return Err(bad(part).into());
            }
            Ok((name.trim().to_string(), dims))
        })
        .collect()
}

/// `--out-nodes "node:0;node2:1"` (ATC's syntax) as TensorFlow tensor names.
pub fn parse_out_nodes(spec: &str) -> Vec<String> {
    spec.split(';').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
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

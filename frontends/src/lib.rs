//! senetc's importers: one crate per format in the folders beside this one (`import/` is
//! the layer they share), and the one entry point, [`import`], that recognises a model's
//! format and runs its importer. Each importer produces IR and nothing else.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub use senetc_import::{FrontendError, ImportNotes, Problem};

use senetc_ir::Graph;
use std::path::{Path, PathBuf};

/// The model formats senetc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX protobuf.
    Onnx,
    /// An Ascend offline model senetc wrote.
    Om,
    /// An Ascend AIR graph senetc wrote.
    Air,
}

impl Format {
    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::Om => "om",
            Format::Air => "air",
        }
    }
}

/// Settings of an import that the model file does not carry.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Weights to bind by name onto the model's graph (`--weights`).
    pub weights: Option<PathBuf>,
}

/// An imported model.
#[derive(Debug)]
pub struct Imported {
    /// The graph, verified.
    pub graph: Graph,
    /// The format it was read from.
    pub format: Format,
    /// What the importer did and found, for the report.
    pub notes: ImportNotes,
}

/// Which format `path` holds.
pub fn detect(path: &Path) -> Result<Format, FrontendError> {
    let meta = std::fs::metadata(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    if meta.is_dir() {
        return Err(FrontendError::decode(path, "is a folder, expected a model file"));
    }
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("onnx") => Ok(Format::Onnx),
        Some("om") => Ok(Format::Om),
        Some("air") => Ok(Format::Air),
        _ => Err(FrontendError::decode(path, "unknown model format (senetc reads .onnx, .om, .air)")),
    }
}

/// Read an `.om` or `.air` file senetc wrote (`None` for other formats): the GE model, which
/// `inspect` describes.
pub fn read_ascend(path: &Path) -> Result<Option<senetc_om::AscendModel>, FrontendError> {
    let format = detect(path)?;
    if !matches!(format, Format::Om | Format::Air) {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    let m = if format == Format::Om { senetc_om::read_om(&bytes) } else { senetc_om::read_air(&bytes) };
    m.map(Some).map_err(|e| FrontendError::decode(path, e.to_string()))
}

/// Import the model at `path`.
pub fn import(path: &Path, options: &ImportOptions) -> Result<Imported, FrontendError> {
    let format = detect(path)?;
    let (graph, notes) = match format {
        Format::Onnx => senetc_onnx::import(path)?,
        Format::Om | Format::Air => {
            let m = read_ascend(path)?.ok_or_else(|| FrontendError::decode(path, "not an Ascend model"))?;
            let g = m.to_graph().map_err(|e| FrontendError::decode(path, e.to_string()))?;
            senetc_ir::verify(&g).map_err(|e| FrontendError::decode(path, e.to_string()))?;
            (g, ImportNotes::default())
        }
    };
    let _ = options;
    Ok(Imported { graph, format, notes })
}

/// [`import`] with default options, keeping only the graph.
pub fn import_graph(path: &Path) -> Result<Graph, FrontendError> {
    Ok(import(path, &ImportOptions::default())?.graph)
}

/// The ONNX importer, for callers that import from memory.
pub use senetc_onnx as onnx;

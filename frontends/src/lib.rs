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
    /// MindSpore MindIR (2.x `mind_ir.ModelProto`, or the ONNX-shaped layout of 1.x).
    MindIr,
}

impl Format {
    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::MindIr => "mindir",
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
        Some("mindir") => Ok(Format::MindIr),
        _ => {
            // No known extension (old MindSpore versions write none): look at the content.
            let bytes = senetc_import::files::map_file(path).map_err(|e| FrontendError::decode(path, e))?;
            if senetc_mindir::sniff(bytes.bytes()) {
                Ok(Format::MindIr)
            } else {
                Err(FrontendError::decode(path, "unknown model format (senetc reads .onnx, .mindir, .om, .air)"))
            }
        }
    }
}

/// Import the model at `path`.
pub fn import(path: &Path, options: &ImportOptions) -> Result<Imported, FrontendError> {
    let format = detect(path)?;
    let (graph, notes) = match format {
        Format::Onnx => senetc_onnx::import(path)?,
        Format::MindIr => senetc_mindir::import(path)?,
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

/// The MindIR importer, for callers that import from memory.
pub use senetc_mindir as mindir;

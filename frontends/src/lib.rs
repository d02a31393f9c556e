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
    /// A torch.save file (zip archive or legacy stream): weights, bound onto `--arch`.
    Torch,
    /// safetensors: weights, bound onto `--arch`.
    Safetensors,
    /// MindSpore MindIR (2.x `mind_ir.ModelProto`, or the ONNX-shaped layout of 1.x).
    MindIr,
}

impl Format {
    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::Om => "om",
            Format::Air => "air",
            Format::Torch => "torch",
            Format::Safetensors => "safetensors",
            Format::MindIr => "mindir",
        }
    }
}

/// Settings of an import that the model file does not carry.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Weights to bind by name onto the model's graph (`--weights`): onto an ONNX model's
    /// initializers, or the weights file itself when `arch` builds the graph.
    pub weights: Option<PathBuf>,
    /// The architecture to build from a weights file (`--arch`; empty asks for the list).
    pub arch: Option<String>,
    /// Input height and width of an architecture's graph (default: the architecture's).
    pub input_size: Option<[usize; 2]>,
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

/// Which format `path` holds: torch.save files and safetensors by content (whatever their
/// name: `checkpoint-10.pth.rar` is a torch file), ONNX by its extension.
pub fn detect(path: &Path) -> Result<Format, FrontendError> {
    let meta = std::fs::metadata(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    if meta.is_dir() {
        return Err(FrontendError::decode(path, "is a folder, expected a model file"));
    }
    match senetc_torch::sniff_file(path)? {
        Some(senetc_torch::Kind::Zip | senetc_torch::Kind::Legacy) => return Ok(Format::Torch),
        Some(senetc_torch::Kind::Safetensors) => return Ok(Format::Safetensors),
        None => {}
    }
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("onnx") => Ok(Format::Onnx),
        Some("om") => Ok(Format::Om),
        Some("air") => Ok(Format::Air),
        Some("mindir") => Ok(Format::MindIr),
        _ => {
            // No known extension (old MindSpore versions write none): look at the content.
            let bytes = senetc_import::files::map_file(path).map_err(|e| FrontendError::decode(path, e))?;
            if senetc_mindir::sniff(bytes.bytes()) {
                Ok(Format::MindIr)
            } else {
                Err(FrontendError::decode(path, "unknown model format (senetc reads .onnx, torch.save files, safetensors, .mindir, .om, .air)"))
            }
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
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
        Format::Onnx => {
            if options.arch.is_some() {
                return Err(FrontendError::decode(path, "is an ONNX model, which has its own graph: --arch builds one for a weights file (to put retrained weights onto this graph, give them with --weights)"));
            }
            let (mut g, mut notes) = senetc_onnx::import(path)?;
            if let Some(w) = &options.weights {
                senetc_torch::bind_onto(&mut g, w, &mut notes)?;
            }
            (g, notes)
        }
        Format::Torch | Format::Safetensors => {
            if let Some(w) = options.weights.as_deref().filter(|w| !same_file(w, path)) {
                return Err(FrontendError::decode(path, format!("is a weights file; --weights {} would be a second one (give one weights file, with --arch)", w.display())));
            }
            senetc_torch::import(path, &senetc_torch::Options { arch: options.arch.clone(), input_size: options.input_size })?
        }
        Format::Om | Format::Air => {
            if options.arch.is_some() || options.weights.is_some() {
                return Err(FrontendError::decode(path, "--arch and --weights apply to ONNX models and weights files, not to Ascend models"));
            }
            let m = read_ascend(path)?.ok_or_else(|| FrontendError::decode(path, "not an Ascend model"))?;
            let g = m.to_graph().map_err(|e| FrontendError::decode(path, e.to_string()))?;
            senetc_ir::verify(&g).map_err(|e| FrontendError::decode(path, e.to_string()))?;
            (g, ImportNotes::default())
        }
        Format::MindIr => {
            if options.arch.is_some() || options.weights.is_some() {
                return Err(FrontendError::decode(path, "--arch and --weights apply to ONNX models and weights files, not to MindIR"));
            }
            senetc_mindir::import(path)?
        }
    };
    Ok(Imported { graph, format, notes })
}

/// [`import`] with default options, keeping only the graph.
pub fn import_graph(path: &Path) -> Result<Graph, FrontendError> {
    Ok(import(path, &ImportOptions::default())?.graph)
}

/// The ONNX importer, for callers that import from memory.
pub use senetc_onnx as onnx;

/// The PyTorch weights importer (weights files, architectures, `inspect` text).
pub use senetc_torch as torch;
/// The MindIR importer, for callers that import from memory.
pub use senetc_mindir as mindir;

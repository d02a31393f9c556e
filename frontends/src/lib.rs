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
    /// TensorFlow: a TF1 `.meta` with its checkpoint, a frozen `.pb`, a SavedModel folder,
    /// or a TF2 checkpoint bound onto `--graph`.
    TensorFlow,
    /// A torch.save file (zip archive or legacy stream): weights, bound onto `--arch`.
    Torch,
    /// safetensors: weights, bound onto `--arch`.
    Safetensors,
    /// MindSpore MindIR (2.x `mind_ir.ModelProto`, or the ONNX-shaped layout of 1.x).
    MindIr,
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
            Format::TensorFlow => "tensorflow",
            Format::Torch => "torch",
            Format::Safetensors => "safetensors",
            Format::MindIr => "mindir",
            Format::Om => "om",
            Format::Air => "air",
        }
    }
}

/// Settings of an import that the model file does not carry. Each applies to some formats;
/// giving one to a format that has no use for it is an error naming the flag.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Weights to bind by name onto the model's graph (`--weights`): onto an ONNX model's
    /// initializers, or the weights file itself when `arch` builds the graph.
    pub weights: Option<PathBuf>,
    /// The architecture to build from a weights file (`--arch`; empty asks for the list).
    pub arch: Option<String>,
    /// Input height and width of an architecture's graph (default: the architecture's).
    pub input_size: Option<[usize; 2]>,
    /// Tensors to cut the graph at, becoming inputs (`--input-name NAME[:k]`; TensorFlow).
    pub input_names: Vec<String>,
    /// Tensors to output (`--output-name NAME[:k]`, ATC's `--out-nodes`; TensorFlow).
    pub output_names: Vec<String>,
    /// Input shapes by input name (`--input-shape`, -1 for a dynamic dim); binds the batch.
    pub input_shapes: Vec<(String, Vec<i64>)>,
    /// Placeholder pins (`--set NAME=VALUE`; TensorFlow).
    pub set: Vec<(String, String)>,
    /// The graph a checkpoint without one is bound onto (`--graph`; TensorFlow).
    pub graph: Option<PathBuf>,
    /// The SavedModel signature to import (`--signature`; default `serving_default`).
    pub signature: Option<String>,
    /// Variables from their ExponentialMovingAverage shadows (`--ema`; TensorFlow).
    pub ema: bool,
}

impl ImportOptions {
    /// The first flag given that `format` does not take.
    fn unused_by(&self, format: Format) -> Option<&'static str> {
        let tf = [
            ("--input-name", !self.input_names.is_empty()),
            ("--set", !self.set.is_empty()),
            ("--graph", self.graph.is_some()),
            ("--signature", self.signature.is_some()),
            ("--ema", self.ema),
        ];
        let torch = [("--arch", self.arch.is_some()), ("--input-size", self.input_size.is_some())];
        let weights = [("--weights", self.weights.is_some())];
        let unused: &[&[(&'static str, bool)]] = match format {
            Format::TensorFlow => &[&torch, &weights],
            Format::Onnx => &[&tf, &torch],
            Format::Torch | Format::Safetensors => &[&tf],
            Format::MindIr | Format::Om | Format::Air => &[&tf, &torch, &weights],
        };
        unused.iter().flat_map(|group| group.iter()).find(|(_, given)| *given).map(|(flag, _)| *flag)
    }
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
/// name: `checkpoint-10.pth.rar` is a torch file), TensorFlow checkpoints also as a prefix or
/// a folder, the others by their extension or, lacking one, by content.
pub fn detect(path: &Path) -> Result<Format, FrontendError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if path.is_file() {
        match ext.as_deref() {
            Some("onnx") => return Ok(Format::Onnx),
            Some("om") => return Ok(Format::Om),
            Some("air") => return Ok(Format::Air),
            Some("mindir") => return Ok(Format::MindIr),
            _ => {}
        }
        match senetc_torch::sniff_file(path)? {
            Some(senetc_torch::Kind::Zip | senetc_torch::Kind::Legacy) => return Ok(Format::Torch),
            Some(senetc_torch::Kind::Safetensors) => return Ok(Format::Safetensors),
            None => {}
        }
    }
    // Folders and checkpoint prefixes (which name no file themselves) too.
    if senetc_tf::recognizes(path) {
        return Ok(Format::TensorFlow);
    }
    std::fs::metadata(path).map_err(|source| FrontendError::Io { path: path.to_path_buf(), source })?;
    if path.is_file() {
        // No known extension (old MindSpore versions write none): look at the content.
        let bytes = senetc_import::files::map_file(path).map_err(|e| FrontendError::decode(path, e))?;
        if senetc_mindir::sniff(bytes.bytes()) {
            return Ok(Format::MindIr);
        }
    }
    Err(FrontendError::decode(
        path,
        "unknown model format (senetc reads .onnx; TensorFlow .meta, checkpoint prefixes and folders, frozen .pb, SavedModel folders; torch.save files and safetensors; .mindir; .om, .air)",
    ))
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
    if let Some(flag) = options.unused_by(format) {
        return Err(FrontendError::decode(path, format!("is a {} model, which {flag} does not apply to", format.name())));
    }
    let (graph, notes) = match format {
        Format::Onnx => {
            let (mut g, mut notes) = senetc_onnx::import(path)?;
            if let Some(w) = &options.weights {
                senetc_torch::bind_onto(&mut g, w, &mut notes)?;
            }
            (g, notes)
        }
        Format::TensorFlow => {
            let o = senetc_tf::TfOptions {
                input_names: options.input_names.clone(),
                output_names: options.output_names.clone(),
                input_shapes: options.input_shapes.clone(),
                set: options.set.clone(),
                graph: options.graph.clone(),
                signature: options.signature.clone(),
                ema: options.ema,
            };
            senetc_tf::import(path, &o)?
        }
        Format::Torch | Format::Safetensors => {
            if let Some(w) = options.weights.as_deref().filter(|w| !same_file(w, path)) {
                return Err(FrontendError::decode(path, format!("is a weights file; --weights {} would be a second one (give one weights file, with --arch)", w.display())));
            }
            senetc_torch::import(path, &senetc_torch::Options { arch: options.arch.clone(), input_size: options.input_size })?
        }
        Format::MindIr => senetc_mindir::import(path)?,
        Format::Om | Format::Air => {
            let m = read_ascend(path)?.ok_or_else(|| FrontendError::decode(path, "not an Ascend model"))?;
            let g = m.to_graph().map_err(|e| FrontendError::decode(path, e.to_string()))?;
            senetc_ir::verify(&g).map_err(|e| FrontendError::decode(path, e.to_string()))?;
            (g, ImportNotes::default())
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
/// The TensorFlow importer.
pub use senetc_tf as tf;
/// The PyTorch weights importer (weights files, architectures, `inspect` text).
pub use senetc_torch as torch;
/// The MindIR importer, for callers that import from memory.
pub use senetc_mindir as mindir;

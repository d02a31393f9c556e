//! senetc's PyTorch weights importer.
//!
//! - [`pickle`]: a non-executing pickle reader (protocol-2 opcode allow-list, memo, a fixed
//!   table of globals), the moral equivalent of `torch.load(weights_only=True)`;
//! - [`container`]: torch.save files, zip archives (any top folder, byte order honoured)
//!   and the legacy stream, recognised by content and mapped once;
//! - [`checkpoint`]: the state dict inside (training-checkpoint wrappers, `module.`
//!   prefixes) or the tensors of a safetensors file, as windows of the map;
//! - [`arch`]: known architectures the weights bind onto by name.
//!
//! The output is IR and nothing else.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod arch;
pub mod checkpoint;
pub mod container;
mod inspect;
pub mod pickle;

pub use checkpoint::{read as read_weights, Checkpoint};
pub use container::Kind;
pub use inspect::describe;

use senetc_import::{weights, FrontendError, ImportNotes, Problem};
use senetc_ir::{DType, Graph};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Settings of an import from a weights file.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The architecture to build (`--arch`); `None` or empty asks for the list.
    pub arch: Option<String>,
    /// Input height and width (default: the architecture's).
    pub input_size: Option<[usize; 2]>,
}

/// What `path` holds, by content: a torch.save zip archive (one with a `data.pkl` record),
/// a legacy torch.save stream, safetensors, or none of these.
pub fn sniff_file(path: &Path) -> Result<Option<Kind>, FrontendError> {
    let io = |source| FrontendError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = Vec::with_capacity(16);
    f.by_ref().take(16).read_to_end(&mut head).map_err(io)?;
    match container::sniff(&head, len) {
        Some(Kind::Zip) => {
            let map = senetc_import::files::map_file(path).map_err(|e| FrontendError::decode(path, e))?;
            senetc_import::limits::check_zip(map.bytes()).map_err(|e| FrontendError::decode(path, format!("not a readable zip archive: {e}")))?;
            let archive = zip::ZipArchive::new(f).map_err(|e| FrontendError::decode(path, format!("not a readable zip archive: {e}")))?;
            let torch = archive.file_names().any(|n| n == "data.pkl" || n.ends_with("/data.pkl"));
            Ok(torch.then_some(Kind::Zip))
        }
        k => Ok(k),
    }
}

fn fits_line(fits: &[arch::Fit]) -> String {
    match fits.first() {
        Some(f) if f.matched > 0 => format!("the file's keys fit {} best ({})", f.arch.name, f.counts()),
        _ => "the file's keys fit none of them".to_string(),
    }
}

fn names_with(path: &Path, what: &str, fits: &[arch::Fit]) -> FrontendError {
    FrontendError::decode(path, format!("{what}; senetc builds these architectures (--arch NAME):\n{}\n{}", arch::listing(), fits_line(fits)))
}

/// Build the architecture `options.arch` and bind the weights of the torch.save or
/// safetensors file at `path` onto it by name.
pub fn import(path: &Path, options: &Options) -> Result<(Graph, ImportNotes), FrontendError> {
    let ckpt = read_weights(path)?;
    let w = ckpt.weights();
    let name = options.arch.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(names_with(path, "a state dict holds no graph: choose the architecture its weights belong to with --arch NAME", &arch::fits(&w)));
    }
    let Some(a) = arch::find(name) else {
        return Err(names_with(path, &format!("unknown architecture {name:?}"), &arch::fits(&w)));
    };
    let hw = options.input_size.unwrap_or([a.input, a.input]);
    let (g, bound) = match arch::build(a, &w, hw) {
        Ok(r) => r,
        Err(mut problems) => {
            let fits = arch::fits(&w);
            if fits.first().is_some_and(|f| f.arch.name != a.name) {
                problems.push(Problem::new("", "--arch", format!("the weights do not fit {}; {}", a.name, fits_line(&fits))));
            }
            return Err(FrontendError::Unsupported { path: path.to_path_buf(), problems });
        }
    };
    let mut notes = ImportNotes::default();
    notes.notes.push(ckpt.summary());
    let ignored = w.keys().filter(|n| arch::unused_buffer(n)).count();
    notes.notes.push(format!(
        "built {} ({}) for a {}x{} input; bound {} tensors by name{}",
        a.name,
        a.naming,
        hw[0],
        hw[1],
        w.len() - ignored,
        if ignored > 0 { format!("; ignored {ignored} num_batches_tracked buffers (unused at inference)") } else { String::new() }
    ));
    conversion_notes(&bound.converted, &mut notes);
    for name in weights::non_finite(&w) {
        notes.warnings.push(format!("{}: weight {name:?} holds NaN or infinite values", path.display()));
    }
    Ok((g, notes))
}

fn conversion_notes(converted: &BTreeMap<DType, usize>, notes: &mut ImportNotes) {
    for (dt, n) in converted {
        let torch = match dt {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F64 => "float64",
            _ => dt.name(),
        };
        notes.notes.push(format!("the file held {n} {torch} tensors: converted to float32 at bind time (the graph computes in fp32; --precision-mode decides fp16 later)"));
    }
}

/// Replace the named constants of `g` (an ONNX model's initializers) by the tensors of the
/// weights file at `path`, after checking the whole set: every missing, unexpected and
/// mis-shaped tensor is reported at once.
pub fn bind_onto(g: &mut Graph, path: &Path, notes: &mut ImportNotes) -> Result<(), FrontendError> {
    let ckpt = read_weights(path)?;
    let w = ckpt.weights();
    let expected = weights::expected_of(g);
    let mut converted = BTreeMap::new();
    for (name, t) in &w {
        if expected.contains_key(name) && t.dtype() != DType::F32 && t.dtype().is_float() {
            *converted.entry(t.dtype()).or_insert(0) += 1;
        }
    }
    let n = weights::replace(g, &w, arch::unused_buffer).map_err(|problems| FrontendError::Unsupported { path: path.to_path_buf(), problems })?;
    notes.notes.push(ckpt.summary());
    notes.notes.push(format!("replaced {n} initializers by name from {}", path.display()));
    conversion_notes(&converted, notes);
    for name in weights::non_finite(&w) {
        notes.warnings.push(format!("{}: weight {name:?} holds NaN or infinite values", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

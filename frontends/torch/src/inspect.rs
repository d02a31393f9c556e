//! `senetc inspect` of a weights file: what it holds and which architecture it fits.

use crate::{arch, read_weights};
use senetc_import::FrontendError;
use std::fmt::Write;
use std::path::Path;

/// The text `senetc inspect FILE.pth|FILE.safetensors` prints: container, wrapper, every
/// tensor (name, dtype, shape, bytes) and the architectures that fit best.
pub fn describe(path: &Path) -> Result<String, FrontendError> {
    let ckpt = read_weights(path)?;
    let w = ckpt.weights();
    let mut s = String::new();
    let _ = writeln!(s, "file: {}", path.display());
    let _ = writeln!(s, "container: {}", ckpt.container);
    let _ = writeln!(s, "wrapper: {}{}", ckpt.wrapper, if ckpt.stripped_module { "; `module.` prefix (DataParallel) stripped" } else { "" });
    let bytes: usize = ckpt.entries.iter().map(|e| e.tensor.bytes().len()).sum();
    let elements: usize = ckpt.entries.iter().map(|e| e.tensor.len()).sum();
    let dtypes: Vec<String> = ckpt.dtype_counts().iter().map(|(d, n)| format!("{n} {d}")).collect();
    let _ = writeln!(s, "tensors: {} ({}), {elements} elements, {bytes} bytes", ckpt.entries.len(), dtypes.join(", "));
    let fits = arch::fits(&w);
    match fits.first() {
        Some(best) if best.matched > 0 => {
            let _ = writeln!(s, "architecture: {} [{}]", best.describe(), best.arch.naming);
            if best.wrong > 0 {
                let _ = writeln!(s, "  ({} tensors missing, mis-shaped or unexpected: `senetc compile --arch {} --weights FILE` lists them)", best.wrong, best.arch.name);
            }
            for f in fits.iter().skip(1).filter(|f| f.matched > 0).take(2) {
                let _ = writeln!(s, "  next: {}", f.describe());
            }
        }
        _ => {
            let _ = writeln!(s, "architecture: none of senetc's fits these names");
        }
    }
    let width = ckpt.entries.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(s, "{:<width$}  {:<8}  {:<18}  {:>10}", "name", "dtype", "shape", "bytes");
    for e in &ckpt.entries {
        let shape = format!("{:?}", e.tensor.shape());
        let _ = writeln!(s, "{:<width$}  {:<8}  {:<18}  {:>10}", e.name, e.file_dtype, shape, e.tensor.bytes().len());
    }
    Ok(s)
}

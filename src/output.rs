//! Atomic output: write a temporary file beside the target, then rename, so a failed
//! compile never leaves a partial file.

use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically (creating its folder if needed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Create `path` atomically from what `write` writes into it (buffered), creating its folder
/// if needed. If `write` fails, or the file cannot be completed, the temporary file is
/// removed and nothing is left at `path`; `write`'s own error is returned unchanged.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = temp_path(path);
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", path.display()))?;
    let mut out = BufWriter::new(file);
    // No fsync: the rename makes the file appear whole or not at all to every other process,
    // which is what a failed compile needs. Surviving a crash of the machine is left to the
    // OS, as compilers and linkers leave it (an fsync of a 460 MB model costs about a second).
    let result = write(&mut out).and_then(|()| {
        (|| -> std::io::Result<()> {
            out.into_inner().map_err(|e| e.into_error())?;
            std::fs::rename(&tmp, path)
        })()
        .with_context(|| format!("writing {}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

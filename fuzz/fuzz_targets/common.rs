//! What the targets share: a private scratch folder per process for the readers that take
//! several files (checkpoints, split weights, external data), and splitting one input into
//! several files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A folder of this process's own under the temp dir, made once (and emptied at start).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("senetc-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    })
}

/// A clean subfolder `name` of the scratch folder.
pub fn fresh(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch subfolder");
    d
}

/// Split `data` as `[u32 LE length][first][rest]` (the length clamped to what is there).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 4 {
        return (data, &[]);
    }
    let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let body = &data[4..];
    let n = n.min(body.len());
    body.split_at(n)
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("folder");
    }
    std::fs::write(path, bytes).expect("scratch write");
}

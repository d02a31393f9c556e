//! Model files on disk: memory maps shared by every tensor that points into them, and
//! paths named inside a model (external data, weight files) that must stay in its folder.

use senetc_ir::Storage;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Map `path` read-only. An empty file maps to an empty storage (mmap refuses length 0).
pub fn map_file(path: &Path) -> Result<Arc<dyn Storage>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
    if len == 0 {
        return Ok(Arc::new(Vec::<u8>::new()));
    }
    // Safety: the file is opened read-only and senetc never writes to it while the map
    // lives; a concurrent external writer is outside what any model loader can defend against.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("mapping {}: {e}", path.display()))?;
    Ok(Arc::new(map))
}

/// Resolve `location`, a path written inside a model, against the model's folder `dir`:
/// it must be relative, without `..`, and must not lead out of the folder through a
/// symbolic link.
pub fn inside(dir: &Path, location: &str) -> Result<PathBuf, String> {
    let rel = Path::new(location);
    if location.is_empty() || rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("{location:?} is outside the model's folder"));
    }
    let path = dir.join(rel);
    let root = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let real = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
    if !real.starts_with(&root) {
        return Err(format!("{location:?} resolves outside the model's folder (through a link)"));
    }
    Ok(real)
}

/// The files of one model's folder, each mapped once.
pub struct FolderFiles {
    dir: PathBuf,
    maps: HashMap<PathBuf, Arc<dyn Storage>>,
}

impl FolderFiles {
    /// Files named relative to `dir`, the model's folder.
    pub fn new(dir: &Path) -> FolderFiles {
        FolderFiles { dir: dir.to_path_buf(), maps: HashMap::new() }
    }

    /// The model's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mapped bytes of `location` (see [`inside`]).
    pub fn open(&mut self, location: &str) -> Result<Arc<dyn Storage>, String> {
        let real = inside(&self.dir, location)?;
        if let Some(m) = self.maps.get(&real) {
            return Ok(m.clone());
        }
        let map = map_file(&real)?;
        self.maps.insert(real, map.clone());
        Ok(map)
    }
}

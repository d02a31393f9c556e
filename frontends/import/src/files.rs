//! Model files on disk: memory maps shared by every tensor that points into them, and
//! paths named inside a model (external data, weight files) that must stay in its folder.
//!
//! A tensor read from a mapped file is a [`window`] of it that gives its pages back when the
//! tensor goes: a pass that replaces a weight (a folded batch norm, an fp16 cast) frees the
//! old bytes at once, so a compile holds about one copy of the weights, never the file's and
//! the new ones together.

use bytes::Bytes;
use senetc_ir::{Buffer, DType, Storage, Tensor};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A model file mapped read-only.
pub struct MappedFile {
    /// `None` for an empty file (mmap refuses length 0).
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Map `path` read-only. Opening errors are the OS's own (a missing file says so).
    pub fn open(path: &Path) -> std::io::Result<Arc<MappedFile>> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Arc::new(MappedFile { map: None }));
        }
        // Safety: the file is opened read-only and senetc never writes to it while the map
        // lives; a concurrent external writer is outside what any model loader can defend against.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| std::io::Error::new(e.kind(), format!("mapping failed: {e}")))?;
        Ok(Arc::new(MappedFile { map: Some(map) }))
    }

    /// Where `part`, a slice of this file's bytes, starts in it (`None` if it lies elsewhere).
    pub fn offset_of(&self, part: &[u8]) -> Option<usize> {
        let all = self.bytes();
        let start = (part.as_ptr() as usize).checked_sub(all.as_ptr() as usize)?;
        (start.checked_add(part.len())? <= all.len()).then_some(start)
    }

    /// Drop the pages that lie wholly inside `offset..offset + len` from the process's
    /// resident memory. A hint: reading them again faults them back in from the file.
    fn release(&self, offset: usize, len: usize) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            const PAGE: usize = 4096;
            let base = map.as_ptr() as usize;
            let start = (base + offset).next_multiple_of(PAGE) - base;
            let end = (base + offset + len) / PAGE * PAGE - base;
            if end > start {
                // Safety: the map is a read-only shared file mapping, so MADV_DONTNEED only
                // unmaps pages: a later read of any byte in them (another tensor's window over
                // the same bytes) faults in the file's unchanged contents. Nothing is lost.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
            }
        }
        #[cfg(not(unix))]
        let _ = (offset, len);
    }
}

impl Storage for MappedFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Map `path` read-only. An empty file maps to an empty storage.
pub fn map_file(path: &Path) -> Result<Arc<dyn Storage>, String> {
    Ok(MappedFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// The bytes `offset..offset + len` of `file` as the storage of one tensor (and its clones),
/// which releases their pages when it goes (see [`MappedFile`]); `None` if they lie outside.
pub fn window(file: &Arc<MappedFile>, offset: usize, len: usize) -> Option<Buffer> {
    let end = offset.checked_add(len)?;
    if end > file.bytes().len() {
        return None;
    }
    Buffer::window(Arc::new(Window { file: file.clone(), offset, len }), 0, len)
}

/// A tensor's bytes in a mapped file.
struct Window {
    file: Arc<MappedFile>,
    offset: usize,
    len: usize,
}

impl Storage for Window {
    fn bytes(&self) -> &[u8] {
        &self.file.bytes()[self.offset..self.offset + self.len]
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.file.release(self.offset, self.len);
    }
}

/// A [`Bytes`] over the whole of `file`, without a copy: what protobuf decoders decode
/// from, so that every `bytes` field is a slice of the map.
pub fn bytes_of(file: Arc<MappedFile>) -> Bytes {
    Bytes::from_owner(Mapped(file))
}

/// The mapped file as the owner of a [`Bytes`].
struct Mapped(Arc<MappedFile>);

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// A read-only shared byte slice as IR storage.
struct Shared(Bytes);

impl Storage for Shared {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A tensor over `raw`, sharing its bytes: a [`window`] of `file` when `raw` is a slice of
/// it (what a decoder made from [`bytes_of`] gives), else `raw` itself.
pub fn shared_tensor(dtype: DType, shape: Vec<usize>, raw: Bytes, file: Option<&Arc<MappedFile>>) -> Result<Tensor, String> {
    let len = raw.len();
    let buf = match file.and_then(|f| Some((f, f.offset_of(&raw)?))) {
        Some((f, offset)) => window(f, offset, len),
        None => Buffer::window(Arc::new(Shared(raw)), 0, len),
    };
    Tensor::new(dtype, shape, buf.ok_or("tensor window outside its file")?).map_err(|e| e.to_string())
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
    maps: HashMap<PathBuf, Arc<MappedFile>>,
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

    /// The mapped file `location` (see [`inside`]); its tensors are [`window`]s of it.
    pub fn open(&mut self, location: &str) -> Result<Arc<MappedFile>, String> {
        let real = inside(&self.dir, location)?;
        if let Some(m) = self.maps.get(&real) {
            return Ok(m.clone());
        }
        let map = MappedFile::open(&real).map_err(|e| format!("{}: {e}", real.display()))?;
        self.maps.insert(real, map.clone());
        Ok(map)
    }
}

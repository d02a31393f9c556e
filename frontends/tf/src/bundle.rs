//! Tensor bundles (TensorFlow's V2 checkpoint format): `<prefix>.index`, an SSTable of
//! `BundleEntryProto`s by tensor name (the empty key holds the `BundleHeaderProto`), and
//! `<prefix>.data-NNNNN-of-MMMMM` shards holding the raw bytes. Shards are memory-mapped
//! and tensors point into the maps without a copy; every tensor's masked crc32c is checked
//! when the bundle is opened, so a corrupt or truncated file is an error naming the file
//! and the tensor before anything is built from it.

use crate::proto::{BundleEntryProto, BundleHeaderProto};
use crate::sstable;
use prost::Message;
use senetc_import::files::map_file;
use senetc_import::FrontendError;
use senetc_ir::{Buffer, DType, Storage, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// TensorFlow's `DataType` code to an IR element type (ref types, +100, are the same).
pub fn dtype(code: i32) -> Option<DType> {
    Some(match code % 100 {
        1 => DType::F32,
        2 => DType::F64,
        3 => DType::I32,
        4 => DType::U8,
        6 => DType::I8,
        9 => DType::I64,
        10 => DType::Bool,
        14 => DType::BF16,
        19 => DType::F16,
        _ => return None,
    })
}

/// TensorFlow's name of a `DataType` code, for messages.
pub fn dtype_name(code: i32) -> String {
    crate::proto::DataType::try_from(code % 100).map_or_else(|_| format!("dtype {code}"), |d| d.as_str_name().trim_start_matches("DT_").to_lowercase())
}

/// One opened checkpoint.
pub struct Bundle {
    prefix: PathBuf,
    entries: BTreeMap<String, BundleEntryProto>,
    shards: Vec<(PathBuf, Arc<dyn Storage>)>,
}

/// The file names of a bundle with prefix `prefix`.
pub fn index_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".index")
}

/// `path` with `suffix` appended to its last component.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Bundle {
    /// Open the bundle at `prefix`: read the index, map the shards, check every tensor.
    pub fn open(prefix: &Path) -> Result<Bundle, FrontendError> {
        let index = index_path(prefix);
        let bytes = std::fs::read(&index).map_err(|source| FrontendError::Io { path: index.clone(), source })?;
        let bad = |msg: String| FrontendError::decode(&index, msg);
        let table = sstable::read_table(&bytes).map_err(bad)?;
        let mut header = None;
        let mut entries = BTreeMap::new();
        for (k, v) in table {
            if k.is_empty() {
                header = Some(BundleHeaderProto::decode(v.as_slice()).map_err(|e| bad(format!("bad bundle header: {e}")))?);
                continue;
            }
            let name = String::from_utf8(k).map_err(|_| bad("a tensor name is not UTF-8".into()))?;
            let e = BundleEntryProto::decode(v.as_slice()).map_err(|e| bad(format!("tensor {name:?}: bad entry: {e}")))?;
            entries.insert(name, e);
        }
        let header = header.ok_or_else(|| bad("no bundle header (the empty key): not a TensorFlow V2 checkpoint index".into()))?;
        if header.endianness != 0 {
            return Err(bad("the checkpoint was written big-endian, which senetc does not read".into()));
        }
        let n = usize::try_from(header.num_shards).ok().filter(|n| (1..100_000).contains(n)).ok_or_else(|| bad(format!("bad shard count {}", header.num_shards)))?;
        let mut shards = Vec::with_capacity(n);
        for i in 0..n {
            let path = with_suffix(prefix, &format!(".data-{i:05}-of-{n:05}"));
            if !entries.values().any(|e| e.shard_id as usize == i && e.size > 0) {
                shards.push((path, Arc::new(Vec::<u8>::new()) as Arc<dyn Storage>));
                continue;
            }
            let map = map_file(&path).map_err(|msg| FrontendError::decode(&path, format!("checkpoint data shard {i} of {n}: {msg}")))?;
            shards.push((path, map));
        }
        let b = Bundle { prefix: prefix.to_path_buf(), entries, shards };
        for (name, e) in &b.entries {
            b.check(name, e)?;
        }
        Ok(b)
    }

    /// Where `name`'s bytes lie, checked against the shard's size and checksum.
    fn check(&self, name: &str, e: &BundleEntryProto) -> Result<(), FrontendError> {
        let index = index_path(&self.prefix);
        if !e.slices.is_empty() {
            return Err(FrontendError::decode(&index, format!("tensor {name:?} is a partitioned variable ({} slices), which senetc does not read", e.slices.len())));
        }
        let shard = usize::try_from(e.shard_id).ok().and_then(|s| self.shards.get(s));
        let Some((path, data)) = shard else {
            return Err(FrontendError::decode(&index, format!("tensor {name:?} names data shard {} of {}", e.shard_id, self.shards.len())));
        };
        let (off, size) = (e.offset, e.size);
        let range = usize::try_from(off).ok().zip(usize::try_from(size).ok()).and_then(|(o, s)| Some((o, o.checked_add(s)?)));
        let bytes = data.bytes();
        let Some((start, end)) = range.filter(|&(_, end)| end <= bytes.len()) else {
            return Err(FrontendError::decode(
                path,
                format!("tensor {name:?} (offset {off}, {size} bytes) lies past the end of the file ({} bytes): truncated", bytes.len()),
            ));
        };
        let raw = &bytes[start..end];
        let actual = if e.dtype % 100 == 7 {
            let n = senetc_import::limits::numel(&self.shape(name).unwrap_or_default()).unwrap_or(usize::MAX);
            string_crc(raw, n).ok_or_else(|| FrontendError::decode(path, format!("string tensor {name:?} (offset {off}, {size} bytes) is malformed")))?
        } else {
            sstable::mask(crc32c::crc32c(raw))
        };
        if actual != e.crc32c {
            return Err(FrontendError::decode(
                path,
                format!("tensor {name:?} (offset {off}, {size} bytes): crc32c mismatch (stored {:#010x}, computed {actual:#010x}): the file is corrupt", e.crc32c),
            ));
        }
        Ok(())
    }

    /// The bundle's prefix.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bundle holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the bundle holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let e = self.entries.get(name)?;
        e.shape.as_ref().map_or(Some(vec![]), |s| s.dim.iter().map(|d| usize::try_from(d.size).ok()).collect())
    }

    /// The tensor `name`, pointing into the mapped shard.
    pub fn tensor(&self, name: &str) -> Result<Tensor, String> {
        let e = self.entries.get(name).ok_or_else(|| format!("the checkpoint has no tensor {name:?}"))?;
        let dt = dtype(e.dtype).ok_or_else(|| format!("checkpoint tensor {name:?} has type {}, which senetc does not read", dtype_name(e.dtype)))?;
        let shape = self.shape(name).ok_or_else(|| format!("checkpoint tensor {name:?} has a negative dim"))?;
        let (_, data) = &self.shards[e.shard_id as usize];
        let buf = Buffer::window(data.clone(), e.offset as usize, e.size as usize).ok_or_else(|| format!("checkpoint tensor {name:?} lies outside its shard"))?;
        Tensor::new(dt, shape, buf).map_err(|err| format!("checkpoint tensor {name:?}: {err}"))
    }

    /// The elements of the string tensor `name` (varint lengths, a masked crc of them,
    /// then the bytes, as the bundle writer stores strings).
    pub fn strings(&self, name: &str) -> Result<Vec<Vec<u8>>, String> {
        let e = self.entries.get(name).ok_or_else(|| format!("the checkpoint has no tensor {name:?}"))?;
        if e.dtype % 100 != 7 {
            return Err(format!("checkpoint tensor {name:?} is not a string tensor"));
        }
        let bad = || format!("checkpoint string tensor {name:?} is malformed");
        let n = senetc_import::limits::numel(&self.shape(name).unwrap_or_default()).map_err(|e| format!("checkpoint string tensor {name:?}: {e}"))?;
        let (_, data) = &self.shards[e.shard_id as usize];
        let bytes = usize::try_from(e.offset).ok().zip(usize::try_from(e.size).ok()).and_then(|(o, s)| data.bytes().get(o..o.checked_add(s)?)).ok_or_else(bad)?;
        // Every element takes at least one byte (its length).
        if n > bytes.len() {
            return Err(bad());
        }
        let mut pos = 0;
        let mut lens = Vec::with_capacity(n);
        for _ in 0..n {
            lens.push(sstable::varint(bytes, &mut pos, 10).ok_or_else(bad)? as usize);
        }
        pos += 4;
        let mut out = Vec::with_capacity(n);
        for l in lens {
            let end = pos.checked_add(l).filter(|&e| e <= bytes.len()).ok_or_else(bad)?;
            out.push(bytes[pos..end].to_vec());
            pos = end;
        }
        Ok(out)
    }

    /// The data shard files.
    pub fn shard_paths(&self) -> impl Iterator<Item = &Path> {
        self.shards.iter().map(|(p, _)| p.as_path())
    }
}

/// The masked checksum of a string tensor of `n` elements as the bundle writer computes
/// it: each length as a little-endian u32 (u64 past 4 GiB), not as the varints stored, then
/// the stored masked checksum of the lengths, then the bytes.
fn string_crc(raw: &[u8], n: usize) -> Option<u32> {
    let mut pos = 0;
    let mut crc = 0u32;
    for _ in 0..n {
        let len = sstable::varint(raw, &mut pos, 10)?;
        crc = match u32::try_from(len) {
            Ok(l) => crc32c::crc32c_append(crc, &l.to_le_bytes()),
            Err(_) => crc32c::crc32c_append(crc, &len.to_le_bytes()),
        };
    }
    let stored = raw.get(pos..pos + 4)?;
    if u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]) != sstable::mask(crc) {
        return Some(!sstable::mask(crc));
    }
    crc = crc32c::crc32c_append(crc, stored);
    Some(sstable::mask(crc32c::crc32c_append(crc, &raw[pos + 4..])))
}

/// The checkpoint state file (`checkpoint`, a text proto) in `dir`: the prefixes it lists,
/// latest first. Paths may be absolute and stale (written on the training machine), so each
/// is also tried as a file name beside the state file.
pub fn checkpoint_state(dir: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(dir.join("checkpoint")).ok()?;
    let mut latest = None;
    let mut all = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let Some(v) = unquote(value.trim()) else { continue };
        match key.trim() {
            "model_checkpoint_path" => latest = Some(v),
            "all_model_checkpoint_paths" => all.push(v),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for p in latest.into_iter().chain(all.into_iter().rev()) {
        let path = PathBuf::from(&p);
        let candidates = [if path.is_absolute() { path.clone() } else { dir.join(&path) }, dir.join(path.file_name().unwrap_or_default())];
        for c in candidates {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    Some(out)
}

/// A text-format string literal (double quotes, C escapes).
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1)?;
        i += 2;
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match b.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                v as u8
            }
            other => other,
        });
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SE-ResNet eval checkpoint rewritten as 3 shards with a snappy-compressed index
    /// reads back tensor for tensor; a missing shard is an error naming it.
    #[test]
    fn sharded_bundles_read_like_one() {
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tf/seresnet_cifar_d29_narrow/eval_ckpt/model.ckpt");
        let one = Bundle::open(&prefix).unwrap();
        let table = sstable::read_table(&std::fs::read(index_path(&prefix)).unwrap()).unwrap();
        let dir = std::env::temp_dir().join(format!("senetc-tf-shards-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p2 = dir.join("model.ckpt-7");
        let mut shards = vec![Vec::new(); 3];
        let mut entries = Vec::new();
        for (i, (k, v)) in table.iter().enumerate() {
            if k.is_empty() {
                let mut h = BundleHeaderProto::decode(v.as_slice()).unwrap();
                h.num_shards = 3;
                entries.push((k.clone(), h.encode_to_vec()));
                continue;
            }
            let mut e = BundleEntryProto::decode(v.as_slice()).unwrap();
            let s = i % 3;
            e.shard_id = s as i32;
            e.offset = shards[s].len() as i64;
            shards[s].extend_from_slice(one.tensor(std::str::from_utf8(k).unwrap()).unwrap().bytes());
            entries.push((k.clone(), e.encode_to_vec()));
        }
        for (s, bytes) in shards.iter().enumerate() {
            std::fs::write(with_suffix(&p2, &format!(".data-{s:05}-of-00003")), bytes).unwrap();
        }
        let refs: Vec<(&[u8], &[u8])> = entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        std::fs::write(index_path(&p2), sstable::tests::write_table(&refs, true)).unwrap();
        let three = Bundle::open(&p2).unwrap();
        assert_eq!(three.shard_paths().count(), 3);
        assert_eq!(three.len(), one.len());
        for name in one.names() {
            assert_eq!(three.tensor(name).unwrap(), one.tensor(name).unwrap(), "{name}");
        }
        std::fs::remove_file(with_suffix(&p2, ".data-00001-of-00003")).unwrap();
        let e = Bundle::open(&p2).err().unwrap().to_string();
        assert!(e.contains("model.ckpt-7.data-00001-of-00003") && e.contains("data shard 1 of 3"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn state_file_paths_fall_back_to_the_folder() {
        let dir = std::env::temp_dir().join(format!("senetc-tf-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("checkpoint"), "model_checkpoint_path: \"/home/train/run1/model.ckpt\"\nall_model_checkpoint_paths: \"/home/train/run1/model.ckpt\"\n").unwrap();
        let c = checkpoint_state(&dir).unwrap();
        assert_eq!(c, vec![PathBuf::from("/home/train/run1/model.ckpt"), dir.join("model.ckpt")]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(unquote(r#""a\"b\\c\101""#).as_deref(), Some("a\"b\\cA"));
    }
}

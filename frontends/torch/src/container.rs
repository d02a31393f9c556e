//! torch.save files: the zip archive (torch >= 1.6) and the legacy stream of pickles,
//! recognised by content. The file is mapped once; every storage is a window of the map,
//! so a contiguous tensor is a window too and nothing is read until something uses it.

use crate::pickle::{self, PickleError, StorageRef, StorageType, TensorRef, Value};
use senetc_ir::{Buffer, DType, Storage, Tensor};
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

/// The magic number every legacy torch file starts with (the first pickle's value).
pub const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A zip archive (a torch.save file if it holds `data.pkl`).
    Zip,
    /// A legacy torch.save stream.
    Legacy,
    /// safetensors.
    Safetensors,
}

/// Recognise a file by its first bytes (at least 16) and its length.
pub fn sniff(head: &[u8], file_len: u64) -> Option<Kind> {
    if head.starts_with(b"PK\x03\x04") {
        return Some(Kind::Zip);
    }
    // PROTO 2, LONG1 of 10 bytes: the magic number.
    if head.len() >= 14 && head[..4] == [0x80, 0x02, 0x8a, 0x0a] && head[4..14] == LEGACY_MAGIC {
        return Some(Kind::Legacy);
    }
    if head.len() >= 9 {
        let n = u64::from_le_bytes([head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7]]);
        if head[8] == b'{' && n >= 2 && n.checked_add(8).is_some_and(|e| e <= file_len) {
            return Some(Kind::Safetensors);
        }
    }
    None
}

/// Where a storage's bytes are: a window of the mapped file.
#[derive(Clone)]
struct Region {
    start: usize,
    len: usize,
}

/// A torch.save file read up to its pickle: the root value and the storages it names.
pub struct TorchFile {
    map: Arc<dyn Storage>,
    /// The unpickled root object.
    pub root: Value,
    storages: HashMap<String, Region>,
    big_endian: bool,
    /// "zip (top folder `model/`)" or "legacy".
    pub container: String,
}

/// Why a torch file was refused: the message says what and where; `hint` adds what to do.
#[derive(Debug)]
pub struct Refusal {
    /// What is wrong, with the spot (member, opcode and offset, global).
    pub msg: String,
}

impl Refusal {
    fn new(msg: impl Into<String>) -> Refusal {
        Refusal { msg: msg.into() }
    }
}

const SAVE_INSTEAD: &str = "save the weights with torch.save(model.state_dict(), PATH) and compile them with --arch, or export the model to ONNX";

/// Explain a refused pickle: the unknown global, with what the file most likely is.
fn pickle_refusal(member: &str, e: PickleError, data: &[u8], start: usize) -> Refusal {
    match &e {
        PickleError::Global { module, .. } => {
            let globals = pickle::scan_globals(data, start);
            let whole_model = globals.iter().any(|(m, _)| m.starts_with("torch.nn.modules") || m == "__main__");
            let what = if whole_model || module.starts_with("torch.nn.modules") {
                format!("this is a whole pickled model (torch.save(model)), not a state dict: {SAVE_INSTEAD}")
            } else {
                "senetc reads tensors, storages and plain containers only and never runs code from a file (torch.load(weights_only=True) refuses it too)".to_string()
            };
            Refusal::new(format!("{member}: {e}: {what}"))
        }
        PickleError::Invalid { .. } => Refusal::new(format!("{member}: {e}")),
    }
}

impl TorchFile {
    /// Read a zip torch.save archive mapped in `map`.
    pub fn zip(map: Arc<dyn Storage>) -> Result<TorchFile, Refusal> {
        let bytes = map.bytes();
        senetc_import::limits::check_zip(bytes).map_err(|e| Refusal::new(format!("not a readable zip archive: {e}")))?;
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Refusal::new(format!("not a readable zip archive: {e}")))?;
        let mut members: HashMap<String, (Region, bool)> = HashMap::new();
        let mut prefix: Option<String> = None;
        for i in 0..archive.len() {
            let f = archive.by_index_raw(i).map_err(|e| Refusal::new(format!("zip member {i}: {e}")))?;
            let name = String::from_utf8_lossy(f.name_raw()).into_owned();
            // torch's own reader takes the archive's folder from the first member's name.
            let p = prefix.get_or_insert_with(|| name.find('/').map_or(String::new(), |i| name[..=i].to_string())).clone();
            let Some(rel) = name.strip_prefix(p.as_str()) else { continue };
            let start = usize::try_from(f.data_start()).map_err(|_| Refusal::new(format!("zip member {name}: offset too large")))?;
            let len = usize::try_from(f.compressed_size()).map_err(|_| Refusal::new(format!("zip member {name}: size too large")))?;
            if start.checked_add(len).is_none_or(|e| e > bytes.len()) {
                return Err(Refusal::new(format!("zip member {name} lies outside the file")));
            }
            let stored = f.compression() == zip::CompressionMethod::Stored;
            members.insert(rel.to_string(), (Region { start, len }, stored));
        }
        let prefix = prefix.unwrap_or_default();
        if members.keys().any(|k| k.starts_with("code/")) || members.contains_key("constants.pkl") {
            return Err(Refusal::new(format!(
                "is a TorchScript archive (torch.jit.save: `{prefix}code/`, `constants.pkl`), not a state dict; senetc does not run TorchScript code: {SAVE_INSTEAD}"
            )));
        }
        let member = |name: &str| -> Result<&[u8], Refusal> {
            let (r, stored) = members.get(name).ok_or_else(|| Refusal::new(format!("zip archive has no `{prefix}{name}` record: not a torch.save file")))?;
            if !stored {
                return Err(Refusal::new(format!("`{prefix}{name}` is compressed (torch.save stores records uncompressed)")));
            }
            Ok(&bytes[r.start..r.start + r.len])
        };
        let pkl = member("data.pkl")?;
        let big_endian = match members.get("byteorder") {
            None => false,
            Some(_) => match member("byteorder")? {
                b"little" => false,
                b"big" => true,
                other => return Err(Refusal::new(format!("`{prefix}byteorder` is {:?}, expected \"little\" or \"big\"", String::from_utf8_lossy(other)))),
            },
        };
        let mut storages = HashMap::new();
        for (name, (r, stored)) in &members {
            if let Some(key) = name.strip_prefix("data/") {
                if !stored {
                    return Err(Refusal::new(format!("storage `{prefix}{name}` is compressed (torch.save stores records uncompressed)")));
                }
                storages.insert(key.to_string(), r.clone());
            }
        }
        let label = format!("{prefix}data.pkl");
        let mut pid = |v: &Value| -> Result<Value, String> {
            let s = pickle::storage_from_pid(v)?;
            if !storages.contains_key(&*s.key) {
                return Err(format!("storage {:?} has no `{prefix}data/{}` record", s.key, s.key));
            }
            Ok(Value::Storage(std::rc::Rc::new(s)))
        };
        let (root, _) = pickle::load(pkl, 0, &mut pid).map_err(|e| pickle_refusal(&label, e, pkl, 0))?;
        let container = format!("torch zip archive (folder `{}`){}", prefix.trim_end_matches('/'), if big_endian { ", big-endian" } else { "" });
        Ok(TorchFile { map, root, storages, big_endian, container })
    }

    /// Read a legacy torch.save stream mapped in `map`: magic, protocol, system info, the
    /// main pickle, the storage keys, then each storage as an int64 count and raw bytes.
    pub fn legacy(map: Arc<dyn Storage>) -> Result<TorchFile, Refusal> {
        let bytes = map.bytes();
        let mut no_pid = |_: &Value| -> Result<Value, String> { Err("persistent id in a header pickle".into()) };
        let (magic, pos) = pickle::load(bytes, 0, &mut no_pid).map_err(|e| pickle_refusal("legacy header", e, bytes, 0))?;
        if !matches!(&magic, Value::BigInt(b) if **b == LEGACY_MAGIC) {
            return Err(Refusal::new("not a torch.save file (wrong magic number)"));
        }
        let (proto, pos) = pickle::load(bytes, pos, &mut no_pid).map_err(|e| pickle_refusal("legacy header", e, bytes, pos))?;
        if !matches!(proto, Value::Int(1001)) {
            let shown = if let Value::Int(i) = proto { i.to_string() } else { format!("a {}", proto.kind()) };
            return Err(Refusal::new(format!("legacy protocol {shown}, expected 1001")));
        }
        let info_at = pos;
        let (info, pos) = pickle::load(bytes, pos, &mut no_pid).map_err(|e| pickle_refusal("legacy system info", e, bytes, info_at))?;
        let mut big_endian = false;
        if let Value::Dict(d) = &info {
            for (k, v) in d.borrow().iter() {
                if k.as_str() == Some("little_endian") {
                    big_endian = matches!(v, Value::Bool(false));
                }
            }
        }
        let mut types: HashMap<String, StorageType> = HashMap::new();
        let main_at = pos;
        let mut pid = |v: &Value| -> Result<Value, String> {
            let s = pickle::storage_from_pid(v)?;
            if let Some(&t) = types.get(&*s.key) {
                if t != s.dtype {
                    return Err(format!("storage {:?} is named with two types", s.key));
                }
            }
            types.insert(s.key.to_string(), s.dtype);
            Ok(Value::Storage(std::rc::Rc::new(s)))
        };
        let (root, pos) = pickle::load(bytes, main_at, &mut pid).map_err(|e| pickle_refusal("main pickle", e, bytes, main_at))?;
        let keys_at = pos;
        let (keys, mut pos) = pickle::load(bytes, keys_at, &mut no_pid).map_err(|e| pickle_refusal("storage key list", e, bytes, keys_at))?;
        let Value::List(keys) = &keys else { return Err(Refusal::new(format!("storage key list at offset {keys_at} is a {}", keys.kind()))) };
        let mut storages = HashMap::new();
        for k in keys.borrow().iter() {
            let key = k.as_str().ok_or_else(|| Refusal::new(format!("storage key of type {}", k.kind())))?;
            let dtype = *types.get(key).ok_or_else(|| Refusal::new(format!("storage {key:?} is listed but no tensor names it")))?;
            let head = bytes.get(pos..pos + 8).ok_or_else(|| Refusal::new(format!("file ends before storage {key:?} (offset {pos})")))?;
            let mut n8 = [0u8; 8];
            n8.copy_from_slice(head);
            let n = if big_endian { i64::from_be_bytes(n8) } else { i64::from_le_bytes(n8) };
            let len = usize::try_from(n).ok().and_then(|n| n.checked_mul(dtype.size())).ok_or_else(|| Refusal::new(format!("storage {key:?} at offset {pos} has a bad element count {n}")))?;
            let start = pos + 8;
            if start.checked_add(len).is_none_or(|e| e > bytes.len()) {
                return Err(Refusal::new(format!("storage {key:?} ({n} elements at offset {start}) runs past the end of the file")));
            }
            storages.insert(key.to_string(), Region { start, len });
            pos = start + len;
        }
        let container = format!("legacy torch.save stream (pre-1.6 format{})", if big_endian { ", big-endian" } else { "" });
        Ok(TorchFile { map, root, storages, big_endian, container })
    }

    /// The IR tensor behind a tensor record: a window of the file when its elements are
    /// contiguous (and little-endian), a copy otherwise.
    pub fn tensor(&self, t: &TensorRef) -> Result<Tensor, String> {
        materialize(&self.map, self.region(&t.storage)?, t, self.big_endian)
    }

    fn region(&self, s: &StorageRef) -> Result<(usize, usize), String> {
        let r = self.storages.get(&*s.key).ok_or_else(|| format!("storage {:?} is missing", s.key))?;
        let es = s.dtype.size();
        let have = r.len / es;
        let end = s.offset.checked_add(s.numel).ok_or("storage view overflows")?;
        if end > have {
            return Err(format!("storage {:?} holds {have} {} elements, the file declares {end}", s.key, s.dtype.torch_name()));
        }
        Ok((r.start + s.offset * es, s.numel))
    }
}

/// The IR element type torch's storage type maps to (int16 is widened to int32, which
/// the IR has).
pub fn ir_dtype(t: StorageType) -> DType {
    match t {
        StorageType::Float => DType::F32,
        StorageType::Half => DType::F16,
        StorageType::BFloat16 => DType::BF16,
        StorageType::Double => DType::F64,
        StorageType::Long => DType::I64,
        StorageType::Int | StorageType::Short => DType::I32,
        StorageType::Byte => DType::U8,
        StorageType::Char => DType::I8,
        StorageType::Bool => DType::Bool,
    }
}

/// Build a tensor from a strided view of `numel` storage elements at byte `start`.
fn materialize(map: &Arc<dyn Storage>, (start, numel): (usize, usize), t: &TensorRef, big_endian: bool) -> Result<Tensor, String> {
    let dt = t.storage.dtype;
    let es = dt.size();
    let count = t.size.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("tensor size overflows")?;
    let shape = t.size.clone();
    if count > 0 {
        let last = t.size.iter().zip(&t.stride).try_fold(t.offset, |a, (&d, &s)| (d - 1).checked_mul(s).and_then(|x| x.checked_add(a))).ok_or("tensor extent overflows")?;
        if last >= numel {
            return Err(format!("tensor {:?} at offset {} reaches element {last} of a storage of {numel}", t.size, t.offset));
        }
    }
    let mut expect = 1usize;
    let mut contiguous = true;
    for (&d, &s) in t.size.iter().zip(&t.stride).rev() {
        if d != 1 && s != expect {
            contiguous = false;
        }
        expect = expect.saturating_mul(d);
    }
    let widen = dt == StorageType::Short;
    if contiguous && !big_endian && !widen {
        let buf = Buffer::window(map.clone(), start + t.offset * es, count * es).ok_or("tensor lies outside the file")?;
        return Tensor::new(ir_dtype(dt), shape, buf).map_err(|e| e.to_string());
    }
    let bytes = map.bytes();
    let out_es = if widen { 4 } else { es };
    // A view repeats storage elements only through zero strides; its copy must stay near
    // the file's size (a stride-0 view of 2^40 elements is refused, not allocated).
    let need = count.checked_mul(out_es).ok_or("tensor size overflows")?;
    senetc_import::limits::check_copy(need, bytes.len(), &format!("tensor view {:?} with strides {:?}", t.size, t.stride))?;
    let mut out = Vec::with_capacity(need);
    let mut idx = vec![0usize; t.size.len()];
    for _ in 0..count {
        let el = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        let at = start + el * es;
        let mut v: Vec<u8> = bytes[at..at + es].to_vec();
        if big_endian {
            v.reverse();
        }
        if widen {
            let x = i16::from_le_bytes([v[0], v[1]]) as i32;
            out.extend_from_slice(&x.to_le_bytes());
        } else {
            out.extend_from_slice(&v);
        }
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.size[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Tensor::from_bytes(ir_dtype(dt), shape, out).map_err(|e| e.to_string())
}

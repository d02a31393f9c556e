//! The weights a file holds: the state dict found in a torch.save file (directly, or
//! under `state_dict`, `model` or `net` of a training checkpoint, optimizer state beside it
//! ignored), with DataParallel's `module.` prefix stripped; or the tensors of a
//! safetensors file. Tensors keep the file's order and point into its map.

use crate::container::{self, Kind, TorchFile};
use crate::pickle::{TensorRef, Value};
use senetc_import::files::map_file;
use senetc_import::weights::WeightMap;
use senetc_import::FrontendError;
use senetc_ir::{Buffer, DType, Storage, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// Keys of a training checkpoint under which the state dict may sit, in the order they
/// are tried.
pub const WRAPPER_KEYS: &[&str] = &["state_dict", "model", "net"];

/// DataParallel / DistributedDataParallel's key prefix.
const MODULE_PREFIX: &str = "module.";

/// One tensor of the file.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its name, after unwrapping.
    pub name: String,
    /// Its values (a window of the file, or a copy for strided views).
    pub tensor: Tensor,
    /// torch's name of the element type the file holds (`float16`...).
    pub file_dtype: &'static str,
}

/// The weights of one file.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The file.
    pub path: PathBuf,
    /// The container: zip archive, legacy stream or safetensors.
    pub container: String,
    /// Where the state dict was in the file.
    pub wrapper: String,
    /// Whether `module.` was stripped from every name.
    pub stripped_module: bool,
    /// The tensors, in file order.
    pub entries: Vec<Entry>,
}

impl Checkpoint {
    /// The tensors by name.
    pub fn weights(&self) -> WeightMap {
        self.entries.iter().map(|e| (e.name.clone(), e.tensor.clone())).collect()
    }

    /// How many tensors of each file element type.
    pub fn dtype_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for e in &self.entries {
            *m.entry(e.file_dtype).or_insert(0) += 1;
        }
        m
    }

    /// One line for the report: where the weights came from.
    pub fn summary(&self) -> String {
        let dtypes: Vec<String> = self.dtype_counts().iter().map(|(d, n)| format!("{n} {d}")).collect();
        format!(
            "{}: {}, {}{}; {} tensors ({})",
            self.path.display(),
            self.container,
            self.wrapper,
            if self.stripped_module { ", `module.` prefix (DataParallel) stripped" } else { "" },
            self.entries.len(),
            dtypes.join(", ")
        )
    }
}

/// Read the weights of a torch.save or safetensors file, recognised by content.
pub fn read(path: &Path) -> Result<Checkpoint, FrontendError> {
    let map = map_file(path).map_err(|e| FrontendError::decode(path, e))?;
    let bytes = map.bytes();
    let head = &bytes[..bytes.len().min(16)];
    match container::sniff(head, bytes.len() as u64) {
        Some(Kind::Zip) => from_torch(path, TorchFile::zip(map.clone())),
        Some(Kind::Legacy) => from_torch(path, TorchFile::legacy(map.clone())),
        Some(Kind::Safetensors) => safetensors(path, map.clone()),
        None => Err(FrontendError::decode(path, "is neither a torch.save file (zip or legacy) nor safetensors")),
    }
}

fn from_torch(path: &Path, file: Result<TorchFile, container::Refusal>) -> Result<Checkpoint, FrontendError> {
    let file = file.map_err(|r| FrontendError::decode(path, r.msg))?;
    let (found, wrapper) = state_dict(&file.root).map_err(|m| FrontendError::decode(path, m))?;
    let (names, stripped_module) = strip_module(found.iter().map(|(n, _)| n.clone()).collect());
    let mut entries = Vec::with_capacity(found.len());
    for (name, (_, t)) in names.into_iter().zip(&found) {
        let tensor = file.tensor(t).map_err(|m| FrontendError::decode(path, format!("tensor {name:?}: {m}")))?;
        entries.push(Entry { name, tensor, file_dtype: t.storage.dtype.torch_name() });
    }
    Ok(Checkpoint { path: path.to_path_buf(), container: file.container.clone(), wrapper, stripped_module, entries })
}

/// Tensor records by name, in file order.
type Named = Vec<(String, Rc<TensorRef>)>;

/// A dict of string keys to tensors (an OrderedDict state dict).
fn tensor_dict(v: &Value) -> Option<Named> {
    let Value::Dict(d) = v else { return None };
    let d = d.borrow();
    if d.is_empty() {
        return None;
    }
    d.iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), t.clone())),
            _ => None,
        })
        .collect()
}

/// The state dict in a file's root object, and how it was found.
fn state_dict(root: &Value) -> Result<(Named, String), String> {
    if let Some(sd) = tensor_dict(root) {
        return Ok((sd, "a state dict".into()));
    }
    let Value::Dict(d) = root else {
        return Err(format!("holds a {}, not a state dict (torch.save(model.state_dict(), PATH) writes one)", root.kind()));
    };
    let d = d.borrow();
    let keys: Vec<String> = d.iter().map(|(k, _)| k.as_str().map_or_else(|| format!("<{}>", k.kind()), |s| format!("'{s}'"))).collect();
    for want in WRAPPER_KEYS {
        if let Some((_, v)) = d.iter().find(|(k, _)| k.as_str() == Some(want)) {
            if let Some(sd) = tensor_dict(v) {
                return Ok((sd, format!("the state dict under '{want}' of a dict with keys {}", keys.join(", "))));
            }
        }
    }
    Err(format!(
        "holds a dict with keys {} but no state dict: senetc takes a state dict, or a checkpoint dict with one under {}",
        keys.join(", "),
        WRAPPER_KEYS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
    ))
}

/// Strip `module.` when every name carries it.
fn strip_module(names: Vec<String>) -> (Vec<String>, bool) {
    if !names.is_empty() && names.iter().all(|n| n.starts_with(MODULE_PREFIX)) {
        (names.into_iter().map(|n| n[MODULE_PREFIX.len()..].to_string()).collect(), true)
    } else {
        (names, false)
    }
}

fn safetensors(path: &Path, map: Arc<dyn Storage>) -> Result<Checkpoint, FrontendError> {
    use safetensors::Dtype;
    let bytes = map.bytes();
    let (n, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| FrontendError::decode(path, format!("not a valid safetensors file: {e}")))?;
    let base = 8 + n;
    let names = meta.offset_keys();
    let (names_out, stripped_module) = strip_module(names.clone());
    let mut entries = Vec::with_capacity(names.len());
    for (name, out_name) in names.iter().zip(names_out) {
        let info = meta.info(name).ok_or_else(|| FrontendError::decode(path, format!("tensor {name:?} has no header entry")))?;
        let (dt, file_dtype) = match info.dtype {
            Dtype::F32 => (DType::F32, "float32"),
            Dtype::F16 => (DType::F16, "float16"),
            Dtype::BF16 => (DType::BF16, "bfloat16"),
            Dtype::F64 => (DType::F64, "float64"),
            Dtype::I64 => (DType::I64, "int64"),
            Dtype::I32 => (DType::I32, "int32"),
            Dtype::I16 => (DType::I32, "int16"),
            Dtype::U8 => (DType::U8, "uint8"),
            Dtype::I8 => (DType::I8, "int8"),
            Dtype::BOOL => (DType::Bool, "bool"),
            other => return Err(FrontendError::decode(path, format!("tensor {name:?} has element type {other:?}, which senetc does not read"))),
        };
        let (b, e) = info.data_offsets;
        let tensor = if info.dtype == Dtype::I16 {
            let raw = bytes.get(base + b..base + e).ok_or_else(|| FrontendError::decode(path, format!("tensor {name:?} lies outside the file")))?;
            let wide: Vec<u8> = raw.chunks_exact(2).flat_map(|c| (i16::from_le_bytes([c[0], c[1]]) as i32).to_le_bytes()).collect();
            Tensor::from_bytes(dt, info.shape.clone(), wide)
        } else {
            let buf = Buffer::window(map.clone(), base + b, e - b).ok_or_else(|| FrontendError::decode(path, format!("tensor {name:?} lies outside the file")))?;
            Tensor::new(dt, info.shape.clone(), buf)
        }
        .map_err(|e| FrontendError::decode(path, format!("tensor {name:?}: {e}")))?;
        entries.push(Entry { name: out_name, tensor, file_dtype });
    }
    let wrapper = match meta.metadata() {
        Some(m) if !m.is_empty() => {
            let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            kv.sort();
            format!("tensors by name (metadata {})", kv.join(", "))
        }
        _ => "tensors by name".into(),
    };
    Ok(Checkpoint { path: path.to_path_buf(), container: "safetensors".into(), wrapper, stripped_module, entries })
}

//! TensorProto to IR tensors, including external data files.

use crate::proto::TensorProto;
use senetc_import::files::{FolderFiles, MappedFile};
use senetc_ir::{DType, Tensor};
use std::sync::Arc;

/// `TensorProto.data_location` of a tensor whose bytes are in another file.
const EXTERNAL: i32 = 1;

pub use senetc_import::dtype_of_onnx_code as dtype;

/// Convert a TensorProto, taking its raw bytes without copying them (a window of `file`, the
/// mapped model, when they are a slice of it).
pub fn convert(t: &mut TensorProto, ext: &mut FolderFiles, file: Option<&Arc<MappedFile>>) -> Result<Tensor, String> {
    let dt = dtype(t.data_type).ok_or_else(|| format!("unsupported tensor data type {}", t.data_type))?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| format!("negative dim {d}"))?);
    }
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("tensor shape overflows")?;
    let want = n.checked_mul(dt.size()).ok_or("tensor shape overflows")?;
    if t.data_location == EXTERNAL {
        let mut location = None;
        let mut offset = 0usize;
        let mut length = None;
        for kv in &t.external_data {
            match kv.key.as_str() {
                "location" => location = Some(kv.value.clone()),
                "offset" => offset = kv.value.parse().map_err(|_| format!("bad external offset {:?}", kv.value))?,
                "length" => length = Some(kv.value.parse::<usize>().map_err(|_| format!("bad external length {:?}", kv.value))?),
                _ => {}
            }
        }
        let location = location.ok_or("external data without a location")?;
        let len = length.unwrap_or(want);
        if len != want {
            return Err(format!("external data length {len} but {dt}{shape:?} needs {want} bytes"));
        }
        let storage = ext.open(&location).map_err(|e| format!("external data: {e}"))?;
        let buf = senetc_import::files::window(&storage, offset, len)
            .ok_or_else(|| format!("external data {location:?} is shorter than offset {offset} + length {len}"))?;
        return Tensor::new(dt, shape, buf).map_err(|e| e.to_string());
    }
    if !t.raw_data.is_empty() || n == 0 {
        let raw = std::mem::take(&mut t.raw_data);
        if raw.len() != want {
            return Err(format!("tensor {:?} holds {} bytes but {dt}{shape:?} needs {want}", t.name, raw.len()));
        }
        return senetc_import::files::shared_tensor(dt, shape, raw, file);
    }
    let bytes: Vec<u8> = match dt {
        DType::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F64 => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 | DType::BF16 => t.int32_data.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
        DType::I8 | DType::U8 | DType::Bool => t.int32_data.iter().map(|&v| v as u8).collect(),
    };
    if bytes.len() != want {
        return Err(format!("tensor {:?} holds {} bytes but {dt}{shape:?} needs {want}", t.name, bytes.len()));
    }
    Tensor::from_bytes(dt, shape, bytes).map_err(|e| e.to_string())
}

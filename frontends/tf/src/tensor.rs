//! `TensorProto` (Const values, PlaceholderWithDefault defaults) to IR tensors: the raw
//! `tensor_content` bytes are taken without a copy; the typed `*_val` fields are read too,
//! with one value broadcast to the whole shape as TensorFlow does.

use crate::bundle::{dtype, dtype_name};
use crate::proto::TensorProto;
use senetc_ir::{Buffer, DType, Storage, Tensor};
use std::sync::Arc;

/// Bytes shared with the protobuf buffer they were decoded from.
struct SharedBytes(bytes::Bytes);

impl Storage for SharedBytes {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The tensor a `TensorProto` holds.
pub fn convert(t: &TensorProto) -> Result<Tensor, String> {
    let dt = dtype(t.dtype).ok_or_else(|| format!("constants of type {} are not supported", dtype_name(t.dtype)))?;
    let shape: Vec<usize> = match &t.tensor_shape {
        None => vec![],
        Some(s) if s.unknown_rank => return Err("constant of unknown rank".into()),
        Some(s) => s.dim.iter().map(|d| usize::try_from(d.size).map_err(|_| format!("negative dim {} in a constant", d.size))).collect::<Result<_, _>>()?,
    };
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("constant shape overflows")?;
    let bytes = n.checked_mul(dt.size()).ok_or("constant shape overflows")?;
    if !t.tensor_content.is_empty() {
        if t.tensor_content.len() != bytes {
            return Err(format!("constant {dt}{shape:?} needs {bytes} bytes, tensor_content has {}", t.tensor_content.len()));
        }
        let owner: Arc<dyn Storage> = Arc::new(SharedBytes(t.tensor_content.clone()));
        let buf = Buffer::window(owner, 0, bytes).ok_or("tensor_content out of range")?;
        return Tensor::new(dt, shape, buf).map_err(|e| e.to_string());
    }
    // Typed values: little-endian bytes of each element, the last one repeated.
    let vals: Vec<Vec<u8>> = match dt {
        DType::F32 => t.float_val.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
        DType::F64 => t.double_val.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
        DType::F16 | DType::BF16 => t.half_val.iter().map(|v| (*v as u16).to_le_bytes().to_vec()).collect(),
        DType::I32 => t.int_val.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
        DType::I8 | DType::U8 => t.int_val.iter().map(|v| vec![*v as u8]).collect(),
        DType::I64 => t.int64_val.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
        DType::Bool => t.bool_val.iter().map(|v| vec![u8::from(*v)]).collect(),
    };
    if vals.len() > n {
        return Err(format!("constant {dt}{shape:?} has {} values", vals.len()));
    }
    let mut out = Vec::with_capacity(bytes);
    let zero = vec![0u8; dt.size()];
    for i in 0..n {
        out.extend_from_slice(vals.get(i).or(vals.last()).unwrap_or(&zero));
    }
    Tensor::from_bytes(dt, shape, out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{tensor_shape_proto::Dim, TensorShapeProto};

    fn shape(d: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto { dim: d.iter().map(|&size| Dim { size, name: String::new() }).collect(), unknown_rank: false })
    }

    #[test]
    fn typed_values_broadcast_and_content_is_shared() {
        let t = TensorProto { dtype: 1, tensor_shape: shape(&[2, 2]), float_val: vec![0.5], ..Default::default() };
        assert_eq!(convert(&t).unwrap().to_f32().as_ref(), &[0.5; 4]);
        let t = TensorProto { dtype: 3, tensor_shape: shape(&[3]), int_val: vec![1, 2, 3], ..Default::default() };
        assert_eq!(convert(&t).unwrap().to_i64(), [1, 2, 3]);
        let t = TensorProto { dtype: 10, tensor_shape: shape(&[]), bool_val: vec![true], ..Default::default() };
        assert_eq!(convert(&t).unwrap().to_i64(), [1]);
        let content = bytes::Bytes::from(vec![0u8, 0, 128, 63, 0, 0, 0, 64]);
        let t = TensorProto { dtype: 1, tensor_shape: shape(&[2]), tensor_content: content, ..Default::default() };
        assert_eq!(convert(&t).unwrap().to_f32().as_ref(), &[1.0, 2.0]);
        let t = TensorProto { dtype: 1, tensor_shape: shape(&[3]), tensor_content: bytes::Bytes::from(vec![0u8; 8]), ..Default::default() };
        assert!(convert(&t).is_err());
        let t = TensorProto { dtype: 7, ..Default::default() };
        assert!(convert(&t).unwrap_err().contains("string"));
    }
}

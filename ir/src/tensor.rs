//! Constant tensors. Weight bytes are shared, never copied: a [`Tensor`] points into a
//! reference-counted buffer that owns the bytes the frontend read (or a memory map of an
//! external data file), so cloning a tensor or the graph that holds it is cheap.

use crate::{DType, IrError};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Anything that owns bytes a tensor can point into.
pub trait Storage: Send + Sync {
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl Storage for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Storage for memmap2::Mmap {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A shared window into a [`Storage`].
#[derive(Clone)]
pub struct Buffer {
    owner: Arc<dyn Storage>,
    offset: usize,
    len: usize,
}

impl Buffer {
    /// Take ownership of `bytes` (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> Buffer {
        let len = bytes.len();
        Buffer { owner: Arc::new(bytes), offset: 0, len }
    }
    /// A window `offset..offset+len` of a shared storage; `None` if it lies outside.
    pub fn window(owner: Arc<dyn Storage>, offset: usize, len: usize) -> Option<Buffer> {
        let end = offset.checked_add(len)?;
        (end <= owner.bytes().len()).then_some(Buffer { owner, offset, len })
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.owner.bytes()[self.offset..self.offset + self.len]
    }
}

/// A dense constant tensor, little-endian, row-major.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Buffer,
}

impl Tensor {
    /// A tensor over `data`; fails if the byte count does not match the shape.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Buffer) -> Result<Tensor, IrError> {
        let want = shape.iter().try_fold(dtype.size(), |a, &d| a.checked_mul(d));
        if want != Some(data.len) {
            let want = want.map_or("more than usize::MAX".to_string(), |w| w.to_string());
            return Err(IrError::Tensor(format!(
                "{dtype}{shape:?} needs {want} bytes, got {}",
                data.len
            )));
        }
        Ok(Tensor { dtype, shape, data })
    }
    /// A tensor from raw little-endian bytes.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<Tensor, IrError> {
        Tensor::new(dtype, shape, Buffer::from_vec(bytes))
    }
    /// An f32 tensor.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Tensor {
        let bytes = bytemuck::cast_slice::<f32, u8>(values).to_vec();
        Tensor::from_bytes(DType::F32, shape, bytes).expect("shape and values agree")
    }
    /// An i64 tensor.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Tensor {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_bytes(DType::I64, shape, bytes).expect("shape and values agree")
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Static shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Raw bytes.
    pub fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }
    /// The same bytes under another shape with the same element count.
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Tensor, IrError> {
        Tensor::new(self.dtype, shape, self.data.clone())
    }

    /// Values as f32, converting from any numeric type; borrows when the bytes are f32 and aligned.
    pub fn to_f32(&self) -> Cow<'_, [f32]> {
        let b = self.bytes();
        match self.dtype {
            DType::F32 => match bytemuck::try_cast_slice::<u8, f32>(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => Cow::Owned(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            },
            DType::F16 => Cow::Owned(
                b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            ),
            DType::BF16 => Cow::Owned(
                b.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            ),
            _ => Cow::Owned(self.to_f64().into_iter().map(|v| v as f32).collect()),
        }
    }

    /// Values as f64, converting from any type.
    pub fn to_f64(&self) -> Vec<f64> {
        let b = self.bytes();
        match self.dtype {
            DType::F64 => b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            DType::F32 | DType::F16 | DType::BF16 => self.to_f32().iter().map(|&v| v as f64).collect(),
            DType::I64 => self.to_i64().into_iter().map(|v| v as f64).collect(),
            DType::I32 => b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
            DType::I8 => b.iter().map(|&v| v as i8 as f64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&v| v as f64).collect(),
        }
    }

    /// Values as i64 (integers exactly, floats truncated toward zero).
    pub fn to_i64(&self) -> Vec<i64> {
        let b = self.bytes();
        match self.dtype {
            DType::I64 => b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            DType::I32 => b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
            DType::I8 => b.iter().map(|&v| v as i8 as i64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&v| v as i64).collect(),
            _ => self.to_f64().into_iter().map(|v| v as i64).collect(),
        }
    }

    /// The tensor converted to `dtype` (a new buffer unless it already has that type).
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype {
            return self.clone();
        }
        let shape = self.shape.clone();
        let bytes: Vec<u8> = match dtype {
            DType::F32 => {
                let mut out = vec![0u8; self.len() * 4];
                for (d, v) in out.chunks_exact_mut(4).zip(self.to_f32().iter()) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
                out
            }
            DType::F16 | DType::BF16 => {
                let src = self.to_f32();
                let mut out = vec![0u8; src.len() * 2];
                // `half`'s slice conversions round exactly as its `from_f32` does, with
                // vector instructions where the CPU has them; they need aligned output.
                // Chunks convert in parallel: each element on its own, so any split gives the same bytes.
                use half::slice::HalfFloatSliceExt;
                use rayon::prelude::*;
                const CHUNK: usize = 1 << 16;
                match bytemuck::try_cast_slice_mut::<u8, u16>(&mut out) {
                    Ok(o) if dtype == DType::F16 => bytemuck::cast_slice_mut::<u16, half::f16>(o)
                        .par_chunks_mut(CHUNK)
                        .zip(src.par_chunks(CHUNK))
                        .for_each(|(o, s)| o.convert_from_f32_slice(s)),
                    Ok(o) => bytemuck::cast_slice_mut::<u16, half::bf16>(o).par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(o, s)| o.convert_from_f32_slice(s)),
                    Err(_) => {
                        for (d, &v) in out.chunks_exact_mut(2).zip(src.iter()) {
                            let b = if dtype == DType::F16 { half::f16::from_f32(v).to_le_bytes() } else { half::bf16::from_f32(v).to_le_bytes() };
                            d.copy_from_slice(&b);
                        }
                    }
                }
                out
            }
            DType::F64 => self.to_f64().into_iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 => self.to_i64().into_iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I32 => self.to_i64().into_iter().flat_map(|v| (v as i32).to_le_bytes()).collect(),
            DType::I8 => self.to_i64().into_iter().map(|v| v as i8 as u8).collect(),
            DType::U8 => self.to_i64().into_iter().map(|v| v as u8).collect(),
            DType::Bool => self.to_f64().into_iter().map(|v| u8::from(v != 0.0)).collect(),
        };
        Tensor::from_bytes(dtype, shape, bytes).expect("cast keeps the element count")
    }

    /// A stable 64-bit FNV-1a hash of dtype, shape and bytes: what the text format prints
    /// in place of weight values.
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(self.dtype.name().as_bytes());
        for d in &self.shape {
            h.write(&(*d as u64).to_le_bytes());
        }
        h.write(self.bytes());
        h.0
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({}{:?} #{:016x})", self.dtype, self.shape, self.content_hash())
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype && self.shape == other.shape && self.bytes() == other.bytes()
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

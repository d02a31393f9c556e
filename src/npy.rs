//! NumPy `.npy` and `.npz` files to and from IR tensors.
//!
//! Reads format versions 1.0 to 3.0, little- and big-endian, C and Fortran order; `.npz`
//! archives stored or deflated. Writes version 1.0, C order, little-endian; bf16 (which
//! numpy lacks) is written as f4.

use senetc_ir::{DType, Tensor};
use std::io::Read;
use std::path::Path;

/// Why a NumPy file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a well-formed file.
    #[error("{what}: {msg}")]
    Format {
        /// The file (or archive entry).
        what: String,
        /// What is wrong.
        msg: String,
    },
}

fn fmt_err(what: &str, msg: impl Into<String>) -> NpyError {
    NpyError::Format { what: what.to_string(), msg: msg.into() }
}

/// Read a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io { path: path.display().to_string(), source })?;
    read_npy_bytes(&bytes, &path.display().to_string())
}

/// Parse `.npy` bytes; `what` names them in errors.
pub fn read_npy_bytes(bytes: &[u8], what: &str) -> Result<Tensor, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fmt_err(what, "not a .npy file (bad magic)"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(fmt_err(what, format!("unsupported .npy version {v}"))),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| fmt_err(what, "truncated header"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| fmt_err(what, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| fmt_err(what, "header has no 'descr'"))?;
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| fmt_err(what, "header has no 'fortran_order'"))?;
    let shape_txt = dict_value(header, "shape").ok_or_else(|| fmt_err(what, "header has no 'shape'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (dtype, big_endian) = parse_descr(descr).ok_or_else(|| fmt_err(what, format!("unsupported dtype {descr:?}")))?;
    let shape = parse_shape(shape_txt).ok_or_else(|| fmt_err(what, format!("bad shape {shape_txt:?}")))?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| fmt_err(what, "shape overflows"))?;
    let nbytes = count.checked_mul(dtype.size()).ok_or_else(|| fmt_err(what, "shape overflows"))?;
    let data = &bytes[end..];
    if data.len() != nbytes {
        return Err(fmt_err(what, format!("data holds {} bytes, shape {shape:?} of {dtype} needs {nbytes}", data.len())));
    }
    let mut data = data.to_vec();
    if big_endian && dtype.size() > 1 {
        for chunk in data.chunks_exact_mut(dtype.size()) {
            chunk.reverse();
        }
    }
    if fortran.trim() == "True" && shape.len() > 1 {
        data = fortran_to_c(&data, &shape, dtype.size());
    }
    Tensor::from_bytes(dtype, shape, data).map_err(|e| fmt_err(what, e.to_string()))
}

/// The text after `'key':` up to the next top-level comma or closing brace.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let at = header.find(&pat1).map(|i| i + pat1.len()).or_else(|| header.find(&pat2).map(|i| i + pat2.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..=i]);
                }
            }
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

fn parse_descr(d: &str) -> Option<(DType, bool)> {
    let (order, code) = match d.chars().next()? {
        '<' | '=' | '|' => (false, &d[1..]),
        '>' => (true, &d[1..]),
        _ => (false, d),
    };
    let dt = match code {
        "f4" => DType::F32,
        "f2" => DType::F16,
        "f8" => DType::F64,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "b1" => DType::Bool,
        _ => return None,
    };
    Some((dt, order))
}

fn parse_shape(s: &str) -> Option<Vec<usize>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|p| p.trim_end_matches('L').parse().ok()).collect()
}

fn fortran_to_c(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let rank = shape.len();
    let mut out = vec![0u8; data.len()];
    let mut idx = vec![0usize; rank];
    for c in 0..n {
        // idx is the C-order multi-index of element c; its Fortran offset reads the source.
        let mut f = 0;
        let mut stride = 1;
        for d in 0..rank {
            f += idx[d] * stride;
            stride *= shape[d];
        }
        out[c * size..(c + 1) * size].copy_from_slice(&data[f * size..(f + 1) * size]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Read every array of a `.npz` archive, in archive order, names without `.npy`.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>, NpyError> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| NpyError::Io { path: what.clone(), source })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| fmt_err(&what, format!("not a .npz archive: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| fmt_err(&what, e.to_string()))?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| fmt_err(&what, format!("entry {name:?}: {e}")))?;
        out.push((name.clone(), read_npy_bytes(&bytes, &format!("{what}:{name}"))?));
    }
    Ok(out)
}

/// The `.npy` (version 1.0) bytes of a tensor.
pub fn npy_bytes(t: &Tensor) -> Vec<u8> {
    let (t, descr) = match t.dtype() {
        DType::F32 => (t.clone(), "<f4"),
        DType::F16 => (t.clone(), "<f2"),
        DType::BF16 => (t.cast(DType::F32), "<f4"),
        DType::F64 => (t.clone(), "<f8"),
        DType::I64 => (t.clone(), "<i8"),
        DType::I32 => (t.clone(), "<i4"),
        DType::I8 => (t.clone(), "|i1"),
        DType::U8 => (t.clone(), "|u1"),
        DType::Bool => (t.clone(), "|b1"),
    };
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + t.bytes().len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(t.bytes());
    out
}

/// Write a `.npy` file atomically.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), NpyError> {
    crate::output::write_atomic(path, &npy_bytes(t)).map_err(|e| NpyError::Io { path: path.display().to_string(), source: std::io::Error::other(format!("{e:#}")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        for dt in [DType::F32, DType::F16, DType::F64, DType::I64, DType::I32, DType::I8, DType::U8, DType::Bool] {
            let t = Tensor::from_i64(vec![2, 3], &[0, 1, 0, 1, 1, 0]).cast(dt);
            let back = read_npy_bytes(&npy_bytes(&t), "mem").unwrap();
            assert_eq!(back, t, "{dt}");
        }
        let s = Tensor::from_f32(vec![], &[2.5]);
        assert_eq!(read_npy_bytes(&npy_bytes(&s), "mem").unwrap(), s);
    }

    #[test]
    fn fortran_and_big_endian() {
        // numpy: np.asfortranarray(np.arange(6, dtype='>f4').reshape(2, 3))
        let mut header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }".to_string();
        header.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for v in [0f32, 3.0, 1.0, 4.0, 2.0, 5.0] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let t = read_npy_bytes(&b, "mem").unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(&*t.to_f32(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let good = npy_bytes(&Tensor::from_f32(vec![4], &[1.0, 2.0, 3.0, 4.0]));
        assert!(read_npy_bytes(b"garbage!!!!!", "m").is_err());
        assert!(read_npy_bytes(&good[..good.len() - 1], "m").is_err());
        assert!(read_npy_bytes(&good[..20], "m").is_err());
        let absurd = String::from_utf8_lossy(&good).replace("(4,)", "(99999999999999999999, 99999999999)");
        assert!(read_npy_bytes(absurd.as_bytes(), "m").is_err());
        for cut in 0..good.len() {
            let _ = read_npy_bytes(&good[..cut], "m");
        }
    }
}

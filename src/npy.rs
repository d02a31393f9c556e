//! NumPy `.npy` and `.npz` files to and from IR tensors.
//!
//! Reading accepts format versions 1.0, 2.0 and 3.0, little- and big-endian data (converted
//! to little-endian), C and Fortran order (transposed into C order), and `.npz` archives
//! whose entries are stored (`np.savez`) or deflated (`np.savez_compressed`). Supported
//! element types: `f2 f4 f8 i1 i4 i8 u1 b1`.
//!
//! Writing produces version 1.0, C order, little-endian, with the data aligned to 64 bytes
//! as numpy does. numpy has no bfloat16, so bf16 tensors are written as `<f4` (every bf16
//! value is exactly representable in f32); reading such a file back gives an f32 tensor.
//!
//! Every problem with a file's contents is an [`NpyError`], never a panic: the reader is
//! meant to be safe on arbitrary bytes.

use senetc_ir::{DType, Tensor};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;
/// Nesting limit for the header's Python literal, so hostile headers cannot overflow the stack.
const MAX_DEPTH: usize = 16;

/// Why a NumPy file could not be read or written. Every message starts with the file (or
/// `archive:entry`) it is about.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The operating system refused an operation on the file.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What was being done, e.g. "cannot read".
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a well-formed `.npy`/`.npz` file, or use something unsupported.
    #[error("{what}: {reason}")]
    Format {
        /// The file or archive entry.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The data section is not exactly as long as the header's shape and dtype require.
    #[error("{what}: data is {actual} bytes but shape {shape:?} of {dtype} needs exactly {expected}{}",
        if actual < expected { " (file truncated?)" } else { "" })]
    DataLength {
        /// The file or archive entry.
        what: String,
        /// Shape from the header.
        shape: Vec<usize>,
        /// Element type from the header.
        dtype: DType,
        /// Bytes the header calls for.
        expected: usize,
        /// Bytes present after the header.
        actual: usize,
    },
}

fn format_err(what: &str, reason: impl Into<String>) -> NpyError {
    NpyError::Format { what: what.to_string(), reason: reason.into() }
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> NpyError {
    let path = path.display().to_string();
    move |source| NpyError::Io { path, action, source }
}

/// Read a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(io_err(path, "cannot read"))?;
    read_npy_bytes(&bytes, &path.display().to_string())
}

/// Parse the bytes of a `.npy` file; `what` names them in error messages.
pub fn read_npy_bytes(bytes: &[u8], what: &str) -> Result<Tensor, NpyError> {
    let (header, end, expected) = parse_header(bytes, what)?;
    let data = &bytes[end..];
    if data.len() != expected {
        return Err(NpyError::DataLength {
            what: what.to_string(),
            shape: header.shape,
            dtype: header.dtype,
            expected,
            actual: data.len(),
        });
    }
    tensor_of(header, data, what)
}

/// The header at the start of `bytes` (which may hold only the start of a file): the
/// header, where the data starts, and how many data bytes the header calls for.
fn parse_header(bytes: &[u8], what: &str) -> Result<(Header, usize, usize), NpyError> {
    let prefix = &bytes[..bytes.len().min(MAGIC.len())];
    if prefix != &MAGIC[..prefix.len()] {
        return Err(format_err(what, "not a .npy file (bad magic; expected \\x93NUMPY)"));
    }
    let truncated = || format_err(what, format!("truncated header ({} bytes in file)", bytes.len()));
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(truncated()),
    };
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => return Err(format_err(what, format!("unsupported .npy format version {major}.{minor}"))),
    };
    let start = 8 + len_size;
    let header_len = match bytes.get(8..start) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]) as usize,
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => return Err(truncated()),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        format_err(what, format!("truncated header: it claims {header_len} bytes, the file has {}", bytes.len()))
    })?;
    let raw = &bytes[start..end];
    let header: String = if utf8 {
        std::str::from_utf8(raw).map_err(|_| format_err(what, "header is not valid UTF-8"))?.to_string()
    } else {
        // Versions 1.0 and 2.0 are latin-1, where every byte is the code point of that value.
        raw.iter().map(|&b| b as char).collect()
    };
    let header = Header::parse(&header).map_err(|reason| format_err(what, format!("bad header: {reason}")))?;
    let expected = senetc_import::limits::byte_size(&header.shape, header.dtype.size()).map_err(|e| format_err(what, e))?;
    Ok((header, end, expected))
}

/// The tensor of a header and exactly its data bytes.
fn tensor_of(header: Header, data: &[u8], what: &str) -> Result<Tensor, NpyError> {
    let size = header.dtype.size();
    let mut data = if header.fortran_order && header.shape.len() > 1 {
        fortran_to_c(data, &header.shape, size)
    } else {
        data.to_vec()
    };
    if header.big_endian && size > 1 {
        for elem in data.chunks_exact_mut(size) {
            elem.reverse();
        }
    }
    Tensor::from_bytes(header.dtype, header.shape, data).map_err(|e| format_err(what, e.to_string()))
}

/// Read every array of a `.npz` archive, in archive order, named without the `.npy` suffix.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>, NpyError> {
    read_npz_checked(path, &|_, _, _| Ok(()))
}

/// [`read_npz`], with `accept(name, dtype, shape)` asked about every array as soon as its
/// header is read, before its data is: a caller that knows what it wants (a model's
/// inputs) refuses the rest without decompressing them.
pub fn read_npz_checked(path: &Path, accept: &Accept<'_>) -> Result<Vec<(String, Tensor)>, NpyError> {
    let bytes = std::fs::read(path).map_err(io_err(path, "cannot read"))?;
    read_npz_from(&bytes, &path.display().to_string(), accept)
}

/// Whether a `.npz` array (name, dtype, shape) is wanted; the error says why not.
pub type Accept<'a> = dyn Fn(&str, DType, &[usize]) -> Result<(), String> + 'a;

/// Parse the bytes of a `.npz` archive, as [`read_npz`]; `what` names them in error messages.
pub fn read_npz_bytes(bytes: &[u8], what: &str) -> Result<Vec<(String, Tensor)>, NpyError> {
    read_npz_from(bytes, what, &|_, _, _| Ok(()))
}

/// The archive's directory is checked first (member sizes against their compressed sizes,
/// overlapping members, the entry count), then each member's npy header against its
/// declared size and `accept`, and only then is the member decompressed, never past what it
/// declares.
fn read_npz_from(bytes: &[u8], what: &str, accept: &Accept<'_>) -> Result<Vec<(String, Tensor)>, NpyError> {
    senetc_import::limits::check_zip(bytes).map_err(|e| format_err(what, format!("not a readable .npz (zip) archive: {e}")))?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format_err(what, format!("not a .npz (zip) archive: {e}")))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| format_err(what, format!("archive entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let file_name = entry.name().to_string();
        let entry_what = format!("{what}:{file_name}");
        let name = file_name.strip_suffix(".npy").unwrap_or(&file_name).to_string();
        let declared = entry.size();
        // Never read more than the entry declares, so a lying header cannot make us
        // decompress without bound.
        let mut reader = entry.take(declared.saturating_add(1));
        let decompress = |e: std::io::Error| format_err(&entry_what, format!("cannot decompress: {e}"));
        // The npy header first (at most 64 KiB: version 1 headers are shorter, numpy's
        // longer ones are rare), checked against the declared size and the caller.
        let mut bytes = Vec::new();
        (&mut reader).take(declared.min(1 << 16)).read_to_end(&mut bytes).map_err(decompress)?;
        let (header, end, expected) = parse_header(&bytes, &entry_what)?;
        if (end as u64).checked_add(expected as u64) != Some(declared) {
            return Err(format_err(&entry_what, format!("entry declares {declared} bytes but its header {:?} of {} needs {}", header.shape, header.dtype, end as u64 + expected as u64)));
        }
        accept(&name, header.dtype, &header.shape).map_err(|e| format_err(&entry_what, e))?;
        let rest = usize::try_from(declared).map_err(|_| format_err(&entry_what, "too large"))?.saturating_sub(bytes.len());
        bytes.try_reserve_exact(rest).map_err(|_| format_err(&entry_what, format!("cannot allocate {declared} bytes")))?;
        reader.read_to_end(&mut bytes).map_err(decompress)?;
        if bytes.len() as u64 != declared {
            return Err(format_err(
                &entry_what,
                format!("entry holds {} bytes but declares {declared}", bytes.len()),
            ));
        }
        out.push((name, tensor_of(header, &bytes[end..], &entry_what)?));
    }
    Ok(out)
}

/// Write a tensor to a `.npy` file atomically: the bytes go to `<path>.tmp-<pid>` in the
/// same folder (created if missing), which is then renamed over `path`. On failure the
/// temporary file is removed and `path` is untouched.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), NpyError> {
    let file_name = path.file_name().ok_or_else(|| format_err(&path.display().to_string(), "not a file path"))?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir, "cannot create folder"))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let bytes = npy_bytes(t);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp, "cannot create"))?;
        f.write_all(&bytes).map_err(io_err(&tmp, "cannot write"))?;
        f.sync_all().map_err(io_err(&tmp, "cannot write"))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path, "cannot rename temporary file into place"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The bytes of a `.npy` file holding `t`: format version 1.0 (2.0 only if the header would
/// not fit a 1.0 header, which takes a rank in the thousands), `fortran_order: False`,
/// little-endian, header padded with spaces and ended by `'\n'` so the data starts at a
/// multiple of 64 bytes. bf16 is written as `<f4`.
pub fn npy_bytes(t: &Tensor) -> Vec<u8> {
    let (descr, converted) = match t.dtype() {
        DType::F32 => ("<f4", None),
        DType::F16 => ("<f2", None),
        DType::BF16 => ("<f4", Some(t.cast(DType::F32))),
        DType::F64 => ("<f8", None),
        DType::I64 => ("<i8", None),
        DType::I32 => ("<i4", None),
        DType::I8 => ("|i1", None),
        DType::U8 => ("|u1", None),
        DType::Bool => ("|b1", None),
    };
    let t = converted.as_ref().unwrap_or(t);
    let shape = match t.shape() {
        [d] => format!("({d},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let v1_len = padded_header_len(10, dict.len());
    let (prefix_len, header_len) = if v1_len <= u16::MAX as usize { (10, v1_len) } else { (12, padded_header_len(12, dict.len())) };

    let mut out = Vec::with_capacity(prefix_len + header_len + t.bytes().len());
    out.extend_from_slice(MAGIC);
    if prefix_len == 10 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        let len = u32::try_from(header_len).expect("a .npy header over 4 GiB would need a rank over 400 million");
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix_len + header_len - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(t.bytes());
    out
}

/// Header length (dict, padding and final newline) that makes `prefix + header` a multiple
/// of [`ALIGN`].
fn padded_header_len(prefix: usize, dict: usize) -> usize {
    (prefix + dict + 1).div_ceil(ALIGN) * ALIGN - prefix
}

/// Copy Fortran-ordered (column-major) data into C (row-major) order.
fn fortran_to_c(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    if data.is_empty() {
        return out;
    }
    // Element strides of the source: the first axis varies fastest. No overflow: all dims
    // are non-zero here and their product was checked.
    let mut strides = vec![1usize; shape.len()];
    for d in 1..shape.len() {
        strides[d] = strides[d - 1] * shape[d - 1];
    }
    // Walk the C-order multi-index like an odometer, tracking the source element offset.
    let mut idx = vec![0usize; shape.len()];
    let mut src = 0usize;
    for _ in 0..data.len() / size {
        out.extend_from_slice(&data[src * size..(src + 1) * size]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            src += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
            src -= shape[d] * strides[d];
        }
    }
    out
}

/// The three entries numpy writes in a `.npy` header.
#[derive(Debug)]
struct Header {
    dtype: DType,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parse the header's Python dict literal. Keys may come in any order; unknown keys are ignored.
    fn parse(text: &str) -> Result<Header, String> {
        let mut p = Parser { s: text.as_bytes(), text, pos: 0 };
        let entries = p.dict()?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(format!("unexpected text after the dict at byte {}", p.pos));
        }
        let get = |key: &str| {
            entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| format!("no '{key}' key"))
        };
        let (dtype, big_endian) = match get("descr")? {
            Value::Str(s) => parse_descr(s)?,
            Value::Seq(_) => return Err("structured dtypes are not supported".into()),
            other => return Err(format!("'descr' must be a string, got {other:?}")),
        };
        let fortran_order = match get("fortran_order")? {
            Value::Bool(b) => *b,
            other => return Err(format!("'fortran_order' must be True or False, got {other:?}")),
        };
        let shape = match get("shape")? {
            Value::Seq(items) => items
                .iter()
                .map(|v| match v {
                    Value::Int(n) => usize::try_from(*n).map_err(|_| format!("shape dimension {n} is out of range")),
                    other => Err(format!("shape dimension must be an integer, got {other:?}")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => return Err(format!("'shape' must be a tuple, got {other:?}")),
        };
        Ok(Header { dtype, big_endian, fortran_order, shape })
    }
}

/// `descr` to an element type and whether the data is big-endian.
fn parse_descr(descr: &str) -> Result<(DType, bool), String> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (Some(c), &descr[1..]),
        _ => (None, descr),
    };
    let dtype = match code {
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "b1" | "?" => DType::Bool,
        _ => {
            return Err(format!(
                "unsupported dtype '{descr}' (supported: f2 f4 f8 i1 i4 i8 u1 b1; numpy has no bfloat16)"
            ))
        }
    };
    let big_endian = match order {
        Some('>') => true,
        Some('<') => false,
        _ if dtype.size() == 1 => false,
        // '=' means "native to the writer", which the file does not record.
        _ => return Err(format!("dtype '{descr}' does not say its byte order; expected '<{code}' or '>{code}'")),
    };
    Ok((dtype, big_endian))
}

/// A value in the header's Python literal.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    None,
    Int(i128),
    /// A tuple or a list.
    Seq(Vec<Value>),
}

/// Recursive-descent parser for the small subset of Python literals numpy headers use.
struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        match self.peek() {
            Some(got) if got == c => {
                self.pos += 1;
                Ok(())
            }
            Some(got) => Err(format!("expected '{}' at byte {}, found '{}'", c as char, self.pos, got.escape_ascii())),
            None => Err(format!("expected '{}' at byte {}, found the end", c as char, self.pos)),
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>, String> {
        self.expect(b'{')?;
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(entries);
            }
            let key = match self.value(1)? {
                Value::Str(k) => k,
                other => return Err(format!("dict key must be a string, got {other:?}")),
            };
            self.expect(b':')?;
            let value = self.value(1)?;
            entries.push((key, value));
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                self.expect(b'}')?;
                return Ok(entries);
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("header nests too deeply".into());
        }
        match self.peek() {
            None => Err("unexpected end of header".into()),
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Value::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else {
                        self.expect(close)?;
                        return Ok(Value::Seq(items));
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::None),
                    word => Err(format!("unexpected name {word:?} at byte {start}")),
                }
            }
            Some(c) => Err(format!("unexpected '{}' at byte {}", c.escape_ascii(), self.pos)),
        }
    }

    fn string(&mut self, quote: u8) -> Result<Value, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match self.s.get(self.pos) {
                None => return Err(format!("unterminated string starting at byte {start}")),
                Some(&c) if c == quote => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    return Ok(Value::Str(out));
                }
                // Good enough for the plain names numpy writes: drop the backslash, keep the next char.
                Some(b'\\') => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    let next = self.text.get(self.pos..).and_then(|s| s.chars().next());
                    let Some(ch) = next else { return Err(format!("unterminated string starting at byte {start}")) };
                    out.push(ch);
                    self.pos += ch.len_utf8();
                    run = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn int(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = self.s.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let mut n: i128 = 0;
        let mut digits = 0;
        while let Some(&c) = self.s.get(self.pos).filter(|c| c.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| format!("integer at byte {start} is too large"))?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(format!("expected digits at byte {}", self.pos));
        }
        // Python 2 wrote long integers with an `L` suffix.
        if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        if self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.') {
            return Err(format!("malformed number at byte {start}"));
        }
        Ok(Value::Int(if negative { -n } else { n }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture written by numpy (see tests/data/npy/make.py).
    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy").join(name)
    }

    fn read(name: &str) -> Tensor {
        read_npy(&data(name)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A `.npy` image with a hand-written header dict.
    fn with_header(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn f32s(t: &Tensor) -> Vec<f32> {
        t.to_f32().into_owned()
    }

    #[test]
    fn round_trip_every_dtype() {
        let values = [0i64, 1, -2, 3, 100, -128, 127, 0, 1, 5, 7, -1];
        for dt in DType::ALL {
            let base = Tensor::from_i64(vec![2, 3, 2], &values).cast(dt);
            for shape in [vec![2, 3, 2], vec![12], vec![1, 12, 1], vec![3, 0, 2]] {
                let t = if shape.contains(&0) {
                    Tensor::from_bytes(dt, shape.clone(), vec![]).unwrap()
                } else {
                    base.reshaped(shape.clone()).unwrap()
                };
                let bytes = npy_bytes(&t);
                let back = read_npy_bytes(&bytes, "mem").unwrap();
                if dt == DType::BF16 {
                    assert_eq!(back, t.cast(DType::F32), "bf16 is written as f32");
                } else {
                    assert_eq!(back, t, "{dt}{shape:?}");
                }
            }
            let scalar = Tensor::from_i64(vec![], &[1]).cast(dt);
            let back = read_npy_bytes(&npy_bytes(&scalar), "mem").unwrap();
            assert_eq!(back.shape(), &[] as &[usize]);
            assert_eq!(back.to_f64(), vec![1.0], "{dt} scalar");
        }
    }

    #[test]
    fn written_header_layout() {
        for shape in [vec![], vec![5], vec![1, 3, 32, 32], vec![1; 40]] {
            let n = shape.iter().product();
            let t = Tensor::from_bytes(DType::U8, shape.clone(), vec![9; n]).unwrap();
            let b = npy_bytes(&t);
            assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0, "{shape:?}");
            assert_eq!(b[10 + hlen - 1], b'\n');
            assert_eq!(b.len(), 10 + hlen + n);
            let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
            assert!(header.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': ("), "{header}");
        }
        let one_d = npy_bytes(&Tensor::from_f32(vec![5], &[0.0; 5]));
        assert!(String::from_utf8_lossy(&one_d).contains("'shape': (5,), }"));
        let scalar = npy_bytes(&Tensor::from_f32(vec![], &[0.0]));
        assert!(String::from_utf8_lossy(&scalar).contains("'shape': (), }"));
    }

    #[test]
    fn huge_rank_falls_back_to_version_2() {
        let t = Tensor::from_bytes(DType::I8, vec![1; 30_000], vec![42]).unwrap();
        let b = npy_bytes(&t);
        assert_eq!(&b[6..8], &[2, 0]);
        let hlen = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        assert_eq!((12 + hlen) % 64, 0);
        // numpy itself has at most 64 dims; reading refuses more before allocating.
        assert!(read_npy_bytes(&b, "mem").unwrap_err().to_string().contains("rank 30000 exceeds the limit of 64"));
        let t = Tensor::from_bytes(DType::I8, vec![1; 64], vec![42]).unwrap();
        assert_eq!(read_npy_bytes(&npy_bytes(&t), "mem").unwrap(), t);
    }

    #[test]
    fn numpy_f32_2x3() {
        let t = read("f32_2x3.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::F32, &[2, 3][..]));
        assert_eq!(f32s(&t), [1.5, -2.0, 3.25, 0.0, 4.5, -6.75]);
    }

    #[test]
    fn numpy_f64_scalar() {
        let t = read("f64_scalar.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::F64, &[][..]));
        assert_eq!(t.to_f64(), [-0.1]);
    }

    #[test]
    fn numpy_i64_1d() {
        let t = read("i64_1d.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::I64, &[5][..]));
        assert_eq!(t.to_i64(), [-3, 0, 7, i64::MAX, i64::MIN]);
    }

    #[test]
    fn numpy_bool_f16_u8() {
        let b = read("bool_2x2.npy");
        assert_eq!((b.dtype(), b.shape(), b.bytes()), (DType::Bool, &[2, 2][..], &[1, 0, 0, 1][..]));
        let h = read("f16_1d.npy");
        assert_eq!((h.dtype(), h.shape()), (DType::F16, &[3][..]));
        assert_eq!(f32s(&h), [0.5, -1.0, 65504.0]);
        let u = read("u8_1d.npy");
        assert_eq!((u.dtype(), u.shape(), u.bytes()), (DType::U8, &[3][..], &[0, 1, 255][..]));
    }

    #[test]
    fn numpy_fortran_order() {
        let t = read("fortran_2x3.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::F32, &[2, 3][..]));
        assert_eq!(f32s(&t), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let t = read("fortran_2x3x4.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::I32, &[2, 3, 4][..]));
        assert_eq!(t.to_i64(), (0..24).collect::<Vec<i64>>());
    }

    #[test]
    fn numpy_big_endian() {
        let t = read("be_f4.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::F32, &[3][..]));
        assert_eq!(f32s(&t), [1.0, -2.5, 0.375]);
        let t = read("be_fortran_i8_2x3.npy");
        assert_eq!((t.dtype(), t.shape()), (DType::I64, &[2, 3][..]));
        assert_eq!(t.to_i64(), [1, -2, 3, -4, 5, 1 << 40]);
    }

    #[test]
    fn numpy_header_versions_2_and_3() {
        for name in ["v2_i32.npy", "v3_i32.npy"] {
            let t = read(name);
            assert_eq!((t.dtype(), t.shape()), (DType::I32, &[1, 2][..]), "{name}");
            assert_eq!(t.to_i64(), [7, -8], "{name}");
        }
    }

    #[test]
    fn numpy_savez_stored() {
        let entries = read_npz(&data("savez.npz")).unwrap();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["weights", "labels"]);
        assert_eq!(entries[0].1.shape(), &[2, 2]);
        assert_eq!(f32s(&entries[0].1), [0.5, 1.5, 2.5, 3.5]);
        assert_eq!((entries[1].1.dtype(), entries[1].1.to_i64()), (DType::I64, vec![3, 1, 4]));
    }

    #[test]
    fn numpy_savez_compressed() {
        let path = data("savez_compressed.npz");
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(archive.by_index(0).unwrap().compression(), zip::CompressionMethod::Deflated);
        let entries = read_npz(&path).unwrap();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!((entries[0].1.dtype(), entries[0].1.shape()), (DType::F32, &[4, 8][..]));
        assert!(f32s(&entries[0].1).iter().all(|&v| v == 0.0));
        assert_eq!((entries[1].1.dtype(), entries[1].1.bytes()), (DType::Bool, &[1, 0, 1][..]));
    }

    #[test]
    fn shared_onnx_input_fixture() {
        let path = Path::new("/work/shared/fixtures/onnx/input_nchw.npy");
        if !path.exists() {
            println!("note: {} is missing; skipping", path.display());
            return;
        }
        let t = read_npy(path).unwrap();
        assert_eq!((t.dtype(), t.shape()), (DType::F32, &[1, 3, 32, 32][..]));
        assert!(t.to_f32().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn header_dict_variants() {
        let data = [1u8, 0, 0, 0, 2, 0, 0, 0];
        for dict in [
            "{'shape': (2,), 'fortran_order': False, 'descr': '<i4'}",
            "{ \"descr\" : \"<i4\" , \"fortran_order\":False,\"shape\":(2 ,) , }\n",
            "{'descr': '<i4', 'fortran_order': False, 'shape': [2], 'extra': None}    \n",
            "{'descr':'<i4','fortran_order':False,'shape':(2L,),}",
        ] {
            let t = read_npy_bytes(&with_header(dict, &data), "mem").unwrap_or_else(|e| panic!("{dict}: {e}"));
            assert_eq!(t.to_i64(), [1, 2], "{dict}");
        }
        // One-byte types accept any byte-order mark or none.
        for descr in ["|u1", "<u1", ">u1", "=u1", "u1"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (3,), }}");
            let t = read_npy_bytes(&with_header(&dict, &[1, 2, 3]), "mem").unwrap();
            assert_eq!((t.dtype(), t.bytes()), (DType::U8, &[1, 2, 3][..]));
        }
    }

    #[test]
    fn written_files_are_atomic_and_readable() {
        let dir = std::env::temp_dir().join(format!("senetc-npy-test-{}", std::process::id()));
        let path = dir.join("sub/out.npy");
        let t = Tensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]);
        write_npy(&path, &t).unwrap();
        assert_eq!(read_npy(&path).unwrap(), t);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("out.npy")]);
        // Renaming onto a directory fails; the temp file must not be left behind.
        let blocked = dir.join("blocked.npy");
        std::fs::create_dir_all(blocked.join("inner")).unwrap();
        let err = write_npy(&blocked, &t).unwrap_err();
        assert!(err.to_string().contains("blocked.npy"), "{err}");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().contains(".tmp-")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let good = npy_bytes(&Tensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]));
        let err = |b: &[u8]| read_npy_bytes(b, "bad.npy").unwrap_err().to_string();

        assert!(err(b"PK\x03\x04 not numpy").contains("bad magic"));
        assert!(err(b"").starts_with("bad.npy: "));
        assert!(err(&good[..9]).contains("truncated header"));
        assert!(err(&good[..40]).contains("truncated header"));
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(err(&v9).contains("version 9.0"));

        let short = err(&good[..good.len() - 3]);
        assert!(short.contains("13 bytes") && short.contains("needs exactly 16") && short.contains("truncated"), "{short}");
        let mut long = good.clone();
        long.push(0);
        assert!(err(&long).contains("17 bytes"));

        let missing = with_header("{'descr': '<f4', 'shape': (1,)}", &[0; 4]);
        assert!(err(&missing).contains("no 'fortran_order' key"));
        let missing = with_header("{'descr': '<f4', 'fortran_order': False}", &[0; 4]);
        assert!(err(&missing).contains("no 'shape' key"));
        let absurd = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}", &[]);
        assert!(err(&absurd).contains("overflows"), "{}", err(&absurd));
        let absurd = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999999999999999999999,)}", &[]);
        assert!(err(&absurd).contains("too large"));
        let negative = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", &[]);
        assert!(err(&negative).contains("out of range"));
        for (descr, want) in [("<u2", "unsupported dtype"), ("=f4", "byte order"), ("|i4", "byte order"), ("<V16", "unsupported")] {
            let b = with_header(&format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,)}}"), &[0; 4]);
            assert!(err(&b).contains(want), "{descr}");
        }
        let structured = with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", &[0; 4]);
        assert!(err(&structured).contains("structured"));
        let deep = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}}}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&with_header(&deep, &[])).contains("nests too deeply"));
        for dict in ["", "{", "{'descr'", "{'descr': '<f4", "{'descr': '<f4',, }", "['descr']", "{'a': 1} x", "{'a': Nope}", "{1: 2}"] {
            assert!(read_npy_bytes(&with_header(dict, &[]), "bad.npy").is_err(), "{dict}");
        }

        // Every prefix and every single-byte corruption of a valid file: errors, no panics.
        for cut in 0..good.len() {
            assert!(read_npy_bytes(&good[..cut], "bad.npy").is_err());
        }
        let fortran = std::fs::read(data("be_fortran_i8_2x3.npy")).unwrap();
        for i in 0..fortran.len() {
            for v in [0u8, b' ', b'(', b'9', 0xff] {
                let mut b = fortran.clone();
                b[i] = v;
                let _ = read_npy_bytes(&b, "bad.npy");
            }
        }
    }

    #[test]
    fn malformed_npz_are_errors() {
        let good = std::fs::read(data("savez_compressed.npz")).unwrap();
        assert!(read_npz_bytes(b"not a zip", "bad.npz").unwrap_err().to_string().starts_with("bad.npz: "));
        for cut in (0..good.len()).step_by(7) {
            let _ = read_npz_bytes(&good[..cut], "bad.npz");
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x5a;
            let _ = read_npz_bytes(&b, "bad.npz");
        }
        let missing = read_npz(Path::new("/nonexistent/x.npz")).unwrap_err().to_string();
        assert!(missing.starts_with("/nonexistent/x.npz: cannot read"), "{missing}");
        let missing = read_npy(Path::new("/nonexistent/x.npy")).unwrap_err().to_string();
        assert!(missing.starts_with("/nonexistent/x.npy: cannot read"), "{missing}");
    }
}

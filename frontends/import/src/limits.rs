//! What a model file may make senetc do, checked before anything is allocated from what
//! the file declares. A hostile file can only make senetc allocate about its own size plus
//! the model's real tensors: every declared size is checked against the bytes that back it,
//! element counts are multiplied with overflow checks, nesting and graph size are bounded,
//! and graph walks keep explicit stacks.
//!
//! Protobuf decoding has its own nesting limit: prost and the protobuf crate (ONNX) both
//! refuse messages nested deeper than 100.

/// Largest rank a tensor may declare.
pub const MAX_RANK: usize = 64;

/// Most nodes a graph may have (the largest real models have a few 10,000s).
pub const MAX_NODES: usize = 1 << 22;

/// Deepest nesting of containers in a pickle (torch state dicts nest a few levels).
pub const MAX_PICKLE_DEPTH: usize = 1000;

/// DEFLATE's largest expansion: 1032 output bytes per input byte (258-byte matches coded in
/// 2 bits each). A zip member that declares more than this many times its compressed size
/// is a lie, whatever it holds.
pub const DEFLATE_MAX_RATIO: u64 = 1032;

/// Snappy's largest expansion is 64 output bytes per 3 input bytes (a 2-byte-offset copy of
/// 64 bytes); rounded up.
pub const SNAPPY_MAX_RATIO: u64 = 22;

/// The number of elements of `shape`, or why it is no shape a tensor can have.
pub fn numel(shape: &[usize]) -> Result<usize, String> {
    if shape.len() > MAX_RANK {
        return Err(format!("rank {} exceeds the limit of {MAX_RANK}", shape.len()));
    }
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("shape {shape:?} overflows: its element count does not fit 64 bits"))
}

/// The bytes of a tensor of `shape` with `elem_size`-byte elements.
pub fn byte_size(shape: &[usize], elem_size: usize) -> Result<usize, String> {
    numel(shape)?.checked_mul(elem_size).ok_or_else(|| format!("shape {shape:?} overflows: its size in bytes does not fit 64 bits"))
}

/// Dims given as i64 (ONNX, TensorFlow, MindIR) as a shape: none negative.
pub fn dims(dims: &[i64]) -> Result<Vec<usize>, String> {
    if dims.len() > MAX_RANK {
        return Err(format!("rank {} exceeds the limit of {MAX_RANK}", dims.len()));
    }
    dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("negative dim {d}"))).collect()
}

/// A copy of `need` bytes made from a file of `file_len` bytes must not be more than a
/// small multiple of it (int16 widened to int32 doubles a tensor; a strided view copies at
/// most its storage).
pub fn check_copy(need: usize, file_len: usize, what: &str) -> Result<(), String> {
    let allowed = file_len.saturating_mul(2).saturating_add(1 << 20);
    if need > allowed {
        return Err(format!("{what} would expand to {need} bytes from a file of {file_len}: refused"));
    }
    Ok(())
}

/// Check a zip archive's directory before a zip reader trusts it: the entry count fits the
/// central directory, the directory lies in the file, no two members overlap (the
/// overlapping-member zip bomb) and no member declares more than DEFLATE can expand its
/// compressed bytes to. Returns the sum of the members' declared sizes.
pub fn check_zip(bytes: &[u8]) -> Result<u64, String> {
    let u16_at = |p: usize| bytes.get(p..p + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64);
    let u32_at = |p: usize| bytes.get(p..p + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
    let u64_at = |p: usize| bytes.get(p..p + 8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let len = bytes.len() as u64;
    // The end-of-central-directory record: within the last 22 + 65535 bytes.
    let lo = bytes.len().saturating_sub(22 + 0xffff);
    let eocd = (lo..bytes.len().saturating_sub(21)).rev().find(|&p| bytes[p..].starts_with(b"PK\x05\x06")).ok_or("no end of central directory: not a zip archive, or truncated")?;
    let bad = || "the central directory record is truncated".to_string();
    let (mut count, mut cd_size, mut cd_off) = (u16_at(eocd + 10).ok_or_else(bad)?, u32_at(eocd + 12).ok_or_else(bad)?, u32_at(eocd + 16).ok_or_else(bad)?);
    if count == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // Zip64: the locator just before the record points at the zip64 record.
        let loc = eocd.checked_sub(20).filter(|&p| bytes[p..].starts_with(b"PK\x06\x07")).ok_or("zip64 archive without its locator")?;
        let rec = usize::try_from(u64_at(loc + 8).ok_or_else(bad)?).map_err(|_| bad())?;
        if !bytes.get(rec..).is_some_and(|b| b.starts_with(b"PK\x06\x06")) {
            return Err("the zip64 end of central directory is missing".into());
        }
        count = u64_at(rec + 32).ok_or_else(bad)?;
        cd_size = u64_at(rec + 40).ok_or_else(bad)?;
        cd_off = u64_at(rec + 48).ok_or_else(bad)?;
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > len) {
        return Err(format!("the central directory ({cd_size} bytes at {cd_off}) lies outside the file ({len} bytes)"));
    }
    // Every directory entry is at least 46 bytes.
    if count.saturating_mul(46) > cd_size {
        return Err(format!("{count} members cannot fit a {cd_size}-byte central directory"));
    }
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    let mut p = cd_off as usize;
    for i in 0..count {
        if !bytes.get(p..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(format!("central directory entry {i} is malformed"));
        }
        let method = u16_at(p + 10).ok_or_else(bad)?;
        let mut csize = u32_at(p + 20).ok_or_else(bad)?;
        let mut usize_ = u32_at(p + 24).ok_or_else(bad)?;
        let (nlen, xlen, clen) = (u16_at(p + 28).ok_or_else(bad)? as usize, u16_at(p + 30).ok_or_else(bad)? as usize, u16_at(p + 32).ok_or_else(bad)? as usize);
        let mut local = u32_at(p + 42).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(bytes.get(p + 46..p + 46 + nlen).ok_or_else(bad)?).into_owned();
        // Zip64 extra field: the sizes and offset that overflowed, in this order.
        let mut x = p + 46 + nlen;
        let xend = x + xlen;
        while x + 4 <= xend {
            let (id, sz) = (u16_at(x).ok_or_else(bad)?, u16_at(x + 2).ok_or_else(bad)? as usize);
            if id == 1 {
                let mut f = x + 4;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == 0xffff_ffff && f + 8 <= x + 4 + sz {
                        *v = u64_at(f).ok_or_else(bad)?;
                        f += 8;
                    }
                }
            }
            x += 4 + sz;
        }
        let limit = if method == 0 { csize } else { csize.saturating_mul(DEFLATE_MAX_RATIO).saturating_add(64) };
        if usize_ > limit {
            return Err(format!("member {name:?} declares {usize_} bytes from {csize} compressed: a zip bomb"));
        }
        if local.checked_add(30).and_then(|h| h.checked_add(csize)).is_none_or(|e| e > len) {
            return Err(format!("member {name:?} ({csize} bytes at {local}) lies outside the file"));
        }
        spans.push((local, local + 30 + csize));
        total = total.saturating_add(usize_);
        p = xend + clen;
    }
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err("two members overlap (an overlapping-member zip bomb)".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_overflow_and_ranks_are_checked() {
        assert_eq!(numel(&[2, 3, 4]), Ok(24));
        assert_eq!(numel(&[]), Ok(1));
        assert!(numel(&[1 << 32, 1 << 32]).unwrap_err().contains("overflows"));
        assert!(byte_size(&[1 << 62], 4).unwrap_err().contains("overflows"));
        assert!(numel(&[1; 65]).unwrap_err().contains("rank 65"));
        assert!(dims(&[1, -1]).unwrap_err().contains("negative"));
        assert!(check_copy(100 << 20, 1 << 20, "x").is_err());
        assert!(check_copy(2 << 20, 1 << 20, "x").is_ok());
    }

    #[test]
    fn zip_directories_are_checked() {
        assert!(check_zip(b"PK\x03\x04 not really").is_err());
        assert!(check_zip(&[]).is_err());
        // An empty archive is fine.
        let empty = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(check_zip(empty), Ok(0));
        // 65535 members claimed in a 0-byte directory.
        let mut lie = empty.to_vec();
        lie[8..12].copy_from_slice(&[0xfe, 0xff, 0xfe, 0xff]);
        assert!(check_zip(&lie).unwrap_err().contains("cannot fit"));
    }
}

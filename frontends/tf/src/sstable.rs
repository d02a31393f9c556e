//! The LevelDB-format table of a tensor bundle's `.index` file: a footer pointing at an
//! index block, whose entries point at data blocks; every block ends with a compression
//! byte and a masked crc32c of its contents. Keys are prefix-compressed with restart
//! points. Uncompressed blocks (what TensorFlow writes) and snappy blocks are read; every
//! block's checksum and restart array are checked.

/// Magic number at the end of every table (little-endian u64).
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Bytes of the footer: two block handles padded to 40 bytes, then the magic.
const FOOTER: usize = 48;
/// Bytes after each block: compression type and masked crc32c.
const TRAILER: usize = 5;

/// LevelDB's crc mask: stored checksums are masked so that a crc of data holding crcs
/// does not degenerate.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// A varint at `*pos` (at most `max_bytes` long); advances `pos`.
pub fn varint(data: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..max_bytes {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn fixed32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Where a block lies in the file.
#[derive(Clone, Copy, Debug)]
struct Handle {
    offset: u64,
    size: u64,
}

impl Handle {
    fn decode(data: &[u8], pos: &mut usize) -> Option<Handle> {
        Some(Handle { offset: varint(data, pos, 10)?, size: varint(data, pos, 10)? })
    }
}

/// A table's (key, value) entries.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every (key, value) of the table at `file`, in order. The message of an error says what
/// is wrong and where (block offset); the caller adds the file name.
pub fn read_table(file: &[u8]) -> Result<Entries, String> {
    if file.len() < FOOTER {
        return Err(format!("{} bytes is too short for a table (footer is {FOOTER} bytes): truncated?", file.len()));
    }
    let footer = &file[file.len() - FOOTER..];
    let magic = u64::from(fixed32(footer, 40).unwrap_or(0)) | (u64::from(fixed32(footer, 44).unwrap_or(0)) << 32);
    if magic != MAGIC {
        return Err(format!("bad table magic {magic:#018x} (expected {MAGIC:#018x}): not a checkpoint index, or truncated"));
    }
    let mut pos = 0;
    let meta = Handle::decode(footer, &mut pos).ok_or("bad metaindex handle in the footer")?;
    let index = Handle::decode(footer, &mut pos).ok_or("bad index handle in the footer")?;
    let _ = meta; // the bundle writer leaves the metaindex empty (no filters)
    let index_block = read_block(file, index, "index block")?;
    let mut out = Vec::new();
    for (_, handle) in block_entries(&index_block).map_err(|e| format!("index block at offset {}: {e}", index.offset))? {
        let mut p = 0;
        let h = Handle::decode(&handle, &mut p).ok_or_else(|| format!("index block at offset {}: bad block handle", index.offset))?;
        let block = read_block(file, h, "data block")?;
        out.extend(block_entries(&block).map_err(|e| format!("data block at offset {}: {e}", h.offset))?);
    }
    Ok(out)
}

/// The contents of the block at `h`, checksum verified, decompressed.
fn read_block(file: &[u8], h: Handle, what: &str) -> Result<Vec<u8>, String> {
    let start = usize::try_from(h.offset).map_err(|_| format!("{what} offset {} overflows", h.offset))?;
    let size = usize::try_from(h.size).map_err(|_| format!("{what} size {} overflows", h.size))?;
    let end = start.checked_add(size).and_then(|e| e.checked_add(TRAILER)).ok_or_else(|| format!("{what} at offset {start} overflows"))?;
    if end > file.len() {
        return Err(format!("{what} at offset {start} ({size} bytes) runs past the end of the file ({} bytes): truncated?", file.len()));
    }
    let contents = &file[start..start + size];
    let kind = file[start + size];
    let stored = fixed32(file, start + size + 1).unwrap_or(0);
    let actual = mask(crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]));
    if stored != actual {
        return Err(format!("{what} at offset {start}: crc32c mismatch (stored {stored:#010x}, computed {actual:#010x}): the file is corrupt"));
    }
    match kind {
        0 => Ok(contents.to_vec()),
        1 => {
            // The declared length first: snappy cannot expand more than SNAPPY_MAX_RATIO times.
            let n = snap::raw::decompress_len(contents).map_err(|e| format!("{what} at offset {start}: bad snappy data: {e}"))?;
            if n as u64 > (size as u64).saturating_mul(senetc_import::limits::SNAPPY_MAX_RATIO) {
                return Err(format!("{what} at offset {start}: snappy block declares {n} bytes from {size}: refused"));
            }
            snap::raw::Decoder::new().decompress_vec(contents).map_err(|e| format!("{what} at offset {start}: bad snappy data: {e}"))
        }
        k => Err(format!("{what} at offset {start}: unknown compression type {k}")),
    }
}

/// The entries of one block, keys expanded; the restart array is checked.
fn block_entries(block: &[u8]) -> Result<Entries, String> {
    let n = block.len();
    let restarts = fixed32(block, n.checked_sub(4).ok_or("block shorter than its restart count")?).ok_or("block too short")? as usize;
    let data_end = n
        .checked_sub(4)
        .and_then(|x| x.checked_sub(restarts.checked_mul(4)?))
        .ok_or_else(|| format!("restart count {restarts} does not fit in a {n}-byte block"))?;
    let restart_at: Vec<usize> = (0..restarts).map(|i| fixed32(block, data_end + 4 * i).unwrap_or(u32::MAX) as usize).collect();
    if data_end == 0 {
        // An empty block (the metaindex) still has one restart point, at 0.
        return Ok(Vec::new());
    }
    if restart_at.first() != Some(&0) || restart_at.windows(2).any(|w| w[0] >= w[1]) || restart_at.iter().any(|&r| r >= data_end) {
        return Err("restart points outside the block's entries".into());
    }
    let mut out: Entries = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut next_restart = 0;
    while pos < data_end {
        let at_restart = restart_at.get(next_restart) == Some(&pos);
        if at_restart {
            next_restart += 1;
        }
        let bad = || format!("bad entry at block offset {pos}");
        let mut p = pos;
        let shared = varint(block, &mut p, 5).ok_or_else(bad)? as usize;
        let unshared = varint(block, &mut p, 5).ok_or_else(bad)? as usize;
        let vlen = varint(block, &mut p, 5).ok_or_else(bad)? as usize;
        if shared > key.len() || (at_restart && shared != 0) {
            return Err(format!("entry at block offset {pos} shares {shared} bytes with the previous key (restart point: {at_restart})"));
        }
        let kend = p.checked_add(unshared).filter(|&e| e <= data_end).ok_or_else(bad)?;
        let vend = kend.checked_add(vlen).filter(|&e| e <= data_end).ok_or_else(bad)?;
        key.truncate(shared);
        key.extend_from_slice(&block[p..kend]);
        if out.last().is_some_and(|(k, _)| *k >= key) {
            return Err(format!("keys out of order at block offset {pos}"));
        }
        out.push((key.clone(), block[kend..vend].to_vec()));
        pos = vend;
    }
    if next_restart != restart_at.len() {
        return Err("a restart point does not start an entry".into());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A table writer for the tests: one data block (optionally snappy), restart interval 2.
    pub fn write_table(entries: &[(&[u8], &[u8])], snappy: bool) -> Vec<u8> {
        fn put_varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn block(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
            let mut b = Vec::new();
            let mut restarts = Vec::new();
            let mut prev: &[u8] = &[];
            for (i, (k, v)) in entries.iter().enumerate() {
                let shared = if i % 2 == 0 { 0 } else { k.iter().zip(prev).take_while(|(a, b)| a == b).count() };
                if i % 2 == 0 {
                    restarts.push(b.len() as u32);
                }
                put_varint(&mut b, shared as u64);
                put_varint(&mut b, (k.len() - shared) as u64);
                put_varint(&mut b, v.len() as u64);
                b.extend_from_slice(&k[shared..]);
                b.extend_from_slice(v);
                prev = k;
            }
            if restarts.is_empty() {
                restarts.push(0);
            }
            for r in &restarts {
                b.extend_from_slice(&r.to_le_bytes());
            }
            b.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
            b
        }
        fn emit(file: &mut Vec<u8>, contents: &[u8], kind: u8) -> (u64, u64) {
            let off = file.len() as u64;
            file.extend_from_slice(contents);
            file.push(kind);
            let crc = mask(crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]));
            file.extend_from_slice(&crc.to_le_bytes());
            (off, contents.len() as u64)
        }
        let mut file = Vec::new();
        let data = block(entries);
        let (off, size) = if snappy { emit(&mut file, &snap::raw::Encoder::new().compress_vec(&data).unwrap(), 1) } else { emit(&mut file, &data, 0) };
        let mut handle = Vec::new();
        put_varint(&mut handle, off);
        put_varint(&mut handle, size);
        let last = entries.last().map(|e| e.0).unwrap_or(b"");
        let meta = emit(&mut file, &block(&[]), 0);
        let index = emit(&mut file, &block(&[(last, &handle)]), 0);
        let mut footer = Vec::new();
        put_varint(&mut footer, meta.0);
        put_varint(&mut footer, meta.1);
        put_varint(&mut footer, index.0);
        put_varint(&mut footer, index.1);
        footer.resize(40, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        file.extend_from_slice(&footer);
        file
    }

    #[test]
    fn tables_round_trip_plain_and_snappy() {
        let entries: Vec<(&[u8], &[u8])> = vec![(b"", b"hdr"), (b"conv/bias", b"1"), (b"conv/kernel", b"22"), (b"conv/kernel/Momentum", b"333"), (b"fc", b"")];
        for snappy in [false, true] {
            let t = write_table(&entries, snappy);
            let got = read_table(&t).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = entries.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn corrupt_and_truncated_tables_are_errors() {
        let entries: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2")];
        let t = write_table(&entries, false);
        for i in 0..t.len() {
            let mut c = t.clone();
            c[i] ^= 0x40;
            // Any flipped byte is caught (crc, magic, handles) or still reads the same table
            // (the footer's zero padding), never a panic.
            if let Ok(v) = read_table(&c) {
                assert_eq!(v.len(), 2, "byte {i}");
            }
        }
        for n in 0..t.len() {
            assert!(read_table(&t[..n]).is_err(), "truncated to {n}");
        }
        assert!(read_table(&t[..t.len() - 1]).unwrap_err().contains("magic"));
    }

    #[test]
    fn masked_crc_matches_leveldb() {
        // crc32c("123456789") = 0xe3069283 (the CRC-32C check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(mask(0), 0xa282_ead8);
    }
}

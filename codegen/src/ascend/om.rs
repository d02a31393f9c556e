//! The offline model container (ascend_om.md §1): a 256-byte `ModelFileHeader`, one
//! partition table, then the partitions back to back.
//!
//! senetc writes three partitions: MODEL_DEF (the serialized ModelDef), WEIGHTS_DATA (every
//! Const's bytes, each at a 512-byte aligned offset starting at 512, as GE's builder lays
//! them out) and an empty TASK_INFO. TASK_INFO (kernel launches) and TBE_KERNELS (kernel
//! binaries) can only come from CANN's compiler; the empty TASK_INFO keeps the partition
//! count (3) in the set every GE loader generation accepts (1, 3, 4, 5) and marks the model
//! as "graph only". The file is therefore a valid container for netron and `atc --mode=1`
//! but not loadable by the Ascend runtime.
//!
//! The table uses the 32-bit ("tiny") encoding with `length` set and `model_length` 0: the
//! combination both the 2021 and the current GE loaders accept. No timestamps or other
//! varying data are written, so equal inputs give equal bytes.
//!
//! Everything is streamed: sizes are known before any byte is written (the ModelDef's
//! encoded length, the weights' [`Placement`]), MODEL_DEF is encoded straight into the
//! writer, and each weight goes to it from its source buffer, its one converted copy, or (a
//! FRACTAL_Z filter) re-laid out on the way.

use super::assign::GeOp;
use super::stream::StreamBuf;
use super::weights::Placement;
use crate::CodegenError;
use prost::Message;
use senetc_ge::om::{partition, HEADER_LEN, MAGIC, OM_IR_VERSION, PLATFORM_VERSION, VERSION};
use senetc_ge::proto;
use std::io::{self, Write};

/// Write the OM file of `model` (built with `placement`, see `assign::to_model_def`), whose
/// weights are those of `ops`, to `out`.
pub fn write_om(model: &proto::ModelDef, ops: &[GeOp], placement: &Placement, out: &mut dyn Write) -> Result<(), CodegenError> {
    let mut parts: Vec<(u32, usize)> = vec![(partition::MODEL_DEF, model.encoded_len())];
    if placement.len > 0 {
        parts.push((partition::WEIGHTS_DATA, placement.len));
    }
    parts.push((partition::TASK_INFO, 0));
    let table_len = 4 + 12 * parts.len();
    let data_len = table_len + parts.iter().map(|p| p.1).sum::<usize>();
    let Ok(length) = u32::try_from(data_len) else {
        return Err(CodegenError::Input(format!("model of {data_len} bytes exceeds the OM 32-bit partition table")));
    };
    out.write_all(&header(&model.name, length))?;
    out.write_all(&(parts.len() as u32).to_le_bytes())?;
    let mut offset = 0u32;
    for &(ty, size) in &parts {
        out.write_all(&ty.to_le_bytes())?;
        out.write_all(&offset.to_le_bytes())?;
        out.write_all(&(size as u32).to_le_bytes())?;
        offset += size as u32;
    }
    let mut buf = StreamBuf::new(out);
    model.encode(&mut buf).map_err(|e| io::Error::other(e.to_string()))?;
    buf.finish()?;
    let mut at = 0;
    for (op, offset) in ops.iter().zip(&placement.offsets) {
        let (Some(weight), Some(offset)) = (&op.value, *offset) else { continue };
        write_zeros(out, offset - at)?;
        let written = weight.write(out)?;
        if written != weight.len() {
            return Err(CodegenError::Input(format!("Const {}: {written} bytes where its desc says {}", op.name, weight.len())));
        }
        at = offset + written;
    }
    Ok(())
}

fn write_zeros(out: &mut dyn Write, mut n: usize) -> io::Result<()> {
    const ZEROS: [u8; 512] = [0; 512];
    while n > 0 {
        let k = n.min(ZEROS.len());
        out.write_all(&ZEROS[..k])?;
        n -= k;
    }
    Ok(())
}

/// The 256-byte header for a model called `name` with `length` bytes after it.
fn header(name: &str, length: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    // 12..76 checksum: zero (open-source GE never fills it).
    h[76..80].copy_from_slice(&length.to_le_bytes());
    // 80 is_encrypt 0, 81 is_checksum 0 (CHECK), 82 modeltype 0 (IR model), 83 genmode 0 (offline).
    let n = name.as_bytes();
    let k = n.len().min(31);
    h[84..84 + k].copy_from_slice(&n[..k]);
    h[152..156].copy_from_slice(&OM_IR_VERSION.to_le_bytes());
    h[156..160].copy_from_slice(&1u32.to_le_bytes()); // model_num
    let pv = PLATFORM_VERSION.as_bytes();
    h[160..160 + pv.len()].copy_from_slice(pv);
    h[180] = 1; // platform_type: TARGET_TYPE_MINI_8BIT on Linux hosts
    // 184..192 model_length 0: the 32-bit table and `length` are authoritative.
    h
}

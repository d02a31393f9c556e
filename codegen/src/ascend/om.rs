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

use super::proto;
use super::attr::{self, Attrs};
use crate::CodegenError;
use prost::Message;

/// "IMOD" read as a little-endian u32.
pub const MAGIC: u32 = 0x444F_4D49;
/// Header size.
pub const HEADER_LEN: usize = 256;
/// Header version written (2.0).
pub const VERSION: u32 = 0x2000_0000;
/// `om_ir_version` / `ModelDef.version`.
pub const OM_IR_VERSION: u32 = 2;
/// The platform version string GE writes ("1.11.z" + ".0").
pub const PLATFORM_VERSION: &str = "1.11.z.0";
/// Alignment of every weight in WEIGHTS_DATA, and the offset of the first.
pub const WEIGHT_ALIGN: usize = 512;

/// Partition types senetc writes or reads by name.
pub mod partition {
    /// Serialized ModelDef.
    pub const MODEL_DEF: u32 = 0;
    /// Merged weights.
    pub const WEIGHTS_DATA: u32 = 1;
    /// Task descriptions (kernel launches).
    pub const TASK_INFO: u32 = 2;
    /// Compiled AI-Core kernels.
    pub const TBE_KERNELS: u32 = 3;
    /// Custom AI-CPU kernels.
    pub const CUST_AICPU_KERNELS: u32 = 4;
}

/// Move every Const's bytes from its `value` attr into one weights buffer, as GE's builder
/// does: `data_offset` (first 512, then 512-aligned) and `weight_size` on the Const's tensor
/// desc and output desc, `is_input_const` and `data_offset` on each consumer's input desc,
/// model attrs `weight_size` and `om_info_list`. Returns the buffer.
pub fn merge_weights(model: &mut proto::ModelDef) -> Vec<u8> {
    let mut weights: Vec<u8> = Vec::new();
    let mut offsets: std::collections::HashMap<String, (i64, i64)> = Default::default();
    for g in model.graph.iter_mut().take(1) {
        for op in g.op.iter_mut().filter(|op| op.r#type == "Const") {
            let Some(proto::AttrDef { value: Some(proto::attr_def::Value::T(t)) }) = op.attr.get_mut("value") else { continue };
            let data = std::mem::take(&mut t.data);
            let offset = weights.len().max(WEIGHT_ALIGN).next_multiple_of(WEIGHT_ALIGN);
            weights.resize(offset, 0);
            weights.extend_from_slice(&data);
            let (off, size) = (offset as i64, data.len() as i64);
            if let Some(d) = t.desc.as_mut() {
                d.data_offset = off;
                d.weight_size = size;
            }
            for d in &mut op.output_desc {
                d.data_offset = off;
                d.weight_size = size;
            }
            offsets.insert(op.name.clone(), (off, size));
        }
        for op in g.op.iter_mut() {
            for (i, input) in op.input.iter().enumerate() {
                let producer = input.rsplit_once(':').map_or(input.as_str(), |(p, _)| p);
                if let (Some(&(off, _)), Some(d)) = (offsets.get(producer), op.input_desc.get_mut(i)) {
                    d.data_offset = off;
                }
            }
        }
    }
    let a: &mut Attrs = &mut model.attr;
    a.insert("weight_size".into(), attr::int(weights.len() as i64));
    a.insert("om_info_list".into(), attr::ints(&[weights.len() as i64, 0, 0, 0]));
    weights
}

/// Serialize `model` as an OM file (weights merged into WEIGHTS_DATA).
pub fn write_om(mut model: proto::ModelDef) -> Result<Vec<u8>, CodegenError> {
    let weights = merge_weights(&mut model);
    let model_def = model.encode_to_vec();
    let mut parts: Vec<(u32, &[u8])> = vec![(partition::MODEL_DEF, &model_def)];
    if !weights.is_empty() {
        parts.push((partition::WEIGHTS_DATA, &weights));
    }
    parts.push((partition::TASK_INFO, &[]));
    let table_len = 4 + 12 * parts.len();
    let data_len = table_len + parts.iter().map(|p| p.1.len()).sum::<usize>();
    let too_big = || CodegenError::Input(format!("model of {data_len} bytes exceeds the OM 32-bit partition table"));
    if u32::try_from(data_len).is_err() {
        return Err(too_big());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + data_len);
    out.extend_from_slice(&header(&model.name, data_len as u32));
    out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    let mut offset = 0u32;
    for (ty, bytes) in &parts {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        offset += bytes.len() as u32;
    }
    for (_, bytes) in &parts {
        out.extend_from_slice(bytes);
    }
    Ok(out)
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

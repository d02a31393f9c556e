//! Constants of the offline model container (ascend_om.md §1): what the writer puts in the
//! header and partition table and what the reader checks them against.

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

    /// The name of partition type `kind`, if senetc knows it.
    pub fn name(kind: u32) -> Option<&'static str> {
        Some(match kind {
            MODEL_DEF => "MODEL_DEF",
            WEIGHTS_DATA => "WEIGHTS_DATA",
            TASK_INFO => "TASK_INFO",
            TBE_KERNELS => "TBE_KERNELS",
            CUST_AICPU_KERNELS => "CUST_AICPU_KERNELS",
            _ => return None,
        })
    }
}

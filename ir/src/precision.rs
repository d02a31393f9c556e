//! The precision modes ATC gives `--precision_mode`: shared by the fp16 pass, which decides
//! each op's element type, and the backends, which record the mode.

use std::fmt;
use std::str::FromStr;

/// ATC's `--precision_mode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum PrecisionMode {
    /// Run in fp32.
    ForceFp32,
    /// Run in fp16 wherever the policy allows (ATC's default for Ascend).
    ForceFp16,
    /// fp16 for `always` ops and what follows them.
    AllowMixPrecision,
    /// Keep the model's own types (senetc's default on the CPU target).
    #[default]
    MustKeepOriginDtype,
}

impl PrecisionMode {
    /// Every mode.
    pub const ALL: [PrecisionMode; 4] =
        [PrecisionMode::ForceFp32, PrecisionMode::ForceFp16, PrecisionMode::AllowMixPrecision, PrecisionMode::MustKeepOriginDtype];

    /// The name ATC uses.
    pub fn name(self) -> &'static str {
        match self {
            PrecisionMode::ForceFp32 => "force_fp32",
            PrecisionMode::ForceFp16 => "force_fp16",
            PrecisionMode::AllowMixPrecision => "allow_mix_precision",
            PrecisionMode::MustKeepOriginDtype => "must_keep_origin_dtype",
        }
    }

    /// The mode ATC calls `name`.
    pub fn from_name(name: &str) -> Option<PrecisionMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for PrecisionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrecisionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| {
            format!("unknown precision mode {s:?} ({})", Self::ALL.map(|m| m.name()).join(", "))
        })
    }
}

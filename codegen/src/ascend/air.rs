//! AIR: the framework-level GE graph that `atc --framework=1` compiles. It is the
//! serialized ModelDef alone (no OM header), weights inline in each Const's `value`.
//! Like the AIR files MindSpore exports, it keeps the source element types and NCHW/ND
//! formats: ATC chooses runtime formats and applies `--precision_mode` itself.

use super::{assign, lower, AscendOptions, PrecisionMode};
use crate::CodegenError;
use prost::Message;
use senetc_ir::Graph;

/// Serialize `g` as AIR (formats and precision of `opts` are overridden, see module doc).
pub fn write_air(g: &Graph, opts: &AscendOptions) -> Result<Vec<u8>, CodegenError> {
    let opts = AscendOptions { precision_mode: PrecisionMode::MustKeepOriginDtype, runtime_formats: false, ..opts.clone() };
    let lowered = lower::lower(g, &opts)?;
    let ops = assign::assign(&lowered, &opts)?;
    Ok(assign::to_model_def(&lowered.name, &ops, &opts).encode_to_vec())
}

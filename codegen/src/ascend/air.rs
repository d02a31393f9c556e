//! AIR: the framework-level GE graph that `atc --framework=1` compiles. It is the
//! serialized ModelDef alone (no OM header), weights inline in each Const's `value`.
//! Like the AIR files MindSpore exports, it keeps the source element types and NCHW/ND
//! formats: ATC chooses runtime formats and applies `--precision_mode` itself.
//!
//! The ModelDef is encoded straight into the writer; each Const's `value` bytes are a view
//! of the IR tensor's buffer (or its one converted copy), so no weight is copied on the way.

use super::stream::StreamBuf;
use super::{assign, lower, AscendOptions, PrecisionMode};
use crate::CodegenError;
use prost::Message;
use senetc_ir::Graph;
use std::io::{self, Write};

/// Write `g` as AIR to `out` (formats and precision of `opts` are overridden, see module doc).
pub fn write_air(g: &Graph, opts: &AscendOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
    let opts = AscendOptions { precision_mode: PrecisionMode::MustKeepOriginDtype, runtime_formats: false, ..opts.clone() };
    let lowered = lower::lower(g, &opts)?;
    let ops = assign::assign(&lowered, &opts)?;
    let model = assign::to_model_def(&lowered.name, &ops, &opts, None);
    let mut buf = StreamBuf::new(out);
    model.encode(&mut buf).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(buf.finish()?)
}

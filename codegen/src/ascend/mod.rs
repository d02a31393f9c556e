//! The Ascend910 backend: senetc IR → Huawei Graph Engine (GE) IR, written as an offline
//! model container (`.om`), an AIR graph (`.air`) or `atc --mode=1`-style JSON. Reading those
//! files back is the `senetc-om` frontend's job; both sides share `senetc-ge` (the GE
//! messages, descs, layouts and the CANN op table), so they cannot drift apart.
//!
//! Facts about the formats come from `shared/specs/ascend_om.md`. The pipeline:
//!
//! 1. [`lower`]: bind the symbolic batch, map every IR op to typed CANN ops
//!    ([`senetc_ge::CannOp`]) with their prototype input order and attributes (`Conv2D`,
//!    `BNInferenceD`, `ReduceMeanD`, ...). Ops that are one CANN op come from the table's
//!    mapping ([`senetc_ge::from_ir`]), fused activations included.
//! 2. [`assign`]: choose each op's compute dtype (`precision_mode`) and format (NC1HWC0 for
//!    AI-Core ops, ND/NCHW for MatMul, Reshape and friends), insert `Cast` and `TransData`
//!    where producer and consumer disagree, and decide how constants are stored (FRACTAL_Z
//!    filters, fp16 weights) so constants never need conversion ops.
//! 3. [`om`], [`air`], [`json`]: serialize into an `io::Write`. Weights are never gathered
//!    in memory: each goes to the writer from the IR's buffer, or from its one converted
//!    copy when its type or layout changes ([`weights`]).
//!
//! ## Fused ops
//! An IR node that stands for several CANN ops (a conv with a fused activation, `add_act`,
//! `squeeze_excite`) lowers to its chain of CANN ops; every op of the chain carries the same
//! int attribute **`_fusion_group`** (a number unique within the graph, in lowering order)
//! and the same `original_op_names`, so a reader can tell the chain was one node and GE's
//! UB-fusion has a ready-made candidate. Ops from unfused IR nodes carry no `_fusion_group`.
//!
//! ## Provenance
//! Every op carries a list-of-string attribute **`original_op_names`**: the names of the
//! source-model nodes it came from (ATC's convention; netron hides it). Ops senetc adds
//! (Cast, TransData) list the node whose input they feed.

pub mod air;
pub mod assign;
pub mod json;
pub mod lower;
pub mod om;
pub mod stream;
pub mod weights;

use crate::CodegenError;
use senetc_ir::Graph;
use std::collections::BTreeMap;
use std::io::Write;

/// The backend's name in errors.
pub const TARGET: &str = "ascend910";

/// The chip the model is built for (ATC `--soc_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SocVersion {
    /// Ascend 910 (training/inference; fp16 and fp32 cube).
    #[default]
    Ascend910,
    /// Ascend 310 (inference; its cube unit computes fp16/int8 only).
    Ascend310,
}

impl SocVersion {
    /// The name ATC uses.
    pub fn name(self) -> &'static str {
        match self {
            SocVersion::Ascend910 => "Ascend910",
            SocVersion::Ascend310 => "Ascend310",
        }
    }
}

/// ATC's `--precision_mode`. The fp16 pass (`senetc-passes`, `insert-fp16-casts`) decides
/// each op's element type on the IR; this backend carries those types into the tensor descs
/// and records the mode in the model's attributes.
pub use senetc_ir::PrecisionMode;

/// Layout of the model's 4-D inputs as the user feeds them (ATC `--input_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Batch, channels, height, width (the IR's own layout).
    #[default]
    Nchw,
    /// Batch, height, width, channels: a TransposeD to NCHW follows each 4-D Data op.
    Nhwc,
}

/// How to build an Ascend model.
#[derive(Clone, Debug)]
pub struct AscendOptions {
    /// Target chip.
    pub soc_version: SocVersion,
    /// Compute precision (default force_fp16, as ATC).
    pub precision_mode: PrecisionMode,
    /// Layout of 4-D inputs.
    pub input_format: InputFormat,
    /// Input shapes by input name (ATC `--input_shape`); they bind the symbolic batch.
    /// Inputs not named here get every symbolic dim bound to 1.
    pub input_shapes: BTreeMap<String, Vec<usize>>,
    /// Graph outputs as (node name, output index) (ATC `--out_nodes`); empty: the graph's own.
    pub out_nodes: Vec<(String, usize)>,
    /// Use the AI Core's runtime formats (NC1HWC0 activations, FRACTAL_Z filters, TransData
    /// at format changes). `false` keeps every tensor NCHW/ND, as in a framework-level graph.
    pub runtime_formats: bool,
}

impl Default for AscendOptions {
    fn default() -> Self {
        AscendOptions {
            soc_version: SocVersion::default(),
            precision_mode: PrecisionMode::default(),
            input_format: InputFormat::default(),
            input_shapes: BTreeMap::new(),
            out_nodes: Vec::new(),
            runtime_formats: true,
        }
    }
}

/// The GE ops of `g` (formats, precisions, conversions assigned) and the model's name.
fn build(g: &Graph, opts: &AscendOptions) -> Result<(String, Vec<assign::GeOp>), CodegenError> {
    let lowered = lower::lower(g, opts)?;
    let ops = assign::assign(&lowered, opts)?;
    Ok((lowered.name, ops))
}

/// Write `g` as an offline model to `out`: header, partition table, MODEL_DEF, WEIGHTS_DATA
/// (every weight 512-byte aligned) and an empty TASK_INFO. Deterministic bytes. On error,
/// part of the file may have been written.
pub fn emit_om(g: &Graph, opts: &AscendOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
    let (name, ops) = build(g, opts)?;
    let placement = weights::Placement::of(&ops);
    let model = assign::to_model_def(&name, &ops, opts, Some(&placement));
    om::write_om(&model, &ops, &placement, out)
}

/// Write `g` as an AIR graph (a serialized GE ModelDef, weights inline) for
/// `atc --framework=1` to `out`. AIR is a framework-level graph: it keeps NCHW/ND formats and
/// the source element types whatever `opts` says about formats and precision, since ATC
/// applies those when it compiles the AIR.
pub fn emit_air(g: &Graph, opts: &AscendOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
    air::write_air(g, opts, out)
}

/// Write the model as `atc --mode=1` prints an OM's MODEL_DEF (GE's protobuf-to-JSON form)
/// to `out`. It names weights by offset and size only, so no weight byte is made.
pub fn emit_json(g: &Graph, opts: &AscendOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
    let (name, ops) = build(g, opts)?;
    let placement = weights::Placement::of(&ops);
    let model = assign::to_model_def(&name, &ops, opts, Some(&placement));
    Ok(out.write_all(json::model_to_json(&model).as_bytes())?)
}

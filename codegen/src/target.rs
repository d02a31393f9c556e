//! Targets by name. A target says what it is, which precision a model gets when the user
//! names none, what it can write, and writes it; the command line looks targets up in
//! [`registry`] and has no per-target code. Every target can also write the optimized graph
//! itself (`ir`, `onnx`).

use crate::ascend::{self, AscendOptions, InputFormat, SocVersion};
use crate::CodegenError;
use senetc_ir::{Graph, PrecisionMode};
use std::collections::BTreeMap;
use std::io::Write;

/// One kind of output a target writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitKind {
    /// The `--emit` value.
    pub name: &'static str,
    /// File extension of the default output name.
    pub ext: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
}

/// senetc's text IR.
pub const EMIT_IR: EmitKind = EmitKind { name: "ir", ext: "sir", help: "senetc's text IR (weights by name and content hash)" };
/// An ONNX model.
pub const EMIT_ONNX: EmitKind = EmitKind { name: "onnx", ext: "onnx", help: "an ONNX model (opset 17) that Netron opens and onnxruntime runs" };
const EMIT_OM: EmitKind = EmitKind { name: "om", ext: "om", help: "Ascend offline model: GE graph and weights, no TASK_INFO or kernels" };
const EMIT_AIR: EmitKind = EmitKind { name: "air", ext: "air", help: "Ascend AIR: the GE graph that `atc --framework=1` compiles into a runnable OM" };
const EMIT_JSON: EmitKind = EmitKind { name: "json", ext: "json", help: "`atc --mode=1`-style JSON of the OM's graph" };

/// What a compile tells a target besides the graph: ATC's input and output flags.
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    /// Input shapes by input name (ATC `--input_shape`); they bind the symbolic batch.
    pub input_shapes: BTreeMap<String, Vec<usize>>,
    /// Layout of the 4-D inputs as fed at run time (ATC `--input_format`).
    pub input_format: InputFormat,
    /// Graph outputs as (node name, output index) (ATC `--out_nodes`); empty: the graph's own.
    pub out_nodes: Vec<(String, usize)>,
    /// The precision mode the graph was compiled with.
    pub precision_mode: PrecisionMode,
    /// Where the output goes (targets that write files beside it, such as `x86_64`'s header
    /// and weights, need it).
    pub output: Option<std::path::PathBuf>,
}

/// A compilation target.
pub trait Target: Sync {
    /// The `--target` value.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn description(&self) -> &'static str;
    /// What it writes; the first is the default.
    fn emit_kinds(&self) -> &'static [EmitKind];
    /// The precision mode a model gets when the user names none, for output `kind`.
    fn default_precision(&self, kind: &EmitKind) -> PrecisionMode;
    /// Check that the target can take `g` (before anything is written).
    fn check(&self, g: &Graph, options: &TargetOptions) -> Result<(), CodegenError>;
    /// Write `g` as `kind`.
    fn emit(&self, g: &Graph, kind: &EmitKind, options: &TargetOptions, out: &mut dyn Write) -> Result<(), CodegenError>;
}

/// Every target, the default first.
pub fn registry() -> &'static [&'static dyn Target] {
    #[cfg(feature = "llvm")]
    return &[&Cpu, &Ascend(SocVersion::Ascend910), &Ascend(SocVersion::Ascend310), &X86_64];
    #[cfg(not(feature = "llvm"))]
    return &[&Cpu, &Ascend(SocVersion::Ascend910), &Ascend(SocVersion::Ascend310)];
}

/// The target called `name` (case-insensitive, so ATC's `Ascend910` works too).
pub fn lookup(name: &str) -> Option<&'static dyn Target> {
    registry().iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
}

/// The emit kind called `name` that `target` writes.
pub fn emit_kind(target: &dyn Target, name: &str) -> Option<EmitKind> {
    target.emit_kinds().iter().copied().find(|k| k.name == name)
}

/// The graph-level outputs every target writes.
fn emit_graph(g: &Graph, kind: &EmitKind, out: &mut dyn Write) -> Result<bool, CodegenError> {
    match kind.name {
        "ir" => out.write_all(senetc_ir::text::print(g).as_bytes())?,
        "onnx" => crate::onnx_export::write(g, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The CPU reference: it runs the graph; what it writes is the optimized graph.
struct Cpu;

impl Target for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn description(&self) -> &'static str {
        "the CPU reference (checks that it can run the graph; writes the optimized graph)"
    }
    fn emit_kinds(&self) -> &'static [EmitKind] {
        &[EMIT_IR, EMIT_ONNX]
    }
    fn default_precision(&self, _: &EmitKind) -> PrecisionMode {
        PrecisionMode::MustKeepOriginDtype
    }
    fn check(&self, g: &Graph, _: &TargetOptions) -> Result<(), CodegenError> {
        let shapes = g
            .inputs()
            .iter()
            .map(|&id| g.node(id).outputs[0].shape.bind(&|_| Some(1)).as_known().ok_or_else(|| CodegenError::Input(format!("input {:?} has an unknown dim", g.node(id).name))))
            .collect::<Result<Vec<_>, _>>()?;
        crate::cpu::CpuPlan::new(g, &shapes, 1).map(|_| ())
    }
    fn emit(&self, g: &Graph, kind: &EmitKind, _: &TargetOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
        emit_graph(g, kind, out).map(|_| ())
    }
}

/// Huawei Ascend through its graph engine (see [`crate::ascend`]).
struct Ascend(SocVersion);

impl Ascend {
    fn options(&self, o: &TargetOptions) -> AscendOptions {
        AscendOptions {
            soc_version: self.0,
            precision_mode: o.precision_mode,
            input_format: o.input_format,
            input_shapes: o.input_shapes.clone(),
            out_nodes: o.out_nodes.clone(),
            ..AscendOptions::default()
        }
    }
}

impl Target for Ascend {
    fn name(&self) -> &'static str {
        match self.0 {
            SocVersion::Ascend910 => "ascend910",
            SocVersion::Ascend310 => "ascend310",
        }
    }
    fn description(&self) -> &'static str {
        match self.0 {
            SocVersion::Ascend910 => "Huawei Ascend 910: OM, AIR or ATC-style JSON (fp16 by default, as ATC)",
            SocVersion::Ascend310 => "Huawei Ascend 310: as ascend910, for the inference chip",
        }
    }
    fn emit_kinds(&self) -> &'static [EmitKind] {
        &[EMIT_OM, EMIT_AIR, EMIT_JSON, EMIT_IR, EMIT_ONNX]
    }
    fn default_precision(&self, kind: &EmitKind) -> PrecisionMode {
        // ATC applies --precision_mode itself when it compiles an AIR: keep the source types.
        if *kind == EMIT_AIR {
            PrecisionMode::MustKeepOriginDtype
        } else {
            PrecisionMode::ForceFp16
        }
    }
    fn check(&self, _: &Graph, _: &TargetOptions) -> Result<(), CodegenError> {
        // Lowering is the check; it runs when the output is written, before any byte is.
        Ok(())
    }
    fn emit(&self, g: &Graph, kind: &EmitKind, options: &TargetOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
        if emit_graph(g, kind, out)? {
            return Ok(());
        }
        let opts = self.options(options);
        // The writers stream into `out`: weights go from their buffers to the file once.
        match kind.name {
            "om" => ascend::emit_om(g, &opts, out),
            "air" => ascend::emit_air(g, &opts, out),
            "json" => ascend::emit_json(g, &opts, out),
            other => Err(CodegenError::Input(format!("target {} cannot write {other}", self.name()))),
        }
    }
}

#[cfg(feature = "llvm")]
const EMIT_SO: EmitKind = EmitKind { name: "so", ext: "so", help: "a shared library with a C entry point (header and weights written beside it)" };
#[cfg(feature = "llvm")]
const EMIT_O: EmitKind = EmitKind { name: "o", ext: "o", help: "an object file with a C entry point (header and weights written beside it)" };

/// Native x86-64 code through LLVM, ahead of time (see `senetc_native::aot`): the engine's
/// generated kernels for the host CPU, fixed input shapes (`--input-shape`, batch 1 by
/// default), `senetc_model_init/run/free` declared in a header beside the output and the
/// weights in a sidecar file mapped at init.
#[cfg(feature = "llvm")]
struct X86_64;

#[cfg(feature = "llvm")]
impl X86_64 {
    fn shapes(g: &Graph, options: &TargetOptions) -> Result<Vec<Vec<usize>>, CodegenError> {
        g.inputs()
            .iter()
            .map(|&id| {
                let n = g.node(id);
                if let Some(s) = options.input_shapes.get(&n.name) {
                    return Ok(s.clone());
                }
                n.outputs[0].shape.bind(&|_| Some(1)).as_known().ok_or_else(|| CodegenError::Input(format!("input {:?} has an unknown dim", n.name)))
            })
            .collect()
    }
}

#[cfg(feature = "llvm")]
impl Target for X86_64 {
    fn name(&self) -> &'static str {
        "x86_64"
    }
    fn description(&self) -> &'static str {
        "native code for this CPU through LLVM: a .so or .o with a C entry point, header and weights beside it"
    }
    fn emit_kinds(&self) -> &'static [EmitKind] {
        &[EMIT_SO, EMIT_O, EMIT_IR, EMIT_ONNX]
    }
    fn default_precision(&self, _: &EmitKind) -> PrecisionMode {
        PrecisionMode::MustKeepOriginDtype
    }
    fn check(&self, g: &Graph, options: &TargetOptions) -> Result<(), CodegenError> {
        let shapes = Self::shapes(g, options)?;
        let host = senetc_native::host();
        let l = senetc_native::lower::lower(g, &shapes, host.lanes).map_err(native_error)?;
        senetc_native::module_text(&l, &host, Some(&senetc_native::aot::AotInfo { weight_bytes: 0 })).map_err(native_error)?;
        Ok(())
    }
    fn emit(&self, g: &Graph, kind: &EmitKind, options: &TargetOptions, out: &mut dyn Write) -> Result<(), CodegenError> {
        if emit_graph(g, kind, out)? {
            return Ok(());
        }
        let aot_kind = if kind.name == "o" { senetc_native::aot::AotKind::Object } else { senetc_native::aot::AotKind::Shared };
        let path = options.output.clone().ok_or_else(|| CodegenError::Input("the x86_64 target needs an output path".into()))?;
        let (header_path, weights_path) = senetc_native::aot::sidecars(&path);
        let wname = weights_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (bytes, header, weights) = senetc_native::aot::compile(g, &Self::shapes(g, options)?, aot_kind, &wname).map_err(native_error)?;
        std::fs::write(&weights_path, weights)?;
        std::fs::write(&header_path, header)?;
        out.write_all(&bytes)?;
        Ok(())
    }
}

/// A native-engine error as a codegen error.
#[cfg(feature = "llvm")]
pub fn native_error(e: senetc_native::NativeError) -> CodegenError {
    match e {
        senetc_native::NativeError::Unsupported { node, why } => CodegenError::Unsupported { node, op: "-", target: "x86_64", why },
        senetc_native::NativeError::Input(m) => CodegenError::Input(m),
        senetc_native::NativeError::Io(e) => CodegenError::Io(e),
        e @ senetc_native::NativeError::Llvm(_) => CodegenError::Input(e.to_string()),
    }
}

//! Reading senetc's OM and AIR files back, describing them, and converting the GE graph to
//! senetc IR so the CPU reference can run it. The conversion undoes what [`super::assign`]
//! did: TransData ops vanish (senetc only inserts them between two formats of the same
//! origin tensor, which is checked), FRACTAL_Z and NC1HWC0 constants are unpacked to NCHW,
//! and fp16 storage stays fp16 in the IR (the CPU reference rounds every f16 value, as the
//! AI Core stores it). Every input is untrusted: malformed files give a [`ReadError`].

use super::attr::{self, Attrs};
use super::layout;
use super::om::{partition, HEADER_LEN, MAGIC};
use super::proto;
use super::types::{ge_dtype_from_number, ir_dtype, Format};
use prost::Message;
use senetc_ir::ops::{self as irops, AutoPad, DataFormat, PadMode};
use senetc_ir::{Graph, Op, Outlet, Shape, Tensor, TensorType};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Why a file could not be read or converted.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The container is malformed.
    #[error("not a readable OM file: {0}")]
    Container(String),
    /// MODEL_DEF (or the AIR file) is not a GE ModelDef.
    #[error("not a GE ModelDef: {0}")]
    Proto(#[from] prost::DecodeError),
    /// An op cannot be understood.
    #[error("op {op:?} ({ty}): {why}")]
    Op {
        /// Op name.
        op: String,
        /// Op type.
        ty: String,
        /// What is wrong.
        why: String,
    },
    /// The rebuilt IR graph is inconsistent.
    #[error(transparent)]
    Ir(#[from] senetc_ir::IrError),
}

/// The fields of the OM file header senetc reads.
#[derive(Clone, Debug, PartialEq)]
pub struct OmHeader {
    /// Header version (0x20000000 = 2.0).
    pub version: u32,
    /// Bytes after the header (older writers).
    pub length: u32,
    /// Bytes after the header (newer writers; 0 when `length` is used).
    pub model_length: u64,
    /// Model name.
    pub name: String,
    /// `om_ir_version`.
    pub om_ir_version: u32,
    /// Number of models (1 for static models).
    pub model_num: u32,
    /// Platform version string.
    pub platform_version: String,
    /// 0 IR model, 1 standard, ...
    pub modeltype: u8,
}

/// One partition of an OM file.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// ModelPartitionType (0 MODEL_DEF, 1 WEIGHTS_DATA, 2 TASK_INFO, ...).
    pub kind: u32,
    /// Offset from the end of the partition table.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// An OM or AIR model read back.
#[derive(Clone, Debug)]
pub struct AscendModel {
    /// The OM header (`None` for AIR).
    pub header: Option<OmHeader>,
    /// The OM partitions in table order (empty for AIR).
    pub partitions: Vec<Partition>,
    /// The GE model.
    pub model: proto::ModelDef,
    /// WEIGHTS_DATA (empty for AIR: weights are inline).
    pub weights: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> ReadError {
    ReadError::Container(msg.into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, ReadError> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| bad("truncated"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, ReadError> {
    b.get(at..at + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]))).ok_or_else(|| bad("truncated"))
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Parse an OM file (either partition-table encoding, one model).
pub fn read_om(bytes: &[u8]) -> Result<AscendModel, ReadError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(bad(format!("{} bytes is shorter than a header and a partition table", bytes.len())));
    }
    if u32_at(bytes, 0)? != MAGIC {
        return Err(bad("bad magic (expected \"IMOD\")"));
    }
    if u32_at(bytes, 4)? as usize != HEADER_LEN {
        return Err(bad(format!("header size {} (expected {HEADER_LEN})", u32_at(bytes, 4)?)));
    }
    let version = u32_at(bytes, 8)?;
    if bytes[80] != 0 {
        return Err(bad("the model is encrypted"));
    }
    let header = OmHeader {
        version,
        length: u32_at(bytes, 76)?,
        model_length: u64_at(bytes, 184)?,
        name: cstr(&bytes[84..116]),
        om_ir_version: u32_at(bytes, 152)?,
        model_num: if version >= 0x2000_0000 { u32_at(bytes, 156)? } else { 1 },
        platform_version: cstr(&bytes[160..180]),
        modeltype: bytes[82],
    };
    let data_len = if header.model_length != 0 { header.model_length } else { header.length as u64 };
    if data_len != (bytes.len() - HEADER_LEN) as u64 {
        return Err(bad(format!("header says {data_len} bytes follow it, the file has {}", bytes.len() - HEADER_LEN)));
    }
    if header.model_num > 1 {
        return Err(bad(format!("{} models in one file (multi-model OMs are not supported)", header.model_num)));
    }
    let wide = header.model_length != 0 || header.modeltype == 3;
    let num = u32_at(bytes, HEADER_LEN)? as usize;
    if num == 0 || num > 32 {
        return Err(bad(format!("partition count {num}")));
    }
    let (head, entry) = if wide { (8, 24) } else { (4, 12) };
    let table_end = HEADER_LEN + head + num * entry;
    if table_end > bytes.len() {
        return Err(bad("partition table runs past the end"));
    }
    let mut partitions = Vec::new();
    for k in 0..num {
        let e = HEADER_LEN + head + k * entry;
        let p = if wide {
            Partition { kind: u32_at(bytes, e)?, offset: u64_at(bytes, e + 8)?, size: u64_at(bytes, e + 16)? }
        } else {
            Partition { kind: u32_at(bytes, e)?, offset: u32_at(bytes, e + 4)? as u64, size: u32_at(bytes, e + 8)? as u64 }
        };
        partitions.push(p);
    }
    // GE walks partitions back to back in table order; so do we, and the ends must meet.
    let mut at = table_end;
    let mut model = None;
    let mut weights = Vec::new();
    for p in &partitions {
        let end = usize::try_from(p.size).ok().and_then(|s| at.checked_add(s)).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(format!("partition {} runs past the end", p.kind)))?;
        let data = &bytes[at..end];
        match p.kind {
            partition::MODEL_DEF => model = Some(proto::ModelDef::decode(data)?),
            partition::WEIGHTS_DATA => weights = data.to_vec(),
            _ => {}
        }
        at = end;
    }
    if at != bytes.len() {
        return Err(bad(format!("partitions end at {at}, the file at {}", bytes.len())));
    }
    let model = model.ok_or_else(|| bad("no MODEL_DEF partition"))?;
    check_model(&model)?;
    Ok(AscendModel { header: Some(header), partitions, model, weights })
}

/// Parse an AIR file (a serialized ModelDef).
pub fn read_air(bytes: &[u8]) -> Result<AscendModel, ReadError> {
    let model = proto::ModelDef::decode(bytes)?;
    check_model(&model)?;
    Ok(AscendModel { header: None, partitions: vec![], model, weights: vec![] })
}

fn check_model(m: &proto::ModelDef) -> Result<(), ReadError> {
    let g = m.graph.first().ok_or_else(|| bad("the ModelDef has no graph"))?;
    if g.op.is_empty() {
        return Err(bad("the main graph has no ops"));
    }
    Ok(())
}

/// A desc's runtime (format, shape), origin (format, shape) and dtype.
struct DescInfo {
    dtype: senetc_ir::DType,
    format: Format,
    shape: Vec<usize>,
    origin_format: Format,
    origin_shape: Vec<usize>,
}

fn dims(v: &[i64]) -> Option<Vec<usize>> {
    v.iter().map(|&d| usize::try_from(d).ok()).collect()
}

fn desc_info(d: &proto::TensorDescriptor) -> Result<DescInfo, String> {
    let dtype = ir_dtype(d.dtype).ok_or_else(|| format!("unsupported dtype {}", d.dtype))?;
    let format = match attr::get_int(&d.attr, "format_for_int") {
        Some(n) => Format::from_number(n).ok_or_else(|| format!("unsupported format number {n}"))?,
        None => Format::from_name(&d.layout).ok_or_else(|| format!("unsupported format {:?}", d.layout))?,
    };
    let shape = dims(&d.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default()).ok_or("negative (dynamic) dims")?;
    let origin_format = match attr::get_str(&d.attr, "origin_format") {
        Some(s) => Format::from_name(&s).ok_or_else(|| format!("unsupported origin format {s:?}"))?,
        None => format,
    };
    let origin_shape = match attr::get_ints(&d.attr, "origin_shape") {
        Some(v) => dims(&v).ok_or("negative origin dims")?,
        None => shape.clone(),
    };
    // The runtime shape must be what the origin shape gives in that format.
    let expect = match format {
        Format::Nc1hwc0 if origin_shape.len() == 4 => layout::nc1hwc0_shape(&origin_shape),
        Format::FractalZ if origin_shape.len() == 4 => layout::fractal_z_shape(&origin_shape),
        Format::Nc1hwc0 | Format::FractalZ => return Err(format!("{} with origin shape {origin_shape:?}", format.name())),
        _ => origin_shape.clone(),
    };
    if expect != shape {
        return Err(format!("{} shape {shape:?} does not match origin shape {origin_shape:?}", format.name()));
    }
    Ok(DescInfo { dtype, format, shape, origin_format, origin_shape })
}

impl AscendModel {
    /// The main graph.
    pub fn graph(&self) -> &proto::GraphDef {
        &self.model.graph[0]
    }

    /// Op types in graph order, Const ops left out (as netron lists nodes).
    pub fn node_types(&self) -> Vec<String> {
        self.graph().op.iter().filter(|o| o.r#type != "Const").map(|o| o.r#type.clone()).collect()
    }

    /// The bytes of a Const op: inline `value.data`, else its window of WEIGHTS_DATA.
    fn const_bytes<'a>(&'a self, op: &'a proto::OpDef) -> Result<(&'a [u8], &'a proto::TensorDescriptor), String> {
        let t = attr::get_tensor(&op.attr, "value").ok_or("Const without a tensor `value`")?;
        let d = t.desc.as_ref().or(op.output_desc.first()).ok_or("Const without a desc")?;
        if !t.data.is_empty() {
            return Ok((&t.data, d));
        }
        let off = usize::try_from(d.data_offset).map_err(|_| "negative data_offset")?;
        let size = usize::try_from(d.weight_size).map_err(|_| "negative weight_size")?;
        let end = off.checked_add(size).filter(|&e| e <= self.weights.len()).ok_or_else(|| format!("weights {off}+{size} lie outside WEIGHTS_DATA ({} bytes)", self.weights.len()))?;
        Ok((&self.weights[off..end], d))
    }

    /// A text listing for `senetc inspect`: header, partitions, model attrs, every op with
    /// its inputs and output types (dtype, runtime format and shape, origin shape).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let g = self.graph();
        match &self.header {
            Some(h) => {
                let _ = writeln!(s, "OM model {:?}: header v{:x}.{}, om_ir_version {}, platform {:?}", h.name, h.version >> 28, (h.version >> 24) & 0xf, h.om_ir_version, h.platform_version);
                for p in &self.partitions {
                    let name = match p.kind {
                        partition::MODEL_DEF => "MODEL_DEF",
                        partition::WEIGHTS_DATA => "WEIGHTS_DATA",
                        partition::TASK_INFO => "TASK_INFO",
                        partition::TBE_KERNELS => "TBE_KERNELS",
                        partition::CUST_AICPU_KERNELS => "CUST_AICPU_KERNELS",
                        _ => "other",
                    };
                    let _ = writeln!(s, "  partition {name} ({}): {} bytes at +{}", p.kind, p.size, p.offset);
                }
            }
            None => {
                let _ = writeln!(s, "AIR model {:?}", self.model.name);
            }
        }
        for (k, v) in &self.model.attr {
            let val = attr::get_str(&self.model.attr, k)
                .or_else(|| attr::get_int(&self.model.attr, k).map(|i| i.to_string()))
                .or_else(|| attr::get_ints(&self.model.attr, k).map(|l| format!("{l:?}")).filter(|_| attr::get_strings(&self.model.attr, k).is_none_or(|x| x.is_empty())))
                .or_else(|| attr::get_strings(&self.model.attr, k).map(|l| format!("{l:?}")));
            let _ = (v, writeln!(s, "  {k} = {}", val.unwrap_or_else(|| "..".into())));
        }
        let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
        for op in &g.op {
            *hist.entry(&op.r#type).or_default() += 1;
        }
        let _ = writeln!(s, "graph {:?}: {} ops ({} without Const)", g.name, g.op.len(), self.node_types().len());
        for (t, n) in &hist {
            let _ = writeln!(s, "  {t:<16} {n}");
        }
        let ty = |d: &proto::TensorDescriptor| match desc_info(d) {
            Ok(i) if i.format.is_runtime() || i.origin_shape != i.shape => format!("{}:{}{:?} (origin {}{:?})", i.dtype, i.format.name(), i.shape, i.origin_format.name(), i.origin_shape),
            Ok(i) => format!("{}:{}{:?}", i.dtype, i.format.name(), i.shape),
            Err(e) => format!("<{e}>"),
        };
        for op in &g.op {
            let outs: Vec<String> = op.output_desc.iter().map(ty).collect();
            let ins: Vec<&str> = op.input.iter().map(|i| i.as_str()).collect();
            let _ = write!(s, "  {} = {}({})", op.name, op.r#type, ins.join(", "));
            if op.r#type == "NetOutput" {
                let ins: Vec<String> = op.input_desc.iter().map(ty).collect();
                let _ = write!(s, " <- {}", ins.join(", "));
            } else {
                let _ = write!(s, " : {}", outs.join(", "));
            }
            if let Some(f) = attr::get_int(&op.attr, "_fusion_group") {
                let _ = write!(s, "  [fusion {f}]");
            }
            s.push('\n');
        }
        s
    }

    /// Convert the GE graph to senetc IR (see the module doc).
    pub fn to_graph(&self) -> Result<Graph, ReadError> {
        let g = self.graph();
        let mut ir = Graph::new(if self.model.name.is_empty() { g.name.clone() } else { self.model.name.clone() });
        let mut vals: HashMap<String, Outlet> = HashMap::new();
        let mut consts: HashMap<String, Tensor> = HashMap::new();
        let mut outputs_seen = false;
        for op in &g.op {
            let err = |why: String| ReadError::Op { op: op.name.clone(), ty: op.r#type.clone(), why };
            let mut ins = Vec::new();
            let mut in_names = Vec::new();
            for i in &op.input {
                if i.is_empty() || i.ends_with(":-1") {
                    continue;
                }
                let o = *vals.get(i).ok_or_else(|| err(format!("input {i:?} is not produced before this op")))?;
                ins.push(o);
                in_names.push(i.clone());
            }
            let a = &op.attr;
            let out_info = |k: usize| op.output_desc.get(k).ok_or_else(|| err(format!("no output desc {k}"))).and_then(|d| desc_info(d).map_err(err));
            let const_of = |k: usize| in_names.get(k).and_then(|n| consts.get(n)).cloned().ok_or_else(|| err(format!("input {k} must be a Const")));
            let node: Op = match op.r#type.as_str() {
                "Data" => {
                    let d = out_info(0)?;
                    let o = ir.add_input(op.name.clone(), TensorType::new(d.dtype, Shape::known(&d.shape)));
                    vals.insert(format!("{}:0", op.name), o);
                    continue;
                }
                "Const" => {
                    let (bytes, d) = self.const_bytes(op).map_err(err)?;
                    let d = desc_info(d).map_err(err)?;
                    let es = d.dtype.size();
                    if bytes.len() != d.shape.iter().product::<usize>() * es {
                        return Err(err(format!("{} bytes for {}{:?}", bytes.len(), d.dtype, d.shape)));
                    }
                    let data = match d.format {
                        Format::FractalZ => layout::from_fractal_z(bytes, &d.origin_shape, es),
                        Format::Nc1hwc0 => layout::from_nc1hwc0(bytes, &d.origin_shape, es),
                        _ => bytes.to_vec(),
                    };
                    let t = Tensor::from_bytes(d.dtype, d.origin_shape.clone(), data)?;
                    let key = format!("{}:0", op.name);
                    let o = ir.add_const(op.name.clone(), t.clone());
                    consts.insert(key.clone(), t);
                    vals.insert(key, o);
                    continue;
                }
                "TransData" => {
                    let src = op.input_desc.first().ok_or_else(|| err("no input desc".into())).and_then(|d| desc_info(d).map_err(err))?;
                    let dst = out_info(0)?;
                    if src.origin_shape != dst.origin_shape || src.dtype != dst.dtype || ins.len() != 1 {
                        return Err(err(format!("changes more than the layout: {:?} {} -> {:?} {}", src.origin_shape, src.dtype, dst.origin_shape, dst.dtype)));
                    }
                    vals.insert(format!("{}:0", op.name), ins[0]);
                    continue;
                }
                "NetOutput" => {
                    for (k, &o) in ins.iter().enumerate() {
                        let name = op.input_desc.get(k).map(|d| d.name.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| format!("output_{k}"));
                        ir.add_output(name, o);
                    }
                    outputs_seen = true;
                    continue;
                }
                ty => ge_to_ir(ty, a, &out_info, &const_of).map_err(err)?,
            };
            // Operands the IR keeps as attributes (shapes, bounds, paddings) are dropped.
            let keep = match op.r#type.as_str() {
                "Reshape" | "ClipByValue" | "PadV3" => 1,
                _ => ins.len(),
            };
            let mut operands = ins[..keep.min(ins.len())].to_vec();
            if op.r#type == "BNInferenceD" && operands.len() == 5 {
                // x, mean, variance, scale, b back to the IR's x, scale, bias, mean, var.
                operands = vec![operands[0], operands[3], operands[4], operands[1], operands[2]];
            }
            if op.r#type == "DepthwiseConv2D" {
                // [1, C, H, W] (K, C, H, W) back to ONNX's [C, 1, H, W].
                let f = const_of(1)?;
                let s = f.shape().to_vec();
                if s.len() != 4 || s[0] != 1 {
                    return Err(err(format!("depthwise filter {s:?} (only multiplier 1 is read)")));
                }
                operands[1] = ir.add_const(format!("{}/filter", op.name), f.reshaped(vec![s[1], 1, s[2], s[3]])?);
            }
            let id = ir.add_node(op.name.clone(), node, &operands)?;
            let n_out = ir.node(id).outputs.len();
            for k in 0..op.output_desc.len().min(n_out) {
                vals.insert(format!("{}:{k}", op.name), Outlet { node: id, slot: k });
            }
        }
        if !outputs_seen {
            return Err(bad("the graph has no NetOutput"));
        }
        ir.prune();
        Ok(ir)
    }
}

/// The IR op for a CANN op (inputs handled by the caller).
fn ge_to_ir(
    ty: &str,
    a: &Attrs,
    out_info: &dyn Fn(usize) -> Result<DescInfo, ReadError>,
    const_of: &dyn Fn(usize) -> Result<Tensor, ReadError>,
) -> Result<Op, String> {
    let ints = |k: &str| attr::get_ints(a, k).ok_or_else(|| format!("missing list attr {k}"));
    let us = |v: &[i64]| -> Result<Vec<usize>, String> { v.iter().map(|&x| usize::try_from(x).map_err(|_| format!("negative value in {v:?}"))).collect() };
    let nchw = |k: &str| match attr::get_str(a, k).as_deref() {
        None | Some("NCHW") => Ok(()),
        Some(f) => Err(format!("data_format {f} (only NCHW is read)")),
    };
    let spatial = |k: &str| -> Result<Vec<usize>, String> {
        let v = us(&ints(k)?)?;
        if v.len() != 4 {
            return Err(format!("{k} {v:?} must have 4 values"));
        }
        Ok(vec![v[2], v[3]])
    };
    // GE pads are [top, bottom, left, right]; the IR's [top, left, bottom, right].
    let pads = || -> Result<Vec<usize>, String> {
        let p = us(&ints("pads")?)?;
        if p.len() != 4 {
            return Err(format!("pads {p:?} must have 4 values"));
        }
        Ok(vec![p[0], p[2], p[1], p[3]])
    };
    let f = |k: &str, d: f32| attr::get_float(a, k).unwrap_or(d);
    let b = |k: &str, d: bool| attr::get_bool(a, k).unwrap_or(d);
    let scalar = |k: usize| -> Result<f32, String> {
        let t = const_of(k).map_err(|e| e.to_string())?;
        t.to_f32().first().copied().ok_or_else(|| "empty constant".to_string())
    };
    Ok(match ty {
        "Conv2D" | "DepthwiseConv2D" => {
            nchw("data_format")?;
            let group = if ty == "DepthwiseConv2D" {
                out_info(0).map_err(|e| e.to_string())?.origin_shape.get(1).copied().ok_or("depthwise output is not 4-D")?
            } else {
                attr::get_int(a, "groups").unwrap_or(1).max(1) as usize
            };
            let dil = if a.contains_key("dilations") { spatial("dilations")? } else { vec![1, 1] };
            Op::Conv(irops::Conv { strides: spatial("strides")?, dilations: dil, pads: pads()?, auto_pad: AutoPad::NotSet, group, format: DataFormat::Nchw, ..Default::default() })
        }
        "BNInferenceD" => {
            if !b("use_global_stats", true) {
                return Err("BNInferenceD without global statistics".into());
            }
            Op::BatchNorm(irops::BatchNorm { epsilon: f("epsilon", 1e-5), axis: 1 })
        }
        "Scale" => {
            if attr::get_int(a, "num_axes").unwrap_or(1) != 1 {
                return Err("Scale over more than one axis".into());
            }
            let axis = usize::try_from(attr::get_int(a, "axis").unwrap_or(1)).map_err(|_| "negative Scale axis")?;
            Op::ScaleShift(irops::ScaleShift { axis, act: irops::FusedAct::None })
        }
        "Relu" => Op::Relu(irops::Relu {}),
        "Relu6" => Op::Clip(irops::Clip { min: 0.0, max: 6.0 }),
        "ClipByValue" => Op::Clip(irops::Clip { min: scalar(1)?, max: scalar(2)? }),
        "Sigmoid" => Op::Sigmoid(irops::Sigmoid {}),
        "Swish" if f("scale", 1.0) == 1.0 => Op::Silu(irops::Silu {}),
        "HardSwish" => Op::HardSwish(irops::HardSwish {}),
        "HardSigmoid" => Op::HardSigmoid(irops::HardSigmoid { alpha: f("alpha", 1.0 / 6.0), beta: f("beta", 0.5) }),
        "Tanh" => Op::Tanh(irops::Tanh {}),
        "Elu" => Op::Elu(irops::Elu { alpha: f("alpha", 1.0) }),
        "Maximum" => Op::Max(irops::Max {}),
        "Minimum" => Op::Min(irops::Min {}),
        "ReduceMaxD" => Op::ReduceMax(irops::ReduceMax { axes: ints("axes")?, keepdims: b("keep_dims", false) }),
        "Add" => Op::Add(irops::Add {}),
        "Sub" => Op::Sub(irops::Sub {}),
        "Mul" => Op::Mul(irops::Mul {}),
        "RealDiv" => Op::Div(irops::Div {}),
        "ReduceMeanD" => Op::ReduceMean(irops::ReduceMean { axes: ints("axes")?, keepdims: b("keep_dims", false) }),
        "AvgPoolV2" | "MaxPoolV3" => {
            nchw("data_format")?;
            if attr::get_str(a, "padding_mode").as_deref().is_some_and(|m| m != "CALCULATED") || b("global_pooling", false) {
                return Err("only CALCULATED, non-global pooling is read".into());
            }
            let (kernel, strides, pads, ceil_mode) = (spatial("ksize")?, spatial("strides")?, pads()?, b("ceil_mode", false));
            if ty == "AvgPoolV2" {
                Op::AveragePool(irops::AveragePool { kernel, strides, pads, ceil_mode, count_include_pad: !b("exclusive", true), ..Default::default() })
            } else {
                Op::MaxPool(irops::MaxPool { kernel, strides, pads, ceil_mode, ..Default::default() })
            }
        }
        "MatMulV2" => Op::Gemm(irops::Gemm { alpha: 1.0, beta: 1.0, trans_a: b("transpose_x1", false), trans_b: b("transpose_x2", false) }),
        "Flatten" => Op::Flatten(irops::Flatten { axis: attr::get_int(a, "axis").unwrap_or(1) }),
        "Reshape" => Op::Reshape(irops::Reshape { shape: const_of(1).map_err(|e| e.to_string())?.to_i64(), allowzero: false }),
        "TransposeD" => Op::Transpose(irops::Transpose { perm: us(&ints("perm")?)? }),
        "ConcatD" => Op::Concat(irops::Concat { axis: attr::get_int(a, "concat_dim").ok_or("missing concat_dim")? }),
        "PadD" => {
            let p = attr::get_int_lists(a, "paddings").ok_or("missing paddings")?;
            if p.iter().any(|x| x.len() != 2) {
                return Err("paddings must be pairs".into());
            }
            Op::Pad(irops::Pad { pads: p.iter().map(|x| x[0]).chain(p.iter().map(|x| x[1])).collect(), mode: PadMode::Constant, value: 0.0 })
        }
        "PadV3" => {
            let p = const_of(1).map_err(|e| e.to_string())?.to_i64();
            let r = p.len() / 2;
            let mode = match attr::get_str(a, "mode").as_deref() {
                None | Some("constant") => PadMode::Constant,
                Some("reflect") => PadMode::Reflect,
                Some("edge") => PadMode::Edge,
                Some(m) => return Err(format!("pad mode {m}")),
            };
            let value = if mode == PadMode::Constant { scalar(2).unwrap_or(0.0) } else { 0.0 };
            Op::Pad(irops::Pad { pads: (0..r).map(|i| p[2 * i]).chain((0..r).map(|i| p[2 * i + 1])).collect(), mode, value })
        }
        "StridedSliceD" => {
            let (b, e, st) = (us(&ints("begin")?)?, us(&ints("end")?)?, us(&ints("strides")?)?);
            if b.len() != e.len() || b.len() != st.len() {
                return Err("begin, end and strides differ in length".into());
            }
            let axes: Vec<usize> = (0..b.len()).collect();
            Op::Slice(irops::Slice { axes, starts: b, ends: e, steps: st })
        }
        "SoftmaxV2" => match ints("axes")?.as_slice() {
            [axis] => Op::Softmax(irops::Softmax { axis: *axis }),
            v => return Err(format!("softmax over axes {v:?}")),
        },
        "Identity" => Op::Identity(irops::Identity {}),
        "Cast" => {
            let n = attr::get_int(a, "dst_type").ok_or("missing dst_type")?;
            Op::Cast(irops::Cast { to: ge_dtype_from_number(n).ok_or_else(|| format!("dst_type {n}"))? })
        }
        other => return Err(format!("no CPU semantics for CANN op type {other}")),
    })
}

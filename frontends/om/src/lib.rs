//! Reading Ascend OM and AIR files (as senetc writes them) back, describing them, and
//! converting the GE graph to senetc IR so the CPU reference can run it. The conversion
//! undoes what the backend's `assign` did: TransData ops vanish (senetc only inserts them
//! between two formats of the same origin tensor, which is checked), FRACTAL_Z and NC1HWC0
//! constants are unpacked to NCHW, and fp16 storage stays fp16 in the IR (the CPU reference
//! rounds every f16 value, as the AI Core stores it). Each op's meaning comes from the CANN op
//! table in `senetc-ge` ([`senetc_ge::to_ir`]), the same table the backend lowers through.
//! Every input is untrusted: malformed files give a [`ReadError`], never a panic.
#![warn(missing_docs)]

use prost::Message;
use senetc_ge::om::{partition, HEADER_LEN, MAGIC};
use senetc_ge::{attr, layout, proto, CannOp, Desc, Format, Operand, Read, ReadContext};
use senetc_ir::{Graph, Outlet, Shape, Tensor, TensorType};
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

impl AscendModel {
    /// The main graph.
    pub fn graph(&self) -> &proto::GraphDef {
        &self.model.graph[0]
    }

    /// Op types in graph order, Const ops left out (as netron lists nodes).
    pub fn node_types(&self) -> Vec<String> {
        self.graph().op.iter().filter(|o| CannOp::from_name(&o.r#type) != Some(CannOp::Const)).map(|o| o.r#type.clone()).collect()
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
                    let name = partition::name(p.kind).unwrap_or("other");
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
        let ty = |d: &proto::TensorDescriptor| match Desc::from_proto(d) {
            Ok(i) if i.format.is_runtime() || i.origin_shape != i.shape => format!("{}:{}{:?} (origin {}{:?})", i.dtype, i.format.name(), i.shape, i.origin_format.name(), i.origin_shape),
            Ok(i) => format!("{}:{}{:?}", i.dtype, i.format.name(), i.shape),
            Err(e) => format!("<{e}>"),
        };
        for op in &g.op {
            let outs: Vec<String> = op.output_desc.iter().map(ty).collect();
            let ins: Vec<&str> = op.input.iter().map(|i| i.as_str()).collect();
            let _ = write!(s, "  {} = {}({})", op.name, op.r#type, ins.join(", "));
            if CannOp::from_name(&op.r#type) == Some(CannOp::NetOutput) {
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
                in_names.push(i.as_str());
            }
            let cann = CannOp::from_name(&op.r#type).ok_or_else(|| err(format!("no CPU semantics for CANN op type {}", op.r#type)))?;
            let cx = OpContext { op, in_names: &in_names, consts: &consts };
            match senetc_ge::to_ir(cann, &op.attr, &cx).map_err(err)? {
                Read::Input => {
                    let d = cx.output(0).map_err(err)?;
                    let o = ir.add_input(op.name.clone(), TensorType::new(d.dtype, Shape::known(&d.shape)));
                    vals.insert(format!("{}:0", op.name), o);
                }
                Read::Constant => {
                    let (bytes, d) = self.const_bytes(op).map_err(err)?;
                    let d = Desc::from_proto(d).map_err(err)?;
                    let es = d.dtype.size();
                    if checked_bytes(&d.shape, es) != Some(bytes.len()) {
                        return Err(err(format!("{} bytes for {}{:?}", bytes.len(), d.dtype, d.shape)));
                    }
                    check_layout(&d, bytes.len()).map_err(err)?;
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
                }
                Read::Relayout => {
                    let src = op.input_desc.first().ok_or_else(|| err("no input desc".into())).and_then(|d| Desc::from_proto(d).map_err(err))?;
                    let dst = cx.output(0).map_err(err)?;
                    if src.origin_shape != dst.origin_shape || src.dtype != dst.dtype || ins.len() != 1 {
                        return Err(err(format!("changes more than the layout: {:?} {} -> {:?} {}", src.origin_shape, src.dtype, dst.origin_shape, dst.dtype)));
                    }
                    vals.insert(format!("{}:0", op.name), ins[0]);
                }
                Read::Outputs => {
                    for (k, &o) in ins.iter().enumerate() {
                        let name = op.input_desc.get(k).map(|d| d.name.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| format!("output_{k}"));
                        ir.add_output(name, o);
                    }
                    outputs_seen = true;
                }
                Read::Node(node, operands) => {
                    let operands: Vec<Outlet> = operands
                        .into_iter()
                        .map(|o| match o {
                            Operand::Input(k) => ins[k],
                            Operand::Const(input, t) => ir.add_const(format!("{}/{input}", op.name), t),
                        })
                        .collect();
                    let id = ir.add_node(op.name.clone(), node, &operands)?;
                    let n_out = ir.node(id).outputs.len();
                    for k in 0..op.output_desc.len().min(n_out) {
                        vals.insert(format!("{}:{k}", op.name), Outlet { node: id, slot: k });
                    }
                }
            }
        }
        if !outputs_seen {
            return Err(bad("the graph has no NetOutput"));
        }
        ir.prune();
        Ok(ir)
    }
}

/// Bytes of `shape` with `es`-byte elements, if that fits.
fn checked_bytes(shape: &[usize], es: usize) -> Option<usize> {
    shape.iter().try_fold(es, |a, &d| a.checked_mul(d))
}

/// A constant's origin shape must be what its runtime layout holds: NC1HWC0 and FRACTAL_Z
/// need a 4-D origin whose padded layout is the runtime shape, others the same elements.
fn check_layout(d: &Desc, bytes: usize) -> Result<(), String> {
    let es = d.dtype.size();
    let fits = checked_bytes(&d.origin_shape, es).is_some_and(|n| n <= bytes) && d.origin_shape.iter().all(|&x| x <= bytes);
    let ok = fits
        && match d.format {
            // Dims within 2^20 keep the layout arithmetic within 64 bits.
            Format::FractalZ | Format::Nc1hwc0 if d.origin_shape.iter().any(|&x| x > 1 << 20) => false,
            Format::FractalZ => d.origin_shape.len() == 4 && layout::fractal_z_shape(&d.origin_shape) == d.shape,
            Format::Nc1hwc0 => d.origin_shape.len() == 4 && layout::nc1hwc0_shape(&d.origin_shape) == d.shape,
            _ => checked_bytes(&d.origin_shape, es) == Some(bytes),
        };
    if !ok {
        return Err(format!("origin shape {:?} does not match the {} data of shape {:?}", d.origin_shape, d.format.name(), d.shape));
    }
    Ok(())
}

/// What the op table may ask about the op being converted.
struct OpContext<'a> {
    op: &'a proto::OpDef,
    /// The op's data inputs ("producer:index").
    in_names: &'a [&'a str],
    /// Constants read so far, by "name:0".
    consts: &'a HashMap<String, Tensor>,
}

impl ReadContext for OpContext<'_> {
    fn num_inputs(&self) -> usize {
        self.in_names.len()
    }

    fn const_input(&self, k: usize) -> Result<Tensor, String> {
        self.in_names.get(k).and_then(|n| self.consts.get(*n)).cloned().ok_or_else(|| format!("input {k} must be a Const"))
    }

    fn output(&self, k: usize) -> Result<Desc, String> {
        Desc::from_proto(self.op.output_desc.get(k).ok_or_else(|| format!("no output desc {k}"))?)
    }
}

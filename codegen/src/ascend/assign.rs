//! Step 2: formats and precisions. Each logical op gets a compute dtype (from
//! `precision_mode`) and a format (NC1HWC0 for AI-Core ops on 4-D activations when runtime
//! formats are on, its origin NCHW/ND otherwise). Where a producer's (dtype, format) is not
//! what a consumer wants, a `Cast` and/or `TransData` is inserted (shared by all consumers
//! that want the same); constants are instead converted offline (cast to the compute type,
//! re-laid out to FRACTAL_Z/NC1HWC0), so no conversion op ever runs on a weight; the
//! conversion itself is left to the writer ([`super::weights`]). Then [`to_model_def`] builds
//! the GE `ModelDef`, with weights inline (AIR) or placed in WEIGHTS_DATA (OM).

use super::lower::{LOut, LRef, Lowered};
use super::weights::{Placement, Weight};
use super::{AscendOptions, SocVersion, TARGET};
use crate::CodegenError;
use senetc_ge::attr::{self, Attrs};
use senetc_ge::om::PLATFORM_VERSION;
use senetc_ge::{proto, CannOp, Compute, Desc, Format, FormatRule, Role};
use senetc_ge::types::ge_dtype_number;
use senetc_ir::DType;
use std::collections::HashMap;

/// The desc of a value of origin type `o` held as (`dtype`, `format`).
fn desc(o: &LOut, dtype: DType, format: Format) -> Desc {
    Desc::new(dtype, format, o.format, o.shape.clone())
}

/// A final GE op.
#[derive(Clone, Debug)]
pub struct GeOp {
    /// Unique name.
    pub name: String,
    /// CANN op type.
    pub ty: CannOp,
    /// Data inputs: (producer op index, output index).
    pub inputs: Vec<(usize, usize)>,
    /// One desc per input.
    pub in_descs: Vec<Desc>,
    /// One desc per output.
    pub out_descs: Vec<Desc>,
    /// Attributes.
    pub attrs: Attrs,
    /// A Const's runtime bytes, described (converted only when written).
    pub value: Option<Weight>,
    /// NetOutput: the graph output names, one per input.
    pub output_names: Vec<String>,
}

/// Choose formats and precisions for `l`, inserting conversions.
pub fn assign(l: &Lowered, opts: &AscendOptions) -> Result<Vec<GeOp>, CodegenError> {
    let mut a = Assigner { l, opts, out: Vec::new(), actual: HashMap::new(), consts: HashMap::new(), converted: HashMap::new(), names: Default::default(), n_trans: 0, n_cast: 0 };
    for op in &l.ops {
        a.names.insert(op.name.clone());
    }
    for i in 0..l.ops.len() {
        if l.ops[i].op != CannOp::Const {
            a.op(i)?;
        }
    }
    // NetOutput: every graph output in its source type and origin format.
    let mut inputs = Vec::new();
    let mut in_descs = Vec::new();
    let mut names = Vec::new();
    for (name, r) in &l.outputs {
        let lo = a.lout(*r).clone();
        let (src, d) = a.source(*r, lo.dtype, lo.format, std::slice::from_ref(name))?;
        inputs.push(src);
        in_descs.push(d);
        names.push(name.clone());
    }
    let mut attrs = Attrs::new();
    attrs.insert("original_op_names".into(), attr::strings(&[]));
    let name = a.fresh(CannOp::NetOutput.name());
    a.out.push(GeOp { name, ty: CannOp::NetOutput, inputs, in_descs, out_descs: vec![], attrs, value: None, output_names: names });
    Ok(a.out)
}

struct Assigner<'a> {
    l: &'a Lowered,
    opts: &'a AscendOptions,
    out: Vec<GeOp>,
    /// Where each non-Const logical value ended up: (op index, slot).
    actual: HashMap<LRef, (usize, usize)>,
    /// Materialized constants by (logical op, dtype, format).
    consts: HashMap<(usize, DType, Format), usize>,
    /// Conversion results by (source op, slot, dtype, format).
    converted: HashMap<(usize, usize, DType, Format), (usize, usize)>,
    names: std::collections::HashSet<String>,
    n_trans: usize,
    n_cast: usize,
}

impl<'a> Assigner<'a> {
    fn lout(&self, r: LRef) -> &'a LOut {
        &self.l.ops[r.op].outputs[r.slot]
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    fn desc_of(&self, (op, slot): (usize, usize)) -> &Desc {
        &self.out[op].out_descs[slot]
    }

    fn compute_dtype(&self, i: usize) -> Result<DType, CodegenError> {
        let op = &self.l.ops[i];
        let origin = op.outputs[0].dtype;
        if op.op.compute() == Compute::Fixed || !origin.is_float() {
            return Ok(origin);
        }
        // The IR's element types are the fp16 pass's decisions: carry them.
        let dt = origin;
        if op.op.is_cube() && dt == DType::F32 && self.opts.soc_version == SocVersion::Ascend310 {
            return Err(CodegenError::Unsupported {
                node: origin_name(op),
                op: "conv/matmul",
                target: TARGET,
                why: format!("{} in fp32: the Ascend310 cube unit computes fp16/int8 only (use force_fp16)", op.op.name()),
            });
        }
        Ok(dt)
    }

    fn uses_5hd(&self, i: usize) -> bool {
        let op = &self.l.ops[i];
        let out = &op.outputs[0];
        if !self.opts.runtime_formats || out.shape.len() != 4 || out.format != Format::Nchw || !out.dtype.is_float() {
            return false;
        }
        match op.format {
            FormatRule::Hd5 => true,
            FormatRule::Origin => false,
            FormatRule::Follow => {
                let acts: Vec<LRef> = op.inputs.iter().enumerate().filter(|&(k, _)| matches!(op.op.role(k), Role::Act | Role::AsIs)).map(|(_, r)| *r).collect();
                acts.iter().all(|r| self.lout(*r).shape.len() == 4)
                    && acts.iter().any(|r| self.actual.get(r).is_some_and(|&s| self.desc_of(s).format == Format::Nc1hwc0))
            }
        }
    }

    fn op(&mut self, i: usize) -> Result<(), CodegenError> {
        let op = &self.l.ops[i];
        let dt = self.compute_dtype(i)?;
        let hd5 = self.uses_5hd(i);
        let origin = attr::get_strings(&op.attrs, "original_op_names").unwrap_or_default();
        let mut inputs = Vec::new();
        let mut in_descs = Vec::new();
        for (k, &r) in op.inputs.iter().enumerate() {
            let src = self.lout(r);
            let (want_dt, want_fmt) = match op.op.role(k) {
                Role::Act => (if src.dtype.is_float() { dt } else { src.dtype }, if hd5 && src.shape.len() == 4 { Format::Nc1hwc0 } else { src.format }),
                Role::Filter => (dt, if hd5 { Format::FractalZ } else { src.format }),
                Role::Weight => (if src.dtype.is_float() { dt } else { src.dtype }, src.format),
                Role::Stat => (DType::F32, src.format),
                Role::AsIs => match self.actual.get(&r) {
                    // Follow the producer; a Cast under NC1HWC0 keeps it.
                    Some(&s) => (self.desc_of(s).dtype, if hd5 || self.desc_of(s).format != Format::Nc1hwc0 { self.desc_of(s).format } else { src.format }),
                    None => (src.dtype, src.format),
                },
            };
            let (s, d) = self.source(r, want_dt, want_fmt, &origin)?;
            inputs.push(s);
            in_descs.push(d);
        }
        let out_descs: Vec<Desc> = op
            .outputs
            .iter()
            .map(|o| {
                let d = if o.dtype.is_float() { dt } else { o.dtype };
                let f = if hd5 && o.shape.len() == 4 { Format::Nc1hwc0 } else { o.format };
                desc(o, d, f)
            })
            .collect();
        if op.op == CannOp::Data {
            // GE gives Data one input desc equal to its output desc.
            in_descs = out_descs.clone();
        }
        let idx = self.out.len();
        self.out.push(GeOp { name: op.name.clone(), ty: op.op, inputs, in_descs, out_descs, attrs: op.attrs.clone(), value: None, output_names: vec![] });
        for slot in 0..op.outputs.len() {
            self.actual.insert(LRef { op: i, slot }, (idx, slot));
        }
        Ok(())
    }

    /// The (op, slot) to read logical value `r` from as (`dt`, `fmt`), and its desc.
    fn source(&mut self, r: LRef, dt: DType, fmt: Format, origin: &[String]) -> Result<((usize, usize), Desc), CodegenError> {
        if self.l.ops[r.op].op == CannOp::Const {
            let idx = self.konst(r.op, dt, fmt)?;
            return Ok(((idx, 0), self.out[idx].out_descs[0].clone()));
        }
        let mut cur = *self.actual.get(&r).ok_or_else(|| CodegenError::Input(format!("value of {} used before it is computed", self.l.ops[r.op].name)))?;
        let o = self.lout(r).clone();
        let d0 = self.desc_of(cur).clone();
        // Leave a runtime format before casting, enter one after: Cast then runs on the plain layout.
        if d0.format != fmt && d0.format.is_runtime() {
            cur = self.convert(cur, &o, d0.dtype, o.format, origin);
        }
        if self.desc_of(cur).dtype != dt {
            let f = self.desc_of(cur).format;
            cur = self.convert(cur, &o, dt, f, origin);
        }
        if self.desc_of(cur).format != fmt {
            cur = self.convert(cur, &o, dt, fmt, origin);
        }
        Ok((cur, self.desc_of(cur).clone()))
    }

    /// One Cast or one TransData from `src` to (`dt`, `fmt`) (exactly one of them differs).
    fn convert(&mut self, src: (usize, usize), o: &LOut, dt: DType, fmt: Format, origin: &[String]) -> (usize, usize) {
        let key = (src.0, src.1, dt, fmt);
        if let Some(&c) = self.converted.get(&key) {
            return c;
        }
        let from = self.desc_of(src).clone();
        let to = desc(o, dt, fmt);
        let mut attrs = Attrs::new();
        let (ty, name) = if from.dtype != dt {
            attrs.insert("dst_type".into(), attr::int(ge_dtype_number(dt)));
            attrs.insert("truncate".into(), attr::boolean(false));
            self.n_cast += 1;
            (CannOp::Cast, format!("trans_Cast_{}", self.n_cast - 1))
        } else {
            attrs.insert("src_format".into(), attr::string(from.format.name()));
            attrs.insert("dst_format".into(), attr::string(fmt.name()));
            attrs.insert("src_subformat".into(), attr::int(0));
            attrs.insert("dst_subformat".into(), attr::int(0));
            attrs.insert("groups".into(), attr::int(1));
            self.n_trans += 1;
            (CannOp::TransData, format!("trans_TransData_{}", self.n_trans - 1))
        };
        attrs.insert("original_op_names".into(), attr::strings(origin));
        let name = self.fresh(&name);
        let idx = self.out.len();
        self.out.push(GeOp { name, ty, inputs: vec![src], in_descs: vec![from], out_descs: vec![to], attrs, value: None, output_names: vec![] });
        self.converted.insert(key, (idx, 0));
        (idx, 0)
    }

    /// The Const op holding logical constant `i` as (`dt`, `fmt`), created on first use. Its
    /// value keeps the source tensor; the writer converts it.
    fn konst(&mut self, i: usize, dt: DType, fmt: Format) -> Result<usize, CodegenError> {
        if let Some(&c) = self.consts.get(&(i, dt, fmt)) {
            return Ok(c);
        }
        let op = &self.l.ops[i];
        let t = op.value.as_ref().ok_or_else(|| CodegenError::Input(format!("Const {} has no value", op.name)))?;
        // Floats are stored in the consumer's compute type; other types as they are.
        let dtype = if t.dtype().is_float() && dt.is_float() { dt } else { t.dtype() };
        let s = t.shape();
        if fmt.is_runtime() && s.len() != 4 {
            return Err(CodegenError::Input(format!("Const {} of shape {s:?} cannot be {}", op.name, fmt.name())));
        }
        let first = !self.consts.keys().any(|k| k.0 == i);
        let name = if first { op.name.clone() } else { self.fresh(&format!("{}_{}_{}", op.name, dtype.name(), fmt.name())) };
        let idx = self.out.len();
        let d = Desc::new(dtype, fmt, op.outputs[0].format, s.to_vec());
        let value = Weight::new(t.clone(), d.clone());
        self.out.push(GeOp { name, ty: CannOp::Const, inputs: vec![], in_descs: vec![], out_descs: vec![d], attrs: op.attrs.clone(), value: Some(value), output_names: vec![] });
        self.consts.insert((i, dt, fmt), idx);
        Ok(idx)
    }
}

fn origin_name(op: &super::lower::LOp) -> String {
    attr::get_strings(&op.attrs, "original_op_names").and_then(|v| v.into_iter().next()).unwrap_or_else(|| op.name.clone())
}

/// Build the GE ModelDef of `ops`. With a `placement` (OM, and the JSON of an OM) every Const
/// points into WEIGHTS_DATA as GE's builder leaves it: `data_offset` and `weight_size` on
/// the Const's descs, `data_offset` on each consumer's input desc, model attrs `weight_size`
/// and `om_info_list`, no bytes. Without one (AIR) each Const's `value` holds its bytes.
pub fn to_model_def(name: &str, ops: &[GeOp], opts: &AscendOptions, placement: Option<&Placement>) -> proto::ModelDef {
    let offset_of = |id: usize| placement.and_then(|p| p.offsets.get(id).copied().flatten());
    let mut graph = proto::GraphDef { name: name.to_string(), ..Default::default() };
    let mut memory = 0i64;
    for (id, op) in ops.iter().enumerate() {
        let mut attrs = op.attrs.clone();
        let mut output_desc: Vec<proto::TensorDescriptor> = op.out_descs.iter().map(Desc::to_proto).collect();
        if let Some(w) = &op.value {
            let mut desc = op.out_descs[0].to_proto();
            let data = match offset_of(id) {
                Some(offset) => {
                    for d in std::iter::once(&mut desc).chain(output_desc.iter_mut()) {
                        d.data_offset = offset as i64;
                        d.weight_size = w.len() as i64;
                    }
                    bytes::Bytes::new()
                }
                None => w.bytes(),
            };
            attrs.insert("value".into(), attr::tensor(proto::TensorDef { desc: Some(desc), data }));
        } else {
            memory += op.out_descs.iter().map(|d| d.bytes() as i64).sum::<i64>();
        }
        let mut input_desc: Vec<proto::TensorDescriptor> = op.in_descs.iter().map(Desc::to_proto).collect();
        for (d, n) in input_desc.iter_mut().zip(&op.output_names) {
            d.name = n.clone();
        }
        for (d, &(p, _)) in input_desc.iter_mut().zip(&op.inputs) {
            if let Some(offset) = offset_of(p) {
                d.data_offset = offset as i64;
            }
        }
        let def = proto::OpDef {
            name: op.name.clone(),
            r#type: op.ty.name().to_string(),
            input: op.inputs.iter().map(|&(p, s)| format!("{}:{s}", ops[p].name)).collect(),
            attr: attrs,
            id: id as i64,
            is_input_const: op.inputs.iter().map(|&(p, _)| ops[p].ty == CannOp::Const).collect(),
            input_desc,
            output_desc,
            ..Default::default()
        };
        if op.ty == CannOp::Data {
            graph.input.push(format!("{}:0", op.name));
        }
        if op.ty == CannOp::NetOutput {
            graph.output = def.input.clone();
        }
        graph.op.push(def);
    }
    let mut attr = Attrs::new();
    attr.insert("soc_version".into(), attr::string(opts.soc_version.name()));
    attr.insert("precision_mode".into(), attr::string(opts.precision_mode.name()));
    attr.insert("core_type".into(), attr::string("AiCore"));
    attr.insert("memory_size".into(), attr::int(memory));
    attr.insert("stream_num".into(), attr::int(1));
    attr.insert("event_num".into(), attr::int(0));
    attr.insert("label_num".into(), attr::int(0));
    attr.insert("attr_model_out_nodes_name".into(), attr::strings(&graph.output));
    if let Some(p) = placement {
        attr.insert("weight_size".into(), attr::int(p.len as i64));
        attr.insert("om_info_list".into(), attr::ints(&[p.len as i64, 0, 0, 0]));
    }
    proto::ModelDef { name: name.to_string(), version: 2, custom_version: PLATFORM_VERSION.into(), graph: vec![graph], attr }
}

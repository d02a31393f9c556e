//! Step 2: formats and precisions. Each logical op gets a compute dtype (from
//! `precision_mode`) and a format (NC1HWC0 for AI-Core ops on 4-D activations when runtime
//! formats are on, its origin NCHW/ND otherwise). Where a producer's (dtype, format) is not
//! what a consumer wants, a `Cast` and/or `TransData` is inserted (shared by all consumers
//! that want the same); constants are instead converted offline (cast to the compute type,
//! re-laid out to FRACTAL_Z/NC1HWC0), so no conversion op ever runs on a weight. Then
//! [`to_model_def`] serializes the result as a GE `ModelDef` with weights inline.

use super::attr::{self, Attrs};
use super::layout;
use super::lower::{FormatRule, LOut, LRef, Lowered, Precision, Want};
use super::proto;
use super::types::{ge_dtype_number, proto_dtype, Format};
use super::{AscendOptions, SocVersion, TARGET};
use crate::CodegenError;
use senetc_ir::{DType, Tensor};
use std::collections::HashMap;

/// A tensor description as GE writes it: runtime dtype/format/shape and the origin ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Desc {
    /// Element type at run time.
    pub dtype: DType,
    /// Runtime format.
    pub format: Format,
    /// Runtime shape (e.g. 5-D for NC1HWC0).
    pub shape: Vec<usize>,
    /// Format of the source graph.
    pub origin_format: Format,
    /// Shape in the origin format.
    pub origin_shape: Vec<usize>,
}

impl Desc {
    /// A desc whose runtime and origin agree.
    pub fn plain(dtype: DType, format: Format, shape: Vec<usize>) -> Desc {
        Desc { dtype, format, origin_format: format, origin_shape: shape.clone(), shape }
    }

    /// The desc of a value of origin type `o` held as (`dtype`, `format`).
    pub fn of(o: &LOut, dtype: DType, format: Format) -> Desc {
        let shape = match format {
            Format::Nc1hwc0 => layout::nc1hwc0_shape(&o.shape),
            Format::FractalZ => layout::fractal_z_shape(&o.shape),
            _ => o.shape.clone(),
        };
        Desc { dtype, format, shape, origin_format: o.format, origin_shape: o.shape.clone() }
    }

    /// Bytes the runtime tensor takes.
    pub fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// A final GE op.
#[derive(Clone, Debug)]
pub struct GeOp {
    /// Unique name.
    pub name: String,
    /// CANN op type.
    pub ty: String,
    /// Data inputs: (producer op index, output index).
    pub inputs: Vec<(usize, usize)>,
    /// One desc per input.
    pub in_descs: Vec<Desc>,
    /// One desc per output.
    pub out_descs: Vec<Desc>,
    /// Attributes.
    pub attrs: Attrs,
    /// A Const's runtime bytes (already cast and re-laid out).
    pub value: Option<Vec<u8>>,
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
        if l.ops[i].ty != "Const" {
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
    let name = a.fresh("NetOutput");
    a.out.push(GeOp { name, ty: "NetOutput".into(), inputs, in_descs, out_descs: vec![], attrs, value: None, output_names: names });
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
        if op.precision == Precision::Fixed || !origin.is_float() {
            return Ok(origin);
        }
        // The IR's element types are the fp16 pass's decisions: carry them.
        let dt = origin;
        let cube = matches!(op.ty, "Conv2D" | "DepthwiseConv2D" | "MatMulV2");
        if cube && dt == DType::F32 && self.opts.soc_version == SocVersion::Ascend310 {
            return Err(CodegenError::Unsupported {
                node: origin_name(op),
                op: "conv/matmul",
                target: TARGET,
                why: format!("{} in fp32: the Ascend310 cube unit computes fp16/int8 only (use force_fp16)", op.ty),
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
                let acts: Vec<LRef> = op.inputs.iter().filter(|(_, w)| matches!(w, Want::Act | Want::AsIs)).map(|(r, _)| *r).collect();
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
        for &(r, want) in &op.inputs {
            let src = self.lout(r);
            let (want_dt, want_fmt) = match want {
                Want::Act => (if src.dtype.is_float() { dt } else { src.dtype }, if hd5 && src.shape.len() == 4 { Format::Nc1hwc0 } else { src.format }),
                Want::Filter => (dt, if hd5 { Format::FractalZ } else { src.format }),
                Want::Weight => (if src.dtype.is_float() { dt } else { src.dtype }, src.format),
                Want::Stat => (DType::F32, src.format),
                Want::AsIs => match self.actual.get(&r) {
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
                Desc::of(o, d, f)
            })
            .collect();
        if op.ty == "Data" {
            // GE gives Data one input desc equal to its output desc.
            in_descs = out_descs.clone();
        }
        let idx = self.out.len();
        self.out.push(GeOp { name: op.name.clone(), ty: op.ty.to_string(), inputs, in_descs, out_descs, attrs: op.attrs.clone(), value: None, output_names: vec![] });
        for slot in 0..op.outputs.len() {
            self.actual.insert(LRef { op: i, slot }, (idx, slot));
        }
        Ok(())
    }

    /// The (op, slot) to read logical value `r` from as (`dt`, `fmt`), and its desc.
    fn source(&mut self, r: LRef, dt: DType, fmt: Format, origin: &[String]) -> Result<((usize, usize), Desc), CodegenError> {
        if self.l.ops[r.op].ty == "Const" {
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
        let to = Desc::of(o, dt, fmt);
        let mut attrs = Attrs::new();
        let (ty, name) = if from.dtype != dt {
            attrs.insert("dst_type".into(), attr::int(ge_dtype_number(dt)));
            attrs.insert("truncate".into(), attr::boolean(false));
            self.n_cast += 1;
            ("Cast", format!("trans_Cast_{}", self.n_cast - 1))
        } else {
            attrs.insert("src_format".into(), attr::string(from.format.name()));
            attrs.insert("dst_format".into(), attr::string(fmt.name()));
            attrs.insert("src_subformat".into(), attr::int(0));
            attrs.insert("dst_subformat".into(), attr::int(0));
            attrs.insert("groups".into(), attr::int(1));
            self.n_trans += 1;
            ("TransData", format!("trans_TransData_{}", self.n_trans - 1))
        };
        attrs.insert("original_op_names".into(), attr::strings(origin));
        let name = self.fresh(&name);
        let idx = self.out.len();
        self.out.push(GeOp { name, ty: ty.into(), inputs: vec![src], in_descs: vec![from], out_descs: vec![to], attrs, value: None, output_names: vec![] });
        self.converted.insert(key, (idx, 0));
        (idx, 0)
    }

    /// The Const op holding logical constant `i` as (`dt`, `fmt`), created on first use.
    fn konst(&mut self, i: usize, dt: DType, fmt: Format) -> Result<usize, CodegenError> {
        if let Some(&c) = self.consts.get(&(i, dt, fmt)) {
            return Ok(c);
        }
        let op = &self.l.ops[i];
        let t: &Tensor = op.value.as_ref().ok_or_else(|| CodegenError::Input(format!("Const {} has no value", op.name)))?;
        let t = if t.dtype().is_float() && dt.is_float() { t.cast(dt) } else { t.clone() };
        let s = t.shape().to_vec();
        let bytes = match fmt {
            Format::FractalZ if s.len() == 4 => layout::to_fractal_z(t.bytes(), &s, t.dtype().size()),
            Format::Nc1hwc0 if s.len() == 4 => layout::to_nc1hwc0(t.bytes(), &s, t.dtype().size()),
            Format::FractalZ | Format::Nc1hwc0 => return Err(CodegenError::Input(format!("Const {} of shape {s:?} cannot be {}", op.name, fmt.name()))),
            _ => t.bytes().to_vec(),
        };
        let o = LOut { dtype: t.dtype(), shape: s, format: op.outputs[0].format };
        let first = !self.consts.keys().any(|k| k.0 == i);
        let name = if first { op.name.clone() } else { self.fresh(&format!("{}_{}_{}", op.name, t.dtype().name(), fmt.name())) };
        let idx = self.out.len();
        let desc = Desc::of(&o, t.dtype(), fmt);
        self.out.push(GeOp { name, ty: "Const".into(), inputs: vec![], in_descs: vec![], out_descs: vec![desc], attrs: op.attrs.clone(), value: Some(bytes), output_names: vec![] });
        self.consts.insert((i, dt, fmt), idx);
        Ok(idx)
    }
}

fn origin_name(op: &super::lower::LOp) -> String {
    attr::get_strings(&op.attrs, "original_op_names").and_then(|v| v.into_iter().next()).unwrap_or_else(|| op.name.clone())
}

/// The protobuf form of a desc: format name in `layout`, the origin format and shape in
/// the desc's attrs (as GE stores them), byte size in `size`.
pub fn desc_proto(d: &Desc) -> proto::TensorDescriptor {
    let mut a = Attrs::new();
    a.insert("format_for_int".into(), attr::int(d.format.number()));
    a.insert("origin_format".into(), attr::string(d.origin_format.name()));
    a.insert("origin_format_for_int".into(), attr::int(d.origin_format.number()));
    a.insert("origin_shape".into(), attr::ints(&d.origin_shape.iter().map(|&x| x as i64).collect::<Vec<_>>()));
    a.insert("origin_shape_initialized".into(), attr::boolean(true));
    proto::TensorDescriptor {
        dtype: proto_dtype(d.dtype) as i32,
        shape: Some(proto::ShapeDef { dim: d.shape.iter().map(|&x| x as i64).collect() }),
        layout: d.format.name().into(),
        attr: a,
        size: d.bytes() as i64,
        real_dim_cnt: d.shape.len() as i64,
        ..Default::default()
    }
}

/// Serialize `ops` as a GE ModelDef with every weight inline in its Const's `value`.
pub fn to_model_def(name: &str, ops: &[GeOp], opts: &AscendOptions) -> proto::ModelDef {
    let mut graph = proto::GraphDef { name: name.to_string(), ..Default::default() };
    let mut memory = 0i64;
    for (id, op) in ops.iter().enumerate() {
        let mut attrs = op.attrs.clone();
        if let Some(bytes) = &op.value {
            let t = proto::TensorDef { desc: Some(desc_proto(&op.out_descs[0])), data: bytes.clone() };
            attrs.insert("value".into(), attr::tensor(t));
        } else {
            memory += op.out_descs.iter().map(|d| d.bytes() as i64).sum::<i64>();
        }
        let mut in_descs: Vec<proto::TensorDescriptor> = op.in_descs.iter().map(desc_proto).collect();
        for (d, n) in in_descs.iter_mut().zip(&op.output_names) {
            d.name = n.clone();
        }
        let def = proto::OpDef {
            name: op.name.clone(),
            r#type: op.ty.clone(),
            input: op.inputs.iter().map(|&(p, s)| format!("{}:{s}", ops[p].name)).collect(),
            attr: attrs,
            id: id as i64,
            is_input_const: op.inputs.iter().map(|&(p, _)| ops[p].ty == "Const").collect(),
            input_desc: in_descs,
            output_desc: op.out_descs.iter().map(desc_proto).collect(),
            ..Default::default()
        };
        if op.ty == "Data" {
            graph.input.push(format!("{}:0", op.name));
        }
        if op.ty == "NetOutput" {
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
    proto::ModelDef { name: name.to_string(), version: 2, custom_version: super::om::PLATFORM_VERSION.into(), graph: vec![graph], attr }
}

//! The JSON `atc --mode=1` prints for an OM (ascend_om.md §2.6): GE's reflection-based
//! protobuf-to-JSON of the MODEL_DEF. Object keys are proto field names in field order;
//! maps become arrays of `{"key": .., "value": ..}`; enums print their names; bytes print as
//! raw strings; unset (proto3 default) fields are left out, except the member of a oneof;
//! and the fields GE's dumper drops are dropped: `output`, `data_offset`, `data`, `workspace`,
//! `workspace_bytes`, `memory_size`, `weight_size`, `size`, `bt`, `quantize_factor`.

use senetc_ge::proto::{self, attr_def::Value};
use std::collections::BTreeMap;

/// A JSON value with keys in insertion order.
enum J {
    Str(String),
    Num(String),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

struct Obj(Vec<(&'static str, J)>);

impl Obj {
    fn new() -> Obj {
        Obj(Vec::new())
    }
    fn str(&mut self, k: &'static str, v: &str) {
        if !v.is_empty() {
            self.0.push((k, J::Str(v.to_string())));
        }
    }
    fn num<T: PartialEq + Default + ToString>(&mut self, k: &'static str, v: T) {
        if v != T::default() {
            self.0.push((k, J::Num(v.to_string())));
        }
    }
    fn boolean(&mut self, k: &'static str, v: bool) {
        if v {
            self.0.push((k, J::Bool(true)));
        }
    }
    fn arr(&mut self, k: &'static str, v: Vec<J>) {
        if !v.is_empty() {
            self.0.push((k, J::Arr(v)));
        }
    }
    fn obj(&mut self, k: &'static str, v: Option<J>) {
        if let Some(v) = v {
            self.0.push((k, v));
        }
    }
    fn done(self) -> J {
        J::Obj(self.0)
    }
}

fn float(f: f32) -> J {
    // JSON has no NaN/Infinity; GE's dumper would print them as strings too.
    if f.is_finite() {
        J::Num(format!("{f:?}"))
    } else {
        J::Str(f.to_string())
    }
}

fn bytes(b: &[u8]) -> J {
    J::Str(String::from_utf8_lossy(b).into_owned())
}

fn dtype_name(d: i32) -> String {
    proto::DataType::try_from(d).map(|d| d.as_str_name().to_string()).unwrap_or_else(|_| d.to_string())
}

fn attrs(m: &BTreeMap<String, proto::AttrDef>) -> Vec<J> {
    m.iter().map(|(k, v)| J::Obj(vec![("key", J::Str(k.clone())), ("value", attr(v))])).collect()
}

fn attr(a: &proto::AttrDef) -> J {
    let mut o = Obj::new();
    match &a.value {
        Some(Value::List(l)) => o.0.push(("list", list(l))),
        Some(Value::S(s)) => o.0.push(("s", bytes(s))),
        Some(Value::I(i)) => o.0.push(("i", J::Num(i.to_string()))),
        Some(Value::F(f)) => o.0.push(("f", float(*f))),
        Some(Value::B(b)) => o.0.push(("b", J::Bool(*b))),
        Some(Value::Bt(_)) => {} // dropped by GE's dumper
        Some(Value::Func(f)) => {
            let mut n = Obj::new();
            n.str("name", &f.name);
            n.arr("attr", attrs(&f.attr));
            o.0.push(("func", n.done()));
        }
        Some(Value::Td(d)) => o.0.push(("td", desc(d))),
        Some(Value::T(t)) => o.0.push(("t", tensor(t))),
        Some(Value::G(g)) => o.0.push(("g", graph(g))),
        Some(Value::ListListInt(l)) => {
            let lists = l.list_list_i.iter().map(|x| J::Obj(vec![("list_i", J::Arr(x.list_i.iter().map(|v| J::Num(v.to_string())).collect()))])).collect();
            o.0.push(("list_list_int", J::Obj(vec![("list_list_i", J::Arr(lists))])));
        }
        Some(Value::Dt(d)) => o.0.push(("dt", J::Num(d.to_string()))),
        Some(Value::ListListFloat(l)) => {
            let lists = l.list_list_f.iter().map(|x| J::Obj(vec![("list_f", J::Arr(x.list_f.iter().map(|v| float(*v)).collect()))])).collect();
            o.0.push(("list_list_float", J::Obj(vec![("list_list_f", J::Arr(lists))])));
        }
        None => {}
    }
    o.done()
}

fn list(l: &proto::attr_def::ListValue) -> J {
    let mut o = Obj::new();
    o.arr("s", l.s.iter().map(|s| bytes(s)).collect());
    o.arr("i", l.i.iter().map(|v| J::Num(v.to_string())).collect());
    o.arr("f", l.f.iter().map(|v| float(*v)).collect());
    o.arr("b", l.b.iter().map(|v| J::Bool(*v)).collect());
    o.arr("td", l.td.iter().map(desc).collect());
    o.arr("t", l.t.iter().map(tensor).collect());
    o.arr("g", l.g.iter().map(graph).collect());
    o.arr("dt", l.dt.iter().map(|v| J::Num(v.to_string())).collect());
    let vt = proto::attr_def::list_value::ListValueType::try_from(l.val_type).map(|v| v.as_str_name().to_string()).unwrap_or_default();
    if l.val_type != 0 {
        o.0.push(("val_type", J::Str(vt)));
    }
    o.done()
}

fn desc(d: &proto::TensorDescriptor) -> J {
    let mut o = Obj::new();
    o.str("name", &d.name);
    if d.dtype != 0 {
        o.0.push(("dtype", J::Str(dtype_name(d.dtype))));
    }
    o.obj("shape", d.shape.as_ref().map(|s| J::Obj(vec![("dim", J::Arr(s.dim.iter().map(|v| J::Num(v.to_string())).collect()))])));
    o.str("layout", &d.layout);
    o.arr("attr", attrs(&d.attr));
    o.boolean("has_out_attr", d.has_out_attr);
    o.boolean("reuse_input", d.reuse_input);
    o.boolean("output_tensor", d.output_tensor);
    o.str("device_type", &d.device_type);
    o.boolean("input_tensor", d.input_tensor);
    o.num("real_dim_cnt", d.real_dim_cnt);
    o.num("reuse_input_index", d.reuse_input_index);
    o.num("cmps_size", d.cmps_size);
    o.str("cmps_tab", &d.cmps_tab);
    o.num("cmps_tab_offset", d.cmps_tab_offset);
    o.done()
}

fn tensor(t: &proto::TensorDef) -> J {
    let mut o = Obj::new();
    o.obj("desc", t.desc.as_ref().map(desc));
    o.done()
}

fn op(p: &proto::OpDef) -> J {
    let mut o = Obj::new();
    o.str("name", &p.name);
    o.str("type", &p.r#type);
    o.arr("input", p.input.iter().map(|s| J::Str(s.clone())).collect());
    o.arr("attr", attrs(&p.attr));
    o.boolean("has_out_attr", p.has_out_attr);
    o.num("id", p.id);
    o.num("stream_id", p.stream_id);
    o.arr("input_name", p.input_name.iter().map(|s| J::Str(s.clone())).collect());
    o.arr("src_name", p.src_name.iter().map(|s| J::Str(s.clone())).collect());
    o.arr("src_index", p.src_index.iter().map(|v| J::Num(v.to_string())).collect());
    o.arr("dst_name", p.dst_name.iter().map(|s| J::Str(s.clone())).collect());
    o.arr("dst_index", p.dst_index.iter().map(|v| J::Num(v.to_string())).collect());
    o.arr("input_i", p.input_i.iter().map(|v| J::Num(v.to_string())).collect());
    o.arr("output_i", p.output_i.iter().map(|v| J::Num(v.to_string())).collect());
    o.arr("is_input_const", p.is_input_const.iter().map(|v| J::Bool(*v)).collect());
    o.arr("input_desc", p.input_desc.iter().map(desc).collect());
    o.arr("output_desc", p.output_desc.iter().map(desc).collect());
    o.arr("subgraph_name", p.subgraph_name.iter().map(|s| J::Str(s.clone())).collect());
    o.done()
}

fn graph(g: &proto::GraphDef) -> J {
    let mut o = Obj::new();
    o.str("name", &g.name);
    o.arr("input", g.input.iter().map(|s| J::Str(s.clone())).collect());
    o.arr("op", g.op.iter().map(op).collect());
    o.arr("attr", attrs(&g.attr));
    o.done()
}

/// The `atc --mode=1` JSON of `m`, indented by two spaces, ending in a newline.
pub fn model_to_json(m: &proto::ModelDef) -> String {
    let mut o = Obj::new();
    o.str("name", &m.name);
    o.num("version", m.version);
    o.str("custom_version", &m.custom_version);
    o.arr("graph", m.graph.iter().map(graph).collect());
    o.arr("attr", attrs(&m.attr));
    let mut s = String::new();
    render(&o.done(), 0, &mut s);
    s.push('\n');
    s
}

fn render(j: &J, indent: usize, out: &mut String) {
    let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
    match j {
        J::Str(s) => escape(s, out),
        J::Num(n) => out.push_str(n),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Arr(v) if v.is_empty() => out.push_str("[]"),
        J::Arr(v) => {
            out.push_str("[\n");
            for (i, x) in v.iter().enumerate() {
                pad(indent + 2, out);
                render(x, indent + 2, out);
                out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push(']');
        }
        J::Obj(v) if v.is_empty() => out.push_str("{}"),
        J::Obj(v) => {
            out.push_str("{\n");
            for (i, (k, x)) in v.iter().enumerate() {
                pad(indent + 2, out);
                escape(k, out);
                out.push_str(": ");
                render(x, indent + 2, out);
                out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push('}');
        }
    }
}

fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

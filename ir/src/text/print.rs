use super::lexer::quote;
use super::INLINE_MAX;
use crate::ops::Op;
use crate::{DType, Graph, Outlet, Tensor};
use std::collections::HashMap;
use std::fmt::Write;

/// Print `g` in the text format.
pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    out.push_str("graph ");
    quote(&g.name, &mut out);
    out.push_str(" {\n");
    let mut names: HashMap<Outlet, usize> = HashMap::new();
    let mut next = 0usize;
    for id in g.order() {
        let node = g.node(id);
        let mut lhs = Vec::new();
        for slot in 0..node.outputs.len() {
            names.insert(Outlet { node: id, slot }, next);
            lhs.push(format!("%{next}"));
            next += 1;
        }
        out.push_str("  ");
        match &node.op {
            Op::Input => {
                let _ = write!(out, "input {} ", lhs[0]);
                quote(&node.name, &mut out);
                let _ = write!(out, " : {}", node.outputs[0]);
            }
            Op::Const(c) => {
                let _ = write!(out, "{} = const ", lhs[0]);
                if !c.name.is_empty() {
                    quote(&c.name, &mut out);
                    out.push(' ');
                }
                let _ = write!(out, ": {}", node.outputs[0]);
                if c.tensor.len() <= INLINE_MAX {
                    out.push_str(" = ");
                    write_values(&c.tensor, &mut out);
                } else {
                    let _ = write!(out, " hash=\"{:016x}\"", c.tensor.content_hash());
                }
            }
            op => {
                let _ = write!(out, "{} = {}(", lhs.join(", "), op.name());
                for (i, o) in g.inputs_of(id).iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match names.get(o) {
                        Some(n) => {
                            let _ = write!(out, "%{n}");
                        }
                        None => out.push_str("%?"),
                    }
                }
                out.push(')');
                op.write_attrs(&mut out);
                let types: Vec<String> = node.outputs.iter().map(|t| t.to_string()).collect();
                let _ = write!(out, " : {}", types.join(", "));
                if !node.name.is_empty() {
                    out.push(' ');
                    quote(&node.name, &mut out);
                }
            }
        }
        out.push('\n');
    }
    for (name, o) in g.outputs() {
        out.push_str("  output ");
        quote(name, &mut out);
        match names.get(o) {
            Some(n) => {
                let _ = writeln!(out, " = %{n}");
            }
            None => out.push_str(" = %?\n"),
        }
    }
    out.push_str("}\n");
    out
}

fn write_values(t: &Tensor, out: &mut String) {
    out.push('[');
    let parts: Vec<String> = match t.dtype() {
        DType::F32 | DType::F16 | DType::BF16 => t.to_f32().iter().map(|v| format!("{v:?}")).collect(),
        DType::F64 => t.to_f64().iter().map(|v| format!("{v:?}")).collect(),
        _ => t.to_i64().iter().map(|v| v.to_string()).collect(),
    };
    out.push_str(&parts.join(", "));
    out.push(']');
}

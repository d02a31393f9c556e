use super::lexer::{Lexer, Tok};
use crate::ops::Op;
use crate::{verify, DType, Dim, Graph, IrError, Outlet, Shape, Tensor, TensorType};
use std::collections::{BTreeMap, HashMap};

/// Parse the text format. Hashed constants are bound by name from `weights` and must
/// match its dtype, shape and hash. The result is verified.
pub fn parse(src: &str, weights: &BTreeMap<String, Tensor>) -> Result<Graph, IrError> {
    let mut lex = Lexer::new(src)?;
    if !lex.eat_ident("graph") {
        return Err(lex.error("expected `graph`"));
    }
    let mut g = Graph::new(lex.string()?);
    lex.expect('{')?;
    let mut values: HashMap<usize, Outlet> = HashMap::new();
    let define = |values: &mut HashMap<usize, Outlet>, lex: &Lexer, n: usize, o: Outlet| {
        if values.insert(n, o).is_some() {
            return Err(lex.error(format!("%{n} is defined twice")));
        }
        Ok(())
    };
    loop {
        if lex.eat('}') {
            break;
        }
        if lex.eat_ident("input") {
            let n = value(&mut lex)?;
            let name = lex.string()?;
            lex.expect(':')?;
            let ty = tensor_type(&mut lex)?;
            let o = g.add_input(name, ty);
            define(&mut values, &lex, n, o)?;
            continue;
        }
        if lex.eat_ident("output") {
            let name = lex.string()?;
            lex.expect('=')?;
            let n = value(&mut lex)?;
            let o = *values.get(&n).ok_or_else(|| lex.error(format!("%{n} is not defined")))?;
            g.add_output(name, o);
            continue;
        }
        let mut lhs = vec![value(&mut lex)?];
        while lex.eat(',') {
            lhs.push(value(&mut lex)?);
        }
        lex.expect('=')?;
        let opname = lex.ident()?;
        if opname == "const" {
            let name = if let Some(Tok::Str(_)) = lex.peek() { lex.string()? } else { String::new() };
            lex.expect(':')?;
            let ty = tensor_type(&mut lex)?;
            let shape = ty.shape.as_known().ok_or_else(|| lex.error("a constant needs a static shape"))?;
            let tensor = if lex.eat('=') {
                inline_tensor(&mut lex, ty.dtype, shape)?
            } else if lex.eat_ident("hash") {
                lex.expect('=')?;
                let hash = lex.string()?;
                let t = weights.get(&name).ok_or_else(|| lex.error(format!("weight {name:?} is not bound")))?;
                if t.dtype() != ty.dtype || t.shape() != shape.as_slice() {
                    return Err(lex.error(format!("weight {name:?} is {}{:?}, the text says {ty}", t.dtype(), t.shape())));
                }
                if format!("{:016x}", t.content_hash()) != hash {
                    return Err(lex.error(format!("weight {name:?} has hash {:016x}, the text says {hash}", t.content_hash())));
                }
                t.clone()
            } else {
                return Err(lex.error("a constant needs `= [values]` or `hash=\"..\"`"));
            };
            let o = g.add_const(name, tensor);
            define(&mut values, &lex, lhs[0], o)?;
            continue;
        }
        lex.expect('(')?;
        let mut operands = Vec::new();
        if !lex.eat(')') {
            loop {
                let n = value(&mut lex)?;
                operands.push(*values.get(&n).ok_or_else(|| lex.error(format!("%{n} is used before it is defined")))?);
                if lex.eat(')') {
                    break;
                }
                lex.expect(',')?;
            }
        }
        let op = Op::read(&opname, &mut lex).ok_or_else(|| lex.error(format!("unknown op `{opname}`")))??;
        lex.expect(':')?;
        let mut types = vec![tensor_type(&mut lex)?];
        while lex.eat(',') {
            types.push(tensor_type(&mut lex)?);
        }
        if types.len() != lhs.len() {
            return Err(lex.error(format!("{} results but {} types", lhs.len(), types.len())));
        }
        let name = if let Some(Tok::Str(_)) = lex.peek() { lex.string()? } else { String::new() };
        let id = g.add_node_typed(name, op, &operands, types);
        for (slot, n) in lhs.into_iter().enumerate() {
            define(&mut values, &lex, n, Outlet { node: id, slot })?;
        }
    }
    if lex.peek().is_some() {
        return Err(lex.error(format!("unexpected {} after the graph", lex.describe())));
    }
    verify(&g)?;
    Ok(g)
}

fn value(lex: &mut Lexer) -> Result<usize, IrError> {
    match lex.next_tok() {
        Some(Tok::Value(n)) => Ok(n),
        _ => Err(lex.error("expected a value like `%3`")),
    }
}

fn tensor_type(lex: &mut Lexer) -> Result<TensorType, IrError> {
    let dt = lex.ident()?;
    let dtype: DType = dt.parse().map_err(|e: String| lex.error(e))?;
    lex.expect('[')?;
    let mut dims = Vec::new();
    if !lex.eat(']') {
        loop {
            dims.push(match lex.next_tok() {
                Some(Tok::Num(s)) => Dim::Known(s.parse().map_err(|_| lex.error(format!("bad dim `{s}`")))?),
                Some(Tok::Ident(s)) => Dim::Sym(s),
                _ => return Err(lex.error("expected a dim")),
            });
            if lex.eat(']') {
                break;
            }
            lex.expect(',')?;
        }
    }
    Ok(TensorType::new(dtype, Shape(dims)))
}

fn inline_tensor(lex: &mut Lexer, dtype: DType, shape: Vec<usize>) -> Result<Tensor, IrError> {
    lex.expect('[')?;
    let mut vals: Vec<f64> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    if !lex.eat(']') {
        loop {
            if dtype.is_float() {
                vals.push(lex.number()?);
            } else {
                ints.push(lex.number()?);
            }
            if lex.eat(']') {
                break;
            }
            lex.expect(',')?;
        }
    }
    let got = vals.len() + ints.len();
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n != Some(got) {
        let n = n.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        return Err(lex.error(format!("constant of shape {shape:?} needs {n} values, got {got}")));
    }
    let t = if dtype.is_float() {
        let f: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
        if dtype == DType::F64 {
            let bytes = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            Tensor::from_bytes(DType::F64, shape, bytes)?
        } else {
            Tensor::from_f32(shape, &f).cast(dtype)
        }
    } else {
        Tensor::from_i64(shape, &ints).cast(dtype)
    };
    Ok(t)
}

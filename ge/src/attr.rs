//! Building and reading GE attribute values (`AttrDef`).

use crate::proto::attr_def::{list_value::ListValueType, list_list_int, ListListInt, ListValue, Value};
use crate::proto::{AttrDef, TensorDef};
use std::collections::BTreeMap;

/// Attributes of an op or a tensor descriptor, in the deterministic order protobuf writes them.
pub type Attrs = BTreeMap<String, AttrDef>;

fn v(value: Value) -> AttrDef {
    AttrDef { value: Some(value) }
}

/// An int attribute.
pub fn int(i: i64) -> AttrDef {
    v(Value::I(i))
}

/// A float attribute.
pub fn float(f: f32) -> AttrDef {
    v(Value::F(f))
}

/// A bool attribute.
pub fn boolean(b: bool) -> AttrDef {
    v(Value::B(b))
}

/// A string attribute (GE stores strings as bytes).
pub fn string(s: &str) -> AttrDef {
    v(Value::S(s.as_bytes().to_vec()))
}

/// A list-of-int attribute.
pub fn ints(values: &[i64]) -> AttrDef {
    v(Value::List(ListValue { i: values.to_vec(), val_type: ListValueType::VtListInt as i32, ..Default::default() }))
}

/// A list-of-float attribute.
pub fn floats(values: &[f32]) -> AttrDef {
    v(Value::List(ListValue { f: values.to_vec(), val_type: ListValueType::VtListFloat as i32, ..Default::default() }))
}

/// A list-of-string attribute.
pub fn strings(values: &[String]) -> AttrDef {
    v(Value::List(ListValue {
        s: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        val_type: ListValueType::VtListString as i32,
        ..Default::default()
    }))
}

/// A list-of-int-lists attribute (PadD's `paddings`).
pub fn int_lists(lists: &[Vec<i64>]) -> AttrDef {
    v(Value::ListListInt(ListListInt {
        list_list_i: lists.iter().map(|l| list_list_int::ListInt { list_i: l.clone() }).collect(),
    }))
}

/// A tensor attribute (Const's `value`).
pub fn tensor(t: TensorDef) -> AttrDef {
    v(Value::T(t))
}

/// The int value of `name`, if it is an int.
pub fn get_int(attrs: &Attrs, name: &str) -> Option<i64> {
    match attrs.get(name)?.value.as_ref()? {
        Value::I(i) => Some(*i),
        _ => None,
    }
}

/// The float value of `name`.
pub fn get_float(attrs: &Attrs, name: &str) -> Option<f32> {
    match attrs.get(name)?.value.as_ref()? {
        Value::F(f) => Some(*f),
        _ => None,
    }
}

/// The bool value of `name`.
pub fn get_bool(attrs: &Attrs, name: &str) -> Option<bool> {
    match attrs.get(name)?.value.as_ref()? {
        Value::B(b) => Some(*b),
        _ => None,
    }
}

/// The string value of `name` (lossy UTF-8).
pub fn get_str(attrs: &Attrs, name: &str) -> Option<String> {
    match attrs.get(name)?.value.as_ref()? {
        Value::S(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

/// The int list of `name`.
pub fn get_ints(attrs: &Attrs, name: &str) -> Option<Vec<i64>> {
    match attrs.get(name)?.value.as_ref()? {
        Value::List(l) => Some(l.i.clone()),
        _ => None,
    }
}

/// The float list of `name`.
pub fn get_floats(attrs: &Attrs, name: &str) -> Option<Vec<f32>> {
    match attrs.get(name)?.value.as_ref()? {
        Value::List(l) => Some(l.f.clone()),
        _ => None,
    }
}

/// The string list of `name`.
pub fn get_strings(attrs: &Attrs, name: &str) -> Option<Vec<String>> {
    match attrs.get(name)?.value.as_ref()? {
        Value::List(l) => Some(l.s.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
        _ => None,
    }
}

/// The list of int lists of `name`.
pub fn get_int_lists(attrs: &Attrs, name: &str) -> Option<Vec<Vec<i64>>> {
    match attrs.get(name)?.value.as_ref()? {
        Value::ListListInt(l) => Some(l.list_list_i.iter().map(|x| x.list_i.clone()).collect()),
        _ => None,
    }
}

/// The tensor value of `name`.
pub fn get_tensor<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a TensorDef> {
    match attrs.get(name)?.value.as_ref()? {
        Value::T(t) => Some(t),
        _ => None,
    }
}

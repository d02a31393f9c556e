//! A GraphDef indexed for walking: nodes by name, every input parsed once into
//! (producer, output slot, control), consumers of every node.

use crate::proto::{attr_value, AttrValue, NodeDef, TensorShapeProto};
use prost::Message;
use std::collections::HashMap;

/// One output of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TRef {
    /// The producing node (index into [`TfGraph::nodes`]).
    pub node: usize,
    /// Its output slot.
    pub slot: usize,
}

/// A parsed input reference of a node.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    /// The producer, or `None` when no node has that name.
    pub src: Option<TRef>,
    /// A control dependency (`^name`): ordering only, no value.
    pub control: bool,
}

/// The graph.
pub struct TfGraph {
    /// The nodes, in file order.
    pub nodes: Vec<NodeDef>,
    index: HashMap<String, usize>,
    inputs: Vec<Vec<Input>>,
    consumers: Vec<Vec<(usize, usize)>>,
}

/// Split a TensorFlow tensor name `node`, `node:k` or `^node` into (node, slot, control).
pub fn split_name(s: &str) -> (&str, usize, bool) {
    let (s, control) = match s.strip_prefix('^') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    match s.rsplit_once(':') {
        Some((n, k)) if !n.is_empty() && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => (n, k.parse().unwrap_or(usize::MAX), control),
        _ => (s, 0, control),
    }
}

impl TfGraph {
    /// Index `nodes`.
    pub fn new(nodes: Vec<NodeDef>) -> TfGraph {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            index.insert(n.name.clone(), i);
        }
        let mut consumers = vec![Vec::new(); nodes.len()];
        let inputs: Vec<Vec<Input>> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.input
                    .iter()
                    .enumerate()
                    .map(|(pos, s)| {
                        let (name, slot, control) = split_name(s);
                        let src = index.get(name).map(|&node| TRef { node, slot });
                        if let (Some(t), false) = (src, control) {
                            consumers[t.node].push((i, pos));
                        }
                        Input { src, control }
                    })
                    .collect()
            })
            .collect();
        TfGraph { nodes, index, inputs, consumers }
    }

    /// The node called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The tensor a TensorFlow tensor name (`node` or `node:k`) refers to.
    pub fn tensor(&self, name: &str) -> Option<TRef> {
        let (n, slot, _) = split_name(name);
        Some(TRef { node: self.find(n)?, slot })
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &NodeDef {
        &self.nodes[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The data inputs of node `i` (control inputs left out), in operand order. An input
    /// naming a node that does not exist is `Err(name)`.
    pub fn data_inputs(&self, i: usize) -> Vec<Result<TRef, String>> {
        self.inputs[i]
            .iter()
            .zip(&self.nodes[i].input)
            .filter(|(inp, _)| !inp.control)
            .map(|(inp, s)| inp.src.ok_or_else(|| s.clone()))
            .collect()
    }

    /// Data input `k` of node `i`.
    pub fn data_input(&self, i: usize, k: usize) -> Result<TRef, String> {
        match self.data_inputs(i).into_iter().nth(k) {
            Some(r) => r.map_err(|n| format!("input {n:?} of {:?} names no node", self.nodes[i].name)),
            None => Err(format!("node {:?} has no input {k}", self.nodes[i].name)),
        }
    }

    /// The (node, operand position) pairs reading any output of node `i` (data edges only).
    pub fn consumers(&self, i: usize) -> &[(usize, usize)] {
        &self.consumers[i]
    }

    /// The name a value gets in the IR import: `node` for output 0, `node:k` otherwise.
    pub fn value_name(&self, t: TRef) -> String {
        let n = &self.nodes[t.node].name;
        if t.slot == 0 {
            n.clone()
        } else {
            format!("{n}:{}", t.slot)
        }
    }
}

/// The attribute `key` of `n`, decoded (the entries are kept raw: see the proto).
pub fn attr_value(n: &NodeDef, key: &str) -> Option<AttrValue> {
    for entry in &n.attr {
        // Entry fields: 1 = key (string), 2 = value (AttrValue); compare the key first.
        let mut pos = 0;
        let mut matched = false;
        while pos < entry.len() {
            let tag = crate::sstable::varint(entry, &mut pos, 10)?;
            if tag & 7 != 2 {
                break;
            }
            let len = usize::try_from(crate::sstable::varint(entry, &mut pos, 10)?).ok()?;
            let body = entry.get(pos..pos.checked_add(len)?)?;
            pos += len;
            match tag >> 3 {
                1 if body != key.as_bytes() => break,
                1 => matched = true,
                2 if matched => return AttrValue::decode(body).ok(),
                _ => {}
            }
        }
    }
    None
}

/// An attribute of `n`.
pub fn attr(n: &NodeDef, key: &str) -> Option<attr_value::Value> {
    attr_value(n, key)?.value
}

/// The raw map entry of an attribute, as a NodeDef stores it.
pub fn attr_entry(key: &str, value: attr_value::Value) -> bytes::Bytes {
    crate::proto::AttrEntry { key: key.to_string(), value: Some(AttrValue { value: Some(value) }) }.encode_to_vec().into()
}

/// A bool attribute.
pub fn attr_bool(n: &NodeDef, key: &str) -> Option<bool> {
    match attr(n, key)? {
        attr_value::Value::B(b) => Some(b),
        _ => None,
    }
}

/// An int attribute.
pub fn attr_int(n: &NodeDef, key: &str) -> Option<i64> {
    match attr(n, key)? {
        attr_value::Value::I(i) => Some(i),
        _ => None,
    }
}

/// A float attribute.
pub fn attr_float(n: &NodeDef, key: &str) -> Option<f32> {
    match attr(n, key)? {
        attr_value::Value::F(f) => Some(f),
        _ => None,
    }
}

/// A string attribute.
pub fn attr_str(n: &NodeDef, key: &str) -> Option<String> {
    match attr(n, key)? {
        attr_value::Value::S(s) => Some(String::from_utf8_lossy(&s).into_owned()),
        _ => None,
    }
}

/// A type attribute (TensorFlow `DataType` code).
pub fn attr_type(n: &NodeDef, key: &str) -> Option<i32> {
    match attr(n, key)? {
        attr_value::Value::Type(t) => Some(t),
        _ => None,
    }
}

/// An int-list attribute.
pub fn attr_ints(n: &NodeDef, key: &str) -> Option<Vec<i64>> {
    match attr(n, key)? {
        attr_value::Value::List(l) => Some(l.i),
        _ => None,
    }
}

/// A shape attribute.
pub fn attr_shape(n: &NodeDef, key: &str) -> Option<TensorShapeProto> {
    match attr(n, key)? {
        attr_value::Value::Shape(s) => Some(s),
        _ => None,
    }
}

/// A shape-list attribute.
pub fn attr_shapes(n: &NodeDef, key: &str) -> Option<Vec<TensorShapeProto>> {
    match attr(n, key)? {
        attr_value::Value::List(l) => Some(l.shape),
        _ => None,
    }
}

/// A tensor attribute (a Const's `value`).
pub fn attr_tensor(n: &NodeDef, key: &str) -> Option<crate::proto::TensorProto> {
    match attr(n, key)? {
        attr_value::Value::Tensor(t) => Some(t),
        _ => None,
    }
}

/// A function attribute's name (a call's `f`).
pub fn attr_func(n: &NodeDef, key: &str) -> Option<String> {
    match attr(n, key)? {
        attr_value::Value::Func(f) => Some(f.name),
        _ => None,
    }
}

/// The dims of a shape proto (`None` for an unknown rank; -1 for unknown dims).
pub fn dims_of(s: &TensorShapeProto) -> Option<Vec<i64>> {
    (!s.unknown_rank).then(|| s.dim.iter().map(|d| d.size).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_decode_on_demand() {
        let n = NodeDef {
            attr: vec![
                attr_entry("T", attr_value::Value::Type(1)),
                attr_entry("strides", attr_value::Value::List(attr_value::ListValue { i: vec![1, 2, 2, 1], ..Default::default() })),
                bytes::Bytes::from_static(&[0x0a, 0x05, b'x']),
            ],
            ..Default::default()
        };
        assert_eq!(attr_type(&n, "T"), Some(1));
        assert_eq!(attr_ints(&n, "strides"), Some(vec![1, 2, 2, 1]));
        assert_eq!(attr_int(&n, "strides"), None);
        assert_eq!(attr(&n, "padding"), None);
        assert_eq!(attr(&n, "x"), None, "a truncated entry is no attribute");
    }

    #[test]
    fn tensor_names_split() {
        assert_eq!(split_name("a/b"), ("a/b", 0, false));
        assert_eq!(split_name("a/b:2"), ("a/b", 2, false));
        assert_eq!(split_name("^a/b"), ("a/b", 0, true));
        assert_eq!(split_name("a:b"), ("a:b", 0, false));
    }
}

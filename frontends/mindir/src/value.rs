//! MindIR values: what an attribute or a Constant node holds, decoded from both attribute
//! styles into one [`Value`]. MindSpore 2.x writes typed attributes (`type` INT64, TUPLE
//! with nested `values`...); MindSpore 1.x writes TENSORS plus a `ref_attr_name` that says
//! how to read them (`scalar:value0`, `scalar:Tuple[value1,value2,]`, `type:value0`...).

use crate::proto::{mind_ir, mind_ir_v1};
use senetc_ir::{DType, Tensor};

/// A decoded attribute or constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer (INT8..UINT64 attributes, Python ints).
    Int(i64),
    /// A float (FLOAT, DOUBLE).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string (STRING).
    Str(String),
    /// A tuple or list.
    Seq(Vec<Value>),
    /// An element type (`mindspore.float16` as a value).
    Type(DType),
    /// A tensor.
    Tensor(Tensor),
    /// The U or IO monad of the side-effect plumbing.
    Monad,
    /// Python `None`.
    None,
    /// Something senetc does not decode (the description says what); an error if an op reads it.
    Other(String),
}

impl Value {
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(i) => format!("{i}"),
            Value::Float(f) => format!("{f}"),
            Value::Bool(b) => format!("{b}"),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(v) => format!("({})", v.iter().map(Value::describe).collect::<Vec<_>>().join(", ")),
            Value::Type(d) => format!("type {d}"),
            Value::Tensor(t) => format!("tensor {}{:?}", t.dtype(), t.shape()),
            Value::Monad => "a monad".into(),
            Value::None => "None".into(),
            Value::Other(s) => s.clone(),
        }
    }

    /// An integer (a bool counts; a one-element integer tensor or tuple too).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Seq(v) if v.len() == 1 => v[0].as_int(),
            Value::Tensor(t) if t.len() == 1 && !t.dtype().is_float() => t.to_i64().first().copied(),
            _ => None,
        }
    }

    /// A float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Seq(v) if v.len() == 1 => v[0].as_f64(),
            Value::Tensor(t) if t.len() == 1 => t.to_f64().first().copied(),
            _ => None,
        }
    }

    /// A boolean (0 and 1 count).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            Value::Tensor(t) if t.len() == 1 => t.to_f64().first().map(|&v| v != 0.0),
            _ => None,
        }
    }

    /// Integers: a tuple or list of them, one integer, or a rank-0/1 integer tensor.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            Value::Seq(v) => v.iter().map(Value::as_int).collect(),
            Value::Tensor(t) if !t.dtype().is_float() && t.shape().len() <= 1 => Some(t.to_i64()),
            v => v.as_int().map(|i| vec![i]),
        }
    }

    /// A string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a tensor operand of an op (numbers and tuples of numbers become
    /// constants, as MindSpore turns Python scalars into tensors).
    pub fn to_tensor(&self) -> Option<Tensor> {
        match self {
            Value::Tensor(t) => Some(t.clone()),
            Value::Int(i) => Some(Tensor::from_i64(vec![], &[*i])),
            Value::Bool(b) => Tensor::from_bytes(DType::Bool, vec![], vec![u8::from(*b)]).ok(),
            Value::Float(f) => Some(Tensor::from_f32(vec![], &[*f as f32])),
            Value::Seq(v) if !v.is_empty() && v.iter().all(|e| matches!(e, Value::Int(_) | Value::Bool(_))) => {
                let ints: Vec<i64> = v.iter().filter_map(Value::as_int).collect();
                Some(Tensor::from_i64(vec![ints.len()], &ints))
            }
            Value::Seq(v) if !v.is_empty() && v.iter().all(|e| matches!(e, Value::Float(_) | Value::Int(_))) => {
                let fs: Vec<f32> = v.iter().filter_map(Value::as_f64).map(|f| f as f32).collect();
                Some(Tensor::from_f32(vec![fs.len()], &fs))
            }
            _ => None,
        }
    }
}

/// The element type of a TensorProto `data_type` code (MindIR's codes equal ONNX's for
/// these), or `None` for types senetc does not support.
pub fn dtype_of_code(code: i32) -> Option<DType> {
    // MindIR adds FLOAT64 = 17 beside ONNX's DOUBLE = 11.
    if code == 17 {
        return Some(DType::F64);
    }
    senetc_import::dtype_of_onnx_code(code)
}

/// The element type of a MindSpore `TypeId` (what `ops.Cast` receives as an INT64
/// constant in MindSpore 2.x: `kNumberTypeFloat16` = 42, `kNumberTypeFloat32` = 43, ...;
/// mindapi/base/type_id.h).
pub fn dtype_of_type_id(id: i64) -> Option<DType> {
    Some(match id {
        30 => DType::Bool,
        32 => DType::I8,
        34 => DType::I32,
        35 => DType::I64,
        37 => DType::U8,
        42 => DType::F16,
        43 => DType::F32,
        44 => DType::F64,
        45 => DType::BF16,
        _ => return None,
    })
}

/// A tensor from the typed repeated fields of a TensorProto (used when there is no raw_data).
fn tensor_from_fields(dtype: DType, shape: Vec<usize>, f32s: &[f32], i32s: &[i32], i64s: &[i64], f64s: &[f64], u64s: &[u64]) -> Result<Tensor, String> {
    let bytes: Vec<u8> = match dtype {
        DType::F32 => f32s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F64 => f64s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I64 if !i64s.is_empty() => i64s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I64 => u64s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I32 => i32s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 | DType::BF16 => i32s.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
        DType::I8 | DType::U8 | DType::Bool => i32s.iter().map(|&v| v as u8).collect(),
    };
    Tensor::from_bytes(dtype, shape, bytes).map_err(|e| e.to_string())
}

/// Checked tensor dims.
pub fn dims_of(dims: &[i64]) -> Result<Vec<usize>, String> {
    let shape: Vec<usize> = dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("negative dim {d}"))).collect::<Result<_, _>>()?;
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("tensor shape {dims:?} overflows"))?;
    Ok(shape)
}

/// Whether a MindSpore 2.x TensorProto carries values (otherwise, as an attribute, it
/// stands for its element type).
fn has_data(t: &mind_ir::TensorProto) -> bool {
    t.raw_data.as_ref().is_some_and(|r| !r.is_empty())
        || !t.float_data.is_empty()
        || !t.int32_data.is_empty()
        || !t.int64_data.is_empty()
        || !t.double_data.is_empty()
        || !t.uint64_data.is_empty()
        || !t.dims.is_empty()
}

/// An inline MindSpore 2.x tensor: raw bytes (shared, not copied) or typed fields.
pub fn tensor_v2(t: &mind_ir::TensorProto) -> Result<Tensor, String> {
    let code = t.data_type();
    let dtype = dtype_of_code(code).ok_or_else(|| format!("unsupported tensor data type {code}"))?;
    let shape = dims_of(&t.dims)?;
    match &t.raw_data {
        Some(raw) if !raw.is_empty() => crate::read::shared_tensor(dtype, shape, raw.clone()),
        _ => tensor_from_fields(dtype, shape, &t.float_data, &t.int32_data, &t.int64_data, &t.double_data, &t.uint64_data),
    }
}

/// A MindSpore 1.x (ONNX-shaped) tensor.
pub fn tensor_v1(t: &mind_ir_v1::TensorProto) -> Result<Tensor, String> {
    if t.data_location() == 1 {
        return Err("external tensor data in a MindSpore 1.x file is not supported".into());
    }
    let code = t.data_type();
    let dtype = dtype_of_code(code).ok_or_else(|| format!("unsupported tensor data type {code}"))?;
    let shape = dims_of(&t.dims)?;
    match &t.raw_data {
        Some(raw) if !raw.is_empty() => crate::read::shared_tensor(dtype, shape, raw.clone()),
        _ => tensor_from_fields(dtype, shape, &t.float_data, &t.int32_data, &t.int64_data, &t.double_data, &t.uint64_data),
    }
}

// AttributeProto.AttributeType of MindSpore 2.x.
const FLOAT: i32 = 1;
const UINT64: i32 = 13;
const STRING: i32 = 8;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const TENSOR: i32 = 17;
const TENSORS: i32 = 19;
const TUPLE: i32 = 20;
const LIST: i32 = 21;
const UMONAD: i32 = 23;
const IOMONAD: i32 = 24;
const NONE: i32 = 25;

/// Decode a MindSpore 2.x attribute. Tuple elements keep their value in the repeated field
/// (`ints: [7]`) rather than the scalar one, so both are read.
pub fn decode_v2(a: &mind_ir::AttributeProto) -> Value {
    decode_v2_depth(a, 0)
}

fn decode_v2_depth(a: &mind_ir::AttributeProto, depth: usize) -> Value {
    // Nesting is bounded so a crafted file cannot exhaust the stack.
    if depth > 16 {
        return Value::Other("a tuple nested more than 16 deep".into());
    }
    if a.ref_attr_name.as_deref().is_some_and(|r| !r.is_empty()) && a.r#type.is_none_or(|t| t == TENSORS) {
        return decode_ref_form_v2(a);
    }
    let t = a.r#type();
    match t {
        FLOAT | FLOAT16 => Value::Float(a.floats.first().map_or(a.f() as f64, |&f| f as f64)),
        DOUBLE => Value::Float(a.doubles.first().copied().unwrap_or(a.d())),
        BOOL => Value::Bool(a.ints.first().copied().unwrap_or(a.i()) != 0),
        2..=7 | 12 | UINT64 => Value::Int(a.ints.first().copied().unwrap_or(a.i())),
        STRING => {
            let s = a.strings.first().or(a.s.as_ref()).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Value::Str(s)
        }
        TUPLE | LIST => Value::Seq(a.values.iter().map(|v| decode_v2_depth(v, depth + 1)).collect()),
        TENSOR | TENSORS => {
            let Some(tp) = a.t.as_ref().or(a.tensors.first()) else { return Value::Other("an empty tensor attribute".into()) };
            if has_data(tp) {
                match tensor_v2(tp) {
                    Ok(t) => Value::Tensor(t),
                    Err(e) => Value::Other(format!("a tensor senetc cannot read ({e})")),
                }
            } else {
                match dtype_of_code(tp.data_type()) {
                    Some(d) => Value::Type(d),
                    None => Value::Other(format!("type with data_type {}", tp.data_type())),
                }
            }
        }
        UMONAD | IOMONAD => Value::Monad,
        NONE => Value::None,
        other => Value::Other(format!("an attribute of type {other}")),
    }
}

/// MindSpore 2.0 files still write a few values (Cast's `SrcT`/`DstT`) in the older
/// TENSORS form; with a `ref_attr_name` they follow the 1.x grammar.
fn decode_ref_form_v2(a: &mind_ir::AttributeProto) -> Value {
    let named: Vec<(&str, Scalar)> = a.tensors.iter().map(|t| (t.name(), scalar_v2(t))).collect();
    decode_ref(a.ref_attr_name(), &named)
}

/// A 1.x-grammar leaf: a scalar read from a one-element TensorProto.
#[derive(Clone, Debug)]
enum Scalar {
    Value(Value),
    Type(Value),
}

fn scalar_v2(t: &mind_ir::TensorProto) -> Scalar {
    scalar_fields(t.data_type(), &t.float_data, &t.int32_data, &t.int64_data, &t.double_data, &t.string_data, t.raw_data.as_deref())
}

fn scalar_v1(t: &mind_ir_v1::TensorProto) -> Scalar {
    scalar_fields(t.data_type(), &t.float_data, &t.int32_data, &t.int64_data, &t.double_data, &t.string_data, t.raw_data.as_deref())
}

fn scalar_fields(code: i32, f32s: &[f32], i32s: &[i32], i64s: &[i64], f64s: &[f64], strs: &[bytes::Bytes], raw: Option<&[u8]>) -> Scalar {
    let typ = match dtype_of_code(code) {
        Some(d) => Value::Type(d),
        None if code == STRING => Value::Other("the string type".into()),
        None => Value::Other(format!("type with data_type {code}")),
    };
    let raw = raw.filter(|r| !r.is_empty());
    let v = match code {
        1 => f32s.first().map(|&f| Value::Float(f as f64)).or_else(|| raw.and_then(|r| r.get(..4)).map(|b| Value::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64))),
        11 | 17 => f64s.first().map(|&f| Value::Float(f)),
        9 => i32s.first().map(|&i| Value::Bool(i != 0)).or_else(|| raw.and_then(|r| r.first()).map(|&b| Value::Bool(b != 0))),
        2..=6 | 12 => i32s.first().map(|&i| Value::Int(i as i64)).or_else(|| i64s.first().map(|&i| Value::Int(i))),
        7 | 13 => i64s.first().map(|&i| Value::Int(i)).or_else(|| i32s.first().map(|&i| Value::Int(i as i64))),
        STRING => strs.first().map(|s| Value::Str(String::from_utf8_lossy(s).into_owned())),
        _ => None,
    };
    match v {
        Some(v) => Scalar::Value(v),
        None => Scalar::Type(typ),
    }
}

/// Decode a MindSpore 1.x attribute (TENSORS + `ref_attr_name`).
pub fn decode_v1(a: &mind_ir_v1::AttributeProto) -> Value {
    if let Some(r) = a.ref_attr_name.as_deref().filter(|r| !r.is_empty()) {
        if let Some(t) = r.strip_prefix("tensor:") {
            let name = t.trim_end_matches(',');
            return match a.tensors.iter().chain(a.t.as_ref()).find(|x| x.name() == name) {
                Some(tp) => tensor_v1(tp).map_or_else(|e| Value::Other(format!("a tensor senetc cannot read ({e})")), Value::Tensor),
                None => Value::Other(format!("tensor {name:?} named by {r:?} is missing")),
            };
        }
        let named: Vec<(&str, Scalar)> = a.tensors.iter().map(|t| (t.name(), scalar_v1(t))).collect();
        return decode_ref(r, &named);
    }
    // Plain ONNX-style attributes.
    if !a.ints.is_empty() {
        return Value::Seq(a.ints.iter().map(|&i| Value::Int(i)).collect());
    }
    if !a.floats.is_empty() {
        return Value::Seq(a.floats.iter().map(|&f| Value::Float(f as f64)).collect());
    }
    if let Some(s) = &a.s {
        return Value::Str(String::from_utf8_lossy(s).into_owned());
    }
    match a.r#type() {
        1 => Value::Float(a.f() as f64),
        2 => Value::Int(a.i()),
        4 => a.t.as_ref().map_or(Value::None, |t| tensor_v1(t).map_or_else(Value::Other, Value::Tensor)),
        _ if a.i.is_some() => Value::Int(a.i()),
        _ if a.f.is_some() => Value::Float(a.f() as f64),
        _ => Value::Other("an attribute senetc cannot read".into()),
    }
}

/// The `ref_attr_name` grammar: `<kind>:<form>` where kind is `scalar`, `type` or `shape`
/// and form is a tensor name or `Tuple[...]`/`List[...]` of forms, each followed by a comma
/// (`scalar:Tuple[value1,value2,],`).
fn decode_ref(r: &str, named: &[(&str, Scalar)]) -> Value {
    let Some((kind, form)) = r.split_once(':') else { return Value::Other(format!("attribute form {r:?}")) };
    match kind {
        "scalar" | "type" => {
            let mut p = RefParser { s: form.as_bytes(), pos: 0, named, depth: 0 };
            match p.form() {
                Ok(v) => v,
                Err(e) => Value::Other(format!("attribute form {r:?}: {e}")),
            }
        }
        // The inferred abstract of a node: senetc infers types itself.
        "shape" => Value::None,
        _ => Value::Other(format!("attribute form {r:?}")),
    }
}

struct RefParser<'a> {
    s: &'a [u8],
    pos: usize,
    named: &'a [(&'a str, Scalar)],
    depth: usize,
}

impl RefParser<'_> {
    fn form(&mut self) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > 16 {
            return Err("nested more than 16 deep".into());
        }
        let start = self.pos;
        while self.pos < self.s.len() && !matches!(self.s[self.pos], b'[' | b']' | b',') {
            self.pos += 1;
        }
        let word = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        let v = if self.s.get(self.pos) == Some(&b'[') {
            if word != "Tuple" && word != "List" {
                return Err(format!("unknown sequence {word:?}"));
            }
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                match self.s.get(self.pos) {
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b',') => self.pos += 1,
                    Some(_) => items.push(self.form()?),
                    None => return Err("unterminated sequence".into()),
                }
            }
            Value::Seq(items)
        } else {
            match self.named.iter().find(|(n, _)| *n == word) {
                Some((_, Scalar::Value(v))) | Some((_, Scalar::Type(v))) => v.clone(),
                None => return Err(format!("no tensor named {word:?}")),
            }
        };
        self.depth -= 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t1(name: &str, code: i32, i32s: &[i32]) -> mind_ir_v1::TensorProto {
        mind_ir_v1::TensorProto { name: Some(name.into()), data_type: Some(code), int32_data: i32s.to_vec(), ..Default::default() }
    }

    #[test]
    fn the_1x_grammar_reads_scalars_tuples_and_types() {
        let a = mind_ir_v1::AttributeProto {
            name: Some("stride".into()),
            tensors: vec![t1("value1", 6, &[1]), t1("value2", 6, &[1]), t1("value3", 6, &[2]), t1("value4", 6, &[2])],
            ref_attr_name: Some("scalar:Tuple[value1,value2,value3,value4,],".into()),
            ..Default::default()
        };
        assert_eq!(decode_v1(&a).as_ints(), Some(vec![1, 1, 2, 2]));
        let a = mind_ir_v1::AttributeProto { tensors: vec![t1("value0", 9, &[1])], ref_attr_name: Some("scalar:value0".into()), ..Default::default() };
        assert_eq!(decode_v1(&a), Value::Bool(true));
        let a = mind_ir_v1::AttributeProto { tensors: vec![t1("value0", 10, &[])], ref_attr_name: Some("type:value0".into()), ..Default::default() };
        assert_eq!(decode_v1(&a), Value::Type(DType::F16));
        let nested = mind_ir_v1::AttributeProto {
            tensors: vec![t1("value1", 6, &[1]), t1("value2", 6, &[2]), t1("value3", 6, &[3])],
            ref_attr_name: Some("scalar:Tuple[value1,Tuple[value2,value3,],],".into()),
            ..Default::default()
        };
        assert_eq!(decode_v1(&nested), Value::Seq(vec![Value::Int(1), Value::Seq(vec![Value::Int(2), Value::Int(3)])]));
        for bad in ["scalar:Tuple[value1,", "scalar:Foo[value1,]", "scalar:missing", "nonsense"] {
            let a = mind_ir_v1::AttributeProto { tensors: vec![t1("value1", 6, &[1])], ref_attr_name: Some(bad.into()), ..Default::default() };
            assert!(matches!(decode_v1(&a), Value::Other(_)), "{bad}");
        }
        let deep = format!("scalar:{}value1{}", "Tuple[".repeat(40), "]".repeat(40));
        let a = mind_ir_v1::AttributeProto { tensors: vec![t1("value1", 6, &[1])], ref_attr_name: Some(deep), ..Default::default() };
        assert!(matches!(decode_v1(&a), Value::Other(_)));
    }

    #[test]
    fn the_2x_form_reads_tuple_elements_from_their_repeated_field() {
        let elem = |i: i64| mind_ir::AttributeProto { ints: vec![i], r#type: Some(7), ..Default::default() };
        let a = mind_ir::AttributeProto { name: Some("stride".into()), r#type: Some(TUPLE), values: vec![elem(1), elem(1), elem(2), elem(2)], ..Default::default() };
        assert_eq!(decode_v2(&a).as_ints(), Some(vec![1, 1, 2, 2]));
        let s = mind_ir::AttributeProto { s: Some(bytes::Bytes::from_static(b"SAME")), r#type: Some(STRING), ..Default::default() };
        assert_eq!(decode_v2(&s), Value::Str("SAME".into()));
        let ty = mind_ir::AttributeProto { tensors: vec![mind_ir::TensorProto { data_type: Some(10), ..Default::default() }], r#type: Some(TENSORS), ..Default::default() };
        assert_eq!(decode_v2(&ty), Value::Type(DType::F16));
        assert_eq!(decode_v2(&mind_ir::AttributeProto { r#type: Some(UMONAD), ..Default::default() }), Value::Monad);
        assert_eq!(dtype_of_type_id(42), Some(DType::F16));
        assert_eq!(dtype_of_type_id(43), Some(DType::F32));
    }
}

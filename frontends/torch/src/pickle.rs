//! A pickle reader that never executes anything, in the spirit of torch's weights_only
//! unpickler (`torch/_weights_only_unpickler.py`): a small stack machine over the
//! protocol-2 opcode allow-list, with a memo. GLOBAL resolves only through [`Global::lookup`],
//! a fixed table of containers, tensor rebuild functions and storage types; REDUCE and
//! NEWOBJ call only those, and BUILD only touches dicts and tensors. The result is a tree of
//! plain values whose tensors are (storage, offset, size, stride) records: no bytes are read
//! here.

use std::cell::RefCell;
use senetc_import::limits::MAX_PICKLE_DEPTH;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Element type of a torch storage, from its legacy class name (`torch.FloatStorage`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageType {
    /// float32
    Float,
    /// float16
    Half,
    /// bfloat16
    BFloat16,
    /// float64
    Double,
    /// int64
    Long,
    /// int32
    Int,
    /// int16
    Short,
    /// uint8
    Byte,
    /// int8
    Char,
    /// bool
    Bool,
}

impl StorageType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageType::Double | StorageType::Long => 8,
            StorageType::Float | StorageType::Int => 4,
            StorageType::Half | StorageType::BFloat16 | StorageType::Short => 2,
            StorageType::Byte | StorageType::Char | StorageType::Bool => 1,
        }
    }

    /// torch's dtype name.
    pub fn torch_name(self) -> &'static str {
        match self {
            StorageType::Float => "float32",
            StorageType::Half => "float16",
            StorageType::BFloat16 => "bfloat16",
            StorageType::Double => "float64",
            StorageType::Long => "int64",
            StorageType::Int => "int32",
            StorageType::Short => "int16",
            StorageType::Byte => "uint8",
            StorageType::Char => "int8",
            StorageType::Bool => "bool",
        }
    }
}

/// The globals a file may name: everything else is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// `collections.OrderedDict`
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2`
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor`
    RebuildTensor,
    /// `torch._utils._rebuild_parameter`
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state`
    RebuildParameterWithState,
    /// `torch._tensor._rebuild_from_type_v2`
    RebuildFromTypeV2,
    /// `torch.Tensor` (a type marker for `_rebuild_from_type_v2`)
    TensorType,
    /// `torch.nn.parameter.Parameter`
    Parameter,
    /// `torch.XStorage`
    Storage(StorageType),
    /// `torch.Size`
    Size,
    /// `torch.device`
    Device,
    /// `_codecs.encode` (how protocol 2 writes `bytes`)
    CodecsEncode,
}

impl Global {
    /// The allow-list: `module.name` to what it stands for.
    pub fn lookup(module: &str, name: &str) -> Option<Global> {
        use StorageType::*;
        Some(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
            ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
            ("torch", "Tensor") => Global::TensorType,
            ("torch.nn.parameter", "Parameter") => Global::Parameter,
            ("torch", "Size") => Global::Size,
            ("torch", "device") => Global::Device,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("torch", s) => Global::Storage(match s {
                "FloatStorage" => Float,
                "HalfStorage" => Half,
                "BFloat16Storage" => BFloat16,
                "DoubleStorage" => Double,
                "LongStorage" => Long,
                "IntStorage" => Int,
                "ShortStorage" => Short,
                "ByteStorage" => Byte,
                "CharStorage" => Char,
                "BoolStorage" => Bool,
                _ => return None,
            }),
            _ => return None,
        })
    }
}

/// A storage a persistent id names: `data/<key>` of a zip archive, or a record of a legacy
/// file; `offset` (elements) is non-zero only for legacy storage views.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    /// Storage key.
    pub key: Rc<str>,
    /// Element type.
    pub dtype: StorageType,
    /// First element of this view of the storage.
    pub offset: usize,
    /// Element count the file declares.
    pub numel: usize,
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// Where its elements are.
    pub storage: StorageRef,
    /// First element, in storage elements.
    pub offset: usize,
    /// Shape.
    pub size: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

/// A value of the pickle machine. Lists and dicts are shared and mutable, as in Python, so
/// a container memoized before it is filled is seen filled wherever it is fetched.
#[derive(Clone, Debug)]
pub enum Value {
    /// None.
    None,
    /// A bool.
    Bool(bool),
    /// An int that fits 64 bits.
    Int(i64),
    /// A larger int, as its little-endian two's-complement bytes.
    BigInt(Rc<[u8]>),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// Bytes.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<Vec<Value>>),
    /// A list (or a set).
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// An allow-listed global.
    Global(Global),
    /// A storage from a persistent id.
    Storage(Rc<StorageRef>),
    /// A tensor.
    Tensor(Rc<TensorRef>),
}

/// Containers can nest as deep as the file is long: drop them without recursion.
impl Drop for Value {
    fn drop(&mut self) {
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut v) = stack.pop() {
            take_children(&mut v, &mut stack);
        }
    }
}

fn take_children(v: &mut Value, out: &mut Vec<Value>) {
    match v {
        Value::Tuple(rc) => {
            if let Some(items) = Rc::get_mut(rc) {
                out.append(items);
            }
        }
        Value::List(rc) if Rc::strong_count(rc) == 1 => {
            if let Ok(mut items) = rc.try_borrow_mut() {
                out.append(&mut items);
            }
        }
        Value::Dict(rc) if Rc::strong_count(rc) == 1 => {
            if let Ok(mut items) = rc.try_borrow_mut() {
                for (k, v) in items.drain(..) {
                    out.push(k);
                    out.push(v);
                }
            }
        }
        _ => {}
    }
}

impl Value {
    /// A short description of the value's type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "class or function",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_usize(&self, what: &str) -> Result<usize, String> {
        match self {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} is negative ({i})")),
            v => Err(format!("{what} must be an int, got {}", v.kind())),
        }
    }

    fn usizes(&self, what: &str) -> Result<Vec<usize>, String> {
        match self {
            Value::Tuple(t) => t.iter().map(|v| v.as_usize(what)).collect(),
            Value::List(l) => l.borrow().iter().map(|v| v.as_usize(what)).collect(),
            v => Err(format!("{what} must be a tuple of ints, got {}", v.kind())),
        }
    }
}

/// Why a pickle was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum PickleError {
    /// A GLOBAL outside the allow-list.
    Global {
        /// The module.
        module: String,
        /// The name.
        name: String,
        /// Offset of the GLOBAL opcode.
        offset: usize,
    },
    /// Anything else: an opcode outside the allow-list, a malformed stream, a call with
    /// the wrong arguments.
    Invalid {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// What is wrong.
        msg: String,
    },
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickleError::Global { module, name, offset } => write!(f, "global {module}.{name} (GLOBAL at offset {offset}) is not allowed"),
            PickleError::Invalid { offset, opcode, msg } => write!(f, "{msg} ({opcode} at offset {offset})"),
        }
    }
}

/// Opcode names, for messages; `None` for bytes that are no pickle opcode at all.
fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        0x80 => "PROTO",
        b'.' => "STOP",
        b'c' => "GLOBAL",
        0x81 => "NEWOBJ",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'a' => "APPEND",
        b'e' => "APPENDS",
        b's' => "SETITEM",
        b'u' => "SETITEMS",
        b'(' => "MARK",
        b't' => "TUPLE",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        b'N' => "NONE",
        0x89 => "NEWFALSE",
        0x88 => "NEWTRUE",
        b')' => "EMPTY_TUPLE",
        b']' => "EMPTY_LIST",
        b'}' => "EMPTY_DICT",
        0x8f => "EMPTY_SET",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'M' => "BININT2",
        0x8a => "LONG1",
        b'G' => "BINFLOAT",
        b'X' => "BINUNICODE",
        b'U' => "SHORT_BINSTRING",
        b'Q' => "BINPERSID",
        b'h' => "BINGET",
        b'j' => "LONG_BINGET",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        // Known but refused: they execute code, or belong to other protocols.
        b'i' => "INST",
        b'o' => "OBJ",
        b'P' => "PERSID",
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'T' => "BINSTRING",
        b'p' => "PUT",
        b'g' => "GET",
        b'l' => "LIST",
        b'd' => "DICT",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        _ => return None,
    })
}

/// Every GLOBAL a pickle names, in order, found by walking its opcodes without running
/// them (stops at STOP, at the first opcode it cannot step over, or at the end).
pub fn scan_globals(data: &[u8], start: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pos = start;
    let line = |pos: &mut usize| -> Option<String> {
        let rest = data.get(*pos..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        *pos += end + 1;
        Some(s)
    };
    let u32_at = |p: usize| data.get(p..p + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    while let Some(&op) = data.get(pos) {
        pos += 1;
        let skip = match op {
            b'.' => break,
            b'c' => {
                let (Some(m), Some(n)) = (line(&mut pos), line(&mut pos)) else { break };
                out.push((m, n));
                0
            }
            0x80 | b'K' | b'h' | b'q' => 1,
            b'M' => 2,
            b'J' | b'j' | b'r' => 4,
            b'G' => 8,
            0x8a | b'U' => match data.get(pos) {
                Some(&n) => 1 + n as usize,
                None => break,
            },
            b'X' => match u32_at(pos) {
                Some(n) => 4 + n,
                None => break,
            },
            op if opcode_name(op).is_some() && !matches!(op, b'i' | b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'p' | b'g' | 0x82..=0x84 | 0x8b..=0x8e | 0x93 | 0x95 | 0x96 | b'B' | b'C' | b'T') => 0,
            _ => break,
        };
        pos = pos.saturating_add(skip);
    }
    out
}

/// Resolves persistent ids (BINPERSID) to values.
pub type PersistentLoad<'a> = dyn FnMut(&Value) -> Result<Value, String> + 'a;

/// Run the pickle that starts at `start` in `data`; returns its value and the offset after
/// its STOP.
pub fn load(data: &[u8], start: usize, persistent: &mut PersistentLoad<'_>) -> Result<(Value, usize), PickleError> {
    // Cycle checks walk what is inserted; their total work is bounded by the pickle's size.
    let budget = data.len().saturating_mul(16).saturating_add(1 << 20);
    let mut m = Machine { data, pos: start, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), op_start: start, op: "", depth: HashMap::new(), budget };
    let v = m.run(persistent)?;
    Ok((v, m.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    op_start: usize,
    op: &'static str,
    /// Nesting depth of the containers made so far, by address.
    depth: HashMap<*const (), usize>,
    /// Steps the cycle checks may still take.
    budget: usize,
}

/// The address of a container value (lists, dicts, tuples), which identifies it.
fn container(v: &Value) -> Option<*const ()> {
    match v {
        Value::Tuple(rc) => Some(Rc::as_ptr(rc) as *const ()),
        Value::List(rc) => Some(Rc::as_ptr(rc) as *const ()),
        Value::Dict(rc) => Some(Rc::as_ptr(rc) as *const ()),
        _ => None,
    }
}

impl Machine<'_> {
    fn err(&self, msg: impl Into<String>) -> PickleError {
        PickleError::Invalid { offset: self.op_start, opcode: self.op, msg: msg.into() }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| self.err("the pickle ends inside an opcode's argument"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.err("GLOBAL name without an end of line"))?;
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| self.err("GLOBAL name is not UTF-8"))?.to_string();
        self.pos += end + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.err("pops past a MARK"));
        }
        self.stack.pop().ok_or_else(|| self.err("pops an empty stack"))
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.err("needs a value above the MARK"));
        }
        let e = self.err("needs a value on an empty stack");
        self.stack.last_mut().ok_or(e)
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| self.err("no MARK to pop to"))?;
        if m > self.stack.len() {
            return Err(self.err("MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn push(&mut self, v: Value) {
        match &v {
            Value::Tuple(items) => {
                let d = 1 + items.iter().map(|i| self.depth_of(i)).max().unwrap_or(0);
                if let Some(p) = container(&v) {
                    self.depth.insert(p, d);
                }
            }
            Value::List(l) if l.borrow().is_empty() => {
                self.depth.insert(Rc::as_ptr(l) as *const (), 1);
            }
            Value::Dict(d) if d.borrow().is_empty() => {
                self.depth.insert(Rc::as_ptr(d) as *const (), 1);
            }
            _ => {}
        }
        self.stack.push(v);
    }

    fn depth_of(&self, v: &Value) -> usize {
        container(v).map_or(0, |p| self.depth.get(&p).copied().unwrap_or(1))
    }

    /// Before `items` go into the list or dict `into`: none of them may reach `into` (a
    /// cycle, which only the memo can make) and the nesting stays within the limit.
    fn check_insert(&mut self, into: &Value, items: &[Value]) -> Result<(), PickleError> {
        let Some(target) = container(into) else { return Ok(()) };
        let deepest = items.iter().map(|i| self.depth_of(i)).max().unwrap_or(0);
        let d = self.depth_of(into).max(deepest + 1);
        if d > MAX_PICKLE_DEPTH {
            return Err(self.err(format!("containers nested deeper than {MAX_PICKLE_DEPTH}")));
        }
        for item in items {
            if container(item).is_none() {
                continue;
            }
            let mut stack = vec![item.clone()];
            let mut seen = HashSet::new();
            while let Some(v) = stack.pop() {
                let Some(p) = container(&v) else { continue };
                if p == target {
                    return Err(self.err("a container that contains itself (a cycle through the memo)"));
                }
                if !seen.insert(p) {
                    continue;
                }
                let children: Vec<Value> = match &v {
                    Value::Tuple(t) => t.iter().filter(|c| container(c).is_some()).cloned().collect(),
                    Value::List(l) => l.borrow().iter().filter(|c| container(c).is_some()).cloned().collect(),
                    Value::Dict(d) => d.borrow().iter().flat_map(|(k, v)| [k, v]).filter(|c| container(c).is_some()).cloned().collect(),
                    _ => Vec::new(),
                };
                self.budget = self.budget.checked_sub(1 + children.len()).ok_or_else(|| self.err("containers shared and nested beyond what a state dict holds"))?;
                stack.extend(children);
            }
        }
        self.depth.insert(target, d);
        Ok(())
    }

    fn memo_get(&self, i: u32) -> Result<Value, PickleError> {
        self.memo.get(&i).cloned().ok_or_else(|| self.err(format!("memo entry {i} was never stored")))
    }

    fn memo_put(&mut self, i: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn run(&mut self, persistent: &mut PersistentLoad<'_>) -> Result<Value, PickleError> {
        loop {
            self.op_start = self.pos;
            self.op = "";
            let op = self.u8().map_err(|_| PickleError::Invalid { offset: self.op_start, opcode: "", msg: "the pickle ends without STOP".into() })?;
            self.op = opcode_name(op).unwrap_or("");
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.err(format!("unknown pickle protocol {p}")));
                    }
                }
                b'.' => {
                    let v = self.pop()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(self.err("values left on the stack at STOP"));
                    }
                    return Ok(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    match Global::lookup(&module, &name) {
                        Some(g) => self.push(Value::Global(g)),
                        None => return Err(PickleError::Global { module, name, offset: self.op_start }),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.call(&f, &args)?;
                    self.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    if !matches!(cls, Value::Global(Global::OrderedDict | Global::Parameter)) {
                        return Err(self.err(format!("NEWOBJ of a {} (only OrderedDict and Parameter)", cls.kind())));
                    }
                    let v = self.call(&cls, &args)?;
                    self.push(v);
                }
                b'b' => {
                    let _state = self.pop()?;
                    let obj = self.top()?;
                    if !matches!(obj, Value::Dict(_) | Value::Tensor(_)) {
                        let k = obj.kind();
                        return Err(self.err(format!("BUILD on a {k} (only dicts and tensors)")));
                    }
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?.clone();
                    self.check_insert(&l, std::slice::from_ref(&v))?;
                    let l = self.top()?;
                    match l {
                        Value::List(l) => l.borrow_mut().push(v),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("APPEND to a {k}")));
                        }
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let l = self.top()?.clone();
                    self.check_insert(&l, &items)?;
                    match self.top()? {
                        Value::List(l) => l.borrow_mut().extend(items),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("APPENDS to a {k}")));
                        }
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.err("SETITEMS with an odd number of values"));
                    }
                    self.set_items(items)?;
                }
                b'(' => self.marks.push(self.stack.len()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Rc::new(items)));
                }
                b'N' => self.push(Value::None),
                0x89 => self.push(Value::Bool(false)),
                0x88 => self.push(Value::Bool(true)),
                b')' => self.push(Value::Tuple(Rc::new(Vec::new()))),
                b']' | 0x8f => self.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?.to_vec();
                    self.push(long_value(bytes));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    self.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let e = self.err("string is not UTF-8");
                    let b = self.take(n)?;
                    let v = Value::Str(Rc::from(std::str::from_utf8(b).map_err(|_| e)?));
                    self.push(v);
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    // A Python 2 str: bytes, read as latin-1 like torch does.
                    let s: String = self.take(n)?.iter().map(|&b| b as char).collect();
                    self.push(Value::Str(Rc::from(s.as_str())));
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent(&pid).map_err(|m| self.err(m))?;
                    self.push(v);
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                op => {
                    return Err(match opcode_name(op) {
                        Some(name) => PickleError::Invalid { offset: self.op_start, opcode: name, msg: "opcode outside the allow-list (torch's weights_only loader refuses it too)".into() },
                        None => PickleError::Invalid { offset: self.op_start, opcode: "", msg: format!("byte 0x{op:02x} is not a pickle opcode") },
                    })
                }
            }
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let top = self.top()?.clone();
        self.check_insert(&top, &items)?;
        let d = match self.top()? {
            Value::Dict(d) => d.clone(),
            other => {
                let k = other.kind();
                return Err(self.err(format!("SETITEM on a {k}")));
            }
        };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if !matches!(k, Value::Str(_) | Value::Int(_) | Value::Bool(_) | Value::None | Value::Float(_) | Value::Tuple(_)) {
                return Err(self.err(format!("dict key of type {}", k.kind())));
            }
            match d.iter_mut().find(|(old, _)| same_key(old, &k)) {
                Some(entry) => entry.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(())
    }

    /// REDUCE/NEWOBJ of an allow-listed callable.
    fn call(&self, f: &Value, args: &Value) -> Result<Value, PickleError> {
        let Value::Tuple(args) = args else {
            return Err(self.err(format!("call arguments must be a tuple, got {}", args.kind())));
        };
        let Value::Global(g) = f else {
            return Err(self.err(format!("calls a {} (only allow-listed functions)", f.kind())));
        };
        call_global(*g, args).map_err(|m| self.err(m))
    }
}

fn call_global(g: Global, args: &[Value]) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).ok_or_else(|| format!("{g:?} takes at least {} arguments, got {}", i + 1, args.len()));
    match g {
        Global::OrderedDict => match args {
            [] => Ok(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
            _ => Err("OrderedDict called with arguments".into()),
        },
        Global::RebuildTensorV2 | Global::RebuildTensor => {
            if args.len() < 4 {
                return Err(format!("{g:?} takes (storage, offset, size, stride, ...), got {} arguments", args.len()));
            }
            let Value::Storage(s) = arg(0)? else { return Err(format!("tensor storage must come from a persistent id, got {}", args[0].kind())) };
            let offset = arg(1)?.as_usize("storage offset")?;
            let size = arg(2)?.usizes("tensor size")?;
            let stride = arg(3)?.usizes("tensor stride")?;
            if size.len() != stride.len() {
                return Err(format!("tensor size {size:?} and stride {stride:?} differ in rank"));
            }
            Ok(Value::Tensor(Rc::new(TensorRef { storage: (**s).clone(), offset, size, stride })))
        }
        Global::RebuildParameter | Global::RebuildParameterWithState => match arg(0)? {
            t @ Value::Tensor(_) => Ok(t.clone()),
            v => Err(format!("parameter data must be a tensor, got {}", v.kind())),
        },
        Global::Parameter => match args.first() {
            Some(t @ Value::Tensor(_)) => Ok(t.clone()),
            _ => Err("Parameter needs a tensor".into()),
        },
        Global::RebuildFromTypeV2 => {
            let (Value::Global(func), Value::Global(ty), Value::Tuple(inner)) = (arg(0)?, arg(1)?, arg(2)?) else {
                return Err("_rebuild_from_type_v2 takes (function, type, args, state)".into());
            };
            if !matches!(ty, Global::TensorType | Global::Parameter) || !matches!(func, Global::RebuildTensorV2 | Global::RebuildTensor | Global::RebuildParameter) {
                return Err(format!("_rebuild_from_type_v2 of {func:?} into {ty:?}"));
            }
            call_global(*func, inner)
        }
        Global::Size => match arg(0)? {
            t @ Value::Tuple(_) => Ok(t.clone()),
            v => Err(format!("torch.Size of a {}", v.kind())),
        },
        Global::Device => match arg(0)? {
            s @ Value::Str(_) => Ok(s.clone()),
            v => Err(format!("torch.device of a {}", v.kind())),
        },
        Global::CodecsEncode => match (arg(0)?, args.get(1)) {
            (Value::Str(s), Some(Value::Str(enc))) if &**enc == "latin1" || &**enc == "latin-1" => {
                let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                bytes.map(|b| Value::Bytes(Rc::from(b))).ok_or_else(|| "latin-1 encode of a non-latin-1 string".to_string())
            }
            _ => Err("_codecs.encode takes (str, 'latin1')".into()),
        },
        Global::TensorType | Global::Storage(_) => Err(format!("{g:?} is a type, not something to call")),
    }
}

fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::None, Value::None) => true,
        _ => false,
    }
}

/// LONG1 bytes: an int when it fits 64 bits.
fn long_value(bytes: Vec<u8>) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let neg = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let mut b = [if neg { 0xff } else { 0 }; 8];
        b[..bytes.len()].copy_from_slice(&bytes);
        return Value::Int(i64::from_le_bytes(b));
    }
    Value::BigInt(Rc::from(bytes))
}

/// The persistent id of a storage, `('storage', type, key, location, numel[, view])`, as a
/// storage reference.
pub fn storage_from_pid(pid: &Value) -> Result<StorageRef, String> {
    let Value::Tuple(t) = pid else { return Err(format!("persistent id must be a tuple, got {}", pid.kind())) };
    if t.first().and_then(Value::as_str) != Some("storage") || t.len() < 5 {
        return Err("persistent id is not ('storage', type, key, location, numel)".into());
    }
    let Value::Global(Global::Storage(dtype)) = t[1] else { return Err(format!("storage type must be a torch storage class, got {}", t[1].kind())) };
    let key = match &t[2] {
        Value::Str(s) => s.clone(),
        v => return Err(format!("storage key must be a string, got {}", v.kind())),
    };
    let numel = t[4].as_usize("storage size")?;
    let mut s = StorageRef { key, dtype, offset: 0, numel };
    if let Some(view) = t.get(5) {
        match view {
            Value::None => {}
            Value::Tuple(v) if v.len() == 3 => {
                s.offset = v[1].as_usize("storage view offset")?;
                s.numel = v[2].as_usize("storage view size")?;
            }
            v => return Err(format!("storage view metadata must be None or (key, offset, size), got {}", v.kind())),
        }
    }
    Ok(s)
}

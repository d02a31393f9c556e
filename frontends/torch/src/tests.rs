//! Unit tests of the reader: pickles and archives crafted byte by byte here, so every
//! refusal is tested on input nothing but this file made.

use crate::container::{Kind, TorchFile};
use crate::pickle::{self, PickleError, Value};
use senetc_ir::{DType, Storage};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Writes protocol-2 pickle opcodes.
struct P(Vec<u8>);

impl P {
    fn new() -> P {
        P(vec![0x80, 2])
    }
    fn op(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    fn global(self, m: &str, n: &str) -> P {
        self.op(b"c").op(m.as_bytes()).op(b"\n").op(n.as_bytes()).op(b"\n")
    }
    fn str(self, s: &str) -> P {
        let n = (s.len() as u32).to_le_bytes();
        self.op(b"X").op(&n).op(s.as_bytes())
    }
    fn int(self, i: i32) -> P {
        self.op(b"J").op(&i.to_le_bytes())
    }
    fn ints(self, v: &[i32]) -> P {
        let mut p = self.op(b"(");
        for &i in v {
            p = p.int(i);
        }
        p.op(b"t")
    }
    fn ordered_dict(self) -> P {
        self.global("collections", "OrderedDict").op(b")R")
    }
    /// `_rebuild_tensor_v2(storage(key, type, numel), offset, size, stride, False, OrderedDict())`
    fn tensor(self, storage: &str, key: &str, numel: i32, offset: i32, size: &[i32], stride: &[i32]) -> P {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(b"(")
            .op(b"(")
            .str("storage")
            .global("torch", storage)
            .str(key)
            .str("cpu")
            .int(numel)
            .op(b"tQ")
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .ordered_dict()
            .op(b"tR")
    }
    fn stop(self) -> Vec<u8> {
        let mut v = self.0;
        v.push(b'.');
        v
    }
}

fn run(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut pid = |v: &Value| pickle::storage_from_pid(v).map(|s| Value::Storage(std::rc::Rc::new(s)));
    pickle::load(bytes, 0, &mut pid).map(|(v, _)| v)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("senetc-torch-unit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A torch.save-style zip archive under `folder/` with the given records.
fn archive(folder: &str, records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in records {
        w.start_file(format!("{folder}/{name}"), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn map(bytes: Vec<u8>) -> Arc<dyn Storage> {
    Arc::new(bytes)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn strided_views_share_one_storage() {
    // One 12-float storage: a contiguous [2,3] at 0, its transpose, and a [6] at offset 6.
    let pkl = P::new()
        .ordered_dict()
        .str("a")
        .tensor("FloatStorage", "0", 12, 0, &[2, 3], &[3, 1])
        .op(b"s")
        .str("t")
        .tensor("FloatStorage", "0", 12, 0, &[3, 2], &[1, 3])
        .op(b"s")
        .str("tail")
        .tensor("FloatStorage", "0", 12, 6, &[6], &[1])
        .op(b"s")
        .stop();
    let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let zip = archive("weird top folder", &[("data.pkl", &pkl), ("byteorder", b"little"), ("data/0", &f32_bytes(&data))]);
    let file = TorchFile::zip(map(zip)).unwrap();
    assert!(file.container.contains("weird top folder"), "{}", file.container);
    let Value::Dict(d) = &file.root else { panic!("root {:?}", file.root.kind()) };
    let get = |name: &str| {
        let d = d.borrow();
        let (_, v) = d.iter().find(|(k, _)| k.as_str() == Some(name)).unwrap();
        let Value::Tensor(t) = v else { panic!() };
        file.tensor(t).unwrap()
    };
    let a = get("a");
    assert_eq!((a.shape(), &*a.to_f32()), (&[2usize, 3][..], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0][..]));
    let t = get("t");
    assert_eq!((t.shape(), &*t.to_f32()), (&[3usize, 2][..], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0][..]));
    assert_eq!(&*get("tail").to_f32(), &[6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    // A view reaching past its storage is an error, not a read out of bounds.
    let bad = P::new().ordered_dict().str("x").tensor("FloatStorage", "0", 12, 10, &[4], &[1]).op(b"s").stop();
    let zip = archive("m", &[("data.pkl", &bad), ("data/0", &f32_bytes(&data))]);
    let file = TorchFile::zip(map(zip)).unwrap();
    let Value::Dict(d) = &file.root else { panic!() };
    let Value::Tensor(t) = &d.borrow()[0].1 else { panic!() };
    assert!(file.tensor(t).unwrap_err().contains("reaches element 13"));
}

#[test]
fn big_endian_archives_are_byte_swapped() {
    let pkl = P::new().ordered_dict().str("w").tensor("FloatStorage", "0", 3, 0, &[3], &[1]).op(b"s").stop();
    let data: Vec<u8> = [1.5f32, -2.0, 3.25].iter().flat_map(|x| x.to_be_bytes()).collect();
    let file = TorchFile::zip(map(archive("m", &[("data.pkl", &pkl), ("byteorder", b"big"), ("data/0", &data)]))).unwrap();
    let Value::Dict(d) = &file.root else { panic!() };
    let Value::Tensor(t) = &d.borrow()[0].1 else { panic!() };
    assert_eq!(&*file.tensor(t).unwrap().to_f32(), &[1.5, -2.0, 3.25]);
}

#[test]
fn every_storage_type_torch_writes() {
    #[rustfmt::skip]
    let cases: &[(&str, DType, Vec<u8>, Vec<f64>)] = &[
        ("FloatStorage", DType::F32, f32_bytes(&[1.5, -2.0]), vec![1.5, -2.0]),
        ("HalfStorage", DType::F16, [0x3e00u16, 0xc000].iter().flat_map(|h| h.to_le_bytes()).collect(), vec![1.5, -2.0]),
        ("BFloat16Storage", DType::BF16, [0x3fc0u16, 0xc000].iter().flat_map(|h| h.to_le_bytes()).collect(), vec![1.5, -2.0]),
        ("DoubleStorage", DType::F64, [1.5f64, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect(), vec![1.5, -2.0]),
        ("LongStorage", DType::I64, [7i64, -3].iter().flat_map(|x| x.to_le_bytes()).collect(), vec![7.0, -3.0]),
        ("IntStorage", DType::I32, [7i32, -3].iter().flat_map(|x| x.to_le_bytes()).collect(), vec![7.0, -3.0]),
        ("ShortStorage", DType::I32, [7i16, -3].iter().flat_map(|x| x.to_le_bytes()).collect(), vec![7.0, -3.0]),
        ("ByteStorage", DType::U8, vec![7, 250], vec![7.0, 250.0]),
        ("CharStorage", DType::I8, vec![7, 0xfd], vec![7.0, -3.0]),
        ("BoolStorage", DType::Bool, vec![1, 0], vec![1.0, 0.0]),
    ];
    for (storage, dt, bytes, want) in cases {
        let pkl = P::new().ordered_dict().str("x").tensor(storage, "0", 2, 0, &[2], &[1]).op(b"s").stop();
        let file = TorchFile::zip(map(archive("m", &[("data.pkl", &pkl), ("data/0", bytes)]))).unwrap();
        let Value::Dict(d) = &file.root else { panic!() };
        let Value::Tensor(t) = &d.borrow()[0].1 else { panic!() };
        let t = file.tensor(t).unwrap();
        assert_eq!(t.dtype(), *dt, "{storage}");
        assert_eq!(t.to_f64(), *want, "{storage}");
    }
}

fn refused_global(module: &str, name: &str) {
    // REDUCE(GLOBAL module.name, ('touch CANARY',)): the canary proves nothing ran.
    let canary = tmp(&format!("canary-{module}-{name}"));
    let cmd = format!("touch {}", canary.display());
    let pkl = P::new().ordered_dict().str("w").global(module, name).op(b"(").str(&cmd).op(b"tR").op(b"s").stop();
    let err = run(&pkl).unwrap_err();
    assert_eq!(err, PickleError::Global { module: module.into(), name: name.into(), offset: 35 }, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("global {module}.{name}")) && msg.contains("offset 35"), "{msg}");
    // Through the archive reader the message also says the member and what senetc reads.
    let zip = archive("evil", &[("data.pkl", &pkl)]);
    let msg = TorchFile::zip(map(zip)).err().unwrap().msg;
    assert!(msg.contains("evil/data.pkl") && msg.contains(&format!("{module}.{name}")) && (msg.contains("never runs code") || msg.contains("whole pickled model")), "{msg}");
    assert!(!canary.exists(), "{module}.{name} ran");
}

#[test]
fn malicious_globals_are_refused_by_name_and_never_run() {
    for (m, n) in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("__builtin__", "eval"), ("builtins", "exec"), ("subprocess", "Popen"), ("torch", "load"), ("torch.nn.modules.conv", "Conv2d")] {
        refused_global(m, n);
    }
}

#[test]
fn opcodes_outside_the_allow_list_are_refused() {
    // INST, OBJ, STACK_GLOBAL, EXT1, FRAME, PERSID (text), a byte that is no opcode.
    for (bytes, name) in [
        (&b"ios\nsystem\n."[..], "INST"),
        (b"o.", "OBJ"),
        (b"\x93.", "STACK_GLOBAL"),
        (b"\x82\x01.", "EXT1"),
        (b"\x95\x00\x00\x00\x00\x00\x00\x00\x00.", "FRAME"),
        (b"P0\n.", "PERSID"),
        (b"\xff.", ""),
    ] {
        let mut pkl = vec![0x80, 2];
        pkl.extend_from_slice(bytes);
        match run(&pkl).unwrap_err() {
            PickleError::Invalid { opcode, offset, .. } => assert_eq!((opcode, offset), (name, 2), "{bytes:?}"),
            e => panic!("{e}"),
        }
    }
    // Allowed opcodes used against the rules: calling a non-global, BUILD on a list,
    // NEWOBJ of a storage class, APPEND to a dict.
    for (pkl, needle) in [
        (P::new().str("x").op(b")R").stop(), "calls a str"),
        (P::new().op(b"]").op(b"}b").stop(), "BUILD on a list"),
        (P::new().global("torch", "FloatStorage").op(b")\x81").stop(), "NEWOBJ of a class"),
        (P::new().op(b"}").op(b"Na").stop(), "APPEND to a dict"),
        (P::new().op(b"0").stop(), "opcode outside the allow-list"),
    ] {
        let e = run(&pkl).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn the_memo_shares_containers_filled_after_they_were_stored() {
    // d = {}; memo[0] = d; d['k'] = 1; return (d, memo[0])
    let pkl = P::new().op(b"}q\x00").str("k").op(b"K\x01s").op(b"h\x00").op(&[0x86]).stop();
    let v = run(&pkl).unwrap();
    let Value::Tuple(t) = &v else { panic!() };
    let Value::Dict(second) = &t[1] else { panic!() };
    assert_eq!(second.borrow().len(), 1);
    // A memo entry never stored is an error.
    assert!(run(&P::new().op(b"h\x05").stop()).unwrap_err().to_string().contains("memo entry 5"));
}

#[test]
fn deep_nesting_neither_overflows_nor_leaks_the_stack() {
    // A million nested tuples: building, and dropping, must not recurse.
    let mut p = P::new().op(b")");
    p.0.extend(std::iter::repeat_n(0x85u8, 1_000_000));
    let v = run(&p.stop()).unwrap();
    assert!(matches!(v, Value::Tuple(_)));
    drop(v);
    // Lists nested through the memo, then filled: the same.
    let mut p = P::new().op(b"]q\x00");
    for _ in 0..200_000 {
        p = p.op(b"]").op(b"a");
    }
    let _ = run(&p.stop());
}

#[test]
fn truncated_and_corrupted_pickles_are_errors() {
    let pkl = P::new().ordered_dict().str("w").tensor("FloatStorage", "0", 4, 0, &[2, 2], &[2, 1]).op(b"s").stop();
    assert!(run(&pkl).is_ok());
    for n in 0..pkl.len() {
        assert!(run(&pkl[..n]).is_err(), "prefix {n} accepted");
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut b = pkl.clone();
        let i = (state as usize) % b.len();
        b[i] = (state >> 32) as u8;
        let _ = run(&b);
    }
}

/// A legacy torch.save stream: magic, protocol, sys_info, the main pickle, the key list,
/// then each storage as an int64 count and its bytes.
fn legacy(main: &[u8], keys: &[&str], storages: &[&[u8]], elem: usize) -> Vec<u8> {
    let mut v = vec![0x80, 2, 0x8a, 10];
    v.extend_from_slice(&crate::container::LEGACY_MAGIC);
    v.push(b'.');
    v.extend(P::new().op(b"M").op(&1001u16.to_le_bytes()).stop());
    v.extend(P::new().op(b"}").str("little_endian").op(&[0x88]).op(b"s").stop());
    v.extend_from_slice(main);
    let mut k = P::new().op(b"]").op(b"(");
    for key in keys {
        k = k.str(key);
    }
    v.extend(k.op(b"e").stop());
    for s in storages {
        v.extend_from_slice(&((s.len() / elem) as i64).to_le_bytes());
        v.extend_from_slice(s);
    }
    v
}

#[test]
fn legacy_streams_are_read_and_refused_like_archives() {
    let main = P::new().ordered_dict().str("w").tensor("FloatStorage", "94233171976512", 3, 1, &[2], &[1]).op(b"s").stop();
    let bytes = legacy(&main, &["94233171976512"], &[&f32_bytes(&[1.0, 2.0, 3.0])], 4);
    assert_eq!(crate::container::sniff(&bytes[..16], bytes.len() as u64), Some(Kind::Legacy));
    let file = TorchFile::legacy(map(bytes.clone())).unwrap();
    let Value::Dict(d) = &file.root else { panic!() };
    let Value::Tensor(t) = &d.borrow()[0].1 else { panic!() };
    assert_eq!(&*file.tensor(t).unwrap().to_f32(), &[2.0, 3.0]);
    // A storage cut short by the end of the file.
    assert!(TorchFile::legacy(map(bytes[..bytes.len() - 2].to_vec())).err().unwrap().msg.contains("runs past the end"));
    // os.system in the main pickle.
    let evil = P::new().ordered_dict().str("w").global("os", "system").op(b"(").str("true").op(b"tR").op(b"s").stop();
    let msg = TorchFile::legacy(map(legacy(&evil, &[], &[], 4))).err().unwrap().msg;
    assert!(msg.contains("main pickle") && msg.contains("os.system"), "{msg}");
}

#[test]
fn torchscript_and_whole_model_archives_are_refused_with_what_to_do() {
    let pkl = P::new().ordered_dict().stop();
    let ts = archive("net", &[("data.pkl", &pkl), ("code/__torch__/net.py", b"def forward(self, x): ..."), ("constants.pkl", &pkl)]);
    let msg = TorchFile::zip(map(ts)).err().unwrap().msg;
    assert!(msg.contains("TorchScript") && msg.contains("state_dict()") && msg.contains("ONNX"), "{msg}");
    let whole = P::new().global("__main__", "Net").op(b")\x81").stop();
    let msg = TorchFile::zip(map(archive("model", &[("data.pkl", &whole)]))).err().unwrap().msg;
    assert!(msg.contains("__main__.Net") && msg.contains("whole pickled model") && msg.contains("state_dict()"), "{msg}");
    // A zip without data.pkl is not a torch file.
    assert!(TorchFile::zip(map(archive("m", &[("other", b"x")]))).err().unwrap().msg.contains("data.pkl"));
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn checkpoint_wrappers_and_module_prefixes() {
    let data = f32_bytes(&[1.0, 2.0]);
    let sd = |prefix: &str| P::new().ordered_dict().str(&format!("{prefix}fc.weight")).tensor("FloatStorage", "0", 2, 0, &[2], &[1]).op(b"s");
    // {'epoch': 3, 'net': {...module. keys}, 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]}}
    let mut p = P::new().op(b"}").op(b"(").str("epoch").op(b"K\x03").str("net");
    p.0.extend_from_slice(&sd("module.").0[2..]);
    let p = p.str("optimizer").op(b"}(").str("state").op(b"}").str("param_groups").op(b"]}").str("lr").op(b"G").op(&0.1f64.to_be_bytes()).op(b"sa").op(b"u").op(b"u").stop();
    let path = write("ckpt.pth.rar", &archive("ckpt.pth", &[("data.pkl", &p), ("data/0", &data)]));
    let c = crate::read_weights(&path).unwrap();
    assert!(c.stripped_module && c.wrapper.contains("under 'net'"), "{c:?}");
    assert_eq!(c.entries[0].name, "fc.weight");
    for key in ["state_dict", "model"] {
        let mut p = P::new().op(b"}").str(key);
        p.0.extend_from_slice(&sd("").0[2..]);
        let path = write(&format!("{key}.pth"), &archive("x", &[("data.pkl", &p.op(b"s").stop()), ("data/0", &data)]));
        assert!(crate::read_weights(&path).unwrap().wrapper.contains(key));
    }
    // No state dict anywhere: the keys are listed.
    let p = P::new().op(b"}").str("epoch").op(b"K\x03s").stop();
    let e = crate::read_weights(&write("none.pth", &archive("x", &[("data.pkl", &p)]))).unwrap_err().to_string();
    assert!(e.contains("'epoch'") && e.contains("'state_dict', 'model', 'net'"), "{e}");
}

#[test]
fn safetensors_files_are_mapped_and_read() {
    let header = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[1],"data_offsets":[4,6]},"c":{"dtype":"F32","shape":[1,1],"data_offsets":[6,10]}}"#;
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&[0x00, 0x3c, 0x00, 0xc0]);
    bytes.extend_from_slice(&(-5i16).to_le_bytes());
    bytes.extend_from_slice(&2.5f32.to_le_bytes());
    let path = write("w.safetensors", &bytes);
    assert_eq!(crate::sniff_file(&path).unwrap(), Some(Kind::Safetensors));
    let c = crate::read_weights(&path).unwrap();
    let names: Vec<&str> = c.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(c.entries[0].tensor.to_f64(), [1.0, -2.0]);
    assert_eq!((c.entries[1].tensor.dtype(), c.entries[1].tensor.to_i64()), (DType::I32, vec![-5]));
    assert_eq!(c.entries[2].tensor.to_f64(), [2.5]);
    assert!(c.wrapper.contains("format=pt"));
    // A header pointing past the data is an error.
    let e = crate::read_weights(&write("bad.safetensors", &bytes[..bytes.len() - 1])).unwrap_err().to_string();
    assert!(e.contains("safetensors"), "{e}");
}

//! Hostile inputs, every one made here in a temp folder: truncated files and wrong magic in
//! every format, graph cycles, dangling inputs, external data and MindIR variables that
//! leave the model's folder (`..`, absolute paths, symbolic links), pickles naming code, a
//! zip bomb, a 2^62-element shape, NaN/Inf weights.
//!
//! Each case runs the real binary with a timeout and checks: the exit code (2 unreadable,
//! 1 uncompilable), one `senetc: error:` message naming the file, no panic, no output file
//! (nor a temporary one) left behind. Bomb-like cases also run under `prlimit --as` with the
//! file's size plus the model's real tensors plus a fixed margin for the process itself.
//! NaN/Inf weights compile, with a warning in the report.

mod common;

use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::{type_proto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one run may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Address space the process needs beyond the file and its tensors: the binary, its
/// libraries, thread stacks and the allocator's arenas (measured: a compile of the tiny
/// model runs in 160 MB; see `prlimit_margin_is_enough_for_a_real_compile`).
const MARGIN: u64 = 256 << 20;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_with(prefix: &[&str], args: &[&str]) -> Run {
    let bin = env!("CARGO_BIN_EXE_senetc");
    let mut cmd = match prefix.split_first() {
        Some((p, rest)) => {
            let mut c = Command::new(p);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run senetc");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("senetc {args:?} hangs: no exit after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code: status.code(), stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

fn senetc(args: &[&str]) -> Run {
    run_with(&[], args)
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("senetc-hostile-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Files in `d`, for checking that nothing was left behind.
fn listing(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Compile `model` into `<its folder>/out/out.sir` (with a report) and check the failure:
/// `code`, one error message naming the model file and containing every `needles`, no
/// panic, no output or temporary file. Returns the message.
fn refused(model: &Path, code: i32, needles: &[&str]) -> String {
    refused_args(model, code, needles, &[])
}

fn refused_args(model: &Path, code: i32, needles: &[&str], extra: &[&str]) -> String {
    let out_dir = model.parent().unwrap().join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("out.sir");
    let mut args = vec!["compile", s(model), "-o", s(&out), "--quiet"];
    args.extend_from_slice(extra);
    let r = senetc(&args);
    check_refusal(&r, model, code, needles);
    assert_eq!(listing(&out_dir), Vec::<String>::new(), "{}: a failed compile left files behind", model.display());
    r.stderr
}

fn check_refusal(r: &Run, model: &Path, code: i32, needles: &[&str]) {
    let label = model.display();
    assert!(!r.stderr.contains("panicked"), "{label}: panic:\n{}", r.stderr);
    assert!(r.stdout.is_empty(), "{label}: a refusal printed output:\n{}", r.stdout);
    assert_eq!(r.code, Some(code), "{label}: exit code (stderr:\n{})", r.stderr);
    assert_eq!(r.stderr.matches("senetc: error:").count(), 1, "{label}: want exactly one error message:\n{}", r.stderr);
    let name = model.file_name().unwrap().to_string_lossy();
    assert!(r.stderr.contains(&*name), "{label}: the message does not name the file:\n{}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "{label}: the message does not say {n:?}:\n{}", r.stderr);
    }
}

/// `prlimit --as=<bytes>` in front of senetc, or `None` (with a loud note) without prlimit.
fn prlimit(bytes: u64) -> Option<Vec<String>> {
    let ok = Command::new("prlimit").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("\n*** SKIPPED: prlimit not found (util-linux): the address-space limit is not checked ***\n");
        return None;
    }
    Some(vec!["prlimit".into(), format!("--as={bytes}"), "--".into()])
}

/// The refusal again under an address-space limit of the file's size plus `tensors` plus
/// [`MARGIN`]: the reader must not try to allocate what the file only declares.
fn refused_within_memory(model: &Path, tensors: u64, code: i32, needles: &[&str], args: &[&str]) {
    let limit = std::fs::metadata(model).unwrap().len() + tensors + MARGIN;
    let Some(p) = prlimit(limit) else { return };
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let r = run_with(&p, args);
    check_refusal(&r, model, code, needles);
    eprintln!("{}: refused within --as={} ({} MB)", model.display(), limit, limit >> 20);
}

// ---------------------------------------------------------------------------------------
// ONNX models made here.

fn dim(n: i64) -> Dimension {
    Dimension { value: Some(dimension::Value::DimValue(n)), ..Default::default() }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let shape = TensorShapeProto { dim: dims.iter().map(|&d| dim(d)).collect(), ..Default::default() };
    let t = type_proto::Tensor { elem_type: 1, shape: Some(shape).into(), ..Default::default() };
    ValueInfoProto { name: name.into(), type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), ..Default::default() }).into(), ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto { op_type: op.into(), name: name.into(), input: inputs.iter().map(|s| s.to_string()).collect(), output: outputs.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

fn f32_init(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto { name: name.into(), data_type: 1, dims: dims.to_vec(), raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(), ..Default::default() }
}

fn external_init(name: &str, dims: &[i64], location: &str, length: usize) -> TensorProto {
    let kv = |k: &str, v: String| StringStringEntryProto { key: k.into(), value: v, ..Default::default() };
    TensorProto {
        name: name.into(),
        data_type: 1,
        dims: dims.to_vec(),
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![kv("location", location.into()), kv("offset", "0".into()), kv("length", length.to_string())],
        ..Default::default()
    }
}

fn onnx_model(nodes: Vec<NodeProto>, inputs: Vec<ValueInfoProto>, outputs: &[&str], inits: Vec<TensorProto>) -> Vec<u8> {
    let g = GraphProto {
        name: "hostile".into(),
        node: nodes,
        input: inputs,
        output: outputs.iter().map(|o| ValueInfoProto { name: o.to_string(), ..Default::default() }).collect(),
        initializer: inits,
        ..Default::default()
    };
    let m = ModelProto { ir_version: 8, opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17, ..Default::default() }], graph: Some(g).into(), ..Default::default() };
    m.write_to_bytes().unwrap()
}

/// x[1,2,4,4] -> conv(w) -> relu -> y, with `w` as given.
fn conv_relu(w: TensorProto) -> Vec<u8> {
    onnx_model(vec![node("Conv", "conv", &["x", "w"], &["c"]), node("Relu", "relu", &["c"], &["y"])], vec![value_info("x", &[1, 2, 4, 4])], &["y"], vec![w])
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn tiny_onnx() -> Vec<u8> {
    std::fs::read(common::repo("models/tiny_se_resnet.onnx")).unwrap()
}

// ---------------------------------------------------------------------------------------
// Truncated files and wrong magic, in every format.

#[test]
fn truncated_and_wrong_magic_files_are_unreadable_in_every_format() {
    let d = dir("truncated");
    // A file that is not there: the OS's reason, said once.
    let msg = refused(&d.join("missing.onnx"), 2, &["No such file"]);
    assert_eq!(msg.matches("No such file").count(), 1, "{msg}");
    // ONNX
    let onnx = tiny_onnx();
    refused(&write(&d.join("cut.onnx"), &onnx[..onnx.len() / 2]), 2, &["not a valid ONNX model"]);
    refused(&write(&d.join("magic.onnx"), b"\x93NUMPY this is no protobuf \xff\xff\xff"), 2, &[]);
    // torch.save zip, legacy, safetensors (recognised by content)
    let zip = torch_zip(&[("archive/data.pkl", state_dict_pickle().as_slice()), ("archive/data/0", &[0u8; 32]), ("archive/byteorder", b"little")]);
    refused(&write(&d.join("cut_zip.pth"), &zip[..zip.len() - 30]), 2, &[]);
    let mut legacy = vec![0x80, 0x02, 0x8a, 0x0a];
    legacy.extend_from_slice(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
    legacy.extend_from_slice(b".\x80\x02M\xe9\x03.");
    refused(&write(&d.join("cut_legacy.pth"), &legacy), 2, &[]);
    let st = safetensors_file(r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, &[0u8; 16]);
    refused(&write(&d.join("cut.safetensors"), &st[..st.len() - 4]), 2, &[]);
    refused_args(&write(&d.join("magic.pth"), b"not a torch file at all, just words"), 2, &[], &["--arch", "tiny_se_resnet"]);
    // MindIR
    let mindir = mindir_model(|_| {});
    refused(&write(&d.join("cut.mindir"), &mindir[..mindir.len() / 2]), 2, &[]);
    refused(&write(&d.join("magic.mindir"), &[0xffu8; 64]), 2, &["not a valid MindIR"]);
    // OM and AIR
    let mut om = b"IMOD".to_vec();
    om.extend_from_slice(&[0u8; 60]);
    refused(&write(&d.join("cut.om"), &om), 2, &[]);
    refused(&write(&d.join("magic.om"), &[0x42u8; 400]), 2, &["bad magic"]);
    refused(&write(&d.join("garbage.air"), &[0xffu8; 100]), 2, &[]);
    // TensorFlow: frozen graph, checkpoint index, .meta
    let pb = tf_graph(&[("x", "Placeholder", &[]), ("y", "Relu", &["x"])]);
    refused(&write(&d.join("cut.pb"), &pb[..pb.len() - 3]), 2, &[]);
    let ckpt = d.join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    write(&ckpt.join("model.ckpt.index"), b"not an sstable, far too short");
    write(&ckpt.join("model.ckpt.meta"), &pb);
    // The message names the file at fault, the index, not the .meta given.
    let meta = ckpt.join("model.ckpt.meta");
    let r = senetc(&["compile", s(&meta), "-o", s(&d.join("ckpt.sir")), "--quiet"]);
    check_refusal(&r, &ckpt.join("model.ckpt.index"), 2, &["too short"]);
    assert!(!d.join("ckpt.sir").exists());
    // A SavedModel folder whose saved_model.pb is no protobuf.
    let sm = d.join("savedmodel");
    std::fs::create_dir_all(sm.join("variables")).unwrap();
    let pbfile = write(&sm.join("saved_model.pb"), &[0xffu8; 200]);
    let r = senetc(&["compile", s(&sm), "-o", s(&d.join("sm.sir")), "--quiet"]);
    check_refusal(&r, &pbfile, 2, &[]);
    // A checkpoint whose .data shard is cut short of what its index declares (the real
    // checkpoint of the shared corpus, when present).
    if let Some(corpus) = common::corpus() {
        let src = corpus.join("fixtures/tf1_ckpt");
        let cut = d.join("cut_ckpt");
        std::fs::create_dir_all(&cut).unwrap();
        for f in ["model.ckpt.index", "model.ckpt.meta", "checkpoint"] {
            std::fs::copy(src.join(f), cut.join(f)).unwrap();
        }
        let data = std::fs::read(src.join("model.ckpt.data-00000-of-00001")).unwrap();
        let shard = write(&cut.join("model.ckpt.data-00000-of-00001"), &data[..data.len() / 2]);
        let r = senetc(&["compile", s(&cut.join("model.ckpt.meta")), "-o", s(&d.join("cut_ckpt.sir")), "--quiet"]);
        check_refusal(&r, &shard, 2, &[]);
    }
    // .npy / .npz inputs of `senetc run`
    let model = write(&d.join("tiny.onnx"), &onnx);
    for (name, bytes) in [("cut.npy", &npy_header("<f4", "(1, 3, 32, 32)")[..]), ("magic.npy", b"PK\x03\x04 no npy"), ("cut.npz", b"PK\x03\x04\x14\x00")] {
        let input = write(&d.join(name), bytes);
        let r = senetc(&["run", s(&model), "--input", s(&input)]);
        check_refusal(&r, &input, 2, &[]);
    }
}

// ---------------------------------------------------------------------------------------
// Graph structure: cycles, inputs that name nothing.

#[test]
fn graph_cycles_and_dangling_inputs_are_errors_naming_the_node() {
    let d = dir("graph");
    // ONNX: a -> b -> a.
    let cyc = onnx_model(vec![node("Relu", "a", &["b_out"], &["a_out"]), node("Relu", "b", &["a_out"], &["b_out"])], vec![value_info("x", &[1, 2])], &["b_out"], vec![]);
    refused(&write(&d.join("cycle.onnx"), &cyc), 1, &["\"a\""]);
    let dangling = onnx_model(vec![node("Relu", "r", &["nowhere"], &["y"])], vec![value_info("x", &[1, 2])], &["y"], vec![]);
    refused(&write(&d.join("dangling.onnx"), &dangling), 1, &["nowhere"]);
    // TensorFlow frozen graphs: a cycle through two nodes, and an input naming no node.
    let cyc = tf_graph(&[("x", "Placeholder", &[]), ("a", "Add", &["x", "b"]), ("b", "Relu", &["a"]), ("y", "Identity", &["b"])]);
    let msg = refused(&write(&d.join("cycle.pb"), &cyc), 1, &[]);
    assert!(msg.contains("cycle") || msg.contains("loop"), "{msg}");
    // (Read by the value the output is computed from, so the import has to follow it.)
    let dangling = tf_graph(&[("x", "Placeholder", &[]), ("y", "Add", &["x", "nowhere:0"])]);
    refused(&write(&d.join("dangling.pb"), &dangling), 1, &["nowhere"]);
    // A deep chain: graph walks keep an explicit stack (no stack overflow).
    let mut nodes: Vec<(String, String, Vec<String>)> = vec![("x".into(), "Placeholder".into(), vec![])];
    for i in 0..100_000 {
        let prev = if i == 0 { "x".to_string() } else { format!("n{}", i - 1) };
        nodes.push((format!("n{i}"), "Identity".into(), vec![prev]));
    }
    let chain: Vec<(&str, &str, Vec<&str>)> = nodes.iter().map(|(n, o, i)| (n.as_str(), o.as_str(), i.iter().map(String::as_str).collect())).collect();
    let chain: Vec<(&str, &str, &[&str])> = chain.iter().map(|(n, o, i)| (*n, *o, i.as_slice())).collect();
    let path = write(&d.join("deep_chain.pb"), &tf_graph(&chain));
    let r = senetc(&["inspect", s(&path)]);
    assert!(!r.stderr.contains("panicked") && !r.stderr.contains("overflow"), "{}", r.stderr);
    assert!(r.code == Some(0) || r.code == Some(1) || r.code == Some(2), "{:?}: {}", r.code, r.stderr);
    // The same through the ONNX reader, the passes and both backends: a 50,000-deep chain
    // compiles (a recursive walk would overflow the 8 MB main stack well before that).
    let names: Vec<String> = (0..50_000).map(|i| format!("n{i}")).collect();
    let nodes = (0..names.len()).map(|i| node("Relu", &format!("r{i}"), &[if i == 0 { "x" } else { &names[i - 1] }], &[&names[i]])).collect();
    let deep = write(&d.join("deep_chain.onnx"), &onnx_model(nodes, vec![value_info("x", &[1, 4])], &[names.last().unwrap()], vec![]));
    for (target, out) in [("cpu", "deep.sir"), ("ascend910", "deep.om")] {
        let r = senetc(&["compile", s(&deep), "--target", target, "-o", s(&d.join(out)), "--quiet"]);
        assert_eq!(r.code, Some(0), "{target}: {}", r.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// Paths written inside models that leave the model's folder.

#[test]
fn external_data_outside_the_models_folder_is_refused() {
    let d = dir("external");
    let outside = dir("external-outside");
    let secret = write(&outside.join("secret.bin"), &[0u8; 16]);
    let model_dir = d.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    let cases = [("dotdot.onnx", "../../external-outside/secret.bin".to_string()), ("absolute.onnx", s(&secret).to_string())];
    for (name, location) in &cases {
        let m = write(&model_dir.join(name), &conv_relu(external_init("w", &[2, 2, 1, 1], location, 16)));
        refused(&m, 1, &["outside the model's folder"]);
    }
    std::os::unix::fs::symlink(&secret, model_dir.join("link.bin")).unwrap();
    let m = write(&model_dir.join("symlink.onnx"), &conv_relu(external_init("w", &[2, 2, 1, 1], "link.bin", 16)));
    refused(&m, 1, &["outside the model's folder"]);
    // A linked folder too.
    std::os::unix::fs::symlink(&outside, model_dir.join("linkdir")).unwrap();
    let m = write(&model_dir.join("symlink_dir.onnx"), &conv_relu(external_init("w", &[2, 2, 1, 1], "linkdir/secret.bin", 16)));
    refused(&m, 1, &["outside the model's folder"]);
    // The same data inside the folder is read.
    write(&model_dir.join("w.bin"), &[0u8; 16]);
    let ok = write(&model_dir.join("inside.onnx"), &conv_relu(external_init("w", &[2, 2, 1, 1], "w.bin", 16)));
    let r = senetc(&["compile", s(&ok), "-o", s(&d.join("inside.sir")), "--quiet"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn mindir_variables_outside_the_models_folder_are_refused() {
    let d = dir("mindir-vars");
    let outside = dir("mindir-vars-outside");
    let mut data = vec![1u8];
    data.extend_from_slice(&[0u8; 63 + 16]);
    let secret = write(&outside.join("data_0"), &data);
    let model_dir = d.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::os::unix::fs::symlink(&secret, model_dir.join("link_data")).unwrap();
    for (name, location) in [("dotdot.mindir", "../../mindir-vars-outside/data_0"), ("absolute.mindir", s(&secret)), ("symlink.mindir", "link_data")] {
        let bytes = mindir_model(|p| {
            p.raw_data = None;
            p.external_data = Some(senetc_frontends::mindir::proto::mind_ir::tensor_proto::ExternalDataProto { location: Some(location.into()), offset: Some(64), length: Some(16) });
        });
        refused(&write(&model_dir.join(name), &bytes), 1, &["outside the model's folder", "\"p\""]);
    }
}

// ---------------------------------------------------------------------------------------
// Pickles that name code.

/// A protocol-2 state dict `{"w": tensor(float, [2, 2]) in storage "0"}`.
fn state_dict_pickle() -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x02K\x02\x86K\x02K\x01\x86\x89ccollections\nOrderedDict\n)Rtq\x02Rs.".to_vec();
    p.shrink_to_fit();
    p
}

fn torch_zip(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in records {
            z.start_file(*name, o).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

#[test]
fn pickles_that_name_code_are_refused_without_running_it() {
    let d = dir("pickles");
    let marker = d.join("pwned");
    for (name, module, func) in [("os_system", "os", "system"), ("posix_system", "posix", "system"), ("builtins_eval", "builtins", "eval"), ("subprocess", "subprocess", "Popen"), ("builtins_exec", "__builtin__", "exec")] {
        let cmd = format!("touch {}", marker.display());
        let mut pkl = b"\x80\x02".to_vec();
        pkl.extend_from_slice(format!("c{module}\n{func}\nq\x00").as_bytes());
        pkl.push(b'X');
        pkl.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
        pkl.extend_from_slice(cmd.as_bytes());
        pkl.extend_from_slice(b"\x85R.");
        // In a zip archive and as a legacy stream.
        let zip = write(&d.join(format!("{name}.pth")), &torch_zip(&[("archive/data.pkl", &pkl), ("archive/byteorder", b"little")]));
        let want = format!("{module}.{func}");
        refused_args(&zip, 2, &[&want, "not allowed"], &["--arch", "tiny_se_resnet"]);
        let mut legacy = vec![0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.'];
        legacy.extend_from_slice(b"\x80\x02M\xe9\x03.\x80\x02}q\x00.");
        legacy.extend_from_slice(&pkl);
        let legacy = write(&d.join(format!("{name}_legacy.pth")), &legacy);
        refused_args(&legacy, 2, &[&want, "not allowed"], &["--arch", "tiny_se_resnet"]);
        // inspect refuses them too.
        let r = senetc(&["inspect", s(&zip)]);
        check_refusal(&r, &zip, 2, &[&want]);
        assert!(!marker.exists(), "{name}: the pickle ran code");
    }
    // A self-referencing list (memo) and a deep nest are refused or read, never a crash.
    let mut cyc = b"\x80\x02]q\x00h\x00a".to_vec();
    cyc.extend_from_slice(b".");
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b']', 200_000));
    deep.extend(std::iter::repeat_n(b'a', 199_999));
    deep.push(b'.');
    for (name, pkl) in [("cycle", cyc), ("deep", deep)] {
        let p = write(&d.join(format!("{name}.pth")), &torch_zip(&[("archive/data.pkl", &pkl)]));
        refused_args(&p, 2, &[], &["--arch", "tiny_se_resnet"]);
    }
}

// ---------------------------------------------------------------------------------------
// Bombs: a zip bomb, a 2^62-element shape, tensors larger than their file.

fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b
}

#[test]
fn zip_bombs_are_refused_before_they_expand() {
    let d = dir("zipbomb");
    let model = write(&d.join("tiny.onnx"), &tiny_onnx());
    // 1 GiB of zeros in one .npz member (~1 MB compressed) whose .npy header declares the
    // model's input shape, so only the member's size gives it away.
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("input.npy", zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true)).unwrap();
        z.write_all(&npy_header("<f4", "(1, 3, 32, 32)")).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
    }
    let bomb = write(&d.join("bomb.npz"), &buf.into_inner());
    let args = ["run", s(&model), "--input", s(&bomb)];
    let r = senetc(&args);
    check_refusal(&r, &bomb, 2, &["input.npy", "declares 1073741952 bytes"]);
    refused_within_memory(&bomb, std::fs::metadata(&model).unwrap().len(), 2, &["input.npy", "declares"], &args);
    // Overlapping members (every entry the same compressed bytes): refused by their sizes.
    let one = {
        let mut b = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut b);
        z.start_file("a.npy", zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
        z.write_all(&npy_header("<f4", "(1, 3, 32, 32)")).unwrap();
        z.write_all(&[0u8; 3 * 32 * 32 * 4]).unwrap();
        z.finish().unwrap();
        b.into_inner()
    };
    let overlap = write(&d.join("overlap.npz"), &overlapping_zip(&one, 5000));
    let args = ["run", s(&model), "--input", s(&overlap)];
    let r = senetc(&args);
    check_refusal(&r, &overlap, 2, &[]);
    // A torch.save archive whose records are compressed: refused, never expanded.
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
        z.start_file("archive/data.pkl", o).unwrap();
        z.write_all(&state_dict_pickle()).unwrap();
        z.start_file("archive/data/0", o).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..512 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
    }
    let pth = write(&d.join("bomb.pth"), &buf.into_inner());
    let x_sir = d.join("x.sir");
    let args = ["compile", s(&pth), "--arch", "tiny_se_resnet", "-o", s(&x_sir)];
    refused_args(&pth, 2, &["compressed"], &["--arch", "tiny_se_resnet"]);
    refused_within_memory(&pth, 0, 2, &["compressed"], &args);
}

/// A zip whose central directory lists the first member of `one` `n` times (the
/// overlapping-member zip bomb).
fn overlapping_zip(one: &[u8], n: usize) -> Vec<u8> {
    let eocd = one.len() - 22;
    let cd_off = u32::from_le_bytes(one[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let entry = &one[cd_off..eocd];
    let mut out = one[..cd_off].to_vec();
    let start = out.len();
    for _ in 0..n {
        out.extend_from_slice(entry);
    }
    let size = out.len() - start;
    let mut end = one[eocd..].to_vec();
    end[8..10].copy_from_slice(&(n as u16).to_le_bytes());
    end[10..12].copy_from_slice(&(n as u16).to_le_bytes());
    end[12..16].copy_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&end);
    out
}

#[test]
fn huge_declared_shapes_are_refused_before_allocating() {
    let d = dir("huge");
    let x_sir = d.join("x.sir");
    let big: i64 = 1 << 62;
    // ONNX: an input of 2^62 elements, an initializer declaring 2^62 elements with none,
    // and external data declaring more than its file.
    let input = onnx_model(vec![node("Relu", "relu", &["x"], &["y"])], vec![value_info("x", &[1 << 31, 1 << 31])], &["y"], vec![]);
    let p = write(&d.join("input_2e62.onnx"), &input);
    refused(&p, 1, &["more than 2^48 elements"]);
    refused_within_memory(&p, 0, 1, &[], &["compile", s(&p), "-o", s(&x_sir)]);
    let init = conv_relu(TensorProto { name: "w".into(), data_type: 1, dims: vec![big], ..Default::default() });
    let p = write(&d.join("init_2e62.onnx"), &init);
    refused(&p, 1, &["\"w\""]);
    refused_within_memory(&p, 0, 1, &[], &["compile", s(&p), "-o", s(&x_sir)]);
    let overflow = conv_relu(TensorProto { name: "w".into(), data_type: 1, dims: vec![big, big, 4], ..Default::default() });
    refused(&write(&d.join("overflow.onnx"), &overflow), 1, &["overflows"]);
    let model_dir = d.join("ext");
    std::fs::create_dir_all(&model_dir).unwrap();
    write(&model_dir.join("w.bin"), &[0u8; 16]);
    let p = write(&model_dir.join("ext_2e62.onnx"), &conv_relu(external_init("w", &[big / 4], "w.bin", (big as usize).wrapping_mul(1))));
    refused(&p, 1, &["w.bin"]);
    // safetensors declaring 2^62 elements.
    let st = safetensors_file(&format!(r#"{{"w":{{"dtype":"F32","shape":[{big}],"data_offsets":[0,16]}}}}"#), &[0u8; 16]);
    let p = write(&d.join("huge.safetensors"), &st);
    refused_args(&p, 2, &[], &["--arch", "tiny_se_resnet"]);
    refused_within_memory(&p, 0, 2, &[], &["compile", s(&p), "--arch", "tiny_se_resnet", "-o", s(&x_sir)]);
    // .npy of 2^62 elements.
    let model = write(&d.join("tiny.onnx"), &tiny_onnx());
    let npy = write(&d.join("huge.npy"), &npy_header("<f4", &format!("({big},)")));
    let args = ["run", s(&model), "--input", s(&npy)];
    check_refusal(&senetc(&args), &npy, 2, &[]);
    refused_within_memory(&npy, std::fs::metadata(&model).unwrap().len(), 2, &[], &args);
    // MindIR parameter of 2^62 elements, inline.
    let m = mindir_model(|p| {
        p.dims = vec![big];
        p.raw_data = Some(vec![0u8; 16].into());
    });
    let p = write(&d.join("huge.mindir"), &m);
    refused(&p, 1, &["\"p\""]);
    refused_within_memory(&p, 0, 1, &["\"p\""], &["compile", s(&p), "-o", s(&x_sir)]);
    // A torch storage view that repeats one element 2^40 times (stride 0).
    let mut pkl = state_dict_pickle();
    let at = pkl.windows(10).position(|w| w == b"K\x02K\x02\x86K\x02K\x01\x86".as_slice()).unwrap();
    pkl.splice(at..at + 10, b"\x8a\x06\x00\x00\x00\x00\x00\x01K\x02\x86K\x00K\x00\x86".iter().copied());
    let p = write(&d.join("stride0.pth"), &torch_zip(&[("archive/data.pkl", &pkl), ("archive/data/0", &[0u8; 16]), ("archive/byteorder", b"little")]));
    refused_args(&p, 2, &["\"w\""], &["--arch", "tiny_se_resnet"]);
    refused_within_memory(&p, 0, 2, &["\"w\""], &["compile", s(&p), "--arch", "tiny_se_resnet", "-o", s(&x_sir)]);
}

#[test]
fn prlimit_margin_is_enough_for_a_real_compile() {
    let d = dir("margin");
    let model = write(&d.join("tiny.onnx"), &tiny_onnx());
    let len = std::fs::metadata(&model).unwrap().len();
    let Some(p) = prlimit(len * 2 + MARGIN) else { return };
    let args: Vec<&str> = p.iter().map(String::as_str).collect();
    let out = d.join("tiny.sir");
    let r = run_with(&args, &["compile", s(&model), "-o", s(&out), "--quiet"]);
    assert_eq!(r.code, Some(0), "the margin is too small for a real compile: {}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// NaN and Inf weights: a warning, not a failure.

#[test]
fn nan_and_inf_weights_compile_with_a_warning_in_the_report() {
    let d = dir("nan");
    let m = write(&d.join("nan.onnx"), &conv_relu(f32_init("w", &[2, 2, 1, 1], &[1.0, f32::NAN, f32::INFINITY, 0.5])));
    let out = d.join("nan.sir");
    let report = d.join("report.json");
    let r = senetc(&["compile", s(&m), "-O0", "-o", s(&out), "--report", s(&report)]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(out.exists());
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings = j["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("\"w\"") && w.as_str().unwrap().contains("NaN")), "{warnings:?}");
    assert!(r.stderr.contains("warning") && r.stderr.contains("NaN"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// Output safety.

#[test]
fn a_failed_compile_keeps_the_existing_output_and_writes_the_report() {
    let d = dir("output");
    let out = write(&d.join("model.sir"), b"the previous, good output\n");
    let report = d.join("report.json");
    let bad = write(&d.join("bad.onnx"), &onnx_model(vec![node("NoSuchOp", "mystery", &["x"], &["y"])], vec![value_info("x", &[1, 2])], &["y"], vec![]));
    let r = senetc(&["compile", s(&bad), "-o", s(&out), "--report", s(&report), "--quiet"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous, good output\n", "a failed compile changed the output");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("the report is written on failure")).unwrap();
    let errors = j["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{j}");
    assert!(errors[0].as_str().unwrap().contains("NoSuchOp") && errors[0].as_str().unwrap().contains("bad.onnx"), "{j}");
    assert_eq!(j["exit_code"], 1);
    assert_eq!(j["model"].as_str().unwrap(), s(&bad));
    assert_eq!(j["target"], "cpu");
    // Unreadable input: exit 2, the report says so, the output is still untouched.
    let cut = write(&d.join("cut.onnx"), &tiny_onnx()[..1000]);
    let r = senetc(&["compile", s(&cut), "-o", s(&out), "--report", s(&report), "--quiet"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(j["exit_code"], 2);
    assert!(j["errors"][0].as_str().unwrap().contains("cut.onnx"), "{j}");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous, good output\n");
    assert_eq!(listing(&d), ["bad.onnx", "cut.onnx", "model.sir", "report.json"]);
    // A successful compile replaces it, and its report has no errors.
    let good = write(&d.join("good.onnx"), &tiny_onnx());
    let r = senetc(&["compile", s(&good), "-o", s(&out), "--report", s(&report), "--quiet"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("graph "));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(j["errors"].as_array().map(Vec::len), Some(0), "{j}");
}

#[test]
fn inspect_into_a_closed_pipe_exits_quietly() {
    let d = dir("pipe");
    let m = write(&d.join("tiny.onnx"), &tiny_onnx());
    let mut child = Command::new(env!("CARGO_BIN_EXE_senetc")).args(["inspect", s(&m), "--verbose"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Read one line, then close the pipe (as `| head -1` does).
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert!(o.status.code().is_some(), "killed by a signal: {:?}", o.status);
}

// ---------------------------------------------------------------------------------------
// Other formats made here.

fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A MindSpore 2.x model: x -> ReLU -> Add(param) -> out, with one parameter `p` that `edit`
/// may change.
fn mindir_model(edit: impl FnOnce(&mut senetc_frontends::mindir::proto::mind_ir::TensorProto)) -> Vec<u8> {
    use prost::Message;
    use senetc_frontends::mindir::proto::mind_ir as m;
    let tensor = |dims: Vec<i64>| m::TensorProto { dims, data_type: Some(1), ..Default::default() };
    let mut param = m::TensorProto { name: Some("g:p".into()), ref_key: Some("p".into()), raw_data: Some(vec![0u8; 16].into()), ..tensor(vec![4]) };
    edit(&mut param);
    let node = |name: &str, op: &str, inputs: &[&str]| m::NodeProto { name: Some(name.into()), output: vec![name.into()], op_type: Some(op.into()), input: inputs.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let g = m::GraphProto {
        name: Some("g".into()),
        input: vec![m::ValueInfoProto { name: Some("g:x".into()), tensor: vec![tensor(vec![1, 4])] }],
        output: vec![m::ValueInfoProto { name: Some("g:add".into()), ..Default::default() }],
        parameter: vec![param],
        node: vec![node("g:relu", "ReLU", &["g:x"]), node("g:add", "Add", &["g:relu", "g:p"])],
    };
    let model = m::ModelProto { ir_version: Some("1.1".into()), producer_name: Some("MindSpore".into()), model_version: Some("2.10.0".into()), graph: Some(g), mind_ir_version: Some(3), little_endian: Some(true), ..Default::default() };
    model.encode_to_vec()
}

/// A frozen TensorFlow GraphDef of (name, op, inputs); Placeholders are f32[1,4].
fn tf_graph(nodes: &[(&str, &str, &[&str])]) -> Vec<u8> {
    use prost::Message;
    use senetc_frontends::tf::graph::attr_entry;
    use senetc_frontends::tf::proto as tf;
    let g = tf::GraphDef {
        node: nodes
            .iter()
            .map(|(name, op, inputs)| {
                let mut n = tf::NodeDef { name: name.to_string(), op: op.to_string(), input: inputs.iter().map(|s| s.to_string()).collect(), ..Default::default() };
                n.attr.push(attr_entry("T", tf::attr_value::Value::Type(1)));
                if *op == "Placeholder" {
                    n.attr.push(attr_entry("dtype", tf::attr_value::Value::Type(1)));
                    let shape = tf::TensorShapeProto { dim: vec![tf::tensor_shape_proto::Dim { size: 1, ..Default::default() }, tf::tensor_shape_proto::Dim { size: 4, ..Default::default() }], ..Default::default() };
                    n.attr.push(attr_entry("shape", tf::attr_value::Value::Shape(shape)));
                }
                n
            })
            .collect(),
        ..Default::default()
    };
    g.encode_to_vec()
}

//! Unit tests of the import layer.

use super::*;
use senetc_ir::ops::{Op, Relu};
use senetc_ir::{DType, Dim, Shape, Storage, Tensor, TensorType};

fn sym(s: &str) -> SymInt {
    SymInt::Sym(s.into())
}

#[test]
fn shape_arithmetic_keeps_the_symbolic_batch() {
    let shape = Val::shape_of(&[Dim::Sym("batch".into()), Dim::Known(64), Dim::Known(7), Dim::Known(7)]);
    let (v, _) = shape.sym_ints().unwrap();
    let hw = gather_ints(&v, &[SymInt::Int(2), SymInt::Int(-1)]).unwrap();
    assert_eq!(hw, [SymInt::Int(7), SymInt::Int(7)]);
    let prod = int_binary(IntOp::Mul, &Val::Ints { v: vec![SymInt::Int(7)], scalar: true }, &Val::Ints { v: vec![SymInt::Int(64)], scalar: true }).unwrap().unwrap();
    assert_eq!(prod.sym_ints(), Some((vec![SymInt::Int(448)], true)));
    // batch * 1 stays the batch; batch * 2 cannot be expressed.
    let b = Val::Ints { v: vec![sym("batch")], scalar: true };
    assert_eq!(int_binary(IntOp::Mul, &b, &Val::Ints { v: vec![SymInt::Int(1)], scalar: true }).unwrap().unwrap().sym_ints(), Some((vec![sym("batch")], true)));
    assert!(int_binary(IntOp::Mul, &b, &Val::Ints { v: vec![SymInt::Int(2)], scalar: true }).unwrap().is_err());
    assert!(int_binary(IntOp::Div, &Val::Ints { v: vec![SymInt::Int(1)], scalar: true }, &Val::Ints { v: vec![SymInt::Int(0)], scalar: true }).unwrap().is_err());
    assert_eq!(slice_ints(&v, 1, i64::MAX, 1).unwrap().len(), 3);
    assert!(slice_ints(&v, 0, 4, 0).is_err());
    // [batch, 64*7*7] from [batch, 64, 7, 7]: the batch is copied (0), the rest known.
    let input = [Dim::Sym("batch".into()), Dim::Known(64), Dim::Known(7), Dim::Known(7)];
    assert_eq!(reshape_target(&input, &[sym("batch"), SymInt::Int(3136)], false).unwrap(), [0, 3136]);
    assert_eq!(reshape_target(&input, &[SymInt::Int(3136), sym("batch")], false).unwrap(), [3136, -1]);
}

#[test]
fn a_failed_node_is_reported_once_and_poisons_its_readers() {
    let mut b = Builder::new("g");
    b.input("x", TensorType::new(DType::F32, Shape::known(&[2, 3])));
    convert(&mut b, "bad", "Weird", &["x"], &["y"], |_| Err("unsupported op".into()));
    convert(&mut b, "after", "Relu", &["y"], &["z"], |b| Ok(vec![b.add("after", Op::Relu(Relu {}), &["y"])?]));
    convert(&mut b, "ok", "Relu", &["x"], &["w"], |b| Ok(vec![b.add("ok", Op::Relu(Relu {}), &["x"])?]));
    b.output("z", "z");
    b.output("w", "w");
    let problems = b.finish().unwrap_err();
    assert_eq!(problems, vec![Problem::new("bad", "Weird", "unsupported op")]);
}

#[test]
fn constants_are_placed_once_per_weight_and_stay_readable_as_settings() {
    let mut b = Builder::new("g");
    b.input("x", TensorType::new(DType::F32, Shape::known(&[2])));
    b.define("k", Val::constant(Tensor::from_i64(vec![1], &[3]), "k"));
    b.define("k_alias", Val::constant(Tensor::from_i64(vec![1], &[3]), "k"));
    let (o1, o2) = (b.outlet("k").unwrap(), b.outlet("k_alias").unwrap());
    assert_eq!(o1, o2);
    assert_eq!(b.static_ints("k", "axes").unwrap(), [3]);
}

#[test]
fn weight_sets_report_every_mismatch_at_once() {
    let expected: weights::Expected = [("a".to_string(), vec![2]), ("b".to_string(), vec![3, 3]), ("c".to_string(), vec![1])].into();
    let given: weights::WeightMap = [
        ("a".to_string(), Tensor::from_f32(vec![2], &[1.0, 2.0])),
        ("b".to_string(), Tensor::from_f32(vec![9], &[0.0; 9])),
        ("extra".to_string(), Tensor::from_f32(vec![1], &[f32::NAN])),
        ("global_step".to_string(), Tensor::from_i64(vec![], &[5])),
    ]
    .into();
    let problems = weights::check(&expected, &given, |n| n == "global_step").unwrap_err();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text, [
        "node \"b\" (weight): has shape [9], expected [3, 3]",
        "node \"c\" (weight): missing (expected shape [1])",
        "node \"extra\" (weight): unexpected (no such weight in the model)",
    ]);
    assert_eq!(weights::non_finite(&given), ["extra"]);
}

#[test]
fn paths_inside_a_model_stay_in_its_folder() {
    let dir = std::env::temp_dir().join(format!("senetc-import-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/data"), b"1234").unwrap();
    assert!(files::inside(&dir, "sub/data").is_ok());
    for bad in ["../x", "/etc/passwd", "sub/../../x", ""] {
        assert!(files::inside(&dir, bad).is_err(), "{bad}");
    }
    #[cfg(unix)]
    {
        let _ = std::os::unix::fs::symlink("/etc", dir.join("escape"));
        assert!(files::inside(&dir, "escape/hostname").is_err());
    }
    let mut f = files::FolderFiles::new(&dir);
    assert_eq!(f.open("sub/data").unwrap().bytes(), b"1234");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn windows_of_a_mapped_file_give_back_their_pages_and_stay_readable() {
    let path = std::env::temp_dir().join(format!("senetc-window-{}", std::process::id()));
    let data: Vec<u8> = (0..5 * 4096 + 100).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = files::MappedFile::open(&path).unwrap();
    // A window spanning whole pages: dropping it releases them; another window over the
    // same bytes still reads the file's contents.
    let a = files::window(&file, 10, 4 * 4096).unwrap();
    let b = files::window(&file, 10, 4 * 4096).unwrap();
    assert_eq!(a.bytes(), &data[10..10 + 4 * 4096]);
    drop(a);
    assert_eq!(b.bytes(), &data[10..10 + 4 * 4096]);
    assert!(files::window(&file, 5 * 4096, 101).is_none());
    // Slices of the bytes a decoder sees become windows; other bytes are shared as they are.
    let all = files::bytes_of(file.clone());
    let t = files::shared_tensor(DType::U8, vec![7], all.slice(3..10), Some(&file)).unwrap();
    assert_eq!(t.bytes(), &data[3..10]);
    assert_eq!(file.offset_of(&all[3..10]), Some(3));
    assert_eq!(file.offset_of(&data[3..10]), None);
    let t = files::shared_tensor(DType::U8, vec![2], bytes::Bytes::from_static(b"ab"), Some(&file)).unwrap();
    assert_eq!(t.bytes(), b"ab");
    std::fs::remove_file(&path).unwrap();
}

//! The TensorFlow frontend on real files: the three seed recipes' training checkpoints (a),
//! eval checkpoints (b) and frozen graphs (c) from `tests/fixtures/tf`, and the shared tiny
//! net in every TF form (`$SENETC_CORPUS/fixtures`). Each compiles at -O2 and the CPU
//! reference reproduces TensorFlow's stored output (max |diff| <= 1e-4 * max(1, max
//! |expected|), same argmax), at batch 1 and at a larger batch; byte-flipped and truncated
//! copies of every file give errors that name the file, never a panic.

mod common;

use senetc_frontends::ImportOptions;
use senetc_ir::{Graph, Tensor};
use std::path::{Path, PathBuf};

fn tf(rel: &str) -> PathBuf {
    common::repo("tests/fixtures/tf").join(rel)
}

fn import(path: &Path, o: &ImportOptions) -> (Graph, Vec<String>) {
    let m = senetc_frontends::import(path, o).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(m.format, senetc_frontends::Format::TensorFlow);
    (m.graph, m.notes.notes)
}

fn optimize(g: &mut Graph) {
    senetc_passes::PassManager::new(senetc_passes::PassOptions::default()).unwrap().run(g, None).unwrap();
}

fn run(g: &Graph, x: &Tensor) -> Tensor {
    let mut plan = senetc_codegen::cpu::CpuPlan::new(g, &[x.shape().to_vec()], 2).unwrap();
    plan.run(std::slice::from_ref(x)).unwrap().remove(0).1
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// The reference tolerance: max |diff| <= 1e-4 * max(1, max |expected|), same argmax (per row).
fn assert_close(label: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{label}: shape");
    let (g, w) = (got.to_f32(), want.to_f32());
    let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = g.iter().zip(w.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff <= 1e-4 * scale, "{label}: max |diff| {diff} > {}", 1e-4 * scale);
    let row = *want.shape().last().unwrap();
    for (gr, wr) in g.chunks(row).zip(w.chunks(row)) {
        assert_eq!(argmax(gr), argmax(wr), "{label}: argmax");
    }
    eprintln!("{label}: max |diff| {diff:.3e}");
}

/// `x` repeated `n` times along the batch axis, and `want` likewise.
fn batched(x: &Tensor, n: usize) -> Tensor {
    let mut shape = x.shape().to_vec();
    shape[0] *= n;
    Tensor::from_f32(shape, &x.to_f32().repeat(n))
}

/// The EfficientNet training `.meta` is committed gzipped: a temp folder with it unpacked
/// beside the checkpoint.
fn effnet_train_ckpt() -> PathBuf {
    let src = tf("efficientnet_b0_narrow/train_ckpt");
    let dir = std::env::temp_dir().join(format!("senetc-tf-effnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(e.path()).unwrap()), &mut out).unwrap();
            std::fs::write(dir.join(stem), out).unwrap();
        } else {
            std::fs::copy(e.path(), dir.join(&name)).unwrap();
        }
    }
    dir
}

struct Form {
    label: &'static str,
    path: PathBuf,
    options: ImportOptions,
    expected: &'static str,
    /// The graph's batch is symbolic (so a larger batch runs too).
    dynamic_batch: bool,
}

fn out(name: &str) -> ImportOptions {
    ImportOptions { output_names: vec![name.into()], ..Default::default() }
}

fn recipe_forms() -> Vec<(&'static str, Vec<Form>)> {
    let effnet_train = effnet_train_ckpt();
    vec![
        (
            "seresnet_cifar_d29_narrow",
            vec![
                Form { label: "(a) training checkpoint", path: tf("seresnet_cifar_d29_narrow/train_ckpt"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(a) training .meta", path: tf("seresnet_cifar_d29_narrow/train_ckpt/senet110.ckpt.meta"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(b) eval checkpoint", path: tf("seresnet_cifar_d29_narrow/eval_ckpt/model.ckpt"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(c) frozen", path: tf("seresnet_cifar_d29_narrow/frozen/frozen.pb"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
            ],
        ),
        (
            "mobilenet_v1_slim_0125",
            vec![
                Form { label: "(a) training checkpoint", path: tf("mobilenet_v1_slim_0125/train_ckpt"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(b) eval checkpoint, logits", path: tf("mobilenet_v1_slim_0125/eval_ckpt"), options: out("MobilenetV1/Logits/SpatialSqueeze"), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(b) eval checkpoint, detected output", path: tf("mobilenet_v1_slim_0125/eval_ckpt"), options: ImportOptions::default(), expected: "expected_predictions.npy", dynamic_batch: true },
                Form { label: "(c) frozen", path: tf("mobilenet_v1_slim_0125/frozen/frozen.pb"), options: out("MobilenetV1/Logits/SpatialSqueeze:0"), expected: "expected.npy", dynamic_batch: true },
            ],
        ),
        (
            "efficientnet_b0_narrow",
            vec![
                Form {
                    label: "(a) training checkpoint, EMA weights (the recipe's eval)",
                    path: effnet_train.clone(),
                    options: ImportOptions { input_names: vec!["truediv".into()], ema: true, ..Default::default() },
                    expected: "expected.npy",
                    dynamic_batch: true,
                },
                Form {
                    label: "(a) training checkpoint, raw weights",
                    path: effnet_train,
                    options: ImportOptions { input_names: vec!["truediv:0".into()], ..Default::default() },
                    expected: "expected_raw_weights.npy",
                    dynamic_batch: true,
                },
                Form { label: "(b) eval checkpoint", path: tf("efficientnet_b0_narrow/eval_ckpt"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
                Form { label: "(c) frozen", path: tf("efficientnet_b0_narrow/frozen/frozen.pb"), options: ImportOptions::default(), expected: "expected.npy", dynamic_batch: true },
            ],
        ),
    ]
}

#[test]
fn every_recipe_form_matches_tensorflow_at_batch_1_and_3() {
    for (case, forms) in recipe_forms() {
        let x = senetc::npy::read_npy(&tf(case).join("input.npy")).unwrap();
        for f in forms {
            let want = senetc::npy::read_npy(&tf(case).join(f.expected)).unwrap();
            let label = format!("{case} {}", f.label);
            let (g0, notes) = import(&f.path, &f.options);
            assert!(!notes.is_empty(), "{label}: no import notes");
            assert_close(&format!("{label} [imported]"), &run(&g0, &x), &want);
            let mut g = g0.clone();
            optimize(&mut g);
            assert_close(&format!("{label} [-O2]"), &run(&g, &x), &want);
            if f.dynamic_batch {
                assert_close(&format!("{label} [-O2, batch 3]"), &run(&g, &batched(&x, 3)), &batched(&want, 3));
            }
        }
    }
}

/// What a training checkpoint import reports: each rewrite and what the bundle held.
#[test]
fn training_checkpoints_report_their_rewrites() {
    let (_, n) = import(&tf("mobilenet_v1_slim_0125/train_ckpt"), &ImportOptions::default());
    let all = n.join("\n");
    for want in [
        "a training graph",
        "output MobilenetV1/Logits/SpatialSqueeze detected",
        "IteratorGetNext (tf.data iterator output) becomes a graph input; its static training batch 16 is replaced by a symbolic batch",
        "is_training (PlaceholderWithDefault) pinned to false",
        "tf.cond Merge nodes resolved to their inference branch",
        "not used: 57 EMA shadows, 35 optimizer slots, 1 step counters",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    let (_, n) = import(&tf("seresnet_cifar_d29_narrow/train_ckpt"), &ImportOptions::default());
    let all = n.join("\n");
    for want in ["28 batch norms in training mode normalize with their moving statistics:\n  BatchNorm/FusedBatchNormV3 uses BatchNorm/moving_mean, BatchNorm/moving_variance", "3 loss-scale state", "181 optimizer slots", "56 zero-debias state"] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    let (_, n) = import(&effnet_train_ckpt(), &ImportOptions { input_names: vec!["truediv".into()], ema: true, ..Default::default() });
    let all = n.join("\n");
    for want in ["2 dropout / drop-connect patterns made the identity", "25 batch norms in training mode", "from their ExponentialMovingAverage shadows", "optimizer slots"] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

/// --input-shape binds the batch of an iterator-fed training graph; a shape constant that
/// held the training batch does not leak.
#[test]
fn input_shape_rebinds_the_training_batch() {
    let o = ImportOptions { input_shapes: vec![("IteratorGetNext".into(), vec![2, 224, 224, 3])], ..Default::default() };
    let (g, _) = import(&tf("mobilenet_v1_slim_0125/train_ckpt"), &o);
    assert_eq!(g.node(g.inputs()[0]).outputs[0].shape, senetc_ir::Shape::known(&[2, 224, 224, 3]));
    let x = senetc::npy::read_npy(&tf("mobilenet_v1_slim_0125/input.npy")).unwrap();
    let want = senetc::npy::read_npy(&tf("mobilenet_v1_slim_0125/expected.npy")).unwrap();
    assert_close("mobilenet (a) at --input-shape batch 2", &run(&g, &batched(&x, 2)), &batched(&want, 2));
    // A wrong non-batch dim is refused.
    let o = ImportOptions { input_shapes: vec![("IteratorGetNext".into(), vec![1, 112, 224, 3])], ..Default::default() };
    let e = senetc_frontends::import(&tf("mobilenet_v1_slim_0125/train_ckpt"), &o).unwrap_err().to_string();
    assert!(e.contains("--input-shape gives 112 for dim 1"), "{e}");
}

/// Training constructs that cannot be converted are errors that name them and say how to
/// get an eval graph.
#[test]
fn unconvertible_training_constructs_name_themselves() {
    let dir = effnet_train_ckpt();
    let cases: [(&[&str], &str); 3] = [
        (&["efficientnet-b0/model/blocks_6/Floor"], "node \"efficientnet-b0/model/blocks_6/add\" (AddV2): training construct: its value draws random numbers"),
        (&["gradients/AddN_66"], "export an eval graph"),
        (&["no/such/node"], "no node of that name in the graph"),
    ];
    for (outputs, want) in cases {
        let o = ImportOptions { output_names: outputs.iter().map(|s| s.to_string()).collect(), input_names: vec!["truediv".into()], ..Default::default() };
        let e = senetc_frontends::import(&dir, &o).unwrap_err().to_string();
        assert!(e.contains(want), "{outputs:?}: {e}");
    }
}

/// Pinning is_training to true takes the training branches, whose constructs convert too:
/// training-mode batch norms read their moving statistics, dropout is the identity.
#[test]
fn the_training_branch_converts_to_the_same_inference() {
    let o = ImportOptions { set: vec![("is_training".into(), "true".into())], ..Default::default() };
    let (mut g, notes) = import(&tf("mobilenet_v1_slim_0125/train_ckpt"), &o);
    let all = notes.join("\n");
    assert!(all.contains("is_training pinned to true (--set)") && all.contains("11 batch norms in training mode") && all.contains("dropout at MobilenetV1/Logits/Dropout_1b"), "{all}");
    optimize(&mut g);
    let x = senetc::npy::read_npy(&tf("mobilenet_v1_slim_0125/input.npy")).unwrap();
    let want = senetc::npy::read_npy(&tf("mobilenet_v1_slim_0125/expected.npy")).unwrap();
    assert_close("mobilenet (a), is_training=true", &run(&g, &x), &want);
}

fn shared() -> Option<PathBuf> {
    common::corpus().map(|c| c.join("fixtures"))
}

/// The shared tiny net in every TensorFlow form, TF2 checkpoints bound by name onto graphs.
#[test]
fn shared_tf_fixtures_match_their_logits() {
    let Some(s) = shared() else { return };
    let x = senetc::npy::read_npy(&s.join("tf1_ckpt/input_nhwc.npy")).unwrap();
    let graph = |p: &str| ImportOptions { graph: Some(s.join(p)), ..Default::default() };
    let forms: Vec<(&str, PathBuf, ImportOptions, &str)> = vec![
        // Its `checkpoint` file names /home/train/run1/model.ckpt: the folder is the fallback.
        ("tf1 checkpoint folder (stale state file)", s.join("tf1_ckpt"), ImportOptions::default(), "tf1_ckpt"),
        ("tf1 .meta", s.join("tf1_ckpt/model.ckpt.meta"), ImportOptions::default(), "tf1_ckpt"),
        ("tf1 checkpoint state file", s.join("tf1_ckpt/checkpoint"), ImportOptions::default(), "tf1_ckpt"),
        ("frozen .pb", s.join("tf_frozen_pb/frozen.pb"), ImportOptions::default(), "tf_frozen_pb"),
        ("SavedModel", s.join("tf_savedmodel/saved_model"), ImportOptions::default(), "tf_savedmodel"),
        ("SavedModel, signature serve", s.join("tf_savedmodel/saved_model"), ImportOptions { signature: Some("serve".into()), ..Default::default() }, "tf_savedmodel"),
        ("TF2 Keras 3 checkpoint onto the SavedModel", s.join("tf2_ckpt/ckpt-1"), graph("tf_savedmodel/saved_model"), "tf2_ckpt"),
        ("TF2 Keras 3 checkpoint folder onto the SavedModel", s.join("tf2_ckpt"), graph("tf_savedmodel/saved_model"), "tf2_ckpt"),
        ("TF2 Keras 2 checkpoint onto the SavedModel", s.join("tf2_ckpt_keras2/weights"), graph("tf_savedmodel/saved_model"), "tf2_ckpt_keras2"),
        ("TF2 Keras 3 checkpoint onto the frozen graph", s.join("tf2_ckpt/ckpt-1"), graph("tf_frozen_pb/frozen.pb"), "tf2_ckpt"),
        ("TF2 Keras 2 checkpoint onto the frozen graph", s.join("tf2_ckpt_keras2/weights.index"), graph("tf_frozen_pb/frozen.pb"), "tf2_ckpt_keras2"),
    ];
    for (label, path, o, dir) in forms {
        let want = senetc::npy::read_npy(&s.join(dir).join("expected_logits.npy")).unwrap();
        let (mut g, notes) = import(&path, &o);
        if o.graph.is_some() {
            assert!(notes.iter().any(|n| n.starts_with("bound 40 weights by name from the TF2 checkpoint")), "{label}: {notes:?}");
        }
        optimize(&mut g);
        assert_close(label, &run(&g, &x), &want);
    }
    // A checkpoint without the graph's weights (a tf.Module holding three) is refused,
    // naming every missing one; a checkpoint alone needs --graph.
    let e = senetc_frontends::import(&s.join("tf2_ckpt/module_ckpt"), &graph("tf_savedmodel/saved_model")).unwrap_err().to_string();
    assert!(e.contains("missing (expected shape"), "{e}");
    let e = senetc_frontends::import(&s.join("tf2_ckpt/ckpt-1"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("--graph"), "{e}");
}

/// Copies of `files` with byte `pos` flipped or truncated to `len`, each imported from a
/// scratch folder: an error (never a panic) that names the damaged file.
fn damage(label: &str, src_dir: &Path, files: &[&str], entry: &str, o: &ImportOptions, positions: usize) {
    let dir = std::env::temp_dir().join(format!("senetc-tf-damage-{}-{}", std::process::id(), label.replace(['/', ' '], "_")));
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(src_dir).unwrap().flatten() {
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    for file in files {
        let original = std::fs::read(src_dir.join(file)).unwrap();
        let n = original.len();
        let mut cuts: Vec<usize> = (0..positions).map(|i| i * n / positions).collect();
        cuts.extend([n.saturating_sub(1), n.saturating_sub(17), n.saturating_sub(48)]);
        for &pos in &cuts {
            let mut flipped = original.clone();
            flipped[pos] ^= 0x5a;
            for (what, bytes) in [("flipped", flipped), ("truncated", original[..pos].to_vec())] {
                std::fs::write(dir.join(file), &bytes).unwrap();
                let r = std::panic::catch_unwind(|| senetc_frontends::import(&dir.join(entry), o));
                match r {
                    Err(_) => panic!("{label}: {file} {what} at {pos}: panicked"),
                    Ok(Err(e)) => {
                        let msg = e.to_string();
                        // A graph file's damage may surface as a graph problem; a checkpoint's
                        // names the file it is in.
                        if !file.ends_with(".meta") && !file.ends_with(".pb") {
                            assert!(msg.contains(file), "{label}: {file} {what} at {pos}: error does not name the file: {msg}");
                        }
                    }
                    // A flipped byte inside an unread name or a padding byte can leave a model
                    // that still imports; a data shard never (every tensor is checked).
                    Ok(Ok(_)) => assert!(!file.contains(".data-") && what == "flipped", "{label}: {file} {what} at {pos} imported"),
                }
            }
        }
        std::fs::write(dir.join(file), &original).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn damaged_files_are_errors_naming_the_file() {
    let d = tf("seresnet_cifar_d29_narrow/eval_ckpt");
    damage("eval ckpt", &d, &["model.ckpt.index", "model.ckpt.data-00000-of-00001"], "model.ckpt.meta", &ImportOptions::default(), 24);
    damage("eval meta", &d, &["model.ckpt.meta"], "model.ckpt.meta", &ImportOptions::default(), 12);
    let d = tf("mobilenet_v1_slim_0125/frozen");
    damage("frozen", &d, &["frozen.pb"], "frozen.pb", &out("MobilenetV1/Logits/SpatialSqueeze"), 12);
    // The message names the tensor whose bytes are damaged.
    let dir = std::env::temp_dir().join(format!("senetc-tf-crc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = tf("seresnet_cifar_d29_narrow/eval_ckpt");
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let data = dir.join("model.ckpt.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    let e = senetc_frontends::import(&dir.join("model.ckpt"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("model.ckpt.data-00000-of-00001: tensor \"BatchNorm/beta\" (offset 0, 12 bytes): crc32c mismatch"), "{e}");
    bytes[0] ^= 1;
    std::fs::write(&data, &bytes[..bytes.len() - 10]).unwrap();
    let e = senetc_frontends::import(&dir.join("model.ckpt"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("lies past the end of the file") && e.contains("truncated"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// After -O2 a TensorFlow-born graph has the op counts of its tf2onnx twin (the same net
/// converted by tf2onnx from the frozen graph): every BN folded into its conv or, where it
/// cannot fold, one scale_shift with its ReLU; EfficientNet's SE blocks fused.
#[test]
fn o2_op_counts_equal_the_tf2onnx_twins() {
    let histogram = |g: &Graph| senetc_ir::stats::op_histogram(g).into_iter().map(|(k, v)| (k.to_string(), v)).collect::<std::collections::BTreeMap<_, _>>();
    let effnet_train = effnet_train_ckpt();
    let cut = ImportOptions { input_names: vec!["truediv".into()], ema: true, ..Default::default() };
    let cases: Vec<(&str, Vec<(PathBuf, ImportOptions)>)> = vec![
        (
            "seresnet_cifar_d29_narrow_opset13",
            vec![
                (tf("seresnet_cifar_d29_narrow/train_ckpt"), ImportOptions::default()),
                (tf("seresnet_cifar_d29_narrow/eval_ckpt"), ImportOptions::default()),
                (tf("seresnet_cifar_d29_narrow/frozen/frozen.pb"), ImportOptions::default()),
            ],
        ),
        ("seresnet_cifar_d29_narrow_opset13_unoptimized", vec![(tf("seresnet_cifar_d29_narrow/train_ckpt"), ImportOptions::default())]),
        (
            "efficientnet_b0_narrow_opset17",
            vec![(effnet_train, cut), (tf("efficientnet_b0_narrow/eval_ckpt"), ImportOptions::default()), (tf("efficientnet_b0_narrow/frozen/frozen.pb"), ImportOptions::default())],
        ),
    ];
    for (twin, forms) in cases {
        let mut t = senetc_frontends::import_graph(&common::repo("tests/fixtures/tf2onnx").join(twin).join("model.onnx")).unwrap();
        optimize(&mut t);
        let want = histogram(&t);
        for (path, o) in forms {
            let (mut g, _) = import(&path, &o);
            optimize(&mut g);
            assert_eq!(histogram(&g), want, "{}: -O2 op counts differ from {twin}", path.display());
        }
        eprintln!("{twin}: {want:?}");
        assert!(!want.contains_key("batch_norm"), "{twin}: {want:?}");
    }
    let (mut g, _) = import(&tf("seresnet_cifar_d29_narrow/train_ckpt"), &ImportOptions::default());
    optimize(&mut g);
    let h = histogram(&g);
    assert_eq!((h.get("scale_shift"), h.get("conv")), (Some(&28), Some(&31)), "pre-activation BNs: {h:?}");
    let (mut g, _) = import(&tf("mobilenet_v1_slim_0125/train_ckpt"), &ImportOptions::default());
    optimize(&mut g);
    let h = histogram(&g);
    assert_eq!(h, [("average_pool", 1), ("conv", 12), ("reshape", 1), ("transpose", 1)].into_iter().map(|(k, v)| (k.to_string(), v)).collect(), "MobileNetV1: every BN folded, ReLU6 fused");
    let relu6 = g.node_ids().filter(|&id| matches!(&g.node(id).op, senetc_ir::Op::Conv(c) if c.act == senetc_ir::ops::FusedAct::relu6())).count();
    assert_eq!(relu6, 11, "every conv but the logits' carries its ReLU6");
}

//! Import of every ONNX model in the shared corpus: output shapes, op counts against the
//! ONNX file itself, determinism, and the round trips IR -> text -> IR and IR -> ONNX -> IR.

mod common;

use onnx_protobuf::{Message, ModelProto};
use senetc_ir::{stats, text, Dim};
use std::collections::BTreeMap;
use std::path::Path;

/// ONNX op types that import one-to-one, with the IR op they become.
const ONE_TO_ONE: &[(&str, &str)] = &[
    ("Conv", "conv"),
    ("BatchNormalization", "batch_norm"),
    ("Relu", "relu"),
    ("Sigmoid", "sigmoid"),
    ("Gemm", "gemm"),
    ("MaxPool", "max_pool"),
    ("GlobalAveragePool", "global_average_pool"),
    ("Clip", "clip"),
    ("Flatten", "flatten"),
    ("ReduceMean", "reduce_mean"),
];

fn onnx_counts(path: &Path) -> BTreeMap<String, usize> {
    let m = ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
    let mut h = BTreeMap::new();
    for n in &m.graph.node {
        *h.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    h
}

#[test]
fn every_corpus_model_imports_with_right_shapes_and_counts() {
    let Some(root) = common::corpus() else { return };
    let models = common::corpus_onnx_models(&root);
    assert!(models.len() >= 9, "expected the corpus' ONNX models, found {}", models.len());
    for (label, path) in models {
        let g = senetc_frontends::import_graph(&path).unwrap_or_else(|e| panic!("{label}: {e}"));
        // Output: [batch, classes].
        let classes = match path.parent().unwrap().join("meta.json") {
            m if m.exists() => serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(m).unwrap()).unwrap()["classes"].as_u64().unwrap() as usize,
            _ => 10,
        };
        assert_eq!(g.outputs().len(), 1, "{label}");
        let out = &g.outlet_type(g.outputs()[0].1).shape;
        assert_eq!(out.0.len(), 2, "{label}: output {out}");
        assert_eq!(out.0[1], Dim::Known(classes), "{label}: output {out}");
        let input = &g.node(g.inputs()[0]).outputs[0].shape;
        assert_eq!(out.0[0], input.0[0], "{label}: batch dim must carry through");
        // Op counts equal the file's for ops that import one-to-one.
        let file = onnx_counts(&path);
        let ir = stats::op_histogram(&g);
        for (onnx_op, ir_op) in ONE_TO_ONE {
            let f = file.get(*onnx_op).copied().unwrap_or(0);
            let i = ir.get(ir_op).copied().unwrap_or(0);
            assert_eq!(f, i, "{label}: {onnx_op} x{f} in the file but {ir_op} x{i} in the IR");
        }
        // No shape arithmetic survives import.
        for op in ["Shape", "Gather", "Constant"] {
            assert!(!ir.keys().any(|k| k.eq_ignore_ascii_case(op)), "{label}: {op} left in IR");
        }
    }
}

#[test]
fn bn_count_matches_meta() {
    let Some(root) = common::corpus() else { return };
    for (label, path) in common::corpus_onnx_models(&root) {
        let meta = path.parent().unwrap().join("meta.json");
        if path.file_name().unwrap() != "model.onnx" || !meta.exists() {
            continue;
        }
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(meta).unwrap()).unwrap();
        let g = senetc_frontends::import_graph(&path).unwrap();
        let bn = stats::op_histogram(&g).get("batch_norm").copied().unwrap_or(0);
        assert_eq!(bn as u64, meta["batchnorm"].as_u64().unwrap(), "{label}");
        // torch counts parameters, not BN running statistics (buffers): add those.
        let running: u64 = g
            .node_ids()
            .filter(|&id| matches!(g.node(id).op, senetc_ir::Op::BatchNorm(_)))
            .map(|id| 2 * g.outlet_type(g.inputs_of(id)[3]).shape.as_known().unwrap()[0] as u64)
            .sum();
        // The exporter also merges identical initializers (timm's shared zero biases), so
        // the file may hold slightly fewer values than torch counts, never more.
        let want = meta["params"].as_u64().unwrap() + running;
        let got = stats::param_count(&g) as u64;
        assert!(got <= want && got * 1000 >= want * 995, "{label}: {got} parameters, torch counts {want}");
    }
}

#[test]
fn text_and_onnx_round_trips_are_exact_and_deterministic() {
    let Some(root) = common::corpus() else { return };
    for (label, path) in common::corpus_onnx_models(&root) {
        let g = senetc_frontends::import_graph(&path).unwrap();
        let t1 = text::print(&g);
        // Same input, byte-identical text.
        let again = text::print(&senetc_frontends::import_graph(&path).unwrap());
        assert_eq!(t1, again, "{label}: import is not deterministic");
        // IR -> text -> IR.
        let parsed = text::parse(&t1, &g.weights()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(text::print(&parsed), t1, "{label}: text round trip");
        // IR -> ONNX -> IR.
        let bytes = senetc_codegen::onnx_export::export(&g).unwrap();
        let bytes2 = senetc_codegen::onnx_export::export(&g).unwrap();
        assert!(bytes == bytes2, "{label}: ONNX export is not deterministic");
        let dir = tempdir(&label);
        let back = senetc_frontends::onnx::import_bytes(&bytes, &dir, Path::new("reexport.onnx")).map(|(g, _)| g).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_same_text(&text::print(&back), &t1, &format!("{label}: ONNX round trip"));
    }
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let Some(root) = common::corpus() else { return };
    let src = root.join("fixtures/onnx/model_dynamo.onnx");
    let mut m = ModelProto::parse_from_bytes(&std::fs::read(&src).unwrap()).unwrap();
    let dir = tempdir("external");
    for (i, loc) in ["../model_dynamo.onnx.data", "/etc/passwd"].iter().enumerate() {
        for t in &mut m.graph.as_mut().unwrap().initializer {
            for kv in &mut t.external_data {
                if kv.key == "location" {
                    kv.value = loc.to_string();
                }
            }
        }
        let p = dir.join(format!("escape{i}.onnx"));
        std::fs::write(&p, m.write_to_bytes().unwrap()).unwrap();
        let err = senetc_frontends::import_graph(&p).expect_err(loc).to_string();
        assert!(err.contains("outside the model's folder"), "{loc}: {err}");
    }
    // The genuine file beside the model loads.
    let g = senetc_frontends::import_graph(&src).unwrap();
    assert!(stats::param_count(&g) > 0);
}

fn tempdir(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("senetc-test-{}-{}", std::process::id(), label.replace('/', "_")));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_same_text(actual: &str, expected: &str, what: &str) {
    if actual != expected {
        let line = actual.lines().zip(expected.lines()).position(|(a, e)| a != e).unwrap_or(0);
        panic!(
            "{what}: line {}:\n  expected: {}\n  actual:   {}",
            line + 1,
            expected.lines().nth(line).unwrap_or(""),
            actual.lines().nth(line).unwrap_or("")
        );
    }
}

#[test]
fn optimized_graphs_round_trip_through_onnx_functions() {
    let Some(root) = common::corpus() else { return };
    for (label, path) in common::corpus_onnx_models(&root) {
        let mut g = senetc_frontends::import_graph(&path).unwrap();
        senetc_passes::PassManager::new(senetc_passes::PassOptions::default()).unwrap().run(&mut g, None).unwrap();
        let t1 = text::print(&g);
        assert!(t1.contains("squeeze_excite") || label.contains("mobilenet"), "{label}: nothing fused");
        let bytes = senetc_codegen::onnx_export::export(&g).unwrap();
        let back = senetc_frontends::onnx::import_bytes(&bytes, &tempdir(&label), Path::new("optimized.onnx")).map(|(g, _)| g).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_same_text(&text::print(&back), &t1, &format!("{label}: optimized ONNX round trip"));
    }
}

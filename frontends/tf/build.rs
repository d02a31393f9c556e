//! Compiles `proto/tensorflow.proto` (the subset of TensorFlow's messages senetc reads) with
//! prost. There is no `protoc` on the build machines: protox parses the file in pure Rust
//! and prost-build generates code from its descriptors (as `codegen/build.rs` does).

fn main() {
    println!("cargo:rerun-if-changed=proto/tensorflow.proto");
    let fds = match protox::compile(["proto/tensorflow.proto"], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("proto/tensorflow.proto: {e}"),
    };
    let mut config = prost_build::Config::new();
    // Maps that are iterated (signatures, collections, concrete functions) keep key order;
    // node attributes are only looked up, and a training graph has ~100k of them.
    config.btree_map([
        ".tensorflow.MetaGraphDef.collection_def",
        ".tensorflow.MetaGraphDef.signature_def",
        ".tensorflow.SignatureDef",
        ".tensorflow.SavedObjectGraph.concrete_functions",
    ]);
    // Weight bytes of frozen graphs stay slices of the file's buffer (no copy).
    // Node attributes too (decoded on demand).
    config.bytes([".tensorflow.TensorProto.tensor_content", ".tensorflow.NodeDef.attr"]);
    if let Err(e) = config.compile_fds(fds) {
        panic!("generating TensorFlow message code: {e}");
    }
}

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
    // Maps iterate in key order: signatures and collections are listed in reports.
    config.btree_map(["."]);
    // Weight bytes of frozen graphs stay slices of the file's buffer (no copy).
    config.bytes([".tensorflow.TensorProto.tensor_content"]);
    if let Err(e) = config.compile_fds(fds) {
        panic!("generating TensorFlow message code: {e}");
    }
}

//! Compiles `proto/ge_ir.proto` (the Ascend GE IR messages) to Rust with prost. There is no
//! `protoc` on the build machines, so protox parses the file in pure Rust and prost-build
//! generates code from the resulting descriptors.

fn main() {
    println!("cargo:rerun-if-changed=proto/ge_ir.proto");
    let fds = match protox::compile(["proto/ge_ir.proto"], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("proto/ge_ir.proto: {e}"),
    };
    let mut config = prost_build::Config::new();
    // BTreeMap for every map field: protobuf writes map entries in iteration order, and
    // senetc's outputs must be byte-for-byte deterministic.
    config.btree_map(["."]);
    // A tensor's bytes as `bytes::Bytes`, so an AIR Const can hold its weight as a view of the
    // IR's own buffer instead of a copy (see codegen's AIR writer).
    config.bytes([".ge.proto.TensorDef.data"]);
    if let Err(e) = config.compile_fds(fds) {
        panic!("generating GE IR code: {e}");
    }
}

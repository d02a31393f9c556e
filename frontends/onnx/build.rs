//! Compiles senetc's ONNX schema (`proto/onnx.proto`, the fields the importer reads) with
//! prost. There is no `protoc` on the build machines: protox parses the file in pure Rust.

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let fds = match protox::compile(["proto/onnx.proto"], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("ONNX schema: {e}"),
    };
    let mut config = prost_build::Config::new();
    // Every `bytes` field is a `bytes::Bytes` slice of the one buffer the file is decoded
    // from (a memory map), so initializers are never copied.
    config.bytes(["."]);
    if let Err(e) = config.compile_fds(fds) {
        panic!("generating ONNX code: {e}");
    }
}

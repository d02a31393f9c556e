//! Compiles senetc's MindIR schemas (`proto/mind_ir.proto` for MindSpore 2.x, and
//! `proto/mind_ir_v1.proto` for the ONNX-shaped files of MindSpore 1.x) with prost. There is
//! no `protoc` on the build machines: protox parses the files in pure Rust.

fn main() {
    for f in ["proto/mind_ir.proto", "proto/mind_ir_v1.proto"] {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = match protox::compile(["proto/mind_ir.proto", "proto/mind_ir_v1.proto"], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("MindIR schema: {e}"),
    };
    let mut config = prost_build::Config::new();
    // Every `bytes` field is a `bytes::Bytes` slice of the one buffer the file is decoded
    // from (a memory map), so weights are never copied.
    config.bytes(["."]);
    if let Err(e) = config.compile_fds(fds) {
        panic!("generating MindIR code: {e}");
    }
}

//! ONNX: the protobuf decoder and the importer, external data resolved in a folder that
//! holds one data file (`weights.bin`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
mod common;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("onnx");
    if !dir.join("weights.bin").exists() {
        common::write(&dir.join("weights.bin"), &(0..4096u32).map(|i| (i * 7) as u8).collect::<Vec<_>>());
    }
    let _ = senetc_onnx::import_bytes(data, &dir, Path::new("fuzz.onnx"));
});

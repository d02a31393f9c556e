//! MindIR: input `[u32 model length][model][external data]`; the data is the split-weights
//! file `tiny_se_resnet_variables/data_0` beside the model (the name the exporter writes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
mod common;

fuzz_target!(|data: &[u8]| {
    let (model, ext) = common::split(data);
    let dir = common::scratch().join("mindir");
    common::write(&dir.join("tiny_se_resnet_variables/data_0"), ext);
    let _ = senetc_mindir::import_bytes(bytes::Bytes::copy_from_slice(model), &dir, Path::new("fuzz.mindir"));
});

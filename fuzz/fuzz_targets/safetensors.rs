//! safetensors files as senetc opens them (recognised by content), every tensor read;
//! then `inspect`'s text.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let p = common::scratch().join("model.safetensors");
    common::write(&p, data);
    if let Ok(c) = senetc_torch::read_weights(&p) {
        for e in &c.entries {
            let _ = e.tensor.to_f32();
        }
    }
    let _ = senetc_torch::describe(&p);
});

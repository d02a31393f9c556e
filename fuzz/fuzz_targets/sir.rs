//! The text IR parser (with one bound weight), then the verifier and the printer on what parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let mut weights = BTreeMap::new();
    weights.insert("w".to_string(), senetc_ir::Tensor::from_f32(vec![2, 2, 1, 1], &[1.0, 2.0, 3.0, 4.0]));
    if let Ok(g) = senetc_ir::text::parse(src, &weights) {
        if senetc_ir::verify(&g).is_ok() {
            let _ = senetc_ir::text::print(&g);
        }
    }
});

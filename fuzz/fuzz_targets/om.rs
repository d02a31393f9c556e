//! OM and AIR files read back: the first byte picks the container; then describe and
//! convert to IR, as `senetc inspect`/`run` do.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    let m = if kind % 2 == 0 { senetc_om::read_om(bytes) } else { senetc_om::read_air(bytes) };
    if let Ok(m) = m {
        let _ = m.describe();
        if let Ok(g) = m.to_graph() {
            let _ = senetc_ir::verify(&g);
        }
    }
});

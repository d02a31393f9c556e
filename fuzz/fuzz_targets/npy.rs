//! `.npy` and `.npz` inputs (`senetc run --input`): the first byte picks the reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    if kind % 2 == 0 {
        let _ = senetc::npy::read_npy_bytes(bytes, "fuzz.npy");
    } else {
        let _ = senetc::npy::read_npz_bytes(bytes, "fuzz.npz");
    }
});

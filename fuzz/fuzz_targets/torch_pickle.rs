//! The pickle machine on raw bytes (storages from any well-formed persistent id), then the
//! same bytes as a legacy torch.save stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use senetc_torch::pickle::{self, Value};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let mut pid = |v: &Value| -> Result<Value, String> { Ok(Value::Storage(std::rc::Rc::new(pickle::storage_from_pid(v)?))) };
    if let Ok((v, _)) = pickle::load(data, 0, &mut pid) {
        let _ = v.kind();
    }
    let _ = pickle::scan_globals(data, 0);
    if let Ok(f) = senetc_torch::container::TorchFile::legacy(Arc::new(data.to_vec())) {
        let _ = f.root.kind();
    }
});

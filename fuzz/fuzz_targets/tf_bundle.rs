//! TensorFlow tensor bundles: input `[u32 index length][.index][.data-00000-of-00001]`;
//! opens the bundle (SSTable, entries, crc checks) and reads every tensor.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let (index, shard) = common::split(data);
    let dir = common::scratch().join("bundle");
    let prefix = dir.join("ckpt");
    common::write(&dir.join("ckpt.index"), index);
    common::write(&dir.join("ckpt.data-00000-of-00001"), shard);
    let _ = senetc_tf::sstable::read_table(index);
    if let Ok(b) = senetc_tf::bundle::Bundle::open(&prefix) {
        let names: Vec<String> = b.names().map(str::to_string).collect();
        for n in &names {
            let _ = b.shape(n);
            let _ = b.tensor(n);
            let _ = b.strings(n);
        }
        let _ = senetc_tf::source::object_graph(&b);
    }
});

//! TensorFlow graphs: the first byte picks a frozen GraphDef (`.pb`), a MetaGraphDef
//! (`.meta` beside a valid checkpoint) or a SavedModel (`saved_model.pb` beside a valid
//! `variables/` bundle, both copied from the shared corpus' `tf1_ckpt`, `$SENETC_CORPUS` or
//! `../shared` beside the repo); the rest is the protobuf. Runs the whole importer.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The shared corpus' TF1 checkpoint (index, data), or empty files when it is not there.
fn checkpoint() -> &'static (Vec<u8>, Vec<u8>) {
    static C: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    C.get_or_init(|| {
        let corpus = std::env::var_os("SENETC_CORPUS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
        let d = corpus.join("fixtures/tf1_ckpt");
        (std::fs::read(d.join("model.ckpt.index")).unwrap_or_default(), std::fs::read(d.join("model.ckpt.data-00000-of-00001")).unwrap_or_default())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, proto)) = data.split_first() else { return };
    let opts = senetc_tf::TfOptions::default();
    match kind % 3 {
        0 => {
            let dir = common::scratch().join("frozen");
            let p = dir.join("frozen.pb");
            common::write(&p, proto);
            let _ = senetc_tf::import(&p, &opts);
        }
        1 => {
            let dir = common::scratch().join("meta");
            if !dir.join("model.ckpt.index").exists() {
                common::write(&dir.join("model.ckpt.index"), &checkpoint().0);
                common::write(&dir.join("model.ckpt.data-00000-of-00001"), &checkpoint().1);
            }
            let p = dir.join("model.ckpt.meta");
            common::write(&p, proto);
            let _ = senetc_tf::import(&p, &opts);
        }
        _ => {
            let dir = common::scratch().join("saved");
            if !dir.join("variables/variables.index").exists() {
                common::write(&dir.join("variables/variables.index"), &checkpoint().0);
                common::write(&dir.join("variables/variables.data-00000-of-00001"), &checkpoint().1);
            }
            common::write(&dir.join("saved_model.pb"), proto);
            let _ = senetc_tf::import(&dir, &opts);
        }
    }
});

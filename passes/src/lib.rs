//! senetc's graph rewrites and the pass manager that runs them.
//!
//! Every pass is registered once in [`registry`] with a kebab-case name and the lowest
//! `-O` level that runs it. Pattern fusions are typed egg rewrites (`fusion/`: a language
//! generated from the op table, an analysis of types and facts, and the rule tables in
//! `fusion/rules.rs`, one named table per theme).
#![warn(missing_docs)]

mod bn_fold;
mod cleanup;
mod const_fold;
pub mod fusion;
mod layout;
mod manager;
pub mod precision;
mod regroup;
mod util;

pub use manager::{registry, NumericCheck, PassInfo, PassManager, PassOptions, PassRecord, PassReport};
pub use precision::{PrecisionMode, PrecisionOptions};

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The pass left a malformed graph (a bug in the pass; the message names the node).
    #[error("pass {pass}: produced an invalid graph: {source}")]
    Invalid {
        /// The pass.
        pass: String,
        /// What the verifier found.
        source: senetc_ir::IrError,
    },
    /// The pass changed the graph's numbers beyond tolerance (`--verify-each`).
    #[error("pass {pass}: results changed: {detail}")]
    Numeric {
        /// The pass.
        pass: String,
        /// Which node diverged first and by how much.
        detail: String,
    },
    /// Rebuilding the graph after a fusion failed: the IR rejected a node (a bug in the rule
    /// that made it, which the message names).
    #[error("fusion: node {node:?} made by {made_by}: {msg}")]
    Fusion {
        /// The node's name.
        node: String,
        /// `rule <name>`, or where else the node came from.
        made_by: String,
        /// What the IR said.
        msg: String,
    },
    /// Bad options (unknown pass name, unknown op type in a policy list).
    #[error("{0}")]
    Options(String),
    /// The IR refused an edit.
    #[error(transparent)]
    Ir(#[from] senetc_ir::IrError),
}

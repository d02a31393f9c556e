//! Errors of the IR layer.

/// What can go wrong building, checking or parsing IR.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    /// The text format could not be read.
    #[error("line {line}: {msg}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A node is malformed: wrong arity, types that do not fit, a dangling input.
    #[error("node {node:?} ({op}): {msg}")]
    Node {
        /// The node's name (its source-framework name where it has one).
        node: String,
        /// The op's text name.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The graph as a whole is malformed (a cycle, a missing output).
    #[error("graph: {0}")]
    Graph(String),
    /// Tensor bytes and shape disagree.
    #[error("tensor: {0}")]
    Tensor(String),
}

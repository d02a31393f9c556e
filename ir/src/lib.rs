//! senetc's intermediate representation: a dataflow graph of ops over typed tensors
//! (dtype, shape with a symbolic batch), with shape inference, a reference evaluation of every
//! op, a verifier and a stable text format.
#![warn(missing_docs)]

mod dtype;
mod error;
mod graph;
pub mod ops;
mod precision;
mod shape;
pub mod stats;
mod tensor;
pub mod text;
mod verify;

pub use dtype::DType;
pub use error::IrError;
pub use graph::{merged_sources, Graph, Node, NodeId, Outlet};
pub use ops::Op;
pub use precision::PrecisionMode;
pub use shape::{Dim, Shape, TensorType};
pub use tensor::{Buffer, Storage, Tensor};
pub use verify::verify;

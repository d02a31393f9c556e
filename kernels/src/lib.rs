//! Numeric kernels of senetc's CPU reference backend.
//!
//! Everything works on plain row-major contiguous `&[f32]` slices with explicit shapes; callers
//! validate shapes (kernels only `debug_assert!` them). Large kernels parallelise with rayon in
//! whatever pool is current, so callers control the thread count with `ThreadPool::install`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod conv;
mod depthwise_tiles;
pub mod elementwise;
pub mod layout;
pub mod linalg;
pub mod norm;
pub mod pool;
pub mod precision;
pub mod reduce;
pub mod se;

#[cfg(test)]
mod testutil;

pub use conv::{conv2d, Conv2d};
pub use elementwise::{binary, Act, BinaryOp, NoAct};
pub use layout::PadMode;
pub use pool::{Pool2d, PoolNd};

/// Elements per rayon task for memory-bound kernels: big enough to amortise scheduling.
pub(crate) const PAR_CHUNK: usize = 1 << 15;

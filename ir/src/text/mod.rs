//! The text format (`.sir`). Deterministic: the same graph always prints the same bytes,
//! in the canonical order of [`Graph::order`]. Weights print as name, type and content
//! hash; constants of at most [`INLINE_MAX`] elements print their values. Parsing binds
//! hashed weights by name from a weight map and checks their hash.
//!
//! ```text
//! graph "tiny" {
//!   input %0 "x" : f32[batch,3,8,8]
//!   %1 = const "w" : f32[4,3,3,3] hash="9a0c5e2f8b1d7a34"
//!   %2 = conv(%0, %1) {strides=[1,1], ...} : f32[batch,4,6,6] "conv0"
//!   output "y" = %2
//! }
//! ```

pub mod lexer;
mod parse;
mod print;

pub use parse::parse;
pub use print::print;

#[allow(unused_imports)]
use crate::Graph;

/// Constants with at most this many elements print their values inline.
pub const INLINE_MAX: usize = 16;

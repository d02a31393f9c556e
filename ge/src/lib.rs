//! Huawei's Graph Engine (GE) IR as senetc writes and reads it: the layer under both the
//! Ascend backend (`senetc-codegen`, IR → OM/AIR/JSON) and the OM/AIR reader (`senetc-om`,
//! OM/AIR → IR), so the two share one description of the format and cannot drift apart.
//!
//! * [`proto`]: the GE protobuf messages (`proto/ge_ir.proto`, compiled by prost through
//!   protox in `build.rs`, no protoc needed); [`attr`]: building and reading `AttrDef`s.
//! * [`types`]: element types in GE's two numberings and the tensor [`Format`]s; [`desc`]:
//!   tensor descriptions; [`layout`]: the NC1HWC0 and FRACTAL_Z byte layouts.
//! * [`om`]: constants of the offline-model container.
//! * [`cann`]: the CANN op table ([`CannOp`], declared once with its facts by the macro in
//!   [`table`]) and the IR ↔ CANN mapping ([`from_ir`], [`to_ir`]).
//!
//! Facts about the formats come from `shared/specs/ascend_om.md`.
#![warn(missing_docs)]

pub mod attr;
pub mod cann;
pub mod desc;
pub mod layout;
pub mod om;
pub mod proto;
pub mod table;
pub mod types;

pub use cann::{from_ir, kinds_of_type, mixlist_types, to_ir, CannOp, Operand, Read, ReadContext};
pub use desc::Desc;
pub use table::{Compute, FormatRule, Input, IrOperand, Role};
pub use types::Format;

#[cfg(test)]
mod tests;

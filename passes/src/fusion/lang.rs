//! The e-graph language: one symbol per op of the IR, generated from the op table
//! ([`OpKind::ALL`]), so a new op is a symbol, and a pattern word by its text name
//! (`(conv ?x ?w ?b)`), without a change here.
//!
//! An e-node is a kind, its operands, and an index (`origin`) into the analysis's node table
//! ([`super::analysis::Entry`]), which holds the node's `Op` with its attributes and its name.
//! [`Language::matches`] compares the kind and the arity only, so a pattern node matches any
//! attributes; `Eq`/`Hash` include the origin, so two original nodes with the same kind and
//! operands (a mean over other axes, a clip with other bounds) never merge.

use egg::{FromOp, Id, Language};
use senetc_ir::ops::OpKind;
use std::fmt;

/// Origin of pattern nodes and of the [`Sym::Absent`] leaf: they have no table entry.
pub const NO_ORIGIN: u32 = u32::MAX;

/// What an e-node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sym {
    /// An op of the IR (graph inputs and constants are the `input` and `const` leaves).
    Op(OpKind),
    /// A missing optional operand (a conv or gemm without bias): operand lists keep one
    /// arity per op, so one pattern covers both.
    Absent,
}

impl Sym {
    /// The word for this symbol in patterns and printouts.
    pub fn name(self) -> &'static str {
        match self {
            Sym::Op(k) => k.name(),
            Sym::Absent => "absent",
        }
    }

    /// The symbol written `word`.
    pub fn from_name(word: &str) -> Option<Sym> {
        match word {
            "absent" => Some(Sym::Absent),
            w => OpKind::from_name(w).map(Sym::Op),
        }
    }
}

/// An e-node: symbol, node-table index, operands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FNode {
    /// The op kind (or `absent`).
    pub sym: Sym,
    /// Index into the analysis's node table; [`NO_ORIGIN`] for patterns and `absent`.
    pub origin: u32,
    /// Operands, in the op's operand order.
    pub children: Vec<Id>,
}

impl FNode {
    /// An e-node of an op.
    pub fn op(kind: OpKind, origin: u32, children: Vec<Id>) -> FNode {
        FNode { sym: Sym::Op(kind), origin, children }
    }

    /// The `absent` leaf.
    pub fn absent() -> FNode {
        FNode { sym: Sym::Absent, origin: NO_ORIGIN, children: Vec::new() }
    }

    /// The op kind, unless this is `absent`.
    pub fn kind(&self) -> Option<OpKind> {
        match self.sym {
            Sym::Op(k) => Some(k),
            Sym::Absent => None,
        }
    }
}

impl Language for FNode {
    type Discriminant = Sym;

    fn discriminant(&self) -> Sym {
        self.sym
    }

    fn matches(&self, other: &Self) -> bool {
        self.sym == other.sym && self.children.len() == other.children.len()
    }

    fn children(&self) -> &[Id] {
        &self.children
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.children
    }
}

impl fmt::Display for FNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sym.name())
    }
}

/// A pattern word that names no op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an op of the IR (nor `absent`)")]
pub struct UnknownSym(pub String);

impl FromOp for FNode {
    type Error = UnknownSym;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, Self::Error> {
        let sym = Sym::from_name(op).ok_or_else(|| UnknownSym(op.to_string()))?;
        Ok(FNode { sym, origin: NO_ORIGIN, children })
    }
}

//! The machinery of the CANN op table: the facts each CANN op type declares and the
//! `cann_ops!` macro that turns the table in [`crate::cann`] into the [`crate::CannOp`] enum
//! and its accessors. The table itself, and the IR mapping, live in `cann.rs`.

/// Where an op's 4-D float tensors live once formats are assigned (with runtime formats on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatRule {
    /// An AI-Core op that always runs 4-D activations in NC1HWC0.
    Hd5,
    /// Elementwise: NC1HWC0 when all its activation inputs are 4-D and one already is NC1HWC0.
    Follow,
    /// Needs NCHW/ND (MatMul, Reshape, Softmax, ...).
    Origin,
}

/// Where an op's compute type comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compute {
    /// The IR node's element type (as senetc's fp16 pass decided it).
    Carried,
    /// The op's own output type, whatever the precision mode (Data, Const, Cast).
    Fixed,
}

/// What an op wants of one input once formats and precisions are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An activation: the op's compute type, NC1HWC0 when the op runs in it.
    Act,
    /// A conv filter: compute type, FRACTAL_Z when the op runs in NC1HWC0.
    Filter,
    /// A weight, bias or scalar in its origin format, compute type.
    Weight,
    /// Batch-norm statistics and affine parameters: always fp32 ND (the prototype's type).
    Stat,
    /// Whatever the producer gives (shape tensors, Cast's input).
    AsIs,
}

/// Which IR operand a prototype input carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrOperand {
    /// The operand at the input's own position.
    Same,
    /// The operand at this position (the IR orders them differently).
    At(usize),
    /// None: the IR holds this value as an attribute (a shape, a bound, paddings); lowering
    /// makes it a Const, the read-back drops the input.
    Attr,
}

/// One input of a CANN op prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Input {
    /// The prototype's name for it.
    pub name: &'static str,
    /// What the op wants of it.
    pub role: Role,
    /// The IR operand it carries.
    pub ir: IrOperand,
}

impl Input {
    /// The IR operand carried by this input when it sits at prototype position `position`.
    pub fn ir_operand(&self, position: usize) -> Option<usize> {
        match self.ir {
            IrOperand::Same => Some(position),
            IrOperand::At(k) => Some(k),
            IrOperand::Attr => None,
        }
    }
}

/// Declares the CANN op types, one row each:
/// `Variant "TypeName" format compute cube|- [input Role (@k|@attr)?, ...];`
/// (format: a [`FormatRule`], compute: a [`Compute`], `cube` for ops of the cube unit, then the
/// prototype's inputs in order; the last input of a dynamic-input op stands for all the rest).
macro_rules! cann_ops {
    ($($(#[$m:meta])* $v:ident $name:literal $format:ident $compute:ident $cube:tt [$($input:ident $role:ident $(@ $ir:tt)?),* $(,)?];)+) => {
        /// A CANN op type senetc writes or reads. Matches over it are exhaustive, so an op
        /// type cannot be added without its lowering facts and its read-back semantics.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CannOp {
            $($(#[$m])* $v),+
        }

        impl CannOp {
            /// Every op type, in table order.
            pub const ALL: &'static [CannOp] = &[$(CannOp::$v),+];

            /// The type name GE writes in `OpDef.type`.
            pub fn name(self) -> &'static str {
                match self { $(CannOp::$v => $name),+ }
            }

            /// The op type called `name`.
            pub fn from_name(name: &str) -> Option<CannOp> {
                match name {
                    $($name => Some(CannOp::$v),)+
                    _ => None,
                }
            }

            /// Where its tensors live.
            pub fn format_rule(self) -> $crate::table::FormatRule {
                match self { $(CannOp::$v => $crate::table::FormatRule::$format),+ }
            }

            /// Where its compute type comes from.
            pub fn compute(self) -> $crate::table::Compute {
                match self { $(CannOp::$v => $crate::table::Compute::$compute),+ }
            }

            /// Whether it runs on the cube unit (convolutions, matrix products).
            pub fn is_cube(self) -> bool {
                match self { $(CannOp::$v => $crate::table::is_cube!($cube)),+ }
            }

            /// Its prototype's inputs, in order.
            pub fn inputs(self) -> &'static [$crate::table::Input] {
                match self {
                    $(CannOp::$v => &[$($crate::table::Input {
                        name: stringify!($input),
                        role: $crate::table::Role::$role,
                        ir: $crate::table::ir_operand!($($ir)?),
                    }),*]),+
                }
            }
        }
    };
}

macro_rules! is_cube {
    (cube) => {
        true
    };
    (-) => {
        false
    };
}

macro_rules! ir_operand {
    () => {
        $crate::table::IrOperand::Same
    };
    (attr) => {
        $crate::table::IrOperand::Attr
    };
    ($k:literal) => {
        $crate::table::IrOperand::At($k)
    };
}

pub(crate) use {cann_ops, ir_operand, is_cube};

impl crate::CannOp {
    /// What the op wants of data input `i` (inputs past the prototype's last take its role).
    pub fn role(self, i: usize) -> Role {
        let inputs = self.inputs();
        inputs.get(i).or(inputs.last()).map_or(Role::AsIs, |input| input.role)
    }

    /// For an op read with `n` data inputs: the input index of each IR operand, in IR order.
    /// Inputs the IR holds as attributes are left out; inputs past the prototype's (dynamic
    /// inputs) follow in order. An operand no input fills is an error.
    pub fn ir_operands(self, n: usize) -> Result<Vec<usize>, String> {
        let inputs = self.inputs();
        let mut slots: Vec<Option<usize>> = Vec::new();
        for i in 0..n {
            let k = match inputs.get(i) {
                Some(input) => match input.ir_operand(i) {
                    Some(k) => k,
                    None => continue,
                },
                None => slots.len(),
            };
            if slots.len() <= k {
                slots.resize(k + 1, None);
            }
            slots[k] = Some(i);
        }
        slots.into_iter().enumerate().map(|(k, s)| s.ok_or_else(|| format!("{} has no input for IR operand {k}", self.name()))).collect()
    }
}

//! Attribute values: how each kind prints and parses in the text format.

use crate::text::lexer::{Lexer, Tok};
use crate::{DType, IrError};

/// A value that can stand on the right of `name=` in an attribute list.
pub trait AttrValue: Sized {
    /// Append the text form.
    fn write(&self, out: &mut String);
    /// Read the text form.
    fn read(lex: &mut Lexer) -> Result<Self, IrError>;
}

impl AttrValue for i64 {
    fn write(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        lex.number()
    }
}

impl AttrValue for usize {
    fn write(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        lex.number()
    }
}

impl AttrValue for f32 {
    fn write(&self, out: &mut String) {
        // `{:?}` is the shortest text that parses back to the same bits.
        out.push_str(&format!("{self:?}"));
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        lex.number()
    }
}

impl AttrValue for bool {
    fn write(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        match lex.ident()?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(lex.error(format!("expected true or false, found `{other}`"))),
        }
    }
}

impl AttrValue for DType {
    fn write(&self, out: &mut String) {
        out.push_str(self.name());
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        let s = lex.ident()?;
        s.parse().map_err(|e: String| lex.error(e))
    }
}

impl<T: AttrValue> AttrValue for Vec<T> {
    fn write(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.write(out);
        }
        out.push(']');
    }
    fn read(lex: &mut Lexer) -> Result<Self, IrError> {
        lex.expect('[')?;
        let mut v = Vec::new();
        if lex.eat(']') {
            return Ok(v);
        }
        loop {
            v.push(T::read(lex)?);
            if lex.eat(']') {
                return Ok(v);
            }
            lex.expect(',')?;
        }
    }
}

/// Declare a keyword enum usable as an attribute: `attr_enum! { /// doc  Name { Variant = "text", ... } }`.
#[macro_export]
macro_rules! attr_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        #[allow(missing_docs)]
        pub enum $name { #[default] $($(#[$vm])* $v),+ }
        impl $name {
            /// The keyword in the text format.
            pub fn name(self) -> &'static str { match self { $($name::$v => $s),+ } }
        }
        impl $crate::ops::attr::AttrValue for $name {
            fn write(&self, out: &mut String) { out.push_str(self.name()); }
            fn read(lex: &mut $crate::text::lexer::Lexer) -> Result<Self, $crate::IrError> {
                let s = lex.ident()?;
                match s.as_str() { $($s => Ok($name::$v),)+ _ => Err(lex.error(format!(concat!("unknown ", stringify!($name), " `{}`"), s))) }
            }
        }
    };
}

attr_enum! {
    /// How convolution and pooling pads are chosen (ONNX `auto_pad`, TF `padding`).
    AutoPad { NotSet = "explicit", SameUpper = "same_upper", SameLower = "same_lower", Valid = "valid" }
}

attr_enum! {
    /// Which axes of a 4-D activation are channels and space.
    DataFormat { Nchw = "nchw", Nhwc = "nhwc" }
}

attr_enum! {
    /// Border handling of `pad`.
    PadMode { Constant = "constant", Reflect = "reflect", Edge = "edge" }
}

impl DataFormat {
    /// Index of the channel axis in a 4-D tensor.
    pub fn channel_axis(self) -> usize {
        match self {
            DataFormat::Nchw => 1,
            DataFormat::Nhwc => 3,
        }
    }
    /// Indices of the height and width axes in a 4-D tensor.
    pub fn spatial_axes(self) -> [usize; 2] {
        match self {
            DataFormat::Nchw => [2, 3],
            DataFormat::Nhwc => [1, 2],
        }
    }
}

/// Read `{name=value, ...}` (or nothing) calling `set` for each pair.
pub fn read_attr_list(
    lex: &mut Lexer,
    mut set: impl FnMut(&str, &mut Lexer) -> Result<bool, IrError>,
) -> Result<(), IrError> {
    if !lex.eat('{') {
        return Ok(());
    }
    if lex.eat('}') {
        return Ok(());
    }
    loop {
        let name = match lex.next_tok() {
            Some(Tok::Ident(s)) => s,
            _ => return Err(lex.error("expected an attribute name")),
        };
        lex.expect('=')?;
        if !set(&name, lex)? {
            return Err(lex.error(format!("unknown attribute `{name}`")));
        }
        if lex.eat('}') {
            return Ok(());
        }
        lex.expect(',')?;
    }
}

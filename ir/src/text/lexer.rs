//! Tokens of the text format, shared by the graph parser and attribute parsers.

use crate::IrError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `%12`: a value number.
    Value(usize),
    /// A bare word: keyword, op name, attribute name, dtype, symbol.
    Ident(String),
    /// A double-quoted string (escapes: `\"`, `\\`, `\n`, `\t`, `\u{..}`).
    Str(String),
    /// A number, kept as written so floats parse back exactly.
    Num(String),
    /// Punctuation: `( ) [ ] { } , = : @ -` and `->` as `>`.
    Punct(char),
}

/// A token stream with line numbers for error messages.
pub struct Lexer {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Lexer {
    /// Split `src` into tokens; `;` starts a comment that runs to the end of the line.
    pub fn new(src: &str) -> Result<Lexer, IrError> {
        let mut toks = Vec::new();
        let chars: Vec<char> = src.chars().collect();
        let mut i = 0;
        let mut line = 1;
        let err = |line: usize, msg: String| IrError::Parse { line, msg };
        while i < chars.len() {
            let c = chars[i];
            if c == '\n' {
                line += 1;
                i += 1;
            } else if c.is_whitespace() {
                i += 1;
            } else if c == ';' {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            } else if c == '%' {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let n = s.parse().map_err(|_| err(line, format!("bad value name `%{s}`")))?;
                toks.push((Tok::Value(n), line));
            } else if c == '"' {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(line, "unterminated string".into())),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let e = chars.get(i + 1).copied();
                            i += 2;
                            match e {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('"') => s.push('"'),
                                Some('\\') => s.push('\\'),
                                Some('u') => {
                                    let close = chars[i..].iter().position(|&c| c == '}');
                                    let Some(close) = close.filter(|_| chars.get(i) == Some(&'{')) else {
                                        return Err(err(line, "bad \\u escape".into()));
                                    };
                                    let hex: String = chars[i + 1..i + close].iter().collect();
                                    let ch = u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .and_then(char::from_u32)
                                        .ok_or_else(|| err(line, format!("bad \\u{{{hex}}}")))?;
                                    s.push(ch);
                                    i += close + 1;
                                }
                                _ => return Err(err(line, "bad escape in string".into())),
                            }
                        }
                        Some(&ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                toks.push((Tok::Str(s), line));
            } else if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == 'i' || *n == 'n'))
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                toks.push((Tok::Num(chars[start..i].iter().collect()), line));
            } else if c.is_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                    i += 1;
                }
                toks.push((Tok::Ident(chars[start..i].iter().collect()), line));
            } else if c == '-' && chars.get(i + 1) == Some(&'>') {
                toks.push((Tok::Punct('>'), line));
                i += 2;
            } else if "()[]{},=:@".contains(c) {
                toks.push((Tok::Punct(c), line));
                i += 1;
            } else {
                return Err(err(line, format!("unexpected character `{c}`")));
            }
        }
        Ok(Lexer { toks, pos: 0 })
    }

    /// The next token, without consuming it.
    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    /// Line of the next token (or of the last one at the end).
    pub fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map_or(1, |(_, l)| *l)
    }
    /// Consume and return the next token.
    pub fn next_tok(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }
    /// An error at the current line.
    pub fn error(&self, msg: impl Into<String>) -> IrError {
        IrError::Parse { line: self.line(), msg: msg.into() }
    }
    /// Consume `c` if it is next.
    pub fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Consume `c` or fail.
    pub fn expect(&mut self, c: char) -> Result<(), IrError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{}`, found {}", if c == '>' { "->".into() } else { c.to_string() }, self.describe())))
        }
    }
    /// Consume the keyword `kw` if it is next.
    pub fn eat_ident(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Consume a bare word or fail.
    pub fn ident(&mut self) -> Result<String, IrError> {
        match self.next_tok() {
            Some(Tok::Ident(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.error(format!("expected a word, found {}", self.describe())))
            }
        }
    }
    /// Consume a string or fail.
    pub fn string(&mut self) -> Result<String, IrError> {
        match self.next_tok() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.error(format!("expected a string, found {}", self.describe())))
            }
        }
    }
    /// Consume a number (or `inf`/`nan`) and parse it as `T`.
    pub fn number<T: std::str::FromStr>(&mut self) -> Result<T, IrError> {
        let text = match self.next_tok() {
            Some(Tok::Num(s)) | Some(Tok::Ident(s)) => s,
            _ => {
                self.pos -= 1;
                return Err(self.error(format!("expected a number, found {}", self.describe())));
            }
        };
        text.parse().map_err(|_| self.error(format!("bad number `{text}`")))
    }
    /// A short description of the next token for error messages.
    pub fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(Tok::Value(n)) => format!("`%{n}`"),
            Some(Tok::Ident(s)) | Some(Tok::Num(s)) => format!("`{s}`"),
            Some(Tok::Str(s)) => format!("string {s:?}"),
            Some(Tok::Punct(c)) => format!("`{c}`"),
        }
    }
}

/// Write `s` as a quoted string the lexer reads back unchanged.
pub fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

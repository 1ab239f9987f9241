//! The reader: text to S-expressions (plain Rust data, outside the heap).

use std::fmt;

/// The largest fixnum: values are 63-bit two's complement integers.
pub const FIXNUM_MAX: i64 = (1 << 62) - 1;
/// The smallest fixnum.
pub const FIXNUM_MIN: i64 = -(1 << 62);

/// An S-expression as read: integers, symbols and lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sexp {
    /// A fixnum.
    Int(i64),
    /// A symbol (`nil` and `t` are symbols too until evaluated).
    Sym(String),
    /// A proper list; `()` is the empty one.
    List(Vec<Sexp>),
}

impl Sexp {
    /// The symbol's name, if this is a symbol.
    pub fn sym(&self) -> Option<&str> {
        match self {
            Sexp::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// `(quote x)`.
    pub fn quote(x: Sexp) -> Sexp {
        Sexp::List(vec![Sexp::Sym("quote".into()), x])
    }
}

impl fmt::Display for Sexp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sexp::Int(n) => write!(f, "{n}"),
            Sexp::Sym(s) => write!(f, "{s}"),
            Sexp::List(items) => {
                write!(f, "(")?;
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Why text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The text ended inside a list or after a quote (a REPL reads more).
    Incomplete,
    /// Anything else, with a message.
    Bad(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Incomplete => write!(f, "unexpected end of input"),
            ReadError::Bad(m) => write!(f, "{m}"),
        }
    }
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while let Some(&c) = self.text.get(self.at) {
            if c == b';' {
                while self.text.get(self.at).is_some_and(|&c| c != b'\n') {
                    self.at += 1;
                }
            } else if c.is_ascii_whitespace() {
                if c == b'\n' {
                    self.line += 1;
                }
                self.at += 1;
            } else {
                break;
            }
        }
    }

    fn bad<T>(&self, what: impl fmt::Display) -> Result<T, ReadError> {
        Err(ReadError::Bad(format!("line {}: {what}", self.line)))
    }

    fn read(&mut self) -> Result<Sexp, ReadError> {
        self.skip_space();
        let Some(&c) = self.text.get(self.at) else {
            return Err(ReadError::Incomplete);
        };
        match c {
            b'(' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    match self.text.get(self.at) {
                        None => return Err(ReadError::Incomplete),
                        Some(b')') => {
                            self.at += 1;
                            return Ok(Sexp::List(items));
                        }
                        Some(_) => items.push(self.read()?),
                    }
                }
            }
            b')' => self.bad("unexpected ')'"),
            b'\'' => {
                self.at += 1;
                Ok(Sexp::quote(self.read()?))
            }
            _ => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|&c| !c.is_ascii_whitespace() && !b"();'".contains(&c))
                {
                    self.at += 1;
                }
                let word = std::str::from_utf8(&self.text[start..self.at])
                    .map_err(|_| ReadError::Bad(format!("line {}: not UTF-8", self.line)))?;
                let numeric = word.starts_with(|c: char| c.is_ascii_digit())
                    || (word.len() > 1
                        && word.starts_with(['-', '+'])
                        && word[1..].starts_with(|c: char| c.is_ascii_digit()));
                if word == "." {
                    return self.bad("dotted pairs are not supported (use cons)");
                }
                if numeric {
                    match word.parse::<i64>() {
                        Ok(n) if (FIXNUM_MIN..=FIXNUM_MAX).contains(&n) => Ok(Sexp::Int(n)),
                        Ok(_) => self.bad(format!("integer {word} does not fit in 63 bits")),
                        Err(_) => self.bad(format!("bad number {word:?}")),
                    }
                } else {
                    Ok(Sexp::Sym(word.to_owned()))
                }
            }
        }
    }
}

/// Reads every S-expression of `text`.
pub fn read_all(text: &str) -> Result<Vec<Sexp>, ReadError> {
    let mut r = Reader {
        text: text.as_bytes(),
        at: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        r.skip_space();
        if r.at == r.text.len() {
            return Ok(out);
        }
        out.push(r.read()?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_prints() {
        let xs = read_all("(define (f x) (+ x 1)) ; comment\n'(1 -2 a)").unwrap();
        assert_eq!(xs.len(), 2);
        assert_eq!(xs[0].to_string(), "(define (f x) (+ x 1))");
        assert_eq!(xs[1].to_string(), "(quote (1 -2 a))");
        assert_eq!(read_all("(a (b"), Err(ReadError::Incomplete));
        assert!(matches!(read_all(")"), Err(ReadError::Bad(_))));
        assert!(matches!(read_all("'(a . b)"), Err(ReadError::Bad(_))));
        assert!(matches!(
            read_all("99999999999999999999"),
            Err(ReadError::Bad(_))
        ));
    }
}

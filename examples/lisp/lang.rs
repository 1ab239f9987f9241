//! The language, shared by the compiler and the reference interpreter:
//! its limits, primitives and the shape of its special forms.
//!
//! ```text
//! form := (define name expr) | (define (name param...) body...) | expr
//! expr := integer | symbol | nil | t | 'datum | (quote datum)
//!       | (if c a [b]) | (let ((name expr)...) body...)
//!       | (lambda (param...) body...) | (primitive arg...) | (f arg...)
//! primitive := + - * < > = cons car cdr null? gc
//! ```
//!
//! Integers are 63-bit and wrap; `()` (also `nil`) is false and every
//! other value true; comparisons and `null?` return `t` or `()`. A
//! primitive's name is a primitive only in operator position and when no
//! local variable shadows it.

use crate::reader::Sexp;

/// Most parameters a procedure may have.
pub const MAX_PARAMS: usize = 4;
/// Deepest nesting of procedure calls before "recursion too deep".
pub const MAX_DEPTH: usize = 10_000;

/// The primitives.
pub const PRIMITIVES: &[&str] = &[
    "+", "-", "*", "<", ">", "=", "cons", "car", "cdr", "null?", "gc",
];

/// Is `name` a primitive?
pub fn is_primitive(name: &str) -> bool {
    PRIMITIVES.contains(&name)
}

/// `x` wrapped to 63 bits (two's complement), as fixnum arithmetic wraps.
pub fn wrap63(x: i64) -> i64 {
    (x << 1) >> 1
}

/// Checks that `(op a1 .. an)` has `n` arguments.
pub fn arity(op: &str, items: &[Sexp], n: usize) -> Result<(), String> {
    if items.len() == n + 1 {
        Ok(())
    } else {
        Err(format!("{op}: needs {n} argument(s)"))
    }
}

/// A top-level `(define name expr)` or `(define (name params...)
/// body...)` as its name and the expression to evaluate (a lambda for
/// the second form); `None` for any other form.
pub fn definition(form: &Sexp) -> Result<Option<(String, Sexp)>, String> {
    let Sexp::List(items) = form else {
        return Ok(None);
    };
    if items.first().and_then(Sexp::sym) != Some("define") {
        return Ok(None);
    }
    match items.get(1) {
        Some(Sexp::Sym(name)) => {
            arity("define", items, 2)?;
            Ok(Some((name.clone(), items[2].clone())))
        }
        Some(Sexp::List(head)) if !head.is_empty() && items.len() >= 3 => {
            let name = head[0]
                .sym()
                .ok_or("define: the procedure's name must be a symbol")?;
            let mut lambda = vec![Sexp::Sym("lambda".into()), Sexp::List(head[1..].to_vec())];
            lambda.extend_from_slice(&items[2..]);
            Ok(Some((name.to_owned(), Sexp::List(lambda))))
        }
        _ => Err("define: (define name expr) or (define (name params...) body...)".into()),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if matches!(name, "nil" | "t") {
        Err(format!("{what}: cannot bind {name}"))
    } else {
        Ok(())
    }
}

/// `(lambda (params...) body...)` as its parameters and body.
pub fn lambda_parts(items: &[Sexp]) -> Result<(Vec<&str>, &[Sexp]), String> {
    let (Some(Sexp::List(params)), true) = (items.get(1), items.len() >= 3) else {
        return Err("lambda: (lambda (params...) body...)".into());
    };
    let params = params
        .iter()
        .map(|p| p.sym().ok_or("lambda: parameters must be symbols"))
        .collect::<Result<Vec<_>, _>>()?;
    if params.len() > MAX_PARAMS {
        return Err(format!("lambda: at most {MAX_PARAMS} parameters"));
    }
    for p in &params {
        check_name("lambda", p)?;
    }
    Ok((params, &items[2..]))
}

/// A `let`'s bindings (name, expression) and body.
pub type LetParts<'a> = (Vec<(&'a str, &'a Sexp)>, &'a [Sexp]);

/// `(let ((name expr)...) body...)` as its bindings and body.
pub fn let_parts(items: &[Sexp]) -> Result<LetParts<'_>, String> {
    let (Some(Sexp::List(bindings)), true) = (items.get(1), items.len() >= 3) else {
        return Err("let: (let ((name expr)...) body...)".into());
    };
    let bindings = bindings
        .iter()
        .map(|b| match b {
            Sexp::List(pair) if pair.len() == 2 => pair[0]
                .sym()
                .map(|name| (name, &pair[1]))
                .ok_or("let: a binding's name must be a symbol"),
            _ => Err("let: each binding is (name expr)"),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (name, _) in &bindings {
        check_name("let", name)?;
    }
    Ok((bindings, &items[2..]))
}

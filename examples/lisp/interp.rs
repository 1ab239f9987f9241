//! The reference interpreter: a tree-walking evaluator of the same
//! language over plain Rust values (reference counted, no collector, no
//! JIT). The tests check every result of the compiled Lisp against it.

use std::collections::HashMap;
use std::rc::Rc;

use crate::lang::{self, is_primitive, wrap63, MAX_DEPTH};
use crate::reader::Sexp;

/// A value.
#[derive(Clone, Debug)]
pub enum V {
    /// A fixnum (63 bits).
    Int(i64),
    /// The empty list, also false.
    Nil,
    /// A symbol (`t` is true).
    Sym(Rc<str>),
    /// A pair.
    Cons(Rc<(V, V)>),
    /// A procedure.
    Closure(Rc<Closure>),
}

/// A procedure: parameters, body, and the environment it closes over.
#[derive(Debug)]
pub struct Closure {
    params: Vec<String>,
    body: Vec<Sexp>,
    env: Env,
}

/// A lexical environment: a linked list of bindings.
type Env = Option<Rc<Frame>>;

#[derive(Debug)]
struct Frame {
    name: String,
    value: V,
    next: Env,
}

fn lookup(env: &Env, name: &str) -> Option<V> {
    let mut e = env;
    while let Some(f) = e {
        if f.name == name {
            return Some(f.value.clone());
        }
        e = &f.next;
    }
    None
}

fn bind(env: &Env, name: &str, value: V) -> Env {
    Some(Rc::new(Frame {
        name: name.to_owned(),
        value,
        next: env.clone(),
    }))
}

fn truth(b: bool) -> V {
    if b {
        V::Sym("t".into())
    } else {
        V::Nil
    }
}

/// Prints a value as the compiled Lisp prints its heap values.
pub fn show(v: &V) -> String {
    let mut out = String::new();
    show_into(v, &mut out);
    out
}

fn show_into(v: &V, out: &mut String) {
    match v {
        V::Int(n) => out.push_str(&n.to_string()),
        V::Nil => out.push_str("()"),
        V::Sym(s) => out.push_str(s),
        V::Closure(_) => out.push_str("#<procedure>"),
        V::Cons(_) => {
            out.push('(');
            let mut cur = v;
            let mut first = true;
            while let V::Cons(c) = cur {
                if !first {
                    out.push(' ');
                }
                first = false;
                show_into(&c.0, out);
                cur = &c.1;
            }
            if !matches!(cur, V::Nil) {
                out.push_str(" . ");
                show_into(cur, out);
            }
            out.push(')');
        }
    }
}

/// Quoted data as a value.
fn datum(x: &Sexp) -> V {
    match x {
        Sexp::Int(n) => V::Int(*n),
        Sexp::Sym(s) if s == "nil" => V::Nil,
        Sexp::Sym(s) => V::Sym(s.as_str().into()),
        Sexp::List(items) => items
            .iter()
            .rev()
            .fold(V::Nil, |tail, x| V::Cons(Rc::new((datum(x), tail)))),
    }
}

/// The interpreter: the global environment and the call depth.
#[derive(Default)]
pub struct Interp {
    globals: HashMap<String, V>,
    depth: usize,
}

impl Interp {
    /// An interpreter with no globals.
    pub fn new() -> Interp {
        Interp::default()
    }

    /// Evaluates one top-level form: `(define ...)` binds a global and
    /// returns its name; anything else returns its value.
    pub fn eval_toplevel(&mut self, form: &Sexp) -> Result<V, String> {
        self.depth = 0;
        if let Some((name, expr)) = lang::definition(form)? {
            let v = self.eval(&expr, &None)?;
            self.globals.insert(name.clone(), v);
            return Ok(V::Sym(name.into()));
        }
        self.eval(form, &None)
    }

    fn eval_body(&mut self, body: &[Sexp], env: &Env) -> Result<V, String> {
        let mut v = V::Nil;
        for x in body {
            v = self.eval(x, env)?;
        }
        Ok(v)
    }

    fn eval(&mut self, x: &Sexp, env: &Env) -> Result<V, String> {
        match x {
            Sexp::Int(n) => Ok(V::Int(*n)),
            Sexp::Sym(s) => match s.as_str() {
                "nil" => Ok(V::Nil),
                "t" => Ok(truth(true)),
                _ => lookup(env, s)
                    .or_else(|| self.globals.get(s).cloned())
                    .ok_or_else(|| format!("unbound variable {s}")),
            },
            Sexp::List(items) if items.is_empty() => Ok(V::Nil),
            Sexp::List(items) => {
                let head = items[0].sym().filter(|s| lookup(env, s).is_none());
                match head {
                    Some("quote") => {
                        lang::arity("quote", items, 1)?;
                        Ok(datum(&items[1]))
                    }
                    Some("if") => {
                        if !(3..=4).contains(&items.len()) {
                            return Err("if: needs 2 or 3 arguments".into());
                        }
                        if !matches!(self.eval(&items[1], env)?, V::Nil) {
                            self.eval(&items[2], env)
                        } else if let Some(e) = items.get(3) {
                            self.eval(e, env)
                        } else {
                            Ok(V::Nil)
                        }
                    }
                    Some("let") => {
                        let (bindings, body) = lang::let_parts(items)?;
                        let mut inner = env.clone();
                        for (name, e) in bindings {
                            let v = self.eval(e, env)?;
                            inner = bind(&inner, name, v);
                        }
                        self.eval_body(body, &inner)
                    }
                    Some("lambda") => {
                        let (params, body) = lang::lambda_parts(items)?;
                        Ok(V::Closure(Rc::new(Closure {
                            params: params.iter().map(|s| s.to_string()).collect(),
                            body: body.to_vec(),
                            env: env.clone(),
                        })))
                    }
                    Some("define") => Err("define: only at top level".into()),
                    Some(p) if is_primitive(p) => {
                        let args = items[1..]
                            .iter()
                            .map(|a| self.eval(a, env))
                            .collect::<Result<Vec<_>, _>>()?;
                        primitive(p, &args)
                    }
                    _ => {
                        let f = self.eval(&items[0], env)?;
                        let args = items[1..]
                            .iter()
                            .map(|a| self.eval(a, env))
                            .collect::<Result<Vec<_>, _>>()?;
                        self.apply(&f, &args)
                    }
                }
            }
        }
    }

    fn apply(&mut self, f: &V, args: &[V]) -> Result<V, String> {
        let V::Closure(c) = f else {
            return Err(format!("not a procedure: {}", show(f)));
        };
        if c.params.len() != args.len() {
            return Err(format!(
                "wrong number of arguments: {} for {}",
                args.len(),
                c.params.len()
            ));
        }
        if self.depth >= MAX_DEPTH {
            return Err("recursion too deep".into());
        }
        let mut env = c.env.clone();
        for (p, a) in c.params.iter().zip(args) {
            env = bind(&env, p, a.clone());
        }
        self.depth += 1;
        let r = self.eval_body(&c.body, &env);
        self.depth -= 1;
        r
    }
}

fn int(op: &str, v: &V) -> Result<i64, String> {
    match v {
        V::Int(n) => Ok(*n),
        _ => Err(format!("{op}: not an integer: {}", show(v))),
    }
}

fn primitive(p: &str, args: &[V]) -> Result<V, String> {
    let want = match p {
        "car" | "cdr" | "null?" => 1,
        "gc" => 0,
        _ => 2,
    };
    if args.len() != want {
        return Err(format!("{p}: needs {want} arguments"));
    }
    let num = |i: usize| int(p, &args[i]);
    Ok(match p {
        "+" => V::Int(wrap63(num(0)?.wrapping_add(num(1)?))),
        "-" => V::Int(wrap63(num(0)?.wrapping_sub(num(1)?))),
        "*" => V::Int(wrap63(num(0)?.wrapping_mul(num(1)?))),
        "<" => truth(num(0)? < num(1)?),
        ">" => truth(num(0)? > num(1)?),
        "=" => truth(num(0)? == num(1)?),
        "cons" => V::Cons(Rc::new((args[0].clone(), args[1].clone()))),
        "car" | "cdr" => match &args[0] {
            V::Cons(c) if p == "car" => c.0.clone(),
            V::Cons(c) => c.1.clone(),
            v => return Err(format!("{p}: not a pair: {}", show(v))),
        },
        "null?" => truth(matches!(args[0], V::Nil)),
        "gc" => V::Nil,
        _ => unreachable!("{p} is not a primitive"),
    })
}

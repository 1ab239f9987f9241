//! The compiler: one top-level form to one LLVM module (as IR text, parsed
//! by inkwell), which the code pool installs as one code object.
//!
//! Every procedure, and the form itself (a *thunk*), becomes a function
//! `i64 f(i64 closure, i64 a0, i64 a1, i64 a2, i64 a3)` ([`crate::heap::Entry`]).
//! Values are the tagged words of [`crate::heap`]:
//!
//! - local variables are SSA values (registers or stack slots, which the
//!   collector scans ambiguously, so what they refer to is pinned);
//! - free variables are loaded from the closure (`closure + 16 + 8 i`);
//! - globals are loaded from their cell through a heap constant `@gN`
//!   (the code object refers to the cell and is relinked when it moves),
//!   with a check for "unbound";
//! - fixnum arithmetic and comparisons are inline, with a call to a runtime
//!   function when an operand is not a fixnum;
//! - `cons`, `car`, `cdr`, closure creation and procedure calls are calls
//!   to runtime functions (`rt_*`, [`crate::heap`]); `rt_apply` finds the
//!   procedure's current code through the closure, so a redefined global
//!   is called in its new version by every later call.

use std::fmt::Write as _;

use crate::heap::{fixnum, symbol, NIL, T, UNBOUND};
use crate::lang::{self, is_primitive, MAX_PARAMS};
use crate::reader::Sexp;

/// A compiled top-level form.
pub struct Compiled {
    /// The module's LLVM IR.
    pub ir: String,
    /// The thunk's entry point, which evaluates the form.
    pub thunk: String,
    /// The lambdas' entry points and arities, numbered from the
    /// `first_lambda` given to [`compile`].
    pub lambdas: Vec<(String, usize)>,
    /// The globals the code reads: `@g{i}` is the cell of `globals[i]`.
    pub globals: Vec<String>,
}

const DECLARATIONS: &str = "\
declare i64 @rt_cons(i64, i64)
declare i64 @rt_car(i64)
declare i64 @rt_cdr(i64)
declare i64 @rt_not_integers(i64, i64, i64)
declare i64 @rt_make_closure(i64, i64)
declare i64 @rt_unbound(i64)
declare i64 @rt_gc()
declare i64 @rt_apply(i64, i64, i64, i64, i64, i64)
";

/// A function being generated.
struct Fun {
    /// Lexical variables in scope, innermost last, with their SSA values.
    locals: Vec<(String, String)>,
    /// Free variables, in closure order.
    free: Vec<String>,
    code: String,
    /// The current basic block.
    block: String,
}

struct Compiler<'p> {
    prefix: &'p str,
    first_lambda: usize,
    /// Enclosing functions, innermost last.
    funs: Vec<Fun>,
    tmp: usize,
    done: Vec<String>,
    lambdas: Vec<(String, usize)>,
    globals: Vec<String>,
}

/// Compiles `expr` (a top-level form without `define`) to a module whose
/// entry points are named after `prefix`, numbering its lambdas from
/// `first_lambda`.
pub fn compile(expr: &Sexp, prefix: &str, first_lambda: usize) -> Result<Compiled, String> {
    let mut c = Compiler {
        prefix,
        first_lambda,
        funs: Vec::new(),
        tmp: 0,
        done: Vec::new(),
        lambdas: Vec::new(),
        globals: Vec::new(),
    };
    let thunk = format!("{prefix}_main");
    c.function(&thunk, &[], std::slice::from_ref(expr))?;
    let mut ir = String::from(DECLARATIONS);
    for i in 0..c.globals.len() {
        let _ = writeln!(ir, "@g{i} = external global i64");
    }
    for f in &c.done {
        ir.push_str(f);
    }
    Ok(Compiled {
        ir,
        thunk,
        lambdas: c.lambdas,
        globals: c.globals,
    })
}

impl Compiler<'_> {
    fn fun(&mut self) -> &mut Fun {
        self.funs.last_mut().expect("inside a function")
    }

    fn emit(&mut self, line: impl AsRef<str>) {
        let f = self.fun();
        f.code.push_str("  ");
        f.code.push_str(line.as_ref());
        f.code.push('\n');
    }

    fn tmp(&mut self) -> String {
        self.tmp += 1;
        format!("%t{}", self.tmp)
    }

    fn label(&mut self) -> String {
        self.tmp += 1;
        format!("L{}", self.tmp)
    }

    fn start_block(&mut self, label: &str) {
        let f = self.fun();
        let _ = writeln!(f.code, "{label}:");
        f.block = label.to_owned();
    }

    /// Generates function `name` with `params` and `body`; returns its free
    /// variables.
    fn function(
        &mut self,
        name: &str,
        params: &[&str],
        body: &[Sexp],
    ) -> Result<Vec<String>, String> {
        self.funs.push(Fun {
            locals: params
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_string(), format!("%a{i}")))
                .collect(),
            free: Vec::new(),
            code: String::new(),
            block: "entry".into(),
        });
        let result = self.body(body);
        let f = self.funs.pop().expect("pushed above");
        let r = result?;
        let mut text = format!(
            "define i64 @{name}(i64 %clo, i64 %a0, i64 %a1, i64 %a2, i64 %a3) nounwind {{\nentry:\n"
        );
        text.push_str(&f.code);
        let _ = writeln!(text, "  ret i64 {r}\n}}");
        self.done.push(text);
        Ok(f.free)
    }

    /// Is `name` a lexical variable here?
    fn is_bound(&self, name: &str) -> bool {
        self.funs
            .iter()
            .any(|f| f.locals.iter().any(|(n, _)| n == name) || f.free.iter().any(|n| n == name))
    }

    fn body(&mut self, body: &[Sexp]) -> Result<String, String> {
        let mut r = NIL.to_string();
        for x in body {
            r = self.expr(x)?;
        }
        Ok(r)
    }

    fn variable(&mut self, name: &str) -> Result<String, String> {
        match name {
            "nil" => return Ok(NIL.to_string()),
            "t" => return Ok(T.to_string()),
            _ => {}
        }
        let f = self.funs.last().expect("inside a function");
        if let Some((_, v)) = f.locals.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        if self.is_bound(name) {
            // A variable of an enclosing function: a free variable.
            let f = self.fun();
            let i = match f.free.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    f.free.push(name.to_owned());
                    f.free.len() - 1
                }
            };
            let (a, p, v) = (self.tmp(), self.tmp(), self.tmp());
            self.emit(format!("{a} = add i64 %clo, {}", 16 + 8 * i));
            self.emit(format!("{p} = inttoptr i64 {a} to i64*"));
            self.emit(format!("{v} = load i64, i64* {p}"));
            return Ok(v);
        }
        if is_primitive(name) {
            return Err(format!(
                "primitive {name} is not a value (wrap it in a lambda)"
            ));
        }
        // A global: load its cell, check that it is bound.
        let g = match self.globals.iter().position(|n| n == name) {
            Some(g) => g,
            None => {
                self.globals.push(name.to_owned());
                self.globals.len() - 1
            }
        };
        let (v, u) = (self.tmp(), self.tmp());
        let (bad, ok) = (self.label(), self.label());
        self.emit(format!("{v} = load i64, i64* @g{g}"));
        self.emit(format!("{u} = icmp eq i64 {v}, {UNBOUND}"));
        self.emit(format!("br i1 {u}, label %{bad}, label %{ok}"));
        let from = self.fun().block.clone();
        self.start_block(&bad);
        self.emit(format!("call i64 @rt_unbound(i64 {})", symbol(name)));
        self.emit(format!("br label %{ok}"));
        self.start_block(&ok);
        let r = self.tmp();
        self.emit(format!("{r} = phi i64 [ {v}, %{from} ], [ {NIL}, %{bad} ]"));
        Ok(r)
    }

    fn expr(&mut self, x: &Sexp) -> Result<String, String> {
        match x {
            Sexp::Int(n) => Ok((fixnum(*n) as i64).to_string()),
            Sexp::Sym(s) => self.variable(s),
            Sexp::List(items) if items.is_empty() => Ok(NIL.to_string()),
            Sexp::List(items) => {
                let head = items[0].sym().filter(|s| !self.is_bound(s));
                match head {
                    Some("quote") => {
                        lang::arity("quote", items, 1)?;
                        Ok(self.datum(&items[1]))
                    }
                    Some("if") => self.if_(items),
                    Some("let") => {
                        let (bindings, body) = lang::let_parts(items)?;
                        let mut values = Vec::new();
                        for (name, e) in &bindings {
                            values.push((name.to_string(), self.expr(e)?));
                        }
                        let depth = self.fun().locals.len();
                        self.fun().locals.extend(values);
                        let r = self.body(body);
                        self.fun().locals.truncate(depth);
                        r
                    }
                    Some("lambda") => self.lambda(items),
                    Some("define") => Err("define: only at top level".into()),
                    Some(p) if is_primitive(p) => self.primitive(p, &items[1..]),
                    _ => {
                        let f = self.expr(&items[0])?;
                        let args = &items[1..];
                        if args.len() > MAX_PARAMS {
                            return Err(format!("a call passes at most {MAX_PARAMS} arguments"));
                        }
                        let mut a = Vec::new();
                        for x in args {
                            a.push(self.expr(x)?);
                        }
                        a.resize(MAX_PARAMS, "0".into());
                        let r = self.tmp();
                        self.emit(format!(
                            "{r} = call i64 @rt_apply(i64 {f}, i64 {}, i64 {}, i64 {}, i64 {}, i64 {})",
                            args.len(),
                            a[0],
                            a[1],
                            a[2],
                            a[3]
                        ));
                        Ok(r)
                    }
                }
            }
        }
    }

    /// Quoted data, built at run time (conses are allocated each time).
    fn datum(&mut self, x: &Sexp) -> String {
        match x {
            Sexp::Int(n) => (fixnum(*n) as i64).to_string(),
            Sexp::Sym(s) if s == "nil" => NIL.to_string(),
            Sexp::Sym(s) => symbol(s).to_string(),
            Sexp::List(items) => {
                let mut tail = NIL.to_string();
                for item in items.iter().rev() {
                    let car = self.datum(item);
                    let r = self.tmp();
                    self.emit(format!("{r} = call i64 @rt_cons(i64 {car}, i64 {tail})"));
                    tail = r;
                }
                tail
            }
        }
    }

    fn if_(&mut self, items: &[Sexp]) -> Result<String, String> {
        if !(3..=4).contains(&items.len()) {
            return Err("if: needs 2 or 3 arguments".into());
        }
        let c = self.expr(&items[1])?;
        let b = self.tmp();
        let (then, else_, join) = (self.label(), self.label(), self.label());
        self.emit(format!("{b} = icmp ne i64 {c}, {NIL}"));
        self.emit(format!("br i1 {b}, label %{then}, label %{else_}"));
        self.start_block(&then);
        let x = self.expr(&items[2])?;
        let x_end = self.fun().block.clone();
        self.emit(format!("br label %{join}"));
        self.start_block(&else_);
        let y = match items.get(3) {
            Some(e) => self.expr(e)?,
            None => NIL.to_string(),
        };
        let y_end = self.fun().block.clone();
        self.emit(format!("br label %{join}"));
        self.start_block(&join);
        let r = self.tmp();
        self.emit(format!(
            "{r} = phi i64 [ {x}, %{x_end} ], [ {y}, %{y_end} ]"
        ));
        Ok(r)
    }

    fn lambda(&mut self, items: &[Sexp]) -> Result<String, String> {
        let (params, body) = lang::lambda_parts(items)?;
        let number = self.first_lambda + self.lambdas.len();
        let name = format!("{}_l{number}", self.prefix);
        self.lambdas.push((name.clone(), params.len()));
        let free = self.function(&name, &params, body)?;
        let c = self.tmp();
        self.emit(format!(
            "{c} = call i64 @rt_make_closure(i64 {number}, i64 {})",
            free.len()
        ));
        for (i, n) in free.iter().enumerate() {
            let v = self.variable(n)?;
            let (a, p) = (self.tmp(), self.tmp());
            self.emit(format!("{a} = add i64 {c}, {}", 16 + 8 * i));
            self.emit(format!("{p} = inttoptr i64 {a} to i64*"));
            self.emit(format!("store i64 {v}, i64* {p}"));
        }
        Ok(c)
    }

    fn primitive(&mut self, p: &str, args: &[Sexp]) -> Result<String, String> {
        let want = match p {
            "car" | "cdr" | "null?" => 1,
            "gc" => 0,
            _ => 2,
        };
        if args.len() != want {
            return Err(format!("{p}: needs {want} arguments"));
        }
        let mut a = Vec::new();
        for x in args {
            a.push(self.expr(x)?);
        }
        let r = self.tmp();
        match p {
            "cons" => self.emit(format!(
                "{r} = call i64 @rt_cons(i64 {}, i64 {})",
                a[0], a[1]
            )),
            "car" | "cdr" => self.emit(format!("{r} = call i64 @rt_{p}(i64 {})", a[0])),
            "gc" => self.emit(format!("{r} = call i64 @rt_gc()")),
            "null?" => {
                let b = self.tmp();
                self.emit(format!("{b} = icmp eq i64 {}, {NIL}", a[0]));
                self.emit(format!("{r} = select i1 {b}, i64 {T}, i64 {NIL}"));
            }
            _ => return self.arithmetic(p, &a[0], &a[1]),
        }
        Ok(r)
    }

    /// Fixnum arithmetic and comparisons inline; the slow path raises an
    /// error (no other numbers exist).
    fn arithmetic(&mut self, p: &str, a: &str, b: &str) -> Result<String, String> {
        let (both, tag, ok) = (self.tmp(), self.tmp(), self.tmp());
        let (fast, slow, join) = (self.label(), self.label(), self.label());
        self.emit(format!("{both} = and i64 {a}, {b}"));
        self.emit(format!("{tag} = and i64 {both}, 1"));
        self.emit(format!("{ok} = icmp eq i64 {tag}, 1"));
        self.emit(format!("br i1 {ok}, label %{fast}, label %{slow}"));
        self.start_block(&fast);
        let (x, y, f) = (self.tmp(), self.tmp(), self.tmp());
        match p {
            "+" => {
                self.emit(format!("{x} = add i64 {a}, {b}"));
                self.emit(format!("{f} = sub i64 {x}, 1"));
            }
            "-" => {
                self.emit(format!("{x} = sub i64 {a}, {b}"));
                self.emit(format!("{f} = add i64 {x}, 1"));
            }
            "*" => {
                // (2m+1 >> 1) * (2n+1 - 1) + 1 = 2mn + 1
                self.emit(format!("{x} = ashr i64 {a}, 1"));
                self.emit(format!("{y} = sub i64 {b}, 1"));
                let z = self.tmp();
                self.emit(format!("{z} = mul i64 {x}, {y}"));
                self.emit(format!("{f} = or i64 {z}, 1"));
            }
            "<" | ">" | "=" => {
                let cond = match p {
                    "<" => "slt",
                    ">" => "sgt",
                    _ => "eq",
                };
                self.emit(format!("{x} = icmp {cond} i64 {a}, {b}"));
                self.emit(format!("{f} = select i1 {x}, i64 {T}, i64 {NIL}"));
            }
            _ => unreachable!("{p} is not arithmetic"),
        }
        self.emit(format!("br label %{join}"));
        self.start_block(&slow);
        let s = self.tmp();
        self.emit(format!(
            "{s} = call i64 @rt_not_integers(i64 {}, i64 {a}, i64 {b})",
            symbol(p)
        ));
        self.emit(format!("br label %{join}"));
        self.start_block(&join);
        let r = self.tmp();
        self.emit(format!("{r} = phi i64 [ {f}, %{fast} ], [ {s}, %{slow} ]"));
        Ok(r)
    }
}

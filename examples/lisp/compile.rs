//! The compiler: one top-level form to one LLVM module (as IR text, parsed
//! by inkwell), which the code pool installs as one code object.
//!
//! Every procedure, and the form itself (a *thunk*), becomes a function
//! `i64 f(i64 closure, i64 depth, i64 a0, i64 a1, i64 a2, i64 a3)`
//! ([`crate::heap::Entry`]); each `lambda` also gets a procedure object
//! (`@pK`, a heap constant), which its closures point to.
//! Values are the tagged words of [`crate::heap`]:
//!
//! - local variables are SSA values (registers or stack slots, which the
//!   collector scans ambiguously, so what they refer to is pinned);
//! - free variables are loaded from the closure (`closure + 16 + 8 i`);
//! - globals are loaded from their cell through a heap constant `@gN`
//!   (the code object refers to the cell and is relinked when it moves),
//!   with a check for "unbound"; a quoted symbol is a heap constant
//!   `@sN` too;
//! - fixnum arithmetic and comparisons are inline, with a call to a runtime
//!   function when an operand is not a fixnum;
//! - `cons`, `car`, `cdr` and closure creation are calls to runtime
//!   functions (`rt_*`, [`crate::heap`]);
//! - a call of a global procedure with a direct entry of the right arity
//!   (see [`crate::engine`]) is a direct call to that entry, also a call
//!   of the procedure being defined to itself (its entry is in the same
//!   module; the code pool binds the call by name, so a redefinition
//!   rebinds it);
//! - any other procedure call checks that the callee is a closure, loads its
//!   procedure's code pointer (code object address and entry offset, a
//!   `CodePtr` the collector keeps current; offsets checked in `heap.rs`)
//!   and arity, and calls the entry
//!   in the code pool's execute view directly, in the same function (so
//!   the loaded address pins the code while it runs). A global procedure
//!   without a direct entry is called through its cell, so after a
//!   redefinition every later call, also from code compiled before,
//!   reaches the new code;
//! - every procedure starts by checking the depth (`lang::MAX_DEPTH`) and
//!   the instance's error cell (`@err`): after a runtime error, every call
//!   returns `()` at once.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::heap::{fixnum, symbol, NIL, T, UNBOUND};
use crate::lang::{self, is_primitive, MAX_DEPTH, MAX_PARAMS};
use crate::reader::Sexp;

/// A compiled top-level form.
pub struct Compiled {
    /// The module's LLVM IR.
    pub ir: String,
    /// The thunk's entry point, which evaluates the form.
    pub thunk: String,
    /// The lambdas' entry points and arities: `@p{k}` is the procedure
    /// of `lambdas[k]`.
    pub lambdas: Vec<(String, usize)>,
    /// The globals the code reads: `@g{i}` is the cell of `globals[i]`.
    pub globals: Vec<String>,
    /// The symbols it quotes: `@s{i}` is the symbol `symbols[i]`.
    pub symbols: Vec<String>,
}

const DECLARATIONS: &str = "\
declare i64 @rt_cons(i64, i64)
declare i64 @rt_car(i64)
declare i64 @rt_cdr(i64)
declare i64 @rt_not_integers(i64, i64, i64)
declare i64 @rt_make_closure(i64, i64)
declare i64 @rt_unbound(i64)
declare i64 @rt_not_procedure(i64)
declare i64 @rt_arity(i64, i64)
declare i64 @rt_stop()
declare i64 @rt_gc()
@err = external global i64
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

/// Global procedures that may be called directly: `(name, arity)` to the
/// entry point that holds its current definition (see [`crate::engine`]).
pub type Direct = HashMap<(String, usize), String>;

/// How to compile a top-level form.
pub struct Options<'a> {
    /// Entry points are named after it (unique in the code pool).
    pub prefix: &'a str,
    /// The code pool's execute-view distance.
    pub delta: isize,
    /// Direct call targets.
    pub direct: &'a Direct,
    /// The entry name of the form's outermost lambda, when the form
    /// defines a global procedure that others may call directly.
    pub own_entry: Option<&'a str>,
}

struct Compiler<'p> {
    prefix: &'p str,
    direct: &'p Direct,
    own_entry: Option<&'p str>,
    /// Direct call targets used: declared in the module.
    called: BTreeSet<String>,
    /// The code pool's execute-view distance.
    delta: i64,
    /// Enclosing functions, innermost last.
    funs: Vec<Fun>,
    tmp: usize,
    done: Vec<String>,
    lambdas: Vec<(String, usize)>,
    globals: Vec<String>,
    symbols: Vec<String>,
}

/// Compiles `expr` (a top-level form without `define`).
pub fn compile(expr: &Sexp, options: &Options<'_>) -> Result<Compiled, String> {
    let prefix = options.prefix;
    let mut c = Compiler {
        prefix,
        direct: options.direct,
        own_entry: options.own_entry,
        called: BTreeSet::new(),
        delta: options.delta as i64,
        funs: Vec::new(),
        tmp: 0,
        done: Vec::new(),
        lambdas: Vec::new(),
        globals: Vec::new(),
        symbols: Vec::new(),
    };
    let thunk = format!("{prefix}_main");
    c.function(&thunk, &[], std::slice::from_ref(expr))?;
    let mut ir = String::from(DECLARATIONS);
    for i in 0..c.globals.len() {
        let _ = writeln!(ir, "@g{i} = external global i64");
    }
    for k in 0..c.lambdas.len() {
        let _ = writeln!(ir, "@p{k} = external global i8");
    }
    for i in 0..c.symbols.len() {
        let _ = writeln!(ir, "@s{i} = external global i8");
    }
    // The own entry, when the procedure calls itself, is defined here.
    for f in c
        .called
        .iter()
        .filter(|f| Some(f.as_str()) != options.own_entry)
    {
        let _ = writeln!(ir, "declare i64 @{f}(i64, i64, i64, i64, i64, i64)");
    }
    for f in &c.done {
        ir.push_str(f);
    }
    Ok(Compiled {
        ir,
        thunk,
        lambdas: c.lambdas,
        globals: c.globals,
        symbols: c.symbols,
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
            block: "body".into(),
        });
        let result = self.body(body);
        let f = self.funs.pop().expect("pushed above");
        let r = result?;
        let mut text = format!(
            "define i64 @{name}(i64 %clo, i64 %depth, i64 %a0, i64 %a1, i64 %a2, i64 %a3) nounwind {{\n\
             entry:\n\
             \x20 %err = load i64, i64* @err\n\
             \x20 %pending = icmp ne i64 %err, {NIL}\n\
             \x20 %deep = icmp sgt i64 %depth, {MAX_DEPTH}\n\
             \x20 %halt = or i1 %pending, %deep\n\
             \x20 br i1 %halt, label %stop, label %body\n\
             stop:\n\
             \x20 call i64 @rt_stop()\n\
             \x20 ret i64 {NIL}\n\
             body:\n\
             \x20 %depth1 = add i64 %depth, 1\n"
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
            return Ok(self.word("%clo", 16 + 8 * i));
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
                        let args = &items[1..];
                        // A global procedure with a direct entry of this
                        // arity: call it directly (the pool relinks the
                        // call when the name is redefined).
                        let direct = head
                            .and_then(|name| self.direct.get(&(name.to_owned(), args.len())))
                            .cloned();
                        let f = match &direct {
                            Some(_) => String::new(),
                            None => self.expr(&items[0])?,
                        };
                        if args.len() > MAX_PARAMS {
                            return Err(format!("a call passes at most {MAX_PARAMS} arguments"));
                        }
                        let mut a = Vec::new();
                        for x in args {
                            a.push(self.expr(x)?);
                        }
                        a.resize(MAX_PARAMS, "0".into());
                        match direct {
                            Some(entry) => {
                                let r = self.tmp();
                                self.emit(format!(
                                    "{r} = call i64 @{entry}(i64 0, i64 %depth1, i64 {}, i64 {}, i64 {}, i64 {})",
                                    a[0], a[1], a[2], a[3]
                                ));
                                self.called.insert(entry);
                                Ok(r)
                            }
                            None => Ok(self.call(&f, &a, args.len())),
                        }
                    }
                }
            }
        }
    }

    /// Calls procedure `f` with `argc` arguments `a` (padded with 0).
    fn call(&mut self, f: &str, a: &[String], argc: usize) -> String {
        let [is_ptr, nonzero, ok, hp, h, kind, is_closure] = self.tmps();
        let (check, closure, call, bad, arity_bad, join) = (
            self.label(),
            self.label(),
            self.label(),
            self.label(),
            self.label(),
            self.label(),
        );
        // Is it a heap object, and a closure?
        let low = self.tmp();
        self.emit(format!("{low} = and i64 {f}, 7"));
        self.emit(format!("{is_ptr} = icmp eq i64 {low}, 0"));
        self.emit(format!("{nonzero} = icmp ne i64 {f}, {NIL}"));
        self.emit(format!("{ok} = and i1 {is_ptr}, {nonzero}"));
        self.emit(format!("br i1 {ok}, label %{check}, label %{bad}"));
        self.start_block(&check);
        self.emit(format!("{hp} = inttoptr i64 {f} to i64*"));
        self.emit(format!("{h} = load i64, i64* {hp}"));
        self.emit(format!("{kind} = and i64 {h}, 255"));
        self.emit(format!("{is_closure} = icmp eq i64 {kind}, 2"));
        self.emit(format!(
            "br i1 {is_closure}, label %{closure}, label %{bad}"
        ));
        // Its procedure: code object (write view), entry offset, arity.
        self.start_block(&closure);
        let proc = self.word(f, 8);
        let object = self.word(&proc, 8);
        let (ep, e32, entry) = (self.tmp(), self.tmp(), self.tmp());
        let at = self.tmp();
        self.emit(format!("{at} = add i64 {proc}, 16"));
        self.emit(format!("{ep} = inttoptr i64 {at} to i32*"));
        self.emit(format!("{e32} = load i32, i32* {ep}"));
        self.emit(format!("{entry} = zext i32 {e32} to i64"));
        let arity = self.word(&proc, 24);
        let same = self.tmp();
        self.emit(format!("{same} = icmp eq i64 {arity}, {argc}"));
        self.emit(format!("br i1 {same}, label %{call}, label %{arity_bad}"));
        // The call, in the execute view.
        self.start_block(&call);
        let (x, y, fp, r1) = (self.tmp(), self.tmp(), self.tmp(), self.tmp());
        self.emit(format!("{x} = add i64 {object}, {}", self.delta));
        self.emit(format!("{y} = add i64 {x}, {entry}"));
        self.emit(format!(
            "{fp} = inttoptr i64 {y} to i64 (i64, i64, i64, i64, i64, i64)*"
        ));
        self.emit(format!(
            "{r1} = call i64 {fp}(i64 {f}, i64 %depth1, i64 {}, i64 {}, i64 {}, i64 {})",
            a[0], a[1], a[2], a[3]
        ));
        self.emit(format!("br label %{join}"));
        self.start_block(&bad);
        let r2 = self.tmp();
        self.emit(format!("{r2} = call i64 @rt_not_procedure(i64 {f})"));
        self.emit(format!("br label %{join}"));
        self.start_block(&arity_bad);
        let r3 = self.tmp();
        self.emit(format!(
            "{r3} = call i64 @rt_arity(i64 {argc}, i64 {arity})"
        ));
        self.emit(format!("br label %{join}"));
        self.start_block(&join);
        let r = self.tmp();
        self.emit(format!(
            "{r} = phi i64 [ {r1}, %{call} ], [ {r2}, %{bad} ], [ {r3}, %{arity_bad} ]"
        ));
        r
    }

    /// Loads the word at `base + offset`.
    fn word(&mut self, base: &str, offset: usize) -> String {
        let (a, p, v) = (self.tmp(), self.tmp(), self.tmp());
        self.emit(format!("{a} = add i64 {base}, {offset}"));
        self.emit(format!("{p} = inttoptr i64 {a} to i64*"));
        self.emit(format!("{v} = load i64, i64* {p}"));
        v
    }

    fn tmps<const N: usize>(&mut self) -> [String; N] {
        std::array::from_fn(|_| self.tmp())
    }

    /// Quoted data, built at run time (conses are allocated each time).
    fn datum(&mut self, x: &Sexp) -> String {
        match x {
            Sexp::Int(n) => (fixnum(*n) as i64).to_string(),
            Sexp::Sym(s) if s == "nil" => NIL.to_string(),
            Sexp::Sym(s) if s == "t" => T.to_string(),
            Sexp::Sym(s) => {
                // The instance's symbol object, a heap constant.
                let i = match self.symbols.iter().position(|n| n == s) {
                    Some(i) => i,
                    None => {
                        self.symbols.push(s.clone());
                        self.symbols.len() - 1
                    }
                };
                let r = self.tmp();
                self.emit(format!("{r} = ptrtoint i8* @s{i} to i64"));
                r
            }
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
        let k = self.lambdas.len();
        let name = match (k, self.own_entry) {
            (0, Some(own)) => own.to_owned(),
            _ => format!("{}_l{k}", self.prefix),
        };
        self.lambdas.push((name.clone(), params.len()));
        let free = self.function(&name, &params, body)?;
        let (proc, c) = (self.tmp(), self.tmp());
        self.emit(format!("{proc} = ptrtoint i8* @p{k} to i64"));
        self.emit(format!(
            "{c} = call i64 @rt_make_closure(i64 {proc}, i64 {})",
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

//! A Lisp instance: compiles each top-level form, installs it in the code
//! pool, runs it, and keeps the global cells and the direct entry points.
//!
//! # Direct calls and redefinition
//!
//! `(define (f a b) ...)` compiles the procedure as the entry point
//! `lisp<instance>_d_f_2` (name and arity), kept in the instance's table
//! of direct entries. Code compiled later calls `(f x y)` directly
//! (`call @lisp<instance>_d_f_2`, bound through the code pool's symbol
//! table), without loading the cell. Defining `f` again with two
//! parameters installs the new code with [`codepool::CodePool::redefine`]:
//! the pool relinks every direct caller to it at a safe point (a full
//! collection), so every later call reaches the new definition; the old
//! code is freed once nothing refers to it. Defining `f` as anything else
//! (another arity, a value, a closure) replaces each of its direct entries
//! with a *trampoline* that calls through the cell. A procedure's calls to
//! itself (with its own arity, also from lambdas inside it) are direct
//! calls of its own entry: the entry is a global, default-visibility
//! function of the same code object, so the code pool binds those calls by
//! name, to the object itself (`codepool::CodePoolOptions::interpose`),
//! and a redefinition rebinds them with every other caller's: an old
//! definition still reachable as a value, say through `(define g f)`,
//! calls the current `f` as the interpreter does (the new definition, or
//! the trampoline). Every call of a name without a direct entry goes
//! through the cell. (A trampoline calls through the cell, never its own
//! entry.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::{CodeObject, CodePtr, Env};
use mps::{Handle, Scope};

use crate::compile::{compile, Direct, Options};
use crate::heap::{self, Cell, Ctx, Entry, Heap, Machine, Proc, Sym, CELL_VALUE, NIL};
use crate::lang;
use crate::reader::Sexp;

/// A Lisp instance on the current thread, which must be inside
/// [`codepool::CodePool::with_jit_thread`] for the machine's code pool;
/// `'s` is that scope's lifetime (the global cells are its handles).
pub struct Lisp<'m, 's> {
    machine: &'m Machine<'m>,
    /// Makes entry-point names unique in the shared code pool.
    id: usize,
    forms: usize,
    globals: HashMap<String, Handle<'s, Heap>>,
    /// The instance's symbols, by name.
    symbols: HashMap<String, Handle<'s, Heap>>,
    /// `t` while a runtime error is pending (see [`Ctx::error_cell`]).
    error_cell: Handle<'s, Heap>,
    /// Direct entry points of global procedures, by name and arity.
    direct: Direct,
    /// The code object of each direct entry's current definition (the
    /// pool's symbol table keeps the name while it is held), and whether
    /// it is a trampoline.
    objects: HashMap<String, (CodeObject<'m>, bool)>,
}

/// `name` as part of a symbol: letters and digits stay, anything else is
/// `_` and two hex digits.
fn mangle(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The arity of `expr` if it is a well-formed `lambda`.
fn lambda_arity(expr: &Sexp) -> Option<usize> {
    let Sexp::List(items) = expr else { return None };
    if items.first()?.sym()? != "lambda" {
        return None;
    }
    lang::lambda_parts(items)
        .ok()
        .map(|(params, _)| params.len())
}

impl<'m, 's> Lisp<'m, 's> {
    /// A new instance with no globals.
    pub fn new(machine: &'m Machine<'m>, scope: &mut Scope<'s>) -> Result<Self, mps::Error> {
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let mut ap = machine.heap.ap()?;
        let error_cell = scope.alloc(&mut ap, Cell::nil())?;
        Ok(Lisp {
            machine,
            id: INSTANCES.fetch_add(1, Ordering::Relaxed),
            forms: 0,
            globals: HashMap::new(),
            symbols: HashMap::new(),
            error_cell,
            direct: Direct::new(),
            objects: HashMap::new(),
        })
    }

    /// Evaluates one top-level form and returns what to print: the value,
    /// or the name a `define` bound. `(gc-stats)` collects and returns the
    /// collector's statistics.
    pub fn eval(&mut self, scope: &mut Scope<'s>, form: &Sexp) -> Result<String, String> {
        if form == &Sexp::List(vec![Sexp::Sym("gc-stats".into())]) {
            return stats(self.machine);
        }
        let (defined, expr) = match lang::definition(form)? {
            Some((name, expr)) => (Some(name), expr),
            None => (None, form.clone()),
        };
        let own = defined
            .as_ref()
            .zip(lambda_arity(&expr))
            .map(|(name, arity)| (name.clone(), arity));
        // Calls of the name being defined go through its cell, except the
        // procedure's calls to itself (with its own arity), which call its
        // own entry directly: a global, default-visibility function of the
        // same code object, which the code pool binds by name
        // (`CodePoolOptions::interpose`), so a redefinition rebinds them
        // like any other caller's.
        let mut direct = self.direct.clone();
        direct.retain(|(name, _), _| Some(name) != defined.as_ref());
        if let Some((name, arity)) = &own {
            direct.insert((name.clone(), *arity), self.entry_name(name, *arity));
        }
        let result = self.run(scope, &expr, defined.as_deref(), own.clone(), &direct)?;
        if let Some(name) = &defined {
            self.retire(scope, name, own.as_ref().map(|(_, arity)| *arity))?;
        }
        Ok(result)
    }

    /// The name of the direct entry of procedure `name` with `arity`
    /// parameters (unique in the shared code pool).
    fn entry_name(&self, name: &str, arity: usize) -> String {
        format!("lisp{}_d_{}_{arity}", self.id, mangle(name))
    }

    /// The direct entries of `name` other than arity `keep` become
    /// trampolines through the cell.
    fn retire(
        &mut self,
        scope: &mut Scope<'s>,
        name: &str,
        keep: Option<usize>,
    ) -> Result<(), String> {
        let stale: Vec<usize> = self
            .direct
            .iter()
            .filter(|((n, arity), entry)| {
                n == name && Some(*arity) != keep && !self.objects[*entry].1
            })
            .map(|((_, arity), _)| *arity)
            .collect();
        for arity in stale {
            let params: Vec<Sexp> = (0..arity).map(|i| Sexp::Sym(format!("a{i}"))).collect();
            let mut call = vec![Sexp::Sym(name.to_owned())];
            call.extend(params.iter().cloned());
            let lambda = Sexp::List(vec![
                Sexp::Sym("lambda".into()),
                Sexp::List(params),
                Sexp::List(call),
            ]);
            self.run(
                scope,
                &lambda,
                None,
                Some((name.to_owned(), arity)),
                &Direct::new(),
            )?;
            let entry = &self.direct[&(name.to_owned(), arity)];
            self.objects.get_mut(entry).expect("installed above").1 = true;
        }
        Ok(())
    }

    /// Compiles, installs and runs `expr`; stores its value in the cell of
    /// `defined`, or returns it printed. With `own` (name, arity), `expr`
    /// is a lambda whose code becomes that direct entry (installed with
    /// `redefine`, replacing the entry's previous definition).
    fn run(
        &mut self,
        scope: &mut Scope<'s>,
        expr: &Sexp,
        defined: Option<&str>,
        own: Option<(String, usize)>,
        direct: &Direct,
    ) -> Result<String, String> {
        let prefix = format!("lisp{}_{}", self.id, self.forms);
        self.forms += 1;
        let own_entry = own
            .as_ref()
            .map(|(name, arity)| self.entry_name(name, *arity));
        let compiled = compile(
            expr,
            &Options {
                prefix: &prefix,
                delta: self.machine.code.delta(),
                direct,
                own_entry: own_entry.as_deref(),
            },
        )?;
        let machine = self.machine;
        let mut ctx = Ctx {
            arena: machine.arena,
            fmt: machine.fmt,
            ap: machine.heap.ap().map_err(|e| e.to_string())?,
            error_cell: self.error_cell,
            error: None,
        };

        // The global cells this form reads or sets (held by this scope).
        let mut cells = Vec::new();
        for name in compiled.globals.iter().map(String::as_str).chain(defined) {
            let cell = match self.globals.get(name) {
                Some(&cell) => cell,
                None => {
                    let cell = scope
                        .alloc(&mut ctx.ap, Cell::new())
                        .map_err(|e| format!("out of memory: {e}"))?;
                    self.globals.insert(name.to_owned(), cell);
                    cell
                }
            };
            cells.push(cell);
        }

        // The symbols it quotes (interned: held by this scope).
        let mut symbols = Vec::new();
        for name in &compiled.symbols {
            let symbol = match self.symbols.get(name) {
                Some(&symbol) => symbol,
                None => {
                    let symbol = scope
                        .alloc(&mut ctx.ap, Sym::new(name))
                        .map_err(|e| format!("out of memory: {e}"))?;
                    self.symbols.insert(name.clone(), symbol);
                    symbol
                }
            };
            symbols.push(symbol);
        }

        let (printed, object) = scope.scope(|t| {
            // One procedure object per lambda, held by this nested scope
            // until the code refers to them.
            let mut procs = Vec::new();
            for (_, arity) in &compiled.lambdas {
                procs.push(
                    t.alloc(&mut ctx.ap, Proc::new(*arity))
                        .map_err(|e| format!("out of memory: {e}"))?,
                );
            }
            let mut env = Env::new();
            heap::bind_runtime(&mut env);
            env.heap("err", ctx.error_cell, CELL_VALUE);
            for (i, &cell) in cells.iter().take(compiled.globals.len()).enumerate() {
                env.heap(format!("g{i}"), cell, CELL_VALUE);
            }
            for (k, &proc) in procs.iter().enumerate() {
                env.heap(format!("p{k}"), proc, 0);
            }
            for (i, &symbol) in symbols.iter().enumerate() {
                env.heap(format!("s{i}"), symbol, 0);
            }

            let context = Context::create();
            let buffer =
                MemoryBuffer::create_from_memory_range_copy(compiled.ir.as_bytes(), &prefix);
            let module = context
                .create_module_from_ir(buffer)
                .map_err(|e| format!("internal error: bad IR: {e}\n{}", compiled.ir))?;
            let object = match own_entry {
                // Replaces the entry's previous definition: direct callers
                // are relinked to this one in a full collection.
                Some(_) => machine.code.redefine_module(&module, &env),
                None => machine.code.install_module(&module, &env),
            }
            .map_err(|e| format!("cannot install the code: {e}"))?;
            for ((name, _), &proc) in compiled.lambdas.iter().zip(&procs) {
                // SAFETY: every lambda is compiled with the `Entry` signature.
                let entry = unsafe { object.function::<Entry>(name) }
                    .ok_or("internal error: a lambda has no entry")?;
                CodePtr::init(proc, |p: &Proc| &p.code, entry).map_err(|e| e.to_string())?;
            }

            // SAFETY: the thunk is compiled with the `Entry` signature.
            let thunk = unsafe { object.function::<Entry>(&compiled.thunk) }
                .ok_or("internal error: no thunk")?;
            // `v` is a value held in a local of this registered thread.
            let v = thunk.call_with::<heap::Lisp>(t, &mut ctx, (0, 0, 0, 0, 0, 0));
            let printed = if let Some(e) = ctx.error.take() {
                // SAFETY: the error cell is a heap cell; `()` is an immediate.
                ctx.error_cell.with(|c: &Cell| unsafe { c.set(NIL) });
                Err(e)
            } else {
                Ok(match defined {
                    Some(name) => {
                        let cell = *cells.last().expect("the defined name's cell");
                        // SAFETY: `v` is a value (the thunk's result), held
                        // by this local; the cell is a heap cell.
                        cell.with(|c: &Cell| unsafe { c.set(v) });
                        name.to_owned()
                    }
                    None => heap::show(t, machine.fmt, v),
                })
            };
            Ok::<_, String>((printed, object))
        })?;
        match (own, own_entry) {
            (Some(key), Some(entry)) => {
                // Holding the object keeps the entry's name defined; the
                // previous definition's object is dropped here.
                self.objects.insert(entry.clone(), (object, false));
                self.direct.insert(key, entry);
            }
            // Otherwise the object is dropped: its code lives on while
            // procedures (closures, globals) or other code refer to it.
            _ => drop(object),
        }
        printed
    }
}

/// Collects, then reports what the collector did to code (and the heap).
pub fn stats(m: &Machine<'_>) -> Result<String, String> {
    m.arena.collect().map_err(|e| e.to_string())?;
    let census = m.code.census();
    m.arena.release();
    let census = census.map_err(|e| e.to_string())?;
    let s = m.code.stats();
    let c = s.collector;
    Ok(format!(
        "code objects: {} installed ({} bytes), {} alive after a full collection, {} freed ({} bytes)\n\
         collector: {} code objects moved ({} bytes), {} relinked ({} relocations), {} collections\n\
         redefinitions relinked at a safe point: {}\n\
         heap: {} bytes in the AMC pool",
        s.installed.objects,
        s.installed.total_bytes,
        census.objects.objects,
        c.objects_freed,
        c.bytes_freed,
        c.objects_moved,
        c.bytes_moved,
        c.objects_relinked,
        c.sites_relinked,
        m.arena.collections(),
        s.redefinitions,
        m.heap.total_size(),
    ))
}

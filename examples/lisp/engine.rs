//! A Lisp instance: compiles each top-level form, installs it in the code
//! pool, runs it, and keeps the global cells.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::{CodePtr, Env};
use mps::{Handle, Scope};

use crate::compile::compile;
use crate::heap::{self, Cell, Ctx, Entry, Heap, Machine, Proc, CELL_VALUE, NIL};
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
    /// `t` while a runtime error is pending (see [`Ctx::error_cell`]).
    error_cell: Handle<'s, Heap>,
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
            error_cell,
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
        let prefix = format!("lisp{}_{}", self.id, self.forms);
        self.forms += 1;
        let compiled = compile(&expr, &prefix, self.machine.code.delta())?;
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
        for name in compiled.globals.iter().chain(&defined) {
            let cell = match self.globals.get(name) {
                Some(&cell) => cell,
                None => {
                    let cell = scope
                        .alloc(&mut ctx.ap, Cell::new())
                        .map_err(|e| format!("out of memory: {e}"))?;
                    self.globals.insert(name.clone(), cell);
                    cell
                }
            };
            cells.push(cell);
        }

        scope.scope(|t| {
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

            let context = Context::create();
            let buffer =
                MemoryBuffer::create_from_memory_range_copy(compiled.ir.as_bytes(), &prefix);
            let module = context
                .create_module_from_ir(buffer)
                .map_err(|e| format!("internal error: bad IR: {e}\n{}", compiled.ir))?;
            let object = machine
                .code
                .install_module(&module, &env)
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
            // The object is dropped here: its code lives on while procedures
            // (closures, globals) or other code refer to it.
            drop(object);
            if let Some(e) = ctx.error.take() {
                // SAFETY: the error cell is a heap cell; `()` is an immediate.
                ctx.error_cell.with(|c: &Cell| unsafe { c.set(NIL) });
                return Err(e);
            }
            match defined {
                Some(name) => {
                    let cell = *cells.last().expect("the defined name's cell");
                    // SAFETY: `v` is a value (the thunk's result), held by
                    // this local; the cell is a heap cell.
                    cell.with(|c: &Cell| unsafe { c.set(v) });
                    Ok(name)
                }
                None => Ok(heap::show(t, machine.fmt, v)),
            }
        })
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
        m.heap.total_size(),
    ))
}

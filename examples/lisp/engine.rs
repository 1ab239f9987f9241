//! A Lisp instance: compiles each top-level form, installs it in the code
//! pool, runs it, and keeps the global cells.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::Env;
use mps::{Handle, Scope};

use crate::compile::compile;
use crate::heap::{self, runtime, Cell, Entry, Heap, Lambda, CELL_VALUE};
use crate::lang;
use crate::reader::Sexp;

/// A Lisp instance on the current thread, which must be inside
/// [`codepool::CodePool::with_jit_thread`] for the runtime's code pool;
/// `'s` is that scope's lifetime (the global cells are its handles).
pub struct Lisp<'s> {
    /// Makes entry-point names unique in the shared code pool.
    id: usize,
    forms: usize,
    globals: HashMap<String, Handle<'s, Heap>>,
}

impl<'s> Lisp<'s> {
    /// A new instance with no globals.
    ///
    /// # Panics
    ///
    /// If this thread already has a Lisp instance.
    pub fn new() -> Result<Lisp<'s>, mps::Error> {
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        heap::enter_context()?;
        Ok(Lisp {
            id: INSTANCES.fetch_add(1, Ordering::Relaxed),
            forms: 0,
            globals: HashMap::new(),
        })
    }

    fn cell(&mut self, scope: &mut Scope<'s>, name: &str) -> Result<Handle<'s, Heap>, String> {
        if let Some(&h) = self.globals.get(name) {
            return Ok(h);
        }
        let h = heap::alloc_cell(scope).map_err(|e| format!("out of memory: {e}"))?;
        self.globals.insert(name.to_owned(), h);
        Ok(h)
    }

    /// Evaluates one top-level form and returns what to print: the value,
    /// or the name a `define` bound. `(gc-stats)` collects and returns the
    /// collector's statistics.
    pub fn eval(&mut self, scope: &mut Scope<'s>, form: &Sexp) -> Result<String, String> {
        if form == &Sexp::List(vec![Sexp::Sym("gc-stats".into())]) {
            return stats();
        }
        let (defined, expr) = match lang::definition(form)? {
            Some((name, expr)) => (Some(name), expr),
            None => (None, form.clone()),
        };
        let prefix = format!("lisp{}_{}", self.id, self.forms);
        self.forms += 1;
        let first_lambda = heap::next_lambda();
        let compiled = compile(&expr, &prefix, first_lambda)?;

        let mut env = Env::new();
        heap::bind_runtime(&mut env);
        for (i, name) in compiled.globals.iter().enumerate() {
            let cell = self.cell(scope, name)?;
            env.heap(format!("g{i}"), cell, CELL_VALUE);
        }
        let target = match &defined {
            Some(name) => Some(self.cell(scope, name)?),
            None => None,
        };

        let context = Context::create();
        let buffer = MemoryBuffer::create_from_memory_range_copy(compiled.ir.as_bytes(), &prefix);
        let module = context
            .create_module_from_ir(buffer)
            .map_err(|e| format!("internal error: bad IR: {e}\n{}", compiled.ir))?;
        let object = runtime()
            .code
            .install_module(&module, &env)
            .map_err(|e| format!("cannot install the code: {e}"))?;
        let object = Rc::new(object);
        heap::add_lambdas(compiled.lambdas.iter().map(|(name, arity)| Lambda {
            object: object.clone(),
            name: name.clone(),
            arity: *arity,
        }));

        // SAFETY: the thunk is compiled with the `Entry` signature.
        let thunk = unsafe { object.function::<Entry>(&compiled.thunk) }
            .ok_or("internal error: no thunk")?;
        // `v` is a value held in a local of this registered thread.
        let v = thunk.call((0, 0, 0, 0, 0));
        if let Some(e) = heap::take_error() {
            return Err(e);
        }
        match (defined, target) {
            (Some(name), Some(cell)) => {
                cell.with(|c: &Cell| c.set(v));
                Ok(name)
            }
            _ => Ok(heap::show(v)),
        }
    }
}

impl Drop for Lisp<'_> {
    fn drop(&mut self) {
        heap::leave_context();
    }
}

/// Collects, then reports what the collector did to code (and the heap).
pub fn stats() -> Result<String, String> {
    let rt = runtime();
    rt.arena.collect().map_err(|e| e.to_string())?;
    let census = rt.code.census();
    rt.arena.release();
    let census = census.map_err(|e| e.to_string())?;
    let s = rt.code.stats();
    let c = s.collector;
    Ok(format!(
        "code objects: {} installed ({} bytes), {} held, {} alive after a full collection, {} freed\n\
         collector: {} code objects moved ({} bytes), {} relinked ({} relocations), {} collections\n\
         heap: {} bytes in the AMC pool",
        s.installed.objects,
        s.installed.total_bytes,
        s.held.objects,
        census.objects.objects,
        s.installed.objects - census.objects.objects,
        c.objects_moved,
        c.bytes_moved,
        c.objects_relinked,
        c.sites_relinked,
        rt.arena.collections(),
        rt.heap.total_size(),
    ))
}

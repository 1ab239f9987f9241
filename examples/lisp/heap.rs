//! The data model: tagged values, heap objects in an AMC pool, and the
//! runtime functions JIT code calls (they allocate in the heap).
//!
//! # Values
//!
//! A value is one 64-bit word, the same in JIT code, in runtime functions
//! and in heap objects:
//!
//! | word | value |
//! |---|---|
//! | `n << 1 \| 1` | the fixnum `n` (63 bits) |
//! | `0` | `()`, also false |
//! | `id << 3 \| 2` | the symbol number `id` (interned; `t` is number 0) |
//! | `4` | "unbound", the contents of a global cell before its `define` |
//! | other multiples of 8 | the address of a heap object |
//!
//! # Heap objects
//!
//! Objects live in one AMC pool (moving, generational). Each starts with a
//! header word, `(size in words << 8) | kind`:
//!
//! - cons: `[header, car, cdr, 0]`;
//! - closure: `[header, lambda number (fixnum), free variable values...]`;
//! - global cell: `[header, value]`; JIT code reads a global by loading
//!   the word at `cell + 8`, which it finds through a *heap constant* of
//!   the code pool (the code object refers to the cell, keeps it alive and
//!   is relinked when it moves);
//! - forwarding marker `[header, new address]` and pad `[header, ...]`.
//!
//! The format's scan fixes every word that holds a heap address.
//!
//! # Why raw values are safe here
//!
//! JIT code keeps values in registers and in its stack frames. The
//! threads that run it are registered with the arena, and their stacks and
//! registers are ambiguous roots: a word there that points to (or into) a
//! heap object pins it, so it neither dies nor moves while the word is
//! there. The runtime functions below and the printer follow the same
//! rule: they hold values only in locals of a registered thread, never in
//! Rust heap memory, and they read an object only while a local holds its
//! address. Values that must outlive a call (globals) live in global cells,
//! held by handles (exact roots). That is the mostly-copying discipline the
//! collector is built for; `unsafe` below is confined to reading and
//! initialising objects under it, each block argued.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use codepool::{CodeObject, CodePool, CodePoolOptions};
use mps::{Amc, AmcClass, Ap, Arena, Error, Format, Handle, Object, PoolOptions, ScanState, Scope};

use crate::lang::MAX_DEPTH;

/// `()`.
pub const NIL: u64 = 0;
/// The symbol `t`.
pub const T: u64 = 2;
/// The contents of an unbound global cell.
pub const UNBOUND: u64 = 4;

const CONS: u64 = 1;
const CLOSURE: u64 = 2;
const CELL: u64 = 3;
const FORWARD: u64 = 4;
const PAD: u64 = 5;
const WORD: usize = 8;

/// The fixnum `n` (wrapped to 63 bits).
pub fn fixnum(n: i64) -> u64 {
    ((n << 1) | 1) as u64
}

/// The integer of a fixnum word.
pub fn fixnum_value(v: u64) -> Option<i64> {
    (v & 1 == 1).then_some((v as i64) >> 1)
}

/// Does `v` hold a heap address?
pub fn is_pointer(v: u64) -> bool {
    v != 0 && v & 7 == 0
}

fn header(kind: u64, words: usize) -> u64 {
    ((words as u64) << 8) | kind
}

// ---------------------------------------------------------------------------
// Symbols: interned names, numbered.

fn symbols() -> &'static Mutex<Vec<String>> {
    static SYMBOLS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SYMBOLS.get_or_init(|| Mutex::new(vec!["t".to_owned()]))
}

/// The symbol named `name`.
pub fn symbol(name: &str) -> u64 {
    let mut table = symbols().lock().unwrap_or_else(|e| e.into_inner());
    let id = match table.iter().position(|s| s == name) {
        Some(id) => id,
        None => {
            table.push(name.to_owned());
            table.len() - 1
        }
    };
    ((id as u64) << 3) | 2
}

fn symbol_name(v: u64) -> String {
    let table = symbols().lock().unwrap_or_else(|e| e.into_inner());
    table
        .get((v >> 3) as usize)
        .cloned()
        .unwrap_or_else(|| "#<bad symbol>".into())
}

// ---------------------------------------------------------------------------
// The format.

/// The heap's object format.
pub enum Heap {}

/// The header of the block at `p`.
///
/// # Safety
///
/// `p` is an object, pad or forwarding marker of the `Heap` format.
unsafe fn header_at(p: NonNull<u8>) -> u64 {
    // SAFETY: all of them start with a header word.
    unsafe { p.cast::<u64>().read() }
}

/// Fixes the value word at `p` if it holds a heap address.
///
/// # Safety
///
/// `p` is a value word of an object being scanned.
unsafe fn fix_value(ss: &mut ScanState<'_>, p: *mut u64) -> Result<(), Error> {
    // SAFETY: the caller's contract.
    let v = unsafe { p.read() };
    if is_pointer(v) && ss.fix1(v as usize) {
        let mut r = v as *mut u8;
        // SAFETY: `r` is a reference of a scanned object, fixed in place.
        unsafe { ss.fix2(&mut r)? };
        // SAFETY: as above; the collector has the world stopped.
        unsafe { p.write(r as u64) };
    }
    Ok(())
}

// SAFETY: the header sizes every object, pad and marker; scan fixes every
// value word of conses, closures and cells (only words holding addresses,
// see `is_pointer`); every object has at least two words, enough for a
// forwarding marker, and a pad may be one word.
unsafe impl Format for Heap {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        let mut p = base;
        while p < limit {
            // SAFETY: `[base, limit)` is a run of blocks of this format.
            let h = unsafe { header_at(p) };
            let words = (h >> 8) as usize;
            let fields = match h & 0xff {
                CONS => 1..3,
                CLOSURE => 2..words,
                CELL => 1..2,
                _ => 0..0,
            };
            for i in fields {
                // SAFETY: word `i` of the object is one of its value words.
                unsafe { fix_value(ss, p.cast::<u64>().as_ptr().add(i))? };
            }
            // SAFETY: the next block starts where this one ends.
            p = unsafe { p.add(words * WORD) };
        }
        Ok(())
    }

    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block is (header >> 8) words long.
        unsafe { p.add((header_at(p) >> 8) as usize * WORD) }
    }

    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: the object at `old` has been copied and has two words.
        unsafe {
            let words = (header_at(old) >> 8) as usize;
            old.cast::<[u64; 2]>()
                .write([header(FORWARD, words), new.as_ptr() as u64]);
        }
    }

    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: a marker's second word is the new address.
        unsafe {
            if header_at(p) & 0xff == FORWARD {
                NonNull::new(p.cast::<*mut u8>().add(1).read())
            } else {
                None
            }
        }
    }

    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector hands us `size` bytes at `base`.
        unsafe { base.cast::<u64>().write(header(PAD, size / WORD)) }
    }
}

/// A global cell, the one object Rust code handles through the safe API.
#[repr(C)]
pub struct Cell {
    header: u64,
    value: AtomicU64,
}

impl Cell {
    /// A cell holding "unbound".
    pub fn new() -> Cell {
        Cell {
            header: header(CELL, 2),
            value: AtomicU64::new(UNBOUND),
        }
    }

    /// Sets its value. `v` must be a value (see the module docs) held by
    /// the caller in a local, as every value is.
    pub fn set(&self, v: u64) {
        self.value.store(v, Ordering::Relaxed)
    }
}

/// The offset of a cell's value, where heap constants point.
pub const CELL_VALUE: u32 = 8;

// SAFETY: CELL headers mark cells; `Cell::new` makes a well-formed one of
// alloc_size::<Cell>() = 16 bytes, whose value word the format scans.
unsafe impl Object for Cell {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        // SAFETY: `p` is an object of this format.
        unsafe { header_at(p) & 0xff == CELL }
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Cell> {
        p.cast()
    }
}

// ---------------------------------------------------------------------------
// The process's collector: one arena, one heap pool, one code pool.

/// The arena, the heap pool and the code pool, made once per process and
/// never destroyed (runtime functions reach them from any thread).
pub struct Runtime {
    /// The arena.
    pub arena: &'static Arena,
    /// The heap (AMC).
    pub heap: Amc<'static, Heap>,
    /// The code pool.
    pub code: &'static CodePool<'static>,
}

/// The process's runtime.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let build = || -> Result<Runtime, Error> {
            let arena: &'static Arena =
                Box::leak(Box::new(Arena::builder().arena_size(256 << 20).build()?));
            let fmt = arena.format::<Heap>()?;
            let heap = arena.amc(fmt, &PoolOptions::default())?;
            let code = Box::leak(Box::new(CodePool::new(arena, &CodePoolOptions::default())?));
            Ok(Runtime { arena, heap, code })
        };
        build().unwrap_or_else(|e| {
            eprintln!("lisp: cannot set up the collector: {e}");
            std::process::exit(2)
        })
    })
}

// ---------------------------------------------------------------------------
// The per-thread context of runtime functions.

/// What every compiled procedure is called as: the closure (or 0 for a
/// top-level form) and four arguments (unused ones are 0).
pub type Entry = extern "C" fn(u64, u64, u64, u64, u64) -> u64;

/// A compiled lambda: the code object holding it, its entry, its arity.
pub struct Lambda {
    /// The code object (shared by the lambdas of one top-level form).
    pub object: Rc<CodeObject<'static>>,
    /// Its entry point's name.
    pub name: String,
    /// Its number of parameters.
    pub arity: usize,
}

/// A thread's context: its allocation point, the lambdas compiled on it
/// (numbered; closures hold the number), the error raised by a runtime
/// function, and the call depth.
struct Context {
    ap: Ap<'static, Heap, AmcClass>,
    lambdas: Vec<Lambda>,
    error: Option<String>,
    depth: usize,
}

std::thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

fn with_context<R>(f: impl FnOnce(&mut Context) -> R) -> R {
    CONTEXT.with(|c| {
        f(c.borrow_mut()
            .as_mut()
            .expect("lisp: runtime function called outside a Lisp instance"))
    })
}

/// Sets up this thread's context (once per Lisp instance).
pub fn enter_context() -> Result<(), Error> {
    let ap = runtime().heap.ap()?;
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        assert!(c.is_none(), "lisp: one Lisp instance per thread at a time");
        *c = Some(Context {
            ap,
            lambdas: Vec::new(),
            error: None,
            depth: 0,
        });
    });
    Ok(())
}

/// Ends this thread's context: its lambdas' code objects are dropped (the
/// collector frees them once no code and no closure is running them).
pub fn leave_context() {
    let old = CONTEXT.with(|c| c.borrow_mut().take());
    drop(old);
}

/// The number the next lambda registered will get.
pub fn next_lambda() -> usize {
    with_context(|c| c.lambdas.len())
}

/// Registers compiled lambdas, numbered from [`next_lambda`].
pub fn add_lambdas(lambdas: impl IntoIterator<Item = Lambda>) {
    with_context(|c| c.lambdas.extend(lambdas))
}

/// A new global cell (unbound), held by a handle of `scope`.
pub fn alloc_cell<'s>(scope: &mut Scope<'s>) -> Result<Handle<'s, Heap>, Error> {
    with_context(|c| scope.alloc(&mut c.ap, Cell::new()))
}

/// Takes the error a runtime function raised, if any.
pub fn take_error() -> Option<String> {
    with_context(|c| {
        c.depth = 0;
        c.error.take()
    })
}

fn raise(message: String) -> u64 {
    with_context(|c| {
        c.error.get_or_insert(message);
    });
    NIL
}

fn error_pending() -> bool {
    with_context(|c| c.error.is_some())
}

/// Allocates an object of `words` words, built by `init` (which gets the
/// words; it runs again if a collection voids the first block).
fn alloc(words: usize, mut init: impl FnMut(&mut [u64])) -> u64 {
    with_context(|c| {
        // SAFETY: `words * 8` is a non-zero multiple of the format's
        // alignment (8); `init` fills every word, leaving a well-formed
        // object whose value words are values held by the caller's locals
        // (so live and pinned); the result is returned to the caller, who
        // holds it in a local or register of this registered thread before
        // the collector can run again, which pins it.
        let r = unsafe {
            c.ap.alloc(words * WORD, |base| {
                // SAFETY: the block of `words` words was just reserved for us.
                let block = std::slice::from_raw_parts_mut(base.cast::<u64>().as_ptr(), words);
                init(block)
            })
        };
        match r {
            Ok(p) => p.as_ptr() as u64,
            Err(e) => {
                c.error.get_or_insert(format!("out of memory: {e}"));
                NIL
            }
        }
    })
}

/// The words of the heap object `v` refers to.
///
/// # Safety
///
/// `v` is a heap address that a local of this registered thread holds for
/// as long as the result is used (so the object is alive and pinned).
unsafe fn words<'v>(v: u64) -> &'v [u64] {
    let p = v as *const u64;
    // SAFETY: the caller's contract; the header gives the length.
    unsafe { std::slice::from_raw_parts(p, (p.read() >> 8) as usize) }
}

/// The kind of the object `v` refers to, if `v` is a heap address.
fn kind(v: u64) -> Option<u64> {
    // SAFETY: `v` is the caller's argument, in a local of this registered
    // thread (values are held nowhere else).
    is_pointer(v).then(|| unsafe { words(v) }[0] & 0xff)
}

/// Prints a value.
pub fn show(v: u64) -> String {
    let mut out = String::new();
    show_into(v, &mut out);
    out
}

fn show_into(v: u64, out: &mut String) {
    if let Some(n) = fixnum_value(v) {
        out.push_str(&n.to_string());
        return;
    }
    match (v, kind(v)) {
        (NIL, _) => out.push_str("()"),
        (UNBOUND, _) => out.push_str("#<unbound>"),
        (_, None) => out.push_str(&symbol_name(v)),
        (_, Some(CLOSURE)) => out.push_str("#<procedure>"),
        (_, Some(CONS)) => {
            out.push('(');
            let mut cur = v;
            let mut first = true;
            while kind(cur) == Some(CONS) {
                if !first {
                    out.push(' ');
                }
                first = false;
                // SAFETY: `cur` is a cons held in a local.
                let (car, cdr) = unsafe { (words(cur)[1], words(cur)[2]) };
                show_into(car, out);
                cur = cdr;
            }
            if cur != NIL {
                out.push_str(" . ");
                show_into(cur, out);
            }
            out.push(')');
        }
        (_, Some(k)) => out.push_str(&format!("#<object of kind {k}>")),
    }
}

// ---------------------------------------------------------------------------
// Runtime functions, called by JIT code (C calling convention; they never
// unwind: errors are recorded in the context and the value is `()`).

/// `(cons a d)`.
pub extern "C" fn rt_cons(a: u64, d: u64) -> u64 {
    alloc(4, |w| w.copy_from_slice(&[header(CONS, 4), a, d, 0]))
}

fn pair_field(op: &str, v: u64, i: usize) -> u64 {
    if kind(v) == Some(CONS) {
        // SAFETY: `v` is a cons, held in our caller's argument.
        unsafe { words(v)[i] }
    } else {
        raise(format!("{op}: not a pair: {}", show(v)))
    }
}

/// `(car v)`.
pub extern "C" fn rt_car(v: u64) -> u64 {
    pair_field("car", v, 1)
}

/// `(cdr v)`.
pub extern "C" fn rt_cdr(v: u64) -> u64 {
    pair_field("cdr", v, 2)
}

/// The slow path of arithmetic and comparisons (JIT code does fixnums
/// inline): an error naming the operator, whose symbol is `op`.
pub extern "C" fn rt_not_integers(op: u64, a: u64, b: u64) -> u64 {
    let bad = if a & 1 == 0 { a } else { b };
    raise(format!(
        "{}: not an integer: {}",
        symbol_name(op),
        show(bad)
    ))
}

/// A closure of lambda `lambda` with `free` free variables, all `()`: JIT
/// code stores their values right after.
pub extern "C" fn rt_make_closure(lambda: u64, free: u64) -> u64 {
    let words = 2 + free as usize;
    alloc(words, |w| {
        w.fill(NIL);
        w[0] = header(CLOSURE, words);
        w[1] = fixnum(lambda as i64);
    })
}

/// Reading a global whose cell is unbound: an error naming it.
pub extern "C" fn rt_unbound(name: u64) -> u64 {
    raise(format!("unbound variable {}", symbol_name(name)))
}

/// `(gc)`: a full collection, with this thread's JIT frames on the stack.
pub extern "C" fn rt_gc() -> u64 {
    let arena = runtime().arena;
    if let Err(e) = arena.collect() {
        return raise(format!("gc: {e}"));
    }
    arena.release();
    NIL
}

/// Calls procedure `f` with `argc` arguments.
pub extern "C" fn rt_apply(f: u64, argc: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    if error_pending() {
        // Unwind quickly: every call returns at once after an error.
        return NIL;
    }
    if kind(f) != Some(CLOSURE) {
        return raise(format!("not a procedure: {}", show(f)));
    }
    // SAFETY: `f` is a closure, held in our argument.
    let number = fixnum_value(unsafe { words(f)[1] }).unwrap_or(-1) as usize;
    let found = with_context(|c| {
        if c.depth >= MAX_DEPTH {
            return Err("recursion too deep".to_owned());
        }
        let l = c.lambdas.get(number).ok_or("bad closure")?;
        if l.arity != argc as usize {
            return Err(format!("wrong number of arguments: {argc} for {}", l.arity));
        }
        c.depth += 1;
        Ok((l.object.clone(), l.name.clone()))
    });
    let (object, name) = match found {
        Ok(found) => found,
        Err(e) => return raise(e),
    };
    // SAFETY: every lambda's entry is compiled with the `Entry` signature
    // (see `compile`).
    let entry = unsafe { object.function::<Entry>(&name) };
    let r = match entry {
        Some(entry) => entry.call((f, a0, a1, a2, a3)),
        None => raise(format!("no entry {name}")),
    };
    with_context(|c| c.depth -= 1);
    r
}

/// The runtime functions, by the names compiled code uses.
pub fn bind_runtime(env: &mut codepool::Env<'_>) {
    env.function("rt_cons", rt_cons as extern "C" fn(u64, u64) -> u64)
        .function("rt_car", rt_car as extern "C" fn(u64) -> u64)
        .function("rt_cdr", rt_cdr as extern "C" fn(u64) -> u64)
        .function(
            "rt_not_integers",
            rt_not_integers as extern "C" fn(u64, u64, u64) -> u64,
        )
        .function(
            "rt_make_closure",
            rt_make_closure as extern "C" fn(u64, u64) -> u64,
        )
        .function("rt_unbound", rt_unbound as extern "C" fn(u64) -> u64)
        .function("rt_gc", rt_gc as extern "C" fn() -> u64)
        .function(
            "rt_apply",
            rt_apply as extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64,
        );
}

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
//! | `2` | `t` |
//! | `4` | "unbound", the contents of a global cell before its `define` |
//! | other multiples of 8 | the address of a heap object |
//!
//! # Heap objects
//!
//! Objects live in one AMC pool (moving, generational). Each starts with a
//! header word, `(size in words << 8) | kind`:
//!
//! - cons: `[header, car, cdr, 0]`;
//! - procedure: `[header, code, arity]`, one per `lambda` expression,
//!   made when its form is installed; `code` is a [`CodePtr`] to the
//!   lambda's entry point (it keeps the code object alive and follows it);
//! - closure: `[header, procedure, free variable values...]`;
//! - symbol: `[header, number]`, one per name and Lisp instance (the
//!   name is in a table of the process, by number);
//! - global cell: `[header, value]`; JIT code reads a global by loading
//!   the word at `cell + 8`, which it finds through a *heap constant* of
//!   the code pool (the code object refers to the cell, keeps it alive and
//!   is relinked when it moves);
//! - forwarding marker `[header, new address]` and pad `[header, ...]`.
//!
//! The format's scan fixes every value word that holds a heap address,
//! and the procedures' code pointers.
//!
//! # Why raw values are safe here
//!
//! JIT code keeps values in registers and in its stack frames. The
//! threads that run it are registered with the arena, and their stacks and
//! registers are ambiguous roots: a word there that points to (or into) a
//! heap object pins it, so it neither dies nor moves while the word is
//! there. The runtime functions below run inside a call into JIT code that
//! lent them the thread's scope and a [`Ctx`] (`CodeRef::call_with`,
//! `codepool::runtime`): they turn the values JIT code passes into
//! handles (`runtime::handle_from_jit`), allocate through the lent
//! allocation point, and return new objects as addresses, which the
//! caller's frame then holds. Values that must outlive a form (globals)
//! live in global cells, held by handles (exact roots). That is the
//! mostly-copying discipline the collector is built for; `unsafe` below is
//! confined to storing value words (the safe layer knows only untagged
//! references), to vouching that a value JIT code passed is an object's
//! address (`handle_from_jit`), and to the format, each block argued.

use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use codepool::runtime::{self, handle_from_jit, Runtime};
use codepool::{CodePool, CodePoolOptions, CodePtr};
use mps::{
    Amc, AmcClass, Ap, Arena, Error, Fmt, Format, Handle, Object, PoolOptions, Ref, ScanState,
    Scope,
};

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
const PROC: u64 = 6;
const SYMBOL: u64 = 7;
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

/// The number of the symbol named `name`.
pub fn symbol(name: &str) -> u64 {
    let mut table = symbols().lock().unwrap_or_else(|e| e.into_inner());
    let id = match table.iter().position(|s| s == name) {
        Some(id) => id,
        None => {
            table.push(name.to_owned());
            table.len() - 1
        }
    };
    id as u64
}

fn symbol_name(id: u64) -> String {
    let table = symbols().lock().unwrap_or_else(|e| e.into_inner());
    table
        .get(id as usize)
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
// see `is_pointer`) and the code pointer of procedures; every object has
// at least two words, enough for a forwarding marker, and a pad may be
// one word.
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
            let values = match h & 0xff {
                CONS => 1..3,
                CLOSURE => 1..words,
                CELL => 1..2,
                PROC => {
                    // SAFETY: a procedure, per its tag.
                    unsafe { p.cast::<Proc>().as_ref() }.code.fix(ss)?;
                    0..0
                }
                _ => 0..0,
            };
            for i in values {
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

/// Stores value `v` in the value word `field` of a heap object.
///
/// # Safety
///
/// `field` is a value word of a live heap object (the format fixes it),
/// and `v` is a value: an immediate, which the format's scan skips, or the
/// client pointer of a live object of the heap, held by the caller (a
/// local of this registered thread, which pins it) until the store is
/// done. Value words are read only with `Ref::load_raw`, never through
/// `Handle::get`.
unsafe fn store_value(field: &Ref, v: u64) {
    // SAFETY: the caller's contract is `Ref::store_raw`'s, immediates
    // included: this format's scan skips them, and value words are read
    // only with `load_raw`.
    unsafe { field.store_raw(v as *mut u8) }
}

/// A global cell.
#[repr(C)]
pub struct Cell {
    header: u64,
    value: Ref,
}

impl Cell {
    /// A cell holding "unbound".
    pub fn new() -> Cell {
        let cell = Cell::nil();
        // SAFETY: `UNBOUND` is an immediate; the cell is not in the heap yet.
        unsafe { store_value(&cell.value, UNBOUND) };
        cell
    }

    /// A cell holding `()`.
    pub fn nil() -> Cell {
        Cell {
            header: header(CELL, 2),
            value: Ref::null(),
        }
    }

    /// Sets its value.
    ///
    /// # Safety
    ///
    /// As for [`store_value`]: `self` is in the heap, `v` a value the
    /// caller holds.
    pub unsafe fn set(&self, v: u64) {
        // SAFETY: the caller's contract.
        unsafe { store_value(&self.value, v) }
    }
}

/// The offset of a cell's value, where heap constants point.
pub const CELL_VALUE: u32 = 8;

/// A pair.
#[repr(C)]
struct Cons {
    header: u64,
    car: Ref,
    cdr: Ref,
    pad: u64,
}

/// A procedure: the code of one `lambda`, and its arity.
#[repr(C)]
pub struct Proc {
    header: u64,
    /// Its entry point (set once, after its form is installed).
    pub code: CodePtr<Entry>,
    arity: u64,
}

// JIT code reads a procedure's fields at these offsets (`compile.rs`): the
// code object's address at 8, the entry offset (u32) at 16, the arity at 24.
const _: () = assert!(std::mem::offset_of!(Proc, code) == 8);
const _: () = assert!(std::mem::offset_of!(Proc, arity) == 24);
const _: () = assert!(std::mem::size_of::<Proc>() == 32);

impl Proc {
    /// A procedure of `arity` parameters, without code yet.
    pub fn new(arity: usize) -> Proc {
        Proc {
            header: header(PROC, 4),
            code: CodePtr::null(),
            arity: arity as u64,
        }
    }
}

/// A symbol: its number in the process's table of names.
#[repr(C)]
pub struct Sym {
    header: u64,
    id: u64,
}

impl Sym {
    /// The symbol named `name`.
    pub fn new(name: &str) -> Sym {
        Sym {
            header: header(SYMBOL, 2),
            id: symbol(name),
        }
    }
}

/// What of a closure Rust reads: its tag and procedure.
#[repr(C)]
struct ClosureHead {
    header: u64,
    proc: Ref,
}

macro_rules! object {
    ($t:ty, $kind:expr) => {
        // SAFETY: objects of this kind start with this layout and are at
        // least as long; is_instance reads only the header; the value
        // words are `Ref`s the format fixes (holding immediates or
        // addresses), a procedure's `CodePtr` is fixed too, and the values
        // safe code can construct (`Cell::new`, `Proc::new`, and conses
        // with null fields) are well-formed objects of `alloc_size` bytes.
        unsafe impl Object for $t {
            type Format = Heap;
            unsafe fn is_instance(p: NonNull<u8>) -> bool {
                // SAFETY: `p` is an object of this format.
                unsafe { header_at(p) & 0xff == $kind }
            }
            unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
                p.cast()
            }
        }
    };
}

object!(Cell, CELL);
object!(Cons, CONS);
object!(Proc, PROC);
object!(ClosureHead, CLOSURE);
object!(Sym, SYMBOL);

// ---------------------------------------------------------------------------
// The collector's objects for one process or test.

/// What every compiled procedure is: `f(closure, depth, a0, a1, a2, a3)`
/// (a top-level form's thunk gets closure 0; unused arguments are 0).
pub type Entry = extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64;

/// The arena's heap and code pools.
pub struct Machine<'a> {
    /// The arena.
    pub arena: &'a Arena,
    /// The heap format.
    pub fmt: Fmt<'a, Heap>,
    /// The heap (AMC).
    pub heap: Amc<'a, Heap>,
    /// The code pool.
    pub code: CodePool<'a>,
}

impl<'a> Machine<'a> {
    /// Creates the pools in `arena`.
    pub fn new(arena: &'a Arena) -> Result<Machine<'a>, Error> {
        let fmt = arena.format::<Heap>()?;
        let heap = arena.amc(fmt, &PoolOptions::default())?;
        let code = CodePool::new(arena, &CodePoolOptions::default())?;
        Ok(Machine {
            arena,
            fmt,
            heap,
            code,
        })
    }
}

// ---------------------------------------------------------------------------
// What a call into JIT code lends its runtime functions.

/// The runtime, for `codepool::runtime::with`.
pub enum Lisp {}

impl Runtime for Lisp {
    type Data<'a> = Ctx<'a>;
}

/// The data lent to runtime functions for one top-level form.
pub struct Ctx<'a> {
    /// The arena (for `(gc)`).
    pub arena: &'a Arena,
    /// The heap format (to turn values into handles).
    pub fmt: Fmt<'a, Heap>,
    /// Where runtime functions allocate.
    pub ap: Ap<'a, Heap, AmcClass>,
    /// The instance's error cell: `t` while an error is pending; compiled
    /// code reads it at every procedure entry and returns at once.
    pub error_cell: Handle<'a, Heap>,
    /// The first error raised.
    pub error: Option<String>,
}

/// Runs `f` with the lent scope and context, or returns `default` when
/// nothing is lent (a runtime function called outside `call_with`).
fn with_ctx<T>(default: T, f: impl for<'s, 'd> FnOnce(&mut Scope<'s>, &mut Ctx<'d>) -> T) -> T {
    runtime::with::<Lisp, T>(f).unwrap_or(default)
}

/// Records an error (the first one stays) and returns `()`.
fn raise(ctx: &mut Ctx<'_>, message: String) -> u64 {
    ctx.error.get_or_insert(message);
    // SAFETY: the error cell is a heap cell; `T` is an immediate.
    ctx.error_cell.with(|c: &Cell| unsafe { c.set(T) });
    NIL
}

/// Prints a value.
pub fn show(scope: &mut Scope<'_>, fmt: Fmt<'_, Heap>, v: u64) -> String {
    let mut out = String::new();
    show_into(scope, fmt, v, &mut out);
    out
}

fn show_into(scope: &mut Scope<'_>, fmt: Fmt<'_, Heap>, v: u64, out: &mut String) {
    if let Some(n) = fixnum_value(v) {
        out.push_str(&n.to_string());
        return;
    }
    match v {
        NIL => return out.push_str("()"),
        T => return out.push('t'),
        UNBOUND => return out.push_str("#<unbound>"),
        _ if !is_pointer(v) => return out.push_str("#<bad value>"),
        _ => {}
    }
    scope.scope(|s| {
        // SAFETY: `v` is a value (an object's address or an immediate)
        // that our caller holds in a local: pinned if an object.
        let Some(h) = (unsafe { handle_from_jit(s, fmt, v as usize) }) else {
            return out.push_str("#<not a heap object>");
        };
        if h.is::<ClosureHead>() {
            return out.push_str("#<procedure>");
        }
        if let Some(id) = h.try_with(|s: &Sym| s.id) {
            return out.push_str(&symbol_name(id));
        }
        if !h.is::<Cons>() {
            return out.push_str("#<object>");
        }
        out.push('(');
        loop {
            let (car, cdr) = h.with(|c: &Cons| (c.car.load_raw() as u64, c.cdr.load_raw() as u64));
            show_into(s, fmt, car, out);
            // SAFETY: `cdr` was loaded from the pair `h` holds (a value:
            // an object's address or an immediate), and is in a local
            // until `next` holds it: pinned if an object.
            match unsafe { handle_from_jit(s, fmt, cdr as usize) }.filter(|n| n.is::<Cons>()) {
                Some(next) => {
                    out.push(' ');
                    h.assign(next);
                }
                None if cdr == NIL => break,
                None => {
                    out.push_str(" . ");
                    show_into(s, fmt, cdr, out);
                    break;
                }
            }
        }
        out.push(')');
    })
}

// ---------------------------------------------------------------------------
// Runtime functions, called by JIT code (C calling convention; they never
// unwind: errors are recorded in the context and the value is `()`).

/// `(cons a d)`.
pub extern "C" fn rt_cons(a: u64, d: u64) -> u64 {
    with_ctx(NIL, |s, ctx| {
        let empty = Cons {
            header: header(CONS, 4),
            car: Ref::null(),
            cdr: Ref::null(),
            pad: 0,
        };
        match s.alloc(&mut ctx.ap, empty) {
            Ok(h) => {
                // SAFETY: the fields are value words of the new pair;
                // `a` and `d` are values JIT code passed (held in our
                // arguments, pinned).
                h.with(|c: &Cons| unsafe {
                    store_value(&c.car, a);
                    store_value(&c.cdr, d);
                });
                h.addr() as u64
            }
            Err(e) => raise(ctx, format!("out of memory: {e}")),
        }
    })
}

fn pair_field(op: &str, v: u64, car: bool) -> u64 {
    with_ctx(NIL, |s, ctx| {
        // SAFETY: `v` is a value JIT code passed (an object's address or
        // an immediate), held in our argument: pinned if an object.
        let field = unsafe { handle_from_jit(s, ctx.fmt, v as usize) }.and_then(|h| {
            h.try_with(|c: &Cons| if car { &c.car } else { &c.cdr }.load_raw() as u64)
        });
        match field {
            Some(x) => x,
            None => {
                let m = format!("{op}: not a pair: {}", show(s, ctx.fmt, v));
                raise(ctx, m)
            }
        }
    })
}

/// `(car v)`.
pub extern "C" fn rt_car(v: u64) -> u64 {
    pair_field("car", v, true)
}

/// `(cdr v)`.
pub extern "C" fn rt_cdr(v: u64) -> u64 {
    pair_field("cdr", v, false)
}

/// The slow path of arithmetic and comparisons (JIT code does fixnums
/// inline): an error naming the operator, whose symbol number is `op`.
pub extern "C" fn rt_not_integers(op: u64, a: u64, b: u64) -> u64 {
    with_ctx(NIL, |s, ctx| {
        let bad = if a & 1 == 0 { a } else { b };
        let m = format!(
            "{}: not an integer: {}",
            symbol_name(op),
            show(s, ctx.fmt, bad)
        );
        raise(ctx, m)
    })
}

/// A closure of procedure `proc` with `free` free variables, all `()`: JIT
/// code stores their values right after.
pub extern "C" fn rt_make_closure(proc: u64, free: u64) -> u64 {
    with_ctx(NIL, |s, ctx| {
        let words = 2 + free as usize;
        // SAFETY: the size is a non-zero multiple of the alignment (8);
        // `init` writes a well-formed closure whose words are values: the
        // procedure (an object JIT code passed, pinned by our argument) and
        // `()`.
        let r = unsafe {
            s.alloc_raw(&mut ctx.ap, words * WORD, |base| {
                let w = std::slice::from_raw_parts_mut(base.cast::<u64>().as_ptr(), words);
                w.fill(NIL);
                w[0] = header(CLOSURE, words);
                w[1] = proc;
            })
        };
        match r {
            Ok(h) => h.addr() as u64,
            Err(e) => raise(ctx, format!("out of memory: {e}")),
        }
    })
}

/// Reading a global whose cell is unbound: an error naming it (`name` is
/// its symbol number).
pub extern "C" fn rt_unbound(name: u64) -> u64 {
    with_ctx(NIL, |_, ctx| {
        raise(ctx, format!("unbound variable {}", symbol_name(name)))
    })
}

/// Calling something that is not a procedure.
pub extern "C" fn rt_not_procedure(f: u64) -> u64 {
    with_ctx(NIL, |s, ctx| {
        let m = format!("not a procedure: {}", show(s, ctx.fmt, f));
        raise(ctx, m)
    })
}

/// Calling a procedure with the wrong number of arguments.
pub extern "C" fn rt_arity(argc: u64, arity: u64) -> u64 {
    with_ctx(NIL, |_, ctx| {
        raise(
            ctx,
            format!("wrong number of arguments: {argc} for {arity}"),
        )
    })
}

/// A procedure entered too deep, or with an error pending.
pub extern "C" fn rt_stop() -> u64 {
    with_ctx(NIL, |_, ctx| raise(ctx, "recursion too deep".into()))
}

/// `(gc)`: a full collection, with this thread's JIT frames on the stack.
pub extern "C" fn rt_gc() -> u64 {
    with_ctx(NIL, |_, ctx| {
        if let Err(e) = ctx.arena.collect() {
            return raise(ctx, format!("gc: {e}"));
        }
        ctx.arena.release();
        NIL
    })
}

/// The runtime functions, by the names compiled code uses.
pub fn bind_runtime(env: &mut codepool::Env<'_>) {
    type F0 = extern "C" fn() -> u64;
    type F1 = extern "C" fn(u64) -> u64;
    type F2 = extern "C" fn(u64, u64) -> u64;
    type F3 = extern "C" fn(u64, u64, u64) -> u64;
    env.function("rt_cons", rt_cons as F2)
        .function("rt_car", rt_car as F1)
        .function("rt_cdr", rt_cdr as F1)
        .function("rt_not_integers", rt_not_integers as F3)
        .function("rt_make_closure", rt_make_closure as F2)
        .function("rt_unbound", rt_unbound as F1)
        .function("rt_not_procedure", rt_not_procedure as F1)
        .function("rt_arity", rt_arity as F2)
        .function("rt_stop", rt_stop as F0)
        .function("rt_gc", rt_gc as F0);
}

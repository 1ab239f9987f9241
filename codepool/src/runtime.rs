//! Runtime functions called from JIT code: the scope (and runtime data) of
//! the call that entered JIT code, reachable from an `extern "C"` function.
//!
//! JIT code calls runtime functions (bound with
//! [`Env::function`](crate::Env::function)) that often need the heap: a
//! `cons` allocates. An `extern "C" fn` receives only what the JIT code
//! passes, so the call into JIT code lends it the thread's [`Scope`] (and,
//! optionally, data of the runtime's own: typically its allocation points)
//! through a thread-local for the call's duration:
//!
//! - [`CodeRef::call_in`](crate::CodeRef::call_in) and
//!   [`CodePtr::call_in`](crate::CodePtr::call_in) lend a scope;
//!   [`CodeRef::call_with`](crate::CodeRef::call_with) and
//!   [`CodePtr::call_with`](crate::CodePtr::call_with) lend a scope and a
//!   `&mut R::Data<'_>` of a [`Runtime`] `R`;
//! - inside, a runtime function calls [`with_scope`] or [`with`], which
//!   hand it a *nested* scope (its handles are released when it returns)
//!   and the data. The lent scope is unavailable while they run (a second
//!   [`with_scope`] inside returns `None`) until JIT code is entered again
//!   with `call_in`, which lends the nested scope in turn.
//!
//! # What keeps objects passed to and from JIT code alive
//!
//! JIT code holds heap addresses in registers and in its frames: the
//! thread's code-aware root ([`CodePool::with_jit_thread`](crate::CodePool::with_jit_thread))
//! scans them as ambiguous references, which keep the objects alive and
//! **pin** them (they neither move nor die while the address is there).
//! So a runtime function returns a new object to JIT code as its address
//! ([`Handle::addr`](mps::Handle::addr)): the address stays in the
//! function's registers or stack until it returns, then in the JIT
//! frame's. Pools whose objects JIT code holds must keep objects in place
//! under interior references if the code keeps interior addresses (AMC's
//! default). An address passed by JIT code to a runtime function is turned
//! back into a handle with [`handle_from_jit`].
//!
//! ```
//! # #[cfg(feature = "llvm")] {
//! # if !mps::sys::EXTENSIONS { return Ok(()); }
//! use codepool::jit::inkwell::context::Context;
//! use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
//! use codepool::{runtime, CodePool, CodePoolOptions, Env};
//!
//! // A runtime function that uses the scope lent by `call_in`.
//! extern "C" fn rt_handles() -> i64 {
//!     runtime::with_scope(|scope| scope.len() as i64).unwrap_or(-1)
//! }
//!
//! let arena = mps::Arena::new()?;
//! let code = CodePool::new(&arena, &CodePoolOptions::default())?;
//! let context = Context::create();
//! let ir = "declare i64 @rt_handles()
//!           define i64 @f() {
//!             %n = call i64 @rt_handles()
//!             ret i64 %n
//!           }";
//! let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "m");
//! let module = context.create_module_from_ir(buffer)?;
//! code.with_jit_thread(|scope| -> Result<(), Box<dyn std::error::Error>> {
//!     let mut env = Env::new();
//!     env.function("rt_handles", rt_handles as extern "C" fn() -> i64);
//!     let object = code.install_module(&module, &env)?;
//!     // SAFETY: `f` is `i64 f(void)` with the C calling convention.
//!     let f = unsafe { object.function::<extern "C" fn() -> i64>("f") }.unwrap();
//!     assert_eq!(f.call_in(scope, ()), 0); // a fresh nested scope
//!     assert_eq!(f.call(()), -1); // no scope lent
//!     Ok(())
//! })??;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::any::TypeId;
use core::cell::Cell;
use core::ptr::{self, NonNull};

use mps::{Fmt, Format, Handle, Scope};

/// A runtime's data lent to its runtime functions for a call into JIT
/// code ([`CodeRef::call_with`](crate::CodeRef::call_with)): `Data<'a>`
/// may borrow (allocation points of the runtime's pools, say), which a
/// thread-local could not hold. `Self` is a marker type naming the
/// runtime; [`with`] finds the data by it.
pub trait Runtime: 'static {
    /// The data, with the lifetime of what it borrows.
    type Data<'a>;
}

/// What the innermost call into JIT code on this thread lent.
#[derive(Clone, Copy)]
struct Lent {
    /// The `&mut Scope<'_>`, or null.
    scope: *mut (),
    /// The `&mut R::Data<'_>`, or null.
    data: *mut (),
    /// `TypeId::of::<R>()` when `data` is set.
    runtime: Option<TypeId>,
}

const NOTHING: Lent = Lent {
    scope: ptr::null_mut(),
    data: ptr::null_mut(),
    runtime: None,
};

std::thread_local! {
    static LENT: Cell<Lent> = const { Cell::new(NOTHING) };
}

/// Restores what was lent before, when dropped (also on unwinding).
struct Restore(Lent);

impl Drop for Restore {
    fn drop(&mut self) {
        LENT.with(|l| l.set(self.0));
    }
}

/// Runs `f` (a call into JIT code) with `scope` lent.
#[inline]
pub(crate) fn enter<R>(scope: &mut Scope<'_>, f: impl FnOnce() -> R) -> R {
    let lent = Lent {
        scope: (scope as *mut Scope<'_>).cast(),
        ..NOTHING
    };
    let _restore = Restore(LENT.with(|l| l.replace(lent)));
    f()
}

/// Runs `f` (a call into JIT code) with `scope` and `data` lent.
#[inline]
pub(crate) fn enter_with<Rt: Runtime, R>(
    scope: &mut Scope<'_>,
    data: &mut Rt::Data<'_>,
    f: impl FnOnce() -> R,
) -> R {
    let lent = Lent {
        scope: (scope as *mut Scope<'_>).cast(),
        data: (data as *mut Rt::Data<'_>).cast(),
        runtime: Some(TypeId::of::<Rt>()),
    };
    let _restore = Restore(LENT.with(|l| l.replace(lent)));
    f()
}

/// Takes what is lent (leaving nothing lent until the guard is dropped).
fn take() -> (Lent, Restore) {
    let lent = LENT.with(|l| l.replace(NOTHING));
    (lent, Restore(lent))
}

/// The lent scope.
///
/// # Safety
///
/// `p` is non-null and was lent by `enter` or `enter_with`, whose frame
/// is still running below the caller, and nothing else uses the scope
/// while the result lives (it was taken from the thread-local).
unsafe fn lent_scope<'a>(p: *mut ()) -> &'a mut Scope<'a> {
    // SAFETY: the caller's guarantee: the `&mut Scope` given to `enter` is
    // exclusively borrowed by the call into JIT code, during which we run;
    // its thread outlives that call. The lifetime is shortened to the
    // caller's use, and `Scope::scope` below hands out only a nested scope
    // whose handles cannot leave the closure.
    unsafe { &mut *p.cast::<Scope<'a>>() }
}

/// Runs `f` with a nested scope of the scope lent by the innermost call
/// into JIT code on this thread ([`CodeRef::call_in`](crate::CodeRef::call_in)
/// and friends); its handles are released when `f` returns. `None` (and
/// `f` is not run) if nothing is lent: the thread is not inside such a
/// call, or already inside `with_scope` or [`with`] for it.
pub fn with_scope<T>(f: impl for<'s> FnOnce(&mut Scope<'s>) -> T) -> Option<T> {
    let (lent, _restore) = take();
    if lent.scope.is_null() {
        return None;
    }
    // SAFETY: lent by `enter*`, whose frame runs below us (the
    // thread-local holds it only meanwhile), and taken: nothing else
    // uses it until `_restore` puts it back.
    let scope = unsafe { lent_scope(lent.scope) };
    Some(scope.scope(f))
}

/// Runs `f` with a nested scope (as [`with_scope`]) and the data of
/// runtime `R` lent by the innermost call into JIT code on this thread
/// ([`CodeRef::call_with`](crate::CodeRef::call_with)). `None` if nothing
/// is lent, or it was lent for another runtime.
pub fn with<Rt: Runtime, T>(
    f: impl for<'s, 'd> FnOnce(&mut Scope<'s>, &mut Rt::Data<'d>) -> T,
) -> Option<T> {
    let (lent, _restore) = take();
    if lent.scope.is_null() || lent.runtime != Some(TypeId::of::<Rt>()) {
        return None;
    }
    // SAFETY: as in `with_scope`.
    let scope = unsafe { lent_scope(lent.scope) };
    // SAFETY: `data` was lent with `scope` by `enter_with::<Rt>` (the type
    // id matches) from a `&mut Rt::Data<'a>` exclusively borrowed by the
    // call into JIT code during which we run, and taken like the scope.
    // `f` accepts the data at any lifetime `'d`, so it cannot rely on
    // `'d` being longer than `'a` (or keep anything from it).
    let data = unsafe { &mut *lent.data.cast::<Rt::Data<'_>>() };
    Some(scope.scope(|s| f(s, data)))
}

/// A handle of `scope` to the object at `addr`, an address that JIT code
/// passed to a runtime function: `None` unless `addr` lies in a pool of
/// format `fmt` (a pool of `fmt`'s arena) and is aligned for it.
///
/// Those checks cannot tell an object's address from any other address
/// inside a pool (the middle of an object, a dead one), so the caller
/// vouches for it, as it vouched for the code when it made its
/// [`CodeRef`](crate::CodeRef) (JIT code is trusted).
///
/// # Safety
///
/// Any `addr` that fails the checks is fine (the result is `None`: a
/// tagged integer, say). One that passes them must be the client pointer
/// of a live object of format `F` that the caller got from the heap (a
/// runtime function's result, a field loaded from an object it holds, a
/// heap constant) and still holds in a register or on a scanned stack,
/// which pins it until the handle holds it: typically an argument of the
/// runtime function. A number made up by the caller, or an address kept
/// across a point where the collector may have moved the object, breaks
/// that.
pub unsafe fn handle_from_jit<'s, F: Format>(
    scope: &mut Scope<'s>,
    fmt: Fmt<'_, F>,
    addr: usize,
) -> Option<Handle<'s, F>> {
    if scope.thread().arena_raw() != fmt.arena().as_raw()
        || addr % F::ALIGN != F::HEADER_SIZE % F::ALIGN
        || fmt.arena().addr_fmt(addr) != Some(fmt.id())
    {
        return None;
    }
    let p = NonNull::new(addr as *mut u8)?;
    // SAFETY: `addr` lies in a pool of format F of the scope's arena
    // (checked above) and is the client pointer of a live object, pinned
    // by the JIT frame that passed it until the handle holds it (the
    // caller's promise).
    Some(unsafe { scope.handle_from_raw(p) })
}

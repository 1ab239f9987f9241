//! Calling JIT code: the [`JitFn`] signatures and the [`CodeRef`] handle.

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::pool::assert_jit_thread;
use crate::publish::exec_address;

mod sealed {
    pub trait Sealed {}
}

/// An `extern "C"` function pointer type, `extern "C" fn(A, B, ..) -> R`
/// with up to eight arguments: the signatures JIT code can be called with
/// ([`CodeRef`]) and runtime functions can be given to it with
/// ([`Env::function`](crate::Env::function)).
///
/// Sealed: implemented for exactly those types.
pub trait JitFn: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The arguments, as a tuple (`()` for none, `(A,)` for one).
    type Args;
    /// The result.
    type Output;

    /// The function at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` must be the entry of a function with exactly this signature
    /// and the C calling convention, that stays executable while the
    /// result is used.
    unsafe fn from_addr(addr: usize) -> Self;

    /// The function's address.
    fn addr(self) -> usize;

    /// Calls the function.
    fn invoke(self, args: Self::Args) -> Self::Output;
}

macro_rules! jit_fn {
    ($($arg:ident),*) => {
        impl<R: 'static, $($arg: 'static),*> sealed::Sealed for extern "C" fn($($arg),*) -> R {}

        impl<R: 'static, $($arg: 'static),*> JitFn for extern "C" fn($($arg),*) -> R {
            type Args = ($($arg,)*);
            type Output = R;

            #[inline(always)]
            unsafe fn from_addr(addr: usize) -> Self {
                // SAFETY: function pointers are address-sized on the
                // supported targets; the caller guarantees that `addr` is
                // such a function.
                unsafe { core::mem::transmute::<usize, Self>(addr) }
            }

            #[inline(always)]
            fn addr(self) -> usize {
                self as usize
            }

            #[inline(always)]
            #[allow(non_snake_case, reason = "argument names are the type parameters")]
            fn invoke(self, ($($arg,)*): Self::Args) -> R {
                self($($arg),*)
            }
        }
    };
}

jit_fn!();
jit_fn!(A);
jit_fn!(A, B);
jit_fn!(A, B, C);
jit_fn!(A, B, C, D);
jit_fn!(A, B, C, D, E);
jit_fn!(A, B, C, D, E, G);
jit_fn!(A, B, C, D, E, G, H);
jit_fn!(A, B, C, D, E, G, H, I);

/// A typed handle for calling one entry point of an installed code object,
/// borrowed from its [`CodeObject`](crate::CodeObject) (made by
/// [`CodeObject::function`](crate::CodeObject::function)).
///
/// It holds no address: [`call`](Self::call) loads the object's current
/// address from the pool's root slot, adds the execute-view distance and
/// the entry's offset, and calls, all inside one method, so no address
/// that a collection may have made stale survives a collection point.
/// While the call runs, the return addresses of the JIT frames (and the
/// program counter, if another thread stops this one) point into the code,
/// and the code-aware thread root of
/// [`CodePool::with_jit_thread`](crate::CodePool::with_jit_thread) pins
/// every object that has a frame: running code never moves.
pub struct CodeRef<'o, F> {
    slot: &'o AtomicPtr<u8>,
    entry: u32,
    delta: isize,
    arena: usize,
    _signature: PhantomData<F>,
}

impl<'o, F: JitFn> CodeRef<'o, F> {
    /// A handle for the entry at offset `entry` of the object held in
    /// `slot`.
    ///
    /// # Safety
    ///
    /// `slot` is the root slot of a live code object of a pool of arena
    /// `arena` (raw address) with execute-view distance `delta`, which
    /// stays non-null for `'o`; the entry is a function of signature `F`
    /// (see [`CodeObject::function`](crate::CodeObject::function)).
    pub(crate) unsafe fn new(
        slot: &'o AtomicPtr<u8>,
        entry: u32,
        delta: isize,
        arena: usize,
    ) -> Self {
        CodeRef {
            slot,
            entry,
            delta,
            arena,
            _signature: PhantomData,
        }
    }

    /// Calls the function.
    ///
    /// # Panics
    ///
    /// If the calling thread is not inside
    /// [`CodePool::with_jit_thread`](crate::CodePool::with_jit_thread) for
    /// the pool's arena: its stack must be scanned by a code-aware root
    /// for the running code to be pinned.
    #[inline]
    pub fn call(&self, args: F::Args) -> F::Output {
        self.target().invoke(args)
    }

    /// Calls the function with `scope` lent to the runtime functions it
    /// calls ([`runtime::with_scope`](crate::runtime::with_scope)).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub fn call_in(&self, scope: &mut mps::Scope<'_>, args: F::Args) -> F::Output {
        let f = self.target();
        crate::runtime::enter(scope, || f.invoke(args))
    }

    /// Calls the function with `scope` and `data` of runtime `R` lent to
    /// the runtime functions it calls ([`runtime::with`](crate::runtime::with)).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub fn call_with<R: crate::runtime::Runtime>(
        &self,
        scope: &mut mps::Scope<'_>,
        data: &mut R::Data<'_>,
        args: F::Args,
    ) -> F::Output {
        let f = self.target();
        crate::runtime::enter_with::<R, _>(scope, data, || f.invoke(args))
    }

    /// The function at its current address, after the thread checks.
    #[inline(always)]
    fn target(&self) -> F {
        assert_jit_thread(self.arena, "CodeRef::call");
        // Return addresses on a stack the collector does not scan would
        // not pin the code they return into.
        mps::check_stack("CodeRef::call");
        let write = self.slot.load(Ordering::Relaxed) as usize;
        debug_assert!(write != 0, "a live code object's slot is never null");
        let entry = exec_address(write, self.delta) + self.entry as usize;
        // SAFETY: `write` is the current address of the live code object
        // (its slot is an exact root the collector updates; this thread is
        // registered, so no collection runs between the load and the call
        // without stopping it and seeing `write` or `entry` in its
        // registers, which pins the object). The object was relinked for
        // this address when it was installed or last moved, and published;
        // `entry` is in its execute view, and the entry has signature `F`
        // (the promise made in `CodeObject::function`). While the call
        // runs, the code-aware thread root pins it.
        unsafe { F::from_addr(entry) }
    }

    /// The slot, the entry's offset and the raw arena, for
    /// [`CodePtr::init`](crate::CodePtr::init).
    pub(crate) fn parts(&self) -> (&'o AtomicPtr<u8>, u32, usize) {
        (self.slot, self.entry, self.arena)
    }

    /// The entry's current execute-view address (for printing: it changes
    /// when the collector moves the object).
    pub fn exec_address(&self) -> usize {
        exec_address(self.slot.load(Ordering::Relaxed) as usize, self.delta) + self.entry as usize
    }
}

impl<F> Clone for CodeRef<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for CodeRef<'_, F> {}

impl<F> fmt::Debug for CodeRef<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeRef")
            .field("object", &self.slot.load(Ordering::Relaxed))
            .field("entry", &self.entry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn add3(a: i64, b: i64, c: i64) -> i64 {
        a + b + c
    }

    #[test]
    fn signatures_round_trip_through_addresses() {
        let f: extern "C" fn(i64, i64, i64) -> i64 = add3;
        let addr = f.addr();
        // SAFETY: `addr` is `add3`, of this signature.
        let g = unsafe { <extern "C" fn(i64, i64, i64) -> i64>::from_addr(addr) };
        assert_eq!(g.invoke((1, 2, 3)), 6);
    }
}

//! Stacks other than a thread's own: stackful coroutines, green threads,
//! segmented stacks.
//!
//! The collector scans a registered thread's stack as an ambiguous root,
//! which is what pins every object a `&T` from [`Handle::with`] points to.
//! Frames on another stack (a `corosensei` coroutine's, a `stacker`
//! segment's) are scanned only if the thread told the collector about
//! that stack ([`Thread::add_stack`]) and every switch between its stacks
//! goes through [`Thread::switch_stack`], which marks where the thread
//! left the stack it was on: each stack not in use is then scanned from
//! that mark to its top, and the one in use from the stack pointer
//! (vendor/mps/DESIGN.md#stacks). Code that touches the heap on a stack
//! the collector does not know panics before it reads anything
//! ([`Handle`] accesses and [`Arena::with_thread`] check where they run).
//!
//! ```no_run
//! # fn demo(arena: &mps::Arena, low: usize, high: usize) -> Result<(), mps::Error> {
//! arena.with_thread(|s| {
//!     let thread = s.thread();
//!     // [low, high): the coroutine's stack, e.g. corosensei's
//!     // `stack.limit()` and `stack.base()`.
//!     let _stack = thread.add_stack(low, high)?;
//!     // ... create the coroutine on that stack; then every resume, and
//!     // every suspend inside it, goes through switch_stack:
//!     // thread.switch_stack(|| coroutine.resume(()));
//!     Ok::<_, mps::Error>(())
//! })?
//! # }
//! ```
//!
//! [`Handle`]: crate::Handle
//! [`Handle::with`]: crate::Handle::with
//! [`Arena::with_thread`]: crate::Arena::with_thread

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;
use std::panic::{self, AssertUnwindSafe};

use mps_sys::*;

use crate::error::{check, Error};
use crate::thread::Thread;

std::thread_local! {
    /// The calling thread's own stack, `[low, high)`, once a registration
    /// told it; `(0, 0)` before.
    static OWN: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The other stacks the thread added, with how many times each was
    /// added (once per registration that added it).
    static OTHERS: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
    /// The added stack [`check_stack`] last found the caller on (`(0, 0)`:
    /// none), so that code running on a coroutine is checked without a
    /// search.
    static LAST: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Can the calling thread's stack records still be used (not in a
/// thread-local destructor that runs after they were destroyed)?
pub(crate) fn records_usable() -> bool {
    OTHERS.try_with(|_| ()).is_ok()
}

/// Records the calling thread's own stack (from the collector, which
/// asked the system) for [`check_stack`].
pub(crate) fn note_own_stack(thr: mps_thr_t) {
    if !mps_sys::EXTENSIONS {
        return; // another MPS library: no stacks but the own one
    }
    let (mut low, mut high) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: `thr` is the calling thread's live registration; the out
    // parameters are valid.
    if unsafe { mpsx_thread_stack_own(thr, &mut low, &mut high) } != 0 {
        OWN.set((low as usize, high as usize));
    }
}

/// Panics unless the caller runs on a stack the collector scans: the
/// thread's own, or one it added with [`Thread::add_stack`]. `what` names
/// the operation, for the message. For layers above this crate (the code
/// pool checks JIT calls with it); [`Handle`](crate::Handle) accesses and
/// [`Arena::with_thread`](crate::Arena::with_thread) already call it.
///
/// # Panics
///
/// If the calling thread, registered through `with_thread`, runs on a
/// stack it did not add.
#[inline(always)]
pub fn check_stack(what: &str) {
    let probe = 0u8;
    let sp = ptr::addr_of!(probe) as usize;
    let (low, high) = OWN.get();
    if sp >= low && sp < high {
        return;
    }
    check_slow(sp, low, high, what);
}

#[cold]
#[inline(never)]
fn check_slow(sp: usize, low: usize, high: usize, what: &str) {
    if low == high {
        return; // the system did not say where the own stack is
    }
    let (l, h) = LAST.get();
    if sp >= l && sp < h {
        return;
    }
    if let Some(found) =
        OTHERS.with(|o| o.borrow().iter().copied().find(|&(l, h)| sp >= l && sp < h))
    {
        LAST.set(found);
        return;
    }
    panic!(
        "mps: {what} on a stack the collector does not scan (sp {sp:#x}; the thread's own \
         stack is {low:#x}..{high:#x}): code on a coroutine's or another foreign stack must \
         be on a stack registered with Thread::add_stack, and every switch to and from it \
         must go through Thread::switch_stack"
    );
}

/// A stack added with [`Thread::add_stack`]; removed (by identity: its
/// bounds) when dropped, on the thread that added it.
///
/// Dropped while frames may still be on the stack (a coroutine suspended
/// on it, through [`Thread::switch_stack`] or its crate's own call, or
/// the coroutine itself dropping the guard while it runs there), the
/// stack stays scanned, so a `&T` those frames hold stays pinned; only
/// handles can no longer be used on it ([`check_stack`] panics). It is
/// forgotten once its memory is unmapped (dropping the coroutine frees
/// it) or a stack added later overlaps it (vendor/mps/DESIGN.md#stacks,
/// orphans): until then its pages that hold data are scanned at every
/// collection, so drop the coroutine with or before its guard.
#[must_use = "the stack is removed when the guard is dropped"]
pub struct StackGuard<'t> {
    thread: &'t Thread,
    low: usize,
    high: usize,
    _not_send: PhantomData<*const ()>,
}

impl StackGuard<'_> {
    /// The stack, `[low, high)`.
    pub fn bounds(&self) -> (usize, usize) {
        (self.low, self.high)
    }
}

impl Drop for StackGuard<'_> {
    fn drop(&mut self) {
        if !mps_sys::EXTENSIONS {
            return; // never added (add_stack refused)
        }
        // SAFETY: the registration is live (the guard borrows it) and
        // belongs to this thread (the guard is neither Send nor Sync).
        let removed = unsafe {
            mpsx_thread_stack_remove(
                self.thread.thr_raw(),
                self.low as *mut c_void,
                self.high as *mut c_void,
            )
        };
        debug_assert!(removed != 0, "mps: a stack added was not known");
        OTHERS.with(|o| {
            let mut o = o.borrow_mut();
            if let Some(i) = o.iter().position(|&b| b == (self.low, self.high)) {
                o.swap_remove(i);
            }
        });
        if LAST.get() == (self.low, self.high) {
            LAST.set((0, 0));
        }
    }
}

impl core::fmt::Debug for StackGuard<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StackGuard({:#x}..{:#x})", self.low, self.high)
    }
}

/// What [`Thread::switch_stack`] hands to C.
struct Switch<F, R> {
    f: Option<F>,
    result: Option<std::thread::Result<R>>,
}

extern "C" fn run_switch<F: FnOnce() -> R, R>(closure: *mut c_void) {
    // SAFETY: `closure` is the `Switch` that `switch_stack` passed, live
    // and not otherwise borrowed during this call.
    let switch = unsafe { &mut *closure.cast::<Switch<F, R>>() };
    let f = switch.f.take().expect("called once");
    // A panic must not unwind into C: caught here, resumed by the caller.
    switch.result = Some(panic::catch_unwind(AssertUnwindSafe(f)));
}

impl Thread {
    /// Tells the collector that this thread may run code that uses the
    /// arena on the stack `[low, high)` (a coroutine's): from now on it is
    /// scanned with the thread, from where the thread left it (see
    /// [`switch_stack`](Self::switch_stack)) to `high`, and handles may be
    /// used on it. The stack is per OS thread: it counts for every arena
    /// the thread is registered with.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if the bounds are not word-aligned, empty, or
    /// overlap the thread's own stack or another it added;
    /// [`Error::Unimpl`] if the linked MPS library lacks this project's
    /// extensions ([`mps_sys::EXTENSIONS`]).
    pub fn add_stack(&self, low: usize, high: usize) -> Result<StackGuard<'_>, Error> {
        if !mps_sys::EXTENSIONS {
            return Err(Error::Unimpl);
        }
        // SAFETY: the registration is live and the calling thread's (a
        // `Thread` exists only on its thread, inside `with_thread`); the
        // collector only records the bounds.
        check(unsafe {
            mpsx_thread_stack_add(self.thr_raw(), low as *mut c_void, high as *mut c_void)
        })?;
        OTHERS.with(|o| o.borrow_mut().push((low, high)));
        Ok(StackGuard {
            thread: self,
            low,
            high,
            _not_send: PhantomData,
        })
    }

    /// Runs `f`, which switches to another stack of this thread and
    /// returns when the thread is back (a coroutine's `resume`, or its
    /// `suspend` inside the coroutine), with the stack in use marked as
    /// left here: while the thread runs elsewhere, this stack is scanned
    /// from this frame up, with every register its callers keep. Every
    /// switch between the thread's stacks should go through this. A
    /// stack left by a switch that did not (a coroutine suspended with
    /// its crate's own call) has no mark and is scanned whole instead,
    /// every page of it that holds data, at every collection, also after
    /// its [`StackGuard`] is dropped (until the stack's memory is unmapped
    /// or a new stack is added over it).
    ///
    /// A panic in `f` is resumed after the mark is cleared.
    pub fn switch_stack<F: FnOnce() -> R, R>(&self, f: F) -> R {
        if !mps_sys::EXTENSIONS {
            return f(); // no stack can have been added
        }
        let mut switch = Switch {
            f: Some(f),
            result: None,
        };
        // SAFETY: the registration is live and the calling thread's;
        // `run_switch::<F, R>` matches the closure type, which lives in
        // this frame for the whole call; it does not unwind.
        unsafe {
            mpsx_thread_stack_switch(
                self.thr_raw(),
                Some(run_switch::<F, R>),
                ptr::addr_of_mut!(switch).cast(),
            );
        }
        match switch.result.expect("the closure ran") {
            Ok(r) => r,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

//! Code held by heap objects: [`CodePtr`], a field type for objects of the
//! `mps` crate's pools that refers to an entry point of a code object.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use mps::sys::mps_arena_has_addr;
use mps::{Handle, Object, Ref, ScanState};

use crate::format::{self, PoolContext, POOL_AT};
use crate::func::{CodeRef, JitFn};
use crate::pool::{assert_jit_thread, keep_alive};
use crate::publish::exec_address;

/// The entry offset of a `CodePtr` that was never set.
const UNSET: u32 = u32::MAX;

/// A field of a heap object that refers to one entry point of a code
/// object, with signature `F`: a closure's code, a method table's entry.
///
/// It is an exact reference to the code object: the holder's format
/// **must fix it** in its scan method with [`fix`](Self::fix) (the
/// [`Object`] contract: every reference is fixed), and then
///
/// - it keeps the code object alive: code held only through the heap
///   (its [`CodeObject`](crate::CodeObject) dropped) stays alive, and is
///   freed by a collection once no heap object, code object or root
///   refers to it ([`RelinkCounters::objects_freed`](crate::RelinkCounters));
/// - it follows the code object when the collector moves it;
/// - [`call`](Self::call) calls the entry point from Rust.
///
/// A `CodePtr` is **set once**: it is made empty ([`null`](Self::null),
/// as the value given to [`Scope::alloc`](mps::Scope::alloc)), then set in
/// the heap with [`init`](Self::init), from a [`CodeRef`] (whose signature
/// was promised by [`CodeObject::function`](crate::CodeObject::function)).
/// (An all-zero `CodePtr`, as raw allocation might leave it, counts as
/// set and cannot be initialised: build holders with [`null`](Self::null).)
/// A runtime that rebinds a variable to other code stores another heap
/// object (a new closure) in its [`Ref`] instead. Set once, the pair
/// (object, entry) is always read whole by calls on other threads.
///
/// Layout (`repr(C)`, 16 bytes), for JIT code that calls through it: the
/// code object's write-view address (a word; its execute-view address is
/// that plus [`CodePool::delta`](crate::CodePool::delta)), then the entry's
/// offset in the object (`u32`), then padding. JIT code that loads it
/// must do so in one function that also calls it (the loaded address is
/// then on the stack or in a register and pins the object).
///
/// Heap objects that hold a `CodePtr` keep their code pool's memory alive
/// after the [`CodePool`](crate::CodePool) is dropped: the MPS pool is then
/// destroyed with the arena ([`mps::Arena::at_drop`]).
#[repr(C)]
pub struct CodePtr<F> {
    object: Ref,
    entry: AtomicU32,
    _signature: PhantomData<F>,
}

/// [`CodePtr::init`] found the field already set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadySet;

impl fmt::Display for AlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the CodePtr is already set (it is set once)")
    }
}

impl std::error::Error for AlreadySet {}

impl<F: JitFn> CodePtr<F> {
    /// An empty field.
    pub const fn null() -> CodePtr<F> {
        CodePtr {
            object: Ref::null(),
            entry: AtomicU32::new(UNSET),
            _signature: PhantomData,
        }
    }

    /// Is the field empty?
    pub fn is_null(&self) -> bool {
        self.object.is_null()
    }

    /// Fixes the reference (from the holder's [`Format::scan`](mps::Format::scan)).
    #[inline(always)]
    pub fn fix(&self, ss: &mut ScanState<'_>) -> Result<(), mps::Error> {
        ss.fix_ref(&self.object)
    }

    /// Sets the `CodePtr` field that `field` selects in the heap object
    /// held by `holder` (as a `T`) to `code`'s entry point.
    ///
    /// # Errors
    ///
    /// [`AlreadySet`] if the field was set before (it is left unchanged).
    ///
    /// # Panics
    ///
    /// If the object is not a `T`, the field is not inside it, or the
    /// object and the code are in different arenas.
    pub fn init<T: Object + ?Sized>(
        holder: Handle<'_, T::Format>,
        field: impl FnOnce(&T) -> &CodePtr<F>,
        code: CodeRef<'_, F>,
    ) -> Result<(), AlreadySet> {
        let (slot, entry, arena) = code.parts();
        holder.with(|object: &T| {
            let start = object as *const T as *const u8 as usize;
            let end = start + size_of_val(object);
            let p = field(object);
            let at = p as *const CodePtr<F> as usize;
            assert!(
                at >= start && at + size_of::<CodePtr<F>>() <= end,
                "codepool: CodePtr::init: the field is not inside the object"
            );
            // SAFETY: `arena` is the live arena of `code`'s pool (borrowed);
            // the call only looks `start` up.
            let same = unsafe { mps_arena_has_addr(arena as _, start as _) } != 0;
            assert!(
                same,
                "codepool: CodePtr::init: the object and the code are in different arenas"
            );
            if p.entry
                .compare_exchange(UNSET, entry, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Err(AlreadySet);
            }
            let write = slot.load(Ordering::Relaxed);
            // The entry is visible before the object to whoever sees the
            // object (see `target`).
            fence(Ordering::Release);
            // SAFETY: `p` is a field inside a live heap object (checked
            // above; the object is pinned while `with` runs) that the
            // holder's format fixes as an exact reference (CodePtr's
            // contract with the format, part of `Object`'s); `write` is the
            // current address of a live code object of the same arena,
            // held by its root slot (`code` borrows its CodeObject) and
            // pinned by the local until the store is done.
            unsafe { p.object.store_raw(write) };
            keep_alive(write as usize);
            // SAFETY: `slot` holds the live object, whose header points to
            // its pool's live context.
            let context = unsafe { context_of(write as usize) };
            context.code_ptrs.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }

    /// The entry point, if set, with the raw arena of its pool.
    #[inline(always)]
    fn target(&self) -> Option<(F, usize)> {
        // Return addresses on a stack the collector does not scan would
        // not pin the code they return into.
        mps::check_stack("CodePtr::call");
        let write = self.object.load_raw() as usize;
        if write == 0 {
            return None;
        }
        fence(Ordering::Acquire);
        let entry = self.entry.load(Ordering::Relaxed);
        // SAFETY: a non-null CodePtr was set by `init`, so it is a field of
        // a heap object whose format fixes it; `self` is borrowed from that
        // object (inside `Handle::with`, which pins it), so the field holds
        // the current address of a live code object (the reference keeps
        // it alive; the collector updates it when it moves). `&self` comes
        // from `Handle::with` (or another borrow of a heap object), so this
        // thread is registered with the arena: `write`, in its registers,
        // pins the object while the header is read, before the caller's
        // check for a code-aware root. The header points to its pool's
        // context, alive as long as the heap is.
        let context = unsafe { context_of(write) };
        let exec = exec_address(write, context.delta) + entry as usize;
        // SAFETY: `exec` is the entry `init` took from a `CodeRef<F>`, of
        // signature `F` (the promise of `CodeObject::function`), in the
        // execute view of the object, which was relinked for its current
        // address and published. The object is pinned from here on: `write`
        // and `exec` are in this registered thread's registers or stack
        // (the caller checks that a code-aware root scans it), then the
        // call's return address is.
        let f = unsafe { F::from_addr(exec) };
        keep_alive(write);
        Some((f, context.arena))
    }

    /// Calls the entry point.
    ///
    /// # Panics
    ///
    /// If the field is empty, or the calling thread is not inside
    /// [`CodePool::with_jit_thread`](crate::CodePool::with_jit_thread) for
    /// the code's arena.
    #[inline]
    pub fn call(&self, args: F::Args) -> F::Output {
        match self.try_call(args) {
            Some(result) => result,
            None => panic!("codepool: CodePtr::call on an empty CodePtr"),
        }
    }

    /// Calls the entry point, or returns `None` if the field is empty.
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call), but not for an empty field.
    #[inline]
    pub fn try_call(&self, args: F::Args) -> Option<F::Output> {
        let (f, arena) = self.target()?;
        assert_jit_thread(arena, "CodePtr::call");
        Some(f.invoke(args))
    }

    /// Calls the entry point with `scope` as the runtime scope of the
    /// call (see [`runtime`](crate::runtime)).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub fn call_in(&self, scope: &mut mps::Scope<'_>, args: F::Args) -> F::Output {
        let (f, arena) = self
            .target()
            .expect("codepool: CodePtr::call_in on an empty CodePtr");
        assert_jit_thread(arena, "CodePtr::call_in");
        crate::runtime::enter(scope, || f.invoke(args))
    }

    /// Calls the entry point with `scope` and `data` of runtime `R` lent
    /// to the runtime functions it calls ([`runtime::with`](crate::runtime::with)).
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
        let (f, arena) = self
            .target()
            .expect("codepool: CodePtr::call_with on an empty CodePtr");
        assert_jit_thread(arena, "CodePtr::call_with");
        crate::runtime::enter_with::<R, _>(scope, data, || f.invoke(args))
    }
}

/// The context of the pool of the code object at `write`.
///
/// # Safety
///
/// `write` is the address of a live code object (its header holds its
/// pool's context, which lives as long as any of its objects).
#[inline(always)]
unsafe fn context_of<'a>(write: usize) -> &'a PoolContext {
    // SAFETY: the caller's guarantee; installation wrote `pool`, the
    // number of the pool's context, registered while the object lives.
    unsafe {
        let id = ((write + POOL_AT) as *const u16).read_unaligned();
        format::context(id).expect("codepool: a code object of no pool")
    }
}

impl<F: JitFn> Default for CodePtr<F> {
    fn default() -> Self {
        CodePtr::null()
    }
}

impl<F> fmt::Debug for CodePtr<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodePtr")
            .field("object", &self.object)
            .field("entry", &self.entry.load(Ordering::Relaxed))
            .finish()
    }
}

static_assertions::const_assert_eq!(size_of::<CodePtr<extern "C" fn()>>(), 16);
static_assertions::const_assert_eq!(core::mem::offset_of!(CodePtr<extern "C" fn()>, entry), 8);

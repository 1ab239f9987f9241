//! Threads, scopes and handles: how safe code holds on to objects.
//!
//! See the crate docs, "Soundness", for the argument.

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, size_of_val, ManuallyDrop};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use std::thread::LocalKey;

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::Format;
use crate::object::{alloc_size, Object, Ref};
use crate::pool::{Ap, Holds, PoolClass};
use crate::raw::{RawRoot, RawThread};

/// Slots per chunk of a handle table (one exact root per chunk).
const CHUNK_SLOTS: usize = 256;

/// One chunk of handle slots.
type Slots = [AtomicPtr<u8>; CHUNK_SLOTS];

/// A chunk of the handle table: memory outside the heap, registered as an
/// exact root scanned by `mps_scan_area`, never moved while registered.
struct Chunk {
    /// Destroyed in `drop`, before the slots are freed.
    root: ManuallyDrop<RawRoot>,
    slots: NonNull<Slots>,
}

impl Chunk {
    fn new(arena: mps_arena_t) -> Result<Chunk, Error> {
        let slots: Box<Slots> = Box::new(core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())));
        let slots = NonNull::from(Box::leak(slots));
        let base: *mut Slots = slots.as_ptr();
        let mut root = ptr::null_mut();
        // SAFETY: the area `[base, base + 1)` (CHUNK_SLOTS words) is live,
        // all null (valid exact references), and stays allocated and in
        // place until the root is destroyed (`Chunk::drop`). Every word is
        // an exact reference or null at every instant: only handle code
        // writes it, with null or current client pointers.
        let res = unsafe {
            mps_root_create_area(
                &mut root,
                arena,
                mps_rank_exact(),
                0,
                base.cast(),
                base.add(1).cast(),
                Some(mps_scan_area),
                ptr::null_mut(),
            )
        };
        if let Err(err) = check(res) {
            // SAFETY: `slots` came from `Box::leak` above and is not
            // registered.
            drop(unsafe { Box::from_raw(base) });
            return Err(err);
        }
        // SAFETY: the root was created above and is owned by this chunk.
        let root = ManuallyDrop::new(unsafe { RawRoot::from_raw(root) });
        Ok(Chunk { root, slots })
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // Unregister first, then free the memory the root covers.
        // SAFETY: dropped exactly once, here.
        unsafe { ManuallyDrop::drop(&mut self.root) };
        // SAFETY: `slots` came from `Box::leak` in `Chunk::new` and is no
        // longer registered; no handle can refer to it (the thread state
        // that hands them out is being dropped).
        drop(unsafe { Box::from_raw(self.slots.as_ptr()) });
    }
}

/// The registration of the current thread with an arena, its stack root,
/// and its table of handles. It exists only while
/// [`Arena::with_thread`] runs, on that thread; [`Scope::thread`] returns
/// it.
pub struct Thread {
    arena: NonNull<mps_arena_s>,
    /// The handle table, used only by this thread.
    chunks: UnsafeCell<Vec<Chunk>>,
    /// Slots in use: `[0, len)`, a stack.
    len: Cell<usize>,
    /// Slots in use at most so far.
    high_water: Cell<usize>,
    stack_root: ManuallyDrop<RawRoot>,
    registration: ManuallyDrop<RawThread>,
}

impl Thread {
    /// Registers the calling thread and its stack below `cold`.
    fn register(arena: &Arena, cold: *mut u8) -> Result<Thread, Error> {
        let mut thr = ptr::null_mut();
        // SAFETY: `thr` is a valid out parameter; the arena is live.
        check(unsafe { mps_thread_reg(&mut thr, arena.as_raw()) })?;
        // SAFETY: registered above; `Thread::drop` deregisters it, on this
        // thread, after destroying its roots.
        let registration = unsafe { RawThread::from_raw(thr) };
        let mut root = ptr::null_mut();
        // SAFETY: `thr` is this thread's registration; `cold` is the
        // address of a local of `with_thread`'s frame, word-aligned, above
        // every frame that runs while the root exists (the closure runs in
        // a callee of `with_thread`). The root is ambiguous, as thread
        // roots must be, and scans every word (any value may be a pointer).
        let res = unsafe {
            mps_root_create_thread_scanned(
                &mut root,
                arena.as_raw(),
                mps_rank_ambig(),
                0,
                thr,
                Some(mps_scan_area),
                ptr::null_mut(),
                cold.cast(),
            )
        };
        check(res)?; // on error `registration` is dropped: deregistered
        crate::stack::note_own_stack(thr);
        Ok(Thread {
            arena: NonNull::new(arena.as_raw()).expect("a live arena"),
            chunks: UnsafeCell::new(Vec::new()),
            len: Cell::new(0),
            high_water: Cell::new(0),
            // SAFETY: created above, owned here, destroyed in `drop`.
            stack_root: ManuallyDrop::new(unsafe { RawRoot::from_raw(root) }),
            registration: ManuallyDrop::new(registration),
        })
    }

    /// The raw arena this thread is registered with.
    #[inline]
    pub fn arena_raw(&self) -> mps_arena_t {
        self.arena.as_ptr()
    }

    /// The raw registration of this thread.
    #[inline]
    pub fn thr_raw(&self) -> mps_thr_t {
        self.registration.as_ptr()
    }

    /// Number of handle slots in use now (handles of live scopes).
    #[inline]
    pub fn handles_in_use(&self) -> usize {
        self.len.get()
    }

    /// The most handle slots ever in use at once.
    #[inline]
    pub fn handles_high_water(&self) -> usize {
        self.high_water.get()
    }

    /// Takes the next slot and stores `value` (null or a client pointer of
    /// an object of this arena that is pinned or reachable) in it.
    #[inline]
    fn push(&self, value: *mut u8) -> &AtomicPtr<u8> {
        let i = self.len.get();
        let (chunk, k) = (i / CHUNK_SLOTS, i % CHUNK_SLOTS);
        // SAFETY: the table is only touched by this thread (`Thread` is
        // neither `Send` nor `Sync`), and no reference into the `Vec`
        // itself is held across this call (handles point into the chunks'
        // separately allocated slots).
        let chunks = unsafe { &mut *self.chunks.get() };
        if chunk == chunks.len() {
            let new = Chunk::new(self.arena.as_ptr()).unwrap_or_else(|err| {
                panic!("mps: cannot register a chunk of handles as a root: {err}")
            });
            chunks.push(new);
        }
        let slots: NonNull<Slots> = chunks[chunk].slots;
        // SAFETY: `slots` is live until the thread state is dropped, which
        // outlives every scope and handle.
        let slot: &AtomicPtr<u8> = unsafe { &(*slots.as_ptr())[k] };
        slot.store(value, Ordering::Relaxed);
        self.len.set(i + 1);
        if i + 1 > self.high_water.get() {
            self.high_water.set(i + 1);
        }
        slot
    }

    /// Releases every slot at or above `mark` (the end of a scope).
    fn truncate(&self, mark: usize) {
        let len = self.len.get();
        // SAFETY: as in `push`: this thread only, no outstanding `&mut`.
        let chunks = unsafe { &*self.chunks.get() };
        for i in mark..len {
            let slots = chunks[i / CHUNK_SLOTS].slots;
            // SAFETY: as in `push`.
            unsafe { &(*slots.as_ptr())[i % CHUNK_SLOTS] }
                .store(ptr::null_mut(), Ordering::Relaxed);
        }
        self.len.set(mark.min(len));
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // The MPS order: roots before the registration.
        self.chunks.get_mut().clear();
        // SAFETY: dropped exactly once, here; the stack root goes before the
        // thread registration it scans.
        unsafe { ManuallyDrop::drop(&mut self.stack_root) };
        // SAFETY: dropped exactly once, here, on the registered thread.
        unsafe { ManuallyDrop::drop(&mut self.registration) };
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("arena", &self.arena)
            .field("handles_in_use", &self.len.get())
            .finish()
    }
}

/// A per-thread record of the scopes in which the current thread is
/// registered with an arena, for checks of the form "is this thread
/// registered with arena A now?".
///
/// Each scope adds an entry with an identity of its own
/// ([`Registrations::enter`]) and its guard removes *that* entry when the
/// scope ends, whatever entries were added or removed meanwhile: scopes may
/// end out of order (a coroutine that suspends inside one scope while its
/// thread enters and leaves another). A check passes only while an entry
/// for that very arena is live.
///
/// Declare one per kind of registration in a `thread_local!` (the crate
/// uses one for [`Arena::with_thread`]; `codepool` one for its code-aware
/// roots):
///
/// ```
/// use mps::Registrations;
///
/// std::thread_local! {
///     static MINE: Registrations = const { Registrations::new() };
/// }
///
/// let arena = 0x1000 as mps::sys::mps_arena_t; // only compared, never used
/// let entry = Registrations::enter(&MINE, arena);
/// assert!(Registrations::contains(&MINE, arena));
/// drop(entry);
/// assert!(!Registrations::contains(&MINE, arena));
/// ```
pub struct Registrations {
    /// `(identity, arena address)` of every live entry.
    entries: core::cell::RefCell<Vec<(u64, usize)>>,
}

/// The next identity of a registration entry (never reused).
static NEXT_REGISTRATION: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

impl Registrations {
    /// An empty record.
    pub const fn new() -> Registrations {
        Registrations {
            entries: core::cell::RefCell::new(Vec::new()),
        }
    }

    /// Records that the current thread is registered with `arena` until
    /// the returned guard is dropped (on this thread: it is not `Send`).
    pub fn enter(key: &'static LocalKey<Registrations>, arena: mps_arena_t) -> Registered {
        let id = NEXT_REGISTRATION.fetch_add(1, Ordering::Relaxed);
        key.with(|r| r.entries.borrow_mut().push((id, arena as usize)));
        Registered {
            key,
            id,
            _not_send: PhantomData,
        }
    }

    /// Can the current thread's record still be used? Not in a
    /// thread-local destructor that runs after it was destroyed.
    pub fn usable(key: &'static LocalKey<Registrations>) -> bool {
        key.try_with(|_| ()).is_ok()
    }

    /// Does the current thread have a live entry for `arena`?
    pub fn contains(key: &'static LocalKey<Registrations>, arena: mps_arena_t) -> bool {
        key.with(|r| r.entries.borrow().iter().any(|&(_, a)| a == arena as usize))
    }
}

impl Default for Registrations {
    fn default() -> Registrations {
        Registrations::new()
    }
}

impl fmt::Debug for Registrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrations")
            .field("entries", &self.entries.borrow().len())
            .finish()
    }
}

/// The guard of one entry of a [`Registrations`] record: dropping it
/// removes that entry, and no other.
#[must_use = "the entry is removed when the guard is dropped"]
pub struct Registered {
    key: &'static LocalKey<Registrations>,
    id: u64,
    /// Removed on the thread that added it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let id = self.id;
        let removed = self.key.with(|r| {
            let mut entries = r.entries.borrow_mut();
            let at = entries.iter().position(|&(i, _)| i == id);
            at.map(|at| entries.remove(at))
        });
        debug_assert!(
            removed.is_some(),
            "mps: a registration entry was removed twice"
        );
    }
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered").field("id", &self.id).finish()
    }
}

std::thread_local! {
    /// The scopes of [`Arena::with_thread`] open on the current thread.
    static ENTERED: Registrations = const { Registrations::new() };
}

/// Is the current thread registered with `arena` (inside a scope of
/// [`Arena::with_thread`] that has not ended)? Root slots are only touched
/// by registered threads, which a collection stops, so the collector never
/// races with them.
pub(crate) fn registered_with(arena: mps_arena_t) -> bool {
    Registrations::contains(&ENTERED, arena)
}

impl Arena {
    /// Registers the calling thread with the arena, runs `f` with the
    /// thread's root [`Scope`], and deregisters the thread when `f` returns
    /// or unwinds.
    ///
    /// While `f` runs, the thread's registers and stack are an ambiguous
    /// root: the cold end of the stack is taken from a local of this
    /// function's frame, and `f` runs in a callee frame below it, so
    /// everything `f` and its callees keep on the stack or in registers is
    /// scanned (and pins what it points to). Handles created in the scope
    /// live in a table that is an exact root.
    ///
    /// Nested calls (the same thread entering the same or another arena
    /// again) are allowed; each has its own scope and handles.
    ///
    /// # Errors
    ///
    /// The MPS's result if the thread or its stack root cannot be
    /// registered; [`Error::Fail`] when called from a thread-local
    /// destructor that runs after this crate's per-thread records were
    /// destroyed (the thread is exiting: nothing can be registered).
    #[inline(never)]
    pub fn with_thread<R>(&self, f: impl for<'s> FnOnce(&mut Scope<'s>) -> R) -> Result<R, Error> {
        if !Registrations::usable(&ENTERED) || !crate::stack::records_usable() {
            return Err(Error::Fail);
        }
        // The cold end: a local of this frame. `f` runs in `run_below`, a
        // separate, never-inlined callee, so all of its frames lie below.
        let cold_marker: usize = 0;
        let cold = core::hint::black_box(ptr::addr_of!(cold_marker))
            .cast_mut()
            .cast::<u8>();
        let thread = Thread::register(self, cold)?;
        crate::stack::check_stack("Arena::with_thread was called");
        let entered = Registrations::enter(&ENTERED, self.as_raw());
        let result = run_below(&thread, f);
        drop(entered);
        drop(thread);
        core::hint::black_box(&cold_marker);
        Ok(result)
    }
}

/// Runs `f` with a root scope of `thread`, in a frame of its own below the
/// caller's.
#[inline(never)]
fn run_below<R>(thread: &Thread, f: impl for<'s> FnOnce(&mut Scope<'s>) -> R) -> R {
    let mut scope = Scope {
        thread,
        mark: 0,
        _not_send: PhantomData,
    };
    let _release = Release { thread, mark: 0 };
    f(&mut scope)
}

/// Releases a scope's handles when it ends (normally or by unwinding).
struct Release<'t> {
    thread: &'t Thread,
    mark: usize,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.thread.truncate(self.mark);
    }
}

/// A handle scope of a registered thread: creates [`Handle`]s, which stay
/// valid until the scope ends.
///
/// The root scope comes from [`Arena::with_thread`]; nested scopes from
/// [`Scope::scope`]. Only the innermost scope can be used (the outer one is
/// mutably borrowed), and its handles are released when it ends, so
/// temporary handles of a loop body do not accumulate. The lifetime `'s`
/// brands the scope's handles: they cannot leave the closure that received
/// the scope.
pub struct Scope<'s> {
    thread: &'s Thread,
    mark: usize,
    _not_send: PhantomData<*const ()>,
}

impl<'s> Scope<'s> {
    /// Runs `f` with a nested scope; the handles it creates are released
    /// when `f` returns. Handles of this (outer) scope remain usable inside.
    pub fn scope<R>(&mut self, f: impl for<'i> FnOnce(&mut Scope<'i>) -> R) -> R {
        let mark = self.thread.len.get();
        let mut inner = Scope {
            thread: self.thread,
            mark,
            _not_send: PhantomData,
        };
        let _release = Release {
            thread: self.thread,
            mark,
        };
        f(&mut inner)
    }

    /// The thread this scope belongs to.
    #[inline]
    pub fn thread(&self) -> &'s Thread {
        self.thread
    }

    /// Number of handles this scope has created and holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.thread.len.get() - self.mark
    }

    /// Does this scope hold no handles?
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Panics unless `arena` is the arena of this scope's thread.
    #[inline]
    fn check_arena(&self, arena: mps_arena_t, what: &str) {
        assert!(
            arena == self.thread.arena.as_ptr(),
            "mps: {what} belongs to another arena than this scope"
        );
    }

    /// Wraps a client pointer in a new handle of this scope.
    ///
    /// # Safety
    ///
    /// `addr` must be the client pointer of a live object of format `F` in
    /// this scope's arena, kept alive and in place until this call returns
    /// (for example because the caller holds it in a local: the thread is
    /// registered).
    #[inline]
    pub unsafe fn handle_from_raw<F: Format>(&mut self, addr: NonNull<u8>) -> Handle<'s, F> {
        let slot = self.thread.push(addr.as_ptr());
        Handle {
            slot,
            arena: self.thread.arena.as_ptr() as usize,
            _format: PhantomData,
            _thread: PhantomData,
        }
    }

    /// A new handle of this scope to `h`'s object (for example to walk a
    /// structure with [`Handle::assign`] without changing `h`).
    ///
    /// # Panics
    ///
    /// If `h` belongs to another arena.
    #[inline]
    pub fn copy<F: Format>(&mut self, h: Handle<'_, F>) -> Handle<'s, F> {
        self.check_arena(h.arena_raw(), "the handle");
        let addr = h.load();
        // SAFETY: `addr` is the current client pointer of `h`'s live object,
        // of this arena and format, pinned by the local until it is stored.
        let handle = unsafe { self.handle_from_raw(addr) };
        keep_alive(addr.as_ptr());
        handle
    }

    /// Allocates a `T` in `ap`'s pool, initialised with `value`, and
    /// returns a handle to it.
    ///
    /// The reserve / initialise / commit protocol runs inside
    /// ([`Ap::alloc`]); the new object goes into a handle slot at once.
    /// The block is [`alloc_size::<T>()`](alloc_size) bytes; the format's
    /// header size must be 0. Objects whose size is known only at run time
    /// (a vector: an unsized `T` whose
    /// [`Object::from_addr`](crate::Object::from_addr) reads its length
    /// from the object) are allocated with [`alloc_raw`](Self::alloc_raw).
    ///
    /// # Panics
    ///
    /// If the allocation point belongs to another arena, the format has a
    /// header, or `T` needs more alignment than the format's.
    pub fn alloc<T, C>(
        &mut self,
        ap: &mut Ap<'_, T::Format, C>,
        value: T,
    ) -> Result<Handle<'s, T::Format>, Error>
    where
        T: Object,
        C: PoolClass + Holds<T>,
    {
        assert_eq!(
            <T::Format as Format>::HEADER_SIZE,
            0,
            "Scope::alloc needs a format without a header; use Scope::alloc_raw"
        );
        assert!(
            mem::align_of::<T>() <= <T::Format as Format>::ALIGN,
            "Scope::alloc: the type needs more alignment than its format gives"
        );
        self.check_arena(ap.pool().arena().as_raw(), "the allocation point");
        let size = alloc_size::<T>();
        let value = ManuallyDrop::new(value);
        let src: *const T = &*value;
        // SAFETY: `size` is a non-zero multiple of the alignment (alloc_size)
        // and larger than the (zero) header. `init` writes a complete `T` at
        // the client pointer (= base) and zeroes the rest of the block; by
        // `Object`'s contract that is a well-formed object, whose references
        // are null (safe code cannot make any other `Ref` outside the heap).
        // Running `init` again after a failed commit only makes another
        // bitwise copy; heap objects are never dropped, so `value` is
        // effectively moved into the heap once (it is never dropped here).
        // The result goes into a handle slot before any collection point.
        let base = unsafe {
            ap.alloc(size, |base| {
                let dst = base.as_ptr();
                ptr::copy_nonoverlapping(src.cast::<u8>(), dst, mem::size_of::<T>());
                ptr::write_bytes(dst.add(mem::size_of::<T>()), 0, size - mem::size_of::<T>());
            })
        }?;
        // SAFETY: `base` is a committed object of the arena (header size 0,
        // so it is the client pointer), pinned by the local `base`.
        let handle = unsafe { self.handle_from_raw(base) };
        keep_alive(base.as_ptr());
        Ok(handle)
    }

    /// Allocates a block of `size` bytes in `ap`'s pool, initialised by
    /// `init` (which receives the block's *base* address and may run more
    /// than once), and returns a handle to the object at `base +
    /// F::HEADER_SIZE`.
    ///
    /// # Safety
    ///
    /// As for [`Ap::alloc`]: `size` is a multiple of the alignment larger
    /// than the header, `init` builds a well-formed object of format `F`
    /// whose references are null or point to live objects of this arena,
    /// and the pool class must be able to hold it (no references in an
    /// AMCZ pool).
    ///
    /// # Panics
    ///
    /// If the allocation point belongs to another arena.
    pub unsafe fn alloc_raw<F: Format, C: PoolClass>(
        &mut self,
        ap: &mut Ap<'_, F, C>,
        size: usize,
        init: impl FnMut(NonNull<u8>),
    ) -> Result<Handle<'s, F>, Error> {
        self.check_arena(ap.pool().arena().as_raw(), "the allocation point");
        // SAFETY: the caller's contract; the object goes into a handle slot
        // before any collection point.
        let base = unsafe { ap.alloc(size, init) }?;
        // SAFETY: adding the header size stays inside the block (size >
        // header); the object is committed and pinned by the local `base`.
        let handle = unsafe { self.handle_from_raw(base.add(F::HEADER_SIZE)) };
        keep_alive(base.as_ptr());
        Ok(handle)
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("mark", &self.mark)
            .field("len", &self.len())
            .finish()
    }
}

/// A reference to a heap object of format `F` that the collector knows
/// about: an index into the thread's handle table, which is an exact root.
///
/// When the collector moves the object it updates the slot, so the handle
/// stays valid across collections. A handle is `Copy`, cannot leave the
/// [`Scope`] that created it (lifetime `'s`), and cannot leave its thread
/// (`!Send`). Reading the object goes through [`with`](Self::with), which
/// pins it while a `&T` exists; reference fields are read and written with
/// [`get`](Self::get) and [`set`](Self::set).
pub struct Handle<'s, F> {
    slot: &'s AtomicPtr<u8>,
    /// The address of the thread's arena, for checks only.
    arena: usize,
    _format: PhantomData<fn() -> F>,
    /// `!Send` and `!Sync`: a handle belongs to its thread.
    _thread: PhantomData<*const ()>,
}

impl<F> Clone for Handle<'_, F> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Handle<'_, F> {}

/// Keeps `addr` in a register or on the stack up to this point, so that a
/// collection before it (on this thread, or on another while this one is
/// stopped) sees it in the thread's ambiguous root and pins the object.
#[inline(always)]
fn keep_alive(addr: *mut u8) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: an empty assembly block that only takes the value as an
    // input; it reads and writes nothing.
    unsafe {
        core::arch::asm!("/* {0} */", in(reg) addr, options(nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    core::hint::black_box(addr);
}

impl<'s, F: Format> Handle<'s, F> {
    /// The object's current client pointer (never null).
    #[inline(always)]
    fn load(self) -> NonNull<u8> {
        crate::stack::check_stack("a handle was used");
        let p = self.slot.load(Ordering::Relaxed);
        debug_assert!(!p.is_null(), "a live handle's slot is never null");
        // SAFETY: a live handle's slot holds a client pointer: it is set
        // when the handle is made and only the collector changes it (to the
        // object's new address).
        unsafe { NonNull::new_unchecked(p) }
    }

    /// The raw arena of the handle's thread.
    #[inline]
    fn arena_raw(self) -> mps_arena_t {
        self.arena as mps_arena_t
    }

    /// The object's current address as an integer, for hashing with a
    /// location dependency ([`Ld`](crate::Ld)) or for printing. It changes
    /// when the collector moves the object.
    #[inline]
    pub fn addr(self) -> usize {
        self.load().as_ptr() as usize
    }

    /// The object's size in bytes from its client pointer to the end of its
    /// block (`F::skip(p) - p - F::HEADER_SIZE`): addresses `p + 0 ..
    /// p + size()` lie inside the object.
    #[inline]
    pub fn size(self) -> usize {
        let addr = self.load();
        // SAFETY: `addr` is the client pointer of a live object of format
        // F, pinned by the local while `skip` reads it (this thread is
        // registered); `skip` works on any object of the format.
        let next = unsafe { F::skip(addr) };
        keep_alive(addr.as_ptr());
        (next.as_ptr() as usize)
            .checked_sub(addr.as_ptr() as usize + F::HEADER_SIZE)
            .expect("mps: Format::skip returned an address before the object's end")
    }

    /// Do both handles refer to the same object?
    #[inline]
    pub fn ptr_eq(self, other: Handle<'_, F>) -> bool {
        // Loading one address pins its object (it is in a register), so the
        // other load cannot see a moved copy of the same object.
        let a = self.load();
        let b = other.load();
        keep_alive(a.as_ptr());
        a == b
    }

    /// Makes this handle refer to `other`'s object. A handle is a variable
    /// in the thread's handle table: every copy of `self` sees the change.
    /// Useful to walk a structure without creating a handle per step, and
    /// to pass a result out of a nested scope (assign it to a handle of the
    /// outer scope).
    ///
    /// # Panics
    ///
    /// If `other` belongs to another arena.
    #[inline]
    pub fn assign(self, other: Handle<'_, F>) {
        assert!(
            other.arena_raw() == self.arena_raw(),
            "mps: Handle::assign: the handles belong to different arenas"
        );
        let target = other.load();
        self.slot.store(target.as_ptr(), Ordering::Relaxed);
        keep_alive(target.as_ptr());
    }

    /// Is the object a `T`?
    #[inline]
    pub fn is<T: Object<Format = F> + ?Sized>(self) -> bool {
        let addr = self.load();
        // SAFETY: `addr` is the client pointer of a live object of format F,
        // pinned while the local is held (this thread is registered).
        let yes = unsafe { T::is_instance(addr) };
        keep_alive(addr.as_ptr());
        yes
    }

    /// Calls `f` with a reference to the object as a `T`, or returns `None`
    /// if it is not a `T`.
    ///
    /// The object is pinned (it neither moves nor dies) while `f` runs:
    /// its address is held in this frame until `f` returns, and the
    /// thread's stack and registers are an ambiguous root. The reference
    /// cannot outlive `f`.
    #[inline]
    pub fn try_with<T: Object<Format = F> + ?Sized, R>(self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let addr = self.load();
        // SAFETY: as in `is`.
        if !unsafe { T::is_instance(addr) } {
            keep_alive(addr.as_ptr());
            return None;
        }
        // SAFETY: `is_instance` said yes, so `from_addr` gives a valid `T`
        // (Object's contract). It stays valid while `f` runs: the object is
        // pinned by `addr`, kept live below; the collector writes only its
        // `Ref` fields (atomics) meanwhile, and nothing else writes it
        // except through `&T`.
        let result = f(unsafe { T::from_addr(addr).as_ref() });
        keep_alive(addr.as_ptr());
        Some(result)
    }

    /// Calls `f` with a reference to the object as a `T` (see
    /// [`try_with`](Self::try_with)).
    ///
    /// # Panics
    ///
    /// If the object is not a `T`.
    #[inline]
    pub fn with<T: Object<Format = F> + ?Sized, R>(self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Some(result) => result,
            None => panic!(
                "mps: Handle::with: the object is not a {}",
                core::any::type_name::<T>()
            ),
        }
    }

    /// Projects the object, as a `T`, to one of its reference fields; checks
    /// that the field lies inside the object. Returns the pinned address.
    #[inline]
    fn field<T: Object<Format = F> + ?Sized>(
        self,
        field: impl FnOnce(&T) -> &Ref,
    ) -> (NonNull<u8>, *const Ref) {
        let addr = self.load();
        // SAFETY: as in `is`.
        let is_t = unsafe { T::is_instance(addr) };
        assert!(
            is_t,
            "mps: the object is not a {}",
            core::any::type_name::<T>()
        );
        // SAFETY: as in `try_with`; the reference does not outlive this
        // function, during which `addr` is live in the caller.
        let object: &T = unsafe { T::from_addr(addr).as_ref() };
        let start = object as *const T as *const u8 as usize;
        let end = start + size_of_val(object);
        let r: *const Ref = field(object);
        let at = r as usize;
        assert!(
            at >= start && at + mem::size_of::<Ref>() <= end,
            "mps: the projected field is not inside the object"
        );
        (addr, r)
    }

    /// Reads the reference field that `field` selects in the object (as a
    /// `T`) into a new handle of `scope`; `None` if it is null.
    ///
    /// # Panics
    ///
    /// If the object is not a `T`, the field is not inside it, or `scope`
    /// belongs to another arena.
    #[inline]
    pub fn get<'t, T: Object<Format = F> + ?Sized>(
        self,
        scope: &mut Scope<'t>,
        field: impl FnOnce(&T) -> &Ref,
    ) -> Option<Handle<'t, F>> {
        scope.check_arena(self.arena_raw(), "the handle");
        let (addr, r) = self.field(field);
        // SAFETY: `r` points into the object, pinned by `addr`.
        let value = unsafe { &*r }.load_raw();
        keep_alive(addr.as_ptr());
        let value = NonNull::new(value)?;
        // SAFETY: a reference field of an object of this arena and format
        // holds null or the client pointer of a live object of both; the
        // local `value` pins it until it is in the slot.
        let handle = unsafe { scope.handle_from_raw(value) };
        keep_alive(value.as_ptr());
        Some(handle)
    }

    /// Stores `value` (or null) in the reference field that `field`
    /// selects in the object (as a `T`).
    ///
    /// # Panics
    ///
    /// If the object is not a `T`, the field is not inside it, or `value`
    /// belongs to another arena.
    #[inline]
    pub fn set<T: Object<Format = F> + ?Sized>(
        self,
        field: impl FnOnce(&T) -> &Ref,
        value: Option<Handle<'_, F>>,
    ) {
        let target = value.map_or(ptr::null_mut(), |v| {
            assert!(
                v.arena_raw() == self.arena_raw(),
                "mps: Handle::set: the value belongs to another arena"
            );
            v.load().as_ptr()
        });
        let (addr, r) = self.field(field);
        // SAFETY: `r` is a reference field inside a heap object of format F
        // (checked above), pinned by `addr`; `target` is null or the client
        // pointer of a live object of the same arena and format, pinned by
        // the local until the store is done.
        unsafe { (*r).store_raw(target) };
        keep_alive(addr.as_ptr());
        keep_alive(target);
    }

    /// Registers the object for finalization (`mps_finalize`): when it is
    /// otherwise unreachable, a [`Message::Finalization`](crate::Message)
    /// is posted (if enabled) that keeps it alive until discarded. `n`
    /// registrations give up to `n` messages.
    pub fn finalize(self) -> Result<(), Error> {
        let mut addr: mps_addr_t = self.load().as_ptr().cast();
        // SAFETY: the arena is live; `addr` holds the client pointer of a
        // live object in an automatic pool of it.
        let res = unsafe { mps_finalize(self.arena_raw(), &mut addr) };
        keep_alive(addr.cast());
        check(res)
    }

    /// Removes one finalization registration (`mps_definalize`);
    /// [`Error::Fail`] if there is none.
    pub fn definalize(self) -> Result<(), Error> {
        let mut addr: mps_addr_t = self.load().as_ptr().cast();
        // SAFETY: as in `finalize`.
        let res = unsafe { mps_definalize(self.arena_raw(), &mut addr) };
        keep_alive(addr.cast());
        check(res)
    }

    /// The raw arena, for checks by roots and location dependencies.
    #[inline]
    pub(crate) fn arena_ptr(self) -> mps_arena_t {
        self.arena_raw()
    }

    /// The current client pointer, for roots and location dependencies;
    /// the caller keeps it live (pinned) while it uses it.
    #[inline]
    pub(crate) fn current(self) -> NonNull<u8> {
        self.load()
    }
}

impl<F> fmt::Debug for Handle<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({:p})", self.slot.load(Ordering::Relaxed))
    }
}

/// Keeps an address pinned (see [`keep_alive`]); for the crate's other
/// modules.
#[inline(always)]
pub(crate) fn pin_until_here(addr: *mut u8) {
    keep_alive(addr);
}

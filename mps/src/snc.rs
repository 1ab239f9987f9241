//! The SNC pool class (stack no checking): formatted objects allocated in
//! allocation frames and freed all at once when the frame is popped. Their
//! references are scanned at every collection (exactly: they keep their
//! targets alive and follow their moves), but the objects themselves are
//! never collected and never move. For the stack of a stack language, or
//! any last-in first-out scratch space that holds references to the heap.
//!
//! The soundness argument is on [`Snc`].

use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::ops::Deref;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::{Fmt, Format};
use crate::object::{alloc_size, Object, Ref};
use crate::pool::{alloc_on, create_ap, pool_free_size, pool_total_size, PoolId};
use crate::raw::{RawAp, RawPool};
use crate::root::Rank;
use crate::thread::{pin_until_here, Handle, Scope};

/// An SNC pool of format `F`, created by [`Arena::snc`]. A `Copy` handle:
/// the arena owns the pool and destroys it when it is dropped.
///
/// # Soundness
///
/// Popping a frame frees its objects whatever still refers to them, so the
/// safe layer must make every path to a popped object impossible:
///
/// - An SNC object is reached only through a [`StackRef`], never through a
///   [`Handle`]: there is no conversion, [`Frame::alloc`] is the only way
///   to make one, and it is branded with the frame's lifetime `'f`. The
///   frame's closure is `for<'f> FnOnce(&mut Frame<'f, F>) -> R`, so
///   neither the result nor anything the closure stores outside can name
///   `'f` (as with [`Scope`] and its handles); the frame is popped only
///   after the closure has returned or unwound, when no `StackRef` of it
///   is left. `StackRef`s of an outer frame stay usable in inner frames,
///   which are popped first.
/// - No reference field anywhere can hold an SNC address: safe code writes
///   reference fields only from [`Handle`]s ([`Handle::set`],
///   [`StackRef::set`], roots), and a handle never designates an SNC
///   object. So reading a field ([`Handle::get`], [`StackRef::get`]) never
///   yields one. (The references *in* SNC objects point into the heap.)
/// - Frames nest strictly: [`SncAp::frame`] and [`Frame::frame`] borrow
///   the allocation point mutably for the whole closure, and the pop runs
///   in a guard's `drop`, also when the closure panics.
/// - A `StackRef` gives `&T` ([`Deref`]): the object does not move and is
///   not freed before the frame is popped; the collector writes only its
///   [`Ref`] fields (atomics).
///
/// Ravenbrook's MPS documents only exact references in SNC objects;
/// [`Snc::ambiguous_ap`] therefore needs this crate's own library
/// (`mps_sys::VENDORED`) and fails with [`Error::Unimpl`] otherwise.
pub struct Snc<'a, F> {
    raw: NonNull<mps_pool_s>,
    arena: &'a Arena,
    _format: PhantomData<fn() -> F>,
}

impl Arena {
    /// An SNC pool (stack no checking) of format `F`: objects allocated in
    /// allocation frames ([`SncAp::frame`]), scanned at every collection,
    /// freed when their frame is popped.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if the format belongs to another arena or has a
    /// header (SNC objects have none); otherwise the MPS's result.
    pub fn snc<'a, F: Format>(&'a self, fmt: Fmt<'a, F>) -> Result<Snc<'a, F>, Error> {
        if !ptr::eq(fmt.arena(), self) || F::HEADER_SIZE != 0 {
            return Err(Error::Param);
        }
        let mut args = ArgList::new();
        args.add(MPS_KEY_FORMAT, fmt.as_raw());
        let mut pool = ptr::null_mut();
        // SAFETY: `pool` is a valid out parameter; the arena is live; the
        // format belongs to it and outlives the pool (the registry destroys
        // pools first).
        check(unsafe {
            mps_pool_create_k(&mut pool, self.as_raw(), mps_class_snc(), args.as_mut_ptr())
        })?;
        // SAFETY: the call succeeded; the arena's registry owns the pool and
        // destroys it when the arena is dropped, after every allocation
        // point (they borrow the arena).
        let owned = unsafe { RawPool::from_raw(pool) };
        let raw = NonNull::new(pool).expect("checked by RawPool::from_raw");
        // SNC never pads and never moves an object.
        self.adopt_pool(owned, false, true);
        Ok(Snc {
            raw,
            arena: self,
            _format: PhantomData,
        })
    }
}

impl<'a, F: Format> Snc<'a, F> {
    /// An allocation point whose objects hold **exact** references
    /// (`mps_ap_create_k`, `MPS_KEY_RANK` exact).
    ///
    /// # Errors
    ///
    /// The MPS's result.
    pub fn ap(&self) -> Result<SncAp<'a, F>, Error> {
        self.ap_of_rank(Rank::Exact)
    }

    /// An allocation point whose objects hold **ambiguous** references:
    /// they keep their targets alive and pinned, and are never updated.
    ///
    /// # Errors
    ///
    /// [`Error::Unimpl`] unless the linked library is this crate's own
    /// (`mps_sys::VENDORED`): the MPS manual offers only exact SNC points.
    pub fn ambiguous_ap(&self) -> Result<SncAp<'a, F>, Error> {
        if !mps_sys::VENDORED {
            return Err(Error::Unimpl);
        }
        self.ap_of_rank(Rank::Ambiguous)
    }

    fn ap_of_rank(&self, rank: Rank) -> Result<SncAp<'a, F>, Error> {
        let mut args = ArgList::new();
        args.add(MPS_KEY_RANK, rank.mps_rank());
        Ok(SncAp {
            raw: create_ap(self.raw, &mut args)?,
            pool: *self,
            rank,
        })
    }

    /// Bytes the pool has from the arena (`mps_pool_total_size`).
    pub fn total_size(&self) -> usize {
        pool_total_size(self.raw)
    }

    /// Bytes of that not holding objects (`mps_pool_free_size`).
    pub fn free_size(&self) -> usize {
        pool_free_size(self.raw)
    }
}

impl<'a, F> Snc<'a, F> {
    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_pool_t {
        self.raw.as_ptr()
    }

    /// The pool's identity, as [`Arena::addr_pool`] reports it.
    #[inline]
    pub fn id(&self) -> PoolId {
        PoolId::from_raw(self.raw.as_ptr()).expect("a pool is never null")
    }

    /// The arena this pool belongs to.
    #[inline]
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }
}

impl<F> Clone for Snc<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Snc<'_, F> {}

impl<F> fmt::Debug for Snc<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Snc({:p})", self.raw)
    }
}

// SAFETY: as for automatic pools: the MPS takes the arena lock for every
// call on a pool, and the pool lives as long as the arena.
unsafe impl<F> Send for Snc<'_, F> {}
// SAFETY: as above.
unsafe impl<F> Sync for Snc<'_, F> {}

/// An allocation point of an [`Snc`] pool, for one thread at a time
/// (`Send`, not `Sync`). Objects are allocated only inside frames
/// ([`frame`](Self::frame), then [`Frame::alloc`]).
pub struct SncAp<'a, F> {
    raw: RawAp,
    pool: Snc<'a, F>,
    rank: Rank,
}

impl<'a, F: Format> SncAp<'a, F> {
    /// The pool this allocation point allocates in.
    #[inline]
    pub fn pool(&self) -> Snc<'a, F> {
        self.pool
    }

    /// The rank of the references of the objects allocated here.
    #[inline]
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_ap_t {
        self.raw.as_ptr()
    }

    /// Pushes an allocation frame (`mps_ap_frame_push`), runs `f` with it,
    /// then pops it (`mps_ap_frame_pop`), freeing every object allocated in
    /// it, also if `f` panics. See [`Snc`] for why no
    /// object of the frame can be reached after the pop.
    ///
    /// # Errors
    ///
    /// The push's result (`f` does not run then).
    pub fn frame<R>(&mut self, f: impl for<'f> FnOnce(&mut Frame<'f, F>) -> R) -> Result<R, Error> {
        let arena = self.pool.arena.as_raw();
        run_frame(self.raw.as_ptr(), arena, f)
    }
}

impl<F> fmt::Debug for SncAp<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SncAp({:p})", self.raw.as_ptr())
    }
}

/// Push, run, pop (in a guard).
fn run_frame<F: Format, R>(
    ap: mps_ap_t,
    arena: mps_arena_t,
    f: impl for<'f> FnOnce(&mut Frame<'f, F>) -> R,
) -> Result<R, Error> {
    let mut frame: mps_frame_t = ptr::null_mut();
    // SAFETY: `ap` is live and borrowed mutably by the caller for this
    // call (no block is reserved on it: reservations never outlive
    // `alloc_on`); `frame` is a valid out parameter.
    check(unsafe { mps_ap_frame_push(&mut frame, ap) })?;
    let _pop = PopGuard { ap, frame };
    let mut inner = Frame {
        ap,
        arena,
        _brand: PhantomData,
        _format: PhantomData,
    };
    Ok(f(&mut inner))
}

/// Pops a frame when dropped.
struct PopGuard {
    ap: mps_ap_t,
    frame: mps_frame_t,
}

impl Drop for PopGuard {
    fn drop(&mut self) {
        // SAFETY: the frame was pushed on this live allocation point, its
        // inner frames are popped already (their guards were dropped
        // first), and no block is reserved. Every `StackRef` of the frame
        // is gone: they cannot outlive the closure (see `Snc`).
        let res = check(unsafe { mps_ap_frame_pop(self.ap, self.frame) });
        if let Err(e) = res {
            if !std::thread::panicking() {
                panic!("mps: mps_ap_frame_pop failed: {e:?}");
            }
        }
    }
}

/// An allocation frame of an [`SncAp`], lent to the closure of
/// [`SncAp::frame`] or [`Frame::frame`]; `'f` brands the [`StackRef`]s it
/// makes.
pub struct Frame<'f, F> {
    ap: mps_ap_t,
    arena: mps_arena_t,
    /// Covariant in `'f`; `!Send` and `!Sync`.
    _brand: PhantomData<(&'f (), *const ())>,
    _format: PhantomData<fn() -> F>,
}

impl<'f, F: Format> Frame<'f, F> {
    /// Allocates a `T` initialised with `value` in this frame. It lives
    /// until the frame is popped; its references start null.
    ///
    /// # Errors
    ///
    /// The MPS's result.
    ///
    /// # Panics
    ///
    /// If `T` needs more alignment than the format gives.
    pub fn alloc<T: Object<Format = F>>(&mut self, value: T) -> Result<StackRef<'f, T>, Error> {
        assert!(
            mem::align_of::<T>() <= F::ALIGN,
            "Frame::alloc: the type needs more alignment than its format gives"
        );
        let size = alloc_size::<T>();
        let value = ManuallyDrop::new(value);
        let src: *const T = &*value;
        // SAFETY: the allocation point is live and ours (`&mut self`, the
        // frame's closure holds it), with nothing reserved; `size` is a
        // non-zero multiple of the alignment (alloc_size), the header is 0
        // (checked by `Arena::snc`). `init` writes a complete `T` at the
        // client pointer (= base) and zeroes the rest: a well-formed object
        // (Object's contract) whose references are null (safe code cannot
        // make others outside the heap). Heap objects are never dropped, so
        // `value` is moved in once. Nothing must keep the new object alive:
        // SNC objects are never collected.
        let base = unsafe {
            alloc_on(self.ap, size, |base| {
                let dst = base.as_ptr();
                ptr::copy_nonoverlapping(src.cast::<u8>(), dst, mem::size_of::<T>());
                ptr::write_bytes(dst.add(mem::size_of::<T>()), 0, size - mem::size_of::<T>());
            })
        }?;
        Ok(StackRef {
            ptr: base.cast(),
            arena: self.arena,
            _brand: PhantomData,
        })
    }

    /// Runs `f` in a frame nested in this one, popped when `f` returns
    /// (see [`SncAp::frame`]). [`StackRef`]s of this frame stay usable
    /// inside.
    ///
    /// # Errors
    ///
    /// The push's result (`f` does not run then).
    pub fn frame<R>(&mut self, f: impl for<'g> FnOnce(&mut Frame<'g, F>) -> R) -> Result<R, Error> {
        run_frame(self.ap, self.arena, f)
    }
}

impl<F> fmt::Debug for Frame<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({:p})", self.ap)
    }
}

/// An object of type `T` in an SNC frame: valid until the frame `'f` is
/// popped, which cannot happen while the `StackRef` exists. It never
/// moves; [`Deref`] gives the object. Reference fields are read into
/// handles with [`get`](Self::get) and written from handles with
/// [`set`](Self::set). `Copy`, `!Send`.
pub struct StackRef<'f, T> {
    ptr: NonNull<T>,
    arena: mps_arena_t,
    _brand: PhantomData<(&'f T, *const ())>,
}

impl<T> Clone for StackRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StackRef<'_, T> {}

impl<T> Deref for StackRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the object was allocated as a `T` and stays in place and
        // allocated until its frame is popped, after every `StackRef` of
        // the frame is gone; the collector writes only its `Ref` fields
        // (atomics), and nothing else writes it except through `&T`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<'f, T: Object> StackRef<'f, T> {
    /// The object's address as an integer (it never changes).
    #[inline]
    pub fn addr(self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Checks that the field `field` selects lies inside the object.
    fn field(&self, field: impl FnOnce(&T) -> &Ref) -> &Ref {
        let object: &T = self;
        let start = object as *const T as usize;
        let r: &Ref = field(object);
        let at = r as *const Ref as usize;
        assert!(
            at >= start && at + mem::size_of::<Ref>() <= start + mem::size_of::<T>(),
            "mps: the projected field is not inside the object"
        );
        r
    }

    /// Reads the reference field that `field` selects into a new handle
    /// of `scope`; `None` if it is null.
    ///
    /// # Panics
    ///
    /// If the field is not inside the object, or `scope` belongs to
    /// another arena.
    pub fn get<'t>(
        self,
        scope: &mut Scope<'t>,
        field: impl FnOnce(&T) -> &Ref,
    ) -> Option<Handle<'t, T::Format>> {
        assert!(
            scope.thread().arena_raw() == self.arena,
            "mps: StackRef::get: the scope belongs to another arena"
        );
        let value = NonNull::new(self.field(field).load_raw())?;
        // SAFETY: the field holds null or the client pointer of a live heap
        // object of this arena and format: it is written only from handles
        // (never designating an SNC object) and fixed by the collector; the
        // local `value` pins the object (the scope's thread is registered)
        // until it is in the slot.
        let handle = unsafe { scope.handle_from_raw(value) };
        pin_until_here(value.as_ptr());
        Some(handle)
    }

    /// Stores `value` (or null) in the reference field that `field`
    /// selects. The SNC object then keeps `value`'s object alive (exact
    /// points: and follows its moves) until the frame is popped.
    ///
    /// # Panics
    ///
    /// If the field is not inside the object, or `value` belongs to
    /// another arena.
    pub fn set(self, field: impl FnOnce(&T) -> &Ref, value: Option<Handle<'_, T::Format>>) {
        let target = value.map_or(ptr::null_mut(), |v| {
            assert!(
                v.arena_ptr() == self.arena,
                "mps: StackRef::set: the value belongs to another arena"
            );
            v.current().as_ptr()
        });
        let r = self.field(field);
        // SAFETY: `r` is a reference field inside an SNC object of this
        // arena, scanned by the format; `target` is null or the client
        // pointer of a live heap object of the same arena and format,
        // pinned by the local until the store is done.
        unsafe { r.store_raw(target) };
        pin_until_here(target);
    }
}

impl<T> fmt::Debug for StackRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StackRef({:p})", self.ptr)
    }
}

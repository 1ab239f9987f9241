//! Roots owned by the client: tables of references outside the heap.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::Format;
use crate::raw::RawRoot;
use crate::thread::{pin_until_here, registered_with, Handle, Scope};

/// The strength of the references of a [`Root`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rank {
    /// Ambiguous (`mps_rank_ambig`): the referenced objects are kept alive
    /// and pinned (never moved) while referenced.
    Ambiguous,
    /// Exact (`mps_rank_exact`): the referenced objects are kept alive and
    /// the references updated when they move.
    Exact,
    /// Weak (`mps_rank_weak`): like exact, but does not keep the objects
    /// alive; a reference to an object that died becomes null.
    Weak,
}

impl Rank {
    pub(crate) fn mps_rank(self) -> mps_rank_t {
        // SAFETY: pure queries of the MPS.
        unsafe {
            match self {
                Rank::Ambiguous => mps_rank_ambig(),
                Rank::Exact => mps_rank_exact(),
                Rank::Weak => mps_rank_weak(),
            }
        }
    }
}

/// A fixed-size table of references to objects of format `F`, registered
/// with the arena as a root (`mps_root_create_area` over memory owned by
/// the table, scanned by `mps_scan_area`).
///
/// A root is how objects outlive scopes and threads: a handle's object can
/// be stored in a slot with [`set`](Self::set) and read back into any
/// scope of any thread registered with the same arena with
/// [`get`](Self::get). The table is `Sync` (its slots are atomic words);
/// each slot holds null or an object at every instant. Slots are only
/// accessed by threads registered with the arena (through a handle or
/// scope, or checked), which every collection stops, so the collector
/// never scans a slot while it is being written.
pub struct Root<'a, F> {
    /// Destroyed in `drop`, before the slots are freed.
    raw: Option<RawRoot>,
    slots: NonNull<[AtomicPtr<u8>]>,
    arena: &'a Arena,
    rank: Rank,
    _format: PhantomData<fn() -> F>,
}

impl<'a, F: Format> Root<'a, F> {
    /// A table of `len` null slots of the given rank (at least one: a
    /// table asked for with none gets one), registered with `arena`.
    ///
    /// # Errors
    ///
    /// [`Error::Memory`] if the slots cannot be allocated (their size
    /// overflows, or the allocator refuses it); the MPS's result if the
    /// root cannot be registered.
    pub fn new(arena: &'a Arena, rank: Rank, len: usize) -> Result<Self, Error> {
        let len = len.max(1);
        let mut slots_vec: Vec<AtomicPtr<u8>> = Vec::new();
        slots_vec
            .try_reserve_exact(len)
            .map_err(|_| Error::Memory)?;
        slots_vec.resize_with(len, || AtomicPtr::new(ptr::null_mut()));
        let slots = NonNull::from(Box::leak(slots_vec.into_boxed_slice()));
        let base: *mut AtomicPtr<u8> = slots.as_ptr().cast();
        let mut root = ptr::null_mut();
        // SAFETY: the area `[base, base + len)` is live, all null, and stays
        // allocated and in place until the root is destroyed (`drop`); its
        // words are always null or client pointers of objects of the arena
        // (only `set` and the collector write them).
        let res = unsafe {
            mps_root_create_area(
                &mut root,
                arena.as_raw(),
                rank.mps_rank(),
                0,
                base.cast(),
                base.add(len).cast(),
                Some(mps_scan_area),
                ptr::null_mut(),
            )
        };
        let mut table = Root {
            raw: None,
            slots,
            arena,
            rank,
            _format: PhantomData,
        };
        // On error `table` frees the unregistered slots.
        check(res)?;
        // SAFETY: created above, owned by the table, destroyed in `drop`
        // before the slots are freed.
        table.raw = Some(unsafe { RawRoot::from_raw(root) });
        Ok(table)
    }

    /// An exact root of `len` slots.
    pub fn exact(arena: &'a Arena, len: usize) -> Result<Self, Error> {
        Root::new(arena, Rank::Exact, len)
    }

    /// An ambiguous root of `len` slots: its objects are pinned.
    pub fn ambiguous(arena: &'a Arena, len: usize) -> Result<Self, Error> {
        Root::new(arena, Rank::Ambiguous, len)
    }

    /// A weak root of `len` slots.
    pub fn weak(arena: &'a Arena, len: usize) -> Result<Self, Error> {
        Root::new(arena, Rank::Weak, len)
    }

    fn slots(&self) -> &[AtomicPtr<u8>] {
        // SAFETY: the slots are live until `drop`.
        unsafe { self.slots.as_ref() }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Always false: a root has at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The rank of the root.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// The arena the root belongs to.
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }

    /// The root's identity, as [`Arena::walk_roots`] reports it.
    pub fn id(&self) -> RootId {
        RootId::from_raw(self.raw.as_ref().map_or(ptr::null_mut(), RawRoot::as_ptr))
            .expect("a registered root")
    }

    /// Stores the object of `value` (or null) in slot `i`.
    ///
    /// # Panics
    ///
    /// If `i` is out of range, `value` belongs to another arena, or (when
    /// `value` is `None`) the calling thread is not registered with the
    /// root's arena.
    pub fn set(&self, i: usize, value: Option<Handle<'_, F>>) {
        let slot = &self.slots()[i];
        let target = match value {
            Some(handle) => {
                assert!(
                    handle.arena_ptr() == self.arena.as_raw(),
                    "mps: Root::set: the handle belongs to another arena"
                );
                handle.current().as_ptr()
            }
            None => {
                self.check_registered("Root::set");
                ptr::null_mut()
            }
        };
        // `target` (a local of a registered thread) pins the object until
        // the slot holds it.
        slot.store(target, Ordering::Relaxed);
        pin_until_here(target);
    }

    /// Reads slot `i` into a new handle of `scope`; `None` if the slot is
    /// null (never set, cleared, or, for a weak root, its object died).
    ///
    /// # Panics
    ///
    /// If `i` is out of range or `scope` belongs to another arena.
    pub fn get<'s>(&self, i: usize, scope: &mut Scope<'s>) -> Option<Handle<'s, F>> {
        assert!(
            scope.thread().arena_raw() == self.arena.as_raw(),
            "mps: Root::get: the scope belongs to another arena"
        );
        let value = NonNull::new(self.slots()[i].load(Ordering::Relaxed))?;
        // SAFETY: a slot holds null or the client pointer of a live object
        // of format F in this arena (the scope's); the local `value` pins it
        // until it is in the handle's slot.
        let handle = unsafe { scope.handle_from_raw(value) };
        pin_until_here(value.as_ptr());
        Some(handle)
    }

    /// Panics unless the calling thread is registered with the root's
    /// arena: only registered threads touch root slots, so that a
    /// collection (which stops them) never races with them.
    fn check_registered(&self, what: &str) {
        assert!(
            registered_with(self.arena.as_raw()),
            "mps: {what} called on a thread not registered with the root's arena (use Arena::with_thread)"
        );
    }

    /// Is slot `i` null?
    ///
    /// # Panics
    ///
    /// If `i` is out of range or the calling thread is not registered with
    /// the root's arena.
    pub fn is_null(&self, i: usize) -> bool {
        self.check_registered("Root::is_null");
        self.slots()[i].load(Ordering::Relaxed).is_null()
    }

    /// Sets every slot to null.
    ///
    /// # Panics
    ///
    /// If the calling thread is not registered with the root's arena.
    pub fn clear(&self) {
        self.check_registered("Root::clear");
        for slot in self.slots() {
            slot.store(ptr::null_mut(), Ordering::Relaxed);
        }
    }
}

impl<F> Drop for Root<'_, F> {
    fn drop(&mut self) {
        // Unregister, then free the memory the root covered.
        drop(self.raw.take());
        // SAFETY: the slots came from `Box::leak` in `new` and are no longer
        // registered; nothing else refers to them.
        drop(unsafe { Box::from_raw(self.slots.as_ptr()) });
    }
}

impl<F> fmt::Debug for Root<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root")
            .field("rank", &self.rank)
            // SAFETY: the slots are live until `drop`.
            .field("len", &unsafe { self.slots.as_ref() }.len())
            .finish()
    }
}

// SAFETY: the slots are atomic words and the root handle may be destroyed on
// any thread; `set` and `get` check the arena of the handles and scopes they
// are given.
unsafe impl<F> Send for Root<'_, F> {}
// SAFETY: as above; shared access only performs atomic loads and stores.
unsafe impl<F> Sync for Root<'_, F> {}

/// The identity of a root of an arena: what [`Arena::walk_roots`] reports,
/// comparable with [`Root::id`] and [`WeakRef::id`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootId(NonNull<mps_root_s>);

impl RootId {
    /// The raw MPS handle. Only an identity: the root may have been
    /// destroyed since the id was taken.
    #[inline]
    pub fn as_raw(self) -> mps_root_t {
        self.0.as_ptr()
    }

    /// The id of a raw root handle (`None` for null).
    pub(crate) fn from_raw(raw: mps_root_t) -> Option<RootId> {
        NonNull::new(raw).map(RootId)
    }
}

impl fmt::Debug for RootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootId({:p})", self.0)
    }
}

// SAFETY: an identity only; it is never dereferenced.
unsafe impl Send for RootId {}
// SAFETY: as above.
unsafe impl Sync for RootId {}

/// A weak reference to one object of format `F`, held outside the heap: a
/// one-slot weak [`Root`]. It does not keep its object alive; once the
/// object has died (a collection found it unreachable otherwise), the
/// reference is cleared and [`get`](Self::get) returns `None`. While the
/// object lives, `get` returns it, current (the collector updates the
/// reference when the object moves), in a new strong handle.
///
/// There is no way to read a cleared reference as anything but `None`,
/// nor a live one without making it strong for the handle's scope.
/// For many weak references, use a [`Root::weak`] table or the objects of
/// a weak [`Awl`](crate::Awl) allocation point
/// ([`weak_ap`](crate::Pool::weak_ap)), whose reference fields behave the
/// same way through [`Handle::get`].
pub struct WeakRef<'a, F> {
    root: Root<'a, F>,
}

impl<'a, F: Format> WeakRef<'a, F> {
    /// A cleared weak reference, registered with `arena`.
    pub fn new(arena: &'a Arena) -> Result<Self, Error> {
        Ok(WeakRef {
            root: Root::weak(arena, 1)?,
        })
    }

    /// A weak reference to `h`'s object.
    ///
    /// # Panics
    ///
    /// If `h` belongs to another arena.
    pub fn to(arena: &'a Arena, h: Handle<'_, F>) -> Result<Self, Error> {
        let weak = WeakRef::new(arena)?;
        weak.set(Some(h));
        Ok(weak)
    }

    /// Makes the reference refer to `value`'s object (or clears it).
    ///
    /// # Panics
    ///
    /// As [`Root::set`].
    pub fn set(&self, value: Option<Handle<'_, F>>) {
        self.root.set(0, value);
    }

    /// The object, in a new (strong) handle of `scope`, or `None` if the
    /// reference is cleared: never set, cleared with [`set`](Self::set),
    /// or its object died.
    ///
    /// # Panics
    ///
    /// If `scope` belongs to another arena.
    pub fn get<'s>(&self, scope: &mut Scope<'s>) -> Option<Handle<'s, F>> {
        self.root.get(0, scope)
    }

    /// Is the reference cleared?
    ///
    /// # Panics
    ///
    /// If the calling thread is not registered with the arena.
    pub fn is_cleared(&self) -> bool {
        self.root.is_null(0)
    }

    /// The root's identity, as [`Arena::walk_roots`] reports it.
    pub fn id(&self) -> RootId {
        self.root.id()
    }
}

impl<F> fmt::Debug for WeakRef<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakRef").finish_non_exhaustive()
    }
}

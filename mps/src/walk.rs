//! Heap and root walks: every object of a format (or of a pool) handed to a
//! closure as a [`Handle`], and every root reference as an address.
//!
//! The MPS's walkers call their stepper inside the collector, with the
//! arena locked (and, for roots, every other thread stopped), where client
//! code may neither call the MPS nor allocate. So the safe walks run in two
//! phases: the stepper (this crate's code, no allocation) records the
//! client pointers in a preallocated buffer; then, back outside the MPS,
//! the closure gets a handle to each recorded object. The buffer is an
//! **ambiguous root** from before the MPS walk starts until the closure has
//! seen every object, so every recorded object stays alive and in place
//! whatever the closure does (allocate, collect, walk again). See the crate
//! docs, "Soundness".

use core::ffi::c_void;
use core::fmt;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::{callback, Format};
use crate::pool::{Pool, PoolClass};
use crate::raw::RawRoot;
use crate::root::RootId;
use crate::thread::{Handle, Scope};

/// First guess at the number of objects a walk records; a walk that finds
/// more runs again with room for all of them.
const INITIAL_CAPACITY: usize = 1024;

/// Recorded client pointers in memory registered as an ambiguous root.
struct Snapshot {
    /// Destroyed in `drop`, before `buf` is freed.
    root: Option<RawRoot>,
    buf: NonNull<[usize]>,
    /// Entries written.
    len: usize,
    /// Entries offered (more than the capacity: the walk must run again).
    total: usize,
}

impl Snapshot {
    /// A zeroed buffer of `cap` words, registered as an ambiguous root of
    /// `arena`.
    fn new(arena: &Arena, cap: usize) -> Result<Snapshot, Error> {
        let boxed: Box<[usize]> = vec![0usize; cap.max(1)].into_boxed_slice();
        let buf = NonNull::from(Box::leak(boxed));
        let mut snap = Snapshot {
            root: None,
            buf,
            len: 0,
            total: 0,
        };
        let base: *mut usize = buf.as_ptr().cast();
        let mut root = ptr::null_mut();
        // SAFETY: the area `[base, base + len)` is live and stays allocated
        // and in place until the root is destroyed (`drop` destroys it
        // first). An ambiguous root may hold any word.
        let res = unsafe {
            mps_root_create_area(
                &mut root,
                arena.as_raw(),
                mps_rank_ambig(),
                0,
                base.cast(),
                base.add(snap.capacity()).cast(),
                Some(mps_scan_area),
                ptr::null_mut(),
            )
        };
        check(res)?; // on error `snap` frees the unregistered buffer
                     // SAFETY: created above; owned by the snapshot, destroyed in `drop`
                     // before the buffer is freed.
        snap.root = Some(unsafe { RawRoot::from_raw(root) });
        Ok(snap)
    }

    fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Records a client pointer, if there is room; counts it either way.
    /// Allocation-free, for use inside the MPS.
    #[inline]
    fn record(&mut self, addr: NonNull<u8>) {
        if self.len < self.capacity() {
            // SAFETY: `len < capacity`: a word of the live buffer. Only
            // this thread writes it, and only inside an MPS call holding
            // the arena lock, so no collection reads it meanwhile.
            unsafe {
                self.buf
                    .as_ptr()
                    .cast::<usize>()
                    .add(self.len)
                    .write(addr.as_ptr() as usize)
            };
            self.len += 1;
        }
        self.total += 1;
    }

    /// The recorded entries.
    fn entries(&self) -> &[usize] {
        // SAFETY: the buffer is live until `drop`; `len <= capacity`.
        unsafe { &self.buf.as_ref()[..self.len] }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Unregister, then free the memory the root covered.
        drop(self.root.take());
        // SAFETY: the buffer came from `Box::leak` in `new` and is no longer
        // registered.
        drop(unsafe { Box::from_raw(self.buf.as_ptr()) });
    }
}

/// Runs `walk` (which records into the snapshot it is given) until the
/// snapshot had room for everything it offered.
fn snapshot(arena: &Arena, mut walk: impl FnMut(&mut Snapshot)) -> Result<Snapshot, Error> {
    let mut cap = INITIAL_CAPACITY;
    loop {
        let mut snap = Snapshot::new(arena, cap)?;
        walk(&mut snap);
        if snap.total <= snap.capacity() {
            return Ok(snap);
        }
        cap = snap.total + snap.total / 4 + 64;
    }
}

/// Hands a handle to each recorded object, each in a scope of its own.
///
/// # Safety
///
/// Every entry of `snap` is the client pointer of an object of format `F`
/// of `scope`'s arena, kept alive and in place by the snapshot's root.
unsafe fn visit<F: Format>(
    snap: &Snapshot,
    scope: &mut Scope<'_>,
    f: &mut impl for<'t> FnMut(&mut Scope<'t>, Handle<'t, F>),
) -> usize {
    for &addr in snap.entries() {
        scope.scope(|t| {
            let addr = NonNull::new(addr as *mut u8).expect("a recorded client pointer");
            // SAFETY: the caller's guarantee: a live object of format F in
            // this scope's arena, pinned by the snapshot's ambiguous root
            // for as long as `snap` is borrowed here.
            let handle = unsafe { t.handle_from_raw::<F>(addr) };
            f(t, handle);
        });
    }
    snap.entries().len()
}

/// What the formatted-objects stepper needs.
struct ObjectsWalk<'w> {
    snap: &'w mut Snapshot,
    /// The MPS formats created for `F`.
    formats: &'w [mps_fmt_t],
    /// The pools known to hold no pads; the blocks of every other pool
    /// are checked with `is_pad`.
    padless_pools: &'w [mps_pool_t],
}

/// The `mps_formatted_objects_stepper_t` of [`Arena::walk_objects`].
unsafe extern "C" fn objects_stepper<F: Format>(
    addr: mps_addr_t,
    fmt: mps_fmt_t,
    pool: mps_pool_t,
    p: *mut c_void,
    _s: usize,
) {
    callback("Format::is_pad", || {
        // SAFETY: `p` is the `ObjectsWalk` that `walk_objects` passed, live
        // and used by nothing else during the MPS call.
        let w = unsafe { &mut *p.cast::<ObjectsWalk<'_>>() };
        if !w.formats.contains(&fmt) {
            return;
        }
        let Some(addr) = NonNull::new(addr.cast::<u8>()) else {
            return;
        };
        if !w.padless_pools.contains(&pool) {
            // SAFETY: the MPS passes the client pointer of a block of
            // format F (checked above): an object, a pad or (never when
            // parked, but harmless) a forwarding marker, which
            // `is_forwarded` tells apart; `is_pad` then sees only objects
            // and pads. Nothing moves or dies while the arena is locked.
            let filler = unsafe { F::is_forwarded(addr).is_some() || F::is_pad(addr) };
            if filler {
                return;
            }
        }
        w.snap.record(addr);
    })
}

/// What the pool-walk area scanner needs.
struct PoolWalk<'w> {
    snap: &'w mut Snapshot,
    may_pad: bool,
}

/// The `mps_area_scan_t` of [`Pool::walk`]: records every block of the
/// area (client pointers `[base, limit)`) that is an object.
unsafe extern "C" fn pool_walk_area<F: Format>(
    _ss: mps_ss_t,
    base: *mut c_void,
    limit: *mut c_void,
    closure: *mut c_void,
) -> mps_res_t {
    callback("Format::skip", || {
        // SAFETY: `closure` is the `PoolWalk` that `Pool::walk` passed, live
        // and used by nothing else during the MPS call.
        let w = unsafe { &mut *closure.cast::<PoolWalk<'_>>() };
        let limit = limit.cast::<u8>();
        let mut p = base.cast::<u8>();
        while p < limit {
            let Some(addr) = NonNull::new(p) else { break };
            // SAFETY: `[base, limit)` is a run of blocks of the pool's
            // format F (objects and pads; no forwarding markers while the
            // arena is parked, and `is_forwarded` tells them apart anyway),
            // which neither move nor die while the arena is locked.
            unsafe {
                let next = F::skip(addr);
                if !(w.may_pad && (F::is_forwarded(addr).is_some() || F::is_pad(addr))) {
                    w.snap.record(addr);
                }
                p = next.as_ptr();
            }
        }
        MPS_RES_OK as mps_res_t
    })
}

impl Arena {
    /// Walks the heap (`mps_arena_formatted_objects_walk`): calls `f` with
    /// a handle to every object of format `F` in every automatic pool of
    /// the arena, each in a scope of its own. Returns the number of
    /// objects visited.
    ///
    /// The arena is **parked** first (and left parked: call
    /// [`release`](Self::release) afterwards), so the walk sees a complete
    /// heap with no collection in progress. It may include objects that
    /// are unreachable but not yet reclaimed; they are well-formed, and
    /// the walk keeps them (and every other visited object) alive and in
    /// place until it returns, so `f` may do anything a scope allows:
    /// read and write through the handle, allocate, even collect. Objects
    /// allocated by `f` are not visited. Blocks of the pools that may hold
    /// pads (AMC, AMCZ, and any pool created through the raw bindings)
    /// count only if [`Format::is_pad`] says they are not pads.
    ///
    /// # Panics
    ///
    /// If `scope` belongs to another arena.
    ///
    /// # Errors
    ///
    /// The MPS's result if the buffer of visited objects cannot be
    /// registered as a root.
    pub fn walk_objects<F: Format>(
        &self,
        scope: &mut Scope<'_>,
        mut f: impl for<'t> FnMut(&mut Scope<'t>, Handle<'t, F>),
    ) -> Result<usize, Error> {
        assert!(
            scope.thread().arena_raw() == self.as_raw(),
            "mps: Arena::walk_objects: the scope belongs to another arena"
        );
        let formats = self.formats_of::<F>();
        let padless_pools = self.pools_without_pads();
        self.park();
        let snap = snapshot(self, |snap| {
            let mut w = ObjectsWalk {
                snap,
                formats: &formats,
                padless_pools: &padless_pools,
            };
            // SAFETY: the arena is live; the stepper matches
            // `objects_stepper`'s expectations of `p`, which outlives the
            // call; it neither calls the MPS nor allocates.
            unsafe {
                mps_arena_formatted_objects_walk(
                    self.as_raw(),
                    Some(objects_stepper::<F>),
                    ptr::addr_of_mut!(w).cast(),
                    0,
                );
            }
        })?;
        // SAFETY: the stepper recorded only client pointers of blocks of
        // formats created for F in this arena that are not pads or
        // forwarding markers: objects of format F, pinned by the snapshot
        // since before the walk.
        Ok(unsafe { visit(&snap, scope, &mut f) })
    }

    /// Every reference from a root of the arena into an automatic pool
    /// (`mps_arena_roots_walk`), with the root it was found in: the
    /// handle tables and stacks of registered threads, [`Root`]s, and so
    /// on. Ambiguous roots report only words that look like references
    /// into automatic pools.
    ///
    /// The addresses are plain numbers, a snapshot: compare them with
    /// [`Handle::addr`] while the arena stays parked. The arena is
    /// **parked** first, and left parked.
    ///
    /// [`Root`]: crate::Root
    pub fn walk_roots(&self) -> Result<Vec<RootReference>, Error> {
        self.park();
        let mut cap = INITIAL_CAPACITY;
        loop {
            let mut w = RootsWalk {
                out: Vec::with_capacity(cap),
                total: 0,
            };
            // SAFETY: the arena is live and parked (the MPS requires it);
            // the stepper matches `roots_stepper`'s expectations of `p`,
            // which outlives the call; it neither calls the MPS nor
            // allocates (it only writes into spare capacity).
            unsafe {
                mps_arena_roots_walk(
                    self.as_raw(),
                    Some(roots_stepper),
                    ptr::addr_of_mut!(w).cast(),
                    0,
                );
            }
            if w.total <= cap {
                return Ok(w.out);
            }
            cap = w.total + w.total / 4 + 64;
        }
    }
}

impl<'a, F: Format, C: PoolClass> Pool<'a, F, C> {
    /// Walks this pool (`mps_pool_walk`): calls `f` with a handle to every
    /// object in it, each in a scope of its own; returns the number of
    /// objects visited. As [`Arena::walk_objects`], restricted to one
    /// pool: the arena is **parked** first (and left parked), and every
    /// visited object stays alive and in place until the walk returns.
    ///
    /// # Panics
    ///
    /// If `scope` belongs to another arena.
    ///
    /// # Errors
    ///
    /// The MPS's result if the buffer of visited objects cannot be
    /// registered as a root or the walk fails.
    pub fn walk(
        &self,
        scope: &mut Scope<'_>,
        mut f: impl for<'t> FnMut(&mut Scope<'t>, Handle<'t, F>),
    ) -> Result<usize, Error> {
        let arena = self.arena();
        assert!(
            scope.thread().arena_raw() == arena.as_raw(),
            "mps: Pool::walk: the scope belongs to another arena"
        );
        arena.park();
        let mut res = MPS_RES_OK as mps_res_t;
        let snap = snapshot(arena, |snap| {
            let mut w = PoolWalk {
                snap,
                may_pad: C::MAY_PAD,
            };
            // SAFETY: the pool is live and automatic, the arena parked; the
            // area scanner matches `pool_walk_area`'s expectations of the
            // closure, which outlives the call; it neither calls the MPS
            // nor allocates, and fixes nothing (it changes no reference).
            res = unsafe {
                mps_pool_walk(
                    self.as_raw(),
                    Some(pool_walk_area::<F>),
                    ptr::addr_of_mut!(w).cast(),
                )
            };
        })?;
        check(res)?;
        // SAFETY: the area scanner recorded only client pointers of blocks
        // of this pool (format F) that are not pads or forwarding markers:
        // objects of format F, pinned by the snapshot since before the walk.
        Ok(unsafe { visit(&snap, scope, &mut f) })
    }
}

/// A reference held by a root, as [`Arena::walk_roots`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootReference {
    /// The root holding the reference; compare with
    /// [`Root::id`](crate::Root::id).
    pub root: RootId,
    /// The address it holds (a snapshot, not dereferenceable).
    pub addr: usize,
}

/// What the roots stepper needs.
struct RootsWalk {
    /// Never grown inside the MPS: entries go into spare capacity.
    out: Vec<RootReference>,
    total: usize,
}

/// The `mps_roots_stepper_t` of [`Arena::walk_roots`]. Runs with every
/// other thread stopped: no allocation, no locks.
unsafe extern "C" fn roots_stepper(
    ref_: *mut mps_addr_t,
    root: mps_root_t,
    p: *mut c_void,
    _s: usize,
) {
    callback("Arena::walk_roots", || {
        // SAFETY: `p` is the `RootsWalk` that `walk_roots` passed, live and
        // used by nothing else during the MPS call.
        let w = unsafe { &mut *p.cast::<RootsWalk>() };
        w.total += 1;
        let (Some(root), false) = (RootId::from_raw(root), ref_.is_null()) else {
            return;
        };
        if w.out.len() < w.out.capacity() {
            // SAFETY: the MPS passes a readable reference location.
            let addr = unsafe { ref_.read() } as usize;
            // Within capacity: `push` does not allocate.
            w.out.push(RootReference { root, addr });
        }
    })
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

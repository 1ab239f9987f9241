//! Generation chains, pools (AMC, AMCZ) and allocation points.

use core::fmt;
use core::marker::PhantomData;
use core::mem;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::{Fmt, Format};
use crate::object::{Leaf, Object};
use crate::raw::{RawAp, RawChain, RawPool};

/// One generation of a [`Chain`] (`mps_gen_param_s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenParam {
    /// Capacity in kilobytes: when more than this has been allocated into
    /// (or promoted into) the generation since it was last collected, it
    /// is collected.
    pub capacity_kb: usize,
    /// Initial estimate of the fraction of the generation that dies in a
    /// collection (0.0 ..= 1.0); the collector keeps a measured average.
    pub mortality: f64,
}

/// A generation chain of an arena (`mps_chain_t`), created by
/// [`Arena::chain`]. A `Copy` handle: the arena owns the chain and destroys
/// it (parked, after its pools) when it is dropped.
pub struct Chain<'a> {
    raw: NonNull<mps_chain_s>,
    arena: &'a Arena,
}

impl<'a> Chain<'a> {
    pub(crate) fn create(arena: &'a Arena, gens: &[GenParam]) -> Result<(Self, RawChain), Error> {
        let mut params: Vec<mps_gen_param_s> = gens
            .iter()
            .map(|g| mps_gen_param_s {
                mps_capacity: g.capacity_kb,
                mps_mortality: g.mortality,
            })
            .collect();
        let mut chain = ptr::null_mut();
        // SAFETY: `chain` is a valid out parameter; `params` holds
        // `params.len()` (at least one) initialised generations.
        check(unsafe {
            mps_chain_create(
                &mut chain,
                arena.as_raw(),
                params.len(),
                params.as_mut_ptr(),
            )
        })?;
        // SAFETY: the call succeeded; the arena's registry owns the chain and
        // destroys it after every pool, with the arena parked.
        let owned = unsafe { RawChain::from_raw(chain) };
        let raw = NonNull::new(chain).expect("checked by RawChain::from_raw");
        Ok((Chain { raw, arena }, owned))
    }

    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_chain_t {
        self.raw.as_ptr()
    }

    /// The arena this chain belongs to.
    #[inline]
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }
}

impl Clone for Chain<'_> {
    fn clone(&self) -> Self {
        *self
    }
}

impl Copy for Chain<'_> {}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain({:p})", self.raw)
    }
}

// SAFETY: a chain handle is only an argument to pool creation, which may
// happen on any thread (arena lock); the chain lives as long as the arena.
unsafe impl Send for Chain<'_> {}
// SAFETY: as above.
unsafe impl Sync for Chain<'_> {}

/// Options of an automatic pool; `PoolOptions::default()` is the MPS's
/// defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolOptions<'a> {
    /// The generation chain (`MPS_KEY_CHAIN`); `None`: the arena's default
    /// chain.
    pub chain: Option<Chain<'a>>,
    /// Do ambiguous references to the inside of an object pin it
    /// (`MPS_KEY_INTERIOR`)? `None`: the default, true. With false only
    /// client pointers pin.
    pub interior: Option<bool>,
    /// Minimum segment size in bytes (`MPS_KEY_EXTEND_BY`).
    pub extend_by: Option<usize>,
}

mod sealed {
    pub trait Sealed {}
}

/// A pool class of the safe layer: [`AmcClass`] or [`AmczClass`].
pub trait PoolClass: sealed::Sealed + 'static {
    /// The MPS class (`mps_class_amc()`, ...).
    fn mps_class() -> mps_pool_class_t;
    /// The class's name, for messages.
    const NAME: &'static str;
}

/// The class of [`Amc`] pools: automatic mostly-copying, objects with
/// references.
#[derive(Debug)]
pub enum AmcClass {}

/// The class of [`Amcz`] pools: automatic mostly-copying for leaf objects
/// (no references, never scanned).
#[derive(Debug)]
pub enum AmczClass {}

impl sealed::Sealed for AmcClass {}
impl sealed::Sealed for AmczClass {}

impl PoolClass for AmcClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_amc() }
    }
    const NAME: &'static str = "AMC";
}

impl PoolClass for AmczClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_amcz() }
    }
    const NAME: &'static str = "AMCZ";
}

/// Pool classes whose pools may hold objects of type `T`: AMC holds any
/// [`Object`], AMCZ only [`Leaf`] objects (it never scans).
///
/// # Safety
///
/// Implementing it lets safe code allocate `T` in the class's pools; it is
/// implemented for exactly the pairs above and must not be implemented
/// elsewhere.
pub unsafe trait Holds<T: ?Sized>: PoolClass {}

// SAFETY: AMC scans its objects with the format's scan method.
unsafe impl<T: Object + ?Sized> Holds<T> for AmcClass {}
// SAFETY: leaf objects hold no references, so never scanning them is right.
unsafe impl<T: Leaf + ?Sized> Holds<T> for AmczClass {}

/// A pool of class `C` and format `F` (`mps_pool_t`), created by
/// [`Arena::amc`] or [`Arena::amcz`]. A `Copy` handle: the arena owns the
/// pool and destroys it when it is dropped, so no pool is destroyed while
/// anything may still refer to its objects.
pub struct Pool<'a, F, C> {
    raw: NonNull<mps_pool_s>,
    arena: &'a Arena,
    _kind: PhantomData<fn() -> (F, C)>,
}

/// An AMC pool of format `F`.
pub type Amc<'a, F> = Pool<'a, F, AmcClass>;

/// An AMCZ (leaf) pool of format `F`.
pub type Amcz<'a, F> = Pool<'a, F, AmczClass>;

impl<'a, F: Format, C: PoolClass> Pool<'a, F, C> {
    pub(crate) fn create(
        arena: &'a Arena,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<(Self, RawPool), Error> {
        let mut args = ArgList::new();
        args.add(MPS_KEY_FORMAT, fmt.as_raw());
        if let Some(chain) = options.chain {
            args.add(MPS_KEY_CHAIN, chain.as_raw());
        }
        if let Some(interior) = options.interior {
            args.add(MPS_KEY_INTERIOR, mps_bool_t::from(interior));
        }
        if let Some(extend_by) = options.extend_by {
            args.add(MPS_KEY_EXTEND_BY, extend_by);
        }
        let mut pool = ptr::null_mut();
        // SAFETY: `pool` is a valid out parameter; the format and chain
        // belong to this arena (checked by the caller) and outlive the pool
        // (the registry destroys pools first).
        check(unsafe {
            mps_pool_create_k(&mut pool, arena.as_raw(), C::mps_class(), args.as_mut_ptr())
        })?;
        // SAFETY: the call succeeded; the arena's registry owns the pool and
        // destroys it when the arena is dropped, after every `Ap`.
        let owned = unsafe { RawPool::from_raw(pool) };
        let raw = NonNull::new(pool).expect("checked by RawPool::from_raw");
        Ok((
            Pool {
                raw,
                arena,
                _kind: PhantomData,
            },
            owned,
        ))
    }

    /// A new allocation point in this pool (`mps_ap_create_k`), for one
    /// thread at a time.
    pub fn ap(&self) -> Result<Ap<'a, F, C>, Error> {
        let mut ap = ptr::null_mut();
        let mut args = ArgList::new();
        // SAFETY: `ap` is a valid out parameter; the pool is live.
        check(unsafe { mps_ap_create_k(&mut ap, self.raw.as_ptr(), args.as_mut_ptr()) })?;
        Ok(Ap {
            // SAFETY: the call succeeded; the `Ap` owns it and, borrowing
            // the arena, is dropped before the pool is destroyed.
            raw: unsafe { RawAp::from_raw(ap) },
            pool: *self,
        })
    }

    /// Bytes the pool got from the arena (`mps_pool_total_size`).
    pub fn total_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_total_size(self.raw.as_ptr()) }
    }

    /// Bytes of [`total_size`](Self::total_size) not in use by objects
    /// (`mps_pool_free_size`).
    pub fn free_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_free_size(self.raw.as_ptr()) }
    }
}

impl<'a, F, C> Pool<'a, F, C> {
    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_pool_t {
        self.raw.as_ptr()
    }

    /// The arena this pool belongs to.
    #[inline]
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }
}

impl<F, C> Clone for Pool<'_, F, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F, C> Copy for Pool<'_, F, C> {}

impl<F, C: PoolClass> fmt::Debug for Pool<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pool<{}>({:p})", C::NAME, self.raw)
    }
}

// SAFETY: pools may be used (allocation points created, sizes queried) from
// any thread; the MPS takes the arena lock. The pool lives as long as the
// arena.
unsafe impl<F, C> Send for Pool<'_, F, C> {}
// SAFETY: as above.
unsafe impl<F, C> Sync for Pool<'_, F, C> {}

/// An allocation point (`mps_ap_t`): a bump allocator into a pool, for one
/// thread at a time. It is `Send` (it may move between threads) but not
/// `Sync`.
///
/// Safe code allocates through [`Scope::alloc`](crate::Scope::alloc), which
/// puts the new object in a handle at once. [`Ap::alloc`] is the raw
/// protocol underneath.
pub struct Ap<'a, F, C> {
    raw: RawAp,
    pool: Pool<'a, F, C>,
}

impl<'a, F: Format, C: PoolClass> Ap<'a, F, C> {
    /// The pool this allocation point allocates in.
    #[inline]
    pub fn pool(&self) -> Pool<'a, F, C> {
        self.pool
    }

    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_ap_t {
        self.raw.as_ptr()
    }

    /// Allocates a block of `size` bytes with the MPS reserve / initialise /
    /// commit protocol and returns its **base** address (the client pointer
    /// is `base + F::HEADER_SIZE`).
    ///
    /// The loop: reserve `size` bytes (inline fast path, `mps_ap_fill` when
    /// the buffer is exhausted); call `init(base)` to build the object;
    /// commit (a compiler fence, and a release fence on weakly ordered
    /// processors, keeps every initialising store before the commit). If
    /// the commit fails because the collector flipped meanwhile, the block
    /// is void and the loop starts again: **`init` runs again**, on a new
    /// block. If `init` panics, the reservation is undone and the panic
    /// continues.
    ///
    /// # Safety
    ///
    /// - `size` must be non-zero, a multiple of `F::ALIGN` and larger than
    ///   `F::HEADER_SIZE` (checked with assertions).
    /// - `init` must leave the block a well-formed object of format `F`
    ///   whose reference fields are null or point to live objects of this
    ///   arena (it must not call into the MPS).
    /// - The caller must make the returned object reachable before the
    ///   collector can next run (before any allocation, collection or MPS
    ///   call, and only while the calling thread is registered with the
    ///   arena so that the address, held in a local, pins the object):
    ///   typically by storing it in a root or handle at once.
    pub unsafe fn alloc(
        &mut self,
        size: usize,
        mut init: impl FnMut(NonNull<u8>),
    ) -> Result<NonNull<u8>, Error> {
        assert!(
            size > F::HEADER_SIZE && size % F::ALIGN == 0,
            "Ap::alloc: size {size} is not a non-empty multiple of the format's alignment"
        );
        let ap = self.raw.as_ptr();
        loop {
            let mut p: mps_addr_t = ptr::null_mut();
            // SAFETY: `ap` is live and used only by this thread (`&mut
            // self`); no block is reserved (every iteration ends with a
            // commit, an error return, or an unwind that undoes the
            // reservation); `size` was checked above.
            check(unsafe { reserve(&mut p, ap, size) })?;
            let base = NonNull::new(p.cast::<u8>()).expect("mps_reserve returned a null block");
            let undo = UndoReserve { ap, base: p };
            init(base);
            mem::forget(undo);
            // SAFETY: `p` and `size` are the block reserved above on this
            // allocation point, initialised by `init` (caller's contract).
            if unsafe { commit(ap, p, size) } {
                return Ok(base);
            }
        }
    }
}

/// Undoes a reservation if the initialiser unwinds, so that the allocation
/// point is not left with a block reserved and never committed.
struct UndoReserve {
    ap: mps_ap_t,
    base: mps_addr_t,
}

impl Drop for UndoReserve {
    fn drop(&mut self) {
        // SAFETY: the allocation point is live and owned by the unwinding
        // `Ap::alloc`; the block just reserved runs from `base` (= `init`)
        // to `alloc`. Moving `alloc` back to `init` returns the space to the
        // buffer, which is the state `mps_ap_trip` leaves after a failed
        // commit; the collector never looks above `init`.
        unsafe { (*self.ap).alloc = self.base };
    }
}

impl<F, C: PoolClass> fmt::Debug for Ap<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ap<{}>({:p})", C::NAME, self.raw.as_ptr())
    }
}

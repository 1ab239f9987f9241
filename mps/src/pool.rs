//! Generation chains, automatic pools (AMC, AMCZ, AMS, AWL, LO) and
//! allocation points.

use core::fmt;
use core::marker::PhantomData;
use core::mem;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::format::{find_dependent_trampoline, Fmt, Format};
use crate::object::{Leaf, Object};
use crate::raw::{RawAp, RawChain, RawPool};
use crate::root::Rank;
use crate::thread::{pin_until_here, Handle};

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
    /// Number of generations.
    gens: usize,
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
        Ok((
            Chain {
                raw,
                arena,
                gens: gens.len(),
            },
            owned,
        ))
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

    /// Number of generations.
    #[inline]
    pub fn generations(&self) -> usize {
        self.gens
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
/// defaults. An option the pool class does not take makes pool creation
/// fail with [`Error::Param`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolOptions<'a> {
    /// The generation chain (`MPS_KEY_CHAIN`); `None`: the arena's default
    /// chain. Every class.
    pub chain: Option<Chain<'a>>,
    /// Do ambiguous references to the inside of an object pin it
    /// (`MPS_KEY_INTERIOR`)? `None`: the default, true. With false only
    /// client pointers pin. AMC and AMCZ only (the mark-sweep pools
    /// recognise client pointers only). The safe API pins through client
    /// pointers, so false is safe; but code that keeps only interior
    /// addresses (JIT code using a heap constant) needs true: see
    /// [`Arena::interior_pins`](crate::Arena::interior_pins).
    pub interior: Option<bool>,
    /// Minimum segment size in bytes (`MPS_KEY_EXTEND_BY`). Every class.
    pub extend_by: Option<usize>,
    /// The generation of the chain the pool's objects live in
    /// (`MPS_KEY_GEN`); `None`: generation 0. AMS, AWL and LO only: they
    /// do not promote, so their objects stay in this generation. It must
    /// be a generation of [`chain`](Self::chain), checked by this crate
    /// ([`Error::Param`] otherwise); without a chain only generation 0 is
    /// accepted (the arena's default chain is the collector's business).
    pub gen: Option<u32>,
}

/// Sizes this crate refuses outright as absurd ([`Error::Param`]): no
/// pool, segment or block can be this large (2^48 bytes is the whole user
/// address space of x86-64 and AArch64 Linux), and rounding a smaller size
/// up to any alignment cannot overflow.
pub(crate) const ABSURD_SIZE: usize = 1 << 48;

/// Options of an allocation point, for [`Pool::ap_with`];
/// `ApOptions::default()` is the MPS's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApOptions {
    /// The rank of the references in the objects allocated here
    /// (`MPS_KEY_RANK`); `None`: exact (no rank in leaf pools).
    ///
    /// - [`Rank::Exact`]: every class that scans (AMC, AMS, AWL).
    /// - [`Rank::Ambiguous`]: AMS only. The objects' references are scanned
    ///   ambiguously: they keep their targets alive and pinned, and are
    ///   never updated (nor need to be: the targets do not move).
    /// - [`Rank::Weak`]: AWL only. The objects' references do not keep
    ///   their targets alive: when a target dies the reference becomes
    ///   null, which [`Handle::get`] reports as `None`.
    ///
    /// Leaf pools (AMCZ, LO) take no rank.
    pub rank: Option<Rank>,
    /// Allocation here does not count toward starting a collection
    /// (`MPS_KEY_AP_HASH_ARRAYS`), for rehash tables that a collection
    /// would make stale again. AMC and AMCZ only.
    pub hash_arrays: Option<bool>,
}

pub(crate) mod sealed {
    use mps_sys::ArgList;

    use crate::error::Error;
    use crate::format::Format;
    use crate::pool::PoolOptions;
    use crate::root::Rank;

    /// What the crate needs to know about a pool class. The module is
    /// private, so no class can be added outside the crate.
    pub trait Sealed {
        /// May the class's segments hold pads (format-made fillers)
        /// between objects? The copying pools do; the mark-sweep pools
        /// keep free space in bit tables instead
        /// (`vendor/mps/DESIGN.md#mark-sweep`).
        const MAY_PAD: bool;
        /// Does the class move objects (AMC, AMCZ)?
        const MOVES: bool;
        /// The rank of an allocation point without a rank option; `None`
        /// for leaf pools, whose allocation points have no rank.
        const DEFAULT_RANK: Option<Rank>;
        /// Does the class take `MPS_KEY_AP_HASH_ARRAYS`?
        const HASH_ARRAYS: bool;
        /// May an allocation point of the class have this rank?
        fn accepts_rank(rank: Rank) -> bool;
        /// Adds the class's own keyword arguments for `options` (beyond
        /// format, chain and extend-by); [`Error::Param`] for an option the
        /// class does not take.
        fn class_args<F: Format>(
            args: &mut ArgList,
            options: &PoolOptions<'_>,
        ) -> Result<(), Error>;
    }
}

/// A pool class of the safe layer's automatic pools: [`AmcClass`],
/// [`AmczClass`], [`AmsClass`], [`AmsDebugClass`](crate::AmsDebugClass),
/// [`AwlClass`] or [`LoClass`]. Sealed: the
/// crate relies on each class's exact behaviour.
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

/// The class of [`Ams`] pools: automatic mark-and-sweep. Objects never
/// move and are not promoted; they hold exact references, or ambiguous
/// ones when allocated through an allocation point of rank
/// [`Rank::Ambiguous`] ([`Ams::ambiguous_ap`](Pool::ambiguous_ap)).
/// Ambiguous references *to* AMS objects keep them alive (the pool is
/// always created with `MPS_KEY_AMS_SUPPORT_AMBIGUOUS` true).
#[derive(Debug)]
pub enum AmsClass {}

/// The class of [`Awl`] pools: automatic weak linked. Objects never move;
/// each holds exact references, or weak ones when allocated through an
/// allocation point of rank [`Rank::Weak`] ([`Awl::weak_ap`](Pool::weak_ap)).
/// The format's [`find_dependent`](Format::find_dependent) names each
/// object's dependent object, which its scan method may write. Weak
/// objects are scanned after everything strong is known, and a weak
/// reference to an object nothing else keeps is set to null
/// (`vendor/mps/DESIGN.md#weak`).
///
/// Portability: the MPS manual asks that every word of an AWL object be
/// either a reference or a value with a low bit set (Ravenbrook's MPS may
/// rely on it to emulate accesses to protected weak objects; this
/// collector does not).
#[derive(Debug)]
pub enum AwlClass {}

/// The class of [`Lo`] pools: leaf objects (no references), never moved,
/// never scanned, never protected by a barrier: for buffers handed to
/// foreign code. Holds only [`Leaf`] types.
#[derive(Debug)]
pub enum LoClass {}

/// The keyword arguments of AMC and AMCZ.
fn amc_args(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
    if options.gen.is_some() {
        return Err(Error::Param);
    }
    if let Some(interior) = options.interior {
        args.add(MPS_KEY_INTERIOR, mps_bool_t::from(interior));
    }
    Ok(())
}

/// The keyword arguments shared by AMS, AWL and LO.
fn mark_sweep_args(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
    if options.interior.is_some() {
        return Err(Error::Param);
    }
    if let Some(gen) = options.gen {
        let gens = options.chain.map_or(1, |chain| chain.generations());
        if usize::try_from(gen).map_or(true, |gen| gen >= gens) {
            return Err(Error::Param);
        }
        args.add(MPS_KEY_GEN, gen);
    }
    Ok(())
}

impl sealed::Sealed for AmcClass {
    const MAY_PAD: bool = true;
    const MOVES: bool = true;
    const DEFAULT_RANK: Option<Rank> = Some(Rank::Exact);
    const HASH_ARRAYS: bool = true;
    fn accepts_rank(rank: Rank) -> bool {
        rank == Rank::Exact
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        amc_args(args, options)
    }
}

impl sealed::Sealed for AmczClass {
    const MAY_PAD: bool = true;
    const MOVES: bool = true;
    const DEFAULT_RANK: Option<Rank> = None;
    const HASH_ARRAYS: bool = true;
    fn accepts_rank(_: Rank) -> bool {
        false
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        amc_args(args, options)
    }
}

impl sealed::Sealed for AmsClass {
    const MAY_PAD: bool = false;
    const MOVES: bool = false;
    const DEFAULT_RANK: Option<Rank> = Some(Rank::Exact);
    const HASH_ARRAYS: bool = false;
    fn accepts_rank(rank: Rank) -> bool {
        matches!(rank, Rank::Exact | Rank::Ambiguous)
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        mark_sweep_args(args, options)?;
        // Ambiguous references to AMS objects must keep them alive: the
        // soundness argument (crate docs) rests on the thread's stack
        // pinning what it points to. True is also the MPS's default.
        args.add(MPS_KEY_AMS_SUPPORT_AMBIGUOUS, mps_bool_t::from(true));
        Ok(())
    }
}

impl sealed::Sealed for AwlClass {
    const MAY_PAD: bool = false;
    const MOVES: bool = false;
    const DEFAULT_RANK: Option<Rank> = Some(Rank::Exact);
    const HASH_ARRAYS: bool = false;
    fn accepts_rank(rank: Rank) -> bool {
        matches!(rank, Rank::Exact | Rank::Weak)
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        mark_sweep_args(args, options)?;
        args.add(
            MPS_KEY_AWL_FIND_DEPENDENT,
            Some(find_dependent_trampoline::<F> as _),
        );
        Ok(())
    }
}

impl sealed::Sealed for LoClass {
    const MAY_PAD: bool = false;
    const MOVES: bool = false;
    const DEFAULT_RANK: Option<Rank> = None;
    const HASH_ARRAYS: bool = false;
    fn accepts_rank(_: Rank) -> bool {
        false
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        mark_sweep_args(args, options)
    }
}

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

impl PoolClass for AmsClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_ams() }
    }
    const NAME: &'static str = "AMS";
}

impl PoolClass for AwlClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_awl() }
    }
    const NAME: &'static str = "AWL";
}

impl PoolClass for LoClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_lo() }
    }
    const NAME: &'static str = "LO";
}

/// Pool classes whose pools may hold objects of type `T`: AMC, AMS and AWL
/// hold any [`Object`]; AMCZ and LO only [`Leaf`] objects (they never
/// scan).
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
// SAFETY: AMS scans its objects with the format's scan method (exactly or
// ambiguously, as the allocation point's rank says).
unsafe impl<T: Object + ?Sized> Holds<T> for AmsClass {}
// SAFETY: AWL scans its objects with the format's scan method (exactly or
// weakly, as the allocation point's rank says).
unsafe impl<T: Object + ?Sized> Holds<T> for AwlClass {}
// SAFETY: as for AMCZ: LO never scans, and leaf objects hold no references.
unsafe impl<T: Leaf + ?Sized> Holds<T> for LoClass {}

/// An automatic pool of class `C` and format `F` (`mps_pool_t`), created by
/// [`Arena::amc`], [`Arena::amcz`], [`Arena::ams`], [`Arena::awl`] or
/// [`Arena::lo`]. A `Copy` handle: the arena owns the pool and destroys it
/// when it is dropped, so no pool is destroyed while anything may still
/// refer to its objects.
pub struct Pool<'a, F, C> {
    raw: NonNull<mps_pool_s>,
    arena: &'a Arena,
    _kind: PhantomData<fn() -> (F, C)>,
}

/// An AMC pool of format `F`.
pub type Amc<'a, F> = Pool<'a, F, AmcClass>;

/// An AMCZ (leaf) pool of format `F`.
pub type Amcz<'a, F> = Pool<'a, F, AmczClass>;

/// An AMS (mark-and-sweep) pool of format `F`.
pub type Ams<'a, F> = Pool<'a, F, AmsClass>;

/// An AWL (weak linked) pool of format `F`.
pub type Awl<'a, F> = Pool<'a, F, AwlClass>;

/// An LO (leaf object) pool of format `F`.
pub type Lo<'a, F> = Pool<'a, F, LoClass>;

impl<'a, F: Format, C: PoolClass> Pool<'a, F, C> {
    pub(crate) fn create(
        arena: &'a Arena,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
        extra: impl FnOnce(&mut ArgList),
    ) -> Result<(Self, RawPool), Error> {
        let mut args = ArgList::new();
        extra(&mut args);
        args.add(MPS_KEY_FORMAT, fmt.as_raw());
        if let Some(chain) = options.chain {
            args.add(MPS_KEY_CHAIN, chain.as_raw());
        }
        if let Some(extend_by) = options.extend_by {
            if extend_by == 0 || extend_by >= ABSURD_SIZE {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_EXTEND_BY, extend_by);
        }
        C::class_args::<F>(&mut args, options)?;
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
    /// thread at a time, with the default options (exact rank).
    pub fn ap(&self) -> Result<Ap<'a, F, C>, Error> {
        self.ap_with(&ApOptions::default())
    }

    /// A new allocation point in this pool with `options`
    /// (`mps_ap_create_k` with `MPS_KEY_RANK`, `MPS_KEY_AP_HASH_ARRAYS`).
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if the class does not take an option (see
    /// [`ApOptions`]); otherwise the MPS's result.
    pub fn ap_with(&self, options: &ApOptions) -> Result<Ap<'a, F, C>, Error> {
        let mut args = ArgList::new();
        let rank = match options.rank {
            Some(rank) if C::accepts_rank(rank) => {
                args.add(MPS_KEY_RANK, rank.mps_rank());
                Some(rank)
            }
            Some(_) => return Err(Error::Param),
            None => C::DEFAULT_RANK,
        };
        if let Some(hash_arrays) = options.hash_arrays {
            if !C::HASH_ARRAYS {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_AP_HASH_ARRAYS, mps_bool_t::from(hash_arrays));
        }
        // The arguments are ones the class takes, with valid values.
        Ok(Ap {
            raw: create_ap(self.raw, &mut args)?,
            pool: *self,
            rank,
        })
    }

    /// Bytes the pool got from the arena (`mps_pool_total_size`).
    pub fn total_size(&self) -> usize {
        pool_total_size(self.raw)
    }

    /// Bytes of [`total_size`](Self::total_size) not in use by objects
    /// (`mps_pool_free_size`).
    pub fn free_size(&self) -> usize {
        pool_free_size(self.raw)
    }

    /// Is `h`'s object in this pool (`mps_addr_pool`)?
    pub fn contains(&self, h: Handle<'_, F>) -> bool {
        h.pool() == Some(self.id())
    }
}

impl<'a, F: Format> Pool<'a, F, AmsClass> {
    /// An allocation point whose objects' references are **ambiguous**
    /// ([`ApOptions::rank`] = [`Rank::Ambiguous`]): they keep their targets
    /// alive and pinned (never moved) and are never updated.
    pub fn ambiguous_ap(&self) -> Result<Ap<'a, F, AmsClass>, Error> {
        self.ap_with(&ApOptions {
            rank: Some(Rank::Ambiguous),
            ..ApOptions::default()
        })
    }
}

impl<'a, F: Format> Pool<'a, F, AwlClass> {
    /// An allocation point whose objects' references are **weak**
    /// ([`ApOptions::rank`] = [`Rank::Weak`]): they do not keep their
    /// targets alive. When a target dies, the collector sets the reference
    /// to null (the format's scan method sees it happen, see
    /// [`ScanState::fix_weak_ref`](crate::ScanState::fix_weak_ref)), so
    /// [`Handle::get`] reads it as `None`; a target that survives and moves
    /// is followed as usual. Allocate only objects whose every reference
    /// may be weak: the rank applies to all of an object's references.
    pub fn weak_ap(&self) -> Result<Ap<'a, F, AwlClass>, Error> {
        self.ap_with(&ApOptions {
            rank: Some(Rank::Weak),
            ..ApOptions::default()
        })
    }
}

impl<'a, F, C> Pool<'a, F, C> {
    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_pool_t {
        self.raw.as_ptr()
    }

    /// The pool's identity, as [`Arena::addr_pool`] reports it.
    #[inline]
    pub fn id(&self) -> PoolId {
        PoolId(self.raw)
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
    rank: Option<Rank>,
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

    /// The rank of the references of the objects allocated here; `None`
    /// in leaf pools (AMCZ, LO).
    #[inline]
    pub fn rank(&self) -> Option<Rank> {
        self.rank
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
        init: impl FnMut(NonNull<u8>),
    ) -> Result<NonNull<u8>, Error> {
        assert!(
            size > F::HEADER_SIZE && size % F::ALIGN == 0,
            "Ap::alloc: size {size} is not a non-empty multiple of the format's alignment"
        );
        // SAFETY: the allocation point is live and used only by this
        // thread (`&mut self`), with nothing reserved on it; `size` was
        // checked above; the rest is the caller's contract.
        unsafe { alloc_on(self.raw.as_ptr(), size, init) }
    }
}

/// A new allocation point on `pool` (`mps_ap_create_k`), owned by the
/// returned [`RawAp`], which the caller drops before the pool is
/// destroyed (allocation points borrow the arena, which owns the pool).
/// `args` must hold only keys the pool's class takes, with valid values.
pub(crate) fn create_ap(pool: NonNull<mps_pool_s>, args: &mut ArgList) -> Result<RawAp, Error> {
    let mut ap = ptr::null_mut();
    // SAFETY: `ap` is a valid out parameter; the pool is live (a pool
    // handle borrows its arena); the list is terminated and valid.
    check(unsafe { mps_ap_create_k(&mut ap, pool.as_ptr(), args.as_mut_ptr()) })?;
    // SAFETY: the call succeeded; the point is destroyed once, by
    // `RawAp`'s drop.
    Ok(unsafe { RawAp::from_raw(ap) })
}

/// `mps_pool_total_size` of a live pool.
pub(crate) fn pool_total_size(pool: NonNull<mps_pool_s>) -> usize {
    // SAFETY: the pool is live (a pool handle borrows its arena).
    unsafe { mps_pool_total_size(pool.as_ptr()) }
}

/// `mps_pool_free_size` of a live pool.
pub(crate) fn pool_free_size(pool: NonNull<mps_pool_s>) -> usize {
    // SAFETY: the pool is live (a pool handle borrows its arena).
    unsafe { mps_pool_free_size(pool.as_ptr()) }
}

/// The reserve / initialise / commit loop of [`Ap::alloc`] on a raw
/// allocation point (also used by [`SncAp`](crate::SncAp)).
///
/// # Safety
///
/// `ap` is live, used by this thread alone while the call runs, and has
/// no block reserved; `size` is a non-zero multiple of the pool's
/// alignment; `init` leaves a well-formed object of the pool's format
/// whose reference fields are null or point to live objects of the arena.
pub(crate) unsafe fn alloc_on(
    ap: mps_ap_t,
    size: usize,
    mut init: impl FnMut(NonNull<u8>),
) -> Result<NonNull<u8>, Error> {
    loop {
        let mut p: mps_addr_t = ptr::null_mut();
        // SAFETY: `ap` is live and used only by this thread; no block is
        // reserved (every iteration ends with a commit, an error return,
        // or an unwind that undoes the reservation); `size` is valid
        // (caller's contract).
        check(unsafe { reserve(&mut p, ap, size) })?;
        let base = NonNull::new(p.cast::<u8>()).expect("mps_reserve returned a null block");
        // SAFETY: `p` was just reserved on `ap`, which this thread alone
        // uses, and nothing else is reserved on it.
        let undo = unsafe { UndoReserve::new(ap, p) };
        init(base);
        undo.disarm();
        // SAFETY: `p` and `size` are the block reserved above on this
        // allocation point, initialised by `init` (caller's contract).
        if unsafe { commit(ap, p, size) } {
            return Ok(base);
        }
    }
}

/// Undoes a reservation when dropped (unless [disarmed](Self::disarm)):
/// a guard for the code between `mps_reserve` and `mps_commit`, so that an
/// unwinding initialiser, or an error return, does not leave the
/// allocation point with a block reserved and never committed (the next
/// commit would then take that uninitialised block for an object).
/// [`Ap::alloc`] uses one; so does any raw reserve / commit loop.
#[must_use = "dropping the guard undoes the reservation at once"]
pub struct UndoReserve {
    ap: mps_ap_t,
    base: mps_addr_t,
}

impl UndoReserve {
    /// A guard for the block reserved at `base` on `ap`.
    ///
    /// # Safety
    ///
    /// `base` is the block most recently reserved on `ap` (`mps_reserve`
    /// returned it), not committed; `ap` stays live and is used by no other
    /// thread until the guard is dropped or disarmed, and nothing else is
    /// reserved on it meanwhile.
    pub unsafe fn new(ap: mps_ap_t, base: mps_addr_t) -> UndoReserve {
        UndoReserve { ap, base }
    }

    /// Keeps the reservation (call it right before `mps_commit`).
    #[inline]
    pub fn disarm(self) {
        mem::forget(self);
    }
}

impl Drop for UndoReserve {
    fn drop(&mut self) {
        // SAFETY: by `new`'s contract the allocation point is live and ours;
        // the block just reserved runs from `base` (= `init`) to `alloc`.
        // Moving `alloc` back to `init` returns the space to the buffer,
        // which is the state `mps_ap_trip` leaves after a failed commit; the
        // collector never looks above `init`.
        unsafe { (*self.ap).alloc = self.base };
    }
}

impl fmt::Debug for UndoReserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UndoReserve({:p})", self.base)
    }
}

impl<F, C: PoolClass> fmt::Debug for Ap<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ap<{}>({:p})", C::NAME, self.raw.as_ptr())
    }
}

/// The identity of a pool of an arena (automatic or manual): what
/// [`Arena::addr_pool`] and [`Handle::pool`] report, comparable with
/// [`Pool::id`] and [`ManualPool::id`](crate::ManualPool::id).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolId(NonNull<mps_pool_s>);

impl PoolId {
    /// The raw MPS handle. Only an identity: the pool may have been
    /// destroyed (with its arena) since the id was taken.
    #[inline]
    pub fn as_raw(self) -> mps_pool_t {
        self.0.as_ptr()
    }

    /// The id of a raw pool handle (`None` for null).
    pub(crate) fn from_raw(raw: mps_pool_t) -> Option<PoolId> {
        NonNull::new(raw).map(PoolId)
    }
}

impl fmt::Debug for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolId({:p})", self.0)
    }
}

// SAFETY: an identity only; it is never dereferenced.
unsafe impl Send for PoolId {}
// SAFETY: as above.
unsafe impl Sync for PoolId {}

impl<F: Format> Handle<'_, F> {
    /// The pool the object lives in (`mps_addr_pool`). Always `Some` for a
    /// live handle; an `Option` for symmetry with [`Arena::addr_pool`].
    pub fn pool(self) -> Option<PoolId> {
        let addr = self.current();
        let mut pool: mps_pool_t = ptr::null_mut();
        // SAFETY: the arena is live (the handle's thread is registered with
        // it); `pool` is a valid out parameter; the address is the client
        // pointer of a live object, pinned by the local `addr`.
        let found = unsafe { mps_addr_pool(&mut pool, self.arena_ptr(), addr.as_ptr().cast()) };
        pin_until_here(addr.as_ptr());
        if found != 0 {
            PoolId::from_raw(pool)
        } else {
            None
        }
    }
}

//! The arena: the whole memory manager, owner of formats, chains and pools.

use core::any::TypeId;
use core::fmt;
use core::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mps_sys::*;

use crate::error::{check, Error};
use crate::format::{Fmt, FmtId, Format};
use crate::pool::{Chain, GenParam, Pool, PoolClass, PoolId, PoolOptions, ABSURD_SIZE};
use crate::raw::{RawArena, RawChain, RawFmt, RawPool};

/// An arena (`mps_arena_t`, VM class): the memory manager instance.
///
/// Formats, chains and pools are created through the arena and owned by
/// it: the methods return `Copy` handles that borrow the arena
/// ([`Fmt<'a, F>`](Fmt), [`Chain<'a>`](Chain), [`Pool<'a, ..>`](Pool) for
/// the automatic pools, [`ManualPool<'a, ..>`](crate::ManualPool) for the
/// manual ones), and the arena destroys them, in the order the MPS
/// requires, when it is dropped. Everything else that needs the arena ([`Ap`](crate::Ap),
/// [`Root`](crate::Root), [`Ld`](crate::Ld), threads through
/// [`with_thread`](Self::with_thread), messages) borrows it, so the arena
/// cannot be dropped while any of them is alive.
///
/// An `Arena` is `Send` and `Sync`: share it between threads by reference
/// (for example with [`std::thread::scope`]) and let each thread enter it
/// with [`with_thread`](Self::with_thread).
pub struct Arena {
    /// Objects the arena owns, destroyed in `Drop` before `raw`.
    registry: Mutex<Registry>,
    /// The largest alignment a manual pool may ask for: the arena's grain
    /// as far as this crate knows it (at least 4096, the smallest page).
    pub(crate) max_align: usize,
    /// Declared last: dropped after everything else.
    raw: RawArena,
}

/// A pool of the registry, with what the crate knows about it.
struct AdoptedPool {
    raw: RawPool,
    /// May the pool hold pads?
    may_pad: bool,
    /// Does an ambiguous reference into the inside of one of its objects
    /// keep the object in place (see [`Arena::interior_pins`])?
    interior_pins: bool,
}

/// What an arena owns besides itself, in creation order.
#[derive(Default)]
struct Registry {
    /// Every pool, automatic or manual.
    pools: Vec<AdoptedPool>,
    formats: Vec<(RawFmt, TypeId)>,
    chains: Vec<RawChain>,
    /// Run by `Drop`, parked, before the pools are destroyed.
    at_drop: Vec<Box<dyn FnOnce() + Send>>,
}

impl Arena {
    /// A VM arena with the default settings (256 MiB initial reservation,
    /// no commit limit).
    pub fn new() -> Result<Arena, Error> {
        Arena::builder().build()
    }

    /// A builder for an arena with non-default settings.
    pub fn builder() -> ArenaBuilder {
        ArenaBuilder::default()
    }

    /// The raw MPS handle, for calls this crate does not wrap. It stays
    /// valid as long as `self`.
    #[inline]
    pub fn as_raw(&self) -> mps_arena_t {
        self.raw.as_ptr()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the format `F` with the arena (`mps_fmt_create_k`). Each
    /// call creates a new MPS format; pools may share one.
    pub fn format<F: Format>(&self) -> Result<Fmt<'_, F>, Error> {
        let (fmt, owned) = Fmt::<F>::create(self)?;
        self.registry().formats.push((owned, TypeId::of::<F>()));
        Ok(fmt)
    }

    /// Whether `fmt` (an MPS format of this arena) was created for `F`.
    pub(crate) fn format_is<F: Format>(&self, fmt: mps_fmt_t) -> bool {
        let registry = self.registry();
        registry
            .formats
            .iter()
            .any(|(raw, id)| raw.as_ptr() == fmt && *id == TypeId::of::<F>())
    }

    /// Every MPS format of this arena created for `F`.
    pub(crate) fn formats_of<F: Format>(&self) -> Vec<mps_fmt_t> {
        let registry = self.registry();
        registry
            .formats
            .iter()
            .filter(|(_, id)| *id == TypeId::of::<F>())
            .map(|(raw, _)| raw.as_ptr())
            .collect()
    }

    /// Every pool of this arena known to hold no pads (created by this
    /// crate, of a class that never pads). Walks ask the format about
    /// every other pool's blocks, so a pool created through the raw
    /// bindings is treated as one that may pad.
    pub(crate) fn pools_without_pads(&self) -> Vec<mps_pool_t> {
        let registry = self.registry();
        registry
            .pools
            .iter()
            .filter(|p| !p.may_pad)
            .map(|p| p.raw.as_ptr())
            .collect()
    }

    /// Does an ambiguous reference to the inside of an object of `pool` (an
    /// address past the object's client pointer and inside its block, such
    /// as a field's address that compiled code keeps in a register) keep
    /// the object **in place**?
    ///
    /// - AMC and AMCZ pools: only if created with
    ///   [`PoolOptions::interior`] true (the default); with false only
    ///   client pointers pin, and the object may move under an interior
    ///   address.
    /// - AMS, AWL, LO and the manual pools: yes, their objects never move.
    ///   (In the mark-sweep pools an interior reference does not keep the
    ///   object *alive*: something else must.)
    /// - A pool this crate did not create (through the raw bindings) or of
    ///   another arena: `false`, nothing is known about it.
    pub fn interior_pins(&self, pool: PoolId) -> bool {
        self.registry()
            .pools
            .iter()
            .any(|p| p.raw.as_ptr() == pool.as_raw() && p.interior_pins)
    }

    /// Hands a new pool to the registry, which destroys it (after every
    /// borrow of the arena has ended) when the arena is dropped.
    /// `may_pad`: may the pool hold pads; `interior_pins`: see
    /// [`interior_pins`](Self::interior_pins).
    pub(crate) fn adopt_pool(&self, pool: RawPool, may_pad: bool, interior_pins: bool) {
        self.registry().pools.push(AdoptedPool {
            raw: pool,
            may_pad,
            interior_pins,
        });
    }

    /// Runs `f` when the arena is dropped: after it is parked, before the
    /// pools it owns are destroyed, in the order of the calls.
    ///
    /// For a layer above this crate that creates MPS objects of the arena
    /// through the raw bindings which objects of the arena's pools may
    /// still refer to when that layer's owner is dropped: the code pool
    /// hands its MPS pool here when heap objects may still hold its code
    /// (`codepool::CodePtr`), so that the code stays valid as long as the
    /// heap does.
    pub fn at_drop(&self, f: impl FnOnce() + Send + 'static) {
        self.registry().at_drop.push(Box::new(f));
    }

    /// A generation chain (`mps_chain_create`): one [`GenParam`] per
    /// generation, youngest first.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if `gens` is empty; otherwise the MPS's result.
    pub fn chain(&self, gens: &[GenParam]) -> Result<Chain<'_>, Error> {
        if gens.is_empty() {
            return Err(Error::Param);
        }
        let (chain, owned) = Chain::create(self, gens)?;
        self.registry().chains.push(owned);
        Ok(chain)
    }

    /// An AMC pool (automatic mostly-copying) of format `F`: objects that
    /// hold references, moved by the collector unless pinned.
    pub fn amc<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<crate::Amc<'a, F>, Error> {
        self.pool(fmt, options)
    }

    /// An AMCZ pool (AMC for leaf objects, never scanned) of format `F`:
    /// for objects that hold no references ([`Leaf`](crate::Leaf)).
    pub fn amcz<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<crate::Amcz<'a, F>, Error> {
        self.pool(fmt, options)
    }

    /// An AMS pool (automatic mark-and-sweep) of format `F`: objects that
    /// never move, holding exact references or (through
    /// [`ambiguous_ap`](Pool::ambiguous_ap)) ambiguous ones. Takes
    /// `options.gen`; not `options.interior`.
    pub fn ams<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<crate::Ams<'a, F>, Error> {
        self.pool(fmt, options)
    }

    /// An AWL pool (automatic weak linked) of format `F`: objects that
    /// never move, holding exact references or (through
    /// [`weak_ap`](Pool::weak_ap)) weak ones; `F::find_dependent` names
    /// each object's dependent object. Takes `options.gen`; not
    /// `options.interior`.
    pub fn awl<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<crate::Awl<'a, F>, Error> {
        self.pool(fmt, options)
    }

    /// An LO pool (leaf objects) of format `F`: objects without references
    /// ([`Leaf`](crate::Leaf)) that never move and are never scanned or
    /// protected. Takes `options.gen`; not `options.interior`.
    pub fn lo<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<crate::Lo<'a, F>, Error> {
        self.pool(fmt, options)
    }

    fn pool<'a, F: Format, C: PoolClass>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
    ) -> Result<Pool<'a, F, C>, Error> {
        self.pool_with(fmt, options, |_| {})
    }

    /// As [`pool`](Self::pool), with keyword arguments `extra` adds
    /// (a debug class's options).
    pub(crate) fn pool_with<'a, F: Format, C: PoolClass>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
        extra: impl FnOnce(&mut mps_sys::ArgList),
    ) -> Result<Pool<'a, F, C>, Error> {
        let same_arena = core::ptr::eq(fmt.arena(), self)
            && options
                .chain
                .map_or(true, |c| core::ptr::eq(c.arena(), self));
        if !same_arena {
            return Err(Error::Param);
        }
        let (pool, owned) = Pool::create(self, fmt, options, extra)?;
        // Only the moving classes can move an object under an interior
        // reference, and they pin on one unless told otherwise.
        let interior_pins =
            !<C as crate::pool::sealed::Sealed>::MOVES || options.interior.unwrap_or(true);
        self.adopt_pool(
            owned,
            <C as crate::pool::sealed::Sealed>::MAY_PAD,
            interior_pins,
        );
        Ok(pool)
    }

    /// Runs a full collection of every automatic pool (`mps_arena_collect`)
    /// and leaves the arena **parked**: call [`release`](Self::release) to
    /// let collections start on their own again.
    ///
    /// Any thread may call it, registered or not (an unregistered thread
    /// must just hold no address of the heap across the call). A thread
    /// that collects in a loop, back to back, does not starve the others:
    /// each collection first lets the threads the last one stopped run for
    /// a moment (so that a thread in `std::thread::sleep` gets to sleep
    /// out its time), waits for a thread that two stops in a row found
    /// still stopped, and lets a commit that a collection voided be
    /// retried (`vendor/mps/DESIGN.md#threads-fair`, `#buffers-progress`).
    /// [`collections`](Self::collections) counts only collections that
    /// could move objects: on an empty heap a call may leave it unchanged.
    pub fn collect(&self) -> Result<(), Error> {
        // SAFETY: the arena is live (owned by `self`).
        check(unsafe { mps_arena_collect(self.as_raw()) })
    }

    /// Requests a full collection and returns quickly
    /// (`mps_arena_start_collect`); the arena stays unclamped.
    pub fn start_collect(&self) -> Result<(), Error> {
        // SAFETY: the arena is live.
        check(unsafe { mps_arena_start_collect(self.as_raw()) })
    }

    /// Spends up to `interval` seconds on collector work
    /// (`mps_arena_step`); may start a collection expected to take at most
    /// `interval × multiplier`. Returns whether there was work to do.
    ///
    /// # Panics
    ///
    /// If `interval` or `multiplier` is negative or NaN (the manual's
    /// rule; the C library asserts it in its checking build).
    pub fn step(&self, interval: f64, multiplier: f64) -> bool {
        assert!(
            interval >= 0.0 && multiplier >= 0.0,
            "Arena::step: the interval and the multiplier must be non-negative numbers \
             (got {interval}, {multiplier})"
        );
        // SAFETY: the arena is live; the arguments are non-negative.
        unsafe { mps_arena_step(self.as_raw(), interval, multiplier) != 0 }
    }

    /// Clamps the arena (`mps_arena_clamp`): no new collection starts and
    /// no object moves until [`release`](Self::release).
    pub fn clamp(&self) {
        // SAFETY: the arena is live.
        unsafe { mps_arena_clamp(self.as_raw()) }
    }

    /// Parks the arena (`mps_arena_park`): finishes any collection, then
    /// behaves as clamped.
    pub fn park(&self) {
        // SAFETY: the arena is live.
        unsafe { mps_arena_park(self.as_raw()) }
    }

    /// Releases a clamped or parked arena (`mps_arena_release`):
    /// collections start on their own again.
    pub fn release(&self) {
        // SAFETY: the arena is live.
        unsafe { mps_arena_release(self.as_raw()) }
    }

    /// Number of collections that could move objects since the arena was
    /// created (`mps_collections`).
    pub fn collections(&self) -> usize {
        // SAFETY: the arena is live.
        unsafe { mps_collections(self.as_raw()) as usize }
    }

    /// Bytes of memory committed (`mps_arena_committed`), overheads and
    /// spare memory included.
    pub fn committed(&self) -> usize {
        // SAFETY: the arena is live.
        unsafe { mps_arena_committed(self.as_raw()) }
    }

    /// Bytes of address space reserved (`mps_arena_reserved`).
    pub fn reserved(&self) -> usize {
        // SAFETY: the arena is live.
        unsafe { mps_arena_reserved(self.as_raw()) }
    }

    /// Committed bytes not in use (`mps_arena_spare_committed`).
    pub fn spare_committed(&self) -> usize {
        // SAFETY: the arena is live.
        unsafe { mps_arena_spare_committed(self.as_raw()) }
    }

    /// The fraction of committed memory the arena keeps as spare rather
    /// than returning it to the operating system (`mps_arena_spare`).
    pub fn spare(&self) -> f64 {
        // SAFETY: the arena is live.
        unsafe { mps_arena_spare(self.as_raw()) }
    }

    /// Changes the spare fraction (`mps_arena_spare_set`); spare memory
    /// beyond it goes back to the operating system at once.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] unless `fraction` is in `0.0 ..= 1.0`.
    pub fn set_spare(&self, fraction: f64) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::Param);
        }
        // SAFETY: the arena is live; the fraction is in range.
        unsafe { mps_arena_spare_set(self.as_raw(), fraction) };
        Ok(())
    }

    /// The commit limit in bytes (`mps_arena_commit_limit`).
    pub fn commit_limit(&self) -> usize {
        // SAFETY: the arena is live.
        unsafe { mps_arena_commit_limit(self.as_raw()) }
    }

    /// Changes the commit limit (`mps_arena_commit_limit_set`); fails if
    /// more than `limit` is committed and cannot be released.
    pub fn set_commit_limit(&self, limit: usize) -> Result<(), Error> {
        // SAFETY: the arena is live.
        check(unsafe { mps_arena_commit_limit_set(self.as_raw(), limit) })
    }

    /// The pause-time target in seconds (`mps_arena_pause_time`).
    pub fn pause_time(&self) -> f64 {
        // SAFETY: the arena is live.
        unsafe { mps_arena_pause_time(self.as_raw()) }
    }

    /// Changes the pause-time target (`mps_arena_pause_time_set`).
    ///
    /// # Panics
    ///
    /// If `seconds` is negative or NaN (the manual's rule; the C library
    /// asserts it in its checking build).
    pub fn set_pause_time(&self, seconds: f64) {
        assert!(
            seconds >= 0.0,
            "Arena::set_pause_time: the pause time must be a non-negative number (got {seconds})"
        );
        // SAFETY: the arena is live; the time is non-negative.
        unsafe { mps_arena_pause_time_set(self.as_raw(), seconds) }
    }

    /// Is a collection in progress (`mpsx_arena_tracing`)?
    ///
    /// True while an incremental collection is between steps: it has
    /// flipped and the mutator runs behind the read barrier until a later
    /// step (on allocation, [`step`](Self::step), a barrier fault or
    /// [`park`](Self::park)) finishes it. A collection that runs to its
    /// end at once (atomic) is never seen in progress. Whether a
    /// collection is incremental depends on the pools it condemns and the
    /// [`pause_time`](Self::pause_time): only a collection that condemns
    /// nothing but AMC and AMCZ objects and code (codepool's executable
    /// pools), in an arena with no weak root and no weak (AWL) pool, can
    /// be.
    ///
    /// `None` when the linked MPS library lacks this project's extensions
    /// ([`mps_sys::EXTENSIONS`]): the MPS interface itself cannot tell.
    pub fn collection_in_progress(&self) -> Option<bool> {
        if !mps_sys::EXTENSIONS {
            return None;
        }
        // SAFETY: the arena is live; the call only reads its state under
        // the arena lock, and the library defines it (EXTENSIONS).
        Some(unsafe { mpsx_arena_tracing(self.as_raw()) != 0 })
    }

    /// The write barrier the arena uses (`mpsx_arena_write_barrier`): the
    /// one [`ArenaBuilder::write_barrier`] asked for, or
    /// [`WriteBarrier::Mprotect`] where the kernel does not allow the soft
    /// one (and in a process forked from one that had it).
    ///
    /// `None` when the linked MPS library lacks this project's extensions
    /// ([`mps_sys::EXTENSIONS`]).
    pub fn write_barrier(&self) -> Option<WriteBarrier> {
        if !mps_sys::EXTENSIONS {
            return None;
        }
        // SAFETY: the arena is live; the call reads one field under the
        // arena lock, and the library defines it (EXTENSIONS).
        let kind = unsafe { mpsx_arena_write_barrier(self.as_raw()) };
        Some(if kind == MPSX_BARRIER_SOFT as i32 {
            WriteBarrier::Soft
        } else {
            WriteBarrier::Mprotect
        })
    }

    /// Starts counting the collector's pauses (`mpsx_arena_pause_log`):
    /// every interval during which it keeps the registered threads
    /// stopped, by kind. [`PauseLog::finish`] stops counting and returns
    /// the counts. One log per arena counts at a time: starting another
    /// makes the collector count in the new one from then on.
    ///
    /// `None` when the linked MPS library lacks this project's extensions
    /// ([`mps_sys::EXTENSIONS`]).
    pub fn log_pauses(&self) -> Option<PauseLog<'_>> {
        if !mps_sys::EXTENSIONS {
            return None;
        }
        let mut log = Box::new(mpsx_pause_log_s {
            seconds: ptr::null_mut(),
            capacity: 0,
            count: 0,
            kinds: [0; 4],
            total: 0.0,
            max: 0.0,
        });
        // SAFETY: the arena is live; the collector writes `*log` (no
        // per-pause array: `seconds` is null) under the arena lock until
        // the log is replaced or removed, which `PauseLog` does (under
        // the same lock) before the box is freed.
        unsafe { mpsx_arena_pause_log(self.as_raw(), &mut *log) };
        Some(PauseLog { arena: self, log })
    }

    /// Is `addr` inside memory this arena manages (`mps_arena_has_addr`)?
    pub fn has_addr(&self, addr: usize) -> bool {
        // SAFETY: the arena is live; the address is only compared.
        unsafe { mps_arena_has_addr(self.as_raw(), addr as mps_addr_t) != 0 }
    }

    /// The pool whose memory holds `addr` (`mps_addr_pool`), if any: never
    /// `None` for an address inside a block of a pool of this arena
    /// (automatic or manual), possibly `Some` for free space of a pool.
    /// Compare the result with [`Pool::id`] or
    /// [`ManualPool::id`](crate::ManualPool::id).
    ///
    /// The address is only looked up, never dereferenced, so any integer
    /// may be passed; but memory changes hands when objects move or die,
    /// so the answer is stable only while the arena is parked, or for the
    /// address of an object that cannot move or die meanwhile (as
    /// [`Handle::pool`](crate::Handle::pool) does).
    pub fn addr_pool(&self, addr: usize) -> Option<PoolId> {
        let mut pool: mps_pool_t = core::ptr::null_mut();
        // SAFETY: the arena is live; `pool` is a valid out parameter,
        // written only on success; the address is only looked up.
        let found = unsafe { mps_addr_pool(&mut pool, self.as_raw(), addr as mps_addr_t) };
        if found != 0 {
            PoolId::from_raw(pool)
        } else {
            None
        }
    }

    /// The format of the pool whose memory holds `addr`
    /// (`mps_addr_fmt`), if any: `None` outside the arena and in manual
    /// (unformatted) pools. Compare the result with [`Fmt::id`]. Stable as
    /// described for [`addr_pool`](Self::addr_pool).
    pub fn addr_fmt(&self, addr: usize) -> Option<FmtId> {
        let mut fmt: mps_fmt_t = core::ptr::null_mut();
        // SAFETY: the arena is live; `fmt` is a valid out parameter,
        // written only on success; the address is only looked up.
        let found = unsafe { mps_addr_fmt(&mut fmt, self.as_raw(), addr as mps_addr_t) };
        if found != 0 {
            FmtId::from_raw(fmt)
        } else {
            None
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Nothing borrows the arena any more: no thread is registered
        // through `with_thread`, every `Ap`, `Root` and message is gone.
        // The MPS order: park, destroy pools, then formats and chains (only
        // when parked), then the arena itself (field `raw`, dropped after
        // this function).
        self.park();
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for f in registry.at_drop.drain(..) {
            f();
        }
        while let Some(pool) = registry.pools.pop() {
            drop(pool.raw);
        }
        registry.formats.clear();
        registry.chains.clear();
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("raw", &self.as_raw())
            .field("committed", &self.committed())
            .field("collections", &self.collections())
            .finish()
    }
}

/// The smallest page size of the supported platforms: a lower bound for
/// the arena's grain.
const MIN_PAGE_SIZE: usize = 4096;

/// The fewest grains an arena reserves at first: the largest grain is the
/// absurd-size bound divided by this.
const MIN_ARENA_GRAINS: usize = 64;

/// Settings for a new [`Arena`]; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct ArenaBuilder {
    arena_size: Option<usize>,
    commit_limit: Option<usize>,
    grain_size: Option<usize>,
    pause_time: Option<f64>,
    spare: Option<f64>,
    write_barrier: Option<WriteBarrier>,
}

/// The write barrier of an arena's memory ([`ArenaBuilder::write_barrier`],
/// `vendor/mps/DESIGN.md#barrier-soft`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBarrier {
    /// Read-only pages and a fault handler (`MPSX_BARRIER_MPROTECT`, the
    /// default). A system call that writes into a protected object fails
    /// with `EFAULT`.
    Mprotect,
    /// Pages write-protected by the kernel for the collector without
    /// changing their protection (`MPSX_BARRIER_SOFT`: userfaultfd's
    /// asynchronous write protection, Linux 6.7 and later): no write
    /// faults and no `mprotect` calls for the write barrier, and system
    /// calls may write into old objects. Each collection asks the kernel
    /// which protected pages were written, so programs that collect often
    /// run slower than with [`Mprotect`](Self::Mprotect) (10–30% in the
    /// README's measurements).
    Soft,
}

impl ArenaBuilder {
    /// Initial address-space reservation in bytes (`MPS_KEY_ARENA_SIZE`);
    /// the arena reserves more when it needs it.
    pub fn arena_size(mut self, bytes: usize) -> Self {
        self.arena_size = Some(bytes);
        self
    }

    /// Maximum committed memory in bytes (`MPS_KEY_COMMIT_LIMIT`).
    pub fn commit_limit(mut self, bytes: usize) -> Self {
        self.commit_limit = Some(bytes);
        self
    }

    /// The arena's grain (`MPS_KEY_ARENA_GRAIN_SIZE`): a power of two, at
    /// least the page size (smaller ones are raised to it).
    pub fn grain_size(mut self, bytes: usize) -> Self {
        self.grain_size = Some(bytes);
        self
    }

    /// Pause-time target in seconds (`MPS_KEY_PAUSE_TIME`).
    pub fn pause_time(mut self, seconds: f64) -> Self {
        self.pause_time = Some(seconds);
        self
    }

    /// Fraction of committed memory kept as spare (`MPS_KEY_SPARE`), in
    /// `0.0 ..= 1.0` ([`Error::Param`] from [`build`](Self::build)
    /// otherwise).
    pub fn spare(mut self, fraction: f64) -> Self {
        self.spare = Some(fraction);
        self
    }

    /// The write barrier (`MPSX_KEY_WRITE_BARRIER`; default
    /// [`WriteBarrier::Mprotect`], or [`WriteBarrier::Soft`] for every
    /// arena when the environment has `MPS_WRITE_BARRIER=userfaultfd`).
    /// The arena falls back to [`WriteBarrier::Mprotect`] where the kernel
    /// does not allow the soft one: [`Arena::write_barrier`] tells which it
    /// got.
    pub fn write_barrier(mut self, barrier: WriteBarrier) -> Self {
        self.write_barrier = Some(barrier);
        self
    }

    /// Creates the arena (`mps_arena_create_k`).
    ///
    /// # Errors
    ///
    /// [`Error::Resource`] if the arena size is absurd (2^48 bytes or
    /// more: no address space that large can be reserved);
    /// [`Error::Param`] if the grain is not a power of two or absurd (2^42
    /// bytes or more: an arena holds at least 64 grains), or the spare
    /// fraction is out of range; [`Error::Unimpl`] if
    /// [`WriteBarrier::Soft`] was asked for and the linked MPS library
    /// lacks this project's extensions ([`mps_sys::EXTENSIONS`]);
    /// otherwise the MPS's result.
    pub fn build(self) -> Result<Arena, Error> {
        let mut args = ArgList::new();
        match self.write_barrier {
            Some(barrier) if mps_sys::EXTENSIONS => {
                let kind = match barrier {
                    WriteBarrier::Mprotect => MPSX_BARRIER_MPROTECT,
                    WriteBarrier::Soft => MPSX_BARRIER_SOFT,
                };
                args.add(MPSX_KEY_WRITE_BARRIER, kind as mps_bool_t);
            }
            Some(WriteBarrier::Soft) => return Err(Error::Unimpl),
            _ => {}
        }
        if let Some(size) = self.arena_size {
            if size >= ABSURD_SIZE {
                return Err(Error::Resource);
            }
            args.add(MPS_KEY_ARENA_SIZE, size);
        }
        if let Some(limit) = self.commit_limit {
            args.add(MPS_KEY_COMMIT_LIMIT, limit);
        }
        if let Some(grain) = self.grain_size {
            if !grain.is_power_of_two() || grain >= ABSURD_SIZE / MIN_ARENA_GRAINS {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_ARENA_GRAIN_SIZE, grain);
        }
        if let Some(pause) = self.pause_time {
            args.add(MPS_KEY_PAUSE_TIME, pause);
        }
        if let Some(spare) = self.spare {
            if !(0.0..=1.0).contains(&spare) {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_SPARE, spare);
        }
        let max_align = self
            .grain_size
            .filter(|g| g.is_power_of_two())
            .unwrap_or(0)
            .max(MIN_PAGE_SIZE);
        Ok(Arena {
            registry: Mutex::new(Registry::default()),
            max_align,
            raw: RawArena::create_vm(&mut args)?,
        })
    }
}

/// Counts of the collector's pauses ([`Arena::log_pauses`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pauses {
    /// Every pause.
    pub count: usize,
    /// Collections run to their end at once.
    pub atomic: usize,
    /// Starts of incremental collections.
    pub flips: usize,
    /// Steps of incremental collections.
    pub steps: usize,
    /// Read-barrier faults: a thread touched memory not yet scanned.
    pub faults: usize,
    /// Seconds, all pauses.
    pub total: f64,
    /// Seconds, the longest pause.
    pub max: f64,
}

/// Counts the collector's pauses while it lives ([`Arena::log_pauses`]).
pub struct PauseLog<'a> {
    arena: &'a Arena,
    log: Box<mpsx_pause_log_s>,
}

impl PauseLog<'_> {
    /// Stops counting and returns the counts.
    pub fn finish(self) -> Pauses {
        let log = &*self.log;
        self.stop();
        Pauses {
            count: log.count,
            atomic: log.kinds[MPSX_PAUSE_ATOMIC as usize],
            flips: log.kinds[MPSX_PAUSE_FLIP as usize],
            steps: log.kinds[MPSX_PAUSE_STEP as usize],
            faults: log.kinds[MPSX_PAUSE_FAULT as usize],
            total: log.total,
            max: log.max,
        }
    }

    fn stop(&self) {
        // SAFETY: the arena is live (borrowed). Under the arena lock the
        // collector's log becomes none, unless another `PauseLog` replaced
        // this one (then it already stopped writing here): either way
        // nothing writes `self.log` after this returns.
        unsafe { mpsx_arena_pause_log(self.arena.as_raw(), ptr::null_mut()) };
    }
}

impl Drop for PauseLog<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for PauseLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PauseLog").finish_non_exhaustive()
    }
}

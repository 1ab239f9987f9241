//! The AMS debug pool class (`mps_class_ams_debug`): AMS whose free
//! memory is splatted with a template, so that a write into a dead
//! object, or past the end of an object into the free space after it, is
//! caught by [`Pool::check_free_space`].

use mps_sys::*;

use crate::arena::Arena;
use crate::error::Error;
use crate::format::{Fmt, Format};
use crate::manual::DebugOptions;
use crate::object::Object;
use crate::pool::{sealed, AmsClass, Ap, ApOptions, Holds, Pool, PoolClass, PoolOptions};
use crate::root::Rank;

/// The class of [`AmsDebug`] pools: [`AmsClass`] with the debugging
/// layer. Free memory (a new segment, the unused tail of an allocation
/// point's buffer when it is given back, every object a collection
/// reclaims) is overwritten with [`DebugOptions::free`], and
/// [`Pool::check_free_space`] checks it. Objects come from allocation
/// points, whose reserve and commit never call the pool, so they get no
/// fenceposts: [`DebugOptions::fence`] is accepted and
/// [`Pool::check_fenceposts`] has nothing to check
/// (`vendor/mps/DESIGN.md#debug`).
#[derive(Debug)]
pub enum AmsDebugClass {}

impl sealed::Sealed for AmsDebugClass {
    const MAY_PAD: bool = <AmsClass as sealed::Sealed>::MAY_PAD;
    const MOVES: bool = <AmsClass as sealed::Sealed>::MOVES;
    const DEFAULT_RANK: Option<Rank> = <AmsClass as sealed::Sealed>::DEFAULT_RANK;
    const HASH_ARRAYS: bool = <AmsClass as sealed::Sealed>::HASH_ARRAYS;
    fn accepts_rank(rank: Rank) -> bool {
        <AmsClass as sealed::Sealed>::accepts_rank(rank)
    }
    fn class_args<F: Format>(args: &mut ArgList, options: &PoolOptions<'_>) -> Result<(), Error> {
        <AmsClass as sealed::Sealed>::class_args::<F>(args, options)
    }
}

impl PoolClass for AmsDebugClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_ams_debug() }
    }
    const NAME: &'static str = "AMS debug";
}

// SAFETY: AMS debug is AMS (it scans its objects with the format's scan
// method, exactly or ambiguously as the allocation point's rank says);
// the debugging layer only writes free memory.
unsafe impl<T: Object + ?Sized> Holds<T> for AmsDebugClass {}

/// An AMS debug pool of format `F`, created by [`Arena::ams_debug`].
pub type AmsDebug<'a, F> = Pool<'a, F, AmsDebugClass>;

impl Arena {
    /// An AMS debug pool (`mps_class_ams_debug`) of format `F`: as
    /// [`ams`](Self::ams), and free memory is splatted with
    /// `debug.free` ([`AmsDebugClass`]). A check that fails stops the
    /// process with an assertion of the MPS.
    ///
    /// # Errors
    ///
    /// As [`ams`](Self::ams).
    pub fn ams_debug<'a, F: Format>(
        &'a self,
        fmt: Fmt<'a, F>,
        options: &PoolOptions<'a>,
        debug: &DebugOptions,
    ) -> Result<AmsDebug<'a, F>, Error> {
        let raw = debug.leak_raw();
        self.pool_with(fmt, options, |args| {
            args.add(MPS_KEY_POOL_DEBUG_OPTIONS, raw);
        })
    }
}

impl<'a, F: Format> Pool<'a, F, AmsDebugClass> {
    /// Checks every free range of the pool against the free template
    /// (`mps_pool_check_free_space`); a write into free memory stops the
    /// process with an MPS assertion.
    pub fn check_free_space(&self) {
        // SAFETY: the pool is live (the arena owns it for `'a`).
        unsafe { mps_pool_check_free_space(self.as_raw()) }
    }

    /// `mps_pool_check_fenceposts`: AMS debug objects have no fenceposts
    /// (see [`AmsDebugClass`]), so this checks nothing here; kept for
    /// code written against the MPS interface.
    pub fn check_fenceposts(&self) {
        // SAFETY: the pool is live.
        unsafe { mps_pool_check_fenceposts(self.as_raw()) }
    }

    /// An allocation point whose objects' references are ambiguous, as
    /// [`Ams::ambiguous_ap`](crate::Ams).
    pub fn ambiguous_ap(&self) -> Result<Ap<'a, F, AmsDebugClass>, Error> {
        self.ap_with(&ApOptions {
            rank: Some(Rank::Ambiguous),
            ..ApOptions::default()
        })
    }
}

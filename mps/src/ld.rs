//! Location dependencies: has an object moved since I hashed its address?

use core::fmt;

use mps_sys::*;

use crate::arena::Arena;
use crate::format::Format;
use crate::thread::{pin_until_here, Handle};

/// A location dependency (`mps_ld_s`): a record of object addresses a
/// computation depended on (typically a hash table keyed by address), which
/// can say whether any of those objects may have moved since.
///
/// The promise is one-sided: after [`add`](Self::add), [`is_stale`](Self::is_stale)
/// is `true` if the object has moved since; it may also be `true` when
/// nothing moved. A freshly [`reset`](Self::reset) dependency is not stale.
pub struct Ld<'a> {
    raw: mps_ld_s,
    arena: &'a Arena,
}

impl<'a> Ld<'a> {
    /// A new, reset location dependency of `arena`.
    pub fn new(arena: &'a Arena) -> Self {
        let mut ld = Ld {
            raw: mps_ld_s { _epoch: 0, _rs: 0 },
            arena,
        };
        ld.reset();
        ld
    }

    /// Forgets every address added (`mps_ld_reset`).
    pub fn reset(&mut self) {
        // SAFETY: `self.raw` is a valid LD, exclusively borrowed; the arena
        // is live.
        unsafe { mps_ld_reset(&mut self.raw, self.arena.as_raw()) }
    }

    fn check<F: Format>(&self, handle: Handle<'_, F>) {
        assert!(
            handle.arena_ptr() == self.arena.as_raw(),
            "mps: Ld: the handle belongs to another arena"
        );
    }

    /// Records that the caller depends on the object's current address
    /// (`mps_ld_add`). Call it *before* using the address (read it with
    /// [`Handle::addr`] after this call).
    pub fn add<F: Format>(&mut self, handle: Handle<'_, F>) {
        self.check(handle);
        let addr = handle.current().as_ptr();
        // SAFETY: `self.raw` is a valid LD, exclusively borrowed; the arena
        // is live; the address is only used for its zone.
        unsafe { mps_ld_add(&mut self.raw, self.arena.as_raw(), addr.cast()) };
        pin_until_here(addr);
    }

    /// May the object have moved since it was added
    /// (`mps_ld_isstale`)? Always true if it moved.
    pub fn is_stale<F: Format>(&self, handle: Handle<'_, F>) -> bool {
        self.check(handle);
        let addr = handle.current().as_ptr();
        let mut raw = self.raw;
        // SAFETY: `raw` is a valid LD (a copy: the call only reads it); the
        // arena is live.
        let stale = unsafe { mps_ld_isstale(&mut raw, self.arena.as_raw(), addr.cast()) } != 0;
        pin_until_here(addr);
        stale
    }

    /// May any object added since the last reset have moved
    /// (`mps_ld_isstale_any`)?
    pub fn is_stale_any(&self) -> bool {
        let mut raw = self.raw;
        // SAFETY: as in `is_stale`.
        unsafe { mps_ld_isstale_any(&mut raw, self.arena.as_raw()) != 0 }
    }

    /// Adds everything `other` depends on to `self` (`mps_ld_merge`).
    ///
    /// # Panics
    ///
    /// If `other` belongs to another arena.
    pub fn merge(&mut self, other: &Ld<'a>) {
        assert!(
            core::ptr::eq(self.arena, other.arena),
            "mps: Ld::merge: the dependencies belong to different arenas"
        );
        let mut src = other.raw;
        // SAFETY: both LDs are valid and of this arena; `self.raw` is
        // exclusively borrowed, `src` is a copy.
        unsafe { mps_ld_merge(&mut self.raw, self.arena.as_raw(), &mut src) }
    }
}

impl fmt::Debug for Ld<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ld")
            .field("epoch", &self.raw._epoch)
            .field("zones", &format_args!("{:#x}", self.raw._rs))
            .finish()
    }
}

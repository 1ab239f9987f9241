//! Owning raw handles: one `NonNull` newtype per MPS object kind, whose
//! `Drop` destroys the object.
//!
//! These types know nothing about order: the MPS requires allocation points
//! to go before their pool, pools before their format and chain, roots and
//! thread registrations before the arena, and so on. The public types that
//! own them (with lifetimes, or inside the arena's registry) are what
//! guarantee that order; see the crate docs, "Ownership".

use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::error::{check, Error};

macro_rules! raw_handle {
    ($(#[$meta:meta])* $name:ident($c:ty), $destroy:ident) => {
        $(#[$meta])*
        pub(crate) struct $name(NonNull<$c>);

        impl $name {
            /// Wraps the result of a successful create call.
            ///
            /// # Safety
            ///
            /// `ptr` must be a live MPS object of this kind that nothing else
            /// destroys, and the owner of the returned value must drop it only
            /// when the MPS allows destroying it.
            #[inline]
            pub(crate) unsafe fn from_raw(ptr: *mut $c) -> Self {
                $name(NonNull::new(ptr).expect(concat!(
                    "the MPS returned a null ",
                    stringify!($c)
                )))
            }

            /// The raw MPS handle.
            #[inline]
            #[allow(dead_code, reason = "not every kind needs its raw pointer")]
            pub(crate) fn as_ptr(&self) -> *mut $c {
                self.0.as_ptr()
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: `from_raw`'s contract: the object is live, owned by
                // this value alone, and the owner drops it only when the MPS
                // allows destroying it.
                unsafe { $destroy(self.0.as_ptr()) }
            }
        }
    };
}

raw_handle!(
    /// An arena (`mps_arena_t`), destroyed with `mps_arena_destroy`.
    RawArena(mps_arena_s),
    mps_arena_destroy
);
raw_handle!(
    /// An object format (`mps_fmt_t`), destroyed with `mps_fmt_destroy`.
    RawFmt(mps_fmt_s),
    mps_fmt_destroy
);
raw_handle!(
    /// A generation chain (`mps_chain_t`), destroyed with `mps_chain_destroy`.
    RawChain(mps_chain_s),
    mps_chain_destroy
);
raw_handle!(
    /// A pool (`mps_pool_t`), destroyed with `mps_pool_destroy`.
    RawPool(mps_pool_s),
    mps_pool_destroy
);
raw_handle!(
    /// An allocation point (`mps_ap_t`), destroyed with `mps_ap_destroy`.
    RawAp(mps_ap_s),
    mps_ap_destroy
);
raw_handle!(
    /// A root (`mps_root_t`), destroyed with `mps_root_destroy`.
    RawRoot(mps_root_s),
    mps_root_destroy
);
raw_handle!(
    /// A thread registration (`mps_thr_t`), ended with `mps_thread_dereg`.
    RawThread(mps_thr_s),
    mps_thread_dereg
);

// SAFETY: arenas, formats, chains and pools may be used and destroyed from
// any thread; every MPS call on them claims the arena lock.
unsafe impl Send for RawArena {}
// SAFETY: see above.
unsafe impl Sync for RawArena {}
// SAFETY: see above.
unsafe impl Send for RawFmt {}
// SAFETY: see above.
unsafe impl Send for RawChain {}
// SAFETY: see above.
unsafe impl Send for RawPool {}
// SAFETY: an allocation point is used by one thread at a time, which may
// change: its owner (`Ap`) is `Send` but not shared.
unsafe impl Send for RawAp {}
// SAFETY: a root may be destroyed from any thread (arena lock); the memory
// it covers is owned and synchronised by its owner.
unsafe impl Send for RawRoot {}
// SAFETY: see above; a shared `RawRoot` offers nothing but its pointer.
unsafe impl Sync for RawRoot {}

impl RawArena {
    /// `mps_arena_create_k` with the VM arena class.
    pub(crate) fn create_vm(args: &mut ArgList) -> Result<RawArena, Error> {
        let mut arena = ptr::null_mut();
        // SAFETY: `arena` is a valid out parameter; `args` is a terminated
        // keyword list (ArgList's invariant) that the call may consume.
        check(unsafe { mps_arena_create_k(&mut arena, mps_arena_class_vm(), args.as_mut_ptr()) })?;
        // SAFETY: the call succeeded, so `arena` is a new arena owned here.
        Ok(unsafe { RawArena::from_raw(arena) })
    }
}

//! The macros of `mps.h` as inline Rust, with the same semantics.
//!
//! | C macro | Rust |
//! |---|---|
//! | `mps_reserve`, `MPS_RESERVE_BLOCK` | [`reserve`] |
//! | `mps_commit` | [`commit`] |
//! | `MPS_SCAN_BEGIN` / `MPS_SCAN_END` | [`ScanState::begin`] / [`ScanState::end`] (or drop) |
//! | `MPS_FIX1`, `MPS_FIX2`, `MPS_FIX12` (`MPS_FIX`) | [`ScanState::fix1`], [`ScanState::fix2`], [`ScanState::fix12`] |
//! | `MPS_FIX_CALL` | [`ScanState::fix_call`] |
//! | `MPS_ARGS_BEGIN` / `ADD` / `DONE` / `END` | [`ArgList`] |
//! | `MPS_KEY_*` with `MPS_KEY_*_FIELD` | the typed [`Key`] constants `MPS_KEY_*` |
//! | `mps_message_type_*()` | [`mps_message_type_finalization`] and friends |
//! | `MPS_RM_*` | [`MPS_RM_CONST`], [`MPS_RM_PROT`], [`MPS_RM_PROT_INNER`] |
//!
//! The library also exports real functions `mps_reserve` and `mps_commit`
//! (declared in the bindings); these inline versions avoid the call on the
//! fast path. The crate's layout assertions pin every field they touch.

use core::ffi::{c_char, c_uint, c_ulong, c_void};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::addr_of;
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
use core::sync::atomic::fence;
use core::sync::atomic::{compiler_fence, Ordering};

use crate::bindings::*;
// The extension keys from the crate root: the stand-ins of `no_ext` where
// the library lacks them (they shadow the generated declarations there).
use crate::{_mpsx_key_CODE_RESERVE, _mpsx_key_WRITE_BARRIER};

/// `MPS_RES_OK` as an `mps_res_t`.
const RES_OK: mps_res_t = MPS_RES_OK as mps_res_t;

/// Bits in a word: the zone arithmetic of `MPS_FIX1` is modulo this.
const WORD_BITS: u32 = mps_word_t::BITS;

// ---------------------------------------------------------------------------
// Allocation points

/// `mps_reserve`: reserves `size` bytes in the allocation point's buffer and
/// stores the block's (base) address in `*p_o`.
///
/// Fast path, inline: if `alloc + size` neither wraps around nor passes
/// `limit`, bump `alloc` and return the old `alloc` (which equals `init`).
/// Otherwise (size 0, overflow, full buffer, trapped allocation point with
/// `limit == 0`) call `mps_ap_fill`. Returns `MPS_RES_OK` or the result of
/// `mps_ap_fill`; `*p_o` is written only on success.
///
/// # Safety
///
/// `ap` must be a live allocation point used only by the calling thread,
/// with no block reserved and not yet committed; `size` must be non-zero and
/// a multiple of the pool's alignment; `p_o` must be valid for writes.
#[inline(always)]
pub unsafe fn reserve(p_o: *mut mps_addr_t, ap: mps_ap_t, size: usize) -> mps_res_t {
    // SAFETY: the caller guarantees `ap` points to a live allocation point
    // that only this thread uses, so reading its fields does not race.
    let (alloc, limit) = unsafe { ((*ap).alloc, (*ap).limit) };
    let next = alloc.cast::<u8>().wrapping_add(size);
    if next as usize > alloc as usize && next as usize <= limit as usize {
        // SAFETY: as above, and `p_o` is valid for writes (caller). The new
        // `alloc` stays within `[init, limit]`, the buffer's invariant.
        unsafe {
            (*ap).alloc = next.cast();
            *p_o = (*ap).init;
        }
        RES_OK
    } else {
        // SAFETY: the caller's guarantees are exactly `mps_ap_fill`'s.
        unsafe { mps_ap_fill(p_o, ap, size) }
    }
}

/// `mps_commit`: publishes the block `p` of `size` bytes reserved by the
/// last [`reserve`] on `ap`, and tells whether it may be kept.
///
/// Returns `true` if the block is now a managed object. Returns `false` if
/// the collector flipped while the block was reserved: the block is void and
/// the client must reserve and initialise again.
///
/// Before the `init` store there is a compiler fence (and on weakly ordered
/// processors a release fence), so that no initialising store of the block
/// can move below it; between the `init` store and the `limit` load another
/// compiler fence keeps the order the protocol needs (the collector, at the
/// flip, stores `limit = 0` and then reads `init`). See rule 7 of the
/// interface specification.
///
/// # Safety
///
/// `ap` must be a live allocation point used only by the calling thread;
/// `p` and `size` must be those of the block reserved by the last
/// successful [`reserve`] on it, and the block must have been initialised
/// into a well-formed object of the pool's format.
#[inline(always)]
pub unsafe fn commit(ap: mps_ap_t, p: mps_addr_t, size: usize) -> bool {
    compiler_fence(Ordering::SeqCst);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    fence(Ordering::Release);
    // SAFETY: the caller guarantees `ap` is live and used only by this
    // thread.
    unsafe { (*ap).init = (*ap).alloc };
    compiler_fence(Ordering::SeqCst);
    // SAFETY: as above.
    let limit = unsafe { (*ap).limit };
    // SAFETY: `limit == 0` means the allocation point is trapped; the
    // caller's guarantees are `mps_ap_trip`'s preconditions (`init ==
    // alloc == p + size` now holds).
    !limit.is_null() || unsafe { mps_ap_trip(ap, p, size) } != 0
}

// ---------------------------------------------------------------------------
// Scanning

/// The scan state cached in locals, as `MPS_SCAN_BEGIN` does: the zone
/// shift, the white set and the unfixed summary of an `mps_ss_t`.
///
/// [`fix1`](Self::fix1) is the pure inline filter, [`fix2`](Self::fix2) the
/// call into the collector, [`fix12`](Self::fix12) both. The summary is
/// written back to the scan state by [`end`](Self::end) or on drop
/// (`MPS_SCAN_END`); writing it back after a failed scan is harmless (the
/// collector then assumes the worst).
pub struct ScanState {
    ss: mps_ss_t,
    zs: mps_word_t,
    w: mps_word_t,
    ufs: mps_word_t,
}

impl ScanState {
    /// `MPS_SCAN_BEGIN(ss)`: caches the three public words of `ss`.
    ///
    /// # Safety
    ///
    /// `ss` must be the scan state passed to the scan function (format scan
    /// method, root or area scanner) that is running now, and the returned
    /// value must be dropped (or [`end`](Self::end)ed) before that function
    /// returns. Only one `ScanState` per `ss` may be live at a time, except
    /// inside [`fix_call`](Self::fix_call).
    #[inline(always)]
    pub unsafe fn begin(ss: mps_ss_t) -> Self {
        // SAFETY: the caller guarantees `ss` is the live scan state.
        let (zs, w, ufs) = unsafe { ((*ss)._zs, (*ss)._w, (*ss)._ufs) };
        ScanState { ss, zs, w, ufs }
    }

    /// `MPS_FIX1(ss, word)`: records the word's zone in the summary and
    /// returns whether the word may point into memory being collected
    /// (its zone is in the white set). Pure and inline; any word may be
    /// passed (tagged, interior, not a pointer at all). `false` means the
    /// word can be skipped.
    #[inline(always)]
    pub fn fix1(&mut self, word: mps_word_t) -> bool {
        // wrapping_shr takes the shift modulo the word width; the collector
        // keeps `_zs` below it anyway.
        let zone = word.wrapping_shr(self.zs as u32) & mps_word_t::from(WORD_BITS - 1);
        let bit: mps_word_t = 1 << zone;
        self.ufs |= bit;
        self.w & bit != 0
    }

    /// `MPS_FIX2(ss, ref_io)`: the real fix. `*ref_io` must be a genuine
    /// (untagged, client-pointer) reference or a word that passed
    /// [`fix1`](Self::fix1); the collector may update it (the object moved)
    /// or set it to null (a weak reference to a dead object). A non-OK
    /// result must end the scan with that result.
    #[inline(always)]
    pub fn fix2(&mut self, ref_io: &mut mps_addr_t) -> mps_res_t {
        // SAFETY: `begin`'s contract keeps `self.ss` the live scan state
        // while `self` exists; `_mps_fix2` is total over the referenced word.
        unsafe { _mps_fix2(self.ss, ref_io) }
    }

    /// `MPS_FIX12(ss, ref_io)`: [`fix1`](Self::fix1) then, only if needed,
    /// [`fix2`](Self::fix2).
    #[inline(always)]
    pub fn fix12(&mut self, ref_io: &mut mps_addr_t) -> mps_res_t {
        if self.fix1(*ref_io as mps_word_t) {
            self.fix2(ref_io)
        } else {
            RES_OK
        }
    }

    /// `MPS_FIX_CALL(ss, call)`: runs `call` with the raw scan state (for a
    /// helper that begins its own `ScanState`, or an area scanner such as
    /// `mps_scan_area`), then folds the summary it left in the scan state
    /// into this one.
    #[inline]
    pub fn fix_call<R>(&mut self, call: impl FnOnce(mps_ss_t) -> R) -> R {
        let result = call(self.ss);
        // SAFETY: `self.ss` is the live scan state (`begin`'s contract).
        self.ufs |= unsafe { (*self.ss)._ufs };
        result
    }

    /// The raw scan state this value caches.
    #[inline]
    pub fn as_raw(&self) -> mps_ss_t {
        self.ss
    }

    /// `MPS_SCAN_END(ss)`: writes the summary back (dropping does the same).
    #[inline(always)]
    pub fn end(self) {}
}

impl Drop for ScanState {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `begin`'s contract: `self.ss` is the live scan state.
        unsafe { (*self.ss)._ufs = self.ufs };
    }
}

impl fmt::Debug for ScanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanState")
            .field("zs", &self.zs)
            .field("w", &format_args!("{:#x}", self.w))
            .field("ufs", &format_args!("{:#x}", self.ufs))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Keyword arguments

/// A keyword (`MPS_KEY_*`) together with the type of its value, which
/// stands for the `MPS_KEY_*_FIELD` companion macro: the value is stored in
/// the union member of that type.
pub struct Key<T> {
    get: fn() -> mps_key_t,
    _value: PhantomData<fn(T)>,
}

impl<T> Key<T> {
    /// A typed key from a function yielding its address, for keys this
    /// crate does not list (extensions such as `MPSX_KEY_CODE_RESERVE`).
    ///
    /// # Safety
    ///
    /// `get` must return the address of a key whose value the MPS reads as
    /// the C type that `T` stores ([`ArgValue`]).
    pub const unsafe fn from_fn(get: fn() -> mps_key_t) -> Self {
        Key {
            get,
            _value: PhantomData,
        }
    }

    /// The key's address, as the C macro `MPS_KEY_*` yields it.
    #[inline]
    pub fn as_raw(&self) -> mps_key_t {
        (self.get)()
    }
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:p})", self.as_raw())
    }
}

/// A type that can be the value of a keyword argument: it knows its member
/// of the `mps_arg_s` value union. Members of the same C type share a Rust
/// type (`size` and `align` are both `usize`, `b` and `i` both
/// `mps_bool_t`, ...); they occupy the same bytes, so either is right.
pub trait ArgValue: Copy {
    /// Stores `self` in its member of `val`.
    fn store(self, val: &mut mps_arg_s__bindgen_ty_1);
}

macro_rules! arg_values {
    ($($ty:ty => $field:ident),* $(,)?) => {
        $(
            impl ArgValue for $ty {
                #[inline]
                fn store(self, val: &mut mps_arg_s__bindgen_ty_1) {
                    val.$field = self;
                }
            }
        )*
    };
}

arg_values! {
    usize => size,
    f64 => d,
    mps_bool_t => b,
    c_uint => u,
    c_ulong => count,
    *const c_char => string,
    *mut c_void => addr,
    mps_fun_t => fun,
    mps_fmt_t => format,
    mps_chain_t => chain,
    mps_pool_t => pool,
    *mut mps_pool_debug_option_s => pool_debug_options,
    mps_fmt_scan_t => fmt_scan,
    mps_fmt_skip_t => fmt_skip,
    mps_fmt_fwd_t => fmt_fwd,
    mps_fmt_pad_t => fmt_pad,
}

macro_rules! keys {
    ($($(#[$meta:meta])* $name:ident: $ty:ty = $sym:ident;)*) => {
        $(
            $(#[$meta])*
            pub const $name: Key<$ty> = Key {
                get: {
                    #[allow(
                        unused_unsafe,
                        reason = "taking an extern static's address is unsafe before Rust 1.82"
                    )]
                    fn get() -> mps_key_t {
                        // SAFETY: only the address of the extern static is
                        // taken; it is never read from Rust.
                        unsafe { addr_of!($sym) }
                    }
                    get
                },
                _value: PhantomData,
            };
        )*
    };
}

keys! {
    /// `MPS_KEY_ARGS_END`: the terminator of every argument list (no value).
    MPS_KEY_ARGS_END: () = _mps_key_ARGS_END;
    /// `MPS_KEY_ARENA_SIZE` (`size`): initial address-space reservation.
    MPS_KEY_ARENA_SIZE: usize = _mps_key_ARENA_SIZE;
    /// `MPS_KEY_ARENA_GRAIN_SIZE` (`size`): the arena's grain.
    MPS_KEY_ARENA_GRAIN_SIZE: usize = _mps_key_ARENA_GRAIN_SIZE;
    /// `MPS_KEY_ARENA_ZONED` (`b`): zoned allocation (undocumented).
    MPS_KEY_ARENA_ZONED: mps_bool_t = _mps_key_ARENA_ZONED;
    /// `MPS_KEY_ARENA_EXTENDED` (`fun`): called after each chunk is acquired.
    MPS_KEY_ARENA_EXTENDED: mps_fun_t = _mps_key_arena_extended;
    /// `MPS_KEY_ARENA_CONTRACTED` (`fun`): called before each chunk is released.
    MPS_KEY_ARENA_CONTRACTED: mps_fun_t = _mps_key_arena_contracted;
    /// `MPS_KEY_ARENA_CL_BASE` (`addr`): the client arena's memory.
    MPS_KEY_ARENA_CL_BASE: mps_addr_t = _mps_key_ARENA_CL_BASE;
    /// `MPS_KEY_COMMIT_LIMIT` (`size`): the arena's commit limit.
    MPS_KEY_COMMIT_LIMIT: usize = _mps_key_COMMIT_LIMIT;
    /// `MPS_KEY_SPARE_COMMIT_LIMIT` (`size`, deprecated).
    MPS_KEY_SPARE_COMMIT_LIMIT: usize = _mps_key_SPARE_COMMIT_LIMIT;
    /// `MPS_KEY_SPARE` (`d`): fraction of committed memory kept spare.
    MPS_KEY_SPARE: f64 = _mps_key_SPARE;
    /// `MPS_KEY_PAUSE_TIME` (`d`): the arena's pause-time target in seconds.
    MPS_KEY_PAUSE_TIME: f64 = _mps_key_PAUSE_TIME;
    /// `MPS_KEY_VMW3_TOP_DOWN` (`b`, Windows only).
    MPS_KEY_VMW3_TOP_DOWN: mps_bool_t = _mps_key_VMW3_TOP_DOWN;
    /// `MPS_KEY_FORMAT` (`format`): a pool's object format.
    MPS_KEY_FORMAT: mps_fmt_t = _mps_key_FORMAT;
    /// `MPS_KEY_CHAIN` (`chain`): a pool's generation chain.
    MPS_KEY_CHAIN: mps_chain_t = _mps_key_CHAIN;
    /// `MPS_KEY_GEN` (`u`): the generation a pool allocates into.
    MPS_KEY_GEN: c_uint = _mps_key_GEN;
    /// `MPS_KEY_RANK` (`rank`): the rank of an allocation point.
    MPS_KEY_RANK: mps_rank_t = _mps_key_RANK;
    /// `MPS_KEY_INTERIOR` (`b`): do interior pointers pin (AMC, AMCZ)?
    MPS_KEY_INTERIOR: mps_bool_t = _mps_key_INTERIOR;
    /// `MPS_KEY_EXTEND_BY` (`size`): minimum segment size.
    MPS_KEY_EXTEND_BY: usize = _mps_key_EXTEND_BY;
    /// `MPS_KEY_LARGE_SIZE` (`size`, undocumented, AMC).
    MPS_KEY_LARGE_SIZE: usize = _mps_key_LARGE_SIZE;
    /// `MPS_KEY_MIN_SIZE` (`size`, MVT).
    MPS_KEY_MIN_SIZE: usize = _mps_key_MIN_SIZE;
    /// `MPS_KEY_MEAN_SIZE` (`size`, MVT, MVFF).
    MPS_KEY_MEAN_SIZE: usize = _mps_key_MEAN_SIZE;
    /// `MPS_KEY_MAX_SIZE` (`size`, MVT).
    MPS_KEY_MAX_SIZE: usize = _mps_key_MAX_SIZE;
    /// `MPS_KEY_ALIGN` (`align`, MVFF, MVT).
    MPS_KEY_ALIGN: mps_align_t = _mps_key_ALIGN;
    /// `MPS_KEY_AP_HASH_ARRAYS` (`b`, AMC allocation points).
    MPS_KEY_AP_HASH_ARRAYS: mps_bool_t = _mps_key_ap_hash_arrays;
    /// `MPS_KEY_POOL_DEBUG_OPTIONS` (`pool_debug_options`).
    MPS_KEY_POOL_DEBUG_OPTIONS: *mut mps_pool_debug_option_s = _mps_key_POOL_DEBUG_OPTIONS;
    /// `MPS_KEY_AMS_SUPPORT_AMBIGUOUS` (`b`, AMS).
    MPS_KEY_AMS_SUPPORT_AMBIGUOUS: mps_bool_t = _mps_key_AMS_SUPPORT_AMBIGUOUS;
    /// `MPS_KEY_AWL_FIND_DEPENDENT` (`addr_method`, AWL).
    MPS_KEY_AWL_FIND_DEPENDENT: mps_fmt_skip_t = _mps_key_AWL_FIND_DEPENDENT;
    /// `MPS_KEY_MVFF_SLOT_HIGH` (`b`, MVFF).
    MPS_KEY_MVFF_SLOT_HIGH: mps_bool_t = _mps_key_MVFF_SLOT_HIGH;
    /// `MPS_KEY_MVFF_ARENA_HIGH` (`b`, MVFF).
    MPS_KEY_MVFF_ARENA_HIGH: mps_bool_t = _mps_key_MVFF_ARENA_HIGH;
    /// `MPS_KEY_MVFF_FIRST_FIT` (`b`, MVFF).
    MPS_KEY_MVFF_FIRST_FIT: mps_bool_t = _mps_key_MVFF_FIRST_FIT;
    /// `MPS_KEY_MFS_UNIT_SIZE` (`size`, MFS).
    MPS_KEY_MFS_UNIT_SIZE: usize = _mps_key_MFS_UNIT_SIZE;
    /// `MPS_KEY_MVT_RESERVE_DEPTH` (`count`, MVT).
    MPS_KEY_MVT_RESERVE_DEPTH: mps_word_t = _mps_key_MVT_RESERVE_DEPTH;
    /// `MPS_KEY_MVT_FRAG_LIMIT` (`d`, MVT).
    MPS_KEY_MVT_FRAG_LIMIT: f64 = _mps_key_MVT_FRAG_LIMIT;
    /// `MPS_KEY_FMT_ALIGN` (`align`): the format's alignment.
    MPS_KEY_FMT_ALIGN: mps_align_t = _mps_key_FMT_ALIGN;
    /// `MPS_KEY_FMT_HEADER_SIZE` (`size`): the in-band header size.
    MPS_KEY_FMT_HEADER_SIZE: usize = _mps_key_FMT_HEADER_SIZE;
    /// `MPS_KEY_FMT_SCAN` (`fmt_scan`).
    MPS_KEY_FMT_SCAN: mps_fmt_scan_t = _mps_key_FMT_SCAN;
    /// `MPS_KEY_FMT_SKIP` (`fmt_skip`).
    MPS_KEY_FMT_SKIP: mps_fmt_skip_t = _mps_key_FMT_SKIP;
    /// `MPS_KEY_FMT_FWD` (`fmt_fwd`).
    MPS_KEY_FMT_FWD: mps_fmt_fwd_t = _mps_key_FMT_FWD;
    /// `MPS_KEY_FMT_ISFWD` (`fmt_isfwd`).
    MPS_KEY_FMT_ISFWD: mps_fmt_isfwd_t = _mps_key_FMT_ISFWD;
    /// `MPS_KEY_FMT_PAD` (`fmt_pad`).
    MPS_KEY_FMT_PAD: mps_fmt_pad_t = _mps_key_FMT_PAD;
    /// `MPS_KEY_FMT_CLASS` (`fmt_class`).
    MPS_KEY_FMT_CLASS: mps_fmt_class_t = _mps_key_FMT_CLASS;
    /// `MPSX_KEY_CODE_RESERVE` (`size`, `mpsx.h`): an arena's code memory.
    MPSX_KEY_CODE_RESERVE: usize = _mpsx_key_CODE_RESERVE;
    /// `MPSX_KEY_WRITE_BARRIER` (`i`, `mpsx.h`): an arena's write barrier,
    /// `MPSX_BARRIER_MPROTECT` or `MPSX_BARRIER_SOFT` (an `int`, which
    /// `mps_bool_t` stores).
    MPSX_KEY_WRITE_BARRIER: mps_bool_t = _mpsx_key_WRITE_BARRIER;
}

/// A keyword-argument list on the stack: `MPS_ARGS_BEGIN(args)` is
/// [`ArgList::new`], `MPS_ARGS_ADD(args, KEY, value)` is
/// [`args.add(KEY, value)`](ArgList::add), and the list is passed with
/// [`as_mut_ptr`](ArgList::as_mut_ptr). It holds at most
/// `MPS_ARGS_MAX - 1` arguments and is always terminated by
/// `MPS_KEY_ARGS_END`.
///
/// The MPS consumes a list in place (a callee removes the arguments it
/// recognises), so build a fresh list for every call.
pub struct ArgList {
    args: [mps_arg_s; MPS_ARGS_MAX as usize],
    len: usize,
}

impl ArgList {
    /// An empty, terminated list (`MPS_ARGS_BEGIN`).
    #[inline]
    pub fn new() -> Self {
        let end = mps_arg_s {
            key: MPS_KEY_ARGS_END.as_raw(),
            val: mps_arg_s__bindgen_ty_1 { size: 0 },
        };
        ArgList {
            args: [end; MPS_ARGS_MAX as usize],
            len: 0,
        }
    }

    /// Appends `key = value` and re-terminates the list (`MPS_ARGS_ADD`).
    ///
    /// # Panics
    ///
    /// If the list is full (`MPS_ARGS_MAX - 1` arguments), like the bound
    /// check of `_mps_args_set_key`.
    #[inline]
    pub fn add<T: ArgValue>(&mut self, key: Key<T>, value: T) -> &mut Self {
        assert!(
            self.len + 1 < self.args.len(),
            "mps_sys::ArgList: more than MPS_ARGS_MAX - 1 arguments"
        );
        let slot = &mut self.args[self.len];
        slot.key = key.as_raw();
        value.store(&mut slot.val);
        self.len += 1;
        self.args[self.len].key = MPS_KEY_ARGS_END.as_raw();
        self
    }

    /// Number of arguments before the terminator.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Is the list empty (only the terminator)?
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The list as the C functions take it (`mps_arg_s args[]`).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut mps_arg_s {
        self.args.as_mut_ptr()
    }
}

impl Default for ArgList {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ArgList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.args[..self.len].iter().map(|arg| arg.key))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Constants the header defines as macros bindgen cannot translate

/// `mps_message_type_finalization()`: a registered block became finalizable.
#[inline]
pub const fn mps_message_type_finalization() -> mps_message_type_t {
    _mps_MESSAGE_TYPE_FINALIZATION
}

/// `mps_message_type_gc()`: a collection finished.
#[inline]
pub const fn mps_message_type_gc() -> mps_message_type_t {
    _mps_MESSAGE_TYPE_GC
}

/// `mps_message_type_gc_start()`: a collection started.
#[inline]
pub const fn mps_message_type_gc_start() -> mps_message_type_t {
    _mps_MESSAGE_TYPE_GC_START
}

/// `MPS_RM_CONST` (deprecated root mode; root modes have no effect).
pub const MPS_RM_CONST: mps_rm_t = 1 << 0;
/// `MPS_RM_PROT` (root mode; no effect).
pub const MPS_RM_PROT: mps_rm_t = 1 << 1;
/// `MPS_RM_PROT_INNER`: the same value as `MPS_RM_PROT`, as in the header.
pub const MPS_RM_PROT_INNER: mps_rm_t = 1 << 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix1_filters_by_zone() {
        let mut raw = mps_ss_s {
            _zs: 20,
            _w: 1 << 3,
            _ufs: 0,
        };
        // SAFETY: `raw` outlives `ss`; fix2 is never called.
        let mut ss = unsafe { ScanState::begin(&mut raw) };
        assert!(ss.fix1(3 << 20));
        assert!(!ss.fix1(4 << 20));
        // Zones are taken modulo the word width.
        assert!(ss.fix1((64 + 3) << 20));
        ss.end();
        assert_eq!(raw._ufs, (1 << 3) | (1 << 4));
    }

    #[test]
    fn arg_list_terminates_and_counts() {
        let mut args = ArgList::new();
        assert!(args.is_empty());
        args.add(MPS_KEY_ARENA_SIZE, 1 << 20)
            .add(MPS_KEY_PAUSE_TIME, 0.5);
        assert_eq!(args.len(), 2);
        // SAFETY: the list has 32 initialised entries; 0..=2 are read.
        unsafe {
            let p = args.as_mut_ptr();
            assert_eq!((*p).key, MPS_KEY_ARENA_SIZE.as_raw());
            assert_eq!((*p).val.size, 1 << 20);
            assert_eq!((*p.add(1)).val.d, 0.5);
            assert_eq!((*p.add(2)).key, MPS_KEY_ARGS_END.as_raw());
        }
    }

    #[test]
    #[should_panic(expected = "MPS_ARGS_MAX")]
    fn arg_list_bound_is_checked() {
        let mut args = ArgList::new();
        for _ in 0..MPS_ARGS_MAX {
            args.add(MPS_KEY_EXTEND_BY, 4096);
        }
    }
}

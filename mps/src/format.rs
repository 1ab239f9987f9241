//! Object formats: the [`Format`] trait a runtime implements for its object
//! layout, the [`ScanState`] its scan method fixes references with, and
//! [`Fmt`], a format registered with an arena.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::panic::AssertUnwindSafe;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::object::Ref;

/// The layout of a runtime's objects, described to the collector: the one
/// trait a runtime implements (together with [`Object`](crate::Object) for
/// the typed view of each kind of object).
///
/// The methods are the MPS format methods (`mps_fmt_scan_t` and friends);
/// this crate registers monomorphised trampolines for them, so there is no
/// indirection beyond the collector's call. Addresses are *client pointers*
/// (block base + [`HEADER_SIZE`](Self::HEADER_SIZE)) except where noted.
///
/// The methods run with the world stopped (every other registered thread
/// suspended, possibly inside `malloc` or holding any lock), inside the
/// collector, and may be called several times per object, on dead objects,
/// on pads and forwarding markers. They must not allocate, lock, call the
/// MPS, do I/O, or touch anything but the objects they are given and
/// immutable data. A panic is not unwound into the collector: the
/// trampoline prints `mps: panic in Format::<method>; aborting` and aborts
/// the process. `<method>` is the callback the collector made: a panic in a
/// method it reaches through another one (`is_pad` when the collector
/// skips an object, say) is reported as that one (`Format::skip`).
///
/// # Safety
///
/// The collector trusts these methods completely: a `skip` that returns the
/// wrong size, a `scan` that misses a reference, a forwarding marker that
/// `is_forwarded` does not recognise, corrupt the heap. The implementor
/// promises the MPS format contract:
///
/// - `skip(p)` returns the client pointer of the next object: `p` plus the
///   size of `p`'s block; it works on objects, pads and forwarding markers.
/// - `scan` fixes every reference of every object in `[base, limit)` (with
///   [`ScanState::fix_ref`] or [`ScanState::fix`]), skips pads and
///   forwarding markers, and returns the first error of a fix promptly.
/// - `forward(old, new)` overwrites the object at `old` (already copied to
///   `new`) with a forwarding marker that `skip` sizes exactly like the
///   object, `scan` tolerates, and `is_forwarded` recognises, returning
///   `new`. Every object is large enough to hold one.
/// - `pad(base, size)` writes at *base* address `base` a filler of exactly
///   `size` bytes, for any multiple of [`ALIGN`](Self::ALIGN) (as small as
///   one alignment unit), that `skip` (from `base + HEADER_SIZE`) and `scan`
///   step over.
/// - Every object is strictly longer than the header and a multiple of the
///   alignment.
/// - [`is_pad`](Self::is_pad) and [`find_dependent`](Self::find_dependent),
///   if overridden, keep the promises in their documentation.
///
/// Which methods a pool class calls: AMC all of them; AMCZ all but `scan`;
/// AMS, AWL and LO never `forward`, `is_forwarded` or `pad` (they do not
/// move objects and keep free space in bit tables), LO never `scan`; only
/// AWL calls `find_dependent`; only the heap walks
/// ([`Arena::walk_objects`](crate::Arena::walk_objects),
/// [`Pool::walk`](crate::Pool::walk)) call `is_pad`. A format used only by
/// the non-moving pools may implement the moving methods trivially, but
/// must still implement them soundly.
pub unsafe trait Format: 'static {
    /// Alignment of every object, a power of two, at least the word size
    /// (`MPS_KEY_FMT_ALIGN`).
    const ALIGN: usize = 8;

    /// Size of the in-band header before each client pointer
    /// (`MPS_KEY_FMT_HEADER_SIZE`).
    const HEADER_SIZE: usize = 0;

    /// Fixes every reference in the objects between the client pointers
    /// `base` (inclusive) and `limit` (exclusive).
    ///
    /// The collector may scan the same objects more than once in one
    /// collection: it scans each window of a grey range first in a
    /// look-ahead pass whose fixes only prefetch and leave every
    /// reference as it was, then for real (`vendor/mps/DESIGN.md#prefetch`).
    /// So `scan` must do nothing but fix.
    ///
    /// # Safety
    ///
    /// Called by the collector only: `[base, limit)` is a run of objects,
    /// pads and forwarding markers of this format.
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error>;

    /// The client pointer of the object after the one at `addr`.
    ///
    /// # Safety
    ///
    /// Called by the collector only: `addr` is an object, pad or
    /// forwarding marker of this format.
    unsafe fn skip(addr: NonNull<u8>) -> NonNull<u8>;

    /// Turns the object at `old`, already copied to `new`, into a
    /// forwarding marker to `new`.
    ///
    /// # Safety
    ///
    /// Called by the collector only, once per moved object.
    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>);

    /// `Some(new)` if `addr` is a forwarding marker to `new`, else `None`.
    ///
    /// # Safety
    ///
    /// Called by the collector only: `addr` is an object, pad or
    /// forwarding marker of this format.
    unsafe fn is_forwarded(addr: NonNull<u8>) -> Option<NonNull<u8>>;

    /// Writes a pad of `size` bytes at *base* address `base`.
    ///
    /// # Safety
    ///
    /// Called by the collector only, on memory it owns; `size` is a
    /// multiple of [`ALIGN`](Self::ALIGN).
    unsafe fn pad(base: NonNull<u8>, size: usize);

    /// Is the block at client pointer `addr`, an object or a pad of this
    /// format (never a forwarding marker), a pad? Heap walks
    /// ([`Arena::walk_objects`](crate::Arena::walk_objects),
    /// [`Pool::walk`](crate::Pool::walk)) ask it about every block of the
    /// pools that may hold pads (AMC, AMCZ, and any pool created through
    /// the raw bindings) and hand out only the blocks that are not: handles, and so [`Object::is_instance`], must never
    /// see a pad. It must read no more of a pad than [`skip`](Self::skip)
    /// does.
    ///
    /// The default answers `true`: every block counts as a pad, so walks
    /// visit nothing in AMC and AMCZ pools until a format overrides it. The
    /// mark-sweep pools (AMS, AWL, LO) hold no pads and are walked without
    /// asking.
    ///
    /// # Safety
    ///
    /// Called only as described above: `addr` is an object or a pad of
    /// this format that neither moves nor dies during the call.
    ///
    /// [`Object::is_instance`]: crate::Object::is_instance
    unsafe fn is_pad(addr: NonNull<u8>) -> bool {
        let _ = addr;
        true
    }

    /// The dependent object of the object at client pointer `addr` in an
    /// [`Awl`](crate::Awl) pool (`MPS_KEY_AWL_FIND_DEPENDENT`), or `None`
    /// (the default). Before scanning the object the collector makes its
    /// dependent accessible, so [`scan`](Self::scan) may write it:
    /// typically a weak-key table's scan clears the value whose key it just
    /// saw splatted ([`ScanState::fix_weak_ref`]).
    ///
    /// Like the other methods it runs inside the collector with the world
    /// stopped (no locks, no allocation, no MPS calls); a panic aborts.
    ///
    /// # Safety
    ///
    /// Called by the collector only, with an object of this format in an
    /// AWL pool. The implementor promises that a result is memory the
    /// scan method may write while scanning `addr`: either
    /// memory the MPS does not manage, or an object of a **non-moving**
    /// pool (AMS, AWL, LO) of the same arena that is alive whenever `addr`
    /// is scanned (for example because whatever keeps `addr` alive keeps
    /// the dependent alive too, exactly).
    unsafe fn find_dependent(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        let _ = addr;
        None
    }
}

/// The scan state handed to [`Format::scan`]: `MPS_SCAN_BEGIN` already
/// done, `MPS_SCAN_END` done when the scan returns.
///
/// [`fix_ref`](Self::fix_ref) is the fast path: the zone filter
/// (`MPS_FIX1`) inline, the call into the collector (`MPS_FIX2`) only for
/// references that may point into memory being collected.
pub struct ScanState<'a> {
    raw: mps_sys::ScanState,
    _scan: PhantomData<&'a mut ()>,
}

impl ScanState<'_> {
    /// Fixes a reference field: if the collector moved the target, the
    /// field is updated; if the field is weak and the target died, it
    /// becomes null. Returns the collector's error, which the scan must
    /// return at once.
    #[inline(always)]
    pub fn fix_ref(&mut self, r: &Ref) -> Result<(), Error> {
        let mut word = r.load_raw();
        if self.raw.fix1(word as mps_word_t) {
            check(self.raw.fix2(addr_slot(&mut word)))?;
            // SAFETY: the collector stored the current address of the same
            // object (or null), which is a valid value for a reference field
            // of this object.
            unsafe { r.store_raw(word) };
        }
        Ok(())
    }

    /// Fixes a reference field like [`fix_ref`](Self::fix_ref) and returns
    /// whether the collector **splatted** it: it held an object before and
    /// is null now, because it is a weak reference (an object of a weak
    /// [`Awl`](crate::Awl) allocation point) whose target died. A scan
    /// method clears whatever depended on the key here (for example the
    /// value in the [dependent object](Format::find_dependent)).
    ///
    /// Null is tested before fixing, so a null field never counts as
    /// splatted (the zone filter may pass null to the collector).
    #[inline(always)]
    pub fn fix_weak_ref(&mut self, r: &Ref) -> Result<bool, Error> {
        let before = r.load_raw();
        if before.is_null() {
            return Ok(false);
        }
        self.fix_ref(r)?;
        Ok(r.load_raw().is_null())
    }

    /// Fixes every reference of a slice (a vector's elements).
    #[inline]
    pub fn fix_refs(&mut self, refs: &[Ref]) -> Result<(), Error> {
        for r in refs {
            self.fix_ref(r)?;
        }
        Ok(())
    }

    /// `MPS_FIX1`: records the word's zone and returns whether it may point
    /// into memory being collected. Pure; any word may be passed.
    #[inline(always)]
    pub fn fix1(&mut self, word: usize) -> bool {
        self.raw.fix1(word as mps_word_t)
    }

    /// `MPS_FIX2`: fixes a reference held in a raw word; the caller stores
    /// the (possibly changed) value back where it came from.
    ///
    /// # Safety
    ///
    /// `*ref_io` must be an exact reference of the scanned object: null, an
    /// address outside the arena, or the client pointer of an object of the
    /// arena (untag it first).
    #[inline(always)]
    pub unsafe fn fix2(&mut self, ref_io: &mut *mut u8) -> Result<(), Error> {
        check(self.raw.fix2(addr_slot(ref_io)))
    }

    /// `MPS_FIX12`: [`fix1`](Self::fix1), then [`fix2`](Self::fix2) if
    /// needed.
    ///
    /// # Safety
    ///
    /// As for [`fix2`](Self::fix2).
    #[inline(always)]
    pub unsafe fn fix(&mut self, ref_io: &mut *mut u8) -> Result<(), Error> {
        if self.fix1(*ref_io as usize) {
            // SAFETY: the caller's guarantee.
            unsafe { self.fix2(ref_io) }
        } else {
            Ok(())
        }
    }

    /// The raw scan state (`MPS_FIX_CALL` and area scanners).
    #[inline]
    pub fn raw(&mut self) -> &mut mps_sys::ScanState {
        &mut self.raw
    }
}

/// A `*mut u8` slot as the `mps_addr_t` slot the collector takes.
#[inline(always)]
fn addr_slot(slot: &mut *mut u8) -> &mut mps_addr_t {
    // SAFETY: `*mut u8` and `*mut c_void` have the same layout and
    // validity; the result reborrows `slot` for its whole lifetime.
    unsafe { &mut *(slot as *mut *mut u8).cast::<*mut c_void>() }
}

impl fmt::Debug for ScanState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// A format `F` registered with an arena (`mps_fmt_t`), created by
/// [`Arena::format`]. A `Copy` handle: the arena owns the format and
/// destroys it after its pools, when the arena is dropped.
pub struct Fmt<'a, F> {
    raw: NonNull<mps_fmt_s>,
    arena: &'a Arena,
    _format: PhantomData<fn() -> F>,
}

impl<'a, F: Format> Fmt<'a, F> {
    /// Registers `F`'s methods with the arena (`mps_fmt_create_k`).
    pub(crate) fn create(arena: &'a Arena) -> Result<(Self, crate::raw::RawFmt), Error> {
        assert!(
            F::ALIGN.is_power_of_two() && F::ALIGN >= core::mem::size_of::<usize>(),
            "Format::ALIGN must be a power of two and at least the word size"
        );
        let mut args = ArgList::new();
        args.add(MPS_KEY_FMT_ALIGN, F::ALIGN)
            .add(MPS_KEY_FMT_HEADER_SIZE, F::HEADER_SIZE)
            .add(MPS_KEY_FMT_SCAN, Some(scan_trampoline::<F> as _))
            .add(MPS_KEY_FMT_SKIP, Some(skip_trampoline::<F> as _))
            .add(MPS_KEY_FMT_FWD, Some(forward_trampoline::<F> as _))
            .add(MPS_KEY_FMT_ISFWD, Some(is_forwarded_trampoline::<F> as _))
            .add(MPS_KEY_FMT_PAD, Some(pad_trampoline::<F> as _));
        let mut fmt = ptr::null_mut();
        // SAFETY: `fmt` is a valid out parameter, the arena is live, and the
        // list holds the five methods with their exact C types.
        check(unsafe { mps_fmt_create_k(&mut fmt, arena.as_raw(), args.as_mut_ptr()) })?;
        // SAFETY: the call succeeded; the arena's registry owns the result
        // and destroys it after every pool, before the arena.
        let owned = unsafe { crate::raw::RawFmt::from_raw(fmt) };
        let handle = Fmt {
            raw: NonNull::new(fmt).expect("checked by RawFmt::from_raw"),
            arena,
            _format: PhantomData,
        };
        Ok((handle, owned))
    }

    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_fmt_t {
        self.raw.as_ptr()
    }

    /// The arena this format belongs to.
    #[inline]
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }

    /// The format's identity, as [`Arena::addr_fmt`] reports it.
    #[inline]
    pub fn id(&self) -> FmtId {
        FmtId(self.raw)
    }
}

/// The identity of a format of an arena: what [`Arena::addr_fmt`] reports,
/// comparable with [`Fmt::id`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FmtId(NonNull<mps_fmt_s>);

impl FmtId {
    /// The raw MPS handle. Only an identity: the format may have been
    /// destroyed (with its arena) since the id was taken.
    #[inline]
    pub fn as_raw(self) -> mps_fmt_t {
        self.0.as_ptr()
    }

    /// The id of a raw format handle (`None` for null).
    pub(crate) fn from_raw(raw: mps_fmt_t) -> Option<FmtId> {
        NonNull::new(raw).map(FmtId)
    }
}

impl fmt::Debug for FmtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FmtId({:p})", self.0)
    }
}

// SAFETY: an identity only; it is never dereferenced.
unsafe impl Send for FmtId {}
// SAFETY: as above.
unsafe impl Sync for FmtId {}

impl<F> Clone for Fmt<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Fmt<'_, F> {}

impl<F> fmt::Debug for Fmt<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fmt({:p})", self.raw)
    }
}

// SAFETY: a format handle is only an argument to pool creation, which may
// happen on any thread (the MPS takes the arena lock); the format lives as
// long as the arena.
unsafe impl<F> Send for Fmt<'_, F> {}
// SAFETY: as above.
unsafe impl<F> Sync for Fmt<'_, F> {}

// ---------------------------------------------------------------------------
// Trampolines: the C functions registered with the collector.

/// Runs a callback of the collector; a panic aborts the process instead of
/// unwinding into C.
#[inline(always)]
pub(crate) fn callback<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            // Freeing the payload could take malloc's lock, which a stopped
            // thread may hold.
            core::mem::forget(payload);
            abort_in(name)
        }
    }
}

/// Reports a panic in a callback and aborts. Writes with `write(2)`: no
/// lock, no allocation, since the world may be stopped.
#[cold]
#[inline(never)]
fn abort_in(name: &str) -> ! {
    extern "C" {
        fn write(fd: i32, buf: *const c_void, count: usize) -> isize;
    }
    for part in ["mps: panic in ", name, "; aborting\n"] {
        let mut bytes = part.as_bytes();
        while !bytes.is_empty() {
            // SAFETY: `bytes` is a live buffer of the given length; fd 2 is
            // stderr (writing to a closed fd just fails).
            let n = unsafe { write(2, bytes.as_ptr().cast(), bytes.len()) };
            if n <= 0 {
                break;
            }
            bytes = &bytes[n.unsigned_abs()..];
        }
    }
    std::process::abort()
}

/// A non-null address from the collector.
#[inline(always)]
fn addr(p: mps_addr_t) -> NonNull<u8> {
    NonNull::new(p.cast()).expect("the collector passed a null address to a format method")
}

unsafe extern "C" fn scan_trampoline<F: Format>(
    ss: mps_ss_t,
    base: mps_addr_t,
    limit: mps_addr_t,
) -> mps_res_t {
    callback("Format::scan", || {
        let mut state = ScanState {
            // SAFETY: `ss` is the live scan state of this call, and `state`
            // is dropped (writing the summary back) before the call returns.
            raw: unsafe { mps_sys::ScanState::begin(ss) },
            _scan: PhantomData,
        };
        // SAFETY: the collector calls scan on a run of objects, pads and
        // forwarding markers of this format, as client pointers.
        let result = unsafe { F::scan(&mut state, addr(base), addr(limit)) };
        drop(state);
        match result {
            Ok(()) => MPS_RES_OK as mps_res_t,
            Err(err) => err.code(),
        }
    })
}

unsafe extern "C" fn skip_trampoline<F: Format>(p: mps_addr_t) -> mps_addr_t {
    callback("Format::skip", || {
        // SAFETY: the collector passes an object, pad or marker of this format.
        unsafe { F::skip(addr(p)) }.as_ptr().cast()
    })
}

unsafe extern "C" fn forward_trampoline<F: Format>(old: mps_addr_t, new: mps_addr_t) {
    // SAFETY: the collector has copied the object at `old` to `new`.
    callback("Format::forward", || unsafe {
        F::forward(addr(old), addr(new))
    })
}

unsafe extern "C" fn is_forwarded_trampoline<F: Format>(p: mps_addr_t) -> mps_addr_t {
    callback("Format::is_forwarded", || {
        // SAFETY: the collector passes an object, pad or marker of this format.
        match unsafe { F::is_forwarded(addr(p)) } {
            Some(new) => new.as_ptr().cast(),
            None => ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn pad_trampoline<F: Format>(base: mps_addr_t, size: usize) {
    // SAFETY: the collector owns `[base, base + size)` and wants a pad there.
    callback("Format::pad", || unsafe { F::pad(addr(base), size) })
}

/// `MPS_KEY_AWL_FIND_DEPENDENT` of an AWL pool of format `F`.
pub(crate) unsafe extern "C" fn find_dependent_trampoline<F: Format>(p: mps_addr_t) -> mps_addr_t {
    callback("Format::find_dependent", || {
        // SAFETY: the collector passes an object of this format in an AWL
        // pool.
        match unsafe { F::find_dependent(addr(p)) } {
            Some(dep) => dep.as_ptr().cast(),
            None => ptr::null_mut(),
        }
    })
}

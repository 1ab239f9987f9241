//! The object format of the executable pool: the five methods the
//! collector calls on code objects, as `extern "C"` functions.
//!
//! Every block of the pool starts with a 32-bit tag at offset 0 and is one
//! of:
//!
//! ```text
//! code object      tag MAGIC ("CPO4"), the layout::Header, sized by
//!                  Header::total_size (u32 at offset 4)
//! forwarding       tag FORWARD ("CPFW"); the new address in the u64 at
//! marker           offset 8 (where the header keeps linked_at); total_size
//!                  left in place at offset 4, so skip sizes it like the
//!                  object it replaced; the unwind record (offset 16), the
//!                  pool's number (offset 20) and the count block left in
//!                  place
//! pad              tag PAD ("CPPD"); its size in the u64 at offset 8. The
//!                  format's alignment is at least 16 (16 by default), so
//!                  a pad is at least 16 bytes and a multiple of 16:
//!                  always room for both words
//! ```
//!
//! The methods:
//!
//! - **skip**: `base + total_size` (or the pad's size).
//! - **forward**: turns the old copy into a marker (see above) and counts
//!   the move; in a pool that registers unwind tables, points the object's
//!   unwind record at the new copy ([`crate::unwind`]).
//! - **is-forwarded**: the marker's new address, or null.
//! - **pad**: writes a pad.
//! - **scan**: for every code object, fixes the base of each Code and
//!   Heap target record as an exact reference (the record's word; a Heap
//!   record's word minus its offset: [`layout::reference_offsets`]; the
//!   Code records of an object's own functions bound by name,
//!   `CodePoolOptions::interpose`, refer to the object itself, and fix to
//!   its new address when it moved), then, during a redefinition, rebinds
//!   the Code records bound to a replaced entry point ([`Redirect`]); then
//!   does the same for the Direct sites (calls whose fields encode their
//!   targets, relative to the address the object was last linked for: the
//!   target object's start is the decoded address minus the entry's
//!   offset, [`layout::direct_target`]), storing a changed target back
//!   into the field and a redirected offset into the sidecar entry (in
//!   the entry's width; a Direct site whose width cannot hold the new
//!   offset is bound to the redefinition's forwarder instead,
//!   `Redirect::forward`); then,
//!   if the object moved or a
//!   reference changed, re-encodes every site for the object's current
//!   execute-view address ([`layout::relink_from_table`]); an object
//!   that moved, outside a redefinition, has its Direct targets fixed
//!   inside that re-encoding instead (one decoding of the sidecar, not
//!   two). A relink error
//!   here is a bug (every site was checked at installation to stay in reach
//!   wherever the object and its targets go): the process prints the error
//!   and aborts.
//!
//! The methods run with the world stopped, inside the collector: they do
//! not allocate, lock, or unwind. A panic is caught and aborts the process
//! with a message naming the method; corrupt blocks are reported the same
//! way, with `write(2)` and no allocation.
//!
//! # Finding the pool from an address
//!
//! Format methods receive addresses only. The pool's per-pool data
//! ([`PoolContext`]: the distance from the write view to the execute view,
//! and the statistics counters) is found through the pool's number,
//! which installation writes into each object's header (the 16-bit
//! `Header::pool`; copies carry it along), in a process-wide table of
//! [`MAX_POOLS`] entries ([`register`], [`context`]). A number is taken
//! when a [`CodePool`](crate::CodePool) is created and given back, and
//! the context freed, only after the MPS pool is destroyed, so every
//! object the collector can show to these methods names a live context.
//! (The number replaced an 8-byte pointer in the header: issue 19, code
//! density.)

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Instant;

use mps::sys::*;

use crate::layout::{self, Header, HEADER_SIZE, MAGIC};
use crate::sidecar::{self, Target};

/// Tag of a forwarding marker: `"CPFW"`.
pub const FORWARD: u32 = u32::from_le_bytes(*b"CPFW");
/// Tag of a pad: `"CPPD"`.
pub const PAD: u32 = u32::from_le_bytes(*b"CPPD");
/// The smallest alignment of the format (the default): every block is a
/// multiple of the format's alignment, so of this.
pub const MIN_ALIGN: usize = 16;

/// Offset of the tag.
const TAG_AT: usize = 0;
/// Offset of a marker's new address and of a pad's size (where the
/// header keeps `linked_at`).
const WORD_AT: usize = layout::LINKED_AT;
/// Offset of `Header::total_size`.
const TOTAL_SIZE_AT: usize = layout::TOTAL_SIZE_AT;
/// Offset of `Header::pool`.
pub(crate) const POOL_AT: usize = layout::POOL_AT;

static_assertions::const_assert_eq!(WORD_AT, 8);
static_assertions::const_assert!(TOTAL_SIZE_AT + 4 <= WORD_AT);
// A marker overwrites the tag and the word at 8, and keeps the rest.
static_assertions::const_assert!(WORD_AT + 8 <= layout::UNWIND_AT);
static_assertions::const_assert!(WORD_AT + 8 <= POOL_AT);
static_assertions::const_assert!(HEADER_SIZE <= MIN_ALIGN * 2);
static_assertions::const_assert!(MIN_ALIGN >= 16);

/// How many code pools may exist at once in a process (numbers
/// `1..MAX_POOLS`; 0 is no pool, as in an image from `layout`).
pub const MAX_POOLS: usize = 4096;

/// The contexts of the live code pools, by number (see the module docs).
static POOLS: [AtomicPtr<PoolContext>; MAX_POOLS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_POOLS];

/// Gives `context` a number under which [`context`] finds it until
/// [`unregister`]; `None` when [`MAX_POOLS`]` - 1` pools exist.
///
/// The context must stay at its address until it is unregistered.
pub(crate) fn register(context: *const PoolContext) -> Option<u16> {
    let context = context.cast_mut();
    (1..MAX_POOLS).find_map(|i| {
        POOLS[i]
            .compare_exchange(
                core::ptr::null_mut(),
                context,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
            .then_some(i as u16)
    })
}

/// Gives back the number `id` ([`register`]): no object of its pool may
/// remain (its MPS pool is destroyed).
pub(crate) fn unregister(id: u16) {
    POOLS[usize::from(id)].store(core::ptr::null_mut(), Ordering::Release);
}

/// The context registered under `id`, or `None`.
///
/// # Safety
///
/// The context must be used only while it stays registered (for format
/// methods: while an object of its pool exists).
#[inline(always)]
pub(crate) unsafe fn context<'a>(id: u16) -> Option<&'a PoolContext> {
    let p = POOLS.get(usize::from(id))?.load(Ordering::Acquire);
    // SAFETY: a registered context stays at its address and alive until
    // it is unregistered (the caller's guarantee).
    unsafe { p.cast_const().as_ref() }
}

/// What a pool's format methods have done, since the pool was created.
/// Updated with the world stopped by the collecting thread only; read by
/// anyone.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub objects_scanned: AtomicU64,
    pub objects_relinked: AtomicU64,
    pub sites_relinked: AtomicU64,
    pub objects_moved: AtomicU64,
    pub bytes_moved: AtomicU64,
    pub bytes_relinked: AtomicU64,
    pub objects_freed: AtomicU64,
    pub bytes_freed: AtomicU64,
    pub scan_nanos: AtomicU64,
}

/// The per-pool data that format methods reach through `Header::pool`
/// ([`context`]).
#[derive(Debug)]
pub(crate) struct PoolContext {
    /// exec = write + delta.
    pub delta: isize,
    /// The raw arena (`mps_arena_t` as an address), for thread checks.
    pub arena: usize,
    /// `CodePtr`s ever set to code of the pool.
    pub code_ptrs: AtomicU64,
    /// Redefinitions being applied (`CodePool::redefine`), or null: set
    /// by the redefining thread with the arena parked, around the full
    /// collection that applies them; read by `scan`.
    pub redirects: AtomicPtr<Vec<Redirect>>,
    pub counters: Counters,
    /// Objects name their unwind record in their header
    /// ([`crate::layout::Header::unwind`]).
    pub unwind: bool,
}

/// A redefinition: Code target records bound to entry `old_offset` of the
/// object held by root slot `old` are rebound to entry `new_offset` of the
/// object held by root slot `new`. The slots live as long as the pool and
/// hold both objects while the redirect is active.
#[derive(Debug)]
pub(crate) struct Redirect {
    pub old: *const AtomicPtr<u8>,
    pub old_offset: u32,
    pub new: *const AtomicPtr<u8>,
    pub new_offset: u32,
    /// Null when `new_offset` is [`sidecar::DIRECT_DEFAULT_OFFSET`], else
    /// the slot of a forwarder (`layout::forwarder`: a jump to the new
    /// entry, at offset `DIRECT_DEFAULT_OFFSET`), held like the others:
    /// the target of the Direct sites whose offset field cannot hold
    /// `new_offset` (`sidecar::direct_fits`).
    pub forward: *const AtomicPtr<u8>,
}

impl PoolContext {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// Raw access to blocks.

/// Reads the `u32` at `addr + at`.
///
/// # Safety
///
/// The four bytes must be readable.
#[inline(always)]
unsafe fn read_u32(addr: usize, at: usize) -> u32 {
    // SAFETY: the caller's guarantee; `read_unaligned` has no alignment
    // requirement.
    unsafe { ((addr + at) as *const u32).read_unaligned() }
}

/// Reads the `u64` at `addr + at`.
///
/// # Safety
///
/// The eight bytes must be readable.
#[inline(always)]
unsafe fn read_u64(addr: usize, at: usize) -> u64 {
    // SAFETY: the caller's guarantee.
    unsafe { ((addr + at) as *const u64).read_unaligned() }
}

/// Writes `value` at `addr + at`.
///
/// # Safety
///
/// The eight bytes must be writable and not referenced by anything else.
#[inline(always)]
unsafe fn write_u64(addr: usize, at: usize, value: u64) {
    // SAFETY: the caller's guarantee.
    unsafe { ((addr + at) as *mut u64).write_unaligned(value) }
}

/// The size of the block at `addr` (object, marker or pad).
///
/// # Safety
///
/// `addr` must be a block of this format.
#[inline(always)]
unsafe fn block_size(addr: usize) -> usize {
    // SAFETY: every block has its tag at 0, and a size word at 4 (objects,
    // markers: at least HEADER_SIZE bytes) or at 8 (pads: at least 16).
    unsafe {
        match read_u32(addr, TAG_AT) {
            MAGIC | FORWARD => read_u32(addr, TOTAL_SIZE_AT) as usize,
            PAD => read_u64(addr, WORD_AT) as usize,
            _ => fatal("skip", "a block with an unknown tag", addr),
        }
    }
}

// ---------------------------------------------------------------------------
// Reporting without allocating.

extern "C" {
    fn write(fd: i32, buf: *const c_void, count: usize) -> isize;
}

/// Writes `bytes` to stderr with `write(2)`: no lock, no allocation.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live buffer of the given length; fd 2 is
        // stderr (writing to a closed descriptor just fails).
        let n = unsafe { write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            break;
        }
        bytes = &bytes[n.unsigned_abs()..];
    }
}

/// `value` in hexadecimal, in a stack buffer.
fn hex(value: usize, buf: &mut [u8; 18]) -> &[u8] {
    buf[0] = b'0';
    buf[1] = b'x';
    for i in 0..16 {
        let digit = (value >> ((15 - i) * 4)) & 0xf;
        buf[2 + i] = b"0123456789abcdef"[digit];
    }
    &buf[..]
}

/// Reports a fatal inconsistency found by format method `method` at `addr`
/// (0: no address) and aborts.
#[cold]
#[inline(never)]
pub(crate) fn fatal(method: &str, what: &str, addr: usize) -> ! {
    let mut buf = [0u8; 18];
    let (at, address): (&[u8], &[u8]) = if addr == 0 {
        (b"", b"")
    } else {
        (b" at ", hex(addr, &mut buf))
    };
    for part in [
        b"codepool: format method ".as_slice(),
        method.as_bytes(),
        b": ",
        what.as_bytes(),
        at,
        address,
        b"; aborting\n",
    ] {
        write_stderr(part);
    }
    std::process::abort()
}

/// A fixed buffer that formatting writes into without allocating;
/// whatever does not fit is dropped.
struct StackText {
    buf: [u8; 512],
    len: usize,
}

impl core::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Reports a relink error found while scanning, then aborts. The error is
/// formatted into a stack buffer: nothing is allocated while the world is
/// stopped.
#[cold]
#[inline(never)]
fn fatal_relink(addr: usize, error: &layout::RelinkError) -> ! {
    let mut text = StackText {
        buf: [0; 512],
        len: 0,
    };
    let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{error}"));
    let mut buf = [0u8; 18];
    for part in [
        b"codepool: format method scan: relinking the code object at ".as_slice(),
        hex(addr, &mut buf),
        b" failed (a bug: sites are checked at installation): ",
        &text.buf[..text.len],
        b"; aborting\n",
    ] {
        write_stderr(part);
    }
    std::process::abort()
}

/// Runs a format method; a panic aborts the process instead of unwinding
/// into the collector.
#[inline(always)]
fn callback<R>(method: &'static str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            // Freeing the payload could take the allocator's lock, which a
            // stopped thread may hold.
            core::mem::forget(payload);
            fatal(method, "panic", 0)
        }
    }
}

// ---------------------------------------------------------------------------
// The methods.

/// `mps_fmt_skip_t`.
pub(crate) unsafe extern "C" fn skip(addr: mps_addr_t) -> mps_addr_t {
    callback("skip", || {
        let p = addr as usize;
        // SAFETY: the collector passes blocks of this format.
        let size = unsafe { block_size(p) };
        if size < MIN_ALIGN || size % MIN_ALIGN != 0 {
            fatal("skip", "a block with an invalid size", p);
        }
        (p + size) as mps_addr_t
    })
}

/// `mps_fmt_isfwd_t`.
pub(crate) unsafe extern "C" fn is_forwarded(addr: mps_addr_t) -> mps_addr_t {
    callback("is_forwarded", || {
        let p = addr as usize;
        // SAFETY: the collector passes blocks of this format; a marker's
        // word at 8 is the new address.
        unsafe {
            if read_u32(p, TAG_AT) == FORWARD {
                read_u64(p, WORD_AT) as mps_addr_t
            } else {
                core::ptr::null_mut()
            }
        }
    })
}

/// `mps_fmt_fwd_t`.
pub(crate) unsafe extern "C" fn forward(old: mps_addr_t, new: mps_addr_t) {
    callback("forward", || {
        let p = old as usize;
        // SAFETY: the collector has copied the code object at `old` to
        // `new` and now owns the old copy: its header (HEADER_SIZE bytes)
        // is ours to overwrite. `pool` was set at installation to the
        // number of the live context of the pool that owns the object.
        unsafe {
            if read_u32(p, TAG_AT) != MAGIC {
                fatal(
                    "forward",
                    "forwarding something that is not a code object",
                    p,
                );
            }
            let id = ((p + POOL_AT) as *const u16).read_unaligned();
            let Some(context) = self::context(id) else {
                fatal("forward", "a code object of no pool", p);
            };
            PoolContext::add(&context.counters.objects_moved, 1);
            PoolContext::add(
                &context.counters.bytes_moved,
                u64::from(read_u32(p, TOTAL_SIZE_AT)),
            );
            if context.unwind {
                // The unwinder is told before any thread runs again
                // (crate::unwind).
                crate::unwind::moved(p, new as usize, context.delta);
            }
            write_u64(p, WORD_AT, new as u64);
            ((p + TAG_AT) as *mut u32).write_unaligned(FORWARD);
        }
    })
}

/// `mps_fmt_pad_t`.
pub(crate) unsafe extern "C" fn pad(addr: mps_addr_t, size: usize) {
    callback("pad", || {
        let p = addr as usize;
        if size < MIN_ALIGN || size % MIN_ALIGN != 0 {
            fatal("pad", "a pad size that is not a multiple of 16", p);
        }
        // SAFETY: the collector owns the `size` (at least 16) bytes at `p`.
        unsafe {
            ((p + TAG_AT) as *mut u32).write_unaligned(PAD);
            ((p + TAG_AT + 4) as *mut u32).write_unaligned(0);
            write_u64(p, WORD_AT, size as u64);
        }
    })
}

/// `mps_fmt_scan_t`.
pub(crate) unsafe extern "C" fn scan(
    ss: mps_ss_t,
    base: mps_addr_t,
    limit: mps_addr_t,
) -> mps_res_t {
    callback("scan", || {
        // SAFETY: `ss` is the live scan state of this call; the ScanState
        // is dropped (summary written back) before the call returns.
        let mut state = unsafe { ScanState::begin(ss) };
        let mut p = base as usize;
        let limit = limit as usize;
        let mut context: Option<&PoolContext> = None;
        let start = Instant::now();
        let mut res = MPS_RES_OK as mps_res_t;
        while p < limit {
            // SAFETY: `[base, limit)` is a run of blocks of this format.
            let tag = unsafe { read_u32(p, TAG_AT) };
            // SAFETY: as above.
            let size = unsafe { block_size(p) };
            if size < MIN_ALIGN || size % MIN_ALIGN != 0 || size > limit - p {
                fatal("scan", "a block with an invalid size", p);
            }
            if tag == MAGIC {
                // SAFETY: a code object of `size` bytes, installed by this
                // crate; the collector has lifted the barrier on its
                // segment, so it is writable, and nothing else touches it
                // while the world is stopped.
                let object = unsafe { core::slice::from_raw_parts_mut(p as *mut u8, size) };
                res = scan_object(&mut state, p, object, &mut context);
                if res != MPS_RES_OK as mps_res_t {
                    break;
                }
            }
            p += size;
        }
        if let Some(context) = context {
            PoolContext::add(
                &context.counters.scan_nanos,
                start.elapsed().as_nanos() as u64,
            );
        }
        drop(state);
        res
    })
}

/// Fixes the references of one code object and relinks it if needed.
#[inline]
fn scan_object<'c>(
    state: &mut ScanState,
    addr: usize,
    object: &mut [u8],
    context: &mut Option<&'c PoolContext>,
) -> mps_res_t {
    let header = match Header::read(object) {
        Ok(header) => header,
        Err(_) => fatal("scan", "a code object with an invalid header", addr),
    };
    // SAFETY: `pool` was set at installation to the pool's number, whose
    // context outlives every object of the pool (see the module docs).
    let Some(ctx): Option<&'c PoolContext> = (unsafe { self::context(header.pool) }) else {
        fatal("scan", "a code object of no pool", addr);
    };
    *context = Some(ctx);
    let exec = addr.wrapping_add_signed(ctx.delta);
    let moved = header.linked_at != exec as u64;
    let mut changed = moved;
    let offsets = layout::reference_offsets_of(header);
    let redirects = ctx.redirects.load(Ordering::Acquire);
    for (target, at) in offsets {
        // A Heap record's word holds base + offset (layout::TargetRecord).
        let bias = match target {
            Target::Heap(_) => match header.heap_offset(object, at) {
                Some(offset) => u64::from(offset),
                None => fatal("scan", "a code object with an invalid header", addr),
            },
            _ => 0,
        };
        let word = &mut object[at..at + 8];
        let old = u64::from_ne_bytes(word.try_into().expect("eight bytes")).wrapping_sub(bias);
        let mut r = old as mps_addr_t;
        let res = state.fix12(&mut r);
        if res != MPS_RES_OK as mps_res_t {
            return res;
        }
        if r as u64 != old {
            word.copy_from_slice(&(r as u64).wrapping_add(bias).to_ne_bytes());
            changed = true;
        }
        if !redirects.is_null() && matches!(target, Target::Code(_)) {
            // SAFETY: set by `CodePool::redefine` to a live vector, taken
            // back only after the collection that reads it.
            let redirects = unsafe { &*redirects };
            let offset_at = at + 8;
            let offset = u32::from_ne_bytes(
                object[offset_at..offset_at + 4]
                    .try_into()
                    .expect("four bytes"),
            );
            match redirected(state, r, offset, redirects, |_| true) {
                Ok(Some((new, new_offset))) => {
                    object[at..at + 8].copy_from_slice(&(new as u64).to_ne_bytes());
                    object[offset_at..offset_at + 4].copy_from_slice(&new_offset.to_ne_bytes());
                    changed = true;
                }
                Ok(None) => {}
                Err(res) => return res,
            }
        }
    }
    // An object that moved is relinked whatever its Direct targets do, so
    // they are fixed inside the relinking (one decoding of the sidecar
    // instead of two), unless a redefinition rebinds some of them.
    let fix_in_relink = moved && redirects.is_null();
    if header.direct && !fix_in_relink {
        // SAFETY: as for the records above.
        let redirects = (!redirects.is_null()).then(|| unsafe { &*redirects });
        match scan_direct(state, addr, object, &header, ctx.delta, redirects) {
            Ok(true) => changed = true,
            Ok(false) => {}
            Err(res) => return res,
        }
    }
    PoolContext::add(&ctx.counters.objects_scanned, 1);
    if changed {
        let delta = ctx.delta;
        let state = RefCell::new(state);
        let failed = Cell::new(MPS_RES_OK as mps_res_t);
        let relinked = if fix_in_relink && header.direct {
            // The Direct site's target object's start, in the write view
            // the collector knows, fixed; see `scan_direct`.
            let fix = |offset: u32, target: u64| {
                let old = (target as usize)
                    .wrapping_add_signed(-delta)
                    .wrapping_sub(offset as usize);
                let mut r = old as mps_addr_t;
                let res = state.borrow_mut().fix12(&mut r);
                if res != MPS_RES_OK as mps_res_t {
                    failed.set(res);
                    return Err(layout::RelinkError::BadTarget {
                        target: Target::Direct(offset),
                    });
                }
                Ok((r as usize)
                    .wrapping_add_signed(delta)
                    .wrapping_add(offset as usize) as u64)
            };
            layout::relink_from_table_with(object, header, exec as u64, delta as i64, fix)
        } else {
            layout::relink_from_table_with(object, header, exec as u64, delta as i64, |_, s| Ok(s))
        };
        if failed.get() != MPS_RES_OK as mps_res_t {
            // Fixing failed in the check pass, before anything was written
            // (the write pass fixes the same references again, which
            // cannot fail): the collector scans the object again.
            return failed.get();
        }
        match relinked {
            Ok(stats) => {
                PoolContext::add(&ctx.counters.objects_relinked, 1);
                PoolContext::add(&ctx.counters.bytes_relinked, object.len() as u64);
                PoolContext::add(&ctx.counters.sites_relinked, stats.sites as u64);
            }
            Err(e) => fatal_relink(addr, &e),
        }
    }
    MPS_RES_OK as mps_res_t
}

/// Fixes the targets of the Direct sites of a code object (calls whose
/// fields encode their targets, relative to `Header::linked_at`: no target
/// record, see [`layout::direct_target`]) and, during a redefinition,
/// rebinds those bound to a replaced entry point. A changed target is
/// stored back relative to `linked_at`; the caller then relinks the
/// object. Returns whether a target changed.
fn scan_direct(
    state: &mut ScanState,
    addr: usize,
    object: &mut [u8],
    header: &Header,
    delta: isize,
    redirects: Option<&Vec<Redirect>>,
) -> Result<bool, mps_res_t> {
    const BAD: &str = "a code object with an invalid Direct site";
    let (body, tail) = object.split_at_mut(header.sidecar_offset as usize);
    let sidecar = &mut tail[..header.sidecar_len as usize];
    let mut changed = false;
    let mut at = sidecar::DecoderState::default();
    loop {
        let tag_at = at.position();
        let mut decoder = sidecar::resume(sidecar, at);
        let entry = match decoder.next() {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(_)) => fatal("scan", BAD, addr),
        };
        at = decoder.state();
        let Target::Direct(offset) = entry.target else {
            continue;
        };
        let Some(target) = layout::direct_target(body, header, &entry) else {
            fatal("scan", BAD, addr)
        };
        // The target object's start, in the write view the collector knows.
        let old = (target as usize)
            .wrapping_add_signed(-delta)
            .wrapping_sub(offset as usize);
        let mut r = old as mps_addr_t;
        let res = state.fix12(&mut r);
        if res != MPS_RES_OK as mps_res_t {
            return Err(res);
        }
        let (mut base, mut new_offset) = (r as usize, offset);
        if let Some(redirects) = redirects {
            // The entry's offset field keeps its width: a new offset it
            // cannot hold goes through the redefinition's forwarder.
            let width = sidecar::direct_width_of(sidecar[tag_at]);
            let fits = |o| sidecar::direct_fits(width, o);
            if let Some((new, o)) = redirected(state, r, offset, redirects, fits)? {
                (base, new_offset) = (new as usize, o);
                let end = at.position();
                sidecar::write_direct_offset(&mut sidecar[end - width..end], new_offset);
            }
        }
        if base != old || new_offset != offset {
            let to = base
                .wrapping_add_signed(delta)
                .wrapping_add(new_offset as usize);
            if let Err(e) = layout::set_direct_target(body, header, &entry, to as u64) {
                fatal_relink(addr, &e);
            }
            changed = true;
        }
    }
    Ok(changed)
}

/// The redirect, if any, that names entry `offset` of the object whose
/// (fixed) start is `base`: the (fixed) start and the entry offset of
/// its replacement. The objects of the redirect are identified by fixing
/// copies of their root slots' values (the same object fixes to the same
/// address), so the comparison holds in any collection, whatever moved
/// since the redirect was made.
fn redirected(
    state: &mut ScanState,
    base: mps_addr_t,
    offset: u32,
    redirects: &[Redirect],
    fits: impl Fn(u32) -> bool,
) -> Result<Option<(mps_addr_t, u32)>, mps_res_t> {
    for r in redirects {
        if r.old_offset != offset {
            continue;
        }
        // SAFETY: the slots live as long as the pool and hold both objects
        // while the redirect is active.
        let (old, new) = unsafe { (&*r.old, &*r.new) };
        let mut old_now = old.load(Ordering::Relaxed) as mps_addr_t;
        let res = state.fix12(&mut old_now);
        if res != MPS_RES_OK as mps_res_t {
            return Err(res);
        }
        if old_now != base {
            continue;
        }
        let (new, new_offset) = if fits(r.new_offset) {
            (new, r.new_offset)
        } else if !r.forward.is_null() {
            // SAFETY: as above (the forwarder's slot, when there is one).
            (unsafe { &*r.forward }, sidecar::DIRECT_DEFAULT_OFFSET)
        } else {
            fatal(
                "scan",
                "a redefinition with no forwarder for a narrow Direct site",
                base as usize,
            )
        };
        let mut new_now = new.load(Ordering::Relaxed) as mps_addr_t;
        let res = state.fix12(&mut new_now);
        if res != MPS_RES_OK as mps_res_t {
            return Err(res);
        }
        return Ok(Some((new_now, new_offset)));
    }
    Ok(None)
}

/// The pool's reclaim hook (`mpsx_pool_reclaim_hook`): `[base, limit)` is
/// a run of blocks the collector is about to free or pad over, so every
/// code object in it (tag MAGIC; moved objects left markers, tag FORWARD)
/// is dead: count it as freed (unless it is one of the pool's own stubs,
/// `Header::pool_stub`) and withdraw its unwind record
/// ([`crate::unwind`]). `closure` is the pool's [`PoolContext`].
pub(crate) unsafe extern "C" fn reclaimed(
    closure: *mut c_void,
    base: mps_addr_t,
    limit: mps_addr_t,
) {
    callback("reclaim", || {
        // SAFETY: the pool registered its context, which outlives the MPS
        // pool, as the hook's closure.
        let context = unsafe { &*(closure as *const PoolContext) };
        let (mut p, limit) = (base as usize, limit as usize);
        let (mut objects, mut bytes) = (0u64, 0u64);
        while p < limit {
            // SAFETY: `[base, limit)` is a run of blocks of this format,
            // readable (the collector unprotected condemned segments).
            let (tag, size) = unsafe { (read_u32(p, TAG_AT), block_size(p)) };
            if size < MIN_ALIGN || size % MIN_ALIGN != 0 || size > limit - p {
                fatal("reclaim", "a block with an invalid size", p);
            }
            if tag == MAGIC {
                // SAFETY: a dead code object of `size` bytes, readable.
                let object = unsafe { core::slice::from_raw_parts(p as *const u8, size) };
                // The pool's own stubs (forwarders of redefinitions) are
                // not installed objects: not counted, as in the census.
                if !Header::read(object).is_ok_and(|h| h.pool_stub) {
                    objects += 1;
                    bytes += size as u64;
                }
                if context.unwind {
                    // SAFETY: a dead code object of this pool, which
                    // records unwind tables; readable.
                    unsafe { crate::unwind::object_died(p) };
                }
            }
            p += size;
        }
        PoolContext::add(&context.counters.objects_freed, objects);
        PoolContext::add(&context.counters.bytes_freed, bytes);
    })
}

/// Registers the format with `arena` (`mps_fmt_create_k`), with alignment
/// `align` (a power of two, at least [`MIN_ALIGN`]).
pub(crate) fn create(arena: mps_arena_t, align: usize) -> Result<mps_fmt_t, mps::Error> {
    debug_assert!(align.is_power_of_two() && align >= MIN_ALIGN);
    let mut args = ArgList::new();
    args.add(MPS_KEY_FMT_ALIGN, align)
        .add(MPS_KEY_FMT_HEADER_SIZE, 0usize)
        .add(MPS_KEY_FMT_SCAN, Some(scan as _))
        .add(MPS_KEY_FMT_SKIP, Some(skip as _))
        .add(MPS_KEY_FMT_FWD, Some(forward as _))
        .add(MPS_KEY_FMT_ISFWD, Some(is_forwarded as _))
        .add(MPS_KEY_FMT_PAD, Some(pad as _));
    let mut fmt = core::ptr::null_mut();
    // SAFETY: `fmt` is a valid out parameter, the arena is live (the
    // caller's), and the list holds the five methods with their C types.
    let res = unsafe { mps_fmt_create_k(&mut fmt, arena, args.as_mut_ptr()) };
    mps::Error::check(res).map(|()| fmt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(16))]
    struct Block([u8; 128]);

    #[test]
    fn pads_and_markers_are_sized_by_skip() {
        let mut block = Block([0; 128]);
        let p = block.0.as_mut_ptr() as usize;
        for size in [16, 32, 128] {
            // SAFETY: the block has 128 writable bytes.
            unsafe { pad(p as mps_addr_t, size) };
            // SAFETY: a pad of this format.
            assert_eq!(unsafe { skip(p as mps_addr_t) } as usize, p + size);
            // SAFETY: as above.
            assert!(unsafe { is_forwarded(p as mps_addr_t) }.is_null());
        }
    }

    fn test_context() -> PoolContext {
        PoolContext {
            delta: 0,
            arena: 0,
            code_ptrs: AtomicU64::new(0),
            redirects: AtomicPtr::new(core::ptr::null_mut()),
            counters: Counters::default(),
            unwind: false,
        }
    }

    #[test]
    fn pools_are_found_by_number_until_unregistered() {
        let (a, b) = (test_context(), test_context());
        let ia = register(&a).expect("a free number");
        let ib = register(&b).expect("a free number");
        assert!(ia != 0 && ib != 0 && ia != ib);
        // SAFETY: both stay registered (and alive) while used.
        unsafe {
            assert!(core::ptr::eq(context(ia).unwrap(), &a));
            assert!(core::ptr::eq(context(ib).unwrap(), &b));
            assert!(context(0).is_none());
        }
        unregister(ia);
        // SAFETY: as above.
        unsafe {
            assert!(context(ia).is_none_or(|c| !core::ptr::eq(c, &a)));
        }
        unregister(ib);
    }

    #[test]
    fn forward_keeps_the_size_and_records_the_move() {
        let context = test_context();
        let id = register(&context).expect("a free number");
        let mut block = Block([0; 128]);
        let header = Header {
            magic: MAGIC,
            version: layout::VERSION,
            total_size: 112,
            align: 16,
            pool: id,
            ..Header::default()
        };
        header.write(&mut block.0);
        let p = block.0.as_mut_ptr() as usize;
        // SAFETY: a code object header of this format; the context is live.
        unsafe { forward(p as mps_addr_t, 0x1234_5670 as mps_addr_t) };
        // SAFETY: now a marker of this format.
        unsafe {
            assert_eq!(skip(p as mps_addr_t) as usize, p + 112);
            assert_eq!(is_forwarded(p as mps_addr_t) as usize, 0x1234_5670);
        }
        assert_eq!(context.counters.objects_moved.load(Ordering::Relaxed), 1);
        assert_eq!(context.counters.bytes_moved.load(Ordering::Relaxed), 112);
        unregister(id);
    }
}

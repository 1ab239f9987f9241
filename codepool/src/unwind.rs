//! Unwinding through code objects that move: each object's `.eh_frame`,
//! kept outside the object, and the lookup the system unwinder uses to
//! find it wherever the collector has put the object.
//!
//! # What the unwinder needs, and when
//!
//! libgcc's unwinder (which Rust panics, C++ exceptions and
//! `std::backtrace` use on Linux) calls `_Unwind_Find_FDE(pc, bases)` for
//! every frame: it wants the frame description entry (FDE) that covers
//! `pc` and the start address of the function (`bases->func`). It never
//! reads the FDE's own `pc_begin` field: it starts the CFA program at
//! `bases->func`. So a copy of an object's `.eh_frame` can stay where it is
//! while the object moves, as long as whoever answers the lookup knows the
//! object's current address.
//!
//! This module answers it. It defines `_Unwind_Find_FDE`, which the
//! executable exports (ld exports a definition that a linked shared
//! library also defines) and so interposes libgcc_s's own: libgcc_s calls
//! it through its PLT (`objdump -d libgcc_s.so.1`: `call
//! _Unwind_Find_FDE@plt` in `uw_frame_state_for`). A `pc` inside a
//! registered code object is answered from the registry below; every
//! other `pc` goes on to libgcc_s's definition (`dlsym(RTLD_NEXT)`). This
//! needs libgcc_s linked dynamically, as Rust's `*-linux-gnu` targets do;
//! with a static unwinder (`-static-libgcc`, musl) there is no next
//! definition and nothing could unwind: such builds must turn registration
//! off. `dl_iterate_phdr` interposition was the other candidate: libgcc
//! caches what it returns per object, which moving code would invalidate.
//!
//! # The registry
//!
//! One process-wide table of `Record`s, in chunks that are never freed:
//! a record holds the object's current execute-view address and size and
//! its [`UnwindTable`] (the `.eh_frame` copy, in malloc'd memory, with a
//! terminator, and the FDEs sorted by offset in the object). A code object
//! finds its record through a word of its header
//! ([`crate::layout::Header::unwind`], written at installation and copied
//! with the object).
//!
//! - **Installation** fills a record and sets its address inside the
//!   reserve / commit loop, before the commit: once the object exists its
//!   record covers it.
//! - **A move**: the format's forward method (world stopped) sets the
//!   record's address to the new copy with a compare-and-swap from the old
//!   copy's: the unwinder is told before any thread runs again, so no
//!   thread ever sees the old range registered with code at the new one.
//! - **Death**: the collector's reclaim hook
//!   (`mpsx_pool_reclaim_hook`, `vendor/mps/DESIGN.md#reclaim-hook`),
//!   called on every block a collection gives up while the world is still
//!   stopped, clears the record's address and pushes the record on a
//!   lock-free list; the next installation frees its table and reuses it.
//!   So a dead object's range is unregistered before its memory can hold
//!   anything else.
//! - **The pool's end** clears every record of the pool before the MPS pool
//!   is destroyed.
//!
//! Every change inside the stopped world is a store or compare-and-swap on
//! atomics: no allocation, no lock. libgcc's own registry
//! (`__register_frame`) was not used: its functions take a mutex (GCC 12),
//! which a thread stopped inside `_Unwind_Find_FDE` may hold, so the
//! collector could not call them with the world stopped; called after the
//! world restarts they would leave a window in which a thread runs moved
//! code whose new range is not yet registered (and in which the old range,
//! soon reused, still is). libgcc also caches each registered object's
//! lowest address, so the FDEs cannot be patched in place either.
//!
//! # Why lock-free readers are safe
//!
//! The lookup reads records without a lock while other threads (and
//! collections) change them. A thread unwinding its own stack looks up
//! return addresses of frames on that stack; the stack is scanned
//! ambiguously (code-aware thread roots), so those objects are pinned:
//! their records do not change (no move, no death) while they are looked
//! up. A record that changes concurrently belongs to another object, whose
//! old and new ranges are disjoint from every pinned object's, so a torn
//! read of it can only fail to match. A table is freed only after its
//! record was cleared, by a later installation; only a reader that matched
//! the record (whose object then had a frame, so could not die) reads it.
//! The lookup scans every record (linear in the number of live code
//! objects): unwinding is rare and frames are few; the scan starts only
//! for a `pc` inside some arena's code memory.
//!
//! `tests/unwind.rs` checks it: a panic and a C++ exception through code
//! objects moved before and during the call chain, the registry against
//! the census after collections with drops, and three threads panicking
//! through JIT frames while a fourth installs, drops and collects.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::fmt;
use std::sync::Mutex;

use crate::elf::{EhFrame, LoadedObject, RelocTarget};
use crate::reloc::RelocKind;

/// Why an object's unwind table cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnwindError(pub String);

impl fmt::Display for UnwindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported unwind table (.eh_frame): {}", self.0)
    }
}

impl std::error::Error for UnwindError {}

/// One FDE of a table: the code it covers (offsets in the code object) and
/// where it is in the table's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdeRange {
    /// Offset of the function's first byte in the code object.
    pub start: u32,
    /// Bytes covered.
    pub len: u32,
    /// Offset of the FDE in the table's bytes.
    pub fde: u32,
}

/// An object's unwind table, independent of the object's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnwindTable {
    /// The `.eh_frame` bytes with a zero terminator; `pc_begin` fields are
    /// left as in the file (libgcc does not read them, see the module
    /// docs).
    bytes: Box<[u8]>,
    /// The FDEs, sorted by `start`, not overlapping.
    fdes: Box<[FdeRange]>,
    /// Named functions (global symbols) of the object: (offset in the
    /// object, size, name), sorted by offset.
    names: Box<[(u32, u32, String)]>,
    /// Unique among the tables ever registered (0: not registered).
    serial: u64,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, UnwindError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| UnwindError("an entry extends past its end".into()))?;
        self.at += 1;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, UnwindError> {
        let mut v = [0u8; 4];
        for b in &mut v {
            *b = self.u8()?;
        }
        Ok(u32::from_le_bytes(v))
    }

    fn uleb(&mut self) -> Result<u64, UnwindError> {
        let (mut v, mut shift) = (0u64, 0u32);
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
    }
}

/// What matters of a CIE.
struct Cie {
    /// The FDE pointer encoding (augmentation `R`).
    encoding: u8,
    /// Where its byte is, if the CIE has one.
    encoding_at: Option<usize>,
}

/// Parses the CIE at `at` (`r` is just after its id).
fn parse_cie(r: &mut Reader<'_>, at: usize) -> Result<Cie, UnwindError> {
    let err = |s: String| Err(UnwindError(s));
    let version = r.u8()?;
    if version != 1 && version != 3 {
        return err(format!("CIE at {at:#x} has version {version}"));
    }
    let mut aug = Vec::new();
    loop {
        match r.u8()? {
            0 => break,
            c => aug.push(c),
        }
    }
    let aug_text = || String::from_utf8_lossy(&aug).into_owned();
    r.uleb()?; // code alignment
    r.uleb()?; // data alignment (signed; only skipped)
    if version == 1 {
        r.u8()?;
    } else {
        r.uleb()?;
    }
    let mut cie = Cie {
        encoding: PCREL_SDATA4,
        encoding_at: None,
    };
    if aug.first() == Some(&b'z') {
        r.uleb()?;
        for &c in &aug[1..] {
            match c {
                b'R' => {
                    cie.encoding_at = Some(r.at);
                    cie.encoding = r.u8()?;
                }
                b'S' => {}
                b'P' | b'L' => {
                    return err(format!(
                        "CIE at {at:#x} names a personality routine or LSDA \
                         (augmentation {:?}): JIT code cannot catch exceptions",
                        aug_text()
                    ))
                }
                _ => return err(format!("CIE at {at:#x} has augmentation {:?}", aug_text())),
            }
        }
    } else if !aug.is_empty() {
        return err(format!("CIE at {at:#x} has augmentation {:?}", aug_text()));
    }
    Ok(cie)
}

/// `DW_EH_PE_pcrel | DW_EH_PE_sdata4`, the FDE pointer encoding LLVM and
/// GCC use on x86-64.
const PCREL_SDATA4: u8 = 0x1b;

impl UnwindTable {
    /// Builds the table of `eh`, the `.eh_frame` of an object whose image
    /// starts at `code_offset` in the code object, naming the functions of
    /// `object`.
    ///
    /// Supported: CIEs with augmentation `""`, `"z"`, `"zR"` (pointer
    /// encoding pc-relative 32-bit, as LLVM and GCC emit) and `"S"`, and
    /// relocations only on FDE `pc_begin` fields, each `R_X86_64_PC32` to
    /// a place in the image. Personality routines and LSDAs (landing pads
    /// inside JIT code) are refused: exceptions pass through JIT frames,
    /// they are not caught there.
    pub fn build(
        eh: &EhFrame,
        code_offset: u32,
        object: &LoadedObject,
    ) -> Result<UnwindTable, UnwindError> {
        let bytes = &eh.bytes;
        let err = |s: String| Err(UnwindError(s));
        let image_len = object.image().len() as u64;
        let mut cies: Vec<(usize, u8)> = Vec::new();
        let mut fdes = Vec::new();
        let mut used = 0usize;
        let mut at = 0usize;
        while at + 4 <= bytes.len() {
            let mut r = Reader { bytes, at };
            let length = r.u32()? as usize;
            if length == 0 {
                break;
            }
            if length == 0xffff_ffff {
                return err(format!("64-bit entry at {at:#x}"));
            }
            let end = at + 4 + length;
            if end > bytes.len() || length < 4 {
                return err(format!("entry at {at:#x} extends past the section"));
            }
            let r = &mut Reader {
                bytes: &bytes[..end],
                at: at + 4,
            };
            let id_at = r.at;
            let id = r.u32()? as usize;
            if id == 0 {
                let cie = parse_cie(r, at)?;
                if cie.encoding != PCREL_SDATA4 {
                    return err(format!(
                        "CIE at {at:#x} has FDE pointer encoding {:#x}",
                        cie.encoding
                    ));
                }
                let encoding = cie.encoding;
                cies.push((at, encoding));
            } else {
                let Some(cie) = id_at.checked_sub(id) else {
                    return err(format!("FDE at {at:#x} points before the section"));
                };
                if !cies.iter().any(|&(c, _)| c == cie) {
                    return err(format!("FDE at {at:#x} has no CIE before it"));
                }
                let field = r.at;
                r.u32()?;
                let range = r.u32()?;
                let Some(reloc) = eh.relocations.iter().find(|x| x.offset as usize == field) else {
                    return err(format!("FDE at {at:#x} has no relocation on pc_begin"));
                };
                used += 1;
                let start = match (reloc.kind, reloc.target) {
                    (RelocKind::Pc32, RelocTarget::Local(t)) => i64::from(t) + reloc.addend,
                    _ => {
                        return err(format!(
                            "FDE at {at:#x}: pc_begin is a {} relocation to something outside \
                             the object",
                            reloc.kind
                        ))
                    }
                };
                if start < 0 || start as u64 + u64::from(range) > image_len {
                    return err(format!("FDE at {at:#x} covers code outside the object"));
                }
                if range > 0 {
                    fdes.push(FdeRange {
                        start: code_offset + start as u32,
                        len: range,
                        fde: at as u32,
                    });
                }
            }
            at = end;
        }
        if used != eh.relocations.len() {
            return err("a relocation outside the FDEs' pc_begin fields".into());
        }
        fdes.sort_by_key(|f| f.start);
        if fdes.windows(2).any(|w| w[0].start + w[0].len > w[1].start) {
            return err("two FDEs cover the same code".into());
        }
        let mut table = Vec::with_capacity(at + 4);
        table.extend_from_slice(&bytes[..at]);
        table.extend_from_slice(&[0; 4]);
        let mut names: Vec<(u32, u32, String)> = object
            .functions()
            .map(|s| (code_offset + s.offset, s.size, s.name.clone()))
            .collect();
        names.sort();
        Ok(UnwindTable {
            bytes: table.into_boxed_slice(),
            fdes: fdes.into_boxed_slice(),
            names: names.into_boxed_slice(),
            serial: 0,
        })
    }

    /// The table for a debugger: the same CIEs and FDEs with absolute
    /// 64-bit FDE addresses (`DW_EH_PE_absptr`) for the object at `base`,
    /// so that it reads right wherever the bytes are put.
    pub fn absolute_eh_frame(&self, base: u64) -> Vec<u8> {
        let bytes = &self.bytes;
        let mut out = Vec::with_capacity(bytes.len() + 8 * self.fdes.len());
        let mut cies: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at + 4 <= bytes.len() {
            let word = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
            let length = word(at) as usize;
            if length == 0 {
                break;
            }
            let id = word(at + 4) as usize;
            let end = at + 4 + length;
            if id == 0 {
                let r = &mut Reader {
                    bytes: &bytes[..end],
                    at: at + 8,
                };
                let cie = parse_cie(r, at).expect("checked by build");
                cies.push((at, out.len()));
                let start = out.len();
                out.extend_from_slice(&bytes[at..end]);
                if let Some(e) = cie.encoding_at {
                    out[start + e - at] = 0; // DW_EH_PE_absptr
                }
            } else if let Some(f) = self.fdes.iter().find(|f| f.fde as usize == at) {
                let cie = at + 4 - id;
                let new_cie = cies
                    .iter()
                    .find(|c| c.0 == cie)
                    .expect("checked by build")
                    .1;
                let new_at = out.len();
                out.extend_from_slice(&((length + 8) as u32).to_le_bytes());
                out.extend_from_slice(&((new_at + 4 - new_cie) as u32).to_le_bytes());
                out.extend_from_slice(&(base + u64::from(f.start)).to_le_bytes());
                out.extend_from_slice(&u64::from(f.len).to_le_bytes());
                out.extend_from_slice(&bytes[at + 16..end]);
            }
            at = end;
        }
        out.extend_from_slice(&[0; 4]);
        out
    }

    /// Unique among the tables ever registered (0: not registered): names
    /// an object across its moves.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The FDEs.
    pub fn fdes(&self) -> &[FdeRange] {
        &self.fdes
    }

    /// The FDE covering `offset` (in the code object).
    fn fde_at(&self, offset: usize) -> Option<&FdeRange> {
        let i = self.fdes.partition_point(|f| f.start as usize <= offset);
        let f = self.fdes.get(i.checked_sub(1)?)?;
        (offset < f.start as usize + f.len as usize).then_some(f)
    }

    /// The named functions: (offset in the object, size, name).
    pub fn functions(&self) -> impl Iterator<Item = (u32, u32, &str)> + '_ {
        self.names.iter().map(|(o, s, n)| (*o, *s, n.as_str()))
    }
}

// ---------------------------------------------------------------------------
// The registry.

/// A registered code object.
struct Record {
    /// Execute-view address of the object; 0: free or dead.
    base: AtomicUsize,
    /// Its size in bytes.
    size: AtomicUsize,
    /// Its table, owned by the record (from `Box::into_raw`); null: free.
    table: AtomicPtr<UnwindTable>,
    /// The pool's context, to clear the pool's records when it ends.
    owner: AtomicUsize,
    /// Next record (index + 1) on the dead list.
    next_dead: AtomicU32,
    /// This record's index.
    index: u32,
}

const CHUNK: usize = 1024;
const CHUNKS: usize = 4096;

type Chunk = [Record; CHUNK];

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "only used to initialise the static array"
)]
const NO_CHUNK: AtomicPtr<Chunk> = AtomicPtr::new(ptr::null_mut());

/// Chunks of records, allocated on demand under `STATE`, never freed.
static RECORDS: [AtomicPtr<Chunk>; CHUNKS] = [NO_CHUNK; CHUNKS];
/// Records ever handed out: `[0, USED)`.
static USED: AtomicUsize = AtomicUsize::new(0);
/// Head (index + 1) of the list of records that died; 0: empty.
static DEAD: AtomicU32 = AtomicU32::new(0);
/// The union of the execute views of every arena's code memory seen.
static LOW: AtomicUsize = AtomicUsize::new(usize::MAX);
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// Bumped on every change of a record's address: debuggers and profilers
/// ([`crate::debuginfo`]) resynchronise when it changes.
static GENERATION: AtomicUsize = AtomicUsize::new(0);

/// The registry's generation (see `GENERATION`).
pub(crate) fn generation() -> usize {
    GENERATION.load(Ordering::Acquire)
}

fn changed() {
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Free record indices, behind a lock taken only outside the stopped world.
static STATE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn record(i: usize) -> Option<&'static Record> {
    let chunk = RECORDS.get(i / CHUNK)?.load(Ordering::Acquire);
    // SAFETY: chunks are leaked boxes, never freed once published.
    (!chunk.is_null()).then(|| unsafe { &(*chunk)[i % CHUNK] })
}

/// Notes that `[low, high)` (an execute view) may hold registered code.
pub(crate) fn add_code_range(low: usize, high: usize) {
    LOW.fetch_min(low, Ordering::Relaxed);
    HIGH.fetch_max(high, Ordering::Relaxed);
    // The lookup must be the one the unwinder calls: keep it linked in.
    core::hint::black_box(_Unwind_Find_FDE as *const () as usize);
}

/// Frees the tables of records that died and returns them to the free list.
fn reap(free: &mut Vec<u32>) {
    let mut next = DEAD.swap(0, Ordering::Acquire);
    while next != 0 {
        let i = next - 1;
        let r = record(i as usize).expect("a dead record exists");
        next = r.next_dead.load(Ordering::Relaxed);
        let table = r.table.swap(ptr::null_mut(), Ordering::AcqRel);
        if !table.is_null() {
            // SAFETY: from `Box::into_raw` in `Registration::new`; the
            // record was cleared in the stopped world before it was pushed,
            // so no reader can reach the table (module docs).
            drop(unsafe { Box::from_raw(table) });
        }
        free.push(i);
    }
}

/// A record taken for an object being installed: released on drop unless
/// [`kept`](Self::keep).
pub(crate) struct Registration {
    index: u32,
}

impl Registration {
    /// Takes a record for `table`, owned by `owner` (the pool's context).
    pub(crate) fn new(mut table: UnwindTable, owner: usize, size: usize) -> Registration {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        table.serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let mut free = STATE.lock().unwrap_or_else(|e| e.into_inner());
        reap(&mut free);
        let index = match free.pop() {
            Some(i) => i,
            None => {
                let i = USED.load(Ordering::Relaxed);
                assert!(i < CHUNK * CHUNKS, "codepool: too many code objects");
                let slot = &RECORDS[i / CHUNK];
                if slot.load(Ordering::Acquire).is_null() {
                    let first = (i / CHUNK * CHUNK) as u32;
                    let chunk: Box<Chunk> = Box::new(core::array::from_fn(|k| Record {
                        base: AtomicUsize::new(0),
                        size: AtomicUsize::new(0),
                        table: AtomicPtr::new(ptr::null_mut()),
                        owner: AtomicUsize::new(0),
                        next_dead: AtomicU32::new(0),
                        index: first + k as u32,
                    }));
                    slot.store(Box::into_raw(chunk), Ordering::Release);
                }
                USED.store(i + 1, Ordering::Release);
                i as u32
            }
        };
        let r = record(index as usize).expect("allocated above");
        r.size.store(size, Ordering::Relaxed);
        r.owner.store(owner, Ordering::Relaxed);
        r.table
            .store(Box::into_raw(Box::new(table)), Ordering::Release);
        Registration { index }
    }

    /// The object's header word ([`crate::layout::Header::unwind`]): the
    /// index plus one.
    pub(crate) fn header_word(&self) -> u32 {
        self.index + 1
    }

    /// Registers the object at execute-view address `exec` (before its
    /// commit: see the module docs).
    pub(crate) fn activate(&self, exec: usize) {
        let r = record(self.index as usize).expect("taken");
        r.base.store(exec, Ordering::Release);
        changed();
    }

    /// The object is installed: the record stays until the object dies.
    pub(crate) fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let r = record(self.index as usize).expect("taken");
        r.base.store(0, Ordering::Release);
        changed();
        let mut free = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let table = r.table.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: from `Box::into_raw` in `new`; the object was never
        // committed, so no frame of it exists and no reader matched it.
        drop(unsafe { Box::from_raw(table) });
        free.push(self.index);
    }
}

/// Reads an object's header word [`crate::layout::Header::unwind`]: its
/// record, if any.
///
/// # Safety
///
/// `write` must be a code object (or its forwarded old copy) of a pool
/// that records unwind tables.
unsafe fn header_record(write: usize) -> Option<&'static Record> {
    // SAFETY: the caller's guarantee: a header, whose word at UNWIND_AT
    // the pool wrote (a marker leaves it in place).
    let word = unsafe { ((write + crate::layout::UNWIND_AT) as *const u32).read_unaligned() };
    (word != 0).then(|| record(word as usize - 1)).flatten()
}

/// The format's forward method moved the object from `old` to `new` (write
/// view): point its record at the new copy. World stopped: no allocation,
/// no lock.
///
/// # Safety
///
/// `old` must be the old copy of a code object of a pool with
/// execute-view distance `delta` that records unwind tables.
pub(crate) unsafe fn moved(old: usize, new: usize, delta: isize) {
    // SAFETY: the caller's guarantee.
    if let Some(r) = unsafe { header_record(old) } {
        let from = old.wrapping_add_signed(delta);
        let to = new.wrapping_add_signed(delta);
        // Fails only if the pool's end cleared the record meanwhile.
        let _ = r
            .base
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed);
        changed();
    }
}

/// The code object at `p` (write view) died: the
/// collector is about to free or pad over it (the pool's reclaim hook,
/// `format::reclaimed`). Clear its record and push it on the dead list.
/// World stopped: no allocation, no lock, no unwinding (nothing here can
/// panic).
///
/// # Safety
///
/// `p` must be a dead code object of a pool that records unwind tables,
/// readable.
pub(crate) unsafe fn object_died(p: usize) {
    // SAFETY: the caller's guarantee.
    if let Some(r) = unsafe { header_record(p) } {
        died(r);
    }
}

/// Clears `r` and, if this call cleared it, pushes it on the dead list.
fn died(r: &'static Record) {
    if r.base.swap(0, Ordering::AcqRel) == 0 {
        return;
    }
    changed();
    let index = r.index;
    let mut head = DEAD.load(Ordering::Relaxed);
    loop {
        r.next_dead.store(head, Ordering::Relaxed);
        match DEAD.compare_exchange_weak(head, index + 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Clears every record of `owner` (a pool's context), before its pool is
/// destroyed.
pub(crate) fn forget_owner(owner: usize) {
    let mut free = STATE.lock().unwrap_or_else(|e| e.into_inner());
    reap(&mut free);
    for i in 0..USED.load(Ordering::Acquire) {
        let Some(r) = record(i) else { continue };
        if r.owner.load(Ordering::Relaxed) == owner && r.base.swap(0, Ordering::AcqRel) != 0 {
            changed();
            r.owner.store(0, Ordering::Relaxed);
            let table = r.table.swap(ptr::null_mut(), Ordering::AcqRel);
            if !table.is_null() {
                // SAFETY: from `Box::into_raw`; the pool has no code left
                // running (no CodeObject), so no reader matched it.
                drop(unsafe { Box::from_raw(table) });
            }
            free.push(i as u32);
        }
    }
}

/// Calls `f(base, size, table)` for every registered object (of every
/// pool), under the registry's lock: no table is freed meanwhile.
pub(crate) fn for_each_registered(mut f: impl FnMut(usize, usize, &UnwindTable)) {
    let _free = STATE.lock().unwrap_or_else(|e| e.into_inner());
    for i in 0..USED.load(Ordering::Acquire) {
        let Some(r) = record(i) else { continue };
        let base = r.base.load(Ordering::Acquire);
        let table = r.table.load(Ordering::Acquire);
        if base == 0 || table.is_null() {
            continue;
        }
        // SAFETY: tables are freed only under STATE, which we hold.
        f(base, r.size.load(Ordering::Relaxed), unsafe { &*table });
    }
}

/// A registered code object, as `registered` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredObject {
    /// Execute-view address of the object.
    pub base: usize,
    /// Its size.
    pub size: usize,
    /// Its named functions: (execute-view address, size, name).
    pub functions: Vec<(usize, usize, String)>,
    /// Its FDEs: (execute-view address, bytes covered).
    pub fdes: Vec<(usize, usize)>,
}

/// Every registered code object of the pool whose context is `owner`
/// (every pool if `None`), at its current address. Call it with the arena
/// parked for a stable answer.
pub(crate) fn registered(owner: Option<usize>) -> Vec<RegisteredObject> {
    let _free = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::new();
    for i in 0..USED.load(Ordering::Acquire) {
        let Some(r) = record(i) else { continue };
        let base = r.base.load(Ordering::Acquire);
        if base == 0 || owner.is_some_and(|o| r.owner.load(Ordering::Relaxed) != o) {
            continue;
        }
        let table = r.table.load(Ordering::Acquire);
        if table.is_null() {
            continue;
        }
        // SAFETY: tables are freed only under STATE, which we hold.
        let table = unsafe { &*table };
        out.push(RegisteredObject {
            base,
            size: r.size.load(Ordering::Relaxed),
            functions: table
                .functions()
                .map(|(o, s, n)| (base + o as usize, s as usize, n.to_owned()))
                .collect(),
            fdes: table
                .fdes()
                .iter()
                .map(|f| (base + f.start as usize, f.len as usize))
                .collect(),
        });
    }
    out
}

/// The name of the JIT function at execute-view address `pc` and the
/// offset of `pc` in it, if a registered object has a named function
/// there.
pub fn symbolize(pc: usize) -> Option<(String, usize)> {
    let _free = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (base, table) = find(pc)?;
    let offset = pc - base;
    table
        .functions()
        .filter(|&(o, s, _)| (o as usize) <= offset && offset < o as usize + (s as usize).max(1))
        .map(|(o, _, n)| (n.to_owned(), offset - o as usize))
        .next()
}

/// The record covering `pc`: the object's address and table.
fn find(pc: usize) -> Option<(usize, &'static UnwindTable)> {
    if pc < LOW.load(Ordering::Relaxed) || pc >= HIGH.load(Ordering::Relaxed) {
        return None;
    }
    for i in 0..USED.load(Ordering::Acquire) {
        let Some(r) = record(i) else { continue };
        let base = r.base.load(Ordering::Acquire);
        if base == 0 || pc < base || pc - base >= r.size.load(Ordering::Relaxed) {
            continue;
        }
        let table = r.table.load(Ordering::Acquire);
        if table.is_null() {
            return None;
        }
        // SAFETY: see "Why lock-free readers are safe" in the module docs:
        // the object at `pc` has a frame, so it is pinned and alive, and its
        // table is not freed while it is.
        return Some((base, unsafe { &*table }));
    }
    None
}

/// `struct dwarf_eh_bases` of libgcc.
#[repr(C)]
pub struct DwarfEhBases {
    tbase: *mut c_void,
    dbase: *mut c_void,
    func: *mut c_void,
}

type FindFde = unsafe extern "C" fn(*mut c_void, *mut DwarfEhBases) -> *const c_void;

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const core::ffi::c_char) -> *mut c_void;
}

/// libgcc_s's `_Unwind_Find_FDE`, found once.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn next_find_fde() -> Option<FindFde> {
    let mut f = NEXT.load(Ordering::Acquire);
    if f == 0 {
        const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;
        // SAFETY: a NUL-terminated name; RTLD_NEXT asks for the next
        // definition after this object's in the lookup order.
        f = unsafe { dlsym(RTLD_NEXT, c"_Unwind_Find_FDE".as_ptr()) } as usize;
        NEXT.store(f, Ordering::Release);
    }
    // SAFETY: a non-null result of dlsym for `_Unwind_Find_FDE`, whose
    // signature FindFde is.
    (f != 0).then(|| unsafe { core::mem::transmute::<usize, FindFde>(f) })
}

/// Interposes libgcc_s's `_Unwind_Find_FDE` (see the module docs): the FDE
/// for `pc` in a registered code object, else libgcc_s's answer.
///
/// # Safety
///
/// Called by the unwinder with a writable `bases`.
#[no_mangle]
pub unsafe extern "C" fn _Unwind_Find_FDE(
    pc: *mut c_void,
    bases: *mut DwarfEhBases,
) -> *const c_void {
    if let Some((base, table)) = find(pc as usize) {
        let Some(fde) = table.fde_at(pc as usize - base) else {
            return ptr::null();
        };
        // SAFETY: `bases` is the unwinder's; the FDE lies in the table.
        unsafe {
            (*bases).tbase = ptr::null_mut();
            (*bases).dbase = ptr::null_mut();
            (*bases).func = (base + fde.start as usize) as *mut c_void;
            return table.bytes.as_ptr().add(fde.fde as usize).cast();
        }
    }
    match next_find_fde() {
        // SAFETY: libgcc_s's lookup, with the unwinder's arguments.
        Some(next) => unsafe { next(pc, bases) },
        None => ptr::null(),
    }
}

#[cfg(all(test, feature = "llvm"))]
mod tests {
    use super::*;
    use crate::elf::Relocation;
    use inkwell::context::Context;
    use inkwell::memory_buffer::MemoryBuffer;

    /// Two functions that call a runtime function (so LLVM emits CFI).
    fn object() -> LoadedObject {
        let ir = "declare i64 @rt(i64)
                  define i64 @one(i64 %x) {
                    %r = call i64 @rt(i64 %x)
                    %s = add i64 %r, 1
                    ret i64 %s
                  }
                  define i64 @two(i64 %x) {
                    %r = call i64 @one(i64 %x)
                    %s = add i64 %r, 2
                    ret i64 %s
                  }";
        let context = Context::create();
        let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "t");
        let module = context.create_module_from_ir(buffer).unwrap();
        crate::jit::compile(&module).unwrap()
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }

    #[test]
    fn a_table_covers_every_function_from_its_code_offset() {
        let obj = object();
        let table = UnwindTable::build(obj.eh_frame().unwrap(), 0x100, &obj).unwrap();
        let names: Vec<(u32, &str)> = table.functions().map(|(o, _, n)| (o, n)).collect();
        let one = obj.symbol("one").unwrap() + 0x100;
        let two = obj.symbol("two").unwrap() + 0x100;
        assert_eq!(names, vec![(one, "one"), (two, "two")]);
        let starts: Vec<u32> = table.fdes().iter().map(|f| f.start).collect();
        assert_eq!(starts, vec![one, two]);
        assert_eq!(table.fde_at(two as usize + 1).map(|f| f.start), Some(two));
        assert_eq!(table.fde_at(0x10), None);
        // Terminated for the unwinder.
        assert_eq!(u32_at(&table.bytes, table.bytes.len() - 4), 0);
    }

    #[test]
    fn the_debugger_copy_holds_absolute_addresses() {
        let obj = object();
        let table = UnwindTable::build(obj.eh_frame().unwrap(), 0x100, &obj).unwrap();
        let base = 0x7f00_1234_0000u64;
        let eh = table.absolute_eh_frame(base);
        let mut at = 0;
        let mut pcs = Vec::new();
        while u32_at(&eh, at) != 0 {
            let length = u32_at(&eh, at) as usize;
            if u32_at(&eh, at + 4) != 0 {
                let cie = at + 4 - u32_at(&eh, at + 4) as usize;
                assert_eq!(u32_at(&eh, cie + 4), 0, "the FDE points at a CIE");
                pcs.push(u64::from_le_bytes(eh[at + 8..at + 16].try_into().unwrap()));
            }
            at += 4 + length;
        }
        let expected: Vec<u64> = table
            .fdes()
            .iter()
            .map(|f| base + u64::from(f.start))
            .collect();
        assert_eq!(pcs, expected);
    }

    #[test]
    fn personality_routines_and_stray_relocations_are_refused() {
        let obj = object();
        let mut eh = obj.eh_frame().unwrap().clone();
        let at = eh.bytes.windows(3).position(|w| w == b"zR\0").unwrap();
        eh.bytes[at + 1] = b'P';
        let e = UnwindTable::build(&eh, 0, &obj).unwrap_err();
        assert!(e.to_string().contains("personality"), "{e}");

        let mut eh = obj.eh_frame().unwrap().clone();
        let first = eh.relocations[0];
        eh.relocations.push(Relocation {
            offset: 0,
            section_offset: 0,
            ..first
        });
        let e = UnwindTable::build(&eh, 0, &obj).unwrap_err();
        assert!(e.to_string().contains("outside the FDEs"), "{e}");
    }
}

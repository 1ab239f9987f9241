//! The code object image and relinking.
//!
//! A code object is one block of memory:
//!
//! ```text
//! offset 0        Header (22 bytes, see [`Header`])
//! 22              the count block: the code's size, flags, and counts, as
//!                 varints (usually 9 or 10 bytes), from which the offsets
//!                 below are derived
//! code_offset     machine code (.text), then the read-only data it needs
//!                 (the end of the count block rounded up to the object's
//!                 alignment, at least 16: usually 32)
//! got_offset      GOT slots, 8 bytes each (right after the code, unaligned)
//! stub_offset     stubs for far calls, 6 bytes each
//! target_offset   target table: one TargetRecord per distinct target that
//!                 needs one, Code records (12 bytes each), then Heap (8
//!                 bytes and an offset of 0 to 4 bytes each), then
//!                 Runtime (8 bytes each)
//! entry_offset    entry-point table: offset of each exported function, u16
//!                 when the code ends within 64 KiB of the start, else u32
//!                 (none for an object whose one function starts its code)
//! sidecar_offset  the relocation sidecar (see crate::sidecar)
//! total_size      (a multiple of 16)
//! ```
//!
//! No region is padded beyond its own alignment; [`Sizes`] tells where
//! the bytes go.
//!
//! [`layout`] builds this image from a [`LoadedObject`]: every relocation
//! that is PC-relative inside the object is applied once and forgotten;
//! every other one becomes a sidecar entry. [`relink`] re-encodes every
//! sidecar site (and every GOT slot) from the object's current address
//! and its targets' current addresses. It is what the collector's scan
//! method calls after fixing the references in the target table, and
//! after the object has moved.
//!
//! # Far targets
//!
//! A call (`R_X86_64_PLT32`) to a target outside the object that may be out
//! of its reach gets a stub, which jumps through the word holding the
//! target's address (the target's record for Heap and Runtime targets, a
//! GOT slot for Code targets):
//!
//! ```text
//! stub+0   ff 25 <disp32>               jmp [rip+disp32]  (the word)
//! ```
//!
//! Stubs are sorted by the word they jump through, and a target's stub is
//! found by its word. Code targets have GOT slots all or none (the last
//! ones of the GOT, in record order). No region after the code is
//! aligned (x86-64 loads and stores any address; an unaligned word costs
//! nothing measurable here): GOT slots and the words of the target table
//! may lie anywhere. Relinking happens only while no thread runs the
//! object (the world is stopped, or the object is not published yet), so
//! no thread reads a word while it is written, aligned or not.
//! [`relink`] makes the call direct when the target is within ±2 GiB of the
//! site and sends it through the stub otherwise; it does so again on every
//! relink, so a call switches back to direct when objects move closer.
//!
//! A GOT-relative reference (`R_X86_64_GOTPCREL*`, the way position-
//! independent code loads the address of an external symbol) reads the
//! word holding the target's address (a GOT slot for a Code target, the
//! record itself otherwise). The relaxable kinds (`GOTPCRELX`,
//! `REX_GOTPCRELX`) are switched to the direct form (`lea`, `addr32 call`)
//! when the target is in reach and back to the GOT form when it is not
//! (see [`crate::reloc`]). GOT-relative references to symbols inside the
//! object are relaxed once by [`layout`] when possible, and otherwise get a
//! GOT slot with a [`Target::SelfRelative`] entry.
//!
//! [`layout_with`] lays out an object that stays inside a known address
//! range (an executable pool's code memory, which holds every Code target
//! too): a call whose target every site in the range reaches gets no stub,
//! and a relaxable GOT-relative site whose target is always in reach gets
//! no GOT slot.
//!
//! An executable pool binds the calls to a runtime function (which lies
//! out of reach of code memory) to its shared stub for that function,
//! [`runtime_stub`]: a code object of its own, so the calls are Direct
//! sites and the calling object needs no record or stub for the function.
//! A redefinition may add a [`forwarder`], a code object of one Direct
//! jump. Both are flagged [`Header::pool_stub`].
//!
//! Other kinds must reach their target directly; a 32-bit field that cannot
//! is a [`RelinkError`].
//!
//! # The target table and the collector
//!
//! Each [`TargetRecord`] stands for `base` and `offset`; the target's
//! address is `base + offset`. For Code and Heap records `base` is a
//! reference to the start of a collected object (the target code object,
//! or the heap object). A Code record's word holds `base`; a Heap record's
//! word holds `base + offset` (the address, which its GOT-relative sites
//! read). So a scan method fixes each word listed by [`reference_offsets`]
//! (a Heap word minus its offset, then plus it again) and then calls
//! [`relink_from_table`]. Runtime records hold a fixed address. When the
//! executable pool maps its memory twice, references (and so Code `base`s)
//! are write-view addresses and code runs in the execute view:
//! [`relink_from_table`] takes the distance between the two.
//!
//! # Instruction caches
//!
//! x86-64 keeps instruction caches coherent with data writes; code modified
//! while no thread runs it (the world is stopped during a collection, and a
//! new object has not been published yet) needs no flush. Publishing and
//! protection changes are not this module's business.

use std::collections::HashMap;
use std::fmt;
use std::mem::MaybeUninit;

use crate::elf::{LoadedObject, RelocTarget, SectionKind, SymbolKind};
use crate::reloc::{self, GotForm, RelocError, RelocKind};
use crate::sidecar::{
    self, DecodeError, EncodeError, Entry, Sidecar, SidecarStats, Target, TargetClass,
};

/// `Header::magic`: `"CPO4"` in little-endian byte order (the fourth
/// layout: the 22-byte header and the count block right after it).
pub const MAGIC: u32 = u32::from_le_bytes(*b"CPO4");
/// `Header::version` of this layout (implied by [`MAGIC`]).
pub const VERSION: u32 = 4;
/// Size of the fixed header in the image (its encoding; [`Header`] is
/// the decoded form, which adds the count block at [`COUNTS_AT`]).
pub const HEADER_SIZE: usize = 22;
/// Offset of `total_size` (`u32`) in the image.
pub const TOTAL_SIZE_AT: usize = 4;
/// Offset of `linked_at` (`u64`) in the image.
pub const LINKED_AT: usize = 8;
/// Offset of `unwind` (`u32`) in the image.
pub const UNWIND_AT: usize = 16;
/// Offset of `pool` (`u16`) in the image.
pub const POOL_AT: usize = 20;
/// Offset of the count block in the image (right after the fixed header).
pub const COUNTS_AT: usize = HEADER_SIZE;
/// The shortest count block (nine one-byte varints).
const MIN_COUNTS_LEN: usize = 9;
/// Size of one GOT slot.
pub const GOT_SLOT_SIZE: usize = 8;
/// Size of one stub (an indirect jump through the target's address word,
/// padding).
pub const STUB_SIZE: usize = 6;
/// Offset of the jump instruction (the stub's entry point) within a stub.
pub const STUB_ENTRY: usize = 0;
/// Size of a Code or Heap target record in the image (a word and an
/// offset).
pub const TARGET_RECORD_SIZE: usize = 12;
/// Size of a Runtime target record in the image (a word).
pub const RUNTIME_RECORD_SIZE: usize = 8;
/// Bit of the count block's flags: Code targets have GOT slots
/// ([`Header::code_got`]).
const CODE_GOT_FLAG: u32 = 1 << 4;
/// Bit of the count block's flags: the sidecar has Direct entries
/// ([`Header::direct`]).
const DIRECT_FLAG: u32 = 1 << 5;
/// Bits 6-7 of the count block's flags: the width of Heap records'
/// offsets, 0, 1, 2 or 4 bytes ([`Header::heap_offset_width`]).
const HEAP_WIDTH_SHIFT: u32 = 6;
/// Bit of the count block's flags: the object is a pool's own stub, a
/// shared stub for a runtime function or a forwarder
/// ([`Header::pool_stub`], [`runtime_stub`], [`forwarder`]).
const POOL_STUB_FLAG: u32 = 1 << 8;
/// Offset of the entry point of a shared runtime stub ([`runtime_stub`]).
pub const RUNTIME_STUB_ENTRY: u32 = 32;
/// The code of a shared runtime stub ([`runtime_stub`]): `jmp [rip+0]`,
/// then the 8-byte address it jumps to.
const RUNTIME_STUB_JUMP: [u8; 6] = [0xff, 0x25, 0, 0, 0, 0];
/// Smallest alignment of a code object (code sections want 16).
pub const MIN_ALIGN: u32 = 16;

/// A stub for a target whose address word is at `word` (a GOT slot or a
/// target record, see [`TargetRecord::got`]), the stub at `stub`:
/// `jmp [rip+disp32]`. Both lie in the object, so the
/// displacement never changes.
fn stub_code(stub: u32, word: u32) -> [u8; STUB_SIZE] {
    let disp = (i64::from(word) - (i64::from(stub) + 6)) as i32;
    let d = disp.to_le_bytes();
    [0xff, 0x25, d[0], d[1], d[2], d[3]]
}

/// The header of a code object, decoded. The image holds it in
/// [`HEADER_SIZE`] (22) bytes at offset 0, native-endian (images never
/// leave the process), and a count block right after it:
///
/// ```text
///  0 magic u32         4 total_size u32     8 linked_at u64
/// 16 unwind u32       20 pool u16
///
/// 22 (count block): code_size, flags (log2 align in bits 0-3, code_got 4,
///                direct 5, Heap offset width 6-7), entry_count, got_count,
///                stub_count, code_targets, heap_targets, runtime_targets,
///                sidecar_len (unsigned LEB128 varints, one byte each below
///                128)
/// ```
///
/// The fixed part holds what the format methods and the pool read or
/// write in place (the tag, the size, the last link address, the unwind
/// record, the pool's number); the count block, which never changes once
/// laid out, what describes the regions. Every region's offset is derived
/// from the counts ([`Header::derive`]): the code starts at the end of
/// the count block rounded up to the object's alignment (32 when the
/// count block takes at most 10 bytes and the alignment is 16), and the
/// regions after it follow each other with no padding. All offsets are
/// from the start of the object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`VERSION`] (not stored: implied by the magic).
    pub version: u32,
    /// The address the sites were last relinked for (0: never).
    pub linked_at: u64,
    /// Size of the whole object in bytes (a multiple of 16).
    pub total_size: u32,
    /// Alignment the object's address must have (a power of two, at least
    /// [`MIN_ALIGN`]).
    pub align: u32,
    /// Offset of the entry-point table (`u32` per exported function;
    /// derived).
    pub entry_offset: u32,
    /// Number of entry points.
    pub entry_count: u32,
    /// The object's one entry point is the start of its code, and the
    /// entry-point table is empty (the count block's entry count is 0;
    /// otherwise it is `entry_count + 1`).
    pub implicit_entry: bool,
    /// Offset of the machine code (derived: the header rounded up to
    /// `align`).
    pub code_offset: u32,
    /// Size of the machine code and its read-only data.
    pub code_size: u32,
    /// Offset of the GOT (derived).
    pub got_offset: u32,
    /// Number of GOT slots.
    pub got_count: u32,
    /// Offset of the stubs (derived).
    pub stub_offset: u32,
    /// Number of stubs.
    pub stub_count: u32,
    /// Offset of the target table (derived).
    pub target_offset: u32,
    /// Size of the target table in bytes (derived).
    pub target_len: u32,
    /// Number of Code records (first in the table).
    pub code_targets: u32,
    /// Number of Heap records (after the Code records).
    pub heap_targets: u32,
    /// Number of Runtime records (last).
    pub runtime_targets: u32,
    /// Offset of the sidecar (derived).
    pub sidecar_offset: u32,
    /// Size of the sidecar in bytes.
    pub sidecar_len: u32,
    /// Zero in an image from [`layout`]; owned by the executable pool
    /// afterwards, which keeps here its number, under which the format
    /// methods of the collector (which receive nothing but addresses)
    /// find its per-pool data (see `crate::format`). Never relinked.
    pub pool: u16,
    /// Zero in an image from [`layout`]; owned by the executable pool
    /// afterwards: the index plus one of the object's unwind record
    /// (`crate::unwind`), 0 for none.
    pub unwind: u32,
    /// Code targets have GOT slots: the last `code_targets` of the GOT, in
    /// record order (a bit of the count block's flags).
    pub code_got: bool,
    /// The sidecar has [`Target::Direct`] entries, whose targets the
    /// sites' fields encode relative to `linked_at` (a bit of the count
    /// block's flags): a collector's scan method decodes and fixes
    /// them ([`direct_target`], [`set_direct_target`]).
    pub direct: bool,
    /// Width in bytes of the offsets of the Heap records (0, 1, 2 or 4:
    /// the fewest that hold every one; bits 6-7 of the count block's
    /// flags). A Heap record takes its word and this many bytes.
    pub heap_offset_width: u32,
    /// The object is a code pool's own stub: its shared stub for one
    /// runtime function ([`runtime_stub`]) or a redefinition's forwarder
    /// ([`forwarder`]) (a bit of the count block's flags).
    pub pool_stub: bool,
    /// Size of the count block, at [`COUNTS_AT`] (derived).
    pub counts_len: u32,
}

/// One entry of the target table, decoded. The image holds a Code record
/// in [`TARGET_RECORD_SIZE`] (12) bytes, a word (u64, at 0) and `offset`
/// (u32, at 8), a Heap record in its word and an `offset` of
/// [`Header::heap_offset_width`] bytes (little-endian), and a Runtime
/// record in
/// [`RUNTIME_RECORD_SIZE`] (8), its word. Neither holds its GOT slot or
/// stub: Code targets have GOT slots all or none ([`Header::code_got`]),
/// the last `code_targets` slots, in record order; stubs are sorted by the
/// word they jump through, and found by it.
///
/// The word of a Code record is `base` (the target object's start, a
/// reference); the word of a Heap record is the target's address, `base +
/// offset` (the collector fixes `word - offset`, see
/// [`reference_offsets`]); the word of a Runtime record is the address
/// (`offset` 0). So Heap and Runtime words hold the target's address, and
/// serve as its GOT slot and its stub's address: only Code targets need
/// GOT slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetRecord {
    /// Code: the start of the target code object; Heap: the start of the heap
    /// object (both references the collector fixes); Runtime: the address.
    pub base: u64,
    /// Added to `base` to give the target's address: the symbol's offset in
    /// the target code object, an offset into the heap object, 0 for
    /// Runtime.
    pub offset: u32,
    /// Offset of this target's stub in the object, 0 when it has none
    /// (found by [`target_record`]; 0 in the records relinking reads,
    /// which looks stubs up itself).
    pub stub: u32,
    /// Offset of the word holding this target's address, which
    /// GOT-relative sites and the stub read: a GOT slot for Code targets
    /// (0 when it has none), the record's own word for Heap and Runtime
    /// targets.
    pub got: u32,
}

/// The little-endian unsigned field of `width` bytes (0, 1, 2 or 4) at
/// `bytes[at..]`, or `None` when `bytes` is short. A match rather than a
/// copy of a variable length: relinking reads Heap records' offsets so
/// on every pass.
#[inline]
fn read_narrow(bytes: &[u8], at: usize, width: u32) -> Option<u32> {
    Some(match width {
        0 => 0,
        1 => u32::from(*bytes.get(at)?),
        2 => u32::from(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?)),
        _ => u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?),
    })
}

impl TargetRecord {
    /// The target's current address, `base + offset`.
    pub fn address(&self) -> u64 {
        self.base.wrapping_add(u64::from(self.offset))
    }

    /// Decodes the record of `target` at offset `at` of the object (with
    /// header `h`), whose bytes start `bytes`. `None` when `bytes` is
    /// short. The stub is not looked up (0).
    #[inline]
    fn read(h: &Header, bytes: &[u8], at: usize, target: Target) -> Option<TargetRecord> {
        let field = |at: usize, n: usize| bytes.get(at..at + n);
        let word = u64::from_ne_bytes(field(0, 8)?.try_into().ok()?);
        let own = u32::try_from(at).ok()?;
        let (base, offset, got) = match target {
            Target::Code(i) => {
                let offset = u32::from_ne_bytes(field(8, 4)?.try_into().ok()?);
                let got = if h.code_got {
                    let first = h.got_count.checked_sub(h.code_targets)?;
                    h.got_offset + (first + i) * GOT_SLOT_SIZE as u32
                } else {
                    0
                };
                (word, offset, got)
            }
            Target::Heap(_) => {
                let offset = read_narrow(bytes, 8, h.heap_offset_width)?;
                (word.wrapping_sub(u64::from(offset)), offset, own)
            }
            Target::Runtime(_) => (word, 0, own),
            Target::SelfRelative(_) | Target::Direct(_) => return None,
        };
        Some(TargetRecord {
            base,
            offset,
            stub: 0,
            got,
        })
    }

    /// Encodes the record of class `class` into `out`, for an object
    /// with header `h` (whose Heap records' offsets are
    /// [`Header::heap_offset_width`] bytes wide, which must hold this
    /// one's).
    fn write(&self, h: &Header, out: &mut [u8], class: TargetClass) {
        match class {
            TargetClass::Code => {
                out[0..8].copy_from_slice(&self.base.to_ne_bytes());
                out[8..12].copy_from_slice(&self.offset.to_ne_bytes());
            }
            TargetClass::Heap => {
                out[0..8].copy_from_slice(&self.address().to_ne_bytes());
                let width = h.heap_offset_width as usize;
                out[8..8 + width].copy_from_slice(&self.offset.to_le_bytes()[..width]);
            }
            _ => out[0..8].copy_from_slice(&self.address().to_ne_bytes()),
        }
    }
}

/// The stub of the object (header `h`, bytes `image`, at least up to the
/// stubs' end) that jumps through the word at `word`, or 0. Stubs are
/// sorted by their words: a binary search.
fn stub_for(h: &Header, image: &[u8], word: u32) -> u32 {
    let word_of = |k: u32| -> Option<i64> {
        let at = (h.stub_offset + k * STUB_SIZE as u32) as usize;
        let disp = i32::from_ne_bytes(image.get(at + 2..at + 6)?.try_into().ok()?);
        Some(i64::from(h.stub_offset + k * STUB_SIZE as u32) + 6 + i64::from(disp))
    };
    let (mut lo, mut hi) = (0, h.stub_count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match word_of(mid) {
            Some(w) if w == i64::from(word) => return h.stub_offset + mid * STUB_SIZE as u32,
            Some(w) if w < i64::from(word) => lo = mid + 1,
            Some(_) => hi = mid,
            None => return 0,
        }
    }
    0
}

/// How the caller binds an undefined symbol of the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// A symbol of another code object: the object's current start and the
    /// symbol's offset in it.
    Code {
        /// Start of the target code object.
        object: u64,
        /// Offset of the symbol in it.
        offset: u32,
    },
    /// A heap object referenced from code: its current start, and an offset
    /// into it (usually 0).
    Heap {
        /// Start of the heap object.
        object: u64,
        /// Offset into it.
        offset: u32,
    },
    /// A fixed runtime address (a runtime function, a static).
    Runtime {
        /// The address.
        address: u64,
    },
}

/// Why an image could not be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The binder did not know an undefined symbol.
    Unresolved {
        /// The symbol's name.
        name: String,
    },
    /// The image would exceed 4 GiB.
    TooLarge,
    /// A relocation inside the object could not be applied.
    Reloc {
        /// Where (section+offset).
        at: String,
        /// Why.
        error: RelocError,
    },
    /// The sidecar could not be encoded.
    Sidecar(EncodeError),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Unresolved { name } => write!(f, "undefined symbol {name}"),
            LayoutError::TooLarge => write!(f, "code object would exceed 4 GiB"),
            LayoutError::Reloc { at, error } => write!(f, "relocation at {at}: {error}"),
            LayoutError::Sidecar(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Why a relinking (or a look-up in an image) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelinkError {
    /// The header is invalid or inconsistent with the image.
    BadHeader(&'static str),
    /// The object's address does not have the alignment the header asks for.
    Misaligned {
        /// The address.
        address: u64,
        /// The required alignment.
        align: u32,
    },
    /// The sidecar is malformed.
    Sidecar(DecodeError),
    /// A sidecar site lies outside the code and GOT.
    SiteOutOfRange {
        /// The site's offset.
        offset: u32,
    },
    /// A target index (or self-relative offset) is out of range, or a target
    /// record is malformed.
    BadTarget {
        /// The target.
        target: Target,
    },
    /// A GOT-relative site whose target has no GOT slot.
    NoGotSlot {
        /// The site's offset.
        offset: u32,
    },
    /// A site could not be encoded (a target out of reach).
    Reloc {
        /// The site's offset.
        offset: u32,
        /// The target.
        target: Target,
        /// Why.
        error: RelocError,
    },
}

impl fmt::Display for RelinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelinkError::BadHeader(what) => write!(f, "invalid code object header: {what}"),
            RelinkError::Misaligned { address, align } => write!(
                f,
                "code object address {address:#x} is not {align}-byte aligned"
            ),
            RelinkError::Sidecar(e) => write!(f, "{e}"),
            RelinkError::SiteOutOfRange { offset } => write!(
                f,
                "relocation site at offset {offset:#x} lies outside the code"
            ),
            RelinkError::BadTarget { target } => write!(f, "invalid target {target}"),
            RelinkError::NoGotSlot { offset } => write!(
                f,
                "GOT-relative site at offset {offset:#x} refers to a target without a GOT slot"
            ),
            RelinkError::Reloc {
                offset,
                target,
                error,
            } => write!(f, "site at offset {offset:#x} ({target}): {error}"),
        }
    }
}

impl std::error::Error for RelinkError {}

impl From<DecodeError> for RelinkError {
    fn from(e: DecodeError) -> RelinkError {
        RelinkError::Sidecar(e)
    }
}

fn align_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}

impl Header {
    /// Reads the header at the start of `image` and the count block it
    /// points to, derives the regions' offsets, and checks them against
    /// the image's length (see [`Header::check`]).
    pub fn read(image: &[u8]) -> Result<Header, RelinkError> {
        let raw: &[u8; HEADER_SIZE] = image
            .get(..HEADER_SIZE)
            .and_then(|b| b.try_into().ok())
            .ok_or(RelinkError::BadHeader("image shorter than a header"))?;
        let u32_at = |at: usize| u32::from_ne_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_ne_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        if u32_at(0) != MAGIC {
            return Err(RelinkError::BadHeader("bad magic"));
        }
        let total_size = u32_at(TOTAL_SIZE_AT);
        if total_size as usize <= COUNTS_AT {
            return Err(RelinkError::BadHeader("count block outside the object"));
        }
        let bad = || RelinkError::BadHeader("bad count block");
        let counts = image
            .get(COUNTS_AT..total_size as usize)
            .ok_or(RelinkError::BadHeader("object larger than the image"))?;
        // Nine varints, nearly always one byte each: a fast path for those
        // (relinking reads the header on every pass).
        let mut values = [0u32; 9];
        let mut pos = 0;
        if let Some(nine) = counts.get(..9) {
            let first = u64::from_le_bytes(nine[..8].try_into().expect("8 bytes"));
            if first & 0x8080_8080_8080_8080 == 0 && nine[8] < 0x80 {
                for (value, &b) in values.iter_mut().zip(nine) {
                    *value = u32::from(b);
                }
                pos = 9;
            }
        }
        for value in values.iter_mut().skip(if pos == 9 { 9 } else { 0 }) {
            match counts.get(pos) {
                Some(&b) if b < 0x80 => {
                    *value = u32::from(b);
                    pos += 1;
                }
                _ => {
                    let v = sidecar::read_varint(counts, &mut pos).ok_or_else(bad)?;
                    *value = u32::try_from(v).map_err(|_| bad())?;
                }
            }
        }
        let [code_size, flags, entries, got_count, stub_count, code_targets, heap_targets, runtime_targets, sidecar_len] =
            values;
        let (entry_count, implicit_entry) = match entries {
            0 => (1, true),
            n => (n - 1, false),
        };
        let log2 = flags & 0xf;
        if flags >> 9 != 0 {
            return Err(RelinkError::BadHeader("bad flags"));
        }
        if !(MIN_ALIGN.trailing_zeros()..=crate::elf::MAX_ALIGN.trailing_zeros()).contains(&log2) {
            return Err(RelinkError::BadHeader("bad alignment"));
        }
        let mut header = Header {
            magic: MAGIC,
            version: VERSION,
            total_size,
            linked_at: u64_at(LINKED_AT),
            pool: u16::from_ne_bytes(raw[POOL_AT..POOL_AT + 2].try_into().expect("2 bytes")),
            unwind: u32_at(UNWIND_AT),
            code_size,
            align: 1 << log2,
            code_got: flags & CODE_GOT_FLAG != 0,
            direct: flags & DIRECT_FLAG != 0,
            heap_offset_width: [0, 1, 2, 4][(flags >> HEAP_WIDTH_SHIFT) as usize & 3],
            pool_stub: flags & POOL_STUB_FLAG != 0,
            entry_count,
            implicit_entry,
            got_count,
            stub_count,
            code_targets,
            heap_targets,
            runtime_targets,
            sidecar_len,
            ..Header::default()
        };
        header
            .derive_regions(pos as u64)
            .map_err(|_| RelinkError::BadHeader("regions extend past 4 GiB"))?;
        header.check(image.len())?;
        Ok(header)
    }

    /// The values of the count block, in order: the code's size, the
    /// flags, and the counts (see the type's docs).
    fn count_values(&self) -> [u32; 9] {
        let heap_width = match self.heap_offset_width {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 3,
        };
        let flags = self.align.trailing_zeros()
            | if self.code_got { CODE_GOT_FLAG } else { 0 }
            | if self.direct { DIRECT_FLAG } else { 0 }
            | if self.pool_stub { POOL_STUB_FLAG } else { 0 }
            | heap_width << HEAP_WIDTH_SHIFT;
        [
            self.code_size,
            flags,
            if self.implicit_entry {
                0
            } else {
                self.entry_count + 1
            },
            self.got_count,
            self.stub_count,
            self.code_targets,
            self.heap_targets,
            self.runtime_targets,
            self.sidecar_len,
        ]
    }

    /// Encodes the count block at [`COUNTS_AT`] of `image`, which must
    /// hold it ([`layout`] sizes images so).
    fn write_counts(&self, image: &mut [u8]) {
        let mut out = Vec::with_capacity(self.counts_len as usize);
        for v in self.count_values() {
            sidecar::put_varint(&mut out, u64::from(v));
        }
        image[COUNTS_AT..COUNTS_AT + out.len()].copy_from_slice(&out);
    }

    /// Computes the regions' offsets from the counts and sizes: the code
    /// at the end of the count block rounded up to `align`; then the GOT,
    /// the stubs, the target table, the entry table and the sidecar, each
    /// right after the previous one, unaligned. Fails when they would pass
    /// 4 GiB.
    pub fn derive(&mut self) -> Result<(), LayoutError> {
        let counts_len: u64 = self
            .count_values()
            .iter()
            .map(|&v| sidecar::varint_len(u64::from(v)) as u64)
            .sum();
        self.derive_regions(counts_len)
    }

    /// [`Header::derive`] for a count block of `counts_len` bytes.
    fn derive_regions(&mut self, counts_len: u64) -> Result<(), LayoutError> {
        let c = u64::from;
        let code_offset = align_up(COUNTS_AT as u64 + counts_len, c(self.align));
        let got_offset = code_offset + c(self.code_size);
        let stub_offset = got_offset + c(self.got_count) * GOT_SLOT_SIZE as u64;
        let target_offset = stub_offset + c(self.stub_count) * STUB_SIZE as u64;
        let target_len = c(self.code_targets) * TARGET_RECORD_SIZE as u64
            + c(self.heap_targets) * (8 + c(self.heap_offset_width))
            + c(self.runtime_targets) * RUNTIME_RECORD_SIZE as u64;
        let entry_offset = target_offset + target_len;
        let entry_width = Header::entry_width_for(code_offset + c(self.code_size));
        let sidecar_offset = entry_offset + entry_width * c(self.table_entries());
        let n = |v: u64| u32::try_from(v).map_err(|_| LayoutError::TooLarge);
        n(sidecar_offset + c(self.sidecar_len))?;
        self.counts_len = n(counts_len)?;
        self.code_offset = n(code_offset)?;
        self.got_offset = n(got_offset)?;
        self.stub_offset = n(stub_offset)?;
        self.target_offset = n(target_offset)?;
        self.target_len = n(target_len)?;
        self.entry_offset = n(entry_offset)?;
        self.sidecar_offset = n(sidecar_offset)?;
        Ok(())
    }

    /// Encodes the fixed header into the first [`HEADER_SIZE`] bytes of
    /// `image` (the count block is [`layout`]'s business and never
    /// changes).
    pub(crate) fn write(&self, image: &mut [u8]) {
        let raw = &mut image[..HEADER_SIZE];
        let mut put = |at: usize, bytes: &[u8]| raw[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.magic.to_ne_bytes());
        put(TOTAL_SIZE_AT, &self.total_size.to_ne_bytes());
        put(LINKED_AT, &self.linked_at.to_ne_bytes());
        put(UNWIND_AT, &self.unwind.to_ne_bytes());
        put(POOL_AT, &self.pool.to_ne_bytes());
    }

    /// Number of entries in the entry-point table (none when the entry
    /// is implicit, [`Header::implicit_entry`]).
    pub fn table_entries(&self) -> u32 {
        if self.implicit_entry {
            0
        } else {
            self.entry_count
        }
    }

    /// Size of an entry of the entry-point table: 2 bytes when the code
    /// ends within the first 64 KiB of the object (so every entry point
    /// fits), 4 otherwise.
    pub fn entry_width(&self) -> usize {
        Header::entry_width_for(u64::from(self.code_offset) + u64::from(self.code_size)) as usize
    }

    fn entry_width_for(code_end: u64) -> u64 {
        if code_end <= 1 << 16 {
            2
        } else {
            4
        }
    }

    /// Number of target records.
    pub fn target_count(&self) -> u64 {
        u64::from(self.code_targets)
            + u64::from(self.heap_targets)
            + u64::from(self.runtime_targets)
    }

    /// End of the GOT: sites lie in `code_offset..got_end()`.
    pub fn got_end(&self) -> u64 {
        u64::from(self.got_offset) + u64::from(self.got_count) * GOT_SLOT_SIZE as u64
    }

    /// End of the last region (the sidecar); `total_size` may add
    /// rounding.
    pub fn end(&self) -> u64 {
        u64::from(self.sidecar_offset) + u64::from(self.sidecar_len)
    }

    /// Checks that the object, whose regions [`Header::read`] derived,
    /// fits in `len` bytes: its regions end within `total_size`, itself
    /// within `len`.
    pub fn check(&self, len: usize) -> Result<(), RelinkError> {
        let bad = |what| Err(RelinkError::BadHeader(what));
        if self.magic != MAGIC {
            return bad("bad magic");
        }
        let total = u64::from(self.total_size);
        if total > len as u64 {
            return bad("object larger than the image");
        }
        if self.end() > total {
            return bad("regions extend past the end of the object");
        }
        Ok(())
    }

    /// Where the object's bytes go, from the header alone (the count
    /// block counts as header, the bytes between it and the code as
    /// padding). What lies past the sidecar (up to `total_size`) counts
    /// as rounding.
    pub fn sizes(&self) -> Sizes {
        let n = |v: u32| v as usize;
        let end = self.end() as usize;
        let mut sizes = Sizes {
            header: HEADER_SIZE + n(self.counts_len),
            entry_table: self.entry_width() * n(self.table_entries()),
            code: n(self.code_size),
            got: GOT_SLOT_SIZE * n(self.got_count),
            stubs: STUB_SIZE * n(self.stub_count),
            target_table: n(self.target_len),
            sidecar: n(self.sidecar_len),
            padding: 0,
            rounding: n(self.total_size).saturating_sub(end),
            total: n(self.total_size),
        };
        let regions = sizes.header
            + sizes.entry_table
            + sizes.code
            + sizes.got
            + sizes.stubs
            + sizes.target_table
            + sizes.sidecar;
        sizes.padding = end.saturating_sub(regions);
        sizes
    }

    /// The record of `target` at offset `at` of the target table `table`.
    #[inline]
    fn record(&self, table: &[u8], at: usize, target: Target) -> Option<TargetRecord> {
        let own = self.target_offset as usize + at;
        TargetRecord::read(self, table.get(at..)?, own, target)
    }

    #[inline]
    fn record_offset(&self, target: Target) -> Option<usize> {
        let count = match target.class() {
            TargetClass::Code => self.code_targets,
            TargetClass::Heap => self.heap_targets,
            TargetClass::Runtime => self.runtime_targets,
            TargetClass::SelfRelative | TargetClass::Direct => return None,
        };
        if target.index() >= count {
            return None;
        }
        let index = target.index() as usize;
        let code = self.code_targets as usize * TARGET_RECORD_SIZE;
        let heap = self.heap_record_size();
        Some(match target.class() {
            TargetClass::Code => index * TARGET_RECORD_SIZE,
            TargetClass::Heap => code + index * heap,
            _ => code + self.heap_targets as usize * heap + index * RUNTIME_RECORD_SIZE,
        })
    }

    /// Size of a Heap record: its word and its offset,
    /// [`heap_offset_width`](Header::heap_offset_width) bytes.
    #[inline]
    pub fn heap_record_size(&self) -> usize {
        8 + self.heap_offset_width as usize
    }

    /// Offset in the object of the record of `target` (a Code, Heap or
    /// Runtime target of the object), where its word lies.
    pub fn record_at(&self, target: Target) -> Option<u32> {
        let at = self.record_offset(target)?;
        Some(self.target_offset + at as u32)
    }

    /// The offset of the Heap record whose word is at `word_at` of
    /// `image` (as [`reference_offsets`] lists it): what the word holds
    /// beyond the heap object's start.
    pub fn heap_offset(&self, image: &[u8], word_at: usize) -> Option<u32> {
        read_narrow(image, word_at + 8, self.heap_offset_width)
    }
}

/// An exported function of a laid-out object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    /// The symbol's name.
    pub name: String,
    /// Offset from the start of the object.
    pub offset: u32,
}

/// A distinct target of a laid-out object, with the symbol it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetName {
    /// The symbol's name: an undefined symbol, or one of the object's own
    /// functions bound by name ([`own`](Self::own)).
    pub name: String,
    /// Its target.
    pub target: Target,
    /// A Code target bound to the object's own definition of `name`
    /// ([`LayoutOptions::interpose`]): its record's `offset` is the
    /// function's offset in this object, and its `base` must be set to the
    /// object's own (write-view) address before the image is linked
    /// ([`set_target_base`]); a collector then fixes and may rebind it
    /// like any Code record.
    pub own: bool,
}

/// A site of a laid-out object whose target is a [`Target::Direct`]: a
/// `rel32` call or jump to a function of another code object (or, bound
/// by name, of the object itself) that the site reaches from anywhere in
/// the object's code range. The site's field holds the target's address:
/// no target record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectSite {
    /// Offset of the site's field in the object.
    pub offset: u32,
    /// The symbol it refers to.
    pub name: String,
    /// The symbol's offset in its object.
    pub target_offset: u32,
    /// Bound to the object's own definition of `name`
    /// ([`LayoutOptions::interpose`]): its target is the object itself.
    pub own: bool,
}

/// A name sites are bound to, while an object is laid out.
#[derive(Clone)]
struct Bound {
    binding: Binding,
    /// Its target record, once one exists (Heap and Runtime targets
    /// always have one; Code targets only when a site is not Direct).
    target: Option<Target>,
    needs_stub: bool,
    needs_got: bool,
}

/// Options of [`layout_with`]: how it binds references to the object's
/// own symbols, and where the object will live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Bind references to the object's own *preemptible* functions
    /// ([`DefinedSymbol::preemptible`](crate::elf::DefinedSymbol::preemptible):
    /// global or weak, default visibility) through a Code target record
    /// named after the function and bound to the object itself, instead of
    /// resolving them once inside the image. Calls stay direct (a `rel32`
    /// call to the record's current address: the object's own function
    /// until someone rebinds the record), but they become sites of the
    /// sidecar, relinked with the others, and a redefinition of the name
    /// can rebind them, as ELF lets another definition preempt a shared
    /// library's default-visibility functions. Calls, jumps, PC-relative
    /// and GOT-relative references and 64-bit absolute fields are bound so;
    /// 32-bit absolute fields (which cannot follow code) and references to
    /// hidden, protected, internal or local symbols and to data stay
    /// resolved inside the object. Each distinct function so referred to
    /// costs one target record ([`TARGET_RECORD_SIZE`] bytes), a stub if
    /// it is called and a GOT slot if its address is loaded through the
    /// GOT. Default `false`: [`layout`] resolves every reference to a
    /// symbol of the object inside it, as `-Bsymbolic` does.
    pub interpose: bool,
    /// The address range `[start, end]` (execute view) inside which the
    /// object stays wherever it is moved, and inside which every Code
    /// target lies: an executable pool's code memory (at most 2 GiB).
    /// `None`: anywhere.
    pub code_range: Option<(u64, u64)>,
}

/// Size figures of a laid-out object.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayoutStats {
    /// Relocations in the ELF object (for the loaded sections).
    pub elf_relocations: usize,
    /// Of those, the ones resolved for good by [`layout`] (PC-relative
    /// inside the object, including relaxed GOT references).
    pub resolved: usize,
    /// The sidecar (entries for the remaining relocations and for local GOT
    /// slots).
    pub sidecar: SidecarStats,
    /// Number of target records.
    pub targets: usize,
    /// The object's own functions bound by name
    /// ([`LayoutOptions::interpose`]), each a Code record or Direct sites.
    pub own_targets: usize,
    /// Sites that reach a Code target directly ([`Target::Direct`]), with
    /// no target record.
    pub direct_sites: usize,
    /// Size of the target table in bytes.
    pub target_table_bytes: usize,
    /// Number of GOT slots.
    pub got_slots: usize,
    /// Number of stubs.
    pub stubs: usize,
    /// Size of the machine code and read-only data.
    pub code_bytes: usize,
    /// Size of the whole object.
    pub total_bytes: usize,
    /// Where the object's bytes go ([`Header::sizes`]; the pool adds its
    /// rounding to an installed object's).
    pub sizes: Sizes,
}

/// Where the bytes of a code object go, region by region. From an image
/// ([`Header::sizes`], [`LayoutStats::sizes`]) or summed over many objects
/// (`CodeTotals::sizes`); `overhead` and `ratio` compare the whole with
/// the machine code and read-only data it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// The header.
    pub header: usize,
    /// The entry-point table.
    pub entry_table: usize,
    /// Machine code and read-only data.
    pub code: usize,
    /// GOT slots.
    pub got: usize,
    /// Stubs.
    pub stubs: usize,
    /// The target table.
    pub target_table: usize,
    /// The relocation sidecar.
    pub sidecar: usize,
    /// Alignment padding between the regions.
    pub padding: usize,
    /// From the end of the last region to the object's size: rounding to
    /// the image's and the pool's alignment.
    pub rounding: usize,
    /// The whole object.
    pub total: usize,
}

impl Sizes {
    /// Adds `other`, region by region.
    pub fn add(&mut self, other: &Sizes) {
        self.zip(other, |a, b| *a += b);
    }

    /// Subtracts `other`, region by region.
    pub fn sub(&mut self, other: &Sizes) {
        self.zip(other, |a, b| *a -= b);
    }

    fn zip(&mut self, o: &Sizes, f: impl Fn(&mut usize, usize)) {
        f(&mut self.header, o.header);
        f(&mut self.entry_table, o.entry_table);
        f(&mut self.code, o.code);
        f(&mut self.got, o.got);
        f(&mut self.stubs, o.stubs);
        f(&mut self.target_table, o.target_table);
        f(&mut self.sidecar, o.sidecar);
        f(&mut self.padding, o.padding);
        f(&mut self.rounding, o.rounding);
        f(&mut self.total, o.total);
    }

    /// Everything but the code: `total - code`.
    pub fn overhead(&self) -> usize {
        self.total - self.code
    }

    /// `total / code` (0 without code): the density figure of issue 19.
    pub fn ratio(&self) -> f64 {
        if self.code == 0 {
            0.0
        } else {
            self.total as f64 / self.code as f64
        }
    }

    /// The regions with their names, in image order, for reports.
    pub fn regions(&self) -> [(&'static str, usize); 9] {
        [
            ("header", self.header),
            ("entry table", self.entry_table),
            ("code and rodata", self.code),
            ("GOT", self.got),
            ("stubs", self.stubs),
            ("target table", self.target_table),
            ("sidecar", self.sidecar),
            ("alignment padding", self.padding),
            ("allocation rounding", self.rounding),
        ]
    }
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes (", self.total)?;
        let mut first = true;
        for (name, bytes) in self.regions() {
            if bytes != 0 {
                write!(f, "{}{name} {bytes}", if first { "" } else { ", " })?;
                first = false;
            }
        }
        write!(f, "; {:.2}x the code)", self.ratio())
    }
}

/// A code object image, ready to be copied into the executable pool and
/// relinked for its address.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeImage {
    bytes: Vec<u8>,
    header: Header,
    entries: Vec<EntryPoint>,
    targets: Vec<TargetName>,
    direct: Vec<DirectSite>,
    stats: LayoutStats,
}

impl CodeImage {
    /// The image. Sites outside the object are not linked yet: [`relink`]
    /// the copy at its final address before running it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Size of the object (the length of [`CodeImage::bytes`]).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: an object has at least a header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Alignment the object's address must have.
    pub fn align(&self) -> u32 {
        self.header.align
    }

    /// The exported functions, in entry-table order.
    pub fn entries(&self) -> &[EntryPoint] {
        &self.entries
    }

    /// Offset of the exported function `name` from the object's start.
    pub fn entry(&self, name: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.offset)
    }

    /// The distinct targets and the symbols they came from.
    pub fn targets(&self) -> &[TargetName] {
        &self.targets
    }

    /// The target bound to symbol `name`.
    pub fn target(&self, name: &str) -> Option<Target> {
        self.targets
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.target)
    }

    /// The Code targets bound to the object's own functions
    /// ([`LayoutOptions::interpose`]): set each one's `base` to the
    /// object's address ([`set_target_base`]) before linking it with
    /// [`relink_from_table`] (or resolve them to `address + offset` in
    /// [`relink`]).
    pub fn own_targets(&self) -> impl Iterator<Item = Target> + '_ {
        self.targets.iter().filter(|t| t.own).map(|t| t.target)
    }

    /// The sites that reach a Code target by a direct call or jump
    /// ([`Target::Direct`]), in offset order. Before the image is linked
    /// with [`relink_from_table`], [`link_direct`] must encode each one's
    /// target (`object + offset` for the object its name is bound to, or
    /// for an own function the image's own address).
    pub fn direct_sites(&self) -> &[DirectSite] {
        &self.direct
    }

    /// Size figures.
    pub fn stats(&self) -> &LayoutStats {
        &self.stats
    }
}

/// Builds a code object image from a loaded ELF object. `bind` tells, for
/// each undefined symbol the object refers to, what it is; `None` is an
/// error. Every reference to a symbol of the object is resolved inside it.
/// Targets are not linked yet: call [`relink`] (or [`relink_from_table`])
/// on the copy at its final address.
///
/// The object may be relinked for any address: every call to another
/// object gets a stub and every GOT-relative site to one a GOT slot. See
/// [`layout_with`] for objects that stay in a known range.
pub fn layout(
    obj: &LoadedObject,
    bind: impl FnMut(&str) -> Option<Binding>,
) -> Result<CodeImage, LayoutError> {
    layout_with(obj, &LayoutOptions::default(), bind)
}

/// The image of a code pool's shared stub for the runtime function at
/// `address`, named `name`: one entry point, whose code jumps to the
/// address (`jmp [rip+0]`, then the address), and nothing to relink. A
/// pool installs one per runtime function that its objects call, and
/// binds their calls to it as to a function of another code object
/// (Direct sites in code memory), where each object would otherwise
/// hold a Runtime record and a stub of its own (issue 19, code density).
pub fn runtime_stub(name: &str, address: u64) -> CodeImage {
    let mut code = RUNTIME_STUB_JUMP.to_vec();
    code.extend_from_slice(&address.to_le_bytes());
    pool_stub(name, &code, &[])
}

/// The image of a forwarder: one entry point (named `name`, at
/// [`RUNTIME_STUB_ENTRY`]) whose code is a Direct jump (`jmp rel32`,
/// [`Target::Direct`]) to the function at offset `target_offset` of
/// another code object, which [`link_direct`] sets. A redefinition binds
/// to it the Direct sites whose offset field cannot hold the new
/// definition's offset (see `crate::sidecar`); like a runtime stub, a
/// pool's object ([`Header::pool_stub`]).
pub fn forwarder(name: &str, target_offset: u32) -> CodeImage {
    let site = Entry {
        offset: RUNTIME_STUB_ENTRY + 1,
        kind: RelocKind::Plt32,
        addend: -4,
        target: Target::Direct(target_offset),
    };
    pool_stub(name, &[0xe9, 0, 0, 0, 0], &[site])
}

/// The image of a pool's own object of one entry point (`name`, at
/// [`RUNTIME_STUB_ENTRY`]), `code`, with the sites `direct` (Direct
/// sites only; they keep their targets in their fields).
fn pool_stub(name: &str, code: &[u8], direct: &[Entry]) -> CodeImage {
    let sidecar = Sidecar::encode(direct).expect("sites apart");
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        align: MIN_ALIGN,
        code_size: code.len() as u32,
        entry_count: 1,
        implicit_entry: true,
        sidecar_len: sidecar.as_bytes().len() as u32,
        direct: !direct.is_empty(),
        pool_stub: true,
        ..Header::default()
    };
    header.derive().expect("a small object");
    let total = align_up(header.end(), 16);
    header.total_size = total as u32;
    let mut bytes = vec![0u8; total as usize];
    header.write(&mut bytes);
    let code_offset = header.code_offset as usize;
    bytes[COUNTS_AT..code_offset].fill(0xcc);
    header.write_counts(&mut bytes);
    bytes[code_offset..code_offset + code.len()].copy_from_slice(code);
    let at = header.sidecar_offset as usize;
    bytes[at..at + sidecar.as_bytes().len()].copy_from_slice(sidecar.as_bytes());
    let stats = LayoutStats {
        sidecar: sidecar.stats(),
        direct_sites: direct.len(),
        code_bytes: code.len(),
        total_bytes: total as usize,
        sizes: header.sizes(),
        ..LayoutStats::default()
    };
    debug_assert_eq!(Header::read(&bytes), Ok(header));
    debug_assert_eq!(header.code_offset, RUNTIME_STUB_ENTRY);
    CodeImage {
        bytes,
        header,
        entries: vec![EntryPoint {
            name: name.to_owned(),
            offset: header.code_offset,
        }],
        targets: Vec::new(),
        direct: Vec::new(),
        stats,
    }
}

/// Does a `kind` site with `addend` reach the target bound by `binding`
/// from everywhere in `range`, itself and the target moving anywhere the
/// range allows? A 32-bit displacement's reach is an interval, so the ends
/// of the range suffice. Heap objects may lie anywhere: never.
fn always_reaches(range: Option<(u64, u64)>, kind: RelocKind, addend: i64, to: &Binding) -> bool {
    let Some((lo, hi)) = range else {
        return false;
    };
    match *to {
        Binding::Code { .. } => {
            reloc::fits(kind, lo, hi, addend) && reloc::fits(kind, hi, lo, addend)
        }
        Binding::Runtime { address } => {
            reloc::fits(kind, lo, address, addend) && reloc::fits(kind, hi, address, addend)
        }
        Binding::Heap { .. } => false,
    }
}

/// [`layout`] with options. With [`LayoutOptions::interpose`], references
/// to the object's own preemptible functions get Code target records
/// ([`CodeImage::own_targets`]) whose `base` the caller sets to the
/// object's address before linking. For an object that stays inside
/// `options.code_range`, a call whose target every site in the range
/// reaches directly gets no stub, and a relaxable GOT-relative site
/// (`mov reg, [rip+x@GOTPCREL]`, `call [rip+x@GOTPCREL]`) whose target is
/// always in reach gets no GOT slot: every relink encodes it in its
/// direct form. Relinking such an image for an address outside the range
/// may fail with [`RelinkError::NoGotSlot`] or an out-of-reach
/// [`RelinkError::Reloc`].
pub fn layout_with(
    obj: &LoadedObject,
    options: &LayoutOptions,
    mut bind: impl FnMut(&str) -> Option<Binding>,
) -> Result<CodeImage, LayoutError> {
    let too_large = |_| LayoutError::TooLarge;
    let externals = obj.externals().len();

    // Every name a site may be bound to (its *bound name*): an external's
    // index, or (below) `externals + k` for the k-th own function bound by
    // name. Heap and Runtime records are made as the externals are bound;
    // a Code target gets a record only when a site needs one (a site that
    // is a Direct call needs none).
    let mut bound_names: Vec<Bound> = Vec::with_capacity(externals);
    let mut class_records: [Vec<(usize, TargetRecord)>; 3] = Default::default();
    for (i, name) in obj.externals().iter().enumerate() {
        let binding = bind(name).ok_or_else(|| LayoutError::Unresolved { name: name.clone() })?;
        let record = match binding {
            Binding::Code { .. } => None,
            Binding::Heap { object, offset } => Some((
                TargetClass::Heap,
                TargetRecord {
                    base: object,
                    offset,
                    ..Default::default()
                },
            )),
            Binding::Runtime { address } => Some((
                TargetClass::Runtime,
                TargetRecord {
                    base: address,
                    ..Default::default()
                },
            )),
        };
        let target = match record {
            Some((class, record)) => {
                let list = &mut class_records[class as usize];
                let index = u32::try_from(list.len()).map_err(too_large)?;
                list.push((i, record));
                Some(Target::new(class, index))
            }
            None => None,
        };
        bound_names.push(Bound {
            binding,
            target,
            needs_stub: false,
            needs_got: false,
        });
    }
    // The code starts after the count block, whose size depends on the
    // counts, some of which depend on where the code starts (the
    // sidecar's site offsets, the entry table's width): lay out from the
    // shortest count block, and again from a later start while the count
    // block does not fit (rarely, and a few times at most: the counts
    // only grow with the start, and the start grows on every try).
    let align = u64::from(obj.align().max(MIN_ALIGN));
    let mut code_offset = align_up((COUNTS_AT + MIN_COUNTS_LEN) as u64, align);
    loop {
        let placed = place(
            obj,
            options,
            bound_names.clone(),
            class_records.clone(),
            code_offset,
        )?;
        match placed {
            Ok(image) => return Ok(image),
            Err(later) => code_offset = later.max(code_offset + align),
        }
    }
}

/// [`layout_with`] once the externals are bound, with the code at
/// `code_offset`: the image, or `Err` with the later start the count
/// block needs.
fn place(
    obj: &LoadedObject,
    options: &LayoutOptions,
    mut bound_names: Vec<Bound>,
    mut class_records: [Vec<(usize, TargetRecord)>; 3],
    code_offset: u64,
) -> Result<Result<CodeImage, u64>, LayoutError> {
    let too_large = |_| LayoutError::TooLarge;
    let externals = obj.externals().len();
    // Own functions bound by name: their names (bound names from
    // `externals` on) and, by symbol index, their bound names.
    let mut own_names: Vec<String> = Vec::new();
    let mut own_bound: HashMap<u32, usize> = HashMap::new();
    let mut direct_sites: Vec<DirectSite> = Vec::new();

    let align = obj.align().max(MIN_ALIGN);
    let functions: Vec<_> = obj.functions().collect();
    let code_size = obj.image().len() as u64;
    let got_offset = code_offset + code_size;
    if got_offset > u64::from(u32::MAX) {
        return Err(LayoutError::TooLarge);
    }

    let mut code = obj.image().to_vec();
    let mut entries = Vec::new();
    let mut local_got: HashMap<u32, u32> = HashMap::new();
    let mut local_got_targets: Vec<u32> = Vec::new();
    let mut resolved = 0;
    let code_end = code_offset + code_size;
    let in_code = |o: i128| o >= i128::from(code_offset) && o <= i128::from(code_end);
    for r in obj.relocations() {
        let at = || format!("{}+{:#x}", obj.section_name(r.section), r.section_offset);
        // Instructions are only looked at in code, and never before the
        // start of the site's section: elsewhere a relaxable GOT
        // relocation is treated as a plain one.
        let in_text = obj
            .sections()
            .get(r.section as usize)
            .is_some_and(|s| s.kind == SectionKind::Text);
        let may_relax = r.kind.is_relaxable() && in_text && r.section_offset >= 2;
        let site = code_offset + u64::from(r.offset);
        let site32 = site as u32; // < got_offset <= u32::MAX

        // A reference to one of the object's own preemptible functions,
        // bound by name (see `LayoutOptions::interpose`).
        let own = r
            .symbol
            .filter(|_| {
                options.interpose && !matches!(r.kind, RelocKind::Abs32 | RelocKind::Abs32S)
            })
            .and_then(|i| Some((i, obj.symbols().get(i as usize)?)))
            .filter(|(_, sym)| sym.preemptible && sym.kind == SymbolKind::Function);
        // The bound name of a reference bound by name (an external, or an
        // own function).
        let named = match (own, r.target) {
            (Some((i, sym)), _) => Some(*own_bound.entry(i).or_insert_with(|| {
                own_names.push(sym.name.clone());
                // The object itself: in its code range like any Code
                // target (`always_reaches` looks at the class only).
                bound_names.push(Bound {
                    binding: Binding::Code {
                        object: 0,
                        // Inside the code: below got_offset <= u32::MAX.
                        offset: (code_offset + u64::from(sym.offset)) as u32,
                    },
                    target: None,
                    needs_stub: false,
                    needs_got: false,
                });
                bound_names.len() - 1
            })),
            (None, RelocTarget::External(e)) => Some(e as usize),
            (None, RelocTarget::Local(_)) => None,
        };
        if let Some(b) = named {
            let binding = bound_names[b].binding;
            let reaches = always_reaches(options.code_range, r.kind, r.addend, &binding);
            // A call or jump to another code object (or to an own
            // function) that is always in reach: the site's field holds
            // the target's address, no record needed.
            if let Binding::Code { offset, .. } = binding {
                if reaches && matches!(r.kind, RelocKind::Plt32 | RelocKind::Pc32) {
                    entries.push(Entry {
                        offset: site32,
                        kind: r.kind,
                        addend: r.addend,
                        target: Target::Direct(offset),
                    });
                    direct_sites.push(DirectSite {
                        offset: site32,
                        name: match obj.externals().get(b) {
                            Some(name) => name.clone(),
                            None => own_names[b - externals].clone(),
                        },
                        target_offset: offset,
                        own: b >= externals,
                    });
                    continue;
                }
            }
            let target = match bound_names[b].target {
                Some(target) => target,
                None => {
                    let Binding::Code { object, offset } = binding else {
                        unreachable!("Heap and Runtime records are made when bound")
                    };
                    let list = &mut class_records[TargetClass::Code as usize];
                    let target = Target::Code(u32::try_from(list.len()).map_err(too_large)?);
                    list.push((
                        b,
                        TargetRecord {
                            base: object,
                            offset,
                            ..Default::default()
                        },
                    ));
                    bound_names[b].target = Some(target);
                    target
                }
            };
            if r.kind == RelocKind::Plt32 && !reaches {
                bound_names[b].needs_stub = true;
            }
            let relaxable = may_relax
                && matches!(
                    reloc::got_form(&code, r.offset as usize),
                    GotForm::MovLoad | GotForm::CallIndirect
                );
            // Heap and Runtime records hold the address: their word is
            // the slot.
            let code_target = matches!(binding, Binding::Code { .. });
            if code_target && r.kind.uses_got() && !(relaxable && reaches) {
                bound_names[b].needs_got = true;
            }
            let kind = if r.kind.is_relaxable() && !may_relax {
                RelocKind::GotPcRel
            } else {
                r.kind
            };
            entries.push(Entry {
                offset: site32,
                kind,
                addend: r.addend,
                target,
            });
            continue;
        }
        match r.target {
            RelocTarget::Local(t) => {
                let s = code_offset + u64::from(t);
                let apply = |code: &mut [u8], target: u64| {
                    reloc::apply(code, r.offset as usize, r.kind, site, target, r.addend)
                        .map_err(|error| LayoutError::Reloc { at: at(), error })
                };
                match r.kind {
                    RelocKind::Pc32 | RelocKind::Plt32 | RelocKind::Pc64 => {
                        apply(&mut code, s)?;
                        resolved += 1;
                    }
                    RelocKind::Abs64 | RelocKind::Abs32 | RelocKind::Abs32S => {
                        // Fold the addend into the target when the sum stays
                        // inside the code (a section symbol plus an offset).
                        let sum = i128::from(s) + i128::from(r.addend);
                        let (target, addend) = if in_code(sum) {
                            (sum as u32, 0)
                        } else {
                            (s as u32, r.addend)
                        };
                        entries.push(Entry {
                            offset: site32,
                            kind: r.kind,
                            addend,
                            target: Target::SelfRelative(target),
                        });
                    }
                    RelocKind::GotPcRel | RelocKind::GotPcRelX | RelocKind::RexGotPcRelX => {
                        let relaxable = may_relax
                            && matches!(
                                reloc::got_form(&code, r.offset as usize),
                                GotForm::MovLoad | GotForm::CallIndirect
                            );
                        if relaxable {
                            reloc::set_got_form(&mut code, r.offset as usize, true);
                            apply(&mut code, s)?;
                        } else {
                            let next = local_got_targets.len() as u32;
                            let slot = *local_got.entry(s as u32).or_insert_with(|| {
                                local_got_targets.push(s as u32);
                                next
                            });
                            let slot_addr = got_offset + u64::from(slot) * GOT_SLOT_SIZE as u64;
                            apply(&mut code, slot_addr)?;
                        }
                        resolved += 1;
                    }
                }
            }
            RelocTarget::External(_) => unreachable!("bound by name above"),
        }
    }

    // GOT: local slots first, then one per external that needs one.
    let mut got_count = local_got_targets.len() as u64;
    for (slot, &t) in local_got_targets.iter().enumerate() {
        entries.push(Entry {
            offset: (got_offset + slot as u64 * GOT_SLOT_SIZE as u64) as u32,
            kind: RelocKind::Abs64,
            addend: 0,
            target: Target::SelfRelative(t),
        });
    }
    // A stub jumps through the target's address word: a Code target with
    // a stub needs a GOT slot. Code targets have slots all or none.
    let code_got = bound_names
        .iter()
        .any(|b| (b.needs_got || b.needs_stub) && matches!(b.binding, Binding::Code { .. }));
    if code_got {
        got_count += class_records[0].len() as u64;
    }
    let stub_count = bound_names.iter().filter(|b| b.needs_stub).count() as u64;
    let target_count: usize = class_records.iter().map(Vec::len).sum();
    let sidecar = Sidecar::encode(&entries).map_err(LayoutError::Sidecar)?;
    let counts = [
        functions.len(),
        got_count as usize,
        stub_count as usize,
        class_records[0].len(),
        class_records[1].len(),
        class_records[2].len(),
        sidecar.as_bytes().len(),
    ];
    if counts.iter().any(|&n| u32::try_from(n).is_err()) {
        return Err(LayoutError::TooLarge);
    }
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        align,
        entry_count: functions.len() as u32,
        implicit_entry: functions.len() == 1 && functions[0].offset == 0,
        code_size: code_size as u32,
        got_count: got_count as u32,
        stub_count: stub_count as u32,
        code_targets: class_records[0].len() as u32,
        heap_targets: class_records[1].len() as u32,
        runtime_targets: class_records[2].len() as u32,
        sidecar_len: sidecar.as_bytes().len() as u32,
        code_got,
        direct: !direct_sites.is_empty(),
        heap_offset_width: {
            let widest = class_records[TargetClass::Heap as usize]
                .iter()
                .map(|(_, r)| r.offset)
                .max()
                .unwrap_or(0);
            match widest {
                0 => 0,
                1..=0xff => 1,
                0x100..=0xffff => 2,
                _ => 4,
            }
        },
        ..Header::default()
    };
    header.derive()?;
    if u64::from(header.code_offset) != code_offset {
        return Ok(Err(u64::from(header.code_offset)));
    }
    debug_assert_eq!(u64::from(header.got_offset), got_offset);
    let total = align_up(header.end(), 16);
    header.total_size = u32::try_from(total).map_err(too_large)?;
    let stub_offset = u64::from(header.stub_offset);
    let target_offset = u64::from(header.target_offset);
    let entry_offset = u64::from(header.entry_offset);
    let sidecar_offset = u64::from(header.sidecar_offset);

    let mut bytes = vec![0u8; total as usize];
    header.write(&mut bytes);
    // Padding before the code is int3.
    bytes[COUNTS_AT..code_offset as usize].fill(0xcc);
    header.write_counts(&mut bytes);
    let mut entry_points = Vec::with_capacity(functions.len());
    for (i, f) in functions.iter().enumerate() {
        let offset = (code_offset + u64::from(f.offset)) as u32;
        if !header.implicit_entry {
            let width = header.entry_width();
            let at = entry_offset as usize + width * i;
            bytes[at..at + width].copy_from_slice(&offset.to_le_bytes()[..width]);
        }
        entry_points.push(EntryPoint {
            name: f.name.clone(),
            offset,
        });
    }
    bytes[code_offset as usize..code_end as usize].copy_from_slice(&code);
    // The records, in class order; stubs in the same order, so sorted by
    // the words they jump through (Code targets' GOT slots, in record
    // order, come before the table).
    let mut targets = Vec::with_capacity(target_count);
    let mut next_stub = stub_offset as u32;
    for (class, list) in class_records.iter().enumerate() {
        for (i, &(e, record)) in list.iter().enumerate() {
            let class = [TargetClass::Code, TargetClass::Heap, TargetClass::Runtime][class];
            let target = Target::new(class, i as u32);
            let at = target_offset as usize + header.record_offset(target).expect("in range");
            record.write(&header, &mut bytes[at..], class);
            if bound_names[e].needs_stub {
                let word = TargetRecord::read(&header, &bytes[at..], at, target)
                    .expect("written above")
                    .got;
                let stub = next_stub as usize;
                bytes[stub..stub + STUB_SIZE].copy_from_slice(&stub_code(next_stub, word));
                next_stub += STUB_SIZE as u32;
            }
            let externals = obj.externals().len();
            targets.push(TargetName {
                name: match obj.externals().get(e) {
                    Some(name) => name.clone(),
                    None => own_names[e - externals].clone(),
                },
                target,
                own: e >= externals,
            });
        }
    }
    bytes[sidecar_offset as usize..sidecar_offset as usize + sidecar.as_bytes().len()]
        .copy_from_slice(sidecar.as_bytes());

    let stats = LayoutStats {
        elf_relocations: obj.relocations().len(),
        resolved,
        sidecar: sidecar.stats(),
        targets: target_count,
        own_targets: own_names.len(),
        direct_sites: direct_sites.len(),
        target_table_bytes: header.target_len as usize,
        got_slots: got_count as usize,
        stubs: stub_count as usize,
        code_bytes: code_size as usize,
        total_bytes: total as usize,
        sizes: header.sizes(),
    };
    debug_assert_eq!(Header::read(&bytes), Ok(header));
    Ok(Ok(CodeImage {
        bytes,
        header,
        entries: entry_points,
        targets,
        direct: direct_sites,
        stats,
    }))
}

/// What a relinking did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelinkStats {
    /// Sidecar sites re-encoded.
    pub sites: usize,
    /// Sites that reach their target directly.
    pub direct: usize,
    /// Calls sent through a stub (target out of reach).
    pub via_stub: usize,
    /// GOT-relative sites left going through their GOT slot.
    pub via_got: usize,
    /// GOT-relative sites relaxed to the direct form.
    pub relaxed: usize,
    /// Stubs of the object (each jumps through its target's address word).
    pub stub_slots: usize,
    /// GOT slots of targets written.
    pub got_slots: usize,
}

/// Re-encodes every site of the code object in `image` for the object at
/// address `self_addr`, with `resolve` giving the current address of each
/// Code, Heap and Runtime target (self-relative targets are computed from
/// `self_addr`). The target table in the image is not consulted for
/// addresses, only for its GOT slots and stubs; the words of its Heap and
/// Runtime records, which hold their targets' addresses, are set to
/// `resolve`'s.
///
/// `image` is the object's bytes, seen through a writable mapping; `self_addr`
/// is the address at which it executes (they differ when the pool maps its
/// memory twice, read+write and read+execute).
///
/// Everything is checked before anything is written: on error the image is
/// unchanged. `resolve` is called once or twice per site (to check, and
/// again to write when the object has more sites than relinking plans
/// writes for) and must give the same answers both times. No memory is
/// allocated, so this can run while the world is stopped.
pub fn relink(
    image: &mut [u8],
    self_addr: u64,
    resolve: impl Fn(&Target) -> u64,
) -> Result<RelinkStats, RelinkError> {
    let header = Header::read(image)?;
    let stats = relink_with(
        image,
        header,
        self_addr,
        |_, _, t| Ok(resolve(&t)),
        |_, s| Ok(s),
    )?;
    // Heap and Runtime records hold their target's address (the word
    // their GOT-relative sites and stubs read): the resolver's.
    let header = Header::read(image)?;
    for (class, count) in [
        (TargetClass::Heap, header.heap_targets),
        (TargetClass::Runtime, header.runtime_targets),
    ] {
        for index in 0..count {
            let target = Target::new(class, index);
            let at = header.record_offset(target).unwrap_or(0) + header.target_offset as usize;
            image[at..at + 8].copy_from_slice(&resolve(&target).to_ne_bytes());
        }
    }
    Ok(stats)
}

/// Like [`relink`], taking every target's address from the image's own
/// target table. This is what a collector's scan method calls after fixing
/// the references of the table (see [`reference_offsets`]).
///
/// `code_delta` is the distance from the address at which code objects are
/// written (the address the collector knows them by, which Code records
/// hold in `base`) to the address at which they execute: an executable pool
/// that maps its memory twice (read+write, read+execute) has
/// `exec = write + code_delta`; 0 when code runs where it is written. So a
/// Code target is at `base + code_delta + offset`, a Heap or Runtime target
/// at `base + offset`. `self_addr` is, as for [`relink`], the object's
/// execute address.
pub fn relink_from_table(
    image: &mut [u8],
    self_addr: u64,
    code_delta: i64,
) -> Result<RelinkStats, RelinkError> {
    let header = Header::read(image)?;
    relink_from_table_with(image, header, self_addr, code_delta, |_, s| Ok(s))
}

/// [`relink_from_table`] with the image's header, read by the caller
/// ([`Header::read`] on the same image, which only the target table's
/// words, the sites and Direct entries' offsets may have changed since),
/// and `direct` giving the current address of each Direct site's target
/// from the entry's offset in its object and the address its field
/// encodes ([`direct_target`]): a scan method fixes Direct targets so,
/// inside the relinking, when the object moved. `direct` is called once
/// or twice per Direct site and must give the same answers both times.
pub(crate) fn relink_from_table_with(
    image: &mut [u8],
    header: Header,
    self_addr: u64,
    code_delta: i64,
    direct: impl Fn(u32, u64) -> Result<u64, RelinkError>,
) -> Result<RelinkStats, RelinkError> {
    relink_with(
        image,
        header,
        self_addr,
        |header, table, t| {
            let at = header
                .record_offset(t)
                .ok_or(RelinkError::BadTarget { target: t })?;
            let record = header
                .record(table, at, t)
                .ok_or(RelinkError::BadTarget { target: t })?;
            Ok(match t {
                Target::Code(_) => record.address().wrapping_add_signed(code_delta),
                _ => record.address(),
            })
        },
        direct,
    )
}

fn relink_with(
    image: &mut [u8],
    mut header: Header,
    self_addr: u64,
    resolve: impl Fn(&Header, &[u8], Target) -> Result<u64, RelinkError>,
    direct: impl Fn(u32, u64) -> Result<u64, RelinkError>,
) -> Result<RelinkStats, RelinkError> {
    if self_addr % u64::from(header.align) != 0 {
        return Err(RelinkError::Misaligned {
            address: self_addr,
            align: header.align,
        });
    }
    if self_addr
        .checked_add(u64::from(header.total_size))
        .is_none()
    {
        return Err(RelinkError::BadHeader(
            "object would wrap around the address space",
        ));
    }
    let (body, tail) = image.split_at_mut(header.target_offset as usize);
    let table = &tail[..header.target_len as usize];
    let sidecar_start = (header.sidecar_offset - header.target_offset) as usize;
    let sidecar = &tail[sidecar_start..sidecar_start + header.sidecar_len as usize];
    let pass = Pass {
        header: &header,
        table,
        sidecar,
        self_addr,
        resolve: &resolve,
        direct: &direct,
    };
    // The check pass plans the writes; when they all fit in the plan,
    // performing them is the write pass (no second decoding of the
    // sidecar), otherwise a second pass computes everything again.
    let mut plan = Plan::new();
    let stats = pass.run(body, Some(&mut plan))?;
    if plan.complete {
        plan.apply(body);
    } else {
        pass.run(body, None)?;
    }
    header.linked_at = self_addr;
    header.write(body);
    Ok(stats)
}

/// How many writes the check pass of a relinking plans at most (a site
/// takes one or two, a GOT slot one).
const PLANNED_WRITES: usize = 32;

/// One write a relinking planned: the first `len` of `bytes` at `at` in
/// the object's body, checked to lie inside it.
#[derive(Clone, Copy)]
struct PlannedWrite {
    at: u32,
    len: u8,
    bytes: [u8; 8],
}

/// The writes the check pass of a relinking planned, in the order the
/// write pass would make them; when they all fit (`complete`), performing
/// them is the whole write pass. On the stack: relinking allocates nothing.
struct Plan {
    writes: [MaybeUninit<PlannedWrite>; PLANNED_WRITES],
    len: usize,
    complete: bool,
}

impl Plan {
    #[inline]
    fn new() -> Plan {
        Plan {
            writes: [const { MaybeUninit::uninit() }; PLANNED_WRITES],
            len: 0,
            complete: true,
        }
    }

    /// Plans writing `bytes` (at most 8) at `at`, which the caller checked
    /// lies inside the body.
    #[inline]
    fn push(&mut self, at: usize, bytes: &[u8]) {
        if self.len == PLANNED_WRITES {
            self.complete = false;
            return;
        }
        let mut write = PlannedWrite {
            at: at as u32,
            len: bytes.len() as u8,
            bytes: [0; 8],
        };
        write.bytes[..bytes.len()].copy_from_slice(bytes);
        self.writes[self.len] = MaybeUninit::new(write);
        self.len += 1;
    }

    /// Performs the planned writes on `body` (the one they were planned
    /// for).
    #[inline]
    fn apply(&self, body: &mut [u8]) {
        for write in &self.writes[..self.len] {
            // SAFETY: `push` initialised the first `len` elements.
            let write = unsafe { write.assume_init_ref() };
            let (at, len) = (write.at as usize, usize::from(write.len));
            body[at..at + len].copy_from_slice(&write.bytes[..len]);
        }
    }
}

/// Switches the relaxable GOT site at `rel` in the code (which starts at
/// `code_start` in `body`) to the relaxed form or back, or plans that.
#[inline]
fn set_form(
    body: &mut [u8],
    code_start: usize,
    rel: usize,
    relaxed: bool,
    plan: Option<&mut Plan>,
) {
    match plan {
        None => {
            reloc::set_got_form(&mut body[code_start..], rel, relaxed);
        }
        Some(plan) => {
            if let Some(bytes) = reloc::got_form_bytes(&body[code_start..], rel, relaxed) {
                plan.push(code_start + rel - 2, &bytes);
            }
        }
    }
}

struct Pass<'a, R, D> {
    header: &'a Header,
    table: &'a [u8],
    sidecar: &'a [u8],
    self_addr: u64,
    resolve: &'a R,
    /// The current address of a Direct site's target, from the entry's
    /// offset and the address the field encodes.
    direct: &'a D,
}

impl<R, D> Pass<'_, R, D>
where
    R: Fn(&Header, &[u8], Target) -> Result<u64, RelinkError>,
    D: Fn(u32, u64) -> Result<u64, RelinkError>,
{
    #[inline]
    fn record(&self, target: Target) -> Result<TargetRecord, RelinkError> {
        self.header
            .record_offset(target)
            .and_then(|at| self.header.record(self.table, at, target))
            .ok_or(RelinkError::BadTarget { target })
    }

    #[inline]
    fn address(&self, target: Target) -> Result<u64, RelinkError> {
        match target {
            Target::SelfRelative(offset) => {
                if offset > self.header.total_size {
                    return Err(RelinkError::BadTarget { target });
                }
                Ok(self.self_addr + u64::from(offset))
            }
            _ => (self.resolve)(self.header, self.table, target),
        }
    }

    /// Checks the relinking and plans its writes into `plan`, or, without a
    /// plan, performs it.
    fn run(
        &self,
        body: &mut [u8],
        mut plan: Option<&mut Plan>,
    ) -> Result<RelinkStats, RelinkError> {
        let h = self.header;
        let mut stats = RelinkStats::default();

        // The GOT slots of Code targets. Heap and Runtime records hold
        // their target's address themselves; a stub jumps through its
        // target's address word.
        let classes = [
            (TargetClass::Code, h.code_targets),
            (TargetClass::Heap, h.heap_targets),
            (TargetClass::Runtime, h.runtime_targets),
        ];
        for (class, count) in classes {
            for index in 0..count {
                let target = Target::new(class, index);
                let record = self.record(target)?;
                if class == TargetClass::Code && record.got != 0 {
                    let address = self.address(target)?;
                    let at = record.got as usize;
                    match plan.as_deref_mut() {
                        None => {
                            reloc::write_u64(body, at, address);
                        }
                        // write_u64 writes nothing outside the body.
                        Some(plan) if at.checked_add(8).is_some_and(|end| end <= body.len()) => {
                            plan.push(at, &address.to_le_bytes());
                        }
                        Some(_) => {}
                    }
                    stats.got_slots += 1;
                }
            }
        }

        stats.stub_slots = h.stub_count as usize;

        // The sites.
        let code_start = h.code_offset as usize;
        let site_end = h.got_end();
        for entry in sidecar::decode(self.sidecar) {
            let entry = entry?;
            stats.sites += 1;
            let offset = entry.offset;
            let target = entry.target;
            if (offset as usize) < code_start || entry.end() > site_end {
                return Err(RelinkError::SiteOutOfRange { offset });
            }
            let site = self.self_addr + u64::from(offset);
            let s = match target {
                Target::Direct(offset) => (self.direct)(
                    offset,
                    direct_target(body, h, &entry).ok_or(RelinkError::BadTarget { target })?,
                )?,
                _ => self.address(target)?,
            };
            let kind = entry.kind;
            let addend = entry.addend;
            let fail = |error| RelinkError::Reloc {
                offset,
                target,
                error,
            };
            let put =
                |body: &mut [u8], plan: Option<&mut Plan>, to: u64| -> Result<(), RelinkError> {
                    match plan {
                        None => reloc::apply(body, offset as usize, kind, site, to, addend)
                            .map_err(fail),
                        Some(plan) => {
                            reloc::check_bounds(kind, offset as usize, body.len()).map_err(fail)?;
                            let value = reloc::compute(kind, site, to, addend).map_err(fail)?;
                            plan.push(offset as usize, &value.to_le_bytes()[..kind.width()]);
                            Ok(())
                        }
                    }
                };
            match kind {
                RelocKind::Plt32 => {
                    if reloc::fits(kind, site, s, addend) {
                        put(body, plan.as_deref_mut(), s)?;
                        stats.direct += 1;
                    } else {
                        let stub = match target {
                            Target::SelfRelative(_) => 0,
                            _ => match self.record(target)?.got {
                                0 => 0,
                                word => stub_for(h, body, word),
                            },
                        };
                        if stub == 0 || addend != kind.usual_addend() {
                            // No way round: a stub only forwards to the
                            // target itself, without an offset.
                            return Err(fail(RelocError::Overflow {
                                kind,
                                site,
                                target: s,
                                addend,
                            }));
                        }
                        let entry_addr = self.self_addr + u64::from(stub);
                        put(body, plan.as_deref_mut(), entry_addr)?;
                        stats.via_stub += 1;
                    }
                }
                RelocKind::GotPcRel | RelocKind::GotPcRelX | RelocKind::RexGotPcRelX => {
                    let got = match target {
                        Target::SelfRelative(_) => 0,
                        _ => self.record(target)?.got,
                    };
                    // Instruction bytes are looked for inside the code only.
                    let rel = offset as usize - code_start;
                    let form = if kind.is_relaxable() {
                        reloc::got_form(&body[code_start..], rel)
                    } else {
                        GotForm::Other
                    };
                    if form != GotForm::Other && reloc::fits(kind, site, s, addend) {
                        set_form(body, code_start, rel, true, plan.as_deref_mut());
                        put(body, plan.as_deref_mut(), s)?;
                        stats.relaxed += 1;
                    } else if got == 0 {
                        // Laid out for a range in which the target is
                        // always in reach (layout_with): it has no slot.
                        return Err(RelinkError::NoGotSlot { offset });
                    } else {
                        if form != GotForm::Other {
                            set_form(body, code_start, rel, false, plan.as_deref_mut());
                        }
                        put(body, plan.as_deref_mut(), self.self_addr + u64::from(got))?;
                        stats.via_got += 1;
                    }
                }
                _ => {
                    put(body, plan.as_deref_mut(), s)?;
                    stats.direct += 1;
                }
            }
        }
        Ok(stats)
    }
}

/// Is `entry` a Direct site of the object (header `h`) that can be
/// decoded: a `rel32` call or jump inside the code, in an object linked
/// before?
fn direct_site(h: &Header, entry: &Entry) -> bool {
    matches!(entry.target, Target::Direct(_))
        && matches!(entry.kind, RelocKind::Plt32 | RelocKind::Pc32)
        && h.linked_at != 0
        && entry.offset >= h.code_offset
        && entry.end() <= u64::from(h.code_offset) + u64::from(h.code_size)
}

/// The address (execute view) that the field of Direct site `entry`
/// ([`Target::Direct`]) of the object with header `h` encodes: the field
/// holds `S + A - P` for `P` the site's address when the object was last
/// linked (`h.linked_at` plus the site's offset), so `S` is that plus the
/// field minus the addend. `body` is the object's bytes (at least up to
/// the end of its code). `None` when the entry is not such a site, or the
/// object was never linked.
///
/// A collector's scan method fixes the target object's start, `S` minus
/// the Direct target's offset (minus the distance from the write view to
/// the execute view), and stores a changed address back with
/// [`set_direct_target`], before [`relink_from_table`] re-encodes the site
/// for the object's own current address.
pub fn direct_target(body: &[u8], h: &Header, entry: &Entry) -> Option<u64> {
    if !direct_site(h, entry) {
        return None;
    }
    let field = reloc::read_field(body, entry.offset as usize, entry.kind).ok()?;
    Some(
        h.linked_at
            .wrapping_add(u64::from(entry.offset))
            .wrapping_add(field as u64)
            .wrapping_sub(entry.addend as u64),
    )
}

/// Stores `target` (an execute-view address) in the field of Direct site
/// `entry` of the object with header `h`, relative to `h.linked_at` as
/// [`direct_target`] reads it. Nothing is written on error.
pub fn set_direct_target(
    body: &mut [u8],
    h: &Header,
    entry: &Entry,
    target: u64,
) -> Result<(), RelinkError> {
    if !direct_site(h, entry) {
        return Err(RelinkError::BadTarget {
            target: entry.target,
        });
    }
    let site = h.linked_at.wrapping_add(u64::from(entry.offset));
    reloc::apply(
        body,
        entry.offset as usize,
        entry.kind,
        site,
        target,
        entry.addend,
    )
    .map_err(|error| RelinkError::Reloc {
        offset: entry.offset,
        target: entry.target,
        error,
    })
}

/// Links the Direct sites of a fresh image (or of a copy about to be
/// relinked at another address) for an object at `self_addr` (execute
/// view): sets `linked_at` to `self_addr` and stores in each Direct site
/// the address `target` gives for it (an execute-view address, `None`
/// for an unknown site is an error). Call it before
/// [`relink_from_table`], which decodes those sites. Everything is checked
/// before anything is written.
pub fn link_direct(
    image: &mut [u8],
    self_addr: u64,
    target: impl Fn(&Entry) -> Option<u64>,
) -> Result<(), RelinkError> {
    let mut header = Header::read(image)?;
    if self_addr == 0 {
        return Err(RelinkError::BadHeader("linking for address 0"));
    }
    header.linked_at = self_addr;
    let (body, tail) = image.split_at_mut(header.sidecar_offset as usize);
    let sidecar = &tail[..header.sidecar_len as usize];
    for write in [false, true] {
        for entry in sidecar::decode(sidecar) {
            let entry = entry?;
            if !matches!(entry.target, Target::Direct(_)) {
                continue;
            }
            let to = target(&entry).ok_or(RelinkError::BadTarget {
                target: entry.target,
            })?;
            if write {
                set_direct_target(body, &header, &entry, to)?;
            } else {
                if !direct_site(&header, &entry) {
                    return Err(RelinkError::BadTarget {
                        target: entry.target,
                    });
                }
                let site = self_addr.wrapping_add(u64::from(entry.offset));
                reloc::compute(entry.kind, site, to, entry.addend).map_err(|error| {
                    RelinkError::Reloc {
                        offset: entry.offset,
                        target: entry.target,
                        error,
                    }
                })?;
            }
        }
    }
    header.write(body);
    Ok(())
}

/// Reads and checks the header of a code object image.
pub fn header(image: &[u8]) -> Result<Header, RelinkError> {
    Header::read(image)
}

/// The record of `target` in the image's target table.
pub fn target_record(image: &[u8], target: Target) -> Result<TargetRecord, RelinkError> {
    let header = Header::read(image)?;
    let mut record = header
        .record_offset(target)
        .and_then(|at| header.record(&image[header.target_offset as usize..], at, target))
        .ok_or(RelinkError::BadTarget { target })?;
    if record.got != 0 {
        record.stub = stub_for(&header, image, record.got);
    }
    Ok(record)
}

/// Sets the `base` of `target`'s record (the collector does the same
/// through [`reference_offsets`]; this is for callers that rebind a
/// target, and for tests).
pub fn set_target_base(image: &mut [u8], target: Target, base: u64) -> Result<(), RelinkError> {
    let header = Header::read(image)?;
    let at = header
        .record_offset(target)
        .ok_or(RelinkError::BadTarget { target })?;
    let start = header.target_offset as usize;
    let mut record = header
        .record(&image[start..], at, target)
        .ok_or(RelinkError::BadTarget { target })?;
    record.base = base;
    record.write(&header, &mut image[start + at..], target.class());
    Ok(())
}

/// The byte offsets, within the object, of the words of its Code and Heap
/// records: the references a collector's scan method must fix before
/// calling [`relink_from_table`]. Each is a (4-aligned) word holding the
/// address of the start of a collected object, plus, for a Heap record,
/// the record's `offset` (the `u32` 8 bytes after the word): fix `word -
/// offset`, store the result plus `offset`.
pub fn reference_offsets(
    image: &[u8],
) -> Result<impl Iterator<Item = (Target, usize)>, RelinkError> {
    Ok(reference_offsets_of(Header::read(image)?))
}

/// [`reference_offsets`] from the image's header, read by the caller.
pub(crate) fn reference_offsets_of(header: Header) -> impl Iterator<Item = (Target, usize)> {
    let start = header.target_offset as usize;
    let code = (0..header.code_targets).map(Target::Code);
    let heap = (0..header.heap_targets).map(Target::Heap);
    code.chain(heap).map(move |t| {
        // In range: the header check tied target_len to the counts.
        let at = header.record_offset(t).unwrap_or(0);
        (t, start + at)
    })
}

/// The encoded sidecar of a code object image (decode it with
/// [`sidecar::decode`]).
pub fn sidecar_bytes(image: &[u8]) -> Result<&[u8], RelinkError> {
    let header = Header::read(image)?;
    let start = header.sidecar_offset as usize;
    Ok(&image[start..start + header.sidecar_len as usize])
}

/// The offset of entry point `index` (the `index`-th exported function).
pub fn entry_point(image: &[u8], index: u32) -> Result<u32, RelinkError> {
    let header = Header::read(image)?;
    if index >= header.entry_count {
        return Err(RelinkError::BadHeader("entry point index out of range"));
    }
    if header.implicit_entry {
        return Ok(header.code_offset);
    }
    let width = header.entry_width();
    let at = header.entry_offset as usize + width * index as usize;
    let mut raw = [0u8; 4];
    raw[..width].copy_from_slice(
        image
            .get(at..at + width)
            .ok_or(RelinkError::BadHeader("entry point table"))?,
    );
    let offset = u32::from_le_bytes(raw);
    if offset < header.code_offset
        || u64::from(offset) >= u64::from(header.code_offset) + u64::from(header.code_size)
    {
        return Err(RelinkError::BadHeader("entry point outside the code"));
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::{sample, ElfBuilder, TestSection, TestSymbol};
    use crate::elf::{load, SectionKind};
    use crate::sidecar::tests::Rng;
    use object::elf as e;

    const EXT: u64 = 0x7f12_3456_7000;

    fn sample_image() -> CodeImage {
        let obj = load(&sample().build()).unwrap();
        layout(&obj, |name| {
            (name == "ext").then_some(Binding::Runtime { address: EXT })
        })
        .unwrap()
    }

    fn field(bytes: &[u8], offset: u32, kind: RelocKind) -> i64 {
        reloc::read_field(bytes, offset as usize, kind).unwrap()
    }

    #[test]
    fn sample_layout() {
        let image = sample_image();
        let h = *image.header();
        assert_eq!(h.magic, MAGIC);
        assert_eq!(h.entry_count, 2);
        // The header 0..22, the count block 22..31, one byte of padding
        // (int3) to the code's alignment: code 32..72, no GOT, one stub
        // 72..78, one runtime record 78..86, two 16-bit entries 86..90,
        // the sidecar.
        assert_eq!((HEADER_SIZE, h.counts_len), (22, 9));
        assert_eq!(h.code_offset, 32);
        assert_eq!(
            (h.got_offset, h.stub_offset, h.target_offset, h.entry_offset),
            (72, 72, 78, 86)
        );
        assert_eq!(h.entry_width(), 2);
        assert_eq!(h.sidecar_offset, 90);
        assert_eq!(u64::from(h.total_size), align_up(h.end(), 16));
        let sizes = image.stats().sizes;
        assert_eq!((sizes.header, sizes.padding), (31, 1));
        assert_eq!(sizes.total, image.len());
        assert_eq!(
            sizes.regions().iter().map(|r| r.1).sum::<usize>(),
            sizes.total
        );
        assert_eq!(h.code_size, 40);
        assert_eq!((h.got_count, h.stub_count), (0, 1));
        assert_eq!(
            (h.code_targets, h.heap_targets, h.runtime_targets),
            (0, 0, 1)
        );
        assert_eq!(h.total_size as usize, image.len());
        assert_eq!(image.len() % 16, 0);
        assert_eq!(image.entry("f"), Some(32));
        assert_eq!(image.entry("g"), Some(50));
        assert_eq!(entry_point(image.bytes(), 0), Ok(50));
        assert_eq!(entry_point(image.bytes(), 1), Ok(32));
        assert!(entry_point(image.bytes(), 2).is_err());
        assert_eq!(image.target("ext"), Some(Target::Runtime(0)));
        let stats = image.stats();
        assert_eq!((stats.elf_relocations, stats.resolved), (4, 2));
        assert_eq!(stats.sidecar.relocs, 2);
        assert_eq!(stats.target_table_bytes, RUNTIME_RECORD_SIZE);
        // The internal call f -> g is resolved for good.
        assert_eq!(field(image.bytes(), 33, RelocKind::Pc32), 50 - 37);
        // The lea of .rodata (at code+24) too.
        assert_eq!(field(image.bytes(), 45, RelocKind::Pc32), 32 + 24 - 45);
        let entries = sidecar::decode_all(sidecar_bytes(image.bytes()).unwrap()).unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    offset: 38,
                    kind: RelocKind::Plt32,
                    addend: -4,
                    target: Target::Runtime(0)
                },
                Entry {
                    offset: 64,
                    kind: RelocKind::Abs64,
                    addend: 0,
                    target: Target::SelfRelative(32)
                },
            ]
        );
        let record = target_record(image.bytes(), Target::Runtime(0)).unwrap();
        assert_eq!(
            record,
            TargetRecord {
                base: EXT,
                offset: 0,
                stub: h.stub_offset,
                got: h.target_offset,
            }
        );
        assert_eq!(reference_offsets(image.bytes()).unwrap().count(), 0);
    }

    #[test]
    fn relink_direct_then_stub_then_direct() {
        let image = sample_image();
        let h = *image.header();
        let mut bytes = image.bytes().to_vec();
        let resolve = |t: &Target| {
            assert_eq!(*t, Target::Runtime(0));
            EXT
        };
        // Near: direct.
        let near = EXT + 0x1000_0000;
        let stats = relink(&mut bytes, near, resolve).unwrap();
        assert_eq!(
            stats,
            RelinkStats {
                sites: 2,
                direct: 2,
                stub_slots: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            field(&bytes, 38, RelocKind::Plt32),
            EXT as i64 - (near as i64 + 42)
        );
        assert_eq!(field(&bytes, 64, RelocKind::Abs64) as u64, near + 32);
        assert_eq!(header(&bytes).unwrap().linked_at, near);
        // The stub jumps through the runtime record's word, which holds
        // the address.
        let stub = h.stub_offset as usize;
        assert_eq!(field(&bytes, h.target_offset, RelocKind::Abs64) as u64, EXT);
        assert_eq!(bytes[stub..stub + 2], [0xff, 0x25]);
        assert_eq!(
            field(&bytes, h.stub_offset + 2, RelocKind::Pc32),
            i64::from(h.target_offset) - i64::from(h.stub_offset + 6)
        );
        // Far: through the stub.
        let far = 0x1000_0000;
        let stats = relink(&mut bytes, far, resolve).unwrap();
        assert_eq!((stats.direct, stats.via_stub), (1, 1));
        let stub_entry = far + u64::from(h.stub_offset);
        assert_eq!(
            field(&bytes, 38, RelocKind::Plt32),
            stub_entry as i64 - (far as i64 + 42)
        );
        assert_eq!(field(&bytes, 64, RelocKind::Abs64) as u64, far + 32);
        // The internal sites never change.
        assert_eq!(field(&bytes, 33, RelocKind::Pc32), 50 - 37);
        // Back near: direct again; the same as relinking a fresh copy.
        relink(&mut bytes, near, resolve).unwrap();
        let mut fresh = image.bytes().to_vec();
        relink(&mut fresh, near, resolve).unwrap();
        assert_eq!(bytes, fresh);
    }

    fn interposing_image(b: &ElfBuilder) -> CodeImage {
        let obj = load(&b.build()).unwrap();
        layout_with(
            &obj,
            &LayoutOptions {
                interpose: true,
                ..LayoutOptions::default()
            },
            |name| (name == "ext").then_some(Binding::Runtime { address: EXT }),
        )
        .unwrap()
    }

    #[test]
    fn own_functions_are_bound_by_name_when_interposing() {
        // f calls g and .data.rel.ro points to f: both are preemptible
        // functions of the object, so both get a Code record bound to the
        // object itself; the load of .rodata stays resolved.
        let image = interposing_image(&sample());
        let h = *image.header();
        // Offsets in the sample's code, from the start of the image.
        let c = h.code_offset;
        let (f_at, g_at, call_at, ptr_at) = (c, c + 18, c + 1, c + 32);
        assert_eq!(
            (h.code_targets, h.heap_targets, h.runtime_targets),
            (2, 0, 1)
        );
        assert_eq!(image.stats().own_targets, 2);
        assert_eq!(image.stats().resolved, 1);
        assert_eq!(image.target("g"), Some(Target::Code(0)));
        assert_eq!(image.target("f"), Some(Target::Code(1)));
        assert_eq!(
            image.own_targets().collect::<Vec<_>>(),
            [Target::Code(0), Target::Code(1)]
        );
        assert!(image.targets().iter().all(|t| t.own == (t.name != "ext")));
        // Records name the functions' offsets; the call of g has a stub.
        let g = target_record(image.bytes(), Target::Code(0)).unwrap();
        let f = target_record(image.bytes(), Target::Code(1)).unwrap();
        assert_eq!((g.base, g.offset), (0, g_at));
        assert_eq!((f.base, f.offset, f.stub), (0, f_at, 0));
        assert_ne!(g.stub, 0);
        assert_eq!(h.stub_count, 2);

        // Bound to the object itself, the call is direct to its own g and
        // the pointer is its own f.
        let mut bytes = image.bytes().to_vec();
        let at = EXT + 0x1000_0000;
        for t in image.own_targets() {
            set_target_base(&mut bytes, t, at).unwrap();
        }
        let stats = relink_from_table(&mut bytes, at, 0).unwrap();
        assert_eq!((stats.sites, stats.direct, stats.via_stub), (3, 3, 0));
        assert_eq!(
            field(&bytes, call_at, RelocKind::Plt32),
            i64::from(g_at) - (i64::from(call_at) + 4)
        );
        assert_eq!(
            field(&bytes, ptr_at, RelocKind::Abs64) as u64,
            at + u64::from(f_at)
        );
        // Rebound to another object's g: the same site calls it directly,
        // or through the stub beyond 2 GiB.
        let other = at + 0x4000_0000;
        set_target_base(&mut bytes, Target::Code(0), other).unwrap();
        relink_from_table(&mut bytes, at, 0).unwrap();
        assert_eq!(
            field(&bytes, call_at, RelocKind::Plt32),
            (other + u64::from(g_at)) as i64 - (at + u64::from(call_at) + 4) as i64
        );
        set_target_base(&mut bytes, Target::Code(0), at + (1 << 33)).unwrap();
        let stats = relink_from_table(&mut bytes, at, 0).unwrap();
        assert_eq!(stats.via_stub, 1);
        assert_eq!(
            field(&bytes, call_at, RelocKind::Plt32),
            (u64::from(g.stub) + STUB_ENTRY as u64) as i64 - (i64::from(call_at) + 4)
        );
        assert_eq!(
            field(&bytes, ptr_at, RelocKind::Abs64) as u64,
            at + u64::from(f_at)
        );
    }

    #[test]
    fn hidden_functions_and_narrow_fields_stay_resolved() {
        // g hidden: its call is resolved inside the object, as without
        // interposition; f is preemptible but only a 32-bit absolute field
        // refers to it, which cannot follow code: resolved too.
        let mut b = sample();
        b.symbols[2].other = e::STV_HIDDEN;
        b.sections[4].relocs[0].1 = e::R_X86_64_32;
        let image = interposing_image(&b);
        assert_eq!(image.stats().own_targets, 0);
        assert_eq!(image.own_targets().count(), 0);
        let c = image.header().code_offset;
        assert_eq!(field(image.bytes(), c + 1, RelocKind::Pc32), 18 - 5);
        // Without interposition nothing is bound by name, whatever the
        // visibility.
        let plain = layout(&load(&sample().build()).unwrap(), |name| {
            (name == "ext").then_some(Binding::Runtime { address: EXT })
        })
        .unwrap();
        assert_eq!(plain, sample_image());
        assert_eq!(plain.stats().own_targets, 0);
    }

    #[test]
    fn a_far_code_target_is_called_through_its_got_slot() {
        let obj = load(&sample().build()).unwrap();
        let image = layout(&obj, |name| {
            (name == "ext").then_some(Binding::Code {
                object: EXT,
                offset: 0x40,
            })
        })
        .unwrap();
        let h = *image.header();
        assert!(h.code_got);
        assert_eq!((h.got_count, h.stub_count), (1, 1));
        let record = target_record(image.bytes(), Target::Code(0)).unwrap();
        assert_eq!((record.got, record.stub), (h.got_offset, h.stub_offset));
        let mut bytes = image.bytes().to_vec();
        let far = 0x1000_0000;
        let stats = relink_from_table(&mut bytes, far, 0).unwrap();
        assert_eq!((stats.via_stub, stats.got_slots), (1, 1));
        // The call goes to the stub, which jumps through the GOT slot,
        // which holds the target.
        assert_eq!(
            field(&bytes, 38, RelocKind::Plt32),
            i64::from(h.stub_offset) - 42
        );
        let stub = h.stub_offset;
        let word = i64::from(stub + 6) + field(&bytes, stub + 2, RelocKind::Pc32);
        assert_eq!(word, i64::from(h.got_offset));
        assert_eq!(
            field(&bytes, h.got_offset, RelocKind::Abs64) as u64,
            EXT + 0x40
        );
        // The collector moves the target: its slot follows.
        set_target_base(&mut bytes, Target::Code(0), EXT + 0x1000).unwrap();
        relink_from_table(&mut bytes, far, 0).unwrap();
        assert_eq!(
            field(&bytes, h.got_offset, RelocKind::Abs64) as u64,
            EXT + 0x1040
        );
    }

    /// More sites than a relinking plans writes for ([`PLANNED_WRITES`]):
    /// the second pass writes them all, at every address.
    #[test]
    fn objects_with_many_sites_are_relinked_whole() {
        const CALLS: usize = PLANNED_WRITES + 9;
        let mut text: Vec<u8> = (0..CALLS).flat_map(|_| [0xe8, 0, 0, 0, 0]).collect();
        text.push(0xc3);
        let size = text.len() as u64;
        let relocs = (0..CALLS)
            .map(|k| (5 * k as u64 + 1, e::R_X86_64_PLT32, 3, -4))
            .collect();
        let mut b = ElfBuilder::new();
        b.sections = vec![
            TestSection::text(".text", text),
            TestSection::rela(".rela.text", 1, relocs),
        ];
        b.symbols = vec![
            TestSymbol::section(1),
            TestSymbol::func("f", 1, 0, size),
            TestSymbol::undef("ext"),
        ];
        let obj = load(&b.build()).unwrap();
        let image = layout(&obj, |_| Some(Binding::Runtime { address: EXT })).unwrap();
        let mut bytes = image.bytes().to_vec();
        for at in [EXT - 0x10_0000, EXT + 0x2000, EXT - 0x4000] {
            let stats = relink_from_table(&mut bytes, at, 0).unwrap();
            assert_eq!((stats.sites, stats.direct), (CALLS, CALLS));
            let code = image.header().code_offset;
            for k in 0..CALLS as u32 {
                let offset = code + 5 * k + 1;
                let site = at + u64::from(offset);
                assert_eq!(
                    field(&bytes, offset, RelocKind::Plt32),
                    EXT as i64 - 4 - site as i64,
                    "call {k} at {at:#x}"
                );
            }
            assert_eq!(header(&bytes).unwrap().linked_at, at);
        }
    }

    #[test]
    fn relink_checks_before_writing() {
        let image = sample_image();
        let mut bytes = image.bytes().to_vec();
        assert_eq!(
            relink(&mut bytes, 0x1008, |_| EXT),
            Err(RelinkError::Misaligned {
                address: 0x1008,
                align: 16
            })
        );
        assert_eq!(bytes, image.bytes());
        assert!(relink(&mut bytes, u64::MAX - 15, |_| EXT).is_err());
        // A stub reaches anything, but the Abs64 can't fail either; make a
        // PC32 to an external data symbol out of reach instead.
        let mut b = sample();
        b.sections[3].relocs[1].1 = e::R_X86_64_PC32;
        let obj = load(&b.build()).unwrap();
        let image = layout(&obj, |_| {
            Some(Binding::Heap {
                object: EXT,
                offset: 0,
            })
        })
        .unwrap();
        assert_eq!(image.header().stub_count, 0);
        let mut bytes = image.bytes().to_vec();
        let err = relink_from_table(&mut bytes, 0x1000, 0).unwrap_err();
        assert!(
            matches!(
                err,
                RelinkError::Reloc {
                    offset: 38,
                    target: Target::Heap(0),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("out of reach"), "{err}");
        assert_eq!(bytes, image.bytes());
    }

    #[test]
    fn unresolved_symbol() {
        let obj = load(&sample().build()).unwrap();
        assert_eq!(
            layout(&obj, |_| None).unwrap_err().to_string(),
            "undefined symbol ext"
        );
    }

    /// mov rax,[rip+heap@GOTPCREL] (REX_GOTPCRELX); call [rip+code@GOTPCREL]
    /// (GOTPCRELX); mov rax,[rip+g@GOTPCREL] (GOTPCREL, local);
    /// mov rax,[rip+g@GOTPCREL] (REX_GOTPCRELX, local); jmp [rip+rt@GOTPCREL]
    /// (GOTPCRELX, not relaxable); ret; g: ret
    fn got_object() -> Vec<u8> {
        let mut text = vec![];
        text.extend([0x48, 0x8b, 0x05, 0, 0, 0, 0]); // 0..7, field 3
        text.extend([0xff, 0x15, 0, 0, 0, 0]); // 7..13, field 9
        text.extend([0x48, 0x8b, 0x05, 0, 0, 0, 0]); // 13..20, field 16
        text.extend([0x48, 0x8b, 0x05, 0, 0, 0, 0]); // 20..27, field 23
        text.extend([0xff, 0x25, 0, 0, 0, 0]); // 27..33, field 29
        text.extend([0xc3, 0xc3]); // 33, g at 34
        let mut b = ElfBuilder::new();
        b.sections = vec![
            TestSection::text(".text", text),
            TestSection::rela(
                ".rela.text",
                1,
                vec![
                    (3, e::R_X86_64_REX_GOTPCRELX, 3, -4),
                    (9, e::R_X86_64_GOTPCRELX, 4, -4),
                    (16, e::R_X86_64_GOTPCREL, 2, -4),
                    (23, e::R_X86_64_REX_GOTPCRELX, 2, -4),
                    (29, e::R_X86_64_GOTPCRELX, 5, -4),
                ],
            ),
        ];
        b.symbols = vec![
            TestSymbol::section(1),
            TestSymbol::func("g", 1, 34, 1), // 2
            TestSymbol::undef("heap"),       // 3
            TestSymbol::undef("code"),       // 4
            TestSymbol::undef("rt"),         // 5
            TestSymbol::func("f", 1, 0, 34), // 6
        ];
        b.build()
    }

    const HEAP: u64 = 0x7f00_0000_0000;
    const CODE: u64 = 0x7f00_0100_0000;
    const RT: u64 = 0x5555_0000_0000;

    fn got_bind(name: &str) -> Option<Binding> {
        match name {
            "heap" => Some(Binding::Heap {
                object: HEAP,
                offset: 16,
            }),
            "code" => Some(Binding::Code {
                object: CODE,
                offset: 0x40,
            }),
            "rt" => Some(Binding::Runtime { address: RT }),
            _ => None,
        }
    }

    fn got_image() -> CodeImage {
        layout(&load(&got_object()).unwrap(), got_bind).unwrap()
    }

    #[test]
    fn got_sites() {
        let image = got_image();
        let h = *image.header();
        let c = h.code_offset;
        // Local: the GOTPCREL got a slot, the REX_GOTPCRELX was relaxed.
        assert_eq!(image.stats().resolved, 2);
        assert_eq!(image.bytes()[(c + 21) as usize], 0x8d);
        assert_eq!(field(image.bytes(), c + 23, RelocKind::Pc32), 34 - 27);
        assert_eq!(image.bytes()[(c + 14) as usize], 0x8b);
        assert_eq!(
            field(image.bytes(), c + 16, RelocKind::Pc32),
            i64::from(h.got_offset) - i64::from(c + 20)
        );
        // The local slot and the code target's: Heap and Runtime records
        // hold their addresses, their words are the slots.
        assert_eq!((h.got_count, h.stub_count), (2, 0));
        assert_eq!(
            (h.code_targets, h.heap_targets, h.runtime_targets),
            (1, 1, 1)
        );
        let refs: Vec<_> = reference_offsets(image.bytes()).unwrap().collect();
        assert_eq!(
            refs,
            [
                (Target::Code(0), h.target_offset as usize),
                (
                    Target::Heap(0),
                    h.target_offset as usize + TARGET_RECORD_SIZE
                ),
            ]
        );

        // Near everything: relaxed where possible.
        let mut bytes = image.bytes().to_vec();
        let near = HEAP + 0x10_0000;
        let stats = relink_from_table(&mut bytes, near, 0).unwrap();
        assert_eq!(stats.relaxed, 2, "{stats:?}");
        assert_eq!(stats.via_got, 1, "{stats:?}"); // the jmp
        assert_eq!(stats.direct, 1, "{stats:?}"); // the local GOT slot
        assert_eq!(stats.got_slots, 1); // the code target's
        let site = |o: u32| near + u64::from(c + o) + 4;
        assert_eq!(bytes[(c + 1) as usize], 0x8d);
        assert_eq!(
            field(&bytes, c + 3, RelocKind::Pc32),
            (HEAP + 16) as i64 - site(3) as i64
        );
        assert_eq!(bytes[(c + 7) as usize..(c + 9) as usize], [0x67, 0xe8]);
        assert_eq!(
            field(&bytes, c + 9, RelocKind::Pc32),
            (CODE + 0x40) as i64 - site(9) as i64
        );
        // The local GOT slot holds g's address.
        assert_eq!(
            field(&bytes, h.got_offset, RelocKind::Abs64) as u64,
            near + u64::from(c) + 34
        );
        // The jmp through the runtime target's GOT slot.
        let rt_got = target_record(&bytes, Target::Runtime(0)).unwrap().got;
        assert_eq!(field(&bytes, rt_got, RelocKind::Abs64) as u64, RT);
        assert_eq!(
            field(&bytes, c + 29, RelocKind::Pc32),
            (near + u64::from(rt_got)) as i64 - site(29) as i64
        );

        // Far from everything: back to the GOT forms.
        let far = 0x1000_0000;
        let stats = relink_from_table(&mut bytes, far, 0).unwrap();
        assert_eq!((stats.relaxed, stats.via_got), (0, 3), "{stats:?}");
        assert_eq!(bytes[(c + 1) as usize], 0x8b);
        assert_eq!(bytes[(c + 7) as usize..(c + 9) as usize], [0xff, 0x15]);
        let heap_got = target_record(&bytes, Target::Heap(0)).unwrap().got;
        assert_eq!(field(&bytes, heap_got, RelocKind::Abs64) as u64, HEAP + 16);
        assert_eq!(
            field(&bytes, c + 3, RelocKind::Pc32),
            i64::from(heap_got) - i64::from(c + 7)
        );

        // The collector moves the heap object: fix the base, relink.
        set_target_base(&mut bytes, Target::Heap(0), HEAP + 0x1000).unwrap();
        relink_from_table(&mut bytes, far, 0).unwrap();
        assert_eq!(
            field(&bytes, heap_got, RelocKind::Abs64) as u64,
            HEAP + 0x1010
        );
        // And back near: identical to a fresh image linked there.
        relink_from_table(&mut bytes, near, 0).unwrap();
        let mut fresh = image.bytes().to_vec();
        set_target_base(&mut fresh, Target::Heap(0), HEAP + 0x1000).unwrap();
        relink_from_table(&mut fresh, near, 0).unwrap();
        assert_eq!(bytes, fresh);
    }

    #[test]
    fn in_a_code_range_only_far_targets_get_slots_and_stubs() {
        let obj = load(&got_object()).unwrap();
        let bind = got_bind;
        // Code memory around CODE: the code target is always in reach,
        // the runtime target never, the heap target may be anywhere.
        let range = (CODE - 0x1000_0000, CODE + 0x1000_0000);
        let options = LayoutOptions {
            code_range: Some(range),
            ..LayoutOptions::default()
        };
        let image = layout_with(&obj, &options, bind).unwrap();
        let h = *image.header();
        // The local GOTPCREL slot only; none for code (in reach), heap's
        // and rt's are their records' words.
        assert_eq!((h.got_count, h.stub_count), (1, 0));
        assert_eq!(
            target_record(image.bytes(), Target::Code(0)).unwrap().got,
            0
        );
        let everywhere = layout(&obj, bind).unwrap();
        assert!(image.header().end() < everywhere.header().end());
        // Anywhere in the range it links, and the call is direct.
        for at in [range.0, range.1 - 0x1000] {
            let mut bytes = image.bytes().to_vec();
            let stats = relink_from_table(&mut bytes, at, 0).unwrap();
            assert_eq!(stats.got_slots, 0, "{stats:?}");
            let c = h.code_offset as usize;
            assert_eq!(bytes[c + 7..c + 9], [0x67, 0xe8]);
        }
        // Outside it the call cannot go through a slot it does not have.
        let mut bytes = image.bytes().to_vec();
        assert_eq!(
            relink_from_table(&mut bytes, 0x1000_0000, 0),
            Err(RelinkError::NoGotSlot {
                offset: h.code_offset + 9
            })
        );
        assert_eq!(bytes, image.bytes());
        // A call to a runtime function in reach of the whole range needs
        // no stub; the sample's `ext` is out of reach of this one.
        let obj = load(&sample().build()).unwrap();
        let near = |name: &str| (name == "ext").then_some(Binding::Runtime { address: CODE });
        let far = |name: &str| (name == "ext").then_some(Binding::Runtime { address: EXT });
        assert_eq!(
            layout_with(&obj, &options, near)
                .unwrap()
                .header()
                .stub_count,
            0
        );
        assert_eq!(
            layout_with(&obj, &options, far)
                .unwrap()
                .header()
                .stub_count,
            1
        );
    }

    #[test]
    fn relink_with_resolver_ignores_table_addresses() {
        let image = got_image();
        let mut bytes = image.bytes().to_vec();
        let stats = relink(&mut bytes, 0x1000_0000, |t| match t {
            Target::Heap(0) => 0x1000_2000,
            Target::Code(0) => 0x1000_3000,
            Target::Runtime(0) => 0x1000_4000,
            _ => panic!("unexpected {t}"),
        })
        .unwrap();
        assert_eq!(stats.relaxed, 2);
        let c = image.header().code_offset;
        assert_eq!(
            field(&bytes, c + 3, RelocKind::Pc32),
            0x1000_2000 - (0x1000_0000 + i64::from(c) + 7)
        );
    }

    #[test]
    fn relaxable_kinds_outside_code_stay_plain() {
        // A GOTPCRELX in .rodata whose preceding bytes look like a mov:
        // never rewritten, since it is not an instruction.
        let mut b = sample();
        b.sections[1].data = vec![0x48, 0x8b, 0x05, 0, 0, 0, 0, 0];
        b.sections.push(TestSection::rela(
            ".rela.rodata",
            2,
            vec![(3, e::R_X86_64_REX_GOTPCRELX, 5, -4)],
        ));
        let obj = load(&b.build()).unwrap();
        let image = layout(&obj, |_| {
            Some(Binding::Heap {
                object: EXT,
                offset: 0,
            })
        })
        .unwrap();
        let entries = sidecar::decode_all(sidecar_bytes(image.bytes()).unwrap()).unwrap();
        let rodata_site = entries.iter().find(|e| e.offset == 32 + 24 + 3).unwrap();
        assert_eq!(rodata_site.kind, RelocKind::GotPcRel);
        let mut bytes = image.bytes().to_vec();
        relink_from_table(&mut bytes, EXT + 0x1000, 0).unwrap();
        assert_eq!(bytes[32 + 24 + 1], 0x8b);
    }

    #[test]
    fn code_targets_are_reached_in_the_execute_view() {
        let image = got_image();
        let c = image.header().code_offset;
        let mut bytes = image.bytes().to_vec();
        let delta = 0x2000_0000i64;
        let at = CODE + 0x10_0000;
        relink_from_table(&mut bytes, at, delta).unwrap();
        let site = at + u64::from(c) + 9 + 4;
        // The call through the GOT was relaxed to the execute address.
        assert_eq!(bytes[(c + 7) as usize..(c + 9) as usize], [0x67, 0xe8]);
        assert_eq!(
            field(&bytes, c + 9, RelocKind::Pc32),
            (CODE + 0x40 + delta as u64) as i64 - site as i64
        );
        // Heap targets are not shifted. Their offset (16) takes one byte.
        let h = header(&bytes).unwrap();
        assert_eq!((h.heap_offset_width, h.heap_record_size()), (1, 9));
        let heap_got = target_record(&bytes, Target::Heap(0)).unwrap().got;
        assert_eq!(field(&bytes, heap_got, RelocKind::Abs64) as u64, HEAP + 16);
    }

    #[test]
    fn self_relative_folds_addends() {
        // R_X86_64_64 to .rodata+4 (section symbol plus addend).
        let mut b = sample();
        b.sections[4].relocs[0] = (0, e::R_X86_64_64, 2, 4);
        let obj = load(&b.build()).unwrap();
        assert_eq!(obj.sections()[1].kind, SectionKind::ReadOnly);
        let image = layout(&obj, |_| Some(Binding::Runtime { address: EXT })).unwrap();
        let entries = sidecar::decode_all(sidecar_bytes(image.bytes()).unwrap()).unwrap();
        assert_eq!(entries[1].target, Target::SelfRelative(32 + 24 + 4));
        assert_eq!(entries[1].addend, 0);
        // An addend that leaves the object is kept as an addend.
        b.sections[4].relocs[0] = (0, e::R_X86_64_64, 2, -1000);
        let obj = load(&b.build()).unwrap();
        let image = layout(&obj, |_| Some(Binding::Runtime { address: EXT })).unwrap();
        let entries = sidecar::decode_all(sidecar_bytes(image.bytes()).unwrap()).unwrap();
        assert_eq!(
            (entries[1].target, entries[1].addend),
            (Target::SelfRelative(32 + 24), -1000)
        );
        let mut bytes = image.bytes().to_vec();
        relink_from_table(&mut bytes, 0x10_0000, 0).unwrap();
        assert_eq!(
            field(&bytes, 64, RelocKind::Abs64),
            0x10_0000 + 32 + 24 - 1000
        );
    }

    #[test]
    fn header_checks() {
        let image = sample_image();
        let good = image.bytes().to_vec();
        let h = *image.header();
        assert!(header(&good[..HEADER_SIZE - 1]).is_err());
        assert!(header(&good[..good.len() - 16]).is_err());
        let mutate = |at: usize, value: u32| {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&value.to_ne_bytes());
            header(&bad).err()
        };
        assert_eq!(mutate(0, 0), Some(RelinkError::BadHeader("bad magic")));
        // The previous layouts' magics are refused.
        for old in [*b"CPOB", *b"CPO2", *b"CPO3"] {
            assert_eq!(
                mutate(0, u32::from_le_bytes(old)),
                Some(RelinkError::BadHeader("bad magic"))
            );
        }
        assert_eq!(
            mutate(TOTAL_SIZE_AT, good.len() as u32 + 16),
            Some(RelinkError::BadHeader("object larger than the image"))
        );
        for size in [0, 16, COUNTS_AT as u32] {
            assert_eq!(
                mutate(TOTAL_SIZE_AT, size),
                Some(RelinkError::BadHeader("count block outside the object"))
            );
        }
        // A size that leaves out the regions.
        assert_eq!(
            mutate(TOTAL_SIZE_AT, h.total_size - 16),
            Some(RelinkError::BadHeader(
                "regions extend past the end of the object"
            ))
        );
        // The count block, right after the fixed header: code size 40
        // (one byte), flags, entry, GOT, stub, Code, Heap and Runtime
        // counts, the sidecar's length; the code starts at 32.
        let c = COUNTS_AT;
        assert_eq!(h.counts_len, 9);
        assert_eq!(h.code_offset, 32);
        assert_eq!(good[c + 9..32], [0xcc]);
        // (The entry count is stored plus one: 0 stands for one entry
        // at the code's start and no table.)
        assert_eq!(
            good[c..c + 9],
            [40, 4, 3, 0, 1, 0, 0, 1, h.sidecar_len as u8]
        );
        let byte = |at: usize, value: u8| {
            let mut bad = good.clone();
            bad[at] = value;
            header(&bad).err()
        };
        for log2 in [3, 13] {
            assert_eq!(
                byte(c + 1, log2),
                Some(RelinkError::BadHeader("bad alignment"))
            );
        }
        // Flags beyond bit 8 (a two-byte varint, which takes in the entry
        // count's byte: bit 9 here).
        let mut bad = good.clone();
        bad[c + 1..c + 3].copy_from_slice(&[0x84, 0x04]);
        assert_eq!(
            header(&bad).err(),
            Some(RelinkError::BadHeader("bad flags"))
        );
        // Regions are derived from the counts: a count too large moves
        // the regions, or makes them pass the end.
        assert!(byte(c, 41).is_some()); // code_size
        assert!(byte(c + 4, 2).is_some()); // stub_count
        assert!(byte(c + 7, 0x7f).is_some()); // runtime_targets
        assert!(byte(c + 8, 0x80).is_some()); // a truncated varint
                                              // A 64-aligned object's code starts at 64.
        let mut h64 = h;
        h64.align = 64;
        h64.derive().unwrap();
        assert_eq!(h64.code_offset, 64);
    }

    #[test]
    fn a_runtime_stub_jumps_to_its_address_wherever_it_lies() {
        let image = runtime_stub("rt", EXT);
        let h = *image.header();
        assert!(h.pool_stub);
        assert_eq!(Header::read(image.bytes()), Ok(h));
        assert_eq!(image.entry("rt"), Some(RUNTIME_STUB_ENTRY));
        // One entry at the code's start: no entry table.
        assert!(h.implicit_entry);
        assert_eq!(h.sizes().entry_table, 0);
        assert_eq!(entry_point(image.bytes(), 0), Ok(RUNTIME_STUB_ENTRY));
        assert!(entry_point(image.bytes(), 1).is_err());
        assert_eq!(h.target_count() + u64::from(h.sidecar_len), 0);
        // Header and count block (10 bytes: the flags take two), the
        // code at 32: jmp [rip+0], the address; one entry: 48 bytes.
        assert_eq!((h.counts_len, image.len()), (10, 48));
        let code = |b: &[u8]| b[32..46].to_vec();
        let mut expected = vec![0xff, 0x25, 0, 0, 0, 0];
        expected.extend_from_slice(&EXT.to_le_bytes());
        assert_eq!(code(image.bytes()), expected);
        let mut bytes = image.bytes().to_vec();
        let stats = relink_from_table(&mut bytes, 0x7000_0000, 0).unwrap();
        assert_eq!(stats.sites, 0);
        assert_eq!(code(&bytes), expected);
        assert_eq!(header(&bytes).unwrap().linked_at, 0x7000_0000);
    }

    #[test]
    fn a_long_count_block_moves_the_code() {
        // 20,000 bytes of rodata: the code's size takes a 3-byte varint,
        // the count block 11 bytes, which end past 32.
        let mut b = sample();
        b.sections[1] = TestSection::rodata(".rodata", vec![7; 20_000]);
        let obj = load(&b.build()).unwrap();
        let image = layout(&obj, |name| {
            (name == "ext").then_some(Binding::Runtime { address: EXT })
        })
        .unwrap();
        let h = *image.header();
        assert_eq!(h.counts_len, 11);
        assert_eq!(h.code_offset, 48);
        assert_eq!(Header::read(image.bytes()), Ok(h));
        assert_eq!(image.entry("f"), Some(48));
        assert_eq!(image.bytes()[COUNTS_AT + 11..48], [0xcc; 15]);
        let mut bytes = image.bytes().to_vec();
        relink_from_table(&mut bytes, 0x10_0000, 0).unwrap();
        // The internal call f -> g is resolved, the code moved along.
        assert_eq!(field(&bytes, 49, RelocKind::Pc32), 18 - 5);
    }

    /// The sample laid out for a code range in which `ext` is a function
    /// of another code object: its call is a Direct site.
    fn direct_image() -> CodeImage {
        let obj = load(&sample().build()).unwrap();
        layout_with(
            &obj,
            &LayoutOptions {
                code_range: Some((CODE, CODE + 0x4000_0000)),
                ..LayoutOptions::default()
            },
            |name| {
                (name == "ext").then_some(Binding::Code {
                    object: CODE + 0x100,
                    offset: 0x40,
                })
            },
        )
        .unwrap()
    }

    #[test]
    fn direct_sites_keep_their_target_in_the_field() {
        let image = direct_image();
        let h = *image.header();
        assert!(h.direct);
        // No record, no stub, no GOT slot: the call's field is all.
        assert_eq!((h.target_count(), h.stub_count, h.got_count), (0, 0, 0));
        assert_eq!(image.stats().direct_sites, 1);
        let site = DirectSite {
            offset: 38,
            name: "ext".into(),
            target_offset: 0x40,
            own: false,
        };
        assert_eq!(image.direct_sites(), [site]);
        let entries = sidecar::decode_all(sidecar_bytes(image.bytes()).unwrap()).unwrap();
        let call = entries[0];
        assert_eq!(call.target, Target::Direct(0x40));
        // Never linked: nothing to decode, and relinking needs the target.
        let mut bytes = image.bytes().to_vec();
        assert_eq!(direct_target(&bytes, &h, &call), None);
        assert!(relink_from_table(&mut bytes, CODE + 0x1000, 0).is_err());
        assert_eq!(bytes, image.bytes());
        // Link the Direct site, then everything, with a code delta.
        let delta = 0x10_0000i64;
        let (at, callee) = (CODE + 0x2000, CODE + 0x8000);
        link_direct(&mut bytes, at, |e| (e.offset == 38).then_some(callee)).unwrap();
        relink_from_table(&mut bytes, at, delta).unwrap();
        let h = header(&bytes).unwrap();
        assert_eq!(h.linked_at, at);
        assert_eq!(
            field(&bytes, 38, RelocKind::Plt32),
            callee as i64 - (at as i64 + 42)
        );
        assert_eq!(direct_target(&bytes, &h, &call), Some(callee));
        // The object moves: the field still names the callee, decoded
        // relative to where the object was linked; relinking re-encodes
        // it for the new address.
        let moved = CODE + 0x3000_0000;
        relink_from_table(&mut bytes, moved, delta).unwrap();
        let h = header(&bytes).unwrap();
        assert_eq!(direct_target(&bytes, &h, &call), Some(callee));
        assert_eq!(
            field(&bytes, 38, RelocKind::Plt32),
            callee as i64 - (moved as i64 + 42)
        );
        // The callee moves: the scan stores its new address, then
        // relinks.
        let callee2 = CODE + 0x10;
        set_direct_target(&mut bytes, &h, &call, callee2).unwrap();
        relink_from_table(&mut bytes, moved, delta).unwrap();
        let h = header(&bytes).unwrap();
        assert_eq!(direct_target(&bytes, &h, &call), Some(callee2));
        // Out of reach: an error, nothing written.
        let before = bytes.clone();
        assert!(set_direct_target(&mut bytes, &h, &call, moved + (1 << 33)).is_err());
        assert!(link_direct(&mut bytes, moved, |_| Some(moved + (1 << 33))).is_err());
        assert!(link_direct(&mut bytes, moved, |_| None).is_err());
        assert_eq!(bytes, before);
        // Not a Direct site.
        let other = entries[1];
        assert_eq!(direct_target(&bytes, &h, &other), None);
        assert!(set_direct_target(&mut bytes, &h, &other, callee).is_err());
    }

    #[test]
    fn corrupted_images_never_panic() {
        let mut rng = Rng::from_env("corrupted_images_never_panic");
        let mut linked = direct_image().into_bytes();
        link_direct(&mut linked, CODE, |_| Some(CODE + 0x40)).unwrap();
        for good in [
            sample_image().into_bytes(),
            got_image().into_bytes(),
            linked,
        ] {
            for _ in 0..5000 {
                let mut bad = good.clone();
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(bad.len() as u64) as usize;
                    bad[i] = rng.next() as u8;
                }
                let addr = [0x1000_0000u64, HEAP + 0x1000][rng.below(2) as usize];
                let before = bad.clone();
                match relink_from_table(&mut bad, addr, 0) {
                    Ok(_) => {}
                    // Checked before writing: an error leaves the image alone.
                    Err(_) => assert_eq!(bad, before),
                }
                let _ = reference_offsets(&bad).map(|r| r.count());
                let _ = entry_point(&bad, 0);
                let _ = target_record(&bad, Target::Code(0));
            }
        }
    }
}

//! The relocation sidecar: the sites of a code object that must be
//! re-encoded when the object or one of its targets moves.
//!
//! Only sites that depend on an address outside the object, or on the
//! object's own address, are listed; PC-relative sites inside the object are
//! resolved once when the object is laid out and need no entry.
//!
//! # Encoding
//!
//! Entries are sorted by offset and stored as a byte stream, one record per
//! entry:
//!
//! ```text
//! tag     1 byte   bits 0-3: kind (RelocKind::code)
//!                  bits 4-5: target class (0 Code, 1 Heap, 2 Runtime, 3 SelfRelative);
//!                            for a Direct target, the width of its offset
//!                            (0: 4 bytes, 1: 2, 2: 1, 3: none, the offset is
//!                            DIRECT_DEFAULT_OFFSET)
//!                  bit 6:    an addend follows (else the kind's usual addend)
//!                  bit 7:    a Direct target
//! gap     varint   offset - end of the previous site (the previous offset plus
//!                  its width; 0 for the first entry)
//! addend  varint   zigzag-encoded, only when bit 6 is set
//! target  varint   index into the target table of the class; for
//!                  SelfRelative, the offset within the object as a zigzag
//!                  difference from the previous SelfRelative entry's (0
//!                  before the first); for Direct, the target's offset in
//!                  its object, little endian, in 4, 2, 1 or 0 bytes (the
//!                  fewest that hold it when encoded; a redefinition
//!                  rewrites it in place, in the same width)
//! ```
//!
//! Varints are unsigned LEB128. Coding the gap from the end of the previous
//! site makes overlapping sites unrepresentable. Coding self-relative
//! offsets as differences keeps tables of absolute pointers into the object
//! (vtables, `.data.rel.ro` function tables, local GOT slots) at one or two
//! bytes per target. A typical entry (a call to a
//! runtime function, a load of a heap reference through the GOT) takes three
//! bytes: tag, a one-byte gap, a one-byte index. ELF spends 24 bytes on the
//! same relocation (`Elf64_Rela`).
//!
//! The target table itself (one record per distinct target, see
//! [`crate::layout::TargetRecord`]) is stored once per object and counted
//! separately.
//!
//! A Direct entry (a call to another code object whose target the site's
//! field itself encodes, see [`Target::Direct`]) takes two bytes (tag, a
//! one-byte gap) when its target is the first function of a code object
//! of one function (offset [`DIRECT_DEFAULT_OFFSET`], 32, as for most
//! targets) or a pool's shared runtime stub, three or four when the
//! offset takes one or two bytes, six at most; it spares a 12-byte target
//! record. A redefinition that rebinds a Direct site to an offset its
//! width cannot hold binds it to a forwarder at offset 32 instead (see
//! `crate::format`).
//!
//! Decoding validates everything (known kind, varints well formed and in
//! range, no truncation) and never panics.

use std::fmt;

use crate::reloc::RelocKind;

/// What a sidecar site refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Another code object: index into the object's code targets (each a
    /// reference to the target object plus the offset of the symbol in it).
    Code(u32),
    /// A heap object, a reference embedded in code (like HotSpot's oop
    /// relocations): index into the object's heap targets.
    Heap(u32),
    /// A fixed runtime address (a runtime function): index into the object's
    /// runtime targets.
    Runtime(u32),
    /// This object itself: the offset within it of the code or read-only
    /// data referred to (absolute references to its own code and rodata).
    SelfRelative(u32),
    /// Another code object (or this one, through a function of its own
    /// bound by name), reached by a `rel32` call or jump that every site of
    /// the object's code range reaches directly: the site's field itself
    /// holds the target's address (relative to the address the object was
    /// last linked for, `Header::linked_at`), so the target needs no
    /// record. The `u32` is the target's offset in its object, which
    /// splits the address into the object's start (the reference a
    /// collector fixes) and the offset. See `crate::layout`.
    Direct(u32),
}

/// The class of a [`Target`], without its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TargetClass {
    /// [`Target::Code`].
    Code = 0,
    /// [`Target::Heap`].
    Heap = 1,
    /// [`Target::Runtime`].
    Runtime = 2,
    /// [`Target::SelfRelative`].
    SelfRelative = 3,
    /// [`Target::Direct`].
    Direct = 4,
}

impl Target {
    /// The class of the target.
    pub fn class(self) -> TargetClass {
        match self {
            Target::Code(_) => TargetClass::Code,
            Target::Heap(_) => TargetClass::Heap,
            Target::Runtime(_) => TargetClass::Runtime,
            Target::SelfRelative(_) => TargetClass::SelfRelative,
            Target::Direct(_) => TargetClass::Direct,
        }
    }

    /// The index (or, for `SelfRelative` and `Direct`, the offset).
    pub fn index(self) -> u32 {
        match self {
            Target::Code(i)
            | Target::Heap(i)
            | Target::Runtime(i)
            | Target::SelfRelative(i)
            | Target::Direct(i) => i,
        }
    }

    /// Builds a target from its class and index.
    pub fn new(class: TargetClass, index: u32) -> Target {
        match class {
            TargetClass::Code => Target::Code(index),
            TargetClass::Heap => Target::Heap(index),
            TargetClass::Runtime => Target::Runtime(index),
            TargetClass::SelfRelative => Target::SelfRelative(index),
            TargetClass::Direct => Target::Direct(index),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Target::Code(i) => write!(f, "code target #{i}"),
            Target::Heap(i) => write!(f, "heap target #{i}"),
            Target::Runtime(i) => write!(f, "runtime target #{i}"),
            Target::SelfRelative(o) => write!(f, "self+{o:#x}"),
            Target::Direct(o) => write!(f, "direct call (target +{o:#x})"),
        }
    }
}

/// One site of the sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Offset of the site's field from the start of the code object.
    pub offset: u32,
    /// How the field is computed.
    pub kind: RelocKind,
    /// The relocation's addend.
    pub addend: i64,
    /// What the field refers to.
    pub target: Target,
}

impl Entry {
    /// Offset just past the site's field.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.kind.width() as u64
    }
}

/// Why a list of entries could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// Two sites share bytes.
    Overlap {
        /// The earlier site.
        first: u32,
        /// The later site, which starts before the earlier one ends.
        second: u32,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Overlap { first, second } => write!(
                f,
                "relocation sites at offsets {first:#x} and {second:#x} overlap"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why a sidecar byte stream could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stream ends inside a record.
    Truncated {
        /// Offset in the stream of the record.
        at: usize,
    },
    /// The tag names no known relocation kind.
    UnknownKind {
        /// Offset in the stream of the record.
        at: usize,
        /// The kind code found.
        code: u8,
    },
    /// A varint is longer than ten bytes or exceeds its field's range.
    BadVarint {
        /// Offset in the stream of the record.
        at: usize,
    },
    /// The site's offset does not fit in 32 bits.
    OffsetOverflow {
        /// Offset in the stream of the record.
        at: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { at } => {
                write!(f, "sidecar truncated in the record at byte {at}")
            }
            DecodeError::UnknownKind { at, code } => write!(
                f,
                "sidecar record at byte {at} has unknown relocation kind {code}"
            ),
            DecodeError::BadVarint { at } => write!(
                f,
                "sidecar record at byte {at} has a malformed or out-of-range varint"
            ),
            DecodeError::OffsetOverflow { at } => write!(
                f,
                "sidecar record at byte {at} has a site offset beyond 4 GiB"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

const KIND_MASK: u8 = 0x0f;
const CLASS_SHIFT: u8 = 4;
const ADDEND_FLAG: u8 = 0x40;
const DIRECT_FLAG: u8 = 0x80;
/// The offset of a Direct target that its entry stores in no byte: the
/// code's start in an object whose count block takes at most 10 bytes
/// (the first function of most objects, and a pool's shared runtime
/// stubs: `layout::RUNTIME_STUB_ENTRY`).
pub const DIRECT_DEFAULT_OFFSET: u32 = 32;

/// The width in bytes (4, 2, 1 or 0) of the offset field of the Direct
/// entry whose tag (first byte) is `tag`: the entry's last bytes.
pub fn direct_width_of(tag: u8) -> usize {
    [4, 2, 1, 0][usize::from((tag >> CLASS_SHIFT) & 3)]
}

/// The fewest bytes that hold a Direct entry's `offset` (0 for
/// [`DIRECT_DEFAULT_OFFSET`]), and the tag bits that say so.
fn direct_width(offset: u32) -> (usize, u8) {
    match offset {
        DIRECT_DEFAULT_OFFSET => (0, 3),
        0..=0xff => (1, 2),
        0x100..=0xffff => (2, 1),
        _ => (4, 0),
    }
}

/// Does a Direct entry whose offset field is `width` bytes wide
/// ([`direct_width_of`]) hold `offset`?
pub fn direct_fits(width: usize, offset: u32) -> bool {
    match width {
        0 => offset == DIRECT_DEFAULT_OFFSET,
        1 => offset <= 0xff,
        2 => offset <= 0xffff,
        _ => true,
    }
}

/// Writes `offset` into a Direct entry's offset field `field` (its
/// width, which must hold it: [`direct_fits`]).
pub fn write_direct_offset(field: &mut [u8], offset: u32) {
    debug_assert!(direct_fits(field.len(), offset));
    let width = field.len();
    field.copy_from_slice(&offset.to_le_bytes()[..width]);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads the varint at `bytes[*pos..]` (as [`put_varint`] writes it) and
/// moves `pos` past it; `None` when it is truncated, longer than ten
/// bytes, or does not fit in 64 bits.
pub(crate) fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        let payload = u64::from(byte & 0x7f);
        if i == 9 && payload > 1 {
            return None;
        }
        value |= payload << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Number of bytes [`Sidecar::encode`] uses for `value` as a varint.
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// An encoded sidecar: the byte stream and the number of entries in it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sidecar {
    bytes: Vec<u8>,
    count: usize,
}

impl Sidecar {
    /// Encodes `entries` (in any order; they are sorted by offset). Sites
    /// that share bytes are an error.
    pub fn encode(entries: &[Entry]) -> Result<Sidecar, EncodeError> {
        let mut sorted = entries.to_vec();
        sorted.sort_by_key(|e| e.offset);
        let mut bytes = Vec::with_capacity(sorted.len() * 3);
        let mut prev: Option<&Entry> = None;
        let mut prev_self: i64 = 0;
        for entry in &sorted {
            let end_of_prev = prev.map_or(0, Entry::end);
            let gap =
                u64::from(entry.offset)
                    .checked_sub(end_of_prev)
                    .ok_or(EncodeError::Overlap {
                        first: prev.map_or(0, |p| p.offset),
                        second: entry.offset,
                    })?;
            let has_addend = entry.addend != entry.kind.usual_addend();
            let mut tag = match entry.target {
                Target::Direct(offset) => {
                    entry.kind.code() | DIRECT_FLAG | (direct_width(offset).1 << CLASS_SHIFT)
                }
                target => entry.kind.code() | ((target.class() as u8) << CLASS_SHIFT),
            };
            if has_addend {
                tag |= ADDEND_FLAG;
            }
            bytes.push(tag);
            put_varint(&mut bytes, gap);
            if has_addend {
                put_varint(&mut bytes, zigzag(entry.addend));
            }
            match entry.target {
                Target::SelfRelative(offset) => {
                    put_varint(&mut bytes, zigzag(i64::from(offset) - prev_self));
                    prev_self = i64::from(offset);
                }
                Target::Direct(offset) => {
                    let width = direct_width(offset).0;
                    bytes.extend_from_slice(&offset.to_le_bytes()[..width]);
                }
                target => put_varint(&mut bytes, u64::from(target.index())),
            }
            prev = Some(entry);
        }
        Ok(Sidecar {
            bytes,
            count: sorted.len(),
        })
    }

    /// Takes an encoded byte stream, validating it by decoding it once.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Sidecar, DecodeError> {
        let count = count(&bytes)?;
        Ok(Sidecar { bytes, count })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decodes the entries in offset order.
    pub fn iter(&self) -> Decoder<'_> {
        decode(&self.bytes)
    }

    /// Size figures for this sidecar.
    pub fn stats(&self) -> SidecarStats {
        SidecarStats::new(self.count, self.bytes.len())
    }
}

/// Size of a sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SidecarStats {
    /// Number of relocation entries.
    pub relocs: usize,
    /// Number of bytes of the encoded stream (the target table is not
    /// included).
    pub bytes: usize,
    /// `bytes / relocs`, 0 when there are none.
    pub bytes_per_reloc: f64,
}

impl SidecarStats {
    /// Figures for `relocs` entries in `bytes` bytes.
    pub fn new(relocs: usize, bytes: usize) -> SidecarStats {
        let bytes_per_reloc = if relocs == 0 {
            0.0
        } else {
            bytes as f64 / relocs as f64
        };
        SidecarStats {
            relocs,
            bytes,
            bytes_per_reloc,
        }
    }

    /// The figures of two sidecars together.
    pub fn combine(self, other: SidecarStats) -> SidecarStats {
        SidecarStats::new(self.relocs + other.relocs, self.bytes + other.bytes)
    }
}

impl fmt::Display for SidecarStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} relocations in {} bytes ({:.2} bytes/relocation)",
            self.relocs, self.bytes, self.bytes_per_reloc
        )
    }
}

/// Decodes a sidecar byte stream, yielding entries in offset order. After
/// the first error the iterator ends.
pub fn decode(bytes: &[u8]) -> Decoder<'_> {
    Decoder {
        bytes,
        pos: 0,
        end_of_prev: 0,
        prev_self: 0,
        failed: false,
    }
}

/// Decodes a whole stream into a vector.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Entry>, DecodeError> {
    decode(bytes).collect()
}

/// Counts the entries of a stream, validating it.
pub fn count(bytes: &[u8]) -> Result<usize, DecodeError> {
    let mut n = 0;
    for entry in decode(bytes) {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// Where a [`Decoder`] is in its stream: [`Decoder::state`] takes it,
/// [`resume`] goes on from it (for a caller that writes into the stream
/// between entries, as a scan method rewriting a Direct entry's offset
/// does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderState {
    pos: usize,
    end_of_prev: u64,
    prev_self: u32,
}

impl DecoderState {
    /// Offset in the stream just past the last entry decoded (the start
    /// of the next one; a Direct entry's offset is its last
    /// [`direct_width_of`] bytes).
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// Decodes `bytes` from `state` on (which [`Decoder::state`] took on the
/// same stream, or the default for its start).
pub fn resume(bytes: &[u8], state: DecoderState) -> Decoder<'_> {
    Decoder {
        bytes,
        pos: state.pos,
        end_of_prev: state.end_of_prev,
        prev_self: state.prev_self,
        failed: false,
    }
}

/// Iterator over the entries of a sidecar stream; see [`decode`].
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    end_of_prev: u64,
    prev_self: u32,
    failed: bool,
}

impl Decoder<'_> {
    /// Where the decoder is (see [`resume`]).
    pub fn state(&self) -> DecoderState {
        DecoderState {
            pos: self.pos,
            end_of_prev: self.end_of_prev,
            prev_self: self.prev_self,
        }
    }

    fn varint(&mut self, at: usize) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or(DecodeError::Truncated { at })?;
            self.pos += 1;
            let payload = u64::from(byte & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && payload > 1 {
                return Err(DecodeError::BadVarint { at });
            }
            value |= payload << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint { at })
    }

    fn record(&mut self) -> Result<Entry, DecodeError> {
        let at = self.pos;
        let tag = self.bytes[at];
        self.pos += 1;
        let code = tag & KIND_MASK;
        let kind = RelocKind::from_code(code).ok_or(DecodeError::UnknownKind { at, code })?;
        let class = match ((tag >> CLASS_SHIFT) & 3, tag & DIRECT_FLAG != 0) {
            (_, true) => TargetClass::Direct,
            (0, _) => TargetClass::Code,
            (1, _) => TargetClass::Heap,
            (2, _) => TargetClass::Runtime,
            (_, _) => TargetClass::SelfRelative,
        };
        let gap = self.varint(at)?;
        let offset = self
            .end_of_prev
            .checked_add(gap)
            .and_then(|o| u32::try_from(o).ok())
            .ok_or(DecodeError::OffsetOverflow { at })?;
        let addend = if tag & ADDEND_FLAG != 0 {
            unzigzag(self.varint(at)?)
        } else {
            kind.usual_addend()
        };
        let index = if class == TargetClass::Direct {
            let width = direct_width_of(tag);
            let field = self
                .bytes
                .get(self.pos..self.pos + width)
                .ok_or(DecodeError::Truncated { at })?;
            self.pos += width;
            if width == 0 {
                DIRECT_DEFAULT_OFFSET
            } else {
                let mut le = [0u8; 4];
                le[..width].copy_from_slice(field);
                u32::from_le_bytes(le)
            }
        } else if class == TargetClass::SelfRelative {
            let value = self.varint(at)?;
            let offset = i64::from(self.prev_self) + unzigzag(value);
            let offset = u32::try_from(offset).map_err(|_| DecodeError::BadVarint { at })?;
            self.prev_self = offset;
            offset
        } else {
            let value = self.varint(at)?;
            u32::try_from(value).map_err(|_| DecodeError::BadVarint { at })?
        };
        let entry = Entry {
            offset,
            kind,
            addend,
            target: Target::new(class, index),
        };
        self.end_of_prev = entry.end();
        Ok(entry)
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<Entry, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let result = self.record();
        self.failed = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small xorshift generator: tests print their seed and accept it back
    /// through `CODEPOOL_TEST_SEED`, so every failure reproduces.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn from_env(test: &str) -> Rng {
            let seed = std::env::var("CODEPOOL_TEST_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_nanos() as u64)
                });
            println!("{test}: CODEPOOL_TEST_SEED={seed}");
            Rng(seed | 1)
        }

        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn random_entries(rng: &mut Rng, n: usize) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(n);
        let mut offset: u64 = rng.below(64);
        for _ in 0..n {
            let kind = RelocKind::ALL[rng.below(9) as usize];
            let addend = match rng.below(4) {
                0 => rng.next() as i64,
                1 => rng.below(64) as i64 - 32,
                _ => kind.usual_addend(),
            };
            let index = match rng.below(3) {
                0 => rng.next() as u32,
                _ => rng.below(200) as u32,
            };
            let class = match rng.below(5) {
                0 => TargetClass::Code,
                1 => TargetClass::Heap,
                2 => TargetClass::Runtime,
                3 => TargetClass::Direct,
                _ => TargetClass::SelfRelative,
            };
            let Ok(off32) = u32::try_from(offset) else {
                break;
            };
            entries.push(Entry {
                offset: off32,
                kind,
                addend,
                target: Target::new(class, index),
            });
            let gap = match rng.below(8) {
                0 => rng.below(1 << 20),
                _ => rng.below(40),
            };
            offset += kind.width() as u64 + gap;
        }
        entries
    }

    #[test]
    fn round_trip_random() {
        let mut rng = Rng::from_env("round_trip_random");
        for _ in 0..500 {
            let n = rng.below(300) as usize;
            let mut entries = random_entries(&mut rng, n);
            // Encode in a shuffled order: the encoder sorts.
            for i in (1..entries.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                entries.swap(i, j);
            }
            let sidecar = Sidecar::encode(&entries).unwrap();
            let decoded = decode_all(sidecar.as_bytes()).unwrap();
            entries.sort_by_key(|e| e.offset);
            assert_eq!(decoded, entries);
            assert_eq!(sidecar.len(), entries.len());
            let again = Sidecar::from_bytes(sidecar.as_bytes().to_vec()).unwrap();
            assert_eq!(again, sidecar);
        }
    }

    #[test]
    fn typical_entries_are_small() {
        // A call to a runtime function every 20 bytes, a heap load through
        // the GOT every 40: three bytes each.
        let mut entries = Vec::new();
        for i in 0..100u32 {
            entries.push(Entry {
                offset: 16 + i * 40,
                kind: RelocKind::Plt32,
                addend: -4,
                target: Target::Runtime(i % 7),
            });
            entries.push(Entry {
                offset: 36 + i * 40,
                kind: RelocKind::RexGotPcRelX,
                addend: -4,
                target: Target::Heap(i % 50),
            });
        }
        let stats = Sidecar::encode(&entries).unwrap().stats();
        assert_eq!(stats.relocs, 200);
        assert_eq!(stats.bytes, 600);
        assert!((stats.bytes_per_reloc - 3.0).abs() < 1e-9);
        assert!(stats.to_string().contains("3.00 bytes/relocation"));
    }

    #[test]
    fn self_relative_tables_are_small() {
        // A vtable of 100 pointers to functions 120 bytes apart, far into
        // the object.
        let entries: Vec<Entry> = (0..100u32)
            .map(|i| Entry {
                offset: 30_000 + 8 * i,
                kind: RelocKind::Abs64,
                addend: 0,
                target: Target::SelfRelative(1_000 + 120 * i),
            })
            .collect();
        let sidecar = Sidecar::encode(&entries).unwrap();
        // First: tag, gap (30000: 3 bytes), target (zigzag 1000: 2 bytes).
        // Others: tag, gap 0, zigzag(120) = 240: 2 bytes.
        assert_eq!(sidecar.as_bytes().len(), (1 + 3 + 2) + 99 * (1 + 1 + 2));
        assert_eq!(decode_all(sidecar.as_bytes()).unwrap(), entries);
        // Going backwards is fine too.
        let back = [
            Entry {
                target: Target::SelfRelative(500),
                ..entries[0]
            },
            Entry {
                target: Target::SelfRelative(0),
                ..entries[1]
            },
        ];
        let sidecar = Sidecar::encode(&back).unwrap();
        assert_eq!(decode_all(sidecar.as_bytes()).unwrap(), back);
        // A difference that leaves the u32 range is an error.
        let mut bad = vec![0x30, 0x00];
        put_varint(&mut bad, zigzag(-1));
        assert_eq!(decode_all(&bad), Err(DecodeError::BadVarint { at: 0 }));
    }

    #[test]
    fn overlap_is_an_error() {
        let entries = [
            Entry {
                offset: 10,
                kind: RelocKind::Abs64,
                addend: 0,
                target: Target::SelfRelative(0),
            },
            Entry {
                offset: 17,
                kind: RelocKind::Pc32,
                addend: -4,
                target: Target::Code(0),
            },
        ];
        assert_eq!(
            Sidecar::encode(&entries),
            Err(EncodeError::Overlap {
                first: 10,
                second: 17
            })
        );
        // Adjacent is fine.
        let adjacent = [
            entries[0],
            Entry {
                offset: 18,
                ..entries[1]
            },
        ];
        assert_eq!(Sidecar::encode(&adjacent).unwrap().len(), 2);
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut d = decode(&out);
            assert_eq!(d.varint(0), Ok(v));
        }
        for v in [0i64, 1, -1, -4, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-4), 7);
    }

    #[test]
    fn direct_offsets_take_the_fewest_bytes() {
        for (offset, len, width) in [
            (DIRECT_DEFAULT_OFFSET, 2, 0),
            (0x30, 3, 1),
            (0x130, 4, 2),
            (0x1_0030, 6, 4),
        ] {
            let entry = Entry {
                offset: 8,
                kind: RelocKind::Plt32,
                addend: -4,
                target: Target::Direct(offset),
            };
            let sidecar = Sidecar::encode(&[entry]).unwrap();
            assert_eq!(sidecar.as_bytes().len(), len, "{offset:#x}");
            assert_eq!(decode_all(sidecar.as_bytes()), Ok(vec![entry]));
            assert_eq!(direct_width_of(sidecar.as_bytes()[0]), width);
            assert!(direct_fits(width, offset));
            // Rewritten in place, in the same width.
            let mut bytes = sidecar.as_bytes().to_vec();
            let end = bytes.len();
            for new in [DIRECT_DEFAULT_OFFSET, 0xff, 0xffff, 0x12_3456] {
                if !direct_fits(width, new) {
                    continue;
                }
                write_direct_offset(&mut bytes[end - width..end], new);
                let rewritten = decode_all(&bytes).unwrap();
                assert_eq!(rewritten[0].target, Target::Direct(new));
            }
        }
        assert!(!direct_fits(0, 0x30) && !direct_fits(1, 0x100) && !direct_fits(2, 0x1_0000));
        assert!(direct_fits(4, u32::MAX));
    }

    #[test]
    fn malformed_streams_are_errors() {
        assert_eq!(decode_all(&[]), Ok(vec![]));
        // A Direct entry's offset takes the bytes its tag says (bits 4-5:
        // 0 four, 1 two, 2 one, 3 none: offset 32).
        assert_eq!(
            decode_all(&[0x82, 0, 1, 2, 3]),
            Err(DecodeError::Truncated { at: 0 })
        );
        assert_eq!(
            decode_all(&[0x92, 0, 1]),
            Err(DecodeError::Truncated { at: 0 })
        );
        let direct = |offset| {
            Ok(vec![Entry {
                offset: 0,
                kind: RelocKind::Plt32,
                addend: -4,
                target: Target::Direct(offset),
            }])
        };
        assert_eq!(decode_all(&[0x82, 0, 0x30, 0, 0, 0]), direct(0x30));
        assert_eq!(decode_all(&[0x92, 0, 0x30, 0x01]), direct(0x130));
        assert_eq!(decode_all(&[0xa2, 0, 0x30]), direct(0x30));
        assert_eq!(decode_all(&[0xb2, 0]), direct(DIRECT_DEFAULT_OFFSET));
        assert_eq!(
            decode_all(&[0x0f, 0, 0]),
            Err(DecodeError::UnknownKind { at: 0, code: 15 })
        );
        assert_eq!(decode_all(&[0x00]), Err(DecodeError::Truncated { at: 0 }));
        assert_eq!(
            decode_all(&[0x00, 0x80]),
            Err(DecodeError::Truncated { at: 0 })
        );
        // An eleven-byte varint.
        let mut long = vec![0x00];
        long.extend([0xff; 10]);
        long.push(0);
        assert_eq!(decode_all(&long), Err(DecodeError::BadVarint { at: 0 }));
        // A target index beyond u32.
        let mut big = vec![0x00, 0x00];
        put_varint(&mut big, 1 << 32);
        assert_eq!(decode_all(&big), Err(DecodeError::BadVarint { at: 0 }));
        // An offset beyond u32.
        let mut far = vec![0x00];
        put_varint(&mut far, 1 << 32);
        far.push(0);
        assert_eq!(decode_all(&far), Err(DecodeError::OffsetOverflow { at: 0 }));
        // Error messages name the position.
        assert!(DecodeError::Truncated { at: 7 }
            .to_string()
            .contains("byte 7"));
        // The iterator stops after an error.
        let mut d = decode(&[0x80, 0x00, 0x00, 0x00]);
        assert!(d.next().unwrap().is_err());
        assert!(d.next().is_none());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::from_env("random_bytes_never_panic");
        for _ in 0..2000 {
            let n = rng.below(64) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let _ = decode_all(&bytes);
        }
        // Every prefix of a valid stream decodes or fails cleanly.
        let entries = random_entries(&mut rng, 50);
        let sidecar = Sidecar::encode(&entries).unwrap();
        for len in 0..sidecar.as_bytes().len() {
            let _ = decode_all(&sidecar.as_bytes()[..len]);
        }
    }
}

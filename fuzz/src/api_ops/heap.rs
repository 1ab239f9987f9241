//! The test format: three kinds of objects, each starting with a header
//! word `(size in words << 8) | kind` and an id.
//!
//! - [`Node`]: three references (AMC pool);
//! - [`Big`]: six references and nine data words derived from the id (AMC);
//! - [`Blob`]: two data words derived from the id, no references (AMCZ).
//!
//! Forwarding markers are two words (`FWD` header, new address); pads are
//! one header word. Every format method checks the header it reads and
//! panics (so aborts: the collector's callbacks never unwind) on anything
//! it did not write, so heap corruption is a crash, not a silent wrong
//! answer.

use core::ptr::NonNull;

use mps::{Error, Format, Leaf, Object, Ref, ScanState};

/// Header kind of a [`Node`].
pub const NODE: usize = 1;
/// Header kind of a [`Big`].
pub const BIG: usize = 2;
/// Header kind of a [`Blob`].
pub const BLOB: usize = 3;
/// Header kind of a forwarding marker.
pub const FWD: usize = 4;
/// Header kind of a pad.
pub const PAD: usize = 5;

/// References of a [`Node`].
pub const NODE_REFS: usize = 3;
/// References of a [`Big`].
pub const BIG_REFS: usize = 6;
/// Data words of a [`Big`].
pub const BIG_DATA: usize = 9;

/// Bytes scanned so far (diagnostics).
pub static SCANNED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The format (no instances).
pub enum Heap {}

/// A small object with references.
#[repr(C)]
pub struct Node {
    header: usize,
    /// The model's id.
    pub id: u64,
    /// The reference fields.
    pub refs: [Ref; NODE_REFS],
}

/// A larger object with references and data.
#[repr(C)]
pub struct Big {
    header: usize,
    /// The model's id.
    pub id: u64,
    /// The reference fields.
    pub refs: [Ref; BIG_REFS],
    /// `data_word(id, i)`.
    pub data: [u64; BIG_DATA],
}

/// A leaf object.
#[repr(C)]
pub struct Blob {
    header: usize,
    /// The model's id.
    pub id: u64,
    /// `data_word(id, i)`.
    pub data: [u64; 2],
}

/// The common prefix of every object: header and id.
#[repr(C)]
pub struct Common {
    header: usize,
    /// The model's id.
    pub id: u64,
}

impl Common {
    /// The object's kind.
    pub fn kind(&self) -> usize {
        self.header & 0xff
    }
}

/// The data word `i` of the object with id `id`.
pub fn data_word(id: u64, i: usize) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

const fn header_of(words: usize, kind: usize) -> usize {
    (words << 8) | kind
}

const fn words<T>() -> usize {
    core::mem::size_of::<T>() / 8
}

impl Node {
    /// A node with null references.
    pub fn new(id: u64) -> Node {
        Node {
            header: header_of(words::<Node>(), NODE),
            id,
            refs: Default::default(),
        }
    }
}

impl Big {
    /// A big object with null references.
    pub fn new(id: u64) -> Big {
        Big {
            header: header_of(words::<Big>(), BIG),
            id,
            refs: Default::default(),
            data: core::array::from_fn(|i| data_word(id, i)),
        }
    }
}

impl Blob {
    /// A leaf.
    pub fn new(id: u64) -> Blob {
        Blob {
            header: header_of(words::<Blob>(), BLOB),
            id,
            data: core::array::from_fn(|i| data_word(id, i)),
        }
    }
}

fn header(p: NonNull<u8>) -> usize {
    // SAFETY: the collector only passes the format methods addresses of
    // objects, pads and forwarding markers of this format, which all
    // start with a header word.
    unsafe { p.cast::<usize>().read() }
}

/// The size in bytes recorded in a header, checked against its kind.
fn checked_size(p: NonNull<u8>) -> usize {
    let h = header(p);
    let words = h >> 8;
    let ok = match h & 0xff {
        NODE => words == words_of::<Node>(),
        BIG => words == words_of::<Big>(),
        BLOB => words == words_of::<Blob>(),
        FWD => words >= 2,
        PAD => words >= 1,
        _ => false,
    };
    if !ok {
        panic!("api_ops: corrupt header {h:#x} at {p:p}");
    }
    words * 8
}

const fn words_of<T>() -> usize {
    words::<T>()
}

// SAFETY: every object, pad and marker is sized by its header (checked);
// scan fixes every reference of every Node and Big and nothing else; a
// forwarding marker (two words) fits in every object (the smallest, Blob,
// has four); pads of any multiple of 8 bytes are one header word.
unsafe impl Format for Heap {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        SCANNED.fetch_add(
            limit.as_ptr() as usize - base.as_ptr() as usize,
            core::sync::atomic::Ordering::Relaxed,
        );
        let mut p = base;
        while p < limit {
            let size = checked_size(p);
            match header(p) & 0xff {
                // SAFETY: the header says this is a Node.
                NODE => ss.fix_refs(&unsafe { p.cast::<Node>().as_ref() }.refs)?,
                // SAFETY: the header says this is a Big.
                BIG => ss.fix_refs(&unsafe { p.cast::<Big>().as_ref() }.refs)?,
                _ => {}
            }
            // SAFETY: the next object follows this one, inside the block.
            p = unsafe { p.add(size) };
        }
        if p != limit {
            panic!("api_ops: scan ran past the limit ({p:p} > {limit:p})");
        }
        Ok(())
    }

    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the object is `checked_size` bytes long.
        unsafe { p.add(checked_size(p)) }
    }

    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        let size = checked_size(old);
        let kind = header(old) & 0xff;
        if !matches!(kind, NODE | BIG | BLOB) {
            panic!("api_ops: forwarding a {kind} at {old:p}");
        }
        // SAFETY: the old copy is ours to overwrite and at least two words.
        unsafe {
            old.cast::<[usize; 2]>()
                .write([header_of(size / 8, FWD), new.as_ptr() as usize])
        }
    }

    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        checked_size(p);
        // SAFETY: a marker's second word is the new address.
        (header(p) & 0xff == FWD).then(|| unsafe { p.cast::<NonNull<u8>>().add(1).read() })
    }

    unsafe fn pad(base: NonNull<u8>, size: usize) {
        assert!(
            size >= 8 && size.is_multiple_of(8),
            "api_ops: pad of {size} bytes"
        );
        // SAFETY: the collector gives us `size` bytes at `base`.
        unsafe { base.cast::<usize>().write(header_of(size / 8, PAD)) }
    }
}

// SAFETY: NODE headers mark nodes of exactly size_of::<Node>() bytes (the
// alloc size, ALIGN being 8); both are checked by the format; the three
// references are scanned.
unsafe impl Object for Node {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == NODE
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Node> {
        p.cast()
    }
}

// SAFETY: as for Node, with BIG headers and six references.
unsafe impl Object for Big {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == BIG
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Big> {
        p.cast()
    }
}

// SAFETY: as for Node, with BLOB headers and no references.
unsafe impl Object for Blob {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == BLOB
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Blob> {
        p.cast()
    }
}

// SAFETY: a Blob holds no Ref and the scan method fixes nothing in it.
unsafe impl Leaf for Blob {}

// SAFETY: every object of the format (Node, Big, Blob) starts with the
// two words of `Common`, which holds no references; `is_instance` is only
// asked about objects (never pads or markers).
unsafe impl Object for Common {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        matches!(header(p) & 0xff, NODE | BIG | BLOB)
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Common> {
        p.cast()
    }
}

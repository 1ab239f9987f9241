//! A tiny heap for the code pool's heap constants: boxed integers in an
//! AMC pool, `[header word, value]`, moved by the collector like any
//! object.

use std::ptr::NonNull;

use mps::{Error, Format, Object, ScanState};

const BOX: usize = 1;
/// Tag of forwarding markers.
pub const FORWARD: usize = 2;
/// Tag of pads.
pub const PAD: usize = 3;

/// Offset of the value in a box: what a heap constant's symbol points to.
pub const VALUE_OFFSET: u32 = 8;

/// A boxed integer.
#[repr(C)]
pub struct Boxed {
    header: usize,
    pub value: i64,
}

impl Boxed {
    pub fn new(value: i64) -> Boxed {
        Boxed {
            header: (2 << 8) | BOX,
            value,
        }
    }
}

/// The format of boxes.
pub enum Boxes {}

/// The header word of a block: `(words << 8) | tag` (tags: this file's
/// for boxes, markers and pads; other formats of the tests that use the
/// functions below add their own).
pub fn header(p: NonNull<u8>) -> usize {
    // SAFETY: every block of the format starts with a header word.
    unsafe { p.cast::<usize>().read() }
}

/// `skip` of a format whose blocks start with a header word.
///
/// # Safety
///
/// `p` is a block of such a format.
pub unsafe fn skip_block(p: NonNull<u8>) -> NonNull<u8> {
    // SAFETY: the block is (header >> 8) words long.
    unsafe { p.add((header(p) >> 8) * 8) }
}

/// `forward` of such a format (its objects are at least two words).
///
/// # Safety
///
/// The collector's `forward` contract.
pub unsafe fn forward_block(old: NonNull<u8>, new: NonNull<u8>) {
    let words = header(old) >> 8;
    // SAFETY: the old copy (two words) is the collector's to overwrite.
    unsafe {
        old.cast::<[usize; 2]>()
            .write([(words << 8) | FORWARD, new.as_ptr() as usize])
    }
}

/// `is_forwarded` of such a format.
///
/// # Safety
///
/// `p` is a block of such a format.
pub unsafe fn is_forwarded_block(p: NonNull<u8>) -> Option<NonNull<u8>> {
    // SAFETY: a marker's second word is the new address.
    (header(p) & 0xff == FORWARD).then(|| unsafe { p.cast::<NonNull<u8>>().add(1).read() })
}

/// `pad` of such a format.
///
/// # Safety
///
/// The collector gives `size` bytes at `base`.
pub unsafe fn pad_block(base: NonNull<u8>, size: usize) {
    // SAFETY: the caller's guarantee.
    unsafe { base.cast::<usize>().write(((size / 8) << 8) | PAD) }
}

/// The `skip`, `forward`, `is_forwarded` and `pad` methods of a format
/// whose blocks start with a header word (the functions above), inside its
/// `impl Format`; the argument is the path of this module from there.
#[macro_export]
macro_rules! header_word_methods {
    ($($m:ident)::+) => {
        unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
            // SAFETY: the collector's contract, forwarded.
            unsafe { $($m)::+::skip_block(p) }
        }
        unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
            // SAFETY: the collector's contract, forwarded.
            unsafe { $($m)::+::forward_block(old, new) }
        }
        unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
            // SAFETY: the collector's contract, forwarded.
            unsafe { $($m)::+::is_forwarded_block(p) }
        }
        unsafe fn pad(base: NonNull<u8>, size: usize) {
            // SAFETY: the collector's contract, forwarded.
            unsafe { $($m)::+::pad_block(base, size) }
        }
    };
}

// SAFETY: every block is sized by its header (in words); boxes hold no
// references; a marker (two words) fits in a box; a pad of one word is
// its header alone.
unsafe impl Format for Boxes {
    unsafe fn scan(_: &mut ScanState<'_>, _: NonNull<u8>, _: NonNull<u8>) -> Result<(), Error> {
        Ok(())
    }
    header_word_methods!(self);
}

// SAFETY: BOX headers mark boxes, which `Boxed::new` makes well formed.
unsafe impl Object for Boxed {
    type Format = Boxes;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == BOX
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Boxed> {
        p.cast()
    }
}

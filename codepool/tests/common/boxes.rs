//! A tiny heap for the code pool's heap constants: boxed integers in an
//! AMC pool, `[header word, value]`, moved by the collector like any
//! object.

use std::ptr::NonNull;

use mps::{Error, Format, Object, ScanState};

const BOX: usize = 1;
const FORWARD: usize = 2;
const PAD: usize = 3;

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

fn header(p: NonNull<u8>) -> usize {
    // SAFETY: every block of the format starts with a header word.
    unsafe { p.cast::<usize>().read() }
}

// SAFETY: every block is sized by its header (in words); boxes hold no
// references; a marker (two words) fits in a box; a pad of one word is
// its header alone.
unsafe impl Format for Boxes {
    unsafe fn scan(_: &mut ScanState<'_>, _: NonNull<u8>, _: NonNull<u8>) -> Result<(), Error> {
        Ok(())
    }
    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block is (header >> 8) words long.
        unsafe { p.add((header(p) >> 8) * 8) }
    }
    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        let words = header(old) >> 8;
        // SAFETY: the old copy (two words) is the collector's to overwrite.
        unsafe {
            old.cast::<[usize; 2]>()
                .write([(words << 8) | FORWARD, new.as_ptr() as usize])
        }
    }
    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: a marker's second word is the new address.
        (header(p) & 0xff == FORWARD).then(|| unsafe { p.cast::<NonNull<u8>>().add(1).read() })
    }
    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector gives us `size` bytes at `base`.
        unsafe { base.cast::<usize>().write(((size / 8) << 8) | PAD) }
    }
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

//! Segregated allocation caches (`mps_sac_t`): per-size-class free lists in
//! front of a manual pool, so that most allocations and frees of small
//! blocks take no lock and make no call into the collector.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::error::{check, Error};
use crate::manual::{ManualClass, ManualPool};
use crate::pool::ABSURD_SIZE;

/// One size class of a [`Sac`] (`mps_sac_class_s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SacClass {
    /// The largest block of the class, in bytes: a multiple of the pool's
    /// alignment, at least a word. Classes are given in increasing order
    /// of block size.
    pub block_size: usize,
    /// How many free blocks of the class the cache keeps, at most (any
    /// number: an empty class is refilled with half of it, but no more
    /// than 64 KiB of blocks at once).
    pub cached_count: usize,
    /// A hint: how often blocks of the class are expected, relative to
    /// the other classes.
    pub frequency: u32,
}

/// A segregated allocation cache in front of a manual pool
/// ([`ManualPool::sac`]). [`alloc`](Self::alloc) serves a block from the
/// free list of the first class at least as large as the request (refilled
/// from the pool when empty); a dropped [`SacBlock`] goes back onto that
/// list (or to the pool when the list is full). Requests larger than the
/// largest class go to the pool directly.
///
/// A cache belongs to one thread at a time: it is `Send` but not `Sync`.
/// Dropping it flushes its lists back to the pool and destroys it
/// (`mps_sac_destroy`); its blocks borrow it, so all are gone by then.
pub struct Sac<'a> {
    raw: NonNull<_mps_sac_s>,
    align: usize,
    max_size: usize,
    _pool: PhantomData<&'a ()>,
    /// Not `Sync`: the cache's lists are updated without a lock.
    _not_sync: PhantomData<Cell<()>>,
}

impl<'a, C: ManualClass> ManualPool<'a, C> {
    /// Creates a segregated allocation cache in front of this pool
    /// (`mps_sac_create`) with the given size classes (1 to 8, in
    /// increasing order of block size).
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if a class is out of order, smaller than a word,
    /// not a multiple of the pool's [`align`](Self::align), or (MFS)
    /// larger than the unit; otherwise the MPS's result.
    pub fn sac(&self, classes: &[SacClass]) -> Result<Sac<'a>, Error> {
        let word = core::mem::size_of::<usize>();
        let limit = MPS_SAC_CLASS_LIMIT as usize;
        if classes.is_empty() || classes.len() > limit {
            return Err(Error::Param);
        }
        let mut last = 0;
        for class in classes {
            let size = class.block_size;
            if size < word || size % self.align() != 0 || size <= last || size > self.max_size() {
                return Err(Error::Param);
            }
            last = size;
        }
        let mut raw: Vec<mps_sac_class_s> = classes
            .iter()
            .map(|c| mps_sac_class_s {
                mps_block_size: c.block_size,
                mps_cached_count: c.cached_count,
                mps_frequency: c.frequency,
            })
            .collect();
        let mut sac: mps_sac_t = ptr::null_mut();
        // SAFETY: `sac` is a valid out parameter; the pool is live and has
        // mps_alloc and mps_free; the classes were checked above and the
        // array outlives the call.
        check(unsafe { mps_sac_create(&mut sac, self.as_raw(), raw.len(), raw.as_mut_ptr()) })?;
        Ok(Sac {
            raw: NonNull::new(sac).expect("mps_sac_create returned a null cache"),
            align: self.align(),
            max_size: self.max_size(),
            _pool: PhantomData,
            _not_sync: PhantomData,
        })
    }
}

impl Sac<'_> {
    /// Allocates a block of `size` bytes through the cache
    /// (`MPS_SAC_ALLOC_FAST`), **zeroed**. Dropping the block frees it
    /// through the cache (`MPS_SAC_FREE_FAST`).
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if `size` is zero, larger than an MFS pool's unit,
    /// or absurdly large; otherwise the MPS's result.
    pub fn alloc(&self, size: usize) -> Result<SacBlock<'_>, Error> {
        if size == 0 || size > self.max_size || size >= ABSURD_SIZE {
            return Err(Error::Param);
        }
        let mut p: mps_addr_t = ptr::null_mut();
        // SAFETY: the cache is live and used by this thread only (`Sac`
        // is not `Sync`, and `&self` is borrowed for the call); `size` is
        // non-zero; `p` is a valid out parameter.
        check(unsafe { sac_alloc(&mut p, self.raw.as_ptr(), size) })?;
        let ptr = NonNull::new(p.cast::<u8>()).expect("the cache returned a null block");
        // SAFETY: the cache gave us at least `size` writable bytes at
        // `ptr`, owned by the new block alone.
        unsafe { ptr.as_ptr().write_bytes(0, size) };
        Ok(SacBlock {
            ptr,
            size,
            sac: self,
        })
    }

    /// Returns every cached free block to the pool (`mps_sac_flush`).
    pub fn flush(&self) {
        // SAFETY: the cache is live and used by this thread only.
        unsafe { mps_sac_flush(self.raw.as_ptr()) }
    }

    /// Free blocks the cache holds now, over all classes.
    pub fn cached_blocks(&self) -> usize {
        // SAFETY: the cache is live and used by this thread only; reading
        // its public lists does not change them.
        let sac = unsafe { self.raw.as_ref() };
        sac._freelists.iter().map(|fl| fl._count).sum::<usize>()
    }

    /// The alignment of every block (the pool's).
    pub fn align(&self) -> usize {
        self.align
    }
}

/// The list a fast path may use for `size`: the first class at least
/// that large, unless the request is overlarge or the cache trapped.
fn fast_class(s: &mut _mps_sac_s, size: usize) -> Option<&mut _mps_sac_freelist_block_s> {
    if size > s._middle || s._trapped != 0 {
        return None;
    }
    s._freelists.iter_mut().find(|fl| fl._size >= size)
}

/// `MPS_SAC_ALLOC_FAST`: pop a block of the first class at least `size`
/// large, or call `mps_sac_fill`.
///
/// # Safety
///
/// `sac` is a live cache used by no other thread; `p_o` is writable.
unsafe fn sac_alloc(p_o: *mut mps_addr_t, sac: *mut _mps_sac_s, size: usize) -> mps_res_t {
    // SAFETY: the caller's promises: the cache's public part is ours to
    // read and write now.
    let s = unsafe { &mut *sac };
    if let Some(fl) = fast_class(s, size) {
        if fl._count > 0 {
            let p = fl._blocks;
            // SAFETY: a cached block is free memory of at least a word,
            // linked through its first word.
            fl._blocks = unsafe { p.cast::<mps_addr_t>().read() };
            fl._count -= 1;
            // SAFETY: `p_o` is writable (the caller's promise).
            unsafe { p_o.write(p) };
            return MPS_RES_OK as mps_res_t;
        }
    }
    // SAFETY: as above; the slow path takes the arena lock itself.
    unsafe { mps_sac_fill(p_o, sac, size, 0) }
}

/// `MPS_SAC_FREE_FAST`: push the block onto its class's list, or call
/// `mps_sac_empty`.
///
/// # Safety
///
/// `sac` is a live cache used by no other thread; `p` is a block of
/// `size` bytes allocated through it and not freed since.
unsafe fn sac_free(sac: *mut _mps_sac_s, p: mps_addr_t, size: usize) {
    // SAFETY: the caller's promises.
    let s = unsafe { &mut *sac };
    if let Some(fl) = fast_class(s, size) {
        if fl._count < fl._count_max {
            // SAFETY: the block is ours, at least a word and aligned.
            unsafe { p.cast::<mps_addr_t>().write(fl._blocks) };
            fl._blocks = p;
            fl._count += 1;
            return;
        }
    }
    // SAFETY: as above; the slow path takes the arena lock itself.
    unsafe { mps_sac_empty(sac, p, size) }
}

impl Drop for Sac<'_> {
    fn drop(&mut self) {
        // SAFETY: the cache is live, no block of it is outstanding (they
        // borrow it), and it is destroyed once, here, before its pool
        // (which the arena owns, and `'a` borrows the arena).
        unsafe { mps_sac_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Sac<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sac({:p}, {} cached)", self.raw, self.cached_blocks())
    }
}

// SAFETY: the cache may move to another thread; only one uses it at a
// time (it is not `Sync`, and its blocks borrow it).
unsafe impl Send for Sac<'_> {}

/// A block allocated through a [`Sac`]: `len()` bytes of plain memory,
/// zeroed at allocation, read and written as a byte slice. Dropping it
/// frees it through the cache.
pub struct SacBlock<'s> {
    ptr: NonNull<u8>,
    size: usize,
    sac: &'s Sac<'s>,
}

impl SacBlock<'_> {
    /// The block's address (its first byte).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
}

impl Deref for SacBlock<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `size` initialised bytes (zeroed at allocation), owned by
        // this block until it is dropped.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }
}

impl DerefMut for SacBlock<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` is the only access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }
}

impl Drop for SacBlock<'_> {
    fn drop(&mut self) {
        // SAFETY: the block came from this cache with this size and is
        // freed once, here, on the cache's thread (the cache is not `Sync`
        // and the block borrows it, so the block is not `Send` either).
        unsafe { sac_free(self.sac.raw.as_ptr(), self.ptr.as_ptr().cast(), self.size) }
    }
}

impl fmt::Debug for SacBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SacBlock({:p}, {} bytes)", self.ptr, self.size)
    }
}

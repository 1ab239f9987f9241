//! The MVT pool class (manual variable temporal): blocks of raw memory
//! allocated through allocation points and freed by the client, for
//! blocks whose lifetimes follow the order they were allocated in.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::pool::{PoolId, ABSURD_SIZE};
use crate::raw::{RawAp, RawPool};

/// Options of an [`Mvt`] pool; `MvtOptions::default()` is the MPS's
/// defaults. Values out of range make [`Arena::mvt`] fail with
/// [`Error::Param`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MvtOptions {
    /// Alignment of every block (`MPS_KEY_ALIGN`, default the word size):
    /// a power of two from the word size up to the arena's grain.
    pub align: Option<usize>,
    /// Smallest expected block (`MPS_KEY_MIN_SIZE`); at most the mean.
    pub min_size: Option<usize>,
    /// Expected mean block size (`MPS_KEY_MEAN_SIZE`, default 32).
    pub mean_size: Option<usize>,
    /// Largest expected block (`MPS_KEY_MAX_SIZE`, default 8192); at least
    /// the mean.
    pub max_size: Option<usize>,
    /// How many mean-size blocks' worth of free memory the pool keeps
    /// rather than returning it to the arena
    /// (`MPS_KEY_MVT_RESERVE_DEPTH`, default 1024); non-zero.
    pub reserve_depth: Option<usize>,
    /// Fraction of the pool that may be free before it allocates in
    /// address order to limit fragmentation (`MPS_KEY_MVT_FRAG_LIMIT`,
    /// default 0.3); 0.0 ..= 1.0.
    pub frag_limit: Option<f64>,
}

/// A manual variable temporal pool (MVT), created by [`Arena::mvt`].
/// Blocks come from allocation points ([`Mvt::ap`], then
/// [`MvtAp::alloc`]) and are freed (`mps_free`) when the [`MvtBlock`] is
/// dropped. Nothing in it is scanned.
///
/// A `Copy` handle: the arena owns the pool and destroys it when it is
/// dropped; allocation points and blocks borrow the arena.
#[derive(Clone, Copy)]
pub struct Mvt<'a> {
    raw: NonNull<mps_pool_s>,
    arena: &'a Arena,
    align: usize,
}

impl Arena {
    /// A manual variable temporal pool (MVT).
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if an option is out of range (see
    /// [`MvtOptions`]); otherwise the MPS's result.
    pub fn mvt(&self, options: &MvtOptions) -> Result<Mvt<'_>, Error> {
        let word = core::mem::size_of::<usize>();
        let mut args = ArgList::new();
        let align = options.align.unwrap_or(word);
        if !align.is_power_of_two() || align < word {
            return Err(Error::Param);
        }
        args.add(MPS_KEY_ALIGN, align);
        let sizes = [
            (MPS_KEY_MIN_SIZE, options.min_size),
            (MPS_KEY_MEAN_SIZE, options.mean_size),
            (MPS_KEY_MAX_SIZE, options.max_size),
        ];
        for (key, value) in sizes {
            if let Some(size) = value {
                if size == 0 || size >= ABSURD_SIZE {
                    return Err(Error::Param);
                }
                args.add(key, size);
            }
        }
        if let Some(depth) = options.reserve_depth {
            if depth == 0 || depth >= ABSURD_SIZE {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_MVT_RESERVE_DEPTH, depth as mps_word_t);
        }
        if let Some(limit) = options.frag_limit {
            if !(0.0..=1.0).contains(&limit) {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_MVT_FRAG_LIMIT, limit);
        }
        let mut pool = ptr::null_mut();
        // SAFETY: `pool` is a valid out parameter; the arena is live; the
        // list holds MVT's keys with values of their types.
        check(unsafe {
            mps_pool_create_k(&mut pool, self.as_raw(), mps_class_mvt(), args.as_mut_ptr())
        })?;
        // SAFETY: the call succeeded; the arena's registry owns the pool
        // and destroys it when the arena is dropped, after every
        // allocation point and block (they borrow the arena).
        let owned = unsafe { RawPool::from_raw(pool) };
        let raw = NonNull::new(pool).expect("checked by RawPool::from_raw");
        self.adopt_pool(owned, false, true);
        Ok(Mvt {
            raw,
            arena: self,
            align,
        })
    }
}

impl<'a> Mvt<'a> {
    /// An allocation point on the pool (`mps_ap_create_k`).
    ///
    /// # Errors
    ///
    /// The MPS's result.
    pub fn ap(&self) -> Result<MvtAp<'a>, Error> {
        let mut ap = ptr::null_mut();
        let mut args = ArgList::new();
        // SAFETY: `ap` is a valid out parameter; the pool is live; the
        // list is empty and terminated.
        check(unsafe { mps_ap_create_k(&mut ap, self.raw.as_ptr(), args.as_mut_ptr()) })?;
        Ok(MvtAp {
            // SAFETY: the call succeeded; the allocation point is ours and
            // is destroyed once, by `RawAp`'s drop, before the pool.
            raw: unsafe { RawAp::from_raw(ap) },
            pool: self.raw,
            align: self.align,
            _arena: PhantomData,
        })
    }

    /// The alignment of every block.
    pub fn align(&self) -> usize {
        self.align
    }

    /// Bytes the pool has from the arena (`mps_mvt_size`).
    pub fn total_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_total_size(self.raw.as_ptr()) }
    }

    /// Bytes of that not allocated to blocks (`mps_mvt_free_size`).
    pub fn free_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_free_size(self.raw.as_ptr()) }
    }

    /// The pool's identity.
    pub fn id(&self) -> PoolId {
        PoolId::from_raw(self.raw.as_ptr()).expect("non-null")
    }

    /// The arena the pool belongs to.
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }
}

impl fmt::Debug for Mvt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mvt({:p})", self.raw)
    }
}

// SAFETY: the handle only names the pool; every operation on it takes
// the arena lock.
unsafe impl Send for Mvt<'_> {}
// SAFETY: as above.
unsafe impl Sync for Mvt<'_> {}

/// An allocation point of an [`Mvt`] pool. Used by one thread at a time
/// (allocation takes `&mut self`).
pub struct MvtAp<'a> {
    raw: RawAp,
    pool: NonNull<mps_pool_s>,
    align: usize,
    _arena: PhantomData<&'a Arena>,
}

impl<'a> MvtAp<'a> {
    /// Allocates a block of `size` bytes (reserve and commit), **zeroed**;
    /// `size` is rounded up to the pool's alignment. Dropping the block
    /// frees it (`mps_free`).
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if `size` is zero or absurdly large; otherwise
    /// the MPS's result.
    pub fn alloc(&mut self, size: usize) -> Result<MvtBlock<'a>, Error> {
        if size == 0 || size >= ABSURD_SIZE {
            return Err(Error::Param);
        }
        let rounded = size.next_multiple_of(self.align);
        let ap = self.raw.as_ptr();
        let p = loop {
            let mut p: mps_addr_t = ptr::null_mut();
            // SAFETY: the allocation point is live and used by this thread
            // only (`&mut self`); `rounded` is a non-zero multiple of the
            // pool's alignment; `p` is a valid out parameter.
            check(unsafe { reserve(&mut p, ap, rounded) })?;
            // SAFETY: the reserved block is `rounded` writable bytes, ours.
            unsafe { p.cast::<u8>().write_bytes(0, rounded) };
            // SAFETY: `p` and `rounded` are those of the reserve above.
            if unsafe { commit(ap, p, rounded) } {
                break p;
            }
        };
        Ok(MvtBlock {
            ptr: NonNull::new(p.cast::<u8>()).expect("the MPS reserved a null block"),
            size,
            rounded,
            pool: self.pool,
            _arena: PhantomData,
        })
    }
}

impl fmt::Debug for MvtAp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MvtAp({:p})", self.raw.as_ptr())
    }
}

/// A block of an [`Mvt`] pool: `len()` bytes of plain memory, zeroed at
/// allocation. Dropping it frees it (`mps_free`).
pub struct MvtBlock<'a> {
    ptr: NonNull<u8>,
    size: usize,
    rounded: usize,
    pool: NonNull<mps_pool_s>,
    _arena: PhantomData<&'a Arena>,
}

impl MvtBlock<'_> {
    /// The block's address (its first byte).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
}

impl Deref for MvtBlock<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `size` initialised bytes (zeroed at allocation), owned by
        // this block until it is dropped.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }
}

impl DerefMut for MvtBlock<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` is the only access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }
}

impl Drop for MvtBlock<'_> {
    fn drop(&mut self) {
        // SAFETY: the block was committed in this pool with this (rounded)
        // size and is freed once, here; the pool is live (the arena owns
        // it and is borrowed for `'a`).
        unsafe { mps_free(self.pool.as_ptr(), self.ptr.as_ptr().cast(), self.rounded) }
    }
}

impl fmt::Debug for MvtBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MvtBlock({:p}, {} bytes)", self.ptr, self.size)
    }
}

// SAFETY: the block is plain memory owned by this value; freeing it takes
// the arena lock, from any thread.
unsafe impl Send for MvtBlock<'_> {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for MvtBlock<'_> {}

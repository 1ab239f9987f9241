//! Manual pools (MVFF, MFS): blocks allocated and freed by the client,
//! never scanned or collected.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::error::{check, Error};
use crate::pool::{PoolId, ABSURD_SIZE};
use crate::raw::RawPool;

mod sealed {
    /// Not nameable outside the crate: no other manual class can be added.
    pub trait Sealed {}
}

/// A manual pool class of the safe layer: [`MvffClass`] or [`MfsClass`].
/// Sealed.
pub trait ManualClass: sealed::Sealed + 'static {
    /// The MPS class (`mps_class_mvff()`, `mps_class_mfs()`).
    fn mps_class() -> mps_pool_class_t;
    /// The class's name, for messages.
    const NAME: &'static str;
}

/// The class of [`Mvff`] pools: manual variable-size first fit.
#[derive(Debug)]
pub enum MvffClass {}

/// The class of [`Mfs`] pools: manual fixed-size units.
#[derive(Debug)]
pub enum MfsClass {}

/// The class of [`MvffDebug`] pools: MVFF with fenceposts and free-space
/// splatting (`mps_class_mvff_debug`).
#[derive(Debug)]
pub enum MvffDebugClass {}

impl sealed::Sealed for MvffClass {}
impl sealed::Sealed for MfsClass {}
impl sealed::Sealed for MvffDebugClass {}

impl ManualClass for MvffDebugClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_mvff_debug() }
    }
    const NAME: &'static str = "MVFF debug";
}

/// What a debug pool ([`Arena::mvff_debug`],
/// [`Arena::ams_debug`](crate::Arena::ams_debug)) does to catch memory errors
/// (`mps_pool_debug_option_s`). An empty template turns its check off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// Copied, repeated, before and after every block (`fence_template`):
    /// [`ManualPool::check_fenceposts`] and freeing a block check that
    /// they are intact.
    pub fence: &'static [u8],
    /// Written, repeated, over freed memory (`free_template`):
    /// [`ManualPool::check_free_space`] checks that nothing wrote to it,
    /// and so does every allocation (and every allocation-point refill)
    /// that hands that memory out again.
    pub free: &'static [u8],
}

impl DebugOptions {
    /// The options as the MPS takes them. The MPS may keep the structure
    /// for the pool's lifetime: it lives as long as the process (32 bytes
    /// per debug pool); the templates are `'static`.
    pub(crate) fn leak_raw(&self) -> &'static mut mps_pool_debug_option_s {
        Box::leak(Box::new(mps_pool_debug_option_s {
            fence_template: self.fence.as_ptr().cast(),
            fence_size: self.fence.len(),
            free_template: self.free.as_ptr().cast(),
            free_size: self.free.len(),
        }))
    }
}

impl ManualClass for MvffClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_mvff() }
    }
    const NAME: &'static str = "MVFF";
}

impl ManualClass for MfsClass {
    fn mps_class() -> mps_pool_class_t {
        // SAFETY: a pure query of the MPS.
        unsafe { mps_class_mfs() }
    }
    const NAME: &'static str = "MFS";
}

/// Options of an [`Mvff`] pool; `MvffOptions::default()` is the MPS's
/// defaults. Values out of range make [`Arena::mvff`] fail with
/// [`Error::Param`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MvffOptions {
    /// Minimum size in bytes of the segments the pool takes from the arena
    /// (`MPS_KEY_EXTEND_BY`, default 64 KiB); non-zero.
    pub extend_by: Option<usize>,
    /// Expected mean block size in bytes (`MPS_KEY_MEAN_SIZE`, default
    /// 32); non-zero.
    pub mean_size: Option<usize>,
    /// Alignment of every block (`MPS_KEY_ALIGN`, default the word size):
    /// a power of two from the word size up to the arena's grain (as this
    /// crate knows it: 4096, or the arena's
    /// [`grain_size`](crate::ArenaBuilder::grain_size) if larger).
    pub align: Option<usize>,
    /// Fraction of the pool's free memory kept for reuse before memory
    /// goes back to the arena (`MPS_KEY_SPARE`, default 0.75); 0.0 ..= 1.0.
    pub spare: Option<f64>,
    /// Take segments from high addresses (`MPS_KEY_MVFF_ARENA_HIGH`,
    /// default false).
    pub arena_high: Option<bool>,
    /// Carve a block from the high end of the free range chosen
    /// (`MPS_KEY_MVFF_SLOT_HIGH`, default false).
    pub slot_high: Option<bool>,
    /// Choose the lowest free range that fits (true, the default) or the
    /// highest (`MPS_KEY_MVFF_FIRST_FIT`).
    pub first_fit: Option<bool>,
}

/// Options of an [`Mfs`] pool besides its unit size;
/// `MfsOptions::default()` is the MPS's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfsOptions {
    /// Size in bytes of the segments the pool takes from the arena
    /// (`MPS_KEY_EXTEND_BY`, default 64 KiB); non-zero.
    pub extend_by: Option<usize>,
}

/// A manual pool of class `C` (`mps_pool_t`), created by [`Arena::mvff`]
/// or [`Arena::mfs`]: blocks of raw memory that the client allocates with
/// [`alloc`](Self::alloc) and frees by dropping the [`ManualBlock`] (or
/// with [`ManualBlock::free`]). Nothing in a manual pool is scanned: its
/// blocks hold bytes, never references the collector would follow.
///
/// A `Copy` handle: the arena owns the pool and destroys it when it is
/// dropped; blocks borrow the arena, so none outlives it.
pub struct ManualPool<'a, C> {
    raw: NonNull<mps_pool_s>,
    arena: &'a Arena,
    /// Every block's size is rounded up to this (a power of two).
    align: usize,
    /// The largest block: the unit size (MFS) or unlimited (MVFF).
    max_size: usize,
    /// Every block is allocated and freed with this size, whatever its
    /// length: the unit size (MFS, whose blocks are all one unit); 0
    /// (MVFF: the block's length).
    fixed_size: usize,
    _class: PhantomData<fn() -> C>,
}

/// A manual variable-size first-fit pool (MVFF).
pub type Mvff<'a> = ManualPool<'a, MvffClass>;

/// A manual fixed-size pool (MFS): every block is one unit.
pub type Mfs<'a> = ManualPool<'a, MfsClass>;

/// An MVFF pool with fenceposts and free-space splatting.
pub type MvffDebug<'a> = ManualPool<'a, MvffDebugClass>;

impl Arena {
    /// A manual variable-size first-fit pool (MVFF): blocks of any size,
    /// allocated with [`ManualPool::alloc`].
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if an option is out of range (see
    /// [`MvffOptions`]); otherwise the MPS's result.
    pub fn mvff(&self, options: &MvffOptions) -> Result<Mvff<'_>, Error> {
        let (mut args, align) = self.mvff_args(options)?;
        ManualPool::create(self, &mut args, align, ABSURD_SIZE - 1, 0)
    }

    /// A debugging MVFF pool (`mps_class_mvff_debug`): as
    /// [`mvff`](Self::mvff), and every block allocated with
    /// [`ManualPool::alloc`] has fenceposts, freed memory is overwritten
    /// with a template. A check that fails stops the process with an
    /// assertion of the MPS.
    ///
    /// # Errors
    ///
    /// As [`mvff`](Self::mvff).
    pub fn mvff_debug(
        &self,
        options: &MvffOptions,
        debug: &DebugOptions,
    ) -> Result<MvffDebug<'_>, Error> {
        let (mut args, align) = self.mvff_args(options)?;
        args.add(MPS_KEY_POOL_DEBUG_OPTIONS, debug.leak_raw());
        ManualPool::create(self, &mut args, align, ABSURD_SIZE - 1, 0)
    }

    /// The keyword arguments of an MVFF pool, and its alignment.
    fn mvff_args(&self, options: &MvffOptions) -> Result<(ArgList, usize), Error> {
        let word = core::mem::size_of::<usize>();
        let mut args = ArgList::new();
        if let Some(extend_by) = options.extend_by {
            if extend_by == 0 || extend_by >= ABSURD_SIZE {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_EXTEND_BY, extend_by);
        }
        if let Some(mean_size) = options.mean_size {
            if mean_size == 0 || mean_size >= ABSURD_SIZE {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_MEAN_SIZE, mean_size);
        }
        let align = options.align.unwrap_or(word);
        if !align.is_power_of_two() || align < word || align > self.max_align {
            return Err(Error::Param);
        }
        args.add(MPS_KEY_ALIGN, align);
        if let Some(spare) = options.spare {
            if !(0.0..=1.0).contains(&spare) {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_SPARE, spare);
        }
        if let Some(high) = options.arena_high {
            args.add(MPS_KEY_MVFF_ARENA_HIGH, mps_bool_t::from(high));
        }
        if let Some(high) = options.slot_high {
            args.add(MPS_KEY_MVFF_SLOT_HIGH, mps_bool_t::from(high));
        }
        if let Some(first) = options.first_fit {
            args.add(MPS_KEY_MVFF_FIRST_FIT, mps_bool_t::from(first));
        }
        Ok((args, align))
    }

    /// A manual fixed-size pool (MFS) of `unit_size`-byte units (rounded
    /// up to the word size): every block [`ManualPool::alloc`] returns is
    /// one unit.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if `unit_size` is smaller than a word or absurdly
    /// large, or an option is out of range; otherwise the MPS's result.
    pub fn mfs(&self, unit_size: usize, options: &MfsOptions) -> Result<Mfs<'_>, Error> {
        let word = core::mem::size_of::<usize>();
        if unit_size < word || unit_size >= ABSURD_SIZE {
            return Err(Error::Param);
        }
        let unit_size = unit_size.next_multiple_of(word);
        let mut args = ArgList::new();
        args.add(MPS_KEY_MFS_UNIT_SIZE, unit_size);
        if let Some(extend_by) = options.extend_by {
            if extend_by == 0 || extend_by >= ABSURD_SIZE {
                return Err(Error::Param);
            }
            args.add(MPS_KEY_EXTEND_BY, extend_by);
        }
        ManualPool::create(self, &mut args, word, unit_size, unit_size)
    }
}

impl<'a, C: ManualClass> ManualPool<'a, C> {
    fn create(
        arena: &'a Arena,
        args: &mut ArgList,
        align: usize,
        max_size: usize,
        fixed_size: usize,
    ) -> Result<Self, Error> {
        let mut pool = ptr::null_mut();
        // SAFETY: `pool` is a valid out parameter; the arena is live; the
        // arguments were checked against the class's ranges above.
        check(unsafe {
            mps_pool_create_k(&mut pool, arena.as_raw(), C::mps_class(), args.as_mut_ptr())
        })?;
        // SAFETY: the call succeeded; the arena's registry owns the pool
        // and destroys it when the arena is dropped, after every block
        // (blocks borrow the arena).
        let owned = unsafe { RawPool::from_raw(pool) };
        let raw = NonNull::new(pool).expect("checked by RawPool::from_raw");
        arena.adopt_pool(owned, false, true);
        Ok(ManualPool {
            raw,
            arena,
            align,
            max_size,
            fixed_size,
            _class: PhantomData,
        })
    }

    /// Allocates a block of `size` bytes (`mps_alloc`), **zeroed**. It is
    /// freed (`mps_free`) when the [`ManualBlock`] is dropped. In an MFS
    /// pool every block is one whole unit, allocated and freed with the
    /// unit size (the MPS requires it); its length is still `size`.
    ///
    /// Zeroing writes every page of the block: a block larger than the
    /// machine's memory gets the process killed by the kernel rather than
    /// an error, as committing address space succeeds. An arena with a
    /// commit limit ([`ArenaBuilder::commit_limit`](crate::ArenaBuilder::commit_limit))
    /// returns [`Error::CommitLimit`] instead.
    ///
    /// # Errors
    ///
    /// [`Error::Param`] if `size` is zero, larger than an MFS pool's unit,
    /// or absurdly large; otherwise the MPS's result (for example
    /// [`Error::CommitLimit`]).
    pub fn alloc(&self, size: usize) -> Result<ManualBlock<'a>, Error> {
        if size == 0 || size > self.max_size || size >= ABSURD_SIZE {
            return Err(Error::Param);
        }
        // MFS: every block is one unit, allocated and freed as such (the
        // MPS manual: all blocks of an MFS pool have the unit size).
        let alloc_size = if self.fixed_size != 0 {
            self.fixed_size
        } else {
            size
        };
        let mut p: mps_addr_t = ptr::null_mut();
        // SAFETY: the pool is live and supports `mps_alloc`; `alloc_size`
        // is non-zero, at least `size`, and small enough that rounding it
        // up cannot overflow (the unit size of an MFS pool); `p` is a valid
        // out parameter.
        check(unsafe { mps_alloc(&mut p, self.raw.as_ptr(), alloc_size) })?;
        let ptr = NonNull::new(p.cast::<u8>()).expect("mps_alloc returned a null block");
        // SAFETY: the MPS gave us `size` (rounded up) writable bytes at
        // `ptr`, owned by the new block alone.
        unsafe { ptr.as_ptr().write_bytes(0, size) };
        Ok(ManualBlock {
            ptr,
            size,
            alloc_size,
            pool: self.raw,
            _arena: PhantomData,
        })
    }

    /// The alignment of every block.
    #[inline]
    pub fn align(&self) -> usize {
        self.align
    }

    /// Checks the fenceposts of every block of a debug pool
    /// (`mps_pool_check_fenceposts`); does nothing for other classes. An
    /// overwritten fencepost stops the process with an MPS assertion.
    pub fn check_fenceposts(&self) {
        // SAFETY: the pool is live.
        unsafe { mps_pool_check_fenceposts(self.raw.as_ptr()) }
    }

    /// Checks that the free memory of a debug pool still holds the free
    /// template (`mps_pool_check_free_space`); does nothing for other
    /// classes. A write to freed memory stops the process with an MPS
    /// assertion.
    pub fn check_free_space(&self) {
        // SAFETY: the pool is live.
        unsafe { mps_pool_check_free_space(self.raw.as_ptr()) }
    }

    /// The largest block [`alloc`](Self::alloc) accepts: an MFS pool's
    /// unit size; an MVFF pool's limit is the absurd-size bound.
    #[inline]
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Bytes the pool got from the arena (`mps_pool_total_size`).
    pub fn total_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_total_size(self.raw.as_ptr()) }
    }

    /// Bytes of [`total_size`](Self::total_size) not in use by blocks
    /// (`mps_pool_free_size`).
    pub fn free_size(&self) -> usize {
        // SAFETY: the pool is live.
        unsafe { mps_pool_free_size(self.raw.as_ptr()) }
    }

    /// The raw MPS handle.
    #[inline]
    pub fn as_raw(&self) -> mps_pool_t {
        self.raw.as_ptr()
    }

    /// The pool's identity, as [`Arena::addr_pool`] reports it.
    #[inline]
    pub fn id(&self) -> PoolId {
        PoolId::from_raw(self.raw.as_ptr()).expect("non-null")
    }

    /// The arena this pool belongs to.
    #[inline]
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }
}

impl ManualPool<'_, MfsClass> {
    /// The size of every block (the unit size, rounded up to a word).
    #[inline]
    pub fn unit_size(&self) -> usize {
        self.max_size
    }
}

impl<C> Clone for ManualPool<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for ManualPool<'_, C> {}

impl<C: ManualClass> fmt::Debug for ManualPool<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualPool<{}>({:p})", C::NAME, self.raw)
    }
}

// SAFETY: manual pools may be used (blocks allocated and freed, sizes
// queried) from any thread; the MPS takes the arena lock. The pool lives
// as long as the arena.
unsafe impl<C> Send for ManualPool<'_, C> {}
// SAFETY: as above.
unsafe impl<C> Sync for ManualPool<'_, C> {}

/// A block of a manual pool ([`ManualPool::alloc`]): `len()` bytes of
/// plain memory, zeroed at allocation, read and written as a byte slice
/// (`Deref<Target = [u8]>`). Dropping it frees it (`mps_free` with the
/// size it was allocated with: its length in an MVFF pool, the unit size in
/// an MFS pool); so does [`free`](Self::free).
///
/// The memory is not scanned: a block may hold addresses as numbers, but
/// the collector neither keeps their objects alive nor updates them.
pub struct ManualBlock<'a> {
    ptr: NonNull<u8>,
    /// The length the client asked for.
    size: usize,
    /// The size passed to `mps_alloc`, and so to `mps_free`.
    alloc_size: usize,
    pool: NonNull<mps_pool_s>,
    _arena: PhantomData<&'a Arena>,
}

impl<'a> ManualBlock<'a> {
    /// The block's address (its first byte).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The block's address, for writing (its first byte).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The pool the block belongs to.
    #[inline]
    pub fn pool(&self) -> PoolId {
        PoolId::from_raw(self.pool.as_ptr()).expect("non-null")
    }

    /// Frees the block now (`mps_free`); the same as dropping it.
    pub fn free(self) {
        drop(self);
    }

    /// Gives up ownership: the block is never freed before its pool is
    /// destroyed with the arena, so the slice may live as long as the
    /// arena's borrow `'a`.
    pub fn leak(self) -> &'a mut [u8] {
        let (ptr, size) = (self.ptr, self.size);
        core::mem::forget(self);
        // SAFETY: `size` initialised (zeroed) bytes at `ptr`, owned by
        // nothing else; the pool keeps them until the arena is dropped,
        // which `'a` (a borrow of the arena) outlives.
        unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), size) }
    }
}

impl Deref for ManualBlock<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `size` initialised bytes (zeroed at allocation), owned by
        // this block until it is dropped.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }
}

impl DerefMut for ManualBlock<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` is the only access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }
}

impl Drop for ManualBlock<'_> {
    fn drop(&mut self) {
        // SAFETY: the block was allocated from this pool with size
        // `alloc_size` and is freed once, here; the pool is live (the
        // arena, which owns it, is borrowed for `'a`).
        unsafe {
            mps_free(
                self.pool.as_ptr(),
                self.ptr.as_ptr().cast(),
                self.alloc_size,
            )
        }
    }
}

impl fmt::Debug for ManualBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualBlock({:p}, {} bytes)", self.ptr, self.size)
    }
}

// SAFETY: the block is plain memory owned by this value; freeing it takes
// the arena lock, from any thread.
unsafe impl Send for ManualBlock<'_> {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for ManualBlock<'_> {}

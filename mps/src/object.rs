//! Typed objects in the heap: [`Object`], [`Leaf`] and the reference field
//! type [`Ref`].

use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::format::Format;

/// A reference field inside a heap object: null, or the client pointer of
/// an object of the same arena and format.
///
/// A `Ref` is an atomic word: the collector rewrites it (the target moved,
/// or a weak target died) while the mutators are stopped, and safe code only
/// ever sees it through a shared reference (`&T` inside
/// [`Handle::with`](crate::Handle::with)). Safe code can create only null
/// `Ref`s and cannot set one directly: it reads and writes reference fields
/// through [`Handle::get`](crate::Handle::get) and
/// [`Handle::set`](crate::Handle::set), which check that the field lies
/// inside the object and that both objects share an arena. A format's scan
/// method fixes it with [`ScanState::fix_ref`](crate::ScanState::fix_ref).
#[repr(transparent)]
pub struct Ref(AtomicPtr<u8>);

impl Ref {
    /// A null reference.
    #[inline]
    pub const fn null() -> Ref {
        Ref(AtomicPtr::new(ptr::null_mut()))
    }

    /// Is the reference null?
    #[inline]
    pub fn is_null(&self) -> bool {
        self.load_raw().is_null()
    }

    /// The address the reference holds now, as an integer: for hashing with
    /// a location dependency ([`Ld`](crate::Ld)) or for printing. It changes
    /// when the collector moves the target.
    #[inline]
    pub fn addr(&self) -> usize {
        self.load_raw() as usize
    }

    /// The raw pointer the reference holds now. Reading it is harmless;
    /// dereferencing it is only sound while the target cannot move or die
    /// (for example while the containing object is being scanned).
    #[inline]
    pub fn load_raw(&self) -> *mut u8 {
        self.0.load(Ordering::Relaxed)
    }

    /// Stores a raw pointer.
    ///
    /// # Safety
    ///
    /// `self` must be a reference field of a heap object (one the format's
    /// scan method fixes), and `value` must be null or the client pointer of
    /// a live object of the same arena and format that stays reachable or
    /// pinned until the store is done (for example because its address is
    /// held in a local variable of a registered thread).
    ///
    /// Tagged immediates: `value` may also be a word that is not an
    /// object's address (a fixnum, say) if the format's scan method
    /// recognises it and does not fix the field while it holds such a
    /// word. Until a later store puts an object's address (or null) back,
    /// the field must be read only with [`load_raw`](Ref::load_raw) or
    /// [`addr`](Ref::addr), never through [`Handle::get`](crate::Handle::get)
    /// or anything else that treats it as a reference.
    #[inline]
    pub unsafe fn store_raw(&self, value: *mut u8) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl Default for Ref {
    fn default() -> Self {
        Ref::null()
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({:p})", self.load_raw())
    }
}

/// A Rust type whose values live in the heap, in pools of format
/// [`Object::Format`]: the typed view of one kind of object of a runtime.
///
/// Safe code reaches objects only through [`Handle`](crate::Handle)s:
/// [`Handle::with`](crate::Handle::with) lends a `&Self` for the duration of
/// a closure, with the object pinned, after [`is_instance`](Self::is_instance)
/// said yes.
///
/// # Safety
///
/// The implementor promises, for the format `Self::Format`:
///
/// - [`is_instance`](Self::is_instance) may be called with the client
///   pointer of any live object of the format (never a pad or a forwarding
///   marker) and reads no more than every such object has; when it returns
///   `true`, [`from_addr`](Self::from_addr) yields a pointer to a valid
///   `Self` whose extent (`size_of_val`) lies inside the object's block.
/// - Every reference the object holds is a [`Ref`] inside `Self`, and the
///   format's scan method fixes every one of them. Nothing else in `Self` is
///   written by the collector, so `Self`'s other fields must be plain data
///   (mutable fields use atomics or other `Sync` interior mutability).
/// - Every value of `Self` that safe code can construct, written by
///   [`Scope::alloc`](crate::Scope::alloc) at the client pointer of a block
///   of [`alloc_size::<Self>()`](alloc_size) bytes (the format's header
///   size must then be 0), is a well-formed object of the format: `skip`
///   returns the block's end, `scan` accepts it, `is_forwarded` says no,
///   and `is_instance` says yes. Keep fields private where a wrong value
///   (a bad tag or length) would break this.
///
/// `Drop` never runs for heap objects: their memory is reclaimed (or
/// copied bytewise when they move) without it, so `Self` should own no
/// resources outside the heap.
pub unsafe trait Object: Sync + 'static {
    /// The format of the pools this type lives in.
    type Format: Format;

    /// Is the object at client pointer `addr` a `Self`?
    ///
    /// # Safety
    ///
    /// `addr` must be the client pointer of a live object of
    /// `Self::Format`, not moving while the call runs.
    unsafe fn is_instance(addr: NonNull<u8>) -> bool;

    /// A pointer to the `Self` at client pointer `addr` (for an unsized
    /// type, with its metadata read from the object). For a sized type this
    /// is `addr.cast()`.
    ///
    /// # Safety
    ///
    /// `addr` must be the client pointer of a live object for which
    /// [`is_instance`](Self::is_instance) returned `true`.
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self>;
}

/// An [`Object`] type that holds no references, so it may live in a leaf
/// pool ([`Amcz`](crate::Amcz)), which is never scanned.
///
/// # Safety
///
/// `Self` contains no [`Ref`] (not even a null one) and nothing else the
/// format's scan method would fix.
pub unsafe trait Leaf: Object {}

/// The size of the block [`Scope::alloc`](crate::Scope::alloc) reserves for
/// a `T`: `size_of::<T>()` rounded up to the format's alignment (and at
/// least one alignment unit). A format's `skip` must report this size for
/// such objects.
pub const fn alloc_size<T: Object>() -> usize {
    let align = <T::Format as Format>::ALIGN;
    let size = core::mem::size_of::<T>();
    let rounded = size.div_ceil(align) * align;
    if rounded == 0 {
        align
    } else {
        rounded
    }
}

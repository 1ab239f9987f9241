//! A small object format shared by the integration tests: pairs, integers,
//! vectors, strings and dependent vectors (for AWL weak tables), each with
//! an id for checking identity.
//!
//! Every object starts with a header word `(size_in_words << 8) | kind`, so
//! `skip` is the same for objects, pads and forwarding markers.
#![allow(dead_code)]

pub mod coroutines;
pub mod hang;

/// The body of a test that checks memory mistakes stop the process: in a
/// child process (this test binary re-run for the test `test` alone, with
/// `var` naming the case) `child(case)` makes the mistake and the check
/// that must catch it. The parent runs the case "none", which must pass,
/// then each `(case, words)` of `cases`, which must end in SIGABRT with
/// `words` in its stderr (vendor/mps's wording: not checked against
/// another library).
pub fn check_mistakes(test: &str, var: &str, child: fn(&str), cases: &[(&str, &str)]) {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(case) = std::env::var(var) {
        child(&case);
        return;
    }
    let run = |case: &str| {
        let exe = std::env::current_exe().expect("current exe");
        let out = hang::output_within(
            std::process::Command::new(exe)
                .args(["--exact", test, "--nocapture"])
                .env(var, case),
        );
        (
            out.status.signal(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (signal, stderr) = run("none");
    assert_eq!(signal, None, "a clean child failed: {stderr}");
    for (case, words) in cases {
        let (signal, stderr) = run(case);
        assert_eq!(signal, Some(6), "{case}: not caught: {stderr}");
        assert!(
            !mps::sys::VENDORED || stderr.contains(words),
            "{case}: stderr: {stderr}"
        );
    }
}

/// True, after printing why, if the linked MPS library is not vendor/mps's
/// own (`MPS_LIB_DIR` names another): the calling test checks behaviour
/// that the MPS Reference Manual allows another library to refuse or do
/// differently (`what`), and returns at once.
pub fn skip_unless_vendored(what: &str) -> bool {
    if mps::sys::VENDORED {
        return false;
    }
    eprintln!("skipped: {what}: only vendor/mps's library promises it (MPS_LIB_DIR links another)");
    true
}

/// Overwrites a stretch of stack below the caller, so that stale copies of
/// heap addresses left by earlier calls do not pin the objects a test
/// wants to see move or die.
#[inline(never)]
pub fn clobber_stack() {
    let buf = [0u64; 2048];
    std::hint::black_box(&buf);
}

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use mps::{Ap, Error, Format, Handle, Leaf, Object, PoolClass, Ref, ScanState, Scope};

pub const PAIR: usize = 1;
pub const INT: usize = 2;
pub const VECTOR: usize = 3;
pub const STR: usize = 4;
pub const FWD: usize = 5;
pub const PAD: usize = 6;
pub const DEPVEC: usize = 7;

const WORD: usize = std::mem::size_of::<usize>();

fn header(kind: usize, words: usize) -> usize {
    (words << 8) | kind
}

/// Reads the header word of the object at `p`.
///
/// # Safety
///
/// `p` is an object, pad or forwarding marker of this format.
unsafe fn header_at(p: NonNull<u8>) -> usize {
    // SAFETY: every object, pad and marker starts with a header word.
    unsafe { p.cast::<usize>().as_ptr().read() }
}

fn kind(h: usize) -> usize {
    h & 0xff
}

fn words(h: usize) -> usize {
    h >> 8
}

/// The format.
pub enum Lisp {}

// SAFETY: skip sizes every object, pad and marker by its header; scan fixes
// every Ref of pairs and vectors; forward writes a marker of the same size
// (every object has at least two words); pad writes a header of the size.
unsafe impl Format for Lisp {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        let mut p = base;
        while p < limit {
            // SAFETY: `[base, limit)` is a run of objects, pads and markers.
            let h = unsafe { header_at(p) };
            match kind(h) {
                // SAFETY: `p` is a pair of this format.
                PAIR => unsafe {
                    let pair = p.cast::<Pair>().as_ref();
                    ss.fix_ref(&pair.car)?;
                    ss.fix_ref(&pair.cdr)?;
                },
                // SAFETY: `p` is a vector of this format.
                VECTOR => unsafe {
                    let v = Vector::from_addr(p).as_ref();
                    ss.fix_refs(&v.elems)?;
                },
                // SAFETY: `p` is a dependent vector; its dependent (if any)
                // is a live vector in a non-moving pool, made accessible by
                // the collector before this scan (find_dependent).
                DEPVEC => unsafe {
                    let v = DepVec::from_addr(p).as_ref();
                    let dep = v.dependent.load(Ordering::Relaxed);
                    for (i, elem) in v.elems.iter().enumerate() {
                        if ss.fix_weak_ref(elem)? {
                            v.splats.fetch_add(1, Ordering::Relaxed);
                            if dep != 0 {
                                let d = Vector::from_addr(NonNull::new_unchecked(dep as *mut u8))
                                    .as_ref();
                                if let Some(slot) = d.elems.get(i) {
                                    slot.store_raw(ptr::null_mut());
                                }
                            }
                        }
                    }
                },
                _ => {}
            }
            // SAFETY: the next object starts `words(h)` words on.
            p = unsafe { p.add(words(h) * WORD) };
        }
        Ok(())
    }

    unsafe fn skip(addr: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: `addr` is an object, pad or marker; its block ends there.
        unsafe { addr.add(words(header_at(addr)) * WORD) }
    }

    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: the object at `old` has at least two words and was copied.
        unsafe {
            let w = words(header_at(old));
            let p = old.cast::<usize>().as_ptr();
            p.write(header(FWD, w));
            p.add(1).write(new.as_ptr() as usize);
        }
    }

    unsafe fn is_forwarded(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: `addr` is an object, pad or marker; a marker has two words.
        unsafe {
            if kind(header_at(addr)) == FWD {
                NonNull::new(addr.cast::<usize>().as_ptr().add(1).read() as *mut u8)
            } else {
                None
            }
        }
    }

    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector owns `[base, base + size)`, size >= 8.
        unsafe {
            base.cast::<usize>()
                .as_ptr()
                .write(header(PAD, size / WORD))
        }
    }

    unsafe fn is_pad(addr: NonNull<u8>) -> bool {
        // SAFETY: objects and pads start with a header word, as skip reads.
        kind(unsafe { header_at(addr) }) == PAD
    }

    unsafe fn find_dependent(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: `addr` is an object; a dependent vector's fourth word is
        // its dependent (0 for none), set only by `set_dependent`.
        unsafe {
            if kind(header_at(addr)) == DEPVEC {
                NonNull::new(
                    DepVec::from_addr(addr)
                        .as_ref()
                        .dependent
                        .load(Ordering::Relaxed) as *mut u8,
                )
            } else {
                None
            }
        }
    }
}

/// A pair: an id and two references.
#[repr(C)]
pub struct Pair {
    header: usize,
    pub id: u64,
    pub car: Ref,
    pub cdr: Ref,
}

impl Pair {
    pub fn new(id: u64) -> Pair {
        Pair {
            header: header(PAIR, 4),
            id,
            car: Ref::null(),
            cdr: Ref::null(),
        }
    }
}

// SAFETY: the header says PAIR only for pairs; `new` makes a well-formed
// pair of 4 words = alloc_size; both references are scanned.
unsafe impl Object for Pair {
    type Format = Lisp;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        kind(unsafe { header_at(addr) }) == PAIR
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        addr.cast()
    }
}

/// An integer (a leaf): an id and a mutable value.
#[repr(C)]
pub struct Int {
    header: usize,
    pub id: u64,
    pub value: AtomicU64,
}

impl Int {
    pub fn new(id: u64, value: u64) -> Int {
        Int {
            header: header(INT, 3),
            id,
            value: AtomicU64::new(value),
        }
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

// SAFETY: as for Pair; an Int holds no references.
unsafe impl Object for Int {
    type Format = Lisp;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        kind(unsafe { header_at(addr) }) == INT
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        addr.cast()
    }
}

// SAFETY: an Int contains no Ref.
unsafe impl Leaf for Int {}

/// A vector of references (unsized): header, id, length, elements.
#[repr(C)]
pub struct Vector {
    header: usize,
    pub id: u64,
    len: usize,
    pub elems: [Ref],
}

// SAFETY: VECTOR objects are built by `new_vector` with `len` elements;
// the metadata comes from the length word; the elements are scanned.
unsafe impl Object for Vector {
    type Format = Lisp;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        kind(unsafe { header_at(addr) }) == VECTOR
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        // SAFETY: a vector's third word is its length.
        let len = unsafe { addr.cast::<usize>().as_ptr().add(2).read() };
        let fat = ptr::slice_from_raw_parts_mut(addr.as_ptr(), len) as *mut Vector;
        NonNull::new(fat).expect("non-null")
    }
}

/// A string (an unsized leaf): header, id, length, bytes.
#[repr(C)]
pub struct Str {
    header: usize,
    pub id: u64,
    len: usize,
    pub bytes: [u8],
}

// SAFETY: STR objects are built by `new_str`; metadata from the length.
unsafe impl Object for Str {
    type Format = Lisp;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        kind(unsafe { header_at(addr) }) == STR
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        // SAFETY: a string's third word is its length.
        let len = unsafe { addr.cast::<usize>().as_ptr().add(2).read() };
        let fat = ptr::slice_from_raw_parts_mut(addr.as_ptr(), len) as *mut Str;
        NonNull::new(fat).expect("non-null")
    }
}

// SAFETY: a string contains no Ref.
unsafe impl Leaf for Str {}

/// A vector whose elements, when allocated from a weak AWL allocation
/// point, are weak keys: when one is splatted, the scan counts it and
/// clears the same element of the dependent vector (the values).
/// Header, id, length, dependent address (not a reference), splat count,
/// elements.
#[repr(C)]
pub struct DepVec {
    header: usize,
    pub id: u64,
    len: usize,
    dependent: AtomicUsize,
    pub splats: AtomicUsize,
    pub elems: [Ref],
}

// SAFETY: DEPVEC objects are built by `new_depvec`; metadata from the
// length word; the elements are scanned (weakly or exactly, by rank).
unsafe impl Object for DepVec {
    type Format = Lisp;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        kind(unsafe { header_at(addr) }) == DEPVEC
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        // SAFETY: a dependent vector's third word is its length.
        let len = unsafe { addr.cast::<usize>().as_ptr().add(2).read() };
        let fat = ptr::slice_from_raw_parts_mut(addr.as_ptr(), len) as *mut DepVec;
        NonNull::new(fat).expect("non-null")
    }
}

/// Allocates a dependent vector of `len` null references, no dependent.
pub fn new_depvec<'s, C: PoolClass + mps::Holds<DepVec>>(
    s: &mut Scope<'s>,
    ap: &mut Ap<'_, Lisp, C>,
    id: u64,
    len: usize,
) -> Result<Handle<'s, Lisp>, Error> {
    let w = 5 + len;
    // SAFETY: the block is `w` words; init writes the header, id, length,
    // no dependent, no splats and null elements: a well-formed object.
    unsafe {
        s.alloc_raw(ap, w * WORD, |base| {
            let p = base.cast::<usize>().as_ptr();
            p.write(header(DEPVEC, w));
            p.add(1).write(id as usize);
            p.add(2).write(len);
            for i in 3..w {
                p.add(i).write(0);
            }
        })
    }
}

/// Makes `values` (a vector) the dependent object of `keys` (a dependent
/// vector).
///
/// # Safety
///
/// `values` lives in a non-moving pool (AMS, AWL) and stays alive as long
/// as `keys` may be scanned (for example: both are held by the same root
/// for as long as either is reachable).
pub unsafe fn set_dependent(keys: Handle<'_, Lisp>, values: Handle<'_, Lisp>) {
    assert!(values.is::<Vector>());
    let addr = values.addr();
    keys.with(|k: &DepVec| k.dependent.store(addr, Ordering::Relaxed));
}

/// Allocates a vector of `len` null references.
pub fn new_vector<'s, C: PoolClass + mps::Holds<Vector>>(
    s: &mut Scope<'s>,
    ap: &mut Ap<'_, Lisp, C>,
    id: u64,
    len: usize,
) -> Result<Handle<'s, Lisp>, Error> {
    let w = 3 + len;
    // SAFETY: the block is `w` words (a multiple of 8, > 0); init writes the
    // header, id, length and null elements: a well-formed vector.
    unsafe {
        s.alloc_raw(ap, w * WORD, |base| {
            let p = base.cast::<usize>().as_ptr();
            p.write(header(VECTOR, w));
            p.add(1).write(id as usize);
            p.add(2).write(len);
            for i in 0..len {
                p.add(3 + i).write(0);
            }
        })
    }
}

/// Allocates a string.
pub fn new_str<'s, C: PoolClass + mps::Holds<Str>>(
    s: &mut Scope<'s>,
    ap: &mut Ap<'_, Lisp, C>,
    id: u64,
    text: &str,
) -> Result<Handle<'s, Lisp>, Error> {
    let w = 3 + text.len().div_ceil(WORD);
    // SAFETY: the block is `w` words; init writes the header, id, length and
    // the bytes (zero-padded): a well-formed string without references.
    unsafe {
        s.alloc_raw(ap, w * WORD, |base| {
            let p = base.cast::<usize>().as_ptr();
            p.write(header(STR, w));
            p.add(1).write(id as usize);
            p.add(2).write(text.len());
            ptr::write_bytes(p.add(3), 0, w - 3);
            ptr::copy_nonoverlapping(text.as_ptr(), p.add(3).cast::<u8>(), text.len());
        })
    }
}

/// The id of any object of the format.
pub fn id_of(h: Handle<'_, Lisp>) -> u64 {
    if let Some(id) = h.try_with(|p: &Pair| p.id) {
        id
    } else if let Some(id) = h.try_with(|i: &Int| i.id) {
        id
    } else if let Some(id) = h.try_with(|v: &Vector| v.id) {
        id
    } else if let Some(id) = h.try_with(|v: &DepVec| v.id) {
        id
    } else {
        h.with(|s: &Str| s.id)
    }
}

/// How many child references a pair or vector has (0 for anything else).
pub fn kids_of(h: Handle<'_, Lisp>) -> usize {
    if h.is::<Pair>() {
        2
    } else {
        h.try_with(|v: &Vector| v.elems.len()).unwrap_or(0)
    }
}

/// Child `i` of a pair or vector, as a handle in `s`.
pub fn kid<'t>(s: &mut Scope<'t>, h: Handle<'_, Lisp>, i: usize) -> Option<Handle<'t, Lisp>> {
    if h.is::<Pair>() {
        h.get(s, |p: &Pair| if i == 0 { &p.car } else { &p.cdr })
    } else {
        h.get(s, |v: &Vector| &v.elems[i])
    }
}

/// Stores `value` in child `i` of a pair or vector.
pub fn set_kid(h: Handle<'_, Lisp>, i: usize, value: Option<Handle<'_, Lisp>>) {
    if h.is::<Pair>() {
        h.set(|p: &Pair| if i == 0 { &p.car } else { &p.cdr }, value);
    } else {
        h.set(|v: &Vector| &v.elems[i], value);
    }
}

/// A tiny deterministic generator (xorshift64*), seeded from
/// `MPS_TEST_SEED` if set; prints the seed so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("MPS_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    ^ u64::from(std::process::id())
            });
        println!("{test}: seed={seed} (reproduce with MPS_TEST_SEED={seed})");
        Rng(seed.max(1))
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }
}

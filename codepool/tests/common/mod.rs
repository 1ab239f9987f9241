//! Helpers shared by the integration tests: executable memory made with
//! memmap2 (anonymous, or a memfd mapped twice like the collector's
//! executable pool), and calls into code placed there.

#![allow(dead_code)]

pub mod boxes;
#[cfg(feature = "llvm")]
pub mod gen;
// One implementation for both crates' tests: see the file's documentation.
#[path = "../../../mps/tests/common/coroutines.rs"]
pub mod coroutines;
#[path = "../../../mps/tests/common/hang.rs"]
pub mod hang;

/// True, after printing why, if the linked MPS library lacks this project's
/// `mpsx_` extensions (the executable pool class AMCX that code objects live
/// in): the calling test returns at once.
pub fn skip_without_extensions() -> bool {
    if mps::sys::EXTENSIONS {
        return false;
    }
    eprintln!("skipped: code pools need the mpsx_ extensions, which the linked MPS library lacks");
    true
}

/// A directory of this test process's own under Cargo's temporary directory
/// for tests, created, and removed with everything in it when dropped: for
/// the files a test writes (compiler inputs and outputs), which test
/// processes running at once must not share.
pub struct ScratchDir(std::path::PathBuf);

pub fn scratch_dir(name: &str) -> ScratchDir {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ScratchDir(dir)
}

impl std::ops::Deref for ScratchDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Files still open or mapped (a loaded shared library) stay usable.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Collects (full collections, from the calling thread) until `done` says
/// so, at most 20 times: dead code can stay pinned a while by stale words
/// of a registered thread's stack. Returns `done()`.
pub fn collect_until(arena: &mps::Arena, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..20 {
        arena.collect().unwrap();
        arena.release();
        if done() {
            return true;
        }
    }
    done()
}

/// Collects until `code` has freed more than `before` code objects (see
/// [`collect_until`]); returns how many it has freed.
pub fn collect_until_freed(arena: &mps::Arena, code: &codepool::CodePool<'_>, before: u64) -> u64 {
    let freed = || code.stats().collector.objects_freed;
    collect_until(arena, || freed() > before);
    freed()
}

use std::fs::File;
use std::os::fd::FromRawFd;

use codepool::layout;
use memmap2::{Mmap, MmapMut, MmapOptions};

/// A code object copied into its own anonymous mapping, relinked there and
/// made read+execute (never writable and executable at once).
pub struct Placed {
    pub map: Mmap,
}

impl Placed {
    /// Copies `bytes` (an image, linked for wherever it was before) into a
    /// fresh read-write mapping, relinks it for that address, then makes the
    /// mapping read+execute.
    pub fn new(bytes: &[u8]) -> Placed {
        let mut map = MmapMut::map_anon(bytes.len()).expect("mmap");
        map.copy_from_slice(bytes);
        let addr = map.as_ptr() as u64;
        let stats = layout::relink_from_table(&mut map, addr, 0).expect("relink");
        assert_eq!(layout::header(&map).unwrap().linked_at, addr);
        println!("placed at {addr:#x}: {stats:?}");
        Placed {
            map: map.make_exec().expect("mprotect RX"),
        }
    }

    pub fn addr(&self) -> u64 {
        self.map.as_ptr() as u64
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Address of the exported function `index` of the entry table.
    pub fn entry(&self, index: u32) -> u64 {
        self.addr() + u64::from(layout::entry_point(&self.map, index).unwrap())
    }
}

/// One memfd mapped twice: a read-write view where code is written and
/// relinked, and a read+execute view where it runs, at a fixed distance.
pub struct DualMap {
    pub write: MmapMut,
    pub exec: Mmap,
}

impl DualMap {
    pub fn new(len: usize) -> DualMap {
        // SAFETY: the name is a NUL-terminated string literal; memfd_create
        // has no other precondition and reports failure by returning -1.
        let fd = unsafe { libc::memfd_create(c"codepool-test".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor returned by memfd_create that
        // nothing else owns; the File takes ownership and closes it.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(len as u64).unwrap();
        // SAFETY: the memfd is private to this test and is never truncated
        // while mapped; both views stay alive together in the DualMap.
        let write = unsafe { MmapOptions::new().len(len).map_mut(&file) }.unwrap();
        // SAFETY: as above; this view is read+execute only.
        let exec = unsafe { MmapOptions::new().len(len).map_exec(&file) }.unwrap();
        DualMap { write, exec }
    }

    /// exec = write + delta.
    pub fn delta(&self) -> i64 {
        self.exec.as_ptr() as i64 - self.write.as_ptr() as i64
    }

    pub fn write_addr(&self, offset: usize) -> u64 {
        self.write.as_ptr() as u64 + offset as u64
    }

    pub fn exec_addr(&self, offset: usize) -> u64 {
        self.exec.as_ptr() as u64 + offset as u64
    }
}

/// Calls the `extern "C" fn(i64) -> i64` at `addr`.
///
/// # Safety
///
/// `addr` must be the entry of a function with that signature and the C
/// calling convention, in executable memory that stays mapped, with every
/// site it depends on linked for where it is.
pub unsafe fn call1(addr: u64, x: i64) -> i64 {
    // SAFETY: the caller guarantees `addr` is such a function; function
    // pointers and u64 have the same size on x86-64.
    let f = unsafe { std::mem::transmute::<u64, extern "C" fn(i64) -> i64>(addr) };
    f(x)
}

/// Calls the `extern "C" fn(i64, i64) -> i64` at `addr`.
///
/// # Safety
///
/// As [`call1`], for that signature.
pub unsafe fn call2(addr: u64, x: i64, y: i64) -> i64 {
    // SAFETY: as in `call1`.
    let f = unsafe { std::mem::transmute::<u64, extern "C" fn(i64, i64) -> i64>(addr) };
    f(x, y)
}

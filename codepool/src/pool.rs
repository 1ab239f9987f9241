//! The executable pool: [`CodePool`], installed [`CodeObject`]s, the
//! [`Env`] that binds their external symbols, and statistics.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mps::sys::*;
use mps::{Arena, Chain, Format, GenParam, Handle, Registered, Registrations, Scope, UndoReserve};

use crate::elf::{self, LoadError, LoadedObject, RelocTarget};
use crate::format::{self, PoolContext, Redirect, FORWARD, MIN_ALIGN, PAD};
use crate::func::{CodeRef, JitFn};
use crate::layout::{
    self, Binding, CodeImage, EntryPoint, Header, LayoutError, LayoutStats, RelinkError,
    RelinkStats, Sizes, MAGIC,
};
use crate::publish::{self, exec_address};
use crate::reloc::{RelocError, RelocKind};
use crate::sidecar::{self, SidecarStats, Target};

/// Offset of `Header::total_size` in an image.
const TOTAL_SIZE: usize = layout::TOTAL_SIZE_AT;
/// Offset of `Header::pool` in an image.
const POOL: usize = layout::POOL_AT;

/// Root slots per chunk of the slot table (one exact root per chunk).
const CHUNK_SLOTS: usize = 1024;

type Slots = [AtomicPtr<u8>; CHUNK_SLOTS];

fn check(res: mps_res_t) -> Result<(), mps::Error> {
    mps::Error::check(res)
}

/// Keeps `addr` in a register or on the stack up to this point, so that a
/// collection before it sees it in the thread's ambiguous root and pins
/// the object.
#[inline(always)]
pub(crate) fn keep_alive(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: an empty assembly block that only takes the value as an
    // input; it reads and writes nothing.
    unsafe {
        core::arch::asm!("/* {0} */", in(reg) addr, options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "x86_64"))]
    core::hint::black_box(addr);
}

// ---------------------------------------------------------------------------
// Threads that run JIT code.

std::thread_local! {
    /// The scopes of [`CodePool::with_jit_thread`] open on the current
    /// thread: each has a code-aware thread root for its arena. Entries
    /// are removed by identity (scopes may end out of order, see
    /// [`Registrations`]).
    static JIT_THREADS: Registrations = const { Registrations::new() };
}

/// Is the current thread inside [`CodePool::with_jit_thread`] for `arena`?
fn is_jit_thread(arena: usize) -> bool {
    Registrations::contains(&JIT_THREADS, arena as mps_arena_t)
}

/// Panics unless the current thread has a code-aware root for `arena`.
#[inline]
pub(crate) fn assert_jit_thread(arena: usize, what: &str) {
    assert!(
        is_jit_thread(arena),
        "codepool: {what} on a thread without a code-aware root for the pool's arena \
         (run it inside CodePool::with_jit_thread)"
    );
}

/// A second registration of the current thread with the arena, with a
/// thread root scanned by `mpsx_scan_area_code`: every word of the stack
/// and registers that points into the execute view is translated to the
/// write view and fixed ambiguously, so a return address into JIT code
/// pins its code object. (The MPS allows a thread to be registered more
/// than once; a collection stops it once.)
struct CodeThreadRoot {
    root: mps_root_t,
    thread: mps_thr_t,
    /// This scope's entry in `JIT_THREADS`, removed before the root.
    entry: Option<Registered>,
}

impl CodeThreadRoot {
    fn register(arena: &Arena, cold: *mut u8) -> Result<CodeThreadRoot, mps::Error> {
        let mut thread = ptr::null_mut();
        // SAFETY: `thread` is a valid out parameter; the arena is live.
        check(unsafe { mps_thread_reg(&mut thread, arena.as_raw()) })?;
        let mut root = ptr::null_mut();
        // SAFETY: `thread` is this thread's registration, made above;
        // `cold` is the address of a local in a frame above every frame
        // that runs while the root exists (the caller's contract). The root
        // is ambiguous, as thread roots must be.
        let res = unsafe {
            mps_root_create_thread_scanned(
                &mut root,
                arena.as_raw(),
                mps_rank_ambig(),
                0,
                thread,
                Some(mpsx_scan_area_code),
                ptr::null_mut(),
                cold.cast(),
            )
        };
        if let Err(e) = check(res) {
            // SAFETY: registered above, on this thread, with no root.
            unsafe { mps_thread_dereg(thread) };
            return Err(e);
        }
        Ok(CodeThreadRoot {
            root,
            thread,
            entry: Some(Registrations::enter(&JIT_THREADS, arena.as_raw())),
        })
    }
}

impl Drop for CodeThreadRoot {
    fn drop(&mut self) {
        drop(self.entry.take());
        // SAFETY: created in `register` on this thread (a `CodeThreadRoot`
        // never leaves the frame that made it); the root goes before the
        // registration it scans.
        unsafe {
            mps_root_destroy(self.root);
            mps_thread_dereg(self.thread);
        }
    }
}

/// Runs `f` in a frame of its own, below the caller's.
#[inline(never)]
fn run_below<R>(scope: &mut Scope<'_>, f: impl for<'s> FnOnce(&mut Scope<'s>) -> R) -> R {
    f(scope)
}

/// Registers the code-aware root with its cold end in this frame, then
/// runs `f` below it.
#[inline(never)]
fn enter_jit<R>(
    arena: &Arena,
    scope: &mut Scope<'_>,
    f: impl for<'s> FnOnce(&mut Scope<'s>) -> R,
) -> Result<R, mps::Error> {
    let cold_marker: usize = 0;
    let cold = core::hint::black_box(ptr::addr_of!(cold_marker))
        .cast_mut()
        .cast::<u8>();
    let root = CodeThreadRoot::register(arena, cold)?;
    let result = run_below(scope, f);
    drop(root);
    core::hint::black_box(&cold_marker);
    Ok(result)
}

// ---------------------------------------------------------------------------
// The environment of an installation.

/// A heap constant: an object of another pool of the arena, held by a
/// handle of the installing thread.
struct HeapConst<'e> {
    current: Box<dyn Fn() -> usize + 'e>,
    offset: u32,
    /// The object's size from its client pointer (`Handle::size`).
    size: usize,
    /// Its pool (`Handle::pool`), for the interior check.
    pool: Option<mps::PoolId>,
}

/// The symbols an installation may bind besides the functions already
/// installed in the pool: runtime functions and statics (fixed addresses),
/// and heap constants (objects of other pools of the same arena, which
/// the code then refers to, keeps alive, and follows when they move).
///
/// Undefined symbols of an object are bound, in this order, to the heap
/// constants of the environment, its runtime addresses, and the entry
/// points of the code objects installed in the pool (see
/// [`CodePool::install`]).
#[derive(Default)]
pub struct Env<'e> {
    runtime: HashMap<String, usize>,
    heap: HashMap<String, HeapConst<'e>>,
}

impl<'e> Env<'e> {
    /// An empty environment.
    pub fn new() -> Env<'e> {
        Env::default()
    }

    /// Binds `name` to the runtime function `f`.
    pub fn function<F: JitFn>(&mut self, name: impl Into<String>, f: F) -> &mut Self {
        self.runtime.insert(name.into(), f.addr());
        self
    }

    /// Binds `name` to a fixed address (a runtime static).
    pub fn address(&mut self, name: impl Into<String>, address: usize) -> &mut Self {
        self.runtime.insert(name.into(), address);
        self
    }

    /// Binds `name` to the address `offset` bytes into the heap object
    /// held by `object` (an object of another pool of the pool's arena).
    /// The code object then holds an exact reference to the object: it
    /// keeps it alive, and is relinked when the object moves.
    ///
    /// [`CodePool::install`] refuses the binding unless `offset` lies
    /// inside the object ([`InstallError::HeapOffsetOutside`]) and the
    /// object's pool keeps objects in place under interior references
    /// ([`InstallError::InteriorNotPinned`], see
    /// [`Arena::interior_pins`]): running code holds `object + offset`, an
    /// interior address, in registers and on the stack (compilers hoist it
    /// out of loops), and only the thread's ambiguous root pinning the
    /// object through it keeps that address valid across a collection.
    pub fn heap<F: Format>(
        &mut self,
        name: impl Into<String>,
        object: Handle<'e, F>,
        offset: u32,
    ) -> &mut Self {
        self.heap.insert(
            name.into(),
            HeapConst {
                current: Box::new(move || object.addr()),
                offset,
                size: object.size(),
                pool: object.pool(),
            },
        );
        self
    }
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("runtime", &self.runtime)
            .field("heap", &self.heap.keys().collect::<Vec<_>>())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Errors.

/// Why an object could not be installed. The pool is unchanged and stays
/// usable.
#[derive(Debug)]
#[non_exhaustive]
pub enum InstallError {
    /// The ELF object is malformed or holds something the pool cannot (see
    /// [`LoadError`]).
    Malformed(LoadError),
    /// The object has a relocation of a kind the pool does not support.
    UnsupportedRelocation {
        /// ELF name of the kind (`"R_X86_64_TPOFF32"`).
        name: &'static str,
        /// Section the relocation applies to.
        section: String,
        /// Offset in the section.
        offset: u64,
    },
    /// An undefined symbol is neither in the environment nor installed.
    Unresolved {
        /// The symbol.
        name: String,
    },
    /// A site cannot reach its target from everywhere the object may be
    /// moved to in the pool's code memory (a 32-bit displacement to a
    /// runtime address more than 2 GiB away, a 32-bit absolute address
    /// that does not fit, ...).
    OutOfReach {
        /// The symbol the site refers to (`"<self>"` for the object's own
        /// code and data).
        symbol: String,
        /// Offset of the site in the code object.
        offset: u32,
        /// Why.
        error: RelocError,
    },
    /// A site whose target moves (a heap constant, another code object)
    /// has a kind that cannot follow it everywhere: only 64-bit fields,
    /// GOT-relative loads and calls (which fall back to the GOT or a stub)
    /// can refer to heap constants; 32-bit absolute fields cannot refer to
    /// code.
    NotMovable {
        /// The symbol.
        symbol: String,
        /// The site's kind.
        kind: RelocKind,
    },
    /// The object exports a symbol that an installed object already
    /// exports.
    DuplicateSymbol {
        /// The symbol.
        name: String,
    },
    /// The object needs more alignment than the pool keeps when it moves
    /// objects ([`CodePoolOptions::align`], 16 bytes by default).
    Alignment {
        /// The alignment the object needs.
        required: u32,
        /// The pool's alignment.
        pool: usize,
    },
    /// A heap constant is not an object of another pool of the arena.
    NotAHeapObject {
        /// The symbol.
        name: String,
    },
    /// A heap constant's offset does not lie inside its object.
    HeapOffsetOutside {
        /// The symbol.
        name: String,
        /// The offset given to [`Env::heap`].
        offset: u32,
        /// The object's size from its client pointer.
        size: usize,
    },
    /// A heap constant's object is in a pool that may move it while code
    /// holds only an interior address of it: an AMC or AMCZ pool created
    /// with [`PoolOptions::interior`](mps::PoolOptions::interior)
    /// `Some(false)`, or a pool the `mps` crate did not create (see
    /// [`Arena::interior_pins`]).
    InteriorNotPinned {
        /// The symbol.
        name: String,
    },
    /// Laying the object out failed for another reason.
    Layout(LayoutError),
    /// Linking the object failed for another reason.
    Relink(RelinkError),
    /// The object's unwind table cannot be registered (see
    /// [`UnwindTable::build`](crate::unwind::UnwindTable::build)); turn
    /// registration off ([`CodePoolOptions::unwind`]) to install it without.
    Unwind(crate::unwind::UnwindError),
    /// The collector could not allocate or register memory.
    Memory(mps::Error),
    /// LLVM could not compile the module.
    #[cfg(feature = "llvm")]
    Jit(crate::jit::JitError),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::Malformed(e) => write!(f, "{e}"),
            InstallError::UnsupportedRelocation {
                name,
                section,
                offset,
            } => write!(f, "unsupported relocation {name} at {section}+{offset:#x}"),
            InstallError::Unresolved { name } => write!(f, "undefined symbol {name}"),
            InstallError::OutOfReach {
                symbol,
                offset,
                error,
            } => write!(
                f,
                "the site at offset {offset:#x} cannot reach {symbol} from everywhere in code \
                 memory: {error}"
            ),
            InstallError::NotMovable { symbol, kind } => write!(
                f,
                "a {kind} site refers to {symbol}, which moves: it could not follow it"
            ),
            InstallError::DuplicateSymbol { name } => {
                write!(f, "symbol {name} is already installed")
            }
            InstallError::Alignment { required, pool } => write!(
                f,
                "the object needs {required}-byte alignment; the code pool keeps {pool}"
            ),
            InstallError::NotAHeapObject { name } => write!(
                f,
                "heap constant {name} is not an object of another pool of the arena"
            ),
            InstallError::HeapOffsetOutside { name, offset, size } => write!(
                f,
                "heap constant {name}: offset {offset} is outside its object of {size} bytes"
            ),
            InstallError::InteriorNotPinned { name } => write!(
                f,
                "heap constant {name}: its pool may move the object while code holds an \
                 interior address of it (an AMC/AMCZ pool with interior false?)"
            ),
            InstallError::Layout(e) => write!(f, "{e}"),
            InstallError::Relink(e) => write!(f, "{e}"),
            InstallError::Unwind(e) => write!(f, "{e}"),
            InstallError::Memory(e) => write!(f, "cannot allocate the code object: {e}"),
            #[cfg(feature = "llvm")]
            InstallError::Jit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Malformed(e) => Some(e),
            InstallError::OutOfReach { error, .. } => Some(error),
            InstallError::Layout(e) => Some(e),
            InstallError::Relink(e) => Some(e),
            InstallError::Unwind(e) => Some(e),
            InstallError::Memory(e) => Some(e),
            #[cfg(feature = "llvm")]
            InstallError::Jit(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError> for InstallError {
    fn from(e: LoadError) -> InstallError {
        match e {
            LoadError::UnsupportedRelocation {
                name,
                section,
                offset,
                ..
            } => InstallError::UnsupportedRelocation {
                name,
                section,
                offset,
            },
            e => InstallError::Malformed(e),
        }
    }
}

impl From<LayoutError> for InstallError {
    fn from(e: LayoutError) -> InstallError {
        match e {
            LayoutError::Unresolved { name } => InstallError::Unresolved { name },
            e => InstallError::Layout(e),
        }
    }
}

#[cfg(feature = "llvm")]
impl From<crate::jit::JitError> for InstallError {
    fn from(e: crate::jit::JitError) -> InstallError {
        match e {
            crate::jit::JitError::Load(e) => e.into(),
            e => InstallError::Jit(e),
        }
    }
}

// ---------------------------------------------------------------------------
// Statistics.

/// What the collector has done to a pool's code objects since the pool was
/// created (counted by the format methods).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RelinkCounters {
    /// Code objects scanned.
    pub objects_scanned: u64,
    /// Of those, the ones relinked (they had moved, or a target had).
    pub objects_relinked: u64,
    /// Relocations re-encoded by those relinkings.
    pub sites_relinked: u64,
    /// Code objects moved (forwarded).
    pub objects_moved: u64,
    /// Bytes of code objects moved.
    pub bytes_moved: u64,
    /// Bytes of the code objects relinked.
    pub bytes_relinked: u64,
    /// Code objects freed: found dead by a collection, their memory
    /// reclaimed (counted by the pool's reclaim hook,
    /// `mpsx_pool_reclaim_hook`). Dead objects in a segment that something
    /// else pins stay (and are not counted) until a later collection frees
    /// them. The pool's own stubs ([`Census::stubs`]) are not counted.
    pub objects_freed: u64,
    /// Bytes of the code objects freed.
    pub bytes_freed: u64,
    /// Time spent in the scan method (fixing and relinking), in seconds.
    pub scan_seconds: f64,
}

impl RelinkCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &RelinkCounters) -> RelinkCounters {
        RelinkCounters {
            objects_scanned: self.objects_scanned - earlier.objects_scanned,
            objects_relinked: self.objects_relinked - earlier.objects_relinked,
            sites_relinked: self.sites_relinked - earlier.sites_relinked,
            objects_moved: self.objects_moved - earlier.objects_moved,
            bytes_moved: self.bytes_moved - earlier.bytes_moved,
            bytes_relinked: self.bytes_relinked - earlier.bytes_relinked,
            objects_freed: self.objects_freed - earlier.objects_freed,
            bytes_freed: self.bytes_freed - earlier.bytes_freed,
            scan_seconds: self.scan_seconds - earlier.scan_seconds,
        }
    }
}

/// Totals over a set of code objects, from their layout.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CodeTotals {
    /// Number of objects.
    pub objects: usize,
    /// Bytes of machine code and read-only data.
    pub code_bytes: usize,
    /// Bytes of whole objects (header, entry table, code, GOT, stubs,
    /// target table, sidecar, padding).
    pub total_bytes: usize,
    /// Bytes of the target tables.
    pub target_table_bytes: usize,
    /// The sidecars together.
    pub sidecar: SidecarStats,
    /// Where the bytes go, region by region (header, code, GOT, stubs,
    /// target table, sidecar, padding, rounding).
    pub sizes: Sizes,
}

impl CodeTotals {
    fn add(&mut self, stats: &LayoutStats) {
        self.sizes.add(&stats.sizes);
        self.objects += 1;
        self.code_bytes += stats.code_bytes;
        self.total_bytes += stats.total_bytes;
        self.target_table_bytes += stats.target_table_bytes;
        self.sidecar = self.sidecar.combine(stats.sidecar);
    }

    fn remove(&mut self, stats: &LayoutStats) {
        self.sizes.sub(&stats.sizes);
        self.objects -= 1;
        self.code_bytes -= stats.code_bytes;
        self.total_bytes -= stats.total_bytes;
        self.target_table_bytes -= stats.target_table_bytes;
        self.sidecar = SidecarStats::new(
            self.sidecar.relocs - stats.sidecar.relocs,
            self.sidecar.bytes - stats.sidecar.bytes,
        );
    }

    /// Sidecar bytes as a percentage of code bytes.
    pub fn sidecar_percent_of_code(&self) -> f64 {
        if self.code_bytes == 0 {
            0.0
        } else {
            100.0 * self.sidecar.bytes as f64 / self.code_bytes as f64
        }
    }
}

/// Figures of a [`CodePool`], from [`CodePool::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CodePoolStats {
    /// Objects installed since the pool was created.
    pub installed: CodeTotals,
    /// Objects held now by [`CodeObject`]s (objects that are no longer
    /// held may still be alive, referred to by other code: see
    /// [`CodePool::census`]).
    pub held: CodeTotals,
    /// Relocations encoded by installations (each object is linked once,
    /// for its first address).
    pub sites_linked_at_install: u64,
    /// Entry points redefined ([`CodePool::redefine`]).
    pub redefinitions: u64,
    /// The pool's shared stubs for runtime functions, one per runtime
    /// function its objects call, held for the pool's lifetime (not in
    /// `installed` or `held`).
    pub runtime_stubs: CodeTotals,
    /// What the collector has done.
    pub collector: RelinkCounters,
}

/// What is in a pool's memory now, from [`CodePool::census`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Census {
    /// The code objects (held or not, alive or not yet reclaimed), from
    /// their headers; the pool's own stubs are not among them.
    pub objects: CodeTotals,
    /// The pool's own stubs: its shared stubs for runtime functions (one
    /// per runtime function the pool's objects call, see
    /// [`CodePoolStats::runtime_stubs`]) and the forwarders of
    /// redefinitions still called (see [`CodePool::redefine`]).
    pub stubs: CodeTotals,
    /// Bytes of pads.
    pub pad_bytes: usize,
}

/// What the last collection of the arena did (`mpsx_arena_last_trace`);
/// it covers every pool of the arena.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TraceStats {
    /// Bytes condemned.
    pub condemned: usize,
    /// Bytes of the condemned set that survived.
    pub live: usize,
    /// Bytes copied.
    pub copied: usize,
    /// Objects copied.
    pub objects_moved: usize,
    /// Segments with objects pinned by ambiguous references.
    pub segs_pinned: usize,
    /// Old segments skipped thanks to the write barrier.
    pub segs_skipped: usize,
    /// Bytes of objects scanned.
    pub bytes_scanned: usize,
    /// Duration of the collection in seconds.
    pub seconds: f64,
}

// ---------------------------------------------------------------------------
// The pool.

/// The generations of a code pool's own chain (see
/// [`CodePoolOptions::chain`]): code is installed in bursts and most of it
/// lives long, so the nursery is collected once 1 MiB of code has been
/// installed, and survivors go to a second generation collected once
/// 8 MiB have been promoted into it; then to the arena's top generation,
/// collected only by full collections.
pub const CODE_GENERATIONS: [GenParam; 2] = [
    GenParam {
        capacity_kb: 1024,
        mortality: 0.5,
    },
    GenParam {
        capacity_kb: 8 * 1024,
        mortality: 0.2,
    },
];

/// Options of a [`CodePool`]; `Default` gives the collector's defaults,
/// and a chain of the pool's own.
///
/// Collections that condemn code may be incremental like any other (the
/// arena's pause time decides): code is never left grey while the mutator
/// runs. Whenever the collector copies or pins a code object during a
/// trace (at the flip, in a step, or at a read-barrier fault on a heap
/// segment that refers to it) it scans and relinks it before any thread
/// runs again, because code executes through a view that the read
/// barrier does not protect (`vendor/mps/DESIGN.md#code-incremental`). So
/// each increment's pause includes the code it reaches. With the pool on
/// its own chain (the default), the collections that heap allocation
/// triggers condemn no code at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodePoolOptions<'a> {
    /// The generation chain (`MPS_KEY_CHAIN`). `None` (the default): a
    /// chain of the pool's own, sized for code ([`CODE_GENERATIONS`]), so
    /// that collections of the heap's young generations (the arena's
    /// default chain, driven by heap allocation) never condemn code, and
    /// code that survives is promoted and then left in place: long-lived
    /// code is not copied on every collection. A full collection
    /// ([`Arena::collect`]) still condemns, moves and compacts all code.
    /// Give the arena's default chain with
    /// [`arena_default_chain`](Self::arena_default_chain).
    pub chain: Option<Chain<'a>>,
    /// Put the pool on the arena's default chain, shared with the pools
    /// created without a chain, as before code had a chain of its own: its
    /// young code is then condemned (and copied) by every collection that
    /// heap allocation triggers. Ignored when [`chain`](Self::chain) is
    /// given.
    pub arena_default_chain: bool,
    /// Minimum segment size in bytes (`MPS_KEY_EXTEND_BY`).
    pub extend_by: Option<usize>,
    /// Address space for all the arena's code (`MPSX_KEY_CODE_RESERVE`,
    /// at most 2 GiB; default 512 MiB). Only the arena's first executable
    /// pool reserves it; later pools share it.
    pub code_reserve: Option<usize>,
    /// The alignment of code objects (`MPS_KEY_FMT_ALIGN`): a power of two
    /// from 16 to 4096; default 16. The collector moves objects to
    /// addresses with this alignment and no more, so objects that need
    /// more (a section aligned to 32, as GCC does for static arrays of 32
    /// bytes or more at `-O2`) are refused with
    /// [`InstallError::Alignment`]. Every object is rounded up to a
    /// multiple of it.
    pub align: Option<usize>,
    /// Register each object's unwind table (`.eh_frame`) so that panics,
    /// C++ exceptions and backtraces pass through JIT frames while the
    /// collector moves code ([`crate::unwind`]); default `true`. Costs a
    /// table copy per installation (the object names its record in a
    /// header word) and, in the collector, a few atomic stores per moved or dead object.
    pub unwind: Option<bool>,
    /// Bind each object's references to its own *preemptible* functions
    /// (global or weak, default visibility) by name, through a Code target
    /// record bound to the object itself, as an ELF shared library's calls
    /// to its own exported functions may be preempted
    /// ([`LayoutOptions::interpose`](crate::layout::LayoutOptions::interpose));
    /// default `true`.
    ///
    /// It is what makes [`CodePool::redefine`] mean what it says for
    /// recursion: a function that calls itself, or a sibling in the same
    /// object, does so through a record that the redefinition rebinds
    /// like every other object's, so the old code's self-calls reach the
    /// new definition too, while the call stays a direct `rel32` call (no
    /// cell load, no indirection: the same instruction as a call resolved
    /// inside the object). Without it, calls within an object are resolved
    /// once at installation and an old definition's recursion stays in the
    /// old code, the one hole in "every later call goes to it".
    ///
    /// The cost, per distinct function an object refers to by its own
    /// name: nothing but six sidecar bytes per call or jump (a Direct
    /// site, whose field holds the target, `layout::DirectSite`); for
    /// other references (its address taken) one target record
    /// (`layout::TARGET_RECORD_SIZE` bytes), an
    /// 8-byte GOT slot only if its address is loaded through the GOT in a
    /// form that cannot be relaxed to a direct one, and a few sidecar bytes
    /// per site; no stub (the pool lays objects out for its code memory, in
    /// which every call to code is direct). Those sites are re-encoded whenever the
    /// object is relinked (it is relinked on every move anyway, for its
    /// self-relative sites); the reference to itself keeps nothing alive.
    /// Code that wants a call resolved for good says so in ELF's own terms:
    /// hidden or protected visibility, internal linkage, or (in LLVM, for
    /// position-independent code) a `dso_local` function, which the
    /// assembler calls through a local alias. So does `Some(false)`, for
    /// the whole pool.
    pub interpose: Option<bool>,
}

/// An installed function's name, as the pool's symbol table keeps it.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    slot: u32,
    offset: u32,
}

/// A chunk of the slot table: memory outside the heap, registered as an
/// exact root (`mps_scan_area`), never moved or freed while registered.
struct SlotChunk {
    root: mps_root_t,
    slots: NonNull<Slots>,
}

impl SlotChunk {
    fn new(arena: mps_arena_t) -> Result<SlotChunk, mps::Error> {
        let slots: Box<Slots> = Box::new(core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())));
        let slots = NonNull::from(Box::leak(slots));
        let base: *mut Slots = slots.as_ptr();
        let mut root = ptr::null_mut();
        // SAFETY: the area `[base, base + 1)` (CHUNK_SLOTS words) is live,
        // all null, and stays allocated and in place until the root is
        // destroyed (`CodePool::drop`). Each word is null or the address of
        // a code object of the pool at every instant: only installation
        // (with an object it has just committed) and `CodeObject::drop`
        // (with null) write it.
        let res = unsafe {
            mps_root_create_area(
                &mut root,
                arena,
                mps_rank_exact(),
                0,
                base.cast(),
                base.add(1).cast(),
                Some(mps_scan_area),
                ptr::null_mut(),
            )
        };
        if let Err(e) = check(res) {
            // SAFETY: from `Box::leak` above, never registered.
            drop(unsafe { Box::from_raw(base) });
            return Err(e);
        }
        Ok(SlotChunk { root, slots })
    }
}

/// State behind the pool's lock.
struct Inner {
    /// The allocation point: used only under the lock.
    ap: mps_ap_t,
    chunks: Vec<SlotChunk>,
    /// Slots not in use.
    free: Vec<u32>,
    /// Slots ever handed out: `[0, used)`.
    used: u32,
    symbols: HashMap<String, Symbol>,
    installed: CodeTotals,
    held: CodeTotals,
    sites_linked_at_install: u64,
    /// Entry points redefined ([`CodePool::redefine`]).
    redefinitions: u64,
    /// The pool's shared stubs for runtime functions
    /// (`layout::runtime_stub`), by the function's address: the root slot
    /// that holds each for the pool's lifetime, and its figures.
    runtime_stubs: HashMap<u64, (u32, LayoutStats)>,
    /// Their sizes.
    runtime_stub_totals: CodeTotals,
}

// SAFETY: the raw MPS handles in `Inner` (the allocation point and roots)
// may be used from any thread, one at a time: `Inner` lives in a Mutex.
unsafe impl Send for Inner {}

impl Inner {
    /// The slot of index `i`. It stays valid until the pool is dropped
    /// (chunks are separate allocations, freed only then), independently
    /// of `self`'s borrow.
    fn slot_ptr(&self, i: u32) -> NonNull<AtomicPtr<u8>> {
        let i = i as usize;
        let chunk: *mut Slots = self.chunks[i / CHUNK_SLOTS].slots.as_ptr();
        // SAFETY: `chunk` points to a live array of CHUNK_SLOTS slots and
        // the index is in range; no reference is created.
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*chunk)[i % CHUNK_SLOTS])) }
    }

    /// The slot of index `i`.
    fn slot(&self, i: u32) -> &AtomicPtr<u8> {
        // SAFETY: the slot is live while the pool, and so `self`, is.
        unsafe { self.slot_ptr(i).as_ref() }
    }

    /// A free slot (null), growing the table if needed.
    fn take_slot(&mut self, arena: mps_arena_t) -> Result<u32, mps::Error> {
        if let Some(i) = self.free.pop() {
            return Ok(i);
        }
        let i = self.used;
        if i as usize == self.chunks.len() * CHUNK_SLOTS {
            self.chunks.push(SlotChunk::new(arena)?);
        }
        self.used += 1;
        Ok(i)
    }
}

/// An entry point replaced by a redefinition.
struct Replaced {
    /// A root slot holding the old object until the redirect is applied.
    pin_slot: u32,
    old_offset: u32,
    new_offset: u32,
    /// The redefined name.
    name: String,
}

/// The slot table could not grow after a redefinition was committed.
#[cold]
fn fatal_memory(e: mps::Error) -> ! {
    panic!("codepool: no memory for a root slot while redefining: {e}")
}

/// Where the current address of a moving target comes from.
enum Source<'e> {
    /// A code object of the pool, by its slot (live while the pool is).
    Code(NonNull<AtomicPtr<u8>>),
    /// A heap constant of the environment.
    Heap(&'e HeapConst<'e>),
    /// The object being installed (a function of its own bound by name,
    /// [`CodePoolOptions::interpose`]): its block's address.
    Own,
}

impl Source<'_> {
    /// The target's current address; `own` is the address of the block
    /// being installed.
    fn current(&self, own: usize) -> usize {
        match self {
            // SAFETY: slots live as long as the pool, which the installation
            // borrows.
            Source::Code(slot) => unsafe { slot.as_ref() }.load(Ordering::Relaxed) as usize,
            Source::Heap(h) => (h.current)(),
            Source::Own => own,
        }
    }

    /// What its target record's word holds: the code object's start (for
    /// an own record, the object being installed, at `own`), the heap
    /// constant's address (`layout::TargetRecord`).
    fn word(&self, own: usize) -> usize {
        match self {
            Source::Code(_) | Source::Own => self.current(own),
            Source::Heap(h) => (h.current)() + h.offset as usize,
        }
    }
}

/// An executable pool: code objects in collected memory, moved by the
/// collector like any object and relinked on every move.
///
/// It owns an AMCX pool (`mpsx_class_amcx`) of the arena with its own
/// object format (`crate::format`), an allocation point (used under a
/// lock, so any registered thread may install), a table of root slots
/// (exact roots, one per installed [`CodeObject`]), and a symbol table
/// (the entry points of the installed objects, by name).
///
/// Threads that install or call code do so inside
/// [`with_jit_thread`](Self::with_jit_thread).
pub struct CodePool<'a> {
    arena: &'a Arena,
    pool: NonNull<mps_pool_s>,
    fmt: NonNull<mps_fmt_s>,
    delta: isize,
    /// The format's alignment.
    align: usize,
    /// The write view of the arena's code memory: `[lo, hi)`.
    code_range: (usize, usize),
    inner: Mutex<Inner>,
    /// Serialises [`CodePool::redefine`].
    redefining: Mutex<()>,
    /// [`CodePoolOptions::interpose`].
    interpose: bool,
    /// Found by the format methods through each object's header (under
    /// `pool_id`); freed after the MPS pool (`drop` destroys the pool
    /// first, or hands both to the arena, see `Drop`).
    context: ManuallyDrop<Box<PoolContext>>,
    /// The context's number (`format::register`), written into every
    /// object's header.
    pool_id: u16,
}

// SAFETY: the MPS pool and format may be used from any thread (every call
// takes the arena lock); the mutable state is behind the Mutex; the
// context is only written by format methods (atomics).
unsafe impl Send for CodePool<'_> {}
// SAFETY: as above.
unsafe impl Sync for CodePool<'_> {}

impl<'a> CodePool<'a> {
    /// Creates an executable pool in `arena`.
    ///
    /// Fails with [`mps::Error::Unimpl`] when the linked MPS library lacks
    /// this project's extensions ([`mps::sys::EXTENSIONS`]), and with
    /// [`mps::Error::Limit`] when 4,095 code pools exist at once in the
    /// process (each object's header names its pool by a 16-bit number in
    /// a process-wide table; a pool's number is free again once the pool
    /// and every object of it are gone).
    pub fn new(
        arena: &'a Arena,
        options: &CodePoolOptions<'a>,
    ) -> Result<CodePool<'a>, mps::Error> {
        // AMCX is an extension (mpsx.h): a library without it cannot
        // hold code objects.
        if !mps::sys::EXTENSIONS {
            return Err(mps::Error::Unimpl);
        }
        if let Some(chain) = options.chain {
            if !ptr::eq(chain.arena(), arena) {
                return Err(mps::Error::Param);
            }
        }
        let align = options.align.unwrap_or(MIN_ALIGN);
        if !align.is_power_of_two() || !(MIN_ALIGN..=4096).contains(&align) {
            return Err(mps::Error::Param);
        }
        let fmt = format::create(arena.as_raw(), align)?;
        let mut args = ArgList::new();
        args.add(MPS_KEY_FORMAT, fmt)
            .add(MPS_KEY_INTERIOR, 1 as mps_bool_t);
        let chain = match (options.chain, options.arena_default_chain) {
            (Some(chain), _) => Some(chain),
            (None, true) => None,
            (None, false) => match arena.chain(&CODE_GENERATIONS) {
                Ok(chain) => Some(chain),
                Err(e) => {
                    // SAFETY: the format was created above and no pool uses it.
                    unsafe { mps_fmt_destroy(fmt) };
                    return Err(e);
                }
            },
        };
        if let Some(chain) = chain {
            args.add(MPS_KEY_CHAIN, chain.as_raw());
        }
        if let Some(extend_by) = options.extend_by {
            args.add(MPS_KEY_EXTEND_BY, extend_by);
        }
        if let Some(reserve) = options.code_reserve {
            args.add(MPSX_KEY_CODE_RESERVE, reserve);
        }
        let mut pool = ptr::null_mut();
        // SAFETY: `pool` is a valid out parameter; the arena and format are
        // live; the list holds keys AMCX accepts with values of their types.
        let res = unsafe {
            mps_pool_create_k(
                &mut pool,
                arena.as_raw(),
                mpsx_class_amcx(),
                args.as_mut_ptr(),
            )
        };
        if let Err(e) = check(res) {
            // SAFETY: the format was created above and no pool uses it.
            unsafe { mps_fmt_destroy(fmt) };
            return Err(e);
        }
        let mut ap = ptr::null_mut();
        let mut ap_args = ArgList::new();
        // SAFETY: `ap` is a valid out parameter; the pool is live.
        let res = unsafe { mps_ap_create_k(&mut ap, pool, ap_args.as_mut_ptr()) };
        if let Err(e) = check(res) {
            // SAFETY: created above, nothing else uses them.
            unsafe {
                mps_pool_destroy(pool);
                mps_fmt_destroy(fmt);
            }
            return Err(e);
        }
        let code_memory = || {
            let (mut write, mut exec, mut size) = (ptr::null_mut(), ptr::null_mut(), 0);
            // SAFETY: valid out parameters; the arena is live.
            let found =
                unsafe { mpsx_code_range(arena.as_raw(), &mut write, &mut exec, &mut size) };
            (found != 0).then_some((write as usize, size))
        };
        // Creating the first executable pool of an arena reserves the
        // arena's code memory (mpsx.h), so its range and delta are known.
        // The pool keeps that range, whose start is an ambiguous reference
        // wherever the pool lives (a stack): a pad allocated first takes
        // that address, so it pins no code object.
        let range = code_memory()
            .ok_or(mps::Error::Fail)
            .and_then(|range| prime(ap, align).map(|()| range));
        let (write, size) = match range {
            Ok(range) => range,
            Err(e) => {
                // SAFETY: created above, nothing else uses them; no block is
                // reserved on the allocation point.
                unsafe {
                    mps_ap_destroy(ap);
                    mps_pool_destroy(pool);
                    mps_fmt_destroy(fmt);
                }
                return Err(e);
            }
        };
        // SAFETY: the arena is live; it has code memory now.
        let delta = unsafe { mpsx_code_delta(arena.as_raw()) };
        let unwind = options.unwind.unwrap_or(true);
        if unwind {
            crate::debuginfo::enable_from_env();
            crate::unwind::add_code_range(
                write.wrapping_add_signed(delta),
                (write + size).wrapping_add_signed(delta),
            );
        }
        let context = Box::new(PoolContext {
            delta,
            arena: arena.as_raw() as usize,
            code_ptrs: Default::default(),
            redirects: Default::default(),
            counters: Default::default(),
            unwind,
        });
        let Some(pool_id) = format::register(&*context) else {
            // SAFETY: created above, nothing else uses them; no block is
            // reserved on the allocation point.
            unsafe {
                mps_ap_destroy(ap);
                mps_pool_destroy(pool);
                mps_fmt_destroy(fmt);
            }
            return Err(mps::Error::Limit);
        };
        // SAFETY: the pool is live; the hook only reads blocks and updates
        // the context's atomics, and the context outlives the MPS pool
        // (`CodePool::drop` destroys the pool before the box is freed).
        let res = unsafe {
            mpsx_pool_reclaim_hook(
                pool,
                Some(format::reclaimed),
                (&*context as *const PoolContext).cast_mut().cast(),
            )
        };
        if let Err(e) = check(res) {
            // SAFETY: created above, nothing else uses them; no block is
            // reserved on the allocation point.
            unsafe {
                mps_ap_destroy(ap);
                mps_pool_destroy(pool);
                mps_fmt_destroy(fmt);
            }
            format::unregister(pool_id);
            return Err(e);
        }
        Ok(CodePool {
            arena,
            pool: NonNull::new(pool).expect("the MPS returned a null pool"),
            fmt: NonNull::new(fmt).expect("the MPS returned a null format"),
            delta,
            align,
            code_range: (write, write + size),
            inner: Mutex::new(Inner {
                ap,
                chunks: Vec::new(),
                free: Vec::new(),
                used: 0,
                symbols: HashMap::new(),
                installed: CodeTotals::default(),
                held: CodeTotals::default(),
                sites_linked_at_install: 0,
                redefinitions: 0,
                runtime_stubs: HashMap::new(),
                runtime_stub_totals: CodeTotals::default(),
            }),
            redefining: Mutex::new(()),
            interpose: options.interpose.unwrap_or(true),
            context: ManuallyDrop::new(context),
            pool_id,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The arena.
    pub fn arena(&self) -> &'a Arena {
        self.arena
    }

    /// The raw MPS pool.
    pub fn as_raw(&self) -> mps_pool_t {
        self.pool.as_ptr()
    }

    /// The distance from the write view to the execute view: code written
    /// at `w` runs at `w + delta`.
    pub fn delta(&self) -> isize {
        self.delta
    }

    /// The write view of the arena's code memory, `[start, end)`.
    pub fn code_range(&self) -> (usize, usize) {
        self.code_range
    }

    /// The alignment of code objects ([`CodePoolOptions::align`]).
    pub fn align(&self) -> usize {
        self.align
    }

    /// Registers the calling thread with the arena (as
    /// [`Arena::with_thread`] does, handing `f` the thread's root
    /// [`Scope`]), adds a *code-aware* thread root for it, runs `f`, and
    /// removes both when `f` returns or unwinds.
    ///
    /// The code-aware root scans the thread's stack and registers with
    /// `mpsx_scan_area_code`: every word that points into the execute view
    /// (a return address into JIT code, a code pointer in a register) is
    /// translated to the write view and fixed ambiguously, so it pins its
    /// code object. [`Arena::with_thread`]'s own root uses `mps_scan_area`,
    /// which does not know the execute view; that is why installing and
    /// calling code must happen in here. Nested calls are allowed.
    ///
    /// # Errors
    ///
    /// The MPS's result if the thread or a root cannot be registered.
    pub fn with_jit_thread<R>(
        &self,
        f: impl for<'s> FnOnce(&mut Scope<'s>) -> R,
    ) -> Result<R, mps::Error> {
        let arena = self.arena;
        arena.with_thread(move |scope| enter_jit(arena, scope, f))?
    }

    /// Installs an ELF relocatable object (see [`install`](Self::install)).
    pub fn install_elf(&self, bytes: &[u8], env: &Env<'_>) -> Result<CodeObject<'_>, InstallError> {
        let object = elf::load(bytes)?;
        self.install(&object, env)
    }

    /// Compiles an LLVM module with [`crate::jit`] and installs it (see
    /// [`install`](Self::install)).
    #[cfg(feature = "llvm")]
    pub fn install_module(
        &self,
        module: &inkwell::module::Module<'_>,
        env: &Env<'_>,
    ) -> Result<CodeObject<'_>, InstallError> {
        let object = crate::jit::compile(module)?;
        self.install(&object, env)
    }

    /// Installs a loaded object as one code object and returns the handle
    /// that keeps it alive.
    ///
    /// Each undefined symbol is bound to a heap constant of `env`, else to
    /// a runtime address of `env`, else to an entry point of an installed
    /// object of this pool (a *code target*: a direct call when in reach,
    /// which it always is, since all code of the arena lies within 2 GiB).
    /// References to the object's own preemptible functions are code
    /// targets bound to the object itself ([`CodePoolOptions::interpose`]),
    /// which a later [`redefine`](Self::redefine) may rebind.
    /// The object is laid out ([`layout::layout`]), every site is checked
    /// to stay linkable wherever the collector may move the object or its
    /// targets, a block is allocated with the reserve / commit protocol,
    /// the image is copied in, its target table filled with the targets'
    /// current addresses and every site linked for its address; then the
    /// object goes into a root slot and its entry points into the symbol
    /// table.
    ///
    /// On error nothing is installed and the pool is unchanged.
    ///
    /// # Panics
    ///
    /// If the calling thread is not inside
    /// [`with_jit_thread`](Self::with_jit_thread) for the pool's arena.
    pub fn install(
        &self,
        object: &LoadedObject,
        env: &Env<'_>,
    ) -> Result<CodeObject<'_>, InstallError> {
        self.install_impl(object, env, false)
            .map(|(object, _)| object)
    }

    /// Redefines from an ELF relocatable object (see
    /// [`redefine`](Self::redefine)).
    pub fn redefine_elf(
        &self,
        bytes: &[u8],
        env: &Env<'_>,
    ) -> Result<CodeObject<'_>, InstallError> {
        let object = elf::load(bytes)?;
        self.redefine(&object, env)
    }

    /// Compiles an LLVM module with [`crate::jit`] and redefines from it
    /// (see [`redefine`](Self::redefine)).
    #[cfg(feature = "llvm")]
    pub fn redefine_module(
        &self,
        module: &inkwell::module::Module<'_>,
        env: &Env<'_>,
    ) -> Result<CodeObject<'_>, InstallError> {
        let object = crate::jit::compile(module)?;
        self.redefine(&object, env)
    }

    /// Installs a loaded object like [`install`](Self::install), except
    /// that its entry points may have the names of installed functions:
    /// those names are **redefined**. Every later call goes to the new
    /// definition: later installations bind the name to it, and every code
    /// object of the pool that calls the old definition directly is
    /// relinked to call the new one directly (no cell load on the call
    /// path), at a safe point: a full collection ([`Arena::collect`]: every
    /// registered thread stopped) during which the format's scan rebinds
    /// those calls (the target records, and the Direct sites' fields and
    /// offsets), then relinks and republishes the objects.
    /// That collection runs inside this call: a call made by another thread
    /// while `redefine` runs may reach either definition, and every call
    /// that starts after it returns reaches the new one.
    /// Frames already running in the old code finish in it (their return
    /// addresses pin it); the old object is freed by a later collection
    /// once nothing refers to it (its [`CodeObject`], if still held, keeps
    /// it alive and callable as before).
    ///
    /// A name is defined while the [`CodeObject`] of its current
    /// definition is held (dropping it removes the name, as for
    /// [`install`](Self::install)): a runtime keeps the object of each
    /// name's current definition, and may drop the old one once this
    /// returns. Callers bound to a definition whose name was removed that
    /// way keep calling it (they keep it alive); a later `install` or
    /// `redefine` of the name binds new callers only, so to move callers
    /// to a new definition, redefine while the current one is held. A name
    /// that is not defined is simply installed: `redefine` then does what
    /// [`install`](Self::install) does (and runs no collection).
    ///
    /// Calls within an object count as callers too: with
    /// [`CodePoolOptions::interpose`] (the default), an object calls its
    /// own preemptible functions (global, default visibility) through Code
    /// records bound by name to itself, so the old object's recursive
    /// calls, and its calls between its own functions, are rebound as
    /// well: after the redefinition, a frame still running in the old `f`
    /// makes its next call of `f` to the new definition, and an old `f`
    /// called through a kept [`CodeObject`] recurses into the new one.
    /// Calls to hidden or internal functions (or in a pool with `interpose`
    /// off) were resolved inside the object at installation and keep going
    /// to the old code. (A compiler may also have turned a self-call into
    /// a loop or inlined it; those are no calls any more.)
    /// [`CodePtr`](crate::CodePtr)s (closures) keep the code they were
    /// given.
    ///
    /// Runs a full collection when something is redefined, and leaves the
    /// arena released ([`Arena::release`]). Redefinitions are serialised.
    ///
    /// # Errors
    ///
    /// As [`install`](Self::install), with nothing changed. If the full
    /// collection itself fails ([`InstallError::Memory`]), the new object
    /// was installed but is dropped with the error: its names are then
    /// undefined, and callers may still call the old definitions.
    ///
    /// # Panics
    ///
    /// As [`install`](Self::install).
    pub fn redefine(
        &self,
        object: &LoadedObject,
        env: &Env<'_>,
    ) -> Result<CodeObject<'_>, InstallError> {
        let _serial = self
            .redefining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (new, replaced) = self.install_impl(object, env, true)?;
        if replaced.is_empty() {
            return Ok(new);
        }
        // A Direct site stores its target's offset in the fewest bytes
        // that held it when laid out (none for offset 32): a new offset
        // that some site's field may not hold gets a forwarder, a jump to
        // it at offset 32, which every field holds (`crate::format`).
        let mut forwarders: Vec<u32> = Vec::new();
        let redirects: Result<Vec<Redirect>, InstallError> = {
            let mut inner = self.lock();
            replaced
                .iter()
                .map(|r| {
                    let forward = if r.new_offset == sidecar::DIRECT_DEFAULT_OFFSET {
                        ptr::null()
                    } else {
                        let image = layout::forwarder(&r.name, r.new_offset);
                        let (slot, _) = self.install_stub(&mut inner, &image, Some(new.slot))?;
                        forwarders.push(slot);
                        inner.slot_ptr(slot).as_ptr().cast_const()
                    };
                    Ok(Redirect {
                        old: inner.slot_ptr(r.pin_slot).as_ptr(),
                        old_offset: r.old_offset,
                        new: new.slot.as_ptr(),
                        new_offset: r.new_offset,
                        forward,
                    })
                })
                .collect()
        };
        let redirects = match redirects {
            Ok(redirects) => redirects,
            Err(e) => {
                self.free_slots(replaced.iter().map(|r| r.pin_slot).chain(forwarders));
                return Err(e);
            }
        };
        let redirects = Box::into_raw(Box::new(redirects));
        self.context.redirects.store(redirects, Ordering::Release);
        let collected = self.arena.collect();
        self.context
            .redirects
            .store(ptr::null_mut(), Ordering::Release);
        // Waits for any collection that another thread may have started
        // with the redirects visible (the arena lock is held throughout a
        // collection), so no scan reads them any more.
        self.arena.park();
        // SAFETY: from `Box::into_raw` above; no longer visible to scans.
        drop(unsafe { Box::from_raw(redirects) });
        self.free_slots(replaced.iter().map(|r| r.pin_slot).chain(forwarders));
        self.lock().redefinitions += replaced.len() as u64;
        self.arena.release();
        collected.map_err(InstallError::Memory)?;
        Ok(new)
    }

    /// Empties the root slots `slots` and makes them free.
    fn free_slots(&self, slots: impl Iterator<Item = u32>) {
        let mut inner = self.lock();
        for slot in slots {
            inner.slot(slot).store(ptr::null_mut(), Ordering::Relaxed);
            inner.free.push(slot);
        }
    }

    /// Installs; with `redefine`, entry points may replace installed ones:
    /// returns what they replaced, each old object held by a root slot of
    /// its own until the caller frees it.
    fn install_impl(
        &self,
        object: &LoadedObject,
        env: &Env<'_>,
        redefine: bool,
    ) -> Result<(CodeObject<'_>, Vec<Replaced>), InstallError> {
        let arena_raw = self.arena.as_raw() as usize;
        assert_jit_thread(arena_raw, "CodePool::install");
        let mut inner = self.lock();
        let mut created = Vec::new();
        let installed = self.install_locked(&mut inner, object, env, redefine, &mut created);
        if installed.is_err() {
            // Leave the pool unchanged: the shared stubs this installation
            // made go (the collector frees them; nothing else refers to
            // them yet).
            for address in created {
                if let Some((slot, stats)) = inner.runtime_stubs.remove(&address) {
                    inner.slot(slot).store(ptr::null_mut(), Ordering::Relaxed);
                    inner.free.push(slot);
                    inner.runtime_stub_totals.remove(&stats);
                }
            }
        }
        installed
    }

    /// [`install_impl`](Self::install_impl) under the lock (`inner`);
    /// `created` receives the addresses of the runtime functions whose
    /// shared stubs it installed.
    fn install_locked(
        &self,
        inner: &mut Inner,
        object: &LoadedObject,
        env: &Env<'_>,
        redefine: bool,
        created: &mut Vec<u64>,
    ) -> Result<(CodeObject<'_>, Vec<Replaced>), InstallError> {
        // Runtime functions the object only calls (R_X86_64_PLT32) are
        // bound to the pool's shared stub for each, as functions of another
        // code object: their calls become Direct sites, with no record or
        // stub in the object (heap constants take precedence, as below).
        let mut stubbed: HashMap<&str, u32> = HashMap::new();
        for (i, name) in object.externals().iter().enumerate() {
            let Some(&address) = env.runtime.get(name.as_str()) else {
                continue;
            };
            let only_calls = object
                .relocations()
                .iter()
                .all(|r| r.target != RelocTarget::External(i as u32) || r.kind == RelocKind::Plt32);
            if env.heap.contains_key(name.as_str()) || !only_calls {
                continue;
            }
            if !inner.runtime_stubs.contains_key(&(address as u64)) {
                created.push(address as u64);
            }
            let slot = self.runtime_stub(inner, name, address as u64)?;
            stubbed.insert(name.as_str(), slot);
        }
        // The slot of the code object that a Code target or Direct site
        // bound to `name` refers to.
        let code_slot = |inner: &Inner, name: &str| match stubbed.get(name) {
            Some(&slot) => slot,
            None => inner.symbols[name].slot,
        };

        // Bind and lay out.
        let mut refused: Option<InstallError> = None;
        let image = {
            let symbols = &inner.symbols;
            let inner_ref = &*inner;
            let (lo, hi) = self.code_range;
            let options = layout::LayoutOptions {
                interpose: self.interpose,
                code_range: Some((
                    exec_address(lo, self.delta) as u64,
                    exec_address(hi, self.delta) as u64,
                )),
            };
            layout::layout_with(object, &options, |name| {
                if let Some(h) = env.heap.get(name) {
                    let address = (h.current)();
                    if let Err(e) = self.check_heap_constant(name, h, address) {
                        refused.get_or_insert(e);
                        return None;
                    }
                    return Some(Binding::Heap {
                        object: address as u64,
                        offset: h.offset,
                    });
                }
                if let Some(&slot) = stubbed.get(name) {
                    return Some(Binding::Code {
                        object: inner_ref.slot(slot).load(Ordering::Relaxed) as u64,
                        offset: layout::RUNTIME_STUB_ENTRY,
                    });
                }
                if let Some(&address) = env.runtime.get(name) {
                    return Some(Binding::Runtime {
                        address: address as u64,
                    });
                }
                symbols.get(name).map(|s| Binding::Code {
                    object: inner_ref.slot(s.slot).load(Ordering::Relaxed) as u64,
                    offset: s.offset,
                })
            })
        };
        let image = match (image, refused) {
            (_, Some(e)) => return Err(e),
            (image, None) => image?,
        };
        if image.align() as usize > self.align {
            return Err(InstallError::Alignment {
                required: image.align(),
                pool: self.align,
            });
        }
        if let Some(e) = image
            .entries()
            .iter()
            .find(|e| !redefine && inner.symbols.contains_key(&e.name))
        {
            return Err(InstallError::DuplicateSymbol {
                name: e.name.clone(),
            });
        }

        // Where each reference of the target table comes from.
        let mut sources: Vec<(usize, Source<'_>)> = Vec::new();
        for (target, at) in
            layout::reference_offsets(image.bytes()).map_err(InstallError::Relink)?
        {
            let name = target_name(&image, target);
            let source = match target {
                _ if image.own_targets().any(|t| t == target) => Source::Own,
                Target::Code(_) => Source::Code(inner.slot_ptr(code_slot(inner, name))),
                _ => Source::Heap(&env.heap[name]),
            };
            sources.push((at, source));
        }
        // Where the target of each Direct site comes from (in site order).
        let direct: Vec<(u32, u32, Source<'_>)> = image
            .direct_sites()
            .iter()
            .map(|d| {
                let source = if d.own {
                    Source::Own
                } else {
                    Source::Code(inner.slot_ptr(code_slot(inner, &d.name)))
                };
                (d.offset, d.target_offset, source)
            })
            .collect();
        self.check_movable(&image)?;

        // Allocate, copy, link, commit.
        let slot_index = inner
            .take_slot(self.arena.as_raw())
            .map_err(InstallError::Memory)?;
        let size = image.len().next_multiple_of(self.align);
        let registration = match object.eh_frame() {
            Some(eh) if self.context.unwind => {
                let table =
                    crate::unwind::UnwindTable::build(eh, image.header().code_offset, object)
                        .map_err(InstallError::Unwind)?;
                let owner = &**self.context as *const PoolContext as usize;
                Some(crate::unwind::Registration::new(table, owner, size))
            }
            _ => None,
        };
        let allocated = self.allocate(inner.ap, &image, size, |block, base| {
            for (at, source) in &sources {
                block[*at..*at + 8].copy_from_slice(&(source.word(base) as u64).to_ne_bytes());
            }
            let exec = exec_address(base, self.delta);
            if !direct.is_empty() {
                let target = |e: &sidecar::Entry| {
                    let k = direct.binary_search_by_key(&e.offset, |d| d.0).ok()?;
                    let (_, offset, source) = &direct[k];
                    Some((exec_address(source.current(base), self.delta) + *offset as usize) as u64)
                };
                layout::link_direct(block, exec as u64, target)
                    .map_err(|e| self.relink_error(&image, e))?;
            }
            let unwind = registration.as_ref().map_or(0, |r| r.header_word());
            block[layout::UNWIND_AT..layout::UNWIND_AT + 4].copy_from_slice(&unwind.to_ne_bytes());
            if let Some(r) = &registration {
                // Before the commit: once the object exists, its record
                // covers it (crate::unwind).
                r.activate(exec);
            }
            layout::relink_from_table(block, exec as u64, self.delta as i64)
                .map_err(|e| self.relink_error(&image, e))
        });
        let (address, stats) = match allocated {
            Ok(allocated) => allocated,
            Err(e) => {
                inner.free.push(slot_index);
                return Err(e);
            }
        };
        if let Some(r) = registration {
            r.keep();
        }
        inner
            .slot(slot_index)
            .store(address as *mut u8, Ordering::Relaxed);
        keep_alive(address);
        publish::publish(address, size, self.delta);

        let mut replaced = Vec::new();
        for e in image.entries() {
            let previous = inner.symbols.insert(
                e.name.clone(),
                Symbol {
                    slot: slot_index,
                    offset: e.offset,
                },
            );
            if let Some(old) = previous {
                // Hold the old object in a slot of its own: its CodeObject
                // may be dropped meanwhile. The address is copied on this
                // registered thread, which pins the object meanwhile.
                let pin_slot = match inner.take_slot(self.arena.as_raw()) {
                    Ok(i) => i,
                    Err(e) => fatal_memory(e),
                };
                let address = inner.slot(old.slot).load(Ordering::Relaxed);
                inner.slot(pin_slot).store(address, Ordering::Relaxed);
                keep_alive(address as usize);
                replaced.push(Replaced {
                    pin_slot,
                    old_offset: old.offset,
                    new_offset: e.offset,
                    name: e.name.clone(),
                });
            }
        }
        let mut layout_stats = *image.stats();
        layout_stats.total_bytes = size;
        layout_stats.sizes.rounding += size - image.len();
        layout_stats.sizes.total = size;
        inner.installed.add(&layout_stats);
        inner.held.add(&layout_stats);
        inner.sites_linked_at_install += stats.sites as u64;
        let slot = inner.slot_ptr(slot_index);
        Ok((
            CodeObject {
                pool: self,
                slot,
                slot_index,
                entries: image.entries().to_vec(),
                stats: layout_stats,
            },
            replaced,
        ))
    }

    /// Allocates the object `image` in a block of `size` bytes (a
    /// multiple of the format's alignment, at least the image's length)
    /// on the allocation point `ap`, used under the pool's lock, which the
    /// caller holds: reserves, copies the image (the rest of the block is
    /// int3), sets its size and the pool's number, lets `link` finish the
    /// object at its write-view address (the block, the address) and link
    /// it, and commits; reserves again when the commit fails (a
    /// collection came in between). An error of the reservation or of
    /// `link`, or an unwind, undoes the reservation.
    fn allocate(
        &self,
        ap: mps_ap_t,
        image: &CodeImage,
        size: usize,
        mut link: impl FnMut(&mut [u8], usize) -> Result<RelinkStats, InstallError>,
    ) -> Result<(usize, RelinkStats), InstallError> {
        let total_size =
            u32::try_from(size).map_err(|_| InstallError::Layout(LayoutError::TooLarge))?;
        loop {
            let mut p: mps_addr_t = ptr::null_mut();
            // SAFETY: `ap` is live and used only under the lock, which the
            // caller holds; no block is reserved (every iteration ends with
            // a commit or with the reservation undone); `size` is a
            // non-zero multiple of the format's alignment.
            let res = unsafe { reserve(&mut p, ap, size) };
            check(res).map_err(InstallError::Memory)?;
            let base = p as usize;
            // Until the commit, an unwind or an error return undoes the
            // reservation.
            // SAFETY: `p` was just reserved on `ap`, used only under the
            // lock the caller holds, with nothing else reserved.
            let undo = unsafe { UndoReserve::new(ap, p) };
            #[cfg(test)]
            tests::maybe_panic_in_install();
            // SAFETY: the block `[p, p + size)` was just reserved: it is
            // ours, writable (a buffered segment is never protected) and
            // nothing else refers to it.
            let block = unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), size) };
            let (object, padding) = block.split_at_mut(image.len());
            object.copy_from_slice(image.bytes());
            padding.fill(0xcc);
            block[TOTAL_SIZE..TOTAL_SIZE + 4].copy_from_slice(&total_size.to_ne_bytes());
            block[POOL..POOL + 2].copy_from_slice(&self.pool_id.to_ne_bytes());
            let stats = link(block, base)?;
            undo.disarm();
            // SAFETY: `p` and `size` are the block reserved above, now a
            // well-formed code object whose references (the target table's
            // bases) are current addresses of live objects (held by root
            // slots or handles, and pinned by the locals that hold them).
            if unsafe { commit(ap, p, size) } {
                return Ok((base, stats));
            }
        }
    }

    /// The root slot of the pool's shared stub for the runtime function
    /// at `address` (`layout::runtime_stub`), installed on first use and
    /// held for the pool's lifetime (one per runtime function its objects
    /// call). The caller holds the lock (`inner`).
    fn runtime_stub(
        &self,
        inner: &mut Inner,
        name: &str,
        address: u64,
    ) -> Result<u32, InstallError> {
        if let Some(&(slot, _)) = inner.runtime_stubs.get(&address) {
            return Ok(slot);
        }
        let image = layout::runtime_stub(name, address);
        let (slot, stats) = self.install_stub(inner, &image, None)?;
        inner.runtime_stubs.insert(address, (slot, stats));
        inner.runtime_stub_totals.add(&stats);
        Ok(slot)
    }

    /// Installs `image`, one of the pool's own stubs (`layout::runtime_stub`,
    /// `layout::forwarder`), in a root slot of its own; `target` is the
    /// slot of the object that its Direct site (a forwarder's jump) calls.
    /// Returns the slot and the object's figures. The caller holds the lock
    /// (`inner`).
    fn install_stub(
        &self,
        inner: &mut Inner,
        image: &CodeImage,
        target: Option<NonNull<AtomicPtr<u8>>>,
    ) -> Result<(u32, LayoutStats), InstallError> {
        let slot_index = inner
            .take_slot(self.arena.as_raw())
            .map_err(InstallError::Memory)?;
        let size = image.len().next_multiple_of(self.align);
        let allocated = self.allocate(inner.ap, image, size, |block, base| {
            let exec = exec_address(base, self.delta);
            if let Some(slot) = target {
                let to = |e: &sidecar::Entry| {
                    let Target::Direct(offset) = e.target else {
                        return None;
                    };
                    let start = Source::Code(slot).current(base);
                    Some((exec_address(start, self.delta) + offset as usize) as u64)
                };
                layout::link_direct(block, exec as u64, to)
                    .map_err(|e| self.relink_error(image, e))?;
            }
            layout::relink_from_table(block, exec as u64, self.delta as i64)
                .map_err(|e| self.relink_error(image, e))
        });
        let base = match allocated {
            Ok((base, _)) => base,
            Err(e) => {
                inner.free.push(slot_index);
                return Err(e);
            }
        };
        inner
            .slot(slot_index)
            .store(base as *mut u8, Ordering::Relaxed);
        keep_alive(base);
        publish::publish(base, size, self.delta);
        let mut stats = *image.stats();
        stats.total_bytes = size;
        stats.sizes.rounding += size - image.len();
        stats.sizes.total = size;
        Ok((slot_index, stats))
    }

    /// Checks heap constant `name` (`h`, now at `address`): an object of
    /// the arena outside its code memory, in a pool that keeps it in place
    /// under interior references, with the offset inside it.
    fn check_heap_constant(
        &self,
        name: &str,
        h: &HeapConst<'_>,
        address: usize,
    ) -> Result<(), InstallError> {
        let (lo, hi) = self.code_range;
        let name = name.to_owned();
        if !self.arena.has_addr(address) || (lo..hi).contains(&address) {
            return Err(InstallError::NotAHeapObject { name });
        }
        if !h.pool.is_some_and(|pool| self.arena.interior_pins(pool)) {
            return Err(InstallError::InteriorNotPinned { name });
        }
        if h.offset as usize >= h.size {
            return Err(InstallError::HeapOffsetOutside {
                name,
                offset: h.offset,
                size: h.size,
            });
        }
        Ok(())
    }

    /// Checks that every site of `image` stays linkable wherever the
    /// collector may put the object and its targets: sites that refer to
    /// moving targets must be able to follow them anywhere, and sites that
    /// refer to fixed addresses (or to the object itself) must reach them
    /// from both ends of code memory (the reach of a site is an interval
    /// of object addresses, so both ends suffice).
    fn check_movable(&self, image: &CodeImage) -> Result<(), InstallError> {
        let sidecar = layout::sidecar_bytes(image.bytes()).map_err(InstallError::Relink)?;
        for entry in sidecar::decode(sidecar) {
            let entry = entry.map_err(|e| InstallError::Relink(RelinkError::Sidecar(e)))?;
            let movable = match (entry.target, entry.kind) {
                (Target::Heap(_), RelocKind::Abs64 | RelocKind::Pc64) => true,
                (
                    Target::Heap(_),
                    RelocKind::GotPcRel | RelocKind::GotPcRelX | RelocKind::RexGotPcRelX,
                ) => true,
                (Target::Heap(_), RelocKind::Plt32) => {
                    entry.addend == RelocKind::Plt32.usual_addend()
                }
                (Target::Heap(_), _) => false,
                (Target::Code(_), RelocKind::Abs32 | RelocKind::Abs32S) => false,
                _ => true,
            };
            if !movable {
                return Err(InstallError::NotMovable {
                    symbol: target_name(image, entry.target).to_owned(),
                    kind: entry.kind,
                });
            }
        }
        let (lo, hi) = self.code_range;
        let last = (hi.saturating_sub(image.len()) & !(self.align - 1)).max(lo);
        let mut trial = image.bytes().to_vec();
        for write in [lo, last] {
            // Own functions move with the object (and a redefinition binds
            // them to another object of code memory, which every Code site
            // reaches from anywhere in it).
            for target in image.own_targets() {
                layout::set_target_base(&mut trial, target, write as u64)
                    .map_err(InstallError::Relink)?;
            }
            let exec = exec_address(write, self.delta);
            if image.header().direct {
                // Every Direct target lies in code memory, which every
                // Direct site reaches from anywhere in it (layout_with):
                // any address there will do, such as the object's own.
                layout::link_direct(&mut trial, exec as u64, |e| {
                    Some(exec as u64 + u64::from(e.target.index()))
                })
                .map_err(|e| self.relink_error(image, e))?;
            }
            layout::relink_from_table(&mut trial, exec as u64, self.delta as i64)
                .map_err(|e| self.relink_error(image, e))?;
        }
        Ok(())
    }

    fn relink_error(&self, image: &CodeImage, e: RelinkError) -> InstallError {
        match e {
            RelinkError::Reloc {
                offset,
                target,
                error,
            } => InstallError::OutOfReach {
                symbol: match target {
                    // Direct sites are told apart by their offset.
                    Target::Direct(_) => image
                        .direct_sites()
                        .iter()
                        .find(|d| d.offset == offset)
                        .map_or("<direct>", |d| d.name.as_str())
                        .to_owned(),
                    _ => target_name(image, target).to_owned(),
                },
                offset,
                error,
            },
            e => InstallError::Relink(e),
        }
    }

    /// The code objects of this pool whose unwind tables are registered,
    /// at their current addresses ([`crate::unwind`]), with their named
    /// functions. Empty when registration is off. Park the arena for an
    /// answer that no collection changes meanwhile.
    pub fn registered_objects(&self) -> Vec<crate::unwind::RegisteredObject> {
        crate::unwind::registered(Some(&**self.context as *const PoolContext as usize))
    }

    /// Does an installed object export `name`?
    pub fn contains_symbol(&self, name: &str) -> bool {
        self.lock().symbols.contains_key(name)
    }

    /// Figures: installed and held objects, relocations linked at
    /// installation and relinked by the collector.
    pub fn stats(&self) -> CodePoolStats {
        let inner = self.lock();
        let c = &self.context.counters;
        let load = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        CodePoolStats {
            installed: inner.installed,
            held: inner.held,
            sites_linked_at_install: inner.sites_linked_at_install,
            redefinitions: inner.redefinitions,
            runtime_stubs: inner.runtime_stub_totals,
            collector: RelinkCounters {
                objects_scanned: load(&c.objects_scanned),
                objects_relinked: load(&c.objects_relinked),
                sites_relinked: load(&c.sites_relinked),
                objects_moved: load(&c.objects_moved),
                bytes_moved: load(&c.bytes_moved),
                bytes_relinked: load(&c.bytes_relinked),
                objects_freed: load(&c.objects_freed),
                bytes_freed: load(&c.bytes_freed),
                scan_seconds: load(&c.scan_nanos) as f64 * 1e-9,
            },
        }
    }

    /// What the arena's last collection did (`mpsx_arena_last_trace`).
    pub fn last_trace(&self) -> TraceStats {
        let mut s = mpsx_trace_stats_s {
            condemned: 0,
            live: 0,
            copied: 0,
            objects_moved: 0,
            segs_pinned: 0,
            segs_skipped: 0,
            bytes_scanned: 0,
            seconds: 0.0,
        };
        // SAFETY: the arena is live; `s` is a valid out parameter.
        unsafe { mpsx_arena_last_trace(self.arena.as_raw(), &mut s) };
        TraceStats {
            condemned: s.condemned,
            live: s.live,
            copied: s.copied,
            objects_moved: s.objects_moved,
            segs_pinned: s.segs_pinned,
            segs_skipped: s.segs_skipped,
            bytes_scanned: s.bytes_scanned,
            seconds: s.seconds,
        }
    }

    /// Walks the pool's memory and totals the code objects in it (from
    /// their headers): after a full collection, exactly the live ones,
    /// held or kept alive by other code.
    ///
    /// **Parks the arena** (`mps_arena_park`: the walk needs it) and leaves
    /// it parked, like [`Arena::collect`]: call [`Arena::release`] to let
    /// collections start on their own again.
    pub fn census(&self) -> Result<Census, mps::Error> {
        self.arena.park();
        let mut census = Census::default();
        // SAFETY: the pool is live and the arena parked; the closure is a
        // live `Census` that `census_area` alone uses during the call.
        let res = unsafe {
            mps_pool_walk(
                self.pool.as_ptr(),
                Some(census_area),
                (&mut census as *mut Census).cast(),
            )
        };
        check(res)?;
        Ok(census)
    }
}

/// Allocates one pad of `align` bytes on `ap` (a block of the format that
/// is garbage at once).
fn prime(ap: mps_ap_t, align: usize) -> Result<(), mps::Error> {
    loop {
        let mut p: mps_addr_t = ptr::null_mut();
        // SAFETY: `ap` is live, fresh and used only here; no block is
        // reserved; `align` is the format's alignment.
        check(unsafe { reserve(&mut p, ap, align) })?;
        // SAFETY: the reserved block `[p, p + align)` is ours; a pad of
        // `align` bytes is a well-formed block of the format.
        unsafe { format::pad(p, align) };
        // SAFETY: the block reserved above, initialised as a pad.
        if unsafe { commit(ap, p, align) } {
            return Ok(());
        }
    }
}

/// The name bound to `target` in `image`.
fn target_name(image: &CodeImage, target: Target) -> &str {
    if let Target::Direct(offset) = target {
        return image
            .direct_sites()
            .iter()
            .find(|d| d.target_offset == offset)
            .map_or("<direct>", |d| d.name.as_str());
    }
    image
        .targets()
        .iter()
        .find(|t| t.target == target)
        .map_or("<self>", |t| t.name.as_str())
}

/// Area scanner for [`CodePool::census`]: totals the code objects of an
/// area of the pool.
unsafe extern "C" fn census_area(
    _ss: mps_ss_t,
    base: *mut c_void,
    limit: *mut c_void,
    closure: *mut c_void,
) -> mps_res_t {
    let run = || {
        // SAFETY: `closure` is the `Census` of `CodePool::census`, alive
        // and used by nothing else during the walk.
        let census = unsafe { &mut *closure.cast::<Census>() };
        let (mut p, limit) = (base as usize, limit as usize);
        while p < limit {
            // SAFETY: the walk passes runs of blocks of the pool's format.
            let tag = unsafe { (p as *const u32).read_unaligned() };
            let size = match tag {
                MAGIC | FORWARD => {
                    // SAFETY: objects and markers hold their size at
                    // TOTAL_SIZE.
                    let size =
                        unsafe { ((p + TOTAL_SIZE) as *const u32).read_unaligned() } as usize;
                    if tag == MAGIC {
                        if size > limit - p {
                            format::fatal("census", "a block larger than its area", p);
                        }
                        // SAFETY: a code object of `size` bytes, readable
                        // (the arena is parked).
                        let object = unsafe { core::slice::from_raw_parts(p as *const u8, size) };
                        let (Ok(header), Ok(sidecar)) =
                            (Header::read(object), layout::sidecar_bytes(object))
                        else {
                            format::fatal("census", "a code object with an invalid header", p)
                        };
                        let totals = if header.pool_stub {
                            &mut census.stubs
                        } else {
                            &mut census.objects
                        };
                        totals.objects += 1;
                        totals.code_bytes += header.code_size as usize;
                        totals.total_bytes += header.total_size as usize;
                        totals.sizes.add(&header.sizes());
                        totals.target_table_bytes += header.target_len as usize;
                        totals.sidecar = totals.sidecar.combine(SidecarStats::new(
                            sidecar::count(sidecar).unwrap_or(0),
                            header.sidecar_len as usize,
                        ));
                    }
                    size
                }
                PAD => {
                    // SAFETY: a pad holds its size at offset 8.
                    let size = unsafe { ((p + 8) as *const u64).read_unaligned() } as usize;
                    census.pad_bytes += size;
                    size
                }
                _ => format::fatal("census", "a block with an unknown tag", p),
            };
            if size == 0 {
                format::fatal("census", "a block of size 0", p);
            }
            p += size;
        }
        MPS_RES_OK as mps_res_t
    };
    match std::panic::catch_unwind(core::panic::AssertUnwindSafe(run)) {
        Ok(res) => res,
        Err(_) => format::fatal("census", "panic", base as usize),
    }
}

impl Drop for CodePool<'_> {
    fn drop(&mut self) {
        // No CodeObject is left (they borrow the pool), so no code of the
        // pool can be running through this crate's API.
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the MPS order: the allocation point (no block reserved)
        // before its pool; the roots, then the memory they cover. Each was
        // created by `new` or `take_slot` and is destroyed once, here.
        unsafe {
            mps_ap_destroy(inner.ap);
            for chunk in inner.chunks.drain(..) {
                mps_root_destroy(chunk.root);
                drop(Box::from_raw(chunk.slots.as_ptr()));
            }
        }
        // SAFETY: taken once, here; not used by `self` again.
        let context = unsafe { ManuallyDrop::take(&mut self.context) };
        let rest = PoolRest {
            pool: self.pool,
            fmt: self.fmt,
            context,
            pool_id: self.pool_id,
        };
        if rest.context.code_ptrs.load(Ordering::Relaxed) == 0 {
            drop(rest);
        } else {
            // Heap objects may still hold code of the pool (CodePtr) and
            // call it: the pool, its format and the context the format
            // methods use live as long as the arena's heap does.
            self.arena.at_drop(move || drop(rest));
        }
    }
}

/// What a code pool leaves when it is dropped: the MPS pool, its format,
/// and the context their format methods use, destroyed together.
struct PoolRest {
    pool: NonNull<mps_pool_s>,
    fmt: NonNull<mps_fmt_s>,
    context: Box<PoolContext>,
    pool_id: u16,
}

// SAFETY: the MPS pool and format may be destroyed from any thread; the
// context is atomics and plain data.
unsafe impl Send for PoolRest {}

impl Drop for PoolRest {
    fn drop(&mut self) {
        if self.context.unwind {
            // Before the pool's memory goes (crate::unwind).
            crate::unwind::forget_owner(&*self.context as *const PoolContext as usize);
        }
        // SAFETY: the MPS order: the pool (its allocation point and roots
        // are gone), then its format; the context outlives the pool (it is
        // freed after this function). Each is destroyed once, here: the
        // pool's owner was dropped, and the arena is parked or no code
        // object of the pool remains referenced (`code_ptrs` is 0).
        unsafe {
            mps_pool_destroy(self.pool.as_ptr());
            mps_fmt_destroy(self.fmt.as_ptr());
        }
        // No object of the pool remains: its number may be reused (the
        // context is freed after this function).
        format::unregister(self.pool_id);
    }
}

impl fmt::Debug for CodePool<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodePool")
            .field("pool", &self.pool)
            .field("delta", &self.delta)
            .field("held", &self.lock().held.objects)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Installed objects.

/// An installed code object, kept alive by a root slot of its pool until
/// this handle is dropped.
///
/// Dropping it clears the slot and removes the object's entry points from
/// the pool's symbol table; the collector then reclaims the object once
/// no other code object refers to it (code that calls it keeps it alive,
/// and keeps working). Dropping on a thread not registered with the arena
/// is allowed: the slot is cleared with an atomic store, and a collection
/// scanning the slot at that moment writes a moved object's new address
/// back only if the slot still holds the old one (`mps_scan_area`,
/// `vendor/mps/DESIGN.md#roots`), so a cleared slot stays cleared.
pub struct CodeObject<'p> {
    pool: &'p CodePool<'p>,
    slot: NonNull<AtomicPtr<u8>>,
    slot_index: u32,
    entries: Vec<EntryPoint>,
    stats: LayoutStats,
}

// SAFETY: the slot is an atomic word in memory the pool owns (and the pool
// is `Sync`); the rest is plain data.
unsafe impl Send for CodeObject<'_> {}
// SAFETY: as above; shared access only loads the slot.
unsafe impl Sync for CodeObject<'_> {}

impl<'p> CodeObject<'p> {
    fn slot(&self) -> &AtomicPtr<u8> {
        // SAFETY: the slot lives as long as the pool, which `self` borrows.
        unsafe { self.slot.as_ref() }
    }

    /// The pool.
    pub fn pool(&self) -> &'p CodePool<'p> {
        self.pool
    }

    /// The exported functions, with their offsets in the object.
    pub fn entries(&self) -> &[EntryPoint] {
        &self.entries
    }

    /// The offset of entry point `name` in the object.
    pub fn entry_offset(&self, name: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.offset)
    }

    /// A handle for calling entry point `name` as an `F`, or `None` if the
    /// object does not export `name`.
    ///
    /// # Safety
    ///
    /// The entry point must be a function with exactly the signature `F`
    /// and the C calling convention, and calling it must not break Rust's
    /// rules (the code is trusted: it runs with the process's rights).
    pub unsafe fn function<F: JitFn>(&self, name: &str) -> Option<CodeRef<'_, F>> {
        let offset = self.entry_offset(name)?;
        // SAFETY: the signature is the caller's promise.
        Some(unsafe { self.code_ref(offset) })
    }

    /// The handle for the entry at `offset`.
    ///
    /// # Safety
    ///
    /// The entry is a function of signature `F` (see
    /// [`function`](Self::function)).
    unsafe fn code_ref<F: JitFn>(&self, offset: u32) -> CodeRef<'_, F> {
        // SAFETY: the slot holds this live object until `self` is dropped,
        // which the borrow prevents while the handle exists; the signature
        // is the caller's promise.
        unsafe {
            CodeRef::new(
                self.slot(),
                offset,
                self.pool.delta,
                self.pool.arena.as_raw() as usize,
            )
        }
    }

    /// An owned handle for calling entry point `name` as an `F`, or `None`
    /// if the object does not export `name`: the promise about the
    /// signature is made once, here, and every call through the handle is
    /// safe. The handle shares the object (it holds a clone of the `Arc`),
    /// so it can be stored, cloned and sent to other threads; the object
    /// stays installed until its last `Arc` is dropped.
    ///
    /// # Safety
    ///
    /// As [`function`](Self::function): the entry point must be a function
    /// with exactly the signature `F` and the C calling convention.
    pub unsafe fn typed<F: JitFn>(self: &Arc<Self>, name: &str) -> Option<CodeFn<'p, F>> {
        let entry = self.entry_offset(name)?;
        Some(CodeFn {
            object: Arc::clone(self),
            entry,
            _signature: PhantomData,
        })
    }

    /// The object's current write-view address (it changes when the
    /// collector moves the object; for observation only).
    pub fn address(&self) -> usize {
        self.slot().load(Ordering::Relaxed) as usize
    }

    /// The object's current execute-view address.
    pub fn exec_address(&self) -> usize {
        exec_address(self.address(), self.pool.delta)
    }

    /// The object's size in bytes.
    pub fn size(&self) -> usize {
        self.stats.total_bytes
    }

    /// Size figures from its layout (code, sidecar, GOT, stubs; the total
    /// rounded up to the pool's alignment).
    pub fn layout_stats(&self) -> &LayoutStats {
        &self.stats
    }
}

impl Drop for CodeObject<'_> {
    fn drop(&mut self) {
        // Under the lock: an installation that binds one of this object's
        // symbols reads its slot, and must not see it cleared.
        let mut inner = self.pool.lock();
        self.slot().store(ptr::null_mut(), Ordering::Relaxed);
        for e in &self.entries {
            if inner
                .symbols
                .get(&e.name)
                .is_some_and(|s| s.slot == self.slot_index)
            {
                inner.symbols.remove(&e.name);
            }
        }
        inner.held.remove(&self.stats);
        inner.free.push(self.slot_index);
    }
}

/// An owned, typed handle for calling one entry point of an installed
/// code object (made by [`CodeObject::typed`]): a [`CodeRef`] that holds
/// its object instead of borrowing it.
///
/// Its signature was promised once, when it was made, so its calls are
/// safe; it holds an [`Arc`] of the [`CodeObject`], so the object stays
/// installed (and its symbols bound) while any handle or other `Arc` of it
/// lives, and the handle can be kept in a runtime's own structures, cloned
/// and sent to other threads. Like [`CodeRef`] it holds no address: each
/// call loads the object's current address from the pool's root slot.
/// Calls have [`CodeRef::call`]'s rules: the calling thread must be inside
/// [`CodePool::with_jit_thread`] for the pool's arena (it panics
/// otherwise).
///
/// ```ignore
/// let object = Arc::new(pool.install_elf(&elf, &Env::new())?);
/// // SAFETY: `twice` is `int64_t twice(int64_t)` in the object.
/// let twice = unsafe { object.typed::<extern "C" fn(i64) -> i64>("twice") }.unwrap();
/// drop(object); // the handle keeps the object
/// pool.with_jit_thread(|_| assert_eq!(twice.call((21,)), 42));
/// ```
pub struct CodeFn<'p, F> {
    object: Arc<CodeObject<'p>>,
    entry: u32,
    _signature: PhantomData<F>,
}

impl<'p, F: JitFn> CodeFn<'p, F> {
    /// The borrowed handle for the same entry (for [`CodePtr::init`],
    /// which takes a [`CodeRef`]).
    ///
    /// [`CodePtr::init`]: crate::CodePtr::init
    pub fn code_ref(&self) -> CodeRef<'_, F> {
        // SAFETY: the signature is the promise made in `CodeObject::typed`;
        // the handle borrows the object through `self.object`.
        unsafe { self.object.code_ref(self.entry) }
    }

    /// Calls the function (as [`CodeRef::call`], with its panics).
    #[inline]
    pub fn call(&self, args: F::Args) -> F::Output {
        self.code_ref().call(args)
    }

    /// Calls the function with `scope` lent to the runtime functions it
    /// calls (as [`CodeRef::call_in`]).
    #[inline]
    pub fn call_in(&self, scope: &mut Scope<'_>, args: F::Args) -> F::Output {
        self.code_ref().call_in(scope, args)
    }

    /// Calls the function with `scope` and `data` of runtime `R` lent to
    /// the runtime functions it calls (as [`CodeRef::call_with`]).
    #[inline]
    pub fn call_with<R: crate::runtime::Runtime>(
        &self,
        scope: &mut Scope<'_>,
        data: &mut R::Data<'_>,
        args: F::Args,
    ) -> F::Output {
        self.code_ref().call_with::<R>(scope, data, args)
    }

    /// The code object.
    pub fn object(&self) -> &Arc<CodeObject<'p>> {
        &self.object
    }

    /// The entry's offset in its object.
    pub fn entry_offset(&self) -> u32 {
        self.entry
    }

    /// The entry's current execute-view address (for printing: it changes
    /// when the collector moves the object).
    pub fn exec_address(&self) -> usize {
        self.object.exec_address() + self.entry as usize
    }
}

impl<F> Clone for CodeFn<'_, F> {
    fn clone(&self) -> Self {
        CodeFn {
            object: Arc::clone(&self.object),
            entry: self.entry,
            _signature: PhantomData,
        }
    }
}

impl<F> fmt::Debug for CodeFn<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeFn")
            .field("object", &format_args!("{:#x}", self.object.address()))
            .field("entry", &self.entry)
            .finish()
    }
}

impl fmt::Debug for CodeObject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeObject")
            .field("address", &format_args!("{:#x}", self.address()))
            .field("size", &self.size())
            .field("entries", &self.entries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_and_remove() {
        let stats = LayoutStats {
            sidecar: SidecarStats::new(4, 12),
            code_bytes: 100,
            total_bytes: 256,
            target_table_bytes: 48,
            ..LayoutStats::default()
        };
        let mut totals = CodeTotals::default();
        totals.add(&stats);
        totals.add(&stats);
        assert_eq!(totals.objects, 2);
        assert_eq!(totals.sidecar, SidecarStats::new(8, 24));
        assert_eq!(totals.sidecar_percent_of_code(), 12.0);
        totals.remove(&stats);
        assert_eq!(totals.code_bytes, 100);
        assert_eq!(totals.sidecar, SidecarStats::new(4, 12));
    }

    #[test]
    fn counters_subtract() {
        let a = RelinkCounters {
            objects_scanned: 10,
            objects_relinked: 8,
            sites_relinked: 30,
            objects_moved: 7,
            bytes_moved: 700,
            scan_seconds: 0.5,
            ..RelinkCounters::default()
        };
        let b = RelinkCounters {
            objects_scanned: 4,
            objects_relinked: 3,
            sites_relinked: 10,
            objects_moved: 2,
            bytes_moved: 200,
            scan_seconds: 0.25,
            ..RelinkCounters::default()
        };
        let d = a.since(&b);
        assert_eq!(
            (d.objects_scanned, d.sites_relinked, d.bytes_moved),
            (6, 20, 500)
        );
        assert_eq!(d.scan_seconds, 0.25);
    }

    std::thread_local! {
        /// Makes the next installation on this thread panic inside its
        /// reserve / commit loop.
        static PANIC_IN_INSTALL: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    }

    pub(super) fn maybe_panic_in_install() {
        if PANIC_IN_INSTALL.with(|p| p.replace(false)) {
            panic!("injected panic between reserve and commit");
        }
    }

    /// Is a block reserved on the pool's allocation point and not
    /// committed?
    fn reservation_pending(code: &CodePool<'_>) -> bool {
        let ap = code.lock().ap;
        // SAFETY: the allocation point is live while the pool is; its
        // fields are only read, under no reservation of this thread.
        unsafe { (*ap).init != (*ap).alloc }
    }

    #[cfg(feature = "llvm")]
    #[test]
    fn a_panic_between_reserve_and_commit_undoes_the_reservation() {
        if !mps::sys::EXTENSIONS {
            eprintln!("skipped: code pools need the mpsx_ extensions");
            return;
        }
        use inkwell::context::Context;
        use inkwell::memory_buffer::MemoryBuffer;
        let context = Context::create();
        let ir = "define i64 @f(i64 %x) {\n  ret i64 %x\n}\n";
        let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "f");
        let module = context.create_module_from_ir(buffer).unwrap();
        let object = crate::jit::compile(&module).unwrap();
        let arena = Arena::new().unwrap();
        let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
        code.with_jit_thread(|_| {
            PANIC_IN_INSTALL.with(|p| p.set(true));
            let unwound = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                code.install(&object, &Env::new())
            }));
            assert!(unwound.is_err(), "the injected panic did not happen");
            assert!(
                !reservation_pending(&code),
                "the unwinding installation left a block reserved and never committed"
            );
            // The pool is still usable, and its slot table consistent.
            let f = code.install(&object, &Env::new()).unwrap();
            // SAFETY: `f` is `i64 f(i64)` with the C calling convention.
            let call = unsafe { f.function::<extern "C" fn(i64) -> i64>("f") }.unwrap();
            assert_eq!(call.call((7,)), 7);
        })
        .unwrap();
    }

    #[test]
    fn a_thread_outside_with_jit_thread_is_not_a_jit_thread() {
        assert!(!is_jit_thread(0x1000));
    }
}

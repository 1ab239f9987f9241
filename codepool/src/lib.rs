//! A code pool: JIT-compiled machine code that lives in collected memory,
//! moved by the collector like any object and relinked on every move.
//!
//! ```
//! # #[cfg(feature = "llvm")] {
//! # if !mps::sys::EXTENSIONS { return Ok(()); } // AMCX is an mpsx_ extension
//! use codepool::jit::inkwell::context::Context;
//! use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
//! use codepool::{CodePool, CodePoolOptions, Env};
//!
//! extern "C" fn rt_twice(x: i64) -> i64 {
//!     2 * x
//! }
//!
//! let arena = mps::Arena::new()?;
//! let code = CodePool::new(&arena, &CodePoolOptions::default())?;
//! let context = Context::create();
//! let ir = "declare i64 @rt_twice(i64)
//!           define i64 @f(i64 %x) {
//!             %y = call i64 @rt_twice(i64 %x)
//!             %z = add i64 %y, 1
//!             ret i64 %z
//!           }";
//! let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "m");
//! let module = context.create_module_from_ir(buffer)?;
//! // Threads that install or run code are registered with a code-aware root.
//! code.with_jit_thread(|_scope| -> Result<(), Box<dyn std::error::Error>> {
//!     let mut env = Env::new();
//!     env.function("rt_twice", rt_twice as extern "C" fn(i64) -> i64);
//!     let object = code.install_module(&module, &env)?;
//!     // SAFETY: `f` is `i64 f(i64)` with the C calling convention.
//!     let f = unsafe { object.function::<extern "C" fn(i64) -> i64>("f") }.unwrap();
//!     assert_eq!(f.call((20,)), 41);
//!     arena.collect()?; // the object moves, and is relinked
//!     arena.release();
//!     assert_eq!(f.call((20,)), 41);
//!     Ok(())
//! })??;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A code object is one block in an executable pool of the collector: a
//! header, the machine code, stubs for far call targets, a target table and
//! a relocation sidecar listing every site that depends on an address
//! outside the object or on the object's own address. When the collector
//! moves a code object, or anything it refers to, the object's scan method
//! fixes the references of its target table, and those that direct calls
//! to other code objects hold in their own fields (no record: the field
//! encodes the target), and re-encodes those sites from the current
//! addresses, so moving code ends in relinked code. Code
//! addresses found on stacks are ambiguous references and pin their object,
//! so code that is running never moves. Pages are never writable and
//! executable at once (W^X): the pool's memory is mapped twice, a
//! read-write view where the collector and the installer write, and a
//! read-execute view where code runs (`vendor/mps/DESIGN.md#code`).
//!
//! Code objects are loaded from ELF relocatable objects (from LLVM, from
//! `cc -c`, ...); unsupported relocations and malformed objects are errors.
//!
//! # Components
//!
//! The executable pool and its boundary with the collector:
//!
//! - [`CodePool`]: an AMCX pool (`mpsx.h`) with the code object format,
//!   an allocation point, a table of exact root slots and a symbol table.
//!   [`CodePool::install`] binds an object's undefined symbols through an
//!   [`Env`] (runtime functions, heap constants) and the symbol table
//!   (functions already installed), lays it out, checks that every site
//!   can follow its target wherever the collector moves either, allocates,
//!   links and publishes it. Errors are [`InstallError`]s.
//! - [`CodeObject`]: an installed object, kept alive by its root slot
//!   until dropped; [`CodeRef`]: a typed handle for calling one of its
//!   entry points ([`JitFn`] signatures), borrowed from it; [`CodeFn`]:
//!   the same, owned (it holds the object in an `Arc`), made once with
//!   [`CodeObject::typed`] and then stored, cloned and sent to other
//!   threads by a runtime, every call safe.
//! - [`CodePool::with_jit_thread`]: registers the calling thread with a
//!   thread root scanned by `mpsx_scan_area_code`, so that return
//!   addresses into JIT code pin it.
//! - The format (module `format`, private): the collector's callbacks on
//!   code objects (scan fixes and relinks; skip, forward, is-forwarded,
//!   pad). [`publish`]: the two views, the instruction-cache rule, the W^X
//!   audit.
//! - [`unwind`]: each object's `.eh_frame`, registered with the system
//!   unwinder (an interposed `_Unwind_Find_FDE`) and kept current as the
//!   collector moves and frees code, so panics, C++ exceptions and
//!   backtraces pass through JIT frames; [`debuginfo`]: the GDB JIT
//!   interface, the perf map and perf's jitdump file, derived from it.
//!   [`CodePoolOptions::unwind`] switches registration off.
//! - Statistics: [`CodePoolStats`] (layout totals, relocations linked and
//!   relinked, objects moved), [`Census`] (a walk of the pool),
//!   [`TraceStats`] (the arena's last collection).
//!
//! The collector-independent half operates on byte slices and plain data:
//!
//! - [`elf`]: loads an ELF64 x86-64 relocatable object into one image of its
//!   code and read-only data, with its symbols and relocations, validating
//!   everything;
//! - [`reloc`]: applies one relocation to a byte slice;
//! - [`sidecar`]: the compact relocation sidecar (about three bytes per
//!   relocation where ELF spends 24);
//! - [`mod@layout`]: builds a code object image (header, code, GOT, stubs,
//!   target table, sidecar) and relinks it for new addresses;
//! - [`jit`] (feature `llvm`): compiles an inkwell module to an object.
//!
//! # API for runtimes
//!
//! A language runtime (closures, a `cons` that allocates, code that is
//! data) uses, besides installing and calling:
//!
//! - **Heap objects that hold code**: a [`CodePtr<F>`] field in an object
//!   of an `mps` pool refers to one entry point of a code object. The
//!   holder's format fixes it ([`CodePtr::fix`]) in its scan; it is set
//!   once, in the heap, from a [`CodeRef`] ([`CodePtr::init`]). It keeps
//!   the code alive (code held only through the heap survives its
//!   [`CodeObject`] being dropped), follows it when it moves, and is
//!   called from Rust with [`CodePtr::call`] on a thread inside
//!   [`CodePool::with_jit_thread`] (checked like handle accesses,
//!   `mps::check_stack`). When nothing refers to the code any more, a
//!   collection frees it.
//! - **Runtime functions that allocate**: [`CodeRef::call_in`] /
//!   [`CodeRef::call_with`] (and the same on [`CodePtr`]) lend the
//!   thread's [`mps::Scope`], and optionally the runtime's own data (its
//!   allocation points: a [`runtime::Runtime`]), to the `extern "C"`
//!   runtime functions the JIT code calls, which take them with
//!   [`runtime::with_scope`] / [`runtime::with`]. New objects go back to
//!   JIT code as addresses ([`mps::Handle::addr`]), which its frames hold
//!   as ambiguous references (pinned); addresses JIT code passes back are
//!   turned into handles with [`runtime::handle_from_jit`] (`unsafe`: the
//!   runtime vouches that JIT code passed an object's address, as it
//!   vouched for the code). No leaked arena, no thread-local
//!   `Ap<'static, _>`.
//! - **Redefinition**: [`CodePool::redefine`] installs an object whose
//!   entry points may replace installed ones; every code object that calls
//!   the old definition is relinked to call the new one directly, in a
//!   full collection (the world stopped); running frames finish in the old
//!   code, which is freed when nothing refers to it. The old definition's
//!   calls to itself are rebound too: an object calls its own global,
//!   default-visibility functions through target records bound by name
//!   ([`CodePoolOptions::interpose`], ELF's preemptible symbols), still
//!   with direct `rel32` calls.
//! - **What the collector did to code**: [`CodePool::stats`] counts
//!   objects installed ([`CodePoolStats::installed`]), moved, relinked and
//!   freed, with their bytes ([`RelinkCounters`]; freed objects are counted
//!   by the pool's reclaim hook, `mpsx_pool_reclaim_hook`, as the
//!   collector reclaims them).
//!
//! `tests/heap_code.rs` shows closures holding code in an AMC pool and a
//! `cons` called from JIT code under collections; `tests/redefine.rs`
//! redefinition while other threads call; `tests/interpose.rs` recursive
//! functions redefined while they run.
//!
//! # Soundness
//!
//! Safe code never holds a code address the collector does not know
//! about across a point where the collector may run:
//!
//! - installed objects are held by root slots (exact roots); a
//!   [`CodeObject`] owns one slot, and its [`CodeRef`]s borrow it (its
//!   [`CodeFn`]s share it through an `Arc`, so the slot lives while they
//!   do);
//! - [`CodeRef::call`] loads the current address from the slot, adds the
//!   execute-view distance and the entry offset, and calls, in one method;
//!   while the call runs, the return addresses into JIT frames (and the
//!   program counter of a thread stopped in JIT code) are in the thread's
//!   code-aware root, which pins every object with a live frame;
//! - calling and installing assert that the thread is inside
//!   [`CodePool::with_jit_thread`] for the pool's arena; each scope is an
//!   entry of its own ([`mps::Registrations`]), removed by identity, so
//!   scopes that end out of order (coroutines) leave exactly the right
//!   arenas registered;
//! - running code holds interior addresses of its heap constants, so
//!   installation refuses a heap constant whose pool may move it under an
//!   interior reference ([`InstallError::InteriorNotPinned`]) or whose
//!   offset lies outside it ([`InstallError::HeapOffsetOutside`]);
//! - an installation reads every moving target's address (code objects'
//!   slots, heap constants' handles) inside the reserve / commit loop, so
//!   a collection between the reads and the commit voids the block and the
//!   loop reads them again, also when the commit has begun and waits for
//!   the collector's lock (who writes a relocation when:
//!   `vendor/mps/DESIGN.md#relink`);
//! - the collector relinks an object only in its scan method, with the
//!   world stopped and the barrier lifted; every site was checked at
//!   installation to stay encodable wherever the object and its targets
//!   can go (a relink failure there is a bug, and aborts);
//! - a [`CodePtr`] is an exact reference fixed by its holder's format (the
//!   `mps::Object` contract); it is set only in the heap, through a
//!   handle, from a [`CodeRef`] (a live object of the same arena), and once
//!   (the entry offset is written before the object, so another thread
//!   never calls a mismatched pair); a code pool whose code a `CodePtr`
//!   ever held hands its MPS pool to the arena ([`mps::Arena::at_drop`])
//!   when dropped, so heap objects never refer to freed code memory;
//! - the scope lent to runtime functions ([`runtime`]) is the one the
//!   caller of `call_in` borrowed mutably for the call; a runtime function
//!   gets a nested scope of it, and it is taken out of the thread-local
//!   while in use, so it is never reachable twice;
//! - the promise that an entry point has signature `F` is the one `unsafe`
//!   step: [`CodeObject::function`]. Installed code is trusted (also the
//!   addresses it passes to runtime functions).
//!
//! # Layout and relinking without the collector
//!
//! Compile a function that calls a runtime function, lay it out, and relink
//! it for two addresses, as the collector does after moving it:
//!
//! ```
//! # #[cfg(feature = "llvm")] {
//! use codepool::layout::{self, Binding};
//! use codepool::sidecar::Target;
//! use inkwell::context::Context;
//!
//! // i64 f(i64 x) { return rt_print(x) + 1; }
//! let context = Context::create();
//! let module = context.create_module("example");
//! let i64t = context.i64_type();
//! let fn_type = i64t.fn_type(&[i64t.into()], false);
//! let rt_print = module.add_function("rt_print", fn_type, None);
//! let f = module.add_function("f", fn_type, None);
//! let b = context.create_builder();
//! b.position_at_end(context.append_basic_block(f, "entry"));
//! let x = f.get_nth_param(0).unwrap();
//! let r = b.build_call(rt_print, &[x.into()], "r").unwrap();
//! let r = r.try_as_basic_value().basic().unwrap().into_int_value();
//! let y = b.build_int_add(r, i64t.const_int(1, false), "y").unwrap();
//! b.build_return(Some(&y)).unwrap();
//!
//! let obj = codepool::jit::compile(&module)?;
//! let image = layout::layout(&obj, |name| match name {
//!     "rt_print" => Some(Binding::Runtime { address: 0x7f00_0000_1000 }),
//!     _ => None,
//! })?;
//! let mut bytes = image.bytes().to_vec();
//! // Near the runtime function: a direct call.
//! let stats = layout::relink(&mut bytes, 0x7f00_1000_0000, |t| match t {
//!     Target::Runtime(0) => 0x7f00_0000_1000,
//!     _ => unreachable!(),
//! })?;
//! assert_eq!(stats.direct, 1);
//! // Moved more than 2 GiB away: the call goes through the stub.
//! let stats = layout::relink_from_table(&mut bytes, 0x1000_0000, 0)?;
//! assert_eq!(stats.via_stub, 1);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod codeptr;
pub mod debuginfo;
pub mod elf;
mod format;
mod func;
#[cfg(feature = "llvm")]
pub mod jit;
pub mod layout;
mod pool;
pub mod publish;
pub mod reloc;
pub mod runtime;
pub mod sidecar;
pub mod unwind;

pub use elf::{load, EhFrame, LoadError, LoadedObject};
pub use layout::{layout, relink, relink_from_table, Binding, CodeImage, RelinkError, RelinkStats};
pub use sidecar::{SidecarStats, Target};

pub use codeptr::{AlreadySet, CodePtr};
pub use func::{CodeRef, JitFn};
pub use pool::{
    Census, CodeFn, CodeObject, CodePool, CodePoolOptions, CodePoolStats, CodeTotals, Env,
    InstallError, RelinkCounters, TraceStats, CODE_GENERATIONS,
};

//! Safe Rust layer over the Memory Pool System (MPS) interface: a moving,
//! generational, mostly-copying garbage collector.
//!
//! ```
//! use std::ptr::NonNull;
//! use mps::{Arena, Error, Format, Object, PoolOptions, Ref, ScanState};
//!
//! // The runtime's object layout: every object starts with a header word,
//! // (size in words << 8) | kind. Pairs are the only objects.
//! const PAIR: usize = 1;
//! const FORWARD: usize = 2;
//! const PAD: usize = 3;
//!
//! #[repr(C)]
//! struct Pair {
//!     header: usize,
//!     value: u64,
//!     car: Ref,
//!     cdr: Ref,
//! }
//!
//! impl Pair {
//!     fn new(value: u64) -> Pair {
//!         Pair { header: (4 << 8) | PAIR, value, car: Ref::null(), cdr: Ref::null() }
//!     }
//! }
//!
//! /// The format: tells the collector how to scan, skip, forward and pad.
//! enum Heap {}
//!
//! fn header(p: NonNull<u8>) -> usize {
//!     // SAFETY: the collector only passes objects, pads and forwarding
//!     // markers of this format, which all start with a header word.
//!     unsafe { p.cast::<usize>().read() }
//! }
//!
//! // SAFETY: every object, pad and marker is sized by its header; scan fixes
//! // both references of every pair; a marker (two words) fits in any pair.
//! unsafe impl Format for Heap {
//!     unsafe fn scan(ss: &mut ScanState<'_>, base: NonNull<u8>, limit: NonNull<u8>) -> Result<(), Error> {
//!         let mut p = base;
//!         while p < limit {
//!             if header(p) & 0xff == PAIR {
//!                 // SAFETY: `p` is a pair.
//!                 let pair = unsafe { p.cast::<Pair>().as_ref() };
//!                 ss.fix_ref(&pair.car)?;
//!                 ss.fix_ref(&pair.cdr)?;
//!             }
//!             // SAFETY: the next object follows this one.
//!             p = unsafe { Heap::skip(p) };
//!         }
//!         Ok(())
//!     }
//!     unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
//!         // SAFETY: the block is (header >> 8) words long.
//!         unsafe { p.add((header(p) >> 8) * 8) }
//!     }
//!     unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
//!         let words = header(old) >> 8;
//!         // SAFETY: the old copy is ours to overwrite, at least two words.
//!         unsafe { old.cast::<[usize; 2]>().write([(words << 8) | FORWARD, new.as_ptr() as usize]) }
//!     }
//!     unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
//!         // SAFETY: a marker's second word is the new address.
//!         (header(p) & 0xff == FORWARD).then(|| unsafe { p.cast::<NonNull<u8>>().add(1).read() })
//!     }
//!     unsafe fn pad(base: NonNull<u8>, size: usize) {
//!         // SAFETY: the collector gives us `size` bytes at `base`.
//!         unsafe { base.cast::<usize>().write(((size / 8) << 8) | PAD) }
//!     }
//! }
//!
//! // SAFETY: PAIR headers mark pairs, and `Pair::new` makes a well-formed one
//! // of alloc_size::<Pair>() = 32 bytes; both references are scanned.
//! unsafe impl Object for Pair {
//!     type Format = Heap;
//!     unsafe fn is_instance(p: NonNull<u8>) -> bool {
//!         header(p) & 0xff == PAIR
//!     }
//!     unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Pair> {
//!         p.cast()
//!     }
//! }
//!
//! fn main() -> Result<(), Error> {
//!     let arena = Arena::new()?;
//!     let fmt = arena.format::<Heap>()?;
//!     let pool = arena.amc(fmt, &PoolOptions::default())?;
//!     let sum = arena.with_thread(|s| -> Result<u64, Error> {
//!         let mut ap = pool.ap()?;
//!         // Build the list (99 98 ... 0); each cell is held by a handle.
//!         let mut list = None;
//!         for i in 0..100 {
//!             let cell = s.alloc(&mut ap, Pair::new(i))?;
//!             cell.set(|p: &Pair| &p.cdr, list);
//!             list = Some(cell);
//!         }
//!         arena.collect()?; // objects move; handles follow them
//!         arena.release();
//!         let mut sum = 0;
//!         let cursor = s.copy(list.unwrap());
//!         loop {
//!             sum += cursor.with(|p: &Pair| p.value);
//!             let next = s.scope(|t| cursor.get(t, |p: &Pair| &p.cdr).map(|n| cursor.assign(n)));
//!             if next.is_none() {
//!                 break;
//!             }
//!         }
//!         Ok(sum)
//!     })??;
//!     assert_eq!(sum, 4950);
//!     Ok(())
//! }
//! ```
//!
//! # Components
//!
//! The runtime talks to the collector through these types (all wrap the MPS
//! objects of the same names, from the `mps-sys` crate):
//!
//! - [`Arena`]: the memory manager; built with [`Arena::builder`] (arena
//!   size, commit limit, grain, pause time); controls collection
//!   ([`collect`](Arena::collect), [`park`](Arena::park),
//!   [`release`](Arena::release), [`step`](Arena::step), ...).
//! - [`Format`]: **the one trait a runtime implements**, describing its
//!   object layout to the collector (scan, skip, forward, is-forwarded, pad,
//!   alignment, header size). Registered with [`Arena::format`] as a
//!   [`Fmt`]. Its scan method fixes references through a [`ScanState`],
//!   whose [`fix_ref`](ScanState::fix_ref) is the inline fast path.
//! - [`Object`] and [`Leaf`]: the typed view of each kind of object, and
//!   [`Ref`], the type of a reference field.
//! - [`Chain`] ([`GenParam`]): the generations of automatic pools.
//! - [`Pool`], the automatic pools ([`PoolOptions`]): [`Amc`] (objects
//!   with references, moved by the collector unless pinned), [`Amcz`]
//!   (leaf objects, never scanned), [`Ams`] (mark-and-sweep, never moved;
//!   exact or, through [`Pool::ambiguous_ap`], ambiguous references),
//!   [`Awl`] (never moved; exact or, through [`Pool::weak_ap`], weak
//!   references, with [`Format::find_dependent`] for weak-key tables) and
//!   [`Lo`] (leaf objects, never moved, scanned or protected).
//! - [`ManualPool`]: the manual pools [`Mvff`] and [`Mfs`], whose
//!   [`alloc`](ManualPool::alloc) returns a [`ManualBlock`] of plain
//!   memory, freed when dropped.
//! - [`Snc`]: the stack pool; objects are allocated in allocation frames
//!   ([`SncAp::frame`], [`Frame::alloc`]), reached through [`StackRef`]s
//!   branded with their frame, scanned at every collection and freed when
//!   the frame is popped ([`Snc`] gives the soundness argument).
//! - [`Ap`]: an allocation point, a per-thread bump allocator
//!   ([`ApOptions`]: the rank of its objects' references);
//!   [`Ap::alloc`] runs the reserve / initialise / commit protocol.
//! - [`Arena::with_thread`], [`Scope`], [`Handle`], [`Thread`]: a thread
//!   registered with the arena, its stack root, and the handles through
//!   which safe code holds objects.
//! - [`Root`]: client-owned tables of references (exact, ambiguous or
//!   weak), for objects that outlive a scope or are shared between threads;
//!   [`WeakRef`], a single weak reference.
//! - Walks and queries: [`Arena::walk_objects`] and [`Pool::walk`] (a
//!   handle to every object), [`Arena::walk_roots`] ([`RootReference`]),
//!   [`Arena::addr_pool`] ([`PoolId`]), [`Arena::addr_fmt`] ([`FmtId`]),
//!   and each pool's `total_size` and `free_size`.
//! - [`Message`]: what the collector reports back (collections started and
//!   finished, objects to finalize), from [`Arena::messages`];
//!   [`Handle::finalize`] registers an object for finalization.
//! - [`Ld`]: location dependencies, for address-hashed tables.
//! - [`Error`]: every MPS result code.
//!
//! Calls go both ways: the runtime calls the collector (allocation,
//! collection, roots), and the collector calls the runtime's [`Format`]
//! methods, with the world stopped, during a collection. Those callbacks
//! never unwind into C: a panic in one prints
//! `mps: panic in Format::<method>; aborting` and aborts the process.
//!
//! # Ownership
//!
//! The MPS requires allocation points to be destroyed before their pool,
//! pools before their format and chain, roots and thread registrations
//! before the arena. Here:
//!
//! - The arena owns its formats, chains and pools: [`Arena::format`],
//!   [`Arena::chain`], [`Arena::amc`] (and the other pool constructors)
//!   return `Copy` handles borrowing the arena, and the arena destroys them
//!   (parked, pools first) when dropped. A pool can therefore never be
//!   destroyed while anything may still refer to its objects, and a
//!   [`ManualBlock`] (which borrows the arena) is always freed, or leaked,
//!   before its pool goes.
//! - [`Ap`], [`Root`], [`Ld`] and messages borrow the arena (through a
//!   pool, or directly), and [`Arena::with_thread`] registers the thread
//!   for the duration of a closure; so dropping the arena before any of
//!   them does not compile.
//! - The raw MPS objects live in `NonNull` newtypes (module `raw`) whose
//!   `Drop` destroys them; only the types above create them, in the order
//!   above.
//!
//! # Soundness
//!
//! **Safe code never holds the address of a heap object anywhere the
//! collector cannot see it: objects are held through handles, which are
//! slots of a per-thread table registered as an exact root, and every
//! address read out of a handle is used only within a call that keeps it in
//! a local of a registered thread, whose stack and registers are an
//! ambiguous root that pins the object.** So an object a handle refers to
//! is always alive and current (the collector updates the slot when it
//! moves the object), and a `&T` into the heap exists only while its object
//! is pinned.
//!
//! In detail:
//!
//! - [`Arena::with_thread`] registers the calling thread and creates a
//!   thread root (ambiguous, scanning every word of the registers and of
//!   the stack from the stack pointer to a cold end taken from a local of
//!   `with_thread`'s own frame; the closure runs in a non-inlined callee,
//!   so all its frames lie below). The thread is deregistered when the
//!   closure returns or unwinds. Each scope is an entry of its own in the
//!   thread's [`Registrations`], removed by identity when it ends, so
//!   checks such as [`Root::clear`]'s ("is this thread registered with the
//!   root's arena?") stay right when scopes end out of order (a coroutine
//!   suspended inside one while its thread leaves another).
//! - The "stack" of a thread is every stack it runs heap-using code on:
//!   its own, and each it added with [`Thread::add_stack`] (a stackful
//!   coroutine's). Every switch between them goes through
//!   [`Thread::switch_stack`], which saves the callee-saved registers in
//!   its frame and marks the stack it leaves, so a stack not in use is
//!   scanned from that mark to its top and a `&T` held on a suspended
//!   coroutine pins its object like one on the running stack. Handle
//!   accesses and `with_thread` check where they run ([`check_stack`]) and
//!   panic, naming the fix, on a stack the collector does not scan. Any
//!   alternate signal stack works (the collector's barrier handler leaves
//!   it for the faulting stack, and replaces one too small to hold a
//!   signal frame while the thread is registered).
//! - A [`Handle<'s, F>`](Handle) refers to one slot of the thread's handle
//!   table: chunks of memory outside the heap, each registered as an exact
//!   root with `mps_scan_area` and never moved or freed while registered.
//!   The slot holds the object's client pointer, updated by the collector.
//!   Handles are `Copy`, branded with the lifetime of the [`Scope`] that
//!   made them (scopes are closures with a higher-ranked lifetime, so a
//!   handle cannot outlive its scope), and `!Send` (so only the registered
//!   thread uses them). A scope clears its slots when it ends.
//! - [`Handle::with`] loads the address, checks the object's type
//!   ([`Object::is_instance`]), calls the closure with a `&T`, and keeps the
//!   address live in its frame until the closure has returned (an `asm!`
//!   use after the call). The address is therefore on the stack or in a
//!   register of a registered thread for as long as the `&T` can exist
//!   (the closure's argument has a higher-ranked lifetime and cannot escape
//!   it): any collection meanwhile, on this thread or on another one that
//!   stops this one, sees it and pins the object. The same holds for every
//!   other method that reads an address out of a slot ([`Handle::get`],
//!   [`Handle::set`], [`Root::set`], allocation between commit and the
//!   handle store, ...).
//! - The collector writes only [`Ref`] fields of pinned objects (atomics,
//!   so the `&T` is not invalidated) and never moves or reuses them; every
//!   other field is plain data that only safe code, through `&T`, reads.
//! - Reference fields are read and written only through [`Handle::get`] and
//!   [`Handle::set`], which check that the field lies inside the object
//!   (so a `Ref` outside the heap, which safe code can only create null,
//!   is never written) and that both objects belong to the same arena (so
//!   no reference crosses arenas, where no collector would trace it).
//!   Handles, pools, roots and objects are typed by their format `F`, so a
//!   reference always points to an object of its field's format, and
//!   [`Object::is_instance`] is only asked about objects of its format.
//! - Objects are created only by [`Scope::alloc`] (the value is copied into
//!   a freshly reserved block before the commit; its references can only be
//!   null) and go into a handle at once. The leaf pools ([`Amcz`], [`Lo`])
//!   accept only [`Leaf`] types, which hold no references, so no reference
//!   is ever stored where the collector would not see it.
//! - Every pool class honours the thread root's ambiguous references: AMC
//!   pins what they point to, and the mark-sweep pools (AMS, AWL, LO) keep
//!   it alive and never move anything (AMS is always created with
//!   `MPS_KEY_AMS_SUPPORT_AMBIGUOUS` true). An AMS object of an ambiguous
//!   allocation point holds references that are never updated, but keep
//!   their targets alive and pinned, so they stay correct.
//! - Weak references (an AWL object of a weak allocation point, a weak
//!   [`Root`], a [`WeakRef`]) are ordinary reference fields or slots that
//!   the collector may set to null when their target dies. Every read goes
//!   through [`Handle::get`] or [`Root::get`], which return `Option`, so a
//!   cleared reference reads as `None`, and a live one becomes a strong
//!   handle before it is used. Collections run to completion, so a weak
//!   reference is never observed half-cleared.
//! - Heap walks ([`Arena::walk_objects`], [`Pool::walk`]) never run client
//!   code inside the MPS: this crate's stepper records the client pointers
//!   of the objects (pads and forwarding markers excluded with
//!   [`Format::is_pad`] and [`Format::is_forwarded`]) in a buffer that is
//!   registered as an **ambiguous root** before the MPS walk starts. Only
//!   then, outside the MPS, does the closure get a handle to each object;
//!   the root keeps every recorded object alive and in place until the
//!   walk returns, whatever the closure does. An object still in the heap
//!   after a complete collection is well-formed and refers only to objects
//!   still in the heap (uncondemned memory is scanned as a root), so
//!   handing out unreachable ones is sound too.
//! - Manual blocks ([`ManualBlock`]) are plain zeroed bytes, never
//!   scanned; safe code can store an object's address in one only as a
//!   number, which it cannot turn back into a reference.
//! - The runtime's own promises are `unsafe` traits: [`Format`] (the
//!   layout is right), [`Object`] (the typed view matches it), [`Leaf`]
//!   (no references). Raw allocation ([`Ap::alloc`], [`Scope::alloc_raw`])
//!   and raw reference stores ([`Ref::store_raw`]) are `unsafe`.
//!
//! Not covered by the argument: a compiler that hides a pointer it needs
//! later (for example as an offset from another object) is assumed not to
//! exist, as every conservative collector assumes; and format methods run
//! in a stopped world, where they must not lock or allocate (a panic there
//! aborts the process, possibly after the panic hook has taken locks).
//!
//! # Not covered yet
//!
//! - The executable pool AMCX of `mpsx.h` (see the `codepool` crate), MVFF
//!   allocation points, and `MPS_KEY_AMS_SUPPORT_AMBIGUOUS` false (it would
//!   break the soundness argument): use [`sys`] with [`Arena::as_raw`].
//! - Typed allocation ([`Scope::alloc`]) needs a format without an in-band
//!   header; with one, use [`Scope::alloc_raw`].
//! - References are untagged pointers ([`Ref`]); a runtime with tagged
//!   values fixes them with the raw [`ScanState::fix`].
//! - Pools, formats and chains live until the arena is dropped.
//! - Allocation patterns, segregated allocation caches, transforms and
//!   telemetry have no safe wrapper.
//!
//! # Features
//!
//! - `check`: link the checking build of the collector (assertions and
//!   structure checks on every call; slower).
#![warn(missing_docs)]

mod amsdebug;
mod arena;
mod error;
mod format;
mod ld;
mod manual;
mod message;
mod mvt;
mod object;
mod pool;
mod raw;
mod root;
mod sac;
mod snc;
mod stack;
mod thread;
mod walk;

pub use amsdebug::{AmsDebug, AmsDebugClass};
pub use arena::{Arena, ArenaBuilder, PauseLog, Pauses, WriteBarrier};
pub use error::Error;
pub use format::{Fmt, FmtId, Format, ScanState};
pub use ld::Ld;
pub use manual::{
    DebugOptions, ManualBlock, ManualClass, ManualPool, Mfs, MfsClass, MfsOptions, Mvff, MvffClass,
    MvffDebug, MvffDebugClass, MvffOptions,
};
pub use message::{Finalization, Message, MessageType, Messages};
pub use mvt::{Mvt, MvtAp, MvtBlock, MvtOptions};
pub use object::{alloc_size, Leaf, Object, Ref};
pub use pool::{
    Amc, AmcClass, Amcz, AmczClass, Ams, AmsClass, Ap, ApOptions, Awl, AwlClass, Chain, GenParam,
    Holds, Lo, LoClass, Pool, PoolClass, PoolId, PoolOptions, UndoReserve,
};
pub use root::{Rank, Root, RootId, WeakRef};
pub use sac::{Sac, SacBlock, SacClass};
pub use snc::{Frame, Snc, SncAp, StackRef};
pub use stack::{check_stack, StackGuard};
pub use thread::{Handle, Registered, Registrations, Scope, Thread};
pub use walk::RootReference;

/// The raw bindings this crate is built on.
pub use mps_sys as sys;

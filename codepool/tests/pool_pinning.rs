//! Running code is pinned: a JIT-compiled function calls back into Rust,
//! which forces full collections while the JIT frame is live. The call
//! returns correctly, having meanwhile called another code object and read
//! a heap constant that both moved (the pinned caller was relinked in
//! place, under its own frame), and the caller itself did not move. Once
//! it has returned it moves again. A control run of the same callback from
//! Rust (no JIT frame) shows that the object moves when nothing pins it.

#![cfg(feature = "llvm")]

mod common;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use common::gen;
use mps::{Arena, PoolOptions};

const CALLER: &str = r#"
@k = external global i64
declare i64 @rt_collect(i64)
declare i64 @leaf(i64)
define i64 @caller(i64 %x) {
  %a = call i64 @rt_collect(i64 %x)
  %b = call i64 @leaf(i64 %a)
  %v = load volatile i64, i64* @k
  %r = add i64 %b, %v
  ret i64 %r
}
"#;

thread_local! {
    /// The arena, for the callback.
    static ARENA: Cell<usize> = const { Cell::new(0) };
    /// The code objects the callback observes: the caller and the leaf.
    static OBSERVED: Cell<[usize; 2]> = const { Cell::new([0; 2]) };
}

/// Addresses of the observed objects before and after a collection (kept
/// out of the stack, which would pin them).
static BEFORE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static AFTER: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
/// Collections in the callback across which each observed object moved.
static MOVES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static CALLS: AtomicUsize = AtomicUsize::new(0);
static PINNED_AT: AtomicUsize = AtomicUsize::new(0);

/// Stores the observed objects' current addresses in `to`. Not inlined,
/// and followed by [`clobber_stack`], so that no copy of an address stays
/// on the stack (where it would pin the object).
#[inline(never)]
fn record_addresses(to: &[AtomicUsize; 2]) {
    for (i, p) in OBSERVED.with(Cell::get).into_iter().enumerate() {
        let p = p as *const CodeObject<'static>;
        // SAFETY: the test stores the addresses of live `CodeObject`s here
        // and keeps them alive and in place while the callback can run;
        // the lifetime is only erased for the read of their slots.
        record(unsafe { &*p }, &to[i]);
    }
}

/// Stores `object`'s current address in `to` (see [`record_addresses`]).
#[inline(never)]
fn record(object: &CodeObject<'_>, to: &AtomicUsize) {
    to.store(object.address(), Ordering::Relaxed);
}

/// Is `object` elsewhere than `at` says? (Not inlined: the address is
/// not left in the caller's frame.)
#[inline(never)]
fn moved_from(object: &CodeObject<'_>, at: &AtomicUsize) -> bool {
    object.address() != at.load(Ordering::Relaxed)
}

/// Overwrites the stack below the caller's frame, where dead frames left
/// copies of addresses that the conservative scan of this thread would
/// otherwise see.
#[inline(never)]
fn clobber_stack() {
    let buf = [0u8; 16 << 10];
    std::hint::black_box(&buf);
}

/// Runs four full collections (with the caller's and the leaf's addresses
/// recorded around each) and returns `x + 1`.
#[inline(never)]
extern "C" fn rt_collect(x: i64) -> i64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let arena = ARENA.with(Cell::get) as *const Arena;
    // SAFETY: the test stores the live arena here before any call.
    let arena = unsafe { &*arena };
    for _ in 0..4 {
        record_addresses(&BEFORE);
        clobber_stack();
        arena.collect().unwrap();
        arena.release();
        record_addresses(&AFTER);
        for i in 0..2 {
            if BEFORE[i].load(Ordering::Relaxed) != AFTER[i].load(Ordering::Relaxed) {
                MOVES[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    x + 1
}

fn moves() -> [usize; 2] {
    [0, 1].map(|i| MOVES[i].swap(0, Ordering::Relaxed))
}

#[test]
fn running_code_is_pinned_and_relinked_in_place() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let leaf_elf = gen::compile("leaf", gen::LEAF_TIMES_3);
    let caller_elf = gen::compile("caller", CALLER);
    ARENA.with(|a| a.set(&arena as *const Arena as usize));

    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let leaf = code.install_elf(&leaf_elf, &Env::new()).unwrap();
        let caller = s.scope(|t| {
            let k = t.alloc(&mut ap, Boxed::new(1000)).unwrap();
            let mut env = Env::new();
            env.function("rt_collect", rt_collect as extern "C" fn(i64) -> i64)
                .heap("k", k, VALUE_OFFSET);
            code.install_elf(&caller_elf, &env).unwrap()
        });
        OBSERVED.with(|o| {
            o.set([
                &caller as *const CodeObject<'_> as usize,
                &leaf as *const CodeObject<'_> as usize,
            ])
        });

        // Control: the same callback called from Rust. Nothing pins the
        // caller's object, so the collections move it.
        rt_collect(0);
        let [caller_moves, _] = moves();
        assert!(
            caller_moves > 0,
            "the control run did not move the object: the test would be vacuous"
        );

        // The real thing: the callback runs under the JIT frame of
        // `caller`. Its return address pins the object; the leaf and the
        // box move, and `caller` is relinked in place before it calls and
        // reads them.
        // SAFETY: `caller` is `i64 (i64)`.
        let f = unsafe { caller.function::<extern "C" fn(i64) -> i64>("caller") }.unwrap();
        let result = f.call((4,));
        assert_eq!(
            result,
            (4 + 1) * 3 + 1000,
            "the call returned a wrong value"
        );
        let [caller_moves, leaf_moves] = moves();
        assert_eq!(
            caller_moves, 0,
            "the code object moved while its frame was live"
        );
        assert!(
            !moved_from(&caller, &AFTER[0]),
            "the code object moved before its frame returned"
        );
        assert!(leaf_moves > 0, "the leaf should have moved");

        // After the return it may move again.
        record(&caller, &PINNED_AT);
        clobber_stack();
        let mut moved = false;
        for _ in 0..10 {
            s.scope(|t| {
                for i in 0..1000 {
                    t.alloc(&mut ap, Boxed::new(i)).unwrap();
                }
            });
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            if moved_from(&caller, &PINNED_AT) {
                moved = true;
                break;
            }
        }
        assert!(
            moved,
            "the code object never moved after its frame returned"
        );
        assert_eq!(f.call((1,)), (1 + 1) * 3 + 1000);
        assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    })
    .unwrap();
}

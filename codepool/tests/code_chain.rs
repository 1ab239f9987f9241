//! Code on a chain of its own (issue 16): the collections that heap
//! allocation triggers condemn no code, so they copy none of it, while code
//! is installed and called throughout. Collections may be incremental
//! either way: one that condemns code scans every grey code segment before
//! the mutator runs again (`vendor/mps/DESIGN.md#code-incremental`).

#![cfg(feature = "llvm")]

mod common;

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::boxes::{Boxed, Boxes};
use common::gen::compile;
use mps::{Arena, PoolOptions, Root};

type Unary = extern "C" fn(i64) -> i64;

/// Installs and calls code while heap allocation drives collections of a
/// small heap chain, with every collection that may be incremental so;
/// the code pool on its own chain, or on the heap's. Returns the
/// collections, incremental flips and code objects moved.
fn churn(code_on_heap_chain: bool) -> (usize, usize, u64) {
    const FUNCTIONS: usize = 50;
    const RING: usize = 20_000;
    let elfs: Vec<Vec<u8>> = (0..FUNCTIONS)
        .map(|k| {
            compile(
                &format!("f{k}"),
                &format!("define i64 @f{k}(i64 %x) {{\n  %y = add i64 %x, {k}\n  ret i64 %y\n}}\n"),
            )
        })
        .collect();
    let arena = Arena::new().unwrap();
    // Every collection that may be incremental is.
    arena.set_pause_time(0.0);
    let fmt = arena.format::<Boxes>().unwrap();
    let small = arena
        .chain(&[mps::GenParam {
            capacity_kb: 1024,
            mortality: 0.9,
        }])
        .unwrap();
    let heap = arena
        .amc(
            fmt,
            &PoolOptions {
                chain: Some(small),
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let code = CodePool::new(
        &arena,
        &CodePoolOptions {
            chain: code_on_heap_chain.then_some(small),
            ..CodePoolOptions::default()
        },
    )
    .unwrap();
    let log = arena.log_pauses().expect("extensions");
    let ring: Root<'_, Boxes> = Root::exact(&arena, RING).unwrap();
    let (collections, moved) = code
        .with_jit_thread(|s| {
            let mut ap = heap.ap().unwrap();
            let mut objects: Vec<CodeObject<'_>> = Vec::new();
            let collections = arena.collections();
            let before = code.stats().collector;
            for (round, elf) in elfs.iter().enumerate() {
                objects.push(code.install_elf(elf, &Env::new()).unwrap());
                for i in 0..40_000 {
                    s.scope(|s| {
                        let h = s.alloc(&mut ap, Boxed::new(i)).unwrap();
                        if i % 4 == 0 {
                            ring.set(i as usize / 4 % RING, Some(h));
                        }
                    });
                }
                for (k, object) in objects.iter().enumerate() {
                    // SAFETY: every f<k> is `i64 f(i64)`.
                    let f = unsafe { object.function::<Unary>(&format!("f{k}")) }.unwrap();
                    assert_eq!(f.call((round as i64,)), round as i64 + k as i64);
                }
            }
            (
                arena.collections() - collections,
                code.stats().collector.since(&before).objects_moved,
            )
        })
        .unwrap();
    let flips = log.finish().flips;
    println!(
        "code on {} chain: {collections} collections, {flips} incremental flips, {moved} code \
         objects moved",
        if code_on_heap_chain {
            "the heap's"
        } else {
            "its own"
        }
    );
    (collections, flips, moved)
}

#[test]
fn heap_collections_leave_code_alone_and_may_be_incremental() {
    if common::skip_without_extensions() {
        return;
    }
    let (collections, flips, moved) = churn(false);
    assert!(
        collections >= 5,
        "the heap churn started only {collections} collections"
    );
    assert_eq!(moved, 0, "heap collections moved code");
    assert!(flips > 0, "no heap collection was incremental");
}

#[test]
fn collections_that_condemn_code_may_be_incremental() {
    if common::skip_without_extensions() {
        return;
    }
    let (collections, flips, moved) = churn(true);
    assert!(
        collections >= 5,
        "the heap churn started only {collections} collections"
    );
    assert!(moved > 0, "collections of the code's chain moved no code");
    assert!(
        flips > 0,
        "no collection that condemned code was incremental"
    );
}

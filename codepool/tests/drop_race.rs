//! Dropping a `CodeObject` on a thread not registered with the arena,
//! while collections run (issue 15, item 5).
//!
//! The drop clears the object's root slot; a collection scanning the same
//! slot at that moment reads it, moves the object, and writes the new
//! address back. Both sides access the word atomically, and the collector
//! writes back only if the slot still holds what it read
//! (`mps_scan_area`, `vendor/mps/DESIGN.md#roots`), so a cleared slot
//! stays cleared. Before, the collector's plain load and store raced with
//! the drop's store (a data race in the C and Rust memory models), and the
//! write-back could resurrect a cleared slot: the object then stayed
//! alive, held by a slot nobody owns.
//!
//! Each round installs a batch of objects on a registered thread, hands
//! them to an unregistered thread that drops them while a third thread
//! collects back to back, then checks with a full collection that no code
//! object survived.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::gen::compile_all;
use common::hang::{Stop, Watchdog};
use mps::Arena;

/// Objects per round.
const BATCH: usize = 256;
/// How long the test runs.
const RUN: Duration = Duration::from_secs(4);

#[test]
fn a_slot_cleared_during_a_collection_stays_cleared() {
    if common::skip_without_extensions() {
        return;
    }
    let _watchdog = Watchdog::new();
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let irs: Vec<String> = (0..BATCH)
        .map(|i| format!("define i64 @g{i}(i64 %x) {{\n  %r = add i64 %x, {i}\n  ret i64 %r\n}}\n"))
        .collect();
    let elfs = compile_all(&irs);
    let stop = Stop::new();
    let paused = AtomicBool::new(false);
    let collections = AtomicUsize::new(0);
    let (to_dropper, batches) = mpsc::channel::<Vec<CodeObject<'_>>>();
    let (dropped, done) = mpsc::channel::<()>();

    let mut rounds = 0;
    thread::scope(|s| {
        let _stop = stop.guard();
        // Collects back to back (unregistered: no thread root of its own).
        s.spawn(|| {
            while !stop.requested() {
                if paused.load(Ordering::Acquire) {
                    thread::sleep(Duration::from_micros(200));
                    continue;
                }
                arena.collect().unwrap();
                arena.release();
                collections.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_micros(100));
            }
        });
        // Drops every batch it receives, on a thread never registered.
        s.spawn(move || {
            for batch in batches {
                for object in batch {
                    drop(object);
                }
                if dropped.send(()).is_err() {
                    break;
                }
            }
        });

        let start = Instant::now();
        while start.elapsed() < RUN {
            rounds += 1;
            let batch: Vec<CodeObject<'_>> = code
                .with_jit_thread(|_| {
                    elfs.iter()
                        .map(|elf| code.install_elf(elf, &Env::new()).unwrap())
                        .collect()
                })
                .unwrap();
            to_dropper.send(batch).unwrap();
            done.recv().unwrap();
            // Every object is dropped: a full collection, from this
            // unregistered thread (nothing ambiguous can pin code), must
            // leave none.
            paused.store(true, Ordering::Release);
            arena.collect().unwrap();
            let census = code.census().unwrap();
            arena.release();
            paused.store(false, Ordering::Release);
            assert_eq!(
                census.objects.objects, 0,
                "round {rounds}: code objects survived being dropped during collections \
                 (a cleared root slot was written back): {census:?}"
            );
        }
        drop(to_dropper);
    });
    println!(
        "{rounds} rounds of {BATCH} objects, {} collections, no object survived",
        collections.load(Ordering::Relaxed)
    );
}

//! Installing code while another thread collects back to back.
//!
//! Every installation reserves a block, copies the image in, reads the
//! current addresses of its targets (heap constants, other code objects),
//! links and commits. A collection that flips while the block is reserved
//! must void it (the loop then reads the targets again), and so must every
//! later collection that flips before the voided commit has reached the
//! arena lock in `mps_ap_trip` (`vendor/mps/DESIGN.md#buffers`). Here one
//! thread runs full collections with nothing in between, so the installers
//! keep losing the arena lock to it, and each installer calls every object
//! it installs at once, and again after later collections: a block
//! committed with targets read before a collection moved them computes
//! with stale boxes or calls moved code, and its result is wrong. Every
//! installation must also end: a flip waits for the retry of a voided
//! commit (`vendor/mps/DESIGN.md#buffers-progress`); without that wait a
//! debug build's installations, whose windows outlast the gaps between
//! collections, were voided forever.

#![cfg(feature = "llvm")]

mod common;

use codepool::{CodeObject, CodePool, CodePoolOptions};
use common::boxes::Boxes;
use common::gen::{call, env_with_boxes, install_all, Program, Rng};
use common::hang::{join_all, Stop, Watchdog};
use mps::{Arena, PoolOptions};

/// Base functions, installed first and held throughout.
const BASE: usize = 24;
/// Installer threads.
const INSTALLERS: usize = 2;
/// Distinct functions per installer; each is installed, checked and
/// dropped over and over (a dropped object's symbol can be installed
/// again).
const OWN: usize = 8;
/// Installations per installer.
const ROUNDS: usize = 20_000;

#[test]
fn installs_race_back_to_back_collections() {
    if common::skip_without_extensions() {
        return;
    }
    let mut rng = Rng::from_env(11);
    let boxes: Vec<String> = (0..6).map(|k| format!("box{k}")).collect();
    let value = |b: &str| {
        b.trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse::<i64>()
            .unwrap()
            * 7
            + 3
    };
    let Program { elfs, rows, .. } =
        Program::generate(&mut rng, BASE, INSTALLERS * OWN, &boxes, value);

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let base_objects = install_all(&code, &heap, &boxes, &elfs[..BASE], value);

    // An installer's panic reaches the test at once (join_all), and then
    // ends the collecting thread (the stop guard); a hang aborts.
    let _watchdog = Watchdog::new();
    let stop = Stop::new();
    let started = std::time::Instant::now();
    let collections = std::thread::scope(|scope| {
        let collector = scope.spawn(|| {
            code.with_jit_thread(|_| {
                let mut n = 0usize;
                // Back to back, with nothing in between: a voided commit
                // waits for the arena lock across whole collections, and
                // an installation whose window between reserve and commit
                // is longer than the gaps (a debug build) makes progress
                // only because a flip waits for the retry of a voided
                // commit (vendor/mps/DESIGN.md#buffers-progress).
                // At least one collection, however fast the installers are.
                loop {
                    arena.collect().unwrap();
                    arena.release();
                    n += 1;
                    if stop.requested() {
                        break n;
                    }
                }
            })
            .unwrap()
        });
        let stop_collecting = stop.guard();
        let installers: Vec<_> = (0..INSTALLERS)
            .map(|w| {
                let (code, heap, elfs, rows, boxes) = (&code, heap, &elfs, &rows, &boxes);
                scope.spawn(move || {
                    code.with_jit_thread(|s| {
                        // Boxes of this thread, moved by every collection.
                        let env = env_with_boxes(s, &heap, boxes, value);
                        let mut held: Vec<Option<CodeObject<'_>>> =
                            (0..OWN).map(|_| None).collect();
                        for round in 0..ROUNDS {
                            let k = round % OWN;
                            let i = BASE + w * OWN + k;
                            // Drop the previous installation of f<i>, then
                            // install it again.
                            held[k] = None;
                            let object = code.install_elf(&elfs[i], &env).unwrap();
                            for (x, &expected) in rows[i].iter().enumerate() {
                                assert_eq!(
                                    call(&object, i, x as i64),
                                    expected,
                                    "f{i}({x}) right after installation {round}"
                                );
                            }
                            held[k] = Some(object);
                            // Everything held, after whatever collections
                            // ran since it was installed.
                            for (k, object) in held.iter().enumerate() {
                                if let Some(object) = object {
                                    let i = BASE + w * OWN + k;
                                    for (x, &expected) in rows[i].iter().enumerate() {
                                        assert_eq!(
                                            call(object, i, x as i64),
                                            expected,
                                            "f{i}({x}) in round {round}"
                                        );
                                    }
                                }
                            }
                        }
                    })
                    .unwrap();
                })
            })
            .collect();
        join_all(installers, || {
            assert!(
                !collector.is_finished(),
                "the collecting thread ended before the installers (its panic is above)"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        });
        drop(stop_collecting);
        collector.join().unwrap()
    });
    let stats = code.stats();
    println!(
        "{} installations during {collections} back-to-back collections in {:?}; {:?}",
        INSTALLERS * ROUNDS,
        started.elapsed(),
        stats.collector
    );
    assert!(collections > 0);
    assert!(stats.collector.objects_moved > 0);
    assert_eq!(stats.held.objects, BASE);
    code.with_jit_thread(|_| {
        for (j, object) in base_objects.iter().enumerate() {
            for (x, &expected) in rows[j].iter().enumerate() {
                assert_eq!(call(object, j, x as i64), expected, "f{j}({x})");
            }
        }
    })
    .unwrap();
}

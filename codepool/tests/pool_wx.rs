//! W^X: no mapping of the process is writable and executable at once,
//! sampled continuously from another thread (`/proc/self/maps`) while
//! functions are installed, called, and moved by collections.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use codepool::publish::writable_executable_mappings;
use codepool::{CodePool, CodePoolOptions};
use common::boxes::{Boxed, Boxes};
use common::gen::{call, env_with_boxes, Program, Rng, DEPTH};
use common::hang::{Stop, Watchdog};
use mps::{Arena, PoolOptions};

const FUNCTIONS: usize = 200;

#[test]
fn no_mapping_is_ever_writable_and_executable() {
    if common::skip_without_extensions() {
        return;
    }
    let _watchdog = Watchdog::new();
    let mut rng = Rng::from_env(7);
    let boxes: Vec<String> = (0..8).map(|k| format!("box{k}")).collect();
    let value = |b: &str| b[3..].parse::<i64>().unwrap() * 100;
    let Program { elfs, rows, .. } = Program::generate(&mut rng, FUNCTIONS, 0, &boxes, value);

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();

    let stop = Stop::new();
    let samples = AtomicUsize::new(0);
    let offending = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut offending = Vec::new();
            while !stop.requested() {
                offending.extend(writable_executable_mappings().unwrap());
                samples.fetch_add(1, Ordering::Relaxed);
            }
            offending
        });
        // Ends the sampler when this thread is done, or panics: the scope
        // joins the sampler before the panic goes on.
        let sampling = stop.guard();
        code.with_jit_thread(|s| {
            let mut ap = heap.ap().unwrap();
            let functions: Vec<_> = s.scope(|t| {
                let env = env_with_boxes(t, &heap, &boxes, value);
                elfs.iter()
                    .map(|elf| code.install_elf(elf, &env).unwrap())
                    .collect()
            });
            for _ in 0..20 {
                // At least one whole sample per round, however loaded the
                // machine is (under load the sampler once took none in the
                // whole run, 3 of 200 runs).
                let seen = samples.load(Ordering::Relaxed);
                while samples.load(Ordering::Relaxed) < seen + 1 {
                    std::thread::yield_now();
                }
                s.scope(|t| {
                    for i in 0..2000 {
                        t.alloc(&mut ap, Boxed::new(i)).unwrap();
                    }
                });
                arena.collect().unwrap();
                arena.release();
                for (i, object) in functions.iter().enumerate() {
                    assert_eq!(call(object, i, DEPTH as i64), rows[i][DEPTH]);
                }
            }
            assert!(code.stats().collector.objects_moved > 0);
        })
        .unwrap();
        drop(sampling);
        sampler.join().unwrap()
    });
    let samples = samples.load(Ordering::Relaxed);
    println!("{samples} samples of /proc/self/maps");
    assert!(samples > 0);
    assert!(
        offending.is_empty(),
        "writable and executable: {offending:#?}"
    );
}

//! W^X: no mapping of the process is writable and executable at once,
//! sampled continuously from another thread (`/proc/self/maps`) while
//! functions are installed, called, and moved by collections.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use codepool::publish::writable_executable_mappings;
use codepool::{CodePool, CodePoolOptions, Env};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use common::gen::{self, Rng, Spec, DEPTH};
use mps::{Arena, PoolOptions};

const FUNCTIONS: usize = 200;

#[test]
fn no_mapping_is_ever_writable_and_executable() {
    let mut rng = Rng::from_env(7);
    let boxes: Vec<String> = (0..8).map(|k| format!("box{k}")).collect();
    let all: Vec<usize> = (0..FUNCTIONS).collect();
    let specs: Vec<Spec> = (0..FUNCTIONS)
        .map(|i| Spec::random(&mut rng, &all[..i], &boxes))
        .collect();
    let irs: Vec<String> = specs.iter().enumerate().map(|(i, s)| s.ir(i)).collect();
    let elfs = gen::compile_all(&irs);
    let mut rows = Vec::new();
    for spec in &specs {
        let row = spec.expected(&rows, |b| b[3..].parse::<i64>().unwrap() * 100);
        rows.push(row);
    }

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();

    let stop = AtomicBool::new(false);
    let samples = AtomicUsize::new(0);
    let offending = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut offending = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                offending.extend(writable_executable_mappings().unwrap());
                samples.fetch_add(1, Ordering::Relaxed);
            }
            offending
        });
        code.with_jit_thread(|s| {
            let mut ap = heap.ap().unwrap();
            let functions: Vec<_> = s.scope(|t| {
                let mut env = Env::new();
                env.function("rt_mix", gen::rt_mix as extern "C" fn(i64, i64) -> i64);
                for (k, b) in boxes.iter().enumerate() {
                    let h = t.alloc(&mut ap, Boxed::new(k as i64 * 100)).unwrap();
                    env.heap(b.clone(), h, VALUE_OFFSET);
                }
                elfs.iter()
                    .map(|elf| code.install_elf(elf, &env).unwrap())
                    .collect()
            });
            for _ in 0..20 {
                s.scope(|t| {
                    for i in 0..2000 {
                        t.alloc(&mut ap, Boxed::new(i)).unwrap();
                    }
                });
                arena.collect().unwrap();
                arena.release();
                for (i, object) in functions.iter().enumerate() {
                    // SAFETY: f<i> is `i64 (i64)`.
                    let f =
                        unsafe { object.function::<extern "C" fn(i64) -> i64>(&format!("f{i}")) }
                            .unwrap();
                    assert_eq!(f.call((DEPTH as i64,)), rows[i][DEPTH]);
                }
            }
            assert!(code.stats().collector.objects_moved > 0);
        })
        .unwrap();
        stop.store(true, Ordering::Relaxed);
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

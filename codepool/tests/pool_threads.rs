//! Several threads install and call JIT code while another collects: the
//! collector stops threads in the middle of JIT code (their registers and
//! stacks pin what they run), installation is serialised by the pool's
//! lock, and every result stays right.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use common::gen::{self, Rng, Spec, DEPTH};
use mps::{Arena, PoolOptions};

const BASE: usize = 100;
const WORKERS: usize = 2;
const PER_WORKER: usize = 40;

fn call(object: &CodeObject<'_>, i: usize, x: i64) -> i64 {
    // SAFETY: f<i> is `i64 (i64)`.
    unsafe { object.function::<extern "C" fn(i64) -> i64>(&format!("f{i}")) }
        .unwrap()
        .call((x,))
}

#[test]
fn threads_install_and_call_while_another_collects() {
    let mut rng = Rng::from_env(3);
    let boxes: Vec<String> = (0..8).map(|k| format!("box{k}")).collect();
    let value = |b: &str| {
        b.trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse::<i64>()
            .unwrap()
            + 1
    };
    // Base functions f0..f99, then each worker's f<BASE + w*PER_WORKER + k>
    // calling base functions.
    let base: Vec<usize> = (0..BASE).collect();
    let mut specs: Vec<Spec> = (0..BASE)
        .map(|i| Spec::random(&mut rng, &base[..i], &boxes))
        .collect();
    for _ in 0..WORKERS * PER_WORKER {
        specs.push(Spec::random(&mut rng, &base, &boxes));
    }
    let irs: Vec<String> = specs.iter().enumerate().map(|(i, s)| s.ir(i)).collect();
    let elfs = gen::compile_all(&irs);
    let mut rows = Vec::new();
    for spec in &specs {
        let row = spec.expected(&rows, value);
        rows.push(row);
    }

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();

    // The base functions, installed by this thread.
    let base_objects: Vec<CodeObject<'_>> = code
        .with_jit_thread(|s| {
            let mut ap = heap.ap().unwrap();
            let mut env = Env::new();
            env.function("rt_mix", gen::rt_mix as extern "C" fn(i64, i64) -> i64);
            for b in &boxes {
                let h = s.alloc(&mut ap, Boxed::new(value(b))).unwrap();
                env.heap(b.clone(), h, VALUE_OFFSET);
            }
            elfs[..BASE]
                .iter()
                .map(|elf| code.install_elf(elf, &env).unwrap())
                .collect()
        })
        .unwrap();

    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let collections = std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let (code, heap, elfs, rows, boxes) = (&code, heap, &elfs, &rows, &boxes);
            let (base_objects, done) = (&base_objects, &done);
            scope.spawn(move || {
                code.with_jit_thread(|s| {
                    let mut ap = heap.ap().unwrap();
                    let mut env = Env::new();
                    env.function("rt_mix", gen::rt_mix as extern "C" fn(i64, i64) -> i64);
                    for b in boxes {
                        let h = s.alloc(&mut ap, Boxed::new(value(b))).unwrap();
                        env.heap(b.clone(), h, VALUE_OFFSET);
                    }
                    let mut mine: Vec<(usize, CodeObject<'_>)> = Vec::new();
                    for k in 0..PER_WORKER {
                        let i = BASE + w * PER_WORKER + k;
                        mine.push((i, code.install_elf(&elfs[i], &env).unwrap()));
                        for _ in 0..20 {
                            for (i, object) in &mine {
                                for (x, &expected) in rows[*i].iter().enumerate() {
                                    assert_eq!(call(object, *i, x as i64), expected, "f{i}({x})");
                                }
                            }
                        }
                        let j = k % BASE;
                        assert_eq!(call(&base_objects[j], j, DEPTH as i64), rows[j][DEPTH]);
                        // Drop one in four of this worker's functions.
                        if k % 4 == 3 {
                            mine.remove(mine.len() / 2);
                        }
                    }
                })
                .unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        // This thread collects until the workers are done.
        let collector = scope.spawn(|| {
            code.with_jit_thread(|s| {
                let mut ap = heap.ap().unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    s.scope(|t| {
                        for i in 0..500 {
                            t.alloc(&mut ap, Boxed::new(i)).unwrap();
                        }
                    });
                    arena.collect().unwrap();
                    arena.release();
                    n += 1;
                    for (j, object) in base_objects.iter().enumerate().step_by(10) {
                        assert_eq!(call(object, j, DEPTH as i64), rows[j][DEPTH]);
                    }
                }
                n
            })
            .unwrap()
        });
        while done.load(Ordering::Relaxed) < WORKERS {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        collector.join().unwrap()
    });
    let stats = code.stats();
    println!(
        "{collections} collections while the workers ran; {:?}",
        stats.collector
    );
    assert!(collections > 0);
    assert!(stats.collector.objects_moved > 0);
    assert_eq!(stats.held.objects, BASE);
}

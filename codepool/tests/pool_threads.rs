//! Several threads install and call JIT code while another collects: the
//! collector stops threads in the middle of JIT code (their registers and
//! stacks pin what they run), installation is serialised by the pool's
//! lock, and every result stays right.

#![cfg(feature = "llvm")]

mod common;

use codepool::{CodeObject, CodePool, CodePoolOptions};
use common::boxes::{Boxed, Boxes};
use common::gen::{call, env_with_boxes, install_all, Program, Rng, DEPTH};
use common::hang::{join_all, Stop, Watchdog};
use mps::{Arena, PoolOptions};

const BASE: usize = 100;
const WORKERS: usize = 2;
const PER_WORKER: usize = 40;

#[test]
fn threads_install_and_call_while_another_collects() {
    if common::skip_without_extensions() {
        return;
    }
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
    let Program { elfs, rows, .. } =
        Program::generate(&mut rng, BASE, WORKERS * PER_WORKER, &boxes, value);

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();

    // The base functions, installed by this thread.
    let base_objects = install_all(&code, &heap, &boxes, &elfs[..BASE], value);

    // A worker's panic reaches the test at once (join_all), and then ends
    // the collecting thread (the stop guard); a hang aborts (watchdog).
    let _watchdog = Watchdog::new();
    let stop = Stop::new();
    let collections = std::thread::scope(|scope| {
        // This thread collects until the workers are done.
        let collector = scope.spawn(|| {
            code.with_jit_thread(|s| {
                let mut ap = heap.ap().unwrap();
                let mut n = 0;
                // At least one collection, however fast the workers are.
                loop {
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
                    if stop.requested() {
                        break n;
                    }
                }
            })
            .unwrap()
        });
        let stop_collecting = stop.guard();
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (code, heap, elfs, rows, boxes) = (&code, heap, &elfs, &rows, &boxes);
                let base_objects = &base_objects;
                scope.spawn(move || {
                    code.with_jit_thread(|s| {
                        let env = env_with_boxes(s, &heap, boxes, value);
                        let mut mine: Vec<(usize, CodeObject<'_>)> = Vec::new();
                        for k in 0..PER_WORKER {
                            let i = BASE + w * PER_WORKER + k;
                            mine.push((i, code.install_elf(&elfs[i], &env).unwrap()));
                            for _ in 0..20 {
                                for (i, object) in &mine {
                                    for (x, &expected) in rows[*i].iter().enumerate() {
                                        assert_eq!(
                                            call(object, *i, x as i64),
                                            expected,
                                            "f{i}({x})"
                                        );
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
                })
            })
            .collect();
        join_all(workers, || {
            assert!(
                !collector.is_finished(),
                "the collecting thread ended before the workers (its panic is above)"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        });
        drop(stop_collecting);
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

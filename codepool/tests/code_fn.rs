//! Owned typed handles (`CodeObject::typed`, `CodeFn`): a runtime keeps
//! only handles (the `CodeObject`s themselves are dropped), in its own
//! vector and on another thread, while collections move the code and the
//! boxes it reads; every call gives the right result, the objects are
//! seen to move, and once the last handle of an object is dropped its
//! names are unbound and the collector frees it.

#![cfg(feature = "llvm")]

mod common;

use std::sync::Arc;

use codepool::{CodeFn, CodePool, CodePoolOptions};
use common::boxes::Boxes;
use common::gen::{self, Program, Rng, DEPTH};
use mps::{Arena, PoolOptions};

type F = extern "C" fn(i64) -> i64;

const FUNCTIONS: usize = 120;
const BOXES: usize = 16;
const ROUNDS: usize = 12;

fn check(fns: &[(usize, CodeFn<'_, F>)], rows: &[[i64; DEPTH + 1]], when: &str) {
    for (i, f) in fns {
        for (x, &expected) in rows[*i].iter().enumerate() {
            assert_eq!(f.call((x as i64,)), expected, "{when}: f{i}({x})");
        }
    }
}

#[test]
fn handles_keep_their_code_and_follow_it() {
    if common::skip_without_extensions() {
        return;
    }
    let mut rng = Rng::from_env(7);
    let boxes: Vec<String> = (0..BOXES).map(|k| format!("box{k}")).collect();
    let value = |b: &str| b[3..].parse::<i64>().unwrap() * 1000 + 17;
    let program = Program::generate(&mut rng, FUNCTIONS, 0, &boxes, value);
    let garbage = [gen::compile(
        "garbage",
        &gen::Spec::random(&mut rng, &[], &boxes).ir(999_999),
    )];

    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let objects = gen::install_all(&code, &heap, &boxes, &program.elfs, value);

    // Only handles are kept: the objects' own `Arc`s are dropped here.
    let mut fns: Vec<(usize, CodeFn<'_, F>)> = objects
        .into_iter()
        .enumerate()
        .map(|(i, object)| {
            let object = Arc::new(object);
            // SAFETY: every generated f<i> is `i64 f(i64)`, C convention.
            let f = unsafe { object.typed::<F>(&format!("f{i}")) }.expect("exported");
            // SAFETY: as above (the name is not exported, so no handle).
            assert!(unsafe { object.typed::<F>("no such function") }.is_none());
            (i, f)
        })
        .collect();
    let first: Vec<usize> = fns.iter().map(|(_, f)| f.exec_address()).collect();

    code.with_jit_thread(|_| check(&fns, &program.rows, "after installation"))
        .unwrap();

    // Another thread calls clones of the handles while this one collects.
    let shared: Vec<(usize, CodeFn<'_, F>)> = fns.clone();
    std::thread::scope(|t| {
        let caller = t.spawn(|| {
            let mut calls = 0u64;
            code.with_jit_thread(|_| {
                for round in 0..ROUNDS * 4 {
                    check(
                        &shared,
                        &program.rows,
                        &format!("other thread, pass {round}"),
                    );
                    calls += (shared.len() * (DEPTH + 1)) as u64;
                }
            })
            .unwrap();
            calls
        });
        for round in 0..ROUNDS {
            // Garbage ahead of everything, so that survivors move.
            for _ in 0..10 {
                drop(gen::install_all(&code, &heap, &boxes, &garbage, value));
            }
            arena.collect().unwrap();
            arena.release();
            code.with_jit_thread(|_| check(&fns, &program.rows, &format!("collection {round}")))
                .unwrap();
        }
        assert!(caller.join().unwrap() > 0);
    });
    drop(shared);

    let moved = fns
        .iter()
        .zip(&first)
        .filter(|((_, f), &a)| f.exec_address() != a)
        .count();
    assert!(
        moved * 10 >= fns.len() * 9,
        "only {moved} of {} functions were seen to move",
        fns.len()
    );

    // Dropping the last handle of an object uninstalls it: its name is
    // unbound and the collector frees it. A clone keeps it.
    let (i, last) = fns.pop().unwrap();
    let keeper = last.clone();
    drop(last);
    assert!(code.contains_symbol(&format!("f{i}")));
    code.with_jit_thread(|_| assert_eq!(keeper.call((2,)), program.rows[i][2]))
        .unwrap();
    drop(keeper);
    assert!(!code.contains_symbol(&format!("f{i}")));
    // Other functions may call f<i>, which keeps it alive: drop the rest
    // too; then no code object is left (collecting from this thread,
    // which is not registered, so no stale stack word pins any).
    fns.clear();
    let gone = common::collect_until(&arena, || code.census().unwrap().objects.objects == 0);
    assert!(
        gone,
        "code objects outlived their handles: {:?}",
        code.census().unwrap()
    );
}

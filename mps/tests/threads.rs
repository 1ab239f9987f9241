//! Four threads allocate, share and check lists in one arena while
//! collections (started by any thread's allocation, or explicitly) stop
//! them all and move their objects.

mod common;

use common::hang::Watchdog;
use common::{Int, Lisp, Pair};
use mps::{Amc, Amcz, Arena, GenParam, Handle, PoolOptions, Root, Scope};

const THREADS: usize = 4;
const ROUNDS: u64 = 150;
const LEN: u64 = 400;

fn id(thread: u64, round: u64, k: u64) -> u64 {
    (thread << 40) | (round << 20) | k
}

/// Builds a list of `LEN` pairs whose cars are Ints holding `id(..)`.
fn build<'s>(
    s: &mut Scope<'s>,
    ap: &mut mps::Ap<'_, Lisp, mps::AmcClass>,
    leaf: &mut mps::Ap<'_, Lisp, mps::AmczClass>,
    thread: u64,
    round: u64,
) -> Handle<'s, Lisp> {
    let head = s.alloc(ap, Pair::new(id(thread, round, LEN))).unwrap();
    for k in (0..LEN).rev() {
        s.scope(|t| {
            let n = t.alloc(leaf, Int::new(k, id(thread, round, k))).unwrap();
            let cell = t.alloc(ap, Pair::new(id(thread, round, k))).unwrap();
            cell.set(|p: &Pair| &p.car, Some(n));
            cell.set(|p: &Pair| &p.cdr, Some(head));
            head.assign(cell);
        });
    }
    head
}

/// Checks a list built by `build` (by any thread, in any round).
fn check(s: &mut Scope<'_>, list: Handle<'_, Lisp>) {
    s.scope(|t| {
        let cursor = t.copy(list);
        let first = cursor.with(|p: &Pair| p.id);
        let (thread, round) = (first >> 40, (first >> 20) & 0xfffff);
        for k in 0..LEN {
            let expect = id(thread, round, k);
            assert_eq!(cursor.with(|p: &Pair| p.id), expect);
            t.scope(|u| {
                let n = cursor.get(u, |p: &Pair| &p.car).unwrap();
                assert_eq!(n.with(|i: &Int| (i.id, i.get())), (k, expect));
                let next = cursor.get(u, |p: &Pair| &p.cdr).unwrap();
                cursor.assign(next);
            });
        }
        assert_eq!(cursor.with(|p: &Pair| p.id), id(thread, round, LEN));
    });
}

#[test]
fn four_threads_share_an_arena() {
    // The threads wait for nothing but each other's collections (the
    // scope joins them, and each runs a bounded loop); a deadlock in the
    // collector is what this catches.
    let _watchdog = Watchdog::new();
    let arena = Arena::builder().arena_size(64 << 20).build().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[GenParam {
            capacity_kb: 256,
            mortality: 0.8,
        }])
        .unwrap();
    let options = PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    };
    let amc: Amc<'_, Lisp> = arena.amc(fmt, &options).unwrap();
    let amcz: Amcz<'_, Lisp> = arena.amcz(fmt, &options).unwrap();
    // Slot i: thread i's current list; slot THREADS: a list all share.
    let root: Root<'_, Lisp> = Root::exact(&arena, THREADS + 1).unwrap();

    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut leaf = amcz.ap().unwrap();
            let shared = build(s, &mut ap, &mut leaf, 99, 0);
            root.set(THREADS, Some(shared));
        })
        .unwrap();

    let start = arena.collections();
    std::thread::scope(|ts| {
        for thread in 0..THREADS {
            let (arena, root) = (&arena, &root);
            ts.spawn(move || {
                arena
                    .with_thread(|s| {
                        let mut ap = amc.ap().unwrap();
                        let mut leaf = amcz.ap().unwrap();
                        for round in 0..ROUNDS {
                            s.scope(|t| {
                                let list = build(t, &mut ap, &mut leaf, thread as u64, round);
                                root.set(thread, Some(list));
                                check(t, list);
                                let neighbour = root.get((thread + 1) % THREADS, t);
                                if let Some(other) = neighbour {
                                    check(t, other);
                                }
                                let shared = root.get(THREADS, t).unwrap();
                                check(t, shared);
                                if thread == 0 && round % 10 == 9 {
                                    arena.collect().unwrap();
                                    arena.release();
                                }
                            });
                        }
                    })
                    .unwrap();
            });
        }
    });
    let collections = arena.collections() - start;
    println!("threads: {collections} collections while {THREADS} threads ran");
    assert!(collections >= ROUNDS as usize / 10);
}

//! Basic end-to-end use of the safe layer: a list survives collections and
//! its objects move.

mod common;

use common::{Int, Lisp, Pair};
use mps::{Arena, GenParam, PoolOptions, Root};

#[test]
fn a_list_survives_collections() {
    let arena = Arena::builder().arena_size(32 << 20).build().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[GenParam {
            capacity_kb: 256,
            mortality: 0.5,
        }])
        .unwrap();
    let options = PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    };
    let amc = arena.amc(fmt, &options).unwrap();
    let amcz = arena.amcz(fmt, &options).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 4).unwrap();

    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut leaf_ap = amcz.ap().unwrap();
            // Build (0 1 2 ... 999) as pairs whose cars are Ints.
            let list = s.alloc(&mut ap, Pair::new(1_000_000)).unwrap();
            root.set(0, Some(list));
            let mut tail = list;
            for i in 0..1000u64 {
                s.scope(|t| {
                    let n = t.alloc(&mut leaf_ap, Int::new(i, i * 3)).unwrap();
                    let cell = t.alloc(&mut ap, Pair::new(i)).unwrap();
                    cell.set(|p: &Pair| &p.car, Some(n));
                    tail.set(|p: &Pair| &p.cdr, Some(cell));
                });
                tail = tail.get(s, |p: &Pair| &p.cdr).unwrap();
            }
            let first_addr = list.addr();
            for _ in 0..5 {
                arena.collect().unwrap();
                arena.release();
            }
            let mut moved = list.addr() != first_addr;
            // Walk the list from the root.
            let mut cell = root.get(0, s).unwrap();
            for i in 0..1000u64 {
                s.scope(|t| {
                    let next = cell.get(t, |p: &Pair| &p.cdr).unwrap();
                    assert_eq!(next.with(|p: &Pair| p.id), i);
                    let n = next.get(t, |p: &Pair| &p.car).unwrap();
                    assert_eq!(n.with(|x: &Int| (x.id, x.get())), (i, i * 3));
                });
                cell = cell.get(s, |p: &Pair| &p.cdr).unwrap();
            }
            assert!(cell.get(s, |p: &Pair| &p.cdr).is_none());
            moved |= root.get(0, s).unwrap().addr() != first_addr;
            assert!(moved || arena.collections() > 0);
            println!(
                "collections: {}, handles high water: {}",
                arena.collections(),
                s.thread().handles_high_water()
            );
        })
        .unwrap();
}

#[test]
fn at_drop_runs_when_the_arena_is_dropped_in_order() {
    use std::sync::{Arc, Mutex};
    let ran = Arc::new(Mutex::new(Vec::new()));
    let arena = Arena::new().unwrap();
    for i in 0..3 {
        let ran = Arc::clone(&ran);
        arena.at_drop(move || ran.lock().unwrap().push(i));
    }
    arena.collect().unwrap();
    assert!(
        ran.lock().unwrap().is_empty(),
        "ran before the arena was dropped"
    );
    drop(arena);
    assert_eq!(*ran.lock().unwrap(), [0, 1, 2]);
}

/// The mprotect write barrier, asked for, is the one the arena reports;
/// an arena asking for the soft one (vendor/mps/DESIGN.md#barrier-soft)
/// is created whatever the kernel allows. Without the mpsx_ extensions
/// the soft one is refused.
#[test]
fn the_arena_reports_its_write_barrier() {
    use mps::{Error, WriteBarrier};
    let arena = Arena::builder()
        .write_barrier(WriteBarrier::Mprotect)
        .build()
        .unwrap();
    let soft = Arena::builder().write_barrier(WriteBarrier::Soft).build();
    if !mps::sys::EXTENSIONS {
        assert_eq!(arena.write_barrier(), None);
        assert!(matches!(soft, Err(Error::Unimpl)));
        return;
    }
    assert_eq!(arena.write_barrier(), Some(WriteBarrier::Mprotect));
    // Either is right (the kernel decides); the program is told which.
    let got = soft.unwrap().write_barrier().unwrap();
    eprintln!("asked for the soft write barrier, got {got:?}");
}

//! SNC (stack no checking) through the safe layer: objects allocated in
//! allocation frames keep the heap objects they refer to alive across
//! collections and follow their moves; popping a frame (when its closure
//! returns or panics) gives its memory back.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{clobber_stack, skip_unless_vendored, Lisp, Pair};
use mps::{Arena, Error, PoolOptions, Rank};

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

#[test]
fn frames_keep_heap_objects_alive_and_follow_their_moves() {
    const N: u64 = 200;
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let snc = arena.snc(fmt).unwrap();
    let mut sap = snc.ap().unwrap();
    assert_eq!(sap.rank(), Rank::Exact);
    let empty_total = snc.total_size();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            sap.frame(|frame| {
                // Stack cells whose car is a heap pair held by nothing else.
                let mut cells = Vec::new();
                let mut addrs = Vec::new();
                for i in 0..N {
                    let cell = frame.alloc(Pair::new(1000 + i)).unwrap();
                    s.scope(|t| {
                        let heap = t.alloc(&mut ap, Pair::new(i)).unwrap();
                        addrs.push(heap.addr());
                        cell.set(|p: &Pair| &p.car, Some(heap));
                    });
                    cells.push(cell);
                }
                let total = snc.total_size();
                let free = snc.free_size();
                // An inner frame of a few segments' worth, popped at once.
                frame
                    .frame(|inner| {
                        for i in 0..20_000u64 {
                            let _ = inner.alloc(Pair::new(i)).unwrap();
                        }
                        assert!(
                            snc.total_size() > total,
                            "the inner frame did not grow the pool"
                        );
                    })
                    .unwrap();
                if !skip_unless_vendored("sizes restored exactly by a pop") {
                    assert_eq!(snc.total_size(), total, "the pop kept segments");
                    assert_eq!(snc.free_size(), free, "the pop kept objects");
                }
                let mut moved = 0;
                for _ in 0..3 {
                    clobber_stack();
                    arena.collect().unwrap();
                    arena.release();
                    for (i, cell) in cells.iter().enumerate() {
                        assert_eq!(cell.id, 1000 + i as u64, "a stack cell changed");
                        s.scope(|t| {
                            let heap = cell
                                .get(t, |p: &Pair| &p.car)
                                .expect("a stack cell lost its reference");
                            assert_eq!(heap.with(|p: &Pair| p.id), i as u64);
                            if heap.addr() != addrs[i] {
                                moved += 1;
                                addrs[i] = heap.addr();
                            }
                        });
                    }
                }
                assert!(moved > 0, "no heap pair held by a stack cell ever moved");
            })
            .unwrap();
        })
        .unwrap();
    if !skip_unless_vendored("an emptied SNC pool holds nothing") {
        assert_eq!(snc.total_size(), empty_total);
    }
}

#[test]
fn memory_is_reused_after_a_pop_and_after_a_panic() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let snc = arena.snc(fmt).unwrap();
    let mut ap = snc.ap().unwrap();
    ap.frame(|outer| {
        let _base = outer.alloc(Pair::new(1)).unwrap();
        let first = outer
            .frame(|f| f.alloc(Pair::new(2)).unwrap().addr())
            .unwrap();
        let again = outer
            .frame(|f| f.alloc(Pair::new(3)).unwrap().addr())
            .unwrap();
        if !skip_unless_vendored("the address after a pop is reused at once") {
            assert_eq!(first, again, "a popped frame's memory was not reused");
        }
        let total = snc.total_size();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            outer
                .frame(|f| {
                    for i in 0..20_000u64 {
                        let _ = f.alloc(Pair::new(i)).unwrap();
                    }
                    panic!("unwinding out of a frame");
                })
                .unwrap();
        }));
        assert!(caught.is_err());
        if !skip_unless_vendored("sizes restored exactly by a pop") {
            assert_eq!(snc.total_size(), total, "the unwound frame was not popped");
        }
        let after = outer
            .frame(|f| f.alloc(Pair::new(4)).unwrap().addr())
            .unwrap();
        if !skip_unless_vendored("the address after a pop is reused at once") {
            assert_eq!(after, first);
        }
    })
    .unwrap();
}

#[test]
fn ambiguous_stack_cells_pin_their_targets() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let snc = arena.snc(fmt).unwrap();
    if !mps::sys::VENDORED {
        assert_eq!(snc.ambiguous_ap().err(), Some(Error::Unimpl));
        return;
    }
    let mut sap = snc.ambiguous_ap().unwrap();
    assert_eq!(sap.rank(), Rank::Ambiguous);
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            sap.frame(|frame| {
                let mut cells = Vec::new();
                for i in 0..50u64 {
                    let cell = frame.alloc(Pair::new(i)).unwrap();
                    s.scope(|t| {
                        let heap = t.alloc(&mut ap, Pair::new(i)).unwrap();
                        cell.set(|p: &Pair| &p.car, Some(heap));
                        cells.push((cell, heap.addr()));
                    });
                }
                for _ in 0..3 {
                    clobber_stack();
                    arena.collect().unwrap();
                    arena.release();
                    for (i, (cell, addr)) in cells.iter().enumerate() {
                        s.scope(|t| {
                            let heap = cell.get(t, |p: &Pair| &p.car).unwrap();
                            assert_eq!(heap.addr(), *addr, "an ambiguously held pair moved");
                            assert_eq!(heap.with(|p: &Pair| p.id), i as u64);
                        });
                    }
                }
            })
            .unwrap();
        })
        .unwrap();
}

#[test]
fn snc_refuses_a_format_of_another_arena() {
    let a = arena();
    let b = arena();
    let fmt = a.format::<Lisp>().unwrap();
    assert_eq!(b.snc(fmt).err(), Some(Error::Param));
}

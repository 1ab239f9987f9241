//! The AMS debug pool class through the safe layer (`Arena::ams_debug`):
//! clean use, with collections reclaiming objects, passes every check; a
//! write past the end of an object into the free space after it, and a
//! write into an object the collector reclaimed, stop the process with an
//! MPS assertion naming the problem (each mistake runs in a child
//! process: this test binary re-run). AMS debug objects come from
//! allocation points and have no fenceposts (`AmsDebugClass`): the
//! overrun is caught by the free-space check, the fencepost checks of a
//! debug pool are `tier3_debug.rs` (MVFF debug).

mod common;

use common::{Lisp, Pair};
use mps::{Arena, DebugOptions, PoolOptions, Root};

const CHILD: &str = "MPS_AMS_DEBUG_CHILD";
const DEBUG: DebugOptions = DebugOptions {
    fence: b"FENCE",
    free: &[0xDE, 0xAD, 0xBE, 0xEF, 0xF0, 0x0D],
};
const PAIR_BYTES: usize = 4 * core::mem::size_of::<usize>();

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

/// The mistake a child makes, then the check that must catch it.
fn child(case: &str) {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let pool = arena
        .ams_debug(fmt, &PoolOptions::default(), &DEBUG)
        .unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    arena
        .with_thread(|s| match case {
            "overrun" => {
                // One object in a fresh segment; giving the allocation
                // point back splats the rest of its buffer.
                let addr = {
                    let mut ap = pool.ap().unwrap();
                    s.scope(|t| {
                        let p = t.alloc(&mut ap, Pair::new(1)).unwrap();
                        root.set(0, Some(p));
                        p.addr()
                    })
                };
                pool.check_free_space(); // clean so far
                                         // SAFETY: deliberately the first byte past the object,
                                         // in free memory of the pool's segment (mapped, used by
                                         // nothing: the object is the segment's only one and the
                                         // buffer is gone). Catching this is what the test is for.
                unsafe { ((addr + PAIR_BYTES) as *mut u8).write(0) };
                pool.check_free_space();
            }
            "dead" => {
                // 200 objects nothing refers to, reclaimed by a
                // collection (a stale stack word may pin a few: the child
                // writes into all of them), after one the root keeps, so
                // that their segment stays the pool's.
                let mut ap = pool.ap().unwrap();
                s.scope(|t| root.set(0, Some(t.alloc(&mut ap, Pair::new(0)).unwrap())));
                let addrs: Vec<usize> = (0..200)
                    .map(|i| s.scope(|t| t.alloc(&mut ap, Pair::new(i)).unwrap().addr()))
                    .collect();
                drop(ap);
                common::clobber_stack();
                arena.collect().unwrap();
                pool.check_free_space(); // clean so far
                for a in &addrs {
                    // SAFETY: deliberately a write into the `id` word of
                    // each dead pair: memory of the segment that holds the
                    // rooted pair allocated just before them (200 pairs
                    // fit in the first segment, which a live object
                    // keeps mapped), a plain integer field if the pair
                    // survived. Catching it is what the test is for.
                    unsafe { ((a + 8) as *mut u64).write(0x5555) };
                }
                pool.check_free_space();
            }
            _ => {
                let mut ap = pool.ap().unwrap();
                for i in 0..5_000u64 {
                    s.scope(|t| {
                        let p = t.alloc(&mut ap, Pair::new(i)).unwrap();
                        if i % 7 == 0 {
                            root.set(0, Some(p));
                        }
                    });
                }
                arena.collect().unwrap();
                pool.check_free_space();
                pool.check_fenceposts();
                arena.release();
            }
        })
        .unwrap();
}

#[test]
fn mistakes_are_caught() {
    common::check_mistakes(
        "mistakes_are_caught",
        CHILD,
        child,
        &[
            ("overrun", "free memory was written"),
            ("dead", "free memory was written"),
        ],
    );
}

#[test]
fn reclaimed_objects_are_splatted_and_survivors_kept() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let pool = arena
        .ams_debug(fmt, &PoolOptions::default(), &DEBUG)
        .unwrap();
    assert!(format!("{pool:?}").contains("AMS debug"));
    let root: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = pool.ap().unwrap();
            // A list of 300 pairs held by the root, and garbage between.
            s.scope(|t| {
                let head = t.alloc(&mut ap, Pair::new(0)).unwrap();
                root.set(0, Some(head));
                let tail = t.copy(head);
                for i in 1..300u64 {
                    t.scope(|u| {
                        for g in 0..3 {
                            let _ = u.alloc(&mut ap, Pair::new(1_000_000 + g)).unwrap();
                        }
                        let cell = u.alloc(&mut ap, Pair::new(i)).unwrap();
                        tail.set(|p: &Pair| &p.cdr, Some(cell));
                        tail.assign(cell);
                    });
                }
            });
            let used_before = pool.total_size() - pool.free_size();
            common::clobber_stack();
            arena.collect().unwrap();
            pool.check_free_space();
            let used_after = pool.total_size() - pool.free_size();
            assert!(used_after < used_before, "nothing was reclaimed");
            let cursor = root.get(0, s).unwrap();
            for i in 1..300u64 {
                s.scope(|t| {
                    let next = cursor.get(t, |p: &Pair| &p.cdr).unwrap();
                    assert_eq!(next.with(|p: &Pair| p.id), i);
                    cursor.assign(next);
                });
            }
            arena.release();
        })
        .unwrap();
}

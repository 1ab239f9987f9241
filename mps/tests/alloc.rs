//! The allocation protocol: a commit that fails because the collector
//! flipped makes `Ap::alloc` initialise a new block; a panicking
//! initialiser leaves the allocation point usable.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use common::hang::Watchdog;
use common::{Lisp, Pair};
use mps::{Arena, PoolOptions};

fn write_pair(base: std::ptr::NonNull<u8>, id: usize) {
    let p = base.cast::<usize>().as_ptr();
    // SAFETY: the block is 32 bytes, reserved for this pair.
    unsafe {
        p.write((4 << 8) | common::PAIR);
        p.add(1).write(id);
        p.add(2).write(0);
        p.add(3).write(0);
    }
}

#[test]
fn init_runs_again_when_a_collection_intervenes() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    with_collector_thread(&arena, |collect| {
        arena
            .with_thread(|s| {
                let mut ap = amc.ap().unwrap();
                let mut calls = 0;
                // SAFETY: `write_pair` builds a well-formed pair in the
                // 32-byte block; the init does not call the MPS (it waits
                // for another thread that does).
                let h = unsafe {
                    s.alloc_raw(&mut ap, 32, |base| {
                        calls += 1;
                        write_pair(base, 42);
                        if calls == 1 {
                            // Another thread collects while the block is
                            // reserved.
                            collect();
                        }
                    })
                }
                .unwrap();
                assert_eq!(calls, 2, "the commit after a flip must fail and retry");
                assert_eq!(h.with(|p: &Pair| p.id), 42);
                // The allocation point works normally afterwards.
                let g = s.alloc(&mut ap, Pair::new(43)).unwrap();
                assert_eq!(g.with(|p: &Pair| p.id), 43);
            })
            .unwrap();
    });
}

/// Runs `f` with `collect`, which has another thread collect and release
/// the arena, and returns once it has.
///
/// Neither side can wait for the other forever: the collecting thread owns
/// its ends of the channels, and the request sender is a local of the
/// scope's closure, so a panic on either side drops the other's channel
/// end, which ends the other's wait (with a panic, or the loop) before the
/// scope joins. A [`Watchdog`] catches the rest (a collection that never
/// returns).
fn with_collector_thread<R>(arena: &Arena, f: impl FnOnce(&dyn Fn()) -> R) -> R {
    let _watchdog = Watchdog::new();
    std::thread::scope(|ts| {
        let (request, requests) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<()>();
        ts.spawn(move || {
            for () in requests {
                arena.collect().unwrap();
                arena.release();
                if done.send(()).is_err() {
                    break; // the requester is gone (it panicked)
                }
            }
        });
        f(&|| {
            request.send(()).expect("the collecting thread has ended");
            finished.recv().expect("the collecting thread panicked");
        })
    })
}

#[test]
fn a_panicking_initialiser_undoes_the_reservation() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let before = s.alloc(&mut ap, Pair::new(1)).unwrap();
            let result = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: the initialiser panics before the block is used.
                let _ = unsafe { s.alloc_raw(&mut ap, 32, |_| panic!("init failed")) };
            }));
            assert!(result.is_err());
            for i in 0..1000 {
                s.scope(|t| {
                    let h = t.alloc(&mut ap, Pair::new(i)).unwrap();
                    assert_eq!(h.with(|p: &Pair| p.id), i);
                });
            }
            arena.collect().unwrap();
            assert_eq!(before.with(|p: &Pair| p.id), 1);
        })
        .unwrap();
}

#[test]
fn with_pins_the_object_while_the_reference_lives() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    with_collector_thread(&arena, |collect| {
        arena
            .with_thread(|s| {
                let mut ap = amc.ap().unwrap();
                // `other` is the control: held only by its handle, it should
                // move. (Not the last object allocated: the allocator's
                // most recent addresses may linger in registers and pin it.)
                let other = s.alloc(&mut ap, Pair::new(2)).unwrap();
                let held = s.alloc(&mut ap, Pair::new(1)).unwrap();
                for i in 0..10 {
                    s.alloc(&mut ap, Pair::new(100 + i)).unwrap();
                }
                let mut moved = 0;
                for _ in 0..10 {
                    let other_before = disguised(other);
                    scrub_stack();
                    held.with(|p: &Pair| {
                        let before = p as *const Pair as usize;
                        // Another thread collects while `p` is in use.
                        collect();
                        assert_eq!(held.addr(), before, "the object moved under a `&T`");
                        assert_eq!(p.id, 1);
                    });
                    if disguised(other) != other_before {
                        moved += 1;
                    }
                }
                assert!(moved > 0, "objects held only by handles never moved");
                assert_eq!(other.with(|p: &Pair| p.id), 2);
            })
            .unwrap();
    });
}

/// The object's address, disguised: an address kept on the stack would pin
/// its object (the stack is an ambiguous root). Computed in a frame of its
/// own, which is dead (below the stack pointer) once it returns.
#[inline(never)]
fn disguised(h: mps::Handle<'_, Lisp>) -> usize {
    h.addr() ^ 0x5a5a_5a5a_5a5a_5a5b
}

/// Zeroes a stretch of stack below the caller, so that stale copies of
/// addresses left there by earlier calls do not pin objects.
#[inline(never)]
fn scrub_stack() {
    let mut buf = [0usize; 4096];
    std::hint::black_box(&mut buf);
}

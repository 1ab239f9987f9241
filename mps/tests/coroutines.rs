//! Stackful coroutines (`corosensei`) as mutators: handles and `&T`
//! borrows held on coroutine stacks across suspensions, while collections
//! run on the main stack, on a coroutine's stack and on other threads
//! (mps::Thread::add_stack, switch_stack; vendor/mps/DESIGN.md#stacks).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use common::coroutines::enter_all;
use common::hang::{Stop, Watchdog};
use common::{Lisp, Pair};
use corosensei::stack::{DefaultStack, Stack};
use corosensei::{CoroutineResult, ScopedCoroutine, Yielder};
use mps::{Amc, AmcClass, Ap, Arena, Handle, PoolOptions, Scope, StackGuard, Thread};

const STACK: usize = 64 << 10;
/// Addresses kept on a stack as `address ^ MASK` pin nothing.
const MASK: usize = 0x5a5a_5a5a_5a5a;

fn arena_and_pool() -> Arena {
    Arena::builder().arena_size(64 << 20).build().unwrap()
}

fn bounds(stack: &DefaultStack) -> (usize, usize) {
    (stack.limit().get(), stack.base().get())
}

/// A coroutine stack, added to `thread` until the guard is dropped.
fn added_stack(thread: &Thread) -> (DefaultStack, StackGuard<'_>) {
    let stack = DefaultStack::new(STACK).unwrap();
    let (low, high) = bounds(&stack);
    let guard = thread.add_stack(low, high).unwrap();
    (stack, guard)
}

/// Runs `f` on a registered thread of a new arena (AMC pool of the test
/// format), with an allocation point and a handle to a new pair `id`;
/// nothing, after saying why, if the linked library is not vendor/mps's.
fn with_a_pair(
    id: u64,
    f: impl for<'s, 'p> FnOnce(&Arena, &mut Scope<'s>, &mut Ap<'p, Lisp, AmcClass>, Handle<'s, Lisp>),
) {
    if common::skip_unless_vendored("stacks other than the thread's own (an mpsx_ extension)") {
        return;
    }
    let _watchdog = Watchdog::new();
    let arena = arena_and_pool();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc: Amc<'_, Lisp> = arena.amc(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let h = s.alloc(&mut ap, Pair::new(id)).unwrap();
            f(&arena, s, &mut ap, h);
        })
        .unwrap();
}

/// Nests `depth` borrows of `h` (one per frame), suspends from the
/// innermost, and checks each borrow after the resume.
fn nest(h: Handle<'_, Lisp>, depth: u32, suspend: &dyn Fn(), seen: &AtomicU64) {
    if depth == 0 {
        suspend();
        return;
    }
    h.with(|p: &Pair| {
        let (id, at) = (p.id, p as *const Pair as usize);
        nest(h, depth - 1, suspend, seen);
        // The object did not move under the borrow, nor change.
        assert_eq!(p as *const Pair as usize, at, "moved under a live &Pair");
        assert_eq!(p.id, id, "a field read through a live &Pair changed");
        seen.fetch_add(1, Ordering::Relaxed);
    });
}

/// Three rounds of 10,000 new pairs and a full collection, which moves
/// every object nothing pins (the arena is left unclamped); then `h`'s
/// object must be where `masked` (its address ^ MASK) says it was.
fn churn_and_check_pinned(
    arena: &Arena,
    s: &mut Scope<'_>,
    ap: &mut Ap<'_, Lisp, AmcClass>,
    h: Handle<'_, Lisp>,
    masked: usize,
    what: &str,
) {
    for _ in 0..3 {
        s.scope(|t| {
            for i in 0..10_000 {
                t.alloc(ap, Pair::new(i)).unwrap();
            }
        });
        arena.collect().unwrap();
    }
    arena.release();
    assert_eq!(h.addr() ^ MASK, masked, "the object moved ({what})");
}

#[test]
fn borrows_on_a_coroutine_stack_survive_collections() {
    with_a_pair(0x3f, |arena, s, ap, h| {
        let thread = s.thread();
        let (stack, _guard) = added_stack(thread);
        let seen = AtomicU64::new(0);
        let co = ScopedCoroutine::with_stack(stack, |y: &Yielder<(), ()>, ()| {
            nest(h, 64, &|| thread.switch_stack(|| y.suspend(())), &seen);
        });
        co.scope(|mut co| {
            assert!(matches!(
                thread.switch_stack(|| co.as_mut().resume(())),
                CoroutineResult::Yield(())
            ));
            // The coroutine holds 64 borrows of `h`'s object: move
            // everything else, and try to move it.
            for _ in 0..5 {
                s.scope(|t| {
                    for i in 0..10_000 {
                        t.alloc(ap, Pair::new(i)).unwrap();
                    }
                });
                arena.collect().unwrap();
            }
            assert!(matches!(
                thread.switch_stack(|| co.as_mut().resume(())),
                CoroutineResult::Return(())
            ));
        });
        assert_eq!(seen.load(Ordering::Relaxed), 64);
        assert_eq!(h.with(|p: &Pair| p.id), 0x3f);
    });
}

/// A guard dropped too early: while the coroutine is suspended with
/// borrows on its stack (the guard borrows only the thread, so safe code
/// can do that), or by the coroutine itself while it runs on the stack.
/// The stack stays scanned until nothing is left on it, so the borrowed
/// object is still pinned when the coroutine goes on.
#[test]
fn a_guard_dropped_early_keeps_the_borrows_pinned() {
    for inside in [false, true] {
        with_a_pair(0x51, |arena, s, ap, h| {
            let thread = s.thread();
            let (stack, guard) = added_stack(thread);
            let guard = std::cell::RefCell::new(Some(guard));
            let co = ScopedCoroutine::with_stack(stack, |y: &Yielder<(), usize>, ()| {
                h.with(|p: &Pair| {
                    let at = p as *const Pair as usize;
                    if inside {
                        drop(guard.borrow_mut().take());
                        arena.collect().unwrap();
                        assert_eq!(p as *const Pair as usize, at, "moved under a &Pair");
                    }
                    // Masked: the address itself on the main stack would
                    // pin the object.
                    thread.switch_stack(|| y.suspend(at ^ MASK));
                    (p as *const Pair as usize == at, p.id)
                })
            });
            co.scope(|mut co| {
                let CoroutineResult::Yield(masked) = thread.switch_stack(|| co.as_mut().resume(()))
                else {
                    panic!("the coroutine returned early");
                };
                drop(guard.borrow_mut().take());
                churn_and_check_pinned(arena, s, ap, h, masked, &format!("inside: {inside}"));
                let r = thread.switch_stack(|| co.as_mut().resume(()));
                assert!(
                    matches!(r, CoroutineResult::Return((true, 0x51))),
                    "the borrow saw a moved object (inside: {inside})"
                );
            });
        });
    }
}

/// A coroutine that suspends with the coroutine crate's own call, not
/// through `switch_stack` (safe code can): its stack has no mark, and the
/// collector scans every page of it that holds data, so the borrow on it
/// still pins the object while the thread runs elsewhere and collects.
#[test]
fn a_suspend_that_bypasses_switch_stack_keeps_the_borrows_pinned() {
    bypassed_suspensions(false);
}

/// Both at once: a coroutine suspended with the coroutine crate's own call
/// (no mark on its stack), and its `StackGuard` dropped before it resumes
/// (safe code can do both). The removed stack stays scanned, every page of
/// it that holds data, until its memory is unmapped or a new stack takes
/// its place, so the borrow on it still pins the object.
#[test]
fn a_bypassed_suspension_whose_guard_is_dropped_keeps_the_borrows_pinned() {
    bypassed_suspensions(true);
}

/// Coroutines that suspend past `switch_stack`, once or several times,
/// checked while suspended; `drop_guard`: their stack's guard is dropped
/// at the first suspension.
fn bypassed_suspensions(drop_guard: bool) {
    for rounds in [1u32, 3] {
        with_a_pair(0x52, |arena, s, ap, h| {
            let thread = s.thread();
            let (stack, guard) = added_stack(thread);
            let mut guard = Some(guard);
            let co = ScopedCoroutine::with_stack(stack, |y: &Yielder<(), usize>, ()| {
                h.with(|p: &Pair| {
                    let at = p as *const Pair as usize;
                    let mut same = true;
                    for _ in 0..rounds {
                        // Masked: the address itself on the main stack
                        // would pin the object.
                        y.suspend(at ^ MASK);
                        same &= p as *const Pair as usize == at && p.id == 0x52;
                    }
                    same
                })
            });
            co.scope(|mut co| {
                for round in 0..rounds {
                    let CoroutineResult::Yield(masked) =
                        thread.switch_stack(|| co.as_mut().resume(()))
                    else {
                        panic!("the coroutine returned early");
                    };
                    if drop_guard {
                        drop(guard.take());
                    }
                    let what = format!(
                        "a borrow on a suspended stack, round {round} (guard dropped: {drop_guard})"
                    );
                    churn_and_check_pinned(arena, s, ap, h, masked, &what);
                }
                let r = thread.switch_stack(|| co.as_mut().resume(()));
                assert!(
                    matches!(r, CoroutineResult::Return(true)),
                    "the borrow saw a moved object (guard dropped: {drop_guard})"
                );
            });
        });
    }
}

#[test]
fn a_collection_on_a_coroutine_stack() {
    with_a_pair(7, |arena, s, _, h| {
        let thread = s.thread();
        let (stack, _guard) = added_stack(thread);
        let co = ScopedCoroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| {
            h.with(|p: &Pair| {
                let at = p as *const Pair as usize;
                // A whole collection, run on this stack, with the
                // main stack left at its switch.
                arena.collect().unwrap();
                arena.release();
                assert_eq!(p as *const Pair as usize, at);
                p.id
            })
        });
        let r = co.scope(|mut co| thread.switch_stack(|| co.as_mut().resume(())));
        assert!(matches!(r, CoroutineResult::Return(7)));
    });
}

#[test]
fn a_handle_used_on_an_unregistered_stack_panics() {
    with_a_pair(9, |_, _, _, h| {
        // The stack is not added: reading through the handle there
        // must panic before it reads anything.
        let co = ScopedCoroutine::with_stack(
            DefaultStack::new(STACK).unwrap(),
            |_: &Yielder<(), ()>, ()| h.with(|p: &Pair| p.id),
        );
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            co.scope(|mut co| co.as_mut().resume(()))
        }));
        let payload = caught.expect_err("a handle was used on an unknown stack");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            msg.contains("Thread::add_stack") && msg.contains("switch_stack"),
            "the message should name the fix: {msg}"
        );
        // Back on the own stack, the handle works.
        assert_eq!(h.with(|p: &Pair| p.id), 9);
    });
}

#[test]
fn hundreds_of_coroutines_hold_handles_while_threads_collect() {
    if common::skip_unless_vendored("stacks other than the thread's own (an mpsx_ extension)") {
        return;
    }
    const COROUTINES: usize = 300;
    const ROUNDS: u64 = 12;
    const LEN: usize = 16;
    let _watchdog = Watchdog::new();
    let arena = arena_and_pool();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc: Amc<'_, Lisp> = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let stop = Stop::new();
    let collections = AtomicU64::new(0);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            arena
                .with_thread(|_| {
                    while !stop.requested() {
                        arena.collect().unwrap();
                        arena.release();
                        collections.fetch_add(1, Ordering::Relaxed);
                        // A pause between collections: back to back, on a
                        // debug build, they left the mutator so little time
                        // that the test once ran past its 300 s limit.
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                })
                .unwrap();
        });
        let _stop = stop.guard();
        arena
            .with_thread(|s| {
                let thread = s.thread();
                let mut ap = amc.ap().unwrap();
                // Each coroutine's list: LEN pairs linked by cdr, a handle
                // for each (a coroutine has no scope of its own to make
                // handles in).
                let mut lists = Vec::new();
                for c in 0..COROUTINES as u64 {
                    let mut cells: Vec<Handle<'_, Lisp>> = Vec::new();
                    for k in 0..LEN as u64 {
                        let cell = s.alloc(&mut ap, Pair::new((c << 16) | k)).unwrap();
                        if let Some(&prev) = cells.last() {
                            prev.set(|p: &Pair| &p.cdr, Some(cell));
                        }
                        cells.push(cell);
                    }
                    lists.push(cells);
                }
                let mut stacks = Vec::new();
                let mut coroutines = Vec::new();
                for (c, cells) in lists.iter().enumerate() {
                    let stack = DefaultStack::new(STACK).unwrap();
                    let (low, high) = bounds(&stack);
                    stacks.push(thread.add_stack(low, high).unwrap());
                    coroutines.push(ScopedCoroutine::with_stack(
                        stack,
                        move |y: &Yielder<(), u64>, ()| {
                            let mut checked = 0;
                            for round in 0..ROUNDS {
                                // Hold a borrow of the head across a
                                // suspension.
                                let id = cells[0].with(|p: &Pair| {
                                    let at = p as *const Pair as usize;
                                    thread.switch_stack(|| y.suspend(round));
                                    assert_eq!(p as *const Pair as usize, at);
                                    p.id
                                });
                                assert_eq!(id, (c as u64) << 16);
                                checked += check_list(cells, c as u64);
                                thread.switch_stack(|| y.suspend(round));
                            }
                            checked
                        },
                    ));
                }
                // The other thread collects while the coroutines run: wait
                // for its first collection (on a loaded machine it could
                // start only after they had all finished, once in 250
                // release runs).
                while collections.load(Ordering::Relaxed) == 0 {
                    std::thread::yield_now();
                }
                let mut finished = 0;
                enter_all(coroutines, Vec::new(), &mut |cos| {
                    let mut live = vec![true; cos.len()];
                    while finished < cos.len() {
                        for (i, co) in cos.iter_mut().enumerate() {
                            if !live[i] {
                                continue;
                            }
                            match thread.switch_stack(|| co.as_mut().resume(())) {
                                CoroutineResult::Yield(_) => {}
                                CoroutineResult::Return(checked) => {
                                    assert_eq!(checked, ROUNDS * LEN as u64);
                                    live[i] = false;
                                    finished += 1;
                                }
                            }
                            // Garbage, so that the main stack's
                            // allocation starts collections too.
                            s.scope(|t| {
                                t.alloc(&mut ap, Pair::new(1)).unwrap();
                            });
                        }
                    }
                });
                drop(stacks);
                assert_eq!(finished, COROUTINES);
            })
            .unwrap();
    });
    assert!(collections.load(Ordering::Relaxed) > 0);
}

/// Checks a list built above: ids, and each cdr refers to the next cell
/// (compared while both are borrowed, so neither can move meanwhile).
fn check_list(cells: &[Handle<'_, Lisp>], c: u64) -> u64 {
    for (k, pair) in cells.windows(2).enumerate() {
        pair[0].with(|p: &Pair| {
            assert_eq!(p.id, (c << 16) | k as u64);
            pair[1].with(|q: &Pair| {
                assert_eq!(p.cdr.addr(), q as *const Pair as usize, "cdr of cell {k}");
            });
        });
    }
    cells.len() as u64
}

#[test]
fn a_collection_on_an_unregistered_stack_does_not_crash() {
    with_a_pair(11, |arena, _, _, h| {
        let co = ScopedCoroutine::with_stack(
            DefaultStack::new(STACK).unwrap(),
            |_: &Yielder<(), ()>, ()| {
                for _ in 0..3 {
                    arena.collect().unwrap();
                    arena.release();
                }
            },
        );
        co.scope(|mut co| co.as_mut().resume(()));
        assert_eq!(h.with(|p: &Pair| p.id), 11);
    });
}

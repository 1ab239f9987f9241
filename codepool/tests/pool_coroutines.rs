//! JIT code on coroutine stacks: 200 `corosensei` coroutines each call a
//! JIT function that calls another, which calls a Rust runtime function
//! that suspends the coroutine, so every suspended coroutine's stack holds
//! return addresses into two code objects, and a borrow (`Handle::with`)
//! of a box of the heap; meanwhile another thread collects and moves code
//! and boxes. Each coroutine stack is added to the thread
//! (`mps::Thread::add_stack`) and every switch goes through
//! `switch_stack`, so those return addresses pin the code they return
//! into, and every result is right. Skipped (with a message) when there is
//! no `cc`.

mod common;

use std::cell::Cell;
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use codepool::{CodePool, CodePoolOptions, Env};
use common::boxes::{Boxed, Boxes};
use common::coroutines::enter_all;
use common::hang::{Stop, Watchdog};
use corosensei::stack::{DefaultStack, Stack};
use corosensei::{CoroutineResult, ScopedCoroutine, Yielder};
use mps::{Arena, PoolOptions, Thread};

/// Copy `k` of the code: `outer<k>` calls `leaf<k>`, which calls the
/// runtime.
fn source(k: usize) -> String {
    format!(
        "extern long rt_yield(long);\n\
         __attribute__((noinline)) long leaf{k}(long x) {{ return rt_yield(x) * 3; }}\n\
         long outer{k}(long x) {{ return leaf{k}(x + 1) + 7; }}\n"
    )
}

const COPIES: usize = 8;

const COROUTINES: usize = 200;
const ROUNDS: i64 = 8;

fn expected(x: i64) -> i64 {
    2 * (x + 1) * 3 + 7
}

type Y = Yielder<(), ()>;

std::thread_local! {
    /// The coroutine running now: its yielder and the thread registration
    /// through which it switches (set by the coroutine before each call).
    static CURRENT: Cell<(*const Y, *const Thread)> = const { Cell::new((ptr::null(), ptr::null())) };
}

/// Called from JIT code: suspends the calling coroutine (its stack then
/// holds the JIT frames of `outer` and `leaf`), then returns `2 * x`.
/// `C-unwind`, like the JIT functions' type: when one coroutine fails, the
/// others are dropped while suspended here, by an unwind through the JIT
/// frames, which an `extern "C"` function would turn into an abort that
/// hides the failure.
extern "C-unwind" fn rt_yield(x: i64) -> i64 {
    let (y, thread) = CURRENT.get();
    assert!(!y.is_null(), "rt_yield outside a coroutine");
    // SAFETY: the coroutine that set CURRENT is the one running this call
    // (each sets it right before calling JIT code and nothing else runs
    // between); its yielder and the registration outlive the call.
    let (y, thread) = unsafe { (&*y, &*thread) };
    thread.switch_stack(|| y.suspend(()));
    2 * x
}

fn cc(k: usize) -> Option<Vec<u8>> {
    let dir = common::scratch_dir("codepool-pool-coroutines");
    let (c, o) = (
        dir.join(format!("input{k}.c")),
        dir.join(format!("input{k}.o")),
    );
    std::fs::write(&c, source(k)).unwrap();
    match Command::new("cc")
        .args(["-c", "-O2", "-fno-common", "-fno-omit-frame-pointer", "-o"])
        .arg(&o)
        .arg(&c)
        .status()
    {
        Err(e) => {
            eprintln!("skipping: cannot run cc: {e}");
            None
        }
        Ok(s) => {
            assert!(s.success(), "cc failed");
            Some(std::fs::read(&o).unwrap())
        }
    }
}

#[test]
fn jit_frames_on_suspended_coroutines_pin_their_code() {
    if common::skip_without_extensions() {
        return;
    }
    let Some(elfs) = (0..COPIES).map(cc).collect::<Option<Vec<_>>>() else {
        return;
    };
    let _watchdog = Watchdog::new();
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let stop = Stop::new();
    let collections = AtomicU64::new(0);
    let pinned_passes = AtomicU64::new(0);
    let kept = std::thread::scope(|sc| {
        let collector = sc.spawn(|| {
            code.with_jit_thread(|_| {
                while !stop.requested() {
                    arena.collect().unwrap();
                    arena.release();
                    collections.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            })
            .unwrap();
        });
        let _stop = stop.guard();
        code.with_jit_thread(|s| {
            let thread = s.thread();
            let mut env = Env::new();
            env.function("rt_yield", rt_yield as extern "C-unwind" fn(i64) -> i64);
            // Several copies, so that there is code to move around.
            let objects: Vec<_> = elfs
                .iter()
                .map(|elf| code.install_elf(elf, &env).unwrap())
                .collect();
            // Where the objects are once every coroutine is inside them.
            let mut addresses: Vec<usize> = Vec::new();
            let mut guards = Vec::new();
            let mut coroutines = Vec::new();
            // Each coroutine also holds a handle to a box of the heap, and a
            // borrow of it across every suspension.
            let heap = arena
                .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
                .unwrap();
            let mut ap = heap.ap().unwrap();
            let boxes: Vec<_> = (0..COROUTINES)
                .map(|c| s.alloc(&mut ap, Boxed::new(c as i64 * 7)).unwrap())
                .collect();
            for (c, &boxed) in boxes.iter().enumerate() {
                let stack = DefaultStack::new(64 << 10).unwrap();
                guards.push(
                    thread
                        .add_stack(stack.limit().get(), stack.base().get())
                        .unwrap(),
                );
                let k = c % COPIES;
                let object = &objects[k];
                coroutines.push(ScopedCoroutine::with_stack(stack, move |y: &Y, ()| {
                    // SAFETY: `outer<k>` is `long outer<k>(long)` of `source(k)`.
                    let outer = unsafe {
                        object.function::<extern "C-unwind" fn(i64) -> i64>(&format!("outer{k}"))
                    }
                    .unwrap();
                    let mut sum = 0;
                    for round in 0..ROUNDS {
                        let x = c as i64 * 100 + round;
                        boxed.with(|b: &Boxed| {
                            let at = b as *const Boxed as usize;
                            CURRENT.set((y, thread));
                            let r = outer.call((x,));
                            assert_eq!(r, expected(x), "coroutine {c}, round {round}");
                            // The box stayed put and intact under the
                            // borrow held across the suspension.
                            assert_eq!(b as *const Boxed as usize, at);
                            assert_eq!(b.value, c as i64 * 7);
                            sum += r;
                        });
                    }
                    sum
                }));
            }
            enter_all(coroutines, Vec::new(), &mut |cos| {
                let mut done = vec![false; cos.len()];
                let mut left = cos.len();
                while left > 0 {
                    for (i, co) in cos.iter_mut().enumerate() {
                        if done[i] {
                            continue;
                        }
                        if let CoroutineResult::Return(sum) =
                            thread.switch_stack(|| co.as_mut().resume(()))
                        {
                            // `enter_all` pops from the end: coroutine i of
                            // `cos` is number COROUTINES - 1 - i.
                            let c = (COROUTINES - 1 - i) as i64;
                            let want: i64 = (0..ROUNDS).map(|r| expected(c * 100 + r)).sum();
                            assert_eq!(sum, want);
                            done[i] = true;
                            left -= 1;
                        }
                    }
                    // Every coroutine is suspended inside JIT code now: let
                    // the other thread collect (twice) before going on.
                    let seen = collections.load(Ordering::Relaxed);
                    while collections.load(Ordering::Relaxed) < seen + 5 {
                        assert!(
                            !collector.is_finished(),
                            "the collecting thread ended early (its panic is above)"
                        );
                        std::thread::yield_now();
                    }
                    // While every coroutine is suspended inside JIT code
                    // (none has finished), every object has frames and
                    // must not have moved since it was installed.
                    if addresses.is_empty() {
                        addresses = objects.iter().map(|o| o.address()).collect();
                    } else if left == cos.len() {
                        let moved = objects
                            .iter()
                            .zip(&addresses)
                            .filter(|(o, &a)| o.address() != a)
                            .count();
                        assert_eq!(moved, 0, "code moved under suspended JIT frames");
                        pinned_passes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            drop(guards);
            (objects, addresses)
        })
        .unwrap()
    });
    // Once nothing runs in them, the collector may move them again. Collect
    // with this thread no longer registered: stale words of its stack (return
    // addresses into the code, left by the calls) would otherwise pin the
    // objects conservatively, and did in one debug run of three.
    // A collection need not move anything (one in five debug runs moved
    // nothing in three); up to 20 give it the chance.
    let (objects, addresses) = kept;
    let moved_now = || {
        objects
            .iter()
            .zip(&addresses)
            .filter(|(o, &a)| o.address() != a)
            .count()
    };
    for _ in 0..20 {
        arena.collect().unwrap();
        if moved_now() > 0 {
            break;
        }
    }
    let moved = moved_now();
    println!(
        "{} collections meanwhile, {} passes with every coroutine inside JIT code (no \
         object moved); after: {moved} of {COPIES} objects moved",
        collections.load(Ordering::Relaxed),
        pinned_passes.load(Ordering::Relaxed)
    );
    assert!(moved > 0, "the collector should move code nobody runs");
    assert!(collections.load(Ordering::Relaxed) > 0);
}

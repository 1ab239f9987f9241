//! Code-aware registrations end by identity, not by position (issue 15,
//! item 2).
//!
//! A coroutine (corosensei) enters `CodePool::with_jit_thread` for a pool
//! of arena A and suspends inside it, while the thread is inside
//! `with_jit_thread` for a pool of arena B; the B scope then ends first.
//! A JIT call into B's pool must now be refused: the thread's stack is no
//! longer scanned for arena B, so a collection of B could move the calling
//! code object under its own frame. Before the fix, ending the B scope
//! removed the last entry (A's), the call was accepted, a collection (run
//! by a runtime function the JIT code calls) moved the caller during its
//! own call, and the callee returned into the old copy.
//!
//! The scenario runs in a child process (this test binary, re-run with an
//! environment variable), so that a crash fails the test instead of taking
//! the test harness with it.

#![cfg(feature = "llvm")]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::gen::{self, compile};
use common::hang::output_within;
use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult};
use mps::Arena;

const CHILD: &str = "CODEPOOL_REGISTRATION_CHILD";

const CALLER: &str = r#"
declare i64 @rt_collect(i64)
declare i64 @leaf(i64)
define i64 @caller(i64 %x) {
  %a = call i64 @rt_collect(i64 %x)
  %b = call i64 @leaf(i64 %a)
  ret i64 %b
}
"#;

static ARENA_A: OnceLock<Arena> = OnceLock::new();
static ARENA_B: OnceLock<Arena> = OnceLock::new();
static POOL_A: OnceLock<CodePool<'static>> = OnceLock::new();
static POOL_B: OnceLock<CodePool<'static>> = OnceLock::new();
static CALLER_OBJECT: OnceLock<CodeObject<'static>> = OnceLock::new();
static LEAF_OBJECT: OnceLock<CodeObject<'static>> = OnceLock::new();
/// Did a collection in `rt_collect` move the caller under its frame?
static MOVED_DURING_CALL: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Collects arena B twice (the caller's object is recorded before and
/// after) and returns `x + 1`.
extern "C" fn rt_collect(x: i64) -> i64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let arena = ARENA_B.get().expect("arena B");
    let caller = CALLER_OBJECT.get().expect("the caller");
    for _ in 0..2 {
        let before = caller.address();
        arena.collect().unwrap();
        arena.release();
        if caller.address() != before {
            MOVED_DURING_CALL.store(true, Ordering::Relaxed);
        }
    }
    x + 1
}

fn caller() -> codepool::CodeRef<'static, extern "C" fn(i64) -> i64> {
    // SAFETY: `caller` is `i64 caller(i64)` with the C calling convention.
    unsafe { CALLER_OBJECT.get().unwrap().function("caller") }.unwrap()
}

/// The child: the scenario of the file's documentation. Prints `REFUSED`
/// if the call after the B scope is refused with the expected message.
#[test]
fn child_calls_after_an_out_of_order_scope_end() {
    if std::env::var_os(CHILD).is_none() || common::skip_without_extensions() {
        return; // only meaningful in the child process, with code pools
    }
    let a = ARENA_A.get_or_init(|| Arena::new().unwrap());
    // No spare memory: the old copy of a moved object is decommitted.
    let b = ARENA_B.get_or_init(|| Arena::builder().spare(0.0).build().unwrap());
    let pool_a = POOL_A.get_or_init(|| CodePool::new(a, &CodePoolOptions::default()).unwrap());
    let pool_b = POOL_B.get_or_init(|| CodePool::new(b, &CodePoolOptions::default()).unwrap());
    let (leaf_elf, caller_elf) = (
        compile("leaf", gen::LEAF_TIMES_3),
        compile("caller", CALLER),
    );

    // The coroutine's stack is added to the thread (through a
    // registration with an arena of its own, kept for the whole scenario),
    // so that `with_jit_thread` may run on it. No collection runs while
    // the coroutine is suspended, so the switches need not go through
    // `switch_stack`.
    let outer: &'static Arena = Box::leak(Box::new(Arena::new().unwrap()));
    outer
        .with_thread(|s| {
            let stack = DefaultStack::new(64 << 10).unwrap();
            let _guard = s
                .thread()
                .add_stack(stack.limit().get(), stack.base().get())
                .unwrap();
            let mut coroutine = pool_b
                .with_jit_thread(|_scope| {
                    let leaf = pool_b.install_elf(&leaf_elf, &Env::new()).unwrap();
                    assert!(LEAF_OBJECT.set(leaf).is_ok());
                    let mut env = Env::new();
                    env.function("rt_collect", rt_collect as extern "C" fn(i64) -> i64);
                    let object = pool_b.install_elf(&caller_elf, &env).unwrap();
                    assert!(CALLER_OBJECT.set(object).is_ok());
                    // Inside the B scope the caller is pinned while it runs.
                    assert_eq!(caller().call((1,)), 6);
                    assert!(!MOVED_DURING_CALL.load(Ordering::Relaxed));
                    let mut coroutine: Coroutine<(), (), ()> =
                        Coroutine::with_stack(stack, move |yielder, ()| {
                            pool_a
                                .with_jit_thread(|_scope| yielder.suspend(()))
                                .expect("registering the coroutine's thread with arena A");
                        });
                    assert!(matches!(coroutine.resume(()), CoroutineResult::Yield(())));
                    coroutine
                })
                .unwrap();

            // The B scope has ended; A's (the coroutine's) is still open.
            let outcome = catch_unwind(AssertUnwindSafe(|| caller().call((1,))));
            match outcome {
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_default();
                    assert!(
                        message.contains("CodeRef::call on a thread without a code-aware root"),
                        "unexpected panic: {message}"
                    );
                    println!("REFUSED");
                }
                Ok(value) => println!(
                    "ACCEPTED: the call returned {value} (expected 6), the caller moved during its \
                     own call: {}",
                    MOVED_DURING_CALL.load(Ordering::Relaxed)
                ),
            }
            assert!(matches!(coroutine.resume(()), CoroutineResult::Return(())));
        })
        .unwrap();
}

#[test]
fn a_jit_call_after_its_scope_ended_out_of_order_is_refused() {
    if common::skip_without_extensions() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = output_within(
        Command::new(exe)
            .args([
                "--exact",
                "child_calls_after_an_out_of_order_scope_end",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("REFUSED"),
        "the child failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

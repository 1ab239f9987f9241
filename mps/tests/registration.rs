//! Registrations end by identity, not by position (issue 15, item 2).
//!
//! A coroutine (corosensei) enters `Arena::with_thread` for arena A and
//! suspends inside it while the thread is inside `with_thread` for arena
//! B; the B scope then ends first. The thread is no longer registered with
//! B, so `Root::clear` on a root of B must be refused, and once the
//! coroutine's A scope ends too, nothing is left registered. Before the
//! fix the end of the B scope removed the *last* entry (A's), so the thread
//! still passed the check for B after B's registration and roots were
//! gone.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::Lisp;
use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult};
use mps::{Arena, Root};

/// The panic message of `f`, or `None` if it did not panic.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

/// A coroutine on `stack` that enters `arena` and suspends inside its
/// scope; the next resume ends the scope.
fn enter_and_suspend(arena: &'static Arena, stack: DefaultStack) -> Coroutine<(), (), ()> {
    Coroutine::with_stack(stack, move |yielder, ()| {
        arena
            .with_thread(|_scope| yielder.suspend(()))
            .expect("registering the coroutine's thread");
    })
}

/// Runs `f` with a coroutine stack that the thread has added
/// (`Thread::add_stack`, through a registration with an arena of its own,
/// kept for the whole test), so that `with_thread` may run on it. No
/// collection runs in these tests, so the switches need not go through
/// `switch_stack`.
fn with_coroutine_stack(f: impl FnOnce(DefaultStack)) {
    let outer: &'static Arena = Box::leak(Box::new(Arena::new().unwrap()));
    outer
        .with_thread(|s| {
            let stack = DefaultStack::new(64 << 10).unwrap();
            // Another MPS library has no stacks but the own one (and the
            // safe layer then cannot check where handles are used).
            let _guard = mps::sys::EXTENSIONS.then(|| {
                s.thread()
                    .add_stack(stack.limit().get(), stack.base().get())
                    .unwrap()
            });
            f(stack);
        })
        .unwrap();
}

#[test]
fn a_scope_that_ends_out_of_order_removes_its_own_registration() {
    with_coroutine_stack(out_of_order);
}

fn out_of_order(stack: DefaultStack) {
    let a: &'static Arena = Box::leak(Box::new(Arena::new().unwrap()));
    let b: &'static Arena = Box::leak(Box::new(Arena::new().unwrap()));
    let root_b: Root<'_, Lisp> = Root::exact(b, 4).unwrap();
    let root_a: Root<'_, Lisp> = Root::exact(a, 4).unwrap();

    // Inside B: the coroutine enters A and suspends there. Then B's scope
    // ends while A's is still open.
    let mut coroutine = b
        .with_thread(|_scope| {
            root_b.clear(); // registered with B: accepted
            let mut coroutine = enter_and_suspend(a, stack);
            assert!(matches!(coroutine.resume(()), CoroutineResult::Yield(())));
            root_b.clear(); // still inside B
            root_a.clear(); // and inside A (the suspended coroutine's scope)
            coroutine
        })
        .unwrap();

    // B's registration and roots are gone: its root must not be touched.
    let refused = panic_message(|| root_b.clear());
    assert!(
        refused
            .as_deref()
            .is_some_and(|m| m.contains("not registered with the root's arena")),
        "Root::clear was accepted on a thread no longer registered with the root's arena \
         (panic: {refused:?})"
    );
    // A's scope is still open (the coroutine is suspended inside it).
    root_a.clear();

    // End A's scope: now nothing is registered.
    assert!(matches!(coroutine.resume(()), CoroutineResult::Return(())));
    assert!(panic_message(|| root_a.clear()).is_some());
    assert!(panic_message(|| root_b.clear()).is_some());
}

#[test]
fn nested_scopes_of_one_arena_keep_it_registered_until_the_last_ends() {
    with_coroutine_stack(nested);
}

fn nested(stack: DefaultStack) {
    let a: &'static Arena = Box::leak(Box::new(Arena::new().unwrap()));
    let root: Root<'_, Lisp> = Root::exact(a, 1).unwrap();
    // The coroutine enters A, suspends; the main stack enters A as well,
    // the coroutine's scope ends inside it: still registered (the main
    // stack's entry is live), and no longer once that ends too.
    let mut coroutine = enter_and_suspend(a, stack);
    assert!(matches!(coroutine.resume(()), CoroutineResult::Yield(())));
    a.with_thread(|_scope| {
        assert!(matches!(coroutine.resume(()), CoroutineResult::Return(())));
        root.clear();
    })
    .unwrap();
    assert!(panic_message(|| root.clear()).is_some());
}

/// `with_thread` from a thread-local destructor: once the crate's own
/// per-thread records are gone (destructors run in reverse order of
/// registration, so a value first used before the thread registered is
/// destroyed after them), it returns `Error::Fail` instead of panicking
/// inside a destructor, which aborts the process.
#[test]
fn with_thread_in_a_thread_local_destructor_fails_cleanly() {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::OnceLock;

    static ARENA: OnceLock<&'static Arena> = OnceLock::new();
    /// 0: not run; 1: Ok; 2: Err(Fail); 3: another error.
    static OUTCOME: AtomicU8 = AtomicU8::new(0);

    struct AtExit;
    impl Drop for AtExit {
        fn drop(&mut self) {
            let arena = ARENA.get().expect("set before the thread started");
            let outcome = match arena.with_thread(|_| ()) {
                Ok(()) => 1,
                Err(mps::Error::Fail) => 2,
                Err(_) => 3,
            };
            OUTCOME.store(outcome, Ordering::SeqCst);
        }
    }
    std::thread_local! {
        static AT_EXIT: AtExit = const { AtExit };
    }

    ARENA.get_or_init(|| Box::leak(Box::new(Arena::new().unwrap())));
    std::thread::spawn(|| {
        AT_EXIT.with(|_| ()); // registered first, destroyed last
        ARENA.get().unwrap().with_thread(|_| ()).unwrap();
    })
    .join()
    .expect("the thread exits without a panic or an abort");
    let outcome = OUTCOME.load(Ordering::SeqCst);
    assert!(
        outcome == 1 || outcome == 2,
        "with_thread in a thread-local destructor gave outcome {outcome}"
    );
    println!("outcome: {}", if outcome == 1 { "Ok" } else { "Err(Fail)" });
}

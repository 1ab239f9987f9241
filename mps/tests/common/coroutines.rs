//! Running many `corosensei` coroutines at once, each borrowing from the
//! test (so `ScopedCoroutine`s, each usable only inside its own scope).
//!
//! Shared by the integration tests of `mps` and of `codepool` (which
//! includes this file by path), like `hang.rs`.

use corosensei::stack::DefaultStack;
use corosensei::{ScopedCoroutine, ScopedCoroutineRef};

/// A coroutine inside its scope.
pub type Co<'r, I, Y, R> = ScopedCoroutineRef<'r, I, Y, R, DefaultStack>;

/// What runs with every coroutine in its scope.
pub type RunAll<'f, I, Y, R> = dyn FnMut(&mut [Co<'_, I, Y, R>]) + 'f;

/// Enters the scope of every coroutine in `pending` (one nested scope
/// each), then calls `run` with all of them, in the reverse order of
/// `pending` (the last is entered first).
pub fn enter_all<'a, 'r, I, Y, R>(
    mut pending: Vec<ScopedCoroutine<'a, I, Y, R, DefaultStack>>,
    refs: Vec<Co<'r, I, Y, R>>,
    run: &mut RunAll<'_, I, Y, R>,
) {
    match pending.pop() {
        None => {
            let mut refs = refs;
            run(&mut refs);
        }
        Some(co) => co.scope(|r| {
            let mut all: Vec<Co<'_, I, Y, R>> = refs;
            all.push(r);
            enter_all(pending, all, run);
        }),
    }
}

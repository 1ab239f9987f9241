//! The collector's SIGSEGV handler (its write barrier) must coexist with
//! Rust's stack-overflow handler: once an arena exists, a thread that
//! overflows its stack must still be reported by Rust ("has overflowed its
//! stack") and abort, rather than hang in, or be swallowed by, the
//! barrier's handler. The overflow runs in a child process (this test
//! binary re-run with an environment variable), which is killed if it hangs.

mod common;

use std::process::Command;

use common::hang::output_within;
use mps::Arena;

const CHILD: &str = "MPS_STACK_OVERFLOW_CHILD";

#[inline(never)]
fn recurse(depth: u64, sink: &mut [u8; 256]) -> u64 {
    // Never true: the recursion ends by overflowing the stack.
    if depth == u64::MAX {
        return 0;
    }
    let mut local = [0u8; 256];
    local[(depth % 256) as usize] = depth as u8;
    sink[0] = sink[0].wrapping_add(local[0]);
    // The addition after the call keeps this from being a tail call.
    recurse(depth + 1, &mut local) + u64::from(std::hint::black_box(local[1]))
}

#[test]
fn stack_overflow_is_still_reported_with_an_arena() {
    if common::skip_unless_vendored(
        "a SIGSEGV handler that passes foreign faults on (Rust's stack-overflow report), \
         and mps_arena_collect on an empty heap returning OK",
    ) {
        return;
    }
    if std::env::var(CHILD).is_ok() {
        let arena = Arena::new().expect("arena");
        // Collect once, so that the barrier is armed as in real use.
        arena.collect().expect("collect");
        arena.release();
        let t = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let mut sink = [0u8; 256];
                recurse(0, &mut sink)
            })
            .expect("spawn");
        let _ = t.join();
        drop(arena);
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let out = output_within(
        Command::new(exe)
            .args([
                "--exact",
                "stack_overflow_is_still_reported_with_an_arena",
                "--nocapture",
            ])
            .env(CHILD, "1"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child survived a stack overflow");
    assert!(
        stderr.contains("has overflowed its stack"),
        "Rust's stack-overflow report is missing; stderr: {stderr}"
    );
}

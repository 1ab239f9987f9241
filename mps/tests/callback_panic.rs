//! A panic in a format method must not unwind into the collector: the
//! trampoline names the method on stderr and aborts the process. Each case
//! runs in a child process (this test binary, re-run with an environment
//! variable) so that the abort does not take the test harness with it, and
//! is killed if it hangs instead of aborting.

mod common;

use std::process::Command;
use std::ptr::NonNull;

use common::hang::output_within;
use common::Lisp;
use mps::{Ap, Arena, Error, Format, Handle, PoolClass, PoolOptions, ScanState, Scope};

const CHILD: &str = "MPS_CALLBACK_PANIC_CHILD";

/// The `Lisp` format, except that the method named by `CHILD` panics.
enum Panicky {}

fn panics_in(method: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|m| m == method)
}

// SAFETY: delegates to `Lisp` (a correct format) or panics.
unsafe impl Format for Panicky {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        assert!(!panics_in("scan"), "scan exploded");
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::scan(ss, base, limit) }
    }
    unsafe fn skip(addr: NonNull<u8>) -> NonNull<u8> {
        assert!(!panics_in("skip"), "skip exploded");
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::skip(addr) }
    }
    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::forward(old, new) }
    }
    unsafe fn is_forwarded(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::is_forwarded(addr) }
    }
    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::pad(base, size) }
    }
    unsafe fn find_dependent(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        assert!(!panics_in("find_dependent"), "find_dependent exploded");
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::find_dependent(addr) }
    }
}

/// The child: allocates pairs held by handles, in AMC and AWL, and
/// collects, which scans (and skips) them, and asks AWL objects for their
/// dependents.
#[test]
fn child_collects_with_a_panicking_format() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful in the child process
    }
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Panicky>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let awl = arena.awl(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut amc_ap = amc.ap().unwrap();
            let mut awl_ap = awl.ap().unwrap();
            let mut handles = Vec::new();
            for i in 0..100usize {
                let h = if i % 2 == 0 {
                    pair(s, &mut amc_ap, i)
                } else {
                    pair(s, &mut awl_ap, i)
                };
                handles.push(h);
            }
            arena.collect().unwrap();
        })
        .unwrap();
    eprintln!("child: the collection finished without calling the panicking method");
}

/// Allocates a `Lisp` pair of the `Panicky` format.
fn pair<'s, C: PoolClass>(
    s: &mut Scope<'s>,
    ap: &mut Ap<'_, Panicky, C>,
    i: usize,
) -> Handle<'s, Panicky> {
    // SAFETY: 32 bytes hold a well-formed `Lisp` pair (header, id, two null
    // references), in a pool that scans it (AMC or AWL).
    unsafe {
        s.alloc_raw(ap, 32, |base| {
            let p = base.cast::<usize>().as_ptr();
            p.write((4 << 8) | common::PAIR);
            p.add(1).write(i);
            p.add(2).write(0);
            p.add(3).write(0);
        })
    }
    .unwrap()
}

fn run_child(method: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = output_within(
        Command::new(exe)
            .args([
                "--exact",
                "child_collects_with_a_panicking_format",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, method),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("mps: panic in Format::{method}; aborting");
    assert!(
        stderr.contains(&expected),
        "stderr of the child does not contain {expected:?}:\n{stderr}"
    );
    assert!(
        !out.status.success(),
        "the child did not fail: {:?}",
        out.status
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(6),
            "the child was not aborted (SIGABRT): {:?}",
            out.status
        );
    }
}

#[test]
fn panic_in_scan_aborts_and_names_the_callback() {
    run_child("scan");
}

#[test]
fn panic_in_skip_aborts_and_names_the_callback() {
    run_child("skip");
}

#[test]
fn panic_in_find_dependent_aborts_and_names_the_callback() {
    run_child("find_dependent");
}

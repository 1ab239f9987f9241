//! The format methods never unwind into the collector and never go on with
//! a corrupt heap: a block with an unknown tag, or a code object that can no
//! longer be relinked, is reported on stderr (naming the method) and the
//! process aborts. Each case corrupts a code object on purpose, in a child
//! process (this test binary, re-run with an environment variable), so that
//! the abort does not take the test harness with it (and the child is
//! killed if it hangs instead of aborting).

#![cfg(feature = "llvm")]

mod common;

use std::process::Command;

use codepool::layout;
use codepool::sidecar::Target;
use codepool::{CodePool, CodePoolOptions, Env};
use common::gen::compile;
use common::hang::output_within;
use mps::Arena;

const CHILD: &str = "CODEPOOL_ABORT_CHILD";

/// Reads a fixed address with a 32-bit displacement (R_X86_64_PC32).
const NEAR_DATA: &str = r#"
@near = external dso_local global i64
define i64 @read_near() {
  %v = load i64, i64* @near
  ret i64 %v
}
"#;

/// The child: installs an object, corrupts it as `CHILD` says, collects.
#[test]
fn child_collects_a_corrupt_code_object() {
    if common::skip_without_extensions() {
        return;
    }
    let Ok(case) = std::env::var(CHILD) else {
        return; // only meaningful in the child process
    };
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let elf = compile("near", NEAR_DATA);
    code.with_jit_thread(|_| {
        let mut env = Env::new();
        // Inside code memory: in reach from everywhere in it.
        env.address("near", code.code_range().0 + 4096);
        let object = code.install_elf(&elf, &env).unwrap();
        let (at, size) = (object.address(), object.size());
        // SAFETY: deliberately corrupting the object (the point of the
        // test): `[at, at + size)` is the object, live and held by
        // `object`, in the pool's write view; writes to a protected page
        // are handled by the collector's barrier.
        let bytes = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, size) };
        match case.as_str() {
            "tag" => bytes[..4].copy_from_slice(b"JUNK"),
            "relink" => {
                // The runtime address is now out of reach of the 32-bit
                // displacement; and the header says the object was linked
                // elsewhere, so the next scan relinks it (moved or not),
                // which fails.
                layout::set_target_base(bytes, Target::Runtime(0), 0x1000).unwrap();
                bytes[8..16].copy_from_slice(&0u64.to_ne_bytes());
            }
            other => panic!("unknown case {other}"),
        }
        arena.collect().unwrap();
        drop(object);
    })
    .unwrap();
    eprintln!("the collection survived a corrupt code object");
}

fn run_child(case: &str) -> (Option<i32>, String) {
    let exe = std::env::current_exe().unwrap();
    let out = output_within(
        Command::new(exe)
            .args([
                "--exact",
                "child_collects_a_corrupt_code_object",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, case),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        (out.status.signal(), stderr)
    }
    #[cfg(not(unix))]
    (out.status.code(), stderr)
}

#[test]
fn an_unknown_tag_aborts_naming_the_method() {
    if common::skip_without_extensions() {
        return;
    }
    let (signal, stderr) = run_child("tag");
    assert_eq!(signal, Some(6), "expected SIGABRT; stderr:\n{stderr}");
    assert!(
        stderr.contains("codepool: format method") && stderr.contains("unknown tag"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn a_relink_failure_aborts_with_the_error() {
    if common::skip_without_extensions() {
        return;
    }
    let (signal, stderr) = run_child("relink");
    assert_eq!(signal, Some(6), "expected SIGABRT; stderr:\n{stderr}");
    assert!(
        stderr.contains("codepool: format method scan: relinking the code object at")
            && stderr.contains("out of reach"),
        "stderr:\n{stderr}"
    );
}

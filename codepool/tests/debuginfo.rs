//! Debuggers and profilers following moving code (`codepool::debuginfo`):
//! the perf map and the jitdump file match the census after collections; gdb (run in batch
//! mode on this test binary, when installed) names the JIT frames in `bt`
//! before and after they move, and stops in a JIT function by name
//! (`hbreak`).

#![cfg(feature = "llvm")]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::{debuginfo, CodeObject, CodePool, CodePoolOptions, Env};
use mps::Arena;

/// Where gdb stops after the JIT frames.
#[no_mangle]
#[inline(never)]
extern "C" fn codepool_test_rt_stop(x: i64) -> i64 {
    std::hint::black_box(x) + 1
}

/// `i64 name(i64 x) { return callee(x) + 1; }`.
fn link_ir(name: &str, callee: &str) -> String {
    format!(
        "declare i64 @{callee}(i64)
         define i64 @{name}(i64 %x) {{
           %r = call i64 @{callee}(i64 %x)
           %s = add i64 %r, 1
           ret i64 %s
         }}"
    )
}

fn install<'p>(code: &'p CodePool<'_>, ir: &str) -> CodeObject<'p> {
    let mut env = Env::new();
    env.function(
        "codepool_test_rt_stop",
        codepool_test_rt_stop as extern "C" fn(i64) -> i64,
    );
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "m");
    let module = context.create_module_from_ir(buffer).unwrap();
    code.install_module(&module, &env).unwrap()
}

/// Overwrites stale words below the caller's frame (old code addresses
/// there would pin objects).
#[inline(never)]
fn clobber_stack() {
    let buf = [0u8; 64 << 10];
    std::hint::black_box(&buf);
}

/// Collects until every object of `objects` has moved at least once (at
/// most 20 collections).
fn collect_until_moved(arena: &Arena, objects: &[&CodeObject<'_>]) {
    let mask = |o: &CodeObject<'_>| o.exec_address() ^ 0x5555_5555_5555_5555;
    let mut moved = vec![false; objects.len()];
    for _ in 0..20 {
        let before: Vec<usize> = objects.iter().map(|o| mask(o)).collect();
        clobber_stack();
        arena.collect().unwrap();
        arena.release();
        for (i, o) in objects.iter().enumerate() {
            moved[i] |= mask(o) != before[i];
        }
        if moved.iter().all(|&m| m) {
            return;
        }
    }
    panic!("objects that never moved: {moved:?}");
}

/// The perf map's lines: (address, name).
fn read_perf_map() -> BTreeSet<(usize, String)> {
    let text = std::fs::read_to_string(debuginfo::perf_map_path()).unwrap();
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let start = usize::from_str_radix(parts.next().unwrap(), 16).unwrap();
            let size = usize::from_str_radix(parts.next().unwrap(), 16).unwrap();
            assert!(size > 0, "{line}");
            (start, parts.next().unwrap().to_owned())
        })
        .collect()
}

/// Replays the jitdump file: each function's name -> its last address;
/// checks that every move starts where the function was.
fn replay_jitdump() -> HashMap<String, usize> {
    let bytes = std::fs::read(debuginfo::jitdump_path()).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(u32_at(0), 0x4A69_5444, "magic");
    assert_eq!(u32_at(8), 40, "header size");
    let mut by_index: HashMap<usize, (String, usize)> = HashMap::new();
    let mut at = 40;
    while at < bytes.len() {
        let (id, total) = (u32_at(at), u32_at(at + 4) as usize);
        let body = at + 16;
        match id {
            0 => {
                let (addr, index) = (u64_at(body + 16), u64_at(body + 32));
                let name_end = body + 40 + bytes[body + 40..].iter().position(|&b| b == 0).unwrap();
                let name = String::from_utf8(bytes[body + 40..name_end].to_vec()).unwrap();
                by_index.insert(index, (name, addr));
            }
            1 => {
                let (old, new, index) = (u64_at(body + 16), u64_at(body + 24), u64_at(body + 40));
                let entry = by_index
                    .get_mut(&index)
                    .expect("a move of a loaded function");
                assert_eq!(entry.1, old, "{} moved from where it was not", entry.0);
                entry.1 = new;
            }
            other => panic!("unexpected record {other}"),
        }
        at += total;
    }
    by_index.into_values().collect()
}

#[test]
fn the_perf_map_follows_the_census() {
    if common::skip_without_extensions() {
        return;
    }
    debuginfo::enable_perf_map();
    debuginfo::enable_jitdump();
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let mut objects: Vec<Option<CodeObject<'_>>> = (0..30)
            .map(|i| {
                Some(install(
                    &code,
                    &link_ir(&format!("perf_f{i}"), "codepool_test_rt_stop"),
                ))
            })
            .collect();
        for round in 0..3 {
            for (i, o) in objects.iter_mut().enumerate() {
                if i % 4 == round {
                    *o = None;
                }
            }
            let held: Vec<&CodeObject<'_>> = objects.iter().flatten().collect();
            collect_until_moved(&arena, &held);
            // Parked: nothing moves until the checks are done.
            let census = code.census().unwrap();
            debuginfo::sync().unwrap();
            let map = read_perf_map();
            let expected: BTreeSet<(usize, String)> = held
                .iter()
                .map(|o| {
                    let e = &o.entries()[0];
                    (o.exec_address() + e.offset as usize, e.name.clone())
                })
                .collect();
            assert_eq!(census.objects.objects, held.len());
            // Every live function at its current address; the other lines
            // are where functions were before they moved or died, none
            // over a live object.
            assert!(map.is_superset(&expected), "round {round}");
            let objects = code.registered_objects();
            assert_eq!(objects.len(), census.objects.objects);
            for (start, name) in map.difference(&expected) {
                assert!(
                    !objects
                        .iter()
                        .any(|o| (o.base..o.base + o.size).contains(start)),
                    "round {round}: {name} at {start:#x} lies in a live object"
                );
            }
            // The jitdump's loads and moves end where the functions are.
            let replayed = replay_jitdump();
            for (start, name) in &expected {
                assert_eq!(replayed.get(name), Some(start), "round {round}: {name}");
            }
            arena.release();
        }
    })
    .unwrap();
}

/// Prints where `object`'s function is (not inlined: the address would
/// stay in the caller's frame and pin the object).
#[inline(never)]
fn show(when: &str, object: &CodeObject<'_>) {
    println!("{when}: jit_beta at {:#x}", object.exec_address());
}

/// Calls `f(x)` and checks the result (not inlined, as `show`).
#[inline(never)]
fn call(f: &codepool::CodeRef<'_, extern "C" fn(i64) -> i64>, x: i64, expected: i64) {
    assert_eq!(f.call((x,)), expected);
}

/// Run by `gdb_names_jit_functions` under gdb: calls three JIT functions
/// (gamma calls beta calls alpha calls the runtime's stop function) before
/// and after they move.
#[test]
#[ignore = "run under gdb by gdb_names_jit_functions"]
fn gdb_target() {
    debuginfo::enable_gdb();
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| gdb_target_calls(&arena, &code))
        .unwrap();
}

/// The body of `gdb_target`, a frame of its own that gdb must show by
/// name: in a release build the test function and the closure are
/// inlined into their callers.
#[inline(never)]
fn gdb_target_calls(arena: &Arena, code: &CodePool) {
    let alpha = install(code, &link_ir("jit_alpha", "codepool_test_rt_stop"));
    let beta = install(code, &link_ir("jit_beta", "jit_alpha"));
    let gamma = install(code, &link_ir("jit_gamma", "jit_beta"));
    // SAFETY: `jit_gamma` is `i64 (i64)`.
    let f = unsafe { gamma.function::<extern "C" fn(i64) -> i64>("jit_gamma") }.unwrap();
    debuginfo::sync().unwrap();
    show("before", &beta);
    call(&f, 1, 5);
    // The entry, gamma, may stay pinned by a stale copy of its address
    // from the call; alpha and beta must move.
    collect_until_moved(arena, &[&alpha, &beta]);
    debuginfo::sync().unwrap();
    show("after", &beta);
    call(&f, 2, 6);
    // gdb now breaks in jit_beta, by name, at its new address.
    call(&f, 3, 7);
}

#[test]
fn gdb_names_jit_functions() {
    if common::skip_without_extensions() {
        return;
    }
    if Command::new("gdb").arg("--version").output().is_err() {
        eprintln!("skipped: gdb is not installed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("gdb")
        .args(["-batch", "-nx"])
        .args(["-ex", "set pagination off"])
        .args(["-ex", "set breakpoint pending on"])
        .args(["-ex", "break codepool_test_rt_stop"])
        .args(["-ex", "run"])
        // Stopped below the JIT frames, before they move.
        .args(["-ex", "echo @@STOP1\\n"])
        .args(["-ex", "bt"])
        .args(["-ex", "continue"])
        // After they moved.
        .args(["-ex", "echo @@STOP2\\n"])
        .args(["-ex", "bt"])
        .args(["-ex", "echo @@FUNCTIONS\\n"])
        .args(["-ex", "info functions ^jit_"])
        // A JIT function by name, with a hardware breakpoint: gdb cannot
        // write an int3 into the read-execute view (a shared mapping), and
        // a debug register is never copied when code moves.
        .args(["-ex", "delete 1"])
        .args(["-ex", "hbreak jit_beta"])
        .args(["-ex", "continue"])
        .args(["-ex", "echo @@STOP3\\n"])
        .args(["-ex", "bt"])
        .args(["-ex", "continue"])
        .arg("--args")
        .arg(&exe)
        .args([
            "gdb_target",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("ptrace: Operation not permitted") {
        eprintln!("skipped: gdb cannot trace here:\n{text}");
        return;
    }
    let section = |from: &str, to: &str| -> String {
        let start = text
            .find(from)
            .unwrap_or_else(|| panic!("no {from} in gdb's output:\n{text}"));
        let end = text[start..].find(to).map_or(text.len(), |e| start + e);
        text[start..end].to_owned()
    };
    for (name, from, to) in [
        ("before the moves", "@@STOP1", "@@STOP2"),
        ("after the moves", "@@STOP2", "@@FUNCTIONS"),
    ] {
        let bt = section(from, to);
        for f in ["jit_alpha", "jit_beta", "jit_gamma", "gdb_target"] {
            assert!(bt.contains(f), "{name}: {f} missing from bt:\n{text}");
        }
    }
    // gdb lists the JIT functions by name.
    let functions = section("@@FUNCTIONS", "@@STOP3");
    for f in ["jit_alpha", "jit_beta", "jit_gamma"] {
        assert!(
            functions.contains(f),
            "info functions: {f} missing:\n{text}"
        );
    }
    let stop3 = section("@@STOP3", "\u{0}");
    println!("{stop3}");
    let first = stop3.lines().find(|l| l.starts_with("#0")).unwrap_or("");
    assert!(
        first.contains("jit_beta") && stop3.contains("jit_gamma"),
        "gdb did not stop in jit_beta by name:\n{text}"
    );
    // The JIT functions did move between the two backtraces.
    let at = |label: &str| {
        let line = text.lines().find(|l| l.starts_with(label)).unwrap();
        line.rsplit(' ').next().unwrap().to_owned()
    };
    assert_ne!(at("before: jit_beta"), at("after: jit_beta"), "{text}");
}

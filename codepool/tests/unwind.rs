//! Unwinding through JIT frames while the collector moves code
//! (`codepool::unwind`): a Rust panic from an `extern "C-unwind"` runtime
//! function reaches `catch_unwind` through three code objects that moved
//! before and during the call chain, dropping Rust values on the way; a
//! backtrace walks through them; the registry follows moves and deaths;
//! threads unwind while another thread collects.

#![cfg(feature = "llvm")]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use mps::Arena;

/// The arena `rt_collect` collects (one test at a time uses it: each test
/// that sets it holds `ARENA_LOCK`).
static ARENA: AtomicPtr<mps::sys::mps_arena_s> = AtomicPtr::new(std::ptr::null_mut());
static ARENA_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

std::thread_local! {
    /// Values dropped on this thread.
    static DROPPED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn dropped() -> usize {
    DROPPED.with(std::cell::Cell::get)
}

struct CountsDrop;

impl Drop for CountsDrop {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
    }
}

std::thread_local! {
    static BACKTRACE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Panics when `x` is 13, after capturing a backtrace when `x` is 7.
extern "C-unwind" fn rt_panic(x: i64) -> i64 {
    let _guard = CountsDrop;
    if x == 7 {
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        BACKTRACE.with(|b| *b.borrow_mut() = Some(bt));
    }
    if x == 13 {
        panic!("thirteen from the runtime");
    }
    x * 10
}

/// A full collection of `ARENA` (then released), from inside JIT code.
extern "C-unwind" fn rt_collect() {
    let arena = ARENA.load(Ordering::SeqCst);
    if !arena.is_null() {
        clobber_stack();
        // SAFETY: the test's arena, alive while the test runs.
        unsafe {
            assert_eq!(mps::sys::mps_arena_collect(arena), 0);
            mps::sys::mps_arena_release(arena);
        }
    }
}

/// `i64 name(i64 x) { return callee(x) + k; }`.
fn link_ir(name: &str, callee: &str, k: i64) -> String {
    format!(
        "declare i64 @{callee}(i64)
         define i64 @{name}(i64 %x) {{
           %r = call i64 @{callee}(i64 %x)
           %s = add i64 %r, {k}
           ret i64 %s
         }}"
    )
}

/// a(x) = b(x) + 3 after a collection; b(x) = c(x) + 2 and
/// c(x) = rt_panic(x) + 1 (`link_ir`).
/// `i64 name(i64 x) { rt_collect(); return callee(x) + 3; }`.
fn collect_ir(name: &str, callee: &str) -> String {
    format!(
        "declare i64 @{callee}(i64)
         declare void @rt_collect()
         define i64 @{name}(i64 %x) {{
           call void @rt_collect()
           %r = call i64 @{callee}(i64 %x)
           %s = add i64 %r, 3
           ret i64 %s
         }}"
    )
}

/// An object's address, disguised: an address on the stack would pin it.
#[inline(never)]
fn masked(object: &CodeObject<'_>) -> usize {
    // Not inlined, and opaque to the optimizer: inlined, the XOR could be
    // undone (comparing masked values is comparing addresses) and the raw
    // address kept in a register across a collection, pinning the object.
    std::hint::black_box(object.exec_address() ^ 0x5555_5555_5555_5555)
}

/// Overwrites stale words below the caller's frame (old addresses of code
/// objects there would pin them).
#[inline(never)]
fn clobber_stack() {
    let buf = [0u8; 16 << 10];
    std::hint::black_box(&buf);
}

fn install<'p>(code: &'p CodePool<'_>, env: &Env<'_>, ir: &str) -> CodeObject<'p> {
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "m");
    let module = context.create_module_from_ir(buffer).unwrap();
    code.install_module(&module, env).unwrap()
}

fn env() -> Env<'static> {
    let mut env = Env::new();
    env.function("rt_panic", rt_panic as extern "C-unwind" fn(i64) -> i64);
    env.function("rt_collect", rt_collect as extern "C-unwind" fn());
    env
}

/// Checks that every held object is registered at its current address,
/// and that no two registered ranges overlap (no stale copy).
#[inline(never)]
fn check_registry(code: &CodePool<'_>, held: &[&CodeObject<'_>]) {
    let registered = code.registered_objects();
    let mut ranges: Vec<(usize, usize)> = registered.iter().map(|r| (r.base, r.size)).collect();
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(
            w[0].0 + w[0].1 <= w[1].0,
            "overlapping registrations {w:x?}"
        );
    }
    for object in held {
        let base = object.exec_address();
        let r = registered
            .iter()
            .find(|r| r.base == base)
            .unwrap_or_else(|| panic!("the object at {base:#x} is not registered"));
        assert!(!r.fdes.is_empty(), "no FDE registered for {base:#x}");
        for &(start, len) in &r.fdes {
            assert!(start >= base && start + len <= base + r.size);
        }
    }
}

#[test]
fn a_panic_unwinds_through_moving_jit_frames() {
    if common::skip_without_extensions() {
        return;
    }
    let _lock = ARENA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| a_panic_unwinds_through_moving_jit_frames_body(&arena, &code))
        .unwrap();
}

/// The body, a frame of its own that the backtrace must reach by name: in
/// a release build the test function and the closure are inlined.
#[inline(never)]
fn a_panic_unwinds_through_moving_jit_frames_body(arena: &Arena, code: &CodePool<'_>) {
    let env = env();
    let c = install(code, &env, &link_ir("c", "rt_panic", 1));
    let b = install(code, &env, &link_ir("b", "c", 2));
    let a = install(code, &env, &collect_ir("a", "b"));
    // SAFETY: `a` is `i64 a(i64)`, and may unwind.
    let f = unsafe { a.function::<extern "C-unwind" fn(i64) -> i64>("a") }.unwrap();
    check_registry(code, &[&a, &b, &c]);

    // Moved before the call (a stale copy of an address on the stack
    // may pin an object for a collection or two).
    let mut moved = [false; 3];
    for _ in 0..20 {
        let before = [masked(&a), masked(&b), masked(&c)];
        clobber_stack();
        arena.collect().unwrap();
        arena.release();
        let after = [masked(&a), masked(&b), masked(&c)];
        for i in 0..3 {
            moved[i] |= before[i] != after[i];
        }
        check_registry(code, &[&a, &b, &c]);
        if moved == [true; 3] {
            break;
        }
    }
    assert_eq!(moved, [true; 3], "objects that never moved");

    // Moved during the call: `a` collects before calling `b` (only `a`
    // has a frame, so `b` and `c` move), then `c` panics.
    ARENA.store(arena.as_raw(), Ordering::SeqCst);
    assert_eq!(f.call((4,)), 46);
    let mut moved_during = false;
    for _ in 0..20 {
        let dropped_before = dropped();
        let b_before = masked(&b);
        clobber_stack();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _guard = CountsDrop;
            f.call((13,))
        }));
        let payload = result.expect_err("the panic reached catch_unwind");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"thirteen from the runtime")
        );
        // The runtime function's value and the closure's were dropped.
        assert_eq!(dropped(), dropped_before + 2);
        check_registry(code, &[&a, &b, &c]);
        moved_during |= masked(&b) != b_before;
        if moved_during {
            break;
        }
    }
    assert!(moved_during, "b never moved during a call");

    // A backtrace taken below the three JIT frames walks through them
    // to this test function.
    assert_eq!(f.call((7,)), 76);
    let bt = BACKTRACE.with(|b| b.borrow_mut().take()).unwrap();
    assert!(
        bt.contains("a_panic_unwinds_through_moving_jit_frames"),
        "the backtrace stopped in JIT code:\n{bt}"
    );
    // The JIT frames are named by codepool::unwind::symbolize.
    assert_eq!(
        codepool::unwind::symbolize(b.exec_address() + b.entry_offset("b").unwrap() as usize + 1),
        Some(("b".to_owned(), 1))
    );
    ARENA.store(std::ptr::null_mut(), Ordering::SeqCst);
}

#[test]
fn the_registry_follows_moves_and_deaths() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let env = env();
        let mut objects: Vec<Option<CodeObject<'_>>> = Vec::new();
        for i in 0..40 {
            let ir = link_ir(&format!("g{i}"), "rt_panic", i);
            objects.push(Some(install(&code, &env, &ir)));
        }
        for round in 0..4 {
            // Drop every third of what is left, then collect.
            for (i, o) in objects.iter_mut().enumerate() {
                if i % 3 == round % 3 {
                    *o = None;
                }
            }
            clobber_stack();
            arena.collect().unwrap();
            let held: Vec<&CodeObject<'_>> = objects.iter().flatten().collect();
            check_registry(&code, &held);
            // After a full collection the census holds the live objects
            // (and any a stale address on the stack keeps, which the
            // optimizer may leave in a register), and exactly they are
            // registered.
            let census = code.census().unwrap();
            assert_eq!(code.registered_objects().len(), census.objects.objects);
            assert!(census.objects.objects >= held.len());
            assert!(census.objects.objects <= held.len() + 2);
            arena.release();
        }
        drop(objects);
        // Every object dies and leaves the registry once no stale address
        // pins it.
        for _ in 0..10 {
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            if code.registered_objects().is_empty() {
                break;
            }
        }
        assert!(code.registered_objects().is_empty());
    })
    .unwrap();
}

#[test]
fn threads_unwind_while_another_collects() {
    if common::skip_without_extensions() {
        return;
    }
    const THREADS: usize = 3;
    const CALLS: usize = 200;
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let env = env();
    let objects = code
        .with_jit_thread(|_| {
            let c = install(&code, &env, &link_ir("c", "rt_panic", 1));
            let b = install(&code, &env, &link_ir("b", "c", 2));
            (c, b)
        })
        .unwrap();
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                code.with_jit_thread(|_| {
                    // SAFETY: `b` is `i64 b(i64)`, and may unwind.
                    let f = unsafe { objects.1.function::<extern "C-unwind" fn(i64) -> i64>("b") }
                        .unwrap();
                    for i in 0..CALLS {
                        clobber_stack();
                        let r = catch_unwind(AssertUnwindSafe(|| f.call((13,))));
                        assert!(r.is_err(), "call {i} did not panic");
                        assert_eq!(f.call((1,)), 13);
                    }
                })
                .unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        s.spawn(|| {
            code.with_jit_thread(|_| {
                let moved = code.stats().collector.objects_moved;
                let mut garbage = Vec::new();
                let mut round = 0;
                while done.load(Ordering::SeqCst) < THREADS {
                    // New objects to move, and old ones to die, while the
                    // other threads look their neighbours up.
                    let ir = link_ir(&format!("c{round}"), "rt_panic", 1);
                    garbage.push(install(&code, &self::env(), &ir));
                    if garbage.len() > 4 {
                        garbage.remove(0);
                    }
                    round += 1;
                    clobber_stack();
                    arena.collect().unwrap();
                    arena.release();
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                assert!(
                    code.stats().collector.objects_moved > moved,
                    "nothing moved while the threads unwound"
                );
            })
            .unwrap();
        });
    });
    drop(objects);
}

const CPP_RUNTIME: &str = r#"
#include <stdexcept>

static long destroyed = 0;
struct Guard {
    ~Guard() { ++destroyed; }
};

extern "C" long rt_throw(long x) {
    Guard guard;
    if (x == 13)
        throw std::runtime_error("thirteen from C++");
    return x * 10;
}

/* Calls f(x) and catches what it throws: -1, and the guards destroyed. */
extern "C" long cpp_catch(long (*f)(long), long x, long *destroyed_o) {
    Guard guard;
    long r;
    try {
        r = f(x);
    } catch (const std::runtime_error &) {
        r = -1;
    }
    *destroyed_o = destroyed;
    return r;
}
"#;

/// Builds `CPP_RUNTIME` into a shared library with the system C++
/// compiler and opens it; `None` (the test is skipped) without one.
fn cpp_runtime() -> Option<*mut core::ffi::c_void> {
    let dir = common::scratch_dir("codepool-unwind-cpp");
    let src = dir.join("runtime.cpp");
    let lib = dir.join("libruntime.so");
    std::fs::write(&src, CPP_RUNTIME).unwrap();
    let status = std::process::Command::new("c++")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .status();
    match status {
        Err(e) => {
            eprintln!("skipped: cannot run c++: {e}");
            return None;
        }
        Ok(s) => assert!(s.success(), "c++ failed"),
    }
    let path = std::ffi::CString::new(lib.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path of a library built above.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen failed");
    Some(handle)
}

fn symbol(handle: *mut core::ffi::c_void, name: &core::ffi::CStr) -> usize {
    // SAFETY: a live handle and a NUL-terminated name.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    assert!(!p.is_null(), "{name:?} not found");
    p as usize
}

#[test]
fn a_cpp_exception_unwinds_through_moving_jit_frames() {
    if common::skip_without_extensions() {
        return;
    }
    let Some(lib) = cpp_runtime() else {
        return;
    };
    type Catch = unsafe extern "C" fn(usize, i64, *mut i64) -> i64;
    // SAFETY: `cpp_catch` has this signature (CPP_RUNTIME).
    let cpp_catch: Catch = unsafe { core::mem::transmute(symbol(lib, c"cpp_catch")) };
    let rt_throw = symbol(lib, c"rt_throw");
    let _lock = ARENA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let mut env = env();
        env.address("rt_throw", rt_throw);
        let c = install(&code, &env, &link_ir("c", "rt_throw", 1));
        let b = install(&code, &env, &link_ir("b", "c", 2));
        let a = install(&code, &env, &collect_ir("a", "b"));
        // SAFETY: `a` is `i64 a(i64)`, and may unwind.
        let f = unsafe { a.function::<extern "C-unwind" fn(i64) -> i64>("a") }.unwrap();
        ARENA.store(arena.as_raw(), Ordering::SeqCst);
        let moved_before = code.stats().collector.objects_moved;
        let mut moved_during = false;
        let mut expected = 0;
        for _ in 0..20 {
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            let b_before = masked(&b);
            let mut destroyed = 0;
            // SAFETY: `f`'s entry is `i64 (i64)`; the thread runs JIT code
            // inside with_jit_thread, so the frames are pinned.
            let r = unsafe { cpp_catch(f.exec_address(), 13, &mut destroyed) };
            assert_eq!(r, -1, "the exception was not caught");
            // rt_throw's guard was destroyed by the unwinding (and the
            // previous call's cpp_catch guard after it returned).
            expected += 1;
            assert_eq!(destroyed, expected);
            // SAFETY: as above.
            let r = unsafe { cpp_catch(f.exec_address(), 4, &mut destroyed) };
            assert_eq!(r, 46);
            expected += 2;
            assert_eq!(destroyed, expected);
            expected += 1;
            check_registry(&code, &[&a, &b, &c]);
            moved_during |= masked(&b) != b_before;
            if moved_during {
                break;
            }
        }
        assert!(moved_during, "b never moved during a call");
        assert!(code.stats().collector.objects_moved > moved_before);
        ARENA.store(std::ptr::null_mut(), Ordering::SeqCst);
    })
    .unwrap();
}

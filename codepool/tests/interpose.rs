//! Redefining recursive functions (issue 16): an object calls its own
//! global, default-visibility functions through target records bound by
//! name to itself (`CodePoolOptions::interpose`, the default), so a
//! redefinition rebinds the old definition's calls to itself like any
//! other caller's: recursion in old code reaches the new definition,
//! frames already running finish where they are, and old code is freed
//! once nothing refers to it. Hidden and internal functions, and a pool
//! with `interpose` off, keep their calls inside the object.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use codepool::{CodeObject, CodePool, CodePoolOptions, Env};
use common::gen::compile;
use mps::Arena;

type Unary = extern "C" fn(i64) -> i64;
type Nullary = extern "C" fn() -> i64;

/// Version `k` of `f`, with visibility `vis` (`""` or `"hidden"`):
///
/// ```text
/// f(n) = n                              if n < 2
///      = f(n-1) - f(n-2) + 1000 k       otherwise
/// ```
///
/// A subtraction, so that LLVM cannot turn either call into a loop (tail
/// recursion with an accumulator needs an associative operation); with
/// `pause`, the recursive case first calls `rt_pause(n)` (which returns
/// `n`). `f_addr()` returns the address of `f`.
fn f_ir(k: i64, vis: &str, pause: bool) -> String {
    let (decl, m) = if pause {
        (
            "declare i64 @rt_pause(i64)\n",
            "%m = call i64 @rt_pause(i64 %n)",
        )
    } else {
        ("", "%m = add i64 %n, 0")
    };
    format!(
        "{decl}define {vis} i64 @f(i64 %n) {{
  %recurse = icmp sgt i64 %n, 1
  br i1 %recurse, label %rec, label %leaf
leaf:
  ret i64 %n
rec:
  {m}
  %a = sub i64 %m, 1
  %x = call i64 @f(i64 %a)
  %b = sub i64 %m, 2
  %y = call i64 @f(i64 %b)
  %d = sub i64 %x, %y
  %s = add i64 %d, {}
  ret i64 %s
}}
define {vis} i64 @f_addr() {{
  ret i64 ptrtoint (i64 (i64)* @f to i64)
}}
",
        1000 * k
    )
}

/// `caller(n) = f(n)`, `f` in another object.
const CALLER: &str = "declare i64 @f(i64)
define i64 @caller(i64 %n) {
  %r = call i64 @f(i64 %n)
  ret i64 %r
}
";

/// What `f(n)` returns when its first frame runs version `top` and every
/// recursive call reaches version `rec`.
fn model(top: i64, rec: i64, n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        model(rec, rec, n - 1) - model(rec, rec, n - 2) + 1000 * top
    }
}

fn call(object: &CodeObject<'_>, name: &str, n: i64) -> i64 {
    // SAFETY: `f` and `caller` are `i64 f(i64)`.
    unsafe { object.function::<Unary>(name) }
        .expect("exported")
        .call((n,))
}

fn f_addr(object: &CodeObject<'_>) -> usize {
    // SAFETY: `f_addr` is `i64 f_addr()`.
    unsafe { object.function::<Nullary>("f_addr") }
        .expect("exported")
        .call(()) as usize
}

/// The execute-view address of `object`'s `f`.
fn f_of(object: &CodeObject<'_>) -> usize {
    object.exec_address() + object.entry_offset("f").unwrap() as usize
}

fn census_objects(arena: &Arena, code: &CodePool<'_>) -> usize {
    let n = code.census().unwrap().objects.objects;
    arena.release();
    n
}

#[test]
fn recursion_in_old_code_reaches_the_new_definition() {
    if common::skip_without_extensions() {
        return;
    }
    const N: i64 = 12;
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let versions: Vec<Vec<u8>> = (0..=3)
        .map(|k| compile(&format!("f{k}"), &f_ir(k, "", false)))
        .collect();
    let caller_elf = compile("caller", CALLER);
    let objects = code
        .with_jit_thread(|_| {
            let v1 = code.install_elf(&versions[1], &Env::new()).unwrap();
            let caller = code.install_elf(&caller_elf, &Env::new()).unwrap();
            // One record for f, bound to the object itself (its calls and
            // the address taken in f_addr share it).
            assert_eq!(v1.layout_stats().own_targets, 1);
            assert_eq!(call(&v1, "f", N), model(1, 1, N));
            assert_eq!(call(&caller, "caller", N), model(1, 1, N));
            arena.park();
            assert_eq!(f_addr(&v1), f_of(&v1));
            arena.release();

            let v2 = code.redefine_elf(&versions[2], &Env::new()).unwrap();
            assert_eq!(call(&caller, "caller", N), model(2, 2, N));
            assert_eq!(call(&v2, "f", N), model(2, 2, N));
            // The old f, called through the object still held: its first
            // frame runs the old code, its recursive calls the new one.
            assert_eq!(call(&v1, "f", N), model(1, 2, N));
            assert_ne!(model(1, 2, N), model(1, 1, N));
            // The address the old code takes is the new f's.
            arena.park();
            assert_eq!(f_addr(&v1), f_of(&v2));
            arena.release();

            // Collections move the code; the bindings follow.
            let moved = code.stats().collector.objects_moved;
            for _ in 0..3 {
                arena.collect().unwrap();
                arena.release();
                assert_eq!(call(&v1, "f", N), model(1, 2, N));
                assert_eq!(call(&caller, "caller", N), model(2, 2, N));
            }
            assert!(
                code.stats().collector.objects_moved > moved,
                "nothing moved"
            );

            // A second redefinition rebinds both older objects: v1's record,
            // now bound to v2's f, is a caller of v2 like any other.
            let v3 = code.redefine_elf(&versions[3], &Env::new()).unwrap();
            assert_eq!(call(&v1, "f", N), model(1, 3, N));
            assert_eq!(call(&v2, "f", N), model(2, 3, N));
            assert_eq!(call(&caller, "caller", N), model(3, 3, N));
            assert_eq!(code.stats().redefinitions, 4, "f and f_addr, twice");

            (v1, v2, v3, caller)
        })
        .unwrap();
    // Nothing refers to v1 and v2 once dropped: both are freed (a
    // self-reference keeps nothing alive), v3 and the caller stay. (This
    // thread collects unregistered: its stack, which held addresses of
    // the old code, pins nothing.)
    let (v1, v2, v3, caller) = objects;
    drop((v1, v2));
    let freed = code.stats().collector.objects_freed;
    assert!(
        common::collect_until(&arena, || code.stats().collector.objects_freed >= freed + 2),
        "old definitions were not freed"
    );
    code.with_jit_thread(|_| {
        assert_eq!(census_objects(&arena, &code), 2);
        assert_eq!(call(&caller, "caller", N), model(3, 3, N));
        assert_eq!(call(&v3, "f", N), model(3, 3, N));
    })
    .unwrap();
}

static PAUSE_ARMED: AtomicBool = AtomicBool::new(false);
static PAUSED: AtomicBool = AtomicBool::new(false);
static RESUME: AtomicBool = AtomicBool::new(false);

/// Called by the paused version's recursive case: when armed, the first
/// call (the top frame) waits until the test resumes it.
extern "C" fn rt_pause(n: i64) -> i64 {
    if PAUSE_ARMED.swap(false, Ordering::SeqCst) {
        PAUSED.store(true, Ordering::SeqCst);
        while !RESUME.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    n
}

#[test]
fn a_paused_frame_finishes_in_old_code_and_recurses_into_the_new() {
    if common::skip_without_extensions() {
        return;
    }
    const N: i64 = 15;
    // (The model is periodic in n: at some n, as 14, the old and the new
    // recursion give the same result.)
    assert_ne!(model(1, 2, N), model(1, 1, N));
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let (v1, v2) = (
        compile("f1", &f_ir(1, "", true)),
        compile("f2", &f_ir(2, "", false)),
    );
    let mut env = Env::new();
    env.function("rt_pause", rt_pause as Unary);
    let old = code
        .with_jit_thread(|_| code.install_elf(&v1, &env).unwrap())
        .unwrap();
    std::thread::scope(|t| {
        let (old, code) = (&old, &code);
        PAUSE_ARMED.store(true, Ordering::SeqCst);
        let running = t.spawn(move || code.with_jit_thread(|_| call(old, "f", N)).unwrap());
        while !PAUSED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The other thread's top frame is in the old f (in rt_pause),
        // before its recursive calls.
        let new = code
            .with_jit_thread(|_| {
                let new = code.redefine_elf(&v2, &Env::new()).unwrap();
                // Collections while the old frame runs: its return address
                // pins the old code (its root slot alone would not), which
                // is relinked in place.
                let at = old.address();
                (0..3).for_each(|_| {
                    arena.collect().unwrap();
                    arena.release();
                });
                assert_eq!(old.address(), at, "the running old code moved");
                new
            })
            .unwrap();
        RESUME.store(true, Ordering::SeqCst);
        assert_eq!(
            running.join().unwrap(),
            model(1, 2, N),
            "the frame finishes in the old code, its recursive calls reach the new f"
        );
        drop(new);
    });
    drop(old);
    // Nothing refers to either object now.
    assert!(
        common::collect_until(&arena, || census_objects(&arena, &code) == 0),
        "old code was not freed"
    );
}

/// Threads calling while another redefines; versions of `f`; the
/// argument.
const CALLERS: usize = 2;
const VERSIONS: i64 = 10;
const N_LOOP: i64 = 16;

#[test]
fn threads_recurse_while_another_redefines() {
    if common::skip_without_extensions() {
        return;
    }
    const N: i64 = N_LOOP;
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let versions: Vec<Vec<u8>> = (0..=VERSIONS)
        .map(|k| compile(&format!("f{k}"), &f_ir(k, "", false)))
        .collect();
    let caller_elf = compile("caller", CALLER);
    // Every version gives distinct results, called directly or from v1.
    for k in 2..=VERSIONS {
        assert_ne!(model(k, k, N), model(k - 1, k - 1, N));
        assert_ne!(model(1, k, N), model(1, k - 1, N));
    }
    let [v1, caller] = code
        .with_jit_thread(|_| {
            [&versions[1], &caller_elf].map(|elf| code.install_elf(elf, &Env::new()))
        })
        .unwrap()
        .map(Result::unwrap);
    // `started` counts redefinitions begun, `published` those finished:
    // a call that begins after `published == k` and ends before
    // `started > k` saw version k alone. Others may mix versions.
    let started = AtomicUsize::new(1);
    let published = AtomicUsize::new(1);
    let done = AtomicBool::new(false);
    let start = Barrier::new(CALLERS + 1);
    let clean = AtomicUsize::new(0);
    let moved_before = code.stats().collector.objects_moved;
    let last = std::thread::scope(|t| {
        for id in 0..CALLERS {
            let (code, v1, caller, started, published, done, start, clean) = (
                &code, &v1, &caller, &started, &published, &done, &start, &clean,
            );
            // Calls `caller` and the old `f` until done; checks the calls
            // no redefinition overlapped.
            let check = move || {
                start.wait();
                let mut last = 1;
                while !done.load(Ordering::SeqCst) {
                    let k = published.load(Ordering::SeqCst);
                    let from_caller = call(caller, "caller", N);
                    let from_old = call(v1, "f", N);
                    if started.load(Ordering::SeqCst) == k {
                        let k = k as i64;
                        assert_eq!(from_caller, model(k, k, N), "thread {id}, version {k}");
                        assert_eq!(
                            from_old,
                            model(1, k, N),
                            "thread {id}: old code, version {k}"
                        );
                        assert!(k >= last, "thread {id}: version {k} after {last}");
                        last = k;
                        clean.fetch_add(1, Ordering::Relaxed);
                    }
                }
            };
            t.spawn(move || code.with_jit_thread(|_| check()).unwrap());
        }
        let redefine_all = || {
            start.wait();
            // Each version replaces the previous current one, which is
            // dropped (and freed later); a collection moves code between.
            let last = (2..=VERSIONS).fold(None, |_previous, k| {
                started.store(k as usize, Ordering::SeqCst);
                let object = code.redefine_elf(&versions[k as usize], &Env::new());
                published.store(k as usize, Ordering::SeqCst);
                assert_eq!(call(&v1, "f", N), model(1, k, N));
                arena.collect().unwrap();
                arena.release();
                std::thread::sleep(Duration::from_millis(3));
                Some(object.unwrap())
            });
            // Let the callers make clean calls of the last version.
            std::thread::sleep(Duration::from_millis(20));
            done.store(true, Ordering::SeqCst);
            last
        };
        code.with_jit_thread(|_| redefine_all()).unwrap()
    });
    println!(
        "{} calls no redefinition overlapped",
        clean.load(Ordering::Relaxed)
    );
    assert!(clean.load(Ordering::Relaxed) > 0, "no call ran alone");
    assert!(code.stats().collector.objects_moved > moved_before);
    assert_eq!(code.stats().redefinitions, 2 * (VERSIONS as u64 - 1));
    // The intermediate versions are unreferenced: v1 (held), the caller
    // and the last version remain.
    assert!(
        common::collect_until(&arena, || census_objects(&arena, &code) == 3),
        "intermediate versions were not freed"
    );
    code.with_jit_thread(|_| assert_eq!(call(&v1, "f", N), model(1, VERSIONS, N)))
        .unwrap();
    drop((v1, caller, last));
}

/// Redefines `f` (version 1 of visibility `vis`, in a pool with `options`)
/// and returns what the old object's `f(N)` gives afterwards, and whether
/// its `f_addr` still gives its own `f`.
fn old_after_redefinition(vis: &str, options: &CodePoolOptions<'_>) -> (i64, bool) {
    const N: i64 = 12;
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, options).unwrap();
    let (v1, v2) = (
        compile("f1", &f_ir(1, vis, false)),
        compile("f2", &f_ir(2, vis, false)),
    );
    let caller_elf = compile("caller", CALLER);
    code.with_jit_thread(|_| {
        let old = code.install_elf(&v1, &Env::new()).unwrap();
        assert_eq!(old.layout_stats().own_targets, 0, "nothing bound by name");
        let caller = code.install_elf(&caller_elf, &Env::new()).unwrap();
        let new = code.redefine_elf(&v2, &Env::new()).unwrap();
        // Other objects' calls are rebound as always.
        assert_eq!(call(&caller, "caller", N), model(2, 2, N));
        arena.collect().unwrap();
        let own = f_addr(&old) == f_of(&old);
        arena.release();
        drop(new);
        (call(&old, "f", N), own)
    })
    .unwrap()
}

#[test]
fn hidden_functions_are_not_rebound() {
    if common::skip_without_extensions() {
        return;
    }
    let (r, own) = old_after_redefinition("hidden", &CodePoolOptions::default());
    assert_ne!(model(1, 1, 12), model(1, 2, 12));
    assert_eq!(
        r,
        model(1, 1, 12),
        "the hidden f's recursion stays in the old code"
    );
    assert!(own, "the hidden f's address stays its own");
}

#[test]
fn without_interpose_calls_within_an_object_stay_inside() {
    if common::skip_without_extensions() {
        return;
    }
    let options = CodePoolOptions {
        interpose: Some(false),
        ..CodePoolOptions::default()
    };
    let (r, own) = old_after_redefinition("", &options);
    assert_eq!(r, model(1, 1, 12));
    assert!(own);
}

#[test]
fn internal_functions_are_not_rebound() {
    if common::skip_without_extensions() {
        return;
    }
    // The exported f calls an internal recursive helper: redefining f
    // leaves the old f running its own helper throughout.
    let ir = |k: i64| {
        f_ir(k, "internal", false)
            .replace("@f(", "@h(")
            .replace("@f_addr", "@h_addr")
            .replace("(i64 (i64)* @f to", "(i64 (i64)* @h to")
            + "define i64 @f(i64 %n) {\n  %r = call i64 @h(i64 %n)\n  ret i64 %r\n}\n"
    };
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let (v1, v2) = (compile("f1", &ir(1)), compile("f2", &ir(2)));
    code.with_jit_thread(|_| {
        let old = code.install_elf(&v1, &Env::new()).unwrap();
        assert_eq!(old.entries().len(), 1, "only f is exported");
        assert_eq!(old.layout_stats().own_targets, 0);
        let new = code.redefine_elf(&v2, &Env::new()).unwrap();
        arena.collect().unwrap();
        arena.release();
        assert_eq!(call(&old, "f", 12), model(1, 1, 12));
        assert_eq!(call(&new, "f", 12), model(2, 2, 12));
    })
    .unwrap();
}

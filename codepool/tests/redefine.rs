//! Redefinition with Lisp semantics (issue 16): a name gets a new
//! definition and every later call goes to it, through direct calls that
//! the pool relinks at a safe point; frames already running finish in the
//! old code, which is freed once nothing refers to it; threads keep
//! calling while another thread redefines.

#![cfg(feature = "llvm")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use codepool::{CodeObject, CodePool, CodePoolOptions, Env, InstallError};
use common::gen::compile;
use mps::Arena;

type Unary = extern "C" fn(i64) -> i64;

/// Version `k` of `g`: `g(x) = x + 1000 k`.
fn g_ir(k: i64) -> String {
    format!(
        "define i64 @g(i64 %x) {{\n  %y = add i64 %x, {}\n  ret i64 %y\n}}\n",
        1000 * k
    )
}

/// `caller(x) = g(x)`, `g` in another object.
const CALLER: &str = "declare i64 @g(i64)
define i64 @caller(i64 %x) {
  %r = call i64 @g(i64 %x)
  ret i64 %r
}
";

fn call(object: &CodeObject<'_>, name: &str, x: i64) -> i64 {
    // SAFETY: every function of these tests is `i64 f(i64)`.
    unsafe { object.function::<Unary>(name) }
        .expect("exported")
        .call((x,))
}

#[test]
fn callers_are_relinked_to_the_new_definition() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let (g1, g2, caller) = (
        compile("g1", &g_ir(1)),
        compile("g2", &g_ir(2)),
        compile("caller", CALLER),
    );
    let (_new, _caller, _caller2) = code
        .with_jit_thread(|_| {
            let old = code.install_elf(&g1, &Env::new()).unwrap();
            let caller = code.install_elf(&caller, &Env::new()).unwrap();
            assert_eq!(call(&caller, "caller", 5), 1005);
            // `install` still refuses a second definition.
            assert!(matches!(
                code.install_elf(&g2, &Env::new()),
                Err(InstallError::DuplicateSymbol { .. })
            ));
            let new = code.redefine_elf(&g2, &Env::new()).unwrap();
            assert_eq!(
                call(&caller, "caller", 5),
                2005,
                "the caller calls the new g"
            );
            assert_eq!(call(&new, "g", 5), 2005);
            // The old object, still held, still runs its own code.
            assert_eq!(call(&old, "g", 5), 1005);
            assert_eq!(code.stats().redefinitions, 1);
            // Later installations bind g to the new definition.
            let caller2 = code
                .install_elf(
                    &compile("caller2", &CALLER.replace("@caller", "@caller2")),
                    &Env::new(),
                )
                .unwrap();
            assert_eq!(call(&caller2, "caller2", 1), 2001);
            drop(old);
            (new, caller, caller2)
        })
        .unwrap();
    // The old g is referred to by nothing now: a collection frees it.
    let before = code.stats().collector.objects_freed;
    assert_eq!(
        common::collect_until_freed(&arena, &code, before),
        before + 1,
        "the old g was freed"
    );
    code.with_jit_thread(|_| {
        // Nothing else was freed: the callers still call the new g.
        assert_eq!(code.census().unwrap().objects.objects, 3);
        arena.release();
    })
    .unwrap();
}

/// `g` after another function in its object: its entry is not at the
/// code's start (offset 32), which a caller's Direct site laid out for a
/// `g` at 32 stores in no byte.
fn late_g_ir(k: i64) -> String {
    format!(
        "define i64 @first(i64 %x) {{\n  %y = mul i64 %x, 3\n  ret i64 %y\n}}\n{}",
        g_ir(k)
    )
}

#[test]
fn a_definition_at_another_offset_is_reached_through_a_forwarder() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let g1 = code
            .install_elf(&compile("g1", &g_ir(1)), &Env::new())
            .unwrap();
        assert_eq!(g1.entry_offset("g"), Some(32));
        let caller = code
            .install_elf(&compile("caller", CALLER), &Env::new())
            .unwrap();
        assert_eq!(caller.layout_stats().direct_sites, 1);
        assert_eq!(call(&caller, "caller", 5), 1005);
        // The caller's site cannot hold g's new offset: it calls the
        // forwarder the redefinition made, which jumps to the new g.
        let g3 = code
            .redefine_elf(&compile("g3", &late_g_ir(3)), &Env::new())
            .unwrap();
        assert!(g3.entry_offset("g").unwrap() > 32);
        assert_eq!(call(&caller, "caller", 5), 3005);
        assert_eq!(call(&g3, "first", 5), 15);
        assert_eq!(code.census().unwrap().stubs.objects, 1, "the forwarder");
        arena.release();
        // Redefined again, at 32: the forwarder's own jump is rebound.
        let g4 = code
            .redefine_elf(&compile("g4", &g_ir(4)), &Env::new())
            .unwrap();
        assert_eq!(call(&caller, "caller", 5), 4005);
        // A new caller calls the new g directly.
        let caller2 = code
            .install_elf(
                &compile("caller2", &CALLER.replace("@caller", "@caller2")),
                &Env::new(),
            )
            .unwrap();
        assert_eq!(call(&caller2, "caller2", 1), 4001);
        drop((g1, g3));
        // Moved and relinked, the chain still works.
        arena.collect().unwrap();
        arena.release();
        assert_eq!(call(&caller, "caller", 6), 4006);
        assert_eq!(call(&g4, "g", 6), 4006);
        // The forwarder lives while the caller calls it.
        assert_eq!(code.census().unwrap().stubs.objects, 1);
        arena.release();
    })
    .unwrap();
}

static ENTERED: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);

/// Called by the old definition: waits until the test has redefined it.
extern "C" fn rt_wait(x: i64) -> i64 {
    ENTERED.store(true, Ordering::SeqCst);
    while !RELEASE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    x
}

const WAITING_G: &str = "declare i64 @rt_wait(i64)
define i64 @g(i64 %x) {
  %w = call i64 @rt_wait(i64 %x)
  %y = add i64 %w, 1000
  ret i64 %y
}
";

#[test]
fn a_running_frame_finishes_in_the_old_code() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let (g1, g2, caller) = (
        compile("g1", WAITING_G),
        compile("g2", &g_ir(2)),
        compile("caller", CALLER),
    );
    let mut env = Env::new();
    env.function("rt_wait", rt_wait as Unary);
    let (old, caller) = code
        .with_jit_thread(|_| {
            (
                code.install_elf(&g1, &env).unwrap(),
                code.install_elf(&caller, &Env::new()).unwrap(),
            )
        })
        .unwrap();
    std::thread::scope(|t| {
        let (caller, code) = (&caller, &code);
        let waiting = t.spawn(move || code.with_jit_thread(|_| call(caller, "caller", 7)).unwrap());
        while !ENTERED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The other thread is inside the old g (in rt_wait).
        code.with_jit_thread(|_| {
            let new = code.redefine_elf(&g2, &Env::new()).unwrap();
            assert_eq!(call(caller, "caller", 7), 2007);
            drop(old);
            // Collections while the old frame runs: its return address
            // pins the old code, which must not be freed or moved.
            let freed = code.stats().collector.objects_freed;
            for _ in 0..3 {
                arena.collect().unwrap();
                arena.release();
            }
            assert_eq!(
                code.stats().collector.objects_freed,
                freed,
                "running code was freed"
            );
            RELEASE.store(true, Ordering::SeqCst);
            assert_eq!(
                waiting.join().unwrap(),
                1007,
                "the old frame finished in the old code"
            );
            new
        })
        .unwrap();
        // Now nothing refers to the old g: it is freed.
        let before = code.stats().collector.objects_freed;
        assert!(
            common::collect_until_freed(&arena, code, before) > before,
            "the old g was never freed"
        );
    });
}

#[test]
fn threads_call_while_another_redefines() {
    if common::skip_without_extensions() {
        return;
    }
    const CALLERS: usize = 3;
    const VERSIONS: i64 = 12;
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let versions: Vec<Vec<u8>> = (0..=VERSIONS).map(|k| compile("g", &g_ir(k))).collect();
    let caller_elf = compile("caller", CALLER);
    let (first, caller) = code
        .with_jit_thread(|_| {
            (
                code.install_elf(&versions[0], &Env::new()).unwrap(),
                code.install_elf(&caller_elf, &Env::new()).unwrap(),
            )
        })
        .unwrap();
    // The version every caller must see at least, once the redefinition
    // that published it has returned.
    let published = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let start = Barrier::new(CALLERS + 1);
    let calls = AtomicUsize::new(0);
    std::thread::scope(|t| {
        for id in 0..CALLERS {
            let (code, caller, published, done, start, calls) =
                (&code, &caller, &published, &done, &start, &calls);
            t.spawn(move || {
                code.with_jit_thread(|_| {
                    start.wait();
                    let mut last = 0;
                    while !done.load(Ordering::SeqCst) {
                        let floor = published.load(Ordering::SeqCst) as i64;
                        let r = call(caller, "caller", id as i64);
                        let version = (r - id as i64) / 1000;
                        assert_eq!(r, id as i64 + 1000 * version, "a torn call");
                        assert!(
                            version >= floor && version >= last && version <= VERSIONS,
                            "thread {id}: version {version} after {last}, published {floor}"
                        );
                        last = version;
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .unwrap();
            });
        }
        code.with_jit_thread(|_| {
            start.wait();
            // The current definition stays held (dropping it would remove
            // the name); old ones are dropped or kept.
            let mut current = first;
            let mut kept = Vec::new();
            for k in 1..=VERSIONS {
                let object = code
                    .redefine_elf(&versions[k as usize], &Env::new())
                    .unwrap();
                published.store(k as usize, Ordering::SeqCst);
                assert_eq!(call(&caller, "caller", 0), 1000 * k);
                let old = std::mem::replace(&mut current, object);
                if k % 3 == 0 {
                    kept.push(old);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            done.store(true, Ordering::SeqCst);
        })
        .unwrap();
    });
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert_eq!(code.stats().redefinitions, VERSIONS as u64);
}

/// A redefinition whose new `g` lies at another offset in its object
/// (after another function) than the old one: the caller's call to `g` is
/// a Direct site (its field holds the target, no target record), whose
/// sidecar entry holds the target's offset; the collection that applies
/// the redefinition rewrites both, and later collections, which move
/// every object, keep the call going to the new `g`. Then back to an
/// object whose `g` is first.
#[test]
fn a_redefinition_at_another_offset_rebinds_direct_calls() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let later = format!(
        "define i64 @h(i64 %x) {{\n  %y = mul i64 %x, 3\n  %z = add i64 %y, 7\n  ret i64 %z\n}}\n{}",
        g_ir(2)
    );
    let (g1, g2, g3, caller) = (
        compile("g1", &g_ir(1)),
        compile("g2", &later),
        compile("g3", &g_ir(3)),
        compile("caller", CALLER),
    );
    code.with_jit_thread(|_| {
        let old = code.install_elf(&g1, &Env::new()).unwrap();
        let caller = code.install_elf(&caller, &Env::new()).unwrap();
        let stats = caller.layout_stats();
        assert_eq!(stats.direct_sites, 1, "the call to g is a Direct site");
        assert_eq!(stats.targets, 0, "and needs no target record");
        assert_eq!(call(&caller, "caller", 5), 1005);
        let new = code.redefine_elf(&g2, &Env::new()).unwrap();
        assert_ne!(
            new.entry_offset("g"),
            old.entry_offset("g"),
            "the new g lies elsewhere in its object"
        );
        assert_eq!(call(&caller, "caller", 5), 2005);
        assert_eq!(call(&new, "h", 1), 10);
        drop(old);
        for _ in 0..3 {
            arena.collect().unwrap();
            assert_eq!(call(&caller, "caller", 6), 2006);
        }
        let newer = code.redefine_elf(&g3, &Env::new()).unwrap();
        drop(new);
        assert_eq!(call(&caller, "caller", 5), 3005);
        arena.collect().unwrap();
        assert_eq!(call(&caller, "caller", 7), 3007);
        assert_eq!(call(&newer, "g", 1), 3001);
    })
    .unwrap();
}

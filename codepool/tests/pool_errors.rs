//! Every way an installation can fail: each is a typed error, nothing is
//! left half-installed, and the pool stays usable.

#![cfg(feature = "llvm")]

mod common;

use codepool::reloc::RelocKind;
use codepool::{CodePool, CodePoolOptions, Env, InstallError};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use common::gen::compile;
use mps::{Arena, PoolOptions};

const LEAF: &str = "define i64 @leaf(i64 %x) {\n  %r = add i64 %x, 1\n  ret i64 %r\n}\n";

const CALLS_LEAF: &str = r#"
declare i64 @leaf(i64)
define i64 @twice_leaf(i64 %x) {
  %a = call i64 @leaf(i64 %x)
  %b = call i64 @leaf(i64 %a)
  ret i64 %b
}
"#;

const CALLS_LEAF_AGAIN: &str = r#"
declare i64 @leaf(i64)
define i64 @again(i64 %x) {
  %a = call i64 @leaf(i64 %x)
  ret i64 %a
}
"#;

/// Thread-local storage: an initial-exec TLS access (R_X86_64_GOTTPOFF).
const TLS: &str = r#"
@t = external thread_local(initialexec) global i64
define i64 @read_tls() {
  %v = load i64, i64* @t
  ret i64 %v
}
"#;

const UNRESOLVED: &str = r#"
declare i64 @nowhere(i64)
define i64 @calls_nowhere(i64 %x) {
  %r = call i64 @nowhere(i64 %x)
  ret i64 %r
}
"#;

const CALLS_RUNTIME_AND_NOWHERE: &str = r#"
declare i64 @rt_twice(i64)
declare i64 @nowhere(i64)
define i64 @calls_both(i64 %x) {
  %a = call i64 @rt_twice(i64 %x)
  %r = call i64 @nowhere(i64 %a)
  ret i64 %r
}
"#;

extern "C" fn rt_twice(x: i64) -> i64 {
    2 * x
}

/// A `dso_local` external global is reached with a 32-bit PC-relative
/// displacement (R_X86_64_PC32), not through the GOT.
const NEAR_DATA: &str = r#"
@near = external dso_local global i64
define i64 @read_near() {
  %v = load i64, i64* @near
  ret i64 %v
}
"#;

/// Read-only data aligned to 64 bytes.
const OVERALIGNED: &str = r#"
@tbl = private unnamed_addr constant [8 x i64] [i64 1, i64 2, i64 3, i64 4, i64 5, i64 6, i64 7, i64 8], align 64
define i64 @lookup(i64 %i) {
  %j = and i64 %i, 7
  %p = getelementptr inbounds [8 x i64], [8 x i64]* @tbl, i64 0, i64 %j
  %v = load i64, i64* %p
  ret i64 %v
}
"#;

fn call(object: &codepool::CodeObject<'_>, name: &str, x: i64) -> i64 {
    // SAFETY: every function of this test is `i64 (i64)` (or takes no
    // argument, which the extra argument register does not disturb).
    let f = unsafe { object.function::<extern "C" fn(i64) -> i64>(name) }.unwrap();
    f.call((x,))
}

#[test]
fn errors_are_typed_and_leave_the_pool_usable() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let other = Arena::new().unwrap();
    let other_heap = other
        .amc(other.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();

    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let empty = Env::new();
        let leaf = code.install_elf(&compile("leaf", LEAF), &empty).unwrap();
        let twice = code.install_elf(&compile("twice", CALLS_LEAF), &empty).unwrap();
        let before = code.stats();

        // Malformed ELF.
        let e = code.install_elf(b"\x7fELF but not really", &empty).unwrap_err();
        assert!(matches!(e, InstallError::Malformed(_)), "{e:?}");
        println!("malformed: {e}");

        // Unsupported relocation.
        let e = code.install_elf(&compile("tls", TLS), &empty).unwrap_err();
        assert!(
            matches!(e, InstallError::UnsupportedRelocation { name, .. } if name == "R_X86_64_GOTTPOFF"),
            "{e:?}"
        );
        println!("unsupported relocation: {e}");

        // Unresolved symbol.
        let e = code.install_elf(&compile("unresolved", UNRESOLVED), &empty).unwrap_err();
        assert!(matches!(&e, InstallError::Unresolved { name } if name == "nowhere"), "{e:?}");
        println!("unresolved: {e}");
        // The same, with a runtime function bound: the shared stub the
        // installation made for it goes with the error.
        let mut with_runtime = Env::new();
        with_runtime.function("rt_twice", rt_twice as extern "C" fn(i64) -> i64);
        let e = code
            .install_elf(&compile("runtime", CALLS_RUNTIME_AND_NOWHERE), &with_runtime)
            .unwrap_err();
        assert!(matches!(&e, InstallError::Unresolved { name } if name == "nowhere"), "{e:?}");
        assert_eq!(code.stats().runtime_stubs.objects, 0);

        // rel32 out of reach: a fixed address far from all code memory.
        let near = compile("near", NEAR_DATA);
        let mut env = Env::new();
        env.address("near", 0x1000);
        let e = code.install_elf(&near, &env).unwrap_err();
        assert!(
            matches!(&e, InstallError::OutOfReach { symbol, .. } if symbol == "near"),
            "{e:?}"
        );
        println!("out of reach: {e}");

        // A 32-bit displacement to a heap constant could not follow it.
        s.scope(|t| {
            let b = t.alloc(&mut ap, Boxed::new(5)).unwrap();
            let mut env = Env::new();
            env.heap("near", b, VALUE_OFFSET);
            let e = code.install_elf(&near, &env).unwrap_err();
            assert!(
                matches!(&e, InstallError::NotMovable { symbol, kind: RelocKind::Pc32 } if symbol == "near"),
                "{e:?}"
            );
            println!("not movable: {e}");
        });

        // A "heap constant" of another arena.
        other
            .with_thread(|s2| {
                let mut other_ap = other_heap.ap().unwrap();
                let b = s2.alloc(&mut other_ap, Boxed::new(5)).unwrap();
                let mut env = Env::new();
                env.heap("k", b, VALUE_OFFSET);
                let ir = "@k = external global i64\ndefine i64 @read_k() {\n  %v = load i64, i64* @k\n  ret i64 %v\n}\n";
                let e = code.install_elf(&compile("k", ir), &env).unwrap_err();
                assert!(matches!(&e, InstallError::NotAHeapObject { name } if name == "k"), "{e:?}");
                println!("not a heap object: {e}");
            })
            .unwrap();

        // Duplicate symbol.
        let e = code.install_elf(&compile("leaf", LEAF), &empty).unwrap_err();
        assert!(matches!(&e, InstallError::DuplicateSymbol { name } if name == "leaf"), "{e:?}");
        println!("duplicate: {e}");

        // More alignment than the pool keeps.
        let e = code.install_elf(&compile("overaligned", OVERALIGNED), &empty).unwrap_err();
        assert!(
            matches!(e, InstallError::Alignment { required: 64, pool: 16 }),
            "{e:?}"
        );
        println!("alignment: {e}");

        // Nothing was installed by the failures.
        let after = code.stats();
        assert_eq!(after.installed, before.installed);
        assert_eq!(after.held, before.held);
        for name in ["read_tls", "calls_nowhere", "read_near", "read_k", "lookup"] {
            assert!(!code.contains_symbol(name), "{name} is in the symbol table");
        }

        // The pool is still usable; a dropped object's symbol is gone, but
        // code that calls it keeps it alive.
        assert_eq!(call(&twice, "twice_leaf", 5), 7);
        drop(leaf);
        assert!(!code.contains_symbol("leaf"));
        let e = code.install_elf(&compile("again", CALLS_LEAF_AGAIN), &empty).unwrap_err();
        assert!(matches!(&e, InstallError::Unresolved { name } if name == "leaf"), "{e:?}");
        for _ in 0..3 {
            arena.collect().unwrap();
            arena.release();
            assert_eq!(call(&twice, "twice_leaf", 5), 7);
        }
        let leaf = code.install_elf(&compile("leaf", LEAF), &empty).unwrap();
        let again = code.install_elf(&compile("again", CALLS_LEAF_AGAIN), &empty).unwrap();
        assert_eq!(call(&again, "again", 1), 2);
        assert_eq!(call(&leaf, "leaf", 1), 2);
        // An over-aligned object goes into a pool that keeps 64.
        let aligned = CodePool::new(
            &arena,
            &CodePoolOptions {
                align: Some(64),
                ..Default::default()
            },
        )
        .unwrap();
        let lookup = aligned.install_elf(&compile("overaligned", OVERALIGNED), &empty).unwrap();
        assert_eq!(lookup.exec_address() % 64, 0);
        for _ in 0..3 {
            arena.collect().unwrap();
            arena.release();
            assert_eq!(lookup.exec_address() % 64, 0);
            assert_eq!(call(&lookup, "lookup", 10), 3);
        }
    })
    .unwrap();
}

#[test]
fn pool_options_are_checked() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    for align in [8, 24, 8192] {
        let e = CodePool::new(
            &arena,
            &CodePoolOptions {
                align: Some(align),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e, mps::Error::Param);
    }
    let other = Arena::new().unwrap();
    let chain = other
        .chain(&[mps::GenParam {
            capacity_kb: 1024,
            mortality: 0.5,
        }])
        .unwrap();
    let e = CodePool::new(
        &arena,
        &CodePoolOptions {
            chain: Some(chain),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e, mps::Error::Param);
}

#[test]
fn installing_outside_a_jit_thread_panics() {
    if common::skip_without_extensions() {
        return;
    }
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let object = compile("leaf", LEAF);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = code.install_elf(&object, &Env::new());
    }))
    .expect_err("installing outside a JIT thread did not panic");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("with_jit_thread"),
        "panic message: {message}"
    );
}

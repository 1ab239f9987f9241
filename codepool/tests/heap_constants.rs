//! Heap constants are pinned by the code that uses them, whatever the
//! pool's interior setting, and their offset lies inside the object (issue
//! 15, item 3).
//!
//! JIT code keeps the address of a heap constant (`box + 8`, an interior
//! address) in a register or on the stack while it runs: LLVM hoists it
//! out of loops. Only an ambiguous reference that pins the object keeps
//! that address valid across a collection. In an AMC pool created with
//! `interior: Some(false)` an interior reference pins nothing, so the box
//! moved under the running code, which then read the old copy (here: the
//! forwarding marker's new address instead of the value). The pool now
//! refuses such heap constants at installation, with a typed error; with
//! the default interior setting the same code reads the right value.

#![cfg(feature = "llvm")]

mod common;

use std::sync::OnceLock;

use codepool::{CodePool, CodePoolOptions, Env, InstallError};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use common::gen::compile;
use mps::{Arena, PoolOptions};

/// Passes the heap constant's address to Rust, which collects and hands
/// it back; then reads through it. While Rust runs, the only reference to
/// the box besides the code object's (exact) target table is that
/// interior address, on this thread's stack or in its registers.
const READ_AFTER_COLLECT: &str = r#"
@k = external global i64
declare i64* @rt_collect(i64*)
define i64 @read() {
  %p = call i64* @rt_collect(i64* @k)
  %v = load volatile i64, i64* %p
  ret i64 %v
}
"#;

static ARENA: OnceLock<Arena> = OnceLock::new();

fn arena() -> &'static Arena {
    ARENA.get_or_init(|| Arena::new().unwrap())
}

/// Collects twice and returns `p` (the address the JIT code passed).
extern "C" fn rt_collect(p: usize) -> usize {
    let arena = arena();
    for _ in 0..2 {
        arena.collect().unwrap();
        arena.release();
    }
    p
}

/// Installs `READ_AFTER_COLLECT` with `k` bound to a box holding 1 in an
/// AMC pool with the given interior setting, at `offset`; calls it if the
/// installation succeeds.
fn read_after_collect(interior: Option<bool>, offset: u32) -> Result<i64, InstallError> {
    let arena = arena();
    let fmt = arena.format::<Boxes>().unwrap();
    let heap = arena
        .amc(
            fmt,
            &PoolOptions {
                interior,
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let code = CodePool::new(arena, &CodePoolOptions::default()).unwrap();
    let elf = compile("read", READ_AFTER_COLLECT);
    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let k = s.alloc(&mut ap, Boxed::new(1)).unwrap();
        let mut env = Env::new();
        env.function("rt_collect", rt_collect as extern "C" fn(usize) -> usize)
            .heap("k", k, offset);
        let object = code.install_elf(&elf, &env)?;
        // SAFETY: `read` is `i64 read(void)` with the C calling convention.
        let read = unsafe { object.function::<extern "C" fn() -> i64>("read") }.unwrap();
        Ok(read.call(()))
    })
    .unwrap()
}

#[test]
fn a_heap_constant_in_a_pool_where_interior_references_do_not_pin_is_refused() {
    if common::skip_without_extensions() {
        return;
    }
    match read_after_collect(Some(false), VALUE_OFFSET) {
        Err(InstallError::InteriorNotPinned { name }) => assert_eq!(name, "k"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(value) => {
            panic!("installed, and the code read {value:#x} instead of 1: the box moved under it")
        }
    }
}

#[test]
fn a_heap_constant_in_a_pool_where_interior_references_pin_stays_put() {
    if common::skip_without_extensions() {
        return;
    }
    for _ in 0..3 {
        assert_eq!(read_after_collect(None, VALUE_OFFSET).unwrap(), 1);
        assert_eq!(read_after_collect(Some(true), VALUE_OFFSET).unwrap(), 1);
    }
}

#[test]
fn a_heap_constant_offset_outside_its_object_is_refused() {
    if common::skip_without_extensions() {
        return;
    }
    // A box is 16 bytes: offsets 0..16 lie inside it.
    assert_eq!(read_after_collect(None, 0).unwrap(), 0x201); // the header
    for offset in [16, 17, 4096, u32::MAX] {
        match read_after_collect(None, offset) {
            Err(InstallError::HeapOffsetOutside {
                name,
                offset: at,
                size,
            }) => assert_eq!((name.as_str(), at, size), ("k", offset, 16)),
            Err(e) => panic!("offset {offset}: unexpected error: {e}"),
            Ok(value) => {
                panic!("offset {offset}: installed, and the code read {value:#x} outside the box")
            }
        }
    }
}

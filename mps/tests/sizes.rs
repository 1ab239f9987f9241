//! Absurd sizes and out-of-range options are errors, never C undefined
//! behaviour (issue 15, items 4 and 5).
//!
//! `ArenaBuilder::arena_size(usize::MAX)` used to hang: the collector's
//! `log2Size` evaluated `(Size)1 << 64` and looped. Each build runs on a
//! thread of its own, so a hang fails the test after a time limit instead
//! of blocking it.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::Lisp;
use mps::{Arena, ArenaBuilder, Error, GenParam, PoolOptions};

/// How long a build may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(20);

/// Builds `builder` on another thread; panics if it takes longer than
/// [`HANG`] (the thread is left behind, spinning).
fn build_within(what: &str, builder: ArenaBuilder) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(builder.build().map(drop));
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: the arena's creation still runs after {HANG:?}"))
}

#[test]
fn absurd_arena_sizes_are_refused() {
    for size in [usize::MAX, usize::MAX / 2 + 2, 1 << 63, 1 << 48] {
        assert_eq!(
            build_within(
                &format!("arena_size({size:#x})"),
                Arena::builder().arena_size(size)
            ),
            Err(Error::Resource),
            "arena_size({size:#x})"
        );
    }
    for grain in [1usize << 63, 1 << 48, 3 << 12, 0] {
        assert_eq!(
            build_within(
                &format!("grain_size({grain:#x})"),
                Arena::builder().grain_size(grain)
            ),
            Err(Error::Param),
            "grain_size({grain:#x})"
        );
    }
    // Sizes that are large but possible still work.
    build_within("arena_size(1 MiB)", Arena::builder().arena_size(1 << 20)).unwrap();
    build_within("grain_size(64 KiB)", Arena::builder().grain_size(64 << 10)).unwrap();
}

#[test]
fn a_generation_outside_the_chain_is_refused() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let two = arena
        .chain(&[
            GenParam {
                capacity_kb: 256,
                mortality: 0.5,
            },
            GenParam {
                capacity_kb: 512,
                mortality: 0.5,
            },
        ])
        .unwrap();
    let gen = |g| PoolOptions {
        chain: Some(two),
        gen: Some(g),
        ..PoolOptions::default()
    };
    for g in [2, 3, u32::MAX] {
        assert_eq!(arena.ams(fmt, &gen(g)).unwrap_err(), Error::Param);
        assert_eq!(arena.awl(fmt, &gen(g)).unwrap_err(), Error::Param);
        assert_eq!(arena.lo(fmt, &gen(g)).unwrap_err(), Error::Param);
    }
    arena.ams(fmt, &gen(1)).unwrap();
    // Without a chain, only generation 0 (the default chain's size is the
    // collector's business).
    let default_chain = |g| PoolOptions {
        gen: Some(g),
        ..PoolOptions::default()
    };
    assert_eq!(arena.lo(fmt, &default_chain(1)).unwrap_err(), Error::Param);
    arena.lo(fmt, &default_chain(0)).unwrap();
}

#[test]
fn mfs_blocks_are_allocated_and_freed_as_whole_units() {
    // With the checking build of the collector (`--features check`),
    // `mps_alloc` and `mps_free` on an MFS pool assert that the size is
    // the unit size; the safe layer passes the unit whatever `len` is.
    let arena = Arena::new().unwrap();
    let mfs = arena.mfs(64, &mps::MfsOptions::default()).unwrap();
    let mut blocks = Vec::new();
    for len in 1..=64 {
        let mut block = mfs.alloc(len).unwrap();
        assert_eq!(block.len(), len);
        assert!(block.iter().all(|&b| b == 0));
        block.fill(0xa5);
        blocks.push(block);
    }
    assert_eq!(mfs.alloc(65).unwrap_err(), Error::Param);
    drop(blocks);
    // Every unit came back: the pool serves 64 more without growing.
    let total = mfs.total_size();
    let again: Vec<_> = (1..=64).map(|len| mfs.alloc(len).unwrap()).collect();
    assert_eq!(mfs.total_size(), total);
    assert!(again.iter().all(|b| b.iter().all(|&x| x == 0)));
}

/// A root table too large to allocate is `Error::Memory` (a size that
/// overflows used to panic with "capacity overflow"), and a table asked
/// for with no slots gets one.
#[test]
fn absurd_root_sizes_are_refused() {
    let arena = Arena::new().unwrap();
    for len in [usize::MAX, usize::MAX / 8, usize::MAX / 16 + 1] {
        assert_eq!(
            mps::Root::<Lisp>::exact(&arena, len).map(drop),
            Err(Error::Memory),
            "a root of {len} slots"
        );
    }
    let one = mps::Root::<Lisp>::exact(&arena, 0).unwrap();
    assert_eq!(one.len(), 1);
}

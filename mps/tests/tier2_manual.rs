//! Manual pools (MVFF, MFS): blocks are zeroed, hold what is written into
//! them, go back to the pool when dropped, and absurd requests are refused
//! with `Error::Param` before reaching the MPS.

mod common;

use common::Rng;
use mps::{Arena, Error, MfsOptions, MvffOptions};

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

#[test]
fn mvff_blocks_round_trip_and_are_freed_on_drop() {
    let arena = arena();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    assert_eq!(mvff.align(), std::mem::size_of::<usize>());
    let mut rng = Rng::from_env("mvff");
    let mut live = Vec::new();
    for round in 0..2000u32 {
        if live.is_empty() || rng.chance(3, 5) {
            let size = 1 + rng.below(3000);
            let mut block = mvff.alloc(size).unwrap();
            assert_eq!(block.len(), size);
            assert!(block.iter().all(|&b| b == 0), "a new block is not zeroed");
            assert_eq!(block.as_ptr() as usize % mvff.align(), 0);
            let tag = (round % 251) as u8;
            block.fill(tag);
            live.push((block, tag));
        } else {
            let i = rng.below(live.len());
            let (block, tag) = live.swap_remove(i);
            assert!(block.iter().all(|&b| b == tag), "a block was overwritten");
            if rng.chance(1, 2) {
                block.free();
            } else {
                drop(block);
            }
        }
    }
    for (block, tag) in &live {
        assert!(block.iter().all(|b| b == tag), "a block was overwritten");
        assert_eq!(arena.addr_pool(block.as_ptr() as usize), Some(mvff.id()));
        assert_eq!(block.pool(), mvff.id());
        assert_eq!(arena.addr_fmt(block.as_ptr() as usize), None);
    }
    let in_use = mvff.total_size() - mvff.free_size();
    let bytes: usize = live.iter().map(|(b, _)| b.len()).sum();
    assert!(
        in_use >= bytes,
        "{in_use} bytes in use for {bytes} bytes of blocks"
    );
    live.clear();
    assert_eq!(
        mvff.total_size() - mvff.free_size(),
        0,
        "dropping every block frees everything"
    );
}

#[test]
fn mvff_options_and_sizes_are_checked() {
    let arena = arena();
    let word = std::mem::size_of::<usize>();
    for align in [0, 1, 3, word / 2, 12, 1 << 40] {
        let options = MvffOptions {
            align: Some(align),
            ..MvffOptions::default()
        };
        assert_eq!(
            arena.mvff(&options).unwrap_err(),
            Error::Param,
            "align {align}"
        );
    }
    for spare in [-0.1, 1.5, f64::NAN] {
        let options = MvffOptions {
            spare: Some(spare),
            ..MvffOptions::default()
        };
        assert_eq!(
            arena.mvff(&options).unwrap_err(),
            Error::Param,
            "spare {spare}"
        );
    }
    let bad = [
        MvffOptions {
            extend_by: Some(0),
            ..MvffOptions::default()
        },
        MvffOptions {
            mean_size: Some(usize::MAX),
            ..MvffOptions::default()
        },
    ];
    for options in bad {
        assert_eq!(
            arena.mvff(&options).unwrap_err(),
            Error::Param,
            "{options:?}"
        );
    }
    let mvff = arena
        .mvff(&MvffOptions {
            align: Some(64),
            extend_by: Some(1 << 16),
            mean_size: Some(100),
            spare: Some(0.5),
            arena_high: Some(true),
            slot_high: Some(true),
            first_fit: Some(false),
        })
        .unwrap();
    assert_eq!(mvff.align(), 64);
    for size in [0, usize::MAX, usize::MAX - 7, 1 << 60] {
        assert_eq!(mvff.alloc(size).unwrap_err(), Error::Param, "size {size}");
    }
    let blocks: Vec<_> = (1..100).map(|n| mvff.alloc(n).unwrap()).collect();
    for b in &blocks {
        assert_eq!(b.as_ptr() as usize % 64, 0);
    }
}

#[test]
fn mvff_respects_the_commit_limit() {
    let arena = Arena::builder()
        .arena_size(16 << 20)
        .commit_limit(8 << 20)
        .build()
        .unwrap();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    let mut blocks = Vec::new();
    let err = loop {
        match mvff.alloc(1 << 20) {
            Ok(b) => blocks.push(b),
            Err(e) => break e,
        }
        assert!(blocks.len() < 64, "the commit limit was not enforced");
    };
    assert!(
        matches!(err, Error::CommitLimit | Error::Memory | Error::Resource),
        "{err:?}"
    );
    blocks.clear();
    mvff.alloc(1 << 20).unwrap();
}

#[test]
fn mfs_units() {
    let arena = arena();
    assert_eq!(
        arena.mfs(0, &MfsOptions::default()).unwrap_err(),
        Error::Param
    );
    assert_eq!(
        arena.mfs(4, &MfsOptions::default()).unwrap_err(),
        Error::Param
    );
    assert_eq!(
        arena.mfs(usize::MAX, &MfsOptions::default()).unwrap_err(),
        Error::Param
    );
    let zero = MfsOptions { extend_by: Some(0) };
    assert_eq!(arena.mfs(16, &zero).unwrap_err(), Error::Param);
    let mfs = arena
        .mfs(
            20,
            &MfsOptions {
                extend_by: Some(4096),
            },
        )
        .unwrap();
    assert_eq!(mfs.unit_size(), 24, "unit size rounded up to a word");
    assert_eq!(mfs.alloc(25).unwrap_err(), Error::Param);
    assert_eq!(mfs.alloc(0).unwrap_err(), Error::Param);
    let mut blocks: Vec<_> = (0..1000u32)
        .map(|i| {
            let mut b = mfs.alloc(1 + (i as usize % 24)).unwrap();
            b[0] = i as u8;
            b
        })
        .collect();
    let mut addrs: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
    addrs.sort_unstable();
    assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 24), "units overlap");
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b[0], i as u8);
    }
    let total = mfs.total_size();
    let free_before = mfs.free_size();
    blocks.truncate(10);
    assert_eq!(mfs.free_size(), free_before + 990 * 24);
    assert_eq!(mfs.total_size(), total, "MFS keeps its memory");
    // Freed units are reused.
    let again: Vec<_> = (0..990).map(|_| mfs.alloc(24).unwrap()).collect();
    assert_eq!(mfs.total_size(), total);
    assert_eq!(mfs.free_size(), free_before);
    drop(again);
}

#[test]
fn blocks_move_between_threads_and_can_be_leaked() {
    let arena = arena();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    let blocks: Vec<_> = (0..64).map(|i| mvff.alloc(8 + i).unwrap()).collect();
    std::thread::scope(|ts| {
        ts.spawn(move || {
            for mut b in blocks {
                b[0] = 1;
                drop(b); // freed on another thread
            }
        });
    });
    assert_eq!(mvff.total_size() - mvff.free_size(), 0);
    let leaked: &mut [u8] = mvff.alloc(100).unwrap().leak();
    leaked[99] = 7;
    assert_eq!(leaked[99], 7);
    assert!(mvff.total_size() - mvff.free_size() >= 100);
}

//! Segregated allocation caches (`Sac`) in front of MVFF and MFS pools:
//! blocks keep their contents, freed blocks are reused from the cache,
//! and flushing gives every cached block back to the pool.

use mps::{Arena, Error, MfsOptions, MvffOptions, SacClass};

mod common;

use common::Rng;

fn class(block_size: usize, cached_count: usize) -> SacClass {
    SacClass {
        block_size,
        cached_count,
        frequency: 1,
    }
}

#[test]
fn blocks_round_trip_through_the_cache() {
    let mut rng = Rng::from_env("tier3_sac");
    let arena = Arena::new().unwrap();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    let sac = mvff
        .sac(&[class(16, 8), class(32, 8), class(64, 4), class(128, 0)])
        .unwrap();
    let mut live = Vec::new();
    for round in 0..20_000u32 {
        if live.is_empty() || rng.chance(3, 5) {
            let size = 1 + rng.below(300);
            let mut b = sac.alloc(size).unwrap();
            assert_eq!(b.len(), size);
            assert!(b.iter().all(|&x| x == 0), "a new block is not zeroed");
            let fill = (round % 251) as u8 + 1;
            b.fill(fill);
            assert_eq!(b.as_ptr() as usize % sac.align(), 0);
            live.push((b, fill));
        } else {
            let (b, fill) = live.swap_remove(rng.below(live.len()));
            assert!(
                b.iter().all(|&x| x == fill),
                "a block was overwritten by another"
            );
        }
    }
    for (b, fill) in &live {
        assert!(
            b.iter().all(|x| x == fill),
            "a block was overwritten by another"
        );
    }
    drop(live);
    // A freed block of a cached class is handed out again at once.
    let p = sac.alloc(24).unwrap().as_ptr();
    assert_eq!(
        sac.alloc(20).unwrap().as_ptr(),
        p,
        "not reused from the cache"
    );
    assert!(sac.cached_blocks() > 0);
    assert!(mvff.free_size() < mvff.total_size());
    sac.flush();
    assert_eq!(sac.cached_blocks(), 0);
    assert_eq!(
        mvff.free_size(),
        mvff.total_size(),
        "a cached block was lost"
    );
}

#[test]
fn bad_classes_are_refused_and_mfs_works() {
    let arena = Arena::new().unwrap();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    assert_eq!(mvff.sac(&[]).unwrap_err(), Error::Param);
    assert_eq!(
        mvff.sac(&[class(64, 1), class(32, 1)]).unwrap_err(),
        Error::Param
    );
    assert_eq!(mvff.sac(&[class(12, 1)]).unwrap_err(), Error::Param);
    let mfs = arena.mfs(64, &MfsOptions::default()).unwrap();
    assert_eq!(mfs.sac(&[class(128, 1)]).unwrap_err(), Error::Param);
    let sac = mfs.sac(&[class(64, 16)]).unwrap();
    let blocks: Vec<_> = (0..100u8)
        .map(|i| {
            let mut b = sac.alloc(64).unwrap();
            b.fill(i);
            b
        })
        .collect();
    for (i, b) in blocks.iter().enumerate() {
        assert!(b.iter().all(|&x| x == i as u8));
    }
    drop(blocks);
    drop(sac);
    assert_eq!(mfs.free_size(), mfs.total_size());
}

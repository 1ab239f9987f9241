//! The MVT pool class through the safe layer: blocks from allocation
//! points keep their contents until freed, and freeing everything gives
//! the pool's memory back (all free, most of it returned to the arena).

use mps::{Arena, Error, MvtOptions};

mod common;

use common::Rng;

#[test]
fn blocks_from_allocation_points_round_trip() {
    let mut rng = Rng::from_env("tier3_mvt");
    let arena = Arena::new().unwrap();
    let mvt = arena
        .mvt(&MvtOptions {
            align: Some(16),
            mean_size: Some(64),
            max_size: Some(1024),
            reserve_depth: Some(16),
            ..MvtOptions::default()
        })
        .unwrap();
    let mut ap = mvt.ap().unwrap();
    let mut live = Vec::new();
    let mut peak = 0;
    for round in 0..20_000u32 {
        if live.is_empty() || rng.chance(3, 5) {
            let size = 1 + rng.below(1024);
            let mut b = ap.alloc(size).unwrap();
            assert_eq!(b.len(), size);
            assert_eq!(b.as_ptr() as usize % 16, 0);
            assert!(b.iter().all(|&x| x == 0), "a new block is not zeroed");
            let fill = (round % 251) as u8 + 1;
            b.fill(fill);
            live.push((b, fill));
        } else {
            let (b, fill) = live.swap_remove(rng.below(live.len()));
            assert!(
                b.iter().all(|&x| x == fill),
                "a block was overwritten by another"
            );
        }
        peak = peak.max(mvt.total_size());
    }
    for (b, fill) in &live {
        assert!(
            b.iter().all(|x| x == fill),
            "a block was overwritten by another"
        );
    }
    drop(live);
    drop(ap);
    assert_eq!(
        mvt.free_size(),
        mvt.total_size(),
        "a freed block is missing"
    );
    assert!(mvt.total_size() < peak, "nothing went back to the arena");
}

#[test]
fn bad_options_are_refused() {
    let arena = Arena::new().unwrap();
    let bad = |options: MvtOptions| arena.mvt(&options).unwrap_err();
    assert_eq!(
        bad(MvtOptions {
            mean_size: Some(64),
            max_size: Some(32),
            ..MvtOptions::default()
        }),
        Error::Param
    );
    assert_eq!(
        bad(MvtOptions {
            frag_limit: Some(1.5),
            ..MvtOptions::default()
        }),
        Error::Param
    );
    assert_eq!(
        bad(MvtOptions {
            align: Some(12),
            ..MvtOptions::default()
        }),
        Error::Param
    );
}

//! The debug pool class MVFF debug through the safe layer: clean use
//! passes every check; an overwritten fencepost and a write to freed
//! memory stop the process with an MPS assertion naming the problem (each
//! mistake runs in a child process: this test binary re-run).

mod common;

use mps::{Arena, DebugOptions, MvffOptions};

const CHILD: &str = "MPS_DEBUG_POOL_CHILD";
const DEBUG: DebugOptions = DebugOptions {
    fence: b"FENCEPOST",
    free: &[0xDE, 0xAD, 0xBE, 0xEF],
};

/// The mistake a child makes, then the checks that must catch it.
fn child(case: &str) {
    let arena = Arena::new().unwrap();
    let pool = arena.mvff_debug(&MvffOptions::default(), &DEBUG).unwrap();
    let mut block = pool.alloc(40).unwrap();
    block.fill(1);
    match case {
        "overrun" => {
            let past_end = (block.as_ptr() as usize + block.len()) as *mut u8;
            // SAFETY: deliberately one byte past the block, into its
            // fencepost: memory of the pool, mapped and not used by
            // anything else. Catching this is what the test is for.
            unsafe { past_end.write(0) };
            pool.check_fenceposts();
        }
        "use_after_free" => {
            let addr = block.as_ptr() as usize;
            let _keep = pool.alloc(40).unwrap(); // the memory stays the pool's
            drop(block);
            // SAFETY: deliberately a write into the freed block: memory of
            // the pool, mapped, and not handed out again (no allocation
            // in between). Catching this is what the test is for.
            unsafe { ((addr + 8) as *mut u8).write(0x55) };
            pool.check_free_space();
        }
        _ => {
            pool.check_fenceposts();
            drop(block);
            pool.check_free_space();
        }
    }
}

#[test]
fn mistakes_are_caught() {
    common::check_mistakes(
        "mistakes_are_caught",
        CHILD,
        child,
        &[("overrun", "fencepost"), ("use_after_free", "freed block")],
    );
}

#[test]
fn clean_use_passes_every_check() {
    let mut rng = common::Rng::from_env("tier3_debug");
    let arena = Arena::new().unwrap();
    let pool = arena.mvff_debug(&MvffOptions::default(), &DEBUG).unwrap();
    let mut live = Vec::new();
    for round in 0..5_000u32 {
        if live.is_empty() || rng.chance(3, 5) {
            let mut b = pool.alloc(1 + rng.below(300)).unwrap();
            let fill = (round % 251) as u8 + 1;
            b.fill(fill);
            live.push((b, fill));
        } else {
            let (b, fill) = live.swap_remove(rng.below(live.len()));
            assert!(b.iter().all(|&x| x == fill));
        }
        if round % 500 == 0 {
            pool.check_fenceposts();
            pool.check_free_space();
        }
    }
    drop(live);
    pool.check_fenceposts();
    pool.check_free_space();
}

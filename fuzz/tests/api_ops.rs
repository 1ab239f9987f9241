//! The `api_ops` harness on stable: hand-written operation lists, then
//! pseudo-random inputs (seed printed, `FUZZ_SEED` to replay), so that a
//! mistake in the model shows up without the fuzzer.

use mps_rs_fuzz::api_ops::{run, run_ops, Kind, Op, PoolSel};

#[test]
fn hand_written() {
    use Op::*;
    run_ops(&[
        Alloc {
            kind: Kind::Node,
            pool: PoolSel(0),
            dst: 0,
        },
        Alloc {
            kind: Kind::Big,
            pool: PoolSel(0),
            dst: 1,
        },
        Alloc {
            kind: Kind::Blob,
            pool: PoolSel(0),
            dst: 2,
        },
        Link {
            src: 0,
            field: 0,
            dst: 1,
        },
        Link {
            src: 1,
            field: 5,
            dst: 2,
        },
        Link {
            src: 1,
            field: 0,
            dst: 0,
        },
        Collect,
        Drop { slot: 1 },
        Drop { slot: 2 },
        Collect,
        Load {
            src: 0,
            field: 0,
            dst: 3,
        },
        Load {
            src: 3,
            field: 5,
            dst: 4,
        },
        WeakSet { w: 0, src: 4 },
        Finalize { slot: 3 },
        Drop { slot: 0 },
        Drop { slot: 4 },
        Collect,
        Drain { keep: Some(5) },
        Collect,
        WeakLoad { w: 0, dst: 6 },
        Release,
        AllocList {
            kind: Kind::Big,
            pool: PoolSel(0),
            len: 40,
            dst: 7,
        },
        AllocList {
            kind: Kind::Node,
            pool: PoolSel(0),
            len: 40,
            dst: 7,
        },
        Verify,
        Drop { slot: 5 },
        Drop { slot: 6 },
        Collect,
        WeakLoad { w: 0, dst: 6 },
    ]);
}

/// Every pool, weak AWL fields included.
#[test]
fn every_pool() {
    use Op::*;
    let mut ops = Vec::new();
    for p in 0..5u8 {
        ops.push(Alloc {
            kind: Kind::Node,
            pool: PoolSel(p),
            dst: p,
        });
    }
    ops.push(Alloc {
        kind: Kind::Blob,
        pool: PoolSel(1),
        dst: 5,
    });
    ops.push(Alloc {
        kind: Kind::Big,
        pool: PoolSel(4),
        dst: 6,
    });
    ops.push(Alloc {
        kind: Kind::Blob,
        pool: PoolSel(0),
        dst: 7,
    });
    // Weak node 4 and weak big 6 refer to everything.
    for (i, dst) in [0u8, 1, 2, 3, 5, 7].into_iter().enumerate() {
        ops.push(Link {
            src: 6,
            field: i as u8,
            dst,
        });
    }
    ops.push(Link {
        src: 4,
        field: 0,
        dst: 5,
    });
    ops.push(Link {
        src: 0,
        field: 0,
        dst: 4,
    });
    ops.push(Link {
        src: 1,
        field: 1,
        dst: 6,
    });
    ops.push(Collect);
    // Drop the strong references to 5 and 7: the weak fields may go.
    ops.push(Drop { slot: 5 });
    ops.push(Drop { slot: 7 });
    ops.push(Collect);
    ops.push(Load {
        src: 6,
        field: 4,
        dst: 5,
    });
    ops.push(Load {
        src: 4,
        field: 0,
        dst: 7,
    });
    ops.push(Collect);
    run_ops(&ops);
}

#[test]
fn random_inputs() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("random_inputs: FUZZ_SEED={seed}");
    let mut x = seed | 1;
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for _ in 0..iterations {
        let len = (x % 600) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        run(&data);
    }
}

//! LO (leaf objects): objects without references that never move, are
//! never scanned, and die when nothing refers to them. That only leaf
//! types go in is checked at compile time
//! (`tests/ui/lo_pool_rejects_references.rs`).

mod common;

use common::{new_str, new_vector, Int, Lisp, Str, Vector};
use mps::{Arena, PoolOptions, Root};

#[inline(never)]
fn clobber_stack() {
    let buf = [0u64; 2048];
    std::hint::black_box(&buf);
}

#[test]
fn leaf_objects_stay_in_place_until_unreachable() {
    let arena = Arena::builder().arena_size(32 << 20).build().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let lo = arena.lo(fmt, &PoolOptions::default()).unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    const N: usize = 500;
    let root: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    arena
        .with_thread(|s| {
            let mut leaves = lo.ap().unwrap();
            let mut vectors = amc.ap().unwrap();
            assert_eq!(leaves.rank(), None);
            let mut addrs = Vec::new();
            s.scope(|t| {
                // An AMC vector holds the leaves: references *to* LO
                // objects are fine, and are fixed when the vector moves.
                let v = new_vector(t, &mut vectors, 0, N).unwrap();
                root.set(0, Some(v));
                for i in 0..N {
                    t.scope(|u| {
                        let leaf = if i % 2 == 0 {
                            new_str(u, &mut leaves, i as u64, &"x".repeat(i % 40)).unwrap()
                        } else {
                            u.alloc(&mut leaves, Int::new(i as u64, i as u64 * 7))
                                .unwrap()
                        };
                        assert!(lo.contains(leaf));
                        addrs.push(leaf.addr());
                        v.set(|v: &Vector| &v.elems[i], Some(leaf));
                    });
                }
            });
            for _ in 0..3 {
                arena.collect().unwrap();
                arena.release();
            }
            // In a scope of its own: the handle to the vector must not
            // outlive the check.
            s.scope(|t| {
                let v = root.get(0, t).unwrap();
                for (i, addr) in addrs.iter().enumerate() {
                    t.scope(|u| {
                        let leaf = v.get(u, |v: &Vector| &v.elems[i]).unwrap();
                        assert_eq!(leaf.addr(), *addr, "an LO object moved");
                        if i % 2 == 0 {
                            assert_eq!(leaf.with(|s: &Str| s.bytes.len()), i % 40);
                        } else {
                            assert_eq!(leaf.with(|n: &Int| n.get()), i as u64 * 7);
                        }
                    });
                }
            });
            let used = lo.total_size() - lo.free_size();
            assert!(used >= N * 24, "LO reports {used} bytes in use");
            root.clear();
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            let after = lo.total_size() - lo.free_size();
            println!("LO in use: {used} bytes before, {after} after");
            assert!(
                after < used / 2,
                "the unreachable leaves were not reclaimed"
            );
        })
        .unwrap();
}

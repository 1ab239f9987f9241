//! AMS (automatic mark-and-sweep): objects survive in place, die when
//! unreachable, and objects of an ambiguous allocation point pin what they
//! refer to. Also the option checks of pools and allocation points.

mod common;

use common::{new_vector, Int, Lisp, Pair, Vector};
use mps::{ApOptions, Arena, Error, GenParam, PoolOptions, Rank, Root};

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

/// Overwrites a stretch of stack below the caller, so that no stale copy
/// of a dead object's address pins it.
#[inline(never)]
fn clobber_stack() {
    let buf = [0u64; 2048];
    std::hint::black_box(&buf);
}

#[test]
fn objects_stay_in_place_and_die_when_unreachable() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = ams.ap().unwrap();
            assert_eq!(ap.rank(), Some(Rank::Exact));
            // A list of 2000 pairs, (0 1 ... 1999), held by the root.
            let mut addrs = Vec::new();
            s.scope(|t| {
                let head = t.alloc(&mut ap, Pair::new(u64::MAX)).unwrap();
                root.set(0, Some(head));
                let tail = t.copy(head);
                for i in 0..2000u64 {
                    t.scope(|u| {
                        let cell = u.alloc(&mut ap, Pair::new(i)).unwrap();
                        assert!(ams.contains(cell));
                        addrs.push(cell.addr());
                        tail.set(|p: &Pair| &p.cdr, Some(cell));
                        tail.assign(cell);
                    });
                }
            });
            let total = ams.total_size();
            assert!(total > 0 && ams.free_size() < total);
            for _ in 0..3 {
                arena.collect().unwrap();
            }
            arena.release();
            // Every pair is there, at the same address.
            let cursor = root.get(0, s).unwrap();
            for (i, addr) in addrs.iter().enumerate() {
                s.scope(|t| {
                    let next = cursor.get(t, |p: &Pair| &p.cdr).unwrap();
                    assert_eq!(next.addr(), *addr, "an AMS object moved");
                    assert_eq!(next.with(|p: &Pair| p.id), i as u64);
                    cursor.assign(next);
                });
            }
            // Drop the list: the pool's memory becomes free (most of it:
            // a stale word on the stack may pin a pair, and with it the
            // rest of the list behind it).
            let used_before = ams.total_size() - ams.free_size();
            root.clear();
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            let used_after = ams.total_size() - ams.free_size();
            println!("AMS in use: {used_before} bytes before, {used_after} after");
            assert!(used_after < used_before, "nothing was reclaimed");
        })
        .unwrap();
}

#[test]
fn an_ambiguous_allocation_point_pins_what_its_objects_refer_to() {
    if common::skip_unless_vendored("ambiguous AMS allocation points") {
        return;
    }
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[GenParam {
            capacity_kb: 128,
            mortality: 0.5,
        }])
        .unwrap();
    let options = PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    };
    let amc = arena.amc(fmt, &options).unwrap();
    let ams = arena.ams(fmt, &options).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 2).unwrap();
    const N: usize = 32;
    arena
        .with_thread(|s| {
            let mut pairs = amc.ap().unwrap();
            let mut exact = ams.ap().unwrap();
            let mut ambig = ams.ambiguous_ap().unwrap();
            assert_eq!(ambig.rank(), Some(Rank::Ambiguous));
            // Two AMS vectors referring to AMC pairs: one exact, one
            // ambiguous. Nothing else refers to the pairs.
            let mut pinned = Vec::new();
            let mut movable = Vec::new();
            s.scope(|t| {
                let a = new_vector(t, &mut ambig, 1, N).unwrap();
                let e = new_vector(t, &mut exact, 2, N).unwrap();
                root.set(0, Some(a));
                root.set(1, Some(e));
                for i in 0..N {
                    t.scope(|u| {
                        let p = u.alloc(&mut pairs, Pair::new(i as u64)).unwrap();
                        a.set(|v: &Vector| &v.elems[i], Some(p));
                        pinned.push(p.addr());
                        let q = u.alloc(&mut pairs, Pair::new(1000 + i as u64)).unwrap();
                        e.set(|v: &Vector| &v.elems[i], Some(q));
                        movable.push(q.addr());
                    });
                }
            });
            for _ in 0..4 {
                arena.collect().unwrap();
                arena.release();
                // Garbage between collections, so the nursery turns over.
                for i in 0..2000 {
                    s.scope(|t| {
                        t.alloc(&mut pairs, Pair::new(i)).unwrap();
                    });
                }
            }
            arena.collect().unwrap();
            let a = root.get(0, s).unwrap();
            let e = root.get(1, s).unwrap();
            let mut moved = 0;
            for i in 0..N {
                s.scope(|t| {
                    let p = a.get(t, |v: &Vector| &v.elems[i]).unwrap();
                    assert_eq!(
                        p.addr(),
                        pinned[i],
                        "an ambiguously referenced object moved"
                    );
                    assert_eq!(p.with(|p: &Pair| p.id), i as u64);
                    let q = e.get(t, |v: &Vector| &v.elems[i]).unwrap();
                    assert_eq!(q.with(|p: &Pair| p.id), 1000 + i as u64);
                    moved += usize::from(q.addr() != movable[i]);
                });
            }
            arena.release();
            println!("exactly referenced pairs that moved: {moved} of {N}");
            assert!(moved > 0, "no exactly referenced AMC object moved");
        })
        .unwrap();
}

#[test]
fn options_a_class_does_not_take_are_refused() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let one_gen = arena
        .chain(&[GenParam {
            capacity_kb: 256,
            mortality: 0.5,
        }])
        .unwrap();
    let interior = PoolOptions {
        interior: Some(false),
        ..PoolOptions::default()
    };
    let gen = |g| PoolOptions {
        chain: Some(one_gen),
        gen: Some(g),
        ..PoolOptions::default()
    };
    let zero_extend = PoolOptions {
        extend_by: Some(0),
        ..PoolOptions::default()
    };
    let absurd_extend = PoolOptions {
        extend_by: Some(usize::MAX),
        ..PoolOptions::default()
    };
    assert_eq!(arena.ams(fmt, &interior).unwrap_err(), Error::Param);
    assert_eq!(arena.awl(fmt, &interior).unwrap_err(), Error::Param);
    assert_eq!(arena.lo(fmt, &interior).unwrap_err(), Error::Param);
    assert_eq!(arena.amc(fmt, &gen(0)).unwrap_err(), Error::Param);
    assert_eq!(arena.ams(fmt, &gen(1)).unwrap_err(), Error::Param);
    assert_eq!(arena.ams(fmt, &zero_extend).unwrap_err(), Error::Param);
    assert_eq!(arena.lo(fmt, &absurd_extend).unwrap_err(), Error::Param);
    arena.ams(fmt, &gen(0)).unwrap();

    let amc = arena.amc(fmt, &interior).unwrap();
    let amcz = arena.amcz(fmt, &PoolOptions::default()).unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    let awl = arena.awl(fmt, &PoolOptions::default()).unwrap();
    let lo = arena.lo(fmt, &PoolOptions::default()).unwrap();
    let rank = |r| ApOptions {
        rank: Some(r),
        ..ApOptions::default()
    };
    let hash = ApOptions {
        hash_arrays: Some(true),
        ..ApOptions::default()
    };
    assert_eq!(amc.ap_with(&rank(Rank::Weak)).unwrap_err(), Error::Param);
    assert_eq!(
        amc.ap_with(&rank(Rank::Ambiguous)).unwrap_err(),
        Error::Param
    );
    assert_eq!(amcz.ap_with(&rank(Rank::Exact)).unwrap_err(), Error::Param);
    assert_eq!(ams.ap_with(&rank(Rank::Weak)).unwrap_err(), Error::Param);
    assert_eq!(
        awl.ap_with(&rank(Rank::Ambiguous)).unwrap_err(),
        Error::Param
    );
    assert_eq!(lo.ap_with(&rank(Rank::Exact)).unwrap_err(), Error::Param);
    assert_eq!(ams.ap_with(&hash).unwrap_err(), Error::Param);
    assert_eq!(
        amc.ap_with(&rank(Rank::Exact)).unwrap().rank(),
        Some(Rank::Exact)
    );
    assert_eq!(amc.ap_with(&hash).unwrap().rank(), Some(Rank::Exact));
    assert_eq!(amcz.ap_with(&hash).unwrap().rank(), None);
    assert_eq!(lo.ap().unwrap().rank(), None);
    assert_eq!(awl.weak_ap().unwrap().rank(), Some(Rank::Weak));
    if mps::sys::VENDORED {
        // Another library may refuse ambiguous AMS points.
        assert_eq!(ams.ambiguous_ap().unwrap().rank(), Some(Rank::Ambiguous));
    }

    // Leaf objects go anywhere; an Int in AMS is fine too.
    arena
        .with_thread(|s| {
            let mut ap = ams.ap().unwrap();
            let h = s.alloc(&mut ap, Int::new(1, 2)).unwrap();
            assert_eq!(h.with(|i: &Int| i.get()), 2);
            assert!(ams.contains(h) && !amc.contains(h));
        })
        .unwrap();
}

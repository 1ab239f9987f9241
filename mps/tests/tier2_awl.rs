//! AWL (automatic weak linked): weak references read as `None` once their
//! targets die and follow them while they live; a weak-key table's scan
//! clears the values of splatted keys in the dependent object; weak roots
//! and `WeakRef` behave the same way.

mod common;

use common::{
    new_depvec, new_str, new_vector, set_dependent, DepVec, Int, Lisp, Pair, Str, Vector,
};
use mps::{Arena, GenParam, PoolOptions, Rank, Root, Scope, WeakRef};

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

fn options(arena: &Arena) -> PoolOptions<'_> {
    let chain = arena
        .chain(&[GenParam {
            capacity_kb: 128,
            mortality: 0.5,
        }])
        .unwrap();
    PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    }
}

const N: usize = 64;

#[test]
fn weak_references_follow_live_targets_and_clear_dead_ones() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let options = options(&arena);
    let amc = arena.amc(fmt, &options).unwrap();
    let awl = arena.awl(fmt, &options).unwrap();
    let strong: Root<'_, Lisp> = Root::exact(&arena, N + 1).unwrap();
    arena
        .with_thread(|s| {
            let mut pairs = amc.ap().unwrap();
            let mut weak = awl.weak_ap().unwrap();
            assert_eq!(weak.rank(), Some(Rank::Weak));
            // A weak vector of N pairs; the even ones are also held
            // strongly, the odd ones only weakly.
            fill(s, &mut weak, &mut pairs, &strong);
            clobber_stack();
            let mut before = vec![0; N];
            s.scope(|t| {
                let v = strong.get(N, t).unwrap();
                for (i, addr) in before.iter_mut().enumerate().step_by(2) {
                    *addr = v.get(t, |v: &Vector| &v.elems[i]).unwrap().addr();
                }
            });
            arena.collect().unwrap();
            arena.release();
            let v = strong.get(N, s).unwrap();
            let mut cleared = 0;
            let mut moved = 0;
            for (i, old_addr) in before.iter().enumerate() {
                s.scope(|t| match v.get(t, |v: &Vector| &v.elems[i]) {
                    Some(p) => {
                        assert_eq!(p.with(|p: &Pair| p.id), i as u64);
                        if i % 2 == 0 {
                            moved += usize::from(p.addr() != *old_addr);
                            assert!(strong.get(i, t).unwrap().ptr_eq(p));
                        }
                    }
                    None => {
                        assert_eq!(
                            i % 2,
                            1,
                            "weak reference {i} cleared, but its target is alive"
                        );
                        cleared += 1;
                    }
                });
            }
            println!(
                "weak: {cleared} of {} dead targets cleared; {moved} live ones moved",
                N / 2
            );
            assert!(
                cleared >= N / 4,
                "too few weak references cleared: {cleared}"
            );
            assert!(moved > 0, "no live target moved (AMC should copy them)");
        })
        .unwrap();
}

/// Allocates the weak vector (root slot N) and its N pairs; the even ones
/// go into root slot i as well. In a frame of its own, gone before the
/// collection.
#[inline(never)]
fn fill(
    s: &mut Scope<'_>,
    weak: &mut mps::Ap<'_, Lisp, mps::AwlClass>,
    pairs: &mut mps::Ap<'_, Lisp, mps::AmcClass>,
    strong: &Root<'_, Lisp>,
) {
    s.scope(|t| {
        let v = new_vector(t, weak, 1, N).unwrap();
        strong.set(N, Some(v));
        for i in 0..N {
            t.scope(|u| {
                let p = u.alloc(pairs, Pair::new(i as u64)).unwrap();
                v.set(|v: &Vector| &v.elems[i], Some(p));
                if i % 2 == 0 {
                    strong.set(i, Some(p));
                }
            });
        }
    });
}

#[test]
fn a_weak_key_table_forgets_values_with_their_keys() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let options = options(&arena);
    let amc = arena.amc(fmt, &options).unwrap();
    let awl = arena.awl(fmt, &options).unwrap();
    let lo = arena.lo(fmt, &options).unwrap();
    // Slot 0: keys, slot 1: values; slots 2..: the keys kept alive.
    let root: Root<'_, Lisp> = Root::exact(&arena, 2 + N).unwrap();
    arena
        .with_thread(|s| {
            let mut weak = awl.weak_ap().unwrap();
            let mut exact = awl.ap().unwrap();
            let mut strings = lo.ap().unwrap();
            let mut ints = amc.ap().unwrap();
            build_table(s, &mut weak, &mut exact, &mut strings, &mut ints, &root);
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            let keys = root.get(0, s).unwrap();
            let values = root.get(1, s).unwrap();
            let mut forgotten = 0;
            for i in 0..N {
                s.scope(|t| {
                    let k = keys.get(t, |k: &DepVec| &k.elems[i]);
                    let v = values.get(t, |v: &Vector| &v.elems[i]);
                    match (k, v) {
                        (Some(k), Some(v)) => {
                            assert_eq!(
                                k.with(|s: &Str| s.bytes.to_vec()),
                                format!("key-{i}").as_bytes()
                            );
                            assert_eq!(v.with(|n: &Int| n.get()), i as u64 * 10);
                        }
                        (None, None) => {
                            assert_eq!(i % 2, 1, "key {i} is held but was forgotten");
                            forgotten += 1;
                        }
                        (k, v) => panic!("entry {i}: key {k:?} but value {v:?}"),
                    }
                });
            }
            let splats =
                keys.with(|k: &DepVec| k.splats.load(std::sync::atomic::Ordering::Relaxed));
            println!(
                "weak table: {forgotten} of {} unreferenced keys forgotten",
                N / 2
            );
            assert_eq!(
                splats, forgotten,
                "every forgotten key was seen splatted once"
            );
            assert!(forgotten >= N / 4, "too few keys forgotten: {forgotten}");
            // The values of forgotten keys die in the next collection.
            arena.collect().unwrap();
            arena.release();
        })
        .unwrap();
}

/// Builds a table of N entries key-i -> Int(i * 10): keys (LO strings) in
/// a weak dependent vector, values in its exact dependent; even keys are
/// also held by the root.
#[inline(never)]
fn build_table(
    s: &mut Scope<'_>,
    weak: &mut mps::Ap<'_, Lisp, mps::AwlClass>,
    exact: &mut mps::Ap<'_, Lisp, mps::AwlClass>,
    strings: &mut mps::Ap<'_, Lisp, mps::LoClass>,
    ints: &mut mps::Ap<'_, Lisp, mps::AmcClass>,
    root: &Root<'_, Lisp>,
) {
    s.scope(|t| {
        let keys = new_depvec(t, weak, 1, N).unwrap();
        let values = new_vector(t, exact, 2, N).unwrap();
        root.set(0, Some(keys));
        root.set(1, Some(values));
        // SAFETY: `values` is in AWL (non-moving) and the root holds both
        // for the whole test.
        unsafe { set_dependent(keys, values) };
        for i in 0..N {
            t.scope(|u| {
                let k = new_str(u, strings, i as u64, &format!("key-{i}")).unwrap();
                let v = u.alloc(ints, Int::new(i as u64, i as u64 * 10)).unwrap();
                keys.set(|k: &DepVec| &k.elems[i], Some(k));
                values.set(|v: &Vector| &v.elems[i], Some(v));
                if i % 2 == 0 {
                    root.set(2 + i, Some(k));
                }
            });
        }
    });
}

#[test]
fn exact_awl_objects_keep_their_targets() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let options = options(&arena);
    let amc = arena.amc(fmt, &options).unwrap();
    let awl = arena.awl(fmt, &options).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    arena
        .with_thread(|s| {
            let mut exact = awl.ap().unwrap();
            let mut pairs = amc.ap().unwrap();
            s.scope(|t| {
                let v = new_vector(t, &mut exact, 1, N).unwrap();
                root.set(0, Some(v));
                let addr = v.addr();
                for i in 0..N {
                    t.scope(|u| {
                        let p = u.alloc(&mut pairs, Pair::new(i as u64)).unwrap();
                        v.set(|v: &Vector| &v.elems[i], Some(p));
                    });
                }
                for _ in 0..3 {
                    arena.collect().unwrap();
                    arena.release();
                }
                assert_eq!(v.addr(), addr, "an AWL object moved");
                for i in 0..N {
                    t.scope(|u| {
                        let p = v.get(u, |v: &Vector| &v.elems[i]).unwrap();
                        assert_eq!(p.with(|p: &Pair| p.id), i as u64);
                    });
                }
            });
        })
        .unwrap();
}

#[test]
fn weak_roots_and_weak_refs_read_none_after_death() {
    if common::skip_unless_vendored("weak roots (Root::weak, WeakRef)") {
        return;
    }
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &options(&arena)).unwrap();
    let keep: Root<'_, Lisp> = Root::exact(&arena, 1).unwrap();
    let table: Root<'_, Lisp> = Root::weak(&arena, N).unwrap();
    let alive: WeakRef<'_, Lisp> = WeakRef::new(&arena).unwrap();
    let dead: WeakRef<'_, Lisp> = WeakRef::new(&arena).unwrap();
    arena
        .with_thread(|s| {
            let mut pairs = amc.ap().unwrap();
            assert!(alive.is_cleared() && dead.is_cleared());
            populate(s, &mut pairs, &keep, &table, &alive, &dead);
            clobber_stack();
            arena.collect().unwrap();
            arena.release();
            let kept = keep.get(0, s).unwrap();
            let a = alive
                .get(s)
                .expect("the weak reference to a held object was cleared");
            assert!(a.ptr_eq(kept));
            assert!(!alive.is_cleared());
            let cleared = (0..N)
                .filter(|&i| s.scope(|t| table.get(i, t).is_none()))
                .count();
            println!(
                "weak root: {cleared} of {N} cleared; WeakRef to garbage cleared: {}",
                dead.is_cleared()
            );
            assert!(
                cleared >= N / 2,
                "too few weak root slots cleared: {cleared}"
            );
            // Once cleared, nothing brings it back.
            if dead.is_cleared() {
                assert!(dead.get(s).is_none());
            }
        })
        .unwrap();
}

#[inline(never)]
fn populate(
    s: &mut Scope<'_>,
    pairs: &mut mps::Ap<'_, Lisp, mps::AmcClass>,
    keep: &Root<'_, Lisp>,
    table: &Root<'_, Lisp>,
    alive: &WeakRef<'_, Lisp>,
    dead: &WeakRef<'_, Lisp>,
) {
    s.scope(|t| {
        let k = t.alloc(pairs, Pair::new(0)).unwrap();
        keep.set(0, Some(k));
        alive.set(Some(k));
        let d = t.alloc(pairs, Pair::new(1)).unwrap();
        dead.set(Some(d));
        for i in 0..N {
            t.scope(|u| {
                let p = u.alloc(pairs, Pair::new(i as u64)).unwrap();
                table.set(i, Some(p));
            });
        }
    });
}

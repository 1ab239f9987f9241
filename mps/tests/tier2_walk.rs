//! Heap walks, root walks and address queries.

mod common;

use std::collections::HashSet;
use std::ptr::NonNull;

use common::{id_of, new_str, new_vector, Int, Lisp, Pair, Vector};
use mps::{Arena, Error, Format, Object, PoolOptions, Root, ScanState, WeakRef};

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

#[test]
fn walks_visit_every_object_and_only_objects() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    let awl = arena.awl(fmt, &PoolOptions::default()).unwrap();
    let lo = arena.lo(fmt, &PoolOptions::default()).unwrap();
    const PER_POOL: u64 = 300;
    let root: Root<'_, Lisp> = Root::exact(&arena, 4).unwrap();
    arena
        .with_thread(|s| {
            let mut amc_ap = amc.ap().unwrap();
            let mut ams_ap = ams.ap().unwrap();
            let mut awl_ap = awl.ap().unwrap();
            let mut lo_ap = lo.ap().unwrap();
            // Pool k's objects have ids k * 1000 + i and hang off an AMC
            // vector in root slot k.
            s.scope(|t| {
                for k in 0..4u64 {
                    let v = new_vector(t, &mut amc_ap, 900_000 + k, PER_POOL as usize).unwrap();
                    root.set(k as usize, Some(v));
                    for i in 0..PER_POOL {
                        t.scope(|u| {
                            let id = k * 1000 + i;
                            let h = match k {
                                0 => u.alloc(&mut amc_ap, Pair::new(id)).unwrap(),
                                1 => u.alloc(&mut ams_ap, Pair::new(id)).unwrap(),
                                2 => new_vector(u, &mut awl_ap, id, 3).unwrap(),
                                _ => new_str(u, &mut lo_ap, id, "leaf").unwrap(),
                            };
                            v.set(|v: &Vector| &v.elems[i as usize], Some(h));
                        });
                    }
                }
                // Garbage, so AMC has dead objects and pads to skip.
                for i in 0..5000 {
                    t.scope(|u| {
                        u.alloc(&mut amc_ap, Pair::new(500_000 + i)).unwrap();
                    });
                }
            });
            arena.collect().unwrap();

            let mut seen = HashSet::new();
            let n = arena
                .walk_objects::<Lisp>(s, |_, h| {
                    // `id_of` panics on anything but an object of the format.
                    assert!(seen.insert(id_of(h)), "an object was visited twice");
                })
                .unwrap();
            assert_eq!(n, seen.len());
            for k in 0..4 {
                for i in 0..PER_POOL {
                    assert!(
                        seen.contains(&(k * 1000 + i)),
                        "object {} not visited",
                        k * 1000 + i
                    );
                }
            }
            println!("walk_objects: {n} objects");

            let pools = [amc.id(), ams.id(), awl.id(), lo.id()];
            for (k, pool_id) in pools.iter().enumerate() {
                let mut ids = HashSet::new();
                let visit = |_: &mut mps::Scope<'_>, h: mps::Handle<'_, Lisp>| {
                    assert_eq!(
                        h.pool(),
                        Some(*pool_id),
                        "a walked object is in another pool"
                    );
                    ids.insert(id_of(h));
                };
                let n = match k {
                    0 => amc.walk(s, visit),
                    1 => ams.walk(s, visit),
                    2 => awl.walk(s, visit),
                    _ => lo.walk(s, visit),
                }
                .unwrap();
                assert_eq!(n, ids.len());
                for i in 0..PER_POOL {
                    assert!(ids.contains(&(k as u64 * 1000 + i)));
                }
            }
            arena.release();
        })
        .unwrap();
}

#[test]
fn a_walk_keeps_its_objects_while_the_closure_collects_and_allocates() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 200).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            for i in 0..200 {
                s.scope(|t| {
                    let h = t.alloc(&mut ap, Int::new(i, i * 2)).unwrap();
                    root.set(i as usize, Some(h));
                });
            }
            let mut visits = 0;
            let n = amc
                .walk(s, |t, h| {
                    visits += 1;
                    // Drop every root reference and collect: the walk itself
                    // must keep the objects still to be visited.
                    if visits == 1 {
                        root.clear();
                        arena.collect().unwrap();
                    }
                    let (id, value) = h.with(|i: &Int| (i.id, i.get()));
                    assert_eq!(value, id * 2, "a walked object was reclaimed or corrupted");
                    t.alloc(&mut ap, Pair::new(id)).unwrap();
                })
                .unwrap();
            assert_eq!(n, visits);
            assert!(n >= 200);
            arena.release();
        })
        .unwrap();
}

#[test]
fn root_walks_report_root_references() {
    if common::skip_unless_vendored("weak roots (WeakRef)") {
        return;
    }
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 8).unwrap();
    let weak: WeakRef<'_, Lisp> = WeakRef::new(&arena).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut addrs = HashSet::new();
            for i in 0..8 {
                let h = s.alloc(&mut ap, Pair::new(i)).unwrap();
                root.set(i as usize, Some(h));
                if i == 3 {
                    weak.set(Some(h));
                }
            }
            let refs = arena.walk_roots().unwrap();
            for i in 0..8 {
                s.scope(|t| {
                    addrs.insert(root.get(i, t).unwrap().addr());
                });
            }
            let from_root: HashSet<usize> = refs
                .iter()
                .filter(|r| r.root == root.id())
                .map(|r| r.addr)
                .collect();
            assert_eq!(from_root, addrs);
            let from_weak: Vec<usize> = refs
                .iter()
                .filter(|r| r.root == weak.id())
                .map(|r| r.addr)
                .collect();
            assert_eq!(from_weak, vec![weak.get(s).unwrap().addr()]);
            // The handle table is a root too: every handle's object shows up.
            let h = s.alloc(&mut ap, Pair::new(99)).unwrap();
            let refs = arena.walk_roots().unwrap();
            assert!(refs.iter().any(|r| r.addr == h.addr()));
            arena.release();
        })
        .unwrap();
}

#[test]
fn address_queries_name_pools_and_formats() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let other_fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let lo = arena.lo(other_fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut leaves = lo.ap().unwrap();
            let p = s.alloc(&mut ap, Pair::new(1)).unwrap();
            let q = s.alloc(&mut leaves, Int::new(2, 3)).unwrap();
            arena.park();
            assert_eq!(arena.addr_pool(p.addr()), Some(amc.id()));
            assert_eq!(arena.addr_fmt(p.addr()), Some(fmt.id()));
            assert_eq!(arena.addr_pool(q.addr()), Some(lo.id()));
            assert_eq!(arena.addr_fmt(q.addr()), Some(other_fmt.id()));
            assert_ne!(fmt.id(), other_fmt.id());
            assert_eq!(p.pool(), Some(amc.id()));
            assert!(amc.contains(p) && !amc.contains(q) && lo.contains(q));
            let local = 0u64;
            let outside = std::ptr::addr_of!(local) as usize;
            assert!(!arena.has_addr(outside));
            assert_eq!(arena.addr_pool(outside), None);
            assert_eq!(arena.addr_fmt(outside), None);
            assert_eq!(arena.addr_pool(0), None);
            arena.release();
        })
        .unwrap();
}

/// `Lisp` without `is_pad`: the default says every block is a pad.
enum Plain {}

// SAFETY: delegates to `Lisp`, a correct format, except `is_pad`, whose
// default is always sound.
unsafe impl Format for Plain {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::scan(ss, base, limit) }
    }
    unsafe fn skip(addr: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::skip(addr) }
    }
    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::forward(old, new) }
    }
    unsafe fn is_forwarded(addr: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::is_forwarded(addr) }
    }
    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: forwarded unchanged.
        unsafe { Lisp::pad(base, size) }
    }
}

/// An `Int` of the `Plain` format.
#[repr(transparent)]
struct PlainInt(Int);

// SAFETY: the same layout and checks as `Int`, for the `Plain` format.
unsafe impl Object for PlainInt {
    type Format = Plain;
    unsafe fn is_instance(addr: NonNull<u8>) -> bool {
        // SAFETY: the caller's guarantee, as for `Int`.
        unsafe { Int::is_instance(addr) }
    }
    unsafe fn from_addr(addr: NonNull<u8>) -> NonNull<Self> {
        addr.cast()
    }
}

#[test]
fn without_is_pad_walks_skip_pools_that_may_hold_pads() {
    let arena = arena();
    let fmt = arena.format::<Plain>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut a = amc.ap().unwrap();
            let mut b = ams.ap().unwrap();
            for i in 0..10 {
                s.alloc(&mut a, PlainInt(Int::new(i, 0))).unwrap();
                s.alloc(&mut b, PlainInt(Int::new(100 + i, 0))).unwrap();
            }
            let mut ids = Vec::new();
            arena
                .walk_objects::<Plain>(s, |_, h| ids.push(h.with(|i: &PlainInt| i.0.id)))
                .unwrap();
            ids.sort_unstable();
            assert_eq!(ids, (100..110).collect::<Vec<_>>());
            assert_eq!(amc.walk(s, |_, _| {}).unwrap(), 0);
            // Objects of another format are not visited.
            assert_eq!(arena.walk_objects::<Lisp>(s, |_, _| {}).unwrap(), 0);
            arena.release();
        })
        .unwrap();
}

#[test]
fn the_spare_fraction_can_be_read_and_set() {
    let arena = Arena::builder().spare(0.5).build().unwrap();
    assert_eq!(arena.spare(), 0.5);
    arena.set_spare(0.0).unwrap();
    assert_eq!(arena.spare(), 0.0);
    assert_eq!(arena.spare_committed(), 0);
    for bad in [-0.5, 1.5, f64::NAN] {
        assert_eq!(arena.set_spare(bad), Err(Error::Param));
    }
    assert_eq!(arena.spare(), 0.0);
    assert_eq!(
        Arena::builder().spare(2.0).build().unwrap_err(),
        Error::Param
    );
}

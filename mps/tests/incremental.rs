//! Incremental collection behind the read barrier (DESIGN.md#incremental).
//!
//! With a pause time of 0, every collection of a heap made only of AMC and
//! AMCZ pools, reached from an exact root (and the thread's ambiguous
//! stack), is incremental: the mutator runs between its steps. A seeded
//! random mutator builds and rewires a graph of pairs, vectors (AMC) and
//! integers (AMCZ) and checks the whole reachable graph against a shadow
//! model every few steps *without parking the arena*, so many checks walk
//! the heap while a collection is in progress (reading grey segments, which
//! the read barrier protects). Now and then the arena is parked for a check
//! as well. The seed is printed; set `MPS_TEST_SEED` to reproduce.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use common::{id_of, kid, kids_of, new_vector, set_kid, Int, Lisp, Pair, Rng, Vector};
use mps::{Arena, ArenaBuilder, GenParam, Handle, PoolOptions, Root, Scope, WriteBarrier};

const ROOTS: usize = 32;
const STEPS: usize = 60_000;
const CHECK_EVERY: usize = 50;
const PARK_EVERY: usize = 10; // checks

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pair,
    Vector,
    Int(u64),
}

struct Node {
    kind: Kind,
    kids: Vec<Option<u64>>,
}

/// The shadow heap: what every root slot and reference field should hold.
#[derive(Default)]
struct Model {
    nodes: HashMap<u64, Node>,
    roots: Vec<Option<u64>>,
    next_id: u64,
}

impl Model {
    fn fresh(&mut self, kind: Kind, kids: Vec<Option<u64>>) -> u64 {
        self.next_id += 1;
        self.nodes.insert(self.next_id, Node { kind, kids });
        self.next_id
    }

    /// Forgets every node no root reaches.
    fn prune(&mut self) {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = self.roots.iter().flatten().copied().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.nodes[&id].kids.iter().flatten());
            }
        }
        self.nodes.retain(|id, _| seen.contains(id));
    }
}

/// The address in child field `i`, without making a handle.
fn kid_addr(h: Handle<'_, Lisp>, i: usize) -> usize {
    if h.is::<Pair>() {
        h.with(|p: &Pair| if i == 0 { p.car.addr() } else { p.cdr.addr() })
    } else {
        h.with(|v: &Vector| v.elems[i].addr())
    }
}

/// Walks everything the roots reach (iteratively, one handle per object)
/// and compares it with the model; returns the number of objects. Does
/// not allocate, so no collector step runs meanwhile and no object the
/// walk has seen may move: each id must be found at one address.
fn check(s: &mut Scope<'_>, roots: &Root<'_, Lisp>, model: &Model, when: &str) -> usize {
    s.scope(|t| {
        let mut seen: HashMap<u64, usize> = HashMap::new();
        let mut stack = Vec::new();
        for (i, want) in model.roots.iter().enumerate() {
            match (roots.get(i, t), want) {
                (None, None) => {}
                (Some(h), Some(id)) => stack.push((h, *id)),
                (got, want) => panic!("{when}: root {i}: got {got:?}, want {want:?}"),
            }
        }
        while let Some((h, id)) = stack.pop() {
            if let Some(&addr) = seen.get(&id) {
                assert_eq!(addr, h.addr(), "{when}: object {id} at two addresses");
                continue;
            }
            seen.insert(id, h.addr());
            assert_eq!(id_of(h), id, "{when}: wrong object at {:#x}", h.addr());
            let node = &model.nodes[&id];
            match node.kind {
                Kind::Pair => assert!(h.is::<Pair>(), "{when}: object {id} is not a pair"),
                Kind::Vector => assert_eq!(
                    h.try_with(|v: &Vector| v.elems.len()),
                    Some(node.kids.len()),
                    "{when}: object {id} is not a vector of the right length"
                ),
                Kind::Int(value) => assert_eq!(
                    h.try_with(|n: &Int| n.get()),
                    Some(value),
                    "{when}: object {id} is not the right integer"
                ),
            }
            for (i, want) in node.kids.iter().enumerate() {
                let addr = kid_addr(h, i);
                match want {
                    None => assert_eq!(addr, 0, "{when}: object {id} child {i} not null"),
                    Some(k) => match seen.get(k) {
                        Some(&at) => {
                            assert_eq!(addr, at, "{when}: object {id} child {i} is not {k}")
                        }
                        None => match kid(t, h, i) {
                            Some(c) => stack.push((c, *k)),
                            None => panic!("{when}: object {id} child {i} null, want {k}"),
                        },
                    },
                }
            }
        }
        seen.len()
    })
}

#[test]
fn graph_checked_during_incremental_collections() {
    incremental_graph(Arena::builder(), "incremental");
}

/// The same with the soft write barrier (vendor/mps/DESIGN.md#barrier-soft)
/// where the kernel allows it; the read barrier stays mprotect.
#[test]
fn graph_checked_during_incremental_collections_with_the_soft_barrier() {
    incremental_graph(
        Arena::builder().write_barrier(WriteBarrier::Soft),
        "incremental-soft",
    );
}

fn incremental_graph(builder: ArenaBuilder, name: &str) {
    if !mps::sys::EXTENSIONS {
        eprintln!(
            "skipped: needs the mpsx_ extensions (mpsx_arena_tracing), which the linked MPS library lacks"
        );
        return;
    }
    let mut rng = Rng::from_env(name);
    let arena = builder
        .arena_size(64 << 20)
        .pause_time(0.0)
        .build()
        .unwrap();
    eprintln!("{name}: write barrier {:?}", arena.write_barrier());
    assert_eq!(arena.pause_time(), 0.0);
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[
            GenParam {
                capacity_kb: 64,
                mortality: 0.8,
            },
            GenParam {
                capacity_kb: 512,
                mortality: 0.4,
            },
        ])
        .unwrap();
    // Small segments: each buffer fill gives the mutator 4 KiB, so a
    // collection takes several fills (32 KiB) to reach its first step, and
    // the grey set is fine-grained (many barrier faults).
    let options = PoolOptions {
        chain: Some(chain),
        extend_by: Some(4096),
        ..PoolOptions::default()
    };
    let amc = arena.amc(fmt, &options).unwrap();
    let amcz = arena.amcz(fmt, &options).unwrap();
    let roots: Root<'_, Lisp> = Root::exact(&arena, ROOTS).unwrap();
    let log = arena.log_pauses().expect("extensions");
    let mut model = Model {
        roots: vec![None; ROOTS],
        ..Model::default()
    };
    let (mut checks, mut during, mut parked, mut changed, mut max_live) = (0, 0, 0, 0, 0);
    let mut seen_in_progress = HashSet::new(); // collection numbers
    let start = std::time::Instant::now();

    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut leaf = amcz.ap().unwrap();
            for step in 1..=STEPS {
                s.scope(|t| {
                    let a = rng.below(ROOTS);
                    let b = rng.below(ROOTS);
                    match rng.below(100) {
                        0..=19 => {
                            let v = rng.next() % 1000;
                            let id = model.fresh(Kind::Int(v), vec![]);
                            roots.set(a, Some(t.alloc(&mut leaf, Int::new(id, v)).unwrap()));
                            model.roots[a] = Some(id);
                        }
                        20..=44 => {
                            let kids = vec![model.roots[a], model.roots[b]];
                            let id = model.fresh(Kind::Pair, kids);
                            let (car, cdr) = (roots.get(a, t), roots.get(b, t));
                            let h = t.alloc(&mut ap, Pair::new(id)).unwrap();
                            h.set(|p: &Pair| &p.car, car);
                            h.set(|p: &Pair| &p.cdr, cdr);
                            roots.set(a, Some(h));
                            model.roots[a] = Some(id);
                        }
                        45..=51 => {
                            let len = 1 + rng.below(12);
                            let slots: Vec<usize> = (0..len).map(|_| rng.below(ROOTS)).collect();
                            let kids = slots.iter().map(|&c| model.roots[c]).collect();
                            let id = model.fresh(Kind::Vector, kids);
                            let h = new_vector(t, &mut ap, id, len).unwrap();
                            for (i, &c) in slots.iter().enumerate() {
                                let v = roots.get(c, t);
                                h.set(|v: &Vector| &v.elems[i], v);
                            }
                            roots.set(a, Some(h));
                            model.roots[a] = Some(id);
                        }
                        52..=71 => {
                            // a.kid[i] = b, or one of b's children
                            if let (Some(pa), Some(ida)) = (roots.get(a, t), model.roots[a]) {
                                let n = kids_of(pa);
                                if n > 0 {
                                    let i = rng.below(n);
                                    let mut target = roots.get(b, t);
                                    let mut target_id = model.roots[b];
                                    if let (Some(pb), Some(idb)) = (target, target_id) {
                                        let m = kids_of(pb);
                                        if m > 0 && rng.chance(1, 3) {
                                            let j = rng.below(m);
                                            target = kid(t, pb, j);
                                            target_id = model.nodes[&idb].kids[j];
                                        }
                                    }
                                    set_kid(pa, i, target);
                                    model.nodes.get_mut(&ida).unwrap().kids[i] = target_id;
                                }
                            }
                        }
                        72..=81 => {
                            roots.set(a, None);
                            model.roots[a] = None;
                        }
                        82..=87 => {
                            // a = a child of b
                            if let (Some(pb), Some(idb)) = (roots.get(b, t), model.roots[b]) {
                                let n = kids_of(pb);
                                if n > 0 {
                                    let j = rng.below(n);
                                    roots.set(a, kid(t, pb, j));
                                    model.roots[a] = model.nodes[&idb].kids[j];
                                }
                            }
                        }
                        88..=91 => {
                            if let (Some(h), Some(id)) = (roots.get(a, t), model.roots[a]) {
                                let v = rng.next() % 1000;
                                if h.try_with(|n: &Int| n.value.store(v, Ordering::Relaxed))
                                    .is_some()
                                {
                                    model.nodes.get_mut(&id).unwrap().kind = Kind::Int(v);
                                }
                            }
                        }
                        92..=97 => {
                            // Garbage: a list of pairs of fresh integers held
                            // only by a handle while allocation may step the
                            // collector, then walked and dropped.
                            let n = 50 + rng.below(250) as u64;
                            let head = t.alloc(&mut ap, Pair::new(0)).unwrap();
                            for i in 1..n {
                                t.scope(|u| {
                                    let cell = u.alloc(&mut ap, Pair::new(i)).unwrap();
                                    let int = u.alloc(&mut leaf, Int::new(i, i * 7)).unwrap();
                                    cell.set(|p: &Pair| &p.car, Some(int));
                                    cell.set(|p: &Pair| &p.cdr, Some(head));
                                    head.assign(cell);
                                });
                            }
                            for i in (0..n).rev() {
                                assert_eq!(
                                    head.with(|p: &Pair| p.id),
                                    i,
                                    "step {step}: garbage list"
                                );
                                t.scope(|u| {
                                    if let Some(int) = head.get(u, |p: &Pair| &p.car) {
                                        assert_eq!(int.with(|n: &Int| n.get()), i * 7);
                                    }
                                    if let Some(next) = head.get(u, |p: &Pair| &p.cdr) {
                                        head.assign(next);
                                    }
                                });
                            }
                        }
                        _ => {
                            // Now and then a little collector work from outside
                            // allocation; never starts a collection.
                            if rng.chance(1, 20) {
                                arena.step(0.0005, 0.0);
                            }
                        }
                    }
                });

                if step % CHECK_EVERY == 0 {
                    checks += 1;
                    let park = checks % PARK_EVERY == 0;
                    if park {
                        arena.park();
                        assert_eq!(
                            arena.collection_in_progress(),
                            Some(false),
                            "parked, yet tracing"
                        );
                        parked += 1;
                    }
                    let before = arena.collection_in_progress() == Some(true);
                    if before {
                        during += 1;
                        seen_in_progress.insert(arena.collections());
                    }
                    let when = format!("step {step} (in progress: {before}, parked: {park})");
                    let live = check(s, &roots, &model, &when);
                    if (arena.collection_in_progress() == Some(true)) != before {
                        changed += 1;
                    }
                    max_live = max_live.max(live);
                    model.prune();
                    if park {
                        arena.release();
                    }
                }
            }
        })
        .unwrap();

    let collections = arena.collections();
    let pauses = log.finish();
    eprintln!(
        "incremental: {STEPS} steps, {} objects allocated, at most {max_live} live; \
         {collections} collections, {} seen in progress; {checks} checks, {during} during a \
         collection, {parked} parked, {changed} with the state changing while checking; \
         {pauses:?}; {:?}",
        model.next_id,
        seen_in_progress.len(),
        start.elapsed()
    );
    // Every pause is counted by its kind; the mutator ran between the
    // flips and steps of collections, and touched grey memory.
    assert_eq!(
        pauses.count,
        pauses.atomic + pauses.flips + pauses.steps + pauses.faults
    );
    assert!(pauses.flips >= 5, "only {} incremental flips", pauses.flips);
    assert!(pauses.steps > 0 && pauses.faults > 0, "{pauses:?}");
    assert!(pauses.max <= pauses.total);
    assert!(collections >= 20, "only {collections} collections");
    assert!(during >= 20, "only {during} checks during a collection");
    assert!(
        seen_in_progress.len() >= 5,
        "only {} collections seen in progress",
        seen_in_progress.len()
    );
}

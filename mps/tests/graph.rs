//! A randomised object graph through the safe API, checked against a shadow
//! model after each of several hundred collections.
//!
//! The heap holds pairs, vectors (AMC), integers and strings (AMCZ), reached
//! from an exact root, an ambiguous root (whose objects must not move) and
//! a weak root (whose slots may only be cleared when the object is
//! unreachable). The seed is printed; set `MPS_TEST_SEED` to reproduce.

mod common;

use std::collections::HashMap;

use common::{
    id_of, kid, kids_of, new_str, new_vector, set_kid, Int, Lisp, Pair, Rng, Str, Vector,
};
use mps::{
    Arena, ArenaBuilder, GenParam, Handle, MessageType, PoolOptions, Root, Scope, WriteBarrier,
};

const ROOTS: usize = 48;
const AMBIG: usize = 8;
const WEAK: usize = 8;
const COLLECTIONS: usize = 300;
const STEPS_PER_COLLECTION: usize = 60;
const GARBAGE: u64 = 1500;

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Pair,
    Int(u64),
    Vector,
    Str(String),
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    kids: Vec<Option<u64>>,
}

#[derive(Default)]
struct Model {
    nodes: HashMap<u64, Node>,
    roots: Vec<Option<u64>>,
    ambig: Vec<Option<(u64, usize)>>,
    weak: Vec<Option<u64>>,
    next_id: u64,
}

impl Model {
    fn fresh(&mut self, kind: Kind, kids: usize) -> u64 {
        self.next_id += 1;
        self.nodes.insert(
            self.next_id,
            Node {
                kind,
                kids: vec![None; kids],
            },
        );
        self.next_id
    }

    fn reachable(&self) -> std::collections::HashSet<u64> {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<u64> = self
            .roots
            .iter()
            .flatten()
            .copied()
            .chain(self.ambig.iter().flatten().map(|&(id, _)| id))
            .collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.nodes[&id].kids.iter().flatten());
            }
        }
        seen
    }
}

/// Checks one object against its model node, then its children.
fn verify(
    s: &mut Scope<'_>,
    model: &Model,
    h: Handle<'_, Lisp>,
    id: u64,
    seen: &mut HashMap<u64, usize>,
) {
    if let Some(&addr) = seen.get(&id) {
        assert_eq!(addr, h.addr(), "object {id} reached at two addresses");
        return;
    }
    seen.insert(id, h.addr());
    assert_eq!(id_of(h), id, "wrong object");
    let node = &model.nodes[&id];
    match &node.kind {
        Kind::Pair => assert!(h.is::<Pair>(), "object {id} should be a pair"),
        Kind::Vector => assert_eq!(h.with(|v: &Vector| v.elems.len()), node.kids.len()),
        Kind::Int(value) => assert_eq!(h.with(|i: &Int| i.get()), *value),
        Kind::Str(text) => assert_eq!(h.with(|t: &Str| t.bytes.to_vec()), text.as_bytes()),
    }
    for (i, expected) in node.kids.iter().enumerate() {
        s.scope(|t| match (kid(t, h, i), expected) {
            (None, None) => {}
            (Some(k), Some(kid_id)) => verify(t, model, k, *kid_id, seen),
            (got, want) => panic!("object {id} child {i}: got {got:?}, want {want:?}"),
        });
    }
}

fn string_for(id: u64) -> String {
    format!("symbol-{id}-{}", "x".repeat((id % 23) as usize))
}

#[test]
fn random_graph_survives_many_collections() {
    random_graph(Arena::builder().arena_size(64 << 20), "graph");
}

/// The same with the soft write barrier (vendor/mps/DESIGN.md#barrier-soft)
/// where the kernel allows it: every store into an old object must be
/// found without a write fault.
#[test]
fn random_graph_survives_many_collections_with_the_soft_barrier() {
    if !mps::sys::EXTENSIONS {
        eprintln!("skipped: the soft write barrier is an mpsx_ extension, which the linked MPS library lacks");
        return;
    }
    let builder = Arena::builder()
        .arena_size(64 << 20)
        .write_barrier(WriteBarrier::Soft);
    random_graph(builder, "graph-soft");
}

fn random_graph(builder: ArenaBuilder, name: &str) {
    let mut rng = Rng::from_env(name);
    let arena = builder.build().unwrap();
    eprintln!("{name}: write barrier {:?}", arena.write_barrier());
    arena.enable_messages(MessageType::Gc);
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
    let options = PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    };
    let amc = arena.amc(fmt, &options).unwrap();
    let amcz = arena.amcz(fmt, &options).unwrap();
    let roots: Root<'_, Lisp> = Root::exact(&arena, ROOTS).unwrap();
    let ambig: Root<'_, Lisp> = Root::ambiguous(&arena, AMBIG).unwrap();
    // Weak roots: the manual lets another MPS library reject them, so only
    // with vendor/mps's.
    let weak: Option<Root<'_, Lisp>> =
        mps::sys::VENDORED.then(|| Root::weak(&arena, WEAK).unwrap());
    if weak.is_none() {
        eprintln!("graph: weak root skipped: only vendor/mps promises weak roots (MPS_LIB_DIR)");
    }
    let mut model = Model {
        roots: vec![None; ROOTS],
        ambig: vec![None; AMBIG],
        weak: vec![None; WEAK],
        ..Model::default()
    };
    let mut gc_messages = 0;
    let mut max_live = 0;

    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut leaf = amcz.ap().unwrap();
            for round in 0..COLLECTIONS {
                for _ in 0..STEPS_PER_COLLECTION {
                    s.scope(|t| {
                        let a = rng.below(ROOTS);
                        let b = rng.below(ROOTS);
                        match rng.below(100) {
                            0..=14 => {
                                let v = rng.next() % 1000;
                                let id = model.fresh(Kind::Int(v), 0);
                                let h = t.alloc(&mut leaf, Int::new(id, v)).unwrap();
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            15..=19 => {
                                let id = model.fresh(Kind::Str(String::new()), 0);
                                let text = string_for(id);
                                model.nodes.get_mut(&id).unwrap().kind = Kind::Str(text.clone());
                                let h = new_str(t, &mut leaf, id, &text).unwrap();
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            20..=39 => {
                                // cons two root objects
                                let id = model.fresh(Kind::Pair, 2);
                                let car = roots.get(a, t);
                                let cdr = roots.get(b, t);
                                let h = t.alloc(&mut ap, Pair::new(id)).unwrap();
                                h.set(|p: &Pair| &p.car, car);
                                h.set(|p: &Pair| &p.cdr, cdr);
                                model.nodes.get_mut(&id).unwrap().kids = vec![model.roots[a], model.roots[b]];
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            40..=46 => {
                                let len = 1 + rng.below(16);
                                let id = model.fresh(Kind::Vector, len);
                                let h = new_vector(t, &mut ap, id, len).unwrap();
                                for i in 0..len {
                                    let c = rng.below(ROOTS);
                                    let v = roots.get(c, t);
                                    h.set(|v: &Vector| &v.elems[i], v);
                                    model.nodes.get_mut(&id).unwrap().kids[i] = model.roots[c];
                                }
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            47..=69 => {
                                // link: a.kid[i] = b (or one of b's kids)
                                if let (Some(pa), Some(ida)) = (roots.get(a, t), model.roots[a]) {
                                    let n = kids_of(pa);
                                    if n > 0 {
                                        let i = rng.below(n);
                                        let mut target = roots.get(b, t);
                                        let mut target_id = model.roots[b];
                                        if let (Some(tb), Some(idb)) = (target, target_id) {
                                            let m = kids_of(tb);
                                            if m > 0 && rng.chance(1, 3) {
                                                let j = rng.below(m);
                                                target = kid(t, tb, j);
                                                target_id = model.nodes[&idb].kids[j];
                                            }
                                        }
                                        set_kid(pa, i, target);
                                        model.nodes.get_mut(&ida).unwrap().kids[i] = target_id;
                                    }
                                }
                            }
                            70..=79 => {
                                roots.set(a, None);
                                model.roots[a] = None;
                            }
                            80..=86 => {
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
                            87..=90 => {
                                let k = rng.below(AMBIG);
                                let h = roots.get(a, t);
                                ambig.set(k, h);
                                model.ambig[k] = model.roots[a].map(|id| (id, h.unwrap().addr()));
                            }
                            91..=92 => {
                                if let Some(weak) = &weak {
                                    let k = rng.below(WEAK);
                                    weak.set(k, roots.get(a, t));
                                    model.weak[k] = model.roots[a];
                                }
                            }
                            93..=95 => {
                                // Garbage: a list of GARBAGE pairs held only by
                                // handles while allocation may collect, then
                                // walked and dropped.
                                let head = t.alloc(&mut ap, Pair::new(0)).unwrap();
                                for i in 1..GARBAGE {
                                    let cell = t.alloc(&mut ap, Pair::new(i)).unwrap();
                                    cell.set(|p: &Pair| &p.cdr, Some(head));
                                    head.assign(cell);
                                }
                                let cursor = t.alloc(&mut ap, Pair::new(0)).unwrap();
                                cursor.assign(head);
                                for i in (0..GARBAGE).rev() {
                                    assert_eq!(cursor.with(|p: &Pair| p.id), i);
                                    t.scope(|u| {
                                        if let Some(next) = cursor.get(u, |p: &Pair| &p.cdr) {
                                            cursor.assign(next);
                                        }
                                    });
                                }
                            }
                            _ => {
                                if let (Some(h), Some(id)) = (roots.get(a, t), model.roots[a]) {
                                    if h.is::<Int>() {
                                        let v = rng.next() % 1000;
                                        h.with(|i: &Int| i.value.store(v, std::sync::atomic::Ordering::Relaxed));
                                        model.nodes.get_mut(&id).unwrap().kind = Kind::Int(v);
                                    }
                                }
                            }
                        }
                    });
                }

                // A full collection, then check everything with the arena
                // parked (addresses are stable).
                arena.collect().unwrap();
                let mut seen = HashMap::new();
                for i in 0..ROOTS {
                    s.scope(|t| match (roots.get(i, t), model.roots[i]) {
                        (None, None) => {}
                        (Some(h), Some(id)) => verify(t, &model, h, id, &mut seen),
                        (got, want) => panic!("round {round}: root {i}: got {got:?}, want {want:?}"),
                    });
                }
                for k in 0..AMBIG {
                    s.scope(|t| match (ambig.get(k, t), model.ambig[k]) {
                        (None, None) => {}
                        (Some(h), Some((id, addr))) => {
                            assert_eq!(h.addr(), addr, "ambiguously referenced object {id} moved");
                            verify(t, &model, h, id, &mut seen);
                        }
                        (got, want) => panic!("round {round}: ambiguous root {k}: got {got:?}, want {want:?}"),
                    });
                }
                let reachable = model.reachable();
                for k in 0..weak.as_ref().map_or(0, |_| WEAK) {
                    let weak = weak.as_ref().expect("weak root present");
                    s.scope(|t| match (weak.get(k, t), model.weak[k]) {
                        (None, None) => {}
                        (None, Some(id)) => {
                            assert!(!reachable.contains(&id), "weak root {k} cleared but {id} is reachable");
                            model.weak[k] = None;
                        }
                        (Some(h), Some(id)) => assert_eq!(id_of(h), id, "weak root {k}"),
                        (Some(_), None) => panic!("weak root {k} set but model says null"),
                    });
                }
                // Forget dead nodes (only the weak root may still name them).
                let weak_ids: Vec<u64> = model.weak.iter().flatten().copied().collect();
                model.nodes.retain(|id, _| reachable.contains(id) || weak_ids.contains(id));
                max_live = max_live.max(seen.len());
                gc_messages += arena
                    .messages()
                    .filter(|m| matches!(m, mps::Message::Gc { .. }))
                    .count();
                arena.release();
            }
            println!(
                "graph: {} collections ({} gc messages), {} objects allocated, at most {} live, {} handles at most",
                arena.collections(),
                gc_messages,
                model.next_id,
                max_live,
                s.thread().handles_high_water()
            );
        })
        .unwrap();
    assert!(arena.collections() >= COLLECTIONS);
    assert!(gc_messages >= COLLECTIONS);
}

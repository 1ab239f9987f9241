//! A randomised graph spread over every automatic pool class, with
//! references in both directions between AMC, AMS (exact and ambiguous),
//! AWL (exact and weak) and leaf objects in LO and AMCZ, checked against a
//! shadow model after each of many collections: identities, contents,
//! pools, pinning by ambiguous objects, and weak references (cleared only
//! when their targets are otherwise unreachable). Every few rounds a heap
//! walk must find every reachable object. The seed is printed; set
//! `MPS_TEST_SEED` to reproduce.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use common::{
    id_of, kid, kids_of, new_str, new_vector, set_kid, Int, Lisp, Pair, Rng, Str, Vector,
};
use mps::{
    Ap, Arena, GenParam, Handle, Holds, MessageType, PoolClass, PoolId, PoolOptions, Root, Scope,
};

const ROOTS: usize = 40;
const WEAK_TABLES: usize = 3;
const WEAK_LEN: usize = 8;
const COLLECTIONS: usize = 120;
const STEPS_PER_COLLECTION: usize = 40;
const GARBAGE: u64 = 400;

/// Where an object lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Amc,
    Amcz,
    Ams,
    AmsAmbig,
    Awl,
    Lo,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Pair,
    Vector,
    Int(u64),
    Str(String),
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    home: Home,
    kids: Vec<Option<u64>>,
    /// For ambiguous vectors: each kid's address when it was stored (it
    /// must not move while referenced).
    pinned: Vec<Option<usize>>,
}

#[derive(Default)]
struct Model {
    nodes: HashMap<u64, Node>,
    roots: Vec<Option<u64>>,
    /// The weak tables' entries (the tables themselves are held by a root
    /// of their own and are not model nodes).
    weak: Vec<Vec<Option<u64>>>,
    next_id: u64,
}

impl Model {
    fn fresh(&mut self, kind: Kind, home: Home, kids: usize) -> u64 {
        self.next_id += 1;
        self.nodes.insert(
            self.next_id,
            Node {
                kind,
                home,
                kids: vec![None; kids],
                pinned: vec![None; kids],
            },
        );
        self.next_id
    }

    /// Everything reachable from `start` through strong references.
    fn closure(&self, start: impl IntoIterator<Item = u64>) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = start.into_iter().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.nodes[&id].kids.iter().flatten());
            }
        }
        seen
    }

    fn reachable(&self) -> HashSet<u64> {
        self.closure(self.roots.iter().flatten().copied())
    }
}

/// The pools and their allocation points.
struct Heap<'a> {
    amc: Ap<'a, Lisp, mps::AmcClass>,
    amcz: Ap<'a, Lisp, mps::AmczClass>,
    ams: Ap<'a, Lisp, mps::AmsClass>,
    ams_ambig: Ap<'a, Lisp, mps::AmsClass>,
    awl: Ap<'a, Lisp, mps::AwlClass>,
    lo: Ap<'a, Lisp, mps::LoClass>,
    ids: HashMap<&'static str, PoolId>,
}

impl Heap<'_> {
    fn pool_of(&self, home: Home) -> PoolId {
        self.ids[match home {
            Home::Amc => "amc",
            Home::Amcz => "amcz",
            Home::Ams | Home::AmsAmbig => "ams",
            Home::Awl => "awl",
            Home::Lo => "lo",
        }]
    }
}

fn new_pair<'s, C: PoolClass + Holds<Pair>>(
    s: &mut Scope<'s>,
    ap: &mut Ap<'_, Lisp, C>,
    id: u64,
) -> Handle<'s, Lisp> {
    s.alloc(ap, Pair::new(id)).unwrap()
}

/// Checks one object against its node, then its children.
fn verify(
    s: &mut Scope<'_>,
    model: &Model,
    heap: &Heap<'_>,
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
    assert_eq!(
        h.pool(),
        Some(heap.pool_of(node.home)),
        "object {id} is not in its {:?} pool",
        node.home
    );
    match &node.kind {
        Kind::Pair => assert!(h.is::<Pair>()),
        Kind::Vector => assert_eq!(h.with(|v: &Vector| v.elems.len()), node.kids.len()),
        Kind::Int(value) => assert_eq!(h.with(|i: &Int| i.get()), *value),
        Kind::Str(text) => assert_eq!(h.with(|t: &Str| t.bytes.to_vec()), text.as_bytes()),
    }
    for (i, expected) in node.kids.iter().enumerate() {
        s.scope(|t| match (kid(t, h, i), expected) {
            (None, None) => {}
            (Some(k), Some(kid_id)) => {
                if let Some(addr) = node.pinned[i] {
                    assert_eq!(
                        k.addr(),
                        addr,
                        "object {kid_id}, held by an ambiguous object, moved"
                    );
                }
                verify(t, model, heap, k, *kid_id, seen)
            }
            (got, want) => panic!("object {id} child {i}: got {got:?}, want {want:?}"),
        });
    }
}

#[test]
fn a_graph_across_every_pool_class_survives_many_collections() {
    let mut rng = Rng::from_env("mixed");
    let arena = Arena::builder().arena_size(64 << 20).build().unwrap();
    arena.enable_messages(MessageType::Gc);
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[
            GenParam {
                capacity_kb: 64,
                mortality: 0.8,
            },
            GenParam {
                capacity_kb: 256,
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
    let ams = arena.ams(fmt, &options).unwrap();
    let awl = arena
        .awl(
            fmt,
            &PoolOptions {
                gen: Some(1),
                ..options
            },
        )
        .unwrap();
    let lo = arena.lo(fmt, &options).unwrap();
    let roots: Root<'_, Lisp> = Root::exact(&arena, ROOTS).unwrap();
    let tables: Root<'_, Lisp> = Root::exact(&arena, WEAK_TABLES).unwrap();
    let mut model = Model {
        roots: vec![None; ROOTS],
        weak: vec![vec![None; WEAK_LEN]; WEAK_TABLES],
        ..Model::default()
    };
    let mut cleared = 0;
    let mut walked = 0;

    arena
        .with_thread(|s| {
            let mut heap = Heap {
                amc: amc.ap().unwrap(),
                amcz: amcz.ap().unwrap(),
                ams: ams.ap().unwrap(),
                // Not used without vendor/mps's library (see the homes).
                ams_ambig: if mps::sys::VENDORED { ams.ambiguous_ap() } else { ams.ap() }.unwrap(),
                awl: awl.ap().unwrap(),
                lo: lo.ap().unwrap(),
                ids: [
                    ("amc", amc.id()),
                    ("amcz", amcz.id()),
                    ("ams", ams.id()),
                    ("awl", awl.id()),
                    ("lo", lo.id()),
                ]
                .into_iter()
                .collect(),
            };
            let mut weak_ap = awl.weak_ap().unwrap();
            for w in 0..WEAK_TABLES {
                s.scope(|t| {
                    let table = new_vector(t, &mut weak_ap, 0, WEAK_LEN).unwrap();
                    tables.set(w, Some(table));
                });
            }
            for round in 0..COLLECTIONS {
                for _ in 0..STEPS_PER_COLLECTION {
                    s.scope(|t| {
                        let a = rng.below(ROOTS);
                        let b = rng.below(ROOTS);
                        match rng.below(100) {
                            0..=9 => {
                                let v = rng.next() % 1000;
                                let home = if rng.chance(1, 2) { Home::Lo } else { Home::Amcz };
                                let id = model.fresh(Kind::Int(v), home, 0);
                                let h = match home {
                                    Home::Lo => t.alloc(&mut heap.lo, Int::new(id, v)),
                                    _ => t.alloc(&mut heap.amcz, Int::new(id, v)),
                                }
                                .unwrap();
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            10..=14 => {
                                let text = format!("s{}", rng.next() % 100_000);
                                let id = model.fresh(Kind::Str(text.clone()), Home::Lo, 0);
                                let h = new_str(t, &mut heap.lo, id, &text).unwrap();
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            15..=34 => {
                                let home = [Home::Amc, Home::Ams, Home::Awl][rng.below(3)];
                                let id = model.fresh(Kind::Pair, home, 2);
                                let car = roots.get(a, t);
                                let cdr = roots.get(b, t);
                                let h = match home {
                                    Home::Amc => new_pair(t, &mut heap.amc, id),
                                    Home::Ams => new_pair(t, &mut heap.ams, id),
                                    _ => new_pair(t, &mut heap.awl, id),
                                };
                                h.set(|p: &Pair| &p.car, car);
                                h.set(|p: &Pair| &p.cdr, cdr);
                                model.nodes.get_mut(&id).unwrap().kids = vec![model.roots[a], model.roots[b]];
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            35..=44 => {
                                let len = 1 + rng.below(8);
                                // Ambiguous AMS points: only vendor/mps promises them.
                                let homes = [Home::Amc, Home::Ams, Home::Awl, Home::AmsAmbig];
                                let home = homes[rng.below(if mps::sys::VENDORED { 4 } else { 3 })];
                                let id = model.fresh(Kind::Vector, home, len);
                                let h = match home {
                                    Home::Amc => new_vector(t, &mut heap.amc, id, len),
                                    Home::Ams => new_vector(t, &mut heap.ams, id, len),
                                    Home::AmsAmbig => new_vector(t, &mut heap.ams_ambig, id, len),
                                    _ => new_vector(t, &mut heap.awl, id, len),
                                }
                                .unwrap();
                                for i in 0..len {
                                    let c = rng.below(ROOTS);
                                    let v = roots.get(c, t);
                                    h.set(|v: &Vector| &v.elems[i], v);
                                    let node = model.nodes.get_mut(&id).unwrap();
                                    node.kids[i] = model.roots[c];
                                    if home == Home::AmsAmbig {
                                        node.pinned[i] = v.map(|v| v.addr());
                                    }
                                }
                                roots.set(a, Some(h));
                                model.roots[a] = Some(id);
                            }
                            45..=69 => {
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
                                        let node = model.nodes.get_mut(&ida).unwrap();
                                        node.kids[i] = target_id;
                                        if node.home == Home::AmsAmbig {
                                            node.pinned[i] = target.map(|h| h.addr());
                                        }
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
                            87..=92 => {
                                // A weak table entry = root a (or nothing).
                                let w = rng.below(WEAK_TABLES);
                                let i = rng.below(WEAK_LEN);
                                let table = tables.get(w, t).unwrap();
                                let target = roots.get(a, t);
                                table.set(|v: &Vector| &v.elems[i], target);
                                model.weak[w][i] = model.roots[a];
                            }
                            93..=95 => {
                                // Garbage in AMC, held only by handles while
                                // allocation may collect.
                                let head = t.alloc(&mut heap.amc, Pair::new(0)).unwrap();
                                for i in 1..GARBAGE {
                                    let cell = t.alloc(&mut heap.amc, Pair::new(i)).unwrap();
                                    cell.set(|p: &Pair| &p.cdr, Some(head));
                                    head.assign(cell);
                                }
                            }
                            _ => {
                                if let (Some(h), Some(id)) = (roots.get(a, t), model.roots[a]) {
                                    if h.is::<Int>() {
                                        let v = rng.next() % 1000;
                                        h.with(|i: &Int| i.value.store(v, Ordering::Relaxed));
                                        model.nodes.get_mut(&id).unwrap().kind = Kind::Int(v);
                                    }
                                }
                            }
                        }
                    });
                }

                // A full collection, then check everything, parked.
                arena.collect().unwrap();
                let mut seen = HashMap::new();
                for i in 0..ROOTS {
                    s.scope(|t| match (roots.get(i, t), model.roots[i]) {
                        (None, None) => {}
                        (Some(h), Some(id)) => verify(t, &model, &heap, h, id, &mut seen),
                        (got, want) => panic!("round {round}: root {i}: got {got:?}, want {want:?}"),
                    });
                }
                let reachable = model.reachable();
                let mut survivors = Vec::new();
                for w in 0..WEAK_TABLES {
                    s.scope(|t| {
                        let table = tables.get(w, t).unwrap();
                        assert_eq!(table.pool(), Some(awl.id()));
                        for i in 0..WEAK_LEN {
                            t.scope(|u| match (table.get(u, |v: &Vector| &v.elems[i]), model.weak[w][i]) {
                                (None, None) => {}
                                (None, Some(id)) => {
                                    assert!(!reachable.contains(&id), "weak entry cleared but {id} is reachable");
                                    model.weak[w][i] = None;
                                    cleared += 1;
                                }
                                (Some(h), Some(id)) => {
                                    assert_eq!(id_of(h), id, "weak table {w} entry {i}");
                                    survivors.push(id);
                                }
                                (Some(_), None) => panic!("weak entry set but model says null"),
                            });
                        }
                    });
                }
                // Forget the dead; weakly held survivors and what they
                // hold stay (a stale stack word may have kept them).
                let keep = model.closure(model.roots.iter().flatten().copied().chain(survivors));
                model.nodes.retain(|id, _| keep.contains(id));

                if round % 20 == 19 {
                    let mut ids = HashSet::new();
                    arena
                        .walk_objects::<Lisp>(s, |_, h| {
                            ids.insert(id_of(h));
                        })
                        .unwrap();
                    for id in &reachable {
                        assert!(ids.contains(id), "the heap walk missed reachable object {id}");
                    }
                    walked += ids.len();
                }
                for m in arena.messages() {
                    drop(m);
                }
                arena.release();
            }
            println!(
                "mixed: {} collections, {} objects allocated, {} live at the end, {} weak entries cleared, {} objects walked",
                arena.collections(),
                model.next_id,
                model.nodes.len(),
                cleared,
                walked
            );
        })
        .unwrap();
    assert!(arena.collections() >= COLLECTIONS);
}

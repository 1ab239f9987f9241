//! `api_ops`: sequences of safe-API operations on the `mps` crate, checked
//! against a model in plain Rust.
//!
//! One arena per process (created once, [`OnceLock`]) with one pool of each
//! automatic class, all of the test format in `heap.rs`: [`Node`] and
//! [`Big`] objects (with references) in AMC, AMS (exact or ambiguous
//! references) and AWL (exact or weak references), [`Blob`] leaves in AMCZ
//! and LO; an exact root table of [`ROOTS`] slots (the program's
//! variables) and a weak root table of [`WEAK`] slots. Each input resets
//! them, then runs a list of operations ([`Op`]): allocate (in any pool),
//! link and unlink fields, load a field into a variable, copy and drop
//! variables, collect, park, release, clamp, step, finalize and definalize,
//! drain the message queue (optionally keeping the finalized object), set
//! and load weak slots.
//!
//! The model is a graph of ids: for every object allocated in the input,
//! its kind, whether its references are weak, and the ids in its fields;
//! the ids in the variables and weak slots; how many times each object is
//! registered for finalization. After every collection (and on
//! [`Op::Verify`]) every object reachable from the variables in the model
//! is compared with the heap, walking both graphs together: same id, same
//! kind, same fields, same data words, and one heap object per id. A weak
//! reference (weak root slot, field of a weak AWL object) must still hold
//! its object while that is strongly reachable, may be cleared (splatted)
//! once it is not, and never changes to another object. A finalization
//! message must name an object registered for finalization that is not
//! strongly reachable (unless it was brought back through a weak reference
//! or an earlier message: such objects are "revived" and exempt from that
//! check).
//!
//! Objects with ambiguous references may only refer to leaves unless
//! [`AMBIGUOUS_LINKS`] is set (known issue 4: the collector never reclaims
//! garbage reachable from a dead one, and the process heap would grow with
//! every input).

mod heap;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use arbitrary::{Arbitrary, Unstructured};
use mps::{
    Amc, AmcClass, Amcz, AmczClass, Ams, AmsClass, Arena, Awl, AwlClass, GenParam, Handle, Lo,
    LoClass, Message, MessageType, PoolOptions, Root, Scope,
};

use heap::{data_word, BIG_DATA, BIG_REFS, NODE_REFS};
pub use heap::{Big, Blob, Common, Heap, Node};

/// Number of variables (exact root slots).
pub const ROOTS: usize = 8;
/// Number of weak root slots.
pub const WEAK: usize = 4;
/// Most operations run per input.
pub const MAX_OPS: usize = 200;
/// Most objects one `AllocList` allocates.
pub const MAX_LIST: usize = 48;
/// Whether objects with ambiguous references (ambiguous AMS allocation
/// point) may refer to objects that have references. Off because of known
/// issue 4: the collector scans ambiguous-rank AMS segments whole, dead
/// objects included, so a dead ambiguous object keeps what it refers to
/// alive, and a garbage cycle through one (even an object referring to
/// itself) is never reclaimed; the process heap then grows with every
/// input and fuzzing slows to a crawl. They may still refer to leaves
/// (which are pinned: AMCZ leaves move otherwise).
pub static AMBIGUOUS_LINKS: AtomicBool = AtomicBool::new(false);

/// The process's arena and what lives in it.
struct World {
    amc: Amc<'static, Heap>,
    amcz: Amcz<'static, Heap>,
    ams: Ams<'static, Heap>,
    awl: Awl<'static, Heap>,
    lo: Lo<'static, Heap>,
    roots: Root<'static, Heap>,
    weak: Root<'static, Heap>,
}

static ARENA: OnceLock<Arena> = OnceLock::new();
static WORLD: OnceLock<World> = OnceLock::new();
/// Ids are unique in the process, so that messages about objects of
/// earlier inputs are recognised and ignored.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn arena() -> &'static Arena {
    ARENA.get_or_init(|| {
        Arena::builder()
            .arena_size(64 << 20)
            .build()
            .expect("cannot create the arena")
    })
}

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let arena = arena();
        let fmt = arena.format::<Heap>().expect("format");
        // Small generations, so that collections start on their own often
        // while the arena is released.
        let chain = arena
            .chain(&[
                GenParam {
                    capacity_kb: 64,
                    mortality: 0.8,
                },
                GenParam {
                    capacity_kb: 256,
                    mortality: 0.5,
                },
            ])
            .expect("chain");
        let options = PoolOptions {
            chain: Some(chain),
            ..PoolOptions::default()
        };
        let amc = arena.amc(fmt, &options).expect("AMC pool");
        let amcz = arena.amcz(fmt, &options).expect("AMCZ pool");
        let ams = arena.ams(fmt, &options).expect("AMS pool");
        let awl = arena.awl(fmt, &options).expect("AWL pool");
        let lo = arena.lo(fmt, &options).expect("LO pool");
        let roots = Root::exact(arena, ROOTS).expect("exact root");
        let weak = Root::weak(arena, WEAK).expect("weak root");
        arena.enable_messages(MessageType::Finalization);
        arena.enable_messages(MessageType::Gc);
        arena.enable_messages(MessageType::GcStart);
        World {
            amc,
            amcz,
            ams,
            awl,
            lo,
            roots,
            weak,
        }
    })
}

/// What the checks have seen so far in this process (for judging how much
/// of the API the corpus exercises; see `tests/api_ops.rs`).
pub mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Objects compared with the model.
    pub static OBJECTS_COMPARED: AtomicU64 = AtomicU64::new(0);
    /// Finalization messages checked.
    pub static FINALIZED: AtomicU64 = AtomicU64::new(0);
    /// Weak slots found cleared (splatted) by the collector.
    pub static WEAK_SPLATTED: AtomicU64 = AtomicU64::new(0);
    /// Unreachable objects brought back (weak load, kept message).
    pub static REVIVED: AtomicU64 = AtomicU64::new(0);

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, by name.
    pub fn snapshot() -> [(&'static str, u64); 4] {
        [
            ("objects compared", OBJECTS_COMPARED.load(Ordering::Relaxed)),
            ("finalization messages", FINALIZED.load(Ordering::Relaxed)),
            ("weak slots splatted", WEAK_SPLATTED.load(Ordering::Relaxed)),
            ("objects revived", REVIVED.load(Ordering::Relaxed)),
        ]
    }
}

/// The kind of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Kind {
    /// [`Node`].
    Node,
    /// [`Big`].
    Big,
    /// [`Blob`].
    Blob,
}

impl Kind {
    fn refs(self) -> usize {
        match self {
            Kind::Node => NODE_REFS,
            Kind::Big => BIG_REFS,
            Kind::Blob => 0,
        }
    }
}

/// Where an object is allocated; taken modulo the pools that can hold its
/// kind (AMC, AMS, AMS ambiguous, AWL, AWL weak for objects with
/// references; AMCZ, LO for leaves).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct PoolSel(pub u8);

/// The allocation points of one input.
pub struct Aps<'a> {
    amc: mps::Ap<'a, Heap, AmcClass>,
    amcz: mps::Ap<'a, Heap, AmczClass>,
    ams: mps::Ap<'a, Heap, AmsClass>,
    ams_ambig: mps::Ap<'a, Heap, AmsClass>,
    awl: mps::Ap<'a, Heap, AwlClass>,
    awl_weak: mps::Ap<'a, Heap, AwlClass>,
    lo: mps::Ap<'a, Heap, LoClass>,
}

/// One operation. Slot numbers are taken modulo [`ROOTS`] or [`WEAK`],
/// field numbers modulo the object's number of references.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Op {
    /// `var[dst] = new kind` (in `pool`).
    Alloc { kind: Kind, pool: PoolSel, dst: u8 },
    /// `var[dst] = a list of len new objects`, each (but leaves) linking
    /// to the previous one through field 0.
    AllocList {
        kind: Kind,
        pool: PoolSel,
        len: u8,
        dst: u8,
    },
    /// `var[src].field = var[dst]` (null if `var[dst]` is).
    Link { src: u8, field: u8, dst: u8 },
    /// `var[src].field = null`.
    Unlink { src: u8, field: u8 },
    /// `var[dst] = var[src].field`.
    Load { src: u8, field: u8, dst: u8 },
    /// `var[dst] = var[src]`.
    Copy { src: u8, dst: u8 },
    /// `var[slot] = null`.
    Drop { slot: u8 },
    /// A full collection (leaves the arena parked), then verification.
    Collect,
    /// Verification without a collection.
    Verify,
    /// `Arena::park`.
    Park,
    /// `Arena::release`.
    Release,
    /// `Arena::clamp`.
    Clamp,
    /// `Arena::step`.
    Step { interval: u8 },
    /// `Arena::start_collect`.
    StartCollect,
    /// Register `var[slot]` for finalization.
    Finalize { slot: u8 },
    /// Remove one registration of `var[slot]`.
    Definalize { slot: u8 },
    /// Take every queued message; keep the last finalized object in
    /// `var[keep]`.
    Drain { keep: Option<u8> },
    /// `weak[w] = var[src]`.
    WeakSet { w: u8, src: u8 },
    /// `var[dst] = weak[w]`.
    WeakLoad { w: u8, dst: u8 },
}

/// One object of the model.
#[derive(Debug, Clone)]
struct Obj {
    kind: Kind,
    /// Its references are weak (weak AWL allocation point).
    weak: bool,
    /// Its references are ambiguous (ambiguous AMS allocation point).
    ambiguous: bool,
    refs: Vec<Option<u64>>,
}

/// The model: plain Rust.
#[derive(Debug, Default)]
struct Model {
    /// Every object allocated in this input.
    objs: HashMap<u64, Obj>,
    vars: [Option<u64>; ROOTS],
    weak: [Option<u64>; WEAK],
    /// Finalization registrations, for objects that were never revived.
    registered: HashMap<u64, u32>,
    /// Objects that were unreachable and came back (weak load, kept
    /// finalization message): whatever the collector did with their
    /// registrations meanwhile is not modelled.
    revived: HashSet<u64>,
}

impl Model {
    /// The objects strongly reachable from the variables (weak
    /// references do not count).
    fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = self.vars.iter().flatten().copied().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                let obj = &self.objs[&id];
                if !obj.weak {
                    stack.extend(obj.refs.iter().flatten());
                }
            }
        }
        seen
    }

    /// Reconciles what the heap holds in field `f` of `sid` (the target's
    /// id, or `None`) with the model, given the strongly reachable set.
    /// A weak field may have been splatted if its target is not strongly
    /// reachable; anything else must match. Returns the field's value.
    fn observe_field(
        &mut self,
        sid: u64,
        f: usize,
        heap: Option<u64>,
        reachable: &HashSet<u64>,
    ) -> Option<u64> {
        let obj = self.objs.get_mut(&sid).expect("known object");
        let model = obj.refs[f];
        match (heap, model) {
            (Some(h), Some(m)) => assert_eq!(h, m, "field {f} of object {sid} changed object"),
            (None, None) => {}
            (None, Some(m)) if obj.weak => {
                assert!(
                    !reachable.contains(&m),
                    "weak field {f} of object {sid} lost reachable object {m}"
                );
                stats::bump(&stats::WEAK_SPLATTED);
                obj.refs[f] = None;
            }
            (h, m) => panic!("field {f} of object {sid}: heap {h:?}, model {m:?}"),
        }
        heap
    }

    /// Marks `id` and everything reachable from it as revived.
    fn revive(&mut self, id: u64) {
        stats::bump(&stats::REVIVED);
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            if self.revived.insert(id) {
                self.registered.remove(&id);
                stack.extend(self.objs[&id].refs.iter().flatten());
            }
        }
    }
}

/// The process arena's figures, for diagnosing a fuzzing run (and for
/// the known-issue tests).
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// `Arena::committed`.
    pub committed: usize,
    /// `Arena::collections`.
    pub collections: usize,
    /// Bytes the format's scan method has been asked to scan so far.
    pub scanned: usize,
    /// `total_size` of the AMC, AMCZ, AMS, AWL and LO pools.
    pub pools: [usize; 5],
}

/// The process arena's figures now.
pub fn figures() -> Figures {
    let world = world();
    let arena = arena();
    Figures {
        committed: arena.committed(),
        collections: arena.collections(),
        scanned: heap::SCANNED.load(Ordering::Relaxed),
        pools: [
            world.amc.total_size(),
            world.amcz.total_size(),
            world.ams.total_size(),
            world.awl.total_size(),
            world.lo.total_size(),
        ],
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run_ops(&ops);
}

/// Runs a list of operations from a clean state. Inputs run one at a
/// time (they share the process's arena and roots).
pub fn run_ops(ops: &[Op]) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let world = world();
    let arena = arena();
    arena
        .with_thread(|s| {
            reset(s, world);
            let mut aps = Aps {
                amc: world.amc.ap().expect("AMC allocation point"),
                amcz: world.amcz.ap().expect("AMCZ allocation point"),
                ams: world.ams.ap().expect("AMS allocation point"),
                ams_ambig: world
                    .ams
                    .ambiguous_ap()
                    .expect("AMS ambiguous allocation point"),
                awl: world.awl.ap().expect("AWL allocation point"),
                awl_weak: world.awl.weak_ap().expect("AWL weak allocation point"),
                lo: world.lo.ap().expect("LO allocation point"),
            };
            let base = NEXT_ID.load(Ordering::Relaxed);
            let mut ctx = Ctx {
                world,
                arena,
                model: Model::default(),
                base,
            };
            for op in ops {
                ctx.step(s, &mut aps, *op);
            }
            // Always end with a collection and a full check.
            ctx.step(s, &mut aps, Op::Collect);
            ctx.step(s, &mut aps, Op::Drain { keep: None });
        })
        .expect("cannot register the thread");
}

/// Clears the variables and weak slots, collects everything left by
/// earlier inputs and discards their messages.
fn reset(s: &mut Scope<'_>, world: &World) {
    let arena = arena();
    world.roots.clear();
    world.weak.clear();
    arena.collect().expect("collect");
    // Objects of earlier inputs still registered for finalization have
    // just been finalized: discard the messages (the objects then die).
    s.scope(|t| {
        for m in arena.messages() {
            if let Message::Finalization(f) = m {
                let _ = f.object::<Heap>(t);
            }
        }
    });
    arena.release();
}

struct Ctx {
    world: &'static World,
    arena: &'static Arena,
    model: Model,
    /// The first id of this input.
    base: u64,
}

fn read_id(h: Handle<'_, Heap>) -> (u64, Kind) {
    let (id, kind) = h.with(|c: &Common| (c.id, c.kind()));
    let kind = match kind {
        heap::NODE => Kind::Node,
        heap::BIG => Kind::Big,
        heap::BLOB => Kind::Blob,
        k => panic!("object of unknown kind {k}"),
    };
    (id, kind)
}

fn get_field<'t>(
    h: Handle<'_, Heap>,
    t: &mut Scope<'t>,
    kind: Kind,
    f: usize,
) -> Option<Handle<'t, Heap>> {
    match kind {
        Kind::Node => h.get(t, |n: &Node| &n.refs[f]),
        Kind::Big => h.get(t, |b: &Big| &b.refs[f]),
        Kind::Blob => unreachable!("leaves have no fields"),
    }
}

fn set_field(h: Handle<'_, Heap>, kind: Kind, f: usize, value: Option<Handle<'_, Heap>>) {
    match kind {
        Kind::Node => h.set(|n: &Node| &n.refs[f], value),
        Kind::Big => h.set(|b: &Big| &b.refs[f], value),
        Kind::Blob => unreachable!("leaves have no fields"),
    }
}

impl Ctx {
    fn var(&self, slot: u8) -> usize {
        usize::from(slot) % ROOTS
    }

    fn alloc<'t>(
        &mut self,
        t: &mut Scope<'t>,
        aps: &mut Aps<'_>,
        kind: Kind,
        pool: PoolSel,
    ) -> Handle<'t, Heap> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut weak = false;
        let mut ambiguous = false;
        let h = match kind {
            Kind::Blob => match pool.0 % 2 {
                0 => t.alloc(&mut aps.amcz, Blob::new(id)),
                _ => t.alloc(&mut aps.lo, Blob::new(id)),
            },
            _ => match (kind, pool.0 % 5) {
                (Kind::Node, 0) => t.alloc(&mut aps.amc, Node::new(id)),
                (Kind::Node, 1) => t.alloc(&mut aps.ams, Node::new(id)),
                (Kind::Node, 2) => {
                    ambiguous = true;
                    t.alloc(&mut aps.ams_ambig, Node::new(id))
                }
                (Kind::Node, 3) => t.alloc(&mut aps.awl, Node::new(id)),
                (Kind::Node, _) => {
                    weak = true;
                    t.alloc(&mut aps.awl_weak, Node::new(id))
                }
                (_, 0) => t.alloc(&mut aps.amc, Big::new(id)),
                (_, 1) => t.alloc(&mut aps.ams, Big::new(id)),
                (_, 2) => {
                    ambiguous = true;
                    t.alloc(&mut aps.ams_ambig, Big::new(id))
                }
                (_, 3) => t.alloc(&mut aps.awl, Big::new(id)),
                (_, _) => {
                    weak = true;
                    t.alloc(&mut aps.awl_weak, Big::new(id))
                }
            },
        }
        .expect("allocation failed");
        self.model.objs.insert(
            id,
            Obj {
                kind,
                weak,
                ambiguous,
                refs: vec![None; kind.refs()],
            },
        );
        h
    }

    fn step(&mut self, s: &mut Scope<'_>, aps: &mut Aps<'_>, op: Op) {
        let roots = &self.world.roots;
        let arena = self.arena;
        s.scope(|t| match op {
            Op::Alloc { kind, pool, dst } => {
                let dst = self.var(dst);
                let h = self.alloc(t, aps, kind, pool);
                let (id, _) = read_id(h);
                roots.set(dst, Some(h));
                self.model.vars[dst] = Some(id);
            }
            Op::AllocList {
                kind,
                pool,
                len,
                dst,
            } => {
                let dst = self.var(dst);
                let len = usize::from(len) % MAX_LIST + 1;
                let mut prev: Option<(Handle<'_, Heap>, u64)> = None;
                for _ in 0..len {
                    let h = self.alloc(t, aps, kind, pool);
                    let (id, _) = read_id(h);
                    let ambiguous = self.model.objs[&id].ambiguous;
                    if kind != Kind::Blob && (AMBIGUOUS_LINKS.load(Ordering::Relaxed) || !ambiguous)
                    {
                        if let Some((p, pid)) = prev {
                            set_field(h, kind, 0, Some(p));
                            self.model.objs.get_mut(&id).unwrap().refs[0] = Some(pid);
                        }
                    }
                    prev = Some((h, id));
                }
                let (h, id) = prev.expect("at least one");
                roots.set(dst, Some(h));
                self.model.vars[dst] = Some(id);
            }
            Op::Link { src, field, dst } => {
                let (src, dst) = (self.var(src), self.var(dst));
                let Some(sid) = self.model.vars[src] else {
                    return;
                };
                let kind = self.model.objs[&sid].kind;
                if kind.refs() == 0 {
                    return;
                }
                let f = usize::from(field) % kind.refs();
                if self.model.objs[&sid].ambiguous && !AMBIGUOUS_LINKS.load(Ordering::Relaxed) {
                    if let Some(did) = self.model.vars[dst] {
                        if self.model.objs[&did].kind != Kind::Blob {
                            return; // known issue 4
                        }
                    }
                }
                let h = roots.get(src, t).expect("variable lost its object");
                let v = roots.get(dst, t);
                assert_eq!(
                    v.is_some(),
                    self.model.vars[dst].is_some(),
                    "variable {dst}"
                );
                set_field(h, kind, f, v);
                self.model.objs.get_mut(&sid).unwrap().refs[f] = self.model.vars[dst];
            }
            Op::Unlink { src, field } => {
                let src = self.var(src);
                let Some(sid) = self.model.vars[src] else {
                    return;
                };
                let kind = self.model.objs[&sid].kind;
                if kind.refs() == 0 {
                    return;
                }
                let f = usize::from(field) % kind.refs();
                let h = roots.get(src, t).expect("variable lost its object");
                set_field(h, kind, f, None);
                self.model.objs.get_mut(&sid).unwrap().refs[f] = None;
            }
            Op::Load { src, field, dst } => {
                let (src, dst) = (self.var(src), self.var(dst));
                let Some(sid) = self.model.vars[src] else {
                    return;
                };
                let kind = self.model.objs[&sid].kind;
                if kind.refs() == 0 {
                    return;
                }
                let f = usize::from(field) % kind.refs();
                let h = roots.get(src, t).expect("variable lost its object");
                let v = get_field(h, t, kind, f);
                let reachable = self.model.reachable();
                let id = self
                    .model
                    .observe_field(sid, f, v.map(|v| read_id(v).0), &reachable);
                roots.set(dst, v);
                self.model.vars[dst] = id;
                if let Some(id) = id {
                    if !reachable.contains(&id) {
                        // Through a weak field, not yet splatted: back.
                        self.model.revive(id);
                    }
                }
            }
            Op::Copy { src, dst } => {
                let (src, dst) = (self.var(src), self.var(dst));
                let v = roots.get(src, t);
                roots.set(dst, v);
                self.model.vars[dst] = self.model.vars[src];
            }
            Op::Drop { slot } => {
                let slot = self.var(slot);
                roots.set(slot, None);
                self.model.vars[slot] = None;
            }
            Op::Collect => {
                arena.collect().expect("collect");
                self.verify(t);
            }
            Op::Verify => self.verify(t),
            Op::Park => arena.park(),
            Op::Release => arena.release(),
            Op::Clamp => arena.clamp(),
            Op::Step { interval } => {
                let _ = arena.step(f64::from(interval) * 1e-5, 1.0);
            }
            Op::StartCollect => arena.start_collect().expect("start_collect"),
            Op::Finalize { slot } => {
                let slot = self.var(slot);
                let Some(id) = self.model.vars[slot] else {
                    return;
                };
                let h = roots.get(slot, t).expect("variable lost its object");
                h.finalize().expect("finalize");
                if !self.model.revived.contains(&id) {
                    *self.model.registered.entry(id).or_default() += 1;
                }
            }
            Op::Definalize { slot } => {
                let slot = self.var(slot);
                let Some(id) = self.model.vars[slot] else {
                    return;
                };
                let h = roots.get(slot, t).expect("variable lost its object");
                let result = h.definalize();
                if !self.model.revived.contains(&id) {
                    let n = self.model.registered.entry(id).or_default();
                    if *n > 0 {
                        assert_eq!(result, Ok(()), "definalize of a registered object {id}");
                        *n -= 1;
                    } else {
                        assert!(
                            result.is_err(),
                            "definalize of an unregistered object {id} succeeded"
                        );
                    }
                }
            }
            Op::Drain { keep } => self.drain(t, keep),
            Op::WeakSet { w, src } => {
                let w = usize::from(w) % WEAK;
                let src = self.var(src);
                let v = roots.get(src, t);
                self.world.weak.set(w, v);
                self.model.weak[w] = self.model.vars[src];
            }
            Op::WeakLoad { w, dst } => {
                let w = usize::from(w) % WEAK;
                let dst = self.var(dst);
                let v = self.world.weak.get(w, t);
                let reachable = self.model.reachable();
                match (v, self.model.weak[w]) {
                    (Some(v), Some(id)) => {
                        assert_eq!(read_id(v).0, id, "weak slot {w} changed object");
                        if !reachable.contains(&id) {
                            // Unreachable but not yet splatted: it comes
                            // back, with everything it refers to.
                            self.model.revive(id);
                        }
                    }
                    (None, Some(id)) => {
                        assert!(
                            !reachable.contains(&id),
                            "weak slot {w} lost reachable object {id}"
                        );
                        stats::bump(&stats::WEAK_SPLATTED);
                        self.model.weak[w] = None;
                    }
                    (Some(v), None) => {
                        panic!("weak slot {w} holds {:?}, model says null", read_id(v))
                    }
                    (None, None) => {}
                }
                roots.set(dst, v);
                self.model.vars[dst] = self.model.weak[w];
            }
        });
    }

    /// Takes every queued message; finalization messages are checked.
    fn drain(&mut self, t: &mut Scope<'_>, keep: Option<u8>) {
        let arena = self.arena;
        let reachable = self.model.reachable();
        let mut kept = None;
        for m in arena.messages() {
            let Message::Finalization(f) = m else {
                continue;
            };
            let h = f
                .object::<Heap>(t)
                .expect("finalized object of another format");
            let (id, kind) = read_id(h);
            if id < self.base {
                continue; // from an earlier input
            }
            stats::bump(&stats::FINALIZED);
            let obj = self
                .model
                .objs
                .get(&id)
                .unwrap_or_else(|| panic!("finalized unknown object {id}"));
            assert_eq!(obj.kind, kind, "finalized object {id} changed kind");
            if !self.model.revived.contains(&id) {
                let n = self.model.registered.entry(id).or_default();
                assert!(
                    *n > 0,
                    "finalization message for object {id}, which is not registered"
                );
                *n -= 1;
                assert!(
                    !reachable.contains(&id),
                    "reachable object {id} was finalized"
                );
            }
            // The object and everything it refers to are still intact.
            let mut seen = HashMap::new();
            self.compare(t, h, id, &mut seen, &reachable);
            kept = Some((h, id));
        }
        if let (Some(slot), Some((h, id))) = (keep, kept) {
            let slot = self.var(slot);
            self.world.roots.set(slot, Some(h));
            self.model.vars[slot] = Some(id);
            self.model.revive(id);
        }
    }

    /// Compares the heap with the model from every variable and weak slot.
    fn verify(&mut self, t: &mut Scope<'_>) {
        let roots = &self.world.roots;
        let reachable = self.model.reachable();
        let mut seen: HashMap<u64, Handle<'_, Heap>> = HashMap::new();
        for i in 0..ROOTS {
            let h = roots.get(i, t);
            match (h, self.model.vars[i]) {
                (Some(h), Some(id)) => self.compare(t, h, id, &mut seen, &reachable),
                (None, None) => {}
                (h, id) => panic!("variable {i}: heap {:?}, model {id:?}", h.map(read_id)),
            }
        }
        for w in 0..WEAK {
            let h = self.world.weak.get(w, t);
            match (h, self.model.weak[w]) {
                (Some(h), Some(id)) => {
                    // Reachable or not (yet) splatted: intact either way.
                    self.compare(t, h, id, &mut seen, &reachable);
                }
                (None, Some(id)) => {
                    assert!(
                        !reachable.contains(&id),
                        "weak slot {w} lost reachable object {id}"
                    );
                    stats::bump(&stats::WEAK_SPLATTED);
                    self.model.weak[w] = None;
                }
                (Some(h), None) => panic!("weak slot {w} holds {:?}, model says null", read_id(h)),
                (None, None) => {}
            }
        }
    }

    /// Walks the heap from `h` and the model from `id` together.
    fn compare<'t>(
        &mut self,
        t: &mut Scope<'t>,
        h: Handle<'_, Heap>,
        id: u64,
        seen: &mut HashMap<u64, Handle<'t, Heap>>,
        reachable: &HashSet<u64>,
    ) {
        let mut stack = vec![(t.copy(h), id)];
        while let Some((h, id)) = stack.pop() {
            let (hid, kind) = read_id(h);
            assert_eq!(hid, id, "heap object has the wrong id");
            if let Some(&other) = seen.get(&id) {
                assert!(h.ptr_eq(other), "two heap objects with id {id}");
                continue;
            }
            seen.insert(id, h);
            stats::bump(&stats::OBJECTS_COMPARED);
            let obj = &self.model.objs[&id];
            assert_eq!(obj.kind, kind, "object {id} changed kind");
            let nrefs = obj.refs.len();
            match kind {
                Kind::Big => h.with(|b: &Big| {
                    for i in 0..BIG_DATA {
                        assert_eq!(b.data[i], data_word(id, i), "data word {i} of object {id}");
                    }
                }),
                Kind::Blob => h.with(|b: &Blob| {
                    for i in 0..2 {
                        assert_eq!(b.data[i], data_word(id, i), "data word {i} of object {id}");
                    }
                }),
                Kind::Node => {}
            }
            for f in 0..nrefs {
                let v = get_field(h, t, kind, f);
                let vid = v.map(|v| read_id(v).0);
                self.model.observe_field(id, f, vid, reachable);
                if let (Some(v), Some(vid)) = (v, vid) {
                    stack.push((v, vid));
                }
            }
        }
    }
}

//! Finalization messages, collection messages and location dependencies.

mod common;

use std::collections::HashSet;

use common::{Lisp, Pair};
use mps::{Arena, Error, GenParam, Ld, Message, MessageType, PoolOptions, Root};

fn arena() -> Arena {
    Arena::builder().arena_size(32 << 20).build().unwrap()
}

#[test]
fn finalization_messages_name_dead_objects() {
    let arena = arena();
    arena.enable_messages(MessageType::Finalization);
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 16).unwrap();

    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            // 16 objects registered for finalization; the even ones stay
            // reachable from the root.
            s.scope(|t| {
                for i in 0..16u64 {
                    let h = t.alloc(&mut ap, Pair::new(i)).unwrap();
                    h.finalize().unwrap();
                    if i % 2 == 0 {
                        root.set(i as usize, Some(h));
                    }
                }
                // Register one twice and take one registration back.
                let h = root.get(0, t).unwrap();
                h.finalize().unwrap();
                h.definalize().unwrap();
            });
            // A collection of a cleared stack: allocate garbage from a deeper
            // frame so no stale copies of the odd objects' addresses remain.
            clobber_stack();
            let mut finalized = HashSet::new();
            for _ in 0..4 {
                arena.collect().unwrap();
                for message in arena.messages() {
                    if let Message::Finalization(f) = message {
                        s.scope(|t| {
                            let h = f.object::<Lisp>(t).unwrap();
                            let id = h.with(|p: &Pair| p.id);
                            assert!(finalized.insert(id), "object {id} finalized twice");
                            // Resurrect one: it is an ordinary object again.
                            if id == 1 {
                                root.set(1, Some(h));
                            }
                        });
                    }
                }
                arena.release();
            }
            assert!(!finalized.is_empty(), "no finalization message");
            for id in &finalized {
                assert_eq!(id % 2, 1, "a reachable object ({id}) was finalized");
            }
            // The resurrected object survives and can be used.
            if finalized.contains(&1) {
                arena.collect().unwrap();
                arena.release();
                let h = root.get(1, s).unwrap();
                assert_eq!(h.with(|p: &Pair| p.id), 1);
                // Its registration was consumed: nothing left to remove.
                assert_eq!(h.definalize(), Err(Error::Fail));
            }
            println!("finalized: {finalized:?}");
        })
        .unwrap();
}

/// Overwrites a stretch of stack below the caller.
#[inline(never)]
fn clobber_stack() {
    let buf = [0u64; 1024];
    std::hint::black_box(&buf);
}

#[test]
fn gc_messages_describe_collections() {
    let arena = arena();
    arena.enable_messages(MessageType::Gc);
    arena.enable_messages(MessageType::GcStart);
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let keep = s.alloc(&mut ap, Pair::new(7)).unwrap();
            for i in 0..1000 {
                s.scope(|t| {
                    t.alloc(&mut ap, Pair::new(i)).unwrap();
                });
            }
            arena.collect().unwrap();
            arena.release();
            let messages: Vec<Message<'_>> = arena.messages().collect();
            let starts = messages
                .iter()
                .filter(|m| matches!(m, Message::GcStart { why, .. } if !why.is_empty()))
                .count();
            let ends: Vec<_> = messages
                .iter()
                .filter_map(|m| match m {
                    Message::Gc {
                        live,
                        condemned,
                        not_condemned,
                        ..
                    } => Some((*live, *condemned, *not_condemned)),
                    _ => None,
                })
                .collect();
            assert!(starts >= 1 && !ends.is_empty(), "{messages:?}");
            let (live, condemned, _) = *ends.last().unwrap();
            assert!(live <= condemned && condemned > 0, "{messages:?}");
            assert!(!arena.has_messages());
            assert_eq!(keep.with(|p: &Pair| p.id), 7);

            arena.disable_messages(MessageType::Gc);
            arena.collect().unwrap();
            arena.release();
            assert!(arena
                .messages()
                .all(|m| matches!(m, Message::GcStart { .. })));
        })
        .unwrap();
}

#[test]
fn location_dependency_notices_moves() {
    let arena = arena();
    let fmt = arena.format::<Lisp>().unwrap();
    let chain = arena
        .chain(&[GenParam {
            capacity_kb: 64,
            mortality: 0.9,
        }])
        .unwrap();
    let amc = arena
        .amc(
            fmt,
            &PoolOptions {
                chain: Some(chain),
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, 64).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let fresh = Ld::new(&arena);
            assert!(!fresh.is_stale_any());

            // Objects held only by an exact root can move.
            let mut ld = Ld::new(&arena);
            let mut before = Vec::new();
            for i in 0..64 {
                s.scope(|t| {
                    let h = t.alloc(&mut ap, Pair::new(i)).unwrap();
                    ld.add(h);
                    before.push(h.addr());
                    root.set(i as usize, Some(h));
                });
            }
            assert!(!ld.is_stale_any(), "nothing collected yet");
            let mut moved = 0;
            for _ in 0..3 {
                arena.collect().unwrap();
                arena.release();
            }
            for (i, addr) in before.iter().enumerate() {
                s.scope(|t| {
                    let h = root.get(i, t).unwrap();
                    if h.addr() != *addr {
                        moved += 1;
                        assert!(ld.is_stale(h), "object {i} moved but the LD is not stale");
                    }
                });
            }
            assert!(moved > 0, "no object moved");
            assert!(ld.is_stale_any());

            // Reset: fresh again. A merge takes on the other's dependencies:
            // whenever `other` is stale, so is `ld`.
            let mut other = Ld::new(&arena);
            other.add(root.get(0, s).unwrap());
            assert!(!other.is_stale_any());
            ld.reset();
            assert!(!ld.is_stale_any());
            ld.merge(&other);
            let first = root.get(0, s).unwrap().addr();
            for _ in 0..2 {
                arena.collect().unwrap();
                arena.release();
            }
            if root.get(0, s).unwrap().addr() != first {
                assert!(other.is_stale_any() && ld.is_stale_any());
            }
        })
        .unwrap();
}

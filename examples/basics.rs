//! The basics of the safe layer: an interpreter-style heap of pairs,
//! symbols and vectors that survives 200 collections.
//!
//! - A symbol table (an exact root) interns symbols, which live in a leaf
//!   pool (AMCZ: no references, never scanned).
//! - A global environment, an association list `((name . value) ...)` of
//!   pairs and vectors, hangs off the exact root and changes every round.
//! - A few "registers" form an ambiguous root: the objects they hold are
//!   pinned and must not move.
//! - Each round allocates garbage, collects, and checks the whole graph
//!   against what it should be. The collector's messages are printed at
//!   the end.
//!
//! Run with `cargo run --example basics`.

use std::collections::HashMap;
use std::ptr::{self, NonNull};

use mps::{
    Amc, Amcz, Arena, Error, Format, GenParam, Handle, Leaf, Message, MessageType, Object,
    PoolOptions, Ref, Root, ScanState, Scope,
};

// ---------------------------------------------------------------------------
// The object layout. Every object starts with a header word:
// (size in words << 8) | kind.

const PAIR: usize = 1;
const SYMBOL: usize = 2;
const VECTOR: usize = 3;
const FORWARD: usize = 4;
const PAD: usize = 5;
const WORD: usize = 8;

fn header(kind: usize, words: usize) -> usize {
    (words << 8) | kind
}

/// The header of the object (or pad, or marker) at `p`.
///
/// # Safety
///
/// `p` is an object, pad or forwarding marker of the `Lisp` format.
unsafe fn header_at(p: NonNull<u8>) -> usize {
    // SAFETY: all of them start with a header word.
    unsafe { p.cast::<usize>().read() }
}

/// The runtime's format.
enum Lisp {}

// SAFETY: the header sizes every object, pad and marker; scan fixes every
// reference (pairs' car and cdr, vectors' elements) and skips the rest; a
// marker needs two words and every object has at least two.
unsafe impl Format for Lisp {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        let mut p = base;
        while p < limit {
            // SAFETY: `[base, limit)` is a run of objects, pads and markers.
            let h = unsafe { header_at(p) };
            match h & 0xff {
                PAIR => {
                    // SAFETY: `p` is a pair.
                    let pair = unsafe { p.cast::<Pair>().as_ref() };
                    ss.fix_ref(&pair.car)?;
                    ss.fix_ref(&pair.cdr)?;
                }
                VECTOR => {
                    // SAFETY: `p` is a vector.
                    let vector = unsafe { Vector::from_addr(p).as_ref() };
                    ss.fix_refs(&vector.elems)?;
                }
                _ => {}
            }
            // SAFETY: the next object starts where this one's block ends.
            p = unsafe { p.add((h >> 8) * WORD) };
        }
        Ok(())
    }

    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block is (header >> 8) words long.
        unsafe { p.add((header_at(p) >> 8) * WORD) }
    }

    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: the object at `old` has been copied and has two words.
        unsafe {
            let words = header_at(old) >> 8;
            old.cast::<[usize; 2]>()
                .write([header(FORWARD, words), new.as_ptr() as usize]);
        }
    }

    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: a marker's second word is the new address.
        unsafe {
            if header_at(p) & 0xff == FORWARD {
                NonNull::new(p.cast::<*mut u8>().add(1).read())
            } else {
                None
            }
        }
    }

    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector hands us `size` bytes at `base`.
        unsafe { base.cast::<usize>().write(header(PAD, size / WORD)) }
    }
}

/// A cons cell.
#[repr(C)]
struct Pair {
    header: usize,
    pad: usize,
    car: Ref,
    cdr: Ref,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            header: header(PAIR, 4),
            pad: 0,
            car: Ref::null(),
            cdr: Ref::null(),
        }
    }
}

// SAFETY: PAIR headers mark pairs; `Pair::new` builds a well-formed one of
// alloc_size::<Pair>() bytes; both references are scanned.
unsafe impl Object for Pair {
    type Format = Lisp;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        unsafe { header_at(p) & 0xff == PAIR }
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
        p.cast()
    }
}

/// A symbol: its name's bytes.
#[repr(C)]
struct Symbol {
    header: usize,
    len: usize,
    name: [u8],
}

// SAFETY: SYMBOL headers mark symbols built by `Heap::intern`; the length
// word gives the metadata; a symbol holds no references.
unsafe impl Object for Symbol {
    type Format = Lisp;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        unsafe { header_at(p) & 0xff == SYMBOL }
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
        // SAFETY: a symbol's second word is its length.
        let len = unsafe { p.cast::<usize>().add(1).read() };
        NonNull::new(ptr::slice_from_raw_parts_mut(p.as_ptr(), len) as *mut Symbol)
            .expect("non-null")
    }
}

// SAFETY: a symbol contains no `Ref`.
unsafe impl Leaf for Symbol {}

/// A vector of references.
#[repr(C)]
struct Vector {
    header: usize,
    len: usize,
    elems: [Ref],
}

// SAFETY: VECTOR headers mark vectors built by `Heap::vector`; the length
// word gives the metadata; every element is scanned.
unsafe impl Object for Vector {
    type Format = Lisp;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        // SAFETY: every object has a header.
        unsafe { header_at(p) & 0xff == VECTOR }
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
        // SAFETY: a vector's second word is its length.
        let len = unsafe { p.cast::<usize>().add(1).read() };
        NonNull::new(ptr::slice_from_raw_parts_mut(p.as_ptr(), len) as *mut Vector)
            .expect("non-null")
    }
}

// ---------------------------------------------------------------------------
// A tiny runtime on top: allocation helpers and the symbol table.

/// Root slots: the symbol table, then the environment.
const SYMBOLS: usize = 64;
const ENV: usize = SYMBOLS;

struct Heap<'a> {
    pairs: mps::Ap<'a, Lisp, mps::AmcClass>,
    leaves: mps::Ap<'a, Lisp, mps::AmczClass>,
    root: &'a Root<'a, Lisp>,
}

impl<'a> Heap<'a> {
    fn cons<'s>(
        &mut self,
        s: &mut Scope<'s>,
        car: Option<Handle<'_, Lisp>>,
        cdr: Option<Handle<'_, Lisp>>,
    ) -> Handle<'s, Lisp> {
        let cell = s
            .alloc(&mut self.pairs, Pair::new())
            .expect("out of memory");
        cell.set(|p: &Pair| &p.car, car);
        cell.set(|p: &Pair| &p.cdr, cdr);
        cell
    }

    fn vector<'s>(&mut self, s: &mut Scope<'s>, elems: &[Handle<'_, Lisp>]) -> Handle<'s, Lisp> {
        let words = 2 + elems.len().max(1);
        // SAFETY: the block is `words` words; the initialiser writes a
        // vector header, its length and null elements.
        let v = unsafe {
            s.alloc_raw(&mut self.pairs, words * WORD, |base| {
                let p = base.cast::<usize>().as_ptr();
                p.write(header(VECTOR, words));
                p.add(1).write(elems.len());
                ptr::write_bytes(p.add(2), 0, words - 2);
            })
        }
        .expect("out of memory");
        for (i, e) in elems.iter().enumerate() {
            v.set(|v: &Vector| &v.elems[i], Some(*e));
        }
        v
    }

    /// The symbol named `name`, created if needed.
    fn intern<'s>(&mut self, s: &mut Scope<'s>, name: &str) -> Handle<'s, Lisp> {
        for i in 0..SYMBOLS {
            if let Some(sym) = self.root.get(i, s) {
                if sym.with(|y: &Symbol| &y.name == name.as_bytes()) {
                    return sym;
                }
            }
        }
        let words = 2 + name.len().div_ceil(WORD);
        // SAFETY: the block is `words` words; the initialiser writes a
        // symbol header, the length and the zero-padded name.
        let sym = unsafe {
            s.alloc_raw(&mut self.leaves, words * WORD, |base| {
                let p = base.cast::<usize>().as_ptr();
                p.write(header(SYMBOL, words));
                p.add(1).write(name.len());
                ptr::write_bytes(p.add(2), 0, words - 2);
                ptr::copy_nonoverlapping(name.as_ptr(), p.add(2).cast::<u8>(), name.len());
            })
        }
        .expect("out of memory");
        let free = (0..SYMBOLS)
            .find(|&i| self.root.is_null(i))
            .expect("symbol table full");
        self.root.set(free, Some(sym));
        sym
    }
}

fn symbol_name(h: Handle<'_, Lisp>) -> String {
    h.with(|y: &Symbol| String::from_utf8_lossy(&y.name).into_owned())
}

/// What the environment should hold after `round`: `var-k` for k in 0..8,
/// each a vector of (round, k) and the symbol `tag-(round+k)%5`.
fn expected(round: usize) -> HashMap<String, (String, String)> {
    (0..8)
        .map(|k| {
            (
                format!("var-{k}"),
                (
                    format!("n-{}", round * 10 + k),
                    format!("tag-{}", (round + k) % 5),
                ),
            )
        })
        .collect()
}

fn main() -> Result<(), Error> {
    let arena = Arena::builder().arena_size(64 << 20).build()?;
    arena.enable_messages(MessageType::Gc);
    arena.enable_messages(MessageType::GcStart);
    let fmt = arena.format::<Lisp>()?;
    let chain = arena.chain(&[
        GenParam {
            capacity_kb: 32,
            mortality: 0.8,
        },
        GenParam {
            capacity_kb: 1024,
            mortality: 0.4,
        },
    ])?;
    let options = PoolOptions {
        chain: Some(chain),
        ..PoolOptions::default()
    };
    let amc: Amc<'_, Lisp> = arena.amc(fmt, &options)?;
    let amcz: Amcz<'_, Lisp> = arena.amcz(fmt, &options)?;
    let root: Root<'_, Lisp> = Root::exact(&arena, SYMBOLS + 1)?;
    let registers: Root<'_, Lisp> = Root::ambiguous(&arena, 4)?;

    let rounds = 200;
    let mut checked = 0;
    arena.with_thread(|s| -> Result<(), Error> {
        let mut heap = Heap {
            pairs: amc.ap()?,
            leaves: amcz.ap()?,
            root: &root,
        };
        // Pinned objects: held by the ambiguous "registers".
        let mut pinned = Vec::new();
        for r in 0..4 {
            let name = heap.intern(s, &format!("register-{r}"));
            let cell = heap.cons(s, Some(name), None);
            registers.set(r, Some(cell));
            pinned.push(cell.addr());
        }

        for round in 0..rounds {
            // Rebuild the environment: ((var-k . #(n tag)) ...), with
            // garbage along the way.
            s.scope(|t| {
                let mut env = None;
                for k in 0..8 {
                    t.scope(|u| {
                        let var = heap.intern(u, &format!("var-{k}"));
                        let n = heap.intern(u, &format!("n-{}", round * 10 + k));
                        let tag = heap.intern(u, &format!("tag-{}", (round + k) % 5));
                        let value = heap.vector(u, &[n, tag]);
                        let binding = heap.cons(u, Some(var), Some(value));
                        let cell = heap.cons(u, Some(binding), env);
                        root.set(ENV, Some(cell));
                        // garbage: a throwaway list of 200 cells
                        let mut junk = None;
                        for _ in 0..200 {
                            junk = Some(heap.cons(u, junk, None));
                        }
                    });
                    env = root.get(ENV, t);
                }
            });
            // Forget the symbols of the previous round's numbers, so the
            // table does not fill up (they die at the next collection).
            s.scope(|t| {
                for i in 0..SYMBOLS {
                    if let Some(sym) = root.get(i, t) {
                        let name = symbol_name(sym);
                        let current = (0..8).any(|k| name == format!("n-{}", round * 10 + k));
                        if name.starts_with("n-") && !current {
                            root.set(i, None);
                        }
                    }
                }
            });

            arena.collect()?;
            // Check the environment against what it should be.
            let want = expected(round);
            let mut seen = 0;
            s.scope(|t| {
                let cursor = root.get(ENV, t).expect("an environment");
                loop {
                    let ok = t.scope(|u| {
                        let binding = cursor.get(u, |p: &Pair| &p.car).expect("a binding");
                        let var = symbol_name(binding.get(u, |p: &Pair| &p.car).expect("a name"));
                        let value = binding.get(u, |p: &Pair| &p.cdr).expect("a value");
                        let n = symbol_name(value.get(u, |v: &Vector| &v.elems[0]).expect("n"));
                        let tag = symbol_name(value.get(u, |v: &Vector| &v.elems[1]).expect("tag"));
                        assert_eq!(want[&var], (n, tag), "round {round}: binding of {var}");
                        match cursor.get(u, |p: &Pair| &p.cdr) {
                            Some(next) => {
                                cursor.assign(next);
                                true
                            }
                            None => false,
                        }
                    });
                    seen += 1;
                    if !ok {
                        break;
                    }
                }
            });
            assert_eq!(
                seen, 8,
                "round {round}: the environment has {seen} bindings"
            );
            for (r, addr) in pinned.iter().enumerate() {
                s.scope(|t| {
                    let cell = registers.get(r, t).expect("a register");
                    assert_eq!(cell.addr(), *addr, "a pinned object moved");
                    let name = symbol_name(cell.get(t, |p: &Pair| &p.car).expect("a name"));
                    assert_eq!(name, format!("register-{r}"));
                });
            }
            checked += 1;
            arena.release();
        }
        Ok(())
    })??;

    let (mut gcs, mut live, mut condemned) = (0, 0, 0);
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for message in arena.messages() {
        match message {
            Message::Gc {
                live: l,
                condemned: c,
                ..
            } => {
                gcs += 1;
                live += l;
                condemned += c;
            }
            Message::GcStart { why, .. } => *reasons.entry(why).or_default() += 1,
            _ => {}
        }
    }
    println!(
        "basics: {rounds} rounds checked ({checked}), {} collections",
        arena.collections()
    );
    println!(
        "basics: {gcs} collection messages: {} KiB condemned, {} KiB survived ({:.1}%)",
        condemned / 1024,
        live / 1024,
        100.0 * live as f64 / condemned.max(1) as f64
    );
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort();
    for (why, n) in reasons {
        println!("basics:   {n:4} x {why}");
    }
    println!(
        "basics: AMC pool {} KiB, AMCZ pool {} KiB, arena committed {} KiB",
        amc.total_size() / 1024,
        amcz.total_size() / 1024,
        arena.committed() / 1024
    );
    Ok(())
}

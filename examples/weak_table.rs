//! Weak references: a symbol table that forgets unreferenced symbols.
//!
//! Interned symbols (strings) live in a leaf pool (LO). The table is two
//! objects in an AWL pool:
//!
//! - the **keys**, allocated through a *weak* allocation point: their
//!   references to symbols do not keep the symbols alive;
//! - the **values** (one use counter per symbol), allocated through an
//!   *exact* allocation point, and registered as the keys' *dependent
//!   object* (`Format::find_dependent`).
//!
//! When a collection finds a symbol that nothing else refers to, it clears
//! (splats) the key. The keys' scan method sees that happen
//! (`ScanState::fix_weak_ref`) and clears the value in the same slot of
//! the dependent object, so the counter dies too. Reading a splatted key
//! through the safe API gives `None`.
//!
//! The program interns a few symbols that a "program" (a list in AMC)
//! refers to, and many temporary ones that nothing keeps; after a
//! collection the first survive, identical, and the others are gone.
//!
//! Run with `cargo run --example weak_table`.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use mps::{
    Amc, Arena, Awl, Error, Format, Handle, Leaf, Lo, Object, PoolOptions, Ref, Root, ScanState,
    Scope,
};

// ---------------------------------------------------------------------------
// The object layout. Every object starts with a header word:
// (size in words << 8) | kind.

const SYMBOL: usize = 1;
const PAIR: usize = 2;
const CELL: usize = 3;
const KEYS: usize = 4;
const VALUES: usize = 5;
const FORWARD: usize = 6;
const PAD: usize = 7;
const WORD: usize = 8;

fn header(kind: usize, words: usize) -> usize {
    (words << 8) | kind
}

/// The header of the object (or pad, or marker) at `p`.
///
/// # Safety
///
/// `p` is an object, pad or forwarding marker of the `Heap` format.
unsafe fn header_at(p: NonNull<u8>) -> usize {
    // SAFETY: all of them start with a header word.
    unsafe { p.cast::<usize>().read() }
}

/// The runtime's format.
enum Heap {}

// SAFETY: every object, pad and marker is sized by its header; scan fixes
// every reference (pairs: both; values: every slot; keys: every slot,
// weakly, clearing the dependent's slot when a key is splatted); a marker
// (two words) fits in every object that can move (pairs and cells, in
// AMC); pads are headers; the dependent of a keys object is the values
// object whose address `Table::new` stored in it, which lives in AWL
// (never moves) and is held by the same root as the keys, always.
unsafe impl Format for Heap {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        let mut p = base;
        while p < limit {
            // SAFETY: `[base, limit)` holds objects, pads and markers.
            let h = unsafe { header_at(p) };
            match h & 0xff {
                // SAFETY: `p` is a pair.
                PAIR => unsafe {
                    let pair = p.cast::<Pair>().as_ref();
                    ss.fix_ref(&pair.car)?;
                    ss.fix_ref(&pair.cdr)?;
                },
                // SAFETY: `p` is a values object.
                VALUES => ss.fix_refs(&unsafe { Values::from_addr(p).as_ref() }.slots)?,
                // SAFETY: `p` is a keys object; its dependent is a live
                // values object with as many slots, made accessible by the
                // collector before this scan.
                KEYS => unsafe {
                    let keys = Keys::from_addr(p).as_ref();
                    let values = keys.values.load(Ordering::Relaxed);
                    for (i, key) in keys.slots.iter().enumerate() {
                        if ss.fix_weak_ref(key)? {
                            keys.forgotten.fetch_add(1, Ordering::Relaxed);
                            if let Some(values) = NonNull::new(values as *mut u8) {
                                let values = Values::from_addr(values).as_ref();
                                values.slots[i].store_raw(ptr::null_mut());
                            }
                        }
                    }
                },
                _ => {}
            }
            // SAFETY: the next block follows.
            p = unsafe { p.add((h >> 8) * WORD) };
        }
        Ok(())
    }

    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block is (header >> 8) words long.
        unsafe { p.add((header_at(p) >> 8) * WORD) }
    }

    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        // SAFETY: the old copy is ours to overwrite; every moving object
        // has at least two words.
        unsafe {
            let words = header_at(old) >> 8;
            old.cast::<[usize; 2]>()
                .write([header(FORWARD, words), new.as_ptr() as usize]);
        }
    }

    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: a marker's second word is the new address.
        unsafe { (header_at(p) & 0xff == FORWARD).then(|| p.cast::<NonNull<u8>>().add(1).read()) }
    }

    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector gives us `size` bytes at `base`.
        unsafe { base.cast::<usize>().write(header(PAD, size / WORD)) }
    }

    unsafe fn is_pad(p: NonNull<u8>) -> bool {
        // SAFETY: objects and pads start with a header word.
        unsafe { header_at(p) & 0xff == PAD }
    }

    unsafe fn find_dependent(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: `p` is an object of an AWL pool: keys or values.
        unsafe {
            if header_at(p) & 0xff == KEYS {
                NonNull::new(Keys::from_addr(p).as_ref().values.load(Ordering::Relaxed) as *mut u8)
            } else {
                None
            }
        }
    }
}

/// An interned symbol: header, length, the name's bytes (a leaf).
#[repr(C)]
struct Symbol {
    header: usize,
    len: usize,
    bytes: [u8],
}

impl Symbol {
    fn name(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or("?")
    }
}

/// A pair of references (the "program" is a list of them).
#[repr(C)]
struct Pair {
    header: usize,
    car: Ref,
    cdr: Ref,
}

/// A symbol's value in the table: how often it was interned (a leaf).
#[repr(C)]
struct Cell {
    header: usize,
    uses: AtomicU64,
}

/// The table's keys: header, length, the address of the values object
/// (not a reference: the dependent), the number of keys splatted so far,
/// then the weak references to symbols.
#[repr(C)]
struct Keys {
    header: usize,
    len: usize,
    values: AtomicUsize,
    forgotten: AtomicUsize,
    slots: [Ref],
}

/// The table's values: header, length, then exact references to cells.
#[repr(C)]
struct Values {
    header: usize,
    len: usize,
    slots: [Ref],
}

/// Implements `Object` for a kind: sized types are the object itself,
/// unsized ones take their length from the second word.
macro_rules! object {
    ($ty:ty, $kind:expr, sized) => {
        // SAFETY: the kind in the header identifies the type; values are
        // built by this program's constructors with that layout.
        unsafe impl Object for $ty {
            type Format = Heap;
            unsafe fn is_instance(p: NonNull<u8>) -> bool {
                // SAFETY: every object has a header.
                unsafe { header_at(p) & 0xff == $kind }
            }
            unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
                p.cast()
            }
        }
    };
    ($ty:ty, $kind:expr, unsized) => {
        // SAFETY: as above; the second word is the length of the tail.
        unsafe impl Object for $ty {
            type Format = Heap;
            unsafe fn is_instance(p: NonNull<u8>) -> bool {
                // SAFETY: every object has a header.
                unsafe { header_at(p) & 0xff == $kind }
            }
            unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Self> {
                // SAFETY: the second word is the tail's length.
                let len = unsafe { p.cast::<usize>().add(1).read() };
                NonNull::new(ptr::slice_from_raw_parts_mut(p.as_ptr(), len) as *mut Self).unwrap()
            }
        }
    };
}

object!(Symbol, SYMBOL, unsized);
object!(Pair, PAIR, sized);
object!(Cell, CELL, sized);
object!(Keys, KEYS, unsized);
object!(Values, VALUES, unsized);

// SAFETY: symbols and cells hold no references.
unsafe impl Leaf for Symbol {}
// SAFETY: as above.
unsafe impl Leaf for Cell {}

// ---------------------------------------------------------------------------
// The symbol table.

/// The pools and allocation points the program uses.
struct Pools<'a> {
    amc: mps::Ap<'a, Heap, mps::AmcClass>,
    lo: mps::Ap<'a, Heap, mps::LoClass>,
}

/// A symbol table: keys (weak) and values (exact) in AWL, both held by a
/// root of the table's own, so the values object (the keys' dependent) is
/// alive whenever the keys are.
struct Table<'a> {
    root: Root<'a, Heap>,
    capacity: usize,
}

impl<'a> Table<'a> {
    fn new(
        arena: &'a Arena,
        awl: Awl<'a, Heap>,
        s: &mut Scope<'_>,
        capacity: usize,
    ) -> Result<Self, Error> {
        let root = Root::exact(arena, 2)?;
        let mut weak = awl.weak_ap()?;
        let mut exact = awl.ap()?;
        s.scope(|t| -> Result<(), Error> {
            let words = 4 + capacity;
            // SAFETY: a keys object of `words` words: header, length, no
            // dependent yet, nothing forgotten, null keys.
            let keys = unsafe {
                t.alloc_raw(&mut weak, words * WORD, |b| {
                    let p = b.cast::<usize>().as_ptr();
                    p.write(header(KEYS, words));
                    p.add(1).write(capacity);
                    ptr::write_bytes(p.add(2), 0, words - 2);
                })
            }?;
            let words = 2 + capacity;
            // SAFETY: a values object: header, length, null values.
            let values = unsafe {
                t.alloc_raw(&mut exact, words * WORD, |b| {
                    let p = b.cast::<usize>().as_ptr();
                    p.write(header(VALUES, words));
                    p.add(1).write(capacity);
                    ptr::write_bytes(p.add(2), 0, words - 2);
                })
            }?;
            root.set(0, Some(keys));
            root.set(1, Some(values));
            // The dependent: values never move (AWL) and the root holds
            // both for the table's whole life.
            let addr = values.addr();
            keys.with(|k: &Keys| k.values.store(addr, Ordering::Relaxed));
            Ok(())
        })?;
        Ok(Table { root, capacity })
    }

    /// The symbol named `name`, if it is interned.
    fn lookup<'s>(&self, s: &mut Scope<'s>, name: &str) -> Option<Handle<'s, Heap>> {
        let found = s.scope(|t| {
            let keys = self.root.get(0, t)?;
            (0..self.capacity).find(|&i| {
                t.scope(|u| {
                    keys.get(u, |k: &Keys| &k.slots[i])
                        .is_some_and(|sym| sym.with(|sym: &Symbol| sym.name() == name))
                })
            })
        })?;
        let keys = self.root.get(0, s)?;
        keys.get(s, |k: &Keys| &k.slots[found])
    }

    /// Interns `name`: the existing symbol, or a new one in a free slot
    /// (never used, or freed by a splat). Counts the use in its value.
    fn intern<'s>(&self, s: &mut Scope<'s>, pools: &mut Pools<'_>, name: &str) -> Handle<'s, Heap> {
        let keys = self.root.get(0, s).unwrap();
        let values = self.root.get(1, s).unwrap();
        let sym = match self.lookup(s, name) {
            Some(sym) => sym,
            None => {
                let free = (0..self.capacity)
                    .find(|&i| s.scope(|t| keys.get(t, |k: &Keys| &k.slots[i]).is_none()))
                    .expect("the symbol table is full");
                let words = 2 + name.len().div_ceil(WORD);
                // SAFETY: a symbol of `words` words: header, length, the
                // name's bytes, zero-padded.
                let sym = unsafe {
                    s.alloc_raw(&mut pools.lo, words * WORD, |b| {
                        let p = b.cast::<usize>().as_ptr();
                        p.write(header(SYMBOL, words));
                        p.add(1).write(name.len());
                        ptr::write_bytes(p.add(2), 0, words - 2);
                        ptr::copy_nonoverlapping(name.as_ptr(), p.add(2).cast::<u8>(), name.len());
                    })
                }
                .unwrap();
                let cell = s
                    .alloc(
                        &mut pools.amc,
                        Cell {
                            header: header(CELL, 2),
                            uses: AtomicU64::new(0),
                        },
                    )
                    .unwrap();
                keys.set(|k: &Keys| &k.slots[free], Some(sym));
                values.set(|v: &Values| &v.slots[free], Some(cell));
                sym
            }
        };
        // Count the use in the symbol's value.
        let slot = (0..self.capacity)
            .find(|&i| {
                s.scope(|t| {
                    keys.get(t, |k: &Keys| &k.slots[i])
                        .is_some_and(|k| k.ptr_eq(sym))
                })
            })
            .unwrap();
        s.scope(|t| {
            let cell = values.get(t, |v: &Values| &v.slots[slot]).unwrap();
            cell.with(|c: &Cell| c.uses.fetch_add(1, Ordering::Relaxed));
        });
        sym
    }

    /// `(name, uses)` of every interned symbol, and how many slots hold a
    /// value without a key (should be none: the scan clears them).
    fn entries(&self, s: &mut Scope<'_>) -> (Vec<(String, u64)>, usize) {
        let keys = self.root.get(0, s).unwrap();
        let values = self.root.get(1, s).unwrap();
        let mut out = Vec::new();
        let mut orphans = 0;
        for i in 0..self.capacity {
            s.scope(|t| {
                let key = keys.get(t, |k: &Keys| &k.slots[i]);
                let value = values.get(t, |v: &Values| &v.slots[i]);
                match (key, value) {
                    (Some(k), Some(v)) => out.push((
                        k.with(|sym: &Symbol| sym.name().to_owned()),
                        v.with(|c: &Cell| c.uses.load(Ordering::Relaxed)),
                    )),
                    (None, Some(_)) => orphans += 1,
                    _ => {}
                }
            });
        }
        out.sort();
        (out, orphans)
    }

    /// How many keys the collector has splatted so far.
    fn forgotten(&self, s: &mut Scope<'_>) -> usize {
        let keys = self.root.get(0, s).unwrap();
        keys.with(|k: &Keys| k.forgotten.load(Ordering::Relaxed))
    }
}

// ---------------------------------------------------------------------------
// The program.

const KEPT: [&str; 5] = ["define", "lambda", "car", "cdr", "x"];
const TEMPORARY: usize = 20;

/// Conses `(define lambda car cdr x)` and stores it in `program`.
fn build_program(
    s: &mut Scope<'_>,
    table: &Table<'_>,
    pools: &mut Pools<'_>,
    program: &Root<'_, Heap>,
) {
    s.scope(|t| {
        for name in KEPT.iter().rev() {
            t.scope(|u| {
                let sym = table.intern(u, pools, name);
                let cell = u
                    .alloc(
                        &mut pools.amc,
                        Pair {
                            header: header(PAIR, 3),
                            car: Ref::null(),
                            cdr: Ref::null(),
                        },
                    )
                    .unwrap();
                cell.set(|p: &Pair| &p.car, Some(sym));
                cell.set(|p: &Pair| &p.cdr, program.get(0, u));
                program.set(0, Some(cell));
            });
        }
    });
}

/// Interns temporary symbols that nothing keeps, in a frame that is gone
/// before the collection (so no stale copy of their addresses stays on
/// the stack, which is an ambiguous root).
#[inline(never)]
fn intern_temporaries(s: &mut Scope<'_>, table: &Table<'_>, pools: &mut Pools<'_>) {
    for i in 0..TEMPORARY {
        s.scope(|t| {
            table.intern(t, pools, &format!("tmp-{i}"));
        });
    }
    // Interning a kept symbol again finds the same one.
    s.scope(|t| {
        table.intern(t, pools, "lambda");
    });
}

/// Overwrites the stack below the caller.
#[inline(never)]
fn clobber_stack() {
    let buf = [0u64; 4096];
    std::hint::black_box(&buf);
}

/// `name (uses) ...` for printing.
fn show(entries: &[(String, u64)]) -> String {
    let words: Vec<String> = entries.iter().map(|(n, u)| format!("{n} ({u})")).collect();
    words.join(", ")
}

/// The symbols the program refers to, in order.
fn program_symbols<'s>(s: &mut Scope<'s>, program: &Root<'_, Heap>) -> Vec<Handle<'s, Heap>> {
    let mut out = Vec::new();
    let mut cursor = program.get(0, s);
    while let Some(cell) = cursor {
        out.push(cell.get(s, |p: &Pair| &p.car).unwrap());
        cursor = cell.get(s, |p: &Pair| &p.cdr);
    }
    out
}

fn main() -> Result<(), Error> {
    let arena = Arena::builder().arena_size(32 << 20).build()?;
    let fmt = arena.format::<Heap>()?;
    let amc: Amc<'_, Heap> = arena.amc(fmt, &PoolOptions::default())?;
    let awl: Awl<'_, Heap> = arena.awl(fmt, &PoolOptions::default())?;
    let lo: Lo<'_, Heap> = arena.lo(fmt, &PoolOptions::default())?;
    let program: Root<'_, Heap> = Root::exact(&arena, 1)?;

    arena.with_thread(|s| -> Result<(), Error> {
        let mut pools = Pools {
            amc: amc.ap()?,
            lo: lo.ap()?,
        };
        let table = Table::new(&arena, awl, s, 64)?;
        build_program(s, &table, &mut pools, &program);
        intern_temporaries(s, &table, &mut pools);
        let (before, _) = table.entries(s);
        println!("before the collection: {} symbols interned:", before.len());
        println!("  {}", show(&before));
        let addrs: Vec<usize> = s.scope(|t| program_symbols(t, &program).iter().map(|h| h.addr()).collect());

        clobber_stack();
        arena.collect()?;
        arena.release();

        let (after, orphans) = table.entries(s);
        let forgotten = table.forgotten(s);
        println!(
            "after the collection: {} symbols interned, {forgotten} forgotten by the collector, {orphans} values left without a key",
            after.len()
        );
        println!("  {}", show(&after));

        // The symbols the program refers to survive, and interning their
        // names finds the very same objects (LO never moves them).
        let mut kept: Vec<String> = KEPT.iter().map(|n| n.to_string()).collect();
        kept.sort();
        assert_eq!(after.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), kept);
        assert_eq!(after.iter().find(|(n, _)| n == "lambda").map(|e| e.1), Some(2));
        s.scope(|t| {
            let syms = program_symbols(t, &program);
            for (sym, addr) in syms.iter().zip(&addrs) {
                assert_eq!(sym.addr(), *addr);
                let name = sym.with(|sym: &Symbol| sym.name().to_owned());
                assert!(table.lookup(t, &name).unwrap().ptr_eq(*sym), "{name} was re-interned");
            }
        });
        // The temporaries are gone, with their values.
        assert_eq!(forgotten, TEMPORARY, "every temporary symbol was forgotten");
        assert_eq!(orphans, 0, "a value outlived its key");
        for i in 0..TEMPORARY {
            assert!(s.scope(|t| table.lookup(t, &format!("tmp-{i}")).is_none()));
        }
        println!("ok: referenced symbols survived, unreferenced ones were forgotten");
        Ok(())
    })??;
    Ok(())
}

//! Does long-lived code settle? Code bytes the collector copies per
//! collection in a steady state, with the code pool on the arena's default
//! chain (as before code had a chain of its own) and on its own chain (the
//! default, `CodePoolOptions::chain`).
//!
//! Each configuration installs 1,000 small functions (one code object
//! each) and keeps them, then allocates boxes in an AMC heap on the
//! arena's default chain, which drives collections: every second box is
//! kept for a while (a ring of 1,000,000 exact root slots), so survivors
//! are promoted and the default chain's second generation fills and is
//! collected too. After a warm-up it counts the collections and what they
//! did to code over a further stretch of allocation. At the end every
//! function is called and checked.
//!
//! ```text
//! cargo bench -p codepool --bench code_settles
//! ```

use codepool::{CodeObject, CodePool, CodePoolOptions, Env, RelinkCounters};
use mps::{Arena, PoolOptions, Root};

mod shared;

use shared::{boxes, gen};

use boxes::{Boxed, Boxes};

const FUNCTIONS: usize = 1000;
/// Boxes allocated before measuring, and while measuring.
const WARM_UP: usize = 16_000_000;
const MEASURED: usize = 80_000_000;
/// Boxes kept alive at a time.
const RING: usize = 1_000_000;

type Unary = extern "C" fn(i64) -> i64;

fn function_ir(k: usize) -> String {
    format!(
        "define i64 @f{k}(i64 %x) {{\n  %y = mul i64 %x, {k}\n  %z = add i64 %y, {}\n  ret i64 %z\n}}\n",
        7 * k
    )
}

/// What one configuration measured.
struct Measured {
    collections: usize,
    /// Collections that moved code.
    moving: usize,
    code: RelinkCounters,
    code_bytes: usize,
}

fn run(elfs: &[Vec<u8>], arena_default_chain: bool) -> Measured {
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(
        &arena,
        &CodePoolOptions {
            arena_default_chain,
            ..CodePoolOptions::default()
        },
    )
    .unwrap();
    code.with_jit_thread(|s| {
        let objects: Vec<CodeObject<'_>> = elfs
            .iter()
            .map(|elf| code.install_elf(elf, &Env::new()).unwrap())
            .collect();
        let mut ap = heap.ap().unwrap();
        let ring: Root<'_, Boxes> = Root::exact(&arena, RING).unwrap();
        let mut kept = 0;
        let (mut seen, mut moved) = (arena.collections(), 0);
        let moving = std::cell::Cell::new(0);
        let mut churn = |n: usize| {
            for batch in 0..n / 1000 {
                if arena.collections() != seen {
                    seen = arena.collections();
                    let now = code.stats().collector.objects_moved;
                    if now != moved {
                        moving.set(moving.get() + 1);
                        moved = now;
                    }
                }
                s.scope(|s| {
                    for i in 0..1000 {
                        let h = s
                            .alloc(&mut ap, Boxed::new((batch * 1000 + i) as i64))
                            .unwrap();
                        if i % 2 == 0 {
                            ring.set(kept % RING, Some(h));
                            kept += 1;
                        }
                    }
                });
            }
        };
        churn(WARM_UP);
        let (c0, s0, m0) = (arena.collections(), code.stats().collector, moving.get());
        churn(MEASURED);
        let measured = Measured {
            collections: arena.collections() - c0,
            moving: moving.get() - m0,
            code: code.stats().collector.since(&s0),
            code_bytes: code.stats().held.total_bytes,
        };
        for (k, object) in objects.iter().enumerate() {
            // SAFETY: every f<k> is `i64 f(i64)`.
            let f = unsafe { object.function::<Unary>(&format!("f{k}")) }.unwrap();
            assert_eq!(f.call((3,)), 3 * k as i64 + 7 * k as i64, "f{k}(3)");
        }
        measured
    })
    .unwrap()
}

fn main() {
    if !mps::sys::EXTENSIONS {
        eprintln!("skipped: code pools need the mpsx_ extensions");
        return;
    }
    let irs: Vec<String> = (0..FUNCTIONS).map(function_ir).collect();
    let elfs = gen::compile_all(&irs);
    println!(
        "{FUNCTIONS} live code objects; {MEASURED} boxes allocated in the heap after a warm-up of {WARM_UP}"
    );
    println!(
        "{:<32} {:>11} {:>14} {:>16} {:>16}",
        "code pool on", "collections", "objects moved", "code bytes moved", "bytes/collection"
    );
    let mut per_collection = Vec::new();
    for (name, default_chain) in [
        ("the arena's default chain", true),
        ("its own chain (default)", false),
    ] {
        let m = run(&elfs, default_chain);
        let per = m.code.bytes_moved as f64 / m.collections.max(1) as f64;
        per_collection.push(per);
        println!(
            "{name:<32} {:>11} {:>14} {:>16} {:>16.0}   ({} collections moved code; code held: {} bytes)",
            m.collections, m.code.objects_moved, m.code.bytes_moved, per, m.moving, m.code_bytes
        );
    }
    println!(
        "code bytes copied per collection, own chain / default chain: {:.4}",
        per_collection[1] / per_collection[0].max(1.0)
    );
}

//! An object from the system C compiler (`cc -c`) loads and runs through
//! the executable pool: calls to a Rust runtime function (through a stub:
//! the Rust binary is far from code memory), a heap constant read through
//! the GOT, a jump table, a table of function pointers to its own code
//! (absolute addresses, relinked when it moves), a string constant; and it
//! keeps running while the collector moves it and its heap constant.
//! Skipped (with a message) when there is no `cc`.

mod common;

use std::process::Command;

use codepool::reloc::RelocKind;
use codepool::{CodeObject, CodePool, CodePoolOptions, Env, InstallError};
use common::boxes::{Boxed, Boxes, VALUE_OFFSET};
use mps::{Arena, PoolOptions};

const SOURCE: &str = r#"
extern long rt_add(long, long);
extern long counter_cell;

static const long table[5] = {3, 1, 4, 1, 5};

__attribute__((noinline)) static long sq(long x) { return x * x; }
__attribute__((noinline)) long twice(long x) { return 2 * x; }

typedef long (*op)(long);
static op const ops[] = { sq, twice };

long apply_op(long i, long x) { return ops[i & 1](x); }

long compute(long x) { return rt_add(table[x % 5], sq(x)) + counter_cell; }

__attribute__((noinline)) const char *greeting(void) { return "hello, world"; }

long first_char(long unused) { (void)unused; return greeting()[0]; }

long switchy(long x) {
    switch (x) {
    case 0: return 11; case 1: return 22; case 2: return 33;
    case 3: return 44; case 4: return 55; case 5: return 66;
    case 6: return 77; case 7: return 88;
    default: return -1;
    }
}
"#;

extern "C" fn rt_add(a: i64, b: i64) -> i64 {
    a + b + 1000
}

/// `cc -c -O2 <flags>`; `None` when there is no C compiler.
fn cc(test: &str, flags: &[&str]) -> Option<Vec<u8>> {
    let dir = common::scratch_dir(&format!("codepool-pool-cc-{test}"));
    let (c, o) = (dir.join("input.c"), dir.join("input.o"));
    std::fs::write(&c, SOURCE).unwrap();
    match Command::new("cc")
        .args(["-c", "-O2", "-fno-common"])
        .args(flags)
        .arg("-o")
        .arg(&o)
        .arg(&c)
        .status()
    {
        Err(e) => {
            eprintln!("skipping {test}: cannot run cc: {e}");
            None
        }
        Ok(s) => {
            assert!(s.success(), "cc failed for {test}");
            Some(std::fs::read(&o).unwrap())
        }
    }
}

fn check(object: &CodeObject<'_>, cell: i64) {
    // SAFETY: each entry is a C function of SOURCE taking and returning
    // `long` (i64 in the SysV ABI).
    unsafe {
        let f1 = |name| object.function::<extern "C" fn(i64) -> i64>(name).unwrap();
        let f2 = |name| {
            object
                .function::<extern "C" fn(i64, i64) -> i64>(name)
                .unwrap()
        };
        assert_eq!(f1("twice").call((21,)), 42);
        assert_eq!(f2("apply_op").call((0, 7)), 49);
        assert_eq!(f2("apply_op").call((1, 7)), 14);
        for x in 0..7 {
            let t = [3, 1, 4, 1, 5][(x % 5) as usize];
            assert_eq!(
                f1("compute").call((x,)),
                t + x * x + 1000 + cell,
                "compute({x})"
            );
        }
        assert_eq!(f1("first_char").call((0,)), i64::from(b'h'));
        for x in 0..8 {
            assert_eq!(f1("switchy").call((x,)), 11 * (x + 1));
        }
        assert_eq!(f1("switchy").call((100,)), -1);
    }
}

/// Appends `object`'s address to `to`. Not inlined: the address is not
/// left in the caller's frame, where the conservative stack scan would see
/// it and pin the object.
#[inline(never)]
fn record(to: &mut Vec<usize>, object: &CodeObject<'_>) {
    to.push(object.address());
}

/// Overwrites the dead stack below the caller (calls leave copies of code
/// addresses there), then collects below it, so that the collector's own
/// frames do not leave stale copies unwritten. 64 KiB: installation's
/// calls go deeper than 16 KiB, and with 16 KiB a copy of the object's
/// address left by them pinned it in every collection (after a change of
/// the installation's frames, not of what it does).
#[inline(never)]
fn collect(arena: &Arena) {
    let buf = [0u8; 64 << 10];
    std::hint::black_box(&buf);
    arena.collect().unwrap();
    arena.release();
}

#[test]
fn a_cc_object_runs_and_moves_in_the_pool() {
    if common::skip_without_extensions() {
        return;
    }
    let Some(elf) = cc("pic", &["-fPIC"]) else {
        return;
    };
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    // GCC aligns static arrays of 32 bytes or more to 32 at -O2.
    let code = CodePool::new(
        &arena,
        &CodePoolOptions {
            align: Some(64),
            ..Default::default()
        },
    )
    .unwrap();
    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let object = s.scope(|t| {
            let cell = t.alloc(&mut ap, Boxed::new(40)).unwrap();
            let mut env = Env::new();
            env.function("rt_add", rt_add as extern "C" fn(i64, i64) -> i64)
                .heap("counter_cell", cell, VALUE_OFFSET);
            code.install_elf(&elf, &env).unwrap()
        });
        println!("{:?}", object.layout_stats());
        // rt_add is far from code memory: its calls go through the pool's
        // shared stub for it, a code object of its own that they call
        // directly (Direct sites), not through a stub of the object.
        let stats = object.layout_stats();
        assert_eq!(stats.stubs, 0, "{stats:?}");
        assert!(stats.direct_sites > 0, "{stats:?}");
        assert_eq!(code.stats().runtime_stubs.objects, 1);
        check(&object, 40);
        let relinked = code.stats().collector.objects_relinked;
        let mut addresses = Vec::new();
        record(&mut addresses, &object);
        for _ in 0..10 {
            s.scope(|t| {
                for i in 0..2000 {
                    t.alloc(&mut ap, Boxed::new(i)).unwrap();
                }
            });
            collect(&arena);
            check(&object, 40);
            record(&mut addresses, &object);
        }
        let stats = code.stats().collector;
        println!("addresses {addresses:x?}; {stats:?}");
        assert!(stats.objects_relinked > relinked, "{stats:?}");
        addresses.dedup();
        assert!(addresses.len() > 1, "the object never moved");
    })
    .unwrap();
}

/// Position-dependent code (GCC's default PIE model here) reads extern data
/// with a 32-bit displacement, which cannot follow a heap object: a typed
/// error, not a time bomb.
#[test]
fn a_cc_pie_object_cannot_refer_to_the_heap() {
    if common::skip_without_extensions() {
        return;
    }
    let Some(elf) = cc("pie", &["-fPIE"]) else {
        return;
    };
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(
        &arena,
        &CodePoolOptions {
            align: Some(64),
            ..Default::default()
        },
    )
    .unwrap();
    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let cell = s.alloc(&mut ap, Boxed::new(40)).unwrap();
        let mut env = Env::new();
        env.function("rt_add", rt_add as extern "C" fn(i64, i64) -> i64)
            .heap("counter_cell", cell, VALUE_OFFSET);
        let e = code.install_elf(&elf, &env).unwrap_err();
        println!("{e}");
        assert!(
            matches!(&e, InstallError::NotMovable { symbol, kind: RelocKind::Pc32 } if symbol == "counter_cell"),
            "{e:?}"
        );
    })
    .unwrap();
}

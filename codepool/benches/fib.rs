//! What a direct call buys a Lisp on the code pool: recursive `fib` as JIT
//! code with a direct, *redefinable* self-call (`fib` is a global,
//! default-visibility function, so the pool binds its call to itself by
//! name, `CodePoolOptions::interpose`: a `rel32` call that
//! `CodePool::redefine` rebinds, no cell load on the call path), as JIT
//! code whose self-call is resolved inside the object (a hidden `fibh`:
//! not redefinable, the same instruction), as JIT code that calls itself
//! through a cell (a word in memory loaded before every call, as a runtime
//! without relinking must do to allow redefinition), and in Rust.
//!
//! All are compiled by LLVM at `-O2` (rustc's LLVM for Rust, LLVM 14 for
//! the JIT code). Each is timed on `fib(32)` 21 times, interleaved; the
//! best time of each is reported, with the ratios.
//!
//! ```text
//! cargo bench -p codepool --bench fib
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use codepool::{CodePool, CodePoolOptions, Env};
use mps::Arena;

mod shared;

use shared::gen;

const N: i64 = 32;
const RUNS: usize = 21;

type Unary = extern "C" fn(i64) -> i64;

const DIRECT: &str = "define i64 @fib(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %base, label %rec
base:
  ret i64 %n
rec:
  %a = sub i64 %n, 1
  %x = call i64 @fib(i64 %a)
  %b = sub i64 %n, 2
  %y = call i64 @fib(i64 %b)
  %s = add i64 %x, %y
  ret i64 %s
}
";

/// The same with hidden visibility: the self-call is resolved inside the
/// object at installation.
fn hidden() -> String {
    DIRECT
        .replace("define i64 @fib(", "define hidden i64 @fibh(")
        .replace("@fib(i64", "@fibh(i64")
}

/// The same, calling through `@cell` (the entry's address, reloaded
/// before each call: the cell may change between calls).
const CELL: &str = "@cell = external global i64
define i64 @fibc(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %base, label %rec
base:
  ret i64 %n
rec:
  %a = sub i64 %n, 1
  %p = load volatile i64, i64* @cell
  %f = inttoptr i64 %p to i64 (i64)*
  %x = call i64 %f(i64 %a)
  %b = sub i64 %n, 2
  %q = load volatile i64, i64* @cell
  %g = inttoptr i64 %q to i64 (i64)*
  %y = call i64 %g(i64 %b)
  %s = add i64 %x, %y
  ret i64 %s
}
";

/// The cell: the execute-view address of `fibc`.
static CELL_WORD: AtomicI64 = AtomicI64::new(0);

#[inline(never)]
fn fib_rust(n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        fib_rust(n - 1) + fib_rust(n - 2)
    }
}

fn best(f: &mut dyn FnMut() -> i64, expected: i64, best: &mut Duration) {
    let start = Instant::now();
    let r = f();
    let t = start.elapsed();
    assert_eq!(r, expected);
    *best = (*best).min(t);
}

fn main() {
    if !mps::sys::EXTENSIONS {
        eprintln!("skipped: code pools need the mpsx_ extensions");
        return;
    }
    let direct = gen::compile("fib", DIRECT);
    let hidden = gen::compile("fibh", &hidden());
    let cell = gen::compile("fibc", CELL);
    let expected = fib_rust(N);
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let fib = code.install_elf(&direct, &Env::new()).unwrap();
        // The self-call is bound by name (redefinable); the hidden one's
        // is not.
        let fibh = code.install_elf(&hidden, &Env::new()).unwrap();
        assert_eq!(fib.layout_stats().own_targets, 1);
        assert_eq!(fibh.layout_stats().own_targets, 0);
        let mut env = Env::new();
        env.address("cell", CELL_WORD.as_ptr() as usize);
        let fibc = code.install_elf(&cell, &env).unwrap();
        // SAFETY: all are `i64 f(i64)`.
        let (fib, fibh, fibc) = unsafe {
            (
                fib.function::<Unary>("fib").unwrap(),
                fibh.function::<Unary>("fibh").unwrap(),
                fibc.function::<Unary>("fibc").unwrap(),
            )
        };
        // No collection runs during the measurement (nothing allocates;
        // the arena is parked besides), so the cell's address stays valid.
        arena.park();
        CELL_WORD.store(fibc.exec_address() as i64, Ordering::SeqCst);
        let mut times = [Duration::MAX; 4];
        for _ in 0..RUNS {
            best(&mut || fib_rust(black_box(N)), expected, &mut times[0]);
            best(&mut || fib.call((black_box(N),)), expected, &mut times[1]);
            best(&mut || fibh.call((black_box(N),)), expected, &mut times[2]);
            best(&mut || fibc.call((black_box(N),)), expected, &mut times[3]);
        }
        arena.release();
        let [rust, direct, hidden, cell] = times.map(|t| t.as_secs_f64());
        println!("fib({N}) = {expected}, best of {RUNS} runs each:");
        println!(
            "  Rust                                 {:>8.2} ms",
            rust * 1e3
        );
        println!(
            "  JIT, direct self-call, redefinable   {:>8.2} ms   {:.2}x Rust, {:.2}x cell",
            direct * 1e3,
            direct / rust,
            direct / cell
        );
        println!(
            "  JIT, self-call resolved (hidden)     {:>8.2} ms   {:.2}x Rust, {:.2}x redefinable",
            hidden * 1e3,
            hidden / rust,
            hidden / direct
        );
        println!(
            "  JIT, call through a cell             {:>8.2} ms   {:.2}x Rust, {:.2}x direct",
            cell * 1e3,
            cell / rust,
            cell / direct
        );
    })
    .unwrap();
}

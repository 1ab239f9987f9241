//! What registering code objects with the unwinder, gdb and perf costs
//! (`codepool::unwind`, `codepool::debuginfo`): installation time and
//! full-collection pause of a pool with registration off (the peer), on
//! (the default: unwind tables), and on with the GDB JIT interface, the
//! perf map and the jitdump file, all measured in the same run.
//!
//! The corpus: 2,000 functions, one module and one code object each;
//! `f<i>` calls `f<i-1>` (another code object) and a runtime function.
//! They are compiled once, up front; the figures cover `CodePool::install`
//! of the loaded objects, and full collections of the pool holding all of
//! them (everything unpinned moves, so every object's record is updated),
//! timed by the collector (`mpsx_arena_last_trace`). Each variant runs
//! `ROUNDS` times, interleaved, in fresh arenas; medians are printed with
//! the ratio to registration off. The variant with gdb and perf runs last
//! (they cannot be switched off once on); its figures include the
//! synchronisation after each step (`debuginfo::sync`), reported apart.
//!
//! ```text
//! cargo bench -p codepool --bench unwind
//! ```

use std::time::{Duration, Instant};

use codepool::{debuginfo, CodePool, CodePoolOptions, Env, LoadedObject};
use mps::Arena;

const FUNCTIONS: usize = 2000;
const ROUNDS: usize = 11;
const COLLECTIONS: usize = 5;

extern "C" fn rt_add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn ir(i: usize) -> String {
    let (decl, call) = if i == 0 {
        (String::new(), "%y = add i64 %x, 1".to_owned())
    } else {
        (
            format!("declare i64 @f{}(i64)", i - 1),
            format!("%y = call i64 @f{}(i64 %x)", i - 1),
        )
    };
    format!(
        "declare i64 @rt_add(i64, i64)
         {decl}
         define i64 @f{i}(i64 %x) {{
           {call}
           %z = call i64 @rt_add(i64 %y, i64 {i})
           ret i64 %z
         }}"
    )
}

fn compile(i: usize) -> LoadedObject {
    use codepool::jit::inkwell::context::Context;
    use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
    let context = Context::create();
    let text = ir(i);
    let buffer = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), "m");
    let module = context.create_module_from_ir(buffer).expect("parse IR");
    codepool::jit::compile(&module).expect("compile")
}

/// One round: install the corpus, then collect; (install time, median
/// pause, sync time).
fn round(objects: &[LoadedObject], unwind: bool, sync: bool) -> (Duration, f64, Duration) {
    let arena = Arena::new().unwrap();
    let code = CodePool::new(
        &arena,
        &CodePoolOptions {
            unwind: Some(unwind),
            ..Default::default()
        },
    )
    .unwrap();
    let mut env = Env::new();
    env.function("rt_add", rt_add as extern "C" fn(i64, i64) -> i64);
    let mut sync_time = Duration::ZERO;
    let mut timed_sync = move || {
        if sync {
            let t = Instant::now();
            debuginfo::sync().unwrap();
            sync_time += t.elapsed();
        }
        sync_time
    };
    code.with_jit_thread(|_| {
        let start = Instant::now();
        let held: Vec<_> = objects
            .iter()
            .map(|o| code.install(o, &env).unwrap())
            .collect();
        let install = start.elapsed();
        let _ = timed_sync();
        // SAFETY: `f<n>` is `i64 (i64)`.
        let last = unsafe {
            held[FUNCTIONS - 1]
                .function::<extern "C" fn(i64) -> i64>(&format!("f{}", FUNCTIONS - 1))
        }
        .unwrap();
        let expected = last.call((0,));
        let mut pauses = Vec::new();
        for _ in 0..COLLECTIONS {
            arena.collect().unwrap();
            pauses.push(code.last_trace().seconds);
            arena.release();
            let _ = timed_sync();
        }
        assert_eq!(last.call((0,)), expected);
        assert!(code.stats().collector.objects_moved > 0);
        pauses.sort_by(f64::total_cmp);
        (install, pauses[pauses.len() / 2], timed_sync())
    })
    .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !mps::sys::EXTENSIONS {
        eprintln!("skipped: code pools need the mpsx_ extensions");
        return;
    }
    let objects: Vec<LoadedObject> = (0..FUNCTIONS).map(compile).collect();
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        off.push(round(&objects, false, false));
        on.push(round(&objects, true, false));
    }
    debuginfo::enable_gdb();
    debuginfo::enable_perf_map();
    debuginfo::enable_jitdump();
    let all: Vec<_> = (0..ROUNDS).map(|_| round(&objects, true, true)).collect();
    let install =
        |v: &[(Duration, f64, Duration)]| median(v.iter().map(|r| r.0.as_secs_f64()).collect());
    let pause = |v: &[(Duration, f64, Duration)]| median(v.iter().map(|r| r.1).collect());
    let sync = median(all.iter().map(|r| r.2.as_secs_f64()).collect());
    let (i0, p0) = (install(&off), pause(&off));
    println!(
        "{FUNCTIONS} objects, medians of {ROUNDS} rounds ({COLLECTIONS} full collections each)"
    );
    println!("| variant | install (all objects) | ratio | full-collection pause | ratio |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("registration off (peer)", &off),
        ("unwind tables (default)", &on),
        ("unwind + gdb + perf map + jitdump", &all),
    ] {
        let (i, p) = (install(v), pause(v));
        println!(
            "| {name} | {:.2} ms | {:.2}× | {:.3} ms | {:.2}× |",
            i * 1e3,
            i / i0,
            p * 1e3,
            p / p0
        );
    }
    println!(
        "gdb + perf map + jitdump: debuginfo::sync after the installation and after each collection: \
         {:.2} ms per round ({} syncs), outside the pauses",
        sync * 1e3,
        COLLECTIONS + 1
    );
}

//! The code pool's main demonstration: JIT-compiled functions that live in
//! collected memory, are compacted by the collector like any object, and
//! keep running.
//!
//! It builds `N` functions with LLVM (through inkwell), one module and one
//! code object each. Function `f<i>(x)` reads one or two *heap constants*
//! (boxed integers in an AMC pool, which the code refers to directly),
//! calls up to three earlier functions (other code objects) with `x - 1`,
//! and calls a runtime function written in Rust:
//!
//! ```text
//! f<i>(x) = v + c<i>                                   if x <= 0
//!         = rt_mix(c<i> + f<j1>(x-1) + f<j2>(x-1) ..., v)   otherwise
//! where v = the sum of the boxes f<i> reads
//! ```
//!
//! The expected value of every function is computed in Rust. The program
//! installs them all, collects (everything moves: code, and the boxes the
//! code refers to), drops a random half, collects again (the survivors
//! are compacted; dropped functions that survivors still call stay alive),
//! and after each step calls every function it still holds and checks its
//! result. It prints what the collector did and exits non-zero on any
//! mismatch.
//!
//! ```text
//! cargo run --release --example compaction [-- --n 2000 --seed 1]
//! ```

use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::module::{Linkage, Module};
use codepool::jit::inkwell::IntPredicate;
use codepool::layout::Sizes;
use codepool::{Census, CodeObject, CodePool, CodePoolOptions, Env, RelinkCounters, TraceStats};
use mps::{Amc, Arena, Error, Format, Object, PoolOptions, ScanState, Scope};

// ---------------------------------------------------------------------------
// The heap: boxed integers, `[header word, value]`.

const BOX: usize = 1;
const FORWARD: usize = 2;
const PAD: usize = 3;
/// Offset of a box's value: what a heap constant's symbol points to.
const VALUE_OFFSET: u32 = 8;

#[repr(C)]
struct Boxed {
    header: usize,
    value: i64,
}

/// The format of boxes.
enum Boxes {}

fn header(p: NonNull<u8>) -> usize {
    // SAFETY: every block of the format starts with a header word.
    unsafe { p.cast::<usize>().read() }
}

// SAFETY: every block is sized by its header ((size in words << 8) | tag);
// boxes hold no references; a forwarding marker (two words) fits in a box;
// a one-word pad is its header alone.
unsafe impl Format for Boxes {
    unsafe fn scan(_: &mut ScanState<'_>, _: NonNull<u8>, _: NonNull<u8>) -> Result<(), Error> {
        Ok(())
    }
    unsafe fn skip(p: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block is (header >> 8) words long.
        unsafe { p.add((header(p) >> 8) * 8) }
    }
    unsafe fn forward(old: NonNull<u8>, new: NonNull<u8>) {
        let words = header(old) >> 8;
        // SAFETY: the old copy (two words) is the collector's to overwrite.
        unsafe {
            old.cast::<[usize; 2]>()
                .write([(words << 8) | FORWARD, new.as_ptr() as usize])
        }
    }
    unsafe fn is_forwarded(p: NonNull<u8>) -> Option<NonNull<u8>> {
        // SAFETY: a marker's second word is the new address.
        (header(p) & 0xff == FORWARD).then(|| unsafe { p.cast::<NonNull<u8>>().add(1).read() })
    }
    unsafe fn pad(base: NonNull<u8>, size: usize) {
        // SAFETY: the collector gives us `size` bytes at `base`.
        unsafe { base.cast::<usize>().write(((size / 8) << 8) | PAD) }
    }
}

// SAFETY: BOX headers mark boxes, which `boxed` makes well formed.
unsafe impl Object for Boxed {
    type Format = Boxes;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == BOX
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Boxed> {
        p.cast()
    }
}

fn boxed(value: i64) -> Boxed {
    Boxed {
        header: (2 << 8) | BOX,
        value,
    }
}

// ---------------------------------------------------------------------------
// The functions.

/// The argument every function is checked with (and its recursion depth).
const DEPTH: i64 = 3;

static RUNTIME_CALLS: AtomicU64 = AtomicU64::new(0);

fn mix(a: i64, b: i64) -> i64 {
    a.wrapping_mul(31).wrapping_add(b) ^ (a >> 13)
}

/// The runtime function the JIT code calls.
extern "C" fn rt_mix(a: i64, b: i64) -> i64 {
    RUNTIME_CALLS.fetch_add(1, Ordering::Relaxed);
    mix(a, b)
}

/// What function `i` does.
struct Spec {
    callees: Vec<usize>,
    boxes: Vec<usize>,
    constant: i64,
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn specs(n: usize, boxes: usize, rng: &mut Rng) -> Vec<Spec> {
    (0..n)
        .map(|i| {
            let mut callees = Vec::new();
            for _ in 0..rng.below(4).min(i) {
                let j = rng.below(i);
                if !callees.contains(&j) {
                    callees.push(j);
                }
            }
            let boxes = (0..1 + rng.below(2)).map(|_| rng.below(boxes)).collect();
            Spec {
                callees,
                boxes,
                constant: rng.below(1000) as i64,
            }
        })
        .collect()
}

/// `expected[i][x]`: `f<i>(x)` for `x` in `0..=DEPTH`.
fn expected(specs: &[Spec], box_values: &[i64]) -> Vec<[i64; DEPTH as usize + 1]> {
    let mut e: Vec<[i64; DEPTH as usize + 1]> = Vec::with_capacity(specs.len());
    for spec in specs {
        let v = spec
            .boxes
            .iter()
            .fold(0i64, |v, &b| v.wrapping_add(box_values[b]));
        let mut row = [0; DEPTH as usize + 1];
        row[0] = v.wrapping_add(spec.constant);
        for x in 1..=DEPTH as usize {
            let acc = spec
                .callees
                .iter()
                .fold(spec.constant, |acc, &j| acc.wrapping_add(e[j][x - 1]));
            row[x] = mix(acc, v);
        }
        e.push(row);
    }
    e
}

/// Builds module `m<i>` holding `f<i>`.
fn build<'c>(context: &'c Context, i: usize, spec: &Spec) -> Module<'c> {
    let module = context.create_module(&format!("m{i}"));
    let i64t = context.i64_type();
    let fn_type = i64t.fn_type(&[i64t.into()], false);
    let f = module.add_function(&format!("f{i}"), fn_type, None);
    let rt = module.add_function(
        "rt_mix",
        i64t.fn_type(&[i64t.into(), i64t.into()], false),
        Some(Linkage::External),
    );
    let b = context.create_builder();
    let entry = context.append_basic_block(f, "entry");
    let base = context.append_basic_block(f, "base");
    let rec = context.append_basic_block(f, "rec");
    b.position_at_end(entry);
    let x = f.get_nth_param(0).expect("one parameter").into_int_value();
    let mut v = i64t.const_zero();
    for &k in &spec.boxes {
        let name = format!("box{k}");
        let global = module
            .get_global(&name)
            .unwrap_or_else(|| module.add_global(i64t, None, &name));
        let value = b
            .build_load(global.as_pointer_value(), "v")
            .expect("load")
            .into_int_value();
        v = b.build_int_add(v, value, "v").expect("add");
    }
    let c = i64t.const_int(spec.constant as u64, true);
    let done = b
        .build_int_compare(IntPredicate::SLE, x, i64t.const_zero(), "done")
        .expect("compare");
    b.build_conditional_branch(done, base, rec).expect("branch");
    b.position_at_end(base);
    let r = b.build_int_add(v, c, "r").expect("add");
    b.build_return(Some(&r)).expect("return");
    b.position_at_end(rec);
    let y = b
        .build_int_sub(x, i64t.const_int(1, false), "y")
        .expect("sub");
    let mut acc = c;
    for &j in &spec.callees {
        let callee = module.add_function(&format!("f{j}"), fn_type, Some(Linkage::External));
        let r = b
            .build_call(callee, &[y.into()], "r")
            .expect("call")
            .try_as_basic_value()
            .basic()
            .expect("a value")
            .into_int_value();
        acc = b.build_int_add(acc, r, "acc").expect("add");
    }
    let m = b
        .build_call(rt, &[acc.into(), v.into()], "m")
        .expect("call")
        .try_as_basic_value()
        .basic()
        .expect("a value")
        .into_int_value();
    b.build_return(Some(&m)).expect("return");
    module
}

/// The ELF objects one compiler thread made, with their function indices.
type Compiled = Vec<(usize, Vec<u8>)>;

/// Compiles every function's module to ELF bytes, on `workers` threads;
/// prints a progress line every `progress` modules.
fn compile_all(specs: &[Spec], workers: usize, progress: usize) -> Result<Vec<Vec<u8>>, String> {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let done = &done;
    let results: Vec<Result<Compiled, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    let context = Context::create();
                    let mut out = Vec::new();
                    for i in (w..specs.len()).step_by(workers) {
                        let module = build(&context, i, &specs[i]);
                        let elf = codepool::jit::compile_to_elf(&module)
                            .map_err(|e| format!("f{i}: {e}"))?;
                        out.push((i, elf));
                        let d = done.fetch_add(1, Ordering::Relaxed) as usize + 1;
                        if d % progress == 0 && d < specs.len() {
                            println!(
                                "  compiled {d}/{} functions ({:.1} s)",
                                specs.len(),
                                start.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a compiler thread panicked".into()))
            })
            .collect()
    });
    let mut objects = vec![Vec::new(); specs.len()];
    for result in results {
        for (i, elf) in result? {
            objects[i] = elf;
        }
    }
    Ok(objects)
}

// ---------------------------------------------------------------------------
// Running.

struct Args {
    n: usize,
    seed: u64,
}

const USAGE: &str = "usage: compaction [--n N] [--seed S]\n\n  --n N     number of functions (default 2000)\n  --seed S  seed of the random choices (default 1)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args { n: 2000, seed: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .and_then(|v| v.parse::<u64>().map_err(|e| format!("{name} {v}: {e}")))
        };
        match flag.as_str() {
            "--n" => args.n = value("--n")? as usize,
            "--seed" => args.seed = value("--seed")?,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.n == 0 {
        return Err("--n must be at least 1".into());
    }
    Ok(args)
}

/// One column of the report.
struct Column {
    held: usize,
    census: Census,
    relink: RelinkCounters,
    trace: TraceStats,
    held_moved: usize,
    held_pinned: usize,
    checked: usize,
    mismatches: usize,
}

/// Calls every held function with `0..=DEPTH`; returns (calls, mismatches).
fn check(
    functions: &[Option<CodeObject<'_>>],
    expected: &[[i64; DEPTH as usize + 1]],
) -> (usize, usize) {
    let (mut calls, mut bad) = (0, 0);
    for (i, f) in functions.iter().enumerate() {
        let Some(object) = f else { continue };
        // SAFETY: every f<i> is `i64 f(i64)` with the C calling convention.
        let f = unsafe { object.function::<extern "C" fn(i64) -> i64>(&format!("f{i}")) }
            .expect("f<i> is exported");
        for x in 0..=DEPTH {
            let got = f.call((x,));
            calls += 1;
            if got != expected[i][x as usize] {
                bad += 1;
                if bad <= 10 {
                    eprintln!(
                        "MISMATCH: f{i}({x}) = {got}, expected {}",
                        expected[i][x as usize]
                    );
                }
            }
        }
    }
    (calls, bad)
}

/// Collects and measures.
fn collect(
    arena: &Arena,
    code: &CodePool<'_>,
    functions: &[Option<CodeObject<'_>>],
    expected: &[[i64; DEPTH as usize + 1]],
) -> Result<Column, Box<dyn std::error::Error>> {
    let before: Vec<usize> = functions
        .iter()
        .map(|f| f.as_ref().map_or(0, CodeObject::address))
        .collect();
    let counters = code.stats().collector;
    arena.collect()?;
    let trace = code.last_trace();
    let relink = code.stats().collector.since(&counters);
    let census = code.census()?;
    arena.release();
    let (mut moved, mut pinned, mut held) = (0, 0, 0);
    for (f, &old) in functions.iter().zip(&before) {
        if let Some(f) = f {
            held += 1;
            if f.address() == old {
                pinned += 1;
            } else {
                moved += 1;
            }
        }
    }
    let (checked, mismatches) = check(functions, expected);
    Ok(Column {
        held,
        census,
        relink,
        trace,
        held_moved: moved,
        held_pinned: pinned,
        checked,
        mismatches,
    })
}

fn report(columns: &[(&str, &Column)]) {
    let row = |label: &str, f: &dyn Fn(&Column) -> String| {
        print!("  {label:<44}");
        for (_, c) in columns {
            print!("{:>22}", f(c));
        }
        println!();
    };
    print!("  {:<44}", "");
    for (name, _) in columns {
        print!("{name:>22}");
    }
    println!();
    row("functions held", &|c| c.held.to_string());
    row("code objects alive (held or called)", &|c| {
        c.census.objects.objects.to_string()
    });
    row("code bytes (machine code + rodata)", &|c| {
        c.census.objects.code_bytes.to_string()
    });
    row("code object bytes (all parts)", &|c| {
        c.census.objects.total_bytes.to_string()
    });
    for (i, (name, _)) in Sizes::default().regions().iter().enumerate() {
        row(&format!("  {name}"), &|c| {
            c.census.objects.sizes.regions()[i].1.to_string()
        });
    }
    row("  code object bytes / code bytes", &|c| {
        format!("{:.2}", c.census.objects.sizes.ratio())
    });
    row("pool's shared runtime stubs (objects, bytes)", &|c| {
        let stubs = &c.census.stubs;
        format!("{}, {}", stubs.objects, stubs.total_bytes)
    });
    row("  all code object bytes / code bytes", &|c| {
        let all = c.census.objects.total_bytes + c.census.stubs.total_bytes;
        format!("{:.3}", all as f64 / c.census.objects.code_bytes as f64)
    });
    row("sidecar bytes", &|c| {
        c.census.objects.sidecar.bytes.to_string()
    });
    row("  relocations in sidecars", &|c| {
        c.census.objects.sidecar.relocs.to_string()
    });
    row("  sidecar bytes per relocation", &|c| {
        format!("{:.2}", c.census.objects.sidecar.bytes_per_reloc)
    });
    row("  sidecar as % of code", &|c| {
        format!("{:.1}%", c.census.objects.sidecar_percent_of_code())
    });
    row("relocations re-encoded by the collection", &|c| {
        c.relink.sites_relinked.to_string()
    });
    row("code objects scanned / relinked (and stubs)", &|c| {
        format!(
            "{} / {}",
            c.relink.objects_scanned, c.relink.objects_relinked
        )
    });
    row("code objects moved, and stubs (bytes)", &|c| {
        format!("{} ({})", c.relink.objects_moved, c.relink.bytes_moved)
    });
    row("code objects freed (bytes)", &|c| {
        format!("{} ({})", c.relink.objects_freed, c.relink.bytes_freed)
    });
    row("code objects pinned, and stubs (not moved)", &|c| {
        // A full collection condemns everything: what it scanned and did
        // not move was pinned by an ambiguous reference.
        c.relink
            .objects_scanned
            .saturating_sub(c.relink.objects_moved)
            .to_string()
    });
    row("held functions moved / pinned", &|c| {
        format!("{} / {}", c.held_moved, c.held_pinned)
    });
    row("objects moved, all pools (code + boxes)", &|c| {
        c.trace.objects_moved.to_string()
    });
    row("segments with pinned objects", &|c| {
        c.trace.segs_pinned.to_string()
    });
    row("collection time", &|c| {
        format!("{:.2} ms", c.trace.seconds * 1e3)
    });
    row("  of which code scan + relink", &|c| {
        format!("{:.2} ms", c.relink.scan_seconds * 1e3)
    });
    row("calls checked / mismatches", &|c| {
        format!("{} / {}", c.checked, c.mismatches)
    });
}

fn run(
    arena: &Arena,
    code: &CodePool<'_>,
    heap: Amc<'_, Boxes>,
    s: &mut Scope<'_>,
    args: &Args,
) -> Result<bool, Box<dyn std::error::Error>> {
    let n = args.n;
    let mut rng = Rng(args.seed);
    let box_count = (n / 8).max(8);
    let specs = specs(n, box_count, &mut rng);
    let box_values: Vec<i64> = (0..box_count)
        .map(|_| rng.below(1 << 20) as i64 - (1 << 19))
        .collect();
    let expected = expected(&specs, &box_values);
    let mut ap = heap.ap()?;
    let progress = (n / 4).max(500);

    // Compile every module to an ELF object, on all cores (each thread
    // with its own LLVM context).
    let start = Instant::now();
    let workers = std::thread::available_parallelism().map_or(1, |p| p.get().min(8));
    let objects = compile_all(&specs, workers, progress)?;
    let compile_s = start.elapsed().as_secs_f64();
    println!("compiled {n} functions with LLVM -O2 on {workers} threads in {compile_s:.2} s");

    // Install, in order (each function calls earlier ones). The boxes are
    // held by handles of a nested scope only while the functions are
    // installed; after that, the code alone keeps them alive.
    let start = Instant::now();
    let mut functions: Vec<Option<CodeObject<'_>>> = s.scope(|t| {
        let mut env = Env::new();
        env.function("rt_mix", rt_mix as extern "C" fn(i64, i64) -> i64);
        for (k, &value) in box_values.iter().enumerate() {
            let b = t.alloc(&mut ap, boxed(value))?;
            env.heap(format!("box{k}"), b, VALUE_OFFSET);
        }
        let mut functions = Vec::with_capacity(n);
        for (i, elf) in objects.iter().enumerate() {
            functions.push(Some(code.install_elf(elf, &env)?));
            if (i + 1) % progress == 0 && i + 1 < n {
                println!(
                    "  installed {}/{n} functions ({:.3} s)",
                    i + 1,
                    start.elapsed().as_secs_f64()
                );
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(functions)
    })?;
    let install_s = start.elapsed().as_secs_f64();
    let installed = code.stats().installed;
    println!(
        "installed {n} functions in {:.3} s ({:.1} us each: load, lay out, check, allocate, link)",
        install_s,
        install_s * 1e6 / n as f64
    );
    println!(
        "  {} bytes of code, {} relocations in {} sidecar bytes ({:.2} B/reloc, {:.1}% of code)",
        installed.code_bytes,
        installed.sidecar.relocs,
        installed.sidecar.bytes,
        installed.sidecar.bytes_per_reloc,
        installed.sidecar_percent_of_code()
    );
    let (calls, bad) = check(&functions, &expected);
    println!("  called every function before any collection: {calls} calls, {bad} mismatches");

    // Collection 1: everything held.
    let first = collect(arena, code, &functions, &expected)?;

    // Drop a random half, collect again.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    for &i in &order[..n / 2] {
        functions[i] = None;
    }
    let second = collect(arena, code, &functions, &expected)?;

    println!();
    report(&[("all held", &first), ("half dropped", &second)]);
    println!();
    println!(
        "runtime function calls: {}; dropped functions still alive because survivors call them: {}",
        RUNTIME_CALLS.load(Ordering::Relaxed),
        second.census.objects.objects.saturating_sub(second.held)
    );
    if first.relink.objects_moved == 0 || second.relink.objects_moved == 0 {
        eprintln!("warning: a collection moved no code object (all pinned?)");
    }
    Ok(bad == 0 && first.mismatches == 0 && second.mismatches == 0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("compaction: {} functions, seed {}", args.n, args.seed);
    let result = (|| -> Result<bool, Box<dyn std::error::Error>> {
        let arena = Arena::builder().arena_size(256 << 20).build()?;
        let fmt = arena.format::<Boxes>()?;
        let heap = arena.amc(fmt, &PoolOptions::default())?;
        let code = CodePool::new(&arena, &CodePoolOptions::default())?;
        code.with_jit_thread(|s| run(&arena, &code, heap, s, &args))?
    })();
    match result {
        Ok(true) => {
            println!("OK: every function returned its expected value after every collection");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

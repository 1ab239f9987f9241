//! What moving code costs, against what recompiling it would.
//!
//! The corpus is the compaction example's: 2,000 generated functions, one
//! module and one code object each, that call up to three others, call a
//! runtime function and read one or two heap constants.
//!
//! - `relink`: [`layout::relink_from_table`] over every object of the
//!   corpus for a new address, per relocation and per function; and
//!   copying plus relinking (what a move costs the collector), per byte.
//! - `llvm`: compiling the same functions again, at `-O0` and `-O2`.
//! - `collect`: a full collection of the executable pool holding the
//!   corpus (everything unpinned moves), timed by the collector
//!   (`mpsx_arena_last_trace`), per byte of code objects moved.
//! - install (summary only): installing the corpus's precompiled objects in
//!   the pool, and compiling plus installing, against LLVM's own JIT
//!   (inkwell's MCJIT execution engine) given the same modules: engine
//!   creation, code generation and linking up to a callable address, with
//!   every external symbol mapped to a real address first.
//!
//! At the end a summary prints the ratios, and the sidecar's size on the
//! corpus (bytes per relocation and per byte of code).
//!
//! ```text
//! cargo bench -p codepool --bench relink
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use codepool::jit::inkwell::context::Context;
use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
use codepool::jit::inkwell::module::Module;
use codepool::jit::inkwell::OptimizationLevel;
use codepool::jit::OptLevel;
use codepool::layout::{self, Binding, CodeImage};
use codepool::{CodePool, CodePoolOptions, Env, SidecarStats};
use criterion::{BenchmarkId, Criterion, Throughput};
use mps::{Arena, PoolOptions};

mod shared;

use shared::{boxes, gen};

use gen::{Rng, Spec};

const FUNCTIONS: usize = 2000;
/// Functions recompiled per iteration of the LLVM benchmarks.
const COMPILED: usize = 20;

struct Corpus {
    irs: Vec<String>,
    elfs: Vec<Vec<u8>>,
    images: Vec<CodeImage>,
    box_names: Vec<String>,
}

fn corpus() -> Corpus {
    let mut rng = Rng(1);
    let box_names: Vec<String> = (0..FUNCTIONS / 8).map(|k| format!("box{k}")).collect();
    let all: Vec<usize> = (0..FUNCTIONS).collect();
    let specs: Vec<Spec> = (0..FUNCTIONS)
        .map(|i| Spec::random(&mut rng, &all[..i], &box_names))
        .collect();
    let irs: Vec<String> = specs.iter().enumerate().map(|(i, s)| s.ir(i)).collect();
    let elfs = gen::compile_all(&irs);
    // Lay every object out as the pool would, with plausible addresses:
    // code targets in one region, heap constants more than 2 GiB away (so
    // they go through the GOT), the runtime function where it is (far: a
    // stub).
    let rt = gen::rt_mix as extern "C" fn(i64, i64) -> i64 as usize as u64;
    let images = elfs
        .iter()
        .map(|elf| {
            let object = codepool::load(elf).unwrap();
            layout::layout(&object, |name| {
                if name == "rt_mix" {
                    Some(Binding::Runtime { address: rt })
                } else if let Some(k) = name.strip_prefix("box") {
                    Some(Binding::Heap {
                        object: 0x7e00_0000_0000 + k.parse::<u64>().unwrap() * 16,
                        offset: 8,
                    })
                } else {
                    let j = name.strip_prefix('f')?.parse::<u64>().ok()?;
                    Some(Binding::Code {
                        object: 0x7f00_0000_0000 + j * 4096,
                        offset: 0x70,
                    })
                }
            })
            .unwrap()
        })
        .collect();
    Corpus {
        irs,
        elfs,
        images,
        box_names,
    }
}

/// Relinks every image for `base + 4096 * i (+ shift)`.
fn relink_all(images: &mut [Vec<u8>], shift: u64) -> usize {
    let mut sites = 0;
    for (i, image) in images.iter_mut().enumerate() {
        let at = 0x7f10_0000_0000 + 4096 * i as u64 + shift;
        sites += layout::relink_from_table(image, at, 0).unwrap().sites;
    }
    sites
}

/// Copies every image into `slab` (as the collector copies a moved object)
/// and relinks the copy for its address.
fn move_all(images: &[Vec<u8>], slab: &mut [u8]) {
    let base = slab.as_ptr() as u64;
    let mut at = 0;
    for image in images {
        let copy = &mut slab[at..at + image.len()];
        copy.copy_from_slice(image);
        layout::relink_from_table(copy, base + at as u64, 0).unwrap();
        at += image.len();
    }
}

fn modules<'c>(context: &'c Context, irs: &[String]) -> Vec<Module<'c>> {
    irs.iter()
        .enumerate()
        .map(|(i, ir)| {
            let buffer =
                MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), &format!("m{i}"));
            context.create_module_from_ir(buffer).unwrap()
        })
        .collect()
}

/// LLVM's own JIT on one module: an MCJIT engine, every external
/// function mapped to a real function (the code is never called, so the
/// runtime function stands for all of them) and every external global to
/// a real word, then the defined function's address, which makes MCJIT
/// generate and link the code.
fn mcjit_load(module: Module<'_>, level: OptimizationLevel) -> usize {
    static DUMMY: [u64; 4] = [0; 4];
    let engine = module.create_jit_execution_engine(level).unwrap();
    let mut name = None;
    for f in module.get_functions() {
        if f.count_basic_blocks() == 0 {
            let addr = gen::rt_mix as extern "C" fn(i64, i64) -> i64 as usize;
            engine.add_global_mapping(&f, addr);
        } else {
            name = Some(f.get_name().to_str().unwrap().to_owned());
        }
    }
    for g in module.get_globals() {
        if g.is_declaration() {
            engine.add_global_mapping(&g, DUMMY.as_ptr() as usize);
        }
    }
    engine
        .get_function_address(&name.expect("a defined function"))
        .unwrap()
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() / n as f64
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let corpus = corpus();
    let relocs: usize = corpus.images.iter().map(|i| i.stats().sidecar.relocs).sum();
    let bytes: usize = corpus.images.iter().map(CodeImage::len).sum();
    let mut images: Vec<Vec<u8>> = corpus.images.iter().map(|i| i.bytes().to_vec()).collect();
    relink_all(&mut images, 0);

    // Relinking.
    let mut group = c.benchmark_group("relink");
    group.throughput(Throughput::Elements(relocs as u64));
    let mut shift = 0;
    group.bench_function(
        BenchmarkId::new("relink_from_table", "per relocation"),
        |b| {
            b.iter(|| {
                shift ^= 0x1000;
                black_box(relink_all(&mut images, shift))
            })
        },
    );
    group.throughput(Throughput::Elements(FUNCTIONS as u64));
    group.bench_function(BenchmarkId::new("relink_from_table", "per function"), |b| {
        b.iter(|| {
            shift ^= 0x1000;
            black_box(relink_all(&mut images, shift))
        })
    });
    let mut slab = vec![0u8; bytes];
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(BenchmarkId::new("copy_and_relink", "per byte"), |b| {
        b.iter(|| move_all(&images, &mut slab))
    });
    group.finish();

    // Recompiling.
    let context = Context::create();
    let modules = modules(&context, &corpus.irs[..COMPILED]);
    let mut group = c.benchmark_group("llvm");
    group.sample_size(10);
    group.throughput(Throughput::Elements(COMPILED as u64));
    for (name, level) in [("O0", OptLevel::O0), ("O2", OptLevel::O2)] {
        group.bench_function(BenchmarkId::new("compile_to_elf", name), |b| {
            b.iter(|| {
                for m in &modules {
                    black_box(codepool::jit::compile_to_elf_at(m, level).unwrap());
                }
            })
        });
    }
    group.finish();

    // Collecting: the corpus in the executable pool.
    let arena = Arena::builder().arena_size(256 << 20).build().unwrap();
    let heap = arena
        .amc(
            arena.format::<boxes::Boxes>().unwrap(),
            &PoolOptions::default(),
        )
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let (gc_time, gc_bytes, gc_objects, gc_sites, install, compile_install) = code
        .with_jit_thread(|s| {
            let mut ap = heap.ap().unwrap();
            let mut env = Env::new();
            env.function("rt_mix", gen::rt_mix as extern "C" fn(i64, i64) -> i64);
            for b in &corpus.box_names {
                let h = s.alloc(&mut ap, boxes::Boxed::new(1)).unwrap();
                env.heap(b.clone(), h, boxes::VALUE_OFFSET);
            }
            // Compile (-O2) and install the first COMPILED functions (they
            // call only earlier ones), then install the rest precompiled.
            let context = Context::create();
            let fresh = crate::modules(&context, &corpus.irs[..COMPILED]);
            let start = Instant::now();
            let mut objects: Vec<_> = fresh
                .iter()
                .map(|m| {
                    let elf = codepool::jit::compile_to_elf_at(m, OptLevel::O2).unwrap();
                    code.install_elf(&elf, &env).unwrap()
                })
                .collect();
            let compile_install = start.elapsed();
            let start = Instant::now();
            objects.extend(
                corpus.elfs[COMPILED..]
                    .iter()
                    .map(|elf| code.install_elf(elf, &env).unwrap()),
            );
            let install = start.elapsed();
            arena.collect().unwrap();
            let before = code.stats().collector;
            arena.collect().unwrap();
            let moved = code.stats().collector.since(&before);
            let mut group = c.benchmark_group("collect");
            group.sample_size(20);
            group.throughput(Throughput::Bytes(moved.bytes_moved));
            group.bench_function(
                BenchmarkId::new("full_collection", "per byte of code moved"),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            arena.collect().unwrap();
                            total += Duration::from_secs_f64(code.last_trace().seconds);
                        }
                        total
                    })
                },
            );
            group.finish();
            arena.release();
            // Summary figures, measured again outside criterion.
            let before = code.stats().collector;
            let mut time = 0.0;
            for _ in 0..20 {
                arena.collect().unwrap();
                time += code.last_trace().seconds;
            }
            arena.release();
            let moved = code.stats().collector.since(&before);
            drop(objects);
            (
                time,
                moved.bytes_moved,
                moved.objects_moved,
                moved.sites_relinked,
                install,
                compile_install,
            )
        })
        .unwrap();
    let mcjit = [OptimizationLevel::None, OptimizationLevel::Default].map(|level| {
        let context = Context::create();
        let fresh = crate::modules(&context, &corpus.irs[..COMPILED]);
        let start = Instant::now();
        for m in fresh {
            black_box(mcjit_load(m, level));
        }
        start.elapsed()
    });

    // Summary.
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < Duration::from_millis(500) {
        shift ^= 0x1000;
        black_box(relink_all(&mut images, shift));
        rounds += 1;
    }
    let relink = start.elapsed() / rounds;
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < Duration::from_millis(500) {
        move_all(&images, &mut slab);
        rounds += 1;
    }
    let moving = start.elapsed() / rounds;
    let mut compile = [Duration::ZERO; 2];
    for (k, level) in [OptLevel::O0, OptLevel::O2].into_iter().enumerate() {
        let start = Instant::now();
        for m in &modules {
            black_box(codepool::jit::compile_to_elf_at(m, level).unwrap());
        }
        compile[k] = start.elapsed();
    }
    let sidecar = corpus
        .images
        .iter()
        .fold(SidecarStats::default(), |s, i| s.combine(i.stats().sidecar));
    let code_bytes: usize = corpus.images.iter().map(|i| i.stats().code_bytes).sum();
    let per_fn = per(relink, FUNCTIONS);
    println!();
    println!(
        "summary ({FUNCTIONS} functions, {relocs} relocations, {bytes} bytes of code objects):"
    );
    println!(
        "  relink:            {:8.1} ns/function  {:6.1} ns/relocation",
        per_fn * 1e9,
        per(relink, relocs) * 1e9
    );
    println!(
        "  copy + relink:     {:8.1} ns/function  {:6.0} MB/s",
        per(moving, FUNCTIONS) * 1e9,
        bytes as f64 / moving.as_secs_f64() / 1e6
    );
    for (k, name) in ["-O0", "-O2"].into_iter().enumerate() {
        let t = per(compile[k], COMPILED);
        println!(
            "  LLVM {name} compile: {:8.1} us/function  = {:.0}x the relink, {:.0}x copy + relink",
            t * 1e6,
            t / per_fn,
            t / per(moving, FUNCTIONS)
        );
    }
    println!(
        "  full collection:   {:8.0} MB/s of code objects moved and relinked \
         ({gc_objects} objects, {gc_sites} relocations in {:.2} ms per collection of {} KB)",
        gc_bytes as f64 / gc_time / 1e6,
        gc_time * 1e3 / 20.0,
        gc_bytes / 20 / 1024
    );
    let inst = per(install, FUNCTIONS - COMPILED);
    println!(
        "  install (pool):    {:8.1} us/function  ({:.0} functions/s), precompiled objects",
        inst * 1e6,
        1.0 / inst
    );
    let ci = per(compile_install, COMPILED);
    println!(
        "  compile -O2 + install (pool): {:8.1} us/function",
        ci * 1e6
    );
    for (k, name) in ["-O0", "-O2"].into_iter().enumerate() {
        let t = per(mcjit[k], COMPILED);
        println!(
            "  LLVM MCJIT {name} (engine, codegen, link): {:8.1} us/function  \
             = {:.0}x the pool's install{}",
            t * 1e6,
            t / inst,
            if k == 1 {
                format!(", {:.2}x compile -O2 + install", t / ci)
            } else {
                String::new()
            }
        );
    }
    println!(
        "  sidecar:           {:.2} bytes/relocation, {:.3} bytes per byte of code ({:.1}%)",
        sidecar.bytes_per_reloc,
        sidecar.bytes as f64 / code_bytes as f64,
        100.0 * sidecar.bytes as f64 / code_bytes as f64
    );
    c.final_summary();
}

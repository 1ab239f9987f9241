//! Code density (issue 19): where the bytes of code objects go.
//!
//! - `objects_of_the_compaction_mix`: the functions of the compaction
//!   example (one module and one code object each: read one or two boxes,
//!   call up to three earlier functions and a runtime function), installed
//!   in a pool; the breakdown of their bytes, from the census, and their
//!   size against their machine code.
//! - `sidecar_bytes_per_relocation`: the sidecar's size on a realistic
//!   module: 200 generated functions that call each other, call runtime
//!   functions and functions of another code object, load heap
//!   references, and sit in a table of function pointers.
//!
//! Prints the figures (run with `--nocapture`):
//!
//! ```text
//! cargo test -p codepool --release --test density -- --nocapture
//! ```

#![cfg(feature = "llvm")]

mod common;

use std::fmt::Write;

use codepool::layout::{self, Binding};
use codepool::sidecar::{self, TargetClass};
use codepool::{CodePool, CodePoolOptions};
use common::boxes::Boxes;
use common::gen::{self, Program, Rng, DEPTH};
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use mps::{Arena, PoolOptions};

const FUNCTIONS: usize = 200;
const HEAP_CELLS: usize = 64;
const RUNTIME: usize = 12;
const LIBRARY: usize = 20;

fn generate() -> String {
    let mut ir = String::new();
    for h in 0..HEAP_CELLS {
        writeln!(ir, "@h{h} = external global i64").unwrap();
    }
    for r in 0..RUNTIME {
        writeln!(ir, "declare i64 @rt{r}(i64, i64)").unwrap();
    }
    writeln!(ir, "declare i64 @rt_alloc(i64)").unwrap();
    for l in 0..LIBRARY {
        writeln!(ir, "declare i64 @lib{l}(i64)").unwrap();
    }
    let fnptr = "i64 (i64)*";
    let entries: Vec<String> = (0..FUNCTIONS).map(|i| format!("{fnptr} @f{i}")).collect();
    writeln!(
        ir,
        "@vtable = constant [{FUNCTIONS} x {fnptr}] [{}]",
        entries.join(", ")
    )
    .unwrap();
    for i in 0..FUNCTIONS {
        let (a, b) = (i % HEAP_CELLS, (i * 5 + 1) % HEAP_CELLS);
        let j = (i * 7 + 3) % FUNCTIONS;
        let k = (i + 1) % FUNCTIONS;
        let r = i % RUNTIME;
        let l = i % LIBRARY;
        write!(
            ir,
            r#"
define i64 @f{i}(i64 %x) noinline {{
entry:
  %h1 = load i64, i64* @h{a}
  %h2 = load i64, i64* @h{b}
  %s = add i64 %h1, %h2
  %c = icmp slt i64 %x, {i}
  br i1 %c, label %then, label %else
then:
  %y = sub i64 %x, 1
  %r1 = call i64 @f{j}(i64 %y)
  %r2 = call i64 @rt{r}(i64 %r1, i64 %s)
  %p = getelementptr inbounds [{FUNCTIONS} x {fnptr}], [{FUNCTIONS} x {fnptr}]* @vtable, i64 0, i64 %x
  %g = load {fnptr}, {fnptr}* %p
  %r5 = call i64 %g(i64 %r2)
  br label %done
else:
  %r3 = call i64 @lib{l}(i64 %x)
  %r4 = call i64 @rt_alloc(i64 %r3)
  %r6 = call i64 @f{k}(i64 %r4)
  br label %done
done:
  %v = phi i64 [%r5, %then], [%r6, %else]
  %w = add i64 %v, %s
  ret i64 %w
}}
"#
        )
        .unwrap();
    }
    ir
}

/// Functions of the compaction mix installed for the test below.
const MIX: usize = 400;

/// The most code object bytes per byte of machine code and read-only data
/// the compaction mix may take, counting the pool's shared runtime stub.
/// Issue 19 asks for 1.5; the layout reaches about 1.83 (see the README's
/// "Code density": what remains is the 22-byte header and its count
/// block, the records of heap constants, the sidecar and the rounding to
/// 16 bytes), and this bound keeps it from growing back.
const MAX_RATIO: f64 = 1.9;

#[test]
fn objects_of_the_compaction_mix() {
    if common::skip_without_extensions() {
        return;
    }
    let mut rng = Rng::from_env(7);
    let boxes: Vec<String> = (0..MIX / 8).map(|k| format!("box{k}")).collect();
    let value = |b: &str| b.len() as i64;
    let program = Program::generate(&mut rng, MIX, 0, &boxes, value);
    let arena = Arena::new().unwrap();
    let heap = arena
        .amc(arena.format::<Boxes>().unwrap(), &PoolOptions::default())
        .unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let objects = gen::install_all(&code, &heap, &boxes, &program.elfs, value);
    // Moved and relinked, they still run.
    arena.collect().unwrap();
    let census = code.census().unwrap();
    arena.release();
    code.with_jit_thread(|_| {
        for (i, object) in objects.iter().enumerate() {
            assert_eq!(gen::call(object, i, DEPTH as i64), program.rows[i][DEPTH]);
        }
    })
    .unwrap();
    let sizes = census.objects.sizes;
    println!("{MIX} code objects of the compaction mix: {sizes}");
    for (name, bytes) in sizes.regions() {
        println!(
            "  {name:<20} {bytes:>7} bytes, {:>6.1} per object",
            bytes as f64 / MIX as f64
        );
    }
    // The census (from the headers) agrees with the installations.
    assert_eq!(census.objects.objects, MIX);
    assert_eq!(sizes, code.stats().held.sizes);
    assert_eq!(sizes.total, census.objects.total_bytes);
    assert_eq!(
        sizes.regions().iter().map(|r| r.1).sum::<usize>(),
        sizes.total
    );
    // Calls to other code objects need no stub (code memory is 512 MiB),
    // and calls to the runtime function go to the pool's shared stub for
    // it (one object, apart from the census's objects): no object has a
    // stub, or a record for the runtime function.
    assert_eq!(sizes.stubs, 0, "{} bytes of stubs", sizes.stubs);
    let shared = census.stubs;
    assert_eq!((shared.objects, shared.total_bytes), (1, 48));
    assert_eq!(shared, code.stats().runtime_stubs);
    // Calls to other code objects and to the runtime function are Direct
    // sites: no target record.
    let direct: usize = objects.iter().map(|o| o.layout_stats().direct_sites).sum();
    assert!(direct >= MIX, "{direct} Direct sites");
    let ratio = (sizes.total + shared.total_bytes) as f64 / sizes.code as f64;
    println!(
        "  with the shared runtime stub ({} bytes): {ratio:.3}x the code",
        shared.total_bytes
    );
    assert!(
        ratio <= MAX_RATIO,
        "code objects take {ratio:.3}x their code"
    );
    drop(objects);
}

#[test]
fn sidecar_bytes_per_relocation() {
    let ir = generate();
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "density");
    let module = context.create_module_from_ir(buffer).expect("parse IR");
    let elf = codepool::jit::compile_to_elf(&module).unwrap();
    let obj = codepool::load(&elf).unwrap();
    let image = layout::layout(&obj, |name| {
        if let Some(n) = name.strip_prefix('h') {
            let n: u64 = n.parse().ok()?;
            Some(Binding::Heap {
                object: 0x7f00_0000_0000 + 64 * n,
                offset: 0,
            })
        } else if name.starts_with("rt") {
            Some(Binding::Runtime {
                address: 0x5555_0000_0000 + 0x100 * name.len() as u64,
            })
        } else if let Some(n) = name.strip_prefix("lib") {
            let n: u32 = n.parse().ok()?;
            Some(Binding::Code {
                object: 0x7e00_0000_0000,
                offset: 0x100 + 0x40 * n,
            })
        } else {
            None
        }
    })
    .unwrap();
    let stats = image.stats();
    let stream = layout::sidecar_bytes(image.bytes()).unwrap();
    let entries = sidecar::decode_all(stream).unwrap();
    let mut by_class = [0usize; 4];
    for e in &entries {
        by_class[e.target.class() as usize] += 1;
    }
    let mut by_kind = std::collections::BTreeMap::new();
    for e in &entries {
        *by_kind.entry(e.kind.elf_name()).or_insert(0usize) += 1;
    }
    println!(
        "module: {FUNCTIONS} functions, {} bytes of code and rodata",
        stats.code_bytes
    );
    println!(
        "ELF relocations (loaded sections): {} ({} bytes as Elf64_Rela)",
        stats.elf_relocations,
        stats.elf_relocations * 24
    );
    println!(
        "resolved at layout (PC-relative inside the object): {}",
        stats.resolved
    );
    println!(
        "sidecar: {} (by target: code {}, heap {}, runtime {}, self {}; by kind {by_kind:?})",
        stats.sidecar,
        by_class[TargetClass::Code as usize],
        by_class[TargetClass::Heap as usize],
        by_class[TargetClass::Runtime as usize],
        by_class[TargetClass::SelfRelative as usize],
    );
    println!(
        "target table: {} records, {} bytes; GOT slots {}, stubs {}; object {} bytes",
        stats.targets, stats.target_table_bytes, stats.got_slots, stats.stubs, stats.total_bytes
    );
    println!("object: {}", stats.sizes);
    assert_eq!(stats.sizes.total, stats.total_bytes);
    assert_eq!(entries.len(), stats.sidecar.relocs);
    assert!(stats.sidecar.relocs > FUNCTIONS, "{stats:?}");
    assert!(
        stats.sidecar.bytes_per_reloc <= 4.0,
        "sidecar takes {:.2} bytes per relocation",
        stats.sidecar.bytes_per_reloc
    );
    // And it relinks.
    let mut bytes = image.bytes().to_vec();
    let relinked = layout::relink_from_table(&mut bytes, 0x7f00_1000_0000, 0).unwrap();
    println!("relink: {relinked:?}");
    assert_eq!(relinked.sites, stats.sidecar.relocs);
}

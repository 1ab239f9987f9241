//! End to end: compile LLVM IR with the JIT front end, lay the object out,
//! move it between executable mappings, relink, and run it.

#![cfg(feature = "llvm")]

mod common;

use codepool::layout::{self, Binding, CodeImage};
use codepool::sidecar::Target;
use common::{call1, call2, DualMap, Placed};
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;

/// Functions that call each other, call a runtime function, read a constant
/// table, load a heap cell through the GOT, and call through a table of
/// function pointers in `.data.rel.ro` (absolute addresses of the object's
/// own code).
const MODULE_A: &str = r#"
@table = private unnamed_addr constant [4 x i64] [i64 10, i64 20, i64 30, i64 40], align 8
@heap_cell = external global i64
@fnptrs = constant [2 x i64 (i64)*] [i64 (i64)* @square, i64 (i64)* @fact]

declare i64 @rt_add(i64, i64)

define internal i64 @helper(i64 %x) noinline {
  %i = and i64 %x, 3
  %p = getelementptr inbounds [4 x i64], [4 x i64]* @table, i64 0, i64 %i
  %v = load i64, i64* %p
  %r = mul i64 %v, 2
  ret i64 %r
}

define i64 @square(i64 %x) noinline {
  %r = mul i64 %x, %x
  ret i64 %r
}

define i64 @fact(i64 %n) noinline {
entry:
  %c = icmp sle i64 %n, 1
  br i1 %c, label %base, label %rec
base:
  ret i64 1
rec:
  %m = sub i64 %n, 1
  %f = call i64 @fact(i64 %m)
  %r = mul i64 %n, %f
  ret i64 %r
}

define i64 @entry(i64 %x) {
  %h = call i64 @helper(i64 %x)
  %s = call i64 @square(i64 %x)
  %a = call i64 @rt_add(i64 %h, i64 %s)
  %c = load volatile i64, i64* @heap_cell
  %r = add i64 %a, %c
  ret i64 %r
}

define i64 @call_indirect(i64 %i, i64 %x) {
  %j = and i64 %i, 1
  %p = getelementptr inbounds [2 x i64 (i64)*], [2 x i64 (i64)*]* @fnptrs, i64 0, i64 %j
  %f = load i64 (i64)*, i64 (i64)** %p
  %r = call i64 %f(i64 %x)
  ret i64 %r
}
"#;

/// Calls `square` of another code object.
const MODULE_B: &str = r#"
declare i64 @square(i64)

define i64 @sum_squares(i64 %x) {
  %a = call i64 @square(i64 %x)
  %y = add i64 %x, 1
  %b = call i64 @square(i64 %y)
  %r = add i64 %a, %b
  ret i64 %r
}
"#;

extern "C" fn rt_add(a: i64, b: i64) -> i64 {
    a + b + 1000
}

fn compile(ir: &str, name: &str) -> codepool::LoadedObject {
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), name);
    let module = context.create_module_from_ir(buffer).expect("parse IR");
    codepool::jit::compile(&module).expect("compile")
}

fn expected_entry(x: i64, cell: i64) -> i64 {
    [10, 20, 30, 40][(x & 3) as usize] * 2 + x * x + 1000 + cell
}

fn check_a(placed: &Placed, image: &CodeImage, cell: i64) {
    let index = |name: &str| {
        image
            .entries()
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry {name}")) as u32
    };
    let addr = placed.addr();
    let entry = placed.entry(index("entry"));
    assert_eq!(entry, addr + u64::from(image.entry("entry").unwrap()));
    // SAFETY: each address is the entry of a function compiled from
    // MODULE_A with the signature used, in the read+execute mapping
    // `placed`, relinked for that address; the heap cell and rt_add live
    // for the whole test.
    unsafe {
        for x in [0, 1, 5, 7, -3] {
            assert_eq!(call1(entry, x), expected_entry(x, cell), "entry({x})");
        }
        assert_eq!(call1(placed.entry(index("square")), 12), 144);
        assert_eq!(call1(placed.entry(index("fact")), 10), 3_628_800);
        let indirect = placed.entry(index("call_indirect"));
        assert_eq!(call2(indirect, 0, 9), 81);
        assert_eq!(call2(indirect, 1, 5), 120);
    }
}

#[test]
fn move_relink_and_call() {
    let obj = compile(MODULE_A, "a");
    println!("externals: {:?}", obj.externals());
    println!("sections: {:?}", obj.sections());
    // LLVM's C API does not turn on relaxable GOT relocations, so loads
    // through the GOT come as plain GOTPCREL and stay loads.
    assert!(obj
        .relocations()
        .iter()
        .any(|r| r.kind == codepool::reloc::RelocKind::GotPcRel));
    let mut cell: Box<[i64; 4]> = Box::new([0, 7, 0, 0]);
    let rt = rt_add as extern "C" fn(i64, i64) -> i64 as usize as u64;
    let image = layout::layout(&obj, |name| match name {
        "rt_add" => Some(Binding::Runtime { address: rt }),
        // The cell is the second word of a heap "object".
        "heap_cell" => Some(Binding::Heap {
            object: cell.as_ptr() as u64,
            offset: 8,
        }),
        _ => None,
    })
    .unwrap();
    println!("layout: {:?}", image.stats());
    assert_eq!(image.target("rt_add"), Some(Target::Runtime(0)));
    assert_eq!(image.target("heap_cell"), Some(Target::Heap(0)));
    assert!(image.stats().sidecar.relocs >= 3, "{:?}", image.stats());

    // A Vec-backed fake memory at a made-up address: relink there (pure).
    let mut fake = image.bytes().to_vec();
    let fake_addr = 0x6000_0000_0000u64;
    layout::relink_from_table(&mut fake, fake_addr, 0).unwrap();
    assert_eq!(layout::header(&fake).unwrap().linked_at, fake_addr);

    // Move 1: into an executable mapping.
    let first = Placed::new(&fake);
    check_a(&first, &image, 7);

    // The heap cell moves (the collector would fix the record's base).
    let moved_cell: Box<[i64; 4]> = Box::new([0, 123, 0, 0]);
    let mut bytes = first.bytes().to_vec();
    layout::set_target_base(&mut bytes, Target::Heap(0), moved_cell.as_ptr() as u64).unwrap();
    cell[1] = -1; // the old cell must no longer be read

    // Move 2: copy the bytes as linked for the first mapping to a second
    // one, relink, and drop the first mapping before calling.
    let second = Placed::new(&bytes);
    assert_ne!(first.addr(), second.addr());
    drop(first);
    check_a(&second, &image, 123);

    // The relinking is a function of the addresses only: the same image
    // relinked from scratch for the second address is byte-identical.
    let mut fresh = image.bytes().to_vec();
    layout::set_target_base(&mut fresh, Target::Heap(0), moved_cell.as_ptr() as u64).unwrap();
    layout::relink_from_table(&mut fresh, second.addr(), 0).unwrap();
    assert_eq!(fresh, second.bytes());
}

#[test]
fn far_runtime_calls_go_through_stubs() {
    let obj = compile(MODULE_A, "a");
    let cell = Box::new([0i64, 1, 0, 0]);
    let rt = rt_add as extern "C" fn(i64, i64) -> i64 as usize as u64;
    let image = layout::layout(&obj, |name| match name {
        "rt_add" => Some(Binding::Runtime { address: rt }),
        "heap_cell" => Some(Binding::Heap {
            object: cell.as_ptr() as u64,
            offset: 8,
        }),
        _ => None,
    })
    .unwrap();
    let mut map = memmap2::MmapMut::map_anon(image.len()).unwrap();
    map.copy_from_slice(image.bytes());
    let addr = map.as_ptr() as u64;
    let stats = layout::relink_from_table(&mut map, addr, 0).unwrap();
    let far = addr.abs_diff(rt) > (1 << 31);
    println!("object at {addr:#x}, rt_add at {rt:#x}: {stats:?}");
    if far {
        assert_eq!(stats.via_stub, 1, "{stats:?}");
    } else {
        assert_eq!(stats.via_stub, 0, "{stats:?}");
    }
    let placed = Placed {
        map: map.make_exec().unwrap(),
    };
    check_a(&placed, &image, 1);
}

/// Objects in a memfd mapped twice (read-write and read+execute views, as
/// the collector's executable pool does): code is written and relinked in
/// one view and runs in the other; object B calls A (a Code target); A moves
/// within the pool and B follows.
#[test]
fn dual_mapping_and_code_targets() {
    if common::skip_without_extensions() {
        return;
    }
    let a_obj = compile(MODULE_A, "a");
    let b_obj = compile(MODULE_B, "b");
    let cell = Box::new([0i64, 5, 0, 0]);
    let rt = rt_add as extern "C" fn(i64, i64) -> i64 as usize as u64;
    let a_image = layout::layout(&a_obj, |name| match name {
        "rt_add" => Some(Binding::Runtime { address: rt }),
        "heap_cell" => Some(Binding::Heap {
            object: cell.as_ptr() as u64,
            offset: 8,
        }),
        _ => None,
    })
    .unwrap();
    let square = a_image.entry("square").unwrap();

    let mut pool = DualMap::new(1 << 20);
    let delta = pool.delta();
    let a_at = 0x1000usize;
    let b_at = 0x8000usize;
    let b_image = layout::layout(&b_obj, |name| match name {
        "square" => Some(Binding::Code {
            object: pool.write_addr(a_at),
            offset: square,
        }),
        _ => None,
    })
    .unwrap();
    assert_eq!(b_image.target("square"), Some(Target::Code(0)));
    assert_eq!(
        layout::reference_offsets(b_image.bytes()).unwrap().count(),
        1
    );

    let install = |pool: &mut DualMap, at: usize, bytes: &[u8]| {
        pool.write[at..at + bytes.len()].copy_from_slice(bytes);
        let exec = pool.exec_addr(at);
        layout::relink_from_table(&mut pool.write[at..at + bytes.len()], exec, delta).unwrap()
    };
    install(&mut pool, a_at, a_image.bytes());
    let stats = install(&mut pool, b_at, b_image.bytes());
    assert_eq!(stats.direct, 2, "{stats:?}"); // both calls reach A directly
    let sum_squares = pool.exec_addr(b_at) + u64::from(b_image.entry("sum_squares").unwrap());
    // SAFETY: sum_squares is the entry of MODULE_B's function in the
    // read+execute view, relinked for it; A, which it calls, is installed
    // and linked in the same pool.
    assert_eq!(unsafe { call1(sum_squares, 3) }, 9 + 16);

    // A moves within the pool: copy it (as linked), relink it for its new
    // place, update B's reference (what the collector's fix does) and
    // relink B; wipe the old copy so a stale call would crash.
    let a_new = 0x20000usize;
    let len = a_image.len();
    pool.write.copy_within(a_at..a_at + len, a_new);
    let exec = pool.exec_addr(a_new);
    layout::relink_from_table(&mut pool.write[a_new..a_new + len], exec, delta).unwrap();
    pool.write[a_at..a_at + len].fill(0xcc);
    let b_range = b_at..b_at + b_image.len();
    let a_new_write = pool.write_addr(a_new);
    layout::set_target_base(
        &mut pool.write[b_range.clone()],
        Target::Code(0),
        a_new_write,
    )
    .unwrap();
    let exec_b = pool.exec_addr(b_at);
    layout::relink_from_table(&mut pool.write[b_range], exec_b, delta).unwrap();
    // SAFETY: as above, after relinking B for A's new place.
    assert_eq!(unsafe { call1(sum_squares, 4) }, 16 + 25);
    // And A itself still works at its new place.
    let entry = pool.exec_addr(a_new) + u64::from(a_image.entry("entry").unwrap());
    // SAFETY: the entry of MODULE_A's `entry`, relinked for its new place.
    assert_eq!(unsafe { call1(entry, 2) }, expected_entry(2, 5));
}

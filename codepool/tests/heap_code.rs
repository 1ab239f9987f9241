//! Heap objects that hold code, and runtime functions that allocate (issue
//! 16): closures in an AMC pool hold entry points of code objects through
//! `CodePtr` fields; many collections move both the closures and the
//! code; calls through the closures give the right values; code held only
//! through the heap stays alive, and code no longer held is freed (counted
//! by the pool's reclaim hook). A runtime `cons` called from JIT code
//! allocates through the scope and data lent by `call_with`, under
//! collections.

#![cfg(feature = "llvm")]

mod common;

use std::ptr::NonNull;

use codepool::{runtime, AlreadySet, CodeObject, CodePool, CodePoolOptions, CodePtr, Env};
use common::boxes::{header, skip_block, PAD};
use common::gen::compile;
use mps::{AmcClass, Ap, Arena, Error, Fmt, Format, Object, PoolOptions, Ref, Root, ScanState};

type Unary = extern "C" fn(i64) -> i64;

/// Tags (markers and pads use those of `common::boxes`).
const CLOSURE: usize = 1;
const CONS: usize = 4;

/// A closure: its code and one captured value.
#[repr(C)]
struct Closure {
    header: usize,
    code: CodePtr<Unary>,
    env: i64,
}

impl Closure {
    fn new(env: i64) -> Closure {
        Closure {
            header: (4 << 8) | CLOSURE,
            code: CodePtr::null(),
            env,
        }
    }
}

/// A pair: an integer and a reference to the rest of a list.
#[repr(C)]
struct Cons {
    header: usize,
    car: i64,
    cdr: Ref,
}

impl Cons {
    fn new(car: i64) -> Cons {
        Cons {
            header: (3 << 8) | CONS,
            car,
            cdr: Ref::null(),
        }
    }
}

/// The format of closures and pairs: a header word `(words << 8) | tag`.
enum Heap {}

// SAFETY: every block is sized by its header (in words); scan fixes the
// CodePtr of closures and the Ref of pairs; a marker (two words) fits in
// every object; a pad of one word is its header alone.
unsafe impl Format for Heap {
    unsafe fn scan(
        ss: &mut ScanState<'_>,
        base: NonNull<u8>,
        limit: NonNull<u8>,
    ) -> Result<(), Error> {
        let mut p = base;
        while p < limit {
            match header(p) & 0xff {
                // SAFETY: a closure, per its tag.
                CLOSURE => unsafe { p.cast::<Closure>().as_ref() }.code.fix(ss)?,
                // SAFETY: a pair, per its tag.
                CONS => ss.fix_ref(&unsafe { p.cast::<Cons>().as_ref() }.cdr)?,
                _ => {}
            }
            // SAFETY: as in `skip`.
            p = unsafe { skip_block(p) };
        }
        Ok(())
    }
    header_word_methods!(common::boxes);
    unsafe fn is_pad(p: NonNull<u8>) -> bool {
        header(p) & 0xff == PAD
    }
}

// SAFETY: CLOSURE headers mark closures, which `Closure::new` makes well
// formed (an empty CodePtr).
unsafe impl Object for Closure {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == CLOSURE
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Closure> {
        p.cast()
    }
}

// SAFETY: CONS headers mark pairs, which `Cons::new` makes well formed.
unsafe impl Object for Cons {
    type Format = Heap;
    unsafe fn is_instance(p: NonNull<u8>) -> bool {
        header(p) & 0xff == CONS
    }
    unsafe fn from_addr(p: NonNull<u8>) -> NonNull<Cons> {
        p.cast()
    }
}

/// `f<k>(x) = x * k + 7 * k`, in a module of its own.
fn function_ir(k: usize) -> String {
    format!(
        "define i64 @f{k}(i64 %x) {{\n  %y = mul i64 %x, {k}\n  %z = add i64 %y, {}\n  ret i64 %z\n}}\n",
        7 * k
    )
}

fn expected(k: usize, x: i64) -> i64 {
    x * k as i64 + 7 * k as i64
}

/// Objects in the pool now (a census) plus those freed equal those
/// installed: every object the reclaim hook counted was really gone, and
/// nothing was counted twice.
fn check_freed_count(code: &CodePool<'_>, arena: &Arena) -> u64 {
    let stats = code.stats();
    let census = code.census().unwrap();
    arena.release();
    assert_eq!(
        census.objects.objects as u64 + stats.collector.objects_freed,
        stats.installed.objects as u64,
        "census {census:?}, stats {stats:?}"
    );
    assert_eq!(
        census.objects.total_bytes as u64 + stats.collector.bytes_freed,
        stats.installed.total_bytes as u64,
    );
    stats.collector.objects_freed
}

#[test]
fn dropped_code_objects_are_counted_as_freed() {
    if common::skip_without_extensions() {
        return;
    }
    const N: usize = 40;
    let elfs: Vec<Vec<u8>> = (0..N)
        .map(|k| compile(&format!("f{k}"), &function_ir(k)))
        .collect();
    let arena = Arena::new().unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|_| {
        let objects: Vec<CodeObject<'_>> = elfs
            .iter()
            .map(|elf| code.install_elf(elf, &Env::new()).unwrap())
            .collect();
        assert_eq!(code.stats().collector.objects_freed, 0);
        drop(objects);
    })
    .unwrap();
    common::collect_until(&arena, || {
        code.stats().collector.objects_freed as usize == N
    });
    let freed = check_freed_count(&code, &arena);
    assert_eq!(freed as usize, N, "every dropped object is freed");
    let stats = code.stats();
    assert!(stats.collector.bytes_freed >= stats.installed.total_bytes as u64);
}

#[test]
fn closures_in_the_heap_hold_code_that_moves() {
    if common::skip_without_extensions() {
        return;
    }
    const N: usize = 24;
    const ROUNDS: usize = 30;
    let elfs: Vec<Vec<u8>> = (0..N)
        .map(|k| compile(&format!("f{k}"), &function_ir(k)))
        .collect();
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Heap>().unwrap();
    let heap = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    let closures: Root<'_, Heap> = Root::exact(&arena, N).unwrap();
    let call = |s: &mut mps::Scope<'_>, k: usize, x: i64| -> i64 {
        let h = closures.get(k, s).expect("held");
        h.with(|c: &Closure| c.code.call((x,)) + c.env)
    };
    code.with_jit_thread(|s| {
        let mut ap = heap.ap().unwrap();
        let objects: Vec<CodeObject<'_>> = elfs
            .iter()
            .map(|elf| code.install_elf(elf, &Env::new()).unwrap())
            .collect();
        for (k, object) in objects.iter().enumerate() {
            // SAFETY: every f<k> is `i64 f(i64)`.
            let f = unsafe { object.function::<Unary>(&format!("f{k}")) }.unwrap();
            let h = s.alloc(&mut ap, Closure::new(1000 * k as i64)).unwrap();
            assert!(h.with(|c: &Closure| c.code.is_null()));
            CodePtr::init(h, |c: &Closure| &c.code, f).unwrap();
            assert_eq!(CodePtr::init(h, |c: &Closure| &c.code, f), Err(AlreadySet));
            closures.set(k, Some(h));
        }
        // From now on the code is held only through the heap.
        drop(objects);
        assert_eq!(code.stats().held.objects, 0);
        let before = code.stats().collector;
        let mut heap_moved = 0;
        for round in 0..ROUNDS {
            let addrs: Vec<usize> = (0..N).map(|k| closures.get(k, s).unwrap().addr()).collect();
            // Garbage in both pools, so that collections have work.
            for i in 0..200 {
                s.scope(|s| s.alloc(&mut ap, Cons::new(i)).map(|_| ()))
                    .unwrap();
            }
            arena.collect().unwrap();
            arena.release();
            for (k, &addr) in addrs.iter().enumerate() {
                if closures.get(k, s).unwrap().addr() != addr {
                    heap_moved += 1;
                }
                for x in [0, 1, round as i64] {
                    assert_eq!(
                        call(s, k, x),
                        expected(k, x) + 1000 * k as i64,
                        "round {round}: closure {k}({x})"
                    );
                }
            }
        }
        let moved = code.stats().collector.since(&before);
        assert!(heap_moved > 0, "no closure moved in {ROUNDS} collections");
        assert!(
            moved.objects_moved > 0,
            "no code object moved in {ROUNDS} collections: {moved:?}"
        );
        assert_eq!(moved.objects_freed, 0, "held code was freed: {moved:?}");
    })
    .unwrap();
    check_freed_count(&code, &arena);
    // Code no longer held by the heap is freed.
    code.with_jit_thread(|_| {
        for k in 0..N / 2 {
            closures.set(k, None);
        }
    })
    .unwrap();
    common::collect_until(&arena, || {
        code.stats().collector.objects_freed as usize >= N / 2
    });
    let freed = check_freed_count(&code, &arena);
    assert!(
        freed as usize >= N / 2,
        "{freed} of the {} unheld code objects were freed",
        N / 2
    );
    assert!(freed as usize <= N / 2, "held code was freed");
    code.with_jit_thread(|s| {
        for k in N / 2..N {
            assert_eq!(call(s, k, 3), expected(k, 3) + 1000 * k as i64);
        }
    })
    .unwrap();
    // The code pool may go before the heap that holds its code: the MPS
    // pool then lives until the arena is dropped.
    drop(code);
    arena.collect().unwrap();
}

/// The runtime's data lent to its runtime functions.
struct Lisp;

struct LispData<'a> {
    arena: &'a Arena,
    ap: Ap<'a, Heap, AmcClass>,
    fmt: Fmt<'a, Heap>,
    conses: usize,
}

impl runtime::Runtime for Lisp {
    type Data<'a> = LispData<'a>;
}

/// `(cons car cdr)`: allocates a pair; collects every 64 pairs.
extern "C" fn rt_cons(car: i64, cdr: i64) -> i64 {
    runtime::with::<Lisp, _>(|s, data| {
        let tail = if cdr == 0 {
            None
        } else {
            // SAFETY: `cdr` is a pair's address the JIT code passed (0 or
            // a result of rt_cons), held in our argument: pinned.
            Some(unsafe { runtime::handle_from_jit(s, data.fmt, cdr as usize) }.expect("a pair"))
        };
        let pair = s.alloc(&mut data.ap, Cons::new(car)).unwrap();
        pair.set(|c: &Cons| &c.cdr, tail);
        data.conses += 1;
        if data.conses % 64 == 0 {
            data.arena.collect().unwrap();
            data.arena.release();
        }
        pair.addr() as i64
    })
    .expect("rt_cons is called inside call_with::<Lisp>")
}

/// The sum of a list's cars.
extern "C" fn rt_sum(list: i64) -> i64 {
    runtime::with::<Lisp, _>(|s, data| {
        let mut sum = 0;
        if list == 0 {
            return 0;
        }
        // SAFETY: `list` is a pair's address the JIT code passed (a
        // result of rt_cons), held in our argument: pinned.
        let h = unsafe { runtime::handle_from_jit(s, data.fmt, list as usize) }.expect("a pair");
        loop {
            sum += h.with(|c: &Cons| c.car);
            match h.get(s, |c: &Cons| &c.cdr) {
                Some(next) => h.assign(next),
                None => return sum,
            }
        }
    })
    .expect("rt_sum is called inside call_with::<Lisp>")
}

const BUILD: &str = r#"
declare i64 @rt_cons(i64, i64)
declare i64 @rt_sum(i64)
define i64 @build(i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %l = phi i64 [0, %entry], [%l1, %loop]
  %l1 = call i64 @rt_cons(i64 %i, i64 %l)
  %i1 = add i64 %i, 1
  %c = icmp eq i64 %i1, %n
  br i1 %c, label %done, label %loop
done:
  %s = call i64 @rt_sum(i64 %l1)
  ret i64 %s
}
"#;

#[test]
fn a_runtime_cons_called_from_jit_code_allocates_under_collections() {
    if common::skip_without_extensions() {
        return;
    }
    let elf = compile("build", BUILD);
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Heap>().unwrap();
    let heap = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let code = CodePool::new(&arena, &CodePoolOptions::default()).unwrap();
    code.with_jit_thread(|s| {
        let mut env = Env::new();
        env.function("rt_cons", rt_cons as extern "C" fn(i64, i64) -> i64)
            .function("rt_sum", rt_sum as extern "C" fn(i64) -> i64);
        let object = code.install_elf(&elf, &env).unwrap();
        // SAFETY: `build` is `i64 build(i64)`.
        let build = unsafe { object.function::<Unary>("build") }.unwrap();
        let mut data = LispData {
            arena: &arena,
            ap: heap.ap().unwrap(),
            fmt,
            conses: 0,
        };
        let collections = arena.collections();
        for n in [1, 2, 100, 1000, 3000] {
            let handles = s.len();
            assert_eq!(build.call_with::<Lisp>(s, &mut data, (n,)), n * (n - 1) / 2);
            assert_eq!(
                s.len(),
                handles,
                "the runtime functions' handles were released"
            );
        }
        assert!(arena.collections() >= collections + 60);
        // Outside a call that lends them, runtime functions get nothing.
        assert!(runtime::with_scope(|_| ()).is_none());
    })
    .unwrap();
}

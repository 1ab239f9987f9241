//! Objects from the system C compiler (`cc -c`): load, lay out, place in
//! executable memory, relink, run; and the clear errors for what a code
//! object cannot hold. Skipped (with a message) when there is no `cc`.

mod common;

use std::process::Command;

use codepool::layout::{self, Binding, CodeImage};
use codepool::sidecar::Target;
use common::{call1, call2, Placed};

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

long str_len(long unused) {
    (void)unused;
    const char *s = greeting();
    long n = 0;
    while (s[n]) n++;
    return n;
}

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

/// Compiles `source` with `cc -c` and the given flags; `None` when there is
/// no C compiler.
fn cc(test: &str, source: &str, flags: &[&str]) -> Option<Vec<u8>> {
    let dir = common::scratch_dir(&format!("codepool-cc-{test}"));
    let c = dir.join("input.c");
    let o = dir.join("input.o");
    std::fs::write(&c, source).unwrap();
    let status = Command::new("cc")
        .args(["-c", "-O2", "-fno-common"])
        .args(flags)
        .arg("-o")
        .arg(&o)
        .arg(&c)
        .status();
    match status {
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

fn place(image: &CodeImage) -> Placed {
    Placed::new(image.bytes())
}

fn run(test: &str, flags: &[&str]) {
    let Some(object) = cc(test, SOURCE, flags) else {
        return;
    };
    let obj = codepool::load(&object).expect("load");
    println!(
        "{test}: sections {:?}",
        obj.sections().iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    println!("{test}: externals {:?}", obj.externals());
    let mut cell = Box::new(40i64);
    let rt = rt_add as extern "C" fn(i64, i64) -> i64 as usize as u64;
    let image = layout::layout(&obj, |name| match name {
        "rt_add" => Some(Binding::Runtime { address: rt }),
        // GCC turns the length loop into a call to strlen: bind it to libc's.
        "strlen" => Some(Binding::Runtime {
            address: libc::strlen as unsafe extern "C" fn(*const libc::c_char) -> usize as usize
                as u64,
        }),
        "counter_cell" => Some(Binding::Heap {
            object: &*cell as *const i64 as u64,
            offset: 0,
        }),
        _ => None,
    })
    .expect("layout");
    println!("{test}: {:?}", image.stats());
    // The function pointer table holds absolute addresses of the object's
    // own code: self-relative sidecar entries.
    let sidecar = layout::sidecar_bytes(image.bytes()).unwrap();
    let entries = codepool::sidecar::decode_all(sidecar).unwrap();
    assert!(entries
        .iter()
        .any(|e| matches!(e.target, Target::SelfRelative(_))));

    let check = |placed: &Placed, cell: i64| {
        let f = |name: &str| placed.addr() + u64::from(image.entry(name).unwrap());
        // SAFETY: each address is the entry of a C function of SOURCE with
        // the signature used (long arguments and result: i64 in the SysV
        // ABI), in the read+execute mapping `placed`, relinked for it; rt_add
        // and the heap cell live for the whole test.
        unsafe {
            assert_eq!(call1(f("twice"), 21), 42);
            assert_eq!(call2(f("apply_op"), 0, 7), 49);
            assert_eq!(call2(f("apply_op"), 1, 7), 14);
            for x in 0..7 {
                let t = [3, 1, 4, 1, 5][(x % 5) as usize];
                assert_eq!(
                    call1(f("compute"), x),
                    t + x * x + 1000 + cell,
                    "compute({x})"
                );
            }
            assert_eq!(call1(f("str_len"), 0), 12);
            for x in 0..8 {
                assert_eq!(call1(f("switchy"), x), 11 * (x + 1));
            }
            assert_eq!(call1(f("switchy"), 100), -1);
        }
    };
    let first = place(&image);
    check(&first, 40);
    // Move: copy the linked bytes elsewhere, relink, drop the first copy.
    let mut moved_cell = Box::new(-5i64);
    let mut bytes = first.bytes().to_vec();
    layout::set_target_base(
        &mut bytes,
        Target::Heap(0),
        &mut *moved_cell as *mut i64 as u64,
    )
    .unwrap();
    *cell = 999;
    let second = Placed::new(&bytes);
    drop(first);
    check(&second, -5);
    *moved_cell = 6;
    check(&second, 6);
}

#[test]
fn cc_pic_object() {
    run("pic", &["-fPIC"]);
}

/// `-fno-plt`: external calls go `call [rip+GOT]` with GOTPCRELX, which
/// relinking relaxes to direct calls when in reach.
#[test]
fn cc_no_plt_object() {
    run("noplt", &["-fPIC", "-fno-plt"]);
}

#[test]
fn cc_rejections_are_clear() {
    let cases = [
        (
            "data",
            "long g = 5; long getg(void) { return g; }",
            "section .data is writable data",
        ),
        (
            "bss",
            "long g; long getg(void) { return g++; }",
            "section .bss is writable data",
        ),
        (
            "tls",
            "__thread long t = 1; long gett(void) { return t; }",
            "thread-local storage",
        ),
        (
            "ctor",
            "extern long x; __attribute__((constructor)) static void init(void) { x = 1; }",
            "constructor or destructor table",
        ),
    ];
    for (name, source, message) in cases {
        let Some(object) = cc(name, source, &["-fPIC"]) else {
            return;
        };
        let err = codepool::load(&object).unwrap_err().to_string();
        println!("{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
    }
}

/// A TLS access that is not in a section of its own object: the relocation
/// kind itself is refused, by name.
#[test]
fn cc_tls_relocation_is_named() {
    let Some(object) = cc(
        "tlsreloc",
        "extern __thread long t; long gett(void) { return t; }",
        &["-fPIC"],
    ) else {
        return;
    };
    let err = codepool::load(&object).unwrap_err().to_string();
    println!("{err}");
    assert!(err.starts_with("unsupported relocation R_X86_64_"), "{err}");
    assert!(err.contains(" at .text+0x"), "{err}");
}

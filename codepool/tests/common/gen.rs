//! Generated test functions for the code pool: `f<i>(x)` reads boxed
//! integers (heap constants), calls earlier functions (other code objects)
//! with `x - 1`, and calls the runtime function `rt_mix`:
//!
//! ```text
//! f<i>(x) = v + c                                   if x <= 0
//!         = rt_mix(c + f<j1>(x-1) + f<j2>(x-1) ..., v)   otherwise
//! where v = the sum of the boxes f<i> reads
//! ```

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use codepool::{CodeObject, CodePool, Env};
use mps::{Amc, Scope};

use super::boxes::{Boxed, Boxes, VALUE_OFFSET};

/// Deepest argument the tests call with.
pub const DEPTH: usize = 2;

/// splitmix64, seeded from `CODEPOOL_TEST_SEED` when set (printed, so a
/// failure reproduces).
pub struct Rng(pub u64);

impl Rng {
    pub fn from_env(default: u64) -> Rng {
        let seed = std::env::var("CODEPOOL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        println!("seed {seed} (set CODEPOOL_TEST_SEED to change)");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `i64 leaf(i64 x) = 3 * x`: the callee of the tests whose caller calls
/// back into Rust (`pool_pinning`, `registration`).
pub const LEAF_TIMES_3: &str = r#"
define i64 @leaf(i64 %x) {
  %r = mul i64 %x, 3
  ret i64 %r
}
"#;

pub static RUNTIME_CALLS: AtomicU64 = AtomicU64::new(0);

pub fn mix(a: i64, b: i64) -> i64 {
    a.wrapping_mul(31).wrapping_add(b) ^ (a >> 13)
}

pub extern "C" fn rt_mix(a: i64, b: i64) -> i64 {
    RUNTIME_CALLS.fetch_add(1, Ordering::Relaxed);
    mix(a, b)
}

/// What one function does: the functions it calls (by global index), the
/// boxes it reads (by name), its constant.
#[derive(Clone, Debug)]
pub struct Spec {
    pub callees: Vec<usize>,
    pub boxes: Vec<String>,
    pub constant: i64,
}

impl Spec {
    /// A random function calling up to three of `candidates` and reading
    /// one or two of `boxes`.
    pub fn random(rng: &mut Rng, candidates: &[usize], boxes: &[String]) -> Spec {
        let mut callees = Vec::new();
        if !candidates.is_empty() {
            for _ in 0..rng.below(4) {
                let j = candidates[rng.below(candidates.len())];
                if !callees.contains(&j) {
                    callees.push(j);
                }
            }
        }
        Spec {
            callees,
            boxes: (0..1 + rng.below(2))
                .map(|_| boxes[rng.below(boxes.len())].clone())
                .collect(),
            constant: rng.below(1000) as i64,
        }
    }

    /// `f<i>` in LLVM IR.
    pub fn ir(&self, i: usize) -> String {
        let mut ir = String::new();
        let mut declared: Vec<&str> = Vec::new();
        for b in &self.boxes {
            if !declared.contains(&b.as_str()) {
                writeln!(ir, "@{b} = external global i64").unwrap();
                declared.push(b);
            }
        }
        writeln!(ir, "declare i64 @rt_mix(i64, i64)").unwrap();
        for j in &self.callees {
            writeln!(ir, "declare i64 @f{j}(i64)").unwrap();
        }
        writeln!(ir, "define i64 @f{i}(i64 %x) {{").unwrap();
        writeln!(ir, "entry:").unwrap();
        let mut v = "0".to_string();
        for (k, b) in self.boxes.iter().enumerate() {
            writeln!(ir, "  %b{k} = load volatile i64, i64* @{b}").unwrap();
            writeln!(ir, "  %v{k} = add i64 {v}, %b{k}").unwrap();
            v = format!("%v{k}");
        }
        let c = self.constant;
        writeln!(ir, "  %done = icmp sle i64 %x, 0").unwrap();
        writeln!(ir, "  br i1 %done, label %base, label %rec").unwrap();
        writeln!(ir, "base:").unwrap();
        writeln!(ir, "  %r = add i64 {v}, {c}").unwrap();
        writeln!(ir, "  ret i64 %r").unwrap();
        writeln!(ir, "rec:").unwrap();
        writeln!(ir, "  %y = sub i64 %x, 1").unwrap();
        let mut acc = c.to_string();
        for (k, j) in self.callees.iter().enumerate() {
            writeln!(ir, "  %c{k} = call i64 @f{j}(i64 %y)").unwrap();
            writeln!(ir, "  %a{k} = add i64 {acc}, %c{k}").unwrap();
            acc = format!("%a{k}");
        }
        writeln!(ir, "  %m = call i64 @rt_mix(i64 {acc}, i64 {v})").unwrap();
        writeln!(ir, "  ret i64 %m").unwrap();
        writeln!(ir, "}}").unwrap();
        ir
    }

    /// `f<i>(x)` for `x` in `0..=DEPTH`, given the rows of its callees and
    /// the values of the boxes.
    pub fn expected(
        &self,
        rows: &[[i64; DEPTH + 1]],
        box_value: impl Fn(&str) -> i64,
    ) -> [i64; DEPTH + 1] {
        let v = self
            .boxes
            .iter()
            .fold(0i64, |v, b| v.wrapping_add(box_value(b)));
        let mut row = [0; DEPTH + 1];
        row[0] = v.wrapping_add(self.constant);
        for x in 1..=DEPTH {
            let acc = self
                .callees
                .iter()
                .fold(self.constant, |acc, &j| acc.wrapping_add(rows[j][x - 1]));
            row[x] = mix(acc, v);
        }
        row
    }
}

/// Compiles LLVM IR to ELF bytes.
pub fn compile(name: &str, ir: &str) -> Vec<u8> {
    use codepool::jit::inkwell::context::Context;
    use codepool::jit::inkwell::memory_buffer::MemoryBuffer;
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), name);
    let module = context.create_module_from_ir(buffer).expect("parse IR");
    codepool::jit::compile_to_elf(&module).expect("compile")
}

/// Compiles many modules on two threads; the result is in input order.
pub fn compile_all(irs: &[String]) -> Vec<Vec<u8>> {
    let (even, odd): (Vec<_>, Vec<_>) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            irs.iter()
                .enumerate()
                .step_by(2)
                .map(|(i, ir)| compile(&format!("m{i}"), ir))
                .collect::<Vec<_>>()
        });
        let b = s.spawn(|| {
            irs.iter()
                .enumerate()
                .skip(1)
                .step_by(2)
                .map(|(i, ir)| compile(&format!("m{i}"), ir))
                .collect::<Vec<_>>()
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut out = Vec::with_capacity(irs.len());
    let (mut e, mut o) = (even.into_iter(), odd.into_iter());
    for i in 0..irs.len() {
        out.push(if i % 2 == 0 { e.next() } else { o.next() }.unwrap());
    }
    out
}

/// A generated program: `base` functions `f0..`, each calling earlier
/// ones, then `extra` functions calling base ones only; compiled, with the
/// results every function must give.
pub struct Program {
    pub specs: Vec<Spec>,
    pub elfs: Vec<Vec<u8>>,
    /// `rows[i][x]` is `f<i>(x)`.
    pub rows: Vec<[i64; DEPTH + 1]>,
}

impl Program {
    /// Generates and compiles the program; the boxes named `boxes` hold
    /// `value(name)`.
    pub fn generate(
        rng: &mut Rng,
        base: usize,
        extra: usize,
        boxes: &[String],
        value: impl Fn(&str) -> i64,
    ) -> Program {
        let all: Vec<usize> = (0..base).collect();
        let mut specs: Vec<Spec> = (0..base)
            .map(|i| Spec::random(rng, &all[..i], boxes))
            .collect();
        for _ in 0..extra {
            specs.push(Spec::random(rng, &all, boxes));
        }
        let irs: Vec<String> = specs.iter().enumerate().map(|(i, s)| s.ir(i)).collect();
        let elfs = compile_all(&irs);
        let mut rows = Vec::new();
        for spec in &specs {
            let row = spec.expected(&rows, &value);
            rows.push(row);
        }
        Program { specs, elfs, rows }
    }
}

/// An environment binding `rt_mix` and each box of `boxes`: a new box
/// holding `value(name)`, allocated in `heap` and held by `scope`.
pub fn env_with_boxes<'s>(
    scope: &mut Scope<'s>,
    heap: &Amc<'_, Boxes>,
    boxes: &[String],
    value: impl Fn(&str) -> i64,
) -> Env<'s> {
    let mut ap = heap.ap().unwrap();
    let mut env = Env::new();
    env.function("rt_mix", rt_mix as extern "C" fn(i64, i64) -> i64);
    for b in boxes {
        let h = scope.alloc(&mut ap, Boxed::new(value(b))).unwrap();
        env.heap(b.clone(), h, VALUE_OFFSET);
    }
    env
}

/// Calls `f<i>(x)` in `object`.
pub fn call(object: &CodeObject<'_>, i: usize, x: i64) -> i64 {
    // SAFETY: every generated f<i> is `i64 (i64)` with the C convention.
    unsafe { object.function::<extern "C" fn(i64) -> i64>(&format!("f{i}")) }
        .unwrap()
        .call((x,))
}

/// Installs `elfs` on a code-aware thread, with the environment of
/// [`env_with_boxes`], and returns the objects in order.
pub fn install_all<'p>(
    code: &'p CodePool<'p>,
    heap: &Amc<'_, Boxes>,
    boxes: &[String],
    elfs: &[Vec<u8>],
    value: impl Fn(&str) -> i64,
) -> Vec<CodeObject<'p>> {
    code.with_jit_thread(|s| {
        let env = env_with_boxes(s, heap, boxes, value);
        elfs.iter()
            .map(|elf| code.install_elf(elf, &env).unwrap())
            .collect()
    })
    .unwrap()
}

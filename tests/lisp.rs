//! The example Lisp (`examples/lisp`) against its reference interpreter.
//!
//! Seeded random programs (arithmetic, lists, closures, recursion,
//! redefinition of global procedures, `(gc)` inside running code) run on
//! several threads, each with its own Lisp instance compiling into the
//! shared code pool, while another thread collects again and again; every
//! top-level result must print exactly as the tree-walking interpreter's.
//!
//! `LISP_TEST_SEED` (first seed, default 1), `LISP_TEST_PROGRAMS`
//! (programs per thread, default 2), `LISP_TEST_THREADS` (default 3).
//! A failure prints the seed and the program.

#![allow(dead_code, reason = "the example's modules have items only main uses")]

#[path = "../examples/lisp/compile.rs"]
mod compile;
#[path = "../examples/lisp/engine.rs"]
mod engine;
#[path = "../examples/lisp/heap.rs"]
mod heap;
#[path = "../examples/lisp/interp.rs"]
mod interp;
#[path = "../examples/lisp/lang.rs"]
mod lang;
#[path = "../examples/lisp/reader.rs"]
mod reader;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use reader::{read_all, Sexp};

/// Code pools need the `mpsx_` extensions; the strict library (CI's
/// `MPS_LIB_DIR` run) lacks them.
fn skip_without_extensions() -> bool {
    if mps::sys::EXTENSIONS {
        return false;
    }
    eprintln!("skipped: the example Lisp needs the mpsx_ extensions (code pools)");
    true
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Aborts the process if the test is not over after `MPS_TEST_TIMEOUT`
/// seconds (default 300): its threads wait for one another.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new() -> Watchdog {
        let seconds = env_usize("MPS_TEST_TIMEOUT", 300) as u64;
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_secs(seconds))
            {
                eprintln!(
                    "lisp test: still running after {seconds} s (MPS_TEST_TIMEOUT); aborting"
                );
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs `forms` with the compiled Lisp and the interpreter, on this
/// thread; returns a description of the first difference.
fn compare(machine: &heap::Machine<'_>, forms: &[Sexp]) -> Result<usize, String> {
    machine
        .code
        .with_jit_thread(|scope| {
            let mut lisp = engine::Lisp::new(machine, scope).map_err(|e| e.to_string())?;
            let mut reference = interp::Interp::new();
            for (i, form) in forms.iter().enumerate() {
                let want = reference.eval_toplevel(form).map(|v| interp::show(&v));
                let got = lisp.eval(scope, form);
                if want.is_err() || got != want {
                    return Err(format!(
                        "form {i}: {form}\n  compiled:    {got:?}\n  interpreter: {want:?}"
                    ));
                }
            }
            Ok(forms.len())
        })
        .map_err(|e| e.to_string())?
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Random programs over a fixed vocabulary of procedures: `(num ...)`
/// procedures recursing on a small literal, list builders and folds,
/// closures, and redefinitions of `step` (which the others call).
struct Gen {
    rng: Rng,
    /// Recursive integer procedures defined so far: `rec0`, `rec1`, ...
    recs: usize,
    /// Global constants defined so far.
    consts: Vec<String>,
    /// Generating `step`'s body: no calls of global procedures (which
    /// may call `step`), so that every program terminates.
    pure: bool,
    /// Generating a `rec` body: no calls of other `rec`s (the cost would
    /// multiply).
    in_rec: bool,
}

impl Gen {
    /// An integer expression over the integer variables `vars`.
    fn int(&mut self, depth: usize, vars: &[String]) -> String {
        let r = &mut self.rng;
        let leaf = depth == 0 || r.chance(25);
        if leaf {
            if !vars.is_empty() && r.chance(60) {
                return vars[r.below(vars.len())].clone();
            }
            if !self.consts.is_empty() && r.chance(30) {
                return self.consts[r.below(self.consts.len())].clone();
            }
            return r.int(-20, 20).to_string();
        }
        let d = depth - 1;
        match self.rng.below(11) {
            0..=2 => {
                let op = ["+", "-", "*"][self.rng.below(3)];
                format!("({op} {} {})", self.int(d, vars), self.int(d, vars))
            }
            3 => {
                let cmp = ["<", ">", "="][self.rng.below(3)];
                format!(
                    "(if ({cmp} {} {}) {} {})",
                    self.int(d, vars),
                    self.int(d, vars),
                    self.int(d, vars),
                    self.int(d, vars)
                )
            }
            4 => {
                let v = format!("v{depth}");
                let init = self.int(d, vars);
                let mut inner = vars.to_vec();
                inner.push(v.clone());
                format!("(let (({v} {init})) {})", self.int(d, &inner))
            }
            5 => {
                // A closure applied at once, capturing the variables.
                let p = format!("p{depth}");
                let mut inner = vars.to_vec();
                inner.push(p.clone());
                format!(
                    "((lambda ({p}) {}) {})",
                    self.int(d, &inner),
                    self.int(d, vars)
                )
            }
            6..=9 if self.pure => format!("(+ {} {})", self.int(d, vars), self.int(d, vars)),
            6 if self.recs > 0 && !self.in_rec => {
                let k = self.rng.below(self.recs);
                format!("(rec{k} {})", self.rng.int(0, 10))
            }
            7 => format!("(sum {})", self.list(d, vars)),
            8 => format!("(len {})", self.list(d, vars)),
            9 => format!("(step {})", self.int(d, vars)),
            10 if self.rng.chance(20) => format!("(let ((g (gc))) {})", self.int(d, vars)),
            _ if self.pure => format!("(- {} {})", self.int(d, vars), self.int(d, vars)),
            _ => format!("((adder {}) {})", self.int(d, vars), self.int(d, vars)),
        }
    }

    /// A list-of-integers expression.
    fn list(&mut self, depth: usize, vars: &[String]) -> String {
        let d = depth.saturating_sub(1);
        let choice = if depth == 0 {
            [0, 2, 5][self.rng.below(3)] // no recursion
        } else {
            self.rng.below(6)
        };
        match choice {
            0 => "nil".into(),
            1 => format!("(cons {} {})", self.int(d, vars), self.list(d, vars)),
            2 => format!("(build {})", self.rng.int(0, 12)),
            3 => format!("(map (adder {}) {})", self.int(d, vars), self.list(d, vars)),
            4 => format!(
                "(map (lambda (x) {}) {})",
                self.int(d, &[vec!["x".to_string()], vars.to_vec()].concat()),
                self.list(d, vars)
            ),
            _ => {
                let n = self.rng.below(5);
                let items: Vec<String> = (0..n).map(|_| self.rng.int(-9, 9).to_string()).collect();
                format!("'({})", items.join(" "))
            }
        }
    }

    /// Quoted data: symbols, integers and lists of them.
    fn datum(&mut self, depth: usize) -> String {
        match self.rng.below(if depth == 0 { 2 } else { 3 }) {
            0 => ["a", "b", "foo", "t", "nil", "x-y?"][self.rng.below(6)].to_string(),
            1 => self.rng.int(-9, 9).to_string(),
            _ => {
                let n = self.rng.below(4);
                let items: Vec<String> = (0..n).map(|_| self.datum(depth - 1)).collect();
                format!("({})", items.join(" "))
            }
        }
    }

    /// A recursive procedure on a non-negative `n` (it terminates: every
    /// call decrements `n`).
    fn rec(&mut self) -> String {
        let k = self.recs;
        self.in_rec = true;
        let base = self.int(2, &["n".into()]);
        let a = self.int(2, &["n".into(), "r".into()]);
        self.in_rec = false;
        let twice = self.rng.chance(30);
        let rest = if twice {
            format!("(+ {a} (rec{k} (- n 2)))")
        } else {
            a
        };
        self.recs += 1;
        format!("(define (rec{k} n) (if (< n 1) {base} (let ((r (rec{k} (- n 1)))) {rest})))")
    }

    fn step(&mut self) -> String {
        self.pure = true;
        let body = self.int(3, &["x".into()]);
        self.pure = false;
        format!("(define (step x) {body})")
    }

    fn program(&mut self, forms: usize) -> String {
        let mut p = String::from(
            "(define (adder a) (lambda (x) (+ x a)))\n\
             (define (build n) (if (< n 1) nil (cons (step n) (build (- n 1)))))\n\
             (define (map f l) (if (null? l) nil (cons (f (car l)) (map f (cdr l)))))\n\
             (define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))\n\
             (define (len l) (if (null? l) 0 (+ 1 (len (cdr l)))))\n",
        );
        p.push_str(&self.step());
        p.push('\n');
        for _ in 0..forms {
            let form = match self.rng.below(10) {
                0 | 1 => self.rec(),
                2 => self.step(), // every later call of step, build, ... sees it
                3 => self.list(4, &[]),
                5 => {
                    let d = self.datum(3);
                    match self.rng.below(3) {
                        0 => format!("'{d}"),
                        1 => format!("(cons '{d} '{})", self.datum(2)),
                        _ => format!("(car (cdr '({d} {})))", self.datum(2)),
                    }
                }
                4 => {
                    let c = format!("c{}", self.rng.below(3));
                    let form = format!("(define {c} {})", self.int(3, &[]));
                    if !self.consts.contains(&c) {
                        self.consts.push(c);
                    }
                    form
                }
                _ => self.int(4, &[]),
            };
            p.push_str(&form);
            p.push('\n');
        }
        p
    }
}

fn program(seed: u64, forms: usize) -> String {
    let mut g = Gen {
        rng: Rng::new(seed),
        recs: 0,
        consts: Vec::new(),
        pure: false,
        in_rec: false,
    };
    g.program(forms)
}

fn check_program(machine: &heap::Machine<'_>, seed: u64, forms: usize) -> usize {
    let text = program(seed, forms);
    let parsed = read_all(&text).expect("generated programs read");
    match compare(machine, &parsed) {
        Ok(n) => n,
        Err(e) => panic!("seed {seed}: {e}\nprogram:\n{text}"),
    }
}

/// Generated programs on several threads while another collects.
#[test]
fn generated_programs_match_the_interpreter_while_collecting() {
    if skip_without_extensions() {
        return;
    }
    let _watchdog = Watchdog::new();
    let first = env_usize("LISP_TEST_SEED", 1) as u64;
    let programs = env_usize("LISP_TEST_PROGRAMS", 2);
    let threads = env_usize("LISP_TEST_THREADS", 3);
    eprintln!("LISP_TEST_SEED={first} LISP_TEST_PROGRAMS={programs} LISP_TEST_THREADS={threads}");
    let arena = mps::Arena::builder().arena_size(256 << 20).build().unwrap();
    // Every collection that may be incremental is: full collections that
    // condemn code and data run in increments between the workers' work.
    arena.set_pause_time(0.0);
    let log = arena.log_pauses().expect("extensions");
    let machine = heap::Machine::new(&arena).unwrap();
    let before = machine.code.stats().collector;
    let done = AtomicBool::new(false);
    let collections = AtomicUsize::new(0);
    let forms = std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                // Alternately a full collection run to its end at once,
                // and one started here and left to the workers'
                // allocation and barrier faults (incremental).
                if n % 2 == 0 {
                    arena.collect().expect("collect");
                    arena.release();
                } else {
                    arena.start_collect().expect("start_collect");
                }
                n += 1;
                collections.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let machine = &machine;
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                std::thread::Builder::new()
                    .stack_size(64 << 20)
                    .spawn_scoped(s, move || {
                        (0..programs)
                            .map(|i| check_program(machine, first + (t * programs + i) as u64, 30))
                            .sum::<usize>()
                    })
                    .expect("spawn")
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        done.store(true, Ordering::Relaxed);
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .sum::<usize>()
    });
    let flips = log.finish().flips;
    let stats = machine.code.stats();
    let moved = stats.collector.since(&before);
    eprintln!(
        "{forms} forms checked; {} collections, {flips} of them incremental; code objects \
         moved {}, relinked {}, freed {}; {} redefinitions",
        collections.load(Ordering::Relaxed),
        moved.objects_moved,
        moved.objects_relinked,
        moved.objects_freed,
        stats.redefinitions
    );
    assert!(collections.load(Ordering::Relaxed) > 0);
    assert!(moved.objects_moved > 0, "no code object moved");
    assert!(flips > 0, "no collection was incremental");
}

/// Redefining a global procedure: callers compiled before the
/// redefinition call the new one.
#[test]
fn redefinition_reaches_every_later_call() {
    if skip_without_extensions() {
        return;
    }
    let forms = read_all(
        "(define (f x) (+ x 1))
         (define (g x) (* 2 (f x)))
         (g 10)
         (define (f x) (- x 1))
         (g 10)
         (define h (lambda (y) (f y)))
         (h 5)
         (define (f x) (* x x))
         (h 5)
         (g 3)",
    )
    .unwrap();
    let results = run(&forms);
    assert_eq!(
        results,
        ["f", "g", "22", "f", "18", "h", "4", "f", "25", "18"]
    );
}

/// Runs `forms` with the compiled Lisp in a new arena and returns what
/// each printed.
fn run(forms: &[Sexp]) -> Vec<String> {
    let arena = mps::Arena::new().unwrap();
    let machine = heap::Machine::new(&arena).unwrap();
    run_on(&machine, forms)
}

/// Runs `forms` with the compiled Lisp on `machine` and returns what each
/// printed (on a thread with a stack deep enough for `lang::MAX_DEPTH`
/// calls).
fn run_on(machine: &heap::Machine<'_>, forms: &[Sexp]) -> Vec<String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || {
                machine
                    .code
                    .with_jit_thread(|scope| {
                        let mut lisp = engine::Lisp::new(machine, scope).unwrap();
                        forms
                            .iter()
                            .map(|f| {
                                lisp.eval(scope, f)
                                    .unwrap_or_else(|e| format!("error: {e}"))
                            })
                            .collect()
                    })
                    .unwrap()
            })
            .expect("spawn")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Collections inside running JIT code, with conses held only by its
/// frames, then collections between forms: the code moves, the data too,
/// and every result stays right.
#[test]
fn code_and_data_move_under_running_code() {
    if skip_without_extensions() {
        return;
    }
    let forms = read_all(
        "(define (build n) (if (< n 1) nil (cons n (let ((g (gc))) (build (- n 1))))))
         (define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))
         (define keep (build 30))
         (sum keep)
         (sum (build 20))
         (gc-stats)
         (sum keep)",
    )
    .unwrap();
    let results = run(&forms);
    assert_eq!(results[3], "465");
    assert_eq!(results[4], "210");
    assert!(results[5].starts_with("code objects:"), "{}", results[5]);
    assert_eq!(results[6], "465");
}

/// Runtime errors are reported, and the instance stays usable.
#[test]
fn errors_are_reported() {
    if skip_without_extensions() {
        return;
    }
    let forms = read_all(
        "(car 1)
         (+ 1 'a)
         (nope 2)
         ((lambda (x) x) 1 2)
         (define (loop n) (loop n))
         (loop 0)
         (+ 1 2)",
    )
    .unwrap();
    let results = run(&forms);
    assert_eq!(results[0], "error: car: not a pair: 1");
    assert_eq!(results[1], "error: +: not an integer: a");
    assert_eq!(results[2], "error: unbound variable nope");
    assert_eq!(results[3], "error: wrong number of arguments: 2 for 1");
    assert_eq!(results[5], "error: recursion too deep");
    assert_eq!(results[6], "3");
}

/// Prints a generated program: `LISP_TEST_SEED=7 cargo test --test lisp
/// show_program -- --ignored --nocapture`.
#[test]
#[ignore = "prints a program for reading"]
fn show_program() {
    let seed = env_usize("LISP_TEST_SEED", 1) as u64;
    println!("{}", program(seed, 30));
}

/// Overwrites 64 KiB of dead stack below the caller with zeros.
#[inline(never)]
fn scrub_stack() {
    let buffer = [0u8; 64 << 10];
    std::hint::black_box(&buffer);
}

/// Code that nothing refers to any more (a redefined procedure's, a
/// form's thunk) is freed by a collection; the current definition's stays.
#[test]
fn unused_code_is_freed() {
    if skip_without_extensions() {
        return;
    }
    let arena = mps::Arena::new().unwrap();
    let machine = heap::Machine::new(&arena).unwrap();
    // Code objects alive after a full collection (a stale code address
    // left in a register or in dead stack that the collector's own frames
    // reuse may pin one: scrub, and try a few times).
    let alive_after_collecting = |want: usize| {
        let mut alive = 0;
        for _ in 0..5 {
            scrub_stack();
            arena.collect().unwrap();
            alive = machine.code.census().unwrap().objects.objects;
            arena.release();
            if alive == want {
                break;
            }
        }
        alive
    };
    let forms = read_all("(define (f x) x) (define (f x) (+ x 1)) (f 1)").unwrap();
    machine
        .code
        .with_jit_thread(|scope| {
            let mut lisp = engine::Lisp::new(&machine, scope).unwrap();
            assert_eq!(lisp.eval(scope, &forms[0]).unwrap(), "f");
            // The definition's object holds the lambda; its procedure, in
            // the global cell, keeps it alive.
            assert_eq!(alive_after_collecting(1), 1);
            assert_eq!(lisp.eval(scope, &forms[1]).unwrap(), "f");
            assert_eq!(lisp.eval(scope, &forms[2]).unwrap(), "2");
            // The first definition and the call's thunk are garbage now.
            assert_eq!(alive_after_collecting(1), 1);
            assert_eq!(lisp.eval(scope, &forms[2]).unwrap(), "2");
        })
        .unwrap();
    let stats = machine.code.stats();
    assert_eq!(stats.installed.objects, 4);
    assert!(stats.collector.objects_freed >= 2, "{stats:?}");
}

/// Redefinitions through direct calls: callers compiled before are
/// relinked to each new definition (same arity), or reach the cell through
/// a trampoline (other arity, a closure, a value); an old definition kept
/// as a value calls the current one. Every result, errors included,
/// matches the interpreter.
#[test]
fn redefinition_relinks_direct_callers() {
    if skip_without_extensions() {
        return;
    }
    let forms = read_all(
        "(define (f n) (if (< n 1) 0 (+ 1 (f (- n 1)))))
         (define (h x) (* 10 (f x)))
         (h 3)
         (define g f)
         (define (f n) 100)
         (g 3)
         (h 3)
         (define (f a b) (+ a b))
         (h 3)
         (f 1 2)
         (define f (lambda (x) (- 0 x)))
         (h 3)
         (define (f x) (* x x))
         (h 3)
         (define f 7)
         (h 3)
         (define (f x) (+ x 1))
         (h 3)
         (g 3)
         (define (f n) (if (< n 1) 0 (+ 2 (f (- n 1)))))
         (g 3)
         (gc)
         (g 3)
         (define (f a b) (* a b))
         (g 3)",
    )
    .unwrap();
    let arena = mps::Arena::new().unwrap();
    let machine = heap::Machine::new(&arena).unwrap();
    let before = machine.code.stats().redefinitions;
    let got = run_on(&machine, &forms);
    let mut reference = interp::Interp::new();
    let want: Vec<String> = forms
        .iter()
        .map(|f| match reference.eval_toplevel(f) {
            Ok(v) => interp::show(&v),
            Err(e) => format!("error: {e}"),
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got[6], "1000");
    assert_eq!(got[17], "40");
    // The old f (kept as g) calls itself by name: its self-call reaches
    // each later definition, as the interpreter's does.
    assert_eq!(got[18], "4");
    assert_eq!((got[20].as_str(), got[22].as_str()), ("5", "5"));
    assert!(got[24].starts_with("error"), "{}", got[24]);
    // `f` of one parameter was redefined (relinked in place) at least
    // three times: 100, the trampoline, x * x, the trampoline, x + 1.
    assert!(machine.code.stats().redefinitions - before >= 3);
}

//! A small Lisp whose procedures are compiled by LLVM into the code pool,
//! with its data (conses, closures, global cells) in the collected heap.
//!
//! ```sh
//! cargo run --release --example lisp -- FILE     # evaluate a file
//! cargo run --release --example lisp             # a REPL on stdin
//! cargo run --release --example lisp -- --interp FILE   # the reference interpreter
//! cargo run --release --example lisp -- --time FILE     # each form's time on stderr
//! ```
//!
//! Each top-level form is compiled to one LLVM module and installed as one
//! code object; its result is printed. `(gc-stats)` (or `:stats` in the
//! REPL) runs a full collection and prints what the collector did to code.
//! The design is described in `examples/lisp/README.md`; the modules:
//!
//! - [`reader`]: text to S-expressions;
//! - [`lang`]: the language's forms and limits, shared by both evaluators;
//! - [`heap`]: tagged values, the heap format (AMC), the runtime functions
//!   JIT code calls (which allocate), and the pools;
//! - [`compile`]: a form to LLVM IR;
//! - [`engine`]: a Lisp instance: compile, install, run, global cells;
//! - [`interp`]: the reference tree-walking interpreter (plain Rust
//!   values), against which `tests/lisp.rs` checks the compiled Lisp.

mod compile;
mod engine;
mod heap;
mod interp;
mod lang;
mod reader;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use reader::{read_all, ReadError, Sexp};

/// Evaluates forms: the compiled Lisp ([`Jit`]) or the reference interpreter.
trait Evaluator {
    fn eval(&mut self, form: &Sexp) -> Result<String, String>;
}

struct Jit<'l, 'm, 's, 'p> {
    lisp: &'l mut engine::Lisp<'m, 's>,
    scope: &'p mut mps::Scope<'s>,
}

impl Evaluator for Jit<'_, '_, '_, '_> {
    fn eval(&mut self, form: &Sexp) -> Result<String, String> {
        self.lisp.eval(self.scope, form)
    }
}

impl Evaluator for interp::Interp {
    fn eval(&mut self, form: &Sexp) -> Result<String, String> {
        if form == &Sexp::List(vec![Sexp::Sym("gc-stats".into())]) {
            return Ok("(no collector in the reference interpreter)".into());
        }
        self.eval_toplevel(form).map(|v| interp::show(&v))
    }
}

/// Print how long each form took (on stderr)?
static TIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints each form's result; returns whether all succeeded.
fn run_forms(ev: &mut dyn Evaluator, forms: &[Sexp]) -> bool {
    let mut ok = true;
    for form in forms {
        let start = std::time::Instant::now();
        let result = ev.eval(form);
        if TIME.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("[{:.3} ms]", start.elapsed().as_secs_f64() * 1e3);
        }
        match result {
            Ok(s) => println!("{s}"),
            Err(e) => {
                println!("error: {e}");
                ok = false;
            }
        }
    }
    ok
}

fn repl(ev: &mut dyn Evaluator) -> bool {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let prompt = |more: bool| {
        if interactive {
            print!("{}", if more { "  " } else { "> " });
            let _ = std::io::stdout().flush();
        }
    };
    let mut ok = true;
    let mut pending = String::new();
    prompt(false);
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            ":quit" | ":q" => break,
            ":stats" => {
                pending.clear();
                ok &= run_forms(ev, &[Sexp::List(vec![Sexp::Sym("gc-stats".into())])]);
                prompt(false);
                continue;
            }
            _ => {}
        }
        pending.push_str(&line);
        pending.push('\n');
        match read_all(&pending) {
            Err(ReadError::Incomplete) => {
                prompt(true);
                continue;
            }
            Err(e) => {
                println!("error: {e}");
                ok = false;
            }
            Ok(forms) => ok &= run_forms(ev, &forms),
        }
        pending.clear();
        prompt(false);
    }
    if !pending.trim().is_empty() {
        println!("error: unexpected end of input");
        ok = false;
    }
    ok
}

fn main_inner(args: Vec<String>) -> Result<bool, String> {
    let mut interp = false;
    let mut file = None;
    for a in args {
        match a.as_str() {
            "--interp" => interp = true,
            "--time" => TIME.store(true, std::sync::atomic::Ordering::Relaxed),
            "-h" | "--help" => {
                println!(
                    "usage: lisp [--interp] [--time] [FILE]   (no FILE: read-eval-print on stdin)\n\
                     --interp: the reference interpreter; --time: each form's time on stderr \
                     (compiling and installing included)"
                );
                return Ok(true);
            }
            _ if file.is_none() => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let forms = match &file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Some(read_all(&text).map_err(|e| format!("{path}: {e}"))?)
        }
        None => None,
    };
    let go = |ev: &mut dyn Evaluator| match &forms {
        Some(forms) => run_forms(ev, forms),
        None => repl(ev),
    };
    if interp {
        return Ok(go(&mut interp::Interp::new()));
    }
    let arena = mps::Arena::builder()
        .arena_size(256 << 20)
        .build()
        .map_err(|e| format!("cannot create the arena: {e}"))?;
    let machine =
        heap::Machine::new(&arena).map_err(|e| format!("cannot create the pools: {e}"))?;
    machine
        .code
        .with_jit_thread(|scope| {
            let mut lisp = engine::Lisp::new(&machine, scope).map_err(|e| e.to_string())?;
            Ok(go(&mut Jit {
                lisp: &mut lisp,
                scope,
            }))
        })
        .map_err(|e| e.to_string())?
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Deep recursion (up to `lang::MAX_DEPTH` calls) needs a large stack.
    let worker = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || main_inner(args));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(true))) => ExitCode::SUCCESS,
        Ok(Ok(Ok(false))) => ExitCode::FAILURE,
        Ok(Ok(Err(e))) => {
            eprintln!("lisp: {e}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("lisp: the evaluator thread failed");
            ExitCode::from(2)
        }
    }
}

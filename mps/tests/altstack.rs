//! Write-barrier faults and thread suspension with every kind of alternate
//! signal stack a thread may have (DESIGN.md#threads).
//!
//! A mutator thread stores into old objects (each store to a protected
//! segment is a barrier fault, handled on the thread's alternate signal
//! stack if it has one) while a second registered thread collects over
//! and over, stopping the mutator wherever it is: in its own code, inside
//! the fault handler, waiting there for the arena lock. Every thread is a
//! `std::thread`, so it starts with Rust's default alternate stack (8 KiB
//! plus a guard page); each scenario then keeps it, removes it, or replaces
//! it with a small one of the program's own.
//!
//! Each scenario runs in a child process (this test binary run again with
//! an environment variable) for `MPS_ALTSTACK_SECONDS` (default 2) seconds,
//! so that a crash is reported as a failure of that scenario, with the
//! child's output, instead of ending the whole test binary. At the end the
//! child checks the whole graph against a model of every store.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::hang::output_within;
use common::{Lisp, Pair};
use mps::{Amc, Arena, PoolOptions, Root};

const CHILD: &str = "MPS_ALTSTACK_CHILD";
const SECONDS: &str = "MPS_ALTSTACK_SECONDS";
const CELLS: usize = 20_000;

/// The alternate signal stack each thread of a scenario runs with.
#[derive(Clone, Copy, Debug)]
enum AltStack {
    /// What `std::thread` gives every thread.
    RustDefault,
    /// None at all (`SS_DISABLE`).
    Disabled,
    /// One of this many bytes, set by the program.
    Bytes(usize),
}

impl AltStack {
    fn parse(s: &str) -> AltStack {
        match s {
            "rust" => AltStack::RustDefault,
            "none" => AltStack::Disabled,
            n => AltStack::Bytes(n.parse().expect("a size in bytes")),
        }
    }

    fn name(self) -> String {
        match self {
            AltStack::RustDefault => "rust".to_owned(),
            AltStack::Disabled => "none".to_owned(),
            AltStack::Bytes(n) => n.to_string(),
        }
    }

    /// Installs this alternate stack on the calling thread; the returned
    /// memory must outlive its use (the thread's end).
    fn install(self) -> Option<Vec<u8>> {
        let (mut memory, ss) = match self {
            AltStack::RustDefault => return None,
            AltStack::Disabled => (
                None,
                libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                },
            ),
            AltStack::Bytes(n) => {
                let mut v = vec![0u8; n];
                let ss = libc::stack_t {
                    ss_sp: v.as_mut_ptr().cast(),
                    ss_flags: 0,
                    ss_size: n,
                };
                (Some(v), ss)
            }
        };
        // SAFETY: `ss` describes either nothing (SS_DISABLE) or `memory`,
        // which the caller keeps alive while the thread runs; the thread is
        // not running on its alternate stack now.
        let rc = unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "sigaltstack: {}", std::io::Error::last_os_error());
        memory.take()
    }
}

/// The child: a mutator storing into old cells and a collector, both
/// registered `std::thread`s with `alt` stacks, for `seconds`.
fn scenario(alt: AltStack, seconds: f64) {
    let arena = Arena::builder().arena_size(64 << 20).build().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc: Amc<'_, Lisp> = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let root: Root<'_, Lisp> = Root::exact(&arena, CELLS).unwrap();
    // model[i]: the index of the cell that cell i's car refers to.
    let model: Vec<AtomicU64> = (0..CELLS).map(|_| AtomicU64::new(u64::MAX)).collect();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            for i in 0..CELLS {
                s.scope(|t| {
                    let c = t.alloc(&mut ap, Pair::new(i as u64)).unwrap();
                    root.set(i, Some(c));
                });
            }
        })
        .unwrap();
    // Make the cells old, so that their segments are protected.
    arena.collect().unwrap();
    arena.release();

    let stop = AtomicBool::new(false);
    let stores = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let collections = std::thread::scope(|sc| {
        let mutator = sc.spawn(|| {
            let _mem = alt.install();
            arena
                .with_thread(|s| {
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let j = (i * 7 + 1) % CELLS;
                        s.scope(|t| {
                            let a = root.get(i, t).unwrap();
                            let b = root.get(j, t).unwrap();
                            a.set(|c: &Pair| &c.car, Some(b));
                            assert_eq!(a.with(|c: &Pair| c.id), i as u64);
                        });
                        model[i].store(j as u64, Ordering::Relaxed);
                        stores.fetch_add(1, Ordering::Relaxed);
                        i = (i + 13) % CELLS;
                    }
                })
                .unwrap();
        });
        let collector = sc.spawn(|| {
            let _mem = alt.install();
            let mut n = 0u64;
            arena
                .with_thread(|_| {
                    while Instant::now() < deadline {
                        arena.collect().unwrap();
                        arena.release();
                        n += 1;
                    }
                })
                .unwrap();
            stop.store(true, Ordering::Relaxed);
            n
        });
        let n = collector.join().unwrap();
        mutator.join().unwrap();
        n
    });

    // The whole graph, against the model.
    arena
        .with_thread(|s| {
            for (i, m) in model.iter().enumerate() {
                s.scope(|t| {
                    let c = root.get(i, t).unwrap();
                    assert_eq!(c.with(|p: &Pair| p.id), i as u64, "cell {i}");
                    let want = m.load(Ordering::Relaxed);
                    let car = c.get(t, |p: &Pair| &p.car);
                    match (want, car) {
                        (u64::MAX, None) => {}
                        (j, Some(car)) => {
                            assert_eq!(car.with(|p: &Pair| p.id), j, "car of cell {i}")
                        }
                        (j, None) => panic!("car of cell {i}: null, expected cell {j}"),
                    }
                });
            }
        })
        .unwrap();
    println!(
        "altstack {}: {} collections, {} stores",
        alt.name(),
        collections,
        stores.load(Ordering::Relaxed)
    );
    assert!(collections > 0 && stores.load(Ordering::Relaxed) > 0);
}

/// Runs the scenario with `alt` in a child process and checks it passed.
fn run_child(alt: AltStack) {
    if common::skip_unless_vendored("any alternate signal stack works") {
        return;
    }
    let seconds = std::env::var(SECONDS).unwrap_or_else(|_| "2".to_owned());
    let exe = std::env::current_exe().expect("current exe");
    let out = output_within(
        Command::new(exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CHILD, alt.name())
            .env(SECONDS, &seconds),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scenario with alternate stack {:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        alt,
        out.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("altstack ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no summary line; stdout: {stdout}"));
    println!("{line}");
}

/// The child's entry point (does nothing unless run as the child).
#[test]
fn child() {
    if let Ok(alt) = std::env::var(CHILD) {
        let seconds: f64 = std::env::var(SECONDS).map_or(2.0, |s| s.parse().unwrap());
        scenario(AltStack::parse(&alt), seconds);
    }
}

#[test]
fn rust_default_alternate_stack() {
    run_child(AltStack::RustDefault);
}

#[test]
fn no_alternate_stack() {
    run_child(AltStack::Disabled);
}

#[test]
fn small_alternate_stack_8k() {
    run_child(AltStack::Bytes(8 << 10));
}

#[test]
fn minimal_alternate_stack() {
    // What a program gets from the constant: 2 KiB on x86-64, smaller
    // than the signal frame of a machine with AVX-512.
    run_child(AltStack::Bytes(libc::MINSIGSTKSZ));
}

#[test]
fn alternate_stack_of_the_kernel_minimum() {
    // The kernel's own figure for one signal frame on this machine.
    // SAFETY: getauxval only reads the auxiliary vector.
    let min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    run_child(AltStack::Bytes(min.max(libc::MINSIGSTKSZ)));
}

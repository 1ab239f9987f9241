//! Keeping tests from hanging: a test that fails must end, promptly and
//! with a message, even when the failure is a panic on one thread while
//! others wait for it.
//!
//! Shared by the integration tests of `mps` (`tests/common/mod.rs`) and of
//! `codepool` (`codepool/tests/common/mod.rs` includes this file by path),
//! so both crates use one implementation.
//!
//! - [`Watchdog`]: aborts the whole test process if a test is still running
//!   after [`limit`] (the last resort, for hangs nothing else catches: a
//!   deadlock, a thread stuck in the collector), first printing every panic
//!   message since it was armed and, with gdb, every thread's stack.
//! - [`Stop`]: a flag ending loops on other threads, set by a guard when it
//!   is dropped, so also while the thread holding it unwinds from a panic.
//! - [`join_all`]: waits for worker threads while doing something else,
//!   and resumes a worker's panic as soon as that worker ends.
//! - [`output_within`]: runs a child process, killing it (and failing) if it
//!   runs longer than [`limit`].

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::panic;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, Once};
use std::thread::{self, JoinHandle, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// The environment variable with the time limit, in seconds, of one test
/// (for [`Watchdog`]) and of one child process (for [`output_within`]).
/// The C suite's runner (`vendor/mps/tests/run-tests.sh`) reads it too.
pub const TIMEOUT_VAR: &str = "MPS_TEST_TIMEOUT";

/// The limit when [`TIMEOUT_VAR`] is not set: generous, since the machine
/// may be slow and shared (the slowest test takes well under a minute).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The time limit of a test: [`TIMEOUT_VAR`] seconds if set (fractions
/// allowed), else 300 s.
pub fn limit() -> Duration {
    match std::env::var(TIMEOUT_VAR) {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| panic!("{TIMEOUT_VAR}={s:?} is not a positive number of seconds")),
        Err(_) => DEFAULT_TIMEOUT,
    }
}

/// The name of the current test: libtest runs each test on a thread named
/// after it.
fn test_name() -> String {
    thread::current()
        .name()
        .filter(|&n| n != "main")
        .map_or_else(|| "the test".to_owned(), |n| format!("test `{n}`"))
}

/// Aborts the process if it is not dropped within [`limit`] of its
/// creation: arm one at the start of a test whose threads wait for each
/// other, and keep it to the end (`let _watchdog = Watchdog::new();`).
///
/// Aborting, rather than panicking, because the thread that would have to
/// panic is the one that hangs; it takes the other tests of the binary with
/// it, which is acceptable for a hang. The message goes straight to the
/// process's stderr (libtest's capture would swallow it, since the process
/// ends before the test does).
pub struct Watchdog {
    /// Dropping it wakes the watchdog thread, which then ends quietly.
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Arms a watchdog for the current test, with the limit [`limit`].
    pub fn new() -> Watchdog {
        record_panics();
        let limit = limit();
        let what = test_name();
        let (disarm, disarmed) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "\nwatchdog: {what} still running after {:.0} s; aborting the \
                         process (a thread hung, or waits for one that panicked; \
                         {TIMEOUT_VAR}=<seconds> changes the limit)",
                        limit.as_secs_f64()
                    );
                    print_panics();
                    print_all_stacks();
                    std::process::abort();
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog {
            disarm: Some(disarm),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(thread) = self.thread.take() {
            // It returns at once: its channel just disconnected.
            let _ = thread.join();
        }
    }
}

/// Every panic message since the first watchdog was armed.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps a copy of every panic message (chaining to the hook in place),
/// for [`print_panics`]: libtest captures the messages of a test's
/// threads and prints them when the test ends, which a test aborted by
/// the watchdog never does, so a panic on one thread that left another
/// waiting would otherwise go unseen.
fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let name = thread::current().name().unwrap_or("<unnamed>").to_owned();
            if let Ok(mut panics) = PANICS.lock() {
                panics.push(format!("thread '{name}' {info}"));
            }
            previous(info);
        }));
    });
}

/// Writes the recorded panic messages straight to stderr (past libtest's
/// capture).
fn print_panics() {
    let panics = PANICS.lock().map(|p| p.clone()).unwrap_or_default();
    let mut err = std::io::stderr();
    if panics.is_empty() {
        let _ = writeln!(err, "watchdog: no thread panicked");
    }
    for message in panics {
        let _ = writeln!(err, "watchdog: before the hang, {message}");
    }
}

/// How long the watchdog gives gdb to print every thread's stack.
const STACKS_TIMEOUT: Duration = Duration::from_secs(60);

/// Prints the stack of every thread of this process to stderr, by
/// attaching gdb in batch mode (if there is one, and the system lets a
/// child trace its parent), so that a hang seen once (on CI, say) shows
/// where each thread waited. A gdb that does not finish within
/// [`STACKS_TIMEOUT`] is killed.
fn print_all_stacks() {
    // gdb's output goes to our stderr, both of its streams.
    let child = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|err| {
            Command::new("gdb")
                .args(["-nx", "-batch", "-p"])
                .arg(std::process::id().to_string())
                .args(["-ex", "info threads", "-ex", "thread apply all bt"])
                .stdin(Stdio::null())
                .stdout(Stdio::from(err))
                .stderr(Stdio::inherit())
                .spawn()
        });
    match child {
        Ok(mut child) => {
            if wait_until(&mut child, Instant::now() + STACKS_TIMEOUT).is_none() {
                let _ = writeln!(std::io::stderr(), "watchdog: gdb did not finish; killed");
            }
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: no stacks printed (cannot run gdb: {e})"
            );
        }
    }
}

/// A request to stop, for loops on other threads that run until told to
/// (`while !stop.requested() { .. }`).
///
/// Set it through [`Stop::guard`] rather than [`Stop::request`] alone: the
/// guard also sets it when the thread holding it unwinds, so a panic there
/// ends the loops instead of leaving `std::thread::scope` waiting for them
/// forever.
#[derive(Default)]
pub struct Stop(AtomicBool);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Has a stop been requested?
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Requests the stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// A guard that requests the stop when it is dropped: at the end of its
    /// scope, or while its thread unwinds from a panic.
    #[must_use = "the stop is requested when the guard is dropped"]
    pub fn guard(&self) -> StopGuard<'_> {
        StopGuard(self)
    }
}

/// Requests its [`Stop`] when dropped (see [`Stop::guard`]).
pub struct StopGuard<'a>(&'a Stop);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// Waits for `workers` (threads of a `std::thread::scope`), calling `step`
/// on this thread until every one has finished; returns their results in
/// the order given.
///
/// A worker is joined as soon as it has finished, so if one panics its
/// panic resumes here at once, instead of this thread going on waiting
/// (for a counter the dead worker never increments, say). The other workers
/// are then still joined by the scope, so they must end on their own (run
/// a bounded amount of work, or watch a [`Stop`] whose guard this thread
/// holds).
///
/// `step` is the work to do meanwhile (a collection, say), or just a short
/// sleep; it may also check other threads, for instance panic if one that
/// must outlive the workers has finished.
pub fn join_all<T>(workers: Vec<ScopedJoinHandle<'_, T>>, mut step: impl FnMut()) -> Vec<T> {
    let mut results: Vec<Option<T>> = workers.iter().map(|_| None).collect();
    let mut running: Vec<(usize, ScopedJoinHandle<'_, T>)> =
        workers.into_iter().enumerate().collect();
    loop {
        let mut k = 0;
        while k < running.len() {
            if running[k].1.is_finished() {
                let (i, worker) = running.swap_remove(k);
                match worker.join() {
                    Ok(result) => results[i] = Some(result),
                    // The worker's panic message is already printed.
                    Err(payload) => panic::resume_unwind(payload),
                }
            } else {
                k += 1;
            }
        }
        if running.is_empty() {
            return results.into_iter().map(|r| r.expect("joined")).collect();
        }
        step();
    }
}

/// Runs `command` to completion, like [`Command::output`] (its stdin is
/// empty, its stdout and stderr are captured), but kills it and panics if it
/// runs longer than [`limit`]: a child that hangs (in the collector's signal
/// handler, or while aborting) fails the test with what it printed so far,
/// rather than blocking the test forever.
#[track_caller]
pub fn output_within(command: &mut Command) -> Output {
    let limit = limit();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    // Read both pipes while waiting: a child blocked writing to a full pipe
    // would otherwise never exit.
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_until(&mut child, Instant::now() + limit);
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{command:?} was still running after {:.0} s and was killed \
             ({TIMEOUT_VAR}=<seconds> changes the limit); its stderr:\n{}",
            limit.as_secs_f64(),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the output early; what was read is kept.
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn collect(reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().expect("a pipe reader panicked")
}

/// Waits for `child` until `deadline`; kills it then (and reaps it, which
/// closes its pipes), returning `None`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            // It may have exited meanwhile: then kill fails, harmlessly.
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

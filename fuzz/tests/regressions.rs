//! Replays every input kept under `regressions/<target>/` through its
//! target (the same functions the fuzz binaries call), on the stable
//! toolchain: `cargo test` in `fuzz/`.
//!
//! `FUZZ_REPLAY=<target>:<path>` replays one more file or directory (a
//! crash artifact, a corpus) through a target, for example
//! `FUZZ_REPLAY=elf_load:corpus/elf_load cargo test --release -- --nocapture`.

use std::fs;
use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]), dir: &Path) -> usize {
    let files = inputs(dir);
    for file in &files {
        println!("{target}: {}", file.display()); // shown if it fails
        let data = fs::read(file).expect("readable input");
        run(&data);
    }
    files.len()
}

#[test]
fn regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for (target, run) in mps_rs_fuzz::TARGETS {
        let n = replay(target, run, &root.join(target));
        println!("{target}: {n} regression inputs");
    }
}

#[test]
fn replay_from_env() {
    let Ok(spec) = std::env::var("FUZZ_REPLAY") else {
        return;
    };
    let (name, path) = spec.split_once(':').expect("FUZZ_REPLAY=<target>:<path>");
    let (_, run) = mps_rs_fuzz::TARGETS
        .into_iter()
        .find(|(t, _)| *t == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    let n = replay(name, run, Path::new(path));
    assert!(n > 0, "nothing to replay in {path}");
}

/// Prints what the `api_ops` checks saw while replaying (with
/// `FUZZ_REPLAY=api_ops:<corpus>`), to judge the corpus.
#[test]
fn replay_api_ops_stats() {
    let Ok(spec) = std::env::var("FUZZ_REPLAY") else {
        return;
    };
    if let Some(path) = spec.strip_prefix("api_ops:") {
        replay("api_ops", mps_rs_fuzz::api_ops::run, Path::new(path));
        for (name, n) in mps_rs_fuzz::api_ops::stats::snapshot() {
            println!("api_ops: {name}: {n}");
        }
    }
}

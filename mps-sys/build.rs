//! Build script for `mps-sys`.
//!
//! `main` only dispatches:
//!
//! - if `MPS_LIB_DIR` is set, link the installed MPS library found there
//!   (and, if `MPS_INCLUDE_DIR` is set, advertise its headers to dependants);
//! - otherwise compile the vendored collector in `vendor/mps` with `cc`.
//!
//! Either way the headers' directory is published as `cargo:include=`, which
//! dependants read as `DEP_MPS_INCLUDE` (this crate has `links = "mps"`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Every environment variable this script reads; each is declared with
/// `cargo:rerun-if-env-changed` before it is read.
const ENV_LIB_DIR: &str = "MPS_LIB_DIR";
const ENV_INCLUDE_DIR: &str = "MPS_INCLUDE_DIR";

fn main() {
    match env_var(ENV_LIB_DIR) {
        Some(lib_dir) => link_installed(&lib_dir, env_var(ENV_INCLUDE_DIR)),
        None => build_vendored(),
    }
}

/// Reads an environment variable, declaring it to Cargo first so that a
/// change to it reruns the script. Unset and empty count as absent.
fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// Links an installed MPS library (`libmps.a` or `libmps.so`) from `lib_dir`.
fn link_installed(lib_dir: &str, include_dir: Option<String>) {
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=mps");
    if let Some(include_dir) = include_dir {
        println!("cargo:include={include_dir}");
    }
}

/// Compiles every `vendor/mps/src/*.c` into a static library `libmps.a`.
fn build_vendored() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by Cargo"));
    let vendor = manifest_dir
        .parent()
        .expect("mps-sys lives inside the workspace")
        .join("vendor")
        .join("mps");
    let include_dir = vendor.join("include");
    let src_dir = vendor.join("src");

    println!("cargo:rerun-if-changed={}", src_dir.display());
    println!("cargo:rerun-if-changed={}", include_dir.display());
    println!("cargo:include={}", include_dir.display());

    let sources = c_sources(&src_dir);
    if sources.is_empty() {
        println!(
            "cargo:warning=no C sources in {}: the MPS library was not built",
            src_dir.display()
        );
        return;
    }

    let mut build = cc::Build::new();
    build
        .files(&sources)
        .include(&include_dir)
        .include(&src_dir)
        .std("c11");
    if env::var_os("CARGO_FEATURE_CHECK").is_some() {
        // The checking build: deep structure checks on every entry.
        build.define("MPS_CHECK", "1");
    }
    // Emits `rustc-link-lib=static=mps` and its search path.
    build.compile("mps");
    println!("cargo:rustc-link-lib=pthread");
}

/// The `.c` files directly inside `dir`, sorted so builds are reproducible.
/// A missing directory has no sources.
fn c_sources(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sources: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    sources
}

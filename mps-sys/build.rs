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
//!
//! With the `bindgen` feature it also regenerates the raw bindings from the
//! headers into `$OUT_DIR/bindings.rs` (options in `bindgen_config.rs`); the
//! crate then uses those instead of the committed `src/bindings.rs`, and the
//! `bindings_drift` test compares the two.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Every environment variable this script reads; each is declared with
/// `cargo:rerun-if-env-changed` before it is read.
const ENV_LIB_DIR: &str = "MPS_LIB_DIR";
const ENV_INCLUDE_DIR: &str = "MPS_INCLUDE_DIR";

/// Read by libclang's loader (clang-sys) when the `bindgen` feature is on.
#[cfg(feature = "bindgen")]
const ENV_LIBCLANG_PATH: &str = "LIBCLANG_PATH";

fn main() {
    let vendored_include = vendor_dir().join("include");
    let include_dir = match env_var(ENV_LIB_DIR) {
        Some(lib_dir) => {
            let include_dir = env_var(ENV_INCLUDE_DIR).map(PathBuf::from);
            link_installed(&lib_dir, include_dir.as_deref());
            include_dir.unwrap_or(vendored_include)
        }
        None => {
            build_vendored();
            vendored_include
        }
    };
    #[cfg(feature = "bindgen")]
    generate_bindings(&include_dir);
    #[cfg(not(feature = "bindgen"))]
    let _ = include_dir;
}

#[cfg(feature = "bindgen")]
include!("bindgen_config.rs");

/// Regenerates the bindings from the headers in `include_dir` into
/// `$OUT_DIR/bindings.rs`.
#[cfg(feature = "bindgen")]
fn generate_bindings(include_dir: &Path) {
    println!("cargo:rerun-if-changed=bindgen_config.rs");
    let _ = env_var(ENV_LIBCLANG_PATH);
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by Cargo")).join("bindings.rs");
    mps_bindgen_builder(include_dir)
        // Emits rerun-if-changed for every header read and
        // rerun-if-env-changed for the variables bindgen itself reads.
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on the MPS headers (is libclang installed? see README)")
        .write_to_file(&out)
        .expect("cannot write the generated bindings");
}

/// `vendor/mps` of the workspace.
fn vendor_dir() -> PathBuf {
    PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by Cargo"))
        .parent()
        .expect("mps-sys lives inside the workspace")
        .join("vendor")
        .join("mps")
}

/// Reads an environment variable, declaring it to Cargo first so that a
/// change to it reruns the script. Unset and empty count as absent.
fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// Links an installed MPS library (`libmps.a` or `libmps.so`) from `lib_dir`.
fn link_installed(lib_dir: &str, include_dir: Option<&Path>) {
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=mps");
    println!("cargo:rustc-link-lib=pthread");
    if let Some(include_dir) = include_dir {
        println!("cargo:include={}", include_dir.display());
    }
}

/// Compiles every `vendor/mps/src/*.c` into a static library `libmps.a`.
fn build_vendored() {
    let vendor = vendor_dir();
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
        .std("c11")
        .debug(true);
    if cfg!(feature = "check") {
        // The checking build (the Makefile's "check" variety): assertions
        // and deep structure checks on every entry.
        build.define("MPS_CHECK", "1").opt_level(1);
    } else {
        // The fast build (the Makefile's "fast" variety), whatever the
        // profile of the Rust code: the collector's hot paths matter even
        // in debug builds of a client.
        build.opt_level(2);
    }
    // Emits `rustc-link-lib=static=mps` and its search path.
    build.compile("mps");
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=m");
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

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
//! Two facts about the linked library become `cfg`s of this crate, read by
//! dependants through the constants `VENDORED` and `EXTENSIONS`:
//!
//! - `mps_vendored`: the library is the one built here from `vendor/mps`
//!   (behaviour only that library promises may be relied on);
//! - `mps_extensions`: the library defines this project's `mpsx_`
//!   extensions. Always true for the vendored build; for an installed
//!   library, a build-time check of its exported symbols (`nm`) decides.
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
    println!("cargo::rustc-check-cfg=cfg(mps_vendored)");
    println!("cargo::rustc-check-cfg=cfg(mps_extensions)");
    let vendored_include = vendor_dir().join("include");
    let include_dir = match env_var(ENV_LIB_DIR) {
        Some(lib_dir) => {
            let include_dir = env_var(ENV_INCLUDE_DIR).map(PathBuf::from);
            link_installed(&lib_dir, include_dir.as_deref());
            if library_has_extensions(Path::new(&lib_dir)) {
                println!("cargo:rustc-cfg=mps_extensions");
            }
            include_dir.unwrap_or(vendored_include)
        }
        None => {
            build_vendored();
            println!("cargo:rustc-cfg=mps_vendored");
            println!("cargo:rustc-cfg=mps_extensions");
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

/// The symbol whose definition marks a library with this project's
/// extensions (`mpsx.h`); they come and go together.
const EXTENSION_PROBE: &str = "mpsx_arena_tracing";

/// Does the library in `lib_dir` define the `mpsx_` extensions? Asks `nm`
/// for the globally defined symbols of `libmps.a` (or of the dynamic symbol
/// table of `libmps.so`). Without `nm`, or with neither file, the answer is
/// no, with a warning: the extensions' users then compile to stubs that
/// report the missing extension instead of failing to link.
fn library_has_extensions(lib_dir: &Path) -> bool {
    let candidates = [
        ("libmps.a", &["-g", "--defined-only"][..]),
        ("libmps.so", &["-D", "--defined-only"][..]),
    ];
    for (name, flags) in candidates {
        let path = lib_dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        if !path.is_file() {
            continue;
        }
        match std::process::Command::new("nm")
            .args(flags)
            .arg(&path)
            .output()
        {
            Ok(out) if out.status.success() => {
                return String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|line| line.split_whitespace().last() == Some(EXTENSION_PROBE));
            }
            _ => {
                println!(
                    "cargo:warning=cannot list the symbols of {} with nm: assuming it has no mpsx_ extensions",
                    path.display()
                );
                return false;
            }
        }
    }
    println!(
        "cargo:warning=no libmps.a or libmps.so in {}: assuming no mpsx_ extensions",
        lib_dir.display()
    );
    false
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

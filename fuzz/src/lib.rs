//! Fuzz targets for `codepool` and `mps`, as library functions.
//!
//! Each module holds one target's whole logic behind `run(&[u8])`; the
//! binaries in `fuzz_targets/` only hand libFuzzer's input to it, and the
//! regression test (`tests/regressions.rs`) replays the inputs kept in
//! `regressions/<target>/` through the same function on the stable
//! toolchain. See the "Fuzzing" section of the repository's README.

pub mod api_ops;
pub mod elf_load;
pub mod reloc;
pub mod sidecar;

/// A target's entry point.
pub type Target = fn(&[u8]);

/// The targets, by name, for the regression test.
pub const TARGETS: [(&str, Target); 4] = [
    ("elf_load", elf_load::run),
    ("sidecar", sidecar::run),
    ("reloc", reloc::run),
    ("api_ops", api_ops::run),
];

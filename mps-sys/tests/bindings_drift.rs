//! Fails when the committed `src/bindings.rs` differs from a fresh bindgen
//! generation from the headers.
//!
//! Only meaningful with the `bindgen` feature (which needs libclang): then
//! the build script has just regenerated the bindings into `$OUT_DIR` with
//! the options of `bindgen_config.rs`, and this test compares the two files.
//! Without the feature the test is ignored. CI (`.ci/run`) installs
//! libclang-14-dev and runs
//! `cargo test -p mps-sys --features bindgen --test bindings_drift`.
//!
//! To accept a change to the headers, run the same command with
//! `MPS_SYS_BLESS=1`: the fresh bindings are then written over the
//! committed file.

#[test]
#[cfg_attr(
    not(feature = "bindgen"),
    ignore = "needs `--features bindgen` (and libclang) to regenerate the bindings"
)]
fn committed_bindings_match_a_fresh_generation() {
    #[cfg(feature = "bindgen")]
    {
        use std::path::Path;

        let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bindings.rs");
        let fresh = include_str!(concat!(env!("OUT_DIR"), "/bindings.rs"));
        let committed =
            std::fs::read_to_string(&committed_path).expect("src/bindings.rs is readable");
        if committed == fresh {
            return;
        }
        if std::env::var_os("MPS_SYS_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&committed_path, fresh).expect("src/bindings.rs is writable");
            eprintln!(
                "bindings_drift: wrote fresh bindings to {}",
                committed_path.display()
            );
            return;
        }
        let first_difference = committed
            .lines()
            .zip(fresh.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map_or_else(
                || {
                    format!(
                        "one file is a prefix of the other ({} vs {} lines)",
                        committed.lines().count(),
                        fresh.lines().count()
                    )
                },
                |(i, (a, b))| format!("line {}:\n  committed: {a}\n  fresh:     {b}", i + 1),
            );
        panic!(
            "src/bindings.rs is out of date with the headers; first difference at {first_difference}\n\
             regenerate with: MPS_SYS_BLESS=1 cargo test -p mps-sys --features bindgen --test bindings_drift"
        );
    }
}

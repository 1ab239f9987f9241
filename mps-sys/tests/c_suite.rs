//! Runs the collector's own C test suite (`make -C vendor/mps test`), so that
//! `cargo test --workspace` covers the C code as well as the Rust crates.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn c_test_suite() {
    if !mps_sys::VENDORED {
        eprintln!(
            "skipped: the C suite tests vendor/mps's library, and MPS_LIB_DIR links another \
             (run `make -C vendor/mps test` for it)"
        );
        return;
    }
    let vendor: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mps-sys lives inside the workspace")
        .join("vendor")
        .join("mps");
    let makefile = vendor.join("Makefile");
    assert!(
        makefile.is_file(),
        "{} does not exist: the C test suite cannot run without it \
         (it must provide a `test` target)",
        makefile.display()
    );

    let output = Command::new("make")
        .arg("-C")
        .arg(&vendor)
        .arg("test")
        .output()
        .expect("failed to run `make`; is it installed?");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "`make -C {} test` failed: {}",
        vendor.display(),
        output.status
    );
}

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/mps_sys-1cf57f9fe7f1dd5a.d: /work/main/mps-sys/src/lib.rs /work/main/mps-sys/src/macros.rs /work/main/mps-sys/src/no_ext.rs /work/main/mps-sys/src/bindings.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libmps_sys-1cf57f9fe7f1dd5a.rmeta: /work/main/mps-sys/src/lib.rs /work/main/mps-sys/src/macros.rs /work/main/mps-sys/src/no_ext.rs /work/main/mps-sys/src/bindings.rs

/work/main/mps-sys/src/lib.rs:
/work/main/mps-sys/src/macros.rs:
/work/main/mps-sys/src/no_ext.rs:
/work/main/mps-sys/src/bindings.rs:

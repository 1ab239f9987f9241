/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/mps_sys-c147d59636293f3e.d: /work/main/mps-sys/src/lib.rs /work/main/mps-sys/src/macros.rs /work/main/mps-sys/src/no_ext.rs /work/main/mps-sys/src/bindings.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libmps_sys-c147d59636293f3e.rmeta: /work/main/mps-sys/src/lib.rs /work/main/mps-sys/src/macros.rs /work/main/mps-sys/src/no_ext.rs /work/main/mps-sys/src/bindings.rs

/work/main/mps-sys/src/lib.rs:
/work/main/mps-sys/src/macros.rs:
/work/main/mps-sys/src/no_ext.rs:
/work/main/mps-sys/src/bindings.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild009-f3cbcb8d72be6c2d.d: /work/main/mps/tests/ui/stackref_outlives_frame.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild009-f3cbcb8d72be6c2d.rmeta: /work/main/mps/tests/ui/stackref_outlives_frame.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/tests/ui/stackref_outlives_frame.rs:
/work/main/mps/tests/ui/../common/mod.rs:
/work/main/mps/tests/ui/../common/coroutines.rs:
/work/main/mps/tests/ui/../common/hang.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild000-585a2da51e90abac.d: /work/main/mps/tests/ui/arena_dropped_before_pool.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild000-585a2da51e90abac.rmeta: /work/main/mps/tests/ui/arena_dropped_before_pool.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/tests/ui/arena_dropped_before_pool.rs:
/work/main/mps/tests/ui/../common/mod.rs:
/work/main/mps/tests/ui/../common/coroutines.rs:
/work/main/mps/tests/ui/../common/hang.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild004-1a29f14f90594db6.d: /work/main/mps/tests/ui/leaf_pool_rejects_references.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild004-1a29f14f90594db6.rmeta: /work/main/mps/tests/ui/leaf_pool_rejects_references.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/tests/ui/leaf_pool_rejects_references.rs:
/work/main/mps/tests/ui/../common/mod.rs:
/work/main/mps/tests/ui/../common/coroutines.rs:
/work/main/mps/tests/ui/../common/hang.rs:

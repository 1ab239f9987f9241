/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild007-8bd482439b7fd96d.d: /work/main/mps/tests/ui/manual_block_used_after_free.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild007-8bd482439b7fd96d.rmeta: /work/main/mps/tests/ui/manual_block_used_after_free.rs

/work/main/mps/tests/ui/manual_block_used_after_free.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild006-87117d2845ca61e4.d: /work/main/mps/tests/ui/manual_block_outlives_arena.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild006-87117d2845ca61e4.rmeta: /work/main/mps/tests/ui/manual_block_outlives_arena.rs

/work/main/mps/tests/ui/manual_block_outlives_arena.rs:

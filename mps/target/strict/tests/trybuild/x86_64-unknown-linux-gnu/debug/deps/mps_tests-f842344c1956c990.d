/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/mps_tests-f842344c1956c990.d: main.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libmps_tests-f842344c1956c990.rmeta: main.rs

main.rs:

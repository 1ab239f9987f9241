/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/mps_tests-701befaff8bdad07.d: main.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libmps_tests-701befaff8bdad07.rmeta: main.rs

main.rs:

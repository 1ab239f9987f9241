/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild003-35a63efea428e059.d: /work/main/mps/tests/ui/handle_sent_to_thread.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild003-35a63efea428e059.rmeta: /work/main/mps/tests/ui/handle_sent_to_thread.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/tests/ui/handle_sent_to_thread.rs:
/work/main/mps/tests/ui/../common/mod.rs:
/work/main/mps/tests/ui/../common/coroutines.rs:
/work/main/mps/tests/ui/../common/hang.rs:

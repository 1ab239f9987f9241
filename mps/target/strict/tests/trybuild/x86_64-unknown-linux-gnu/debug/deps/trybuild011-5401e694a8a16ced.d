/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/trybuild011-5401e694a8a16ced.d: /work/main/mps/tests/ui/weak_ap_only_in_awl.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libtrybuild011-5401e694a8a16ced.rmeta: /work/main/mps/tests/ui/weak_ap_only_in_awl.rs /work/main/mps/tests/ui/../common/mod.rs /work/main/mps/tests/ui/../common/coroutines.rs /work/main/mps/tests/ui/../common/hang.rs

/work/main/mps/tests/ui/weak_ap_only_in_awl.rs:
/work/main/mps/tests/ui/../common/mod.rs:
/work/main/mps/tests/ui/../common/coroutines.rs:
/work/main/mps/tests/ui/../common/hang.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/mps-09dfb5db33f7e2bf.d: /work/main/mps/src/lib.rs /work/main/mps/src/arena.rs /work/main/mps/src/error.rs /work/main/mps/src/format.rs /work/main/mps/src/ld.rs /work/main/mps/src/manual.rs /work/main/mps/src/message.rs /work/main/mps/src/mvt.rs /work/main/mps/src/object.rs /work/main/mps/src/pool.rs /work/main/mps/src/raw/mod.rs /work/main/mps/src/root.rs /work/main/mps/src/sac.rs /work/main/mps/src/snc.rs /work/main/mps/src/stack.rs /work/main/mps/src/thread.rs /work/main/mps/src/walk.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libmps-09dfb5db33f7e2bf.rmeta: /work/main/mps/src/lib.rs /work/main/mps/src/arena.rs /work/main/mps/src/error.rs /work/main/mps/src/format.rs /work/main/mps/src/ld.rs /work/main/mps/src/manual.rs /work/main/mps/src/message.rs /work/main/mps/src/mvt.rs /work/main/mps/src/object.rs /work/main/mps/src/pool.rs /work/main/mps/src/raw/mod.rs /work/main/mps/src/root.rs /work/main/mps/src/sac.rs /work/main/mps/src/snc.rs /work/main/mps/src/stack.rs /work/main/mps/src/thread.rs /work/main/mps/src/walk.rs

/work/main/mps/src/lib.rs:
/work/main/mps/src/arena.rs:
/work/main/mps/src/error.rs:
/work/main/mps/src/format.rs:
/work/main/mps/src/ld.rs:
/work/main/mps/src/manual.rs:
/work/main/mps/src/message.rs:
/work/main/mps/src/mvt.rs:
/work/main/mps/src/object.rs:
/work/main/mps/src/pool.rs:
/work/main/mps/src/raw/mod.rs:
/work/main/mps/src/root.rs:
/work/main/mps/src/sac.rs:
/work/main/mps/src/snc.rs:
/work/main/mps/src/stack.rs:
/work/main/mps/src/thread.rs:
/work/main/mps/src/walk.rs:

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/scopeguard-1a5296ec7542a8d9.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libscopeguard-1a5296ec7542a8d9.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs:

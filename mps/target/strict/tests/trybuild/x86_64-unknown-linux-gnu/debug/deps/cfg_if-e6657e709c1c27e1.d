/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/cfg_if-e6657e709c1c27e1.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs

/work/main/mps/target/strict/tests/trybuild/x86_64-unknown-linux-gnu/debug/deps/libcfg_if-e6657e709c1c27e1.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs:

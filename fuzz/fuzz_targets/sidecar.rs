//! The `sidecar` target: see `mps_rs_fuzz::sidecar`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mps_rs_fuzz::sidecar::run(data));

//! The `reloc` target: see `mps_rs_fuzz::reloc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mps_rs_fuzz::reloc::run(data));

//! The `elf_load` target: see `mps_rs_fuzz::elf_load`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mps_rs_fuzz::elf_load::run(data));

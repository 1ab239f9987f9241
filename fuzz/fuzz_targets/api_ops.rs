//! The `api_ops` target: see `mps_rs_fuzz::api_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mps_rs_fuzz::api_ops::run(data));

/// AddressSanitizer's options for this target. Use-after-return detection
/// is off: it moves locals to "fake stack" frames on the heap, out of the
/// range the collector scans as the thread's stack, which breaks
/// `Arena::with_thread` (the cold end of the stack is the address of a
/// local): a SEGV in `mps_scan_area` at the first collection, and handles'
/// addresses hidden from the ambiguous root. Reported as known issue 2.
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const core::ffi::c_char {
    c"detect_stack_use_after_return=0".as_ptr()
}

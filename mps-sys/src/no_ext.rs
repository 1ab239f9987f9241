//! Stand-ins for this project's `mpsx_` extensions, used when the linked
//! MPS library does not define them (see [`EXTENSIONS`](crate::EXTENSIONS)).
//!
//! Each has the signature of the declaration in `mpsx.h` and the same name,
//! and shadows the generated declaration in the crate root, so that code
//! using an extension still links against any MPS library. Calling one
//! prints which extension is missing and aborts: callers check
//! [`EXTENSIONS`](crate::EXTENSIONS) first and report the missing feature
//! as an error (the `mps` and `codepool` crates do).

use crate::bindings::{
    mps_arena_t, mps_bool_t, mps_key_s, mps_pool_class_t, mps_pool_t, mps_res_t, mps_ss_t,
    mps_thr_t, mpsx_pause_log_s, mpsx_reclaim_fn_t, mpsx_test_hook_t, mpsx_trace_stats_s,
};
use core::ffi::c_void;

/// Reports the call of an extension the library lacks, then aborts (an
/// `extern "C"` function must not unwind).
#[cold]
fn missing(name: &str) -> ! {
    eprintln!(
        "mps-sys: {name} called, but the linked MPS library has no mpsx_ \
         extensions (check mps_sys::EXTENSIONS before using them)"
    );
    std::process::abort()
}

/// Stand-in for `mpsx_class_amcx`: aborts.
///
/// # Safety
///
/// Never returns; declared `unsafe` like the extension it replaces.
pub unsafe extern "C" fn mpsx_class_amcx() -> mps_pool_class_t {
    missing("mpsx_class_amcx")
}

/// Stand-in for the key `MPSX_KEY_CODE_RESERVE`: a key object the library
/// does not know. Only its address is ever used.
// SAFETY: `mps_key_s` is opaque and zero-sized (bindgen's `[u8; 0]`): the
// all-zero value is its only value.
#[allow(non_upper_case_globals, reason = "the C name, which it stands in for")]
pub static _mpsx_key_CODE_RESERVE: mps_key_s = unsafe { core::mem::zeroed() };

/// Stand-in for the key `MPSX_KEY_WRITE_BARRIER`: a key object the library
/// does not know. Only its address is ever used.
// SAFETY: as for `_mpsx_key_CODE_RESERVE`: the all-zero value is the only
// value of the opaque, zero-sized `mps_key_s`.
#[allow(non_upper_case_globals, reason = "the C name, which it stands in for")]
pub static _mpsx_key_WRITE_BARRIER: mps_key_s = unsafe { core::mem::zeroed() };

/// Stand-in for `mpsx_arena_write_barrier`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_write_barrier(_arena: mps_arena_t) -> core::ffi::c_int {
    missing("mpsx_arena_write_barrier")
}

/// Stand-in for `mpsx_arena_soft_barrier_hits`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_soft_barrier_hits(_arena: mps_arena_t) -> usize {
    missing("mpsx_arena_soft_barrier_hits")
}

/// Stand-in for `mpsx_code_delta`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_code_delta(_arena: mps_arena_t) -> isize {
    missing("mpsx_code_delta")
}

/// Stand-in for `mpsx_code_range`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_code_range(
    _arena: mps_arena_t,
    _write_base_o: *mut *mut c_void,
    _exec_base_o: *mut *mut c_void,
    _size_o: *mut usize,
) -> mps_bool_t {
    missing("mpsx_code_range")
}

/// Stand-in for the area scanner `mpsx_scan_area_code`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_scan_area_code(
    _ss: mps_ss_t,
    _base: *mut c_void,
    _limit: *mut c_void,
    _closure: *mut c_void,
) -> mps_res_t {
    missing("mpsx_scan_area_code")
}

/// Stand-in for `mpsx_flush_icache`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_flush_icache(_exec: *mut c_void, _size: usize) {
    missing("mpsx_flush_icache")
}

/// Stand-in for `mpsx_arena_last_trace`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_last_trace(
    _arena: mps_arena_t,
    _stats_o: *mut mpsx_trace_stats_s,
) {
    missing("mpsx_arena_last_trace")
}

/// Stand-in for `mpsx_pool_reclaim_hook`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_pool_reclaim_hook(
    _pool: mps_pool_t,
    _fn: mpsx_reclaim_fn_t,
    _closure: *mut c_void,
) -> mps_res_t {
    missing("mpsx_pool_reclaim_hook")
}

/// Stand-in for `mpsx_arena_traces`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_traces(_arena: mps_arena_t) -> usize {
    missing("mpsx_arena_traces")
}

/// Stand-in for `mpsx_arena_pause_log`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_pause_log(_arena: mps_arena_t, _log: *mut mpsx_pause_log_s) {
    missing("mpsx_arena_pause_log")
}

/// Stand-in for `mpsx_arena_tracing`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_arena_tracing(_arena: mps_arena_t) -> mps_bool_t {
    missing("mpsx_arena_tracing")
}

/// Stand-in for `mpsx_thread_stack_add`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_thread_stack_add(
    _thr: mps_thr_t,
    _low: *mut c_void,
    _high: *mut c_void,
) -> mps_res_t {
    missing("mpsx_thread_stack_add")
}

/// Stand-in for `mpsx_thread_stack_remove`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_thread_stack_remove(
    _thr: mps_thr_t,
    _low: *mut c_void,
    _high: *mut c_void,
) -> mps_bool_t {
    missing("mpsx_thread_stack_remove")
}

/// Stand-in for `mpsx_thread_stack_switch`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_thread_stack_switch(
    _thr: mps_thr_t,
    _fn: Option<unsafe extern "C" fn(*mut c_void)>,
    _closure: *mut c_void,
) {
    missing("mpsx_thread_stack_switch")
}

/// Stand-in for `mpsx_thread_stack_known`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_thread_stack_known(_thr: mps_thr_t, _sp: *mut c_void) -> mps_bool_t {
    missing("mpsx_thread_stack_known")
}

/// Stand-in for `mpsx_thread_stack_own`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_thread_stack_own(
    _thr: mps_thr_t,
    _low_o: *mut *mut c_void,
    _high_o: *mut *mut c_void,
) -> mps_bool_t {
    missing("mpsx_thread_stack_own")
}

/// Stand-in for `mpsx_test_hook_set`: aborts.
///
/// # Safety
///
/// Never returns.
pub unsafe extern "C" fn mpsx_test_hook_set(
    _point: core::ffi::c_int,
    _fn: mpsx_test_hook_t,
    _closure: *mut c_void,
) -> mps_res_t {
    missing("mpsx_test_hook_set")
}

//! Publishing code: the two views of the executable pool, the
//! instruction-cache rule, and the W^X audit.
//!
//! The executable pool's memory is one memfd mapped twice by the collector
//! (`vendor/mps/DESIGN.md#code`): the pool's own addresses are a read-write
//! *write view*, and the same pages appear `delta` bytes away in a
//! read-execute *execute view*. No page is ever writable and executable in
//! the same view, and the collector never changes the protection of a page
//! while code may run in it, so this crate changes no protection at all:
//! installing code is writing it through the write view, committing it, and
//! then (this module) making the instruction cache agree before anything
//! runs it.
//!
//! # The instruction-cache rule
//!
//! Bytes of code written through the write view must be made visible to
//! instruction fetch in the execute view before they run: [`publish`] does
//! it for a new object, once, after it is committed and before its address
//! is handed out. The collector does the same for every range it copies or
//! scans (relinks) in an executable pool (`CodeFlush` in
//! `vendor/mps/src/code.c`). On x86-64 both are no-ops (coherent caches;
//! resuming a stopped thread serialises it); elsewhere they are required.

use std::fs;
use std::io;

use mps::sys::mpsx_flush_icache;

/// The execute-view address of the write-view address `write`.
#[inline(always)]
pub fn exec_address(write: usize, delta: isize) -> usize {
    write.wrapping_add_signed(delta)
}

/// Publishes `size` bytes of code written at `write`: makes the execute
/// view's instruction cache agree (`mpsx_flush_icache`). Call once the
/// object is complete and committed, before its address is given to
/// anything that may run it.
#[inline]
pub fn publish(write: usize, size: usize, delta: isize) {
    // SAFETY: flushing the instruction cache over any range is harmless
    // (on x86-64 it does nothing); the range is the execute view of a
    // committed object.
    unsafe { mpsx_flush_icache(exec_address(write, delta) as *mut _, size) }
}

/// The mappings of this process that are writable and executable at once,
/// as lines of `/proc/self/maps`. The code pool never makes one; the tests
/// check that, while installing and while collecting.
pub fn writable_executable_mappings() -> io::Result<Vec<String>> {
    let maps = fs::read_to_string("/proc/self/maps")?;
    Ok(maps
        .lines()
        .filter(|line| {
            let perms = line.split_whitespace().nth(1).unwrap_or("");
            perms.as_bytes().get(1) == Some(&b'w') && perms.as_bytes().get(2) == Some(&b'x')
        })
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_address_adds_the_signed_delta() {
        assert_eq!(exec_address(0x1000, 0x10), 0x1010);
        assert_eq!(exec_address(0x1000, -0x10), 0xff0);
    }

    #[test]
    fn this_process_has_no_wx_mapping() {
        assert_eq!(
            writable_executable_mappings().unwrap(),
            Vec::<String>::new()
        );
    }
}

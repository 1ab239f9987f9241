//! Debuggers and profilers that follow code as it moves: the GDB JIT
//! interface and the Linux `perf` map, both derived from the unwind
//! registry ([`crate::unwind`]) and kept current as the collector moves
//! and frees code objects.
//!
//! Both are off until enabled, with [`enable_gdb`] / [`enable_perf_map`]
//! or the environment variables `CODEPOOL_GDB=1` / `CODEPOOL_PERF_MAP=1`
//! (read when a pool that registers unwind tables is created).
//!
//! # When they are updated
//!
//! Neither can change inside the stopped world: `perf` reads a file, and
//! gdb learns of symbol files through a call to
//! `__jit_debug_register_code`, on which it has a breakpoint, and then
//! reads the process's memory, which needs the process to run. So the
//! collector only records that the registry changed (a generation
//! counter, bumped by the format's forward method and the reclaim hook),
//! and [`sync`] brings both up to date: a background thread, started by
//! the first `enable_*`, calls it every [`SYNC_INTERVAL`], and anyone may
//! call it at once (tests, or a runtime after [`mps::Arena::collect`]). The
//! thread touches no collected memory (the registry and its tables live in
//! malloc'd memory), so it needs no registration with any arena and the
//! collector never stops it.
//!
//! Between a move and the next sync, gdb and the map describe the old
//! address: this is only a debugger's and a profiler's view and never
//! affects execution or unwinding (which [`crate::unwind`] keeps exact).
//!
//! # GDB
//!
//! Each live code object is described by an in-memory ELF file (written
//! with the `object` crate): a `.text` section without contents at the
//! object's execute-view address and size, a symbol per named function,
//! and the object's `.eh_frame` rewritten with absolute addresses
//! ([`UnwindTable::absolute_eh_frame`]) so that gdb unwinds through JIT
//! frames (`bt`) with the same tables the process uses. A move replaces
//! the object's file (unregister, register at the new address). gdb then
//! names JIT frames in `bt` and `info symbol`, and stops in a JIT function
//! by name with a *hardware* breakpoint (`hbreak jit_fn`, re-set at the
//! new address when the function moves). A software breakpoint (`break`)
//! does not work in JIT code: gdb cannot write its `int3` into the
//! read-execute view, a shared mapping the kernel refuses forced writes
//! to; and if it could, the collector would copy the `int3` along when
//! the code moved.
//!
//! The descriptor and the function are defined in the executable (this
//! crate), so they also interpose the definitions of `libLLVM`, whose own
//! JITs (MCJIT registers a GDB listener by default) then use this list
//! too, under their own lock: do not enable gdb registration here while an
//! LLVM execution engine in the same process registers objects.
//!
//! # perf
//!
//! `perf` reads `/tmp/perf-<pid>.map` (one `START SIZE name` line per
//! function, hexadecimal) when it reports, after the process has ended.
//! [`sync`] rewrites the whole file (a new file renamed over the old one):
//! first the current address of every named function of every registered
//! object, then *retired* entries: where functions were before they moved
//! or died, kept as long as no later entry (current or retired) overlaps
//! them, so that samples taken there before the move are still named, and
//! so that the map survives the pools' end. A map describes one layout
//! per address only: samples taken at an address whose code later moved
//! away and was replaced are attributed to the newer code. Collections are
//! rare compared with samples, and code that is running is pinned, so hot
//! code stays where the map says.
//!
//! perf consults the map only for anonymous executable memory; the code
//! pool's execute view is a shared memfd mapping (`memfd:mps-code`), which
//! perf 6.1 (Debian 12) treats as a file it cannot open, so it does not
//! use the map there. For that perf, use the jitdump file.
//!
//! # perf jitdump
//!
//! [`enable_jitdump`] (or `CODEPOOL_JITDUMP=1`) writes
//! `/tmp/jit-<pid>.dump` in perf's jitdump format
//! (`tools/perf/Documentation/jitdump-specification.txt`): a
//! `JIT_CODE_LOAD` record when a function is first seen, and a
//! `JIT_CODE_MOVE` record each time [`sync`] finds it at another address,
//! timestamped with `CLOCK_MONOTONIC` (record with `perf record -k 1`).
//! The file is mapped executable once so that `perf record` notes it;
//! `perf inject --jit` then turns the records into per-function ELF files
//! and mappings that override the memfd mapping from each record's time
//! on. The load records carry zeros instead of the code bytes (reading
//! code memory from this thread could race with a collection freeing it),
//! so `perf annotate` shows no instructions; attribution by name works. A
//! sample between a move and the next sync (at most [`SYNC_INTERVAL`]) is
//! attributed to the old address's function.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use object::write::elf::{FileHeader, SectionHeader, Sym, Writer};
use object::{elf, Endianness};

use crate::unwind::{self, UnwindTable};

/// How often the background thread checks for changes.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(20);

static GDB: AtomicBool = AtomicBool::new(false);
static PERF: AtomicBool = AtomicBool::new(false);
static JITDUMP: AtomicBool = AtomicBool::new(false);
static THREAD: Once = Once::new();

/// Describes live code objects to gdb through the GDB JIT interface from
/// now on (and starts the background thread).
pub fn enable_gdb() {
    GDB.store(true, Ordering::Release);
    start();
}

/// Writes and keeps current the perf map [`perf_map_path`] from now on
/// (and starts the background thread).
pub fn enable_perf_map() {
    PERF.store(true, Ordering::Release);
    start();
}

/// Writes the jitdump file [`jitdump_path`] from now on (and starts the
/// background thread).
pub fn enable_jitdump() {
    JITDUMP.store(true, Ordering::Release);
    start();
}

/// `/tmp/jit-<pid>.dump`.
pub fn jitdump_path() -> PathBuf {
    PathBuf::from(format!("/tmp/jit-{}.dump", std::process::id()))
}

/// Enables what `CODEPOOL_GDB`, `CODEPOOL_PERF_MAP` and `CODEPOOL_JITDUMP`
/// ask for (set and not `0`).
pub(crate) fn enable_from_env() {
    let on = |name| std::env::var_os(name).is_some_and(|v| v != "0" && !v.is_empty());
    if on("CODEPOOL_GDB") {
        enable_gdb();
    }
    if on("CODEPOOL_PERF_MAP") {
        enable_perf_map();
    }
    if on("CODEPOOL_JITDUMP") {
        enable_jitdump();
    }
}

/// `/tmp/perf-<pid>.map`.
pub fn perf_map_path() -> PathBuf {
    PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()))
}

fn start() {
    THREAD.call_once(|| {
        std::thread::Builder::new()
            .name("codepool-debuginfo".into())
            .spawn(|| loop {
                std::thread::sleep(SYNC_INTERVAL);
                if let Err(e) = sync() {
                    eprintln!("codepool: cannot update the perf map or jitdump: {e}");
                }
            })
            .expect("codepool: cannot start the debug-info thread");
    });
}

/// What the last sync wrote.
struct Synced {
    generation: usize,
    /// The perf map's current entries at the last sync: start -> (size,
    /// name).
    current: BTreeMap<usize, (usize, String)>,
    /// Its retired entries (see the module docs), none overlapping another
    /// or a current one.
    retired: BTreeMap<usize, (usize, String)>,
    /// Registered GDB entries by (object address, size).
    gdb: HashMap<(usize, usize), Box<gdb::Entry>>,
    /// The jitdump file, once opened.
    jitdump: Option<jitdump::Dump>,
}

static SYNCED: Mutex<Option<Synced>> = Mutex::new(None);

/// Brings the GDB descriptions and the perf map up to date with the
/// registry, if it changed since the last call. Without a collection or
/// installation in between, the result describes every registered object
/// at its current address.
///
/// # Errors
///
/// Writing the perf map failed.
pub fn sync() -> std::io::Result<()> {
    let mut synced = SYNCED.lock().unwrap_or_else(|e| e.into_inner());
    let synced = synced.get_or_insert_with(|| Synced {
        generation: usize::MAX,
        current: BTreeMap::new(),
        retired: BTreeMap::new(),
        gdb: HashMap::new(),
        jitdump: None,
    });
    let generation = unwind::generation();
    if generation == synced.generation {
        return Ok(());
    }
    synced.generation = generation;
    let (gdb_on, perf_on) = (GDB.load(Ordering::Acquire), PERF.load(Ordering::Acquire));
    let jit_on = JITDUMP.load(Ordering::Acquire);
    // (table serial, offset) -> (address, size, name) of every function.
    let mut functions: Vec<((u64, u32), usize, u32, String)> = Vec::new();
    let mut current = BTreeMap::new();
    let mut live: HashMap<(usize, usize), Option<Vec<u8>>> = HashMap::new();
    unwind::for_each_registered(|base, size, table| {
        if perf_on {
            for (offset, len, name) in table.functions() {
                current.insert(
                    base + offset as usize,
                    ((len as usize).max(1), name.to_owned()),
                );
            }
        }
        if jit_on {
            for (offset, len, name) in table.functions() {
                functions.push((
                    (table.serial(), offset),
                    base + offset as usize,
                    len,
                    name.to_owned(),
                ));
            }
        }
        if gdb_on {
            let known = synced.gdb.contains_key(&(base, size));
            live.insert(
                (base, size),
                (!known).then(|| symbol_file(base, size, table)),
            );
        }
    });
    if gdb_on {
        synced.gdb.retain(|key, entry| {
            let keep = live.contains_key(key);
            if !keep {
                gdb::unregister(entry);
            }
            keep
        });
        for (key, file) in live {
            if let Some(file) = file {
                synced.gdb.insert(key, gdb::register(file));
            }
        }
    }
    if jit_on {
        if synced.jitdump.is_none() {
            synced.jitdump = Some(jitdump::Dump::create(&jitdump_path())?);
        }
        synced
            .jitdump
            .as_mut()
            .expect("opened")
            .update(&functions)?;
    }
    if perf_on {
        let old = std::mem::replace(&mut synced.current, current);
        for (start, entry) in old {
            if synced.current.get(&start) != Some(&entry) {
                retire(&mut synced.retired, start, entry);
            }
        }
        let current = &synced.current;
        synced
            .retired
            .retain(|&start, (size, _)| !overlaps(current, start, *size));
        let mut map = String::new();
        for (start, (size, name)) in current.iter().chain(&synced.retired) {
            map.push_str(&format!("{start:x} {size:x} {name}\n"));
        }
        let path = perf_map_path();
        let tmp = path.with_extension("map.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(map.as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

/// Does an entry of `map` overlap `[start, start + size)`?
fn overlaps(map: &BTreeMap<usize, (usize, String)>, start: usize, size: usize) -> bool {
    let before = map
        .range(..=start)
        .next_back()
        .is_some_and(|(&s, &(n, _))| s + n > start);
    before || map.range(start..start + size).next().is_some()
}

/// Adds a retired entry, dropping the older ones it overlaps.
fn retire(retired: &mut BTreeMap<usize, (usize, String)>, start: usize, entry: (usize, String)) {
    let size = entry.0;
    while let Some((&s, _)) = retired
        .range(..start + size)
        .next_back()
        .filter(|(&s, &(n, _))| s + n > start)
    {
        retired.remove(&s);
    }
    retired.insert(start, entry);
}

/// The in-memory ELF file describing the object at `base` (see the module
/// docs).
pub fn symbol_file(base: usize, size: usize, table: &UnwindTable) -> Vec<u8> {
    let eh = table.absolute_eh_frame(base as u64);
    let names: Vec<(u32, u32, String)> = table
        .functions()
        .map(|(o, s, n)| (o, s, n.to_owned()))
        .collect();
    let mut buf = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut buf);
    w.reserve_file_header();
    w.reserve_null_section_index();
    let text_name = w.add_section_name(b".text");
    let text = w.reserve_section_index();
    let eh_name = w.add_section_name(b".eh_frame");
    w.reserve_section_index();
    let eh_offset = w.reserve(eh.len(), 8);
    w.reserve_null_symbol_index();
    let strings: Vec<_> = names
        .iter()
        .map(|(_, _, n)| w.add_string(n.as_bytes()))
        .collect();
    for _ in &names {
        w.reserve_symbol_index(Some(text));
    }
    w.reserve_symtab_section_index();
    w.reserve_symtab();
    w.reserve_strtab_section_index();
    w.reserve_strtab();
    w.reserve_shstrtab_section_index();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: elf::EM_X86_64,
        e_entry: 0,
        e_flags: 0,
    })
    .expect("a valid ELF header");
    w.write_align(8);
    w.write(&eh);
    w.write_null_symbol();
    for ((offset, len, _), name) in names.iter().zip(&strings) {
        w.write_symbol(&Sym {
            name: Some(*name),
            section: Some(text),
            st_info: (elf::STB_GLOBAL << 4) | elf::STT_FUNC,
            st_other: elf::STV_DEFAULT,
            st_shndx: 0,
            st_value: (base + *offset as usize) as u64,
            st_size: u64::from(*len),
        });
    }
    w.write_strtab();
    w.write_shstrtab();
    w.write_null_section_header();
    w.write_section_header(&SectionHeader {
        name: Some(text_name),
        sh_type: elf::SHT_NOBITS,
        sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
        sh_addr: base as u64,
        sh_offset: 0,
        sh_size: size as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 16,
        sh_entsize: 0,
    });
    w.write_section_header(&SectionHeader {
        name: Some(eh_name),
        sh_type: elf::SHT_PROGBITS,
        // Not mapped: its FDEs hold absolute addresses, so gdb needs no
        // address for the section itself.
        sh_flags: 0,
        sh_addr: 0,
        sh_offset: eh_offset as u64,
        sh_size: eh.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 8,
        sh_entsize: 0,
    });
    w.write_symtab_section_header(1);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    buf
}

/// The jitdump file of `perf` (see the module docs).
mod jitdump {
    use std::collections::HashMap;
    use std::fs::File;
    use std::io::{self, Write};
    use std::os::fd::AsRawFd;
    use std::path::Path;

    const MAGIC: u32 = 0x4A69_5444;
    const CODE_LOAD: u32 = 0;
    const CODE_MOVE: u32 = 1;
    const EM_X86_64: u32 = 62;

    /// `CLOCK_MONOTONIC` in nanoseconds, the clock `perf record -k 1` uses.
    fn now() -> u64 {
        let mut ts = libc_timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid out parameter; CLOCK_MONOTONIC is 1 on Linux.
        unsafe { clock_gettime(1, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    #[repr(C)]
    struct libc_timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut libc_timespec) -> i32;
        fn mmap(addr: *mut u8, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut u8;
        fn gettid() -> i32;
    }

    /// The open dump and what it has said so far.
    pub struct Dump {
        file: File,
        /// (table serial, offset) -> (address, code index).
        known: HashMap<(u64, u32), (usize, u64)>,
        next_index: u64,
    }

    impl Dump {
        /// Creates the file, writes its header and maps it executable once
        /// (the mapping is what `perf record` notes; it stays until exit).
        pub fn create(path: &Path) -> io::Result<Dump> {
            // Readable too: mapping it executable needs a readable file.
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)?;
            let mut h = Vec::with_capacity(40);
            for v in [MAGIC, 1, 40, EM_X86_64, 0, std::process::id()] {
                h.extend_from_slice(&v.to_le_bytes());
            }
            h.extend_from_slice(&now().to_le_bytes());
            h.extend_from_slice(&0u64.to_le_bytes());
            file.write_all(&h)?;
            // SAFETY: maps the first page of a file we own, read and
            // execute, private; never unmapped (perf's convention).
            let p = unsafe { mmap(core::ptr::null_mut(), 4096, 5, 2, file.as_raw_fd(), 0) };
            if p as isize == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(Dump {
                file,
                known: HashMap::new(),
                next_index: 1,
            })
        }

        /// Writes a load record for every new function and a move record
        /// for every function at a new address; forgets the dead.
        pub fn update(&mut self, functions: &[((u64, u32), usize, u32, String)]) -> io::Result<()> {
            let mut out = Vec::new();
            let (pid, time) = (std::process::id(), now());
            // SAFETY: no arguments, no memory touched.
            let tid = unsafe { gettid() } as u32;
            let mut seen = HashMap::with_capacity(functions.len());
            for (key, address, size, name) in functions {
                let (address, size) = (*address as u64, u64::from(*size).max(1));
                match self.known.get(key).copied() {
                    None => {
                        let index = self.next_index;
                        self.next_index += 1;
                        let total = 16 + 8 + 32 + name.len() + 1 + size as usize;
                        record_header(&mut out, CODE_LOAD, total, time);
                        out.extend_from_slice(&pid.to_le_bytes());
                        out.extend_from_slice(&tid.to_le_bytes());
                        for v in [address, address, size, index] {
                            out.extend_from_slice(&v.to_le_bytes());
                        }
                        out.extend_from_slice(name.as_bytes());
                        out.push(0);
                        out.resize(out.len() + size as usize, 0);
                        seen.insert(*key, (address as usize, index));
                    }
                    Some((old, index)) => {
                        if old as u64 != address {
                            record_header(&mut out, CODE_MOVE, 16 + 8 + 40, time);
                            out.extend_from_slice(&pid.to_le_bytes());
                            out.extend_from_slice(&tid.to_le_bytes());
                            for v in [address, old as u64, address, size, index] {
                                out.extend_from_slice(&v.to_le_bytes());
                            }
                        }
                        seen.insert(*key, (address as usize, index));
                    }
                }
            }
            self.known = seen;
            self.file.write_all(&out)
        }
    }

    fn record_header(out: &mut Vec<u8>, id: u32, total: usize, time: u64) {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&time.to_le_bytes());
    }
}

/// The GDB JIT interface (gdb's manual, "JIT Compilation Interface"): the
/// descriptor gdb reads and the function it breaks on.
mod gdb {
    use core::ptr;

    /// `struct jit_code_entry`.
    #[repr(C)]
    pub struct Entry {
        next: *mut Entry,
        prev: *mut Entry,
        symfile_addr: *const u8,
        symfile_size: u64,
        /// The file, owned here (not part of gdb's structure).
        file: Vec<u8>,
    }

    // SAFETY: an entry's pointers are only read or written under `SYNCED`
    // (and by gdb while the process is stopped); it owns its file.
    unsafe impl Send for Entry {}

    /// `struct jit_descriptor`.
    #[repr(C)]
    pub struct Descriptor {
        version: u32,
        action_flag: u32,
        relevant_entry: *mut Entry,
        first_entry: *mut Entry,
    }

    const JIT_REGISTER_FN: u32 = 1;
    const JIT_UNREGISTER_FN: u32 = 2;

    /// The descriptor gdb finds by name.
    #[no_mangle]
    #[used]
    pub static mut __jit_debug_descriptor: Descriptor = Descriptor {
        version: 1,
        action_flag: 0,
        relevant_entry: ptr::null_mut(),
        first_entry: ptr::null_mut(),
    };

    /// gdb sets a breakpoint here and reads the descriptor when it stops.
    #[no_mangle]
    #[inline(never)]
    pub extern "C" fn __jit_debug_register_code() {
        // SAFETY: an empty assembly block: the call must not be optimised
        // away, nor this function merged with another.
        unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
    }

    /// Adds `file` to the list and tells gdb. Called under `SYNCED`, the
    /// only user of the descriptor.
    pub fn register(file: Vec<u8>) -> Box<Entry> {
        let mut entry = Box::new(Entry {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            symfile_addr: file.as_ptr(),
            symfile_size: file.len() as u64,
            file,
        });
        let e: *mut Entry = &mut *entry;
        // SAFETY: the descriptor is only touched under `SYNCED`, which the
        // caller holds; the entries on the list are live boxes owned by
        // `Synced::gdb`.
        unsafe {
            let d = ptr::addr_of_mut!(__jit_debug_descriptor);
            (*e).next = (*d).first_entry;
            if !(*d).first_entry.is_null() {
                (*(*d).first_entry).prev = e;
            }
            (*d).first_entry = e;
            (*d).relevant_entry = e;
            (*d).action_flag = JIT_REGISTER_FN;
        }
        __jit_debug_register_code();
        debug_assert!(!entry.file.is_empty());
        entry
    }

    /// Removes `entry` from the list and tells gdb (the caller then frees
    /// it).
    pub fn unregister(entry: &mut Entry) {
        let e: *mut Entry = entry;
        // SAFETY: as in `register`; `entry` is on the list.
        unsafe {
            let d = ptr::addr_of_mut!(__jit_debug_descriptor);
            if !(*e).prev.is_null() {
                (*(*e).prev).next = (*e).next;
            } else {
                (*d).first_entry = (*e).next;
            }
            if !(*e).next.is_null() {
                (*(*e).next).prev = (*e).prev;
            }
            (*d).relevant_entry = e;
            (*d).action_flag = JIT_UNREGISTER_FN;
        }
        __jit_debug_register_code();
    }
}

#[cfg(all(test, feature = "llvm"))]
mod tests {
    use super::*;
    use inkwell::context::Context;
    use inkwell::memory_buffer::MemoryBuffer;
    use object::read::elf::{ElfFile64, FileHeader as _, SectionHeader as _};
    use object::{Object, ObjectSection, ObjectSymbol};

    #[test]
    fn a_symbol_file_places_the_functions_at_the_object() {
        let ir = "declare i64 @rt(i64)
                  define i64 @jit_one(i64 %x) {
                    %r = call i64 @rt(i64 %x)
                    ret i64 %r
                  }";
        let context = Context::create();
        let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "t");
        let module = context.create_module_from_ir(buffer).unwrap();
        let obj = crate::jit::compile(&module).unwrap();
        let table = UnwindTable::build(obj.eh_frame().unwrap(), 0x80, &obj).unwrap();
        let base = 0x7f00_0000_1000usize;
        let bytes = symbol_file(base, 0x200, &table);
        let file = ElfFile64::<object::LittleEndian>::parse(&*bytes).unwrap();
        assert_eq!(file.elf_header().e_type(object::LittleEndian), elf::ET_EXEC);
        let text = file.section_by_name(".text").unwrap();
        assert_eq!((text.address(), text.size()), (base as u64, 0x200));
        let eh = file.section_by_name(".eh_frame").unwrap();
        assert_eq!(
            eh.data().unwrap(),
            &table.absolute_eh_frame(base as u64)[..]
        );
        assert_eq!(eh.elf_section_header().sh_flags(object::LittleEndian), 0);
        let sym = file.symbols().find(|s| s.name() == Ok("jit_one")).unwrap();
        assert_eq!(sym.address(), (base + 0x80) as u64);
        assert_eq!(sym.kind(), object::SymbolKind::Text);
    }
}

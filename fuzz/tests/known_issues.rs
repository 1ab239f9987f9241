//! Issues the fuzzers found in other crates, each replayed here. All four
//! are fixed (the loader rejects the two malformed GOT cases with typed
//! errors; the collector no longer lets a dead ambiguous AMS object keep
//! anything alive), so these run with the normal `cargo test`.

use std::fs;
use std::path::Path;

use codepool::layout::{self, Binding};
use codepool::reloc::{self, RelocKind};

fn regression(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Known issue 1 (codepool): relinking reads and rewrites the instruction
/// bytes of a relaxable GOT site even when they are another relocation's
/// field; see `mps_rs_fuzz::elf_load::opcode_overlaps_field`. The fix is
/// for the loader to reject such an object (or for layout to treat the site
/// as not relaxable); then `load` fails or the value stays right.
#[test]
fn relaxation_must_not_rewrite_another_field() {
    let data = regression("elf_load/opcode-overlap.elf");
    let Ok(obj) = codepool::elf::load(&data) else {
        return; // fixed by rejecting the object
    };
    const EXT: u64 = 0x7f00_0000_1000;
    let image = layout::layout(&obj, |_| Some(Binding::Runtime { address: EXT })).unwrap();
    let mut bytes = image.bytes().to_vec();
    let at = 0x7f00_1000_0000; // near EXT: the GOT load is relaxed
    layout::relink(&mut bytes, at, |_| EXT).unwrap();
    let co = image.header().code_offset as usize;
    let abs64 = reloc::read_field(&bytes, co, RelocKind::Abs64).unwrap() as u64;
    assert_eq!(
        abs64,
        EXT.wrapping_add(0x058b_0000_0000_0000),
        "the R_X86_64_64 value was rewritten by the relaxation of the next site"
    );
}

/// The fuzz artifacts of known issue 1, through the strict checks.
#[test]
fn opcode_overlap_artifacts_strict() {
    for name in [
        "elf_load/opcode-overlap.elf",
        "elf_load/crash-c4b2e85a14fcb47d8187ba7df132022043375023",
        "elf_load/crash-e36b45f004e87177c5772ea7c626532f4e460cd8",
    ] {
        mps_rs_fuzz::elf_load::run_strict(&regression(name));
    }
}

/// Known issue 3 (codepool): a relaxable GOT relocation on a `lea` (or an
/// `addr32 call`) of an external symbol loses its ELF meaning (the address
/// of the GOT slot): relinking treats the instruction as an already relaxed
/// `mov`. Layout keeps the ELF meaning for local targets. The psABI does
/// not allow these kinds on a `lea`, so the fix may be to reject them (or to
/// treat them as plain `R_X86_64_GOTPCREL`, as layout does for local ones).
#[test]
fn lea_with_gotpcrelx_keeps_its_meaning() {
    mps_rs_fuzz::elf_load::run_strict(&regression("elf_load/lea-gotpcrelx.elf"));
}

/// Known issue 4 (collector): AMS segments of rank ambiguous are scanned
/// whole, dead objects included (`traceEachSeg(trace, RankAMBIG,
/// scanAmbiguousSeg)` in `vendor/mps/src/trace.c`), so a dead object of an
/// ambiguous allocation point keeps everything it refers to alive, itself
/// included: an unreachable AMS object whose ambiguous field refers to
/// itself is never reclaimed. Each round below leaves one more behind, so
/// the bytes each collection scans grow without bound (with an exact
/// allocation point, or without the self-reference, they stay flat).
#[test]
fn dead_ambiguous_self_reference_is_reclaimed() {
    use mps_rs_fuzz::api_ops::{figures, run_ops, Kind, Op, PoolSel, AMBIGUOUS_LINKS};
    use std::sync::atomic::Ordering;

    AMBIGUOUS_LINKS.store(true, Ordering::Relaxed);
    let ops = [
        // PoolSel(2): the ambiguous AMS allocation point.
        Op::Alloc {
            kind: Kind::Node,
            pool: PoolSel(2),
            dst: 0,
        },
        Op::Link {
            src: 0,
            field: 0,
            dst: 0,
        },
        Op::Drop { slot: 0 },
        Op::Collect,
    ];
    let scanned_per_round = |rounds: usize| {
        let before = figures().scanned;
        for _ in 0..rounds {
            run_ops(&ops);
        }
        (figures().scanned - before) / rounds
    };
    let first = scanned_per_round(200);
    let later = scanned_per_round(200);
    let f = figures();
    AMBIGUOUS_LINKS.store(false, Ordering::Relaxed);
    assert!(
        later <= first + 64,
        "bytes scanned per round grew from {first} to {later} (AMS pool now {} bytes)",
        f.pools[2]
    );
}

//! Loader regressions found by fuzzing (`fuzz/regressions/elf_load`; the
//! inputs are copied to `tests/fixtures`, their assembly sources are in
//! `fuzz/regressions/elf_load/sources`).

use std::fs;
use std::path::Path;

use codepool::elf::{self, LoadError};
use codepool::reloc::RelocKind;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_err(name: &str) -> LoadError {
    match elf::load(&fixture(name)) {
        Ok(obj) => panic!("{name} loaded: {:?}", obj.relocations()),
        Err(e) => e,
    }
}

/// A `R_X86_64_REX_GOTPCRELX` whose instruction bytes (opcode and ModRM,
/// which relinking reads and rewrites) are the last two bytes of an
/// `R_X86_64_64` field: relinking used to relax the "mov" it saw in the
/// other field's value and so change that value (`0x058b…` to `0x058d…`).
#[test]
fn relaxable_instruction_inside_another_field_is_rejected() {
    let e = load_err("opcode-overlap.elf");
    assert_eq!(
        e,
        LoadError::InstructionOverlapsRelocation {
            section: ".text".into(),
            kind: RelocKind::RexGotPcRelX,
            offset: 8,
            other: 0,
        }
    );
    assert_eq!(
        e.to_string(),
        "the instruction bytes of R_X86_64_REX_GOTPCRELX at .text+0x8 (.text+0x6..0x8) \
         overlap the relocation at .text+0x0"
    );
}

/// The fuzz artifacts of the same issue: a mutated seed whose last
/// `R_X86_64_REX_GOTPCRELX` (at .text+0x3e) has its instruction bytes in an
/// `R_X86_64_64` field (.text+0x36..0x3e).
#[test]
fn fuzz_artifacts_with_overlapping_instruction_are_rejected() {
    for name in [
        "crash-c4b2e85a14fcb47d8187ba7df132022043375023",
        "crash-e36b45f004e87177c5772ea7c626532f4e460cd8",
    ] {
        assert_eq!(
            load_err(name),
            LoadError::InstructionOverlapsRelocation {
                section: ".text".into(),
                kind: RelocKind::RexGotPcRelX,
                offset: 0x3e,
                other: 0x36,
            },
            "{name}"
        );
    }
}

/// `lea rax, [rip + ext_data@GOTPCREL]` with `R_X86_64_REX_GOTPCRELX`: the
/// psABI does not allow the relaxable kinds on a lea, and relinking would
/// take it for an already relaxed mov (loading the symbol's address instead
/// of its GOT slot's).
#[test]
fn relaxable_got_on_lea_is_rejected() {
    let e = load_err("lea-gotpcrelx.elf");
    assert_eq!(
        e,
        LoadError::UnsupportedRelaxableInstruction {
            section: ".text".into(),
            kind: RelocKind::RexGotPcRelX,
            offset: 3,
            bytes: Some([0x8d, 0x05]),
        }
    );
    assert_eq!(
        e.to_string(),
        "R_X86_64_REX_GOTPCRELX at .text+0x3 is on an instruction 8d 05, not a mov, test, \
         binop, call or jmp through the GOT (the only instructions the psABI allows it on)"
    );
}

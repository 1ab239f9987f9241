//! Applying one relocation to a byte slice.
//!
//! [`apply`] is a small pure function: given the address of the site, the
//! address of the target, the addend and the kind, it computes the value with
//! checked arithmetic and stores it with an unaligned little-endian write. A
//! value that does not fit its field (a 32-bit displacement to a target more
//! than 2 GiB away, say) is an error, never a truncation.
//!
//! The kinds are the x86-64 ELF relocations the loader accepts
//! ([`RelocKind`]). For the GOT-relative kinds (`R_X86_64_GOTPCREL*`) the
//! "target" given to [`apply`] is the address the displacement must reach:
//! the GOT slot, or the symbol itself when the instruction has been relaxed.
//!
//! # Relaxation
//!
//! `R_X86_64_GOTPCRELX` and `R_X86_64_REX_GOTPCRELX` mark instructions that
//! load through a GOT slot and may be rewritten to use the target directly
//! (the same rewrite `ld` does). Two rewrites are supported, both reversible
//! and both keeping the displacement at the same position, so that relinking
//! can switch between them every time an object or its target moves:
//!
//! | through the GOT slot            | direct (relaxed)            |
//! |---------------------------------|-----------------------------|
//! | `mov reg, [rip+disp]` (`8b /r`) | `lea reg, [rip+disp]` (`8d /r`) |
//! | `call [rip+disp]` (`ff 15`)     | `addr32 call rel32` (`67 e8`)   |
//!
//! [`got_form`] recognises the instruction around a site and
//! [`set_got_form`] switches it. Other instructions (`jmp [rip+disp]`,
//! arithmetic with a memory operand, ...) always go through the GOT slot.
//!
//! Relinking cannot tell a relaxed instruction from one that was written
//! that way, so the loader accepts the relaxable kinds in code only on the
//! instructions the psABI allows them on ([`allows_relaxable_got`]: never a
//! `lea` or an `addr32 call`), and only when no other relocation's field
//! covers the opcode and ModRM bytes.

use std::fmt;

/// A relocation kind the code pool understands (x86-64 ELF names).
///
/// The discriminant is the kind's code in the relocation sidecar (four
/// bits); it never changes for an existing kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RelocKind {
    /// `R_X86_64_64`: 64-bit absolute address, `S + A`.
    Abs64 = 0,
    /// `R_X86_64_PC32`: 32-bit signed PC-relative displacement, `S + A - P`.
    Pc32 = 1,
    /// `R_X86_64_PLT32`: a call or jump displacement, `S + A - P`; when the
    /// target is out of reach the call goes through a stub.
    Plt32 = 2,
    /// `R_X86_64_32`: 32-bit zero-extended absolute address, `S + A`.
    Abs32 = 3,
    /// `R_X86_64_32S`: 32-bit sign-extended absolute address, `S + A`.
    Abs32S = 4,
    /// `R_X86_64_GOTPCREL`: displacement to the target's GOT slot,
    /// `G + A - P`.
    GotPcRel = 5,
    /// `R_X86_64_GOTPCRELX`: as `GotPcRel`, relaxable (see the module docs).
    GotPcRelX = 6,
    /// `R_X86_64_REX_GOTPCRELX`: as `GotPcRel` with a REX prefix, relaxable.
    RexGotPcRelX = 7,
    /// `R_X86_64_PC64`: 64-bit PC-relative displacement, `S + A - P`.
    Pc64 = 8,
}

impl RelocKind {
    /// Every kind, in code order.
    pub const ALL: [RelocKind; 9] = [
        RelocKind::Abs64,
        RelocKind::Pc32,
        RelocKind::Plt32,
        RelocKind::Abs32,
        RelocKind::Abs32S,
        RelocKind::GotPcRel,
        RelocKind::GotPcRelX,
        RelocKind::RexGotPcRelX,
        RelocKind::Pc64,
    ];

    /// The kind for an ELF `r_type`, or `None` when it is not supported.
    pub fn from_elf(r_type: u32) -> Option<RelocKind> {
        use object::elf;
        Some(match r_type {
            elf::R_X86_64_64 => RelocKind::Abs64,
            elf::R_X86_64_PC32 => RelocKind::Pc32,
            elf::R_X86_64_PLT32 => RelocKind::Plt32,
            elf::R_X86_64_32 => RelocKind::Abs32,
            elf::R_X86_64_32S => RelocKind::Abs32S,
            elf::R_X86_64_GOTPCREL => RelocKind::GotPcRel,
            elf::R_X86_64_GOTPCRELX => RelocKind::GotPcRelX,
            elf::R_X86_64_REX_GOTPCRELX => RelocKind::RexGotPcRelX,
            elf::R_X86_64_PC64 => RelocKind::Pc64,
            _ => return None,
        })
    }

    /// The ELF `r_type` of this kind.
    pub fn elf_type(self) -> u32 {
        use object::elf;
        match self {
            RelocKind::Abs64 => elf::R_X86_64_64,
            RelocKind::Pc32 => elf::R_X86_64_PC32,
            RelocKind::Plt32 => elf::R_X86_64_PLT32,
            RelocKind::Abs32 => elf::R_X86_64_32,
            RelocKind::Abs32S => elf::R_X86_64_32S,
            RelocKind::GotPcRel => elf::R_X86_64_GOTPCREL,
            RelocKind::GotPcRelX => elf::R_X86_64_GOTPCRELX,
            RelocKind::RexGotPcRelX => elf::R_X86_64_REX_GOTPCRELX,
            RelocKind::Pc64 => elf::R_X86_64_PC64,
        }
    }

    /// The ELF name of this kind, for messages (`"R_X86_64_PC32"`).
    pub fn elf_name(self) -> &'static str {
        elf_reloc_name(self.elf_type())
    }

    /// The sidecar code of this kind (0..=15).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with the given sidecar code.
    pub fn from_code(code: u8) -> Option<RelocKind> {
        RelocKind::ALL.get(usize::from(code)).copied()
    }

    /// Number of bytes the relocation writes.
    pub fn width(self) -> usize {
        match self {
            RelocKind::Abs64 | RelocKind::Pc64 => 8,
            _ => 4,
        }
    }

    /// True when the value depends on the site's address (`- P`).
    pub fn is_pc_relative(self) -> bool {
        !matches!(
            self,
            RelocKind::Abs64 | RelocKind::Abs32 | RelocKind::Abs32S
        )
    }

    /// True for the kinds whose displacement reaches a GOT slot.
    pub fn uses_got(self) -> bool {
        matches!(
            self,
            RelocKind::GotPcRel | RelocKind::GotPcRelX | RelocKind::RexGotPcRelX
        )
    }

    /// True for the GOT kinds whose instruction may be relaxed.
    pub fn is_relaxable(self) -> bool {
        matches!(self, RelocKind::GotPcRelX | RelocKind::RexGotPcRelX)
    }

    /// The addend compilers normally use with this kind: `-4` for 32-bit
    /// PC-relative fields (the displacement is relative to the end of the
    /// field, which ends the instruction), `0` otherwise. The sidecar omits
    /// addends equal to it.
    pub fn usual_addend(self) -> i64 {
        match self {
            RelocKind::Pc32
            | RelocKind::Plt32
            | RelocKind::GotPcRel
            | RelocKind::GotPcRelX
            | RelocKind::RexGotPcRelX => -4,
            RelocKind::Abs64 | RelocKind::Abs32 | RelocKind::Abs32S | RelocKind::Pc64 => 0,
        }
    }
}

impl fmt::Display for RelocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.elf_name())
    }
}

/// The name of an x86-64 ELF relocation type, `"R_X86_64_?"` when unknown.
pub fn elf_reloc_name(r_type: u32) -> &'static str {
    const NAMES: [&str; 44] = [
        "R_X86_64_NONE",
        "R_X86_64_64",
        "R_X86_64_PC32",
        "R_X86_64_GOT32",
        "R_X86_64_PLT32",
        "R_X86_64_COPY",
        "R_X86_64_GLOB_DAT",
        "R_X86_64_JUMP_SLOT",
        "R_X86_64_RELATIVE",
        "R_X86_64_GOTPCREL",
        "R_X86_64_32",
        "R_X86_64_32S",
        "R_X86_64_16",
        "R_X86_64_PC16",
        "R_X86_64_8",
        "R_X86_64_PC8",
        "R_X86_64_DTPMOD64",
        "R_X86_64_DTPOFF64",
        "R_X86_64_TPOFF64",
        "R_X86_64_TLSGD",
        "R_X86_64_TLSLD",
        "R_X86_64_DTPOFF32",
        "R_X86_64_GOTTPOFF",
        "R_X86_64_TPOFF32",
        "R_X86_64_PC64",
        "R_X86_64_GOTOFF64",
        "R_X86_64_GOTPC32",
        "R_X86_64_GOT64",
        "R_X86_64_GOTPCREL64",
        "R_X86_64_GOTPC64",
        "R_X86_64_GOTPLT64",
        "R_X86_64_PLTOFF64",
        "R_X86_64_SIZE32",
        "R_X86_64_SIZE64",
        "R_X86_64_GOTPC32_TLSDESC",
        "R_X86_64_TLSDESC_CALL",
        "R_X86_64_TLSDESC",
        "R_X86_64_IRELATIVE",
        "R_X86_64_RELATIVE64",
        "R_X86_64_?",
        "R_X86_64_?",
        "R_X86_64_GOTPCRELX",
        "R_X86_64_REX_GOTPCRELX",
        "R_X86_64_?",
    ];
    usize::try_from(r_type)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("R_X86_64_?")
}

/// Why a relocation could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelocError {
    /// The value does not fit the field (a displacement out of reach, or an
    /// absolute address above the 32-bit range).
    Overflow {
        /// The relocation kind.
        kind: RelocKind,
        /// Address of the site (`P`).
        site: u64,
        /// Address of the target (`S`, or the GOT slot).
        target: u64,
        /// The addend (`A`).
        addend: i64,
    },
    /// The site's field does not lie inside the byte slice.
    OutOfBounds {
        /// The relocation kind.
        kind: RelocKind,
        /// Offset of the field in the slice.
        offset: usize,
        /// Length of the slice.
        len: usize,
    },
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RelocError::Overflow {
                kind,
                site,
                target,
                addend,
            } => {
                if kind.is_pc_relative() {
                    write!(
                        f,
                        "{kind} at {site:#x}: target {target:#x}{addend:+} is out of reach of a \
                         {}-bit displacement",
                        kind.width() * 8
                    )
                } else {
                    write!(
                        f,
                        "{kind} at {site:#x}: address {target:#x}{addend:+} does not fit in 32 bits"
                    )
                }
            }
            RelocError::OutOfBounds { kind, offset, len } => write!(
                f,
                "{kind} field at offset {offset:#x} ({} bytes) lies outside the {len}-byte code",
                kind.width()
            ),
        }
    }
}

impl std::error::Error for RelocError {}

/// Computes the value of a relocation: the bits to store, in the low
/// [`RelocKind::width`] bytes of the result.
///
/// `site` is the run-time address of the field (`P`), `target` the address it
/// refers to (`S`, or the GOT slot for the GOT kinds), `addend` the addend
/// (`A`). The arithmetic is exact (128-bit); a value outside the field's range
/// is an error.
pub fn compute(kind: RelocKind, site: u64, target: u64, addend: i64) -> Result<u64, RelocError> {
    let s = i128::from(target);
    let a = i128::from(addend);
    let p = i128::from(site);
    let overflow = RelocError::Overflow {
        kind,
        site,
        target,
        addend,
    };
    let value = if kind.is_pc_relative() {
        s + a - p
    } else {
        s + a
    };
    match kind {
        // 64-bit fields: any value an unsigned or signed 64-bit word can hold.
        RelocKind::Abs64 | RelocKind::Pc64 => {
            if let Ok(v) = u64::try_from(value) {
                Ok(v)
            } else if let Ok(v) = i64::try_from(value) {
                Ok(v as u64)
            } else {
                Err(overflow)
            }
        }
        RelocKind::Abs32 => u32::try_from(value).map(u64::from).map_err(|_| overflow),
        RelocKind::Abs32S
        | RelocKind::Pc32
        | RelocKind::Plt32
        | RelocKind::GotPcRel
        | RelocKind::GotPcRelX
        | RelocKind::RexGotPcRelX => i32::try_from(value)
            .map(|v| u64::from(v as u32))
            .map_err(|_| overflow),
    }
}

/// True when [`compute`] would succeed: the value fits the field.
pub fn fits(kind: RelocKind, site: u64, target: u64, addend: i64) -> bool {
    compute(kind, site, target, addend).is_ok()
}

/// Checks that the field of a `kind` relocation at `offset` lies in a slice
/// of `len` bytes.
pub fn check_bounds(kind: RelocKind, offset: usize, len: usize) -> Result<(), RelocError> {
    match offset.checked_add(kind.width()) {
        Some(end) if end <= len => Ok(()),
        _ => Err(RelocError::OutOfBounds { kind, offset, len }),
    }
}

/// Applies one relocation: stores the value of `kind` for (`site`, `target`,
/// `addend`) at `code[offset..offset + kind.width()]`, little-endian.
///
/// Nothing is written when the field is out of bounds or the value does not
/// fit.
pub fn apply(
    code: &mut [u8],
    offset: usize,
    kind: RelocKind,
    site: u64,
    target: u64,
    addend: i64,
) -> Result<(), RelocError> {
    check_bounds(kind, offset, code.len())?;
    let value = compute(kind, site, target, addend)?;
    let width = kind.width();
    // In bounds: checked above.
    code[offset..offset + width].copy_from_slice(&value.to_le_bytes()[..width]);
    Ok(())
}

/// Reads back the field of a `kind` relocation at `offset`, sign-extended for
/// the signed 32-bit kinds and zero-extended for `Abs32`.
pub fn read_field(code: &[u8], offset: usize, kind: RelocKind) -> Result<i64, RelocError> {
    check_bounds(kind, offset, code.len())?;
    let mut bytes = [0u8; 8];
    let width = kind.width();
    bytes[..width].copy_from_slice(&code[offset..offset + width]);
    let raw = u64::from_le_bytes(bytes);
    Ok(match kind {
        RelocKind::Abs64 | RelocKind::Pc64 => raw as i64,
        RelocKind::Abs32 => raw as i64,
        _ => i64::from(raw as u32 as i32),
    })
}

/// Writes a 64-bit little-endian word at `offset` (a GOT slot or a stub's
/// address slot). Returns false, writing nothing, when out of bounds.
pub fn write_u64(code: &mut [u8], offset: usize, value: u64) -> bool {
    match offset
        .checked_add(8)
        .and_then(|end| code.get_mut(offset..end))
    {
        Some(field) => {
            field.copy_from_slice(&value.to_le_bytes());
            true
        }
        None => false,
    }
}

/// The instruction around a GOT-relative site, as far as relaxation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GotForm {
    /// `mov reg, [rip+disp]`: loads the address from the GOT slot.
    MovLoad,
    /// `lea reg, [rip+disp]`: the relaxed form of `MovLoad`.
    Lea,
    /// `call [rip+disp]`: calls through the GOT slot.
    CallIndirect,
    /// `addr32 call rel32`: the relaxed form of `CallIndirect`.
    CallDirect,
    /// Anything else: must keep going through the GOT slot.
    Other,
}

impl GotForm {
    /// True for the forms that use the target directly.
    pub fn is_relaxed(self) -> bool {
        matches!(self, GotForm::Lea | GotForm::CallDirect)
    }
}

/// Recognises the instruction whose 32-bit displacement is at `offset`
/// (the two bytes before it are the opcode and ModRM, or `67 e8`).
pub fn got_form(code: &[u8], offset: usize) -> GotForm {
    let Some(start) = offset.checked_sub(2) else {
        return GotForm::Other;
    };
    let (Some(&op), Some(&modrm)) = (code.get(start), code.get(start + 1)) else {
        return GotForm::Other;
    };
    let rip_relative = modrm & 0xc7 == 0x05;
    match (op, modrm) {
        (0x8b, _) if rip_relative => GotForm::MovLoad,
        (0x8d, _) if rip_relative => GotForm::Lea,
        (0xff, 0x15) => GotForm::CallIndirect,
        (0x67, 0xe8) => GotForm::CallDirect,
        _ => GotForm::Other,
    }
}

/// True when the two bytes before the field at `offset` (the opcode and
/// ModRM) are an instruction the x86-64 psABI allows
/// `R_X86_64_GOTPCRELX` and `R_X86_64_REX_GOTPCRELX` on, reading the GOT
/// slot through a RIP-relative operand: `mov reg, [rip+disp]` (`8b`),
/// `test [rip+disp], reg` (`85`), a binop `reg, [rip+disp]` (`adc add and
/// cmp or sbb sub xor`: `13 03 23 3b 0b 1b 2b 33`), `call [rip+disp]`
/// (`ff 15`) or `jmp [rip+disp]` (`ff 25`). None of them is a relaxed form
/// ([`GotForm::Lea`], [`GotForm::CallDirect`]), so [`got_form`] reads each
/// with its ELF meaning: a `lea` or an `addr32 call` is rejected here
/// because relinking could not tell it from a relaxed `mov` or `call`.
pub fn allows_relaxable_got(code: &[u8], offset: usize) -> bool {
    let Some(start) = offset.checked_sub(2) else {
        return false;
    };
    let (Some(&op), Some(&modrm)) = (code.get(start), code.get(start + 1)) else {
        return false;
    };
    let rip_relative = modrm & 0xc7 == 0x05;
    match op {
        0x8b | 0x85 | 0x03 | 0x0b | 0x13 | 0x1b | 0x23 | 0x2b | 0x33 | 0x3b => rip_relative,
        0xff => matches!(modrm, 0x15 | 0x25),
        _ => false,
    }
}

/// Switches the instruction at a relaxable GOT site to the relaxed form
/// (`relaxed == true`) or back to the form through the GOT slot. Returns
/// false, writing nothing, when the instruction is not one of the
/// switchable forms ([`GotForm::Other`]). The displacement is not touched.
pub fn set_got_form(code: &mut [u8], offset: usize, relaxed: bool) -> bool {
    let Some(new) = got_form_bytes(code, offset, relaxed) else {
        return false;
    };
    code[offset - 2..offset].copy_from_slice(&new);
    true
}

/// The two bytes (opcode and ModRM, or `67 e8`) that [`set_got_form`]
/// would write before the field at `offset`, or `None` when the
/// instruction is not one of the switchable forms.
pub fn got_form_bytes(code: &[u8], offset: usize, relaxed: bool) -> Option<[u8; 2]> {
    Some(match (got_form(code, offset), relaxed) {
        (GotForm::MovLoad | GotForm::Lea, true) => [0x8d, code[offset - 1]],
        (GotForm::MovLoad | GotForm::Lea, false) => [0x8b, code[offset - 1]],
        (GotForm::CallIndirect | GotForm::CallDirect, true) => [0x67, 0xe8],
        (GotForm::CallIndirect | GotForm::CallDirect, false) => [0xff, 0x15],
        (GotForm::Other, _) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_round_trip() {
        for kind in RelocKind::ALL {
            assert_eq!(RelocKind::from_elf(kind.elf_type()), Some(kind));
            assert_eq!(RelocKind::from_code(kind.code()), Some(kind));
            assert!(kind.elf_name().starts_with("R_X86_64_"));
            assert_ne!(kind.elf_name(), "R_X86_64_?");
        }
        assert_eq!(RelocKind::from_elf(object::elf::R_X86_64_TPOFF32), None);
        assert_eq!(elf_reloc_name(23), "R_X86_64_TPOFF32");
        assert_eq!(elf_reloc_name(1000), "R_X86_64_?");
        assert_eq!(RelocKind::from_code(9), None);
    }

    #[test]
    fn pc32_in_reach_and_limits() {
        let mut code = [0u8; 8];
        // call at 0x1000 (field at 0x1001) to 0x2000: disp = 0x2000 - 4 - 0x1001.
        apply(&mut code, 1, RelocKind::Plt32, 0x1001, 0x2000, -4).unwrap();
        assert_eq!(
            read_field(&code, 1, RelocKind::Plt32).unwrap(),
            0x2000 - 4 - 0x1001
        );
        // Exactly i32::MAX and i32::MIN fit; one more does not.
        let site = 0x1_0000_0000u64;
        let max_target = site + i32::MAX as u64 + 4;
        assert!(fits(RelocKind::Pc32, site, max_target, -4));
        assert!(!fits(RelocKind::Pc32, site, max_target + 1, -4));
        let min_target = site + 4 - (1u64 << 31);
        assert!(fits(RelocKind::Pc32, site, min_target, -4));
        assert!(!fits(RelocKind::Pc32, site, min_target - 1, -4));
        let err = apply(&mut code, 0, RelocKind::Pc32, site, max_target + 1, -4).unwrap_err();
        assert!(matches!(err, RelocError::Overflow { .. }));
        assert!(err.to_string().contains("out of reach"), "{err}");
    }

    #[test]
    fn overflow_writes_nothing() {
        let mut code = [0xaau8; 4];
        assert!(apply(&mut code, 0, RelocKind::Pc32, 0, u64::MAX / 2, 0).is_err());
        assert_eq!(code, [0xaa; 4]);
    }

    #[test]
    fn abs_kinds() {
        let mut code = [0u8; 16];
        apply(&mut code, 3, RelocKind::Abs64, 0, 0xdead_beef_0000, 0x10).unwrap();
        assert_eq!(
            read_field(&code, 3, RelocKind::Abs64).unwrap(),
            0xdead_beef_0010
        );
        // Abs64 wraps like the hardware would for a negative result.
        apply(&mut code, 0, RelocKind::Abs64, 0, 0, -1).unwrap();
        assert_eq!(read_field(&code, 0, RelocKind::Abs64).unwrap(), -1);
        // Abs32: zero-extended, so up to u32::MAX and no negative values.
        assert!(fits(RelocKind::Abs32, 0, 0xffff_ffff, 0));
        assert!(!fits(RelocKind::Abs32, 0, 0x1_0000_0000, 0));
        assert!(!fits(RelocKind::Abs32, 0, 0, -1));
        // Abs32S: sign-extended.
        assert!(fits(RelocKind::Abs32S, 0, 0x7fff_ffff, 0));
        assert!(!fits(RelocKind::Abs32S, 0, 0x8000_0000, 0));
        assert!(fits(RelocKind::Abs32S, 0, 0, -0x8000_0000));
        apply(&mut code, 8, RelocKind::Abs32S, 0, 0x10, -0x20).unwrap();
        assert_eq!(read_field(&code, 8, RelocKind::Abs32S).unwrap(), -0x10);
        let err = compute(RelocKind::Abs32, 0x40, 0x1_0000_0000, 0).unwrap_err();
        assert!(err.to_string().contains("does not fit in 32 bits"), "{err}");
    }

    #[test]
    fn pc64() {
        let mut code = [0u8; 8];
        apply(&mut code, 0, RelocKind::Pc64, 0x7fff_0000_0000, 0x1000, 0).unwrap();
        assert_eq!(
            read_field(&code, 0, RelocKind::Pc64).unwrap(),
            0x1000 - 0x7fff_0000_0000i64
        );
    }

    #[test]
    fn bounds() {
        let mut code = [0u8; 6];
        assert!(apply(&mut code, 2, RelocKind::Pc32, 0, 0, 0).is_ok());
        let err = apply(&mut code, 3, RelocKind::Pc32, 0, 0, 0).unwrap_err();
        assert_eq!(
            err,
            RelocError::OutOfBounds {
                kind: RelocKind::Pc32,
                offset: 3,
                len: 6
            }
        );
        assert!(apply(&mut code, usize::MAX, RelocKind::Abs64, 0, 0, 0).is_err());
        assert!(read_field(&code, usize::MAX - 1, RelocKind::Pc32).is_err());
        assert!(!write_u64(&mut code, 0, 1));
        let mut slot = [0u8; 9];
        assert!(write_u64(&mut slot, 1, 0x0102_0304_0506_0708));
        assert_eq!(slot[1], 8);
        assert!(!write_u64(&mut slot, usize::MAX, 0));
    }

    #[test]
    fn psabi_relaxable_instructions() {
        let ok = |op: u8, modrm: u8| allows_relaxable_got(&[0x48, op, modrm, 0, 0, 0, 0], 3);
        // mov, test and the binops with a RIP-relative operand, any register.
        for op in [0x8b, 0x85, 0x03, 0x0b, 0x13, 0x1b, 0x23, 0x2b, 0x33, 0x3b] {
            assert!(ok(op, 0x05) && ok(op, 0x3d), "{op:#x}");
            assert!(!ok(op, 0x04) && !ok(op, 0x45), "{op:#x}");
        }
        // call and jmp through the slot.
        assert!(ok(0xff, 0x15) && ok(0xff, 0x25));
        assert!(!ok(0xff, 0x35)); // push
                                  // lea and addr32 call: relaxed forms, never allowed.
        assert!(!ok(0x8d, 0x05) && !ok(0x67, 0xe8));
        assert!(!ok(0x00, 0x00) && !ok(0xc7, 0x05));
        assert!(!allows_relaxable_got(&[0x8b, 0x05], 2 + 1));
        assert!(!allows_relaxable_got(&[0x8b], 1));
    }

    #[test]
    fn relaxation_forms() {
        // mov rax, [rip+0]  => 48 8b 05 00 00 00 00
        let mut mov = [0x48, 0x8b, 0x05, 0, 0, 0, 0];
        assert_eq!(got_form(&mov, 3), GotForm::MovLoad);
        assert!(set_got_form(&mut mov, 3, true));
        assert_eq!(mov[..3], [0x48, 0x8d, 0x05]);
        assert_eq!(got_form(&mov, 3), GotForm::Lea);
        assert!(set_got_form(&mut mov, 3, false));
        assert_eq!(mov[..3], [0x48, 0x8b, 0x05]);
        // mov with a non-RIP-relative operand is not relaxable.
        let mut other = [0x48, 0x8b, 0x04, 0, 0, 0, 0];
        assert_eq!(got_form(&other, 3), GotForm::Other);
        assert!(!set_got_form(&mut other, 3, true));
        // call [rip+0] => ff 15 00 00 00 00
        let mut call = [0xff, 0x15, 0, 0, 0, 0];
        assert_eq!(got_form(&call, 2), GotForm::CallIndirect);
        assert!(set_got_form(&mut call, 2, true));
        assert_eq!(call[..2], [0x67, 0xe8]);
        assert!(got_form(&call, 2).is_relaxed());
        assert!(set_got_form(&mut call, 2, false));
        assert_eq!(call[..2], [0xff, 0x15]);
        // jmp [rip+0] => ff 25: not switchable.
        assert_eq!(got_form(&[0xff, 0x25, 0, 0, 0, 0], 2), GotForm::Other);
        // Too close to the start.
        assert!(!allows_relaxable_got(&call, 1));
        assert_eq!(got_form(&call, 1), GotForm::Other);
        assert_eq!(got_form(&call, 0), GotForm::Other);
        assert_eq!(got_form(&call, 100), GotForm::Other);
    }
}

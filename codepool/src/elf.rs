//! Loading ELF64 x86-64 relocatable objects (`ET_REL`).
//!
//! [`load`] takes the bytes of an object file (from LLVM via
//! [`crate::jit`], from `cc -c`, ...) and produces a [`LoadedObject`]: one
//! contiguous image of the sections the code needs, the defined global
//! symbols, and the relocations, with every symbol already resolved to an
//! offset in the image or to an external name.
//!
//! # Validation
//!
//! Everything is checked before anything is copied, and malformed input is a
//! [`LoadError`], never a panic: the header (ELF64, little-endian, x86-64,
//! relocatable), every section's file range (in bounds, no two overlapping,
//! nor overlapping the ELF header or the section header table), alignments
//! (powers of two up to [`MAX_ALIGN`]), every symbol used (valid index,
//! section and value inside that section), every relocation (supported kind,
//! field inside its section, no two fields sharing bytes, a symbol that can
//! be resolved). A relaxable GOT relocation (`R_X86_64_GOTPCRELX`,
//! `R_X86_64_REX_GOTPCRELX`) in code must be on an instruction the psABI
//! allows it on (a `mov`, `test`, binop, `call` or `jmp` reading the GOT
//! slot: never a `lea` or an `addr32 call`, which relinking would take for
//! an already relaxed one), and the two instruction bytes before its field,
//! which relinking reads and rewrites, must not lie in another relocation's
//! field.
//!
//! # Which sections are loaded
//!
//! A code object is immutable once published (it lives in read+execute
//! memory), so only sections that are read-only at run time are loaded:
//!
//! - executable sections (`.text*`), first, in file order;
//! - read-only data (`.rodata*`, including merged constants and strings),
//!   and `.data.rel.ro*`, which is writable in ELF only so that a dynamic
//!   linker can relocate it; its absolute pointers become sidecar entries;
//! - read-only zero-filled sections, if any.
//!
//! Skipped without error: empty sections, sections not allocated at run
//! time (symbols, strings, debug information, `.comment`, ...) and notes
//! (`.note.*`); relocations inside skipped sections are ignored.
//!
//! The unwind table (`.eh_frame`) is not part of the image: it is kept
//! beside it ([`LoadedObject::eh_frame`]), its bytes as in the file and its
//! relocations resolved like the image's, for [`crate::unwind`], which
//! registers a copy with the unwinder outside the moving code object.
//!
//! Rejected with an error: non-empty writable data (`.data*`, `.bss*`):
//! mutable state of JIT code belongs in the collected heap, reached through
//! a heap target, not in code memory; thread-local sections; constructor
//! tables (`.init_array`, ...); compressed or unknown allocated sections.
//! Compile C with `-fno-common` (the default since GCC 10) and without
//! writable globals.
//!
//! Symbols defined in the object are resolved inside it, whatever their
//! binding: a relocation naming one has a [`RelocTarget::Local`] target (the
//! symbol's offset in the image). When it names a global or weak symbol of
//! the object, [`Relocation::symbol`] says which, and
//! [`DefinedSymbol::preemptible`] whether ELF would let another definition
//! preempt it (default visibility), so that [`mod@crate::layout`] can bind
//! such references by name instead ([`crate::layout::LayoutOptions`]),
//! as a dynamic linker binds calls to a shared library's own default-
//! visibility functions. Assemblers keep a relocation against a global
//! symbol even for a call in the same section, because it may be
//! preempted; references to local symbols (and to LLVM's `.Lf$local`
//! aliases of `dso_local` functions in position-independent code) are
//! resolved by the assembler and reach the loader as plain bytes.

use std::collections::HashMap;
use std::fmt;

use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{LittleEndian, SectionIndex, SymbolIndex};

use crate::reloc::{self, elf_reloc_name, RelocKind};

type Elf = elf::FileHeader64<LittleEndian>;

/// Largest section alignment accepted (one page).
pub const MAX_ALIGN: u64 = 4096;

/// Largest image accepted: 1 GiB, so that every displacement inside it fits
/// in 32 bits with room to spare.
pub const MAX_IMAGE: u64 = 1 << 30;

/// Section type of x86-64 unwind tables (`.eh_frame` as emitted by LLVM).
const SHT_X86_64_UNWIND: u32 = 0x7000_0001;

/// Why an object file could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The file's structure is invalid (message from the ELF parser).
    Malformed(String),
    /// The file is not for x86-64.
    WrongMachine {
        /// The `e_machine` field.
        machine: u16,
    },
    /// The file is not a relocatable object.
    NotRelocatable {
        /// The `e_type` field.
        e_type: u16,
    },
    /// A section's contents lie outside the file.
    SectionOutOfBounds {
        /// Section name.
        section: String,
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
        /// Length of the file.
        file_len: usize,
    },
    /// Two sections (or a section and the ELF header or section header
    /// table) share bytes of the file.
    OverlappingSections {
        /// The region that starts first.
        first: String,
        /// The region that starts inside it.
        second: String,
    },
    /// A section's alignment is not a power of two or exceeds [`MAX_ALIGN`].
    BadAlignment {
        /// Section name.
        section: String,
        /// `sh_addralign`.
        align: u64,
    },
    /// A section of a kind the code pool cannot hold.
    UnsupportedSection {
        /// Section name.
        section: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A non-empty writable data section (`.data`, `.bss`, ...).
    WritableSection {
        /// Section name.
        section: String,
    },
    /// The loaded sections exceed [`MAX_IMAGE`].
    TooLarge {
        /// Size the image would have.
        size: u64,
    },
    /// A symbol table entry is invalid.
    BadSymbol {
        /// Index of the symbol.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two exported symbols have the same name.
    DuplicateSymbol {
        /// The name.
        name: String,
    },
    /// A relocation section is invalid.
    BadRelocationSection {
        /// Name of the relocation section.
        section: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A relocation of a kind the code pool does not support.
    UnsupportedRelocation {
        /// ELF name of the kind (`"R_X86_64_TPOFF32"`).
        name: &'static str,
        /// `r_type`.
        r_type: u32,
        /// Section the relocation applies to.
        section: String,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation's field does not lie inside its section.
    RelocationOutOfBounds {
        /// Section the relocation applies to.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// The relocation kind.
        kind: RelocKind,
    },
    /// Two relocations write to the same bytes.
    OverlappingRelocations {
        /// Section the relocations apply to.
        section: String,
        /// Offset of the first.
        first: u64,
        /// Offset of the second.
        second: u64,
    },
    /// The instruction bytes of a relaxable GOT relocation
    /// (`R_X86_64_GOTPCRELX`, `R_X86_64_REX_GOTPCRELX`) in code: the opcode
    /// and ModRM just before its field, which relinking reads and rewrites,
    /// lie inside another relocation's field.
    InstructionOverlapsRelocation {
        /// Section the relocations apply to.
        section: String,
        /// The relaxable relocation's kind.
        kind: RelocKind,
        /// Offset of the relaxable relocation's field (its instruction bytes
        /// are the two before it).
        offset: u64,
        /// Offset of the other relocation's field.
        other: u64,
    },
    /// A relaxable GOT relocation in code on an instruction the psABI does
    /// not allow it on (see [`crate::reloc::allows_relaxable_got`]): a
    /// `lea` or an `addr32 call`, say, which relinking would take for an
    /// already relaxed `mov` or `call`.
    UnsupportedRelaxableInstruction {
        /// Section the relocation applies to.
        section: String,
        /// The relocation kind.
        kind: RelocKind,
        /// `r_offset`.
        offset: u64,
        /// The two bytes before the field (opcode and ModRM), or `None` when
        /// the field starts less than two bytes into its section.
        bytes: Option<[u8; 2]>,
    },
    /// A relocation names a symbol index outside the symbol table.
    BadSymbolIndex {
        /// Section the relocation applies to.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// The symbol index.
        index: u32,
    },
    /// A relocation refers to something that cannot be linked: no symbol, an
    /// absolute, common or thread-local symbol, or a section that is not
    /// loaded.
    UnsupportedTarget {
        /// Section the relocation applies to.
        section: String,
        /// `r_offset`.
        offset: u64,
        /// Name of the symbol (or section) referred to.
        symbol: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed(msg) => write!(f, "malformed ELF object: {msg}"),
            LoadError::WrongMachine { machine } => write!(
                f,
                "ELF object is for machine {machine}, not x86-64 ({})",
                elf::EM_X86_64
            ),
            LoadError::NotRelocatable { e_type } => write!(
                f,
                "ELF object has type {e_type}, not a relocatable object (ET_REL)"
            ),
            LoadError::SectionOutOfBounds {
                section,
                offset,
                size,
                file_len,
            } => write!(
                f,
                "section {section} ({size:#x} bytes at file offset {offset:#x}) extends past \
                 the end of the {file_len}-byte file"
            ),
            LoadError::OverlappingSections { first, second } => {
                write!(f, "sections {first} and {second} overlap in the file")
            }
            LoadError::BadAlignment { section, align } => write!(
                f,
                "section {section} has alignment {align}, not a power of two up to {MAX_ALIGN}"
            ),
            LoadError::UnsupportedSection { section, reason } => {
                write!(f, "unsupported section {section}: {reason}")
            }
            LoadError::WritableSection { section } => write!(
                f,
                "section {section} is writable data; code objects are read-only once \
                 published (keep mutable state in the heap)"
            ),
            LoadError::TooLarge { size } => write!(
                f,
                "loaded sections take {size} bytes, more than the {MAX_IMAGE}-byte limit"
            ),
            LoadError::BadSymbol { index, reason } => write!(f, "symbol #{index}: {reason}"),
            LoadError::DuplicateSymbol { name } => {
                write!(f, "symbol {name} is defined twice")
            }
            LoadError::BadRelocationSection { section, reason } => {
                write!(f, "relocation section {section}: {reason}")
            }
            LoadError::UnsupportedRelocation {
                name,
                r_type,
                section,
                offset,
            } => {
                if *name == "R_X86_64_?" {
                    write!(
                        f,
                        "unsupported relocation type {r_type} at {section}+{offset:#x}"
                    )
                } else {
                    write!(f, "unsupported relocation {name} at {section}+{offset:#x}")
                }
            }
            LoadError::RelocationOutOfBounds {
                section,
                offset,
                kind,
            } => write!(
                f,
                "relocation {kind} at {section}+{offset:#x} extends past the end of the section"
            ),
            LoadError::OverlappingRelocations {
                section,
                first,
                second,
            } => write!(
                f,
                "relocations at {section}+{first:#x} and {section}+{second:#x} overlap"
            ),
            LoadError::InstructionOverlapsRelocation {
                section,
                kind,
                offset,
                other,
            } => write!(
                f,
                "the instruction bytes of {kind} at {section}+{offset:#x} \
                 ({section}+{:#x}..{offset:#x}) overlap the relocation at {section}+{other:#x}",
                offset.saturating_sub(2)
            ),
            LoadError::UnsupportedRelaxableInstruction {
                section,
                kind,
                offset,
                bytes,
            } => {
                write!(f, "{kind} at {section}+{offset:#x} is ")?;
                match bytes {
                    Some([op, modrm]) => write!(f, "on an instruction {op:02x} {modrm:02x}")?,
                    None => write!(f, "at the start of its section")?,
                }
                write!(
                    f,
                    ", not a mov, test, binop, call or jmp through the GOT (the only \
                     instructions the psABI allows it on)"
                )
            }
            LoadError::BadSymbolIndex {
                section,
                offset,
                index,
            } => write!(
                f,
                "relocation at {section}+{offset:#x} refers to symbol #{index}, which does \
                 not exist"
            ),
            LoadError::UnsupportedTarget {
                section,
                offset,
                symbol,
                reason,
            } => write!(
                f,
                "relocation at {section}+{offset:#x} refers to {symbol}: {reason}"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<object::read::Error> for LoadError {
    fn from(e: object::read::Error) -> LoadError {
        LoadError::Malformed(e.to_string())
    }
}

/// What a loaded section holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Machine code.
    Text,
    /// Read-only data (`.rodata*`, `.data.rel.ro*`).
    ReadOnly,
    /// Read-only zero-filled data.
    ZeroFill,
}

/// A section copied into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedSection {
    /// Section name.
    pub name: String,
    /// What it holds.
    pub kind: SectionKind,
    /// Offset of the section in the image.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Alignment in bytes (a power of two).
    pub align: u32,
}

/// Whether an exported symbol is a function or data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    /// `STT_FUNC`.
    Function,
    /// `STT_OBJECT`.
    Data,
}

/// A global (or weak) symbol defined in a loaded section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinedSymbol {
    /// The symbol's name.
    pub name: String,
    /// Offset in the image.
    pub offset: u32,
    /// `st_size`.
    pub size: u32,
    /// Function or data.
    pub kind: SymbolKind,
    /// Global or weak binding with default visibility (`STV_DEFAULT`): in
    /// ELF another definition may preempt (interpose) it, as a shared
    /// library's calls to its own exported functions go through the PLT.
    /// Hidden, protected and internal symbols are not preemptible.
    pub preemptible: bool,
}

/// What a relocation refers to, once symbols are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelocTarget {
    /// A place in the image (a symbol or section defined in the object): its
    /// offset in the image.
    Local(u32),
    /// An undefined symbol: index into [`LoadedObject::externals`].
    External(u32),
}

/// One relocation of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// Offset of the field in the image.
    pub offset: u32,
    /// Offset of the field from the start of its section (for messages and
    /// instruction decoding that must not cross sections).
    pub section_offset: u32,
    /// Index of the section in [`LoadedObject::sections`].
    pub section: u32,
    /// The kind.
    pub kind: RelocKind,
    /// The addend.
    pub addend: i64,
    /// What it refers to.
    pub target: RelocTarget,
    /// When the relocation names a global or weak symbol defined in the
    /// object (not a section or local symbol): its index in
    /// [`LoadedObject::symbols`]. The target is still
    /// [`RelocTarget::Local`], that symbol's offset.
    pub symbol: Option<u32>,
}

/// An ELF relocatable object, loaded: the image of its sections, its
/// exported symbols and its relocations, all validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedObject {
    image: Vec<u8>,
    align: u32,
    sections: Vec<LoadedSection>,
    symbols: Vec<DefinedSymbol>,
    externals: Vec<String>,
    relocations: Vec<Relocation>,
    eh_frame: Option<EhFrame>,
}

/// The unwind table of an object (`.eh_frame`), outside the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EhFrame {
    /// The section's bytes, relocation fields as in the file.
    pub bytes: Vec<u8>,
    /// Its relocations, sorted by offset; `offset` and `section_offset` are
    /// both offsets in [`bytes`](Self::bytes), `section` is `u32::MAX`.
    /// Targets are image offsets (the code the FDEs describe) or externals
    /// (a personality routine: [`RelocTarget::External`] indexes
    /// [`externals`](Self::externals)).
    pub relocations: Vec<Relocation>,
    /// Names of the undefined symbols the table refers to.
    pub externals: Vec<String>,
}

impl LoadedObject {
    /// The object's unwind table, if it has a non-empty `.eh_frame`.
    pub fn eh_frame(&self) -> Option<&EhFrame> {
        self.eh_frame.as_ref()
    }

    /// The loaded sections laid out contiguously, relocation fields as in the
    /// file (not yet applied).
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// Alignment the image's base needs: the largest section alignment.
    pub fn align(&self) -> u32 {
        self.align
    }

    /// The sections in the image, in image order.
    pub fn sections(&self) -> &[LoadedSection] {
        &self.sections
    }

    /// Every global or weak function and data symbol defined in a loaded
    /// section, in symbol table order.
    pub fn symbols(&self) -> &[DefinedSymbol] {
        &self.symbols
    }

    /// The defined global functions.
    pub fn functions(&self) -> impl Iterator<Item = &DefinedSymbol> + '_ {
        self.symbols
            .iter()
            .filter(|s| s.kind == SymbolKind::Function)
    }

    /// The image offset of the defined global symbol `name`.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.offset)
    }

    /// Names of the undefined symbols that relocations refer to, in order of
    /// first use; [`RelocTarget::External`] indexes this list.
    pub fn externals(&self) -> &[String] {
        &self.externals
    }

    /// The relocations, sorted by image offset.
    pub fn relocations(&self) -> &[Relocation] {
        &self.relocations
    }

    /// The name of a section by index, for messages.
    pub fn section_name(&self, index: u32) -> &str {
        self.sections
            .get(index as usize)
            .map_or("?", |s| s.name.as_str())
    }
}

/// How a section of the file is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disposition {
    Load(SectionKind),
    Skip,
}

fn section_disposition(
    name: &str,
    header: &elf::SectionHeader64<LittleEndian>,
) -> Result<Disposition, LoadError> {
    let e = LittleEndian;
    let sh_type = header.sh_type(e);
    let flags = header.sh_flags(e);
    let unsupported = |reason| {
        Err(LoadError::UnsupportedSection {
            section: name.to_owned(),
            reason,
        })
    };
    if flags & u64::from(elf::SHF_ALLOC) == 0 || header.sh_size(e) == 0 {
        return Ok(Disposition::Skip);
    }
    if sh_type == elf::SHT_NOTE || sh_type == SHT_X86_64_UNWIND || name == ".eh_frame" {
        return Ok(Disposition::Skip);
    }
    if flags & u64::from(elf::SHF_TLS) != 0 {
        return unsupported("thread-local storage");
    }
    if flags & u64::from(elf::SHF_COMPRESSED) != 0 {
        return unsupported("compressed allocated section");
    }
    match sh_type {
        elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY => {
            unsupported("constructor or destructor table")
        }
        elf::SHT_PROGBITS | elf::SHT_NOBITS => {
            let writable = flags & u64::from(elf::SHF_WRITE) != 0;
            let relro = name == ".data.rel.ro" || name.starts_with(".data.rel.ro.");
            if writable && !relro {
                return Err(LoadError::WritableSection {
                    section: name.to_owned(),
                });
            }
            if sh_type == elf::SHT_NOBITS {
                Ok(Disposition::Load(SectionKind::ZeroFill))
            } else if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
                Ok(Disposition::Load(SectionKind::Text))
            } else {
                Ok(Disposition::Load(SectionKind::ReadOnly))
            }
        }
        _ => unsupported("allocated section of an unknown type"),
    }
}

/// The field of `rela`, a relocation of section `section` of `size`
/// bytes: its offset and kind, checked to be supported and inside the
/// section; `None` for `R_X86_64_NONE`.
fn rela_field(
    rela: &elf::Rela64<LittleEndian>,
    section: &str,
    size: u64,
) -> Result<Option<(u64, RelocKind)>, LoadError> {
    let e = LittleEndian;
    let offset = rela.r_offset(e);
    let r_type = rela.r_type(e, false);
    if r_type == elf::R_X86_64_NONE {
        return Ok(None);
    }
    let kind = RelocKind::from_elf(r_type).ok_or_else(|| LoadError::UnsupportedRelocation {
        name: elf_reloc_name(r_type),
        r_type,
        section: section.to_owned(),
        offset,
    })?;
    if offset
        .checked_add(kind.width() as u64)
        .map_or(true, |end| end > size)
    {
        return Err(LoadError::RelocationOutOfBounds {
            section: section.to_owned(),
            offset,
            kind,
        });
    }
    Ok(Some((offset, kind)))
}

/// Where a symbol lives, as far as relocations care.
enum Place {
    Loaded(u32),
    Undefined,
    Unloaded(usize),
    Unsupported(&'static str),
}

struct Loader<'a> {
    data: &'a [u8],
    sections: SectionTable<'a, Elf>,
    names: Vec<String>,
    /// ELF section index -> (index in `loaded`, image offset).
    placed: Vec<Option<(u32, u32)>>,
    loaded: Vec<LoadedSection>,
    symbols: SymbolTable<'a, Elf>,
}

fn align_up(value: u64, align: u64) -> u64 {
    // `align` is a power of two no larger than MAX_ALIGN and `value` is
    // bounded by MAX_IMAGE, so this cannot overflow.
    (value + align - 1) & !(align - 1)
}

/// Loads an ELF64 x86-64 relocatable object. See the module documentation
/// for what is loaded and what is checked.
pub fn load(data: &[u8]) -> Result<LoadedObject, LoadError> {
    let e = LittleEndian;
    let header = Elf::parse(data)?;
    if !header.is_little_endian() {
        return Err(LoadError::Malformed("big-endian ELF object".into()));
    }
    if header.e_machine(e) != elf::EM_X86_64 {
        return Err(LoadError::WrongMachine {
            machine: header.e_machine(e),
        });
    }
    if header.e_type(e) != elf::ET_REL {
        return Err(LoadError::NotRelocatable {
            e_type: header.e_type(e),
        });
    }
    let sections = header.sections(e, data)?;
    let mut names = Vec::with_capacity(sections.len());
    for (_, section) in sections.enumerate() {
        let name = sections.section_name(e, section)?;
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    check_file_ranges(data, header, &sections, &names)?;

    // Decide every section's fate and lay the loaded ones out.
    let mut dispositions = Vec::with_capacity(sections.len());
    for (index, section) in sections.enumerate() {
        let disposition = if index.0 == 0 {
            Disposition::Skip
        } else {
            section_disposition(&names[index.0], section)?
        };
        dispositions.push(disposition);
    }
    let mut placed = vec![None; sections.len()];
    let mut loaded = Vec::new();
    let mut size: u64 = 0;
    let mut max_align: u64 = 1;
    for pass in [
        SectionKind::Text,
        SectionKind::ReadOnly,
        SectionKind::ZeroFill,
    ] {
        for (index, section) in sections.enumerate() {
            if dispositions[index.0] != Disposition::Load(pass) {
                continue;
            }
            let name = &names[index.0];
            let align = match section.sh_addralign(e) {
                0 => 1,
                a if a.is_power_of_two() && a <= MAX_ALIGN => a,
                a => {
                    return Err(LoadError::BadAlignment {
                        section: name.clone(),
                        align: a,
                    })
                }
            };
            let sh_size = section.sh_size(e);
            let offset = align_up(size, align);
            let end = offset
                .checked_add(sh_size)
                .filter(|&end| end <= MAX_IMAGE)
                .ok_or(LoadError::TooLarge {
                    size: offset.saturating_add(sh_size),
                })?;
            // Both fit in u32: bounded by MAX_IMAGE.
            placed[index.0] = Some((loaded.len() as u32, offset as u32));
            loaded.push(LoadedSection {
                name: name.clone(),
                kind: pass,
                offset: offset as u32,
                size: sh_size as u32,
                align: align as u32,
            });
            size = end;
            max_align = max_align.max(align);
        }
    }

    let symbols = find_symbol_table(data, &sections)?;
    let loader = Loader {
        data,
        sections,
        names,
        placed,
        loaded,
        symbols,
    };
    let (exported, exported_index) = loader.exported_symbols()?;
    let (relocations, externals) = loader.relocations(&exported_index)?;
    let eh_frame = loader.eh_frame()?;

    // Everything is validated: build the image.
    let mut image = vec![0u8; size as usize];
    // Padding after code is int3, as assemblers do.
    let mut text_end = None;
    for section in &loader.loaded {
        let start = section.offset as usize;
        if let Some(end) = text_end.take() {
            image[end..start].fill(0xcc);
        }
        if section.kind == SectionKind::Text {
            text_end = Some(start + section.size as usize);
        }
    }
    for (index, header) in loader.sections.enumerate() {
        let Some((i, offset)) = loader.placed[index.0] else {
            continue;
        };
        if loader.loaded[i as usize].kind == SectionKind::ZeroFill {
            continue;
        }
        let bytes = header.data(e, data)?;
        let start = offset as usize;
        image[start..start + bytes.len()].copy_from_slice(bytes);
    }

    Ok(LoadedObject {
        image,
        align: max_align as u32,
        sections: loader.loaded,
        symbols: exported,
        externals,
        relocations,
        eh_frame,
    })
}

/// Checks that every section's file range lies in the file and that no two
/// ranges (nor the ELF header and the section header table) overlap.
fn check_file_ranges(
    data: &[u8],
    header: &Elf,
    sections: &SectionTable<'_, Elf>,
    names: &[String],
) -> Result<(), LoadError> {
    let e = LittleEndian;
    let mut ranges: Vec<(u64, u64, String)> = Vec::with_capacity(sections.len() + 2);
    ranges.push((0, std::mem::size_of::<Elf>() as u64, "<ELF header>".into()));
    if !sections.is_empty() {
        let table_size =
            (sections.len() * std::mem::size_of::<elf::SectionHeader64<LittleEndian>>()) as u64;
        ranges.push((header.e_shoff(e), table_size, "<section headers>".into()));
    }
    for (index, section) in sections.enumerate() {
        if index.0 == 0 || section.sh_type(e) == elf::SHT_NULL {
            continue;
        }
        let Some((offset, size)) = section.file_range(e) else {
            continue;
        };
        let name = &names[index.0];
        match offset.checked_add(size) {
            Some(end) if end <= data.len() as u64 => {}
            _ => {
                return Err(LoadError::SectionOutOfBounds {
                    section: name.clone(),
                    offset,
                    size,
                    file_len: data.len(),
                })
            }
        }
        if size > 0 {
            ranges.push((offset, size, name.clone()));
        }
    }
    ranges.sort_by_key(|r| r.0);
    for pair in ranges.windows(2) {
        let (start, size, ref first) = pair[0];
        // In bounds (checked above, or by the parser for the headers).
        if start.saturating_add(size) > pair[1].0 {
            return Err(LoadError::OverlappingSections {
                first: first.clone(),
                second: pair[1].2.clone(),
            });
        }
    }
    Ok(())
}

fn find_symbol_table<'a>(
    data: &'a [u8],
    sections: &SectionTable<'a, Elf>,
) -> Result<SymbolTable<'a, Elf>, LoadError> {
    let e = LittleEndian;
    let mut found = None;
    for (index, section) in sections.enumerate() {
        if section.sh_type(e) == elf::SHT_SYMTAB {
            if found.is_some() {
                return Err(LoadError::Malformed("more than one symbol table".into()));
            }
            found = Some((index, section));
        }
    }
    match found {
        None => Ok(SymbolTable::default()),
        Some((index, section)) => Ok(SymbolTable::parse(e, data, sections, index, section)?),
    }
}

impl Loader<'_> {
    fn symbol_name(
        &self,
        sym: &elf::Sym64<LittleEndian>,
        index: usize,
    ) -> Result<String, LoadError> {
        let bytes =
            self.symbols
                .symbol_name(LittleEndian, sym)
                .map_err(|e| LoadError::BadSymbol {
                    index,
                    reason: e.to_string(),
                })?;
        String::from_utf8(bytes.to_vec()).map_err(|_| LoadError::BadSymbol {
            index,
            reason: "name is not valid UTF-8".into(),
        })
    }

    /// Where symbol `index` lives; errors for entries that are malformed
    /// whatever they are used for.
    fn place(&self, index: usize) -> Result<Place, LoadError> {
        let e = LittleEndian;
        let bad = |reason: String| LoadError::BadSymbol { index, reason };
        let sym = self
            .symbols
            .symbol(SymbolIndex(index))
            .map_err(|err| bad(err.to_string()))?;
        match sym.st_type() {
            elf::STT_TLS => return Ok(Place::Unsupported("thread-local symbol")),
            elf::STT_GNU_IFUNC => return Ok(Place::Unsupported("indirect function (ifunc)")),
            elf::STT_COMMON => {
                return Ok(Place::Unsupported(
                    "common symbol (compile with -fno-common)",
                ))
            }
            _ => {}
        }
        match sym.st_shndx(e) {
            elf::SHN_UNDEF => return Ok(Place::Undefined),
            elf::SHN_ABS => return Ok(Place::Unsupported("absolute symbol")),
            elf::SHN_COMMON => {
                return Ok(Place::Unsupported(
                    "common symbol (compile with -fno-common)",
                ))
            }
            _ => {}
        }
        let section = self
            .symbols
            .symbol_section(e, sym, SymbolIndex(index))
            .map_err(|err| bad(err.to_string()))?;
        let Some(SectionIndex(section)) = section else {
            return Ok(Place::Unsupported("symbol in a reserved section index"));
        };
        if section >= self.sections.len() {
            return Err(bad(format!("section index {section} does not exist")));
        }
        let Some((loaded, base)) = self.placed[section] else {
            return Ok(Place::Unloaded(section));
        };
        let size = u64::from(self.loaded[loaded as usize].size);
        let value = sym.st_value(e);
        let end = value.checked_add(sym.st_size(e));
        if value > size || end.map_or(true, |end| end > size) {
            return Err(bad(format!(
                "value {value:#x} (size {:#x}) lies outside section {} ({size:#x} bytes)",
                sym.st_size(e),
                self.names[section]
            )));
        }
        // value <= size <= MAX_IMAGE, so this fits in u32.
        Ok(Place::Loaded(base + value as u32))
    }

    /// The global and weak symbols defined in loaded sections, and a map
    /// from their symbol table indices to their indices in that list.
    fn exported_symbols(&self) -> Result<(Vec<DefinedSymbol>, HashMap<usize, u32>), LoadError> {
        let mut out = Vec::new();
        let mut index_of = HashMap::new();
        let mut seen = HashMap::new();
        for (SymbolIndex(index), sym) in self.symbols.enumerate() {
            if index == 0 {
                continue;
            }
            let bind = sym.st_bind();
            if bind != elf::STB_GLOBAL && bind != elf::STB_WEAK && bind != elf::STB_GNU_UNIQUE {
                continue;
            }
            let kind = match sym.st_type() {
                elf::STT_FUNC => SymbolKind::Function,
                elf::STT_OBJECT => SymbolKind::Data,
                _ => continue,
            };
            let Place::Loaded(offset) = self.place(index)? else {
                continue;
            };
            let name = self.symbol_name(sym, index)?;
            if name.is_empty() {
                continue;
            }
            if seen.insert(name.clone(), ()).is_some() {
                return Err(LoadError::DuplicateSymbol { name });
            }
            // At most one entry per symbol table entry: fits in u32.
            index_of.insert(index, out.len() as u32);
            out.push(DefinedSymbol {
                name,
                offset,
                // Bounded by the section size (checked in `place`).
                size: sym.st_size(LittleEndian) as u32,
                kind,
                preemptible: bind != elf::STB_LOCAL && sym.st_visibility() == elf::STV_DEFAULT,
            });
        }
        Ok((out, index_of))
    }

    /// The relocations of the loaded sections and the external names they
    /// use; `exported` maps symbol table indices of defined global symbols
    /// to their indices in [`LoadedObject::symbols`].
    fn relocations(
        &self,
        exported: &HashMap<usize, u32>,
    ) -> Result<(Vec<Relocation>, Vec<String>), LoadError> {
        let e = LittleEndian;
        let mut relocations = Vec::new();
        let mut externals: Vec<String> = Vec::new();
        let mut external_index: HashMap<String, u32> = HashMap::new();
        for (SectionIndex(rel_index), rel_section) in self.sections.enumerate() {
            let sh_type = rel_section.sh_type(e);
            if sh_type != elf::SHT_RELA && sh_type != elf::SHT_REL {
                continue;
            }
            let rel_name = &self.names[rel_index];
            let bad = |reason| LoadError::BadRelocationSection {
                section: rel_name.clone(),
                reason,
            };
            let target_index = rel_section.sh_info(e) as usize;
            if target_index == 0 || target_index >= self.sections.len() {
                return Err(bad("it applies to a section that does not exist"));
            }
            let Some((loaded_index, base)) = self.placed[target_index] else {
                // Relocations of skipped sections (debug info, unwind tables)
                // are not needed.
                continue;
            };
            if sh_type == elf::SHT_REL {
                return Err(bad("REL relocations (without addends) are not supported"));
            }
            if rel_section.sh_link(e) as usize != self.symbols.section().0
                || self.symbols.is_empty()
            {
                return Err(bad("it is not linked to the symbol table"));
            }
            let target = &self.loaded[loaded_index as usize];
            if target.kind == SectionKind::ZeroFill {
                return Err(bad("it applies to a section without contents"));
            }
            let section_name = &target.name;
            let size = u64::from(target.size);
            let Some((relas, _)) = rel_section.rela(e, self.data)? else {
                continue;
            };
            for rela in relas {
                let Some((offset, kind)) = rela_field(rela, section_name, size)? else {
                    continue;
                };
                let sym_index = rela.r_sym(e, false);
                let unsupported = |symbol: String, reason| LoadError::UnsupportedTarget {
                    section: section_name.clone(),
                    offset,
                    symbol,
                    reason,
                };
                if sym_index == 0 {
                    return Err(unsupported(
                        "no symbol".into(),
                        "relocation without a symbol",
                    ));
                }
                if sym_index as usize >= self.symbols.len() {
                    return Err(LoadError::BadSymbolIndex {
                        section: section_name.clone(),
                        offset,
                        index: sym_index,
                    });
                }
                let target = match self.place(sym_index as usize)? {
                    Place::Loaded(at) => RelocTarget::Local(at),
                    Place::Undefined => {
                        let sym = self.symbols.symbol(SymbolIndex(sym_index as usize))?;
                        let name = self.symbol_name(sym, sym_index as usize)?;
                        if name.is_empty() {
                            return Err(unsupported(
                                format!("symbol #{sym_index}"),
                                "undefined symbol without a name",
                            ));
                        }
                        let next = externals.len() as u32;
                        let index = *external_index.entry(name.clone()).or_insert_with(|| {
                            externals.push(name);
                            next
                        });
                        RelocTarget::External(index)
                    }
                    Place::Unloaded(section) => {
                        return Err(unsupported(
                            format!("section {}", self.names[section]),
                            "that section is not loaded",
                        ))
                    }
                    Place::Unsupported(reason) => {
                        let sym = self.symbols.symbol(SymbolIndex(sym_index as usize))?;
                        let name = self
                            .symbol_name(sym, sym_index as usize)
                            .unwrap_or_else(|_| format!("symbol #{sym_index}"));
                        return Err(unsupported(name, reason));
                    }
                };
                // offset + width <= size <= MAX_IMAGE: fits in u32.
                relocations.push(Relocation {
                    offset: base + offset as u32,
                    section_offset: offset as u32,
                    section: loaded_index,
                    kind,
                    addend: rela.r_addend(e),
                    target,
                    symbol: match target {
                        RelocTarget::Local(_) => exported.get(&(sym_index as usize)).copied(),
                        RelocTarget::External(_) => None,
                    },
                });
            }
        }
        relocations.sort_by_key(|r| r.offset);
        // Checked over all relocations: two relocation sections may apply to
        // the same section.
        self.check_footprints(&relocations)?;
        self.check_relaxable_instructions(&relocations)?;
        Ok((relocations, externals))
    }

    /// The unwind table: the first allocated, non-empty `.eh_frame` (or
    /// `SHT_X86_64_UNWIND`) section, with its relocations resolved to image
    /// offsets or to names of its own externals.
    fn eh_frame(&self) -> Result<Option<EhFrame>, LoadError> {
        let e = LittleEndian;
        let found = self.sections.enumerate().find(|(i, h)| {
            (h.sh_type(e) == SHT_X86_64_UNWIND || self.names[i.0] == ".eh_frame")
                && h.sh_flags(e) & u64::from(elf::SHF_ALLOC) != 0
                && h.sh_size(e) > 0
                && h.sh_type(e) != elf::SHT_NOBITS
        });
        let Some((SectionIndex(index), header)) = found else {
            return Ok(None);
        };
        let bytes = header.data(e, self.data)?.to_vec();
        let name = self.names[index].clone();
        let mut relocations = Vec::new();
        let mut externals: Vec<String> = Vec::new();
        for (SectionIndex(rel_index), rel_section) in self.sections.enumerate() {
            if rel_section.sh_type(e) != elf::SHT_RELA || rel_section.sh_info(e) as usize != index {
                continue;
            }
            if rel_section.sh_link(e) as usize != self.symbols.section().0
                || self.symbols.is_empty()
            {
                return Err(LoadError::BadRelocationSection {
                    section: self.names[rel_index].clone(),
                    reason: "it is not linked to the symbol table",
                });
            }
            let Some((relas, _)) = rel_section.rela(e, self.data)? else {
                continue;
            };
            for rela in relas {
                let Some((offset, kind)) = rela_field(rela, &name, bytes.len() as u64)? else {
                    continue;
                };
                let sym_index = rela.r_sym(e, false) as usize;
                let unsupported = |symbol: String, reason| LoadError::UnsupportedTarget {
                    section: name.clone(),
                    offset,
                    symbol,
                    reason,
                };
                if sym_index == 0 || sym_index >= self.symbols.len() {
                    return Err(unsupported(
                        format!("symbol #{sym_index}"),
                        "no symbol, or an index outside the symbol table",
                    ));
                }
                let target = match self.place(sym_index)? {
                    Place::Loaded(at) => RelocTarget::Local(at),
                    Place::Undefined => {
                        let sym = self.symbols.symbol(SymbolIndex(sym_index))?;
                        let sym_name = self.symbol_name(sym, sym_index)?;
                        let index = match externals.iter().position(|n| *n == sym_name) {
                            Some(i) => i,
                            None => {
                                externals.push(sym_name);
                                externals.len() - 1
                            }
                        };
                        RelocTarget::External(index as u32)
                    }
                    Place::Unloaded(section) => {
                        return Err(unsupported(
                            format!("section {}", self.names[section]),
                            "that section is not loaded",
                        ))
                    }
                    Place::Unsupported(reason) => {
                        return Err(unsupported(format!("symbol #{sym_index}"), reason))
                    }
                };
                // offset + width <= the section's size, which the file holds.
                relocations.push(Relocation {
                    offset: offset as u32,
                    section_offset: offset as u32,
                    section: u32::MAX,
                    kind,
                    addend: rela.r_addend(e),
                    target,
                    symbol: None,
                });
            }
        }
        relocations.sort_by_key(|r| r.offset);
        Ok(Some(EhFrame {
            bytes,
            relocations,
            externals,
        }))
    }

    /// True when relinking reads and may rewrite the two instruction bytes
    /// before `r`'s field: a relaxable GOT kind in code (the same rule as
    /// [`crate::layout`]; elsewhere these kinds are treated as plain
    /// `R_X86_64_GOTPCREL`). [`Loader::check_relaxable_instructions`] makes
    /// sure such a field starts at least two bytes into its section.
    fn reads_instruction(&self, r: &Relocation) -> bool {
        r.kind.is_relaxable() && self.loaded[r.section as usize].kind == SectionKind::Text
    }

    /// Checks that no two relocations (`relocations`, sorted by offset)
    /// share bytes: neither two fields, nor a field and the instruction
    /// bytes of a relaxable GOT site (which relinking reads to decide the
    /// instruction's form, and rewrites).
    fn check_footprints(&self, relocations: &[Relocation]) -> Result<(), LoadError> {
        // Each relocation's footprint: its field, plus the two bytes before
        // it when relinking reads them. Two footprints overlap exactly when
        // two fields do or an instruction's bytes overlap another field
        // (two instructions' bytes cannot overlap without their fields
        // overlapping). Sorted by start, footprints are disjoint when each
        // ends before the next starts.
        let mut footprints: Vec<(u64, u64, usize)> = relocations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let field = u64::from(r.offset);
                let before = if self.reads_instruction(r) {
                    u64::from(r.section_offset.min(2))
                } else {
                    0
                };
                (field - before, field + r.kind.width() as u64, i)
            })
            .collect();
        footprints.sort_unstable();
        for pair in footprints.windows(2) {
            let ((_, end, i), (start, _, j)) = (pair[0], pair[1]);
            if end <= start {
                continue;
            }
            let (a, b) = (&relocations[i], &relocations[j]);
            let (a, b) = if a.offset <= b.offset { (a, b) } else { (b, a) };
            let section = self.loaded[b.section as usize].name.clone();
            if u64::from(a.offset) + a.kind.width() as u64 > u64::from(b.offset) {
                return Err(LoadError::OverlappingRelocations {
                    section,
                    first: u64::from(a.section_offset),
                    second: u64::from(b.section_offset),
                });
            }
            // The fields are disjoint: `b`'s instruction bytes lie in `a`'s
            // field (`a`'s lie before its own field, so before `b`'s).
            return Err(LoadError::InstructionOverlapsRelocation {
                section,
                kind: b.kind,
                offset: u64::from(b.section_offset),
                other: u64::from(a.section_offset),
            });
        }
        Ok(())
    }

    /// Checks that every relaxable GOT relocation in code is on one of the
    /// instructions the psABI allows it on, as the file has them (no other
    /// relocation writes to those bytes: see [`Loader::check_footprints`]).
    fn check_relaxable_instructions(&self, relocations: &[Relocation]) -> Result<(), LoadError> {
        let e = LittleEndian;
        // Loaded section index -> its bytes in the file.
        let mut contents: Vec<&[u8]> = vec![&[]; self.loaded.len()];
        for (index, header) in self.sections.enumerate() {
            if let Some((i, _)) = self.placed[index.0] {
                if self.loaded[i as usize].kind == SectionKind::Text {
                    contents[i as usize] = header.data(e, self.data)?;
                }
            }
        }
        for r in relocations.iter().filter(|r| self.reads_instruction(r)) {
            let data = contents[r.section as usize];
            let at = r.section_offset as usize;
            if !reloc::allows_relaxable_got(data, at) {
                return Err(LoadError::UnsupportedRelaxableInstruction {
                    section: self.loaded[r.section as usize].name.clone(),
                    kind: r.kind,
                    offset: u64::from(r.section_offset),
                    bytes: at
                        .checked_sub(2)
                        .and_then(|start| data.get(start..at))
                        .and_then(|b| b.try_into().ok()),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny ELF writer for tests: builds relocatable objects with chosen
    /// sections, symbols and relocations, so that every validation path can
    /// be reached with a precisely broken file.
    pub(crate) struct ElfBuilder {
        pub sections: Vec<TestSection>,
        pub symbols: Vec<TestSymbol>,
        pub machine: u16,
        pub e_type: u16,
    }

    #[derive(Clone)]
    pub(crate) struct TestSection {
        pub name: String,
        pub sh_type: u32,
        pub flags: u64,
        pub data: Vec<u8>,
        /// For NOBITS sections.
        pub size: u64,
        pub align: u64,
        /// For RELA sections: the section they apply to (index in `sections`,
        /// plus one for the null section).
        pub info: u32,
        pub relocs: Vec<(u64, u32, u32, i64)>,
    }

    #[derive(Clone)]
    pub(crate) struct TestSymbol {
        pub name: String,
        pub bind: u8,
        pub st_type: u8,
        /// ELF section index (1-based into `sections`), or SHN_*.
        pub shndx: u16,
        pub value: u64,
        pub size: u64,
        /// `st_other`: the visibility (`STV_*`).
        pub other: u8,
    }

    impl TestSection {
        pub(crate) fn text(name: &str, data: Vec<u8>) -> TestSection {
            TestSection {
                name: name.into(),
                sh_type: elf::SHT_PROGBITS,
                flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
                size: data.len() as u64,
                data,
                align: 16,
                info: 0,
                relocs: vec![],
            }
        }

        pub(crate) fn rodata(name: &str, data: Vec<u8>) -> TestSection {
            TestSection {
                flags: u64::from(elf::SHF_ALLOC),
                align: 8,
                ..TestSection::text(name, data)
            }
        }

        /// Relocations (offset, r_type, symbol index, addend) for section
        /// `info` (1-based).
        pub(crate) fn rela(
            name: &str,
            info: u32,
            relocs: Vec<(u64, u32, u32, i64)>,
        ) -> TestSection {
            TestSection {
                name: name.into(),
                sh_type: elf::SHT_RELA,
                flags: u64::from(elf::SHF_INFO_LINK),
                data: vec![],
                size: 0,
                align: 8,
                info,
                relocs,
            }
        }
    }

    impl TestSymbol {
        pub(crate) fn func(name: &str, shndx: u16, value: u64, size: u64) -> TestSymbol {
            TestSymbol {
                name: name.into(),
                bind: elf::STB_GLOBAL,
                st_type: elf::STT_FUNC,
                shndx,
                value,
                size,
                other: elf::STV_DEFAULT,
            }
        }

        pub(crate) fn undef(name: &str) -> TestSymbol {
            TestSymbol {
                name: name.into(),
                bind: elf::STB_GLOBAL,
                st_type: elf::STT_NOTYPE,
                shndx: elf::SHN_UNDEF,
                value: 0,
                size: 0,
                other: elf::STV_DEFAULT,
            }
        }

        pub(crate) fn section(shndx: u16) -> TestSymbol {
            TestSymbol {
                name: String::new(),
                bind: elf::STB_LOCAL,
                st_type: elf::STT_SECTION,
                shndx,
                value: 0,
                size: 0,
                other: elf::STV_DEFAULT,
            }
        }
    }

    fn push_u16(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn push_u32(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn push_u64(v: &mut Vec<u8>, x: u64) {
        v.extend_from_slice(&x.to_le_bytes());
    }

    impl ElfBuilder {
        pub(crate) fn new() -> ElfBuilder {
            ElfBuilder {
                sections: vec![],
                symbols: vec![],
                machine: elf::EM_X86_64,
                e_type: elf::ET_REL,
            }
        }

        /// Writes the file. Layout: ELF header, section contents, .symtab,
        /// .strtab, .shstrtab, section headers. Returns the bytes and the
        /// file offset of each user section's contents.
        pub(crate) fn build_with_offsets(&self) -> (Vec<u8>, Vec<u64>) {
            let n_user = self.sections.len();
            let symtab_index = n_user + 1;
            let strtab_index = n_user + 2;
            let shstrtab_index = n_user + 3;
            let mut strtab = vec![0u8];
            let mut sym_names = vec![];
            for s in &self.symbols {
                if s.name.is_empty() {
                    sym_names.push(0u32);
                } else {
                    sym_names.push(strtab.len() as u32);
                    strtab.extend_from_slice(s.name.as_bytes());
                    strtab.push(0);
                }
            }
            let mut shstrtab = vec![0u8];
            let mut sec_names = vec![];
            for name in self.sections.iter().map(|s| s.name.as_str()).chain([
                ".symtab",
                ".strtab",
                ".shstrtab",
            ]) {
                sec_names.push(shstrtab.len() as u32);
                shstrtab.extend_from_slice(name.as_bytes());
                shstrtab.push(0);
            }
            // Symbol table: null symbol first, locals before globals.
            let mut symtab = vec![0u8; 24];
            let mut first_global = 1;
            for (i, s) in self.symbols.iter().enumerate() {
                push_u32(&mut symtab, sym_names[i]);
                symtab.push((s.bind << 4) | s.st_type);
                symtab.push(s.other);
                push_u16(&mut symtab, s.shndx);
                push_u64(&mut symtab, s.value);
                push_u64(&mut symtab, s.size);
                if s.bind == elf::STB_LOCAL {
                    first_global = i + 2;
                }
            }
            let mut out = vec![0u8; 64];
            let mut offsets = vec![];
            let mut contents = vec![];
            for s in &self.sections {
                let data = if s.sh_type == elf::SHT_RELA {
                    let mut d = vec![];
                    for &(off, ty, sym, addend) in &s.relocs {
                        push_u64(&mut d, off);
                        push_u64(&mut d, (u64::from(sym) << 32) | u64::from(ty));
                        push_u64(&mut d, addend as u64);
                    }
                    d
                } else {
                    s.data.clone()
                };
                while out.len() % 16 != 0 {
                    out.push(0);
                }
                offsets.push(out.len() as u64);
                if s.sh_type != elf::SHT_NOBITS {
                    out.extend_from_slice(&data);
                }
                contents.push(data);
            }
            let place = |out: &mut Vec<u8>, bytes: &[u8]| {
                while out.len() % 8 != 0 {
                    out.push(0);
                }
                let at = out.len() as u64;
                out.extend_from_slice(bytes);
                at
            };
            let symtab_off = place(&mut out, &symtab);
            let strtab_off = place(&mut out, &strtab);
            let shstrtab_off = place(&mut out, &shstrtab);
            while out.len() % 8 != 0 {
                out.push(0);
            }
            let shoff = out.len() as u64;
            let header = |out: &mut Vec<u8>,
                          name: u32,
                          ty: u32,
                          flags: u64,
                          off: u64,
                          size: u64,
                          link: u32,
                          info: u32,
                          align: u64,
                          entsize: u64| {
                push_u32(out, name);
                push_u32(out, ty);
                push_u64(out, flags);
                push_u64(out, 0);
                push_u64(out, off);
                push_u64(out, size);
                push_u32(out, link);
                push_u32(out, info);
                push_u64(out, align);
                push_u64(out, entsize);
            };
            header(&mut out, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            for (i, s) in self.sections.iter().enumerate() {
                let (size, link, entsize) = match s.sh_type {
                    elf::SHT_RELA => (contents[i].len() as u64, symtab_index as u32, 24),
                    elf::SHT_NOBITS => (s.size, 0, 0),
                    _ => (contents[i].len() as u64, 0, 0),
                };
                header(
                    &mut out,
                    sec_names[i],
                    s.sh_type,
                    s.flags,
                    offsets[i],
                    size,
                    link,
                    s.info,
                    s.align,
                    entsize,
                );
            }
            header(
                &mut out,
                sec_names[n_user],
                elf::SHT_SYMTAB,
                0,
                symtab_off,
                symtab.len() as u64,
                strtab_index as u32,
                first_global as u32,
                8,
                24,
            );
            header(
                &mut out,
                sec_names[n_user + 1],
                elf::SHT_STRTAB,
                0,
                strtab_off,
                strtab.len() as u64,
                0,
                0,
                1,
                0,
            );
            header(
                &mut out,
                sec_names[n_user + 2],
                elf::SHT_STRTAB,
                0,
                shstrtab_off,
                shstrtab.len() as u64,
                0,
                0,
                1,
                0,
            );
            // ELF header.
            let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
            h.resize(16, 0);
            push_u16(&mut h, self.e_type);
            push_u16(&mut h, self.machine);
            push_u32(&mut h, 1);
            push_u64(&mut h, 0);
            push_u64(&mut h, 0);
            push_u64(&mut h, shoff);
            push_u32(&mut h, 0);
            push_u16(&mut h, 64);
            push_u16(&mut h, 0);
            push_u16(&mut h, 0);
            push_u16(&mut h, 64);
            push_u16(&mut h, (shstrtab_index + 1) as u16);
            push_u16(&mut h, shstrtab_index as u16);
            out[..64].copy_from_slice(&h);
            (out, offsets)
        }

        pub(crate) fn build(&self) -> Vec<u8> {
            self.build_with_offsets().0
        }
    }

    /// .text: f calls g (PLT32 to a local function) and ext (PLT32 to an
    /// undefined symbol), loads from .rodata (PC32 via the section symbol);
    /// .data.rel.ro holds a pointer to f (R_X86_64_64).
    pub(crate) fn sample() -> ElfBuilder {
        // f: call g; call ext; lea rax,[rip+rodata]; ret ; g: ret
        let mut text = vec![
            0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc3,
        ];
        text.push(0xc3);
        let mut b = ElfBuilder::new();
        b.sections = vec![
            TestSection::text(".text", text),
            TestSection::rodata(".rodata", vec![1, 2, 3, 4, 5, 6, 7, 8]),
            TestSection {
                flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
                ..TestSection::rodata(".data.rel.ro", vec![0; 8])
            },
            TestSection::rela(
                ".rela.text",
                1,
                vec![
                    (1, elf::R_X86_64_PLT32, 3, -4),
                    (6, elf::R_X86_64_PLT32, 5, -4),
                    (13, elf::R_X86_64_PC32, 2, 0),
                ],
            ),
            TestSection::rela(".rela.data.rel.ro", 3, vec![(0, elf::R_X86_64_64, 4, 0)]),
        ];
        b.symbols = vec![
            TestSymbol::section(1),          // 1: .text
            TestSymbol::section(2),          // 2: .rodata
            TestSymbol::func("g", 1, 18, 1), // 3
            TestSymbol::func("f", 1, 0, 18), // 4
            TestSymbol::undef("ext"),        // 5
        ];
        b
    }

    #[test]
    fn loads_sample() {
        let obj = load(&sample().build()).unwrap();
        let names: Vec<_> = obj.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [".text", ".rodata", ".data.rel.ro"]);
        let text = &obj.sections()[0];
        assert_eq!(
            (text.offset, text.size, text.kind),
            (0, 19, SectionKind::Text)
        );
        let rodata = &obj.sections()[1];
        assert_eq!(rodata.offset, 24);
        assert_eq!(&obj.image()[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        // int3 padding between .text and .rodata.
        assert_eq!(&obj.image()[19..24], &[0xcc; 5]);
        assert_eq!(obj.sections()[2].offset, 32);
        assert_eq!(obj.align(), 16);
        assert_eq!(obj.symbol("f"), Some(0));
        assert_eq!(obj.symbol("g"), Some(18));
        assert_eq!(obj.functions().count(), 2);
        assert_eq!(obj.externals(), ["ext"]);
        let r = obj.relocations();
        assert_eq!(r.len(), 4);
        assert_eq!(
            (r[0].offset, r[0].kind, r[0].target),
            (1, RelocKind::Plt32, RelocTarget::Local(18))
        );
        assert_eq!((r[1].offset, r[1].target), (6, RelocTarget::External(0)));
        assert_eq!(
            (r[2].offset, r[2].kind, r[2].target),
            (13, RelocKind::Pc32, RelocTarget::Local(24))
        );
        assert_eq!(
            (r[3].offset, r[3].kind, r[3].target),
            (32, RelocKind::Abs64, RelocTarget::Local(0))
        );
        assert_eq!(obj.section_name(r[3].section), ".data.rel.ro");
        // The call of g and the pointer to f name global symbols of the
        // object; the external and the section-relative load do not.
        let named: Vec<_> = r.iter().map(|r| r.symbol).collect();
        assert_eq!(named, [Some(0), None, None, Some(1)]);
        assert_eq!(obj.symbols()[0].name, "g");
        assert!(obj.symbols().iter().all(|s| s.preemptible));
    }

    #[test]
    fn visibility_decides_preemption() {
        let mut b = sample();
        b.symbols[2].other = elf::STV_HIDDEN; // g
        b.symbols[3].bind = elf::STB_WEAK; // f
        let obj = load(&b.build()).unwrap();
        let g = &obj.symbols()[0];
        let f = &obj.symbols()[1];
        assert_eq!((g.name.as_str(), g.preemptible), ("g", false));
        assert_eq!((f.name.as_str(), f.preemptible), ("f", true));
        // The relocation still says which symbol it names.
        assert_eq!(obj.relocations()[0].symbol, Some(0));
        for vis in [elf::STV_PROTECTED, elf::STV_INTERNAL] {
            b.symbols[3].other = vis;
            assert!(!load(&b.build()).unwrap().symbols()[1].preemptible);
        }
    }

    fn err(b: &ElfBuilder) -> String {
        load(&b.build()).unwrap_err().to_string()
    }

    #[test]
    fn unsupported_relocation_is_named() {
        let mut b = sample();
        b.sections[0].data.resize(0x20, 0x90);
        b.sections[3].relocs[2] = (0x1c, elf::R_X86_64_TPOFF32, 2, 0);
        assert_eq!(
            err(&b),
            "unsupported relocation R_X86_64_TPOFF32 at .text+0x1c"
        );
        b.sections[3].relocs[2].1 = 200;
        assert_eq!(err(&b), "unsupported relocation type 200 at .text+0x1c");
    }

    #[test]
    fn relocation_checks() {
        let mut b = sample();
        b.sections[3].relocs[0].0 = 16; // field 16..20 in a 19-byte section
        assert!(
            err(&b).contains("extends past the end of the section"),
            "{}",
            err(&b)
        );
        let mut b = sample();
        b.sections[3].relocs[0].0 = u64::MAX - 1;
        assert!(err(&b).contains("extends past the end"));
        let mut b = sample();
        b.sections[3].relocs[1].0 = 3; // overlaps the field at 1
        assert_eq!(err(&b), "relocations at .text+0x1 and .text+0x3 overlap");
        let mut b = sample();
        b.sections[3].relocs[0].2 = 99;
        assert!(err(&b).contains("symbol #99, which does not exist"));
        let mut b = sample();
        b.sections[3].relocs[0].2 = 0;
        assert!(err(&b).contains("relocation without a symbol"));
        let mut b = sample();
        b.sections[3].info = 42;
        assert!(err(&b).contains("applies to a section that does not exist"));
        let mut b = sample();
        b.sections[3].sh_type = elf::SHT_REL;
        assert!(err(&b).contains("REL relocations"));
    }

    #[test]
    fn relaxable_got_checks() {
        // The sample's `lea rax, [rip+.rodata]` (48 8d 05, field at 13) with
        // a relaxable GOT kind: on a lea, rejected.
        let mut b = sample();
        b.sections[3].relocs[2].1 = elf::R_X86_64_REX_GOTPCRELX;
        let e = load(&b.build()).unwrap_err();
        assert_eq!(
            e,
            LoadError::UnsupportedRelaxableInstruction {
                section: ".text".into(),
                kind: RelocKind::RexGotPcRelX,
                offset: 13,
                bytes: Some([0x8d, 0x05]),
            }
        );
        assert!(e.to_string().starts_with(
            "R_X86_64_REX_GOTPCRELX at .text+0xd is on an instruction 8d 05, not a mov"
        ));
        // An addr32 call (67 e8) neither; nor a mov without a RIP-relative
        // operand.
        for bytes in [[0x67, 0xe8], [0x8b, 0x04], [0xff, 0x35]] {
            let mut b = sample();
            b.sections[3].relocs[2].1 = elf::R_X86_64_GOTPCRELX;
            b.sections[0].data[11..13].copy_from_slice(&bytes);
            assert!(err(&b).contains(&format!("{:02x} {:02x}, not a", bytes[0], bytes[1])));
        }
        // mov, test, binops, call and jmp through the slot load.
        for bytes in [
            [0x8b, 0x05],
            [0x85, 0x0d],
            [0x03, 0x05],
            [0x3b, 0x3d],
            [0xff, 0x15],
            [0xff, 0x25],
        ] {
            let mut b = sample();
            b.sections[3].relocs[2].1 = elf::R_X86_64_REX_GOTPCRELX;
            b.sections[0].data[11..13].copy_from_slice(&bytes);
            let obj = load(&b.build()).unwrap();
            assert_eq!(obj.relocations()[2].kind, RelocKind::RexGotPcRelX);
        }
        // Less than two bytes into the section: no instruction.
        let mut b = sample();
        b.sections[3].relocs[0].1 = elf::R_X86_64_GOTPCRELX;
        assert!(err(&b).starts_with(
            "R_X86_64_GOTPCRELX at .text+0x1 is at the start of its section, not a mov"
        ));

        // A mov through the GOT whose opcode and ModRM (.text+11..13) are
        // the last bytes of another field (.text+9..13), given by a second
        // relocation section for .text: rejected, whatever the order.
        let mut b = sample();
        b.sections[0].data[11] = 0x8b;
        b.sections[3].relocs[2].1 = elf::R_X86_64_REX_GOTPCRELX;
        b.sections[3].relocs[1].0 = 5; // out of the way: 5..9
        b.sections.push(TestSection::rela(
            ".rela.more",
            1,
            vec![(9, elf::R_X86_64_32, 5, 0)],
        ));
        assert!(load(&b.build()).is_err());
        let e = load(&b.build()).unwrap_err();
        assert_eq!(
            e,
            LoadError::InstructionOverlapsRelocation {
                section: ".text".into(),
                kind: RelocKind::RexGotPcRelX,
                offset: 13,
                other: 9,
            }
        );
        assert_eq!(
            e.to_string(),
            "the instruction bytes of R_X86_64_REX_GOTPCRELX at .text+0xd (.text+0xb..0xd) \
             overlap the relocation at .text+0x9"
        );
        // One byte of overlap is enough; none is fine.
        b.sections[3].relocs.remove(1);
        b.sections[5].relocs[0].0 = 8; // 8..12
        assert!(err(&b).contains("overlap the relocation at .text+0x8"));
        b.sections[5].relocs[0].0 = 7; // 7..11
        let obj = load(&b.build()).unwrap();
        assert_eq!(obj.relocations().len(), 4);
        // Fields overlapping across relocation sections: as before.
        b.sections[5].relocs[0].0 = 4; // 4..8, and the PLT32 at 1..5
        assert_eq!(err(&b), "relocations at .text+0x1 and .text+0x4 overlap");

        // Outside code the relaxable kinds are plain: their preceding bytes
        // are not an instruction and may be another field.
        let mut b = sample();
        b.sections.push(TestSection::rela(
            ".rela.rodata",
            2,
            vec![
                (0, elf::R_X86_64_32, 5, 0),
                (4, elf::R_X86_64_REX_GOTPCRELX, 5, -4),
            ],
        ));
        load(&b.build()).unwrap();
    }

    #[test]
    fn target_checks() {
        // A relocation to a symbol in a skipped section.
        let mut b = sample();
        b.sections.push(TestSection {
            flags: 0,
            ..TestSection::rodata(".comment", vec![1, 2, 3])
        });
        b.symbols.push(TestSymbol::section(6));
        b.sections[3].relocs[2].2 = 6;
        assert!(
            err(&b).contains("section .comment: that section is not loaded"),
            "{}",
            err(&b)
        );
        // Absolute and common symbols.
        let mut b = sample();
        b.symbols[4].shndx = elf::SHN_ABS;
        assert!(
            err(&b).contains("refers to ext: absolute symbol"),
            "{}",
            err(&b)
        );
        let mut b = sample();
        b.symbols[4].shndx = elf::SHN_COMMON;
        assert!(err(&b).contains("common symbol"));
        let mut b = sample();
        b.symbols[4].st_type = elf::STT_TLS;
        assert!(err(&b).contains("thread-local"));
    }

    #[test]
    fn symbol_checks() {
        let mut b = sample();
        b.symbols[2].value = 100;
        assert!(
            err(&b).contains("lies outside section .text"),
            "{}",
            err(&b)
        );
        let mut b = sample();
        b.symbols[2].size = u64::MAX;
        assert!(err(&b).contains("lies outside section .text"));
        let mut b = sample();
        b.symbols[2].shndx = 200;
        assert!(
            err(&b).contains("section index 200 does not exist"),
            "{}",
            err(&b)
        );
        let mut b = sample();
        b.symbols[2].name = "f".into();
        assert_eq!(err(&b), "symbol f is defined twice");
    }

    #[test]
    fn section_checks() {
        let mut b = sample();
        b.sections.push(TestSection {
            flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
            ..TestSection::rodata(".data", vec![1])
        });
        assert!(err(&b).starts_with("section .data is writable data"));
        // Empty writable sections (gcc always emits .data and .bss) are fine.
        let mut b = sample();
        b.sections.push(TestSection {
            flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
            ..TestSection::rodata(".data", vec![])
        });
        b.sections.push(TestSection {
            sh_type: elf::SHT_NOBITS,
            flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
            size: 0,
            ..TestSection::rodata(".bss", vec![])
        });
        assert!(load(&b.build()).is_ok());
        let mut b = sample();
        b.sections.push(TestSection {
            sh_type: elf::SHT_NOBITS,
            flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
            size: 64,
            ..TestSection::rodata(".bss", vec![])
        });
        assert!(err(&b).starts_with("section .bss is writable data"));
        let mut b = sample();
        b.sections.push(TestSection {
            flags: u64::from(elf::SHF_ALLOC | elf::SHF_TLS),
            ..TestSection::rodata(".tdata", vec![1])
        });
        assert_eq!(err(&b), "unsupported section .tdata: thread-local storage");
        let mut b = sample();
        b.sections.push(TestSection {
            sh_type: elf::SHT_INIT_ARRAY,
            ..TestSection::rodata(".init_array", vec![0; 8])
        });
        assert!(err(&b).contains("constructor"));
        let mut b = sample();
        b.sections[1].align = 3;
        assert!(err(&b).contains("alignment 3"));
        let mut b = sample();
        b.sections[1].align = 1 << 20;
        assert!(err(&b).contains("alignment"));
        // A read-only zero-filled section is loaded as zeroes.
        let mut b = sample();
        b.sections.push(TestSection {
            sh_type: elf::SHT_NOBITS,
            size: 32,
            ..TestSection::rodata(".robss", vec![])
        });
        let obj = load(&b.build()).unwrap();
        let z = obj.sections().last().unwrap();
        assert_eq!((z.kind, z.size), (SectionKind::ZeroFill, 32));
        assert_eq!(obj.image().len(), z.offset as usize + 32);
        // Relocations against a zero-fill section are refused.
        b.sections.push(TestSection::rela(
            ".rela.robss",
            6,
            vec![(0, elf::R_X86_64_64, 1, 0)],
        ));
        assert!(err(&b).contains("without contents"));
        // An .eh_frame with relocations is skipped entirely.
        let mut b = sample();
        b.sections
            .push(TestSection::rodata(".eh_frame", vec![0; 16]));
        b.sections.push(TestSection::rela(
            ".rela.eh_frame",
            6,
            vec![(0, elf::R_X86_64_PC32, 1, 0)],
        ));
        let obj = load(&b.build()).unwrap();
        assert_eq!(obj.sections().len(), 3);
        assert_eq!(obj.relocations().len(), 4);
    }

    #[test]
    fn header_checks() {
        let mut b = sample();
        b.machine = elf::EM_AARCH64;
        assert!(err(&b).contains("not x86-64"));
        let mut b = sample();
        b.e_type = elf::ET_DYN;
        assert!(err(&b).contains("not a relocatable object"));
        let good = sample().build();
        let mut bad = good.clone();
        bad[4] = 1; // ELFCLASS32
        assert!(load(&bad).unwrap_err().to_string().starts_with("malformed"));
        let mut bad = good.clone();
        bad[5] = 2; // big-endian
        assert!(load(&bad).is_err());
        assert!(load(&[]).is_err());
        assert!(load(b"\x7fELF").is_err());
    }

    #[test]
    fn file_range_checks() {
        let b = sample();
        let (good, offsets) = b.build_with_offsets();
        let shoff = u64::from_le_bytes(good[40..48].try_into().unwrap()) as usize;
        // Section header of .rodata (index 2): sh_offset at +24, sh_size at +32.
        let rodata_hdr = shoff + 2 * 64;
        let mut bad = good.clone();
        bad[rodata_hdr + 32..rodata_hdr + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(load(&bad)
            .unwrap_err()
            .to_string()
            .contains("extends past the end of the"));
        let mut bad = good.clone();
        bad[rodata_hdr + 24..rodata_hdr + 32].copy_from_slice(&offsets[0].to_le_bytes());
        assert_eq!(
            load(&bad).unwrap_err().to_string(),
            "sections .text and .rodata overlap in the file"
        );
        let mut bad = good.clone();
        bad[rodata_hdr + 24..rodata_hdr + 32].copy_from_slice(&8u64.to_le_bytes());
        assert!(load(&bad).unwrap_err().to_string().contains("<ELF header>"));
        let mut bad = good.clone();
        bad[rodata_hdr + 24..rodata_hdr + 32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load(&bad).is_err());
    }

    #[test]
    fn truncations_and_corruptions_never_panic() {
        let good = sample().build();
        for len in 0..good.len() {
            let _ = load(&good[..len]);
        }
        let mut rng = crate::sidecar::tests::Rng::from_env("elf_corruptions_never_panic");
        for _ in 0..3000 {
            let mut bad = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bad.len() as u64) as usize;
                bad[i] = rng.next() as u8;
            }
            if let Ok(obj) = load(&bad) {
                // Whatever loads must be self-consistent.
                for r in obj.relocations() {
                    assert!(r.offset as usize + r.kind.width() <= obj.image().len());
                }
            }
        }
    }
}

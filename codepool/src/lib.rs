//! A code pool: JIT-compiled machine code that lives in collected memory.
//!
//! A code object is one block in an executable pool of the collector: a
//! header, the machine code, stubs for far call targets, and a relocation
//! sidecar listing every site that depends on an address outside the object
//! or on the object's own address. When the collector moves a code object,
//! or anything it refers to, the object's scan method re-encodes those sites
//! from the current addresses, so moving code ends in relinked code. Code
//! addresses found on stacks are ambiguous references and pin their object,
//! so code that is running never moves. Pages are never writable and
//! executable at once (W^X).
//!
//! Code objects are loaded from ELF relocatable objects (from LLVM, from
//! `cc -c`, ...); unsupported relocations and malformed objects are errors.
//!
//! Nothing is exported yet: the code pool arrives in a later change.

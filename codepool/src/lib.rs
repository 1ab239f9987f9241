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
//! This crate currently holds the collector-independent half, all of it
//! operating on byte slices and plain data:
//!
//! - [`elf`]: loads an ELF64 x86-64 relocatable object into one image of its
//!   code and read-only data, with its symbols and relocations, validating
//!   everything;
//! - [`reloc`]: applies one relocation to a byte slice;
//! - [`sidecar`]: the compact relocation sidecar (about three bytes per
//!   relocation where ELF spends 24);
//! - [`mod@layout`]: builds a code object image (header, code, GOT, stubs,
//!   target table, sidecar) and relinks it for new addresses;
//! - [`jit`] (feature `llvm`): compiles an inkwell module to an object.
//!
//! # Example
//!
//! Compile a function that calls a runtime function, lay it out, and relink
//! it for two addresses, as the collector does after moving it:
//!
//! ```
//! # #[cfg(feature = "llvm")] {
//! use codepool::layout::{self, Binding};
//! use codepool::sidecar::Target;
//! use inkwell::context::Context;
//!
//! // i64 f(i64 x) { return rt_print(x) + 1; }
//! let context = Context::create();
//! let module = context.create_module("example");
//! let i64t = context.i64_type();
//! let fn_type = i64t.fn_type(&[i64t.into()], false);
//! let rt_print = module.add_function("rt_print", fn_type, None);
//! let f = module.add_function("f", fn_type, None);
//! let b = context.create_builder();
//! b.position_at_end(context.append_basic_block(f, "entry"));
//! let x = f.get_nth_param(0).unwrap();
//! let r = b.build_call(rt_print, &[x.into()], "r").unwrap();
//! let r = r.try_as_basic_value().basic().unwrap().into_int_value();
//! let y = b.build_int_add(r, i64t.const_int(1, false), "y").unwrap();
//! b.build_return(Some(&y)).unwrap();
//!
//! let obj = codepool::jit::compile(&module)?;
//! let image = layout::layout(&obj, |name| match name {
//!     "rt_print" => Some(Binding::Runtime { address: 0x7f00_0000_1000 }),
//!     _ => None,
//! })?;
//! let mut bytes = image.bytes().to_vec();
//! // Near the runtime function: a direct call.
//! let stats = layout::relink(&mut bytes, 0x7f00_1000_0000, |t| match t {
//!     Target::Runtime(0) => 0x7f00_0000_1000,
//!     _ => unreachable!(),
//! })?;
//! assert_eq!(stats.direct, 1);
//! // Moved more than 2 GiB away: the call goes through the stub.
//! let stats = layout::relink_from_table(&mut bytes, 0x1000_0000, 0)?;
//! assert_eq!(stats.via_stub, 1);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod elf;
#[cfg(feature = "llvm")]
pub mod jit;
pub mod layout;
pub mod reloc;
pub mod sidecar;

pub use elf::{load, LoadError, LoadedObject};
pub use layout::{layout, relink, relink_from_table, Binding, CodeImage, RelinkError, RelinkStats};
pub use sidecar::{SidecarStats, Target};

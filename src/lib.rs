//! Umbrella crate of the workspace: a moving, generational garbage collector
//! with the Memory Pool System (MPS) interface, its safe Rust layer, and a
//! code pool for JIT-compiled code that moves with the collector.
//!
//! - [`mps`]: the safe layer over the collector (arenas, pools, formats,
//!   allocation points, roots, threads, messages, location dependencies).
//! - [`codepool`]: code objects in collected memory, relinked whenever the
//!   collector moves them or anything they refer to.
//!
//! The raw bindings are in the `mps-sys` crate, used through [`mps`].

#[doc(inline)]
pub use codepool;
#[doc(inline)]
pub use mps;

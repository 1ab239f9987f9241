//! Safe Rust layer over the Memory Pool System (MPS) interface.
//!
//! This crate wraps the raw bindings of `mps-sys` in types whose ownership
//! mirrors the MPS object hierarchy: an `Arena` outlives the `Format`s,
//! `Chain`s, `Pool`s, allocation points (`Ap`), `Root`s and `Thread`s created
//! in it, so a destruction order that C would get wrong does not compile.
//! A runtime describes its objects to the collector by implementing one
//! trait, `Format` (scan, skip, forward, is-forwarded, pad); allocation runs
//! the MPS reserve / initialise / commit protocol for the caller; every
//! result code maps to one `Error` enum.
//!
//! Nothing is exported yet: the safe layer arrives in a later change.

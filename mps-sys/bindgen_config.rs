// The one description of how `src/bindings.rs` is generated from the public
// headers. It is `include!`d by `build.rs` (feature `bindgen`), the only place
// that runs bindgen, so the committed file and a fresh generation can only
// differ if the headers (or the pinned bindgen version) changed; the
// `bindings_drift` test then fails.
//
// Determinism: every option that would otherwise depend on the machine is
// pinned here: the Rust target (not "the compiler running this build"), the
// formatter (prettyplease at the version locked in Cargo.lock, not whatever
// rustfmt is installed), no layout tests and no comments (both vary between
// libclang versions; layouts are pinned by `static_assertions` in `lib.rs`
// instead), and no platform-identification macros or `va_list` functions,
// whose translation differs between x86-64 and AArch64.

/// The public headers the bindings cover, in the order they are included:
/// always these...
const MPS_BINDGEN_HEADERS: &[&str] = &[
    "mps.h",
    "mpsavm.h",
    "mpsacl.h",
    "mpscamc.h",
    "mpslib.h",
    "mpstd.h",
];

/// ...and these when the header directory has them: the other pool
/// classes, and this project's extensions (prefix `mpsx_`, absent from an
/// installed Ravenbrook MPS).
const MPS_BINDGEN_OPTIONAL_HEADERS: &[&str] = &[
    "mpscams.h",
    "mpscawl.h",
    "mpsclo.h",
    "mpscmfs.h",
    "mpscmvff.h",
    "mpscmvt.h",
    "mpscsnc.h",
    "mpsx.h",
];

/// A bindgen builder for the headers in `include_dir`, with every option
/// that shapes the output.
fn mps_bindgen_builder(include_dir: &std::path::Path) -> bindgen::Builder {
    let wrapper: String = MPS_BINDGEN_HEADERS
        .iter()
        .chain(
            MPS_BINDGEN_OPTIONAL_HEADERS
                .iter()
                .filter(|h| include_dir.join(h).is_file()),
        )
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    bindgen::Builder::default()
        .header_contents("mps_sys_wrapper.h", &wrapper)
        .clang_arg(format!("-I{}", include_dir.display()))
        // Only the interface's names: mps_*, MPS_*, _mps_* and the
        // extensions' mpsx_*, MPSX_*, _mpsx_* (types, functions, variables,
        // constants). Everything they use (size_t, ...) comes along.
        .allowlist_item("_?(mps|MPS|mpsx|MPSX)_.*")
        // Platform identification (mpstd.h) differs between platforms and
        // compilers; the word facts that do not are kept.
        .blocklist_item("MPS_(OS|ARCH|BUILD)_.*")
        .blocklist_item("MPS_PF_(STRING|LI.*)")
        // The va_list creators translate differently on every ABI; Rust
        // callers use the keyword-argument (_k) creators.
        .blocklist_function("mps_(arena|pool|ap)_create_v")
        .blocklist_type("va_list|__builtin_va_list|__va_list_tag")
        .rust_target(bindgen::RustTarget::stable(81, 0).expect("a valid Rust target"))
        .formatter(bindgen::Formatter::Prettyplease)
        .layout_tests(false)
        .generate_comments(false)
        .use_core()
        .prepend_enum_name(false)
        // Anonymous enums (result codes, message types) become plain
        // integer constants rather than constants of a `_bindgen_ty_N` alias.
        .translate_enum_integer_types(true)
        .merge_extern_blocks(true)
        .sort_semantically(true)
}

//! The JIT front end: compiles an LLVM module (through inkwell) to an ELF
//! relocatable object in memory and loads it with [`crate::elf`].
//!
//! Code is generated for x86-64 ELF, position-independent (`PIC` relocation
//! model), small code model, optimised at `-O2` (the `default<O2>` pass
//! pipeline, then code generation at the default level; [`compile_to_elf_at`]
//! also offers `-O0`). Position-independent
//! code reaches external symbols through the GOT and calls them through
//! `PLT32` relocations, which is exactly what a movable code object wants:
//! every external reference is a relocation [`mod@crate::layout`] can re-encode.
//!
//! LLVM emits unwind tables (`.eh_frame`) for functions not marked
//! `nounwind`; the loader keeps them beside the code and the pool registers
//! them ([`crate::unwind`]), so panics and exceptions raised in runtime
//! functions pass through JIT frames.

use std::cell::RefCell;
use std::fmt;
use std::sync::Once;

/// The inkwell crate this module is built with, so that callers build
/// modules with the same version.
pub use inkwell;

use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;

use crate::elf::{self, LoadError, LoadedObject};

/// The target triple code is generated for.
pub const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// Why a module could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JitError {
    /// The module does not verify.
    InvalidModule(String),
    /// LLVM could not set up the x86-64 target.
    Target(String),
    /// The optimisation pipeline failed.
    Passes(String),
    /// Code generation failed.
    Codegen(String),
    /// The object LLVM produced could not be loaded.
    Load(LoadError),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::InvalidModule(m) => write!(f, "invalid LLVM module: {m}"),
            JitError::Target(m) => write!(f, "cannot create the x86-64 target machine: {m}"),
            JitError::Passes(m) => write!(f, "LLVM optimisation failed: {m}"),
            JitError::Codegen(m) => write!(f, "LLVM code generation failed: {m}"),
            JitError::Load(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for JitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JitError::Load(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError> for JitError {
    fn from(e: LoadError) -> JitError {
        JitError::Load(e)
    }
}

fn create_target_machine(level: OptimizationLevel) -> Result<TargetMachine, JitError> {
    static INIT: Once = Once::new();
    INIT.call_once(|| Target::initialize_x86(&InitializationConfig::default()));
    let triple = TargetTriple::create(TRIPLE);
    let target = Target::from_triple(&triple).map_err(|e| JitError::Target(e.to_string()))?;
    target
        .create_target_machine(
            &triple,
            "x86-64",
            "",
            level,
            RelocMode::PIC,
            CodeModel::Small,
        )
        .ok_or_else(|| JitError::Target("LLVM returned no target machine".into()))
}

/// How hard LLVM optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptLevel {
    /// No optimisation: the `default<O0>` pipeline, code generation at
    /// level `None` (what a baseline JIT tier would do).
    O0,
    /// The `default<O2>` pipeline, code generation at the default level
    /// (what [`compile`] and [`compile_to_elf`] do).
    O2,
}

impl OptLevel {
    fn pipeline(self) -> &'static str {
        match self {
            OptLevel::O0 => "default<O0>",
            OptLevel::O2 => "default<O2>",
        }
    }

    fn codegen(self) -> OptimizationLevel {
        match self {
            OptLevel::O0 => OptimizationLevel::None,
            OptLevel::O2 => OptimizationLevel::Default,
        }
    }
}

std::thread_local! {
    /// The target machines of this thread, one per level, made once:
    /// creating one costs about as much as compiling a small function.
    static MACHINES: RefCell<[Option<TargetMachine>; 2]> = const { RefCell::new([None, None]) };
}

/// Runs `f` with this thread's target machine for `level`.
fn with_target_machine<R>(
    level: OptLevel,
    f: impl FnOnce(&TargetMachine) -> Result<R, JitError>,
) -> Result<R, JitError> {
    MACHINES.with(|m| {
        let mut m = m.borrow_mut();
        let slot = &mut m[level as usize];
        if slot.is_none() {
            *slot = Some(create_target_machine(level.codegen())?);
        }
        f(slot.as_ref().expect("created above"))
    })
}

/// Compiles `module` to the bytes of an ELF relocatable object, at `-O2`.
/// The module itself is left untouched (a verified copy is optimised and
/// compiled).
pub fn compile_to_elf(module: &Module<'_>) -> Result<Vec<u8>, JitError> {
    compile_to_elf_at(module, OptLevel::O2)
}

/// Compiles `module` to the bytes of an ELF relocatable object at the given
/// optimisation level. The module itself is left untouched.
pub fn compile_to_elf_at(module: &Module<'_>, level: OptLevel) -> Result<Vec<u8>, JitError> {
    // `Module::clone` panics on a module that does not verify: check first.
    module
        .verify()
        .map_err(|e| JitError::InvalidModule(e.to_string()))?;
    with_target_machine(level, |machine| {
        let copy = module.clone();
        copy.set_triple(&machine.get_triple());
        copy.set_data_layout(&machine.get_target_data().get_data_layout());
        copy.run_passes(level.pipeline(), machine, PassBuilderOptions::create())
            .map_err(|e| JitError::Passes(e.to_string()))?;
        let buffer = machine
            .write_to_memory_buffer(&copy, FileType::Object)
            .map_err(|e| JitError::Codegen(e.to_string()))?;
        Ok(buffer.as_slice().to_vec())
    })
}

/// Compiles `module` and loads the resulting object.
pub fn compile(module: &Module<'_>) -> Result<LoadedObject, JitError> {
    let bytes = compile_to_elf(module)?;
    Ok(elf::load(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkwell::context::Context;

    #[test]
    fn compiles_a_function() {
        let context = Context::create();
        let module = context.create_module("t");
        let i64t = context.i64_type();
        let f = module.add_function("double_it", i64t.fn_type(&[i64t.into()], false), None);
        let builder = context.create_builder();
        builder.position_at_end(context.append_basic_block(f, "entry"));
        let x = f.get_nth_param(0).unwrap().into_int_value();
        let y = builder.build_int_add(x, x, "y").unwrap();
        builder.build_return(Some(&y)).unwrap();
        let obj = compile(&module).unwrap();
        assert_eq!(obj.functions().count(), 1);
        assert_eq!(obj.symbol("double_it"), Some(0));
        assert!(obj.externals().is_empty());
    }

    #[test]
    fn both_levels_compile() {
        let context = Context::create();
        let module = context.create_module("t");
        let i64t = context.i64_type();
        let f = module.add_function("inc", i64t.fn_type(&[i64t.into()], false), None);
        let builder = context.create_builder();
        builder.position_at_end(context.append_basic_block(f, "entry"));
        let x = f.get_nth_param(0).unwrap().into_int_value();
        let y = builder
            .build_int_add(x, i64t.const_int(1, false), "y")
            .unwrap();
        builder.build_return(Some(&y)).unwrap();
        for level in [OptLevel::O0, OptLevel::O2] {
            let obj = elf::load(&compile_to_elf_at(&module, level).unwrap()).unwrap();
            assert_eq!(obj.symbol("inc"), Some(0), "{level:?}");
        }
    }

    #[test]
    fn invalid_module_is_an_error() {
        let context = Context::create();
        let module = context.create_module("bad");
        let i64t = context.i64_type();
        let f = module.add_function("f", i64t.fn_type(&[], false), None);
        // A block without a terminator.
        context.append_basic_block(f, "entry");
        assert!(matches!(compile(&module), Err(JitError::InvalidModule(_))));
    }
}

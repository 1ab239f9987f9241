//! The tests' helpers the benchmarks use: boxes (a tiny heap) and the
//! generated functions.

#[allow(
    dead_code,
    reason = "shared with the tests; not every helper is used here"
)]
#[path = "../../tests/common/boxes.rs"]
pub mod boxes;
#[allow(
    dead_code,
    reason = "shared with the tests; not every helper is used here"
)]
#[path = "../../tests/common/gen.rs"]
pub mod gen;

//! Misuse that the types rule out must not compile (`tests/ui/*.rs`, with
//! the expected compiler errors beside them). To update the expected output
//! after a compiler change: `TRYBUILD=overwrite cargo test -p mps --test
//! compile_fail`.

#[test]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

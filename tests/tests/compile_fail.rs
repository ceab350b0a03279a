//! `#[oauth_endpoint]` rejects each mistake with a spanned error, and accepts valid declarations.

#[test]
fn attribute_mistakes_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

//! `#[oauth_endpoint]` and `#[oauth_grant]` reject each mistake with a spanned error, and accept
//! valid declarations. The `#[oauth_grant]` cases are the files named `grant-*.rs`.

#[test]
fn attribute_mistakes_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

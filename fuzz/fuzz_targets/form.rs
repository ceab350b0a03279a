//! The form parser (RFC 6749 Appendix B): no panic on any body; what parses re-encodes to the
//! same form; repeated names are refused; every value that parses is in its Appendix A syntax
//! (no control character, a NUL included); `get` treats empty values as absent (§3.1); `Debug`
//! never prints values.

#![no_main]

use bytes::Bytes;
use http::Request;
use http::header::{CONTENT_TYPE, HeaderValue};
use libfuzzer_sys::fuzz_target;
use oauth_endpoints::form::{Form, FormError};
use oauth_endpoints_fuzz::form_body;

fuzz_target!(|data: &[u8]| {
    check_body(data);

    // The first NUL splits a Content-Type from the body, for `from_request`.
    if let Some(at) = data.iter().position(|&b| b == 0) {
        let (content_type, body) = (&data[..at], &data[at + 1..]);
        if let Ok(value) = HeaderValue::from_bytes(content_type) {
            let mut request = Request::new(Bytes::copy_from_slice(body));
            request.headers_mut().insert(CONTENT_TYPE, value.clone());
            let is_form = value.to_str().is_ok_and(|text| {
                text.split(';').next().is_some_and(|media| {
                    media
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
            match Form::from_request(&request) {
                Err(FormError::UnsupportedContentType) => assert!(!is_form),
                other => {
                    assert!(is_form);
                    assert_eq!(other, Form::parse_body(body));
                }
            }
        }
    }
});

fn check_body(data: &[u8]) {
    let form = match Form::parse_body(data) {
        Ok(form) => form,
        Err(FormError::Repeated(name)) => {
            // Echoed names are bounded (64 bytes and an ellipsis).
            assert!(name.len() <= 64 + 3, "{} bytes", name.len());
            return;
        }
        Err(FormError::NotUtf8) => return,
        Err(FormError::Syntax(error)) => {
            // Only printable ASCII of a bounded length is echoed.
            assert!(error.name.len() <= 32 && error.name.bytes().all(|b| b.is_ascii_graphic()));
            return;
        }
        Err(other) => panic!("unexpected error for a body: {other:?}"),
    };
    let pairs: Vec<(&str, &str)> = form.iter().collect();
    for (index, (name, value)) in pairs.iter().enumerate() {
        // Every parameter that leaves the parser is in its syntax (RFC 6749 Appendix A): no
        // control character anywhere.
        assert!(oauth_endpoints::syntax::check_parameter(name, value).is_ok());
        assert!(!name.chars().chain(value.chars()).any(char::is_control));
        assert!(
            pairs[..index].iter().all(|(seen, _)| seen != name),
            "repeated name {name:?} accepted"
        );
        let expected = (!value.is_empty()).then_some(*value);
        assert_eq!(form.get(name), expected);
        assert_eq!(form.contains(name), expected.is_some());
    }
    assert_eq!(form.is_empty(), pairs.is_empty());
    // Re-encoding gives the same form.
    let encoded = form_body(pairs.iter().copied());
    assert_eq!(Form::parse_body(encoded.as_bytes()).as_ref(), Ok(&form));
    // `Debug` lists names only, never values.
    let names: Vec<&str> = pairs.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        format!("{form:?}"),
        format!("Form {{ names: {names:?}, .. }}")
    );
    let _ = form.scope();
}

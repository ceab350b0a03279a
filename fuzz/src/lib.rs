//! Helpers shared by the fuzz targets.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters `application/x-www-form-urlencoded` leaves as they are (space becomes `+`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b' ');

/// Form-urlencodes one name or value (RFC 6749 Appendix B).
pub fn form_encode(value: &str) -> String {
    utf8_percent_encode(value, FORM)
        .to_string()
        .replace(' ', "+")
}

/// A form body from pairs.
pub fn form_body<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1): each part
/// form-urlencoded, joined by `:`, then base64.
pub fn basic(client_id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", form_encode(client_id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(raw))
}

/// Whether `text` is `1*NQSCHAR`-shaped as RFC 6749 Appendix A.7/A.8 allow for `error` and
/// `error_description`: `%x20-21 / %x23-5B / %x5D-7E`.
pub fn is_nqschar(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

/// Whether `text` fits `error_uri`'s charset (RFC 6749 Appendix A.9): `%x21 / %x23-5B / %x5D-7E`.
pub fn is_uri_char(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

//! Parsing `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, Appendix B).
//!
//! Parsing is separate from behaviour: endpoints ask for a [`Form`] and read parameters from it.

use std::borrow::Cow;

use bytes::Bytes;
use http::Request;
use http::header::CONTENT_TYPE;
use percent_encoding::percent_decode;

use crate::error::OAuthError;
use crate::scope::Scope;
use crate::syntax::{SyntaxError, check_parameter};

/// Why a body is not an acceptable form. Each becomes `invalid_request` (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The request's `Content-Type` is missing or not `application/x-www-form-urlencoded`.
    #[error("the request body must be application/x-www-form-urlencoded")]
    UnsupportedContentType,
    /// A parameter appears more than once (RFC 6749 §3.1, §3.2).
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
    /// A name or value does not decode to UTF-8 (RFC 6749 Appendix B).
    #[error("the request body is not valid UTF-8 after percent-decoding")]
    NotUtf8,
    /// More parameters than any OAuth request needs ([`Form::MAX_PARAMETERS`]).
    #[error("the request has too many parameters")]
    TooManyParameters,
    /// A parameter's value is outside its syntax (RFC 6749 Appendix A), e.g. a control character.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

impl From<FormError> for OAuthError {
    /// `invalid_request`, except for a syntax error, which gets the code its parameter's RFC
    /// gives (see [`SyntaxError`]).
    fn from(error: FormError) -> Self {
        match error {
            FormError::Syntax(error) => error.into(),
            other => OAuthError::invalid_request(other.to_string()),
        }
    }
}

/// The parameters an extension lets a request repeat: `resource` (RFC 8707 §2) and
/// `audience` (RFC 8693 §2.1). Every other name appears at most once (RFC 6749 §3.1).
pub const REPEATABLE: &[&str] = &["resource", "audience"];

/// The decoded parameters of a form body, in the order they were sent, each name at most once
/// but for the [`REPEATABLE`] ones, read with [`Form::get_all`].
///
/// Per RFC 6749 §3.1, a parameter sent without a value is treated as omitted: [`Form::get`]
/// returns `None` for `token=`.
///
/// ```
/// let form = oauth_endpoints::form::Form::parse_body(b"token=a%2Bb+c&token_type_hint=").unwrap();
/// assert_eq!(form.get("token"), Some("a+b c"));
/// assert_eq!(form.get("token_type_hint"), None);
///
/// let repeated = oauth_endpoints::form::Form::parse_body(b"token=a&token=b");
/// assert!(repeated.is_err());
/// ```
#[derive(Clone, Default)]
pub struct Form {
    /// The body, when it is UTF-8 (empty otherwise): the text parameters are sliced from.
    body: Box<str>,
    /// `(name, value)`, each a slice of `body` when it needed no decoding.
    pairs: Vec<(Text, Text)>,
}

/// A decoded name or value.
///
/// Kept over the plain `Vec<(String, String)>` by a measured margin (issue 16: parse, read the
/// endpoint's parameters, drop; medians of 41 interleaved rounds, `cargo bench -p
/// oauth-endpoints-bench --bench form_offsets`, load average 6.2 on 2 cores): a 99-byte
/// refresh-token request 619 ns against 734, a 99-byte introspection request (64-character
/// token) 445 ns against 613.
#[derive(Clone)]
enum Text {
    /// `body[start..end]`, with no `+` or `%`: the decoded text is the raw text.
    Raw(u32, u32),
    /// Text that percent-decoding or `+` changed.
    Decoded(Box<str>),
}

impl Form {
    /// The most parameters a form may carry. OAuth requests carry a handful; the bound keeps the
    /// repeated-parameter check cheap for any body within the size limit.
    pub const MAX_PARAMETERS: usize = 128;

    /// Parses a request's body after checking that its `Content-Type` is
    /// `application/x-www-form-urlencoded` (parameters such as `charset` are allowed).
    pub fn from_request(request: &Request<Bytes>) -> Result<Self, FormError> {
        let is_form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(FormError::UnsupportedContentType);
        }
        Self::parse_body(request.body())
    }

    /// Parses a form body: `&`-separated `name=value` pairs, `+` for space, percent-encoding.
    /// Every parameter is checked against its syntax (RFC 6749 Appendix A,
    /// [`check_parameter`]): no value outside it leaves the parser.
    ///
    /// A body that is UTF-8 is copied once and parameters that need no decoding are sliced from
    /// that copy; every other name and value is decoded into its own string.
    pub fn parse_body(body: &[u8]) -> Result<Self, FormError> {
        // Offsets are kept as `u32`: a larger body (far over any body limit) is decoded piece by
        // piece, as is one that is not UTF-8 (which fails where its first bad piece is read).
        let text = std::str::from_utf8(body)
            .ok()
            .filter(|_| u32::try_from(body.len()).is_ok());
        let mut form = Self {
            pairs: Vec::with_capacity(4),
            body: text.map(Box::from).unwrap_or_default(),
        };
        let in_place = text.is_some();
        let mut start = 0;
        for segment in body.split(|&b| b == b'&') {
            let end = start + segment.len();
            let range = start..end;
            start = end + 1;
            if segment.is_empty() {
                continue;
            }
            if form.pairs.len() == Self::MAX_PARAMETERS {
                return Err(FormError::TooManyParameters);
            }
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (
                    range.start..range.start + at,
                    range.start + at + 1..range.end,
                ),
                None => (range.clone(), range.end..range.end),
            };
            let name = Text::read(body, name, in_place)?;
            let name_text = name.get(&form.body);
            if !REPEATABLE.contains(&name_text)
                && form
                    .pairs
                    .iter()
                    .any(|(seen, _)| seen.get(&form.body) == name_text)
            {
                return Err(FormError::Repeated(truncate(name_text.to_owned())));
            }
            let value = Text::read(body, value, in_place)?;
            check_parameter(name_text, value.get(&form.body))?;
            form.pairs.push((name, value));
        }
        Ok(form)
    }

    /// The value of `name`, or `None` if it is absent or empty (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty())
    }

    /// Every non-empty value of `name`, in the order sent: for the [`REPEATABLE`] parameters.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(key, value)| *key == name && !value.is_empty())
            .map(|(_, value)| value)
    }

    /// Whether `name` has a non-empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every parameter, in the order sent (empty values included).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(k, v)| (k.get(&self.body), v.get(&self.body)))
    }

    /// The `scope` parameter (RFC 6749 §3.3), if present; a malformed one is `invalid_scope`.
    pub fn scope(&self) -> Result<Option<Scope>, OAuthError> {
        self.get("scope")
            .map(|scope| {
                scope
                    .parse::<Scope>()
                    .map_err(|error| OAuthError::invalid_scope(error.to_string()))
            })
            .transpose()
    }

    /// Whether the form has no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl Text {
    /// The text of `body[range]`: in place when it needs no decoding and `in_place` (the body
    /// is UTF-8 and small enough for `u32` offsets).
    fn read(body: &[u8], range: std::ops::Range<usize>, in_place: bool) -> Result<Self, FormError> {
        let raw = body.get(range.clone()).unwrap_or_default();
        if in_place && !raw.iter().any(|&b| b == b'+' || b == b'%') {
            // `in_place`: both offsets fit.
            let start = u32::try_from(range.start).unwrap_or_default();
            let end = u32::try_from(range.end).unwrap_or_default();
            return Ok(Text::Raw(start, end));
        }
        Ok(Text::Decoded(decode(raw)?.into_boxed_str()))
    }

    fn get<'a>(&'a self, body: &'a str) -> &'a str {
        match self {
            // The range lies between `&`, `=` or the ends of the body: on character boundaries.
            Text::Raw(start, end) => body.get(*start as usize..*end as usize).unwrap_or_default(),
            Text::Decoded(text) => text,
        }
    }
}

impl PartialEq for Form {
    /// Forms are equal when they hold the same parameters in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.pairs.len() == other.pairs.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Form {}

impl std::fmt::Debug for Form {
    /// Names only: values may be tokens or secrets and are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("names", &self.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Decodes one name or value: `+` is a space, then percent-decoding, then UTF-8.
pub(crate) fn decode(raw: &[u8]) -> Result<String, FormError> {
    let raw: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode(&raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| FormError::NotUtf8)
}

/// [`decode`], borrowing `raw` when it holds no `+` and no `%`.
pub(crate) fn decode_cow(raw: &[u8]) -> Result<Cow<'_, str>, FormError> {
    if raw.contains(&b'+') {
        return decode(raw).map(Cow::Owned);
    }
    percent_decode(raw)
        .decode_utf8()
        .map_err(|_| FormError::NotUtf8)
}

/// Keeps error messages short when a hostile name is echoed back.
fn truncate(mut name: String) -> String {
    if name.len() > 64 {
        let mut end = 64;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        name.push_str("...");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let form = Form::parse_body(b"a=x+y%20z%2B&b=%E2%82%AC").unwrap();
        assert_eq!(form.get("a"), Some("x y z+"));
        assert_eq!(form.get("b"), Some("\u{20ac}"));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(Form::parse_body(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(Form::parse_body(b"a=\xff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn repeated_empty_parameter_is_still_repeated() {
        assert_eq!(
            Form::parse_body(b"a=&a=1"),
            Err(FormError::Repeated("a".into()))
        );
    }

    #[test]
    fn parameters_are_bounded() {
        let body: Vec<u8> = (0..=Form::MAX_PARAMETERS)
            .flat_map(|i| format!("p{i}=1&").into_bytes())
            .collect();
        assert_eq!(Form::parse_body(&body), Err(FormError::TooManyParameters));
        let body: Vec<u8> = (0..Form::MAX_PARAMETERS)
            .flat_map(|i| format!("p{i}=1&").into_bytes())
            .collect();
        assert_eq!(
            Form::parse_body(&body).unwrap().iter().count(),
            Form::MAX_PARAMETERS
        );
    }

    #[test]
    fn errors_come_in_body_order_whether_or_not_the_body_is_utf8() {
        assert_eq!(
            Form::parse_body(b"a=1&a=2&b=\xff"),
            Err(FormError::Repeated("a".into()))
        );
        assert_eq!(Form::parse_body(b"b=\xff&a=1&a=2"), Err(FormError::NotUtf8));
    }

    #[test]
    fn raw_and_decoded_parameters_read_alike() {
        let raw = Form::parse_body("x=\u{e9}t\u{e9}&y=&z".as_bytes()).unwrap();
        let encoded = Form::parse_body(b"x=%C3%A9t%C3%A9&y=&z").unwrap();
        assert_eq!(raw, encoded);
        assert_eq!(raw.get("x"), Some("\u{e9}t\u{e9}"));
        assert_eq!(
            raw.iter().collect::<Vec<_>>(),
            [("x", "\u{e9}t\u{e9}"), ("y", ""), ("z", "")]
        );
        assert_eq!(format!("{raw:?}"), r#"Form { names: ["x", "y", "z"], .. }"#);
    }

    #[test]
    fn missing_content_type_is_refused() {
        let request = Request::new(Bytes::from_static(b"a=1"));
        assert_eq!(
            Form::from_request(&request),
            Err(FormError::UnsupportedContentType)
        );
    }

    #[test]
    fn charset_parameter_is_accepted() {
        let request = Request::builder()
            .header(
                CONTENT_TYPE,
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            )
            .body(Bytes::from_static(b"a=1"))
            .unwrap();
        assert_eq!(Form::from_request(&request).unwrap().get("a"), Some("1"));
    }
}

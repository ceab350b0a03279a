//! Reading `Accept` (RFC 9110 §12.5.1): whether the caller asks for a signed answer
//! (RFC 9701 §4).

use http::HeaderMap;
use http::header::ACCEPT;

/// Whether the `Accept` fields of `headers` ask for the signed answer (RFC 9701 §4): the
/// caller names its media type, with a q-value above 0 and not below JSON's (RFC 9110
/// §12.5.1). See the endpoint's documentation.
pub(super) fn prefers_jwt(headers: &HeaderMap) -> bool {
    let mut jwt = Weight::default();
    let mut json = Weight::default();
    for field in headers.get_all(ACCEPT) {
        // A field that is not visible ASCII is not an `Accept` list: disregarded.
        let Ok(field) = field.to_str() else {
            continue;
        };
        for element in split_unquoted(field, b',') {
            if let Some(range) = MediaRange::parse(element) {
                jwt.consider(&range, "application", "token-introspection+jwt");
                json.consider(&range, "application", "json");
            }
        }
    }
    match jwt.best {
        Some((Specificity::Exact, q)) if q > 0 => json.best.is_none_or(|(_, json_q)| q >= json_q),
        _ => false,
    }
}

/// How closely a media range names a type (RFC 9110 §12.5.1: the most specific one applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    /// `*/*`.
    Any,
    /// `type/*`.
    Type,
    /// `type/subtype`.
    Exact,
}

/// The weight `Accept` gives one media type: its q-value in thousandths, by the most specific
/// range that matches it (the highest among equally specific ones); `None` when none does.
#[derive(Default)]
struct Weight {
    best: Option<(Specificity, u16)>,
}

impl Weight {
    fn consider(&mut self, range: &MediaRange<'_>, kind: &str, subtype: &str) {
        let Some(specificity) = range.matches(kind, subtype) else {
            return;
        };
        match self.best {
            Some((best, _)) if best > specificity => {}
            Some((best, q)) if best == specificity && q >= range.q => {}
            _ => self.best = Some((specificity, range.q)),
        }
    }
}

/// One element of an `Accept` list: `type/subtype`, `type/*` or `*/*`, and its q-value in
/// thousandths (RFC 9110 §12.5.1, §12.4.2).
#[derive(Debug, PartialEq, Eq)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

impl<'a> MediaRange<'a> {
    /// Parses `media-range [ weight ]`; `None` for an empty or malformed element, which the
    /// list then ignores. Parameters are checked for syntax; the first `q` is the weight and
    /// ends the range (what follows it were RFC 7231's `accept-ext`, ignored).
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = split_unquoted(element, b';');
        let (kind, subtype) = parts.next()?.trim_matches(OWS).split_once('/')?;
        if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1000;
        for parameter in parts {
            let parameter = parameter.trim_matches(OWS);
            if parameter.is_empty() {
                continue;
            }
            let (name, value) = parameter.split_once('=')?;
            if !is_token(name) || !(is_token(value) || is_quoted_string(value)) {
                return None;
            }
            if name.eq_ignore_ascii_case("q") {
                q = parse_qvalue(value)?;
                break;
            }
        }
        Some(Self { kind, subtype, q })
    }

    /// How specifically this range names `kind/subtype`, if it matches it (case-insensitively,
    /// RFC 9110 §8.3.1).
    fn matches(&self, kind: &str, subtype: &str) -> Option<Specificity> {
        if self.kind == "*" {
            Some(Specificity::Any)
        } else if !self.kind.eq_ignore_ascii_case(kind) {
            None
        } else if self.subtype == "*" {
            Some(Specificity::Type)
        } else if self.subtype.eq_ignore_ascii_case(subtype) {
            Some(Specificity::Exact)
        } else {
            None
        }
    }
}

/// Optional whitespace (RFC 9110 §5.6.3).
const OWS: &[char] = &[' ', '\t'];

/// A `token` (RFC 9110 §5.6.2).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `quoted-string` (RFC 9110 §5.6.4), its quotes included.
fn is_quoted_string(text: &str) -> bool {
    let Some(inner) = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return false;
    };
    let mut escaped = false;
    for b in inner.bytes() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return false;
        }
    }
    !escaped
}

/// A `qvalue` (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`) in thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `text` split at each `separator` outside a quoted string (RFC 9110 §5.6.4), where a
/// backslash escapes the next character.
fn split_unquoted(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (at, b) in text.bytes().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if !quoted && b == separator {
                rest = Some(&text[at + 1..]);
                return Some(&text[..at]);
            }
        }
        rest = None;
        Some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(fields: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append(ACCEPT, HeaderValue::from_str(field).unwrap());
        }
        prefers_jwt(&headers)
    }

    #[test]
    fn the_jwt_is_chosen_only_when_named_and_not_outweighed() {
        for yes in [
            "application/token-introspection+jwt",
            "Application/Token-Introspection+JWT",
            "application/token-introspection+jwt, application/json",
            "application/json, application/token-introspection+jwt",
            "application/json;q=0.5, application/token-introspection+jwt;q=0.8",
            "application/token-introspection+jwt;q=0.001",
            "application/token-introspection+jwt ; q=1.000",
            "application/token-introspection+jwt;charset=\"utf-8, or not\";q=0.9, application/json;q=0.9",
            "*/*;q=0.1, application/token-introspection+jwt",
            ",, application/token-introspection+jwt ,",
        ] {
            assert!(accept(&[yes]), "{yes}");
        }
        // Over several fields, as one list.
        assert!(accept(&[
            "application/json;q=0.2",
            "application/token-introspection+jwt"
        ]));
        for no in [
            "",
            "application/json",
            "*/*",
            "application/*",
            "text/html, */*;q=0.8",
            "application/json;q=0.9, */*",
            "application/token-introspection+jwt;q=0",
            "application/token-introspection+jwt;q=0.000, application/json",
            "application/token-introspection+jwt;q=0.5, application/json",
            "application/json, application/token-introspection+jwt;q=0.999",
            "application/token-introspection+jwt;q=0.5, application/*",
            // Repeated equally specific ranges: the highest q-value counts.
            "application/token-introspection+jwt;q=0.5, application/json;q=0.7, application/json;q=0.2",
            // Malformed elements are ignored, not read as the type they resemble.
            "application/token-introspection+jwt;q=2",
            "application/token-introspection+jwt;q=1.5",
            "application/token-introspection+jwt;q=0.1234",
            "application/token-introspection+jwt;q",
            "application/token-introspection+jwt;q =0.5",
            "application/token-introspection+jwt;charset=\"open",
            "application/token-introspection+jwtx",
            "application/token-introspection",
            "token-introspection+jwt",
            "*/token-introspection+jwt",
        ] {
            assert!(!accept(&[no]), "{no}");
        }
        assert!(!accept(&[]));
    }

    #[test]
    fn media_ranges_and_qvalues_parse_as_rfc_9110_says() {
        assert_eq!(
            MediaRange::parse(" application/json ;charset=utf-8; q=0.25 ;ext=1"),
            Some(MediaRange {
                kind: "application",
                subtype: "json",
                q: 250
            })
        );
        assert_eq!(MediaRange::parse("a/b;;q=1").map(|r| r.q), Some(1000));
        assert_eq!(
            MediaRange::parse("a/b;p=\"x;q=0\"").map(|r| r.q),
            Some(1000)
        );
        assert_eq!(
            MediaRange::parse("a/b;p=\"x\\\"y\";Q=0.5").map(|r| r.q),
            Some(500)
        );
        assert_eq!(MediaRange::parse(""), None);
        assert_eq!(MediaRange::parse("a/b;p=x y"), None);
        assert_eq!(MediaRange::parse("a b/c"), None);
        for (text, q) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.125", Some(125)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("0.1234", None),
            (".5", None),
            ("-0", None),
            ("0.5x", None),
            ("", None),
        ] {
            assert_eq!(parse_qvalue(text), q, "{text}");
        }
        let split: Vec<&str> = split_unquoted("a, \"b,\\\",c\" ,d", b',').collect();
        assert_eq!(split, ["a", " \"b,\\\",c\" ", "d"]);
    }
}

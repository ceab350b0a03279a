//! Reading the access token from `Authorization: Bearer <b64token>` (RFC 6750 §2.1), and only
//! from there.

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The token of the request's `Authorization: Bearer` credentials.
///
/// - No `Authorization` header, or one with another scheme (`Basic ...`): `Ok(None)`, the
///   request carries no Bearer credentials (RFC 6750 §3.1: answered with a bare challenge).
/// - More than one `Authorization` header, or Bearer credentials that are not
///   `"Bearer" 1*SP b64token`: `Err(why)`, a malformed request (`invalid_request`).
///
/// The scheme is case-insensitive (RFC 9110 §11.1); leading and trailing whitespace of the
/// field value is not part of it (RFC 9110 §5.5).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value.as_bytes().trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => value.split_at(space),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        return Ok(None);
    }
    let token = rest.trim_ascii_start();
    if token.is_empty() {
        return Err("the Bearer credentials carry no token");
    }
    if !is_b64token(token) {
        return Err("the Bearer credentials are not `Bearer <b64token>` (RFC 6750 §2.1)");
    }
    // b64token is ASCII.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| "the Bearer token is not ASCII")
}

/// Whether the request has Bearer credentials, well-formed or not (for an optional
/// extractor: no credentials at all is not an error there).
#[cfg(feature = "axum")]
pub(crate) fn has_bearer_credentials(headers: &HeaderMap) -> bool {
    !matches!(bearer_token(headers), Ok(None))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &[u8]) -> bool {
    let body = token
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    body > 0
        && token[..body].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(values: &[&'static str]) -> Result<Option<String>, &'static str> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_static(value));
        }
        bearer_token(&headers).map(|token| token.map(str::to_owned))
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_b64token() {
        assert_eq!(parse(&["Bearer abc"]), Ok(Some("abc".into())));
        assert_eq!(parse(&["bearer abc"]), Ok(Some("abc".into())));
        assert_eq!(
            parse(&["BEARER a-b.c_d~e+f/g=="]),
            Ok(Some("a-b.c_d~e+f/g==".into()))
        );
        assert_eq!(parse(&["Bearer  abc "]), Ok(Some("abc".into())));
        assert_eq!(parse(&["Bearer x.y.z"]), Ok(Some("x.y.z".into())));
    }

    #[test]
    fn no_bearer_credentials_is_none() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&["Basic YTpi"]), Ok(None));
        assert_eq!(parse(&["Bearerabc"]), Ok(None));
        assert_eq!(parse(&["DPoP abc"]), Ok(None));
    }

    #[test]
    fn malformed_bearer_credentials_are_refused() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ==",
            "Bearer a=b",
            "Bearer \"abc\"",
        ] {
            assert!(parse(&[value]).is_err(), "{value}");
        }
        assert!(parse(&["Bearer a", "Bearer b"]).is_err());
        assert!(parse(&["Basic YTpi", "Bearer b"]).is_err());
    }
}

//! Reading the access token from `Authorization: Bearer <b64token>` (RFC 6750 §2.1) or
//! `Authorization: DPoP <token68>` (RFC 9449 §7.1), and only from there.

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The authentication scheme the credentials (or the refusal's challenge) speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// The request's access token and the scheme it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credentials<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
}

/// Malformed credentials: the scheme they claim (when known) and why.
pub(crate) type Malformed = (Option<Scheme>, &'static str);

/// The request's `Authorization: Bearer` or `Authorization: DPoP` credentials.
///
/// - No `Authorization` header, or one with another scheme (`Basic ...`): `Ok(None)`, the
///   request carries no credentials of ours (RFC 6750 §3.1: answered with a bare challenge).
/// - More than one `Authorization` header, or credentials that are not
///   `"Bearer" 1*SP b64token` / `"DPoP" 1*SP token68`: `Err(why)`, a malformed request
///   (`invalid_request`).
///
/// The schemes are case-insensitive (RFC 9110 §11.1); leading and trailing whitespace of the
/// field value is not part of it (RFC 9110 §5.5). `b64token` (RFC 6750 §2.1) and `token68`
/// (RFC 9110 §11.2, what RFC 9449 §7.1 asks for) are the same syntax.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<Option<Credentials<'_>>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err((None, "more than one Authorization header"));
    }
    let value = value.as_bytes().trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => value.split_at(space),
        None => (value, &[][..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"Bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"DPoP") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = rest.trim_ascii_start();
    let malformed = |reason| Err((Some(scheme), reason));
    if token.is_empty() {
        return malformed(match scheme {
            Scheme::Bearer => "the Bearer credentials carry no token",
            Scheme::Dpop => "the DPoP credentials carry no token",
        });
    }
    if !is_b64token(token) {
        return malformed(match scheme {
            Scheme::Bearer => "the Bearer credentials are not `Bearer <b64token>` (RFC 6750 §2.1)",
            Scheme::Dpop => "the DPoP credentials are not `DPoP <token68>` (RFC 9449 §7.1)",
        });
    }
    // b64token is ASCII.
    match std::str::from_utf8(token) {
        Ok(token) => Ok(Some(Credentials { scheme, token })),
        Err(_) => malformed("the token is not ASCII"),
    }
}

/// The token of the request's `Authorization: Bearer` credentials: as [`credentials`], with
/// DPoP credentials read as none (what a Bearer-only check sees).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    Ok(credentials(headers)?
        .filter(|credentials| credentials.scheme == Scheme::Bearer)
        .map(|credentials| credentials.token))
}

/// Whether the request has Bearer or DPoP credentials, well-formed or not (for an optional
/// extractor: no credentials at all is not an error there).
#[cfg(feature = "axum")]
pub(crate) fn has_credentials(headers: &HeaderMap) -> bool {
    !matches!(credentials(headers), Ok(None))
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

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_static(value));
        }
        headers
    }

    fn parse(values: &[&'static str]) -> Result<Option<String>, &'static str> {
        bearer_token(&headers(values))
            .map(|token| token.map(str::to_owned))
            .map_err(|(_, reason)| reason)
    }

    fn parse_dpop(value: &'static str) -> Result<Option<(Scheme, String)>, Malformed> {
        credentials(&headers(&[value]))
            .map(|found| found.map(|found| (found.scheme, found.token.to_owned())))
    }

    #[test]
    fn dpop_credentials_are_read_with_their_scheme() {
        for value in ["DPoP abc", "dpop abc", "DPOP  abc ", "DPoP abc=="] {
            let (scheme, token) = parse_dpop(value).unwrap().unwrap();
            assert_eq!(scheme, Scheme::Dpop, "{value}");
            assert!(token.starts_with("abc"), "{value}");
        }
        assert_eq!(
            parse_dpop("Bearer abc").unwrap(),
            Some((Scheme::Bearer, "abc".into()))
        );
        for value in ["DPoP", "DPoP a b", "DPoP \"abc\"", "DPoP =="] {
            assert_eq!(
                parse_dpop(value).unwrap_err().0,
                Some(Scheme::Dpop),
                "{value}"
            );
        }
        assert_eq!(parse_dpop("DPoPabc").unwrap(), None);
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

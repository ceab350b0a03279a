//! The value syntax of request parameters (RFC 6749 Appendix A), checked in one place, before
//! any value can reach a store.
//!
//! [`Form`](crate::form::Form) applies [`check_parameter`] to every parameter it parses, and client
//! authentication applies [`is_vschar`] to Basic credentials: a value outside its syntax is the
//! request's error, answered with the code [`SyntaxError`] names, never a store's failure.

use crate::error::OAuthError;

/// How a parameter's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Syntax {
    /// `*VSCHAR`, `VSCHAR = %x20-7E` (RFC 6749 A.1 `client_id`, A.2 `client_secret`, A.5
    /// `state`, A.11 `code`, A.17 `refresh_token`; tokens generally, A.12).
    Vschar,
    /// `scope-token *( SP scope-token )`, `scope-token = 1*NQCHAR` (A.4).
    Scope,
    /// `grant-name / URI-reference` (A.10): printable ASCII without space or the characters
    /// RFC 3986 never allows.
    GrantType,
    /// `URI-reference` (A.6 `redirect_uri`, RFC 3986 §4.1), by its character set.
    UriReference,
    /// Any parameter the library does not know: any text without control characters
    /// (`%x00-1F` and `%x7F`), as the widest Appendix A rule, A.16's `UNICODECHARNOCRLF`, is
    /// further narrowed by excluding every other control character no OAuth value carries.
    Text,
}

/// Every parameter whose syntax the library knows, with that syntax. Names not listed are
/// [`Syntax::Text`].
const KNOWN: &[(&str, Syntax)] = &[
    ("client_id", Syntax::Vschar),
    ("client_secret", Syntax::Vschar),
    ("code", Syntax::Vschar),
    ("device_code", Syntax::Vschar),
    ("grant_type", Syntax::GrantType),
    ("redirect_uri", Syntax::UriReference),
    ("refresh_token", Syntax::Vschar),
    ("scope", Syntax::Scope),
    ("state", Syntax::Vschar),
    // `resource` (RFC 8707 §2) stays `Text` here: the grants that read it check it is an
    // absolute URI (`Targets`, answering `invalid_target`), and the endpoints that do not
    // ignore it (RFC 6749 §3.1).
    // `token` (RFC 7009 §2.1, RFC 7662 §2.1) and `token_type_hint` stay `Text` here: a token
    // outside `1*VSCHAR` (A.12, A.17) is one this server never issued, which both RFCs answer as
    // an unknown token (200, `{"active":false}`), not as a bad request; `Tokens::find` answers
    // it without asking the store. An unknown hint is ignored (RFC 7009 §2.2).
];

impl Syntax {
    /// The syntax of parameter `name`.
    pub fn of(name: &str) -> Self {
        KNOWN
            .iter()
            .find(|(known, _)| *known == name)
            .map_or(Syntax::Text, |(_, syntax)| *syntax)
    }

    /// Whether `value` is written in this syntax. The empty value is accepted: RFC 6749 §3.1
    /// treats it as omitted.
    pub fn accepts(self, value: &str) -> bool {
        let bytes = value.as_bytes();
        match self {
            Syntax::Vschar => is_vschar(value),
            Syntax::Scope => {
                bytes.iter().all(|&b| b == b' ' || is_nqchar(b))
                    && !value.starts_with(' ')
                    && !value.ends_with(' ')
                    && !value.contains("  ")
            }
            Syntax::GrantType | Syntax::UriReference => bytes.iter().all(|&b| is_uri_char(b)),
            Syntax::Text => !value.chars().any(char::is_control),
        }
    }
}

/// Whether `value` is `*VSCHAR` (`%x20-7E`, RFC 6749 A.1, A.2).
pub fn is_vschar(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// `NQCHAR = %x21 / %x23-5B / %x5D-7E` (RFC 6749 A.4).
pub(crate) fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

/// The characters a URI reference may hold (RFC 3986 §2): unreserved, reserved and `%`.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// The scheme of an absolute URI, before its first `:` (RFC 3986 §3.1:
/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), and the rest after the `:`.
pub(crate) fn split_scheme(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    let valid = first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// A parameter whose value is outside its syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{name}` is not written in its syntax (RFC 6749 Appendix A)")]
pub struct SyntaxError {
    /// The parameter (only ever a known name or a short printable prefix of an unknown one).
    pub name: String,
}

/// Checks one parameter against its syntax (RFC 6749 Appendix A). The name must itself be text.
pub fn check_parameter(name: &str, value: &str) -> Result<(), SyntaxError> {
    if !Syntax::Text.accepts(name) || !Syntax::of(name).accepts(value) {
        return Err(SyntaxError {
            name: printable_name(name),
        });
    }
    Ok(())
}

/// A name safe to echo in an error description: known names as they are, others cut short and
/// stripped of anything but printable ASCII.
fn printable_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect()
}

impl From<SyntaxError> for OAuthError {
    /// The error RFC 6749 §5.2 gives the parameter: client credentials fail authentication
    /// (`invalid_client`, the same description every other credential failure gets), a
    /// refresh token, code or device code is an `invalid_grant`, a scope `invalid_scope`, and
    /// anything else `invalid_request`.
    fn from(error: SyntaxError) -> Self {
        match error.name.as_str() {
            "client_id" | "client_secret" => {
                OAuthError::invalid_client(crate::client_auth::AUTHENTICATION_FAILED)
            }
            "refresh_token" | "code" | "device_code" => {
                OAuthError::invalid_grant(error.to_string())
            }
            "scope" => OAuthError::invalid_scope(error.to_string()),
            _ => OAuthError::invalid_request(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_refuses_control_characters() {
        for syntax in [
            Syntax::Vschar,
            Syntax::Scope,
            Syntax::GrantType,
            Syntax::UriReference,
            Syntax::Text,
        ] {
            assert!(!syntax.accepts("a\0b"), "{syntax:?}");
            assert!(!syntax.accepts("a\nb"), "{syntax:?}");
            assert!(!syntax.accepts("a\x7fb"), "{syntax:?}");
            assert!(syntax.accepts(""), "{syntax:?}");
        }
    }

    #[test]
    fn rules_follow_appendix_a() {
        assert!(Syntax::of("client_id").accepts("my client:1"));
        assert!(!Syntax::of("client_id").accepts("clïent"));
        assert!(Syntax::of("scope").accepts("read write:all"));
        assert!(!Syntax::of("scope").accepts("read  write"));
        assert!(!Syntax::of("scope").accepts("say\"hi\""));
        assert!(Syntax::of("grant_type").accepts("urn:ietf:params:oauth:grant-type:device_code"));
        assert!(!Syntax::of("grant_type").accepts("client credentials"));
        assert!(Syntax::of("custom").accepts("ünïcode is fine"));
    }

    #[test]
    fn errors_follow_rfc_6749_section_5_2() {
        let code = |name: &str| {
            OAuthError::from(check_parameter(name, "\0").unwrap_err())
                .code()
                .to_owned()
        };
        assert_eq!(code("client_id"), "invalid_client");
        assert_eq!(code("refresh_token"), "invalid_grant");
        assert_eq!(code("scope"), "invalid_scope");
        assert_eq!(code("token"), "invalid_request"); // a control character, in any parameter
        assert_eq!(code("anything"), "invalid_request");
    }
}

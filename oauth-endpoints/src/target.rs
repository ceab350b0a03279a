//! Where a token may be used: the `resource` parameters of RFC 8707 and the `audience`
//! parameters of token exchange (RFC 8693 §2.1), checked against what the client registered.
//!
//! A request's targets become the token's audience ([`TokenRecord::audience`](
//! crate::token::TokenRecord::audience)): `aud` in introspection answers and JWT access tokens.

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;

/// The `resource` parameter (RFC 8707 §2): an absolute URI, repeatable.
pub const RESOURCE: &str = "resource";

/// The `audience` parameter of token exchange (RFC 8693 §2.1): a logical name, repeatable.
pub const AUDIENCE: &str = "audience";

/// The error code for a target the server will not issue a token for (RFC 8707 §2,
/// RFC 8693 §2.2.2).
pub const INVALID_TARGET: &str = "invalid_target";

/// The most targets one request may name: a token meant for more services than this is not
/// audience-restricted in any useful sense, and the bound keeps records small.
pub const MAX_TARGETS: usize = 16;

/// `invalid_target` (400) with `description` (RFC 8707 §2).
pub fn invalid_target(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(INVALID_TARGET, http::StatusCode::BAD_REQUEST).with_description(description)
}

/// Whether `value` can name a target in a client's registration: non-empty printable ASCII
/// without spaces, and no fragment (`#`, RFC 8707 §2).
pub(crate) fn is_target(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// Whether `value` is a valid `resource` (RFC 8707 §2): an absolute URI (RFC 3986 §4.3: a
/// scheme, then `:`), written in URI characters, without a fragment. (A query is allowed,
/// though §2 says it SHOULD NOT be used.)
pub fn is_resource_uri(value: &str) -> bool {
    crate::syntax::split_scheme(value).is_some_and(|(_, rest)| !rest.is_empty())
        && crate::syntax::Syntax::UriReference.accepts(value)
        && !value.contains('#')
}

/// The targets a request names, in the order given, without repeats.
///
/// ```
/// use oauth_endpoints::form::Form;
/// use oauth_endpoints::target::Targets;
///
/// let form = Form::parse_body(
///     b"resource=https%3A%2F%2Fapi.example.com%2F&resource=https%3A%2F%2Fmail.example.com%2F",
/// )
/// .unwrap();
/// let targets = Targets::resources(&form).unwrap();
/// assert_eq!(targets.as_slice(), ["https://api.example.com/", "https://mail.example.com/"]);
///
/// let relative = Form::parse_body(b"resource=%2Fapi").unwrap();
/// assert_eq!(Targets::resources(&relative).unwrap_err().code(), "invalid_target");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets(Vec<String>);

impl Targets {
    /// The `resource` parameters of `form` (RFC 8707 §2): each an absolute URI without a
    /// fragment, else `invalid_target`.
    pub fn resources(form: &Form) -> Result<Self, OAuthError> {
        Self::from_resources(form.get_all(RESOURCE))
    }

    /// The `resource` and `audience` parameters of a token exchange request (RFC 8693 §2.1):
    /// resources as [`resources`](Self::resources) checks them, audiences any target name.
    pub fn resources_and_audiences(form: &Form) -> Result<Self, OAuthError> {
        let mut targets = Self::resources(form)?;
        for audience in form.get_all(AUDIENCE) {
            if !is_target(audience) {
                return Err(invalid_target(
                    "audience must be printable ASCII without spaces or a fragment",
                ));
            }
            targets.push(audience)?;
        }
        Ok(targets)
    }

    /// Targets from values already read (e.g. a pushed request's), checked as `resource`s.
    pub fn from_resources<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, OAuthError> {
        let mut targets = Self::default();
        for value in values {
            if !is_resource_uri(value) {
                return Err(invalid_target(
                    "resource must be an absolute URI without a fragment (RFC 8707 §2)",
                ));
            }
            targets.push(value)?;
        }
        Ok(targets)
    }

    fn push(&mut self, value: &str) -> Result<(), OAuthError> {
        if !self.0.iter().any(|seen| seen == value) {
            if self.0.len() == MAX_TARGETS {
                return Err(invalid_target("too many targets in one request"));
            }
            self.0.push(value.to_owned());
        }
        Ok(())
    }

    /// Whether the request named no target.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The targets, in the order given.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The targets, to record as a token's audience.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    /// Checks that `client` registered every target ([`Client::allowed_resources`]), else
    /// `invalid_target` (RFC 8707 §2: the server refuses a resource the client may not use).
    /// The description names no target, registered or not.
    pub fn check_client(&self, client: &Client) -> Result<(), OAuthError> {
        if self.0.iter().all(|target| client.may_target(target)) {
            Ok(())
        } else {
            Err(invalid_target(
                "the client may not ask for a token for this resource or audience",
            ))
        }
    }

    /// Checks that every target is within `granted`, the audience an earlier step granted (the
    /// authorization request's resources, or the refresh token's grant): RFC 8707 §2.2 lets a
    /// token request only narrow it. `invalid_target` otherwise.
    pub fn check_within(&self, granted: &[String]) -> Result<(), OAuthError> {
        if self.0.iter().all(|target| granted.contains(target)) {
            Ok(())
        } else {
            Err(invalid_target(
                "the resource was not part of the original grant (RFC 8707 §2.2)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_absolute_uris_without_fragments() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "urn:example:resource",
        ] {
            assert!(is_resource_uri(good), "{good}");
        }
        for bad in [
            "",
            "/relative",
            "api.example.com",
            "https://api.example.com/#frag",
            "https://api example.com",
            "1http://x",
            "https:",
        ] {
            assert!(!is_resource_uri(bad), "{bad}");
        }
    }

    #[test]
    fn repeated_targets_count_once_and_are_bounded() {
        let form = Form::parse_body(b"resource=urn%3Aa&resource=urn%3Aa&audience=b").unwrap();
        let targets = Targets::resources_and_audiences(&form).unwrap();
        assert_eq!(targets.as_slice(), ["urn:a", "b"]);
        let many: String = (0..=MAX_TARGETS)
            .map(|i| format!("resource=urn%3A{i}&"))
            .collect();
        let form = Form::parse_body(many.as_bytes()).unwrap();
        assert_eq!(
            Targets::resources(&form).unwrap_err().code(),
            INVALID_TARGET
        );
    }

    #[test]
    fn narrowing_checks_the_granted_audience() {
        let form = Form::parse_body(b"resource=urn%3Aa").unwrap();
        let targets = Targets::resources(&form).unwrap();
        assert!(
            targets
                .check_within(&["urn:a".into(), "urn:b".into()])
                .is_ok()
        );
        assert!(targets.check_within(&["urn:b".into()]).is_err());
    }
}

//! [`BuildError`]: why a server could not be built.

use http::Method;

use crate::description::Source;

/// A registry conflict or mistake found by
/// [`AuthorizationServerBuilder::build`](crate::AuthorizationServerBuilder::build). Each names
/// the culprits with their source locations.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// [`require_endpoint`](crate::AuthorizationServerBuilder::require_endpoint) names an
    /// endpoint that is not mounted.
    #[error(
        "no endpoint named `{name}` is mounted: if an annotated type defines it, link its crate \
         (`use its_crate as _;`), or register it with `register_endpoint`"
    )]
    MissingEndpoint {
        /// The name required.
        name: String,
    },
    /// Access tokens are to be JWTs, but the server has no signing keys or no issuer (the
    /// `iss` every JWT carries).
    #[error(
        "access tokens as JWTs need signing keys (`.signing_keys(...)`) and an issuer \
         (`.issuer(...)`)"
    )]
    JwtWithoutKeys,
    /// `require_endpoint` or `require_grant` names an endpoint or grant type that is linked but
    /// was left out: its `check_setup` refused the server's setup.
    #[error("{0}")]
    Unmounted(crate::server::Unmounted),
    /// [`require_grant`](crate::AuthorizationServerBuilder::require_grant) names a
    /// `grant_type` that no grant handles.
    #[error(
        "no grant handles grant_type `{grant_type}`: if an annotated type defines it, link its \
         crate (`use its_crate as _;`), or register it with `register_grant`"
    )]
    MissingGrant {
        /// The `grant_type` required.
        grant_type: String,
    },
    /// Two endpoints share one name.
    #[error("two endpoints are named `{name}`: {first} and {second}")]
    DuplicateName {
        /// The shared name.
        name: String,
        /// One endpoint.
        first: Source,
        /// The other.
        second: Source,
    },
    /// Two endpoints answer the same method on the same path.
    #[error(
        "`{method} {path}` is answered by two endpoints: `{first_name}` ({first}) and `{second_name}` ({second})"
    )]
    DuplicateRoute {
        /// The method both answer.
        method: Method,
        /// The path both are mounted at.
        path: String,
        /// The first endpoint's name.
        first_name: String,
        /// Where it was defined.
        first: Source,
        /// The second endpoint's name.
        second_name: String,
        /// Where it was defined.
        second: Source,
    },
    /// `exclude(name)` names no collected endpoint.
    #[error("`exclude(\"{name}\")` names no collected endpoint")]
    UnknownExclusion {
        /// The name given.
        name: String,
    },
    /// `only([...])` names no collected endpoint.
    #[error("`only` names `{name}`, which is no collected endpoint")]
    UnknownOnly {
        /// The name given.
        name: String,
    },
    /// `mount(name, path)` names no endpoint.
    #[error("`mount(\"{name}\", \"{path}\")` names no endpoint")]
    UnknownMount {
        /// The name given.
        name: String,
        /// The path given.
        path: String,
    },
    /// An endpoint's path breaks the path rule.
    #[error("endpoint `{name}` ({at}): path `{path}` {reason}")]
    InvalidPath {
        /// The endpoint.
        name: String,
        /// The path.
        path: String,
        /// The rule it breaks.
        reason: &'static str,
        /// Where the endpoint was defined.
        at: Source,
    },
    /// The base path breaks the path rule, or ends with `/`.
    #[error("base path `{path}` {reason}")]
    InvalidBasePath {
        /// The base path.
        path: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// An explicitly registered endpoint has an empty name or one with whitespace.
    #[error("endpoint {at}: name `{name}` must be non-empty and contain no whitespace")]
    InvalidName {
        /// The name.
        name: String,
        /// Where the endpoint was registered.
        at: Source,
    },
    /// An explicitly registered endpoint lists an unknown, empty or repeated HTTP method.
    #[error(
        "endpoint `{name}` ({at}): `{method}` is not an accepted HTTP method here (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, each once)"
    )]
    InvalidMethod {
        /// The endpoint.
        name: String,
        /// The offending entry.
        method: String,
        /// Where the endpoint was registered.
        at: Source,
    },
    /// An explicitly registered endpoint accepts no client authentication method.
    #[error("endpoint `{name}` ({at}): `auth_methods` must name at least one method")]
    NoAuthMethods {
        /// The endpoint.
        name: String,
        /// Where it was registered.
        at: Source,
    },
    /// An explicitly registered endpoint's metadata name is not lowercase snake_case.
    #[error(
        "endpoint `{name}` ({at}): metadata name `{metadata}` must be lowercase snake_case, e.g. `device_authorization_endpoint`"
    )]
    InvalidMetadataName {
        /// The endpoint.
        name: String,
        /// The metadata name.
        metadata: String,
        /// Where it was registered.
        at: Source,
    },
    /// The issuer identifier breaks RFC 8414 §2.
    #[error("issuer `{issuer}` {reason}")]
    InvalidIssuer {
        /// The issuer given.
        issuer: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A static metadata field would replace one the registry computes.
    #[error("metadata field `{name}` is computed from the registry and cannot be set by hand")]
    ComputedMetadataField {
        /// The field.
        name: String,
    },
    /// Two grants are registered for one `grant_type`.
    #[error("two grants are registered for grant_type `{grant_type}`: {first} and {second}")]
    DuplicateGrant {
        /// The shared `grant_type`.
        grant_type: String,
        /// One grant.
        first: Source,
        /// The other.
        second: Source,
    },
    /// `exclude_grant(grant_type)` names no collected grant.
    #[error("`exclude_grant(\"{grant_type}\")` names no collected grant")]
    UnknownGrantExclusion {
        /// The `grant_type` given.
        grant_type: String,
    },
    /// An explicitly registered grant has an empty `grant_type` or one with whitespace.
    #[error("grant {at}: grant_type `{grant_type}` must be non-empty printable ASCII")]
    InvalidGrantType {
        /// The `grant_type` given.
        grant_type: String,
        /// Where it was registered.
        at: Source,
    },
}

impl std::fmt::Debug for BuildError {
    /// As `Display`: what `?` in `main` prints should read as a sentence, not a struct dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

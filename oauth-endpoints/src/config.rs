//! [`ServerConfig`]: the settings every endpoint may read.

use std::time::Duration;

use crate::keys::KeySet;
use crate::token::AccessTokenFormat;

/// The scope a Bearer token needs to call the introspection endpoint unless configured otherwise.
pub const DEFAULT_INTROSPECTION_SCOPE: &str = "introspection";

/// Server-wide settings, set through the builder and read by endpoints through
/// [`Context::config`](crate::Context::config).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes; larger bodies are refused with 413 before
    /// any endpoint runs. Default 64 KiB.
    pub body_limit: usize,
    /// The issuer identifier (RFC 8414 §2), published as `iss` in introspection answers.
    pub issuer: Option<String>,
    /// Access token lifetime. Default one hour.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime, counted from the grant's first refresh token. Default 30 days.
    pub refresh_token_ttl: Duration,
    /// The refresh-token grace window for clients that set none of their own
    /// ([`Client::refresh_token_grace`](crate::Client::refresh_token_grace)). Default zero:
    /// off, every second presentation of a rotated refresh token is reuse and revokes the grant
    /// (RFC 9700 §4.14.2). See [`AuthorizationServerBuilder::refresh_token_grace`](
    /// crate::AuthorizationServerBuilder::refresh_token_grace).
    pub refresh_token_grace: Duration,
    /// Whether revoking an access token revokes its whole grant, refresh token included
    /// (RFC 7009 §2.1 MAY). Default false: the refresh token stays usable.
    pub revoke_grant_with_access_token: bool,
    /// `scopes_supported` in the metadata document (RFC 8414 §2), when set.
    pub scopes_supported: Option<Vec<String>>,
    /// `service_documentation` in the metadata document (RFC 8414 §2), when set.
    pub service_documentation: Option<String>,
    /// Extra static members of the metadata document (e.g. `response_types_supported` for an
    /// authorization endpoint served elsewhere).
    pub metadata_fields: serde_json::Map<String, serde_json::Value>,
    /// The scope a Bearer token must carry to call the introspection endpoint. Default
    /// `introspection`.
    pub introspection_scope: String,
    /// The keys JWTs are signed with and the JWKS publishes, when set.
    pub signing_keys: Option<KeySet>,
    /// What access tokens look like for clients that set nothing of their own. Default
    /// opaque.
    pub access_token_format: AccessTokenFormat,
    /// The `aud` of JWT access tokens issued without a resource indicator (RFC 9068 §3: a
    /// default resource indicator). Default: the issuer identifier.
    pub access_token_audience: Option<String>,
    /// How DPoP proofs (RFC 9449) are checked: the `iat` window and whether nonces are
    /// required (off by default). See [`DpopSettings`](crate::dpop::DpopSettings).
    pub dpop: crate::dpop::DpopSettings,
}

impl ServerConfig {
    /// The default body limit: 64 KiB.
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: Self::DEFAULT_BODY_LIMIT,
            issuer: None,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_token_grace: Duration::ZERO,
            revoke_grant_with_access_token: false,
            introspection_scope: DEFAULT_INTROSPECTION_SCOPE.to_owned(),
            scopes_supported: None,
            service_documentation: None,
            metadata_fields: serde_json::Map::new(),
            signing_keys: None,
            access_token_format: AccessTokenFormat::Opaque,
            access_token_audience: None,
            dpop: crate::dpop::DpopSettings::default(),
        }
    }
}

//! [`ClientMetadata`]: a client as configuration files and registration requests describe it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::{Client, InvalidClient, SecretPolicy};
use crate::client_auth::ClientAuthMethod;
use crate::grant::CLIENT_CREDENTIALS;
use crate::scope::Scope;
use crate::token::AccessTokenFormat;

/// A client described with RFC 7591 §2 metadata names, plus `introspect_any_token`, e.g. one entry
/// of a clients file. The secret is plaintext here and hashed by [`ClientMetadata::into_client`].
///
/// ```
/// use oauth_endpoints::client::ClientMetadata;
///
/// let metadata: ClientMetadata = serde_json::from_str(r#"{
///     "client_id": "reporting",
///     "client_secret": "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1",
///     "token_endpoint_auth_method": "client_secret_post",
///     "grant_types": ["client_credentials", "refresh_token"],
///     "scope": "reports:read"
/// }"#).unwrap();
/// let client = metadata.into_client().unwrap();
/// assert!(client.verify_secret("kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1"));
/// ```
///
/// A client that signs in with a key (`private_key_jwt`, RFC 7523 §2.2) has no secret and
/// registers its public keys as `jwks` (RFC 7591 §2):
///
/// ```
/// use oauth_endpoints::client::ClientMetadata;
/// use oauth_endpoints::token::AccessTokenFormat;
///
/// let metadata: ClientMetadata = serde_json::from_str(r#"{
///     "client_id": "batch-job",
///     "token_endpoint_auth_method": "private_key_jwt",
///     "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "2025-01",
///         "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]},
///     "access_token_format": "jwt",
///     "scope": "reports:read"
/// }"#).unwrap();
/// let client = metadata.into_client().unwrap();
/// assert!(client.jwks().is_some());
/// assert_eq!(client.access_token_format(), Some(AccessTokenFormat::Jwt));
/// ```
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `token_endpoint_auth_method`; default `client_secret_basic` (RFC 7591 §2).
    #[serde(default = "default_method")]
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// `grant_types`; default `["client_credentials"]`.
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    /// `scope`: the scopes the client may be granted; default none.
    #[serde(default)]
    pub scope: Scope,
    /// Whether the client may introspect tokens issued to other clients; default false.
    #[serde(default)]
    pub introspect_any_token: bool,
    /// Browser origins allowed to call the revocation endpoint for this client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_cors_origins: Vec<String>,
    /// `redirect_uris` (RFC 7591 §2): where authorization responses may be sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// The client's refresh-token grace window in seconds (0: off for this client); absent,
    /// the server's applies (off by default). See
    /// [`ClientBuilder::with_refresh_token_grace`](crate::client::ClientBuilder::with_refresh_token_grace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_grace: Option<u64>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6); default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2); default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// `jwks` (RFC 7591 §2): the client's public keys, a JWK Set object; required with
    /// `private_key_jwt` (see
    /// [`ClientBuilder::with_jwks`](crate::client::ClientBuilder::with_jwks) for what is
    /// accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// The format of the client's access tokens, `jwt` or `opaque`; absent, the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<AccessTokenFormat>,
    /// The targets the client may ask tokens for: `resource` URIs (RFC 8707 §2) and token
    /// exchange `audience` names (RFC 8693 §2.1); default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_resources: Vec<String>,
    /// The resources the client serves as a resource server, as tokens name them in `aud`
    /// (see [`Client::served_resources`]); default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub served_resources: Vec<String>,
}

fn default_method() -> ClientAuthMethod {
    ClientAuthMethod::ClientSecretBasic
}

fn default_grants() -> Vec<String> {
    vec![CLIENT_CREDENTIALS.to_owned()]
}

impl ClientMetadata {
    /// Builds the client with the default [`SecretPolicy`], hashing its secret; every rule of
    /// [`ClientBuilder::build`](crate::client::ClientBuilder::build) applies.
    pub fn into_client(self) -> Result<Client, InvalidClient> {
        self.into_client_with(SecretPolicy::default())
    }

    /// Builds the client, checking a plaintext secret against `policy`.
    pub fn into_client_with(self, policy: SecretPolicy) -> Result<Client, InvalidClient> {
        let builder = match self.client_secret {
            Some(secret) => Client::confidential(self.client_id, &secret),
            None => Client::public(self.client_id),
        };
        let builder = match self.refresh_token_grace {
            Some(seconds) => builder.with_refresh_token_grace(Duration::from_secs(seconds)),
            None => builder,
        };
        let builder = match self.jwks {
            Some(jwks) => builder.with_jwks(jwks.to_string()),
            None => builder,
        };
        builder
            .with_auth_method(self.token_endpoint_auth_method)
            .with_grant_types(self.grant_types)
            .with_scope(self.scope)
            .with_introspect_any_token(self.introspect_any_token)
            .with_allowed_cors_origins(self.allowed_cors_origins)
            .with_redirect_uris(self.redirect_uris)
            .with_require_pushed_authorization_requests(self.require_pushed_authorization_requests)
            .with_dpop_bound_access_tokens(self.dpop_bound_access_tokens)
            .with_access_token_format(self.access_token_format)
            .with_allowed_resources(self.allowed_resources)
            .with_served_resources(self.served_resources)
            .with_secret_policy(policy)
            .build()
    }
}

impl std::fmt::Debug for ClientMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetadata")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("grant_types", &self.grant_types)
            .field("scope", &self.scope)
            .field("introspect_any_token", &self.introspect_any_token)
            .field("refresh_token_grace", &self.refresh_token_grace)
            .field(
                "require_pushed_authorization_requests",
                &self.require_pushed_authorization_requests,
            )
            .field("jwks", &self.jwks.is_some())
            .field("access_token_format", &self.access_token_format)
            .field("allowed_resources", &self.allowed_resources)
            .field("served_resources", &self.served_resources)
            .finish_non_exhaustive()
    }
}

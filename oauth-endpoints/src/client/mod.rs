//! [`Client`]: a registered client, described with RFC 7591 metadata names.

mod builder;
mod jwks;
mod metadata;
mod secret_policy;

pub use builder::{ClientBuilder, InvalidClient};
pub use jwks::ASSERTION_SIGNING_ALGORITHMS;
pub(crate) use jwks::{ClientKey, ClientKeys};
pub use metadata::ClientMetadata;
pub use secret_policy::SecretPolicy;

use builder::Credential;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::authorization::RedirectUri;
use crate::client_auth::ClientAuthMethod;
use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::secret::SecretHash;
use crate::token::AccessTokenFormat;

/// A registered client (RFC 7591 §2 names). Its secret is kept only as a SHA-256 hash.
///
/// A `Client` is always consistent: it is made by [`ClientBuilder::build`], which checks every
/// rule (a public client has no secret and may not introspect; a confidential one has a secret
/// and a secret method, or, with `private_key_jwt`, no secret and its public keys; a
/// client-chosen secret passes the [`SecretPolicy`]). Stores rebuild clients through the same
/// builder, so a stored row that breaks a rule is refused too.
///
/// ```
/// use oauth_endpoints::Client;
/// use oauth_endpoints::client_auth::ClientAuthMethod;
/// use oauth_endpoints::secret::generate_secret;
///
/// let secret = generate_secret();
/// let client = Client::confidential("api-gateway", &secret)
///     .with_grant_types(["client_credentials", "refresh_token"])
///     .with_scope("read write".parse().unwrap())
///     .build()
///     .unwrap();
/// assert_eq!(client.token_endpoint_auth_method(), ClientAuthMethod::ClientSecretBasic);
/// assert!(client.verify_secret(&secret));
/// assert!(!format!("{client:?}").contains(&secret));
///
/// // A short, human-chosen secret is refused (stored as unsalted SHA-256, it could be guessed).
/// assert!(Client::confidential("api-gateway", "hunter2").build().is_err());
/// // So is a confidential client that would authenticate with its id alone.
/// assert!(Client::confidential("api-gateway", &secret)
///     .with_auth_method(ClientAuthMethod::None)
///     .build()
///     .is_err());
/// ```
///
/// Cloning is cheap (one `Arc`): stores hand out clones on every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    inner: Arc<ClientData>,
}

/// What a [`Client`] shares between its clones.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClientData {
    client_id: Arc<str>,
    secret_hash: Option<SecretHash>,
    /// The secret replaced by a rotation, still accepted until the time it carries.
    previous_secret: Option<PreviousSecret>,
    auth_method: ClientAuthMethod,
    grant_types: Vec<String>,
    scope: Scope,
    introspect_any_token: bool,
    allowed_cors_origins: Vec<String>,
    redirect_uris: Vec<RedirectUri>,
    refresh_token_grace: Option<Duration>,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
    /// `jwks` (RFC 7591 §2): the public keys a `private_key_jwt` client signs with.
    keys: Option<ClientKeys>,
    /// The format of the client's access tokens; `None`: the server's.
    access_token_format: Option<AccessTokenFormat>,
    /// The targets the client may ask tokens for: `resource` values (RFC 8707 §2) and token
    /// exchange `audience` names (RFC 8693 §2.1).
    allowed_resources: Vec<String>,
    /// The resources the client serves as a resource server: whose tokens it may introspect
    /// under the audience rule.
    served_resources: Vec<String>,
}

/// A client secret replaced by [`Clients::rotate_secret`](crate::store::Clients::rotate_secret), still
/// accepted until `until` so that every copy of the client's configuration can move to the new
/// one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    /// The old secret's hash.
    pub hash: SecretHash,
    /// When it stops being accepted (exclusive), in seconds since the Unix epoch.
    pub until: UnixTime,
}

impl fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("hash", &self.hash)
            .field("until", &self.until)
            .finish()
    }
}

impl Client {
    /// A confidential client authenticating with `client_secret_basic`, allowed the
    /// `client_credentials` grant, with an empty scope. The secret must pass the
    /// [`SecretPolicy`] when the client is built.
    pub fn confidential(client_id: impl Into<Arc<str>>, secret: &str) -> ClientBuilder {
        ClientBuilder::new(client_id.into(), Credential::Plain(secret.into()))
    }

    /// A confidential client with a secret the server generates
    /// ([`generate_secret`](crate::secret::generate_secret), 256 random bits): the builder, and the
    /// secret to hand to the client once (only its hash is kept).
    pub fn confidential_generated(client_id: impl Into<Arc<str>>) -> (ClientBuilder, String) {
        let secret = crate::secret::generate_secret();
        (Self::confidential(client_id, &secret), secret)
    }

    /// A confidential client from a stored secret hash (the secret was checked when it was
    /// first set).
    pub fn with_secret_hash(
        client_id: impl Into<Arc<str>>,
        secret_hash: SecretHash,
    ) -> ClientBuilder {
        ClientBuilder::new(client_id.into(), Credential::Hash(secret_hash))
    }

    /// A confidential client without a secret that authenticates with `private_key_jwt`
    /// (RFC 7523 §2.2): JWTs signed with one of the public keys of `jwks`, a JWK Set (RFC 7517
    /// §5) as JSON text, checked when the client is built
    /// ([`ClientBuilder::with_jwks`]). Allowed the `client_credentials` grant, with an empty
    /// scope.
    ///
    /// ```
    /// use oauth_endpoints::Client;
    /// use oauth_endpoints::client_auth::ClientAuthMethod;
    ///
    /// let jwks = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "2025-01",
    ///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let client = Client::private_key_jwt("batch-job", jwks).build().unwrap();
    /// assert_eq!(client.token_endpoint_auth_method(), ClientAuthMethod::PrivateKeyJwt);
    /// assert!(client.secret_hash().is_none() && !client.is_public());
    ///
    /// // A private key is refused: the server keeps public keys only.
    /// let private = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519",
    ///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    ///     "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}"#;
    /// assert!(Client::private_key_jwt("batch-job", private).build().is_err());
    /// ```
    pub fn private_key_jwt(
        client_id: impl Into<Arc<str>>,
        jwks: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder::new(client_id.into(), Credential::None)
            .with_auth_method(ClientAuthMethod::PrivateKeyJwt)
            .with_jwks(jwks)
    }

    /// A public client (`token_endpoint_auth_method` `none`, RFC 7591 §2): no secret, no grant.
    pub fn public(client_id: impl Into<Arc<str>>) -> ClientBuilder {
        ClientBuilder::new(client_id.into(), Credential::None)
            .with_auth_method(ClientAuthMethod::None)
            .with_grant_types(std::iter::empty::<String>())
    }

    /// A builder holding this client's fields, to change some and build again: a field added
    /// later is carried over, never dropped.
    pub fn to_builder(&self) -> ClientBuilder {
        ClientBuilder::from_data(
            (*self.inner).clone(),
            match &self.inner.secret_hash {
                Some(hash) => Credential::Hash(*hash),
                None => Credential::None,
            },
        )
    }

    /// `client_id`.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// `client_id`, shared.
    pub fn client_id_arc(&self) -> &Arc<str> {
        &self.inner.client_id
    }

    /// The stored secret hash (confidential clients).
    pub fn secret_hash(&self) -> Option<&SecretHash> {
        self.inner.secret_hash.as_ref()
    }

    /// `token_endpoint_auth_method`.
    pub fn token_endpoint_auth_method(&self) -> ClientAuthMethod {
        self.inner.auth_method
    }

    /// `grant_types`.
    pub fn grant_types(&self) -> &[String] {
        &self.inner.grant_types
    }

    /// Whether `grant_types` lists `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.inner.grant_types.iter().any(|g| g == grant_type)
    }

    /// `scope`: what the client may be granted.
    pub fn scope(&self) -> &Scope {
        &self.inner.scope
    }

    /// Whether the client may introspect tokens issued to other clients.
    pub fn introspect_any_token(&self) -> bool {
        self.inner.introspect_any_token
    }

    /// Browser origins allowed for this client (RFC 7009 §2.3).
    pub fn allowed_cors_origins(&self) -> &[String] {
        &self.inner.allowed_cors_origins
    }

    /// The redirect URIs registered for the client (RFC 7591 §2, RFC 6749 §3.1.2): where an
    /// authorization response may be sent, each compared exactly
    /// ([`RedirectUri::matches`]).
    pub fn redirect_uris(&self) -> &[RedirectUri] {
        &self.inner.redirect_uris
    }

    /// The client's own refresh-token grace window, if it has one; otherwise the server's
    /// ([`ServerConfig::refresh_token_grace`](crate::server::ServerConfig::refresh_token_grace), off by
    /// default) applies. `Some(Duration::ZERO)` turns the window off for this client.
    pub fn refresh_token_grace(&self) -> Option<Duration> {
        self.inner.refresh_token_grace
    }

    /// Whether the authorization endpoint takes this client's requests only through pushed
    /// authorization requests (`require_pushed_authorization_requests`, RFC 9126 §6).
    pub fn require_pushed_authorization_requests(&self) -> bool {
        self.inner.require_pushed_authorization_requests
    }

    /// `jwks` (RFC 7591 §2): the client's public keys as a JWK Set in compact JSON, if it
    /// registered any. A `private_key_jwt` client always has them.
    pub fn jwks(&self) -> Option<&str> {
        self.inner.keys.as_ref().map(ClientKeys::text)
    }

    /// The targets the client may ask tokens for (checked at the token and authorization
    /// endpoints, RFC 8707 §2): each a `resource` URI (RFC 8707 §2) or a token-exchange
    /// `audience` name (RFC 8693 §2.1), compared exactly. Empty: the client may name none, and a
    /// request naming one is `invalid_target`.
    pub fn allowed_resources(&self) -> &[String] {
        &self.inner.allowed_resources
    }

    /// Whether the client may ask for a token meant for `target`.
    pub fn may_target(&self, target: &str) -> bool {
        self.inner.allowed_resources.iter().any(|t| t == target)
    }

    /// The resources this client serves as a resource server (its own identifiers, as tokens
    /// name them in `aud`): the default introspection policy shows it a token meant for an
    /// audience only if it is one of these, or its `client_id`
    /// ([`DefaultIntrospectionPolicy`](crate::hooks::DefaultIntrospectionPolicy)).
    pub fn served_resources(&self) -> &[String] {
        &self.inner.served_resources
    }

    /// Whether `audience` names this client: its `client_id` or a resource it serves.
    pub fn is_audience(&self, audience: &str) -> bool {
        *self.inner.client_id == *audience
            || self.inner.served_resources.iter().any(|r| r == audience)
    }

    /// The client's public keys, ready to verify with.
    pub(crate) fn keys(&self) -> Option<&ClientKeys> {
        self.inner.keys.as_ref()
    }

    /// The format of the access tokens issued to this client; `None` leaves it to the server's
    /// setting.
    pub fn access_token_format(&self) -> Option<AccessTokenFormat> {
        self.inner.access_token_format
    }

    /// Whether the client's access tokens must be DPoP-bound (`dpop_bound_access_tokens`,
    /// RFC 9449 §5.2): its token requests without a proof are refused.
    pub fn dpop_bound_access_tokens(&self) -> bool {
        self.inner.dpop_bound_access_tokens
    }

    /// Whether the client is public (`none`: it proves nothing about itself). A
    /// `private_key_jwt` client has no secret either, but is confidential: it proves who it is
    /// with its keys.
    pub fn is_public(&self) -> bool {
        self.inner.auth_method == ClientAuthMethod::None
    }

    /// Whether `secret` is the client's current secret, compared in constant time. Always false
    /// for a public client.
    pub fn verify_secret(&self, secret: &str) -> bool {
        self.inner
            .secret_hash
            .as_ref()
            .is_some_and(|hash| hash.verify(secret))
    }

    /// Whether `secret` is the client's current secret, or its previous one while that is still
    /// accepted at `now` (after a rotation with an overlap). Both comparisons always run, in
    /// constant time, so timing tells neither apart.
    pub fn verify_secret_at(&self, secret: &str, now: UnixTime) -> bool {
        let presented = SecretHash::of(secret);
        let current = self
            .inner
            .secret_hash
            .as_ref()
            .is_some_and(|hash| hash.matches(&presented));
        let previous = self
            .inner
            .previous_secret
            .is_some_and(|previous| previous.hash.matches(&presented) & (now < previous.until));
        current | previous
    }

    /// The secret replaced by the last rotation, if it is kept for an overlap.
    pub fn previous_secret(&self) -> Option<&PreviousSecret> {
        self.inner.previous_secret.as_ref()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.inner.client_id)
            .field("secret_hash", &self.inner.secret_hash)
            .field("previous_secret", &self.inner.previous_secret)
            .field("token_endpoint_auth_method", &self.inner.auth_method)
            .field("grant_types", &self.inner.grant_types)
            .field("scope", &self.inner.scope)
            .field("introspect_any_token", &self.inner.introspect_any_token)
            .field("redirect_uris", &self.inner.redirect_uris)
            .field("refresh_token_grace", &self.inner.refresh_token_grace)
            .field(
                "require_pushed_authorization_requests",
                &self.inner.require_pushed_authorization_requests,
            )
            .field(
                "dpop_bound_access_tokens",
                &self.inner.dpop_bound_access_tokens,
            )
            .field("jwks", &self.inner.keys)
            .field("access_token_format", &self.inner.access_token_format)
            .field("allowed_resources", &self.inner.allowed_resources)
            .field("served_resources", &self.inner.served_resources)
            .finish_non_exhaustive()
    }
}

//! [`Client`]: a registered client, described with RFC 7591 metadata names.

mod metadata;

pub use metadata::{ClientMetadata, InvalidClientMetadata};

use std::fmt;
use std::sync::Arc;

use crate::client_auth::ClientAuthMethod;
use crate::scope::Scope;
use crate::secret::SecretHash;

/// The `grant_type` of RFC 6749 §4.4.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The `grant_type` of RFC 6749 §6.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// A registered client (RFC 7591 §2 names). Its secret is kept only as a SHA-256 hash.
///
/// ```
/// use oauth_endpoints::{Client, ClientAuthMethod};
///
/// let client = Client::confidential("api-gateway", "a long random secret")
///     .with_grant_types(["client_credentials", "refresh_token"])
///     .with_scope("read write".parse().unwrap());
/// assert_eq!(client.token_endpoint_auth_method(), ClientAuthMethod::ClientSecretBasic);
/// assert!(client.verify_secret("a long random secret"));
/// assert!(!format!("{client:?}").contains("a long random secret"));
/// ```
///
/// Cloning is cheap (one `Arc`): stores hand out clones on every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    inner: Arc<ClientData>,
}

/// What a [`Client`] shares between its clones.
#[derive(Clone, PartialEq, Eq)]
struct ClientData {
    client_id: Arc<str>,
    secret_hash: Option<SecretHash>,
    auth_method: ClientAuthMethod,
    grant_types: Vec<String>,
    scope: Scope,
    introspect_any_token: bool,
    allowed_cors_origins: Vec<String>,
}

impl Client {
    /// A confidential client authenticating with `client_secret_basic`, allowed the
    /// `client_credentials` grant, with an empty scope.
    pub fn confidential(client_id: impl Into<Arc<str>>, secret: &str) -> Self {
        Self::with_secret_hash(client_id, SecretHash::of(secret))
    }

    /// A confidential client from a stored secret hash.
    pub fn with_secret_hash(client_id: impl Into<Arc<str>>, secret_hash: SecretHash) -> Self {
        Self::from_data(ClientData {
            client_id: client_id.into(),
            secret_hash: Some(secret_hash),
            auth_method: ClientAuthMethod::ClientSecretBasic,
            grant_types: vec![CLIENT_CREDENTIALS.to_owned()],
            scope: Scope::empty(),
            introspect_any_token: false,
            allowed_cors_origins: Vec::new(),
        })
    }

    /// A public client (`token_endpoint_auth_method` `none`, RFC 7591 §2): no secret, no grant.
    pub fn public(client_id: impl Into<Arc<str>>) -> Self {
        Self::from_data(ClientData {
            client_id: client_id.into(),
            secret_hash: None,
            auth_method: ClientAuthMethod::None,
            grant_types: Vec::new(),
            scope: Scope::empty(),
            introspect_any_token: false,
            allowed_cors_origins: Vec::new(),
        })
    }

    fn from_data(data: ClientData) -> Self {
        Self {
            inner: Arc::new(data),
        }
    }

    /// The data, to change before the client is shared.
    fn data_mut(&mut self) -> &mut ClientData {
        Arc::make_mut(&mut self.inner)
    }

    /// Sets `token_endpoint_auth_method`: the one method this client must use.
    #[must_use]
    pub fn with_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.data_mut().auth_method = method;
        self
    }

    /// Sets `grant_types`: the grants the client may use at the token endpoint.
    #[must_use]
    pub fn with_grant_types<I, S>(mut self, grant_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data_mut().grant_types = grant_types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `scope`: the scopes the client may be granted.
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.data_mut().scope = scope;
        self
    }

    /// Lets the client (a resource server) introspect tokens issued to other clients.
    #[must_use]
    pub fn with_introspect_any_token(mut self, allowed: bool) -> Self {
        self.data_mut().introspect_any_token = allowed;
        self
    }

    /// Sets the browser origins allowed to call the revocation endpoint for this client
    /// (RFC 7009 §2.3).
    #[must_use]
    pub fn with_allowed_cors_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data_mut().allowed_cors_origins = origins.into_iter().map(Into::into).collect();
        self
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

    /// Whether the client is public (`none`, no secret).
    pub fn is_public(&self) -> bool {
        self.inner.auth_method == ClientAuthMethod::None || self.inner.secret_hash.is_none()
    }

    /// Whether `secret` is the client's secret, compared in constant time. Always false for a
    /// public client.
    pub fn verify_secret(&self, secret: &str) -> bool {
        self.inner
            .secret_hash
            .as_ref()
            .is_some_and(|hash| hash.verify(secret))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.inner.client_id)
            .field("secret_hash", &self.inner.secret_hash)
            .field("token_endpoint_auth_method", &self.inner.auth_method)
            .field("grant_types", &self.inner.grant_types)
            .field("scope", &self.inner.scope)
            .field("introspect_any_token", &self.inner.introspect_any_token)
            .finish_non_exhaustive()
    }
}

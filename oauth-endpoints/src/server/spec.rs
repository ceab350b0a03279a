//! [`EndpointSpec`]: the declaration of an explicitly registered endpoint instance.

use std::borrow::Cow;

use http::Method;

use crate::client_auth::ClientAuthMethod;

/// What `#[oauth_endpoint(...)]` says, for an instance registered with
/// [`AuthorizationServerBuilder::register`](crate::server::AuthorizationServerBuilder::register).
///
/// ```
/// use http::Method;
/// use oauth_endpoints::client_auth::ClientAuthMethod;
/// use oauth_endpoints::server::EndpointSpec;
///
/// let spec = EndpointSpec::new("revocation", "/v2/revoke")
///     .methods([Method::POST])
///     .auth_methods([ClientAuthMethod::ClientSecretBasic, ClientAuthMethod::None]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) path: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) auth_methods: Vec<ClientAuthMethod>,
    pub(crate) metadata: Option<Cow<'static, str>>,
    pub(crate) cors: bool,
}

impl EndpointSpec {
    /// An endpoint named `name` at `path`, answering `POST`, accepting `client_secret_basic`.
    pub fn new(name: impl Into<Cow<'static, str>>, path: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            methods: vec![Method::POST],
            auth_methods: ClientAuthMethod::DEFAULT.to_vec(),
            metadata: None,
            cors: false,
        }
    }

    /// The HTTP methods it answers (`GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH` or
    /// `OPTIONS`, each once), replacing the default `POST`.
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The client authentication methods the endpoint accepts (RFC 6749 §2.3).
    #[must_use]
    pub fn auth_methods(mut self, methods: impl IntoIterator<Item = ClientAuthMethod>) -> Self {
        self.auth_methods = methods.into_iter().collect();
        self
    }

    /// Answers CORS preflights and accepts cross-origin requests from the origins each client
    /// allows (RFC 7009 §2.3): client authentication checks the origin
    /// ([`Context::check_origin`](crate::Context::check_origin)) and the server exposes the
    /// answer.
    #[must_use]
    pub fn cors(mut self, cors: bool) -> Self {
        self.cors = cors;
        self
    }

    /// The RFC 8414 metadata name under which the endpoint's URL is published.
    #[must_use]
    pub fn metadata(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.metadata = Some(name.into());
        self
    }
}

//! [`EndpointSpec`]: the declaration of an explicitly registered endpoint instance.

use std::borrow::Cow;

use crate::client_auth::ClientAuthMethod;

/// What `#[oauth_endpoint(...)]` says, for an instance registered with
/// [`AuthorizationServerBuilder::register`](crate::AuthorizationServerBuilder::register).
///
/// ```
/// use oauth_endpoints::{ClientAuthMethod, EndpointSpec};
///
/// let spec = EndpointSpec::new("revocation", "/v2/revoke")
///     .methods("POST")
///     .auth_methods([ClientAuthMethod::ClientSecretBasic, ClientAuthMethod::None]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) path: String,
    pub(crate) methods: String,
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
            methods: "POST".to_owned(),
            auth_methods: ClientAuthMethod::DEFAULT.to_vec(),
            metadata: None,
            cors: false,
        }
    }

    /// The HTTP methods: one, or a list separated by commas, spaces or both (`"GET, POST"`).
    #[must_use]
    pub fn methods(mut self, methods: impl Into<String>) -> Self {
        self.methods = methods.into();
        self
    }

    /// The client authentication methods the endpoint accepts (RFC 6749 §2.3).
    #[must_use]
    pub fn auth_methods(mut self, methods: impl IntoIterator<Item = ClientAuthMethod>) -> Self {
        self.auth_methods = methods.into_iter().collect();
        self
    }

    /// Answers CORS preflights and accepts cross-origin requests from the origins each client
    /// allows (RFC 7009 §2.3). The endpoint checks the origin with
    /// [`allowed_origin`](crate::allowed_origin).
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

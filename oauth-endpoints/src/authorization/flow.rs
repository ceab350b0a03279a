//! [`AuthorizationCodeFlow`]: the settings and store of the authorization code grant, given to
//! the server with `.with_state(...)`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::authorization::consent::{ConsentPage, DefaultConsentPage};
use crate::authorization::sign_in::{SignIn, SignInHook};
use crate::server::Setup;
use crate::store::{AuthorizationStore, Authorizations};

/// The authorization code grant's configuration: where codes and pushed requests are kept, who
/// the user is, and the lifetimes.
///
/// Giving it to the server mounts the `authorization` endpoint, the
/// `pushed_authorization_request` endpoint and the `authorization_code` grant; without it they
/// are left out (see [`AuthorizationServer::unmounted`](crate::AuthorizationServer::unmounted)),
/// so no half-working authorization endpoint is exposed. The server also needs an issuer (the
/// `iss` of every authorization response, RFC 9207).
///
/// ```
/// use bytes::Bytes;
/// use http::Request;
/// use oauth_endpoints::authorization::{AuthorizationCodeFlow, User};
/// use oauth_endpoints::store::MemoryStore;
/// use oauth_endpoints::AuthorizationServer;
///
/// let store = MemoryStore::new();
/// let sign_in = |_: &Request<Bytes>, return_to: &str| {
///     User::SignInAt(format!("/login?next={}", urlencoding(return_to)))
/// };
/// # fn urlencoding(s: &str) -> String { s.replace('&', "%26").replace('?', "%3F") }
/// let server = AuthorizationServer::builder()
///     .issuer("https://auth.example.com")
///     .store(store.clone())
///     .with_state(AuthorizationCodeFlow::new(store, sign_in))
///     .build()
///     .unwrap();
/// assert!(server.route("authorization").is_some());
/// assert!(server.grants().contains("authorization_code"));
/// ```
pub struct AuthorizationCodeFlow {
    store: Authorizations,
    sign_in: SignInHook,
    consent: Arc<dyn ConsentPage>,
    code_lifetime: u64,
    request_lifetime: u64,
    require_pushed_requests: bool,
}

impl AuthorizationCodeFlow {
    /// Default lifetime of an authorization code: 60 seconds (RFC 6749 §4.1.2 recommends at
    /// most 10 minutes; a code is exchanged at once).
    pub const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(60);
    /// Default lifetime of a pushed authorization request's `request_uri`: 60 seconds
    /// (RFC 9126 §2.2: "short-lived").
    pub const DEFAULT_REQUEST_LIFETIME: Duration = Duration::from_secs(60);

    /// The flow keeping codes and pushed requests in `store` (every instance of the server must
    /// share it), with `sign_in` telling who the user is, the built-in consent page, and the
    /// default lifetimes.
    pub fn new(store: impl AuthorizationStore, sign_in: impl SignIn) -> Self {
        Self {
            store: Authorizations::new(store),
            sign_in: SignInHook::new(sign_in),
            consent: Arc::new(DefaultConsentPage),
            code_lifetime: Self::DEFAULT_CODE_LIFETIME.as_secs(),
            request_lifetime: Self::DEFAULT_REQUEST_LIFETIME.as_secs(),
            require_pushed_requests: false,
        }
    }

    /// Replaces the built-in consent page.
    #[must_use]
    pub fn consent_page(mut self, page: impl ConsentPage) -> Self {
        self.consent = Arc::new(page);
        self
    }

    /// How long a code may wait for its exchange (whole seconds, at least 1).
    #[must_use]
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime.as_secs().max(1);
        self
    }

    /// How long a pushed request's `request_uri` may wait for its use (`expires_in`,
    /// RFC 9126 §2.2; whole seconds, at least 1).
    #[must_use]
    pub fn pushed_request_lifetime(mut self, lifetime: Duration) -> Self {
        self.request_lifetime = lifetime.as_secs().max(1);
        self
    }

    /// Accept authorization requests only through pushed requests, from every client
    /// (`require_pushed_authorization_requests`, RFC 9126 §5). A client can require it for
    /// itself ([`ClientBuilder::with_require_pushed_authorization_requests`](crate::client::ClientBuilder::with_require_pushed_authorization_requests)).
    #[must_use]
    pub fn require_pushed_authorization_requests(mut self, required: bool) -> Self {
        self.require_pushed_requests = required;
        self
    }

    /// The store of codes and pushed requests.
    pub fn store(&self) -> &Authorizations {
        &self.store
    }

    /// The code lifetime, in seconds.
    pub fn code_lifetime_secs(&self) -> u64 {
        self.code_lifetime
    }

    /// The pushed request lifetime, in seconds.
    pub fn pushed_request_lifetime_secs(&self) -> u64 {
        self.request_lifetime
    }

    /// Whether every client must push its requests.
    pub fn requires_pushed_requests(&self) -> bool {
        self.require_pushed_requests
    }

    pub(crate) fn sign_in(&self) -> &SignInHook {
        &self.sign_in
    }

    pub(crate) fn consent(&self) -> &dyn ConsentPage {
        &*self.consent
    }

    /// The flow of a server being built, or why its endpoints and grant cannot be mounted.
    pub(crate) fn of_setup<'a>(setup: &'a Setup<'_>) -> Result<&'a Self, String> {
        if setup.config().issuer.is_none() {
            return Err(
                "the server has no issuer, which every authorization response names \
                        (`iss`, RFC 9207): give the builder `.issuer(...)`"
                    .to_owned(),
            );
        }
        setup.state::<Self>().ok_or_else(|| {
            "no sign-in hook and code store: give the builder \
             `.with_state(AuthorizationCodeFlow::new(store, sign_in))`"
                .to_owned()
        })
    }
}

impl fmt::Debug for AuthorizationCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeFlow")
            .field("store", &self.store)
            .field("code_lifetime", &self.code_lifetime)
            .field("request_lifetime", &self.request_lifetime)
            .field("require_pushed_requests", &self.require_pushed_requests)
            .finish_non_exhaustive()
    }
}

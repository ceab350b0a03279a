//! [`Context`]: what the server gives an endpoint besides the request.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;

use crate::client::Client;
use crate::client_auth::{AuthenticatedClient, authenticate_client};
use crate::clock::{Clock, UnixTime};
use crate::config::ServerConfig;
use crate::cors;
use crate::dpop::VerifiedProof;
use crate::error::OAuthError;
use crate::form::Form;
use crate::grant::Grants;
use crate::hooks::Hooks;
use crate::route::Route;
use crate::state::StateMap;
use crate::store::{Authorizations, Clients, Tokens};
use crate::token::Jkt;
use crate::token::TokenIssuer;

/// What every endpoint of one server shares.
pub(crate) struct Shared {
    pub(crate) state: StateMap,
    pub(crate) config: ServerConfig,
    pub(crate) routes: Vec<Route>,
    pub(crate) clients: Clients,
    pub(crate) tokens: Tokens,
    /// Where the `jti` of `private_key_jwt` assertions are remembered, if anywhere.
    pub(crate) assertions: Option<Authorizations>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) grants: Grants,
    pub(crate) issuer: TokenIssuer,
    pub(crate) hooks: Hooks,
    pub(crate) metadata: Option<(serde_json::Map<String, serde_json::Value>, Bytes)>,
    #[cfg(feature = "throttle")]
    pub(crate) throttle: Option<crate::throttle::Throttle>,
}

/// The server context handed to [`Endpoint::handle`](crate::Endpoint::handle) and
/// [`Grant::exchange`](crate::Grant::exchange): stores, clock, configuration, shared state,
/// and the route the request came in on.
#[derive(Clone)]
pub struct Context {
    shared: Arc<Shared>,
    route: usize,
    /// The request's verified DPoP proof and the issuer bound to its key, when an endpoint
    /// made this context for one request ([`with_dpop_proof`](Self::with_dpop_proof)).
    dpop: Option<Arc<(VerifiedProof, TokenIssuer)>>,
}

impl Context {
    pub(crate) fn new(shared: Arc<Shared>, route: usize) -> Self {
        Self {
            shared,
            route,
            dpop: None,
        }
    }

    /// This context for one request whose DPoP proof (RFC 9449 §4.3) was verified: tokens
    /// issued through it ([`issuer`](Self::issuer)) are bound to the proof's key (§5), and
    /// grants read the proof with [`dpop_proof`](Self::dpop_proof). The token endpoint makes
    /// one before calling the grant.
    pub fn with_dpop_proof(&self, proof: VerifiedProof) -> Result<Self, OAuthError> {
        let jkt = Jkt::from_thumbprint(proof.jkt())
            .map_err(|_| OAuthError::new("invalid_dpop_proof", http::StatusCode::BAD_REQUEST))?;
        let issuer = self.shared.issuer.bound_to(jkt);
        Ok(Self {
            shared: Arc::clone(&self.shared),
            route: self.route,
            dpop: Some(Arc::new((proof, issuer))),
        })
    }

    /// The request's verified DPoP proof, when the endpoint verified one (RFC 9449 §4.3): a
    /// grant continuing a key-bound grant checks that the proof is signed by that key (§5).
    pub fn dpop_proof(&self) -> Option<&VerifiedProof> {
        self.dpop.as_deref().map(|(proof, _)| proof)
    }

    /// The value of type `T` given to the builder with `.with_state(value)`. Values are found by
    /// their exact type: one given as `Arc<T>` is `cx.state::<Arc<T>>()`, not `cx.state::<T>()`
    /// (which answers `None`). The server keeps one shared copy either way, so pass the value
    /// itself unless you also hold the `Arc` elsewhere.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use http::{Request, StatusCode};
    /// # use oauth_endpoints::{Context, Endpoint, EndpointResult, OAuthError};
    /// # use oauth_endpoints::endpoint::json_response;
    /// struct Greeting(&'static str);
    ///
    /// #[derive(Default)]
    /// struct Hello;
    ///
    /// impl Endpoint for Hello {
    ///     async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
    ///         let Some(Greeting(text)) = cx.state::<Greeting>() else {
    ///             return Err(OAuthError::temporarily_unavailable(1));
    ///         };
    ///         Ok(json_response(StatusCode::OK, &serde_json::json!({ "greeting": text })))
    ///     }
    /// }
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.shared.state.get()
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The route this endpoint is mounted on (its name, path and declared auth methods).
    pub fn route(&self) -> &Route {
        // Contexts are only made by the server, with an index into its own routes.
        &self.shared.routes[self.route]
    }

    /// Every mounted route, sorted by path then name.
    pub fn routes(&self) -> &[Route] {
        &self.shared.routes
    }

    /// The client store.
    pub fn clients(&self) -> &Clients {
        &self.shared.clients
    }

    /// The token store.
    pub fn tokens(&self) -> &Tokens {
        &self.shared.tokens
    }

    /// The store that remembers the `jti` of `private_key_jwt` assertions until they expire
    /// ([`AuthorizationStore::remember_once`](crate::store::AuthorizationStore::remember_once)),
    /// if the server has one (see
    /// [`AuthorizationServerBuilder::assertion_store`](crate::AuthorizationServerBuilder::assertion_store)).
    pub fn assertions(&self) -> Option<&Authorizations> {
        self.shared.assertions.as_ref()
    }

    /// The registered grant types.
    pub fn grants(&self) -> &Grants {
        &self.shared.grants
    }

    /// Mints and stores tokens with the server's lifetimes.
    pub fn issuer(&self) -> &TokenIssuer {
        match &self.dpop {
            Some(bound) => &bound.1,
            None => &self.shared.issuer,
        }
    }

    /// The introspection policy, claims hooks and event listeners.
    pub fn hooks(&self) -> &Hooks {
        &self.shared.hooks
    }

    /// The RFC 8414 metadata document, built at `build()`; `None` without an issuer.
    pub fn metadata(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.shared.metadata.as_ref().map(|(document, _)| document)
    }

    /// The metadata document as JSON bytes.
    pub fn metadata_bytes(&self) -> Option<&Bytes> {
        self.shared.metadata.as_ref().map(|(_, bytes)| bytes)
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }

    /// Now, by the server's clock.
    pub fn now(&self) -> UnixTime {
        self.shared.clock.now()
    }

    /// Parses the request body as a form (RFC 6749 §3.2); failures are `invalid_request`.
    pub fn form(&self, request: &Request<Bytes>) -> Result<Form, OAuthError> {
        Ok(Form::from_request(request)?)
    }

    /// Authenticates the request's client (RFC 6749 §2.3) with the methods this endpoint
    /// declared in `auth_methods`, then, on a route declared `cors`, checks the request's
    /// `Origin` against the client ([`check_origin`](Self::check_origin)). See
    /// [`authenticate_client`].
    pub async fn authenticate_client(
        &self,
        request: &Request<Bytes>,
        form: &Form,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let client = authenticate_client(self, request, form, self.route().auth_methods()).await?;
        self.check_origin(request, &client.client)?;
        Ok(client)
    }

    /// Authenticates the client first, then hands back the form: an unauthenticated caller
    /// learns nothing about its parameters, not even that the body is not a form. The client is
    /// read from an empty form when the body does not parse (Basic still works); the form's
    /// own error comes after authentication.
    pub async fn authenticate_then_form(
        &self,
        request: &Request<Bytes>,
    ) -> Result<(AuthenticatedClient, Form), OAuthError> {
        let form = self.form(request);
        let client = self
            .authenticate_client(request, form.as_ref().unwrap_or(&Form::default()))
            .await?;
        Ok((client, form?))
    }

    /// On a route declared `cors` (RFC 7009 §2.3), admits a cross-origin request from `client`:
    /// a request without `Origin` passes; one whose `Origin` the client lists in
    /// `allowed_cors_origins` passes, and the server then lets the browser read the answer
    /// (`Access-Control-Allow-Origin`, success or error); any other origin is
    /// `invalid_request`, unreadable by the page. Off a `cors` route it does nothing.
    ///
    /// [`authenticate_client`](Self::authenticate_client) calls it: call it yourself only
    /// when your endpoint identifies its caller another way (introspection does, for a Bearer
    /// token).
    pub fn check_origin(
        &self,
        request: &Request<Bytes>,
        client: &Client,
    ) -> Result<(), OAuthError> {
        if self.route().cors() {
            cors::admit(request, client)?;
        }
        Ok(())
    }

    /// Counts one request of an authenticated `client` against the server's per-client limit
    /// (feature `throttle`, set with `.throttle(quota)`): over it, 429 with `Retry-After`
    /// (RFC 6585 §4, [`OAuthError::too_many_requests`]). Always `Ok` when no limit is set or the
    /// feature is off. The built-in revocation and introspection endpoints call it right after
    /// client authentication; call it the same way in your own endpoints.
    pub fn throttle(&self, client: &Client) -> Result<(), OAuthError> {
        #[cfg(feature = "throttle")]
        if let Some(throttle) = &self.shared.throttle {
            return throttle.check(client.client_id_arc());
        }
        let _ = client;
        Ok(())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("route", self.route())
            .finish_non_exhaustive()
    }
}

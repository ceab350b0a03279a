//! The server: [`AuthorizationServer`] (the built registry, its routes and its dispatch), its
//! builder, the errors of building it, explicit registrations ([`EndpointSpec`]), its
//! configuration, and with feature `tower` the `OAuthService` that serves it.

mod build_error;
mod builder;
mod setup;
mod spec;
mod table;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};

use crate::context::{Context, Shared};
use crate::cors;
use crate::endpoint::{DynEndpoint, EndpointResult};
use crate::error::OAuthError;
use crate::grant::Grants;
use crate::store::{Authorizations, Clients, Tokens};
use crate::token::TokenIssuer;

pub use crate::config::{DEFAULT_INTROSPECTION_SCOPE, ServerConfig};
#[cfg(feature = "tower")]
pub use crate::integration::OAuthService;
pub use crate::route::Route;
pub use build_error::BuildError;
pub use builder::AuthorizationServerBuilder;
pub use setup::{Setup, Unmounted};
pub use spec::EndpointSpec;
use table::Table;

/// An OAuth authorization server: every mounted endpoint, its routes and its dispatch.
///
/// Built once at startup by [`AuthorizationServer::builder`]; cloning is cheap (one `Arc`), so
/// every framework worker can hold one.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode};
/// use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult, oauth_endpoint};
/// use oauth_endpoints::endpoint::json_response;
///
/// #[derive(Default)]
/// #[oauth_endpoint(name = "hello", path = "/hello", methods = "GET")]
/// struct Hello;
///
/// impl Endpoint for Hello {
///     async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
///         Ok(json_response(StatusCode::OK, &serde_json::json!({"hello": "world"})))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = AuthorizationServer::builder().only(["hello"]).build().unwrap();
/// assert_eq!(server.routes().len(), 1);
///
/// let request = Request::get("/hello").body(Bytes::new()).unwrap();
/// let response = server.dispatch(request).await;
/// assert_eq!(response.status(), StatusCode::OK);
///
/// let request = Request::get("/hello").body(Bytes::new()).unwrap();
/// let response = server.create_endpoint_response("hello", request).await.unwrap();
/// assert_eq!(response.body().as_ref(), br#"{"hello":"world"}"#);
/// # }
/// ```
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Each endpoint with its context, in route order.
    endpoints: Vec<(Arc<dyn DynEndpoint>, Context)>,
    table: Table,
    shared: Arc<Shared>,
    /// What `check_setup` left out.
    unmounted: Vec<Unmounted>,
}

/// `create_endpoint_response` was given a name no mounted endpoint has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no endpoint named `{0}` is mounted")]
pub struct UnknownEndpoint(pub String);

impl AuthorizationServer {
    /// A builder that starts from every endpoint annotated with `#[oauth_endpoint]` in the
    /// crates linked into the program.
    pub fn builder() -> AuthorizationServerBuilder {
        AuthorizationServerBuilder::new()
    }

    /// Every mounted route, sorted by path then name (the same order whatever the link order),
    /// ready to mount in any web framework.
    pub fn routes(&self) -> &[Route] {
        &self.inner.shared.routes
    }

    /// The route of the endpoint named `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        let index = self.inner.table.name(name)?;
        self.inner.shared.routes.get(index)
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.shared.config
    }

    /// The client store (e.g. to load clients at startup).
    pub fn clients(&self) -> &Clients {
        &self.inner.shared.clients
    }

    /// The token store.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.shared.tokens
    }

    /// The store that remembers the `jti` of `private_key_jwt` assertions, if the server has
    /// one (see [`AuthorizationServerBuilder::assertion_store`]).
    pub fn assertions(&self) -> Option<&Authorizations> {
        self.inner.shared.assertions.as_ref()
    }

    /// Now, by the server's clock (the time stores are given for revocations and purges).
    pub fn now(&self) -> crate::clock::UnixTime {
        self.inner.shared.clock.now()
    }

    /// Mints and stores tokens with the server's lifetimes, for grants served outside this
    /// server's token endpoint.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.inner.shared.issuer
    }

    /// The RFC 8414 metadata document, built at `build()`; `None` without an issuer.
    pub fn metadata(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.inner
            .shared
            .metadata
            .as_ref()
            .map(|(document, _)| document)
    }

    /// The value of type `T` given to the builder with `.with_state(value)`, as endpoints see it
    /// through [`Context::state`].
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.shared.state.get()
    }

    /// The annotated endpoints and grant types left out because the server's setup lacks what
    /// they need (their `check_setup`), with the reason; each was also logged at `build()`.
    pub fn unmounted(&self) -> &[Unmounted] {
        &self.inner.unmounted
    }

    /// The registered grant types.
    pub fn grants(&self) -> &Grants {
        &self.inner.shared.grants
    }

    /// Answers `request` through the endpoint named `name`, whatever the request's path and
    /// method (as Authlib's `create_endpoint_response`). An unknown name is an error, not an
    /// HTTP answer: it is a programming mistake.
    pub async fn create_endpoint_response(
        &self,
        name: &str,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, UnknownEndpoint> {
        match self.inner.table.name(name) {
            Some(index) => Ok(self.answer(index, request).await),
            None => Err(UnknownEndpoint(name.to_owned())),
        }
    }

    /// Routes `request` by path and method: an unknown path is 404, a known path with another
    /// method is 405 with an `Allow` header (RFC 9110 §15.5.6). Lookup is a hash of the path, so
    /// its cost does not grow with the number of endpoints.
    ///
    /// On a path whose endpoint declares `cors`, a CORS preflight is answered 204 (RFC 7009
    /// §2.3).
    pub async fn dispatch(&self, request: Request<Bytes>) -> Response<Bytes> {
        if cors::is_preflight(&request)
            && let Some(entry) = self.inner.table.path(request.uri().path())
            && entry.cors
        {
            return cors::preflight(&request, &entry.allow);
        }
        match self.resolve(request.method(), request.uri().path()) {
            Ok(index) => self.answer(index, request).await,
            Err(error) => error.into_response(),
        }
    }

    /// The endpoint index for a method and path, or the 404/405 error to answer.
    pub(crate) fn resolve(&self, method: &http::Method, path: &str) -> Result<usize, OAuthError> {
        let Some(entry) = self.inner.table.path(path) else {
            return Err(
                OAuthError::invalid_request("no endpoint is mounted at this path")
                    .with_status(StatusCode::NOT_FOUND),
            );
        };
        entry.endpoint(method).ok_or_else(|| {
            OAuthError::invalid_request("this endpoint does not answer this method")
                .with_status(StatusCode::METHOD_NOT_ALLOWED)
                .with_header(ALLOW, entry.allow.clone())
        })
    }

    /// Runs one endpoint, after refusing bodies over the limit with 413.
    async fn answer(&self, index: usize, request: Request<Bytes>) -> Response<Bytes> {
        let Some((endpoint, cx)) = self.inner.endpoints.get(index) else {
            return OAuthError::invalid_request("no endpoint is mounted at this path")
                .with_status(StatusCode::NOT_FOUND)
                .into_response();
        };
        if let Err(error) = check_body_size(&request, cx.config().body_limit) {
            return error.into_response();
        }
        render(cx, endpoint.handle_boxed(cx, request).await)
    }
}

/// An endpoint's answer, its error rendered; the one place a server failure is logged, with its
/// cause (never sent).
fn render(cx: &Context, result: EndpointResult) -> Response<Bytes> {
    result.unwrap_or_else(|error| {
        if error.status().is_server_error() {
            tracing::error!(
                endpoint = cx.route().name(),
                error = %crate::error::Chain(&error),
                "answered {}",
                error.status().as_u16()
            );
        }
        error.into_response()
    })
}

/// Refuses a body (or a declared `Content-Length`) over `limit` with 413.
pub(crate) fn check_body_size(request: &Request<Bytes>, limit: usize) -> Result<(), OAuthError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let too_large =
        request.body().len() > limit || declared.is_some_and(|length| length > limit as u64);
    if too_large {
        Err(
            OAuthError::invalid_request(format!("the request body exceeds {limit} bytes"))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        )
    } else {
        Ok(())
    }
}

impl fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("routes", &self.inner.shared.routes)
            .finish_non_exhaustive()
    }
}

//! Writing an endpoint: the [`Endpoint`] contract, JSON answers with the headers every OAuth
//! response carries ([`json_response`]), and what `#[oauth_endpoint]` generates
//! ([`DescribedEndpoint`], [`EndpointDescription`], [`Source`]).

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};

use crate::boxed::BoxFuture;
use crate::context::Context;
use crate::error::OAuthError;
use crate::server::Setup;

pub use crate::description::{DescribedEndpoint, EndpointDescription, Source};
pub use crate::response::{json_bytes_response, json_response};

/// What an endpoint answers: a response, or an OAuth error that the server renders
/// (RFC 6749 §5.2).
pub type EndpointResult = Result<Response<Bytes>, OAuthError>;

/// An OAuth endpoint: answers one HTTP request.
///
/// Write the handler as a plain `async fn`; the returned future must be `Send`, and the compiler
/// checks that where you implement the trait. Shared state (database handles, configuration)
/// comes from the [`Context`], so an annotated type can be built by `Default`.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode};
/// use oauth_endpoints::{Context, Endpoint, EndpointResult, oauth_endpoint};
/// use oauth_endpoints::endpoint::json_response;
///
/// #[derive(Default)]
/// #[oauth_endpoint(name = "ping-get", path = "/ping-get", methods = "GET")]
/// struct Ping;
///
/// impl Endpoint for Ping {
///     async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
///         Ok(json_response(StatusCode::OK, &serde_json::json!({"pong": true})))
///     }
/// }
/// ```
pub trait Endpoint: Send + Sync + 'static {
    /// Answers `request`. Errors are rendered by the server as RFC 6749 §5.2 error responses.
    fn handle(
        &self,
        cx: &Context,
        request: Request<Bytes>,
    ) -> impl Future<Output = EndpointResult> + Send;

    /// Whether the endpoint can serve on a server set up as `setup` says, asked once while the
    /// server is built. `Err(reason)` leaves it out: it is not routed nor published, the reason
    /// is logged at start-up and listed by
    /// [`AuthorizationServer::unmounted`](crate::AuthorizationServer::unmounted), and
    /// `require_endpoint` fails with it. An endpoint that needs state the application must give
    /// (a sign-in hook, a store) says so here instead of answering errors at every request.
    /// Endpoints registered explicitly are asked too. By default, any setup will do.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        let _ = setup;
        Ok(())
    }
}

/// The object-safe twin of [`Endpoint`]: the registry stores `Arc<dyn DynEndpoint>`.
pub(crate) trait DynEndpoint: Send + Sync + 'static {
    fn handle_boxed<'a>(
        &'a self,
        cx: &'a Context,
        request: Request<Bytes>,
    ) -> BoxFuture<'a, EndpointResult>;
    fn check_setup_dyn(&self, setup: &mut Setup<'_>) -> Result<(), String>;
}

impl<T: Endpoint> DynEndpoint for T {
    fn handle_boxed<'a>(
        &'a self,
        cx: &'a Context,
        request: Request<Bytes>,
    ) -> BoxFuture<'a, EndpointResult> {
        Box::pin(self.handle(cx, request))
    }

    fn check_setup_dyn(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        self.check_setup(setup)
    }
}

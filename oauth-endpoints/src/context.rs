//! [`Context`]: what the server gives an endpoint besides the request.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;

use crate::config::ServerConfig;
use crate::error::OAuthError;
use crate::form::Form;
use crate::route::Route;
use crate::state::StateMap;

/// What every endpoint of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: StateMap,
    pub(crate) config: ServerConfig,
    pub(crate) routes: Vec<Route>,
}

/// The server context handed to [`Endpoint::handle`](crate::Endpoint::handle): shared state,
/// configuration, and the route the request came in on.
#[derive(Debug, Clone)]
pub struct Context {
    shared: Arc<Shared>,
    route: usize,
}

impl Context {
    pub(crate) fn new(shared: Arc<Shared>, route: usize) -> Self {
        Self { shared, route }
    }

    /// The value of type `T` given to the builder with `.with_state(value)`.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use http::{Request, StatusCode};
    /// # use oauth_endpoints::{Context, Endpoint, EndpointResult, OAuthError, json_response};
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

    /// Parses the request body as a form (RFC 6749 §3.2); failures are `invalid_request`.
    pub fn form(&self, request: &Request<Bytes>) -> Result<Form, OAuthError> {
        Ok(Form::from_request(request)?)
    }
}

//! Mounting the server in an `axum::Router` (feature `axum`).

use std::collections::BTreeSet;

use crate::integration::OAuthService;
use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// An `axum::Router` with every route of [`routes`](AuthorizationServer::routes) mounted;
    /// merge or nest it with your own routes, state and layers.
    ///
    /// Each path is served by [`OAuthService`], so the body limit holds while reading and a
    /// wrong method on a mounted path is answered 405 with `Allow`, as `dispatch` does.
    ///
    /// Mounting:
    /// - Each mounted path belongs to the server, whatever the method: merging this router with
    ///   one that has a route on the same path makes `axum` panic when the routers are merged,
    ///   even for another method. To answer another method on an OAuth path, register an
    ///   endpoint for it with the builder (`register_endpoint`), or `mount` the OAuth endpoint
    ///   elsewhere.
    /// - Prefer `merge` at the root to `Router::nest`: the metadata document (RFC 8414)
    ///   advertises each endpoint at the path it is mounted at in the server, so a router
    ///   nested under `/auth` serves `/auth/oauth/token` while the document still says
    ///   `/oauth/token`. To serve the endpoints under a prefix, give the builder
    ///   [`base_path`](crate::AuthorizationServerBuilder::base_path)`("/auth")` and merge: the
    ///   routes and the document move together.
    ///
    /// ```
    /// use axum::routing::get;
    ///
    /// let server = oauth_endpoints::AuthorizationServer::builder().build().unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .merge(server.into_router());
    /// ```
    pub fn into_router<S>(self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let paths: BTreeSet<String> = self
            .routes()
            .iter()
            .map(|route| escape(route.path()))
            .collect();
        let service = OAuthService::new(self);
        paths.into_iter().fold(axum::Router::new(), |router, path| {
            router.route_service(&path, service.clone())
        })
    }
}

impl<S> From<AuthorizationServer> for axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn from(server: AuthorizationServer) -> Self {
        server.into_router()
    }
}

/// Our paths are literal; axum reads `{` and `}` as captures unless doubled.
fn escape(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}

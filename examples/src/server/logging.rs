//! Structured request logs: method, path, endpoint name, status, latency. Never bodies or
//! headers, so no token or secret value can reach the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use oauth_endpoints::AuthorizationServer;

/// Wraps `router` with a request log naming the endpoint each path belongs to.
pub(crate) fn layer(server: AuthorizationServer, router: axum::Router) -> axum::Router {
    let names: Arc<HashMap<String, String>> = Arc::new(
        server
            .routes()
            .iter()
            .map(|route| (route.path().to_owned(), route.name().to_owned()))
            .collect(),
    );
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let names = Arc::clone(&names);
        async move { log(&names, request, next).await }
    }))
}

async fn log(names: &HashMap<String, String>, request: Request, next: Next) -> Response {
    // With request logs filtered out (`RUST_LOG=warn`), a request costs nothing here.
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let endpoint = names.get(&path).map_or("-", String::as_str);
    tracing::info!(
        method = %method,
        path = %path,
        endpoint,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

//! Structured request logs: method, path, endpoint name, status, latency. Never bodies or
//! headers, so no token or secret value can reach the log.
//!
//! Lines are formatted on the request path and written to stderr in batches by a thread of
//! their own ([`log_writer`](super::log_writer)): a request never waits for the terminal or
//! the pipe behind stderr, nor wakes a thread per line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use oauth_endpoints::AuthorizationServer;
use tracing_subscriber::EnvFilter;

use super::log_writer::{FlushGuard, batch_writer};

/// The most bytes of log lines waiting for stderr (about 20,000 request lines); past that a
/// request waits for room rather than its line being dropped.
const BUFFERED_BYTES: usize = 4 << 20;

/// Installs the program's logger: `RUST_LOG` (default `info`) to stderr, written in batches
/// by a thread of its own. Keep the guard until the program ends: dropping it writes the lines
/// still buffered, so the last ones (a start-up error, "stopped") are not lost. If the thread
/// cannot be started, lines are written to stderr directly.
pub fn init() -> Option<FlushGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match batch_writer(std::io::stderr(), BUFFERED_BYTES) {
        Ok((writer, guard)) => {
            builder.with_writer(writer).init();
            Some(guard)
        }
        Err(error) => {
            builder.with_writer(std::io::stderr).init();
            tracing::warn!(%error, "cannot start the log writer thread; logging synchronously");
            None
        }
    }
}

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

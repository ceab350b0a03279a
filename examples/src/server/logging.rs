//! Structured request logs: method, path, endpoint name, status, latency. Never bodies or
//! headers, so no token or secret value can reach the log.
//!
//! Lines are formatted on the request path and written to stderr by a thread of their own
//! (`tracing-appender`'s non-blocking writer): a request never waits for the terminal or the
//! pipe behind stderr, only for a place in the writer's queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use oauth_endpoints::AuthorizationServer;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The lines the writer's queue holds before a request waits for room.
const QUEUED_LINES: usize = 128_000;

/// Installs the program's logger: `RUST_LOG` (default `info`) to stderr through a non-blocking
/// writer. Keep the guard until the program ends: dropping it flushes the queued lines, so the
/// last lines (a start-up error, "stopped") are not lost.
///
/// Not lossy: when stderr cannot keep up and the queue is full, a request waits for room
/// rather than its line being dropped.
pub fn init() -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("oauth-log-writer")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    guard
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

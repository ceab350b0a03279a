//! Builds a server from every linked endpoint and prints its routes.
//!
//! ```sh
//! cargo run --example routes
//! ```

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult, oauth_endpoint};

/// A custom endpoint declared with the attribute, collected like the built-ins.
#[derive(Default)]
#[oauth_endpoint(name = "health", path = "/health", methods = "GET")]
struct Health;

impl Endpoint for Health {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let server = AuthorizationServer::builder().build()?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(out, "{} routes:", server.routes().len())?;
    for route in server.routes() {
        let methods: Vec<&str> = route.methods().iter().map(http::Method::as_str).collect();
        writeln!(
            out,
            "  {:<8} {:<40} {:<16} {}",
            methods.join(","),
            route.path(),
            route.name(),
            route.source().type_name()
        )?;
    }
    let response = server
        .dispatch(Request::get("/health").body(Bytes::new())?)
        .await;
    writeln!(out, "GET /health -> {}", response.status())?;
    Ok(())
}

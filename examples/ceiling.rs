//! The ceiling of the HTTP load benchmark (`bench/http.sh`): the same stack as the example
//! server (tokio, hyper, axum) with one handler that reads the body, checks the content type,
//! parses the same form with the same parser, and answers a constant introspection-shaped JSON
//! body with the headers every OAuth answer carries. Nothing an OAuth server does can be faster
//! on this machine, so the server's throughput is reported as a ratio of this one's.
//!
//! ```sh
//! cargo run --release --example ceiling -- --addr 127.0.0.1:8090
//! curl -s -d token=anything http://127.0.0.1:8090/oauth/introspect
//! ```

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::post;
use clap::Parser;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{HeaderMap, StatusCode};
use oauth_endpoints::form::Form;

/// The answer: as long as an active introspection answer for a `client_credentials` token.
const ACTIVE: &[u8] = br#"{"active":true,"scope":"read","client_id":"bench-client","token_type":"Bearer","exp":1767225600,"iat":1767222000,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}"#;

/// Serve the ceiling handler at `/oauth/introspect`.
#[derive(Debug, Parser)]
#[command(name = "ceiling", about)]
struct Options {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    // The address is the program's output: the benchmark script reads it.
    #[allow(clippy::print_stdout)]
    {
        println!("ceiling listening on http://{}", listener.local_addr()?);
    }
    let app = Router::new().route("/oauth/introspect", post(introspect));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn introspect(headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let found = is_form
        && Form::parse_body(&body)
            .ok()
            .is_some_and(|form| form.contains("token"));
    let (status, body) = if found {
        (StatusCode::OK, Bytes::from_static(ACTIVE))
    } else {
        (
            StatusCode::BAD_REQUEST,
            Bytes::from_static(br#"{"error":"invalid_request"}"#),
        )
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

//! The authorization server metadata endpoint (RFC 8414).

use bytes::Bytes;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, HeaderValue};
use http::{Request, StatusCode};

use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::oauth_endpoint;
use crate::response::json_bytes_response;

/// `metadata` at `/.well-known/oauth-authorization-server` (GET): the RFC 8414 document, built
/// once at `build()` from the mounted routes, the registered grants and the configuration.
///
/// - Every route declaring a `metadata` name is published under it with its absolute URL; the
///   token, revocation and introspection endpoints also publish their declared `auth_methods`.
///   Moving or excluding an endpoint changes the document.
/// - For an issuer with a path, the endpoint is mounted where RFC 8414 §3.1 puts it, e.g.
///   `/.well-known/oauth-authorization-server/tenant` for `https://host/tenant`.
/// - Served with `Cache-Control: public, max-age=3600` and `Access-Control-Allow-Origin: *`
///   (the document is public, RFC 8414 §3). Without a configured issuer it answers 404.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "metadata",
    path = "/.well-known/oauth-authorization-server",
    methods = "GET"
)]
pub struct MetadataEndpoint;

impl Endpoint for MetadataEndpoint {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        let Some(document) = cx.metadata_bytes() else {
            return Err(
                OAuthError::invalid_request("no issuer is configured for this server")
                    .with_status(StatusCode::NOT_FOUND),
            );
        };
        let mut response = json_bytes_response(StatusCode::OK, document.clone());
        let headers = response.headers_mut();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        headers.remove(http::header::PRAGMA);
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        Ok(response)
    }
}

//! The JWK Set endpoint (RFC 7517 §5, RFC 8414 §2 `jwks_uri`).

use bytes::Bytes;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::oauth_endpoint;
use crate::server::Setup;

/// `jwks` at `/oauth/jwks` (GET), published as `jwks_uri`: the public half of every signing key
/// (the active one and those kept after a rotation), each with its `kid`, `alg` and
/// `use: sig`. Mounted when the server has signing keys.
///
/// Served as `application/jwk-set+json` (RFC 7517 §8.5) with `Cache-Control: public,
/// max-age=300`: verifiers keep it five minutes, and should fetch it again when they meet a
/// `kid` they do not know (a rotation). Publish a new key (as a previous key) before making it
/// active when verifiers cache longer. `Access-Control-Allow-Origin: *`: the set is public.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "jwks",
    path = "/oauth/jwks",
    methods = "GET",
    auth_methods = "none",
    metadata = "jwks_uri"
)]
pub struct JwksEndpoint;

impl Endpoint for JwksEndpoint {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        let keys = cx.config().signing_keys.as_ref().ok_or_else(|| {
            OAuthError::invalid_request("no signing keys").with_status(StatusCode::NOT_FOUND)
        })?;
        let body = serde_json::to_vec(keys.jwks()).unwrap_or_default();
        let mut response = Response::new(Bytes::from(body));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        Ok(response)
    }

    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        if setup.config().signing_keys.is_none() {
            return Err(
                "the server has no signing keys: give the builder `.signing_keys(...)`".to_owned(),
            );
        }
        Ok(())
    }
}

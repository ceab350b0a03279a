//! The token endpoint (RFC 6749 §3.2).

use bytes::Bytes;
use http::Request;

use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::oauth_endpoint;

/// `token` at `/oauth/token` (POST): authenticates the client (RFC 6749 §2.3), then hands the
/// request to the grant registered for its `grant_type` (§4.4 `client_credentials`, §6
/// `refresh_token`, or your own, §4.5).
///
/// - `grant_type` missing: `invalid_request`; not registered: `unsupported_grant_type`; not in
///   the client's `grant_types`: `unauthorized_client` (§5.2).
/// - Responses carry `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "token",
    path = "/oauth/token",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post none private_key_jwt",
    metadata = "token_endpoint"
)]
pub struct TokenEndpoint;

impl Endpoint for TokenEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        // Authenticate first, so an unauthenticated caller learns nothing about its request.
        let (client, form) = cx.authenticate_then_form(&request).await?;
        let client = client.client;
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let Some(grant) = cx.grants().get(grant_type) else {
            return Err(OAuthError::unsupported_grant_type(
                "this grant type is not supported",
            ));
        };
        if !client.allows_grant(grant_type) {
            return Err(OAuthError::unauthorized_client(
                "the client is not allowed this grant type",
            ));
        }
        grant.exchange(cx, &client, &form).await
    }
}

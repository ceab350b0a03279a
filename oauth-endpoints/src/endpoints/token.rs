//! The token endpoint (RFC 6749 §3.2).

use bytes::Bytes;
use http::Request;

use crate::context::Context;
use crate::dpop::{self, DPOP_NONCE, DpopProof, Expectation};
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::oauth_endpoint;
use crate::server::Setup;
use http::HeaderValue;

/// `token` at `/oauth/token` (POST): authenticates the client (RFC 6749 §2.3), then hands the
/// request to the grant registered for its `grant_type` (§4.4 `client_credentials`, §6
/// `refresh_token`, or your own, §4.5).
///
/// - `grant_type` missing: `invalid_request`; not registered: `unsupported_grant_type`; not in
///   the client's `grant_types`: `unauthorized_client` (§5.2).
/// - Responses carry `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).
/// - DPoP (RFC 9449): a request with a `DPoP` header has its proof verified (§4.3, after client
///   authentication); a failing proof is 400 `invalid_dpop_proof`, a missing or stale nonce
///   (when the server requires them, §8) 400 `use_dpop_nonce` with a `DPoP-Nonce` header. The
///   tokens are then bound to the proof's key: `token_type` `DPoP`, `cnf.jkt` at introspection
///   and in JWT access tokens (§5, §6); a public client's refresh token is bound too. A fresh
///   nonce rides on the answer in `DPoP-Nonce` when the proof's was of the previous period.
///   `dpop_signing_alg_values_supported` is published (§5.1).
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
        // DPoP (RFC 9449 §5): a request with a proof gets tokens bound to its key, through a
        // context of its own; a proof that fails is `invalid_dpop_proof` (or `use_dpop_nonce`).
        if !dpop::is_present(request.headers()) {
            // RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` gets no bearer
            // token.
            if client.dpop_bound_access_tokens() {
                return Err(OAuthError::invalid_request(
                    "this client's access tokens must be DPoP-bound: send a DPoP proof",
                ));
            }
            return grant.exchange(cx, &client, &form).await;
        }
        let proof = DpopProof::verify(cx, &request, Expectation::new()).await?;
        let fresh_nonce = proof.fresh_nonce().map(str::to_owned);
        let bound = cx.with_dpop_proof(proof)?;
        let mut response = grant.exchange(&bound, &client, &form).await?;
        if let Some(nonce) = fresh_nonce.and_then(|nonce| HeaderValue::from_str(&nonce).ok()) {
            response.headers_mut().insert(DPOP_NONCE, nonce);
        }
        Ok(response)
    }

    /// Publishes `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        dpop::publish(setup);
        Ok(())
    }
}

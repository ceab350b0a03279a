//! The pushed authorization request endpoint (RFC 9126).

use bytes::Bytes;
use http::{Request, StatusCode};
use serde::Serialize;

use crate::authorization::code::REQUEST_URI_PREFIX;
use crate::authorization::flow::AuthorizationCodeFlow;
use crate::authorization::request::{Arrival, Refusal, RequestParams, check};
use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult, json_response};
use crate::error::OAuthError;
use crate::secret::{Id, TokenHash, generate_secret};
use crate::server::Setup;
use crate::store::{AuthorizationKind, AuthorizationRecord};

/// `pushed_authorization_request` at `/oauth/par` (POST), published as
/// `pushed_authorization_request_endpoint` (RFC 9126 §5), mounted with the authorization
/// endpoint.
///
/// - The client authenticates as at the token endpoint (RFC 9126 §2: `client_secret_basic`,
///   `client_secret_post`, `private_key_jwt` whose `aud` is the issuer identifier, or `none`
///   with `client_id` for a public client); the server's per-client throttle applies.
/// - The body carries the authorization request's parameters (§2.1); `request_uri` among them
///   is `invalid_request`, and a `client_id` other than the authenticated client's too. They
///   pass the authorization endpoint's checks, whose errors are answered here as JSON
///   (RFC 6749 §5.2; an unregistered redirect URI is `invalid_request`).
/// - The answer is `201 Created` with a `request_uri`
///   (`urn:ietf:params:oauth:request_uri:` and 256 random bits, stored only as a hash) and
///   `expires_in` (§2.2, [`AuthorizationCodeFlow::pushed_request_lifetime`], 60 s by default).
///   The authorization endpoint takes it with `client_id` once.
#[derive(Debug, Default)]
#[crate::oauth_endpoint(
    name = "pushed_authorization_request",
    path = "/oauth/par",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post none private_key_jwt",
    metadata = "pushed_authorization_request_endpoint"
)]
pub struct PushedAuthorizationEndpoint;

#[derive(Serialize)]
struct Answer<'a> {
    request_uri: &'a str,
    expires_in: u64,
}

impl Endpoint for PushedAuthorizationEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let (client, form) = cx.authenticate_then_form(&request).await?;
        let client = client.client;
        cx.throttle(&client)?;
        let flow = cx
            .state::<AuthorizationCodeFlow>()
            .ok_or_else(|| OAuthError::new("server_error", StatusCode::INTERNAL_SERVER_ERROR))?;
        if form.contains("request_uri") {
            return Err(OAuthError::invalid_request(
                "request_uri cannot be pushed (RFC 9126 §2.1)",
            ));
        }
        if form
            .get("client_id")
            .is_some_and(|id| id != client.client_id())
        {
            return Err(OAuthError::invalid_request(
                "client_id is not the authenticated client",
            ));
        }
        let mut params = RequestParams::from_form(&form);
        params.client_id = client.client_id().to_owned();
        // RFC 9449 §10.1: a DPoP proof with the push binds the code to its key, as `dpop_jkt`
        // does; both must then name the same key.
        if crate::dpop::is_present(request.headers()) {
            let proof =
                crate::dpop::DpopProof::verify(cx, &request, crate::dpop::Expectation::new())
                    .await?;
            match &params.dpop_jkt {
                Some(jkt) if !proof.matches_thumbprint(jkt) => {
                    return Err(
                        OAuthError::new("invalid_dpop_proof", StatusCode::BAD_REQUEST)
                            .with_description("dpop_jkt does not name the proof's key"),
                    );
                }
                Some(_) => {}
                None => params.dpop_jkt = Some(proof.jkt().to_owned()),
            }
        }
        check(cx, &params, Some(&client), Arrival::Pushing, false)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Page(text) => OAuthError::invalid_request(text),
                Refusal::Redirect { error, .. } => error,
                Refusal::Store(error) => error.into(),
            })?;
        let secret = generate_secret();
        let now = cx.now();
        let lifetime = flow.pushed_request_lifetime_secs();
        flow.store()
            .insert(&AuthorizationRecord {
                hash: TokenHash::of(&secret),
                kind: AuthorizationKind::PushedRequest,
                client_id: client.client_id_arc().clone(),
                grant_id: Id::time_ordered(),
                payload: serde_json::to_string(&params).unwrap_or_default().into(),
                issued_at: now,
                expires_at: now.saturating_add(lifetime),
                consumed_at: None,
            })
            .await?;
        let request_uri = format!("{REQUEST_URI_PREFIX}{secret}");
        Ok(json_response(
            StatusCode::CREATED,
            &Answer {
                request_uri: &request_uri,
                expires_in: lifetime,
            },
        ))
    }

    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        AuthorizationCodeFlow::of_setup(setup).map(|_| ())
    }
}

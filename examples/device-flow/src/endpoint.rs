//! The device authorization endpoint (RFC 8628 §3.1, §3.2).

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::form::Form;
use oauth_endpoints::secret::{TokenHash, generate_secret};
use oauth_endpoints::server::Setup;
use oauth_endpoints::{Context, Endpoint, EndpointResult, OAuthError, oauth_endpoint};
use serde::Serialize;

use crate::GRANT_TYPE;
use crate::config::{DeviceFlow, server_error};
use crate::store::{Created, DeviceAuthorization, DeviceStatus};
use crate::user_code::UserCode;

/// How many fresh user codes to try when one is taken by an unexpired request.
const USER_CODE_ATTEMPTS: usize = 5;

/// `device_authorization` at `/oauth/device_authorization` (POST), published in the metadata
/// document as `device_authorization_endpoint` (RFC 8628 §4).
///
/// Mounted only when the server can complete the flow: a [`DeviceFlow`] state with a user hook,
/// and an issuer or [`DeviceFlow::verification_uri`] (see [`DeviceFlow`]). Otherwise
/// [`AuthorizationServer::unmounted`](oauth_endpoints::AuthorizationServer::unmounted) lists it
/// with the reason, and its path answers 404.
///
/// - Client authentication as the token endpoint (§3.1, RFC 6749 §2.3): `client_secret_basic`,
///   `client_secret_post`, or `none` with `client_id` for public clients, which most devices
///   are. Failures are 401 `invalid_client`.
/// - The client's `grant_types` must list `urn:ietf:params:oauth:grant-type:device_code`
///   (`unauthorized_client`), checked here so a device learns it before showing a code.
/// - `scope` (§3.1) must be within the client's scope (`invalid_scope`); none asks for the
///   client's full scope.
/// - The server's per-client throttle (the core's feature `throttle`, `.throttle(quota)`)
///   applies right after client authentication, as at revocation and introspection: 429
///   `temporarily_unavailable` with `Retry-After`.
/// - At most [`DeviceFlow::max_pending_per_client`] pending, unexpired requests per client
///   (100 by default), counted and stored in one atomic store call. One more is refused with
///   **429** `temporarily_unavailable` and `Retry-After` (the polling interval), and nothing is
///   stored. RFC 8628 §3.2 answers errors as RFC 6749 §5.2 does and registers no code for
///   this; `slow_down` (§3.5) belongs to polling, and `invalid_request` would tell the client
///   its request is malformed, which it is not. `temporarily_unavailable` is the code
///   RFC 7009 §2.2.1 registers for temporary overload, the one the core's throttle answers
///   ([`OAuthError::too_many_requests`]); clients read it as "retry later", and the 429 status
///   (RFC 6585 §4) tells it apart from a store outage (503).
/// - The answer (§3.2): `device_code` (256 bits from a CSPRNG, stored only as its SHA-256),
///   `user_code` (§6.1, shown as `WDJB-MJHT`), `verification_uri`, `verification_uri_complete`
///   (with `?user_code=`, §3.3.1), `expires_in` and `interval`.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "device_authorization",
    path = "/oauth/device_authorization",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post none",
    metadata = "device_authorization_endpoint"
)]
pub struct DeviceAuthorizationEndpoint;

/// The §3.2 response.
#[derive(Serialize)]
struct Answer<'a> {
    device_code: &'a str,
    user_code: &'a str,
    verification_uri: &'a str,
    verification_uri_complete: &'a str,
    expires_in: u64,
    interval: u64,
}

impl Endpoint for DeviceAuthorizationEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        // Authenticate first, so an unauthenticated caller learns nothing about its request.
        let form = cx.form(&request);
        let client = cx
            .authenticate_client(&request, form.as_ref().unwrap_or(&Form::default()))
            .await?
            .client;
        cx.throttle(&client)?;
        let form = form?;
        if !client.allows_grant(GRANT_TYPE) {
            return Err(OAuthError::unauthorized_client(
                "the client is not allowed the device authorization grant",
            ));
        }
        let scope = match form.scope()? {
            Some(scope) if !scope.is_subset(client.scope()) => {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the client's scope",
                ));
            }
            Some(scope) => scope,
            None => client.scope().clone(),
        };
        let flow = DeviceFlow::of(cx)?;
        let verification_uri = flow.verification_uri_for(cx)?;
        let now = cx.now();
        let device_code = generate_secret();
        let mut authorization = DeviceAuthorization {
            device_code_hash: TokenHash::of(&device_code),
            user_code: UserCode::generate(),
            client_id: client.client_id().to_owned(),
            scope,
            status: DeviceStatus::Pending,
            subject: None,
            issued_at: now,
            expires_at: now.saturating_add(flow.expires_in_secs()),
            interval: flow.interval_secs(),
            last_polled_at: None,
        };
        let mut created = Created::UserCodeTaken;
        for _ in 0..USER_CODE_ATTEMPTS {
            created = flow
                .devices()
                .create(&authorization, flow.pending_bound())
                .await?;
            if created != Created::UserCodeTaken {
                break;
            }
            authorization.user_code = UserCode::generate();
        }
        match created {
            Created::Stored => {}
            Created::UserCodeTaken => return Err(server_error("no free user code was found")),
            Created::TooManyPending => {
                tracing::warn!(
                    client_id = client.client_id(),
                    bound = flow.pending_bound(),
                    "device authorization refused: too many pending requests"
                );
                let retry_after = u32::try_from(flow.interval_secs().max(1)).unwrap_or(u32::MAX);
                return Err(OAuthError::too_many_requests(retry_after).with_description(
                    "too many pending device authorization requests for this client; \
                     retry later",
                ));
            }
        }
        let user_code = authorization.user_code.to_string();
        let separator = if verification_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let complete = format!("{verification_uri}{separator}user_code={user_code}");
        tracing::info!(
            client_id = client.client_id(),
            expires_at = authorization.expires_at,
            "device authorization issued"
        );
        Ok(json_response(
            StatusCode::OK,
            &Answer {
                device_code: &device_code,
                user_code: &user_code,
                verification_uri: &verification_uri,
                verification_uri_complete: &complete,
                expires_in: flow.expires_in_secs(),
                interval: authorization.interval,
            },
        ))
    }

    /// Mounted only with a complete [`DeviceFlow`]: the state, its user hook, and an issuer or
    /// a `verification_uri`. The add-on's endpoints and grant share this rule.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        DeviceFlow::of_setup(setup).map(|_| ())
    }
}

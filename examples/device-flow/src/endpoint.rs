//! The device authorization endpoint (RFC 8628 §3.1, §3.2).

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{
    Context, Endpoint, EndpointResult, Form, OAuthError, TokenHash, generate_secret, json_response,
    oauth_endpoint,
};
use serde::Serialize;

use crate::GRANT_TYPE;
use crate::config::{DeviceFlow, server_error};
use crate::store::{DeviceAuthorization, DeviceStatus};
use crate::user_code::UserCode;

/// How many fresh user codes to try when one is taken by an unexpired request.
const USER_CODE_ATTEMPTS: usize = 5;

/// `device_authorization` at `/oauth/device_authorization` (POST), published in the metadata
/// document as `device_authorization_endpoint` (RFC 8628 §4).
///
/// - Client authentication as the token endpoint (§3.1, RFC 6749 §2.3): `client_secret_basic`,
///   `client_secret_post`, or `none` with `client_id` for public clients, which most devices
///   are. Failures are 401 `invalid_client`.
/// - The client's `grant_types` must list `urn:ietf:params:oauth:grant-type:device_code`
///   (`unauthorized_client`), checked here so a device learns it before showing a code.
/// - `scope` (§3.1) must be within the client's scope (`invalid_scope`); none asks for the
///   client's full scope.
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
        let mut created = false;
        for _ in 0..USER_CODE_ATTEMPTS {
            if flow.devices().create(&authorization).await? {
                created = true;
                break;
            }
            authorization.user_code = UserCode::generate();
        }
        if !created {
            return Err(server_error("no free user code was found"));
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
}

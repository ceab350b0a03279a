//! The device access token request (RFC 8628 §3.4) and its answers (§3.5), as a grant of the
//! core's token endpoint.

use std::borrow::Cow;

use http::StatusCode;
use oauth_endpoints::form::Form;
use oauth_endpoints::grant::REFRESH_TOKEN;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::server::Setup;
use oauth_endpoints::target::Targets;
use oauth_endpoints::token::TokenRequest;
use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};

use crate::config::DeviceFlow;
use crate::store::{DeviceStatus, PollOutcome};

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4) at the token
/// endpoint, which has already authenticated the client and checked its `grant_types`.
///
/// Registered only when the server can complete the flow, as the add-on's endpoints are (see
/// [`DeviceFlow`]): otherwise it is not in `grant_types_supported`, the token endpoint answers
/// `unsupported_grant_type`, and
/// [`AuthorizationServer::unmounted`](oauth_endpoints::AuthorizationServer::unmounted) lists it
/// with the reason.
///
/// - `device_code` is required (`invalid_request`). An unknown code, or one issued to another
///   client, is `invalid_grant` (RFC 6749 §5.2), and the other client's request is left
///   untouched.
/// - §3.5, in this order: a code already exchanged is `invalid_grant`; past `expires_in`,
///   `expired_token`; denied by the user, `access_denied`; approved, the tokens; still pending,
///   `authorization_pending`, or `slow_down` when the client polled sooner than `interval`
///   after its previous poll, and the interval then grows by 5 seconds for this device code
///   (recorded and decided in one atomic store call).
/// - A device code is exchanged at most once: approved → used is a compare-and-set, so of
///   concurrent polls exactly one gets the tokens and the others `invalid_grant`.
/// - Tokens come from the core's public issuer ([`Context::issuer`]): `sub` is the approving
///   user, the scope is the one the device asked for, and a refresh token comes only to clients
///   whose `grant_types` include `refresh_token`. They introspect and revoke like any other.
/// - `resource` (RFC 8707 §2) names the resource servers the tokens are for, each one the
///   client registered (`invalid_target` otherwise, checked before the device code is looked
///   at, so a refused request does not use it); they become the tokens' audience.
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "urn:ietf:params:oauth:grant-type:device_code")]
pub struct DeviceCodeGrant;

/// An RFC 8628 §3.5 error: 400 with its code.
fn device_error(code: &'static str, description: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new(code, StatusCode::BAD_REQUEST).with_description(description)
}

impl Grant for DeviceCodeGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        let device_code = form
            .get("device_code")
            .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
        let targets = Targets::resources(form)?;
        targets.check_client(client)?;
        let flow = DeviceFlow::of(cx)?;
        let hash = TokenHash::of(device_code);
        let invalid = || OAuthError::invalid_grant("the device code is invalid");
        let found = flow
            .devices()
            .find_by_device_code(&hash)
            .await?
            .ok_or_else(invalid)?;
        if found.client_id != client.client_id() {
            return Err(OAuthError::invalid_grant(
                "the device code was issued to another client",
            ));
        }
        let now = cx.now();
        match found.status {
            DeviceStatus::Used => Err(OAuthError::invalid_grant(
                "the device code was already exchanged",
            )),
            _ if found.is_expired(now) => Err(device_error(
                "expired_token",
                "the device code has expired; start a new device authorization",
            )),
            DeviceStatus::Denied => Err(device_error(
                "access_denied",
                "the user denied the authorization request",
            )),
            DeviceStatus::Approved => {
                let Some(redeemed) = flow.devices().redeem(&hash, now).await? else {
                    // Another poll won the compare-and-set (or the code expired meanwhile).
                    return Err(invalid());
                };
                let mut request = TokenRequest::new(client, redeemed.scope.clone())
                    .with_audience(targets.into_vec())
                    .with_refresh_token(client.allows_grant(REFRESH_TOKEN));
                if let Some(subject) = redeemed.subject {
                    request = request.with_subject(subject);
                }
                let issued = cx.issuer().issue(&request).await?;
                tracing::info!(
                    client_id = client.client_id(),
                    jti = %issued.access_record().id,
                    "device code exchanged"
                );
                Ok(issued.into_response(None))
            }
            DeviceStatus::Pending => match flow.devices().record_poll(&hash, now).await? {
                PollOutcome::SlowDown { interval } => Err(device_error(
                    "slow_down",
                    format!("polling too fast; wait at least {interval} seconds between polls"),
                )),
                PollOutcome::Pending | PollOutcome::NotPending => Err(device_error(
                    "authorization_pending",
                    "the user has not yet completed the authorization",
                )),
            },
        }
    }

    /// Registered only with a complete [`DeviceFlow`]: the state, its user hook, and an issuer or
    /// a `verification_uri`. The add-on's endpoints and grant share this rule.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        DeviceFlow::of_setup(setup).map(|_| ())
    }
}

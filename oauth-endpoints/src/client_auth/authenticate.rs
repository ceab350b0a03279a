//! The client authentication step every endpoint shares (RFC 6749 §2.3).

use bytes::Bytes;
use http::Request;
use http::header::AUTHORIZATION;

use crate::client::Client;
use crate::client_auth::ClientAuthMethod;
use crate::client_auth::basic::{BASIC_BUFFER, is_basic, parse_basic_in};
use crate::context::Context;
use crate::error::OAuthError;
use crate::form::Form;
use crate::hooks::{AuthFailure, ClientAuthenticationFailed};
use crate::secret::SecretHash;

/// The one description every credential failure gets, so a caller cannot tell an unknown client
/// from a wrong secret or a wrong method.
pub(crate) const AUTHENTICATION_FAILED: &str = "client authentication failed";

/// A client that proved who it is, and how.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The client.
    pub client: Client,
    /// The method it used.
    pub method: ClientAuthMethod,
}

/// The credentials a request presents.
struct Presented<'a> {
    method: ClientAuthMethod,
    client_id: std::borrow::Cow<'a, str>,
    secret: Option<std::borrow::Cow<'a, str>>,
}

/// Authenticates the client of `request` (RFC 6749 §2.3), accepting only `accepted` methods.
///
/// - `client_secret_basic`: the Basic header's id and secret are form-urldecoded (§2.3.1);
/// - `client_secret_post`: `client_id` and `client_secret` in the body (§2.3.1);
/// - `none`: `client_id` alone in the body, for public clients (RFC 7591 §2).
///
/// More than one method in one request is `invalid_request` (§2.3: "MUST NOT use more than one
/// authentication method in each request"). A client must use the method it registered. Unknown
/// client, wrong secret, wrong method, a malformed Basic header, or no credentials: 401
/// `invalid_client` with one description, and a secret hash is computed in every case so that
/// timing does not tell them apart either. The operator learns the reason: a debug log line and
/// the [`ClientAuthenticationFailed`] event, never with the secret.
pub async fn authenticate_client(
    cx: &Context,
    request: &Request<Bytes>,
    form: &Form,
    accepted: &[ClientAuthMethod],
) -> Result<AuthenticatedClient, OAuthError> {
    let mut buffer = [0u8; BASIC_BUFFER];
    let presented = match presented(request, form, &mut buffer) {
        Ok(presented) => presented,
        Err((reason, description)) => {
            failed(cx, form.get("client_id"), None, reason);
            return Err(match reason {
                AuthFailure::SeveralMethods => OAuthError::invalid_request(description),
                _ => OAuthError::invalid_client(description),
            });
        }
    };
    let refuse = |reason: AuthFailure, error: OAuthError| {
        failed(
            cx,
            Some(&presented.client_id),
            Some(presented.method),
            reason,
        );
        Err(error)
    };
    if !accepted.contains(&presented.method) {
        return refuse(
            AuthFailure::MethodNotAccepted,
            OAuthError::invalid_client("this client authentication method is not accepted here"),
        );
    }
    let client = cx.clients().find(&presented.client_id).await?;
    let secret_matches = match (&client, &presented.secret) {
        (Some(client), Some(secret)) => client.verify_secret_at(secret, cx.now()),
        (None, Some(secret)) => {
            // Same work as for a known client, so timing does not reveal unknown ids.
            let _ = unknown_client_hash().verify(secret);
            false
        }
        (_, None) => true,
    };
    match client {
        Some(client)
            if secret_matches
                && client.token_endpoint_auth_method() == presented.method
                && (presented.secret.is_some() || client.is_public()) =>
        {
            Ok(AuthenticatedClient {
                client,
                method: presented.method,
            })
        }
        client => {
            let reason = match client {
                None => AuthFailure::UnknownClient,
                Some(_) if !secret_matches => AuthFailure::WrongSecret,
                Some(_) => AuthFailure::MethodNotRegistered,
            };
            refuse(reason, OAuthError::invalid_client(AUTHENTICATION_FAILED))
        }
    }
}

/// Tells the operator why an authentication failed: a debug log line and the event.
fn failed(
    cx: &Context,
    client_id: Option<&str>,
    method: Option<ClientAuthMethod>,
    reason: AuthFailure,
) {
    let endpoint = cx.route().name();
    tracing::debug!(
        endpoint,
        client_id,
        method = method.map(ClientAuthMethod::as_str),
        reason = reason.as_str(),
        "client authentication failed"
    );
    cx.hooks()
        .client_authentication_failed(&ClientAuthenticationFailed {
            endpoint,
            client_id,
            method,
            reason,
        });
}

/// Reads the credentials a request presents, decoding Basic credentials into `buffer`; refuses
/// several methods at once. A refusal is its reason for the operator and the description for
/// the client (`invalid_request` for several methods, `invalid_client` otherwise).
fn presented<'a>(
    request: &'a Request<Bytes>,
    form: &'a Form,
    buffer: &'a mut [u8],
) -> Result<Presented<'a>, (AuthFailure, &'static str)> {
    let mut authorization = request.headers().get_all(AUTHORIZATION).iter();
    let basic = authorization
        .next()
        .filter(|value| is_basic(value.as_bytes()));
    if authorization.next().is_some() {
        return Err((
            AuthFailure::SeveralMethods,
            "more than one Authorization header",
        ));
    }
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err((
            AuthFailure::SeveralMethods,
            "more than one client authentication method in one request",
        )),
        (Some(value), None) => {
            let (client_id, secret) = parse_basic_in(value.as_bytes(), buffer)
                .map_err(|_| (AuthFailure::MalformedBasic, AUTHENTICATION_FAILED))?;
            if body_id.is_some_and(|id| id != client_id) {
                return Err((
                    AuthFailure::SeveralMethods,
                    "client_id in the body differs from the Authorization header",
                ));
            }
            Ok(Presented {
                method: ClientAuthMethod::ClientSecretBasic,
                client_id,
                secret: Some(secret),
            })
        }
        (None, Some(secret)) => Ok(Presented {
            method: ClientAuthMethod::ClientSecretPost,
            client_id: body_id
                .ok_or((AuthFailure::NoCredentials, AUTHENTICATION_FAILED))?
                .into(),
            secret: Some(secret.into()),
        }),
        (None, None) => Ok(Presented {
            method: ClientAuthMethod::None,
            client_id: body_id
                .ok_or((
                    AuthFailure::NoCredentials,
                    "client authentication is required",
                ))?
                .into(),
            secret: None,
        }),
    }
}

fn unknown_client_hash() -> SecretHash {
    SecretHash::from_bytes([0x5a; 32])
}

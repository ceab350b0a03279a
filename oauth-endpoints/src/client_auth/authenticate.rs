//! The client authentication step every endpoint shares (RFC 6749 §2.3).

use bytes::Bytes;
use http::Request;
use http::header::AUTHORIZATION;

use crate::client::Client;
use crate::client_auth::ClientAuthMethod;
use crate::client_auth::assertion::{self, Assertion};
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
    /// The `client_assertion` of `private_key_jwt`, read but not yet verified.
    assertion: Option<Assertion<'a>>,
}

/// A refusal before any client is looked up: the reason for the operator, and the answer's
/// code (`invalid_request` or `invalid_client`) and description.
struct Refusal {
    reason: AuthFailure,
    invalid_request: bool,
    description: &'static str,
}

impl Refusal {
    fn error(&self) -> OAuthError {
        if self.invalid_request {
            OAuthError::invalid_request(self.description)
        } else {
            OAuthError::invalid_client(self.description)
        }
    }
}

/// Authenticates the client of `request` (RFC 6749 §2.3), accepting only `accepted` methods.
///
/// - `client_secret_basic`: the Basic header's id and secret are form-urldecoded (§2.3.1);
/// - `client_secret_post`: `client_id` and `client_secret` in the body (§2.3.1);
/// - `none`: `client_id` alone in the body, for public clients (RFC 7591 §2);
/// - `private_key_jwt`: `client_assertion_type` and `client_assertion`, a JWT signed with one
///   of the client's registered keys, and optionally `client_id` (RFC 7523 §2.2, RFC 7521
///   §4.2); the rules, among them the `aud` it must carry (the issuer identifier alone) and
///   the single use of its `jti`, are listed in `client_auth/assertion.rs` and in the README
///   ("Clients that sign in with a key").
///
/// More than one method in one request is `invalid_request` (§2.3: "MUST NOT use more than one
/// authentication method in each request"), except that an assertion sent with other
/// credentials is `invalid_client`, as any assertion that does not authenticate (RFC 7521
/// §4.2.1). A client must use the method it registered. Unknown client, wrong secret, wrong
/// method, a malformed Basic header, an assertion that breaks any rule or was already used, or
/// no credentials: 401 `invalid_client` with one description, and a secret hash is computed in
/// every secret-based case so that timing does not tell them apart either. The operator learns
/// the reason: a debug log line and the [`ClientAuthenticationFailed`] event, never with the
/// secret or the assertion.
pub async fn authenticate_client(
    cx: &Context,
    request: &Request<Bytes>,
    form: &Form,
    accepted: &[ClientAuthMethod],
) -> Result<AuthenticatedClient, OAuthError> {
    let mut buffer = [0u8; BASIC_BUFFER];
    let presented = match presented(request, form, &mut buffer) {
        Ok(presented) => presented,
        Err(refusal) => {
            let method = assertion::attempted(form).then_some(ClientAuthMethod::PrivateKeyJwt);
            failed(cx, form.get("client_id"), method, refusal.reason);
            return Err(refusal.error());
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
    // An assertion reaching a server that cannot check one (no assertion store, or no issuer
    // identifier for its `aud`): `build()` withdrew the method and said so; the reason here is
    // the configuration, not the client.
    if presented.method == ClientAuthMethod::PrivateKeyJwt
        && (cx.assertions().is_none() || cx.config().issuer.is_none())
    {
        return refuse(
            AuthFailure::AssertionsUnavailable,
            OAuthError::invalid_client(AUTHENTICATION_FAILED),
        );
    }
    if !accepted.contains(&presented.method) {
        return refuse(
            AuthFailure::MethodNotAccepted,
            OAuthError::invalid_client("this client authentication method is not accepted here"),
        );
    }
    if let Some(assertion) = &presented.assertion {
        return match assertion::verify(cx, &presented.client_id, assertion).await? {
            Ok(client) => Ok(AuthenticatedClient {
                client,
                method: ClientAuthMethod::PrivateKeyJwt,
            }),
            Err(reason) => refuse(reason, OAuthError::invalid_client(AUTHENTICATION_FAILED)),
        };
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
        assertion_problem = reason.assertion_problem().map(|problem| problem.as_str()),
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
/// several methods at once. A refusal is its reason for the operator and the answer
/// (`invalid_request` for several methods, `invalid_client` otherwise, and always with an
/// assertion).
fn presented<'a>(
    request: &'a Request<Bytes>,
    form: &'a Form,
    buffer: &'a mut [u8],
) -> Result<Presented<'a>, Refusal> {
    let several = |description: &'static str| Refusal {
        reason: AuthFailure::SeveralMethods,
        invalid_request: true,
        description,
    };
    let client = |reason: AuthFailure, description: &'static str| Refusal {
        reason,
        invalid_request: false,
        description,
    };
    let mut authorization = request.headers().get_all(AUTHORIZATION).iter();
    let first = authorization.next();
    let several_headers = authorization.next().is_some();
    let basic = first.filter(|value| is_basic(value.as_bytes()));
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    if assertion::attempted(form) {
        // RFC 6749 §2.3: one method per request; RFC 7521 §4.2.1: an assertion that does not
        // authenticate is `invalid_client`, whatever the reason.
        if several_headers || basic.is_some() || body_secret.is_some() {
            return Err(client(AuthFailure::SeveralMethods, AUTHENTICATION_FAILED));
        }
        let (assertion, client_id) = assertion::read(form).map_err(|problem| {
            client(
                AuthFailure::InvalidAssertion(problem),
                AUTHENTICATION_FAILED,
            )
        })?;
        return Ok(Presented {
            method: ClientAuthMethod::PrivateKeyJwt,
            client_id,
            secret: None,
            assertion: Some(assertion),
        });
    }
    if several_headers {
        return Err(several("more than one Authorization header"));
    }
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err(several(
            "more than one client authentication method in one request",
        )),
        (Some(value), None) => {
            let (client_id, secret) = parse_basic_in(value.as_bytes(), buffer)
                .map_err(|_| client(AuthFailure::MalformedBasic, AUTHENTICATION_FAILED))?;
            if body_id.is_some_and(|id| id != client_id) {
                return Err(several(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            Ok(Presented {
                method: ClientAuthMethod::ClientSecretBasic,
                client_id,
                secret: Some(secret),
                assertion: None,
            })
        }
        (None, Some(secret)) => Ok(Presented {
            method: ClientAuthMethod::ClientSecretPost,
            client_id: body_id
                .ok_or_else(|| client(AuthFailure::NoCredentials, AUTHENTICATION_FAILED))?
                .into(),
            secret: Some(secret.into()),
            assertion: None,
        }),
        (None, None) => Ok(Presented {
            method: ClientAuthMethod::None,
            client_id: body_id
                .ok_or_else(|| {
                    client(
                        AuthFailure::NoCredentials,
                        "client authentication is required",
                    )
                })?
                .into(),
            secret: None,
            assertion: None,
        }),
    }
}

fn unknown_client_hash() -> SecretHash {
    SecretHash::from_bytes([0x5a; 32])
}

//! [`BearerError`]: why a protected request was refused, rendered as RFC 6750 §3 asks.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, HeaderValue, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::response::json_response;
use crate::scope::Scope;
use crate::store::StoreError;

/// What kind of refusal a [`BearerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerErrorKind {
    /// The request has no Bearer credentials: 401 with a bare `Bearer realm="..."` challenge
    /// and no error code (RFC 6750 §3.1: "the resource server SHOULD NOT include an error code
    /// or other error information").
    MissingToken,
    /// `invalid_request`: two `Authorization` headers, or Bearer credentials that are not
    /// `Bearer <b64token>`. 400.
    InvalidRequest,
    /// `invalid_token`: unknown, expired, revoked, forged, not an access token, issued to a
    /// client that no longer exists, or not meant for this resource's audience. 401.
    InvalidToken,
    /// `insufficient_scope`: a valid token without every required scope. 403, with the
    /// required scope in the challenge's `scope` attribute.
    InsufficientScope,
    /// The token store (or client store) failed: 503 `temporarily_unavailable` with
    /// `Retry-After`, as the server's endpoints answer a store failure. The store's error is
    /// the [`source`](Error::source), never sent.
    Unavailable,
}

/// A refused protected request: the RFC 6750 §3 answer to send, and why (for logs).
///
/// Render it with [`into_response`](Self::into_response) (or `http::Response::from`); with
/// feature `axum` it is also an `IntoResponse`. Every answer carries `Cache-Control: no-store`
/// and `Pragma: no-cache`; each 4xx carries a `WWW-Authenticate: Bearer realm="..."` challenge,
/// with `error="..."` unless credentials were missing, and `scope="..."` (the required scope)
/// for `insufficient_scope`. The body is empty for missing credentials, else a small JSON
/// object: `{"error": ..., "error_description": ...}` (and `scope` for `insufficient_scope`).
///
/// Every invalid token gets the same answer, whatever made it invalid (unknown, revoked,
/// expired, forged...): [`reason`](Self::reason) tells which, for your log only.
///
/// ```
/// use oauth_endpoints::AuthorizationServer;
/// use oauth_endpoints::resource::{BearerErrorKind, ResourceProtector};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = AuthorizationServer::builder().build().unwrap();
/// let protector = ResourceProtector::new(&server).realm("photos");
///
/// let error = protector.protect(&http::HeaderMap::new()).await.unwrap_err();
/// assert_eq!(error.kind(), BearerErrorKind::MissingToken);
/// let response = error.into_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="photos""#);
/// assert!(response.body().is_empty());
/// # }
/// ```
#[derive(Clone)]
pub struct BearerError {
    kind: BearerErrorKind,
    realm: Arc<str>,
    /// The required scope, for `insufficient_scope`.
    scope: Option<Scope>,
    /// Why, for logs (and, for `invalid_request`, the description sent).
    reason: &'static str,
    cause: Option<Arc<StoreError>>,
}

impl BearerError {
    pub(crate) fn new(kind: BearerErrorKind, realm: &Arc<str>, reason: &'static str) -> Self {
        Self {
            kind,
            realm: Arc::clone(realm),
            scope: None,
            reason,
            cause: None,
        }
    }

    pub(crate) fn insufficient_scope(realm: &Arc<str>, required: &Scope) -> Self {
        let mut error = Self::new(
            BearerErrorKind::InsufficientScope,
            realm,
            "the token lacks a required scope",
        );
        error.scope = Some(required.clone());
        error
    }

    pub(crate) fn unavailable(realm: &Arc<str>, cause: StoreError) -> Self {
        let mut error = Self::new(BearerErrorKind::Unavailable, realm, "the store failed");
        error.cause = Some(Arc::new(cause));
        error
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> BearerErrorKind {
        self.kind
    }

    /// The HTTP status: 401, 400, 401, 403 or 503 (see [`BearerErrorKind`]).
    pub fn status(&self) -> StatusCode {
        match self.kind {
            BearerErrorKind::MissingToken | BearerErrorKind::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            BearerErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            BearerErrorKind::InsufficientScope => StatusCode::FORBIDDEN,
            BearerErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code (RFC 6750 §3.1), `None` for missing credentials.
    pub fn code(&self) -> Option<&'static str> {
        match self.kind {
            BearerErrorKind::MissingToken => None,
            BearerErrorKind::InvalidRequest => Some("invalid_request"),
            BearerErrorKind::InvalidToken => Some("invalid_token"),
            BearerErrorKind::InsufficientScope => Some("insufficient_scope"),
            BearerErrorKind::Unavailable => Some("temporarily_unavailable"),
        }
    }

    /// The scope the resource requires, for `insufficient_scope`.
    pub fn required_scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// Why the request was refused, for a log line: which check failed (`revoked, expired or
    /// not yet valid`, `bad signature`, ...). Only an `invalid_request`'s reason is sent (as
    /// its `error_description`); an invalid token's never is, so a caller cannot tell a
    /// revoked token from an unknown one.
    pub fn reason(&self) -> &str {
        self.reason
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3), `None` for a store failure.
    pub fn challenge(&self) -> Option<HeaderValue> {
        if self.kind == BearerErrorKind::Unavailable {
            return None;
        }
        let mut challenge = format!("Bearer realm=\"{}\"", self.realm);
        if let Some(code) = self.code() {
            challenge.push_str(", error=\"");
            challenge.push_str(code);
            challenge.push('"');
        }
        if let Some(scope) = self.scope.as_ref().filter(|scope| !scope.is_empty()) {
            // Scope tokens are %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3): nothing to escape in
            // a quoted-string.
            challenge.push_str(", scope=\"");
            challenge.push_str(scope.as_str());
            challenge.push('"');
        }
        // The realm was sanitized and scope tokens are printable ASCII: this cannot fail.
        Some(
            HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer")),
        )
    }

    /// The RFC 6750 §3 answer.
    pub fn into_response(self) -> Response<Bytes> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let description = match self.kind {
            BearerErrorKind::MissingToken | BearerErrorKind::InvalidRequest => self.reason,
            BearerErrorKind::InvalidToken => "the access token is invalid, expired or revoked",
            BearerErrorKind::InsufficientScope => {
                "the access token lacks the scope this resource requires"
            }
            BearerErrorKind::Unavailable => {
                "the server is temporarily unable to handle the request"
            }
        };
        let mut response = match self.code() {
            Some(code) => json_response(
                self.status(),
                &Body {
                    error: code,
                    error_description: description,
                    scope: self
                        .scope
                        .as_ref()
                        .filter(|scope| !scope.is_empty())
                        .map(Scope::as_str),
                },
            ),
            None => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = self.status();
                let headers = response.headers_mut();
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
                response
            }
        };
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge() {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if self.kind == BearerErrorKind::Unavailable {
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Seconds a caller should wait after a store failure: what the server's endpoints answer.
const RETRY_AFTER_SECS: u32 = 5;

impl From<BearerError> for Response<Bytes> {
    fn from(error: BearerError) -> Self {
        error.into_response()
    }
}

impl fmt::Debug for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerError")
            .field("kind", &self.kind)
            .field("reason", &self.reason)
            .field("scope", &self.scope)
            .field("cause", &self.cause)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code().unwrap_or("no bearer token");
        write!(f, "{code}: {}", self.reason)
    }
}

impl Error for BearerError {
    /// The store's error, for [`Unavailable`](BearerErrorKind::Unavailable).
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

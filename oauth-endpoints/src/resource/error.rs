//! [`BearerError`]: why a protected request was refused, rendered as RFC 6750 §3 asks.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, HeaderValue, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::dpop::{DPOP_NONCE, DPOP_SIGNING_ALGS, DpopError, DpopErrorKind};
use crate::resource::bearer::Scheme;
use crate::response::json_response;
use crate::scope::Scope;
use crate::store::StoreError;

/// What kind of refusal a [`BearerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerErrorKind {
    /// The request has no Bearer credentials: 401 with a bare `Bearer realm="..."` challenge
    /// and no error code (RFC 6750 §3.1: "the resource server SHOULD NOT include an error code
    /// or other error information"); when the protector accepts DPoP, a second bare challenge
    /// `DPoP algs="..."` (RFC 9449 §7.1).
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
    /// The token store (or client store, or the DPoP replay store) failed: 503
    /// `temporarily_unavailable` with `Retry-After`, as the server's endpoints answer a store
    /// failure. The store's error is the [`source`](Error::source), never sent.
    Unavailable,
    /// `invalid_dpop_proof` (RFC 9449 §7.1): `Authorization: DPoP` credentials with a missing,
    /// malformed or failing DPoP proof (see [`dpop_error`](BearerError::dpop_error) for which
    /// check). 401 with `WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="..."`.
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §9): the server requires a nonce in proofs and this one has
    /// none or a stale one. 401 with a fresh nonce in `DPoP-Nonce`.
    UseDpopNonce,
}

/// Which challenges a refusal's `WWW-Authenticate` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Bearer realm="..."[, error=...]` (RFC 6750 §3).
    Bearer,
    /// `DPoP [error=..., ]algs="..."` (RFC 9449 §7.1).
    Dpop,
    /// Both, Bearer first (missing credentials at a protector accepting either scheme).
    Both,
}

impl From<Scheme> for Challenge {
    fn from(scheme: Scheme) -> Self {
        match scheme {
            Scheme::Bearer => Self::Bearer,
            Scheme::Dpop => Self::Dpop,
        }
    }
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
/// DPoP (RFC 9449 §7): a refusal of `Authorization: DPoP` credentials, or of a DPoP-bound
/// token presented as a Bearer token (§7.2), carries a `DPoP error="...", algs="..."`
/// challenge instead (with `scope="..."` for `insufficient_scope`); a refused proof is
/// [`InvalidDpopProof`](BearerErrorKind::InvalidDpopProof) or
/// [`UseDpopNonce`](BearerErrorKind::UseDpopNonce) (with `DPoP-Nonce`). When credentials are
/// missing and the protector accepts DPoP, the answer carries two `WWW-Authenticate` fields:
/// `Bearer realm="..."` then `DPoP algs="..."` ([`challenges`](Self::challenges)).
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
    /// The challenges to send.
    scheme: Challenge,
    /// The refused proof, for `invalid_dpop_proof`, `use_dpop_nonce` and a replay store failure.
    dpop: Option<DpopError>,
}

impl BearerError {
    pub(crate) fn new(kind: BearerErrorKind, realm: &Arc<str>, reason: &'static str) -> Self {
        Self {
            kind,
            realm: Arc::clone(realm),
            scope: None,
            reason,
            cause: None,
            scheme: Challenge::Bearer,
            dpop: None,
        }
    }

    /// The same refusal, with these challenges.
    pub(crate) fn with_challenge(mut self, scheme: impl Into<Challenge>) -> Self {
        self.scheme = scheme.into();
        self
    }

    /// A refused DPoP proof (RFC 9449 §7.1, §9).
    pub(crate) fn dpop_proof(realm: &Arc<str>, error: DpopError) -> Self {
        let kind = match error.kind() {
            DpopErrorKind::UseNonce => BearerErrorKind::UseDpopNonce,
            DpopErrorKind::Unavailable => BearerErrorKind::Unavailable,
            _ => BearerErrorKind::InvalidDpopProof,
        };
        let mut refused = Self::new(kind, realm, error.reason()).with_challenge(Challenge::Dpop);
        refused.dpop = Some(error);
        refused
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
            BearerErrorKind::MissingToken
            | BearerErrorKind::InvalidToken
            | BearerErrorKind::InvalidDpopProof
            | BearerErrorKind::UseDpopNonce => StatusCode::UNAUTHORIZED,
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
            BearerErrorKind::InvalidDpopProof => Some("invalid_dpop_proof"),
            BearerErrorKind::UseDpopNonce => Some("use_dpop_nonce"),
        }
    }

    /// The refused DPoP proof's error (which check of RFC 9449 §4.3 failed:
    /// [`DpopError::problem`]), for `invalid_dpop_proof`, `use_dpop_nonce` and a failure of
    /// the replay store.
    pub fn dpop_error(&self) -> Option<&DpopError> {
        self.dpop.as_ref()
    }

    /// The fresh nonce the answer carries in `DPoP-Nonce`, for `use_dpop_nonce` (RFC 9449 §9).
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop.as_ref().and_then(DpopError::nonce)
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

    /// The (first) `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1), `None` for a
    /// store failure. See [`challenges`](Self::challenges) for all of them.
    pub fn challenge(&self) -> Option<HeaderValue> {
        self.challenges().into_iter().next()
    }

    /// Every `WWW-Authenticate` challenge, one header field each: `Bearer realm="..."[,
    /// error="..."][, scope="..."]` (RFC 6750 §3), or `DPoP [error="...", ][scope="...",
    /// ]algs="..."` (RFC 9449 §7.1), or both (missing credentials at a protector accepting
    /// DPoP); none for a store failure.
    pub fn challenges(&self) -> Vec<HeaderValue> {
        if self.kind == BearerErrorKind::Unavailable {
            return Vec::new();
        }
        match self.scheme {
            Challenge::Bearer => vec![self.bearer_challenge()],
            Challenge::Dpop => vec![self.dpop_challenge()],
            Challenge::Both => vec![self.bearer_challenge(), self.dpop_challenge()],
        }
    }

    /// `DPoP [error="...", ][scope="...", ]algs="..."` (RFC 9449 §7.1), as
    /// [`DpopError::resource_challenge`] renders a refused proof.
    fn dpop_challenge(&self) -> HeaderValue {
        let mut challenge = String::from("DPoP ");
        if let Some(code) = self.code() {
            challenge.push_str("error=\"");
            challenge.push_str(code);
            challenge.push_str("\", ");
        }
        if let Some(scope) = self.scope.as_ref().filter(|scope| !scope.is_empty()) {
            challenge.push_str("scope=\"");
            challenge.push_str(scope.as_str());
            challenge.push_str("\", ");
        }
        challenge.push_str("algs=\"");
        challenge.push_str(&DPOP_SIGNING_ALGS.join(" "));
        challenge.push('"');
        HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
    }

    /// `Bearer realm="..."[, error="..."][, scope="..."]` (RFC 6750 §3).
    fn bearer_challenge(&self) -> HeaderValue {
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
        HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
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
            BearerErrorKind::InvalidDpopProof => "the DPoP proof is invalid",
            BearerErrorKind::UseDpopNonce => "the server requires a nonce in the DPoP proof",
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
        for challenge in self.challenges() {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self
            .dpop_nonce()
            .and_then(|nonce| HeaderValue::from_str(nonce).ok())
        {
            headers.insert(DPOP_NONCE, nonce);
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
            .field("dpop", &self.dpop)
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
        match &self.cause {
            Some(cause) => Some(&**cause as &(dyn Error + 'static)),
            None => self.dpop.as_ref().and_then(Error::source),
        }
    }
}

//! [`DpopError`]: why a DPoP proof was refused, and the answers RFC 9449 asks for at the token
//! endpoint (§5, §8) and at a resource server (§7.1, §9).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use super::DPOP_SIGNING_ALGS;
use crate::error::OAuthError;
use crate::response::json_response;
use crate::store::StoreError;

/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Seconds a client should wait after a store failure: what the server's endpoints answer.
const RETRY_AFTER_SECS: u32 = 5;

/// What kind of refusal a [`DpopError`] is: which `error` code it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopErrorKind {
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1): the proof is missing, malformed, or breaks
    /// one of the checks of §4.3.
    InvalidProof,
    /// `use_dpop_nonce` (RFC 9449 §8, §9): the server requires a nonce and the proof has none,
    /// or a stale one; the answer carries a fresh one in `DPoP-Nonce`.
    UseNonce,
    /// The replay store failed: 503 `temporarily_unavailable` with `Retry-After`, as the
    /// server's endpoints answer a store failure.
    Unavailable,
}

/// Which check of RFC 9449 §4.3 a proof failed: for the operator's log and for tests. Clients
/// are told the [`DpopErrorKind`] only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopProblem {
    /// No `DPoP` header.
    Missing,
    /// More than one `DPoP` header (item 1).
    SeveralHeaders,
    /// Not a JWS in compact serialization with JSON header and claims, too long, or a header
    /// naming a critical extension (item 2).
    Malformed,
    /// `typ` is not `dpop+jwt` (item 4).
    WrongType,
    /// `alg` is not one of ES256, EdDSA, RS256, PS256: `none`, an HMAC, or unknown (item 5).
    DisallowedAlgorithm,
    /// No `jwk` in the header (item 3).
    NoKey,
    /// The `jwk` holds a private or symmetric member (item 7).
    PrivateKey,
    /// The `jwk` is not an EC P-256, OKP Ed25519 or RSA (2048 bits or more) public key.
    UnsupportedKey,
    /// The `alg` does not fit the `jwk` (item 5), or the `jwk`'s own `alg` differs.
    KeyMismatch,
    /// The signature does not verify with the `jwk` (item 6).
    BadSignature,
    /// No `jti`, an empty one, or one longer than [`MAX_JTI_LEN`](super::MAX_JTI_LEN) (item 3).
    BadJti,
    /// `htm` is missing or not the request's method (item 8).
    WrongMethod,
    /// `htu` is missing or not the request's URI (item 9).
    WrongUri,
    /// The server could not tell the request's absolute URI (no issuer, no URI given): a
    /// set-up problem, not the client's.
    UnknownTargetUri,
    /// `iat` is missing or not a NumericDate (item 3).
    BadIssuedAt,
    /// `iat` is further in the past than the window allows (item 11).
    TooOld,
    /// `iat` is further in the future than the window allows (item 11).
    FromTheFuture,
    /// An access token was presented and the proof has no `ath` (item 12).
    MissingAth,
    /// `ath` is not the hash of the presented access token (item 12).
    WrongAth,
    /// The server requires nonces and the proof has none (item 10, §8).
    NonceRequired,
    /// The proof's nonce is not one the server accepts now: too old, made with another secret,
    /// or not a nonce (item 10, §8).
    StaleNonce,
    /// The proof's `jti` was seen before, on this instance or another sharing the store
    /// (§11.1).
    Replayed,
    /// The server has no store to remember `jti` values in: no proof can be accepted.
    NoReplayStore,
    /// The replay store failed.
    StoreFailed,
}

impl DpopProblem {
    /// The answer this problem gets.
    pub fn kind(self) -> DpopErrorKind {
        match self {
            Self::NonceRequired | Self::StaleNonce => DpopErrorKind::UseNonce,
            Self::StoreFailed => DpopErrorKind::Unavailable,
            _ => DpopErrorKind::InvalidProof,
        }
    }

    /// A short description, for a log line.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "no DPoP header",
            Self::SeveralHeaders => "more than one DPoP header",
            Self::Malformed => "not a compact JWS with a JSON header and claims",
            Self::WrongType => "typ is not dpop+jwt",
            Self::DisallowedAlgorithm => "alg is not ES256, EdDSA, RS256 or PS256",
            Self::NoKey => "no jwk in the header",
            Self::PrivateKey => "the jwk holds a private or symmetric key",
            Self::UnsupportedKey => "the jwk is not an EC P-256, OKP Ed25519 or RSA public key",
            Self::KeyMismatch => "alg does not fit the jwk",
            Self::BadSignature => "the signature does not verify with the jwk",
            Self::BadJti => "jti is missing, empty or too long",
            Self::WrongMethod => "htm is not the request's method",
            Self::WrongUri => "htu is not the request's URI",
            Self::UnknownTargetUri => {
                "the request's absolute URI is unknown: set an issuer or give the URI"
            }
            Self::BadIssuedAt => "iat is missing or not a NumericDate",
            Self::TooOld => "iat is too far in the past",
            Self::FromTheFuture => "iat is too far in the future",
            Self::MissingAth => "an access token was presented and the proof has no ath",
            Self::WrongAth => "ath is not the hash of the access token",
            Self::NonceRequired => "the server requires a nonce and the proof has none",
            Self::StaleNonce => "the nonce is stale or not the server's",
            Self::Replayed => "the jti was used before",
            Self::NoReplayStore => "the server has no store to remember jti values in",
            Self::StoreFailed => "the replay store failed",
        }
    }
}

impl fmt::Display for DpopProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A refused DPoP proof: the answer to send and why (for the log). The proof itself is never
/// kept, logged or shown.
///
/// - At the token endpoint, [`into_oauth_error`](Self::into_oauth_error) (or `OAuthError::from`):
///   400 with `{"error":"invalid_dpop_proof"}` (RFC 9449 §5) or `{"error":"use_dpop_nonce"}`
///   and a fresh nonce in `DPoP-Nonce` (§8).
/// - At a resource server, [`into_resource_response`](Self::into_resource_response): 401 with
///   `WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="ES256 EdDSA RS256 PS256"`
///   (§7.1), or `error="use_dpop_nonce"` and `DPoP-Nonce` (§9).
///
/// A store failure is 503 `temporarily_unavailable` with `Retry-After` at both.
#[derive(Clone)]
pub struct DpopError {
    problem: DpopProblem,
    nonce: Option<String>,
    cause: Option<Arc<StoreError>>,
}

impl DpopError {
    pub(crate) fn new(problem: DpopProblem) -> Self {
        Self {
            problem,
            nonce: None,
            cause: None,
        }
    }

    pub(crate) fn with_nonce(mut self, nonce: Option<String>) -> Self {
        self.nonce = nonce;
        self
    }

    pub(crate) fn store(cause: StoreError) -> Self {
        Self {
            problem: DpopProblem::StoreFailed,
            nonce: None,
            cause: Some(Arc::new(cause)),
        }
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> DpopErrorKind {
        self.problem.kind()
    }

    /// Which check failed.
    pub fn problem(&self) -> DpopProblem {
        self.problem
    }

    /// The `error` code: `invalid_dpop_proof`, `use_dpop_nonce` or `temporarily_unavailable`.
    pub fn code(&self) -> &'static str {
        match self.kind() {
            DpopErrorKind::InvalidProof => "invalid_dpop_proof",
            DpopErrorKind::UseNonce => "use_dpop_nonce",
            DpopErrorKind::Unavailable => "temporarily_unavailable",
        }
    }

    /// Why, for the operator's log; never sent.
    pub fn reason(&self) -> &'static str {
        self.problem.reason()
    }

    /// The fresh nonce the answer carries in `DPoP-Nonce`, for `use_dpop_nonce`.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    fn nonce_header(&self) -> Option<HeaderValue> {
        // Nonces are base64url: always a valid header value.
        self.nonce
            .as_deref()
            .and_then(|nonce| HeaderValue::from_str(nonce).ok())
    }

    /// The `error_description` sent: fixed per code, never the reason.
    fn description(&self) -> &'static str {
        match self.kind() {
            DpopErrorKind::InvalidProof => "the DPoP proof is invalid",
            DpopErrorKind::UseNonce => "the server requires a nonce in the DPoP proof",
            DpopErrorKind::Unavailable => "the server is temporarily unable to handle the request",
        }
    }

    /// The token endpoint's answer (RFC 9449 §5, §8): 400 `invalid_dpop_proof`, or 400
    /// `use_dpop_nonce` with `DPoP-Nonce`; a store failure is 503 `temporarily_unavailable`
    /// with `Retry-After` and the store's error as the cause (logged by the server, never sent).
    pub fn into_oauth_error(self) -> OAuthError {
        match self.kind() {
            DpopErrorKind::Unavailable => {
                let error = OAuthError::temporarily_unavailable(RETRY_AFTER_SECS);
                match self.cause {
                    Some(cause) => {
                        error.with_cause(Box::new(cause) as Box<dyn Error + Send + Sync>)
                    }
                    None => error,
                }
            }
            kind => {
                let mut error = OAuthError::new(self.code(), StatusCode::BAD_REQUEST)
                    .with_description(self.description());
                if kind == DpopErrorKind::UseNonce
                    && let Some(nonce) = self.nonce_header()
                {
                    error = error.with_header(DPOP_NONCE, nonce);
                }
                error
            }
        }
    }

    /// The `WWW-Authenticate` challenge of a resource server's answer (RFC 9449 §7.1):
    /// `DPoP error="...", algs="ES256 EdDSA RS256 PS256"`; `None` for a store failure.
    pub fn resource_challenge(&self) -> Option<HeaderValue> {
        if self.kind() == DpopErrorKind::Unavailable {
            return None;
        }
        let challenge = format!(
            "DPoP error=\"{}\", algs=\"{}\"",
            self.code(),
            DPOP_SIGNING_ALGS.join(" ")
        );
        // Codes and algorithm names are plain ASCII.
        HeaderValue::from_str(&challenge).ok()
    }

    /// A resource server's answer (RFC 9449 §7.1, §9; RFC 6750 §3): 401 with the
    /// [challenge](Self::resource_challenge), `DPoP-Nonce` for `use_dpop_nonce`, and a small
    /// JSON body (`error`, `error_description`); a store failure is 503 with `Retry-After`.
    pub fn into_resource_response(self) -> Response<Bytes> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let status = match self.kind() {
            DpopErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut response = json_response(
            status,
            &Body {
                error: self.code(),
                error_description: self.description(),
            },
        );
        let headers = response.headers_mut();
        if let Some(challenge) = self.resource_challenge() {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self.nonce_header() {
            headers.insert(DPOP_NONCE, nonce);
        }
        if self.kind() == DpopErrorKind::Unavailable {
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<DpopError> for OAuthError {
    fn from(error: DpopError) -> Self {
        error.into_oauth_error()
    }
}

impl fmt::Debug for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopError")
            .field("problem", &self.problem)
            .field("nonce", &self.nonce)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.reason())
    }
}

impl Error for DpopError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

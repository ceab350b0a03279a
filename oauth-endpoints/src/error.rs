//! [`OAuthError`]: the error response of RFC 6749 §5.2, shared by every endpoint.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::response::json_response;

/// An OAuth error response: an `error` code, an optional description and URI, the HTTP status and
/// the headers the RFCs ask for.
///
/// It renders (RFC 6749 §5.2) as a JSON object `{"error": ..., "error_description": ...}` without
/// `null` members, with `Content-Type: application/json`, `Cache-Control: no-store` and
/// `Pragma: no-cache`. `invalid_client` is 401 with a `WWW-Authenticate: Basic` challenge
/// (RFC 6749 §5.2, RFC 7235 §3.1); `temporarily_unavailable` is 503 with `Retry-After`
/// (RFC 7009 §2.2.1); every other code defaults to 400.
///
/// Custom endpoints return their own codes through [`OAuthError::new`]:
///
/// ```
/// use http::StatusCode;
/// use oauth_endpoints::OAuthError;
///
/// let error = OAuthError::new("authorization_pending", StatusCode::BAD_REQUEST)
///     .with_description("the user has not yet approved the request");
/// let response = error.into_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(
///     response.body().as_ref(),
///     br#"{"error":"authorization_pending","error_description":"the user has not yet approved the request"}"#
/// );
/// ```
#[derive(Clone)]
pub struct OAuthError {
    code: Cow<'static, str>,
    description: Option<Cow<'static, str>>,
    uri: Option<Cow<'static, str>>,
    status: StatusCode,
    retry_after: Option<u32>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// What made the server fail, for its log only (see [`OAuthError::with_cause`]). Behind a
    /// thin pointer: every `Result` of an endpoint carries this type.
    cause: Option<Arc<Box<dyn Error + Send + Sync>>>,
}

impl PartialEq for OAuthError {
    /// Equal when they render the same response; the cause is not part of it.
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.description == other.description
            && self.uri == other.uri
            && self.status == other.status
            && self.retry_after == other.retry_after
            && self.headers == other.headers
    }
}

impl Eq for OAuthError {}

/// The `WWW-Authenticate` challenge sent with every 401 (RFC 7617 §2).
const BASIC_CHALLENGE: &str = "Basic realm=\"oauth\", charset=\"UTF-8\"";

impl OAuthError {
    /// An error with any `error` code and status. The code should be one registered for the
    /// endpoint's RFC (e.g. RFC 8628 §3.5's `authorization_pending`).
    pub fn new(code: impl Into<Cow<'static, str>>, status: StatusCode) -> Self {
        Self {
            code: code.into(),
            description: None,
            uri: None,
            status,
            retry_after: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// `invalid_request` (RFC 6749 §5.2): a missing, repeated or malformed parameter. 400.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `invalid_client` (RFC 6749 §5.2): client authentication failed. 401 with a
    /// `WWW-Authenticate: Basic` challenge.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_client", StatusCode::UNAUTHORIZED).with_description(description)
    }

    /// `invalid_grant` (RFC 6749 §5.2): the grant or refresh token is invalid, expired, revoked or
    /// was issued to another client. 400.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `unauthorized_client` (RFC 6749 §5.2): the client may not use this grant type. 400.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `unsupported_grant_type` (RFC 6749 §5.2). 400.
    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `invalid_scope` (RFC 6749 §5.2): the requested scope is invalid, unknown, or exceeds what
    /// the client or grant allows. 400.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `unsupported_token_type` (RFC 7009 §2.2.1): the server cannot revoke this type of token. 400.
    pub fn unsupported_token_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("unsupported_token_type", StatusCode::BAD_REQUEST).with_description(description)
    }

    /// `temporarily_unavailable` (RFC 7009 §2.2.1): the server cannot answer now, e.g. its store is
    /// down. 503 with `Retry-After: retry_after_secs`.
    pub fn temporarily_unavailable(retry_after_secs: u32) -> Self {
        let mut error = Self::new("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE)
            .with_description("the server is temporarily unable to handle the request");
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// A client sent too many requests: 429 (RFC 6585 §4) with `Retry-After: retry_after_secs`,
    /// as the optional per-client throttle answers.
    ///
    /// The OAuth RFCs register no error code for rate limiting, so the `error` is
    /// `temporarily_unavailable`, the code RFC 7009 §2.2.1 registers for "temporary overloading"
    /// (RFC 6749 §4.1.2.1 uses it the same way): clients already read it as "try again later".
    /// The 429 status tells it apart from a store outage (503).
    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        let mut error = Self::new("temporarily_unavailable", StatusCode::TOO_MANY_REQUESTS)
            .with_description("too many requests from this client; retry later");
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// `invalid_token` (RFC 6750 §3.1): a Bearer token presented to authorize the request is
    /// invalid. 401 with a `WWW-Authenticate: Bearer error="invalid_token"` challenge.
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_token", StatusCode::UNAUTHORIZED)
            .with_description(description)
            .with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            )
    }

    /// `insufficient_scope` (RFC 6750 §3.1): the Bearer token lacks the scope the request needs.
    /// 403 with a `WWW-Authenticate: Bearer error="insufficient_scope"` challenge.
    pub fn insufficient_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("insufficient_scope", StatusCode::FORBIDDEN)
            .with_description(description)
            .with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            )
    }

    /// Sets `error_description`. Characters RFC 6749 §5.2 does not allow in it (outside
    /// `%x20-21 / %x23-5B / %x5D-7E`) are replaced by `?`.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(sanitize(description.into()));
        self
    }

    /// Sets `error_uri` (RFC 6749 §5.2), sanitized like the description.
    #[must_use]
    pub fn with_uri(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.uri = Some(sanitize(uri.into()));
        self
    }

    /// Changes the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header (e.g. `Allow` on a 405).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sets `Retry-After` in seconds (503 and 429 answers).
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Records what made the server fail (a store error, say). It is never sent to the client:
    /// the server logs it once when it answers this error with a 5xx status, and it is this
    /// error's [`source`](Error::source).
    pub fn with_cause(mut self, cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        self.cause = Some(Arc::new(cause.into()));
        self
    }

    /// This error and its [cause](Self::with_cause), each after a colon, for a log line.
    pub fn report(&self) -> impl fmt::Display + '_ {
        Chain(self)
    }

    /// The `error` code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The `error_description`, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Retry-After` value in seconds, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// Renders the error response (RFC 6749 §5.2).
    pub fn into_response(self) -> Response<Bytes> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error_description: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error_uri: Option<&'a str>,
        }
        let body = Body {
            error: &self.code,
            error_description: self.description.as_deref(),
            error_uri: self.uri.as_deref(),
        };
        let mut response = json_response(self.status, &body);
        let headers = response.headers_mut();
        let has_challenge = self
            .headers
            .iter()
            .any(|(name, _)| name == WWW_AUTHENTICATE);
        if self.status == StatusCode::UNAUTHORIZED && !has_challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// Keeps the characters RFC 6749 §5.2 allows in `error_description` and `error_uri`.
fn sanitize(text: Cow<'static, str>) -> Cow<'static, str> {
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if text.chars().all(allowed) {
        text
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '?' })
                .collect(),
        )
    }
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthError")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(description) => write!(f, "{}: {description}", self.code),
            None => f.write_str(&self.code),
        }
    }
}

impl Error for OAuthError {
    /// The cause given by [`OAuthError::with_cause`].
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let cause: &(dyn Error + Send + Sync + 'static) = &***self.cause.as_ref()?;
        Some(cause)
    }
}

/// An error and its sources, each after a colon: how the server logs a cause once.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_keeps_only_the_characters_rfc_6749_allows() {
        let error = OAuthError::invalid_request("bad \"quote\" \\ é\n");
        assert_eq!(error.description(), Some("bad ?quote? ? ??"));
    }

    #[test]
    fn invalid_client_carries_a_basic_challenge() {
        let response = OAuthError::invalid_client("no").into_response();
        assert_eq!(response.status(), 401);
        assert!(
            response.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
    }

    #[test]
    fn temporarily_unavailable_is_503_with_retry_after() {
        let response = OAuthError::temporarily_unavailable(7).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
    }
}

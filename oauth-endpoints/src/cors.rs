//! Cross-origin requests (RFC 7009 §2.3), opt-in per endpoint and allowed per client.
//!
//! A route declared with `cors` answers CORS preflight requests for any origin (a preflight
//! carries no credentials, so it cannot name a client); the actual request is then refused unless
//! the authenticated client lists the request's `Origin` in `allowed_cors_origins`.

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Request, Response, StatusCode};

use crate::client::Client;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;

/// Whether `request` is a CORS preflight (an `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`).
pub(crate) fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(ORIGIN)
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// Answers a preflight for a route answering `methods`: 204, the origin echoed, the methods and
/// the headers a browser client needs (`Authorization` for Basic, `Content-Type` for the form).
pub(crate) fn preflight<B>(request: &Request<B>, allow: &HeaderValue) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let Some(origin) = request.headers().get(ORIGIN) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, allow.clone());
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    response
}

/// The request's `Origin`, if it is one `client` allows; `Ok(None)` for a request without
/// `Origin` (not from a browser's cross-origin fetch); `invalid_request` for an origin the
/// client does not list.
pub fn allowed_origin(
    request: &Request<Bytes>,
    client: &Client,
) -> Result<Option<HeaderValue>, OAuthError> {
    let Some(origin) = request.headers().get(ORIGIN) else {
        return Ok(None);
    };
    let allowed = origin.to_str().is_ok_and(|origin| {
        client
            .allowed_cors_origins()
            .iter()
            .any(|allowed| allowed == origin)
    });
    if allowed {
        Ok(Some(origin.clone()))
    } else {
        Err(OAuthError::invalid_request(
            "cross-origin requests from this origin are not allowed for this client",
        ))
    }
}

/// Lets the browser read `result` (success or error) when the origin was allowed.
pub fn expose(result: EndpointResult, origin: Option<HeaderValue>) -> EndpointResult {
    let Some(origin) = origin else {
        return result;
    };
    match result {
        Ok(mut response) => {
            let headers = response.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(VARY, HeaderValue::from_static("Origin"));
            Ok(response)
        }
        Err(error) => Err(error
            .with_header(ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .with_header(VARY, HeaderValue::from_static("Origin"))),
    }
}

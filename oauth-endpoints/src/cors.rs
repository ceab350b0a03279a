//! Cross-origin requests (RFC 7009 §2.3), opt-in per endpoint and allowed per client.
//!
//! A route declared with `cors` answers CORS preflight requests for any origin (a preflight
//! carries no credentials, so it cannot name a client); the actual request is then refused unless
//! the authenticated client lists the request's `Origin` in `allowed_cors_origins`.
//!
//! One step, applied by the declaration and the shared authentication step rather than by each
//! endpoint: the builder wraps a `cors` route's endpoint in [`CrossOrigin`], which marks a
//! request carrying `Origin` with an [`Admission`]; client authentication
//! ([`Context::authenticate_client`]) checks the origin against the client and marks the
//! admission; after the endpoint answers, [`CrossOrigin`] exposes the answer to the origin if it
//! was admitted. Routes without `cors` are not wrapped and pay nothing.

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Request, Response, StatusCode};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::boxed::BoxFuture;
use crate::client::Client;
use crate::context::Context;
use crate::endpoint::{DynEndpoint, EndpointResult};
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

/// Set on a request (as an extension) by [`CrossOrigin`] when it runs an endpoint for a request
/// with `Origin`; [`admit`] marks it once the caller's client allows the origin.
#[derive(Clone, Default)]
pub(crate) struct Admission(Arc<AtomicBool>);

/// The endpoint of a route declared `cors`, wrapped by the builder: a request with `Origin`
/// gets an [`Admission`]; if the shared authentication step admitted the origin, the answer,
/// success or error, is exposed to it.
pub(crate) struct CrossOrigin(pub(crate) Arc<dyn DynEndpoint>);

impl DynEndpoint for CrossOrigin {
    fn handle_boxed<'a>(
        &'a self,
        cx: &'a Context,
        mut request: Request<Bytes>,
    ) -> BoxFuture<'a, EndpointResult> {
        let Some(origin) = request.headers().get(ORIGIN).cloned() else {
            return self.0.handle_boxed(cx, request);
        };
        let admission = Admission::default();
        request.extensions_mut().insert(admission.clone());
        Box::pin(async move {
            let result = self.0.handle_boxed(cx, request).await;
            if admission.0.load(Ordering::Acquire) {
                expose(result, origin)
            } else {
                result
            }
        })
    }

    fn check_setup_dyn(&self, setup: &mut crate::server::Setup<'_>) -> Result<(), String> {
        self.0.check_setup_dyn(setup)
    }
}

/// Admits the request's `Origin` if `client` allows it (a request without `Origin`, not from
/// a browser's cross-origin fetch, passes); `invalid_request` for an origin the client does not
/// list.
pub(crate) fn admit(request: &Request<Bytes>, client: &Client) -> Result<(), OAuthError> {
    let Some(origin) = request.headers().get(ORIGIN) else {
        return Ok(());
    };
    let allowed = origin.to_str().is_ok_and(|origin| {
        client
            .allowed_cors_origins()
            .iter()
            .any(|allowed| allowed == origin)
    });
    if !allowed {
        return Err(OAuthError::invalid_request(
            "cross-origin requests from this origin are not allowed for this client",
        ));
    }
    if let Some(admission) = request.extensions().get::<Admission>() {
        admission.0.store(true, Ordering::Release);
    }
    Ok(())
}

/// Lets the browser at `origin` read `result`, success or error.
fn expose(result: EndpointResult, origin: HeaderValue) -> EndpointResult {
    let vary = HeaderValue::from_static("Origin");
    match result {
        Ok(mut response) => {
            let headers = response.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(VARY, vary);
            Ok(response)
        }
        Err(error) => Err(error
            .with_header(ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .with_header(VARY, vary)),
    }
}

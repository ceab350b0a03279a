//! [`Principal`] as an axum extractor, [`BearerError`] as an axum response (feature `axum`).

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::IntoResponse;
use http::request::Parts;

use crate::resource::{BearerError, Principal, ResourceProtector, has_credentials};

/// The caller of a protected route, checked by the [`ResourceProtector`] of the router's state
/// (the state itself, or a field of it through `FromRef`), with
/// [`protect_request`](ResourceProtector::protect_request): Bearer tokens, and DPoP-bound
/// tokens with their proof (RFC 9449 §7). Refused requests get the [`BearerError`]'s RFC 6750
/// (or RFC 9449) answer. A fresh [`dpop_nonce`](Principal::dpop_nonce) is for the handler to
/// send back.
///
/// When a [`ProtectLayer`](crate::resource::ProtectLayer) already checked the request, its
/// principal is taken from the request's extensions, and only the state protector's
/// requirements (scope, audience) are checked against it: the token is not looked up twice, and
/// a laxer layer cannot loosen the state's requirements.
impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    ResourceProtector: FromRef<S>,
{
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let protector = ResourceProtector::from_ref(state);
        if let Some(principal) = parts.extensions.get::<Principal>() {
            protector.authorize(principal)?;
            return Ok(principal.clone());
        }
        protector
            .protect_request(&parts.method, &parts.uri, &parts.headers)
            .await
    }
}

/// `Option<Principal>`: `None` for a request without Bearer or DPoP credentials (a route that
/// also serves anonymous callers); a request with a bad token or proof is still refused.
impl<S> OptionalFromRequestParts<S> for Principal
where
    S: Send + Sync,
    ResourceProtector: FromRef<S>,
{
    type Rejection = BearerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<Principal>().is_none() && !has_credentials(&parts.headers) {
            return Ok(None);
        }
        <Principal as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The RFC 6750 answer.
impl IntoResponse for BearerError {
    fn into_response(self) -> axum::response::Response {
        http::Response::<bytes::Bytes>::from(self).map(axum::body::Body::from)
    }
}

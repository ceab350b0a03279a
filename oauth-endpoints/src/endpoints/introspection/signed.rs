//! How an answer is rendered: JSON (RFC 7662 §2.2), or a signed JWT (RFC 9701 §5).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, VARY};
use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

use super::accept::prefers_jwt;
use super::{INACTIVE, JWT_MEDIA_TYPE, JWT_TYP};
use crate::client::Client;
use crate::clock::UnixTime;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;
use crate::keys::KeySet;
use crate::response::json_bytes_response;

/// How the answer is rendered, chosen by the server's keys and the caller's `Accept`.
#[derive(Clone, Copy)]
pub(super) enum Format<'a> {
    /// JSON (RFC 7662 §2.2). `negotiated`: the server could have signed, so the answer
    /// depended on `Accept` (`Vary: Accept`).
    Json { negotiated: bool },
    /// A JWT (RFC 9701 §5) signed by `keys`' active key, issued by `issuer`.
    Jwt { keys: &'a KeySet, issuer: &'a str },
}

impl<'a> Format<'a> {
    /// The JWT when the server can sign (keys, and an issuer for `iss`) and `headers` ask for
    /// it; JSON otherwise.
    pub(super) fn of(cx: &'a Context, headers: &HeaderMap) -> Self {
        let config = cx.config();
        match (&config.signing_keys, config.issuer.as_deref()) {
            (Some(keys), Some(issuer)) if prefers_jwt(headers) => Self::Jwt { keys, issuer },
            (Some(_), Some(_)) => Self::Json { negotiated: true },
            _ => Self::Json { negotiated: false },
        }
    }

    /// The inactive answer: [`INACTIVE`], or a JWT whose `token_introspection` is that object.
    pub(super) fn inactive(self, cx: &Context, caller: &Client) -> EndpointResult {
        match self {
            Self::Json { negotiated } => Ok(json_answer(Bytes::from_static(INACTIVE), negotiated)),
            Self::Jwt { .. } => self.answer(cx, caller, &Inactive { active: false }),
        }
    }

    /// The answer whose members `body` serializes to. JSON that cannot be serialized is the
    /// inactive answer; a JWT that cannot be signed (a key that loaded always signs) is a 500.
    pub(super) fn answer<T: Serialize + ?Sized>(
        self,
        cx: &Context,
        caller: &Client,
        body: &T,
    ) -> EndpointResult {
        match self {
            Self::Json { negotiated } => {
                let mut bytes = Vec::with_capacity(256);
                let bytes = match serde_json::to_writer(&mut bytes, body) {
                    Ok(()) => Bytes::from(bytes),
                    Err(_) => Bytes::from_static(INACTIVE),
                };
                Ok(json_answer(bytes, negotiated))
            }
            Self::Jwt { keys, issuer } => {
                let claims = SignedAnswer {
                    iss: issuer,
                    aud: caller.client_id(),
                    iat: cx.now(),
                    token_introspection: body,
                };
                let jwt = keys.sign(JWT_TYP, &claims).map_err(|error| {
                    OAuthError::new("server_error", StatusCode::INTERNAL_SERVER_ERROR)
                        .with_description("the introspection answer could not be signed")
                        .with_cause(error)
                })?;
                let mut response = json_answer(Bytes::from(jwt), true);
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(JWT_MEDIA_TYPE));
                Ok(response)
            }
        }
    }
}

/// A 200 answer with the headers of every OAuth JSON answer, and `Vary: Accept` when it was
/// negotiated (RFC 9110 §12.5.5).
fn json_answer(body: Bytes, negotiated: bool) -> Response<Bytes> {
    let mut response = json_bytes_response(StatusCode::OK, body);
    if negotiated {
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("Accept"));
    }
    response
}

/// The claims of a signed answer (RFC 9701 §5), in that order. No `exp` and no `sub` (§5,
/// §8.1).
#[derive(Serialize)]
struct SignedAnswer<'a, T: ?Sized> {
    iss: &'a str,
    aud: &'a str,
    iat: UnixTime,
    token_introspection: &'a T,
}

/// The inactive answer's members: serializes to exactly [`INACTIVE`].
#[derive(Serialize)]
struct Inactive {
    active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inactive_members_are_the_inactive_bytes() {
        assert_eq!(
            serde_json::to_vec(&Inactive { active: false }).unwrap_or_default(),
            INACTIVE
        );
    }
}

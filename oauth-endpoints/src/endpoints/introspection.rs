//! Token introspection (RFC 7662).

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::form::Form;
use crate::hooks::TokenIntrospected;
use crate::oauth_endpoint;
use crate::response::json_bytes_response;
use crate::secret::{Id, TokenHash};
use crate::token::{ACCESS_TOKEN_TYP, TokenKind, TokenRecord};

/// The one inactive answer (RFC 7662 §2.2): unknown, expired, revoked, malformed and
/// not-permitted tokens all get exactly these bytes, so a caller cannot tell them apart (§4).
pub const INACTIVE: &[u8] = br#"{"active":false}"#;

/// `introspection` at `/oauth/introspect` (POST): a protected resource asks about a token
/// (RFC 7662).
///
/// - The caller must be authorised (§2.1, §4): a confidential client's credentials
///   (`client_secret_basic` or `client_secret_post`), or a Bearer access token in
///   `Authorization` that carries the configured scope (default `introspection`), was issued to
///   a confidential client, and is not the token being introspected. Public clients and
///   unauthenticated callers get 401 `invalid_client`, whichever way they present themselves (a
///   public client proves nothing about itself, §2.1, §4); a bad Bearer token, or one of a
///   public client, 401 `invalid_token`, and one without the scope 403 `insufficient_scope`
///   (§2.3, RFC 6750 §3.1). Authorisation comes before parameter checks.
/// - `token` is required (`invalid_request`); `token_type_hint` orders the lookup only.
/// - Who may see what is the server's [`IntrospectionPolicy`](crate::hooks::IntrospectionPolicy).
/// - A token whose client no longer exists is inactive, whatever its record says (a request
///   authenticated just before its client's deletion may have stored it).
/// - Active tokens: `active`, `scope`, `client_id`, `token_type` (`Bearer` or `refresh_token`),
///   `exp`, `iat`, `nbf`, `sub`, `aud`, `iss`, `jti` (the record's id, never the token); absent
///   members are omitted, never `null`; claims hooks may add members.
/// - A refresh token's activity follows its own expiry and revocation, never its access
///   token's (where peers differ: the README's "RFC clauses, and where we differ").
/// - With the optional per-client throttle (feature `throttle`), a caller over its limit (counted
///   per client, whether it authenticated with credentials or a Bearer token) gets 429 with
///   `Retry-After` before the token is looked at, which slows token scanning.
/// - Everything else is exactly `{"active":false}` with 200.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "introspection",
    path = "/oauth/introspect",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post",
    metadata = "introspection_endpoint",
    cors = true
)]
pub struct IntrospectionEndpoint;

impl Endpoint for IntrospectionEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let form = cx.form(&request);
        let empty = Form::default();
        let caller = authorize(cx, &request, form.as_ref().unwrap_or(&empty)).await?;
        cx.throttle(&caller)?;
        introspect(cx, &caller, &form?).await
    }
}

/// Introspection proper, after the caller is authorised (and, for a cross-origin request, its
/// origin admitted).
async fn introspect(cx: &Context, caller: &Client, form: &Form) -> EndpointResult {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = form.get("token_type_hint").and_then(TokenKind::from_hint);
    // A JWT access token (RFC 9068 §4) is checked for its signature, key and type first: a
    // forged or foreign one is inactive without a store lookup. Then its stored record decides,
    // as for an opaque token, so a revoked JWT is inactive.
    if token.bytes().filter(|&b| b == b'.').count() == 2
        && let Some(keys) = &cx.config().signing_keys
        && keys
            .verify::<serde::de::IgnoredAny>(token, ACCESS_TOKEN_TYP, cx.now())
            .is_err()
    {
        cx.hooks().token_introspected(&TokenIntrospected {
            caller,
            token: None,
            active: false,
        });
        return Ok(inactive());
    }
    let record = cx.tokens().find(&TokenHash::of(token), hint).await?;
    let mut active = record
        .as_ref()
        .filter(|record| record.is_active(cx.now()) && cx.hooks().may_introspect(caller, record));
    // A token whose client no longer exists is not active: deleting a client revokes its
    // tokens, but a request that authenticated just before the deletion may still store one.
    // (The caller's own client exists: it just authenticated. Others go through the cache.)
    if let Some(found) = active
        && *found.client_id != *caller.client_id()
        && cx.clients().find(&found.client_id).await?.is_none()
    {
        active = None;
    }
    cx.hooks().token_introspected(&TokenIntrospected {
        caller,
        token: record.as_ref(),
        active: active.is_some(),
    });
    Ok(match active {
        Some(record) => active_answer(cx, caller, record),
        None => inactive(),
    })
}

/// Authorises the caller: client credentials, or a Bearer token with the introspection scope.
async fn authorize(
    cx: &Context,
    request: &Request<Bytes>,
    form: &Form,
) -> Result<Client, OAuthError> {
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .map(|value| value.as_bytes())
        .filter(|value| value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer "));
    let Some(bearer) = bearer else {
        let client = cx.authenticate_client(request, form).await?.client;
        if client.is_public() {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        return Ok(client);
    };
    if form.contains("client_secret") || request.headers().get_all(AUTHORIZATION).iter().count() > 1
    {
        return Err(OAuthError::invalid_request(
            "more than one authentication method in one request",
        ));
    }
    let invalid = || OAuthError::invalid_token("the bearer token is invalid");
    let value = std::str::from_utf8(&bearer[7..])
        .map_err(|_| invalid())?
        .trim();
    let bearer_hash = TokenHash::of(value);
    if form
        .get("token")
        .is_some_and(|token| TokenHash::of(token) == bearer_hash)
    {
        return Err(OAuthError::invalid_token(
            "the bearer token may not introspect itself",
        ));
    }
    let record = cx
        .tokens()
        .find(&bearer_hash, Some(TokenKind::Access))
        .await?
        .filter(|record| record.kind == TokenKind::Access && record.is_active(cx.now()))
        .ok_or_else(invalid)?;
    if !record.scope.contains(&cx.config().introspection_scope) {
        return Err(OAuthError::insufficient_scope(
            "the bearer token lacks the introspection scope",
        ));
    }
    // A public client proves nothing about itself (RFC 7662 §2.1, §4): its token cannot stand
    // for a protected resource, whatever scope it carries.
    let caller = cx
        .clients()
        .find(&record.client_id)
        .await?
        .filter(|client| !client.is_public())
        .ok_or_else(invalid)?;
    cx.check_origin(request, &caller)?;
    Ok(caller)
}

fn inactive() -> Response<Bytes> {
    json_bytes_response(StatusCode::OK, Bytes::from_static(INACTIVE))
}

/// The active answer (RFC 7662 §2.2), with no `null` member.
///
/// Serialized straight from [`Active`]; only when claims hooks are registered is it built as a
/// JSON map they can add to. Both give the same bytes for the same members.
fn active_answer(cx: &Context, caller: &Client, record: &TokenRecord) -> Response<Bytes> {
    let active = Active {
        active: true,
        aud: Audience(&record.audience),
        client_id: &record.client_id,
        exp: record.expires_at,
        iat: record.issued_at,
        iss: cx.config().issuer.as_deref(),
        jti: Jti(record.id),
        nbf: record.not_before,
        scope: record.scope.as_str(),
        sub: record.subject.as_deref(),
        token_type: record.kind.introspection_type(),
    };
    let body = if cx.hooks().has_claims() {
        match serde_json::to_value(&active) {
            Ok(Value::Object(mut claims)) => {
                cx.hooks().add_claims(record, caller, &mut claims);
                serde_json::to_vec(&claims)
            }
            Ok(_) => serde_json::to_vec(&active),
            Err(error) => Err(error),
        }
    } else {
        let mut body = Vec::with_capacity(256);
        serde_json::to_writer(&mut body, &active).map(|()| body)
    };
    json_bytes_response(
        StatusCode::OK,
        body.map_or_else(|_| Bytes::from_static(INACTIVE), Bytes::from),
    )
}

/// The members of an active answer, in name order (the order a `serde_json::Map` renders).
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Audience::is_empty")]
    aud: Audience<'a>,
    client_id: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    jti: Jti,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<UnixTime>,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    token_type: &'static str,
}

/// `aud`: one audience as a string, several as an array (RFC 7662 §2.2).
struct Audience<'a>(&'a [String]);

impl Audience<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

/// `jti`: the record's id, rendered on the stack.
struct Jti(Id);

impl Serialize for Jti {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.encode(&mut [0u8; 22]))
    }
}

//! Token introspection (RFC 7662), with signed answers (RFC 9701).

mod accept;
mod answer;
mod signed;

use answer::active_answer;
use signed::Format;

use bytes::Bytes;
use http::Request;
use http::header::AUTHORIZATION;
use serde_json::Value;

use crate::client::Client;
use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::form::Form;
use crate::hooks::TokenIntrospected;
use crate::oauth_endpoint;
use crate::secret::TokenHash;
use crate::server::Setup;
use crate::token::{ACCESS_TOKEN_TYP, TokenKind};

/// The one inactive answer (RFC 7662 §2.2): unknown, expired, revoked, malformed and
/// not-permitted tokens all get exactly these bytes, so a caller cannot tell them apart (§4).
pub const INACTIVE: &[u8] = br#"{"active":false}"#;

/// The media type a caller asks for in `Accept`, and a signed answer's `Content-Type`
/// (RFC 9701 §4, §5).
const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The JWT `typ` of a signed answer (RFC 9701 §5): explicit typing (RFC 8725 §3.11), so it is
/// never taken for an access token (RFC 9701 §8.1), here or by a resource server.
const JWT_TYP: &str = "token-introspection+jwt";

/// The metadata member listing the algorithms signed answers may use (RFC 9701 §7).
const SIGNING_ALGS_METADATA: &str = "introspection_signing_alg_values_supported";

/// `introspection` at `/oauth/introspect` (POST): a protected resource asks about a token
/// (RFC 7662), and may have the answer signed (RFC 9701).
///
/// - The caller must be authorised (§2.1, §4): a confidential client's credentials
///   (`client_secret_basic` or `client_secret_post`), or a Bearer access token in
///   `Authorization` that carries the configured scope (default `introspection`), was issued to
///   a confidential client, and is not the token being introspected. Public clients and
///   unauthenticated callers get 401 `invalid_client`, whichever way they present themselves (a
///   public client proves nothing about itself, §2.1, §4); a bad Bearer token, one of a
///   public client, or one bound to a key (DPoP, RFC 9449 §7.2), 401 `invalid_token`, and one
///   without the scope 403 `insufficient_scope` (§2.3, RFC 6750 §3.1). Authorisation comes
///   before parameter checks.
/// - `token` is required (`invalid_request`); `token_type_hint` orders the lookup only.
/// - Who may see what is the server's [`IntrospectionPolicy`](crate::hooks::IntrospectionPolicy).
/// - A token whose client no longer exists is inactive, whatever its record says (a request
///   authenticated just before its client's deletion may have stored it).
/// - Active tokens: `active`, `scope`, `client_id`, `token_type` (`Bearer`, `DPoP` for an
///   access token bound to a key, or `refresh_token`), `exp`, `iat`, `nbf`, `sub`, `aud`, `iss`,
///   `jti` (the record's id, never the token), `cnf` (`{"jkt": ...}`, RFC 9449 §6.2) for a
///   token bound to a key, and `act` and `may_act` (RFC 8693 §4.1, §4.4) for a token that
///   records a delegation; absent members are omitted, never `null`; claims hooks may add
///   members.
/// - A refresh token's activity follows its own expiry and revocation, never its access
///   token's (where peers differ: the README's "RFC clauses, and where we differ").
/// - With the optional per-client throttle (feature `throttle`), a caller over its limit (counted
///   per client, whether it authenticated with credentials or a Bearer token) gets 429 with
///   `Retry-After` before the token is looked at, which slows token scanning.
/// - Everything else is exactly `{"active":false}` with 200.
///
/// # Signed answers (RFC 9701)
///
/// On a server with signing keys and an issuer, a caller that asks for
/// `application/token-introspection+jwt` in `Accept` (RFC 9701 §4) gets the answer as a JWT:
///
/// - `200` with `Content-Type: application/token-introspection+jwt` and the JSON answer's other
///   headers (`Cache-Control: no-store`, `Pragma: no-cache`); a compact JWS signed by the
///   active key, header `typ: token-introspection+jwt` (§5) and the key's `kid`, verifiable
///   with the JWKS (`jwks_uri`).
/// - Claims (§5): `iss` (the issuer), `aud` (the caller's `client_id`: the resource server
///   receiving the answer, whether it authenticated with credentials or a Bearer token), `iat`
///   (now), and `token_introspection`: exactly the object the JSON answer would be, every member
///   and hook-added claim included. Every inactive answer is `{"active":false}` there too, so
///   the causes stay indistinguishable (RFC 7662 §4). No top-level `exp` or `sub`: §5 says the
///   JWT SHOULD NOT carry them, so it cannot pass for an access token (§8.1); the answer is a
///   statement made at `iat`, and the introspected token's own `exp` is inside. Presented as a
///   token to introspect, a signed answer is inactive (its `typ` is not `at+jwt`).
/// - `Accept` is read as RFC 9110 §12.5.1 says: a list of media ranges with parameters and
///   q-values, over every `Accept` field. The JWT is chosen when the caller names
///   `application/token-introspection+jwt` with a q-value above 0 and at least that of
///   `application/json` (by its most specific range). Otherwise JSON, as without the header:
///   wildcards (`*/*`, `application/*`) never select the JWT, and a header that admits neither
///   type still gets JSON (the server disregards it, RFC 9110 §12.5.1). Media-type parameters
///   other than `q` do not decide (neither type defines any). Answers that could have been
///   either carry `Vary: Accept` (RFC 9110 §12.5.5).
/// - Without signing keys, or without an issuer (`iss` is required, §5), a caller asking for
///   the JWT gets the JSON answer rather than 406: RFC 9701 makes the JWT something an
///   authorization server offers, advertised in its metadata (§7), not something every one
///   must serve, and RFC 9110 §12.5.1 lets a server disregard `Accept` instead of answering
///   406. The `Content-Type: application/json` tells the caller the answer is not signed, and
///   the metadata lists no `introspection_signing_alg_values_supported`.
/// - Errors (401, 403, 400, 429) are the JSON error responses of RFC 7662 §2.3 whatever was
///   asked. An unauthenticated caller gets 401 `invalid_client` (RFC 7662 §2.3, RFC 6749
///   §5.2), where RFC 9701 §5's note names 400: both refuse it, which is what the note is for.
/// - Metadata (§7): `introspection_signing_alg_values_supported` lists the key set's algorithms
///   ([`KeySet::algorithms`](crate::keys::KeySet::algorithms), the active key's first) when the server has keys and an issuer.
///   Signed and encrypted answers (nested JWTs, §5) are not supported: no
///   `introspection_encryption_alg_values_supported` or
///   `introspection_encryption_enc_values_supported` is published, and the per-client
///   `introspection_signed_response_alg`, `introspection_encrypted_response_alg` and
///   `introspection_encrypted_response_enc` (§6) are not read: every signed answer uses the
///   active key's algorithm, and only when `Accept` asks for it.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "introspection",
    path = "/oauth/introspect",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post private_key_jwt",
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
        let format = Format::of(cx, request.headers());
        introspect(cx, &caller, &form?, format).await
    }

    /// Publishes `introspection_signing_alg_values_supported` (RFC 9701 §7) when the server can
    /// sign answers; serves either way.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        let config = setup.config();
        if let (Some(keys), Some(_)) = (&config.signing_keys, &config.issuer) {
            let algorithms: Vec<Value> = keys
                .algorithms()
                .into_iter()
                .map(|algorithm| algorithm.as_str().into())
                .collect();
            setup.publish(SIGNING_ALGS_METADATA, algorithms);
        }
        Ok(())
    }
}

/// Introspection proper, after the caller is authorised (and, for a cross-origin request, its
/// origin admitted).
async fn introspect(
    cx: &Context,
    caller: &Client,
    form: &Form,
    format: Format<'_>,
) -> EndpointResult {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = form.get("token_type_hint").and_then(TokenKind::from_hint);
    // A JWT access token (RFC 9068 §4): its header must name a key of the server's set, with
    // that key's `alg`, and type `at+jwt`; a token of a dropped key (after a rotation) is
    // inactive without a store lookup. Its signature needs no check here: the store keeps the
    // SHA-256 of every issued value, so a record is found only for the exact bytes this server
    // signed, and a forged or altered JWT has none. (Verifying an ES256 signature would cost
    // about 120 times the rest of an introspection: BENCHMARKS.md.) Then the stored record
    // decides, as for an opaque token, so a revoked JWT is inactive.
    if token.bytes().filter(|&b| b == b'.').count() == 2
        && let Some(keys) = &cx.config().signing_keys
        && !keys.names_signer(token, ACCESS_TOKEN_TYP)
    {
        cx.hooks().token_introspected(&TokenIntrospected {
            caller,
            token: None,
            active: false,
        });
        return format.inactive(cx, caller);
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
    match active {
        Some(record) => active_answer(cx, caller, record, format),
        None => format.inactive(cx, caller),
    }
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
        // A token bound to a key (DPoP) is no bearer token: presented as one, without a proof
        // of the key, it is refused (RFC 9449 §7.2).
        .filter(|record| record.confirmation.is_none())
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

//! Token revocation (RFC 7009).

use bytes::Bytes;
use http::{Request, StatusCode};

use crate::client::Client;
use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::form::Form;
use crate::hooks::TokenRevoked;
use crate::oauth_endpoint;
use crate::response::json_bytes_response;
use crate::secret::TokenHash;
use crate::token::TokenKind;

/// `revocation` at `/oauth/revoke` (POST): a client revokes a token issued to it (RFC 7009).
/// Where this differs from peers is in the README ("RFC clauses, and where we differ").
///
/// - Client authentication comes first (§2.1), through the shared step; then parameters, so an
///   unauthenticated caller learns nothing. Public clients (`none`) may revoke their own
///   tokens.
/// - `token` is required (`invalid_request`). `token_type_hint` only orders the lookup: a wrong
///   hint still finds the token (§2.1), an unknown hint is ignored (§2.2).
/// - A token issued to another client is refused (§2.1 "the request is refused") with 400
///   `invalid_grant` (RFC 6749 §5.2, "issued to another client") and left untouched.
/// - Unknown, expired or already revoked tokens answer 200 (§2.2): the client cannot act on an
///   error.
/// - Revoking a refresh token revokes every token of its grant (§2.1 SHOULD), whatever the
///   refresh token's own state: an expired, rotated or revoked refresh token of the client's
///   own grant still ends the grant, whose later access tokens may outlive it. Revoking an
///   access token leaves the refresh token usable unless the server is configured with
///   `revoke_grant_with_access_token` (§2.1 MAY), which applies the same rule, except to an
///   access token obtained by token exchange (RFC 8693): it belongs to the grant of the token
///   it was exchanged for, another client's, and is revoked alone. Each is one atomic store
///   call.
/// - With the optional per-client throttle (feature `throttle`), a client over its limit gets
///   429 with `Retry-After` after authenticating, before the token is looked at.
/// - 200 with `{}`; errors as RFC 6749 §5.2; a store failure is 503 `temporarily_unavailable`
///   with `Retry-After` (§2.2.1). Every answer carries `Cache-Control: no-store` and
///   `Pragma: no-cache`.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "revocation",
    path = "/oauth/revoke",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post none private_key_jwt",
    metadata = "revocation_endpoint",
    cors = true
)]
pub struct RevocationEndpoint;

impl Endpoint for RevocationEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let (client, form) = cx.authenticate_then_form(&request).await?;
        cx.throttle(&client.client)?;
        revoke(cx, &client.client, &form).await
    }
}

/// Revocation proper, after client authentication.
async fn revoke(cx: &Context, client: &Client, form: &Form) -> EndpointResult {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = form.get("token_type_hint").and_then(TokenKind::from_hint);
    let Some(record) = cx.tokens().find(&TokenHash::of(token), hint).await? else {
        return Ok(revoked());
    };
    if *record.client_id != *client.client_id() {
        return Err(OAuthError::invalid_grant(
            "the token was issued to another client",
        ));
    }
    let now = cx.now();
    // An exchanged access token (RFC 8693) is a member of another client's grant: revoking it
    // ends it alone, never that client's session.
    let revoke_grant = record.kind == TokenKind::Refresh
        || (cx.config().revoke_grant_with_access_token && !record.is_exchanged());
    // A grant outlives any one of its tokens (a late refresh mints access tokens that expire
    // after the refresh token), so revoking a token of the grant ends the grant whatever the
    // presented token's own state: expired, rotated or already revoked (§2.1).
    let changed = if revoke_grant {
        cx.tokens().revoke_grant(&record.grant_id, now).await? > 0
    } else if record.revoked_at.is_none() && record.expires_at > now {
        cx.tokens().revoke_token(&record.hash, now).await?
    } else {
        false
    };
    if !changed {
        return Ok(revoked());
    }
    tracing::info!(
        client_id = client.client_id(),
        jti = %record.id,
        kind = record.kind.hint(),
        grant_revoked = revoke_grant,
        "token revoked"
    );
    cx.hooks().token_revoked(&TokenRevoked {
        client,
        token: &record,
        grant_revoked: revoke_grant,
    });
    Ok(revoked())
}

/// The success answer: 200 `{}` (RFC 7009 §2.2).
fn revoked() -> http::Response<Bytes> {
    json_bytes_response(StatusCode::OK, Bytes::from_static(b"{}"))
}

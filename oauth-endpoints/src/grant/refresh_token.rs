//! The refresh token grant (RFC 6749 §6), with rotation and reuse detection (RFC 9700 §4.14.2),
//! and the opt-in grace window.

use std::time::Duration;

use crate::client::Client;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;
use crate::form::Form;
use crate::grant::Grant;
use crate::hooks::{RefreshGraceRedeemed, RefreshTokenReused};
use crate::oauth_grant;
use crate::secret::TokenHash;
use crate::store::Rotation;
use crate::target::Targets;
use crate::token::{TokenKind, TokenRequest};

/// `grant_type=refresh_token` (RFC 6749 §6).
///
/// - `refresh_token` is required (`invalid_request`); it must be an active refresh token issued
///   to the authenticating client (`invalid_grant` otherwise, and a foreign token is left
///   untouched).
/// - `scope` may only narrow the original grant (`invalid_scope`); the new refresh token keeps
///   the original scope (§6) and the original absolute expiry.
/// - `resource` (RFC 8707 §2.2) may only narrow the grant's audience (`invalid_target`
///   otherwise): the new access token is meant for the named resources, and the new refresh
///   token keeps the grant's whole audience, so a later refresh may name another of them.
/// - A refresh token bound to a DPoP key (a public client's, RFC 9449 §5) is accepted only with
///   a proof signed by that key (`invalid_grant` otherwise, the token untouched); its
///   replacements stay bound to the key.
/// - The refresh token rotates: the old one stops working. Presenting a rotated refresh token
///   again revokes every token of its grant (RFC 9700 §4.14.2) and answers `invalid_grant`.
///   Rotation is one atomic store operation, so of two concurrent exchanges exactly one wins.
/// - With a grace window (off by default: [`ServerConfig::refresh_token_grace`](
///   crate::server::ServerConfig::refresh_token_grace), or the client's own
///   [`Client::refresh_token_grace`]), a rotated refresh token presented again within the
///   window while its successor is unused answers new tokens of the same grant and revokes
///   that successor ([`Rotation::Reissued`]): one live refresh token per grant, a lost answer
///   or a racing request recovered. Listeners hear of each redemption and each reuse.
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "refresh_token")]
pub struct RefreshTokenGrant;

impl Grant for RefreshTokenGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        let value = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid");
        let record = cx
            .tokens()
            .find(&TokenHash::of(value), Some(TokenKind::Refresh))
            .await?
            .filter(|record| record.kind == TokenKind::Refresh)
            .ok_or_else(invalid)?;
        if *record.client_id != *client.client_id() {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // RFC 9449 §5: a refresh token bound to a DPoP key is used only with a proof signed by
        // that key; refused otherwise, and left untouched.
        if let Some(bound) = record.confirmation
            && !cx
                .dpop_proof()
                .is_some_and(|proof| proof.matches_thumbprint(&bound.to_string()))
        {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to a DPoP key: present a proof signed by it",
            ));
        }
        let requested = form.scope()?;
        let scope = match &requested {
            Some(scope) if !scope.is_subset(&record.scope) => {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the original grant",
                ));
            }
            Some(scope) => scope.clone(),
            None => record.scope.clone(),
        };
        let targets = Targets::resources(form)?;
        targets.check_within(&record.audience)?;
        let mut request = TokenRequest::new(client, scope)
            .continuing(&record)
            .with_refresh_token(true);
        if !targets.is_empty() {
            request = request.narrowing_audience(targets.into_vec());
        }
        let issuer = cx.issuer();
        let issued = issuer.mint(&request);
        let now = cx.now();
        let grace = client
            .refresh_token_grace()
            .unwrap_or(cx.config().refresh_token_grace);
        match cx
            .tokens()
            .rotate_refresh_token(&record.hash, now, &issued.records(), grace)
            .await?
        {
            Rotation::Rotated(_) => Ok(issued.into_response(requested.as_ref())),
            Rotation::Reissued {
                presented,
                superseded,
            } => {
                let since = now.saturating_sub(presented.rotated_at.unwrap_or(now));
                tracing::info!(
                    client_id = client.client_id(),
                    grant = %presented.grant_id,
                    superseded = %superseded.id,
                    since_rotation = since,
                    "rotated refresh token presented again within the grace window; reissued"
                );
                cx.hooks().refresh_grace_redeemed(&RefreshGraceRedeemed {
                    client,
                    presented: &presented,
                    superseded: &superseded,
                    since_rotation: Duration::from_secs(since),
                    grace,
                });
                Ok(issued.into_response(requested.as_ref()))
            }
            Rotation::Reused(replayed) => {
                tracing::warn!(
                    client_id = client.client_id(),
                    grant = %replayed.grant_id,
                    "rotated refresh token presented again; grant revoked"
                );
                cx.hooks().refresh_token_reused(&RefreshTokenReused {
                    client,
                    token: &replayed,
                    grace,
                });
                Err(invalid())
            }
            Rotation::Invalid => Err(invalid()),
        }
    }
}

//! The token exchange grant (RFC 8693 §2).

use crate::client::Client;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;
use crate::exchange::token_type::{ACCESS_TOKEN, JWT, REFRESH_TOKEN};
use crate::exchange::{ExchangeRequest, TokenExchange, ValidatedToken};
use crate::form::Form;
use crate::grant::Grant;
use crate::hooks::RefreshTokenReused;
use crate::oauth_grant;
use crate::secret::TokenHash;
use crate::server::Setup;
use crate::target::Targets;
use crate::token::{AccessTokenFormat, Actor, Delegation, TokenKind, TokenRecord, TokenRequest};

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1), mounted on a
/// server given a [`TokenExchange`].
///
/// - `subject_token` and `subject_token_type` are required; `actor_token` and
///   `actor_token_type` come together or not at all (§2.1). A token that is unknown, expired,
///   revoked, of another type than said, of an unsupported type, refused by its validator, or
///   bound to a DPoP key the request does not prove (RFC 9449 §7) answers `invalid_request`
///   (§2.2.2), one description whatever the cause. A rotated refresh token presented as a
///   subject or actor token is reuse (RFC 9700 §4.14.2): its grant is revoked, as the refresh
///   grant does (within the refresh-token grace window, it is only refused), and listeners hear
///   of it
///   ([`EventListener::refresh_token_reused`](crate::hooks::EventListener::refresh_token_reused)).
/// - `may_act` (§4.4): a subject token naming who may act for it is exchanged only by that
///   party: the actor token's subject, or, without one, the requesting client.
/// - `scope` (§2.1) may only narrow the subject token's (`invalid_scope`; none asked: the
///   subject token's); a subject token without a scope (from a validator) is bounded by the
///   client's registered scope.
/// - `resource` and `audience` (§2.1, RFC 8707 §2) name where the new token may be used: each
///   registered by the client ([`Client::allowed_resources`]), else `invalid_target`; they are
///   its `aud`.
/// - `requested_token_type` (§2.1): `...:access_token` (the default) or `...:jwt` (a JWT access
///   token, RFC 9068, on a server with signing keys); anything else `invalid_request`.
/// - The [`ExchangePolicy`](crate::exchange::ExchangePolicy) decides last (`invalid_request`
///   when it refuses, §2.2.2).
/// - The new access token speaks for the subject token's subject (`sub`), is issued to the
///   client (`client_id`), records `act` (§4.1: the actor, nested after the subject token's own
///   `act`; the subject token's `act` kept as it is for impersonation; at most
///   [`Actor::MAX_DEPTH`] parties, else `invalid_request`), expires no later than the subject
///   token, and comes without a refresh token (§2.2.1 leaves it optional; the client exchanges
///   again). The answer adds `issued_token_type` (§2.2.1).
/// - A subject token this server issued: the new token **joins its grant**, so revoking the
///   subject's grant (revoking its refresh token, a refresh-token replay, a replayed code)
///   revokes the exchanged token too, on every store and instance; a grant revoked meanwhile
///   refuses the new token (`invalid_grant`). A foreign subject token starts a grant of its
///   own.
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "urn:ietf:params:oauth:grant-type:token-exchange")]
pub struct TokenExchangeGrant;

/// The one description of every refused subject or actor token (RFC 8693 §2.2.2).
const INVALID_SUBJECT: &str = "the subject_token is invalid";
const INVALID_ACTOR: &str = "the actor_token is invalid";

impl Grant for TokenExchangeGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        let exchange = cx
            .state::<TokenExchange>()
            .ok_or_else(|| OAuthError::unsupported_grant_type("token exchange is not offered"))?;
        let (Some(subject_token), Some(subject_type)) =
            (form.get("subject_token"), form.get("subject_token_type"))
        else {
            return Err(OAuthError::invalid_request(
                "subject_token and subject_token_type are required (RFC 8693 §2.1)",
            ));
        };
        let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
            (Some(token), Some(token_type)) => Some((token, token_type)),
            (None, None) => None,
            _ => {
                return Err(OAuthError::invalid_request(
                    "actor_token and actor_token_type go together (RFC 8693 §2.1)",
                ));
            }
        };
        let requested_type = form.get("requested_token_type").unwrap_or(ACCESS_TOKEN);
        let format = match requested_type {
            ACCESS_TOKEN => None,
            JWT if cx.config().signing_keys.is_some() && cx.config().issuer.is_some() => {
                Some(AccessTokenFormat::Jwt)
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "requested_token_type is not supported: ask for an access token",
                ));
            }
        };
        let requested_scope = form.scope()?;
        let targets = Targets::resources_and_audiences(form)?;
        targets.check_client(client)?;

        let subject = validate(cx, client, exchange, subject_token, subject_type)
            .await?
            .ok_or_else(|| OAuthError::invalid_request(INVALID_SUBJECT))?;
        let actor = match actor {
            Some((token, token_type)) => Some(
                validate(cx, client, exchange, token, token_type)
                    .await?
                    .ok_or_else(|| OAuthError::invalid_request(INVALID_ACTOR))?,
            ),
            None => None,
        };
        // RFC 8693 §4.4: only the party `may_act` names may act for the subject.
        let acting = actor
            .as_ref()
            .map_or_else(|| Actor::new(client.client_id()), ValidatedToken::party);
        if let Some(allowed) = &subject.delegation.may_act
            && !allowed.is_party(&acting)
        {
            return Err(OAuthError::invalid_request(
                "the subject token's may_act does not name the actor (RFC 8693 §4.4)",
            ));
        }
        let allowed_scope = subject.scope.as_ref().unwrap_or(client.scope());
        let scope = match requested_scope.clone() {
            Some(scope) if !scope.is_subset(allowed_scope) => {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the subject token's",
                ));
            }
            Some(scope) => scope,
            None => allowed_scope.clone(),
        };
        // §4.1: the actor outermost, the chain of earlier actors nested inside.
        let act = match &actor {
            Some(actor) => {
                let mut party = actor.party();
                party.act = subject.delegation.act.clone().map(Box::new);
                Some(party)
            }
            None => subject.delegation.act.clone(),
        };
        if act
            .as_ref()
            .is_some_and(|act| act.depth() > Actor::MAX_DEPTH)
        {
            return Err(OAuthError::invalid_request(
                "the delegation chain is too long",
            ));
        }
        let allowed = exchange.policy().may_exchange(&ExchangeRequest {
            client,
            subject: &subject,
            actor: actor.as_ref(),
            scope: &scope,
            audience: targets.as_slice(),
            requested_token_type: requested_type,
        });
        if !allowed {
            tracing::info!(
                client_id = client.client_id(),
                subject_type,
                "token exchange refused by the policy"
            );
            return Err(OAuthError::invalid_request(
                "the exchange is not allowed for this client and token",
            ));
        }
        let mut request = TokenRequest::new(client, scope)
            .with_subject(subject.subject.clone())
            .with_audience(targets.into_vec())
            .with_delegation(Delegation {
                act,
                may_act: None,
                exchanged: true,
            });
        if let Some(expires_at) = subject.expires_at {
            request = request.expiring_by(expires_at);
        }
        if let Some(record) = subject.record() {
            request = request.in_grant(record.grant_id);
        }
        if let Some(format) = format {
            request = request.with_access_token_format(format);
        }
        let issued = cx.issuer().issue(&request).await?;
        tracing::info!(
            client_id = client.client_id(),
            jti = %issued.access_record().id,
            delegated = actor.is_some(),
            "token exchanged"
        );
        let issued_type = if format.is_some() { JWT } else { ACCESS_TOKEN };
        Ok(issued
            .issued_as(issued_type)
            .into_response(requested_scope.as_ref()))
    }

    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        match setup.state::<TokenExchange>() {
            Some(_) => Ok(()),
            None => Err("token exchange is off: give the builder \
                 `.with_state(TokenExchange::new(policy))`"
                .to_owned()),
        }
    }
}

/// Validates a subject or actor token of `token_type`: this server's access and refresh tokens
/// through the store, other types through the first validator that accepts them, presented by
/// `client`. `Ok(None)`: refused; `Err`: the store failed.
async fn validate(
    cx: &Context,
    client: &Client,
    exchange: &TokenExchange,
    token: &str,
    token_type: &str,
) -> Result<Option<ValidatedToken>, OAuthError> {
    let kind = match token_type {
        ACCESS_TOKEN | JWT => Some(TokenKind::Access),
        REFRESH_TOKEN => Some(TokenKind::Refresh),
        _ => None,
    };
    if let Some(kind) = kind {
        let found = cx
            .tokens()
            .find(&TokenHash::of(token), Some(kind))
            .await?
            .filter(|record| record.kind == kind);
        if let Some(record) = found {
            // RFC 9700 §4.14.2: a rotated refresh token presented again is reuse, wherever it is
            // presented: its grant is revoked, as the refresh grant does, unless within the
            // grace window (then it is only refused: a racing request, not a theft).
            let now = cx.now();
            let grace = client
                .refresh_token_grace()
                .unwrap_or(cx.config().refresh_token_grace);
            if record.kind == TokenKind::Refresh
                && record.revoked_at.is_none()
                && record
                    .rotated_at
                    .is_some_and(|at| now >= at.saturating_add(grace.as_secs()))
            {
                let revoked = cx.tokens().revoke_grant(&record.grant_id, now).await?;
                tracing::warn!(
                    client_id = %record.client_id,
                    grant = %record.grant_id,
                    revoked,
                    "rotated refresh token presented for exchange; grant revoked"
                );
                let revoked_record = TokenRecord {
                    revoked_at: Some(now),
                    ..record
                };
                cx.hooks().refresh_token_reused(&RefreshTokenReused {
                    client,
                    token: &revoked_record,
                    grace,
                });
                return Ok(None);
            }
            let usable = record.is_active(cx.now())
                // RFC 9449 §7: a token bound to a key is used only with a proof of that key.
                && record.confirmation.is_none_or(|jkt| {
                    cx.dpop_proof()
                        .is_some_and(|proof| proof.matches_thumbprint(&jkt.to_string()))
                })
                // A token whose client was deleted is not active (as introspection says).
                && cx.clients().find(&record.client_id).await?.is_some();
            return Ok(usable.then(|| ValidatedToken::issued_here(token_type, record)));
        }
        // Not ours: only a JWT may still be another issuer's.
        if token_type != JWT {
            return Ok(None);
        }
    }
    let Some(validator) = exchange.validator_for(token_type) else {
        return Ok(None);
    };
    match validator.validate_boxed(token, token_type, cx.now()).await {
        Ok(mut validated) => {
            validated.token_type = token_type.to_owned();
            Ok(Some(validated))
        }
        Err(reason) => {
            tracing::info!(token_type, %reason, "a token presented for exchange was refused");
            Ok(None)
        }
    }
}

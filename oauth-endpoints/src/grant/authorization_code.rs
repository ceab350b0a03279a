//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6).

use crate::authorization::code::CodeBinding;
use crate::authorization::{AuthorizationCodeFlow, CodeChallenge};
use crate::client::Client;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;
use crate::form::Form;
use crate::grant::{Grant, REFRESH_TOKEN};
use crate::oauth_grant;
use crate::secret::TokenHash;
use crate::server::Setup;
use crate::store::{AuthorizationKind, Consumption};
use crate::target::Targets;
use crate::token::TokenRequest;

/// `grant_type=authorization_code` (RFC 6749 §4.1.3), mounted with the authorization endpoint
/// (an [`AuthorizationCodeFlow`] and an issuer).
///
/// - `code` and `code_verifier` are required (`invalid_request`).
/// - The code must have been issued to the authenticating client, be unexpired, and its PKCE
///   challenge must match the `code_verifier` (RFC 7636 §4.6: `invalid_grant`). A `redirect_uri`
///   must be present and identical when the authorization request carried one, and if present
///   otherwise must be the one the code was sent to (RFC 6749 §4.1.3). A presentation that
///   fails these checks changes nothing: it is not a use of the code, so a stolen code without
///   its verifier cannot burn it nor revoke anything.
/// - A code is used once (RFC 6749 §4.1.2): its use is one atomic store operation, so of two
///   concurrent exchanges, on any instances, exactly one gets tokens. A second use answers
///   `invalid_grant` and **revokes the grant** the first use issued tokens into: its access and
///   refresh tokens and every rotation since. If the replay wins the race against the first
///   exchange's storing of tokens, those are refused by the revoked grant (`invalid_grant`).
/// - The tokens carry the approved scope and the user as `sub`; a refresh token is issued when
///   the client's `grant_types` list `refresh_token`, and rotates as any other (public clients
///   included).
/// - The tokens are meant for the resources the authorization request named (RFC 8707 §2.1,
///   each one the client registered); the token request's `resource` may narrow the access
///   token's audience to some of them (§2.2: `invalid_target` for any other, and the code is
///   not used), while the refresh token keeps them all.
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "authorization_code")]
pub struct AuthorizationCodeGrant;

impl Grant for AuthorizationCodeGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let verifier = form.get("code_verifier").ok_or_else(|| {
            OAuthError::invalid_request("code_verifier is required (PKCE, RFC 7636 §4.5)")
        })?;
        let flow = cx
            .state::<AuthorizationCodeFlow>()
            .ok_or_else(|| OAuthError::unsupported_grant_type("authorization_code"))?;
        let invalid = || OAuthError::invalid_grant("the authorization code is invalid");
        let hash = TokenHash::of(code);
        let record = flow
            .store()
            .find(&hash, AuthorizationKind::Code)
            .await?
            .ok_or_else(invalid)?;
        if *record.client_id != *client.client_id() {
            tracing::warn!(
                client_id = client.client_id(),
                "authorization code presented by another client"
            );
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        let binding = CodeBinding::from_payload(&record.payload)?;
        match form.get("redirect_uri") {
            Some(given) if given != binding.redirect_uri => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
            None if binding.redirect_uri_given => {
                return Err(OAuthError::invalid_request(
                    "redirect_uri is required: the authorization request carried it",
                ));
            }
            _ => {}
        }
        let challenge =
            CodeChallenge::from_stored(&binding.code_challenge).map_err(|_| invalid())?;
        if !challenge.verify(verifier) {
            return Err(OAuthError::invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        // RFC 9449 §10: a code bound to a DPoP key is exchanged only with a proof by that key.
        if let Some(bound) = &binding.dpop_jkt
            && !cx
                .dpop_proof()
                .is_some_and(|proof| proof.matches_thumbprint(bound))
        {
            return Err(
                OAuthError::new("invalid_dpop_proof", http::StatusCode::BAD_REQUEST)
                    .with_description(
                        "the code is bound to a DPoP key: present a proof signed by it",
                    ),
            );
        }
        // RFC 8707 §2.2: the token request's `resource` narrows what the user authorized; a
        // resource outside it is refused before the code is used.
        let targets = Targets::resources(form)?;
        targets.check_within(&binding.resources)?;
        let now = cx.now();
        match flow
            .store()
            .consume(&hash, AuthorizationKind::Code, now)
            .await?
        {
            Consumption::Consumed(_) => {}
            Consumption::AlreadyConsumed(used) => {
                let revoked = cx.tokens().revoke_grant(&used.grant_id, now).await?;
                tracing::warn!(
                    client_id = client.client_id(),
                    grant = %used.grant_id,
                    revoked,
                    "authorization code used again; its grant is revoked"
                );
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used; the tokens issued for it are revoked",
                ));
            }
            Consumption::Unknown => {
                return Err(OAuthError::invalid_grant(
                    "the authorization code has expired",
                ));
            }
        }
        let scope = binding.scope.parse().map_err(|_| invalid())?;
        let mut request = TokenRequest::new(client, scope)
            .in_grant(record.grant_id)
            .with_subject(binding.subject)
            .with_audience(binding.resources)
            .with_refresh_token(client.allows_grant(REFRESH_TOKEN));
        if !targets.is_empty() {
            request = request.narrowing_audience(targets.into_vec());
        }
        let issued = cx.issuer().issue(&request).await?;
        tracing::info!(
            client_id = client.client_id(),
            jti = %issued.access_record().id,
            "authorization code exchanged"
        );
        Ok(issued.into_response(None))
    }

    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        AuthorizationCodeFlow::of_setup(setup).map(|_| ())
    }
}

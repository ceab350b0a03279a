//! The client credentials grant (RFC 6749 §4.4).

use crate::client::Client;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::error::OAuthError;
use crate::form::Form;
use crate::grant::Grant;
use crate::grant::REFRESH_TOKEN;
use crate::oauth_grant;
use crate::target::Targets;
use crate::token::TokenRequest;

/// `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client asks for a token for
/// itself.
///
/// - Only confidential clients (§4.4: "MUST only be used by confidential clients"); a public
///   client gets `unauthorized_client`.
/// - `scope` must be within the client's registered scope (`invalid_scope`); none requested
///   means the client's full scope (§3.3).
/// - A refresh token is issued only to clients whose `grant_types` include `refresh_token`:
///   §4.4.3 says one SHOULD NOT be included, so this is an explicit opt-in.
/// - `resource` parameters (RFC 8707 §2) name the resource servers the token is for: each an
///   absolute URI the client registered ([`Client::allowed_resources`]), else
///   `invalid_target`; they become the token's audience (`aud`).
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "client_credentials")]
pub struct ClientCredentialsGrant;

impl Grant for ClientCredentialsGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "the client credentials grant is for confidential clients only",
            ));
        }
        let requested = form.scope()?;
        let scope = match &requested {
            Some(scope) if !scope.is_subset(client.scope()) => {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the client's scope",
                ));
            }
            Some(scope) => scope.clone(),
            None => client.scope().clone(),
        };
        let targets = Targets::resources(form)?;
        targets.check_client(client)?;
        let mut request =
            TokenRequest::new(client, scope).with_refresh_token(client.allows_grant(REFRESH_TOKEN));
        if !targets.is_empty() {
            request = request.with_audience(targets.into_vec());
        }
        let issued = cx.issuer().issue(&request).await?;
        Ok(issued.into_response(requested.as_ref()))
    }
}

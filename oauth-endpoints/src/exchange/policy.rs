//! [`ExchangePolicy`]: who may exchange what (RFC 8693 §2.1, §5).

use crate::client::Client;
use crate::exchange::ValidatedToken;
use crate::scope::Scope;

/// One token exchange about to be granted, as the policy sees it: every check of the RFC has
/// passed (tokens valid, `may_act` honoured, scope within the subject token's, targets
/// registered by the client).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ExchangeRequest<'a> {
    /// The authenticated client asking.
    pub client: &'a Client,
    /// The subject token: whom the new token will speak for.
    pub subject: &'a ValidatedToken,
    /// The actor token, for delegation (`act`, RFC 8693 §1.1); `None` for impersonation.
    pub actor: Option<&'a ValidatedToken>,
    /// The scope the new token would carry.
    pub scope: &'a Scope,
    /// The targets (`resource` and `audience`) the new token would be meant for.
    pub audience: &'a [String],
    /// The requested token type (RFC 8693 §3).
    pub requested_token_type: &'a str,
}

/// Decides whether an exchange may happen (RFC 8693 §5: "the authorization server ... MUST
/// decide whether the client is permitted" to obtain the token). A refusal answers
/// `invalid_request` (§2.2.2: a request "unacceptable based on policy").
///
/// The default, [`DenyAll`], refuses everything: exchange is opened client by client, token by
/// token, by the application. Closures `Fn(&ExchangeRequest<'_>) -> bool` implement it.
///
/// ```
/// use oauth_endpoints::exchange::{ExchangeRequest, TokenExchange};
///
/// // The orders service may exchange a token that was sent to it (its audience names the
/// // service) for one meant for the billing API, and nothing else.
/// let exchange = TokenExchange::new(|request: &ExchangeRequest<'_>| {
///     request.client.client_id() == "orders"
///         && request.subject.audience.iter().any(|aud| aud == "https://orders.example.com/")
///         && request.audience == ["https://billing.example.com/"]
/// });
/// ```
pub trait ExchangePolicy: Send + Sync + 'static {
    /// Whether `request` may be granted.
    fn may_exchange(&self, request: &ExchangeRequest<'_>) -> bool;
}

impl<F> ExchangePolicy for F
where
    F: Fn(&ExchangeRequest<'_>) -> bool + Send + Sync + 'static,
{
    fn may_exchange(&self, request: &ExchangeRequest<'_>) -> bool {
        self(request)
    }
}

/// A ready policy for services calling services: a client may exchange a token that was
/// **sent to it** (the subject token's audience names the client: its `client_id` or one of
/// its [`served_resources`](Client::served_resources)), and, for delegation, only **as
/// itself** (the actor token is one this server issued to the client). Every other check of
/// the grant still applies: the targets are ones the client registered, the scope only
/// narrows. A token without an audience is not exchanged: it was not sent to anyone in
/// particular.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardedTokens;

impl ExchangePolicy for ForwardedTokens {
    fn may_exchange(&self, request: &ExchangeRequest<'_>) -> bool {
        let sent_to_client = request
            .subject
            .audience
            .iter()
            .any(|audience| request.client.is_audience(audience));
        let acts_as_itself = request.actor.is_none_or(|actor| {
            actor
                .record()
                .is_some_and(|record| *record.client_id == *request.client.client_id())
        });
        sent_to_client && acts_as_itself
    }
}

/// The default policy: no exchange is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl ExchangePolicy for DenyAll {
    fn may_exchange(&self, _request: &ExchangeRequest<'_>) -> bool {
        false
    }
}

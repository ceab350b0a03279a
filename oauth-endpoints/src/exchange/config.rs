//! [`TokenExchange`]: what a server that offers token exchange is given.

use std::fmt;
use std::sync::Arc;

use crate::exchange::TokenValidator;
use crate::exchange::policy::{DenyAll, ExchangePolicy};
use crate::exchange::validator::DynValidator;

/// Turns token exchange on (RFC 8693): give it to the builder with `.with_state(...)`, and the
/// `urn:ietf:params:oauth:grant-type:token-exchange` grant is mounted and published in
/// `grant_types_supported`. Without it, the grant is left out.
///
/// It holds the [`ExchangePolicy`] (who may exchange what; [`DenyAll`] by default) and the
/// [`TokenValidator`]s for token types this server did not issue.
///
/// ```
/// use oauth_endpoints::exchange::{ExchangeRequest, TokenExchange};
///
/// let exchange = TokenExchange::new(|request: &ExchangeRequest<'_>| {
///     request.client.client_id() == "orders"
/// });
/// // let server = AuthorizationServer::builder().with_state(exchange)...;
/// ```
#[derive(Clone)]
pub struct TokenExchange {
    policy: Arc<dyn ExchangePolicy>,
    validators: Vec<Arc<dyn DynValidator>>,
}

impl Default for TokenExchange {
    /// Exchange mounted, every request refused ([`DenyAll`]).
    fn default() -> Self {
        Self::new(DenyAll)
    }
}

impl TokenExchange {
    /// Token exchange decided by `policy`.
    pub fn new(policy: impl ExchangePolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            validators: Vec::new(),
        }
    }

    /// Adds a validator for token types this server did not issue; the first that accepts a
    /// presented type validates it.
    #[must_use]
    pub fn with_validator(mut self, validator: impl TokenValidator) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    pub(crate) fn policy(&self) -> &dyn ExchangePolicy {
        &*self.policy
    }

    pub(crate) fn validator_for(&self, token_type: &str) -> Option<&dyn DynValidator> {
        self.validators
            .iter()
            .find(|validator| validator.accepts(token_type))
            .map(|validator| &**validator)
    }
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("validators", &self.validators.len())
            .finish_non_exhaustive()
    }
}

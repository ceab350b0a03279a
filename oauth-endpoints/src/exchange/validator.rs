//! [`TokenValidator`]: how an application lets other token types be exchanged.

use std::future::Future;

use crate::boxed::BoxFuture;
use crate::clock::UnixTime;
use crate::exchange::ValidatedToken;

/// Validates subject and actor tokens of types this server did not issue (RFC 8693 §2.1): a
/// JWT from a trusted issuer ([`TrustedIssuer`](crate::exchange::TrustedIssuer)), an ID
/// token, a SAML assertion, a token of another authorization server checked by introspecting
/// it there. Register them with [`TokenExchange::with_validator`](
/// crate::exchange::TokenExchange::with_validator); the first whose
/// [`accepts`](Self::accepts) names the presented type validates it.
///
/// Access and refresh tokens this server issued need no validator: the grant finds them in
/// the store (for `urn:ietf:params:oauth:token-type:access_token`, `...:refresh_token`, and a
/// JWT access token presented as `...:jwt`).
pub trait TokenValidator: Send + Sync + 'static {
    /// Whether this validator checks tokens of `token_type` (a URI of RFC 8693 §3, or another
    /// the application defines).
    fn accepts(&self, token_type: &str) -> bool;

    /// Validates `token` at `now`: `Ok` with what it says, or `Err` with why it is refused
    /// (logged for the operator; the client is answered `invalid_request` whatever the reason,
    /// RFC 8693 §2.2.2). Check everything a relying party would: signature, issuer, expiry,
    /// audience.
    fn validate(
        &self,
        token: &str,
        token_type: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<ValidatedToken, String>> + Send;
}

/// The object-safe twin of [`TokenValidator`].
pub(crate) trait DynValidator: Send + Sync + 'static {
    fn accepts(&self, token_type: &str) -> bool;
    fn validate_boxed<'a>(
        &'a self,
        token: &'a str,
        token_type: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<ValidatedToken, String>>;
}

impl<T: TokenValidator> DynValidator for T {
    fn accepts(&self, token_type: &str) -> bool {
        TokenValidator::accepts(self, token_type)
    }

    fn validate_boxed<'a>(
        &'a self,
        token: &'a str,
        token_type: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<ValidatedToken, String>> {
        Box::pin(self.validate(token, token_type, now))
    }
}

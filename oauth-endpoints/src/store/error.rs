//! [`StoreError`]: a store failure the caller can act on.

use std::error::Error;

/// A client or token store failed, or refused a change its stored state forbids. Nothing was
/// changed by a call that returned an error.
///
/// Endpoints answer [`Unavailable`](Self::Unavailable) and [`Backend`](Self::Backend) with 503
/// `temporarily_unavailable` and `Retry-After` (RFC 7009 §2.2.1), and
/// [`GrantRevoked`](Self::GrantRevoked) with 400 `invalid_grant` (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The records belong to a revoked grant, so none was stored
    /// ([`TokenStore::insert_tokens`](crate::store::TokenStore::insert_tokens)): once a grant is
    /// revoked, no token is added to it (RFC 7009 §2.1, RFC 9700 §4.14.2).
    #[error("the grant is revoked")]
    GrantRevoked,
    /// The backing database cannot be reached or did not answer in time. The cause is the
    /// error's [`source`](std::error::Error::source).
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn Error + Send + Sync>),
    /// The backing database answered with an error. The cause is the error's
    /// [`source`](std::error::Error::source).
    #[error("the store failed")]
    Backend(#[source] Box<dyn Error + Send + Sync>),
}

impl StoreError {
    /// An unavailable store, from any error.
    pub fn unavailable(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Unavailable(error.into())
    }

    /// A failing store, from any error.
    pub fn backend(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Backend(error.into())
    }

    /// This error and its causes, each after a colon, for a log line: its `Display` names the
    /// failure only, the causes are its [`source`](Error::source) chain.
    ///
    /// ```
    /// use oauth_endpoints::store::StoreError;
    ///
    /// let error = StoreError::unavailable("connection refused");
    /// assert_eq!(error.to_string(), "the store is unavailable");
    /// assert_eq!(error.report().to_string(), "the store is unavailable: connection refused");
    /// ```
    pub fn report(&self) -> impl std::fmt::Display + '_ {
        crate::error::Chain(self)
    }
}

/// Seconds a client should wait before retrying after a store failure.
pub(crate) const STORE_RETRY_AFTER_SECS: u32 = 5;

impl From<StoreError> for crate::OAuthError {
    /// 503 `temporarily_unavailable` with `Retry-After` (RFC 7009 §2.2.1), carrying the store's
    /// error as its [cause](crate::OAuthError::with_cause): logged once by the server that
    /// answers it, never sent (it may describe the deployment). A revoked grant is 400
    /// `invalid_grant` instead (RFC 6749 §5.2).
    fn from(error: StoreError) -> Self {
        if let StoreError::GrantRevoked = error {
            return crate::OAuthError::invalid_grant("the grant is revoked");
        }
        crate::OAuthError::temporarily_unavailable(STORE_RETRY_AFTER_SECS).with_cause(error)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::StoreError;
    use crate::OAuthError;

    #[test]
    fn a_store_failure_is_a_503_whose_cause_is_logged_and_never_sent() {
        let error = OAuthError::from(StoreError::unavailable("db.internal:5432 refused"));
        assert_eq!(error.status(), 503);
        let body = error.clone().into_response().into_body();
        assert!(!String::from_utf8_lossy(&body).contains("db.internal"));
        // Each message once along the chain: the error, the store's, the database's.
        assert_eq!(
            error.report().to_string(),
            "temporarily_unavailable: the server is temporarily unable to handle the request: \
             the store is unavailable: db.internal:5432 refused"
        );
        let store = error.source().map(ToString::to_string);
        assert_eq!(store.as_deref(), Some("the store is unavailable"));
    }

    #[test]
    fn a_revoked_grant_is_invalid_grant_without_a_cause() {
        let error = OAuthError::from(StoreError::GrantRevoked);
        assert_eq!(
            (error.code(), error.status().as_u16()),
            ("invalid_grant", 400)
        );
        assert!(error.source().is_none());
    }
}

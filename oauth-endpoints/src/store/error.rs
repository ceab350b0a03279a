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
    /// ([`TokenStore::insert_tokens`](crate::TokenStore::insert_tokens)): once a grant is
    /// revoked, no token is added to it (RFC 7009 §2.1, RFC 9700 §4.14.2).
    #[error("the grant is revoked")]
    GrantRevoked,
    /// The backing database cannot be reached or did not answer in time.
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn Error + Send + Sync>),
    /// The backing database answered with an error.
    #[error("the store failed: {0}")]
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
}

/// Seconds a client should wait before retrying after a store failure.
pub(crate) const STORE_RETRY_AFTER_SECS: u32 = 5;

impl From<StoreError> for crate::OAuthError {
    /// 503 `temporarily_unavailable` with `Retry-After` (RFC 7009 §2.2.1). The store's error is
    /// logged, never sent: it may describe the deployment. A revoked grant is 400
    /// `invalid_grant` instead (RFC 6749 §5.2).
    fn from(error: StoreError) -> Self {
        if let StoreError::GrantRevoked = error {
            return crate::OAuthError::invalid_grant("the grant is revoked");
        }
        tracing::error!(error = %error, "store failure");
        crate::OAuthError::temporarily_unavailable(STORE_RETRY_AFTER_SECS)
    }
}

//! [`StoreError`]: a store failure the caller can act on.

use std::error::Error;

/// A client or token store failed. Endpoints answer it with 503 `temporarily_unavailable` and
/// `Retry-After` (RFC 7009 §2.2.1); nothing was changed by a failed call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
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
    /// logged, never sent: it may describe the deployment.
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "store failure");
        crate::OAuthError::temporarily_unavailable(STORE_RETRY_AFTER_SECS)
    }
}

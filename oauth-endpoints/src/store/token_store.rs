//! [`TokenStore`]: where token records are kept, with operations sized for atomicity.

use std::future::Future;
use std::sync::Arc;

use crate::clock::UnixTime;
use crate::endpoint::BoxFuture;
use crate::secret::{Id, TokenHash};
use crate::store::StoreError;
use crate::token::{TokenKind, TokenRecord};

/// The outcome of [`TokenStore::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The refresh token was active; it is now rotated and the replacements are stored.
    Rotated(TokenRecord),
    /// The refresh token had already been rotated: it is being replayed. The whole grant was
    /// revoked (RFC 9700 §4.14.2) and nothing was stored.
    Reused(TokenRecord),
    /// The token is unknown, not a refresh token, expired or revoked. Nothing changed.
    Invalid,
}

/// Keeps token records. Every method that changes state is one atomic operation: stores must
/// not split it into a read and a write that another instance could interleave.
///
/// Implement it on your database, or use [`MemoryStore`](crate::MemoryStore). Write the methods
/// as plain `async fn`s.
pub trait TokenStore: Send + Sync + 'static {
    /// Stores newly issued records (an access token and, perhaps, its refresh token) together.
    fn insert_tokens(
        &self,
        records: &[TokenRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The record whose hash is `hash`, whatever its state. `hint` says which kind to look at
    /// first, for stores that keep kinds apart; it never filters (RFC 7009 §2.1, RFC 7662 §2.1).
    fn find_token(
        &self,
        hash: &TokenHash,
        hint: Option<TokenKind>,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// Marks one token revoked at `now` (if it was not already). Returns whether a record with
    /// this hash exists.
    fn revoke_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks every token of a grant revoked at `now`, in one atomic operation. Returns how many
    /// records changed.
    fn revoke_grant(
        &self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Exchanges a refresh token, atomically: if it is an active refresh token, mark it rotated
    /// at `now` and store `replacements`; if it was already rotated, revoke its whole grant
    /// (reuse detection, RFC 9700 §4.14.2). Of two concurrent calls on one token, exactly one
    /// sees it active.
    fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// Deletes at most `limit` records that expired before `before`. Returns how many.
    fn purge_expired(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The object-safe twin of [`TokenStore`].
pub(crate) trait DynTokenStore: Send + Sync + 'static {
    fn insert_tokens<'a>(
        &'a self,
        records: &'a [TokenRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn find_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        hint: Option<TokenKind>,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>>;
    fn revoke_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn revoke_grant<'a>(
        &'a self,
        grant_id: &'a Id,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    fn rotate_refresh_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
        replacements: &'a [TokenRecord],
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;
    fn purge_expired(&self, before: UnixTime, limit: u64)
    -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: TokenStore> DynTokenStore for T {
    fn insert_tokens<'a>(
        &'a self,
        records: &'a [TokenRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(TokenStore::insert_tokens(self, records))
    }

    fn find_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        hint: Option<TokenKind>,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        Box::pin(TokenStore::find_token(self, hash, hint))
    }

    fn revoke_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(TokenStore::revoke_token(self, hash, now))
    }

    fn revoke_grant<'a>(
        &'a self,
        grant_id: &'a Id,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(TokenStore::revoke_grant(self, grant_id, now))
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
        replacements: &'a [TokenRecord],
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(TokenStore::rotate_refresh_token(
            self,
            hash,
            now,
            replacements,
        ))
    }

    fn purge_expired(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(TokenStore::purge_expired(self, before, limit))
    }
}

/// The server's token store, as endpoints, grants and applications reach it.
#[derive(Clone)]
pub struct Tokens(pub(crate) Arc<dyn DynTokenStore>);

impl Tokens {
    /// Wraps any [`TokenStore`].
    pub fn new(store: impl TokenStore) -> Self {
        Self(Arc::new(store))
    }

    /// The record of a token value, whatever its state (see [`TokenStore::find_token`]). A value
    /// outside `1*VSCHAR` (RFC 6749 A.12, A.17) was never issued: `None`, without a store call.
    pub async fn find(
        &self,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        if token.is_empty() || !crate::syntax::is_vschar(token) {
            return Ok(None);
        }
        self.0.find_token(&TokenHash::of(token), hint).await
    }

    /// See [`TokenStore::insert_tokens`].
    pub async fn insert(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.0.insert_tokens(records).await
    }

    /// See [`TokenStore::revoke_token`].
    pub async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        self.0.revoke_token(hash, now).await
    }

    /// See [`TokenStore::revoke_grant`].
    pub async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        self.0.revoke_grant(grant_id, now).await
    }

    /// See [`TokenStore::rotate_refresh_token`].
    pub async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
    ) -> Result<Rotation, StoreError> {
        self.0.rotate_refresh_token(hash, now, replacements).await
    }

    /// See [`TokenStore::purge_expired`].
    pub async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.0.purge_expired(before, limit).await
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens")
    }
}

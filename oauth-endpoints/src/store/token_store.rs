//! [`TokenStore`]: where token records are kept, with operations sized for atomicity.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::boxed::BoxFuture;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::StoreError;
use crate::token::{TokenKind, TokenRecord};

/// The outcome of [`TokenStore::rotate_refresh_token`]. Each variant that carries a record
/// carries the presented refresh token's record **as stored when the call returns**, i.e.
/// after the operation: what [`TokenStore::find_token`] would answer next.
// `Reissued` holds two records, the others one (232 bytes since records carry their binding,
// `TokenRecord::confirmation`): an outcome made once per refresh and matched at once, so its
// size costs a copy or two, and boxing the records would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The refresh token was active; it is now rotated and the replacements are stored. The
    /// record is the presented token's after the rotation: its `rotated_at` is the call's
    /// `now`.
    Rotated(TokenRecord),
    /// The refresh token had already been rotated: it is being replayed. The whole grant was
    /// revoked (RFC 9700 §4.14.2) and nothing was stored. The record is the presented token's
    /// after the grant's revocation: its `rotated_at` is the earlier rotation's time and its
    /// `revoked_at` is set (the call's `now`, or an earlier revocation's time).
    Reused(TokenRecord),
    /// The refresh token had been rotated less than the grace window ago and its successor
    /// (the refresh token that replaced it) was still unused: the presentation is taken for a
    /// lost answer or a concurrent request, not a replay. The successor was revoked at `now`
    /// and the replacements stored in its place, so the grant still has exactly one live
    /// refresh token (see [`TokenStore::rotate_refresh_token`]). Only with a grace window;
    /// RFC 9700 §4.14.2 is the default.
    Reissued {
        /// The presented token's record, unchanged: still rotated at its first rotation's
        /// time (the window is not extended), not revoked.
        presented: TokenRecord,
        /// The successor's record after the operation: revoked at `now`.
        superseded: TokenRecord,
    },
    /// The token is unknown, not a refresh token, expired, revoked, not yet valid, or a
    /// replacement belongs to a revoked grant. Nothing changed.
    Invalid,
}

/// Keeps token records. Every method that changes state is one atomic operation: stores must
/// not split it into a read and a write that another instance could interleave. A call that
/// returns an error changed nothing; a call whose change was made (committed) returns its
/// outcome, not an error.
///
/// # Grants
///
/// Tokens belong to a grant (`TokenRecord::grant_id`): the tokens issued together and those
/// that replaced them through refresh. Every operation that creates or revokes tokens of a
/// grant ([`insert_tokens`](Self::insert_tokens),
/// [`rotate_refresh_token`](Self::rotate_refresh_token), [`revoke_grant`](Self::revoke_grant))
/// must serialize on the grant: as if they ran one at a time per grant, on every instance that
/// shares the store. Once a grant is revoked ([`revoke_grant`](Self::revoke_grant), or reuse
/// detection), it stays revoked (at least while it has a token, see
/// [`purge_expired`](Self::purge_expired)): no token is inserted into it nor rotated within
/// it, and when `revoke_grant` returns no token of the grant is active, including replacements
/// stored by a rotation that ran at the same time. The SQL stores lock one row per grant, in one order,
/// first; the memory store takes one lock. A store on a database must also not deadlock
/// between these operations, and should retry internally a transaction the database rolled
/// back for a conflict rather than fail: the caller did not cause it.
///
/// Implement it on your database, or use [`MemoryStore`](crate::store::MemoryStore). Write the methods
/// as plain `async fn`s. With the `test-kit` feature, `oauth_endpoints::test_kit` checks a
/// store against this contract.
pub trait TokenStore: Send + Sync + 'static {
    /// Stores newly issued records (an access token and, perhaps, its refresh token) together:
    /// all or none. A record with the hash of a stored one replaces it. Every field is kept as
    /// given, the binding of a sender-constrained token ([`TokenRecord::confirmation`], DPoP)
    /// included: a store that dropped it would turn bound tokens into bearer tokens; and the
    /// [`delegation`](TokenRecord::delegation) (`act`, `may_act`) and audience a token
    /// exchange or resource indicators recorded.
    ///
    /// Fails with [`StoreError::GrantRevoked`], storing nothing, if a record belongs to a
    /// revoked grant (endpoints answer `invalid_grant`). This check and the grant's revocation
    /// must be serialized (the built-in stores lock the grant): a token exchanged into the grant
    /// of a subject token that is being revoked must not outlive the revocation.
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

    /// Marks one token revoked at `now`, unless it already was (an earlier `revoked_at` is
    /// kept). Returns whether a record with this hash exists, revoked before or not. Its grant
    /// is not revoked.
    fn revoke_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes the grant and marks every token of it revoked at `now` (tokens already revoked
    /// keep their time), in one atomic operation serialized with the grant's other writes (see
    /// [Grants](Self#grants)); no token is stored into the grant afterwards, also when it has
    /// no token yet. Returns how many records changed (0 for an unknown or already revoked
    /// grant).
    fn revoke_grant(
        &self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Exchanges a refresh token, atomically and serialized with the grant's other writes:
    /// if it is an active refresh token (and no replacement belongs to a revoked grant), mark
    /// it rotated at `now`, record the refresh token among `replacements` as its *successor*,
    /// and store `replacements` ([`Rotation::Rotated`]); if it was already rotated, revoke its
    /// whole grant as [`revoke_grant`](Self::revoke_grant) does and store nothing (reuse
    /// detection, RFC 9700 §4.14.2, [`Rotation::Reused`]); otherwise change nothing
    /// ([`Rotation::Invalid`]). Of concurrent calls on one token, exactly one sees it active;
    /// the others see it rotated.
    ///
    /// `grace` (zero: off, the default of the server) is the refresh-token grace window,
    /// counted in whole seconds from the token's rotation. A rotated token presented again
    /// with `now < rotated_at + grace` is not reuse if, at that moment, it is not revoked nor
    /// expired, no locked grant is revoked, `replacements` hold a refresh token, and its
    /// successor is still unused (a refresh token of the grant, active: neither rotated nor
    /// revoked nor expired). Then the store revokes the successor at `now`, records the new
    /// refresh token as the presented token's successor, stores `replacements`, and answers
    /// [`Rotation::Reissued`]; the presented token keeps its `rotated_at`. So a grant never
    /// has more than one live refresh token, and once the successor is used (or the window
    /// has passed) the presented token is reuse again. Concurrent presentations within the
    /// window run one after the other: each replaces the successor the previous one stored.
    fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: Duration,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// Deletes at most `limit` token records that expired before `before`. Returns how many.
    /// It may also forget grants that have no token left: a revoked grant is remembered at
    /// least as long as it has a token.
    fn purge_expired(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Revokes, at `now`, every grant holding a live token issued to `client_id`, as
    /// [`revoke_grant`](Self::revoke_grant) does for each (so none takes tokens afterwards).
    /// Returns how many token records changed. For an administrator ("this client is
    /// compromised"): stores may scan.
    fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Revokes, at `now`, every grant holding a live token whose `subject` is `subject`, as
    /// [`revoke_grant`](Self::revoke_grant) does for each ("sign this user out everywhere").
    /// Returns how many token records changed.
    fn revoke_subject_tokens(
        &self,
        subject: &str,
        now: UnixTime,
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
        grace: Duration,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;
    fn purge_expired(&self, before: UnixTime, limit: u64)
    -> BoxFuture<'_, Result<u64, StoreError>>;
    fn revoke_client_tokens<'a>(
        &'a self,
        client_id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
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
        grace: Duration,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(TokenStore::rotate_refresh_token(
            self,
            hash,
            now,
            replacements,
            grace,
        ))
    }

    fn purge_expired(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(TokenStore::purge_expired(self, before, limit))
    }

    fn revoke_client_tokens<'a>(
        &'a self,
        client_id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(TokenStore::revoke_client_tokens(self, client_id, now))
    }

    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(TokenStore::revoke_subject_tokens(self, subject, now))
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

    /// The record of a token, by the hash of its value ([`TokenHash::of`]), whatever its state:
    /// see [`TokenStore::find_token`].
    pub async fn find(
        &self,
        hash: &TokenHash,
        hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.0.find_token(hash, hint).await
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
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        self.0
            .rotate_refresh_token(hash, now, replacements, grace)
            .await
    }

    /// See [`TokenStore::purge_expired`].
    pub async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.0.purge_expired(before, limit).await
    }

    /// Revokes every token (and grant) of a client: see [`TokenStore::revoke_client_tokens`].
    pub async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.0.revoke_client_tokens(client_id, now).await
    }

    /// Revokes every token (and grant) of a subject, e.g. when a user signs out everywhere or
    /// changes their password: see [`TokenStore::revoke_subject_tokens`].
    pub async fn revoke_subject_tokens(
        &self,
        subject: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.0.revoke_subject_tokens(subject, now).await
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens")
    }
}

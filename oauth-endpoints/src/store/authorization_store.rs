//! [`AuthorizationStore`]: authorization codes and pushed authorization requests, each usable
//! once, and ids remembered once until they expire (the `jti` of `private_key_jwt`
//! assertions).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::boxed::BoxFuture;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::StoreError;

/// What an [`AuthorizationRecord`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorizationKind {
    /// An authorization code (RFC 6749 §4.1.2).
    Code,
    /// A pushed authorization request, named by its `request_uri` (RFC 9126 §2.2).
    PushedRequest,
}

impl AuthorizationKind {
    /// The name stores write: `code` or `pushed_request`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::PushedRequest => "pushed_request",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "code" => Some(Self::Code),
            "pushed_request" => Some(Self::PushedRequest),
            _ => None,
        }
    }
}

/// An authorization code or a pushed authorization request as a store keeps it: by the hash of
/// its secret value, never the value, and usable once.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationRecord {
    /// The hash of the code, or of the `request_uri`'s secret part.
    pub hash: TokenHash,
    /// Code or pushed request.
    pub kind: AuthorizationKind,
    /// The client it was issued to.
    pub client_id: Arc<str>,
    /// For a code, the grant its tokens join: a replayed code revokes it (RFC 6749 §4.1.2).
    pub grant_id: Id,
    /// What the record binds, as the endpoint that made it wrote it (JSON): the request's
    /// parameters, the subject, the PKCE challenge. Stores keep it as an opaque string.
    pub payload: Arc<str>,
    /// When it was made.
    pub issued_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// When it was used, if it was.
    pub consumed_at: Option<UnixTime>,
}

impl fmt::Debug for AuthorizationRecord {
    /// Everything but the payload, which may hold a `state` or a PKCE challenge.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRecord")
            .field("hash", &self.hash)
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("grant_id", &self.grant_id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("consumed_at", &self.consumed_at)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`AuthorizationStore::consume_authorization`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumption {
    /// It was unused and unexpired; it is now used. The record as stored after the call.
    Consumed(AuthorizationRecord),
    /// It had been used before (expired since or not): a replay. Nothing changed. The record
    /// as stored.
    AlreadyConsumed(AuthorizationRecord),
    /// No record of this kind has this hash, or it expired unused. Nothing changed.
    Unknown,
}

/// Keeps authorization codes and pushed authorization requests, and remembers ids once
/// ([`remember_once`](Self::remember_once): the `jti` of `private_key_jwt` assertions, RFC
/// 7523 §3). Every method that changes state is one atomic operation, on every instance that
/// shares the store: of concurrent [`consume_authorization`](Self::consume_authorization) calls
/// on one record, exactly one answers [`Consumption::Consumed`]; of concurrent
/// [`remember_once`](Self::remember_once) calls with one key, exactly one answers `true`.
///
/// [`MemoryStore`](crate::store::MemoryStore), `SqliteStore` and `PgStore` implement it; with
/// the `test-kit` feature, `oauth_endpoints::test_kit::authorization_store_contract` checks
/// yours.
pub trait AuthorizationStore: Send + Sync + 'static {
    /// Stores a new record. A record with the hash of a stored one replaces it.
    fn insert_authorization(
        &self,
        record: &AuthorizationRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The record of `kind` whose hash is `hash`, whatever its state.
    fn find_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> impl Future<Output = Result<Option<AuthorizationRecord>, StoreError>> + Send;

    /// Uses the record of `kind` whose hash is `hash`, at `now`: if it is unused and
    /// `now < expires_at`, sets `consumed_at` to `now` ([`Consumption::Consumed`]); if it was
    /// used, changes nothing ([`Consumption::AlreadyConsumed`]); otherwise
    /// [`Consumption::Unknown`].
    fn consume_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> impl Future<Output = Result<Consumption, StoreError>> + Send;

    /// Remembers `key` until `until` (exclusive), unless it is remembered already: `true` if
    /// it was not remembered at `now` (it now is, until `until`), `false` if it was (nothing
    /// changed). A key whose time has passed (`until <= now`) counts as not remembered, and is
    /// remembered anew. One atomic operation on every instance sharing the store: of
    /// concurrent calls with one key, exactly one answers `true`.
    ///
    /// The server remembers there the `jti` of each `private_key_jwt` assertion (keyed by a
    /// hash of the client id and the `jti`) until the assertion expires, so that it is
    /// accepted once (RFC 7523 §3 item 7).
    fn remember_once(
        &self,
        key: &TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes at most `limit` records that expired before `before`, and at most `limit`
    /// remembered keys whose `until` is before `before`. Returns how many, in all.
    fn purge_expired_authorizations(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The object-safe twin of [`AuthorizationStore`].
trait DynAuthorizationStore: Send + Sync + 'static {
    fn insert<'a>(
        &'a self,
        record: &'a AuthorizationRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn find<'a>(
        &'a self,
        hash: &'a TokenHash,
        kind: AuthorizationKind,
    ) -> BoxFuture<'a, Result<Option<AuthorizationRecord>, StoreError>>;
    fn consume<'a>(
        &'a self,
        hash: &'a TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<Consumption, StoreError>>;
    fn remember<'a>(
        &'a self,
        key: &'a TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn purge(&self, before: UnixTime, limit: u64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: AuthorizationStore> DynAuthorizationStore for T {
    fn insert<'a>(
        &'a self,
        record: &'a AuthorizationRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.insert_authorization(record))
    }

    fn find<'a>(
        &'a self,
        hash: &'a TokenHash,
        kind: AuthorizationKind,
    ) -> BoxFuture<'a, Result<Option<AuthorizationRecord>, StoreError>> {
        Box::pin(self.find_authorization(hash, kind))
    }

    fn consume<'a>(
        &'a self,
        hash: &'a TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<Consumption, StoreError>> {
        Box::pin(self.consume_authorization(hash, kind, now))
    }

    fn remember<'a>(
        &'a self,
        key: &'a TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.remember_once(key, until, now))
    }

    fn purge(&self, before: UnixTime, limit: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.purge_expired_authorizations(before, limit))
    }
}

/// A shared [`AuthorizationStore`], as the authorization endpoints and grant reach it.
#[derive(Clone)]
pub struct Authorizations(Arc<dyn DynAuthorizationStore>);

impl Authorizations {
    /// Wraps any [`AuthorizationStore`].
    pub fn new(store: impl AuthorizationStore) -> Self {
        Self(Arc::new(store))
    }

    /// See [`AuthorizationStore::insert_authorization`].
    pub async fn insert(&self, record: &AuthorizationRecord) -> Result<(), StoreError> {
        self.0.insert(record).await
    }

    /// See [`AuthorizationStore::find_authorization`].
    pub async fn find(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        self.0.find(hash, kind).await
    }

    /// See [`AuthorizationStore::consume_authorization`].
    pub async fn consume(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> Result<Consumption, StoreError> {
        self.0.consume(hash, kind, now).await
    }

    /// See [`AuthorizationStore::remember_once`].
    pub async fn remember_once(
        &self,
        key: &TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.0.remember(key, until, now).await
    }

    /// See [`AuthorizationStore::purge_expired_authorizations`].
    pub async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.0.purge(before, limit).await
    }
}

impl fmt::Debug for Authorizations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorizations")
    }
}

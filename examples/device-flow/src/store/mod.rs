//! Where device authorizations live (RFC 8628 §3.2–§3.5): the [`DeviceStore`] trait, its
//! object-safe twin behind [`Devices`], and two implementations.
//!
//! Every state change is one atomic store call, so that concurrent requests cannot both win:
//! storing a request only while its client has fewer pending ones than the bound; approving or
//! denying only a pending, unexpired request; recording a poll and deciding `slow_down`
//! together; redeeming an approved request exactly once.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_row;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::scope::Scope;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::StoreError;

use crate::user_code::UserCode;

pub use memory::MemoryDeviceStore;
#[cfg(feature = "postgres")]
pub use postgres::PgDeviceStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteDeviceStore;

/// How much `slow_down` adds to a device code's polling interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: u64 = 5;

/// Where a device authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceStatus {
    /// Waiting for the user (`authorization_pending`).
    Pending,
    /// The user approved; the device code may be exchanged once.
    Approved,
    /// The user denied (`access_denied`).
    Denied,
    /// The device code was exchanged for tokens.
    Used,
}

impl DeviceStatus {
    /// The name stores keep.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Used]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// One device authorization request (RFC 8628 §3.1–§3.2) and its progress. The device code is
/// kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code.
    pub device_code_hash: TokenHash,
    /// The user code, canonical (unique among unexpired requests).
    pub user_code: UserCode,
    /// The client the codes were issued to.
    pub client_id: String,
    /// The scope the tokens will carry.
    pub scope: Scope,
    /// Where the request stands.
    pub status: DeviceStatus,
    /// The user who approved (set on approval).
    pub subject: Option<String>,
    /// When the codes were issued.
    pub issued_at: UnixTime,
    /// When they stop working (`expires_in` after `issued_at`).
    pub expires_at: UnixTime,
    /// The minimum number of seconds between polls; grows by [`SLOW_DOWN_STEP`] on each
    /// `slow_down`.
    pub interval: u64,
    /// When the client last polled the token endpoint.
    pub last_polled_at: Option<UnixTime>,
}

impl DeviceAuthorization {
    /// Whether the codes have expired at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.expires_at
    }

    /// Whether the user can still approve or deny it at `now`.
    pub fn is_pending(&self, now: UnixTime) -> bool {
        self.status == DeviceStatus::Pending && !self.is_expired(now)
    }
}

/// What storing a new request did ([`DeviceStore::create`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Stored, pending.
    Stored,
    /// Not stored: an unexpired request already has this user code (draw another).
    UserCodeTaken,
    /// Not stored: the client already has the bound's number of pending, unexpired requests.
    TooManyPending,
}

/// What recording a poll decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Still pending and polled no faster than the interval: `authorization_pending`.
    Pending,
    /// Still pending but polled too fast: `slow_down`; the interval is now `interval`.
    SlowDown {
        /// The new interval, in seconds.
        interval: u64,
    },
    /// No longer pending (or unknown): look again.
    NotPending,
}

/// Keeps device authorizations. Implement it on your database, or use [`MemoryDeviceStore`],
/// `SqliteDeviceStore` (feature `sqlite`) or `PgDeviceStore` (feature `postgres`). Write the
/// methods as plain `async fn`s; each must be atomic, also against other server instances on
/// the same database.
pub trait DeviceStore: Send + Sync + 'static {
    /// Stores a new pending request, unless its client already has `max_pending` requests
    /// that are pending and unexpired at `authorization.issued_at`
    /// ([`Created::TooManyPending`]), or an unexpired request already has this user code
    /// ([`Created::UserCodeTaken`]; an expired one is replaced). The count and the insertion
    /// are one atomic step: of concurrent calls for one client, at most `max_pending` in all
    /// are stored.
    fn create(
        &self,
        authorization: &DeviceAuthorization,
        max_pending: u32,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    /// The request whose device code hashes to `hash`, whatever its state.
    fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<DeviceAuthorization>, StoreError>> + Send;

    /// The request with this user code, whatever its state.
    fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> impl Future<Output = Result<Option<DeviceAuthorization>, StoreError>> + Send;

    /// Pending and unexpired at `now` → approved by `subject`; `false` otherwise.
    fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Pending and unexpired at `now` → denied; `false` otherwise.
    fn deny(
        &self,
        user_code: &UserCode,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a poll at `now` of a pending request and decides, in the same atomic step,
    /// whether it came sooner than `interval` after the previous one; if so the interval grows
    /// by [`SLOW_DOWN_STEP`] (RFC 8628 §3.5).
    fn record_poll(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<PollOutcome, StoreError>> + Send;

    /// Approved and unexpired at `now` → used, returning the request; `None` otherwise. Of
    /// concurrent calls at most one gets `Some` (compare-and-set).
    fn redeem(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<DeviceAuthorization>, StoreError>> + Send;

    /// Deletes requests that expired before `before`; returns how many.
    fn purge_expired(
        &self,
        before: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe twin of [`DeviceStore`].
trait DynDeviceStore: Send + Sync + 'static {
    fn create<'a>(
        &'a self,
        a: &'a DeviceAuthorization,
        max_pending: u32,
    ) -> BoxFuture<'a, Result<Created, StoreError>>;
    fn find_by_device_code<'a>(
        &'a self,
        hash: &'a TokenHash,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>>;
    fn find_by_user_code<'a>(
        &'a self,
        user_code: &'a UserCode,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>>;
    fn approve<'a>(
        &'a self,
        user_code: &'a UserCode,
        subject: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn deny<'a>(
        &'a self,
        user_code: &'a UserCode,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn record_poll<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<PollOutcome, StoreError>>;
    fn redeem<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>>;
    fn purge_expired(&self, before: UnixTime) -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: DeviceStore> DynDeviceStore for T {
    fn create<'a>(
        &'a self,
        a: &'a DeviceAuthorization,
        max_pending: u32,
    ) -> BoxFuture<'a, Result<Created, StoreError>> {
        Box::pin(DeviceStore::create(self, a, max_pending))
    }

    fn find_by_device_code<'a>(
        &'a self,
        hash: &'a TokenHash,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>> {
        Box::pin(DeviceStore::find_by_device_code(self, hash))
    }

    fn find_by_user_code<'a>(
        &'a self,
        user_code: &'a UserCode,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>> {
        Box::pin(DeviceStore::find_by_user_code(self, user_code))
    }

    fn approve<'a>(
        &'a self,
        user_code: &'a UserCode,
        subject: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(DeviceStore::approve(self, user_code, subject, now))
    }

    fn deny<'a>(
        &'a self,
        user_code: &'a UserCode,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(DeviceStore::deny(self, user_code, now))
    }

    fn record_poll<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<PollOutcome, StoreError>> {
        Box::pin(DeviceStore::record_poll(self, hash, now))
    }

    fn redeem<'a>(
        &'a self,
        hash: &'a TokenHash,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<Option<DeviceAuthorization>, StoreError>> {
        Box::pin(DeviceStore::redeem(self, hash, now))
    }

    fn purge_expired(&self, before: UnixTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(DeviceStore::purge_expired(self, before))
    }
}

/// Any [`DeviceStore`], shared: what the endpoints, the page and the grant use.
#[derive(Clone)]
pub struct Devices(Arc<dyn DynDeviceStore>);

impl Devices {
    /// Wraps a store.
    pub fn new(store: impl DeviceStore) -> Self {
        Self(Arc::new(store))
    }

    /// See [`DeviceStore::create`].
    pub async fn create(
        &self,
        authorization: &DeviceAuthorization,
        max_pending: u32,
    ) -> Result<Created, StoreError> {
        self.0.create(authorization, max_pending).await
    }

    /// See [`DeviceStore::find_by_device_code`].
    pub async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        self.0.find_by_device_code(hash).await
    }

    /// See [`DeviceStore::find_by_user_code`].
    pub async fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        self.0.find_by_user_code(user_code).await
    }

    /// See [`DeviceStore::approve`].
    pub async fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.0.approve(user_code, subject, now).await
    }

    /// See [`DeviceStore::deny`].
    pub async fn deny(&self, user_code: &UserCode, now: UnixTime) -> Result<bool, StoreError> {
        self.0.deny(user_code, now).await
    }

    /// See [`DeviceStore::record_poll`].
    pub async fn record_poll(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<PollOutcome, StoreError> {
        self.0.record_poll(hash, now).await
    }

    /// See [`DeviceStore::redeem`].
    pub async fn redeem(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        self.0.redeem(hash, now).await
    }

    /// See [`DeviceStore::purge_expired`].
    pub async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.0.purge_expired(before).await
    }
}

impl fmt::Debug for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Devices")
    }
}

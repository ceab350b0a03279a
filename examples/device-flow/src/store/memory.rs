//! [`MemoryDeviceStore`]: device authorizations in process memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::StoreError;

use crate::store::{
    Created, DeviceAuthorization, DeviceStatus, DeviceStore, PollOutcome, SLOW_DOWN_STEP,
};
use crate::user_code::UserCode;

/// Device authorizations in memory, lost on exit; clones share the same map. Every operation
/// holds one lock for its whole read-modify-write, so each is atomic.
#[derive(Clone, Default)]
pub struct MemoryDeviceStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<TokenHash, DeviceAuthorization>,
    by_user_code: HashMap<UserCode, TokenHash>,
    /// Each client's requests, whatever their state, to count its pending ones.
    by_client: HashMap<String, HashSet<TokenHash>>,
}

impl Inner {
    fn by_user_code_mut(&mut self, user_code: &UserCode) -> Option<&mut DeviceAuthorization> {
        let hash = self.by_user_code.get(user_code)?;
        self.by_hash.get_mut(hash)
    }

    fn remove(&mut self, hash: &TokenHash) {
        if let Some(removed) = self.by_hash.remove(hash) {
            self.by_user_code.remove(&removed.user_code);
            if let Some(hashes) = self.by_client.get_mut(&removed.client_id) {
                hashes.remove(hash);
                if hashes.is_empty() {
                    self.by_client.remove(&removed.client_id);
                }
            }
        }
    }

    /// How many of `client_id`'s requests are pending and unexpired at `now`.
    fn pending(&self, client_id: &str, now: UnixTime) -> usize {
        self.by_client.get(client_id).map_or(0, |hashes| {
            hashes
                .iter()
                .filter_map(|hash| self.by_hash.get(hash))
                .filter(|found| found.is_pending(now))
                .count()
        })
    }
}

impl MemoryDeviceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many requests are kept (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    /// Whether no request is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No operation can leave the maps inconsistent midway, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves a pending, unexpired request to `status`.
    fn decide(
        &self,
        user_code: &UserCode,
        status: DeviceStatus,
        subject: Option<&str>,
        now: UnixTime,
    ) -> bool {
        let mut inner = self.lock();
        match inner.by_user_code_mut(user_code) {
            Some(found) if found.is_pending(now) => {
                found.status = status;
                found.subject = subject.map(str::to_owned);
                true
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for MemoryDeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDeviceStore")
            .field("requests", &self.len())
            .finish()
    }
}

impl DeviceStore for MemoryDeviceStore {
    async fn create(
        &self,
        authorization: &DeviceAuthorization,
        max_pending: u32,
    ) -> Result<Created, StoreError> {
        // One lock for the count and the insertion: concurrent calls cannot both see room.
        let mut inner = self.lock();
        let bound = usize::try_from(max_pending).unwrap_or(usize::MAX);
        if inner.pending(&authorization.client_id, authorization.issued_at) >= bound {
            return Ok(Created::TooManyPending);
        }
        if let Some(hash) = inner.by_user_code.get(&authorization.user_code).copied() {
            let expired = inner
                .by_hash
                .get(&hash)
                .is_none_or(|existing| existing.is_expired(authorization.issued_at));
            if !expired {
                return Ok(Created::UserCodeTaken);
            }
            inner.remove(&hash);
        }
        if inner.by_hash.contains_key(&authorization.device_code_hash) {
            return Err(StoreError::backend("duplicate device code"));
        }
        inner.by_user_code.insert(
            authorization.user_code.clone(),
            authorization.device_code_hash,
        );
        inner
            .by_client
            .entry(authorization.client_id.clone())
            .or_default()
            .insert(authorization.device_code_hash);
        inner
            .by_hash
            .insert(authorization.device_code_hash, authorization.clone());
        Ok(Created::Stored)
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        Ok(self.lock().by_hash.get(hash).cloned())
    }

    async fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .by_user_code
            .get(user_code)
            .and_then(|hash| inner.by_hash.get(hash))
            .cloned())
    }

    async fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(self.decide(user_code, DeviceStatus::Approved, Some(subject), now))
    }

    async fn deny(&self, user_code: &UserCode, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.decide(user_code, DeviceStatus::Denied, None, now))
    }

    async fn record_poll(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<PollOutcome, StoreError> {
        let mut inner = self.lock();
        let Some(found) = inner
            .by_hash
            .get_mut(hash)
            .filter(|found| found.status == DeviceStatus::Pending)
        else {
            return Ok(PollOutcome::NotPending);
        };
        let too_fast = found
            .last_polled_at
            .is_some_and(|last| now < last.saturating_add(found.interval));
        found.last_polled_at = Some(now);
        if too_fast {
            found.interval = found.interval.saturating_add(SLOW_DOWN_STEP);
            Ok(PollOutcome::SlowDown {
                interval: found.interval,
            })
        } else {
            Ok(PollOutcome::Pending)
        }
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let mut inner = self.lock();
        match inner.by_hash.get_mut(hash) {
            Some(found) if found.status == DeviceStatus::Approved && !found.is_expired(now) => {
                found.status = DeviceStatus::Used;
                Ok(Some(found.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let expired: Vec<TokenHash> = inner
            .by_hash
            .values()
            .filter(|found| found.expires_at < before)
            .map(|found| found.device_code_hash)
            .collect();
        for hash in &expired {
            inner.remove(hash);
        }
        Ok(expired.len() as u64)
    }
}

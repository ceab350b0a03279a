//! The [`MemoryStore`]'s [`AuthorizationStore`]: one map behind one lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::clock::UnixTime;
use crate::secret::TokenHash;
use crate::store::{
    AuthorizationKind, AuthorizationRecord, AuthorizationStore, Consumption, MemoryStore,
    StoreError,
};

/// Codes and pushed requests by kind and hash. Every operation holds the one lock, so a
/// consumption is a compare-and-set: of concurrent calls, the first sets `consumed_at` and the
/// others see it set. Records live about a minute, so a map scanned by the purge is enough.
/// Remembered keys (`remember_once`) are a map of their own under a lock of their own, each
/// check-and-insert made while holding it.
#[derive(Default)]
pub(super) struct MemoryAuthorizations {
    records: Mutex<HashMap<(TokenHash, AuthorizationKind), AuthorizationRecord>>,
    remembered: Mutex<Remembered>,
}

/// Keys and when each is forgotten; swept of passed keys whenever it doubles, so that a
/// server that never purges keeps about the keys of the last few minutes.
#[derive(Default)]
struct Remembered {
    until: HashMap<TokenHash, UnixTime>,
    sweep_at: usize,
}

/// The size below which the remembered keys are never swept.
const SWEEP_FLOOR: usize = 1024;

impl MemoryAuthorizations {
    fn lock(&self) -> MutexGuard<'_, HashMap<(TokenHash, AuthorizationKind), AuthorizationRecord>> {
        // A panic while holding the lock leaves no half-made change: every change is one
        // `insert` or one field write.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remembered(&self) -> MutexGuard<'_, Remembered> {
        // Likewise: every change is one `insert`, `retain` or assignment.
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuthorizationStore for MemoryStore {
    async fn insert_authorization(&self, record: &AuthorizationRecord) -> Result<(), StoreError> {
        self.authorizations()
            .lock()
            .insert((record.hash, record.kind), record.clone());
        Ok(())
    }

    async fn find_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        Ok(self.authorizations().lock().get(&(*hash, kind)).cloned())
    }

    async fn consume_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> Result<Consumption, StoreError> {
        let mut records = self.authorizations().lock();
        Ok(match records.get_mut(&(*hash, kind)) {
            Some(record) if record.consumed_at.is_some() => {
                Consumption::AlreadyConsumed(record.clone())
            }
            Some(record) if now < record.expires_at => {
                record.consumed_at = Some(now);
                Consumption::Consumed(record.clone())
            }
            _ => Consumption::Unknown,
        })
    }

    async fn remember_once(
        &self,
        key: &TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut remembered = self.authorizations().remembered();
        if remembered.until.get(key).is_some_and(|&kept| kept > now) {
            return Ok(false);
        }
        if remembered.until.len() >= remembered.sweep_at.max(SWEEP_FLOOR) {
            remembered.until.retain(|_, &mut kept| kept > now);
            remembered.sweep_at = remembered.until.len().saturating_mul(2);
        }
        remembered.until.insert(*key, until);
        Ok(true)
    }

    async fn purge_expired_authorizations(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut records = self.authorizations().lock();
        let expired: Vec<_> = records
            .iter()
            .filter(|(_, record)| record.expires_at < before)
            .map(|(key, _)| *key)
            .take(limit)
            .collect();
        for key in &expired {
            records.remove(key);
        }
        drop(records);
        let mut remembered = self.authorizations().remembered();
        let passed: Vec<TokenHash> = remembered
            .until
            .iter()
            .filter(|&(_, &until)| until < before)
            .map(|(key, _)| *key)
            .take(limit)
            .collect();
        for key in &passed {
            remembered.until.remove(key);
        }
        Ok((expired.len() + passed.len()) as u64)
    }
}

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
#[derive(Default)]
pub(super) struct MemoryAuthorizations(
    Mutex<HashMap<(TokenHash, AuthorizationKind), AuthorizationRecord>>,
);

impl MemoryAuthorizations {
    fn lock(&self) -> MutexGuard<'_, HashMap<(TokenHash, AuthorizationKind), AuthorizationRecord>> {
        // A panic while holding the lock leaves no half-made change: every change is one
        // `insert` or one field write.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
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

    async fn purge_expired_authorizations(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let mut records = self.authorizations().lock();
        let expired: Vec<_> = records
            .iter()
            .filter(|(_, record)| record.expires_at < before)
            .map(|(key, _)| *key)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        for key in &expired {
            records.remove(key);
        }
        Ok(expired.len() as u64)
    }
}

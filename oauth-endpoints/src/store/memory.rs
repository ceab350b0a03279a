//! [`MemoryStore`]: clients and tokens in memory, safe under concurrency.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// Clients and tokens in process memory: for tests, development, and single-instance servers
/// that can lose their tokens on restart. Clones share the same data.
///
/// Every state change takes one write lock, so each [`TokenStore`] operation is atomic.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: RwLock<HashMap<Arc<str>, Client>>,
    tokens: RwLock<Tokens>,
}

#[derive(Default)]
struct Tokens {
    by_hash: HashMap<TokenHash, TokenRecord>,
    by_grant: HashMap<Id, Vec<TokenHash>>,
}

impl Tokens {
    fn insert(&mut self, record: &TokenRecord) {
        self.by_grant
            .entry(record.grant_id)
            .or_default()
            .push(record.hash);
        self.by_hash.insert(record.hash, record.clone());
    }

    fn revoke_grant(&mut self, grant_id: &Id, now: UnixTime) -> u64 {
        let mut changed = 0;
        for hash in self.by_grant.get(grant_id).into_iter().flatten() {
            if let Some(record) = self.by_hash.get_mut(hash)
                && record.revoked_at.is_none()
            {
                record.revoked_at = Some(now);
                changed += 1;
            }
        }
        changed
    }
}

/// A poisoned lock only means another thread panicked while holding it; every operation leaves
/// the maps consistent before it can panic, so the data is still sound.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many token records are held.
    pub fn token_count(&self) -> usize {
        read(&self.inner.tokens).by_hash.len()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clients", &read(&self.inner.clients).len())
            .field("tokens", &self.token_count())
            .finish()
    }
}

impl ClientStore for MemoryStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(read(&self.inner.clients).get(client_id).cloned())
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        write(&self.inner.clients).insert(client.client_id_arc().clone(), client.clone());
        Ok(())
    }
}

impl TokenStore for MemoryStore {
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        let mut tokens = write(&self.inner.tokens);
        for record in records {
            tokens.insert(record);
        }
        Ok(())
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(read(&self.inner.tokens).by_hash.get(hash).cloned())
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        Ok(match tokens.by_hash.get_mut(hash) {
            Some(record) => {
                record.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        })
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        Ok(write(&self.inner.tokens).revoke_grant(grant_id, now))
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
    ) -> Result<Rotation, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        let Some(record) = tokens.by_hash.get_mut(hash) else {
            return Ok(Rotation::Invalid);
        };
        if record.kind != TokenKind::Refresh {
            return Ok(Rotation::Invalid);
        }
        if record.rotated_at.is_some() {
            let replayed = record.clone();
            tokens.revoke_grant(&replayed.grant_id, now);
            return Ok(Rotation::Reused(replayed));
        }
        if !record.is_active(now) {
            return Ok(Rotation::Invalid);
        }
        record.rotated_at = Some(now);
        let rotated = record.clone();
        for replacement in replacements {
            tokens.insert(replacement);
        }
        Ok(Rotation::Rotated(rotated))
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        let expired: Vec<(TokenHash, Id)> = tokens
            .by_hash
            .values()
            .filter(|record| record.expires_at < before)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|record| (record.hash, record.grant_id))
            .collect();
        for (hash, grant_id) in &expired {
            tokens.by_hash.remove(hash);
            if let Some(hashes) = tokens.by_grant.get_mut(grant_id) {
                hashes.retain(|h| h != hash);
                if hashes.is_empty() {
                    tokens.by_grant.remove(grant_id);
                }
            }
        }
        Ok(expired.len() as u64)
    }
}

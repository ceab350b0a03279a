//! [`MemoryStore`]: clients and tokens in memory, safe under concurrency.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::secret::{Id, TokenHash};
use crate::store::rotation::{RotationStep, successor_among, successor_unused};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// Clients and tokens in process memory: for tests, development, and single-instance servers
/// that can lose their tokens on restart. Clones share the same data.
///
/// Every state change takes one write lock, so each [`TokenStore`] operation is atomic and the
/// writes of a grant are serialized. Revoked grants are remembered (a set of grant ids) until
/// their last token is purged, so nothing is stored into them.
/// A rotated refresh token also keeps the hash of its successor (for the grace window of
/// [`TokenStore::rotate_refresh_token`]) until it is purged.
///
/// Tokens are kept compactly: records sit side by side in one array, indexed by hash and by
/// grant through open-addressing tables of 8-byte entries, and the client ids, scopes,
/// subjects and audiences they repeat are stored once and shared. A million stored tokens take
/// about 240 bytes each (`BENCHMARKS.md`).
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: RwLock<HashMap<Arc<str>, Client>>,
    tokens: RwLock<Tokens>,
}

/// A slot number in [`Tokens::slots`].
type SlotIndex = u32;

/// The end of a grant's chain.
const NONE: SlotIndex = SlotIndex::MAX;

/// One stored token: a [`TokenRecord`], and the next token of its grant.
struct Slot {
    hash: TokenHash,
    id: Id,
    grant_id: Id,
    client_id: Arc<str>,
    scope: Scope,
    subject: Option<Arc<str>>,
    audience: Arc<[String]>,
    issued_at: UnixTime,
    expires_at: UnixTime,
    not_before: Option<UnixTime>,
    revoked_at: Option<UnixTime>,
    rotated_at: Option<UnixTime>,
    kind: TokenKind,
    /// The next older token of the same grant, or [`NONE`].
    next_in_grant: SlotIndex,
}

impl Slot {
    fn record(&self) -> TokenRecord {
        TokenRecord {
            id: self.id,
            hash: self.hash,
            kind: self.kind,
            client_id: Arc::clone(&self.client_id),
            scope: self.scope.clone(),
            subject: self.subject.clone(),
            audience: Arc::clone(&self.audience),
            grant_id: self.grant_id,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            not_before: self.not_before,
            revoked_at: self.revoked_at,
            rotated_at: self.rotated_at,
        }
    }

    fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none()
            && self.rotated_at.is_none()
            && now < self.expires_at
            && self.not_before.is_none_or(|nbf| nbf <= now)
    }
}

/// Values many records repeat (client ids, scopes, subjects, audiences), each kept once.
struct Interner<T> {
    values: foldhash::HashSet<T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: foldhash::HashSet::default(),
        }
    }
}

/// What an [`Interner`] needs of a shared value.
trait Shared: Clone + Eq + Hash {
    /// Whether the interner holds the only reference.
    fn unshared(&self) -> bool;
}

impl Shared for Arc<str> {
    fn unshared(&self) -> bool {
        Arc::strong_count(self) == 1
    }
}

impl Shared for Arc<[String]> {
    fn unshared(&self) -> bool {
        Arc::strong_count(self) == 1
    }
}

impl Shared for Scope {
    fn unshared(&self) -> bool {
        self.is_unshared()
    }
}

impl<T: Shared> Interner<T> {
    /// The stored value equal to `value`, stored now if there was none.
    fn intern(&mut self, value: &T) -> T {
        if let Some(stored) = self.values.get(value) {
            return stored.clone();
        }
        self.values.insert(value.clone());
        value.clone()
    }

    /// Forgets the values no record uses any more.
    fn sweep(&mut self) {
        self.values.retain(|value| !value.unshared());
    }
}

/// An open-addressing index from 64-bit hashes to slot numbers: one array of 8-byte entries,
/// each the hash's upper half beside a slot number, probed linearly. A lookup reads one cache
/// line of the index (eight entries) and then the slot it names; a general-purpose map keeps
/// its control bytes and its values apart, which costs a second miss at a million tokens.
#[derive(Default)]
struct Index {
    /// A power of two long, or empty.
    entries: Vec<u64>,
    /// Live entries.
    len: usize,
    /// Live entries and tombstones: what probes must walk over.
    used: usize,
}

/// A never-used entry: probes stop here.
const EMPTY: u64 = 0;
/// A removed entry: probes walk over it.
const TOMBSTONE: u64 = 1;

impl Index {
    /// The tag stored with an entry: the hash's upper half, never zero, so that no live entry
    /// looks like [`EMPTY`] or [`TOMBSTONE`].
    fn tag(hash: u64) -> u64 {
        (hash >> 32 | 1) << 32
    }

    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    /// The position of the live entry for `hash` whose slot satisfies `eq`.
    fn position(&self, hash: u64, mut eq: impl FnMut(SlotIndex) -> bool) -> Option<usize> {
        let mask = self.mask();
        let tag = Self::tag(hash);
        let mut at = hash as usize & mask;
        // The table always has an empty entry (it grows at three quarters), so this ends.
        for _ in 0..self.entries.len() {
            let entry = *self.entries.get(at)?;
            if entry == EMPTY {
                return None;
            }
            if entry & !u64::from(u32::MAX) == tag && eq(entry as SlotIndex) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The slot for `hash` that satisfies `eq`.
    fn find(&self, hash: u64, eq: impl FnMut(SlotIndex) -> bool) -> Option<SlotIndex> {
        let at = self.position(hash, eq)?;
        self.entries.get(at).map(|&entry| entry as SlotIndex)
    }

    /// Adds `slot` under `hash` (not already present); `rehash` gives the hash of a stored slot
    /// when the index grows.
    fn insert(&mut self, hash: u64, slot: SlotIndex, rehash: impl Fn(SlotIndex) -> u64) {
        if (self.used + 1) * 4 > self.entries.len() * 3 {
            self.rebuild(rehash);
        }
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while let Some(&entry) = self.entries.get(at) {
            if entry == EMPTY || entry == TOMBSTONE {
                if entry == EMPTY {
                    self.used += 1;
                }
                self.entries[at] = Self::tag(hash) | u64::from(slot);
                self.len += 1;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Points the entry for `hash` at `old` to `new`.
    fn replace(&mut self, hash: u64, old: SlotIndex, new: SlotIndex) {
        if let Some(at) = self.position(hash, |slot| slot == old) {
            self.entries[at] = Self::tag(hash) | u64::from(new);
        }
    }

    /// Removes the entry for `hash` at `slot`.
    fn remove(&mut self, hash: u64, slot: SlotIndex) {
        let Some(at) = self.position(hash, |stored| stored == slot) else {
            return;
        };
        let next = self.entries.get((at + 1) & self.mask()).copied();
        // No probe walks past an entry followed by an empty one: it can become empty too.
        if next == Some(EMPTY) {
            self.entries[at] = EMPTY;
            self.used -= 1;
        } else {
            self.entries[at] = TOMBSTONE;
        }
        self.len -= 1;
    }

    /// Moves every live entry into a table at most half full, dropping tombstones.
    fn rebuild(&mut self, rehash: impl Fn(SlotIndex) -> u64) {
        let capacity = ((self.len + 1) * 2).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity]);
        self.len = 0;
        self.used = 0;
        for entry in old {
            if entry != EMPTY && entry != TOMBSTONE {
                let slot = entry as SlotIndex;
                let hash = rehash(slot);
                let mask = self.mask();
                let mut at = hash as usize & mask;
                while self.entries.get(at).is_some_and(|&e| e != EMPTY) {
                    at = (at + 1) & mask;
                }
                if let Some(free) = self.entries.get_mut(at) {
                    *free = Self::tag(hash) | u64::from(slot);
                    self.len += 1;
                    self.used += 1;
                }
            }
        }
    }
}

#[derive(Default)]
struct Tokens {
    /// The records; `None` marks a free slot, listed in `free`.
    slots: Vec<Option<Slot>>,
    free: Vec<SlotIndex>,
    /// Slot numbers by the record's token hash.
    by_hash: Index,
    /// Slot number of each grant's newest token; the others follow `next_in_grant`.
    by_grant: Index,
    hasher: foldhash::fast::RandomState,
    client_ids: Interner<Arc<str>>,
    scopes: Interner<Scope>,
    subjects: Interner<Arc<str>>,
    audiences: Interner<Arc<[String]>>,
    /// Revoked grants that still have tokens (or were revoked before they had any): no token
    /// is stored into them. A grant leaves the set when its last token is purged.
    revoked_grants: foldhash::HashSet<Id>,
    /// The successor of each rotated refresh token (the refresh token that replaced it), for
    /// the grace window (`store/rotation.rs`). An entry leaves with its token's record.
    successors: foldhash::HashMap<TokenHash, TokenHash>,
}

impl Tokens {
    fn slot(&self, index: SlotIndex) -> Option<&Slot> {
        self.slots.get(index as usize).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, index: SlotIndex) -> Option<&mut Slot> {
        self.slots.get_mut(index as usize).and_then(Option::as_mut)
    }

    fn hash_of(&self, key: &impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot number of the record whose token hash is `hash`.
    fn find(&self, hash: &TokenHash) -> Option<SlotIndex> {
        let slots = &self.slots;
        self.by_hash.find(self.hash_of(hash), |index| {
            slots
                .get(index as usize)
                .and_then(Option::as_ref)
                .is_some_and(|slot| slot.hash == *hash)
        })
    }

    fn get(&self, hash: &TokenHash) -> Option<&Slot> {
        self.find(hash).and_then(|index| self.slot(index))
    }

    fn get_mut(&mut self, hash: &TokenHash) -> Option<&mut Slot> {
        self.find(hash).and_then(|index| self.slot_mut(index))
    }

    /// The newest slot of `grant_id`.
    fn grant_head(&self, grant_id: &Id) -> Option<SlotIndex> {
        let slots = &self.slots;
        self.by_grant.find(self.hash_of(grant_id), |index| {
            slots
                .get(index as usize)
                .and_then(Option::as_ref)
                .is_some_and(|slot| slot.grant_id == *grant_id)
        })
    }

    /// Stores `record`, replacing a record with the same hash.
    fn insert(&mut self, record: &TokenRecord) -> Result<(), StoreError> {
        if let Some(index) = self.find(&record.hash) {
            self.remove(index);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => SlotIndex::try_from(self.slots.len())
                .ok()
                .filter(|&index| index != NONE)
                .ok_or_else(|| StoreError::backend("the memory store is full"))?,
        };
        let hasher = self.hasher.clone();
        let newest = self.grant_head(&record.grant_id);
        let slot = Slot {
            hash: record.hash,
            id: record.id,
            grant_id: record.grant_id,
            client_id: self.client_ids.intern(&record.client_id),
            scope: self.scopes.intern(&record.scope),
            subject: record
                .subject
                .as_ref()
                .map(|subject| self.subjects.intern(subject)),
            audience: self.audiences.intern(&record.audience),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            not_before: record.not_before,
            revoked_at: record.revoked_at,
            rotated_at: record.rotated_at,
            kind: record.kind,
            next_in_grant: newest.unwrap_or(NONE),
        };
        match self.slots.get_mut(index as usize) {
            Some(free) => *free = Some(slot),
            None => self.slots.push(Some(slot)),
        }
        let slots = &self.slots;
        let grant_hash = hasher.hash_one(record.grant_id);
        match newest {
            // The grant's newest token becomes this one.
            Some(newest) => self.by_grant.replace(grant_hash, newest, index),
            None => self.by_grant.insert(grant_hash, index, |i| {
                slot_hash(slots, i, |slot| hasher.hash_one(slot.grant_id))
            }),
        }
        self.by_hash
            .insert(hasher.hash_one(record.hash), index, |i| {
                slot_hash(slots, i, |slot| hasher.hash_one(slot.hash))
            });
        Ok(())
    }

    /// Deletes the record in slot `index`; forgets its grant's revocation with its last token.
    fn remove(&mut self, index: SlotIndex) {
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) else {
            return;
        };
        self.unlink(index, &slot);
        if slot.rotated_at.is_some() {
            self.successors.remove(&slot.hash);
        }
        if !self.revoked_grants.is_empty() && self.grant_head(&slot.grant_id).is_none() {
            self.revoked_grants.remove(&slot.grant_id);
        }
    }

    /// Removes the emptied slot `index`, which held `slot`, from the indexes.
    fn unlink(&mut self, index: SlotIndex, slot: &Slot) {
        self.by_hash.remove(self.hasher.hash_one(slot.hash), index);
        // Unlink it from its grant's chain.
        let grant_hash = self.hasher.hash_one(slot.grant_id);
        if self.by_grant.find(grant_hash, |i| i == index).is_some() {
            if slot.next_in_grant == NONE {
                self.by_grant.remove(grant_hash, index);
            } else {
                self.by_grant.replace(grant_hash, index, slot.next_in_grant);
            }
        } else {
            let mut at = self.grant_head(&slot.grant_id);
            while let Some(current) = at {
                let Some(previous) = self.slot_mut(current) else {
                    break;
                };
                if previous.next_in_grant == index {
                    previous.next_in_grant = slot.next_in_grant;
                    break;
                }
                at = Some(previous.next_in_grant).filter(|&next| next != NONE);
            }
        }
        self.free.push(index);
    }

    /// Whether a record of `records` belongs to a revoked grant.
    fn any_grant_revoked(&self, records: &[TokenRecord]) -> bool {
        !self.revoked_grants.is_empty()
            && records
                .iter()
                .any(|record| self.revoked_grants.contains(&record.grant_id))
    }

    /// Marks the grant revoked and every token of it revoked at `now`.
    fn revoke_grant(&mut self, grant_id: &Id, now: UnixTime) -> u64 {
        self.revoked_grants.insert(*grant_id);
        let mut changed = 0;
        let mut at = self.grant_head(grant_id);
        while let Some(index) = at {
            let Some(slot) = self.slot_mut(index) else {
                break;
            };
            if slot.revoked_at.is_none() {
                slot.revoked_at = Some(now);
                changed += 1;
            }
            at = Some(slot.next_in_grant).filter(|&next| next != NONE);
        }
        changed
    }

    /// Reuse detection (RFC 9700 §4.14.2): revokes the grant of the replayed `record`.
    fn revoke_for_reuse(&mut self, mut record: TokenRecord, now: UnixTime) -> Rotation {
        self.revoke_grant(&record.grant_id, now);
        record.revoked_at = record.revoked_at.or(Some(now));
        Rotation::Reused(record)
    }

    /// Revokes every grant holding a live token that `holds`, as [`Self::revoke_grant`] does:
    /// a scan of every slot, for a rare operation. Returns how many tokens changed.
    fn revoke_grants_where(&mut self, now: UnixTime, holds: impl Fn(&Slot) -> bool) -> u64 {
        let grants: foldhash::HashSet<Id> = self
            .slots
            .iter()
            .flatten()
            .filter(|slot| slot.revoked_at.is_none() && holds(slot))
            .map(|slot| slot.grant_id)
            .collect();
        grants
            .iter()
            .map(|grant_id| self.revoke_grant(grant_id, now))
            .sum()
    }

    fn len(&self) -> usize {
        self.by_hash.len
    }
}

/// The table hash of slot `index`, by `hash`, for a table that grows.
fn slot_hash(slots: &[Option<Slot>], index: SlotIndex, hash: impl Fn(&Slot) -> u64) -> u64 {
    slots
        .get(index as usize)
        .and_then(Option::as_ref)
        .map_or(0, hash)
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
        read(&self.inner.tokens).len()
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

    async fn insert_client(&self, client: &Client) -> Result<bool, StoreError> {
        let mut clients = write(&self.inner.clients);
        if clients.contains_key(client.client_id()) {
            return Ok(false);
        }
        clients.insert(client.client_id_arc().clone(), client.clone());
        Ok(true)
    }

    /// Sorts the ids after `after` on every call: a page costs O(n log n) in the number of
    /// clients, which is fine for an administrator's listing.
    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, StoreError> {
        let clients = read(&self.inner.clients);
        let after = after.unwrap_or("");
        let mut page: Vec<&Client> = clients
            .values()
            .filter(|client| client.client_id() > after)
            .collect();
        page.sort_unstable_by(|a, b| a.client_id().cmp(b.client_id()));
        Ok(page.into_iter().take(limit).cloned().collect())
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        // The tokens' lock is taken while the clients' is held, so no token request sees the
        // client gone and its tokens still active.
        let mut clients = write(&self.inner.clients);
        let existed = clients.remove(client_id).is_some();
        write(&self.inner.tokens).revoke_grants_where(now, |slot| &*slot.client_id == client_id);
        drop(clients);
        Ok(existed)
    }
}

impl TokenStore for MemoryStore {
    async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        Ok(
            write(&self.inner.tokens)
                .revoke_grants_where(now, |slot| &*slot.client_id == client_id),
        )
    }

    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        Ok(write(&self.inner.tokens)
            .revoke_grants_where(now, |slot| slot.subject.as_deref() == Some(subject)))
    }

    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        let mut tokens = write(&self.inner.tokens);
        if tokens.any_grant_revoked(records) {
            return Err(StoreError::GrantRevoked);
        }
        // Nothing is stored unless everything fits.
        let needed = records.len().saturating_sub(tokens.free.len());
        if tokens.slots.len().saturating_add(needed) >= NONE as usize {
            return Err(StoreError::backend("the memory store is full"));
        }
        for record in records {
            tokens.insert(record)?;
        }
        Ok(())
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(read(&self.inner.tokens).get(hash).map(Slot::record))
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        Ok(match tokens.get_mut(hash) {
            Some(slot) => {
                slot.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        })
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        Ok(write(&self.inner.tokens).revoke_grant(grant_id, now))
    }

    // The steps of `sql::rotate`, under the one write lock: the same `RotationStep` decisions
    // on the same facts.
    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        let Some(slot) = tokens.get(hash) else {
            return Ok(Rotation::Invalid);
        };
        // The grants the SQL stores lock: the token's and the replacements'.
        let revoked = tokens.revoked_grants.contains(&slot.grant_id)
            || tokens.any_grant_revoked(replacements);
        let active = slot.kind == TokenKind::Refresh && slot.is_active(now);
        // Nothing changes unless everything fits.
        let needed = replacements.len().saturating_sub(tokens.free.len());
        if tokens.slots.len().saturating_add(needed) >= NONE as usize {
            return Err(StoreError::backend("the memory store is full"));
        }
        let successor = successor_among(replacements);
        // The conditional update of `ROTATE`.
        let won = !revoked && active;
        if won {
            if let Some(slot) = tokens.get_mut(hash) {
                slot.rotated_at = Some(now);
            }
            if let Some(successor) = successor {
                tokens.successors.insert(*hash, *successor);
            }
        }
        let record = tokens.get(hash).map(Slot::record);
        Ok(
            match RotationStep::decide(won, revoked, record, now, grace, successor) {
                RotationStep::StoreReplacements(record) => {
                    for replacement in replacements {
                        tokens.insert(replacement)?;
                    }
                    Rotation::Rotated(record)
                }
                RotationStep::ReplaceSuccessor(presented) => {
                    let current = tokens
                        .successors
                        .get(hash)
                        .and_then(|current| tokens.get(current))
                        .map(Slot::record);
                    match (current, successor) {
                        (Some(mut current), Some(successor))
                            if successor_unused(&presented, Some(&current), now) =>
                        {
                            if let Some(slot) = tokens.get_mut(&current.hash) {
                                slot.revoked_at = Some(now);
                            }
                            tokens.successors.insert(*hash, *successor);
                            for replacement in replacements {
                                tokens.insert(replacement)?;
                            }
                            current.revoked_at = Some(now);
                            Rotation::Reissued {
                                presented,
                                superseded: current,
                            }
                        }
                        _ => tokens.revoke_for_reuse(presented, now),
                    }
                }
                RotationStep::RevokeGrant(record) => tokens.revoke_for_reuse(record, now),
                RotationStep::Done(outcome) => outcome,
            },
        )
    }

    /// Scans the slots 4,096 at a time under the read lock, removes what a chunk
    /// holds that expired under the write lock (checking each again: its slot may have been
    /// reused meanwhile), and lets other tasks run between chunks: no lock is held for longer
    /// than one chunk, however large the store.
    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let expired = |slot: &Option<Slot>| slot.as_ref().is_some_and(|s| s.expires_at < before);
        let (mut purged, mut start): (usize, usize) = (0, 0);
        while purged < limit {
            let (found, end, slots) = {
                let tokens = read(&self.inner.tokens);
                let end = start.saturating_add(PURGE_CHUNK).min(tokens.slots.len());
                let found: Vec<SlotIndex> = (start..end)
                    .filter(|&index| tokens.slots.get(index).is_some_and(expired))
                    .take(limit - purged)
                    .filter_map(|index| SlotIndex::try_from(index).ok())
                    .collect();
                (found, end, tokens.slots.len())
            };
            if !found.is_empty() {
                let mut tokens = write(&self.inner.tokens);
                for index in found {
                    if tokens.slots.get(index as usize).is_some_and(expired) {
                        tokens.remove(index);
                        purged += 1;
                    }
                }
            }
            if end >= slots {
                break;
            }
            start = end;
            YieldNow(false).await;
        }
        if purged > 0 {
            let mut tokens = write(&self.inner.tokens);
            tokens.client_ids.sweep();
            tokens.scopes.sweep();
            tokens.subjects.sweep();
            tokens.audiences.sweep();
        }
        Ok(purged as u64)
    }
}

/// Slots [`MemoryStore::purge_expired`] scans per hold of a lock. Scanning all 2,000,000 slots
/// of a store under its write lock took 134 ms (BENCHMARKS.md, "Noticed, not changed"), a
/// stall of every request once a minute; a chunk is about 0.3 ms of that.
const PURGE_CHUNK: usize = 4096;

/// Lets the executor run other tasks once (returns `Pending` once, having woken itself), on
/// any runtime.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(token: u8, grant: u8, expires_at: UnixTime) -> TokenRecord {
        TokenRecord {
            id: Id::from_bytes([token; 16]),
            hash: TokenHash::from_bytes([token; 32]),
            kind: TokenKind::Access,
            client_id: Arc::from("c"),
            scope: "read".parse().unwrap(),
            subject: Some(Arc::from("s")),
            audience: Arc::from([]),
            grant_id: Id::from_bytes([grant; 16]),
            issued_at: 0,
            expires_at,
            not_before: None,
            revoked_at: None,
            rotated_at: None,
        }
    }

    #[tokio::test]
    async fn a_purge_of_a_large_store_lets_writes_in_between_its_chunks() {
        use std::future::Future as _;
        let store = MemoryStore::new();
        let records: Vec<TokenRecord> = (0..3 * PURGE_CHUNK)
            .map(|n| {
                let mut record = record(0, 0, 10);
                record.hash = TokenHash::from_bytes(distinct(n));
                record.grant_id = Id::from_bytes(distinct(n)[..16].try_into().unwrap());
                record
            })
            .collect();
        store.insert_tokens(&records).await.unwrap();
        let mut purge = std::pin::pin!(store.purge_expired(100, u64::MAX));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // The first chunk is purged, then the purge lets others run: no lock is held, so a
        // write goes through before the purge goes on.
        assert!(purge.as_mut().poll(&mut cx).is_pending());
        let fresh = record(1, 1, 1_000);
        store
            .insert_tokens(std::slice::from_ref(&fresh))
            .await
            .unwrap();
        let purged = loop {
            if let std::task::Poll::Ready(purged) = purge.as_mut().poll(&mut cx) {
                break purged.unwrap();
            }
        };
        assert_eq!(purged, 3 * PURGE_CHUNK as u64);
        assert!(store.find_token(&fresh.hash, None).await.unwrap().is_some());
        assert!(
            store
                .find_token(&records[0].hash, None)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// A 32-byte value of its own for each `n`.
    fn distinct(n: usize) -> [u8; 32] {
        let mut bytes = [7u8; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        bytes
    }

    #[tokio::test]
    async fn grants_survive_purges_from_any_place_in_their_chain_and_slot_reuse() {
        let store = MemoryStore::new();
        // Grant 1: oldest, middle and newest tokens; the middle one expires first.
        store
            .insert_tokens(&[record(1, 1, 30), record(2, 1, 10), record(3, 1, 30)])
            .await
            .unwrap();
        store.insert_tokens(&[record(4, 2, 10)]).await.unwrap();
        assert_eq!(store.purge_expired(15, 10).await.unwrap(), 2);
        assert_eq!(store.token_count(), 2);
        assert!(
            store
                .find_token(&record(2, 1, 0).hash, None)
                .await
                .unwrap()
                .is_none()
        );
        // A new token of grant 1 reuses a freed slot and joins the chain.
        store.insert_tokens(&[record(5, 1, 30)]).await.unwrap();
        assert_eq!(
            store
                .revoke_grant(&Id::from_bytes([1; 16]), 7)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            store
                .revoke_grant(&Id::from_bytes([2; 16]), 7)
                .await
                .unwrap(),
            0
        );
        let found = store.find_token(&record(5, 1, 0).hash, None).await.unwrap();
        assert_eq!(found.map(|r| r.revoked_at), Some(Some(7)));
        // The oldest token goes first, then the rest, the chain's head included.
        assert_eq!(store.purge_expired(100, 1).await.unwrap(), 1);
        assert_eq!(store.token_count(), 2);
        assert_eq!(store.purge_expired(100, 10).await.unwrap(), 2);
        assert_eq!(store.token_count(), 0);
        // Nothing refers to the shared strings any more: they are forgotten.
        let tokens = read(&store.inner.tokens);
        assert_eq!(tokens.client_ids.values.len(), 0);
        assert_eq!(tokens.scopes.values.len(), 0);
        assert_eq!(tokens.subjects.values.len(), 0);
    }

    #[test]
    fn the_index_finds_what_it_holds_through_growth_and_removals() {
        let mut index = Index::default();
        // Hashes that collide in their low bits, to make long probe runs.
        let hash = |slot: SlotIndex| u64::from(slot) << 40 | u64::from(slot % 3);
        for slot in 0..1000 {
            index.insert(hash(slot), slot, hash);
        }
        assert_eq!(index.len, 1000);
        for slot in (0..1000).step_by(2) {
            index.remove(hash(slot), slot);
        }
        assert_eq!(index.len, 500);
        for slot in 0..1000 {
            let found = index.find(hash(slot), |s| s == slot);
            assert_eq!(found, (slot % 2 == 1).then_some(slot), "slot {slot}");
        }
        index.replace(hash(1), 1, 5000);
        assert_eq!(index.find(hash(1), |s| s == 5000), Some(5000));
        assert_eq!(index.find(hash(1), |s| s == 1), None);
        // Reusing removed entries keeps the table from filling with tombstones.
        for round in 0..20 {
            for slot in 2000..2400 {
                index.insert(hash(slot), slot, |s| hash(if s == 5000 { 1 } else { s }));
            }
            for slot in 2000..2400 {
                index.remove(hash(slot), slot);
            }
            assert_eq!(index.len, 500, "round {round}");
            assert!(index.entries.len() <= 4096);
        }
        assert_eq!(index.find(hash(999), |s| s == 999), Some(999));
    }

    #[tokio::test]
    async fn a_record_with_a_known_hash_replaces_the_old_one() {
        let store = MemoryStore::new();
        store.insert_tokens(&[record(1, 1, 30)]).await.unwrap();
        store.insert_tokens(&[record(1, 2, 40)]).await.unwrap();
        assert_eq!(store.token_count(), 1);
        let found = store.find_token(&record(1, 0, 0).hash, None).await.unwrap();
        assert_eq!(found, Some(record(1, 2, 40)));
        assert_eq!(
            store
                .revoke_grant(&Id::from_bytes([1; 16]), 7)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .revoke_grant(&Id::from_bytes([2; 16]), 7)
                .await
                .unwrap(),
            1
        );
    }
}

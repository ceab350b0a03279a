//! [`MemoryStore`]: clients and tokens in memory, safe under concurrency.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::secret::{Id, TokenHash};
use crate::store::rotation::{RotationStep, successor_among, successor_unused};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{Delegation, Jkt, TokenKind, TokenRecord};
use crate::yield_now::yield_now;

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
/// grant through `hashbrown::HashTable<u32>`s of slot numbers, and the client ids, scopes,
/// subjects, audiences and key thumbprints they repeat are stored once and shared. A million
/// stored tokens take about 240 bytes each, the expiry heap included (`BENCHMARKS.md`); the
/// binding of a token bound to a key (DPoP) sits in a side table, so bearer tokens pay nothing
/// for it.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: RwLock<HashMap<Arc<str>, Client>>,
    tokens: RwLock<Tokens>,
    authorizations: super::memory_authorizations::MemoryAuthorizations,
}

/// A slot number in [`Tokens::slots`].
type SlotIndex = u32;

/// An entry of the expiry heap: the expiry in the high 32 bits, the slot in the low ones, so
/// entries order by expiry and take 8 bytes. A `(UnixTime, SlotIndex)` pair takes 16: 247.4
/// bytes of resident memory per token at 1,000,000 tokens against 239.4 with this entry
/// (`cargo bench -p oauth-endpoints-bench --bench scale`, one after the other).
/// Expiries past `u32::MAX` (the year 2106) are kept as `u32::MAX`: such a record is purged no
/// earlier than it should be, since a purge checks the slot's own expiry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ExpiryEntry(u64);

impl ExpiryEntry {
    fn new(expires_at: UnixTime, slot: SlotIndex) -> Self {
        Self((expires_at.min(u64::from(u32::MAX)) << 32) | u64::from(slot))
    }

    fn expires_at(self) -> UnixTime {
        self.0 >> 32
    }

    fn slot(self) -> SlotIndex {
        // The low 32 bits, a slot number by construction.
        (self.0 & u64::from(u32::MAX)) as SlotIndex
    }
}

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
    /// Whether the token is bound to a key: its thumbprint is in [`Tokens::confirmations`].
    /// A flag in the slot's padding (the slot stays 200 bytes), so finding a bearer token
    /// makes no second lookup.
    bound: bool,
    /// Whether the token records a delegation (RFC 8693 §4.1, §4.4): it is in
    /// [`Tokens::delegations`]. In the padding too.
    delegated: bool,
    /// The next older token of the same grant, or [`NONE`].
    next_in_grant: SlotIndex,
}

impl Slot {
    /// The record, with `confirmation` the token's binding (from [`Tokens::confirmations`])
    /// and `delegation` its delegation (from [`Tokens::delegations`]).
    fn record(
        &self,
        confirmation: Option<Jkt>,
        delegation: Option<Arc<Delegation>>,
    ) -> TokenRecord {
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
            confirmation,
            delegation,
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
///
/// A value is forgotten when the last record holding it is removed ([`Interner::release`]).
/// One that a record handed out still held at that moment is left behind; a full sweep forgets
/// those once the set has doubled since the last one ([`Interner::sweep_if_grown`]), so a
/// purge does not scan every value under the write lock.
struct Interner<T> {
    values: foldhash::HashSet<T>,
    /// How many values the last full sweep left.
    swept: usize,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: foldhash::HashSet::default(),
            swept: 0,
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

impl Shared for Arc<Jkt> {
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

    /// The stored value equal to `key`, stored now (made by `make`) if there was none: no value
    /// is made for a key already stored.
    fn intern_by<Q>(&mut self, key: &Q, make: impl FnOnce() -> T) -> T
    where
        T: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(stored) = self.values.get(key) {
            return stored.clone();
        }
        let value = make();
        self.values.insert(value.clone());
        value
    }

    /// Drops a removed record's `value`, forgetting the stored one if nothing else holds it.
    fn release(&mut self, value: T) {
        if let Some(stored) = self.values.take(&value) {
            drop(value);
            if !stored.unshared() {
                self.values.insert(stored);
            }
        }
    }

    /// Forgets every value no record uses any more, when the set has doubled since the last
    /// time (and holds over 1,024 values): amortized, a constant per value stored.
    fn sweep_if_grown(&mut self) {
        if self.values.len() > self.swept.max(512) * 2 {
            self.values.retain(|value| !value.unshared());
            self.swept = self.values.len();
        }
    }
}

/// Slot numbers by a 64-bit hash of what the slot holds (its token hash, or its grant id):
/// `hashbrown::HashTable<u32>` over the slot array, the slot compared on a hit.
///
/// This was once an open-addressing table of 8-byte entries written for the store
/// (the hash's upper half beside the slot number, probed linearly). Against this one, in one
/// run (`cargo bench -p oauth-endpoints-bench --bench store_index`, load average 5.6 on 2
/// cores; BENCHMARKS.md, "Hand-written structures"), at 1,000,000 entries it was no faster on a
/// hit (214 ns against 212), slower to insert (460 against 418) and to churn (675 against 619),
/// faster on a miss (64 against 78), and took 16.8 bytes an entry against 10.5: it went.
#[derive(Default)]
struct Index(hashbrown::HashTable<SlotIndex>);

impl Index {
    /// The slot for `hash` that satisfies `eq`.
    fn find(&self, hash: u64, mut eq: impl FnMut(SlotIndex) -> bool) -> Option<SlotIndex> {
        self.0.find(hash, |&slot| eq(slot)).copied()
    }

    /// Adds `slot` under `hash` (not already present); `rehash` gives the hash of a stored slot
    /// when the index grows.
    fn insert(&mut self, hash: u64, slot: SlotIndex, rehash: impl Fn(SlotIndex) -> u64) {
        self.0.insert_unique(hash, slot, |&stored| rehash(stored));
    }

    /// Points the entry for `hash` at `old` to `new`.
    fn replace(&mut self, hash: u64, old: SlotIndex, new: SlotIndex) {
        if let Some(entry) = self.0.find_mut(hash, |&slot| slot == old) {
            *entry = new;
        }
    }

    /// Removes the entry for `hash` at `slot`.
    fn remove(&mut self, hash: u64, slot: SlotIndex) {
        if let Ok(entry) = self.0.find_entry(hash, |&stored| stored == slot) {
            entry.remove();
        }
    }

    fn len(&self) -> usize {
        self.0.len()
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
    /// The key each bound token is bound to (DPoP, RFC 9449 §6), by slot number: only the
    /// slots whose `bound` is set have an entry. Bound tokens are few where DPoP is rare, and
    /// share their key's thumbprint with every token bound to it (16 bytes an entry, the
    /// thumbprint stored once per key) where it is common; a field of every slot would cost
    /// every bearer token 8 bytes.
    confirmations: foldhash::HashMap<SlotIndex, Arc<Jkt>>,
    jkts: Interner<Arc<Jkt>>,
    /// The delegation each delegated token records (token exchange, RFC 8693), by slot number,
    /// as [`Tokens::confirmations`]: only the slots whose `delegated` is set have an entry.
    delegations: foldhash::HashMap<SlotIndex, Arc<Delegation>>,
    /// Revoked grants that still have tokens (or were revoked before they had any): no token
    /// is stored into them. A grant leaves the set when its last token is purged.
    revoked_grants: foldhash::HashSet<Id>,
    /// The successor of each rotated refresh token (the refresh token that replaced it), for
    /// the grace window (`store/rotation.rs`). An entry leaves with its token's record.
    successors: foldhash::HashMap<TokenHash, TokenHash>,
    /// Every stored record's expiry and slot, soonest first ([`ExpiryEntry`]): what a purge
    /// takes, without scanning the slots. An entry outlives its record when a record with the
    /// same hash replaces it; a purge checks each entry against its slot and drops the stale
    /// ones.
    expiry: BinaryHeap<Reverse<ExpiryEntry>>,
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

    /// The record of the token whose hash is `hash`.
    fn record(&self, hash: &TokenHash) -> Option<TokenRecord> {
        let index = self.find(hash)?;
        let slot = self.slot(index)?;
        let confirmation = if slot.bound {
            self.confirmations.get(&index).map(|jkt| **jkt)
        } else {
            None
        };
        let delegation = if slot.delegated {
            self.delegations.get(&index).cloned()
        } else {
            None
        };
        Some(slot.record(confirmation, delegation))
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
            bound: record.confirmation.is_some(),
            delegated: record.delegation.is_some(),
            next_in_grant: newest.unwrap_or(NONE),
        };
        if let Some(jkt) = &record.confirmation {
            let shared = self.jkts.intern_by(jkt, || Arc::new(*jkt));
            // A freed slot's entry left with its record (`remove`): there is none to replace.
            if let Some(stale) = self.confirmations.insert(index, shared) {
                self.jkts.release(stale);
            }
        }
        if let Some(delegation) = &record.delegation {
            self.delegations.insert(index, Arc::clone(delegation));
        }
        match self.slots.get_mut(index as usize) {
            Some(free) => *free = Some(slot),
            None => self.slots.push(Some(slot)),
        }
        self.expiry
            .push(Reverse(ExpiryEntry::new(record.expires_at, index)));
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
        self.client_ids.release(slot.client_id);
        self.scopes.release(slot.scope);
        if let Some(subject) = slot.subject {
            self.subjects.release(subject);
        }
        self.audiences.release(slot.audience);
        if slot.bound
            && let Some(jkt) = self.confirmations.remove(&index)
        {
            self.jkts.release(jkt);
        }
        if slot.delegated {
            self.delegations.remove(&index);
        }
    }

    /// Removes up to `limit` records that expired before `before`, soonest first, taking at
    /// most `PURGE_CHUNK` entries of [`Tokens::expiry`]. Returns how many it removed and
    /// whether expired entries may remain.
    fn purge_chunk(&mut self, before: UnixTime, limit: usize) -> (usize, bool) {
        let mut purged = 0;
        for _ in 0..PURGE_CHUNK {
            if purged == limit {
                return (purged, true);
            }
            let Some(&Reverse(entry)) = self.expiry.peek() else {
                return (purged, false);
            };
            let (expires_at, index) = (entry.expires_at(), entry.slot());
            if expires_at >= before {
                return (purged, false);
            }
            self.expiry.pop();
            // The slot may have been emptied, or reused by a later record, since its entry was
            // pushed: only a record that did expire is removed.
            if self
                .slot(index)
                .is_some_and(|slot| slot.expires_at < before)
            {
                self.remove(index);
                purged += 1;
            }
        }
        (purged, true)
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
        self.by_hash.len()
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
    /// The authorization codes and pushed requests.
    pub(super) fn authorizations(&self) -> &super::memory_authorizations::MemoryAuthorizations {
        &self.inner.authorizations
    }

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
        Ok(read(&self.inner.tokens).record(hash))
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
        let record = tokens.record(hash);
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
                        .and_then(|current| tokens.record(current));
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

    /// Takes the records that expired soonest from an expiry-ordered heap, under the write
    /// lock, at most `PURGE_CHUNK` heap entries per hold of it, and lets other tasks run between
    /// chunks: the work is bounded by the batch, not by the store's size, and no slot is scanned.
    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut purged = 0;
        loop {
            let more = {
                let mut tokens = write(&self.inner.tokens);
                let (removed, more) = tokens.purge_chunk(before, limit - purged);
                purged += removed;
                if !more || purged == limit {
                    tokens.client_ids.sweep_if_grown();
                    tokens.scopes.sweep_if_grown();
                    tokens.subjects.sweep_if_grown();
                    tokens.audiences.sweep_if_grown();
                    tokens.jkts.sweep_if_grown();
                }
                more
            };
            if !more || purged == limit {
                break;
            }
            yield_now().await;
        }
        Ok(purged as u64)
    }
}

/// Expiry entries [`MemoryStore::purge_expired`] takes per hold of the write lock. Scanning all
/// 2,000,000 slots of a store under its write lock took 134 ms (BENCHMARKS.md, "Noticed, not
/// changed"), a stall of every request once a minute; a purge now takes the expired records
/// from a heap instead, a chunk at a time.
const PURGE_CHUNK: usize = 4096;

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
            confirmation: None,
            delegation: None,
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
        assert_eq!(index.len(), 1000);
        for slot in (0..1000).step_by(2) {
            index.remove(hash(slot), slot);
        }
        assert_eq!(index.len(), 500);
        for slot in 0..1000 {
            let found = index.find(hash(slot), |s| s == slot);
            assert_eq!(found, (slot % 2 == 1).then_some(slot), "slot {slot}");
        }
        index.replace(hash(1), 1, 5000);
        assert_eq!(index.find(hash(1), |s| s == 5000), Some(5000));
        assert_eq!(index.find(hash(1), |s| s == 1), None);
        assert_eq!(index.find(hash(999), |s| s == 999), Some(999));
    }

    #[tokio::test]
    async fn a_purge_takes_the_soonest_expired_first_and_skips_replaced_records() {
        let store = MemoryStore::new();
        store
            .insert_tokens(&[record(1, 1, 30), record(2, 2, 10), record(3, 3, 20)])
            .await
            .unwrap();
        // Token 2 is stored again with a later expiry: its first expiry entry is stale.
        store.insert_tokens(&[record(2, 2, 50)]).await.unwrap();
        assert_eq!(store.purge_expired(40, 1).await.unwrap(), 1);
        assert!(
            store
                .find_token(&record(3, 0, 0).hash, None)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.purge_expired(40, 10).await.unwrap(), 1);
        assert_eq!(store.token_count(), 1);
        assert_eq!(store.purge_expired(100, 10).await.unwrap(), 1);
        assert_eq!(store.token_count(), 0);
        assert!(read(&store.inner.tokens).expiry.is_empty());
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

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_slot_pays_nothing_for_the_binding() {
        // 200 bytes before tokens could be bound; `bound` sits in the padding.
        assert_eq!(size_of::<Option<Slot>>(), 200);
    }

    #[tokio::test]
    async fn bound_tokens_share_their_key_and_forget_it_with_their_last_token() {
        let store = MemoryStore::new();
        let (one, two) = (Jkt::from_bytes([1; 32]), Jkt::from_bytes([2; 32]));
        let bound = |token, grant, expires_at, jkt| TokenRecord {
            confirmation: Some(jkt),
            delegation: None,
            ..record(token, grant, expires_at)
        };
        store
            .insert_tokens(&[
                bound(1, 1, 10, one),
                bound(2, 1, 30, one),
                bound(3, 2, 30, two),
                record(4, 2, 30),
            ])
            .await
            .unwrap();
        for (token, expected) in [(1, Some(one)), (2, Some(one)), (3, Some(two)), (4, None)] {
            let found = store.find_token(&record(token, 0, 0).hash, None).await;
            assert_eq!(found.unwrap().unwrap().confirmation, expected, "{token}");
        }
        {
            let tokens = read(&store.inner.tokens);
            assert_eq!(tokens.confirmations.len(), 3);
            assert_eq!(tokens.jkts.values.len(), 2, "one thumbprint per key");
        }
        // A bound record replaced by a bearer one with the same hash loses its binding; its
        // slot, freed and reused by a bearer token, has none either.
        store.insert_tokens(&[record(3, 2, 30)]).await.unwrap();
        assert_eq!(store.purge_expired(20, 10).await.unwrap(), 1);
        store.insert_tokens(&[record(5, 3, 30)]).await.unwrap();
        for token in [3, 5] {
            let found = store.find_token(&record(token, 0, 0).hash, None).await;
            assert_eq!(found.unwrap().unwrap().confirmation, None, "{token}");
        }
        {
            let tokens = read(&store.inner.tokens);
            assert_eq!(tokens.confirmations.len(), 1);
            assert_eq!(tokens.jkts.values.len(), 1, "key two is forgotten");
        }
        // Rotation stores the replacements with their binding.
        let refresh = TokenRecord {
            kind: TokenKind::Refresh,
            ..bound(6, 4, 30, two)
        };
        store
            .insert_tokens(std::slice::from_ref(&refresh))
            .await
            .unwrap();
        let next = TokenRecord {
            kind: TokenKind::Refresh,
            ..bound(7, 4, 30, two)
        };
        let rotated = store
            .rotate_refresh_token(
                &refresh.hash,
                5,
                std::slice::from_ref(&next),
                Duration::ZERO,
            )
            .await
            .unwrap();
        let Rotation::Rotated(rotated) = rotated else {
            panic!("{rotated:?}");
        };
        assert_eq!(rotated.confirmation, Some(two));
        let found = store.find_token(&next.hash, None).await.unwrap();
        assert_eq!(found, Some(next));
        assert_eq!(store.purge_expired(100, 10).await.unwrap(), 6);
        let tokens = read(&store.inner.tokens);
        assert!(tokens.confirmations.is_empty());
        assert_eq!(tokens.jkts.values.len(), 0);
    }
}

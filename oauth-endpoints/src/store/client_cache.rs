//! [`ClientCache`]: clients read once, kept briefly, dropped when they change.
//!
//! Every request authenticates its client, so without a cache every introspection costs two
//! database round trips (client, token). With it, a known client costs none.
//!
//! How stale an entry can be is bounded, and the bound is stated:
//!
//! - A change made through this server's [`Clients`](crate::store::Clients) (save, update, rotation,
//!   delete) drops the entry at once.
//! - A change made elsewhere (another instance, a script on the database) reaches this cache
//!   through the store's change feed when it has one ([`ClientStore::watch_clients`]:
//!   `PgStore` relays PostgreSQL `NOTIFY`), within the feed's latency; entries then live up to
//!   [`ClientCacheOptions::ttl_with_feed`] as a safety net.
//! - Without a feed, or while the feed is down, entries live at most
//!   [`ClientCacheOptions::ttl`] (and every entry is dropped when the feed goes down or comes
//!   back, since changes may have been missed).
//!
//! A read that started before a change and finishes after it could put the old client back:
//! each drop bumps a generation, and a read stores its result only if no drop happened while
//! it ran.
//!
//! [`ClientStore::watch_clients`]: crate::store::ClientStore::watch_clients

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::client::Client;

/// How long clients are cached, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCacheOptions {
    /// The longest an entry lives when the store has no change feed, or its feed is down:
    /// the bound on how late another instance's change is seen. Default 5 s.
    pub ttl: Duration,
    /// The longest an entry lives while the store's change feed is up (changes arrive through
    /// the feed; this is a safety net). Default 5 min.
    pub ttl_with_feed: Duration,
    /// The most clients kept (least recently and frequently used go first). Unknown ids are
    /// cached too, so that guessing ids costs the store nothing; this bounds their memory.
    /// Default 10,000.
    pub max_clients: u64,
}

impl Default for ClientCacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            ttl_with_feed: Duration::from_secs(300),
            max_clients: 10_000,
        }
    }
}

/// The cache in front of a client store (see the module docs for its bounds).
pub(crate) struct ClientCache {
    entries: Cache<Arc<str>, Option<Client>>,
    state: Arc<FeedState>,
}

/// What the change feed and the cache's expiry share.
struct FeedState {
    options: ClientCacheOptions,
    /// Whether the store's change feed is up.
    feed_up: AtomicBool,
    /// Bumped by every drop: a read that saw another generation at its start stores nothing.
    generation: AtomicU64,
}

/// Each entry's lifetime, decided when it is stored: the short TTL unless the feed is up.
struct Lifetime(Arc<FeedState>);

impl Lifetime {
    fn ttl(&self) -> Duration {
        if self.0.feed_up.load(Ordering::Acquire) {
            self.0.options.ttl_with_feed
        } else {
            self.0.options.ttl
        }
    }
}

impl Expiry<Arc<str>, Option<Client>> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        _value: &Option<Client>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.ttl())
    }

    /// A replaced entry is a new answer: it gets the lifetime of now, not the old one's rest.
    fn expire_after_update(
        &self,
        _key: &Arc<str>,
        _value: &Option<Client>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.ttl())
    }
}

impl ClientCache {
    pub(crate) fn new(options: ClientCacheOptions) -> Self {
        let state = Arc::new(FeedState {
            options,
            feed_up: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        });
        Self {
            entries: Cache::builder()
                .max_capacity(options.max_clients)
                .expire_after(Lifetime(Arc::clone(&state)))
                .build(),
            state,
        }
    }

    /// The cached answer for `client_id`, if any (`Some(None)`: known to be unknown).
    pub(crate) fn get(&self, client_id: &str) -> Option<Option<Client>> {
        self.entries.get(client_id)
    }

    /// The generation to hand back to [`Self::put`] after reading the store.
    pub(crate) fn generation(&self) -> u64 {
        self.state.generation.load(Ordering::Acquire)
    }

    /// Stores what the store answered, unless something was dropped since `generation`.
    pub(crate) fn put(&self, client_id: &str, client: Option<Client>, generation: u64) {
        if self.generation() == generation {
            self.entries.insert(Arc::from(client_id), client);
            // A drop that raced the insert wins: drop again.
            if self.generation() != generation {
                self.entries.invalidate(client_id);
            }
        }
    }

    /// Drops one client (it changed).
    pub(crate) fn drop_client(&self, client_id: &str) {
        self.state.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(client_id);
    }

    /// Drops every client.
    pub(crate) fn drop_all(&self) {
        self.state.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// A handle for the store's change feed.
    pub(crate) fn watcher(self: &Arc<Self>) -> ClientWatcher {
        ClientWatcher {
            cache: Arc::downgrade(self),
        }
    }
}

/// Where a store with a change feed reports changes made outside this server (another
/// instance, a script), so the client cache in front of it drops them. Given to
/// [`ClientStore::watch_clients`](crate::store::ClientStore::watch_clients); cheap to clone. Once the
/// server is gone, [`is_closed`](Self::is_closed) turns true: stop the feed then.
#[derive(Clone)]
pub struct ClientWatcher {
    cache: std::sync::Weak<ClientCache>,
}

impl ClientWatcher {
    /// The client `client_id` changed (saved, updated, deleted): drop it.
    pub fn changed(&self, client_id: &str) {
        if let Some(cache) = self.cache.upgrade() {
            cache.drop_client(client_id);
        }
    }

    /// The feed is up (again): changes from now on arrive through it. Drops every client,
    /// since changes made while it was down were missed.
    pub fn up(&self) {
        if let Some(cache) = self.cache.upgrade() {
            cache.state.feed_up.store(true, Ordering::Release);
            cache.drop_all();
        }
    }

    /// The feed is down: until [`up`](Self::up), entries live at most the short TTL. Drops
    /// every client, which could otherwise live the long one.
    pub fn down(&self) {
        if let Some(cache) = self.cache.upgrade() {
            cache.state.feed_up.store(false, Ordering::Release);
            cache.drop_all();
        }
    }

    /// Whether the server this watcher served is gone.
    pub fn is_closed(&self) -> bool {
        self.cache.strong_count() == 0
    }
}

impl std::fmt::Debug for ClientWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientWatcher")
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str) -> Client {
        Client::public(id)
            .build()
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_read_that_raced_a_drop_is_not_stored() {
        let cache = ClientCache::new(ClientCacheOptions::default());
        let generation = cache.generation();
        cache.drop_client("a"); // a change lands while the read runs
        cache.put("a", Some(client("a")), generation);
        assert!(cache.get("a").is_none());
        let generation = cache.generation();
        cache.put("a", Some(client("a")), generation);
        assert_eq!(cache.get("a"), Some(Some(client("a"))));
    }

    #[test]
    fn the_feed_switches_the_lifetime_and_drops_everything() {
        let cache = Arc::new(ClientCache::new(ClientCacheOptions {
            ttl: Duration::from_millis(50),
            ttl_with_feed: Duration::from_secs(60),
            max_clients: 10,
        }));
        let watcher = cache.watcher();
        watcher.up();
        cache.put("a", Some(client("a")), cache.generation());
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            cache.get("a").is_some(),
            "the long lifetime applies while the feed is up"
        );
        watcher.changed("a");
        assert!(cache.get("a").is_none());
        cache.put("a", Some(client("a")), cache.generation());
        watcher.down();
        assert!(
            cache.get("a").is_none(),
            "the feed going down drops everything"
        );
        cache.put("a", None, cache.generation());
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            cache.get("a").is_none(),
            "the short lifetime applies while it is down"
        );
        drop(cache);
        assert!(watcher.is_closed());
    }
}

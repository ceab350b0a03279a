//! [`ClientStore`]: where clients are kept.

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use crate::boxed::BoxFuture;
use crate::client::{Client, ClientBuilder, InvalidClient, PreviousSecret};
use crate::clock::UnixTime;
use crate::secret::generate_secret;
use crate::store::StoreError;
use crate::store::client_cache::{ClientCache, ClientCacheOptions, ClientWatcher};

/// Loads and saves clients. Implement it on your database, or use
/// [`MemoryStore`](crate::store::MemoryStore). Write the methods as plain `async fn`s.
pub trait ClientStore: Send + Sync + 'static {
    /// The client with this `client_id`, if any.
    fn find_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;

    /// Inserts or replaces a client (keyed by `client_id`).
    fn save_client(&self, client: &Client) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a client and revokes, at `now`, every token issued to it, in one atomic
    /// operation: a deleted client's tokens never introspect active. Returns whether the client
    /// existed.
    fn delete_client(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Inserts a new client, unless its `client_id` is taken: then nothing changes and the
    /// answer is `false`.
    fn insert_client(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// At most `limit` clients whose `client_id` sorts after `after` (byte order), in that
    /// order: a page. Pass the last id of a page to get the next; an empty page is the end.
    fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;

    /// Starts relaying changes to clients made outside this process (another instance, a
    /// script on the database) to `watcher`, so the server's client cache drops them at once
    /// instead of after its short TTL. Called once when the server is built. The default does
    /// nothing: fine for a store only this process writes. `PgStore` relays PostgreSQL
    /// `NOTIFY`. A feed reports [`ClientWatcher::up`] when it is listening, each change with
    /// [`ClientWatcher::changed`], [`ClientWatcher::down`] when it lost its connection, and
    /// stops once [`ClientWatcher::is_closed`].
    fn watch_clients(&self, watcher: ClientWatcher) {
        let _ = watcher;
    }
}

/// The object-safe twin of [`ClientStore`].
pub(crate) trait DynClientStore: Send + Sync + 'static {
    fn find_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Client>, StoreError>>;
    fn save_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>>;
    fn delete_client<'a>(
        &'a self,
        client_id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn insert_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn list_clients<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Client>, StoreError>>;
    fn watch_clients(&self, watcher: ClientWatcher);
}

impl<T: ClientStore> DynClientStore for T {
    fn find_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
        Box::pin(ClientStore::find_client(self, client_id))
    }

    fn save_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ClientStore::save_client(self, client))
    }

    fn delete_client<'a>(
        &'a self,
        client_id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(ClientStore::delete_client(self, client_id, now))
    }

    fn insert_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(ClientStore::insert_client(self, client))
    }

    fn list_clients<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Client>, StoreError>> {
        Box::pin(ClientStore::list_clients(self, after, limit))
    }

    fn watch_clients(&self, watcher: ClientWatcher) {
        ClientStore::watch_clients(self, watcher);
    }
}

/// Why a client-management operation of [`Clients`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// [`Clients::create`]: the `client_id` is taken.
    #[error("client `{0}` already exists")]
    Exists(String),
    /// No client has this `client_id`.
    #[error("no client `{0}`")]
    NotFound(String),
    /// The change would break a client rule.
    #[error(transparent)]
    Invalid(#[from] InvalidClient),
    /// [`Clients::rotate_secret`] on a client without a secret: a public one, or one that
    /// signs in with its keys (`private_key_jwt`).
    #[error("client `{0}` has no secret (public, or `private_key_jwt`)")]
    Public(String),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The server's client store, as endpoints and applications reach it: lookups for client
/// authentication, and the management operations a deployment needs (create, update, rotate a
/// secret, delete, list).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use oauth_endpoints::{AuthorizationServer, Client};
///
/// let server = AuthorizationServer::builder().build()?;
/// let clients = server.clients();
///
/// // A confidential client with a secret the server generates, shown once.
/// let (builder, secret) = Client::confidential_generated("reporting");
/// clients.create(&builder.with_scope("reports:read".parse()?).build()?).await?;
///
/// // Change a field; every other field is kept.
/// let updated = clients
///     .update("reporting", |client| client.with_grant_types(["client_credentials", "refresh_token"]))
///     .await?;
/// assert!(updated.allows_grant("refresh_token"));
///
/// // A new secret; the old one keeps working for an hour, while configurations move over.
/// let now = server.now();
/// let new_secret = clients.rotate_secret("reporting", Duration::from_secs(3600), now).await?;
/// let client = clients.find("reporting").await?.expect("still there");
/// assert!(client.verify_secret_at(&new_secret, now));
/// assert!(client.verify_secret_at(&secret, now));
/// assert!(!client.verify_secret_at(&secret, now + 3600));
///
/// // A page of clients, then the next after its last id.
/// let page = clients.list(None, 100).await?;
/// assert_eq!(page.len(), 1);
///
/// // Deleting revokes every token of the client.
/// assert!(clients.delete("reporting", now).await?);
/// # Ok(())
/// # }
/// ```
///
/// Lookups go through a cache (see [`ClientCacheOptions`] for its bounds): changes made
/// through these methods take effect at once on this server, and on other instances through
/// the store's change feed or within the cache's short TTL.
#[derive(Clone)]
pub struct Clients {
    store: Arc<dyn DynClientStore>,
    cache: Option<Arc<ClientCache>>,
}

impl Clients {
    /// Wraps any [`ClientStore`], with a client cache of the default options fed by the
    /// store's change feed ([`ClientStore::watch_clients`]).
    pub fn new(store: impl ClientStore) -> Self {
        Self::with_cache(store, Some(ClientCacheOptions::default()))
    }

    /// Wraps any [`ClientStore`], with a cache of `options` (or none: every lookup asks the
    /// store).
    pub fn with_cache(store: impl ClientStore, options: Option<ClientCacheOptions>) -> Self {
        Self::from_dyn(Arc::new(store), options)
    }

    pub(crate) fn from_dyn(
        store: Arc<dyn DynClientStore>,
        options: Option<ClientCacheOptions>,
    ) -> Self {
        let cache = options.map(|options| Arc::new(ClientCache::new(options)));
        if let Some(cache) = &cache {
            store.watch_clients(cache.watcher());
        }
        Self { store, cache }
    }

    /// The client with this `client_id`, if any: from the cache when it holds the answer.
    pub async fn find(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.store.find_client(client_id).await;
        };
        if let Some(answer) = cache.get(client_id) {
            return Ok(answer);
        }
        let generation = cache.generation();
        let client = self.store.find_client(client_id).await?;
        cache.put(client_id, client.clone(), generation);
        Ok(client)
    }

    /// Drops `client_id` from the cache, after a change (also when the change failed: the
    /// store may hold either state).
    fn changed(&self, client_id: &str) {
        if let Some(cache) = &self.cache {
            cache.drop_client(client_id);
        }
    }

    /// Inserts or replaces a client (e.g. loading a clients file at start-up).
    pub async fn save(&self, client: &Client) -> Result<(), StoreError> {
        let saved = self.store.save_client(client).await;
        self.changed(client.client_id());
        saved
    }

    /// Registers a new client; [`ClientError::Exists`] if its `client_id` is taken (nothing
    /// changes then).
    pub async fn create(&self, client: &Client) -> Result<(), ClientError> {
        let inserted = self.store.insert_client(client).await;
        self.changed(client.client_id());
        if inserted? {
            Ok(())
        } else {
            Err(ClientError::Exists(client.client_id().to_owned()))
        }
    }

    /// Changes a client through its builder ([`Client::to_builder`]), so every field not
    /// changed is kept, and saves it if it still keeps every rule. Concurrent updates of one
    /// client: the last one saved wins.
    pub async fn update(
        &self,
        client_id: &str,
        change: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Result<Client, ClientError> {
        let client = self
            .find(client_id)
            .await?
            .ok_or_else(|| ClientError::NotFound(client_id.to_owned()))?;
        let updated = change(client.to_builder()).build()?;
        if updated.client_id() != client_id {
            return Err(ClientError::Invalid(InvalidClient {
                field: "client_id",
                problem: "an update cannot change the client_id",
            }));
        }
        self.save(&updated).await?;
        Ok(updated)
    }

    /// Gives a confidential client a new generated secret, returned once. With a non-zero
    /// `overlap`, the old secret keeps working until `now + overlap`, so every copy of the
    /// client's configuration can move over without an outage; with zero it stops at once.
    /// Only the latest replaced secret is kept.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        overlap: Duration,
        now: UnixTime,
    ) -> Result<String, ClientError> {
        let client = self
            .find(client_id)
            .await?
            .ok_or_else(|| ClientError::NotFound(client_id.to_owned()))?;
        let Some(old) = client.secret_hash().copied() else {
            return Err(ClientError::Public(client_id.to_owned()));
        };
        let secret = generate_secret();
        let previous = (!overlap.is_zero()).then(|| PreviousSecret {
            hash: old,
            until: now.saturating_add(overlap.as_secs().max(1)),
        });
        let rotated = client
            .to_builder()
            .with_secret(&secret)
            .with_previous_secret(previous)
            .build()?;
        self.save(&rotated).await?;
        Ok(secret)
    }

    /// Deletes a client and revokes its tokens (see [`ClientStore::delete_client`]).
    pub async fn delete(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let deleted = self.store.delete_client(client_id, now).await;
        self.changed(client_id);
        deleted
    }

    /// A page of at most `limit` clients after `after`, by `client_id` (see
    /// [`ClientStore::list_clients`]).
    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Client>, StoreError> {
        self.store.list_clients(after, limit).await
    }
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clients")
    }
}

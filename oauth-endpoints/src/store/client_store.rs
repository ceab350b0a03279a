//! [`ClientStore`]: where clients are kept.

use std::future::Future;
use std::sync::Arc;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::endpoint::BoxFuture;
use crate::store::StoreError;

/// Loads and saves clients. Implement it on your database, or use
/// [`MemoryStore`](crate::MemoryStore). Write the methods as plain `async fn`s.
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
}

/// The server's client store, as endpoints and applications reach it.
#[derive(Clone)]
pub struct Clients(pub(crate) Arc<dyn DynClientStore>);

impl Clients {
    /// Wraps any [`ClientStore`].
    pub fn new(store: impl ClientStore) -> Self {
        Self(Arc::new(store))
    }

    /// The client with this `client_id`, if any.
    pub async fn find(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.0.find_client(client_id).await
    }

    /// Inserts or replaces a client.
    pub async fn save(&self, client: &Client) -> Result<(), StoreError> {
        self.0.save_client(client).await
    }

    /// Deletes a client and revokes its tokens (see [`ClientStore::delete_client`]).
    pub async fn delete(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.0.delete_client(client_id, now).await
    }
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clients")
    }
}

//! Stores: the traits users implement on their database, the in-memory default, and the SQL
//! stores (SQLite and PostgreSQL, behind their features).

mod authorization_store;
mod client_cache;
pub(crate) mod client_store;
mod error;
mod memory;
mod memory_authorizations;
#[cfg(feature = "postgres")]
mod postgres;
mod rotation;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod token_store;

pub use authorization_store::{
    AuthorizationKind, AuthorizationRecord, AuthorizationStore, Authorizations, Consumption,
};
pub use client_cache::{ClientCacheOptions, ClientWatcher};
pub use client_store::{ClientError, ClientStore, Clients};
pub use error::StoreError;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgStore, PgStoreOptions};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use token_store::{Rotation, TokenStore, Tokens};

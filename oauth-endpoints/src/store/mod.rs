//! Stores: the traits users implement on their database, and the in-memory default.

mod client_store;
mod error;
mod memory;
#[cfg(feature = "sqlite")]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod token_store;

pub use client_store::{ClientStore, Clients};
pub use error::StoreError;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use token_store::{Rotation, TokenStore, Tokens};

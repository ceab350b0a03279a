//! Stores: the traits users implement on their database, and the in-memory default.

mod client_store;
mod error;
mod memory;
mod token_store;

pub use client_store::{ClientStore, Clients};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use token_store::{Rotation, TokenStore, Tokens};

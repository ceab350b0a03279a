//! The store contract, from the core's public test kit (`oauth_endpoints::test_kit`, feature
//! `test-kit`), as the tests of every store use it.

pub use oauth_endpoints::test_kit::{JKT, bound_record, record, token_store_races};

/// Runs every clause of the contract against `store`, which must start empty.
pub async fn run<S: oauth_endpoints::store::ClientStore + oauth_endpoints::store::TokenStore>(
    store: &S,
) {
    oauth_endpoints::test_kit::store_contract(store).await;
}

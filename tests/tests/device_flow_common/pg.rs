//! A PostgreSQL device store for the tests that run on every store.
//!
//! Included as `mod pg;` (see `fixture.rs`).

use device_flow::PgDeviceStore;
use oauth_endpoints_tests::pg::TestSchema;

/// A PostgreSQL device store in a fresh schema (dropped with the returned guard), or `None`
/// (the test is skipped) without `OAUTH_ENDPOINTS_TEST_POSTGRES`.
pub(crate) async fn pg_devices(test: &str) -> Option<(TestSchema, PgDeviceStore)> {
    let schema = TestSchema::create(test).await?;
    let store = PgDeviceStore::open(&schema.store().await).await.unwrap();
    Some((schema, store))
}

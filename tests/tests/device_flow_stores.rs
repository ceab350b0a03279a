//! The device stores of the `device-flow` add-on (memory, SQLite, PostgreSQL): the store
//! contract every implementation keeps, and races between two PostgreSQL instances on one
//! database, which decide each state change once. The PostgreSQL tests run with
//! `OAUTH_ENDPOINTS_TEST_POSTGRES` and are skipped without it. (Concurrent polls of the token
//! endpoint, on each store, are in `device_flow_grant.rs`; bursts at the limits, in
//! `device_flow_limits.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/pg.rs"]
mod pg;
#[path = "device_flow_common/user.rs"]
mod user;

use device_flow::{
    Created, DeviceStatus, DeviceStore, MemoryDeviceStore, PgDeviceStore, SqliteDeviceStore,
    UserCode,
};
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::SqliteStore;
use oauth_endpoints_tests::pg::TestSchema;

use pg::pg_devices;
use user::USER;

/// The store contract: every implementation behaves the same.
async fn store_contract(store: &impl DeviceStore) {
    let code = |c: &str| UserCode::normalize(c).unwrap();
    let authorization = |device_code: &str, user_code: &str| device_flow::DeviceAuthorization {
        device_code_hash: TokenHash::of(device_code),
        user_code: code(user_code),
        client_id: "tv".into(),
        scope: "read".parse().unwrap(),
        status: DeviceStatus::Pending,
        subject: None,
        issued_at: 1_000,
        expires_at: 1_600,
        interval: 5,
        last_polled_at: None,
    };
    let first = authorization("device-1", "BBBB-CCCC");
    assert_eq!(store.create(&first, 100).await.unwrap(), Created::Stored);
    // A user code is unique among unexpired requests.
    assert_eq!(
        store
            .create(&authorization("device-2", "BBBB-CCCC"), 100)
            .await
            .unwrap(),
        Created::UserCodeTaken
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-1"))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_by_user_code(&code("bbbbcccc")).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-2"))
            .await
            .unwrap(),
        None
    );

    // Polls: the first is fine, a fast one slows down, atomically bumping the interval.
    let hash = TokenHash::of("device-1");
    assert_eq!(
        store.record_poll(&hash, 1_000).await.unwrap(),
        device_flow::PollOutcome::Pending
    );
    assert_eq!(
        store.record_poll(&hash, 1_004).await.unwrap(),
        device_flow::PollOutcome::SlowDown { interval: 10 }
    );
    assert_eq!(
        store.record_poll(&hash, 1_014).await.unwrap(),
        device_flow::PollOutcome::Pending
    );
    let polled = store.find_by_device_code(&hash).await.unwrap().unwrap();
    assert_eq!((polled.interval, polled.last_polled_at), (10, Some(1_014)));

    // Not redeemable while pending; approved once; then redeemed once.
    assert_eq!(store.redeem(&hash, 1_100).await.unwrap(), None);
    assert!(
        store
            .approve(&code("BBBB-CCCC"), USER, 1_100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .approve(&code("BBBB-CCCC"), USER, 1_100)
            .await
            .unwrap()
    );
    assert!(!store.deny(&code("BBBB-CCCC"), 1_100).await.unwrap());
    assert_eq!(
        store.record_poll(&hash, 1_200).await.unwrap(),
        device_flow::PollOutcome::NotPending
    );
    let redeemed = store.redeem(&hash, 1_200).await.unwrap().unwrap();
    assert_eq!(redeemed.status, DeviceStatus::Used);
    assert_eq!(redeemed.subject.as_deref(), Some(USER));
    assert_eq!(store.redeem(&hash, 1_200).await.unwrap(), None);

    // Deny only pending and unexpired; nothing after expiry.
    let second = authorization("device-3", "DDDD-FFFF");
    assert_eq!(store.create(&second, 100).await.unwrap(), Created::Stored);
    assert!(
        !store
            .approve(&code("DDDD-FFFF"), USER, 1_600)
            .await
            .unwrap()
    );
    assert!(!store.deny(&code("DDDD-FFFF"), 1_600).await.unwrap());
    assert!(store.deny(&code("DDDD-FFFF"), 1_599).await.unwrap());
    let denied = store
        .find_by_device_code(&TokenHash::of("device-3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(denied.status, DeviceStatus::Denied);
    assert_eq!(
        store
            .redeem(&TokenHash::of("device-3"), 1_599)
            .await
            .unwrap(),
        None
    );

    // An expired request frees its user code.
    let mut reuse = authorization("device-4", "DDDD-FFFF");
    reuse.issued_at = 1_600;
    reuse.expires_at = 2_200;
    assert_eq!(store.create(&reuse, 100).await.unwrap(), Created::Stored);
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-3"))
            .await
            .unwrap(),
        None
    );

    // Purging drops what expired before the cut-off.
    assert_eq!(store.purge_expired(2_000).await.unwrap(), 1);
    assert_eq!(store.find_by_device_code(&hash).await.unwrap(), None);
    assert!(
        store
            .find_by_device_code(&TokenHash::of("device-4"))
            .await
            .unwrap()
            .is_some()
    );

    // The bound counts the client's pending, unexpired requests only.
    let busy = |n: usize, issued_at: u64| {
        let mut request = authorization(&format!("busy-{n}"), busy_code(n));
        request.client_id = "busy".into();
        request.issued_at = issued_at;
        request.expires_at = issued_at + 600;
        request
    };
    assert_eq!(
        store.create(&busy(0, 3_000), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(1, 3_000), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(2, 3_000), 2).await.unwrap(),
        Created::TooManyPending
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("busy-2"))
            .await
            .unwrap(),
        None
    );
    // Another client is not affected; a decided request frees its slot.
    assert_eq!(
        store
            .create(&authorization("device-5", "FFFF-GGGG"), 2)
            .await
            .unwrap(),
        Created::Stored
    );
    assert!(store.deny(&code(busy_code(0)), 3_001).await.unwrap());
    assert_eq!(
        store.create(&busy(2, 3_001), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(3, 3_001), 2).await.unwrap(),
        Created::TooManyPending
    );
    // So does an expired one (busy-1 expires at 3_600; busy-2 lives on until 3_601).
    assert_eq!(
        store.create(&busy(3, 3_600), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(4, 3_600), 2).await.unwrap(),
        Created::TooManyPending
    );
}

/// Distinct user codes for the bound's part of the contract.
fn busy_code(n: usize) -> &'static str {
    [
        "HHHH-JJJJ",
        "KKKK-LLLL",
        "MMMM-NNNN",
        "PPPP-QQQQ",
        "RRRR-SSSS",
    ][n]
}

#[tokio::test]
async fn memory_device_store_keeps_the_contract() {
    store_contract(&MemoryDeviceStore::new()).await;
}

#[tokio::test]
async fn sqlite_device_store_keeps_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth.db");
    let sqlite = SqliteStore::open(&path).await.unwrap();
    let store = SqliteDeviceStore::open(&sqlite).await.unwrap();
    store_contract(&store).await;
    drop((store, sqlite));
    let reopened = SqliteDeviceStore::open(&SqliteStore::open(&path).await.unwrap())
        .await
        .unwrap();
    assert!(
        reopened
            .find_by_device_code(&TokenHash::of("device-4"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn postgres_device_store_keeps_the_contract() {
    let Some((_schema, store)) = pg_devices("device_contract").await else {
        return;
    };
    store_contract(&store).await;
}

#[tokio::test]
async fn postgres_device_store_keeps_the_contract_in_a_schema_of_its_own() {
    let Some(schema) = TestSchema::create("device_own").await else {
        return;
    };
    let own = format!("{}_devices", schema.name());
    let core = schema.store().await;
    let store = PgDeviceStore::with_schema(core.pool().clone(), &own)
        .await
        .unwrap();
    store_contract(&store).await;
    // The tables are in that schema; dropping the test schema drops it too.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         ORDER BY table_name",
    )
    .bind(&own)
    .fetch_all(core.pool())
    .await
    .unwrap();
    assert_eq!(tables, ["device_authorizations", "device_flow_migrations"]);
    sqlx::raw_sql(&format!("DROP SCHEMA \"{own}\" CASCADE"))
        .execute(core.pool())
        .await
        .unwrap();
    assert!(
        PgDeviceStore::with_schema(core.pool().clone(), "Bad-Name")
            .await
            .is_err()
    );
}

/// Two instances (two pools) on one database, opening at once, then racing on every state
/// change: each is decided exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_state_changes_are_atomic_across_instances() {
    let Some(schema) = TestSchema::create("device_two").await else {
        return;
    };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    let (a, b) = tokio::join!(PgDeviceStore::open(&a), PgDeviceStore::open(&b));
    let (a, b) = (a.unwrap(), b.unwrap());
    let request = |n: usize| device_flow::DeviceAuthorization {
        device_code_hash: TokenHash::of(&format!("device-{n}")),
        user_code: UserCode::generate(),
        client_id: "tv".into(),
        scope: "read".parse().unwrap(),
        status: DeviceStatus::Pending,
        subject: None,
        issued_at: 1_000,
        expires_at: 1_600,
        interval: 5,
        last_polled_at: None,
    };
    for round in 0..10 {
        let stored = request(round);
        assert_eq!(a.create(&stored, 1_000).await.unwrap(), Created::Stored);
        let code = &stored.user_code;
        // Approve on one instance, deny on the other: exactly one decides.
        let (approved, denied) = tokio::join!(a.approve(code, USER, 1_100), b.deny(code, 1_100));
        assert!(approved.unwrap() ^ denied.unwrap(), "round {round}");
        if b.find_by_user_code(code).await.unwrap().unwrap().status == DeviceStatus::Approved {
            let hash = stored.device_code_hash;
            let (x, y) = tokio::join!(a.redeem(&hash, 1_200), b.redeem(&hash, 1_200));
            assert!(x.unwrap().is_some() ^ y.unwrap().is_some(), "round {round}");
        }
    }
    // Polls of one device code at one instant: one is fine, the other slows down.
    let polled = request(100);
    assert_eq!(b.create(&polled, 1_000).await.unwrap(), Created::Stored);
    let hash = polled.device_code_hash;
    let (x, y) = tokio::join!(a.record_poll(&hash, 1_000), b.record_poll(&hash, 1_000));
    let mut outcomes = [x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|outcome| matches!(outcome, device_flow::PollOutcome::SlowDown { .. }));
    assert_eq!(
        outcomes,
        [
            device_flow::PollOutcome::Pending,
            device_flow::PollOutcome::SlowDown { interval: 10 }
        ]
    );
    // The bound holds across instances: 12 creations for a fresh client at once, bound 4.
    let creations = (0..12).map(|n| {
        let mut stored = request(200 + n);
        stored.client_id = "busy".into();
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        async move { store.create(&stored, 4).await.unwrap() }
    });
    let created = futures_util::future::join_all(creations).await;
    assert_eq!(
        created.iter().filter(|c| **c == Created::Stored).count(),
        4,
        "{created:?}"
    );
}

//! The store contract, run against every store this build has.

use oauth_endpoints::store::{MemoryStore, SqliteStore};
use oauth_endpoints_tests::contract;
use oauth_endpoints_tests::pg::TestSchema;
use std::time::Duration;

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract::run(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_serializes_each_grant_under_races() {
    let store = MemoryStore::new();
    contract::token_store_races(&store, &store.clone(), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_serializes_each_grant_under_races() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    // Two stores (pools) on one file, as two processes would have.
    let a = SqliteStore::open(&path).await.expect("open");
    let b = SqliteStore::open(&path).await.expect("open");
    contract::token_store_races(&a, &b, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_serializes_each_grant_under_races() {
    let Some(schema) = TestSchema::create("races").await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    contract::token_store_races(&a, &b, 10).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_contract_in_memory() {
    let store = SqliteStore::in_memory().await.expect("open");
    contract::run(&store).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_contract_in_a_file_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    contract::run(&store).await;
    let (value, record) = contract::record(
        oauth_endpoints::token::TokenKind::Access,
        oauth_endpoints::secret::Id::random(),
        "c1",
    );
    oauth_endpoints::store::TokenStore::insert_tokens(&store, std::slice::from_ref(&record))
        .await
        .expect("insert");
    drop(store);
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    let found = oauth_endpoints::store::TokenStore::find_token(
        &reopened,
        &oauth_endpoints::secret::TokenHash::of(&value),
        None,
    )
    .await
    .expect("find");
    assert_eq!(found, Some(record));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_rotations_have_exactly_one_winner() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .expect("open");
    let grant = oauth_endpoints::secret::Id::random();
    let (refresh, record) =
        contract::record(oauth_endpoints::token::TokenKind::Refresh, grant, "c1");
    oauth_endpoints::store::TokenStore::insert_tokens(&store, &[record])
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            let refresh = refresh.clone();
            tokio::spawn(async move {
                let (_, next) =
                    contract::record(oauth_endpoints::token::TokenKind::Refresh, grant, "c1");
                oauth_endpoints::store::TokenStore::rotate_refresh_token(
                    &store,
                    &oauth_endpoints::secret::TokenHash::of(&refresh),
                    1_700_000_001,
                    &[next],
                    Duration::ZERO,
                )
                .await
                .expect("rotate")
            })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        if matches!(
            task.await.expect("joined"),
            oauth_endpoints::store::Rotation::Rotated(_)
        ) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
}

#[tokio::test]
async fn postgres_store_keeps_the_contract_and_survives_reopening() {
    let Some(schema) = TestSchema::create("contract").await else {
        return;
    };
    let store = schema.store().await;
    contract::run(&store).await;
    let (value, record) = contract::record(
        oauth_endpoints::token::TokenKind::Access,
        oauth_endpoints::secret::Id::random(),
        "c1",
    );
    oauth_endpoints::store::TokenStore::insert_tokens(&store, std::slice::from_ref(&record))
        .await
        .expect("insert");
    store.pool().close().await;
    drop(store);
    let reopened = schema.store().await;
    let found = oauth_endpoints::store::TokenStore::find_token(
        &reopened,
        &oauth_endpoints::secret::TokenHash::of(&value),
        None,
    )
    .await
    .expect("find");
    assert_eq!(found, Some(record));
}

#[tokio::test]
async fn sqlite_store_opens_inside_a_spawned_task() {
    // Opening must be a `Send` future, so servers can build stores in spawned tasks.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("spawned.db");
    let store = tokio::spawn(async move { SqliteStore::open(path).await })
        .await
        .expect("joined")
        .expect("open");
    contract::run(&store).await;
}

#[tokio::test]
async fn a_sqlite_file_of_the_first_schema_migrates_and_keeps_its_revoked_grants() {
    use oauth_endpoints::secret::{Id, TokenHash};
    use oauth_endpoints::store::{Rotation, StoreError, TokenStore};
    use oauth_endpoints::token::TokenKind;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let (revoked, live) = (Id::random(), Id::random());
    let mut refresh = String::new();
    for grant in [revoked, live] {
        let (_, access) = contract::record(TokenKind::Access, grant, "c1");
        let (value, record) = contract::record(TokenKind::Refresh, grant, "c1");
        store
            .insert_tokens(&[access, record])
            .await
            .expect("insert");
        refresh = value;
    }
    store
        .revoke_grant(&revoked, 1_700_000_001)
        .await
        .expect("revoke");
    // Back to the first schema: tokens only, no grants table.
    sqlx::raw_sql(
        "DROP TABLE oauth_grants; DROP INDEX oauth_tokens_subject; \
         ALTER TABLE oauth_tokens DROP COLUMN successor; \
         ALTER TABLE oauth_clients DROP COLUMN previous_secret_hash; \
         ALTER TABLE oauth_clients DROP COLUMN previous_secret_until; \
         ALTER TABLE oauth_clients DROP COLUMN refresh_token_grace; \
         ALTER TABLE oauth_clients DROP COLUMN redirect_uris; \
         ALTER TABLE oauth_clients DROP COLUMN require_pushed_requests; DROP TABLE oauth_authorizations; \
         ALTER TABLE oauth_clients DROP COLUMN jwks; \
         ALTER TABLE oauth_clients DROP COLUMN access_token_format; DROP TABLE oauth_replay_ids; \
         ALTER TABLE oauth_tokens DROP COLUMN jkt; \
         ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources; \
         ALTER TABLE oauth_clients DROP COLUMN served_resources; \
         PRAGMA user_version = 1;",
    )
    .execute(store.pool())
    .await
    .expect("downgraded");
    store.pool().close().await;

    let store = SqliteStore::open(&path).await.expect("reopen");
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_grants")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(grants, 2, "one row per grant, backfilled");
    let (_, late) = contract::record(TokenKind::Access, revoked, "c1");
    let refused = store.insert_tokens(&[late]).await;
    assert!(
        matches!(refused, Err(StoreError::GrantRevoked)),
        "{refused:?}"
    );
    let (_, next) = contract::record(TokenKind::Refresh, live, "c1");
    let rotated = store
        .rotate_refresh_token(
            &TokenHash::of(&refresh),
            1_700_000_002,
            &[next],
            Duration::ZERO,
        )
        .await
        .expect("rotate");
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
}

#[tokio::test]
async fn a_sqlite_file_of_the_second_schema_migrates_to_the_grace_window() {
    use oauth_endpoints::Client;
    use oauth_endpoints::secret::{Id, TokenHash};
    use oauth_endpoints::store::{ClientStore, Rotation, TokenStore};
    use oauth_endpoints::token::TokenKind;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let client = Client::public("spa").build().expect("a valid client");
    store.save_client(&client).await.expect("save");
    let grant = Id::random();
    let (refresh, record) = contract::record(TokenKind::Refresh, grant, "c1");
    store.insert_tokens(&[record]).await.expect("insert");
    // Back to the second schema: no successors, no per-client window.
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN successor; DROP INDEX oauth_tokens_subject; \
         ALTER TABLE oauth_clients DROP COLUMN refresh_token_grace; \
         ALTER TABLE oauth_clients DROP COLUMN previous_secret_hash; \
         ALTER TABLE oauth_clients DROP COLUMN previous_secret_until; \
         ALTER TABLE oauth_clients DROP COLUMN redirect_uris; \
         ALTER TABLE oauth_clients DROP COLUMN require_pushed_requests; DROP TABLE oauth_authorizations; \
         ALTER TABLE oauth_clients DROP COLUMN jwks; \
         ALTER TABLE oauth_clients DROP COLUMN access_token_format; DROP TABLE oauth_replay_ids; \
         ALTER TABLE oauth_tokens DROP COLUMN jkt; \
         ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources; \
         ALTER TABLE oauth_clients DROP COLUMN served_resources; \
         PRAGMA user_version = 2;",
    )
    .execute(store.pool())
    .await
    .expect("downgraded");
    store.pool().close().await;

    let store = SqliteStore::open(&path).await.expect("reopen");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(store.pool())
        .await
        .expect("version");
    assert_eq!(version, 10);
    let found = store.find_client("spa").await.expect("find");
    assert_eq!(found.map(|c| c.refresh_token_grace()), Some(None));
    let grace = Duration::from_secs(10);
    let hash = TokenHash::of(&refresh);
    let (_, next) = contract::record(TokenKind::Refresh, grant, "c1");
    let rotated = store
        .rotate_refresh_token(&hash, 1_700_000_002, &[next], grace)
        .await
        .expect("rotate");
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
    let (_, again) = contract::record(TokenKind::Refresh, grant, "c1");
    let redeemed = store
        .rotate_refresh_token(&hash, 1_700_000_003, &[again], grace)
        .await
        .expect("rotate");
    assert!(
        matches!(redeemed, Rotation::Reissued { .. }),
        "{redeemed:?}"
    );
    // A client's own window survives the store.
    let own = Client::public("tab")
        .with_refresh_token_grace(Duration::from_millis(2_500))
        .build()
        .expect("a valid client");
    store.save_client(&own).await.expect("save");
    let found = store.find_client("tab").await.expect("find");
    assert_eq!(
        found.and_then(|c| c.refresh_token_grace()),
        Some(Duration::from_secs(3)),
        "stored in whole seconds, rounded up"
    );
}

#[tokio::test]
async fn a_sqlite_file_of_the_seventh_schema_migrates_to_bound_tokens() {
    use oauth_endpoints::secret::{Id, TokenHash};
    use oauth_endpoints::store::TokenStore;
    use oauth_endpoints::token::TokenKind;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let (bearer, record) = contract::record(TokenKind::Access, Id::random(), "c1");
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .expect("insert");
    // Back to the seventh schema: no binding.
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN jkt; ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources; \
         ALTER TABLE oauth_clients DROP COLUMN served_resources; \
         PRAGMA user_version = 7;",
    )
    .execute(store.pool())
    .await
    .expect("downgraded");
    store.pool().close().await;
    drop(store);

    let store = SqliteStore::open(&path).await.expect("reopen");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(store.pool())
        .await
        .expect("version");
    assert_eq!(version, 10);
    let found = store
        .find_token(&TokenHash::of(&bearer), None)
        .await
        .expect("find");
    assert_eq!(
        found,
        Some(record),
        "a token stored before is a bearer token"
    );
    let (bound, record) = contract::bound_record(TokenKind::Refresh, Id::random(), "c1");
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .expect("insert");
    let found = store
        .find_token(&TokenHash::of(&bound), None)
        .await
        .expect("find");
    assert_eq!(found, Some(record));
    let column: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT jkt FROM oauth_tokens WHERE hash = $1")
            .bind(TokenHash::of(&bound).as_bytes().as_slice())
            .fetch_one(store.pool())
            .await
            .expect("the row");
    assert_eq!(column.as_deref(), Some(contract::JKT.as_bytes().as_slice()));
}

#[tokio::test]
async fn a_sqlite_file_of_the_ninth_schema_migrates_to_delegation_and_resources() {
    use oauth_endpoints::Client;
    use oauth_endpoints::secret::{Id, TokenHash};
    use oauth_endpoints::store::{ClientStore, StoreError, TokenStore};
    use oauth_endpoints::test_kit::{delegated_record, delegation};
    use oauth_endpoints::token::TokenKind;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let before = Client::public("spa").build().expect("a valid client");
    store.save_client(&before).await.expect("save");
    let (plain, record) = contract::record(TokenKind::Access, Id::random(), "c1");
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .expect("insert");
    // Back to the ninth schema: no delegation, no resources.
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources; \
         ALTER TABLE oauth_clients DROP COLUMN served_resources; \
         PRAGMA user_version = 9;",
    )
    .execute(store.pool())
    .await
    .expect("downgraded");
    store.pool().close().await;
    drop(store);

    let store = SqliteStore::open(&path).await.expect("reopen");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(store.pool())
        .await
        .expect("version");
    assert_eq!(version, 10);
    let found = store
        .find_token(&TokenHash::of(&plain), None)
        .await
        .expect("find");
    assert_eq!(
        found,
        Some(record),
        "a token stored before has no delegation"
    );
    let found = store.find_client("spa").await.expect("find");
    assert_eq!(
        found,
        Some(before),
        "a client stored before names no resource"
    );

    let (delegated, record) = delegated_record(TokenKind::Refresh, Id::random(), "c1");
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .expect("insert");
    let found = store
        .find_token(&TokenHash::of(&delegated), None)
        .await
        .expect("find");
    assert_eq!(found, Some(record));
    let column: Option<String> =
        sqlx::query_scalar("SELECT delegation FROM oauth_tokens WHERE hash = $1")
            .bind(TokenHash::of(&delegated).as_bytes().as_slice())
            .fetch_one(store.pool())
            .await
            .expect("the row");
    assert_eq!(
        column,
        Some(serde_json::to_string(&delegation()).expect("JSON")),
        "compact JSON"
    );
    let client = Client::public("rs")
        .with_allowed_resources(["https://api.example/"])
        .with_served_resources(["https://rs.example/", "rs"])
        .build()
        .expect("a valid client");
    store.save_client(&client).await.expect("save");
    let found = store.find_client("rs").await.expect("find");
    assert_eq!(found, Some(client));
    let columns: (String, String) = sqlx::query_as(
        "SELECT allowed_resources, served_resources FROM oauth_clients WHERE client_id = 'rs'",
    )
    .fetch_one(store.pool())
    .await
    .expect("the row");
    assert_eq!(
        columns,
        (
            r#"["https://api.example/"]"#.to_owned(),
            r#"["https://rs.example/","rs"]"#.to_owned()
        )
    );

    // A malformed value is a store error, not a panic.
    sqlx::raw_sql(
        "UPDATE oauth_tokens SET delegation = '{\"act\":' WHERE delegation IS NOT NULL; \
         UPDATE oauth_clients SET served_resources = 'rs' WHERE client_id = 'rs';",
    )
    .execute(store.pool())
    .await
    .expect("corrupted");
    let found = store.find_token(&TokenHash::of(&delegated), None).await;
    assert!(matches!(found, Err(StoreError::Backend(_))), "{found:?}");
    let found = store.find_client("rs").await;
    assert!(matches!(found, Err(StoreError::Backend(_))), "{found:?}");
}

/// Drives `future` on this thread without any async runtime: a waker that unparks the thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn sqlite_store_needs_no_async_runtime() {
    use oauth_endpoints::secret::Id;
    use oauth_endpoints::store::TokenStore;
    use oauth_endpoints::token::TokenKind;
    let dir = tempfile::tempdir().expect("a temporary directory");
    block_on(async {
        let store = SqliteStore::open(dir.path().join("oauth.db"))
            .await
            .expect("open");
        let (_, record) = contract::record(TokenKind::Access, Id::random(), "c1");
        store
            .insert_tokens(std::slice::from_ref(&record))
            .await
            .expect("insert");
        assert!(
            store
                .revoke_token(&record.hash, 1_700_000_001)
                .await
                .expect("revoke")
        );
        let found = store.find_token(&record.hash, None).await.expect("find");
        assert_eq!(
            found.and_then(|found| found.revoked_at),
            Some(1_700_000_001)
        );
    });
}

#[tokio::test]
async fn memory_store_keeps_the_authorization_contract() {
    oauth_endpoints::test_kit::authorization_store_contract(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_consumes_each_authorization_once_under_races() {
    let store = MemoryStore::new();
    oauth_endpoints::test_kit::authorization_store_races(&store, &store.clone(), 20).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_authorization_contract() {
    use oauth_endpoints::store::{AuthorizationKind, AuthorizationStore, Consumption};
    let store = SqliteStore::in_memory().await.expect("open");
    oauth_endpoints::test_kit::authorization_store_contract(&store).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    oauth_endpoints::test_kit::authorization_store_contract(&store).await;
    // A used code stays used across a restart.
    let (_, code) = oauth_endpoints::test_kit::authorization_record(AuthorizationKind::Code, "c1");
    store.insert_authorization(&code).await.expect("insert");
    let now = code.issued_at + 1;
    assert!(matches!(
        store
            .consume_authorization(&code.hash, AuthorizationKind::Code, now)
            .await
            .expect("consume"),
        Consumption::Consumed(_)
    ));
    drop(store);
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    assert!(matches!(
        reopened
            .consume_authorization(&code.hash, AuthorizationKind::Code, now + 1)
            .await
            .expect("consume"),
        Consumption::AlreadyConsumed(record) if record.consumed_at == Some(now)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_consumes_each_authorization_once_under_races() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    // Two stores (two writers) on one file, as two processes would have.
    let a = SqliteStore::open(&path).await.expect("open");
    let b = SqliteStore::open(&path).await.expect("open");
    oauth_endpoints::test_kit::authorization_store_races(&a, &b, 20).await;
}

#[tokio::test]
async fn postgres_store_keeps_the_authorization_contract() {
    let Some(schema) = TestSchema::create("authorizations").await else {
        return;
    };
    let store = schema.store().await;
    oauth_endpoints::test_kit::authorization_store_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_consumes_each_authorization_once_under_races() {
    let Some(schema) = TestSchema::create("authorization_races").await else {
        return;
    };
    // Two instances (two pools) on one database.
    let (a, b) = (schema.store().await, schema.store().await);
    oauth_endpoints::test_kit::authorization_store_races(&a, &b, 20).await;
}

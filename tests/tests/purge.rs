//! The purge of expired tokens as part of the server's life: one bounded pass
//! (`purge_expired`), and the background task (`spawn_purger`) on the memory, SQLite and
//! PostgreSQL stores (PostgreSQL when `OAUTH_ENDPOINTS_TEST_POSTGRES` is set). Time moves by a
//! manual clock; the only waits are "eventually, within a generous bound".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use oauth_endpoints::clock::ManualClock;
use oauth_endpoints::purge::PurgeOptions;
use oauth_endpoints::scope::Scope;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::{MemoryStore, SqliteStore};
use oauth_endpoints::token::TokenRequest;
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::START;
use oauth_endpoints_tests::pg::TestSchema;

/// How long the background tests wait for something that should happen within milliseconds.
const EVENTUALLY: Duration = Duration::from_secs(20);

/// A server over one kind of store, and what keeps that store alive.
struct Fixture {
    server: AuthorizationServer,
    clock: ManualClock,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<TestSchema>,
}

/// A server with access tokens of `ttl` over each store: memory, a SQLite file, and PostgreSQL
/// when configured.
async fn fixtures(test: &str, ttl: u64) -> Vec<Fixture> {
    let mut out = Vec::new();
    let build = |store_builder: oauth_endpoints::AuthorizationServerBuilder| {
        let clock = ManualClock::new(START);
        let server = store_builder
            .clock(clock.clone())
            .access_token_ttl(Duration::from_secs(ttl))
            .build()
            .unwrap();
        (server, clock)
    };
    let (server, clock) = build(AuthorizationServer::builder().store(MemoryStore::new()));
    out.push(Fixture {
        server,
        clock,
        name: "memory",
        _dir: None,
        _schema: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("purge.db"))
        .await
        .unwrap();
    let (server, clock) = build(AuthorizationServer::builder().store(sqlite));
    out.push(Fixture {
        server,
        clock,
        name: "sqlite",
        _dir: Some(dir),
        _schema: None,
    });
    if let Some(schema) = TestSchema::create(test).await {
        let (server, clock) = build(AuthorizationServer::builder().store(schema.store().await));
        out.push(Fixture {
            server,
            clock,
            name: "postgres",
            _dir: None,
            _schema: Some(schema),
        });
    }
    out
}

fn client() -> Client {
    Client::confidential("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap()
}

impl Fixture {
    /// Issues an access token now; returns its value.
    async fn issue(&self) -> String {
        let issued = self
            .server
            .issuer()
            .issue(&TokenRequest::new(&client(), Scope::default()))
            .await
            .unwrap();
        issued.access_token().to_owned()
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    async fn stored(&self, token: &str) -> bool {
        self.server
            .tokens()
            .find(&TokenHash::of(token), None)
            .await
            .unwrap()
            .is_some()
    }

    /// Waits until none of `tokens` is stored; false if some still are after [`EVENTUALLY`].
    async fn eventually_gone(&self, tokens: &[String]) -> bool {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let mut any = false;
            for token in tokens {
                any |= self.stored(token).await;
            }
            if !any {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn a_pass_purges_what_expired_before_the_grace_and_nothing_else() {
    for f in fixtures("purge_grace", 100).await {
        let name = f.name;
        // Issued at +0, +30, +50, +60, +90: expiring at +100, +130, +150, +160, +190.
        let mut issued = Vec::new();
        for step in [0, 30, 20, 10, 30] {
            f.advance(step);
            issued.push(f.issue().await);
        }
        f.advance(110); // now +200
        let fresh = f.issue().await; // expires at +300
        let options = PurgeOptions::default()
            .with_grace(Duration::from_secs(50)) // the cut-off: +150
            .with_batch_size(1)
            .with_max_batches(10);
        let report = f.server.purge_expired(&options).await.unwrap();
        assert_eq!(report.purged, 2, "{name}");
        // Two full batches of one, then an empty one; and one of assertion ids.
        assert_eq!(report.batches, 4, "{name}");
        assert!(!report.more, "{name}");
        assert!(!f.stored(&issued[0]).await, "{name}: expired 100 s ago");
        assert!(!f.stored(&issued[1]).await, "{name}: expired 70 s ago");
        for (token, why) in issued[2..].iter().zip([
            "expired exactly the grace ago",
            "expired within the grace",
            "expired within the grace",
        ]) {
            assert!(f.stored(token).await, "{name}: {why}");
        }
        assert!(f.stored(&fresh).await, "{name}: unexpired");
        // What is kept still answers as an expired token, and nothing more goes now.
        let record = f
            .server
            .tokens()
            .find(&TokenHash::of(&issued[4]), None)
            .await
            .unwrap();
        assert!(record.is_some_and(|r| !r.is_active(f.server.now())));
        assert_eq!(f.server.purge_expired(&options).await.unwrap().purged, 0);
    }
}

#[tokio::test]
async fn a_pass_is_bounded_and_the_next_goes_on() {
    for f in fixtures("purge_bound", 10).await {
        let name = f.name;
        let mut tokens = Vec::new();
        for _ in 0..7 {
            tokens.push(f.issue().await);
        }
        f.advance(1_000);
        let options = PurgeOptions::default()
            .with_grace(Duration::from_secs(60))
            .with_batch_size(2)
            .with_max_batches(3);
        let report = f.server.purge_expired(&options).await.unwrap();
        assert_eq!(
            (report.purged, report.batches, report.more),
            (6, 4, true),
            "{name}"
        );
        let report = f.server.purge_expired(&options).await.unwrap();
        assert_eq!(
            (report.purged, report.batches, report.more),
            (1, 2, false),
            "{name}"
        );
        for token in &tokens {
            assert!(!f.stored(token).await, "{name}");
        }
    }
}

#[tokio::test]
async fn purge_expired_once_is_one_batch_with_the_grace() {
    for f in fixtures("purge_once", 10).await {
        let name = f.name;
        let old = [f.issue().await, f.issue().await, f.issue().await];
        f.advance(100);
        let graced = f.issue().await; // expires at +110
        f.advance(20); // +120: `old` expired 110 s ago, `graced` 10 s ago
        let grace = Duration::from_secs(60);
        assert_eq!(
            f.server.purge_expired_once(grace, 2).await.unwrap(),
            2,
            "{name}"
        );
        assert_eq!(
            f.server.purge_expired_once(grace, 2).await.unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            f.server.purge_expired_once(grace, 2).await.unwrap(),
            0,
            "{name}"
        );
        for token in &old {
            assert!(!f.stored(token).await, "{name}");
        }
        assert!(f.stored(&graced).await, "{name}");
    }
}

#[tokio::test]
async fn the_background_purger_removes_expired_records_and_stops_when_dropped() {
    for f in fixtures("purger", 10).await {
        let name = f.name;
        let mut expired = Vec::new();
        for _ in 0..5 {
            expired.push(f.issue().await);
        }
        f.advance(80);
        let graced = f.issue().await; // expires at +90
        f.advance(20); // +100: the cut-off at +40
        let fresh = f.issue().await; // expires at +110
        // Batches of 2, at most 2 a pass: the 5 records take more than one pass.
        let options = PurgeOptions::default()
            .with_grace(Duration::from_secs(60))
            .with_batch_size(2)
            .with_max_batches(2)
            .with_interval(Duration::from_millis(20));
        let purger = f.server.spawn_purger(options.clone());
        assert!(
            f.eventually_gone(&expired).await,
            "{name}: the purger did not remove the expired records within {EVENTUALLY:?}"
        );
        assert!(f.stored(&graced).await, "{name}: purged within the grace");
        assert!(f.stored(&fresh).await, "{name}: purged before it expired");
        assert!(!purger.is_finished(), "{name}");

        // Dropped: nothing is purged any more, though everything is now long expired.
        drop(purger);
        f.advance(10_000);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            f.stored(&graced).await,
            "{name}: purged after the handle was dropped"
        );
        assert!(
            f.stored(&fresh).await,
            "{name}: purged after the handle was dropped"
        );

        // A new purger takes them; `stop` ends its task.
        let purger = f.server.spawn_purger(options);
        assert!(
            f.eventually_gone(&[graced, fresh]).await,
            "{name}: the second purger did not purge"
        );
        tokio::time::timeout(EVENTUALLY, purger.stop())
            .await
            .expect("stop ends the task");
    }
}

#[tokio::test]
async fn the_purger_ends_on_stop_while_waiting_for_its_next_pass() {
    let server = AuthorizationServer::builder().build().unwrap();
    let purger =
        server.spawn_purger(PurgeOptions::default().with_interval(Duration::from_secs(3600)));
    tokio::task::yield_now().await;
    assert!(!purger.is_finished());
    tokio::time::timeout(EVENTUALLY, purger.stop())
        .await
        .expect("stop ends the task at once, not after the interval");
}

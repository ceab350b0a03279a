//! The refresh-token grace window through the token endpoint (issue 16): off by default
//! (RFC 9700 §4.14.2), a lost answer recovered within the window, reuse after it or once the
//! successor was used, the window ended by a grant revocation, events for operators, and racing
//! tabs on every store, across instances.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_endpoints::client::ClientMetadata;
use oauth_endpoints::hooks::{EventListener, RefreshGraceRedeemed, RefreshTokenReused};
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::{MemoryStore, SqliteStore};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, Harness, basic, form, post, send};
use serde_json::Value;

const SECRET: &str = "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const GRACE: Duration = Duration::from_secs(10);

fn app() -> Client {
    Client::confidential("app", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

/// What listeners heard: `("redeemed", token id of the superseded successor, seconds since
/// rotation)` and `("reused", token id of the presented token, grace seconds)`.
#[derive(Default)]
struct Heard(Mutex<Vec<(&'static str, String, u64)>>);

impl EventListener for Heard {
    fn refresh_grace_redeemed(&self, event: &RefreshGraceRedeemed<'_>) {
        self.0.lock().unwrap().push((
            "redeemed",
            event.superseded.id.to_string(),
            event.since_rotation.as_secs(),
        ));
    }

    fn refresh_token_reused(&self, event: &RefreshTokenReused<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(("reused", event.token.id.to_string(), event.grace.as_secs()));
    }
}

impl Heard {
    fn take(&self) -> Vec<(&'static str, String, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn harness(grace: Duration) -> (Harness, Arc<Heard>) {
    let heard = Arc::new(Heard::default());
    let listener = heard.clone();
    let h = Harness::with(&[app()], move |builder| {
        builder.refresh_token_grace(grace).on_event(listener)
    })
    .await;
    (h, heard)
}

/// Issues a grant: its access and refresh token.
async fn issue(h: &Harness) -> (String, String) {
    let answer = h.client_credentials("app", SECRET, None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    tokens(&answer)
}

fn tokens(answer: &Answer) -> (String, String) {
    (
        answer.str("access_token").unwrap().to_owned(),
        answer.str("refresh_token").unwrap().to_owned(),
    )
}

async fn active(server: &AuthorizationServer, token: &str) -> bool {
    let answer = send(
        server,
        post(
            "/oauth/introspect",
            Some(&basic("app", SECRET)),
            &form(&[("token", token)]),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["active"] == Value::Bool(true)
}

async fn record_id(h: &Harness, token: &str) -> String {
    h.record(token).await.id.to_string()
}

#[tokio::test]
async fn off_by_default_a_second_presentation_revokes_the_grant_and_is_reported() {
    let (h, heard) = harness(Duration::ZERO).await;
    assert_eq!(h.server.config().refresh_token_grace, Duration::ZERO);
    let (access, refresh) = issue(&h).await;
    let lost = h.refresh("app", SECRET, &refresh).await;
    assert_eq!(lost.status, 200, "{}", lost.json);
    // The client never saw the answer and retries at once.
    h.refresh("app", SECRET, &refresh)
        .await
        .assert_error(400, "invalid_grant");
    let (lost_access, lost_refresh) = tokens(&lost);
    for token in [&access, &lost_access, &lost_refresh] {
        assert!(!active(&h.server, token).await, "the grant is revoked");
    }
    assert_eq!(
        heard.take(),
        [("reused", record_id(&h, &refresh).await, 0)],
        "reuse is reported, with the window that applied"
    );
}

#[tokio::test]
async fn a_lost_answer_is_recovered_within_the_window_and_is_reuse_after_it() {
    let (h, heard) = harness(GRACE).await;
    let (access, refresh) = issue(&h).await;
    let lost = h.refresh("app", SECRET, &refresh).await;
    assert_eq!(lost.status, 200, "{}", lost.json);
    let (lost_access, lost_refresh) = tokens(&lost);

    // Five seconds later, the same token again: new tokens of the same grant.
    h.clock.advance(Duration::from_secs(5));
    let again = h.refresh("app", SECRET, &refresh).await;
    assert_eq!(again.status, 200, "{}", again.json);
    again.assert_oauth_headers();
    let (new_access, new_refresh) = tokens(&again);
    assert_ne!(new_refresh, lost_refresh);
    let grant = |token: String| {
        let server = &h.server;
        async move {
            let record = server
                .tokens()
                .find(&TokenHash::of(&token), None)
                .await
                .unwrap()
                .unwrap();
            record.grant_id
        }
    };
    assert_eq!(
        grant(new_refresh.clone()).await,
        grant(refresh.clone()).await,
        "the same grant, not a fork"
    );
    // One live refresh token: the new one; the lost one was superseded.
    assert!(active(&h.server, &new_refresh).await);
    assert!(!active(&h.server, &lost_refresh).await);
    assert!(!active(&h.server, &refresh).await);
    for token in [&access, &lost_access, &new_access] {
        assert!(active(&h.server, token).await, "access tokens live on");
    }
    assert_eq!(
        heard.take(),
        [("redeemed", record_id(&h, &lost_refresh).await, 5)]
    );
    // The superseded token is merely refused: the grant lives on.
    h.refresh("app", SECRET, &lost_refresh)
        .await
        .assert_error(400, "invalid_grant");
    assert!(active(&h.server, &new_refresh).await);
    assert!(heard.take().is_empty());

    // Past the window (15 s after the rotation), the same token is reuse.
    h.clock.advance(Duration::from_secs(10));
    h.refresh("app", SECRET, &refresh)
        .await
        .assert_error(400, "invalid_grant");
    for token in [&access, &new_access, &new_refresh] {
        assert!(!active(&h.server, token).await, "the grant is revoked");
    }
    assert_eq!(
        heard.take(),
        [("reused", record_id(&h, &refresh).await, 10)]
    );
}

#[tokio::test]
async fn once_the_successor_was_used_a_replay_is_reuse_even_within_the_window() {
    let (h, heard) = harness(GRACE).await;
    let (_, refresh) = issue(&h).await;
    let second = h.refresh("app", SECRET, &refresh).await;
    let (_, successor) = tokens(&second);
    let third = h.refresh("app", SECRET, &successor).await;
    assert_eq!(third.status, 200, "{}", third.json);
    let (latest_access, latest_refresh) = tokens(&third);
    h.clock.advance(Duration::from_secs(1));
    h.refresh("app", SECRET, &refresh)
        .await
        .assert_error(400, "invalid_grant");
    assert!(!active(&h.server, &latest_access).await);
    assert!(!active(&h.server, &latest_refresh).await);
    assert_eq!(heard.take().first().map(|event| event.0), Some("reused"));
}

#[tokio::test]
async fn revoking_the_grant_during_the_window_ends_it() {
    let (h, heard) = harness(GRACE).await;
    let (_, refresh) = issue(&h).await;
    let second = h.refresh("app", SECRET, &refresh).await;
    let (_, successor) = tokens(&second);
    // RFC 7009 §2.1: revoking a refresh token revokes its grant.
    let revoked = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("app", SECRET)),
            &form(&[("token", &successor)]),
        ))
        .await;
    assert_eq!(revoked.status, 200);
    let replay = h.refresh("app", SECRET, &refresh).await;
    replay.assert_error(400, "invalid_grant");
    assert!(
        heard.take().iter().all(|event| event.0 != "redeemed"),
        "no redemption in a revoked grant"
    );
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(&refresh), None)
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked_at.is_some());
    assert_eq!(
        h.store.token_count(),
        4,
        "nothing stored after the revocation"
    );
}

#[tokio::test]
async fn a_clients_own_window_overrides_the_servers() {
    let with_window = Client::confidential("tab", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_refresh_token_grace(GRACE)
        .build()
        .unwrap();
    let opted_out = Client::confidential("strict", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_refresh_token_grace(Duration::ZERO)
        .build()
        .unwrap();
    // The server's default is off for `app`, the client's window applies to `tab`...
    let h = Harness::new(&[app(), with_window.clone()]).await;
    for (client, recovered) in [("app", false), ("tab", true)] {
        let answer = h.client_credentials(client, SECRET, None).await;
        let (_, refresh) = tokens(&answer);
        h.refresh(client, SECRET, &refresh).await;
        let again = h.refresh(client, SECRET, &refresh).await;
        assert_eq!(again.status == 200, recovered, "{client}: {}", again.json);
    }
    // ... and a client can opt out of the server's window.
    let h = Harness::with(&[app(), opted_out], |builder| {
        builder.refresh_token_grace(GRACE)
    })
    .await;
    for (client, recovered) in [("app", true), ("strict", false)] {
        let answer = h.client_credentials(client, SECRET, None).await;
        let (_, refresh) = tokens(&answer);
        h.refresh(client, SECRET, &refresh).await;
        let again = h.refresh(client, SECRET, &refresh).await;
        assert_eq!(again.status == 200, recovered, "{client}: {}", again.json);
    }
}

#[tokio::test]
async fn the_example_server_takes_the_window_as_an_option() {
    use clap::Parser as _;
    use oauth_endpoints_examples::server::{Options, prepare};
    for (args, grace) in [
        (&["server", "--store", "memory"][..], Duration::ZERO),
        (
            &["server", "--store", "memory", "--refresh-token-grace", "10"][..],
            GRACE,
        ),
    ] {
        let options = Options::try_parse_from(args).unwrap();
        let prepared = prepare(&options).await.unwrap();
        assert_eq!(
            prepared.server.config().refresh_token_grace,
            grace,
            "{args:?}"
        );
    }
}

#[test]
fn a_clients_file_entry_sets_the_window_in_seconds() {
    let metadata: ClientMetadata = serde_json::from_str(
        r#"{"client_id": "spa", "token_endpoint_auth_method": "none",
            "grant_types": ["refresh_token"], "refresh_token_grace": 10}"#,
    )
    .unwrap();
    let client = metadata.into_client().unwrap();
    assert_eq!(client.refresh_token_grace(), Some(GRACE));
    let metadata: ClientMetadata =
        serde_json::from_str(r#"{"client_id": "spa", "token_endpoint_auth_method": "none"}"#)
            .unwrap();
    assert_eq!(metadata.into_client().unwrap().refresh_token_grace(), None);
}

/// Racing tabs: `TABS` refreshes of one refresh token at once, spread over `servers` (instances
/// sharing one store). With a window, every tab gets 200 and tokens of the one grant, which
/// stays live with exactly one live refresh token; without, exactly one wins and the replays
/// revoke the grant.
async fn racing_tabs(servers: &[AuthorizationServer], grace: bool) {
    const TABS: usize = 8;
    let first = &servers[0];
    first.clients().save(&app()).await.unwrap();
    let issued = send(
        first,
        post(
            "/oauth/token",
            Some(&basic("app", SECRET)),
            &form(&[("grant_type", "client_credentials")]),
        ),
    )
    .await;
    let (_, refresh) = tokens(&issued);
    let barrier = Arc::new(tokio::sync::Barrier::new(TABS));
    let tabs: Vec<_> = (0..TABS)
        .map(|tab| {
            let server = servers[tab % servers.len()].clone();
            let barrier = barrier.clone();
            let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
            tokio::spawn(async move {
                barrier.wait().await;
                send(
                    &server,
                    post("/oauth/token", Some(&basic("app", SECRET)), &body),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for tab in tabs {
        answers.push(tab.await.unwrap());
    }
    assert!(
        answers.iter().all(|answer| answer.status.as_u16() < 500),
        "no 5xx: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let won: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    if grace {
        assert_eq!(won.len(), TABS, "every tab succeeds within the window");
        let mut live = Vec::new();
        for answer in &won {
            let (access, refresh) = tokens(answer);
            assert!(
                active(first, &access).await,
                "every tab's access token works"
            );
            if active(first, &refresh).await {
                live.push(refresh);
            }
        }
        assert_eq!(live.len(), 1, "exactly one live refresh token in the grant");
        let next = send(
            &servers[servers.len() - 1],
            post(
                "/oauth/token",
                Some(&basic("app", SECRET)),
                &form(&[("grant_type", "refresh_token"), ("refresh_token", &live[0])]),
            ),
        )
        .await;
        assert_eq!(next.status, 200, "the grant is live: {}", next.json);
    } else {
        assert_eq!(won.len(), 1, "exactly one winner without a window");
        for answer in answers.iter().filter(|a| a.status != 200) {
            answer.assert_error(400, "invalid_grant");
        }
        let (access, refresh) = tokens(won[0]);
        assert!(
            !active(first, &access).await,
            "the replays revoked the grant"
        );
        assert!(
            !active(first, &refresh).await,
            "the replays revoked the grant"
        );
    }
}

fn on(store: impl Into<StoreChoice>, grace: Duration) -> AuthorizationServer {
    let builder = AuthorizationServer::builder().refresh_token_grace(grace);
    match store.into() {
        StoreChoice::Memory(store) => builder.store(store),
        StoreChoice::Sqlite(store) => builder.store(store),
        StoreChoice::Pg(store) => builder.store(store),
    }
    .build()
    .unwrap()
}

enum StoreChoice {
    Memory(MemoryStore),
    Sqlite(SqliteStore),
    Pg(oauth_endpoints::store::PgStore),
}

impl From<MemoryStore> for StoreChoice {
    fn from(store: MemoryStore) -> Self {
        Self::Memory(store)
    }
}

impl From<SqliteStore> for StoreChoice {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

impl From<oauth_endpoints::store::PgStore> for StoreChoice {
    fn from(store: oauth_endpoints::store::PgStore) -> Self {
        Self::Pg(store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tabs_on_the_memory_store() {
    for grace in [true, false] {
        for _ in 0..5 {
            let window = if grace { GRACE } else { Duration::ZERO };
            racing_tabs(&[on(MemoryStore::new(), window)], grace).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tabs_on_the_sqlite_store_through_two_handles() {
    for grace in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth.db");
        let window = if grace { GRACE } else { Duration::ZERO };
        let servers = [
            on(SqliteStore::open(&path).await.unwrap(), window),
            on(SqliteStore::open(&path).await.unwrap(), window),
        ];
        for _ in 0..5 {
            racing_tabs(&servers, grace).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tabs_on_postgres_across_two_instances() {
    let Some(schema) = TestSchema::create("grace_tabs").await else {
        return;
    };
    for grace in [true, false] {
        let window = if grace { GRACE } else { Duration::ZERO };
        let servers = [
            on(schema.store().await, window),
            on(schema.store().await, window),
        ];
        for _ in 0..10 {
            racing_tabs(&servers, grace).await;
        }
    }
}

//! `PgStore` against the real PostgreSQL named by `OAUTH_ENDPOINTS_TEST_POSTGRES` (each test in
//! a schema of its own; without the variable every test prints that it was skipped): several
//! server instances sharing one database, concurrent rotation across instances, an outage cut
//! by a TCP proxy, migrations, indexes and purging.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A failure is a failing test.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser as _;
use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{
    ClientStore, PgStore, PgStoreOptions, Rotation, StoreError, TokenStore,
};
use oauth_endpoints::token::TokenKind;
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_examples::server::{Options, bind, prepare, serve};
use oauth_endpoints_tests::pg::{TestSchema, with_search_path};
use oauth_endpoints_tests::{Answer, basic, contract, form, post, send};
use serde_json::Value;
use sqlx::Row as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Barrier, oneshot, watch};
use tokio::task::JoinHandle;

const CLIENT: &str = "app";
const SECRET: &str = "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const CLIENTS: &str = r#"[
  {"client_id": "app", "client_secret": "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
   "grant_types": ["client_credentials", "refresh_token"], "scope": "read write"}
]"#;

fn app() -> Client {
    Client::confidential(CLIENT, SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

/// A server instance over a store of its own (its own pool) on `options`' schema.
async fn instance(options: PgStoreOptions) -> AuthorizationServer {
    let store = options.connect().await.expect("the store opens");
    AuthorizationServer::builder().store(store).build().unwrap()
}

fn token_request() -> String {
    form(&[("grant_type", "client_credentials"), ("scope", "read")])
}

fn refresh_request(refresh_token: &str) -> String {
    form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ])
}

fn token_form(token: &str) -> String {
    form(&[("token", token)])
}

/// Dispatches a form POST with the app's Basic credentials.
async fn call(server: &AuthorizationServer, path: &str, body: &str) -> Answer {
    send(server, post(path, Some(&basic(CLIENT, SECRET)), body)).await
}

/// Issues an access and a refresh token through `server`.
async fn issue(server: &AuthorizationServer) -> (String, String) {
    let answer = call(server, "/oauth/token", &token_request()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    (
        answer.str("access_token").unwrap().to_owned(),
        answer.str("refresh_token").unwrap().to_owned(),
    )
}

async fn active(server: &AuthorizationServer, token: &str) -> bool {
    let answer = call(server, "/oauth/introspect", &token_form(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["active"] == Value::Bool(true)
}

/// The example server (`cargo run --example server`) on an ephemeral port.
struct HttpInstance {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
}

impl HttpInstance {
    async fn start(store_url: &str, clients: &Path) -> Self {
        let options = Options::try_parse_from([
            "server",
            "--addr",
            "127.0.0.1:0",
            "--store",
            store_url,
            "--clients",
            clients.to_str().unwrap(),
        ])
        .unwrap();
        let prepared = prepare(&options).await.unwrap();
        let listener = bind(options.addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, prepared.server, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop,
            task,
            http: reqwest::Client::new(),
        }
    }

    /// A form POST over HTTP with the app's Basic credentials.
    async fn call(&self, path: &str, body: &str) -> Answer {
        let response = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic(CLIENT, SECRET))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            json,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_truth() {
    let Some(schema) = TestSchema::create("share").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.json");
    std::fs::write(&clients, CLIENTS).unwrap();
    // A: the example server over HTTP, opened from `--store postgres://...`.
    let a = HttpInstance::start(&schema.url_with_schema(), &clients).await;
    // B: another instance with a pool of its own, in process.
    let b = instance(schema.options()).await;

    // Issue on A, introspect on B.
    let issued = a.call("/oauth/token", &token_request()).await;
    assert_eq!(issued.status, 200, "{}", issued.json);
    let access = issued.str("access_token").unwrap().to_owned();
    let refresh = issued.str("refresh_token").unwrap().to_owned();
    let seen = call(&b, "/oauth/introspect", &token_form(&access)).await;
    assert_eq!(seen.json["active"], true, "{}", seen.json);
    assert_eq!(seen.str("client_id"), Some(CLIENT));
    assert_eq!(seen.str("scope"), Some("read"));

    // Revoke on B: inactive on A at once.
    let revoked = call(&b, "/oauth/revoke", &token_form(&access)).await;
    assert_eq!(revoked.status, 200, "{}", revoked.json);
    assert_eq!(revoked.body.as_ref(), b"{}");
    let after = a.call("/oauth/introspect", &token_form(&access)).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body.as_ref(), br#"{"active":false}"#);

    // Rotate the refresh token on B; replaying it on A is reuse: the grant is revoked, and A
    // sees B's new access token inactive.
    let rotated = call(&b, "/oauth/token", &refresh_request(&refresh)).await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    let new_access = rotated.str("access_token").unwrap().to_owned();
    let new_refresh = rotated.str("refresh_token").unwrap().to_owned();
    let seen = a.call("/oauth/introspect", &token_form(&new_access)).await;
    assert_eq!(seen.json["active"], true, "{}", seen.json);
    let replayed = a.call("/oauth/token", &refresh_request(&refresh)).await;
    replayed.assert_error(400, "invalid_grant");
    for token in [&new_access, &new_refresh] {
        let seen = a.call("/oauth/introspect", &token_form(token)).await;
        assert_eq!(seen.body.as_ref(), br#"{"active":false}"#);
        assert!(!active(&b, token).await);
    }
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_rotating_one_refresh_token_at_once_have_exactly_one_winner() {
    let Some(schema) = TestSchema::create("race").await else {
        return;
    };
    let a = instance(schema.options()).await;
    let b = instance(schema.options()).await;
    a.clients().save(&app()).await.unwrap();
    for round in 0..8 {
        let (_, refresh) = issue(&a).await;
        let start = Arc::new(Barrier::new(2));
        let exchanges: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|server| {
                let start = start.clone();
                let body = refresh_request(&refresh);
                tokio::spawn(async move {
                    start.wait().await;
                    call(&server, "/oauth/token", &body).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for exchange in exchanges {
            answers.push(exchange.await.unwrap());
        }
        let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let loser = answers.iter().find(|a| a.status != 200).unwrap();
        loser.assert_error(400, "invalid_grant");
        // The loser presented an already rotated token: a replay, so the grant is revoked,
        // the winner's new tokens included (RFC 9700 §4.14.2), as seen from both instances.
        let new_access = winners[0].str("access_token").unwrap();
        assert!(!active(&a, new_access).await, "round {round}");
        assert!(!active(&b, new_access).await, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_rotations_over_two_pools_have_exactly_one_winner() {
    let Some(schema) = TestSchema::create("many").await else {
        return;
    };
    let stores = [schema.store().await, schema.store().await];
    let grant = Id::random();
    let (refresh, record) = contract::record(TokenKind::Refresh, grant, CLIENT);
    stores[0].insert_tokens(&[record]).await.unwrap();
    let start = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % 2].clone();
            let start = start.clone();
            let hash = TokenHash::of(&refresh);
            tokio::spawn(async move {
                let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
                start.wait().await;
                store
                    .rotate_refresh_token(&hash, 1_700_000_001, &[next], Duration::ZERO)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut rotated, mut reused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Rotation::Rotated(_) => rotated += 1,
            Rotation::Reused(_) => reused += 1,
            other => panic!("without a grace window: {other:?}"),
        }
    }
    assert_eq!((rotated, reused), (1, 15));
}

/// A TCP proxy in front of PostgreSQL that the test cuts (every connection dropped, new ones
/// refused) and restores (listening again on the same address), or freezes (bytes are held,
/// nothing answers: a network that drops packets) and thaws.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    listener: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    frozen: watch::Sender<bool>,
}

/// Copies bytes from `from` to `to`, holding them while the proxy is frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if frozen.wait_for(|frozen| !*frozen).await.is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            listener: Mutex::new(None),
            connections: Arc::default(),
            frozen: watch::Sender::new(false),
        };
        proxy.accept(listener);
        proxy
    }

    fn accept(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let connections = self.connections.clone();
        let frozen = self.frozen.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let frozen = frozen.subscribe();
                let connection = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        let (inbound_read, inbound_write) = inbound.into_split();
                        let (outbound_read, outbound_write) = outbound.into_split();
                        tokio::join!(
                            pump(inbound_read, outbound_write, frozen.clone()),
                            pump(outbound_read, inbound_write, frozen),
                        );
                    }
                });
                connections.lock().unwrap().push(connection);
            }
        });
        *self.listener.lock().unwrap() = Some(task);
    }

    /// Closes the listening socket (new connections are refused) and every open connection.
    async fn cut(&self) {
        let listener = self.listener.lock().unwrap().take();
        if let Some(task) = listener {
            task.abort();
            let _ = task.await;
        }
        let connections: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        for connection in connections {
            connection.abort();
            let _ = connection.await;
        }
    }

    /// Listens again on the same address.
    async fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        self.accept(socket.listen(64).unwrap());
    }

    /// Holds every byte in both directions, on open and new connections alike.
    fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Delivers the held bytes and forwards again.
    fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

/// The database URL through `proxy`, and the address the proxy forwards to.
async fn upstream(url: &str) -> SocketAddr {
    let direct = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
    tokio::net::lookup_host((direct.get_host(), direct.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!("{scheme}://{userinfo}{addr}{tail}")
}

fn assert_unavailable(answer: &Answer, elapsed: Duration, what: &str) {
    answer.assert_error(503, "temporarily_unavailable");
    let retry_after: u32 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert!(
        elapsed < Duration::from_secs(10),
        "{what} took {elapsed:?} to answer 503"
    );
    eprintln!("{what} during the outage: 503 after {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_answers_503_within_bounds_and_the_server_recovers_by_itself() {
    let Some(schema) = TestSchema::create("outage").await else {
        return;
    };
    let proxy = Proxy::start(upstream(schema.url()).await).await;
    // The default options: a 3 s acquire timeout, a 5 s operation timeout.
    let server =
        instance(PgStoreOptions::new(through(schema.url(), proxy.addr)).schema(schema.name()))
            .await;
    server.clients().save(&app()).await.unwrap();

    let (revoked, _) = issue(&server).await;
    let (kept, _) = issue(&server).await;
    let answer = call(&server, "/oauth/revoke", &token_form(&revoked)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    proxy.cut().await;
    for (what, path, body) in [
        ("token", "/oauth/token", token_request()),
        ("introspection", "/oauth/introspect", token_form(&kept)),
        ("revocation", "/oauth/revoke", token_form(&kept)),
    ] {
        let started = Instant::now();
        let answer = call(&server, path, &body).await;
        assert_unavailable(&answer, started.elapsed(), what);
    }

    // Back without restarting anything: the pool drops its broken connections and opens new
    // ones.
    proxy.restore().await;
    let started = Instant::now();
    let answer = call(&server, "/oauth/token", &token_request()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    eprintln!(
        "first request after the outage: 200 after {:?}",
        started.elapsed()
    );
    // The revocation answered 200 before the outage is still in force; the one that answered
    // 503 changed nothing.
    assert!(!active(&server, &revoked).await);
    assert!(active(&server, &kept).await);
    proxy.cut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_gets_503_within_the_operation_timeout() {
    let Some(schema) = TestSchema::create("frozen").await else {
        return;
    };
    let proxy = Proxy::start(upstream(schema.url()).await).await;
    let options = PgStoreOptions::new(through(schema.url(), proxy.addr))
        .schema(schema.name())
        // The operation timeout is what bounds a wait here, not the acquire timeout.
        .acquire_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(2));
    let server = instance(options).await;
    server.clients().save(&app()).await.unwrap();
    let (revoked, _) = issue(&server).await;
    let (kept, _) = issue(&server).await;
    let answer = call(&server, "/oauth/revoke", &token_form(&revoked)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    // Open connections and new ones alike get no answer: without the timeouts, requests would
    // wait for TCP to give up, minutes later.
    proxy.freeze();
    for (what, path, body) in [
        ("token", "/oauth/token", token_request()),
        ("introspection", "/oauth/introspect", token_form(&kept)),
        ("revocation", "/oauth/revoke", token_form(&kept)),
    ] {
        let started = Instant::now();
        let answer = call(&server, path, &body).await;
        assert_unavailable(&answer, started.elapsed(), what);
    }

    proxy.thaw();
    let started = Instant::now();
    let answer = call(&server, "/oauth/token", &token_request()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    eprintln!(
        "first request after the freeze: 200 after {:?}",
        started.elapsed()
    );
    assert!(!active(&server, &revoked).await);
    assert!(active(&server, &kept).await);
    proxy.cut().await;
}

#[tokio::test]
async fn opening_an_unreachable_database_fails_within_the_acquire_timeout() {
    // A loopback port nothing listens on: connections are refused at once, and the pool
    // retries until its acquire timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let started = Instant::now();
    let opened = PgStoreOptions::new(format!("postgres://postgres@{addr}/test"))
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_at_once_create_the_schema_and_migrate_once() {
    let Some(schema) = TestSchema::reserve("open") else {
        return;
    };
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let options = schema.options();
            tokio::spawn(async move { options.connect().await })
        })
        .collect();
    for open in opening {
        open.await.unwrap().expect("every instance opens");
    }
    // Reopening applies nothing new.
    let store = schema.store().await;
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM oauth_endpoints_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         ORDER BY table_name",
    )
    .bind(schema.name())
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "oauth_authorizations",
            "oauth_clients",
            "oauth_endpoints_migrations",
            "oauth_grants",
            "oauth_replay_ids",
            "oauth_tokens"
        ]
    );
}

/// The plan PostgreSQL chooses for `statement`.
async fn explain(pool: &sqlx::PgPool, statement: &str) -> String {
    let statement = format!("EXPLAIN {statement}");
    let rows = sqlx::query(&statement).fetch_all(pool).await.unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn token_lookups_use_the_primary_key_and_revocation_the_grant_index() {
    let Some(schema) = TestSchema::create("index").await else {
        return;
    };
    let store = schema.store().await;
    // Enough rows for the planner to prefer an index once the table is analyzed.
    sqlx::raw_sql(
        "INSERT INTO oauth_tokens (hash, id, kind, client_id, scope, audience, grant_id, \
         issued_at, expires_at) \
         SELECT sha256(i::text::bytea), substr(sha256(i::text::bytea), 1, 16), 'access', 'c', \
         'read', '[]', substr(sha256((i / 2)::text::bytea), 1, 16), 0, i \
         FROM generate_series(1, 20000) AS i; ANALYZE oauth_tokens;",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let find = explain(
        store.pool(),
        "SELECT * FROM oauth_tokens WHERE hash = sha256('77'::bytea)",
    )
    .await;
    assert!(find.contains("oauth_tokens_pkey"), "{find}");
    let revoke = explain(
        store.pool(),
        "UPDATE oauth_tokens SET revoked_at = 1 \
         WHERE grant_id = substr(sha256('7'::bytea), 1, 16) AND revoked_at IS NULL",
    )
    .await;
    assert!(revoke.contains("oauth_tokens_grant"), "{revoke}");
    let purge = explain(
        store.pool(),
        "SELECT hash FROM oauth_tokens WHERE expires_at < 100 LIMIT 10",
    )
    .await;
    assert!(purge.contains("oauth_tokens_expires"), "{purge}");
}

#[tokio::test]
async fn purging_deletes_expired_tokens_in_bounded_batches() {
    let Some(schema) = TestSchema::create("purge").await else {
        return;
    };
    let store = schema.store().await;
    let mut expired = Vec::new();
    for _ in 0..25 {
        let (_, mut record) = contract::record(TokenKind::Access, Id::random(), CLIENT);
        record.expires_at = 100;
        expired.push(record);
    }
    let (live, record) = contract::record(TokenKind::Access, Id::random(), CLIENT);
    expired.push(record);
    store.insert_tokens(&expired).await.unwrap();
    let mut batches = Vec::new();
    loop {
        let purged = store.purge_expired(1_000, 10).await.unwrap();
        batches.push(purged);
        if purged == 0 {
            break;
        }
    }
    assert_eq!(batches, [10, 10, 5, 0]);
    assert!(
        store
            .find_token(&TokenHash::of(&live), None)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_url_carrying_the_search_path_uses_that_schema() {
    let Some(schema) = TestSchema::create("url").await else {
        return;
    };
    let store = PgStore::connect(&with_search_path(schema.url(), schema.name()))
        .await
        .unwrap();
    let (value, record) = contract::record(TokenKind::Access, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .unwrap();
    let mut connection = schema.connection().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_tokens")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let other = schema.store().await;
    assert_eq!(
        other
            .find_token(&TokenHash::of(&value), None)
            .await
            .unwrap(),
        Some(record)
    );
}

// Grant serialization across instances (issue 15, item 1): two stores with pools of their own
// on one schema, as two server instances behind a load balancer.

/// Tokens of `grant` that are not revoked, looked up behind the stores' back.
async fn unrevoked_tokens_of(schema: &TestSchema, grant: &Id) -> i64 {
    let mut connection = schema.connection().await;
    sqlx::query_scalar(
        "SELECT count(*) FROM oauth_tokens WHERE grant_id = $1 AND revoked_at IS NULL",
    )
    .bind(grant.as_bytes().as_slice())
    .fetch_one(&mut connection)
    .await
    .unwrap()
}

/// Rotates `refresh` on `store` again and again (each exchange storing an access and a refresh
/// token of `grant`) until an exchange is refused or `stop` is set and `extra` more exchanges
/// went through. Returns how many exchanges succeeded; panics on any store error.
async fn refresh_loop(
    store: PgStore,
    grant: Id,
    mut refresh: String,
    stop: watch::Receiver<bool>,
    extra: usize,
) -> usize {
    let mut rotated = 0;
    let mut after_stop = 0;
    loop {
        if *stop.borrow() {
            if after_stop == extra {
                return rotated;
            }
            after_stop += 1;
        }
        let (_, access) = contract::record(TokenKind::Access, grant, CLIENT);
        let (next, next_record) = contract::record(TokenKind::Refresh, grant, CLIENT);
        let outcome = store
            .rotate_refresh_token(
                &TokenHash::of(&refresh),
                1_700_000_001,
                &[access, next_record],
                Duration::ZERO,
            )
            .await
            .unwrap_or_else(|error| panic!("exchange {rotated}: {error}"));
        match outcome {
            Rotation::Rotated(_) => {
                rotated += 1;
                refresh = next;
            }
            Rotation::Reused(_) | Rotation::Reissued { .. } | Rotation::Invalid => return rotated,
        }
    }
}

/// A new grant with an access and a refresh token, stored through `store`; returns the
/// refresh token.
async fn new_grant(store: &PgStore, grant: Id) -> String {
    let (_, access) = contract::record(TokenKind::Access, grant, CLIENT);
    let (refresh, record) = contract::record(TokenKind::Refresh, grant, CLIENT);
    store.insert_tokens(&[access, record]).await.unwrap();
    refresh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_revocation_holds_against_a_refresh_loop_on_another_instance() {
    let Some(schema) = TestSchema::create("revoke_race").await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    for round in 0..30u64 {
        let grant = Id::random();
        let refresh = new_grant(&a, grant).await;
        let (stop, stopped) = watch::channel(false);
        // Instance A refreshes in a loop; instance B revokes the grant meanwhile.
        let refresher = tokio::spawn(refresh_loop(a.clone(), grant, refresh, stopped, 3));
        tokio::time::sleep(Duration::from_micros(500 * (round % 7))).await;
        b.revoke_grant(&grant, 1_700_000_002)
            .await
            .unwrap_or_else(|error| panic!("round {round}: revocation failed: {error}"));
        // The revocation answered: a few more exchanges are attempted, none may succeed, and
        // no token of the grant, old or new, may be active.
        stop.send_replace(true);
        let rotated = refresher.await.unwrap();
        let unrevoked = unrevoked_tokens_of(&schema, &grant).await;
        assert_eq!(
            unrevoked, 0,
            "round {round}: {unrevoked} tokens of the grant are still active after the \
             revocation returned ({rotated} exchanges went through)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_rotations_across_two_instances_have_one_winner_and_no_error() {
    let Some(schema) = TestSchema::create("rotate8").await else {
        return;
    };
    let stores = [schema.store().await, schema.store().await];
    for round in 0..50 {
        let grant = Id::random();
        let refresh = new_grant(&stores[0], grant).await;
        let start = Arc::new(Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                let start = start.clone();
                let hash = TokenHash::of(&refresh);
                tokio::spawn(async move {
                    let (_, access) = contract::record(TokenKind::Access, grant, CLIENT);
                    let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
                    start.wait().await;
                    store
                        .rotate_refresh_token(&hash, 1_700_000_001, &[access, next], Duration::ZERO)
                        .await
                })
            })
            .collect();
        let (mut rotated, mut reused, mut errors) = (0, 0, Vec::new());
        for task in tasks {
            match task.await.unwrap() {
                Ok(Rotation::Rotated(_)) => rotated += 1,
                Ok(Rotation::Reused(_)) => reused += 1,
                Ok(other) => panic!("round {round}: without a grace window: {other:?}"),
                Err(error) => errors.push(error.to_string()),
            }
        }
        assert!(errors.is_empty(), "round {round}: errors: {errors:?}");
        assert_eq!((rotated, reused), (1, 7), "round {round}");
        // The replays revoked the grant, the winner's new tokens included.
        assert_eq!(
            unrevoked_tokens_of(&schema, &grant).await,
            0,
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reuse_detection_holds_against_a_refresh_loop_on_another_instance() {
    let Some(schema) = TestSchema::create("reuse_race").await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    for round in 0..30u64 {
        let grant = Id::random();
        let stolen = new_grant(&a, grant).await;
        // The legitimate holder rotates once; the stolen copy is now a rotated token.
        let (_, access) = contract::record(TokenKind::Access, grant, CLIENT);
        let (refresh, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
        let first = a
            .rotate_refresh_token(
                &TokenHash::of(&stolen),
                1_700_000_001,
                &[access, next],
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert!(matches!(first, Rotation::Rotated(_)), "{first:?}");
        let (stop, stopped) = watch::channel(false);
        let refresher = tokio::spawn(refresh_loop(a.clone(), grant, refresh, stopped, 3));
        tokio::time::sleep(Duration::from_micros(500 * (round % 7))).await;
        // The thief replays the stolen token on instance B: reuse, the grant is revoked.
        let (_, spare) = contract::record(TokenKind::Refresh, grant, CLIENT);
        let replay = b
            .rotate_refresh_token(
                &TokenHash::of(&stolen),
                1_700_000_002,
                &[spare],
                Duration::ZERO,
            )
            .await
            .unwrap_or_else(|error| panic!("round {round}: the replay failed: {error}"));
        assert!(
            matches!(replay, Rotation::Reused(_)),
            "round {round}: {replay:?}"
        );
        stop.send_replace(true);
        let rotated = refresher.await.unwrap();
        let unrevoked = unrevoked_tokens_of(&schema, &grant).await;
        assert_eq!(
            unrevoked, 0,
            "round {round}: {unrevoked} tokens of the grant are still active after reuse was \
             detected ({rotated} exchanges went through)"
        );
    }
}

// A committed operation is never reported as failed (issue 15, item 2).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_commit_outlasts_the_operation_timeout_is_reported_as_done() {
    let Some(schema) = TestSchema::create("slow_commit").await else {
        return;
    };
    let store = schema
        .options()
        .operation_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let grant = Id::random();
    let refresh = new_grant(&store, grant).await;
    // A loaded database, simulated: each token update takes 1 s, and each transaction that
    // inserted tokens takes 1.5 s more to commit (a deferred trigger runs at COMMIT). Each
    // statement stays within the 2 s `statement_timeout`; the whole exchange takes 2.5 s.
    let mut connection = schema.connection().await;
    sqlx::raw_sql(
        "CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$; \
         CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$; \
         CREATE TRIGGER slow_update BEFORE UPDATE ON oauth_tokens \
         FOR EACH ROW EXECUTE FUNCTION slow_update(); \
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON oauth_tokens \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
    let started = Instant::now();
    let outcome = store
        .rotate_refresh_token(
            &TokenHash::of(&refresh),
            1_700_000_001,
            &[next],
            Duration::ZERO,
        )
        .await;
    eprintln!(
        "the exchange answered {outcome:?} after {:?}",
        started.elapsed()
    );
    let stored = store
        .find_token(&TokenHash::of(&refresh), None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.rotated_at.is_some(),
        "the exchange was not committed"
    );
    // It committed: the caller must be told so, or its retry would count as reuse.
    assert!(
        matches!(outcome, Ok(Rotation::Rotated(_))),
        "a committed exchange was reported as {outcome:?}"
    );
}

#[tokio::test]
async fn a_database_of_the_first_schema_migrates_and_keeps_its_revoked_grants() {
    let Some(schema) = TestSchema::create("migrate_grants").await else {
        return;
    };
    let store = schema.store().await;
    let (revoked, live) = (Id::random(), Id::random());
    new_grant(&store, revoked).await;
    let refresh = new_grant(&store, live).await;
    store.revoke_grant(&revoked, 1_700_000_001).await.unwrap();
    // Back to the first schema: tokens only, no grants table.
    let mut connection = schema.connection().await;
    sqlx::raw_sql(
        "DROP TABLE oauth_grants; DROP INDEX oauth_tokens_subject; \
         ALTER TABLE oauth_tokens DROP COLUMN successor; \
         ALTER TABLE oauth_clients DROP COLUMN previous_secret_hash, \
         DROP COLUMN previous_secret_until, DROP COLUMN refresh_token_grace, \
         DROP COLUMN redirect_uris, DROP COLUMN require_pushed_requests, \
         DROP COLUMN jwks, DROP COLUMN access_token_format; \
         DROP TABLE oauth_authorizations; DROP TABLE oauth_replay_ids; \
         ALTER TABLE oauth_tokens DROP COLUMN jkt; \
         ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources, DROP COLUMN served_resources; \
         DELETE FROM oauth_endpoints_migrations WHERE version > 1;",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    store.pool().close().await;

    let store = schema.store().await;
    let grants: Vec<(Vec<u8>, Option<i64>)> =
        sqlx::query_as("SELECT grant_id, revoked_at FROM oauth_grants ORDER BY revoked_at")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(grants.len(), 2, "one row per grant, backfilled");
    // The revoked grant takes no token; the live one rotates.
    let (_, late) = contract::record(TokenKind::Access, revoked, CLIENT);
    let refused = store.insert_tokens(&[late]).await;
    assert!(
        matches!(refused, Err(StoreError::GrantRevoked)),
        "{refused:?}"
    );
    let (_, next) = contract::record(TokenKind::Refresh, live, CLIENT);
    let rotated = store
        .rotate_refresh_token(
            &TokenHash::of(&refresh),
            1_700_000_002,
            &[next],
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
}

#[tokio::test]
async fn a_database_of_the_second_schema_migrates_to_the_grace_window() {
    let Some(schema) = TestSchema::create("migrate_grace").await else {
        return;
    };
    let store = schema.store().await;
    let grant = Id::random();
    let refresh = new_grant(&store, grant).await;
    // Back to the second schema: no successors, no per-client window.
    let mut connection = schema.connection().await;
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN successor; DROP INDEX oauth_tokens_subject; \
         ALTER TABLE oauth_clients DROP COLUMN refresh_token_grace, \
         DROP COLUMN previous_secret_hash, DROP COLUMN previous_secret_until, \
         DROP COLUMN redirect_uris, DROP COLUMN require_pushed_requests, \
         DROP COLUMN jwks, DROP COLUMN access_token_format; \
         DROP TABLE oauth_authorizations; DROP TABLE oauth_replay_ids; \
         ALTER TABLE oauth_tokens DROP COLUMN jkt; \
         ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources, DROP COLUMN served_resources; \
         DELETE FROM oauth_endpoints_migrations WHERE version > 2;",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    store.pool().close().await;

    let store = schema.store().await;
    let grace = Duration::from_secs(10);
    let hash = TokenHash::of(&refresh);
    let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
    let rotated = store
        .rotate_refresh_token(&hash, 1_700_000_002, &[next], grace)
        .await
        .unwrap();
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
    let (_, again) = contract::record(TokenKind::Refresh, grant, CLIENT);
    let redeemed = store
        .rotate_refresh_token(&hash, 1_700_000_003, &[again], grace)
        .await
        .unwrap();
    assert!(
        matches!(redeemed, Rotation::Reissued { .. }),
        "{redeemed:?}"
    );
    let own = Client::public("tab")
        .with_refresh_token_grace(Duration::from_secs(7))
        .build()
        .unwrap();
    store.save_client(&own).await.unwrap();
    let found = store.find_client("tab").await.unwrap();
    assert_eq!(
        found.and_then(|c| c.refresh_token_grace()),
        Some(Duration::from_secs(7))
    );
}

#[tokio::test]
async fn a_database_of_the_seventh_schema_migrates_to_bound_tokens() {
    let Some(schema) = TestSchema::create("migrate_jkt").await else {
        return;
    };
    let store = schema.store().await;
    let (bearer, record) = contract::record(TokenKind::Access, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .unwrap();
    // Back to the seventh schema: no binding.
    let mut connection = schema.connection().await;
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN jkt; \
         ALTER TABLE oauth_clients DROP COLUMN dpop_bound; \
         ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources, DROP COLUMN served_resources; \
         DELETE FROM oauth_endpoints_migrations WHERE version > 7;",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    store.pool().close().await;

    let store = schema.store().await;
    let found = store
        .find_token(&TokenHash::of(&bearer), None)
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(record),
        "a token stored before is a bearer token"
    );
    let (bound, record) = contract::bound_record(TokenKind::Refresh, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .unwrap();
    let found = store
        .find_token(&TokenHash::of(&bound), None)
        .await
        .unwrap();
    assert_eq!(found.and_then(|r| r.confirmation), Some(contract::JKT));
    let column: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT jkt FROM oauth_tokens WHERE hash = $1")
            .bind(TokenHash::of(&bound).as_bytes().as_slice())
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert_eq!(column.as_deref(), Some(contract::JKT.as_bytes().as_slice()));
}

#[tokio::test]
async fn a_database_of_the_ninth_schema_migrates_to_delegation_and_resources() {
    use oauth_endpoints::test_kit::{delegated_record, delegation};
    let Some(schema) = TestSchema::create("migrate_delegation").await else {
        return;
    };
    let store = schema.store().await;
    store.save_client(&app()).await.unwrap();
    let (plain, record) = contract::record(TokenKind::Access, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .unwrap();
    // Back to the ninth schema: no delegation, no resources.
    let mut connection = schema.connection().await;
    sqlx::raw_sql(
        "ALTER TABLE oauth_tokens DROP COLUMN delegation; \
         ALTER TABLE oauth_clients DROP COLUMN allowed_resources, DROP COLUMN served_resources; \
         DELETE FROM oauth_endpoints_migrations WHERE version > 9;",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    store.pool().close().await;

    let store = schema.store().await;
    let found = store
        .find_token(&TokenHash::of(&plain), None)
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(record),
        "a token stored before has no delegation"
    );
    let found = store.find_client(CLIENT).await.unwrap();
    assert_eq!(
        found,
        Some(app()),
        "a client stored before names no resource"
    );

    // Through the batched insertion and through one transaction's statements.
    let (batched, record) = delegated_record(TokenKind::Access, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&record))
        .await
        .unwrap();
    let found = store
        .find_token(&TokenHash::of(&batched), None)
        .await
        .unwrap();
    assert_eq!(found, Some(record));
    let grant = Id::random();
    let (refresh, record) = contract::record(TokenKind::Refresh, grant, CLIENT);
    store.insert_tokens(&[record]).await.unwrap();
    let (rotated, record) = delegated_record(TokenKind::Refresh, grant, CLIENT);
    let outcome = store
        .rotate_refresh_token(
            &TokenHash::of(&refresh),
            1_700_000_010,
            std::slice::from_ref(&record),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Rotation::Rotated(_)), "{outcome:?}");
    let found = store
        .find_token(&TokenHash::of(&rotated), None)
        .await
        .unwrap();
    assert_eq!(found, Some(record));
    let column: Option<String> =
        sqlx::query_scalar("SELECT delegation FROM oauth_tokens WHERE hash = $1")
            .bind(TokenHash::of(&batched).as_bytes().as_slice())
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert_eq!(
        column,
        Some(serde_json::to_string(&delegation()).unwrap()),
        "compact JSON"
    );

    let client = app()
        .to_builder()
        .with_allowed_resources(["https://api.example/"])
        .with_served_resources(["https://rs.example/", "rs"])
        .build()
        .unwrap();
    store.save_client(&client).await.unwrap();
    let found = store.find_client(CLIENT).await.unwrap();
    assert_eq!(found, Some(client));
    let columns: (String, String) = sqlx::query_as(
        "SELECT allowed_resources, served_resources FROM oauth_clients WHERE client_id = $1",
    )
    .bind(CLIENT)
    .fetch_one(&mut connection)
    .await
    .unwrap();
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
         UPDATE oauth_clients SET allowed_resources = '{}';",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let found = store.find_token(&TokenHash::of(&batched), None).await;
    assert!(matches!(found, Err(StoreError::Backend(_))), "{found:?}");
    let found = store.find_client(CLIENT).await;
    assert!(matches!(found, Err(StoreError::Backend(_))), "{found:?}");
}

/// Makes each transaction that inserted tokens take `seconds` more to commit (a deferred
/// trigger runs at `COMMIT`).
async fn slow_commits(schema: &TestSchema, seconds: f64) {
    let mut connection = schema.connection().await;
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON oauth_tokens \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
}

/// A rotation through `proxy` whose `COMMIT` takes 1.5 s; `meanwhile` runs 0.7 s after it
/// started, while the database is committing. Returns what the rotation answered and whether
/// it committed.
async fn rotate_while_committing(
    schema: &TestSchema,
    proxy: &Proxy,
    meanwhile: impl AsyncFnOnce(&Proxy),
) -> (Result<Rotation, StoreError>, bool) {
    let store = PgStoreOptions::new(through(schema.url(), proxy.addr))
        .schema(schema.name())
        .operation_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let grant = Id::random();
    let refresh = new_grant(&store, grant).await;
    slow_commits(schema, 1.5).await;
    let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
    let hash = TokenHash::of(&refresh);
    let started = Instant::now();
    let rotation = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .rotate_refresh_token(&hash, 1_700_000_001, &[next], Duration::ZERO)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    meanwhile(proxy).await;
    let outcome = rotation.await.unwrap();
    eprintln!(
        "the exchange answered {outcome:?} after {:?}",
        started.elapsed()
    );
    // Whatever the answer, look once the database is done with the transaction.
    tokio::time::sleep_until((started + Duration::from_millis(2500)).into()).await;
    let direct = schema.store().await;
    let stored = direct.find_token(&hash, None).await.unwrap().unwrap();
    proxy.cut().await;
    (outcome, stored.rotated_at.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_commit_answer_is_lost_with_the_connection_is_reported_as_done() {
    let Some(schema) = TestSchema::create("lost_commit").await else {
        return;
    };
    let proxy = Proxy::start(upstream(schema.url()).await).await;
    // The connection breaks after `COMMIT` was sent, before its answer.
    let (outcome, committed) = rotate_while_committing(&schema, &proxy, async |proxy| {
        proxy.cut().await;
        proxy.restore().await;
    })
    .await;
    assert!(committed, "the exchange did not commit");
    assert!(
        matches!(outcome, Ok(Rotation::Rotated(_))),
        "a committed exchange was reported as {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_commit_answer_is_held_past_the_timeout_is_reported_as_done() {
    let Some(schema) = TestSchema::create("held_commit").await else {
        return;
    };
    let proxy = Proxy::start(upstream(schema.url()).await).await;
    // The network holds every byte from before the answer to `COMMIT` until after the
    // operation timeout (2 s) has passed since the commit was sent.
    let (outcome, committed) = rotate_while_committing(&schema, &proxy, async |proxy| {
        proxy.freeze();
        tokio::time::sleep(Duration::from_millis(3000)).await;
        proxy.thaw();
    })
    .await;
    assert!(committed, "the exchange did not commit");
    assert!(
        matches!(outcome, Ok(Rotation::Rotated(_))),
        "a committed exchange was reported as {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_endpoints_a_revocation_on_one_instance_holds_against_refreshes_on_another() {
    let Some(schema) = TestSchema::create("http_race").await else {
        return;
    };
    let a = instance(schema.options()).await;
    let b = instance(schema.options()).await;
    a.clients().save(&app()).await.unwrap();
    for round in 0..30u64 {
        let (access, first_refresh) = issue(&a).await;
        let (stop, stopped) = watch::channel(false);
        // The holder refreshes in a loop on A...
        let refresher = tokio::spawn({
            let a = a.clone();
            let mut refresh = first_refresh.clone();
            async move {
                let mut tokens = Vec::new();
                let mut after_stop = 0;
                loop {
                    if *stopped.borrow() {
                        if after_stop == 3 {
                            return tokens;
                        }
                        after_stop += 1;
                    }
                    let answer = call(&a, "/oauth/token", &refresh_request(&refresh)).await;
                    if answer.status != 200 {
                        answer.assert_error(400, "invalid_grant");
                        return tokens;
                    }
                    tokens.push(answer.str("access_token").unwrap().to_owned());
                    refresh = answer.str("refresh_token").unwrap().to_owned();
                    tokens.push(refresh.clone());
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(2 * (round % 6))).await;
        // ...while the client revokes the grant on B through its first refresh token.
        let revoked = call(&b, "/oauth/revoke", &token_form(&first_refresh)).await;
        assert_eq!(revoked.status, 200, "round {round}: {}", revoked.json);
        stop.send_replace(true);
        let mut tokens = refresher.await.unwrap();
        let obtained = tokens.len() / 2;
        tokens.extend([access, first_refresh]);
        for token in &tokens {
            assert!(
                !active(&b, token).await,
                "round {round}: a token of the grant is active after the revocation answered \
                 200 ({obtained} refreshes went through)"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_the_store_did_not_cause_is_retried_not_reported() {
    let Some(schema) = TestSchema::create("deadlock").await else {
        return;
    };
    let store = schema.store().await;
    let grant = Id::random();
    let refresh = new_grant(&store, grant).await;
    let hash = TokenHash::of(&refresh);
    // Another program locks the token's row, then (once the exchange holds the grant and
    // waits for that row) the grant's: a lock cycle, which PostgreSQL breaks by rolling back
    // the exchange (its wait started first, so it finds the deadlock) with SQLSTATE 40P01.
    let mut other = schema.connection().await;
    sqlx::raw_sql("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM oauth_tokens WHERE hash = $1 FOR UPDATE")
        .bind(hash.as_bytes().as_slice())
        .execute(&mut other)
        .await
        .unwrap();
    let exchange = tokio::spawn({
        let store = store.clone();
        let (_, next) = contract::record(TokenKind::Refresh, grant, CLIENT);
        async move {
            store
                .rotate_refresh_token(&hash, 1_700_000_001, &[next], Duration::ZERO)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("SELECT 1 FROM oauth_grants WHERE grant_id = $1 FOR UPDATE")
        .bind(grant.as_bytes().as_slice())
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    let outcome = exchange.await.unwrap();
    assert!(
        matches!(outcome, Ok(Rotation::Rotated(_))),
        "the exchange answered {outcome:?}"
    );
}

/// Whether `client:secret` gets a token from `server`.
async fn authenticates(server: &AuthorizationServer, client: &str, secret: &str) -> bool {
    let answer = send(
        server,
        post(
            "/oauth/token",
            Some(&basic(client, secret)),
            &token_request(),
        ),
    )
    .await;
    answer.status == 200
}

/// How long `server` keeps answering as before, polled every 10 ms for at most 10 s.
async fn until_refused(server: &AuthorizationServer, client: &str, secret: &str) -> Duration {
    let start = Instant::now();
    while authenticates(server, client, secret).await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the change never reached the other instance"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// A client change made through one instance reaches the other's client cache through
/// PostgreSQL `NOTIFY`, long before the cache's TTL, which is set out of reach here: a rotated
/// secret and a deleted client are refused on the other instance.
#[tokio::test]
async fn a_client_change_on_one_instance_reaches_the_others_cache() {
    let Some(schema) = TestSchema::create("client_feed").await else {
        return;
    };
    let cache = oauth_endpoints::store::ClientCacheOptions {
        ttl: Duration::from_secs(600),
        ttl_with_feed: Duration::from_secs(600),
        ..oauth_endpoints::store::ClientCacheOptions::default()
    };
    let a = AuthorizationServer::builder()
        .store(schema.store().await)
        .client_cache(Some(cache))
        .build()
        .unwrap();
    let b = AuthorizationServer::builder()
        .store(schema.store().await)
        .client_cache(Some(cache))
        .build()
        .unwrap();
    a.clients().save(&app()).await.unwrap();
    // Let both feeds start listening, then have B cache the client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(authenticates(&b, CLIENT, SECRET).await);

    let new = a
        .clients()
        .rotate_secret(CLIENT, Duration::ZERO, a.now())
        .await
        .unwrap();
    let seen_after = until_refused(&b, CLIENT, SECRET).await;
    println!("a rotated secret was refused on the other instance after {seen_after:?}");
    assert!(authenticates(&b, CLIENT, &new).await);

    assert!(a.clients().delete(CLIENT, a.now()).await.unwrap());
    let seen_after = until_refused(&b, CLIENT, &new).await;
    println!("a deleted client was refused on the other instance after {seen_after:?}");
}

// Batched statements (`postgres/batch.rs`): concurrent lookups and insertions of one store run
// together, one statement per batch; each call must still get its own outcome.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_insertions_in_one_batch_keep_their_own_outcomes() {
    let Some(schema) = TestSchema::create("batch_insert").await else {
        return;
    };
    let store = schema.store().await;
    let revoked = Id::random();
    store.revoke_grant(&revoked, 1_700_000_000).await.unwrap();
    let (_, taken) = contract::record(TokenKind::Access, Id::random(), CLIENT);
    store
        .insert_tokens(std::slice::from_ref(&taken))
        .await
        .unwrap();

    // 60 calls at once, far more than the store's lanes: fresh grants (stored), a revoked grant
    // (refused), and one call whose second record repeats a stored hash (fails alone, all or
    // none: its first record is not stored either).
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Call {
        Fresh,
        Revoked,
        Duplicate,
    }
    let barrier = Arc::new(Barrier::new(60));
    let calls: Vec<_> = (0..60)
        .map(|n| {
            let call = match n % 3 {
                _ if n == 31 => Call::Duplicate,
                1 => Call::Revoked,
                _ => Call::Fresh,
            };
            let grant = if call == Call::Revoked {
                revoked
            } else {
                Id::random()
            };
            let (token, access) = contract::record(TokenKind::Access, grant, CLIENT);
            let mut records = vec![access];
            if call == Call::Duplicate {
                let mut again = taken.clone();
                again.grant_id = grant;
                records.push(again);
            }
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                (call, token, store.insert_tokens(&records).await)
            })
        })
        .collect();
    let mut stored = Vec::new();
    for call in calls {
        let (call, token, outcome) = call.await.unwrap();
        let found = store
            .find_token(&TokenHash::of(&token), None)
            .await
            .unwrap();
        match call {
            Call::Fresh => {
                assert!(outcome.is_ok(), "{outcome:?}");
                assert!(found.is_some());
                stored.push(token);
            }
            Call::Revoked => {
                assert!(
                    matches!(outcome, Err(StoreError::GrantRevoked)),
                    "{outcome:?}"
                );
                assert!(found.is_none(), "a token was stored into a revoked grant");
            }
            Call::Duplicate => {
                assert!(outcome.is_err(), "a stored hash was inserted again");
                assert!(found.is_none(), "half of a failed call was stored");
            }
        }
    }
    assert_eq!(stored.len(), 40);

    // Concurrent lookups, known and unknown, each answered with its own record.
    let lookups: Vec<_> = stored
        .iter()
        .map(|token| (token.clone(), true))
        .chain((0..20).map(|n| (format!("unknown-{n}"), false)))
        .map(|(token, known)| {
            let store = store.clone();
            tokio::spawn(async move {
                let hash = TokenHash::of(&token);
                let found = store.find_token(&hash, None).await.unwrap();
                assert_eq!(found.map(|record| record.hash), known.then_some(hash));
            })
        })
        .collect();
    for lookup in lookups {
        lookup.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_revocation_holds_against_batched_insertions_on_another_instance() {
    let Some(schema) = TestSchema::create("batch_revoke").await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    for round in 0..20u64 {
        let grant = Id::random();
        new_grant(&a, grant).await;
        let (stop, stopped) = watch::channel(false);
        // Instance A: 16 tasks insert tokens into the grant, and into fresh grants, so that
        // batches mix both, until told to stop; instance B revokes the grant meanwhile.
        let writers: Vec<_> = (0..16u64)
            .map(|task| {
                let (a, stopped) = (a.clone(), stopped.clone());
                tokio::spawn(async move {
                    let mut stored = 0u32;
                    loop {
                        let target = if task % 2 == 0 { grant } else { Id::random() };
                        let (_, record) = contract::record(TokenKind::Access, target, CLIENT);
                        match a.insert_tokens(&[record]).await {
                            Ok(()) => stored += 1,
                            Err(StoreError::GrantRevoked) if target == grant => {}
                            Err(error) => panic!("insertion failed: {error}"),
                        }
                        if *stopped.borrow() {
                            return stored;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_micros(700 * (round % 5))).await;
        b.revoke_grant(&grant, 1_700_000_002)
            .await
            .unwrap_or_else(|error| panic!("round {round}: revocation failed: {error}"));
        // The revocation answered: every insertion still in flight or made later is refused.
        stop.send_replace(true);
        let mut stored = 0;
        for writer in writers {
            stored += writer.await.unwrap();
        }
        assert!(stored > 0, "round {round}: no insertion went through");
        let unrevoked = unrevoked_tokens_of(&schema, &grant).await;
        assert_eq!(
            unrevoked, 0,
            "round {round}: {unrevoked} tokens of the grant are active after its revocation"
        );
    }
}

/// A refused write releases its grant's lock when it answers: a write on the same grant from
/// another instance right after it goes through, well within a 1 s operation timeout. The
/// store rolls a refused write back before answering rather than leave it to sqlx, which rolls
/// a dropped transaction back from a background task (the device-flow add-on's PostgreSQL store
/// kept a client's lock for the 5 s idle-in-transaction timeout that way:
/// `device_flow_stores.rs`).
#[tokio::test]
async fn a_refused_rotation_releases_its_grant_when_it_answers() {
    let Some(schema) = TestSchema::create("refused_release").await else {
        return;
    };
    let a = schema.store().await;
    let b = schema
        .options()
        .operation_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let late = oauth_endpoints::test_kit::NOW + 7_200;
    for round in 0..5 {
        let grant = Id::random();
        let refresh = new_grant(&a, grant).await;
        // The refresh token expired an hour ago: the rotation locks the grant, then refuses.
        let (_, replacement) = contract::record(TokenKind::Refresh, grant, CLIENT);
        let outcome = a
            .rotate_refresh_token(
                &TokenHash::of(&refresh),
                late,
                &[replacement],
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert!(
            !matches!(outcome, Rotation::Rotated(_)),
            "round {round}: {outcome:?}"
        );
        let revoked = b
            .revoke_grant(&grant, late)
            .await
            .unwrap_or_else(|error| panic!("round {round}: the revocation failed: {error}"));
        assert!(revoked > 0, "round {round}");
    }
}

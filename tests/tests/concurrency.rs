//! Concurrency: many tasks issue, introspect, rotate and revoke at once, through `dispatch`, on
//! each store. Afterwards the history is checked for two invariants:
//!
//! - once a revocation has answered 200, no introspection that starts afterwards says active
//!   (for the revoked token, and for every token of its grant when a refresh token was revoked);
//!   likewise once a refresh token was exchanged, no later introspection calls it active;
//! - a refresh token is never accepted twice.
//!
//! "Afterwards" is a total order: one atomic counter is read just before each introspection is
//! dispatched and just after each revocation or refresh answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: a failure is a failing test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oauth_endpoints::clock::ManualClock;
use oauth_endpoints::store::{
    AuthorizationStore, ClientStore, MemoryStore, SqliteStore, TokenStore,
};
use oauth_endpoints::token::TokenKind;
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::{START, basic, form, post, send};

const CLIENTS: usize = 4;
const TASKS: usize = 16;

fn client_id(index: usize) -> String {
    format!("client-{index}")
}

fn secret(index: usize) -> String {
    format!("secret-{index}-kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1")
}

/// A token some task has seen: its value, owner and kind.
#[derive(Clone)]
struct Known {
    value: String,
    owner: usize,
    kind: TokenKind,
}

/// What happened, in the order of the shared counter.
enum Event {
    Introspected {
        token: String,
        started: u64,
        active: bool,
    },
    Revoked {
        token: String,
        answered: u64,
    },
    Refreshed {
        token: String,
        answered: u64,
    },
}

struct World {
    server: AuthorizationServer,
    clock: AtomicU64,
    pool: Mutex<Vec<Known>>,
    events: Mutex<Vec<Event>>,
}

impl World {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn pick(&self, rng: &mut Rng) -> Option<Known> {
        let pool = self.pool.lock().unwrap();
        (!pool.is_empty()).then(|| pool[rng.below(pool.len())].clone())
    }

    fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn learn(&self, owner: usize, answer: &oauth_endpoints_tests::Answer) {
        let mut pool = self.pool.lock().unwrap();
        for (name, kind) in [
            ("access_token", TokenKind::Access),
            ("refresh_token", TokenKind::Refresh),
        ] {
            if let Some(value) = answer.str(name) {
                pool.push(Known {
                    value: value.to_owned(),
                    owner,
                    kind,
                });
            }
        }
    }
}

/// A small deterministic generator, one per task.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

async fn issue(world: &World, owner: usize) {
    let answer = send(
        &world.server,
        post(
            "/oauth/token",
            Some(&basic(&client_id(owner), &secret(owner))),
            &form(&[("grant_type", "client_credentials")]),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    world.learn(owner, &answer);
}

async fn introspect(world: &World, token: &Known) {
    let started = world.tick();
    let answer = send(
        &world.server,
        post(
            "/oauth/introspect",
            Some(&basic(&client_id(token.owner), &secret(token.owner))),
            &form(&[("token", &token.value)]),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    world.record(Event::Introspected {
        token: token.value.clone(),
        started,
        active: answer.json["active"] == true,
    });
}

async fn revoke(world: &World, token: &Known) {
    let answer = send(
        &world.server,
        post(
            "/oauth/revoke",
            Some(&basic(&client_id(token.owner), &secret(token.owner))),
            &form(&[("token", &token.value)]),
        ),
    )
    .await;
    let answered = world.tick();
    assert_eq!(answer.status, 200, "{}", answer.json);
    world.record(Event::Revoked {
        token: token.value.clone(),
        answered,
    });
}

async fn refresh(world: &World, token: &Known) {
    let answer = send(
        &world.server,
        post(
            "/oauth/token",
            Some(&basic(&client_id(token.owner), &secret(token.owner))),
            &form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token.value),
            ]),
        ),
    )
    .await;
    let answered = world.tick();
    match answer.status.as_u16() {
        200 => {
            world.record(Event::Refreshed {
                token: token.value.clone(),
                answered,
            });
            world.learn(token.owner, &answer);
        }
        400 => assert_eq!(answer.error(), Some("invalid_grant"), "{}", answer.json),
        _ => panic!("refresh answered {}: {}", answer.status, answer.json),
    }
}

async fn task(world: Arc<World>, seed: u64, steps: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for _ in 0..steps {
        let action = rng.below(10);
        match (action, world.pick(&mut rng)) {
            (0..=1, _) | (_, None) => issue(&world, rng.below(CLIENTS)).await,
            (2..=5, Some(token)) => introspect(&world, &token).await,
            (6..=7, Some(token)) if token.kind == TokenKind::Refresh => {
                // Race a second exchange of the same refresh token now and then.
                if rng.below(3) == 0 {
                    let (a, b) = (world.clone(), world.clone());
                    let (ta, tb) = (token.clone(), token.clone());
                    let one = tokio::spawn(async move { refresh(&a, &ta).await });
                    let two = tokio::spawn(async move { refresh(&b, &tb).await });
                    one.await.unwrap();
                    two.await.unwrap();
                } else {
                    refresh(&world, &token).await;
                }
            }
            (_, Some(token)) => revoke(&world, &token).await,
        }
        tokio::task::yield_now().await;
    }
}

/// Runs the tasks against `server` (whose store is `store`) and checks the history.
async fn exercise<S: TokenStore>(server: AuthorizationServer, store: &S, steps: usize) {
    for index in 0..CLIENTS {
        let client = Client::confidential(client_id(index), &secret(index))
            .with_grant_types(["client_credentials", "refresh_token"])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap();
        server.clients().save(&client).await.unwrap();
    }
    let world = Arc::new(World {
        server,
        clock: AtomicU64::new(0),
        pool: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
    });
    let tasks: Vec<_> = (0..TASKS)
        .map(|index| tokio::spawn(task(world.clone(), index as u64 + 1, steps)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    check(&world, store).await;
}

async fn check<S: TokenStore>(world: &World, store: &S) {
    let events = std::mem::take(&mut *world.events.lock().unwrap());
    let pool = world.pool.lock().unwrap().clone();

    // Grants, read back from the store: a revoked refresh token takes its grant with it.
    let mut grant_of = HashMap::new();
    let mut members: HashMap<_, Vec<String>> = HashMap::new();
    for known in &pool {
        let record = store
            .find_token(&oauth_endpoints::secret::TokenHash::of(&known.value), None)
            .await
            .unwrap()
            .expect("every issued token is stored");
        grant_of.insert(known.value.clone(), (record.grant_id, record.kind));
        members
            .entry(record.grant_id)
            .or_default()
            .push(known.value.clone());
    }

    // When each token stopped being active, at the latest: its own revocation, its grant's
    // revocation (a refresh token was revoked), its exchange.
    let mut dead: HashMap<&str, u64> = HashMap::new();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for event in events.iter() {
        match event {
            Event::Revoked { token, answered } => {
                let (grant, kind) = grant_of[token];
                if kind == TokenKind::Refresh {
                    for member in &members[&grant] {
                        kill(&mut dead, member, *answered);
                    }
                } else {
                    kill(&mut dead, token, *answered);
                }
            }
            Event::Refreshed { token, answered } => {
                kill(&mut dead, token, *answered);
                *accepted.entry(token.as_str()).or_default() += 1;
            }
            Event::Introspected { .. } => {}
        }
    }

    for (token, times) in &accepted {
        assert_eq!(*times, 1, "refresh token {token} accepted {times} times");
    }
    let mut introspections = 0;
    let mut active = 0;
    for event in events.iter() {
        if let Event::Introspected {
            token,
            started,
            active: was_active,
        } = event
        {
            introspections += 1;
            active += usize::from(*was_active);
            if let Some(dead_at) = dead.get(token.as_str()) {
                assert!(
                    !(*was_active && started > dead_at),
                    "introspection started at {started} said active, but the token was \
                     revoked or exchanged at {dead_at}"
                );
            }
        }
    }
    // The run did exercise every path.
    let revocations = events
        .iter()
        .filter(|e| matches!(e, Event::Revoked { .. }))
        .count();
    eprintln!(
        "{} tokens, {introspections} introspections ({active} active), {revocations} \
         revocations, {} refresh tokens exchanged",
        pool.len(),
        accepted.len()
    );
    assert!(introspections > 0 && active > 0 && revocations > 0 && !accepted.is_empty());
}

fn kill<'a>(dead: &mut HashMap<&'a str, u64>, token: &'a str, at: u64) {
    let entry = dead.entry(token).or_insert(at);
    *entry = (*entry).min(at);
}

fn server<S: ClientStore + TokenStore + AuthorizationStore + Clone>(
    store: S,
) -> AuthorizationServer {
    AuthorizationServer::builder()
        .store(store)
        .clock(ManualClock::new(START))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_under_concurrent_issue_introspect_rotate_revoke() {
    let store = MemoryStore::new();
    exercise(server(store.clone()), &store, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_under_concurrent_issue_introspect_rotate_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap();
    exercise(server(store.clone()), &store, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_under_concurrent_issue_introspect_rotate_revoke() {
    let Ok(url) = std::env::var("OAUTH_ENDPOINTS_TEST_POSTGRES") else {
        println!("skipped: OAUTH_ENDPOINTS_TEST_POSTGRES is not set");
        return;
    };
    // A schema of its own, so this test runs beside the others.
    let schema = format!(
        "oauth_test_concurrency_{}",
        oauth_endpoints::secret::Id::random()
    )
    .to_lowercase()
    .replace('-', "_");
    let store = oauth_endpoints::store::PgStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    exercise(server(store.clone()), &store, 40).await;
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(store.pool())
        .await
        .unwrap();
}

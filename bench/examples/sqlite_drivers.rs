//! The SQLite driver comparison behind `SqliteStore` (BENCHMARKS.md, "The SQLite driver"):
//! sqlx's SQLite driver against `rusqlite`, on a table shaped like `oauth_tokens`, under
//! concurrency (32 tasks on a 2-worker Tokio runtime, as the example server runs them).
//!
//! - point lookup by primary key, every column read: sqlx's pool (8 connections, its statement
//!   cache); `rusqlite` on 2 reader threads fed by a channel; `rusqlite` on the calling task's
//!   thread, a connection taken from a small pool. Each with cached prepared statements.
//! - insert, one row per operation, `synchronous=FULL` in WAL mode: sqlx's pool of 8
//!   connections, each insert its own `BEGIN IMMEDIATE` transaction (the store before the
//!   writer); one writer with group commit (a queue drained into one transaction, a savepoint
//!   per insert, every caller answered after the commit) on sqlx and on `rusqlite`.
//!
//! Run: `cargo run --release -p oauth-endpoints-bench --example sqlite_drivers`
//! (`BENCH_SECONDS`, `ROUNDS`, `ROWS` in the environment; the database lives in a temporary directory).
//! It prints, per variant, the median over the rounds of operations per second and of process
//! CPU time per operation; the variants alternate within each round, in reverse order every
//! other round.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

const TASKS: usize = 32;

const SCHEMA: &str = "PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS oauth_tokens (
    hash BLOB PRIMARY KEY NOT NULL, id BLOB NOT NULL, kind TEXT NOT NULL, client_id TEXT NOT NULL,
    scope TEXT NOT NULL, subject TEXT, audience TEXT NOT NULL, grant_id BLOB NOT NULL,
    issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, not_before INTEGER,
    revoked_at INTEGER, rotated_at INTEGER) WITHOUT ROWID;";
const FIND: &str = "SELECT hash, id, kind, client_id, scope, subject, audience, grant_id, \
    issued_at, expires_at, not_before, revoked_at, rotated_at FROM oauth_tokens WHERE hash = $1";
const INSERT: &str = "INSERT INTO oauth_tokens (hash, id, kind, client_id, scope, subject, \
    audience, grant_id, issued_at, expires_at, not_before, revoked_at, rotated_at) \
    VALUES ($1, $2, 'access', 'bench-client', 'read', NULL, '[]', $3, 1, 2, NULL, NULL, NULL)";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A 32-byte key from a number (a cheap, well-spread stand-in for a SHA-256 token hash).
fn key(n: u64) -> Vec<u8> {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(32);
    for _ in 0..4 {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Process CPU time (user + system) in microseconds.
fn cpu_micros() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks * 1e6 / 100.0
}

fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
        .unwrap();
    conn
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<usize> {
    let hash: Vec<u8> = row.get(0)?;
    let id: Vec<u8> = row.get(1)?;
    let kind: String = row.get(2)?;
    let client: String = row.get(3)?;
    let scope: String = row.get(4)?;
    let subject: Option<String> = row.get(5)?;
    let audience: String = row.get(6)?;
    let grant: Vec<u8> = row.get(7)?;
    let times: [Option<i64>; 5] = [
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
    ];
    Ok(hash.len()
        + id.len()
        + kind.len()
        + client.len()
        + scope.len()
        + audience.len()
        + grant.len()
        + subject.map_or(0, |s| s.len())
        + times.iter().flatten().count())
}

fn find_rusqlite(conn: &rusqlite::Connection, hash: &[u8]) -> usize {
    let mut statement = conn.prepare_cached(FIND).unwrap();
    let mut rows = statement.query([hash]).unwrap();
    let row = rows.next().unwrap().expect("a stored row");
    read_row(row).unwrap()
}

async fn find_sqlx(pool: &sqlx::SqlitePool, hash: &[u8]) -> usize {
    let row = sqlx::query(FIND).bind(hash).fetch_one(pool).await.unwrap();
    let hash: Vec<u8> = row.get(0);
    let id: Vec<u8> = row.get(1);
    let kind: String = row.get(2);
    let client: String = row.get(3);
    let scope: String = row.get(4);
    let subject: Option<String> = row.get(5);
    let audience: String = row.get(6);
    let grant: Vec<u8> = row.get(7);
    let times: [Option<i64>; 5] = [
        row.get(8),
        row.get(9),
        row.get(10),
        row.get(11),
        row.get(12),
    ];
    hash.len()
        + id.len()
        + kind.len()
        + client.len()
        + scope.len()
        + audience.len()
        + grant.len()
        + subject.map_or(0, |s| s.len())
        + times.iter().flatten().count()
}

type ReadJob = (Vec<u8>, tokio::sync::oneshot::Sender<usize>);

/// `threads` reader threads, each with its connection, fed by one channel.
fn reader_threads(path: &Path, threads: usize) -> mpsc::Sender<ReadJob> {
    let (tx, rx) = mpsc::channel::<ReadJob>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..threads {
        let rx = Arc::clone(&rx);
        let conn = open(path);
        std::thread::spawn(move || {
            loop {
                let job = rx.lock().unwrap().recv();
                let Ok((hash, reply)) = job else { return };
                let _ = reply.send(find_rusqlite(&conn, &hash));
            }
        });
    }
    tx
}

type WriteJob = (u64, tokio::sync::oneshot::Sender<()>);

/// One `rusqlite` writer thread with group commit.
fn rusqlite_writer(path: &Path) -> mpsc::Sender<WriteJob> {
    let (tx, rx) = mpsc::channel::<WriteJob>();
    let mut conn = open(path);
    std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(1023));
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            for (n, _) in &batch {
                tx.prepare_cached("SAVEPOINT op")
                    .unwrap()
                    .execute([])
                    .unwrap();
                tx.prepare_cached(INSERT)
                    .unwrap()
                    .execute((key(*n), key(*n + 1), key(*n + 2)))
                    .unwrap();
                tx.prepare_cached("RELEASE op")
                    .unwrap()
                    .execute([])
                    .unwrap();
            }
            tx.commit().unwrap();
            for (_, reply) in batch {
                let _ = reply.send(());
            }
        }
    });
    tx
}

/// One sqlx connection owned by a writer task, with group commit.
fn sqlx_writer(pool: sqlx::SqlitePool) -> tokio::sync::mpsc::UnboundedSender<WriteJob> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<WriteJob>();
    tokio::spawn(async move {
        let mut conn = pool.acquire().await.unwrap();
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(job) = rx.try_recv() {
                batch.push(job);
                if batch.len() == 1024 {
                    break;
                }
            }
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *conn)
                .await
                .unwrap();
            for (n, _) in &batch {
                sqlx::query("SAVEPOINT op")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                sqlx::query(INSERT)
                    .bind(key(*n))
                    .bind(key(*n + 1))
                    .bind(key(*n + 2))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                sqlx::query("RELEASE op").execute(&mut *conn).await.unwrap();
            }
            sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
            for (_, reply) in batch {
                let _ = reply.send(());
            }
        }
    });
    tx
}

async fn sqlx_pool(path: &Path, connections: u32) -> sqlx::SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect_with(options)
        .await
        .unwrap()
}

/// Runs `op(n)` in a loop on `TASKS` tasks for `seconds`; returns (ops/s, CPU µs per op).
async fn drive<F, Fut>(seconds: u64, op: F) -> (f64, f64)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (start, cpu) = (Instant::now(), cpu_micros());
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (op, stop, done) = (op.clone(), Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                op(NEXT.fetch_add(3, Ordering::Relaxed)).await;
                done.fetch_add(1, Ordering::Relaxed);
                // As a request handler does on its socket: let the other tasks run (an
                // operation on the calling thread never yields by itself).
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let ops = done.load(Ordering::Relaxed) as f64;
    let (elapsed, cpu) = (start.elapsed().as_secs_f64(), cpu_micros() - cpu);
    (ops / elapsed, cpu / ops)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (seconds, rounds, rows) = (
        env("BENCH_SECONDS", 3),
        env("ROUNDS", 3),
        env("ROWS", 100_000),
    );
    let dir: PathBuf = std::env::temp_dir().join(format!("sqlite-drivers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.db");
    {
        let mut conn = open(&path);
        conn.execute_batch(SCHEMA).unwrap();
        let tx = conn.transaction().unwrap();
        for n in 0..rows {
            tx.prepare_cached(INSERT)
                .unwrap()
                .execute((key(n), key(n), key(n)))
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let pool = sqlx_pool(&path, 8).await;
    let readers = reader_threads(&path, 2);
    let inline: Arc<Mutex<Vec<rusqlite::Connection>>> = Arc::new(Mutex::new(Vec::new()));
    let rusqlite_w = rusqlite_writer(&path);
    let sqlx_w = sqlx_writer(sqlx_pool(&path, 1).await);

    let variants = [
        "lookup: sqlx pool (8 connections)",
        "lookup: rusqlite, 2 reader threads fed by a channel",
        "lookup: rusqlite, on the calling thread",
        "insert: sqlx pool (8), a transaction each",
        "insert: sqlx, one writer task, group commit",
        "insert: rusqlite, one writer thread, group commit",
    ];
    let mut results: BTreeMap<usize, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for variant in order {
            let figures = match variant {
                0 => {
                    let pool = pool.clone();
                    drive(seconds, move |n| {
                        let pool = pool.clone();
                        async move {
                            find_sqlx(&pool, &key(n % rows)).await;
                        }
                    })
                    .await
                }
                1 => {
                    let readers = readers.clone();
                    drive(seconds, move |n| {
                        let readers = readers.clone();
                        async move {
                            let (reply, answer) = tokio::sync::oneshot::channel();
                            readers.send((key(n % rows), reply)).unwrap();
                            answer.await.unwrap();
                        }
                    })
                    .await
                }
                2 => {
                    let (inline, path) = (Arc::clone(&inline), path.clone());
                    drive(seconds, move |n| {
                        let (inline, path) = (Arc::clone(&inline), path.clone());
                        async move {
                            let conn = inline.lock().unwrap().pop();
                            let conn = conn.unwrap_or_else(|| open(&path));
                            find_rusqlite(&conn, &key(n % rows));
                            inline.lock().unwrap().push(conn);
                        }
                    })
                    .await
                }
                3 => {
                    let pool = pool.clone();
                    drive(seconds, move |n| {
                        let pool = pool.clone();
                        async move {
                            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                            sqlx::query(INSERT)
                                .bind(key(n))
                                .bind(key(n + 1))
                                .bind(key(n + 2))
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                            tx.commit().await.unwrap();
                        }
                    })
                    .await
                }
                4 => {
                    let writer = sqlx_w.clone();
                    drive(seconds, move |n| {
                        let writer = writer.clone();
                        async move {
                            let (reply, answer) = tokio::sync::oneshot::channel();
                            writer.send((n, reply)).unwrap();
                            answer.await.unwrap();
                        }
                    })
                    .await
                }
                _ => {
                    let writer = rusqlite_w.clone();
                    drive(seconds, move |n| {
                        let writer = writer.clone();
                        async move {
                            let (reply, answer) = tokio::sync::oneshot::channel();
                            writer.send((n, reply)).unwrap();
                            answer.await.unwrap();
                        }
                    })
                    .await
                }
            };
            let entry = results.entry(variant).or_default();
            entry.0.push(figures.0);
            entry.1.push(figures.1);
            eprintln!(
                "round {round}: {}: {:.0} ops/s, {:.1} µs CPU/op",
                variants[variant], figures.0, figures.1
            );
        }
    }
    println!("| variant | ops/s | CPU µs/op |\n| --- | ---: | ---: |");
    for (variant, (mut rate, mut cpu)) in results {
        println!(
            "| {} | {:.0} | {:.1} |",
            variants[variant],
            median(&mut rate),
            median(&mut cpu)
        );
    }
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
}

//! SQLite durability: a revocation the store acknowledged is on disk, even when the process is
//! killed (SIGKILL) right after the acknowledgement, while other writes are in flight.
//!
//! The test binary runs itself again as the writer process (the `CRASH_CHILD` variable holds
//! the database path). The child stores tokens, then revokes them from 128 concurrent tasks and
//! prints the hash of each revocation once `revoke_token` returned; the parent kills it right
//! after reading the 200th line, reopens the file and checks that every printed revocation is
//! there; six times. A store that answered each operation before its batch was committed lost
//! some in about one round of four when tried.
//!
//! A kill tests the order "commit, then answer"; what a power loss would test beyond it (that
//! the commit reached the disk) is SQLite's `synchronous=FULL`: the WAL is synced before
//! `COMMIT` returns (see `SqliteStore`'s documentation).

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failure is a failing test.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{SqliteStore, TokenStore};
use oauth_endpoints::token::TokenKind;
use oauth_endpoints_tests::contract;

const CRASH_CHILD: &str = "OAUTH_ENDPOINTS_CRASH_CHILD";
const TOKENS: usize = 2_000;
const KILL_AFTER: usize = 200;
const TASKS: usize = 128;
const ROUNDS: usize = 6;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(bytes)
}

/// The writer process: stores the tokens, then revokes them concurrently, printing each
/// acknowledged revocation, until it is killed.
async fn child(path: &str) {
    let store = SqliteStore::open(path).await.expect("open");
    let mut hashes = Vec::with_capacity(TOKENS);
    for _ in 0..TOKENS / 100 {
        let records: Vec<_> = (0..100)
            .map(|_| contract::record(TokenKind::Access, Id::random(), "c1").1)
            .collect();
        hashes.extend(records.iter().map(|record| record.hash));
        store.insert_tokens(&records).await.expect("insert");
    }
    let queue = Arc::new(Mutex::new(hashes));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, queue) = (store.clone(), Arc::clone(&queue));
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(hash) = queue.lock().expect("queue").pop() else {
                    return;
                };
                let found = store.revoke_token(&hash, 1_700_000_100).await;
                assert_eq!(found.ok(), Some(true));
                let mut out = std::io::stdout().lock();
                writeln!(out, "revoked {}", hex(hash.as_bytes())).expect("stdout");
                out.flush().expect("stdout");
            }
        }));
    }
    for task in tasks {
        task.await.expect("joined");
    }
}

#[test]
fn an_acknowledged_revocation_survives_a_kill_right_after_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(path) = std::env::var(CRASH_CHILD) {
        runtime.block_on(child(&path));
        return;
    }
    // The kill lands at a different point of a batch each time: several rounds.
    for _ in 0..ROUNDS {
        kill_and_check(&runtime);
    }
}

/// One round: a fresh database, a writer killed after [`KILL_AFTER`] acknowledgements, every
/// acknowledged revocation checked on the reopened file.
fn kill_and_check(runtime: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("oauth.db");
    let mut writer = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "an_acknowledged_revocation_survives_a_kill_right_after_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the writer process");
    let mut lines = BufReader::new(writer.stdout.take().expect("piped"));
    let mut acknowledged = Vec::new();
    let mut line = String::new();
    while acknowledged.len() < KILL_AFTER {
        line.clear();
        if lines.read_line(&mut line).expect("read") == 0 {
            panic!("the writer ended after {} revocations", acknowledged.len());
        }
        if let Some(hash) = line.trim_end().strip_prefix("revoked ") {
            acknowledged.push(hash.to_owned());
        }
    }
    // SIGKILL: no destructor, no flush, no checkpoint.
    writer.kill().expect("killed");
    // Lines already in the pipe were acknowledged before the kill too.
    loop {
        line.clear();
        if lines.read_line(&mut line).expect("read") == 0 {
            break;
        }
        if let Some(hash) = line
            .strip_suffix('\n')
            .and_then(|l| l.strip_prefix("revoked "))
        {
            acknowledged.push(hash.to_owned());
        }
    }
    let status = writer.wait().expect("reaped");
    assert!(!status.success(), "the writer was killed, not finished");
    assert!(acknowledged.len() < TOKENS, "killed while revoking");

    runtime.block_on(async {
        let store = SqliteStore::open(&path).await.expect("reopen");
        for hash in &acknowledged {
            let hash = TokenHash::from_bytes(unhex(hash).expect("a printed hash"));
            let record = store.find_token(&hash, None).await.expect("find");
            let record = record.expect("the revoked token is stored");
            assert_eq!(
                record.revoked_at,
                Some(1_700_000_100),
                "acknowledged, then lost"
            );
        }
    });
}

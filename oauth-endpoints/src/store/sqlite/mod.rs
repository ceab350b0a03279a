//! [`SqliteStore`]: clients, tokens, and authorization codes and pushed authorization requests
//! (table `oauth_authorizations`, see `authorizations.rs`) in an embedded SQLite database
//! (feature `sqlite`).

mod authorizations;
mod readers;
mod rows;
mod syncer;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use self::readers::Readers;
use self::rows::{bind_client, error};
use self::writer::{Writer, at_once};
use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{
    FIND_CLIENT, FIND_TOKEN, INSERT_CLIENT, LIST_CLIENTS, REVOKE_TOKEN, SAVE_CLIENT,
};
use crate::store::sql::row::{ClientRow, time};
use crate::store::sql::{self, Finish, Holder};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// Schema migrations, applied in order on open; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id            TEXT PRIMARY KEY NOT NULL,
    secret_hash          BLOB,
    auth_method          TEXT NOT NULL,
    grant_types          TEXT NOT NULL,
    scope                TEXT NOT NULL,
    introspect_any_token INTEGER NOT NULL,
    allowed_cors_origins TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    hash       BLOB PRIMARY KEY NOT NULL,
    id         BLOB NOT NULL,
    kind       TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    subject    TEXT,
    audience   TEXT NOT NULL,
    grant_id   BLOB NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    not_before INTEGER,
    revoked_at INTEGER,
    rotated_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX IF NOT EXISTS oauth_tokens_expires ON oauth_tokens (expires_at);
",
    r"
-- 2: one row per grant with its revoked flag (see `sql/mod.rs`), backfilled from the tokens;
-- a grant all of whose tokens are revoked is taken as revoked.
CREATE TABLE oauth_grants (
    grant_id   BLOB PRIMARY KEY NOT NULL,
    revoked_at INTEGER,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO oauth_grants (grant_id, revoked_at, expires_at)
    SELECT grant_id, CASE WHEN COUNT(*) = COUNT(revoked_at) THEN MAX(revoked_at) END,
           MAX(expires_at)
    FROM oauth_tokens GROUP BY grant_id;
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_at);
",
    r"
-- 3: the refresh-token grace window (`store/rotation.rs`): each rotated refresh token records
-- the hash of its successor, the refresh token that replaced it; a client may have a window
-- of its own, in seconds (NULL: the server's). Tokens rotated before it have no successor: a
-- second presentation of one stays reuse.
ALTER TABLE oauth_tokens ADD COLUMN successor BLOB;
ALTER TABLE oauth_clients ADD COLUMN refresh_token_grace INTEGER;
",
    r"
-- 4: a rotated secret kept for an overlap; an index for revoking a subject's tokens (partial:
-- tokens without a subject, such as client_credentials ones, cost nothing to index).
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_until INTEGER;
CREATE INDEX oauth_tokens_subject ON oauth_tokens (subject) WHERE subject IS NOT NULL;
",
    r"
-- 5: the client's redirect URIs (RFC 7591 `redirect_uris`), a JSON array like the origins.
ALTER TABLE oauth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
",
    r"
-- 6: authorization codes and pushed authorization requests (`AuthorizationStore`), by the
-- hash of their secret and their kind (`code`, `pushed_request`), each used once: a
-- consumption sets `consumed_at` in one conditional UPDATE on the writer (see `sql/mod.rs`).
-- The payload is the endpoint's JSON, opaque to the store. An index on the expiry for the
-- purge.
CREATE TABLE oauth_authorizations (
    hash        BLOB NOT NULL,
    kind        TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    grant_id    BLOB NOT NULL,
    payload     TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER,
    PRIMARY KEY (hash, kind)
) WITHOUT ROWID;
CREATE INDEX oauth_authorizations_expires ON oauth_authorizations (expires_at);
-- And the client's `require_pushed_authorization_requests` (RFC 9126 §6).
ALTER TABLE oauth_clients ADD COLUMN require_pushed_requests INTEGER NOT NULL DEFAULT 0;
",
    r"
-- 7: the client's public keys (RFC 7591 `jwks`, a JWK Set as compact JSON; NULL: none) for
-- `private_key_jwt`, and the format of its access tokens (`opaque`, `jwt`; NULL: the
-- server's). The ids remembered once (`AuthorizationStore::remember_once`: the `jti` of
-- `private_key_jwt` assertions, by the hash of client id and `jti`) until `expires_at`; a
-- row whose time has passed is replaced in the same conditional upsert on the writer. An
-- index on the expiry for the purge.
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT;
ALTER TABLE oauth_clients ADD COLUMN access_token_format TEXT;
CREATE TABLE oauth_replay_ids (
    hash       BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_replay_ids_expires ON oauth_replay_ids (expires_at);
",
    r"
-- 8: the key a sender-constrained token is bound to (DPoP, RFC 9449 §6): the 32-byte SHA-256
-- JWK thumbprint (RFC 7638) its `cnf.jkt` carries; NULL for a bearer token, as every token
-- stored before is.
ALTER TABLE oauth_tokens ADD COLUMN jkt BLOB;
",
    r"
-- 9: the client's `dpop_bound_access_tokens` (RFC 9449 §5.2).
ALTER TABLE oauth_clients ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
",
    r"
-- 10: delegation (token exchange, RFC 8693): the acting party (`act`, §4.1) and the party
-- allowed to act (`may_act`, §4.4) a token records, its `Delegation` as compact JSON; NULL
-- for a token without, as every token stored before is. The client's targets: the `resource`
-- and `audience` values it may ask tokens for (RFC 8707 §2, RFC 8693 §2.1) and the resources
-- it serves, JSON arrays like the redirect URIs.
ALTER TABLE oauth_tokens ADD COLUMN delegation TEXT;
ALTER TABLE oauth_clients ADD COLUMN allowed_resources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN served_resources TEXT NOT NULL DEFAULT '[]';
",
];

/// How long a write waits for SQLite's write lock while another process (or another store, or
/// [`SqliteStore::pool`]) holds it.
const WRITE_BUSY: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: every statement the store runs (about twenty on
/// the write connection) stays prepared.
const STATEMENT_CACHE: usize = 64;

/// Every file connection's settings. `mmap_size`: pages of the database file are read through
/// a shared memory map rather than a `pread` into each connection's own cache (a system call
/// per page a lookup touches that is not in that connection's cache: most of them, once the
/// hash index outgrows the cache); `cache_size`: 16 MiB of pages per connection (the default
/// is 2 MiB), for the pages the writer modifies and the WAL's frames.
const CONNECTION_PRAGMAS: &str = "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;";

/// Failures of the store's own machinery (SQLite's answers are `rusqlite` errors).
#[derive(Debug, thiserror::Error)]
enum SqliteError {
    /// The writer dropped the operation without an answer: its thread stopped, or the
    /// operation panicked.
    #[error("the SQLite writer stopped or dropped the operation")]
    WriterGone,
    /// A write step did not complete at once (a bug: every step is synchronous).
    #[error("a SQLite write step did not complete at once")]
    Suspended,
    /// The batch holding the operation could not be committed: nothing of it was stored.
    #[error("the write batch was not committed: {0}")]
    Batch(String),
}

/// Which database the connections open.
#[derive(Clone, Debug)]
enum Target {
    /// A file, in WAL mode.
    File(PathBuf),
    /// A named in-memory database in shared-cache mode (`file:NAME?mode=memory&cache=shared`),
    /// so that [`SqliteStore::pool`] reaches the same tables; it lives while the writer's
    /// connection is open.
    Memory(String),
}

impl Target {
    /// A new connection: busy timeout for writes, a statement cache for every statement we run.
    fn open(&self, existing: bool) -> Result<Connection, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if !existing {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let connection = match self {
            Self::File(path) => Connection::open_with_flags(path, flags),
            Self::Memory(name) => Connection::open_with_flags(
                format!("file:{name}"),
                flags
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_MEMORY
                    | OpenFlags::SQLITE_OPEN_SHARED_CACHE,
            ),
        }
        .map_err(error)?;
        connection.busy_timeout(WRITE_BUSY).map_err(error)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if let Self::File(_) = self {
            connection
                .execute_batch(CONNECTION_PRAGMAS)
                .map_err(error)?;
        }
        Ok(connection)
    }
}

/// The write connection's set-up, on the writer thread: WAL mode, `synchronous=FULL` (`NORMAL`
/// once the sync thread runs, see `syncer.rs`), then the
/// migrations in one `BEGIN IMMEDIATE` transaction (two processes opening one file at once
/// migrate it once).
fn prepare(connection: &mut Connection) -> Result<(), StoreError> {
    // Answers the mode in force: `memory` for an in-memory database, `wal` otherwise.
    let _mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(error)?;
    connection
        .execute_batch("PRAGMA synchronous = FULL")
        .map_err(error)?;
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(error)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(error)?;
    let applied = usize::try_from(version).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(migration).map_err(error)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))
            .map_err(error)?;
    }
    tx.commit().map_err(error)
}

/// Clients, tokens and authorizations in a SQLite file: the embedded default store. Tokens,
/// revocations and used authorization codes survive a restart, and an operating-system crash
/// or power loss after the store answered.
///
/// # Design (the measurements are in BENCHMARKS.md, "The SQLite store")
///
/// - **One writer.** Every change goes through a queue to one thread that owns the only write
///   connection of the store and commits the queued changes in batches (group commit): each
///   change runs inside a savepoint of the batch's transaction, so one that fails or rolls back
///   leaves the others; each caller is answered once the batch holding its change is durable.
///   Writes no longer contend for SQLite's write lock, nor sleep in its busy handler. The write
///   logic (grant locking, insertion, grant revocation, rotation and reuse detection, client
///   deletion, single use of authorization codes and pushed requests, kept in
///   `oauth_authorizations`) is the one `store/sql/mod.rs` shares with
///   [`PgStore`](crate::store::PgStore).
/// - **Readers on the calling thread.** Lookups run at once on a read connection of their own
///   with cached prepared statements: a primary-key lookup costs a few microseconds, less than
///   handing it to another thread (see `readers.rs`).
/// - **Durable.** WAL mode, and no caller is answered before the WAL holding its change is
///   synced to disk, so an acknowledged revocation survives a crash of the process or of the
///   machine (the test suite kills a process right after its acknowledgement and checks). One
///   `fsync` per batch, shared by every change of the batch, run by a thread of its own while
///   the writer commits the next batch (`synchronous=NORMAL` plus that `fsync`: the argument
///   that it is as durable as `synchronous=FULL` is in `sqlite/syncer.rs`).
/// - **New tokens at the end.** Token values carry a time-ordered selector
///   ([`generate_token`](crate::secret::generate_token)) and grants time-ordered ids, so every index a
///   new token enters grows at its end: an issuance writes no page at a random place, and a
///   new grant writes no grant row (only revoked grants have one).
/// - **Checkpoints out of the commits.** The WAL is copied back into the database file by a
///   thread of its own and, for the last frames, by the writer between batches, never inside a
///   batch's commit.
/// - **Driver.** `rusqlite`, chosen over sqlx's SQLite driver by measurement; sqlx still serves
///   [`pool`](Self::pool), for tables of your own beside ours.
///
/// The store needs no async runtime of its own: any executor can await it (only
/// [`pool`](Self::pool) needs Tokio, as sqlx does).
///
/// Several stores (or processes) may open one file: each has its writer, and SQLite's write
/// lock, taken by each batch from its first statement (`BEGIN IMMEDIATE`), serializes them.
/// An in-memory database ([`in_memory`](Self::in_memory)) has no separate readers: its
/// lookups go through the writer too.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: Writer,
    /// `None` for an in-memory database.
    readers: Option<Readers>,
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::start(Target::File(path.as_ref().to_path_buf())).await
    }

    /// Opens a database from a URL such as `sqlite:oauth.db` or `sqlite::memory:` (a private
    /// in-memory database).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Self::in_memory().await;
        }
        let options = SqliteConnectOptions::from_str(url).map_err(StoreError::backend)?;
        Self::start(Target::File(options.get_filename().to_path_buf())).await
    }

    /// A private in-memory database (for tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "oauth-endpoints-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self::start(Target::Memory(name)).await
    }

    async fn start(target: Target) -> Result<Self, StoreError> {
        let (pool_options, readers) = match &target {
            Target::File(path) => (
                SqliteConnectOptions::new()
                    .filename(path)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(WRITE_BUSY),
                true,
            ),
            Target::Memory(name) => (
                SqliteConnectOptions::from_str(&format!(
                    "sqlite:file:{name}?mode=memory&cache=shared"
                ))
                .map_err(StoreError::backend)?,
                false,
            ),
        };
        // The writer thread takes its own handle on the target: it opens the file (creating
        // it) and migrates it before any reader opens it.
        let writer = Writer::start(target.clone(), prepare).await?;
        let readers = if readers {
            Some(Readers::new(target)?)
        } else {
            None
        };
        // Opened on first use: most deployments never use it. Without idle timeout and
        // lifetime, sqlx spawns no maintenance task, so opening the store needs no Tokio
        // runtime: the store's own work runs on its threads and answers through channels that
        // any executor can await; only the pool, when used, needs Tokio (sqlx's runtime).
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(WRITE_BUSY)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(pool_options);
        Ok(Self {
            writer,
            readers,
            pool,
        })
    }

    /// A sqlx pool on the same database, for your own tables beside ours (opened on first
    /// use). Its writes wait for the store's writer between batches, as another process's do.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs a lookup on a read connection, or through the writer for an in-memory database.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.readers {
            Some(readers) => readers.run(read),
            None => {
                self.writer
                    .run(move |tx| read(tx.connection()).map(Finish::Rollback))
                    .await
            }
        }
    }
}

fn find_client(connection: &Connection, client_id: &str) -> Result<Option<Client>, StoreError> {
    rows::query_row(connection, FIND_CLIENT, [client_id], rows::client)?
        .map(ClientRow::into_client)
        .transpose()
}

fn find_token(
    connection: &Connection,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, StoreError> {
    rows::query_row(
        connection,
        FIND_TOKEN,
        [hash.as_bytes().as_slice()],
        rows::token_record,
    )?
    .transpose()
}

impl ClientStore for SqliteStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        match &self.readers {
            Some(readers) => readers.run(|connection| find_client(connection, client_id)),
            None => {
                let client_id = client_id.to_owned();
                self.read(move |connection| find_client(connection, &client_id))
                    .await
            }
        }
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        let row = ClientRow::from_client(client);
        self.writer
            .run(move |tx| {
                tx.with_statement(SAVE_CLIENT, |statement| bind_client(statement, &row))?;
                Ok(Finish::Commit(()))
            })
            .await
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let client_id = client_id.to_owned();
        self.writer
            .run(move |tx| at_once(sql::delete_client(tx, &client_id, now)))
            .await
    }

    async fn insert_client(&self, client: &Client) -> Result<bool, StoreError> {
        let row = ClientRow::from_client(client);
        self.writer
            .run(move |tx| {
                let rows =
                    tx.with_statement(INSERT_CLIENT, |statement| bind_client(statement, &row))?;
                Ok(Finish::Commit(rows == 1))
            })
            .await
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, StoreError> {
        let after = after.unwrap_or("").to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(LIST_CLIENTS).map_err(error)?;
            let rows = statement
                .query_map((after.as_str(), limit), rows::client)
                .map_err(error)?;
            rows.map(|row| row.map_err(error).and_then(ClientRow::into_client))
                .collect()
        })
        .await
    }
}

impl TokenStore for SqliteStore {
    async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let client_id = client_id.to_owned();
        self.writer
            .run(move |tx| {
                at_once(sql::revoke_grants_of(tx, Holder::Client(&client_id), now))
                    .map(Finish::Commit)
            })
            .await
    }

    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        let subject = subject.to_owned();
        self.writer
            .run(move |tx| {
                at_once(sql::revoke_grants_of(tx, Holder::Subject(&subject), now))
                    .map(Finish::Commit)
            })
            .await
    }

    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.writer
            .run(move |tx| at_once(sql::insert_tokens(tx, &records)))
            .await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        match &self.readers {
            Some(readers) => readers.run(|connection| find_token(connection, hash)),
            None => {
                let hash = *hash;
                self.read(move |connection| find_token(connection, &hash))
                    .await
            }
        }
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let hash = *hash;
        self.writer
            .run(move |tx| {
                let rows = tx.execute(REVOKE_TOKEN, (time(now), hash.as_bytes().as_slice()))?;
                Ok(Finish::Commit(rows > 0))
            })
            .await
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        let grant_id = *grant_id;
        self.writer
            .run(move |tx| at_once(sql::revoke_grant(tx, &grant_id, now)))
            .await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        let (hash, replacements) = (*hash, replacements.to_vec());
        self.writer
            .run(move |tx| at_once(sql::rotate(tx, &hash, now, &replacements, grace)))
            .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.writer
            .run(move |tx| {
                let purged = tx.execute(
                    "DELETE FROM oauth_tokens WHERE hash IN \
                     (SELECT hash FROM oauth_tokens WHERE expires_at < $1 LIMIT $2)",
                    (time(before), limit),
                )?;
                // Grants with no token left whose tokens all expired before `before` (a
                // grant's `expires_at` is its newest token's): a revoked grant is remembered as
                // long as it has a token.
                tx.execute(
                    "DELETE FROM oauth_grants WHERE grant_id IN \
                     (SELECT grant_id FROM oauth_grants WHERE expires_at < $1 AND NOT EXISTS \
                     (SELECT 1 FROM oauth_tokens WHERE oauth_tokens.grant_id = oauth_grants.grant_id) \
                     LIMIT $2)",
                    (time(before), limit),
                )?;
                Ok(Finish::Commit(purged as u64))
            })
            .await
    }
}

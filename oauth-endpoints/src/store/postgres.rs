//! [`PgStore`]: clients and tokens in PostgreSQL, shared by several server instances (feature
//! `postgres`).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor as _, Postgres, Row as _, Transaction};
use tokio::time::Instant;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{
    FIND_CLIENT, FIND_TOKEN, GRANT_OF_TOKEN, GRANTS_OF_CLIENT, GRANTS_OF_SUBJECT, INSERT_TOKEN,
    LIST_CLIENTS, REVOKE_GRANT, ROTATE, SET_SUCCESSOR, SUCCESSOR_OF, SUPERSEDE, delete_client,
    insert_client, lock_grant, revoke_grant_row, revoke_token, save_client,
};
use crate::store::sql::row::{
    self, ClientRow, TokenRow, bind_client, bind_token, read_client, read_token, time,
};
use crate::store::sql::{self, Finish, Holder, WriteTx, error, is_conflict};
use crate::store::{ClientStore, ClientWatcher, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// Schema migrations, applied in order on open; `oauth_endpoints_migrations` records which ran.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id            TEXT PRIMARY KEY,
    secret_hash          BYTEA,
    auth_method          TEXT NOT NULL,
    grant_types          TEXT NOT NULL,
    scope                TEXT NOT NULL,
    introspect_any_token BOOLEAN NOT NULL,
    allowed_cors_origins TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    hash       BYTEA PRIMARY KEY,
    id         BYTEA NOT NULL,
    kind       TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    subject    TEXT,
    audience   TEXT NOT NULL,
    grant_id   BYTEA NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    not_before BIGINT,
    revoked_at BIGINT,
    rotated_at BIGINT
);
CREATE INDEX IF NOT EXISTS oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX IF NOT EXISTS oauth_tokens_expires ON oauth_tokens (expires_at);
",
    r"
-- 2: one row per grant, the lock every write of the grant's tokens takes first, and its
-- revoked flag (see `sql/mod.rs`). Grants are backfilled from their tokens; a grant all of
-- whose tokens are revoked is taken as revoked.
CREATE TABLE oauth_grants (
    grant_id   BYTEA PRIMARY KEY,
    revoked_at BIGINT,
    expires_at BIGINT NOT NULL
);
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
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS successor BYTEA;
ALTER TABLE oauth_clients ADD COLUMN IF NOT EXISTS refresh_token_grace BIGINT;
",
    r"
-- 4: a rotated secret kept for an overlap; an index for revoking a subject's tokens (partial:
-- tokens without a subject, such as client_credentials ones, cost nothing to index).
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_until BIGINT;
CREATE INDEX oauth_tokens_subject ON oauth_tokens (subject) WHERE subject IS NOT NULL;
",
];
// The first write of every transaction that commits something a client is answered about
// also returns the transaction's id, to find out what became of the transaction when the
// acknowledgement of its `COMMIT` is lost (see `PgStore::settle`).

/// [`LOCK_GRANT`](crate::store::sql::queries::LOCK_GRANT), and the transaction id.
const LOCK_GRANT: &str = concat!(lock_grant!(), ", txid_current()");

/// [`REVOKE_GRANT_ROW`](crate::store::sql::queries::REVOKE_GRANT_ROW), and the transaction id.
const REVOKE_GRANT_ROW: &str = concat!(revoke_grant_row!(), ", txid_current()");

/// [`REVOKE_TOKEN`](crate::store::sql::queries::REVOKE_TOKEN), and the transaction id.
const REVOKE_TOKEN: &str = concat!(revoke_token!(), " RETURNING txid_current()");

/// [`DELETE_CLIENT`](crate::store::sql::queries::DELETE_CLIENT), and the transaction id.
const DELETE_CLIENT: &str = concat!(delete_client!(), " RETURNING txid_current()");

/// [`INSERT_CLIENT`](crate::store::sql::queries::INSERT_CLIENT), and the transaction id when a
/// row was inserted.
const INSERT_CLIENT: &str = concat!(insert_client!(), " RETURNING txid_current()");

/// [`SAVE_CLIENT`](crate::store::sql::queries::SAVE_CLIENT), and the transaction id.
const SAVE_CLIENT: &str = concat!(save_client!(), " RETURNING txid_current()");

/// What became of a transaction whose `COMMIT` was sent: `committed`, `aborted` or
/// `in progress` (NULL if too old to tell).
const TRANSACTION_STATUS: &str = "SELECT txid_status($1)";

/// How many times an operation is run again after PostgreSQL rolled it back for a conflict
/// with another transaction (SQLSTATE 40001, 40P01), within the operation timeout.
const CONFLICT_RETRIES: u32 = 5;

/// The transaction-scoped advisory lock that serializes migrations of instances opening at
/// once (the ASCII bytes of `oauthend`).
const MIGRATION_LOCK: i64 = 0x6f61_7574_6865_6e64;

/// Deletes at most `$2` tokens that expired before `$1`. `SKIP LOCKED`: instances purging at
/// once take different rows instead of waiting for each other, and never wait for a row that a
/// revocation or rotation holds.
const PURGE: &str = "DELETE FROM oauth_tokens WHERE hash IN \
     (SELECT hash FROM oauth_tokens WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Deletes at most `$2` grants that have no token left and whose tokens all expired before `$1`
/// (a grant's `expires_at` is its newest token's), skipping grants a write holds: a revoked
/// grant is remembered as long as it has a token.
const PURGE_GRANTS: &str = "DELETE FROM oauth_grants WHERE grant_id IN \
     (SELECT grant_id FROM oauth_grants WHERE expires_at < $1 AND NOT EXISTS \
     (SELECT 1 FROM oauth_tokens WHERE oauth_tokens.grant_id = oauth_grants.grant_id) \
     LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// A schema name that is not a plain lowercase identifier.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid schema name {0:?}: use at most 63 lowercase ASCII letters, digits and underscores, \
     not starting with a digit"
)]
struct InvalidSchema(String);

/// The database did not finish an operation in time.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {0:?}")]
struct TimedOut(Duration);

/// The acknowledgement of a `COMMIT` did not come in time.
#[derive(Debug, thiserror::Error)]
#[error("the database did not acknowledge a commit within {0:?}")]
struct CommitUnacknowledged(Duration);

fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// How to open a [`PgStore`]: the database URL, an optional schema, and the pool's size and
/// time bounds.
///
/// ```no_run
/// # async fn open() -> Result<(), oauth_endpoints::StoreError> {
/// use std::time::Duration;
/// use oauth_endpoints::PgStoreOptions;
///
/// let store = PgStoreOptions::new("postgres://oauth@db.internal/oauth")
///     .schema("oauth")
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgStoreOptions {
    url: String,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
    operation_timeout: Duration,
}

impl std::fmt::Debug for PgStoreOptions {
    /// Leaves the URL out: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStoreOptions")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl PgStoreOptions {
    /// Options for the database at `url` (`postgres://user:password@host:port/database`, with
    /// any parameter sqlx accepts), in the connection's default schema, with at most 10
    /// connections, a 3 s acquire timeout and a 5 s operation timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(5),
        }
    }

    /// Keeps the tables in `schema` (created on open if missing) by setting every connection's
    /// `search_path` to it. The name must be a plain lowercase identifier (`[a-z_][a-z0-9_]*`,
    /// at most 63 bytes); opening fails otherwise.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The most connections the pool opens (10 by default). Each server instance has its own
    /// pool: size them together below the database's `max_connections`.
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long an operation waits for a connection, including opening one (3 s by default).
    /// When the database is unreachable, operations fail with [`StoreError::Unavailable`]
    /// after at most this long.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The longest one store operation may wait, for a connection and for its statements
    /// (5 s by default); past it the operation fails with [`StoreError::Unavailable`] and
    /// changed nothing. It is also each connection's `statement_timeout` and
    /// `idle_in_transaction_session_timeout`, so the database ends a statement or a transaction
    /// that its client gave up on and releases its locks.
    ///
    /// The timeout never turns a commit into a failure: when the answer to `COMMIT` is lost
    /// (the connection breaks) or slower than this, the store asks the database on another
    /// connection whether the transaction committed, and answers accordingly. Only when the
    /// database does not tell within twice this timeout is the outcome unknown: the operation
    /// then fails with [`StoreError::Unavailable`], as it would had it not committed.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Opens the pool and applies the migrations (see [`PgStore`]).
    pub async fn connect(self) -> Result<PgStore, StoreError> {
        PgStore::connect_with(self).await
    }
}

/// Clients and tokens in PostgreSQL: the store for several server instances behind a load
/// balancer. Every instance sees every other's tokens and revocations at once; a revocation
/// that returned `Ok` is committed.
///
/// - Opening applies the migrations, serialized by an advisory lock so instances starting
///   together do not race; `oauth_endpoints_migrations` records the applied versions.
/// - Token lookups use the primary key on the token hash (a B-tree: O(log n)); grant-wide
///   revocation uses an index on the grant id, and purging an index on the expiry.
/// - Every write is one transaction, and every write that creates or revokes tokens of a grant
///   (issuing, rotation, grant revocation, reuse detection) first locks the grant's row in
///   `oauth_grants`, in one order everywhere (ascending grant id), so such writes of one grant
///   run one after the other on every instance: of instances rotating one refresh token at
///   once exactly one wins and the others find it rotated (a replay); a grant revocation that
///   returned leaves no active token in the grant, and no token is stored into it afterwards
///   (see [`TokenStore`] for the contract). No deadlock can arise between them; should
///   PostgreSQL still roll a transaction back for a conflict (SQLSTATE 40001 or 40P01), the
///   store runs it again, a few times within the operation timeout, rather than fail.
/// - Failures are bounded: an operation that cannot get a connection or whose statements do
///   not finish within the [operation timeout](PgStoreOptions::operation_timeout) fails with
///   [`StoreError::Unavailable`] (endpoints answer 503 with `Retry-After`) and changed
///   nothing. A commit is never cut by the timeout: if its acknowledgement is lost or late,
///   the store asks the database whether the transaction committed (`txid_status`), so an
///   operation that committed is reported as done. Broken connections are dropped and new ones opened, so the store
///   recovers by itself when the database returns.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    operation_timeout: Duration,
    /// The `NOTIFY` channel of this schema's client changes (see [`ClientStore::watch_clients`]).
    channel: Arc<str>,
}

impl PgStore {
    /// Opens the database at `url` with the default [`PgStoreOptions`], keeping the tables in
    /// the connection's default schema (usually `public`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgStoreOptions::new(url)).await
    }

    /// Opens the database at `url` with the tables in `schema`, created if missing (see
    /// [`PgStoreOptions::schema`]). Tests use it to isolate themselves in a fresh schema.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgStoreOptions::new(url).schema(schema)).await
    }

    /// Opens the pool described by `options` and applies the migrations.
    pub async fn connect_with(options: PgStoreOptions) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(&options.url).map_err(error)?;
        if connect.get_application_name().is_none() {
            connect = connect.application_name("oauth-endpoints");
        }
        let timeout_ms = options.operation_timeout.as_millis().max(1);
        connect = connect.options([
            ("statement_timeout", timeout_ms),
            ("idle_in_transaction_session_timeout", timeout_ms),
        ]);
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::backend(InvalidSchema(schema.clone())));
            }
            connect = connect.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        let mut store = Self {
            pool,
            operation_timeout: options.operation_timeout,
            channel: Arc::from(""),
        };
        let migrate = store.migrate(options.schema.as_deref());
        match tokio::time::timeout(options.acquire_timeout + options.operation_timeout, migrate)
            .await
        {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::unavailable(TimedOut(options.operation_timeout))),
        }
        let schema: String = store
            .bounded(sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&store.pool))
            .await?;
        store.channel = Arc::from(format!("oauth_clients:{schema}"));
        Ok(store)
    }

    async fn migrate(&self, schema: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        // A plain string runs as a simple query: several statements, no parameters.
        if let Some(schema) = schema {
            // `valid_schema` admits no quote, so the name needs no escaping.
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            (&mut *tx).execute(create.as_str()).await.map_err(error)?;
        }
        (&mut *tx)
            .execute(
                "CREATE TABLE IF NOT EXISTS oauth_endpoints_migrations (\
                 version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await
            .map_err(error)?;
        let version: i32 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM oauth_endpoints_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(error)?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            (&mut *tx).execute(*migration).await.map_err(error)?;
            sqlx::query("INSERT INTO oauth_endpoints_migrations (version) VALUES ($1)")
                .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)
    }

    /// The connection pool, for your own tables beside ours.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one read within the operation timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        Deadline::after(self.operation_timeout)
            .bound(operation)
            .await
    }

    /// Runs the write transaction `operation` builds: it is handed a transaction and gives it
    /// back with its outcome. Beginning and each statement are bounded by the operation
    /// timeout; the commit is not (see [`PgStoreOptions::operation_timeout`]). A transaction
    /// that PostgreSQL rolled back for a conflict with another is run again.
    async fn write<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: Fn(PgTx) -> Fut,
        Fut: Future<Output = (PgTx, Result<Finish<T>, StoreError>)>,
    {
        let deadline = Deadline::after(self.operation_timeout);
        let mut conflicts = 0;
        loop {
            let outcome = async {
                let tx = deadline.bound(self.pool.begin()).await?;
                let tx = PgTx {
                    tx,
                    deadline,
                    xid: None,
                };
                let (tx, outcome) = operation(tx).await;
                match outcome? {
                    Finish::Commit(value) => self.commit(tx, value).await,
                    // Dropping the transaction rolls it back.
                    Finish::Rollback(value) => Ok(value),
                }
            }
            .await;
            match outcome {
                Err(failure) if is_conflict(&failure) && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::debug!(error = %failure, conflicts, "conflict; running it again");
                    tokio::time::sleep(Duration::from_millis(u64::from(conflicts) * 3)).await;
                }
                outcome => return outcome,
            }
        }
    }
}

impl PgStore {
    /// Commits `tx`, then answers `value`; an error only if it did not commit.
    ///
    /// The operation's deadline does not apply: once `COMMIT` is sent, the transaction may
    /// have committed, and failing then would report a done operation as failed (the client
    /// would retry, and a retried refresh counts as reuse). If the acknowledgement is lost
    /// (the connection breaks) or does not come within the operation timeout, the store asks
    /// the database, on another connection, what became of the transaction.
    async fn commit<T>(&self, tx: PgTx, value: T) -> Result<T, StoreError> {
        let PgTx { tx, xid, .. } = tx;
        let failure = match tokio::time::timeout(self.operation_timeout, tx.commit()).await {
            Ok(Ok(())) => return Ok(value),
            Ok(Err(failure)) => error(failure),
            Err(_) => StoreError::unavailable(CommitUnacknowledged(self.operation_timeout)),
        };
        match (failure, xid) {
            // No answer, or a lost connection: it may have committed.
            (failure @ StoreError::Unavailable(_), Some(xid)) => {
                self.settle(xid, value, failure).await
            }
            // The database answered with an error: it rolled back.
            (failure, _) => Err(failure),
        }
    }

    /// Finds out whether transaction `xid`, whose `COMMIT` was sent but not acknowledged,
    /// committed: then the operation is done and answers `value`; otherwise it fails with
    /// `failure`. The database ends the transaction within about one operation timeout (a
    /// `COMMIT` that arrived runs under `statement_timeout`; one that never arrived leaves it
    /// idle in transaction, ended by `idle_in_transaction_session_timeout`), so the question
    /// is asked until then, and as long again for the database to be reachable. If it never
    /// says, the outcome is unknown and the operation fails with `failure`.
    async fn settle<T>(&self, xid: i64, value: T, failure: StoreError) -> Result<T, StoreError> {
        let deadline = Deadline::after(self.operation_timeout * 2);
        loop {
            let status: Result<Option<String>, StoreError> = deadline
                .bound(
                    sqlx::query_scalar(TRANSACTION_STATUS)
                        .bind(xid)
                        .fetch_one(&self.pool),
                )
                .await;
            match status.as_ref().map(Option::as_deref) {
                Ok(Some("committed")) => {
                    tracing::warn!(xid, error = %failure, "a commit's answer was lost; it committed");
                    return Ok(value);
                }
                Ok(Some("aborted")) => return Err(failure),
                Ok(None) => break,
                // In progress, or the database is not reachable yet.
                Ok(Some(_)) | Err(_) => {}
            }
            if Instant::now() >= deadline.at {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::error!(xid, error = %failure, "the outcome of a commit is unknown");
        Err(failure)
    }
}

/// When an operation started plus the operation timeout.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// Waits for `step` until the deadline.
    async fn bound<T>(
        self,
        step: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(self.at, step).await {
            Ok(result) => result.map_err(error),
            Err(_) => Err(StoreError::unavailable(TimedOut(self.timeout))),
        }
    }
}

/// A write transaction whose statements are bounded by the operation's deadline.
struct PgTx {
    tx: Transaction<'static, Postgres>,
    deadline: Deadline,
    /// The transaction's id, once a write returned it.
    xid: Option<i64>,
}

impl PgTx {
    /// Announces, on commit, that client `client_id` changed (see
    /// [`ClientStore::watch_clients`]).
    async fn notify(&mut self, channel: &str, client_id: &str) -> Result<(), StoreError> {
        self.deadline
            .bound(
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(client_id)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(())
    }
}

/// The task behind [`PgStore::watch_clients`]: listens on `channel`, tells `watcher` what
/// changed, and reconnects when the connection is lost, until the server is gone.
async fn relay_client_changes(pool: PgPool, channel: Arc<str>, watcher: ClientWatcher) {
    let mut backoff = Duration::from_millis(100);
    while !watcher.is_closed() {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(&channel).await {
                Ok(()) => {
                    watcher.up();
                    backoff = Duration::from_millis(100);
                    loop {
                        // Wake up now and then to notice that the server is gone.
                        match tokio::time::timeout(Duration::from_secs(1), listener.try_recv())
                            .await
                        {
                            Err(_) if watcher.is_closed() => return,
                            Err(_) => {}
                            Ok(Ok(Some(notification))) => watcher.changed(notification.payload()),
                            Ok(Ok(None) | Err(_)) => break,
                        }
                    }
                    tracing::warn!("lost the client change feed; reconnecting");
                }
                Err(failure) => {
                    tracing::warn!(error = %failure, "cannot listen for client changes")
                }
            },
            Err(failure) => {
                tracing::warn!(error = %failure, "cannot connect the client change feed")
            }
        }
        watcher.down();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl WriteTx for PgTx {
    async fn delete_client_row(&mut self, client_id: &str) -> Result<bool, StoreError> {
        let xid: Option<i64> = self
            .deadline
            .bound(
                sqlx::query_scalar(DELETE_CLIENT)
                    .bind(client_id)
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        self.xid = self.xid.or(xid);
        Ok(xid.is_some())
    }

    async fn grants_of(&mut self, holder: Holder<'_>) -> Result<Vec<Id>, StoreError> {
        let (query, key) = match holder {
            Holder::Client(client_id) => (GRANTS_OF_CLIENT, client_id),
            Holder::Subject(subject) => (GRANTS_OF_SUBJECT, subject),
        };
        let grants: Vec<Vec<u8>> = self
            .deadline
            .bound(sqlx::query_scalar(query).bind(key).fetch_all(&mut *self.tx))
            .await?;
        grants.iter().map(|bytes| row::id(bytes)).collect()
    }

    async fn lock_grant(
        &mut self,
        grant_id: &Id,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let (revoked_at, xid): (Option<i64>, i64) = self
            .deadline
            .bound(
                sqlx::query_as(LOCK_GRANT)
                    .bind(grant_id.as_bytes().as_slice())
                    .bind(time(expires_at))
                    .fetch_one(&mut *self.tx),
            )
            .await?;
        self.xid = Some(xid);
        Ok(revoked_at.is_some())
    }

    async fn mark_grant_revoked(&mut self, grant_id: &Id, now: UnixTime) -> Result<(), StoreError> {
        let (_, xid): (Option<i64>, i64) = self
            .deadline
            .bound(
                sqlx::query_as(REVOKE_GRANT_ROW)
                    .bind(grant_id.as_bytes().as_slice())
                    .bind(time(now))
                    .bind(time(now))
                    .fetch_one(&mut *self.tx),
            )
            .await?;
        self.xid = Some(xid);
        Ok(())
    }

    async fn revoke_grant_tokens(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let result = self
            .deadline
            .bound(
                sqlx::query(REVOKE_GRANT)
                    .bind(time(now))
                    .bind(grant_id.as_bytes().as_slice())
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(result.rows_affected())
    }

    async fn grant_of(&mut self, hash: &TokenHash) -> Result<Option<Id>, StoreError> {
        let grant: Option<Vec<u8>> = self
            .deadline
            .bound(
                sqlx::query_scalar(GRANT_OF_TOKEN)
                    .bind(hash.as_bytes().as_slice())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        grant.map(|bytes| row::id(&bytes)).transpose()
    }

    async fn mark_rotated(
        &mut self,
        hash: &TokenHash,
        now: UnixTime,
        successor: Option<&TokenHash>,
    ) -> Result<bool, StoreError> {
        let result = self
            .deadline
            .bound(
                sqlx::query(ROTATE)
                    .bind(time(now))
                    .bind(successor.map(|successor| successor.as_bytes().as_slice()))
                    .bind(hash.as_bytes().as_slice())
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn successor_of(&mut self, hash: &TokenHash) -> Result<Option<TokenHash>, StoreError> {
        let successor: Option<Option<Vec<u8>>> = self
            .deadline
            .bound(
                sqlx::query_scalar(SUCCESSOR_OF)
                    .bind(hash.as_bytes().as_slice())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        successor
            .flatten()
            .map(|bytes| row::hash(&bytes))
            .transpose()
    }

    async fn supersede(&mut self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let result = self
            .deadline
            .bound(
                sqlx::query(SUPERSEDE)
                    .bind(time(now))
                    .bind(hash.as_bytes().as_slice())
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn set_successor(
        &mut self,
        hash: &TokenHash,
        successor: &TokenHash,
    ) -> Result<(), StoreError> {
        self.deadline
            .bound(
                sqlx::query(SET_SUCCESSOR)
                    .bind(successor.as_bytes().as_slice())
                    .bind(hash.as_bytes().as_slice())
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(())
    }

    async fn find_token(&mut self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .deadline
            .bound(
                sqlx::query(FIND_TOKEN)
                    .bind(hash.as_bytes().as_slice())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        row.as_ref().map(read_token).transpose()
    }

    async fn insert_token(&mut self, record: &TokenRecord) -> Result<(), StoreError> {
        self.deadline
            .bound(
                bind_token(sqlx::query(INSERT_TOKEN), TokenRow::from_record(record))
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(())
    }
}

impl ClientStore for PgStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(FIND_CLIENT)
                    .bind(client_id)
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.as_ref().map(read_client).transpose()
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        self.write(|mut tx| async move {
            let saved = tx
                .deadline
                .bound(
                    bind_client(sqlx::query(SAVE_CLIENT), ClientRow::from_client(client))
                        .fetch_one(&mut *tx.tx),
                )
                .await;
            let saved = saved.and_then(|row| row.try_get::<i64, _>(0).map_err(error));
            tx.xid = saved.as_ref().ok().copied();
            let saved = match saved {
                Ok(_) => tx.notify(&self.channel, client.client_id()).await,
                Err(failure) => Err(failure),
            };
            (tx, saved.map(|()| Finish::Commit(())))
        })
        .await
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.write(|mut tx| async move {
            let outcome = match sql::delete_client(&mut tx, client_id, now).await {
                Ok(finish) => tx.notify(&self.channel, client_id).await.map(|()| finish),
                Err(failure) => Err(failure),
            };
            (tx, outcome)
        })
        .await
    }

    /// Relays the `NOTIFY` that every client write of any instance sends on this schema's
    /// channel (in its transaction, so only committed changes are announced) from a task on
    /// the current Tokio runtime, over a connection of its own. When that connection is lost
    /// the cache falls back to its short TTL until the task has reconnected (backing off up
    /// to 5 s between attempts).
    fn watch_clients(&self, watcher: ClientWatcher) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "no Tokio runtime when the server was built: client changes of other \
                 instances are seen through the client cache's short TTL only"
            );
            return;
        };
        runtime.spawn(relay_client_changes(
            self.pool.clone(),
            Arc::clone(&self.channel),
            watcher,
        ));
    }

    async fn insert_client(&self, client: &Client) -> Result<bool, StoreError> {
        self.write(|mut tx| async move {
            let inserted = tx
                .deadline
                .bound(
                    bind_client(sqlx::query(INSERT_CLIENT), ClientRow::from_client(client))
                        .fetch_optional(&mut *tx.tx),
                )
                .await;
            let inserted = inserted.and_then(|row| {
                row.map(|row| row.try_get::<i64, _>(0))
                    .transpose()
                    .map_err(error)
            });
            tx.xid = inserted.as_ref().ok().copied().flatten();
            let inserted = match inserted {
                Ok(Some(_)) => tx
                    .notify(&self.channel, client.client_id())
                    .await
                    .map(|()| true),
                Ok(None) => Ok(false),
                Err(failure) => Err(failure),
            };
            (tx, inserted.map(Finish::Commit))
        })
        .await
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, StoreError> {
        let rows = self
            .bounded(
                sqlx::query(LIST_CLIENTS)
                    .bind(after.unwrap_or(""))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.iter().map(read_client).collect()
    }
}

impl TokenStore for PgStore {
    async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::revoke_grants_of(&mut tx, Holder::Client(client_id), now).await;
            (tx, outcome.map(Finish::Commit))
        })
        .await
    }

    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::revoke_grants_of(&mut tx, Holder::Subject(subject), now).await;
            (tx, outcome.map(Finish::Commit))
        })
        .await
    }

    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::insert_tokens(&mut tx, records).await;
            (tx, outcome)
        })
        .await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(FIND_TOKEN)
                    .bind(hash.as_bytes().as_slice())
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.as_ref().map(read_token).transpose()
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        // One statement, in a transaction of its own so that its commit is not cut by the
        // timeout. It holds no lock while it waits for the token's row: it cannot deadlock.
        self.write(|mut tx| async move {
            let revoked: Result<Option<i64>, StoreError> = tx
                .deadline
                .bound(
                    sqlx::query_scalar(REVOKE_TOKEN)
                        .bind(time(now))
                        .bind(hash.as_bytes().as_slice())
                        .fetch_optional(&mut *tx.tx),
                )
                .await;
            tx.xid = revoked.as_ref().ok().copied().flatten();
            (tx, revoked.map(|xid| Finish::Commit(xid.is_some())))
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::revoke_grant(&mut tx, grant_id, now).await;
            (tx, outcome)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::rotate(&mut tx, hash, now, replacements, grace).await;
            (tx, outcome)
        })
        .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Two transactions: neither waits for a row another holds (`SKIP LOCKED`).
        let purged = self
            .write(|mut tx| async move {
                let purged = tx
                    .deadline
                    .bound(
                        sqlx::query(PURGE)
                            .bind(time(before))
                            .bind(limit)
                            .execute(&mut *tx.tx),
                    )
                    .await;
                (
                    tx,
                    purged.map(|result| Finish::Commit(result.rows_affected())),
                )
            })
            .await?;
        self.write(|mut tx| async move {
            let purged = tx
                .deadline
                .bound(
                    sqlx::query(PURGE_GRANTS)
                        .bind(time(before))
                        .bind(limit)
                        .execute(&mut *tx.tx),
                )
                .await;
            (tx, purged.map(|_| Finish::Commit(())))
        })
        .await?;
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names_are_plain_lowercase_identifiers() {
        for name in ["oauth", "_x", "t_0123_abc", &"a".repeat(63)] {
            assert!(valid_schema(name), "{name}");
        }
        for name in [
            "",
            "0abc",
            "Oauth",
            "a-b",
            "a b",
            "a\"b",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(name), "{name}");
        }
    }
}

//! [`SqliteStore`]: clients and tokens in an embedded SQLite database (feature `sqlite`).

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Executor, Sqlite, Transaction};

use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{
    DELETE_CLIENT, FIND_CLIENT, FIND_TOKEN, GRANT_OF_TOKEN, GRANTS_OF_CLIENT, INSERT_TOKEN,
    LOCK_GRANT, REVOKE_GRANT, REVOKE_GRANT_ROW, REVOKE_TOKEN, ROTATE, SAVE_CLIENT,
};
use crate::store::sql::row::{
    self, ClientRow, TokenRow, bind_client, bind_token, read_client, read_token, time,
};
use crate::store::sql::{self, Finish, WriteTx, error};
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
];

/// Clients and tokens in a SQLite file: the embedded default store. Tokens and revocations
/// survive a restart.
///
/// Opening creates the file if needed, applies migrations, and turns on WAL mode. Each state
/// change is one transaction; token lookups use the primary key on the token hash. Writes
/// that create or revoke tokens take the database's write lock from their first statement
/// (`BEGIN IMMEDIATE`), so they run one at a time and keep the grant contract of
/// [`TokenStore`]: nothing is stored into a revoked grant.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::with_options(options, 8).await
    }

    /// Opens a database from a URL such as `sqlite:oauth.db` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true);
        // Every connection to `:memory:` is a database of its own: keep one.
        let connections = if url.contains(":memory:") { 1 } else { 8 };
        Self::with_options(options, connections).await
    }

    /// A private in-memory database (for tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        Self::connect("sqlite::memory:").await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        connections: u32,
    ) -> Result<Self, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(error)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            // Plain strings run as simple queries (several statements, no parameters); unlike
            // `raw_sql`, they keep this future `Send` for any caller.
            (&mut *tx).execute(*migration).await.map_err(error)?;
            let version = format!("PRAGMA user_version = {}", index + 1);
            (&mut *tx).execute(version.as_str()).await.map_err(error)?;
        }
        tx.commit().await.map_err(error)
    }

    /// The connection pool, for your own tables beside ours.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl SqliteStore {
    /// Runs the write transaction `operation` builds, holding the write lock from the start
    /// (`BEGIN IMMEDIATE`: a deferred transaction that reads before it writes could find its
    /// snapshot stale when it comes to write, and fail at once instead of waiting).
    async fn write<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(SqliteTx) -> Fut,
        Fut: Future<Output = (SqliteTx, Result<Finish<T>, StoreError>)>,
    {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error)?;
        let (tx, outcome) = operation(SqliteTx(tx)).await;
        match outcome? {
            Finish::Commit(value) => tx.0.commit().await.map(|()| value).map_err(error),
            // Dropping the transaction rolls it back.
            Finish::Rollback(value) => Ok(value),
        }
    }
}

/// A write transaction holding SQLite's write lock.
struct SqliteTx(Transaction<'static, Sqlite>);

impl WriteTx for SqliteTx {
    async fn delete_client_row(&mut self, client_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(DELETE_CLIENT)
            .bind(client_id)
            .execute(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(result.rows_affected() > 0)
    }

    async fn grants_of_client(&mut self, client_id: &str) -> Result<Vec<Id>, StoreError> {
        let grants: Vec<Vec<u8>> = sqlx::query_scalar(GRANTS_OF_CLIENT)
            .bind(client_id)
            .fetch_all(&mut *self.0)
            .await
            .map_err(error)?;
        grants.iter().map(|bytes| row::id(bytes)).collect()
    }

    async fn lock_grant(
        &mut self,
        grant_id: &Id,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let revoked_at: Option<i64> = sqlx::query_scalar(LOCK_GRANT)
            .bind(grant_id.as_bytes().as_slice())
            .bind(time(expires_at))
            .fetch_one(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(revoked_at.is_some())
    }

    async fn mark_grant_revoked(&mut self, grant_id: &Id, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query(REVOKE_GRANT_ROW)
            .bind(grant_id.as_bytes().as_slice())
            .bind(time(now))
            .bind(time(now))
            .execute(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn revoke_grant_tokens(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(REVOKE_GRANT)
            .bind(time(now))
            .bind(grant_id.as_bytes().as_slice())
            .execute(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(result.rows_affected())
    }

    async fn grant_of(&mut self, hash: &TokenHash) -> Result<Option<Id>, StoreError> {
        let grant: Option<Vec<u8>> = sqlx::query_scalar(GRANT_OF_TOKEN)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&mut *self.0)
            .await
            .map_err(error)?;
        grant.map(|bytes| row::id(&bytes)).transpose()
    }

    async fn mark_rotated(&mut self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let result = sqlx::query(ROTATE)
            .bind(time(now))
            .bind(hash.as_bytes().as_slice())
            .execute(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn find_token(&mut self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(FIND_TOKEN)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&mut *self.0)
            .await
            .map_err(error)?;
        row.as_ref().map(read_token).transpose()
    }

    async fn insert_token(&mut self, record: &TokenRecord) -> Result<(), StoreError> {
        bind_token(sqlx::query(INSERT_TOKEN), TokenRow::from_record(record))
            .execute(&mut *self.0)
            .await
            .map_err(error)?;
        Ok(())
    }
}

impl ClientStore for SqliteStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(FIND_CLIENT)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(read_client).transpose()
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        bind_client(sqlx::query(SAVE_CLIENT), ClientRow::from_client(client))
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::delete_client(&mut tx, client_id, now).await;
            (tx, outcome)
        })
        .await
    }
}

impl TokenStore for SqliteStore {
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
        let row = sqlx::query(FIND_TOKEN)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(read_token).transpose()
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let result = sqlx::query(REVOKE_TOKEN)
            .bind(time(now))
            .bind(hash.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(result.rows_affected() > 0)
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
    ) -> Result<Rotation, StoreError> {
        self.write(|mut tx| async move {
            let outcome = sql::rotate(&mut tx, hash, now, replacements).await;
            (tx, outcome)
        })
        .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = sqlx::query(
            "DELETE FROM oauth_tokens WHERE hash IN \
             (SELECT hash FROM oauth_tokens WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(time(before))
        .bind(limit)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        // Grants with no token left whose tokens all expired before `before` (a grant's
        // `expires_at` is its newest token's): a revoked grant is remembered as long as it has
        // a token.
        sqlx::query(
            "DELETE FROM oauth_grants WHERE grant_id IN \
             (SELECT grant_id FROM oauth_grants WHERE expires_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM oauth_tokens WHERE oauth_tokens.grant_id = oauth_grants.grant_id) \
             LIMIT $2)",
        )
        .bind(time(before))
        .bind(limit)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(result.rows_affected())
    }
}

//! [`SqliteStore`]: clients and tokens in an embedded SQLite database (feature `sqlite`).

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
    DELETE_CLIENT, FIND_CLIENT, FIND_TOKEN, INSERT_TOKEN, REVOKE_CLIENT_TOKENS, REVOKE_GRANT,
    REVOKE_TOKEN, ROTATE, SAVE_CLIENT,
};
use crate::store::sql::row::{
    ClientRow, TokenRow, bind_client, bind_token, read_client, read_token, time,
};
use crate::store::sql::{RotationStep, error};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// Schema migrations, applied in order on open; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r"
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
"];

/// Clients and tokens in a SQLite file: the embedded default store. Tokens and revocations
/// survive a restart.
///
/// Opening creates the file if needed, applies migrations, and turns on WAL mode. Each state
/// change is one transaction; token lookups use the primary key on the token hash.
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

async fn insert(tx: &mut Transaction<'_, Sqlite>, record: &TokenRecord) -> Result<(), StoreError> {
    bind_token(sqlx::query(INSERT_TOKEN), TokenRow::from_record(record))
        .execute(&mut **tx)
        .await
        .map_err(error)?;
    Ok(())
}

async fn revoke_grant(
    tx: &mut Transaction<'_, Sqlite>,
    grant_id: &Id,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let result = sqlx::query(REVOKE_GRANT)
        .bind(time(now))
        .bind(grant_id.as_bytes().as_slice())
        .execute(&mut **tx)
        .await
        .map_err(error)?;
    Ok(result.rows_affected())
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
        // One transaction, one writer: the client and its tokens go together.
        let mut tx = self.pool.begin().await.map_err(error)?;
        sqlx::query(REVOKE_CLIENT_TOKENS)
            .bind(time(now))
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let deleted = sqlx::query(DELETE_CLIENT)
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(error)?
            .rows_affected();
        tx.commit().await.map_err(error)?;
        Ok(deleted > 0)
    }
}

impl TokenStore for SqliteStore {
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        for record in records {
            insert(&mut tx, record).await?;
        }
        tx.commit().await.map_err(error)
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
        let mut tx = self.pool.begin().await.map_err(error)?;
        let changed = revoke_grant(&mut tx, grant_id, now).await?;
        tx.commit().await.map_err(error)?;
        Ok(changed)
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        // The conditional update comes first: it takes the write lock, and of two concurrent
        // rotations only one can match `rotated_at IS NULL`.
        let won = sqlx::query(ROTATE)
            .bind(time(now))
            .bind(hash.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(error)?
            .rows_affected()
            == 1;
        let row = sqlx::query(FIND_TOKEN)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        let record = row.as_ref().map(read_token).transpose()?;
        let outcome = match RotationStep::decide(won, record) {
            RotationStep::StoreReplacements(record) => {
                for replacement in replacements {
                    insert(&mut tx, replacement).await?;
                }
                Rotation::Rotated(record)
            }
            RotationStep::RevokeGrant(record) => {
                revoke_grant(&mut tx, &record.grant_id, now).await?;
                Rotation::Reused(record)
            }
            // Nothing changed: dropping the transaction rolls it back.
            RotationStep::Done(outcome) => return Ok(outcome),
        };
        tx.commit().await.map_err(error)?;
        Ok(outcome)
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM oauth_tokens WHERE hash IN \
             (SELECT hash FROM oauth_tokens WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(time(before))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(result.rows_affected())
    }
}

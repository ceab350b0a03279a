//! [`SqliteStore`]: clients and tokens in an embedded SQLite database (feature `sqlite`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::row::{ClientRow, TokenRow, time};
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
            sqlx::raw_sql(migration)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            sqlx::raw_sql(&format!("PRAGMA user_version = {}", index + 1))
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)
    }

    /// The connection pool, for your own tables beside ours.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Connection and pool failures are `Unavailable`; anything else is `Backend`.
fn error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::unavailable(error)
        }
        other => StoreError::backend(other),
    }
}

const TOKEN_COLUMNS: &str = "hash, id, kind, client_id, scope, subject, audience, grant_id, \
     issued_at, expires_at, not_before, revoked_at, rotated_at";

fn token_row(row: &SqliteRow) -> Result<TokenRecord, StoreError> {
    TokenRow {
        hash: row.try_get("hash").map_err(error)?,
        id: row.try_get("id").map_err(error)?,
        kind: row.try_get("kind").map_err(error)?,
        client_id: row.try_get("client_id").map_err(error)?,
        scope: row.try_get("scope").map_err(error)?,
        subject: row.try_get("subject").map_err(error)?,
        audience: row.try_get("audience").map_err(error)?,
        grant_id: row.try_get("grant_id").map_err(error)?,
        issued_at: row.try_get("issued_at").map_err(error)?,
        expires_at: row.try_get("expires_at").map_err(error)?,
        not_before: row.try_get("not_before").map_err(error)?,
        revoked_at: row.try_get("revoked_at").map_err(error)?,
        rotated_at: row.try_get("rotated_at").map_err(error)?,
    }
    .into_record()
}

async fn insert(tx: &mut Transaction<'_, Sqlite>, record: &TokenRecord) -> Result<(), StoreError> {
    let row = TokenRow::from_record(record);
    sqlx::query(&format!(
        "INSERT INTO oauth_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(row.hash)
    .bind(row.id)
    .bind(row.kind)
    .bind(row.client_id)
    .bind(row.scope)
    .bind(row.subject)
    .bind(row.audience)
    .bind(row.grant_id)
    .bind(row.issued_at)
    .bind(row.expires_at)
    .bind(row.not_before)
    .bind(row.revoked_at)
    .bind(row.rotated_at)
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
    let result = sqlx::query(
        "UPDATE oauth_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
    )
    .bind(time(now))
    .bind(grant_id.as_bytes().as_slice())
    .execute(&mut **tx)
    .await
    .map_err(error)?;
    Ok(result.rows_affected())
}

impl ClientStore for SqliteStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, secret_hash, auth_method, grant_types, scope, \
             introspect_any_token, allowed_cors_origins FROM oauth_clients WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.map(|row| {
            ClientRow {
                client_id: row.try_get("client_id").map_err(error)?,
                secret_hash: row.try_get("secret_hash").map_err(error)?,
                auth_method: row.try_get("auth_method").map_err(error)?,
                grant_types: row.try_get("grant_types").map_err(error)?,
                scope: row.try_get("scope").map_err(error)?,
                introspect_any_token: row.try_get("introspect_any_token").map_err(error)?,
                allowed_cors_origins: row.try_get("allowed_cors_origins").map_err(error)?,
            }
            .into_client()
        })
        .transpose()
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        let row = ClientRow::from_client(client);
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, secret_hash, auth_method, grant_types, scope, \
             introspect_any_token, allowed_cors_origins) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
             auth_method = excluded.auth_method, grant_types = excluded.grant_types, \
             scope = excluded.scope, introspect_any_token = excluded.introspect_any_token, \
             allowed_cors_origins = excluded.allowed_cors_origins",
        )
        .bind(row.client_id)
        .bind(row.secret_hash)
        .bind(row.auth_method)
        .bind(row.grant_types)
        .bind(row.scope)
        .bind(row.introspect_any_token)
        .bind(row.allowed_cors_origins)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(())
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
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE hash = ?"
        ))
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.as_ref().map(token_row).transpose()
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?",
        )
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
        let won = sqlx::query(
            "UPDATE oauth_tokens SET rotated_at = ? WHERE hash = ? AND kind = 'refresh' \
             AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ? \
             AND (not_before IS NULL OR not_before <= ?)",
        )
        .bind(time(now))
        .bind(hash.as_bytes().as_slice())
        .bind(time(now))
        .bind(time(now))
        .execute(&mut *tx)
        .await
        .map_err(error)?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE hash = ?"
        ))
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(error)?;
        let Some(record) = row.as_ref().map(token_row).transpose()? else {
            return Ok(Rotation::Invalid);
        };
        let outcome = if won {
            for replacement in replacements {
                insert(&mut tx, replacement).await?;
            }
            Rotation::Rotated(record)
        } else if record.kind == TokenKind::Refresh && record.rotated_at.is_some() {
            revoke_grant(&mut tx, &record.grant_id, now).await?;
            Rotation::Reused(record)
        } else {
            return Ok(Rotation::Invalid);
        };
        tx.commit().await.map_err(error)?;
        Ok(outcome)
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM oauth_tokens WHERE hash IN \
             (SELECT hash FROM oauth_tokens WHERE expires_at < ? LIMIT ?)",
        )
        .bind(time(before))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(result.rows_affected())
    }
}

//! [`PgStore`]: clients and tokens in PostgreSQL, shared by several server instances (feature
//! `postgres`).

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor as _, Postgres, Transaction};

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

/// Schema migrations, applied in order on open; `oauth_endpoints_migrations` records which ran.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[r"
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
"];

/// The transaction-scoped advisory lock that serializes migrations of instances opening at
/// once (the ASCII bytes of `oauthend`).
const MIGRATION_LOCK: i64 = 0x6f61_7574_6865_6e64;

/// Deletes at most `$2` tokens that expired before `$1`. `SKIP LOCKED`: instances purging at
/// once take different rows instead of waiting for each other, and never wait for a row that a
/// revocation or rotation holds.
const PURGE: &str = "DELETE FROM oauth_tokens WHERE hash IN \
     (SELECT hash FROM oauth_tokens WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";

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

    /// The longest one store operation may take, waiting for a connection included (5 s by
    /// default); past it the operation fails with [`StoreError::Unavailable`]. It is also each
    /// connection's `statement_timeout` and `idle_in_transaction_session_timeout`, so the
    /// database ends a statement or a transaction that its client gave up on and releases its
    /// locks.
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
/// - [`revoke_grant`](TokenStore::revoke_grant) and
///   [`rotate_refresh_token`](TokenStore::rotate_refresh_token) are each one transaction. A
///   rotation starts with a conditional `UPDATE`: of two instances rotating one refresh token
///   at once, the second waits for the first's row lock, then finds the token already rotated
///   and treats the exchange as a replay.
/// - Failures are bounded: an operation that cannot get a connection or does not finish within
///   the [operation timeout](PgStoreOptions::operation_timeout) fails with
///   [`StoreError::Unavailable`] (endpoints answer 503 with `Retry-After`). Broken connections
///   are dropped and new ones opened, so the store recovers by itself when the database
///   returns.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    operation_timeout: Duration,
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
        let store = Self {
            pool,
            operation_timeout: options.operation_timeout,
        };
        let migrate = store.migrate(options.schema.as_deref());
        match tokio::time::timeout(options.acquire_timeout + options.operation_timeout, migrate)
            .await
        {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::unavailable(TimedOut(options.operation_timeout))),
        }
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

    /// Runs one operation within the operation timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.operation_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(TimedOut(self.operation_timeout))),
        }
    }
}

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    record: &TokenRecord,
) -> Result<(), StoreError> {
    bind_token(sqlx::query(INSERT_TOKEN), TokenRow::from_record(record))
        .execute(&mut **tx)
        .await
        .map_err(error)?;
    Ok(())
}

async fn revoke_grant(
    tx: &mut Transaction<'_, Postgres>,
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

impl ClientStore for PgStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.bounded(async {
            let row = sqlx::query(FIND_CLIENT)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(error)?;
            row.as_ref().map(read_client).transpose()
        })
        .await
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        self.bounded(async {
            bind_client(sqlx::query(SAVE_CLIENT), ClientRow::from_client(client))
                .execute(&self.pool)
                .await
                .map_err(error)?;
            Ok(())
        })
        .await
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.bounded(async {
            // One transaction: the client and its tokens go together. A token request that
            // authenticated before this commits may still store tokens for the client; the
            // grant serialization below is what keeps such tokens out of revoked grants.
            let mut tx = self.pool.begin().await.map_err(error)?;
            let deleted = sqlx::query(DELETE_CLIENT)
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(error)?
                .rows_affected();
            sqlx::query(REVOKE_CLIENT_TOKENS)
                .bind(time(now))
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            tx.commit().await.map_err(error)?;
            Ok(deleted > 0)
        })
        .await
    }
}

impl TokenStore for PgStore {
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(error)?;
            for record in records {
                insert(&mut tx, record).await?;
            }
            tx.commit().await.map_err(error)
        })
        .await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.bounded(async {
            let row = sqlx::query(FIND_TOKEN)
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(error)?;
            row.as_ref().map(read_token).transpose()
        })
        .await
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        self.bounded(async {
            // One statement, committed when it returns.
            let result = sqlx::query(REVOKE_TOKEN)
                .bind(time(now))
                .bind(hash.as_bytes().as_slice())
                .execute(&self.pool)
                .await
                .map_err(error)?;
            Ok(result.rows_affected() > 0)
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(error)?;
            let changed = revoke_grant(&mut tx, grant_id, now).await?;
            tx.commit().await.map_err(error)?;
            Ok(changed)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
    ) -> Result<Rotation, StoreError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(error)?;
            // The conditional update comes first (READ COMMITTED): it takes the row lock, and
            // a concurrent rotation of the same token waits for it, re-checks the condition on
            // the committed row and matches nothing.
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
        })
        .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.bounded(async {
            let result = sqlx::query(PURGE)
                .bind(time(before))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await
                .map_err(error)?;
            Ok(result.rows_affected())
        })
        .await
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

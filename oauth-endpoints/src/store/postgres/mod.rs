//! [`PgStore`]: clients, tokens, and authorization codes and pushed authorization requests
//! (table `oauth_authorizations`, see `authorizations.rs`) in PostgreSQL, shared by several
//! server instances (feature `postgres`).

mod authorizations;
mod batch;
mod db;
mod feed;
mod migrations;
mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection as _, Row as _};

use self::db::{Db, INSERT_CLIENT, REVOKE_TOKEN, SAVE_CLIENT, TimedOut};
use self::tokens::Tokens;
use crate::client::Client;
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{FIND_CLIENT, LIST_CLIENTS};
use crate::store::sql::row::{ClientRow, bind_client, read_client, time};
use crate::store::sql::{self, Finish, Holder, error};
use crate::store::{ClientStore, ClientWatcher, Rotation, StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// A pooled connection idle for longer than this is checked (a round trip) before use; one used
/// more recently is taken as it is. sqlx checks every connection it hands out by default, which
/// doubled the round trips of every operation (BENCHMARKS.md, "Batched statements"). A
/// connection that broke within this time fails the operation that uses it, as a connection that
/// breaks during an operation does.
const IDLE_CHECK: Duration = Duration::from_secs(1);

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
/// # async fn open() -> Result<(), oauth_endpoints::store::StoreError> {
/// use std::time::Duration;
/// use oauth_endpoints::store::PgStoreOptions;
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

/// Clients, tokens and authorizations in PostgreSQL: the store for several server instances behind a load
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
/// - Authorization codes and pushed authorization requests
///   ([`AuthorizationStore`](crate::store::AuthorizationStore)) live in
///   `oauth_authorizations`, by hash and kind. Using one is a single conditional `UPDATE`: of
///   instances consuming one code at once, exactly one succeeds and the others see a replay.
/// - Failures are bounded: an operation that cannot get a connection or whose statements do
///   not finish within the [operation timeout](PgStoreOptions::operation_timeout) fails with
///   [`StoreError::Unavailable`] (endpoints answer 503 with `Retry-After`) and changed
///   nothing. A commit is never cut by the timeout: if its acknowledgement is lost or late,
///   the store asks the database whether the transaction committed (`txid_status`), so an
///   operation that committed is reported as done. Broken connections are dropped and new ones opened, so the store
///   recovers by itself when the database returns.
#[derive(Clone, Debug)]
pub struct PgStore {
    db: Db,
    tokens: Tokens,
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
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_CHECK {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect);
        let migrate = migrations::migrate(&pool, options.schema.as_deref());
        match tokio::time::timeout(options.acquire_timeout + options.operation_timeout, migrate)
            .await
        {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::unavailable(TimedOut(options.operation_timeout))),
        }
        let mut db = Db {
            pool,
            operation_timeout: options.operation_timeout,
            channel: Arc::from(""),
        };
        let schema: String = db
            .bounded(sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&db.pool))
            .await?;
        db.channel = Arc::from(format!("oauth_clients:{schema}"));
        Ok(Self {
            tokens: Tokens::new(&db),
            db,
        })
    }

    /// The connection pool, for your own tables beside ours.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }
}

impl ClientStore for PgStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = self
            .db
            .bounded(
                sqlx::query(FIND_CLIENT)
                    .bind(client_id)
                    .fetch_optional(&self.db.pool),
            )
            .await?;
        row.as_ref().map(read_client).transpose()
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        self.db
            .write(|mut tx| async move {
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
                    Ok(_) => tx.notify(&self.db.channel, client.client_id()).await,
                    Err(failure) => Err(failure),
                };
                (tx, saved.map(|()| Finish::Commit(())))
            })
            .await
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.db
            .write(|mut tx| async move {
                let outcome = match sql::delete_client(&mut tx, client_id, now).await {
                    Ok(finish) => tx
                        .notify(&self.db.channel, client_id)
                        .await
                        .map(|()| finish),
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
        runtime.spawn(feed::relay_client_changes(
            self.db.pool.clone(),
            Arc::clone(&self.db.channel),
            watcher,
        ));
    }

    async fn insert_client(&self, client: &Client) -> Result<bool, StoreError> {
        self.db
            .write(|mut tx| async move {
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
                        .notify(&self.db.channel, client.client_id())
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
            .db
            .bounded(
                sqlx::query(LIST_CLIENTS)
                    .bind(after.unwrap_or(""))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.db.pool),
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
        self.db
            .write(|mut tx| async move {
                let outcome = sql::revoke_grants_of(&mut tx, Holder::Client(client_id), now).await;
                (tx, outcome.map(Finish::Commit))
            })
            .await
    }

    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.db
            .write(|mut tx| async move {
                let outcome = sql::revoke_grants_of(&mut tx, Holder::Subject(subject), now).await;
                (tx, outcome.map(Finish::Commit))
            })
            .await
    }

    /// In a batch with the concurrent calls of this store (see `postgres/batch.rs`).
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.tokens.insert(records.to_vec()).await
    }

    /// In a batch with the concurrent lookups of this store (see `postgres/batch.rs`).
    async fn find_token(
        &self,
        hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.tokens.find(*hash).await
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        // One statement, in a transaction of its own so that its commit is not cut by the
        // timeout. It holds no lock while it waits for the token's row: it cannot deadlock.
        self.db
            .write(|mut tx| async move {
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
        self.db
            .write(|mut tx| async move {
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
        self.db
            .write(|mut tx| async move {
                let outcome = sql::rotate(&mut tx, hash, now, replacements, grace).await;
                (tx, outcome)
            })
            .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Two transactions: neither waits for a row another holds (`SKIP LOCKED`).
        let purged = self
            .db
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
        self.db
            .write(|mut tx| async move {
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

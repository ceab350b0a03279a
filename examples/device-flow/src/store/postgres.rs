//! [`PgDeviceStore`]: device authorizations in PostgreSQL, shared by several server instances
//! (feature `postgres`), in tables of their own beside the core's.
//!
//! # Why every state change is atomic across instances
//!
//! Each instance has its own pool; PostgreSQL runs every transaction at READ COMMITTED, where
//! each statement sees what was committed when it started, and an `UPDATE` that finds its row
//! locked by another transaction waits, then re-checks its `WHERE` on the row's newest version
//! before changing it (PostgreSQL's "EvalPlanQual" recheck). So:
//!
//! - **approve, deny, redeem** are each one conditional `UPDATE ... WHERE status = 'pending'`
//!   (or `'approved'`) `AND expires_at > now`: of two instances racing on one row, the second
//!   waits for the first's row lock, re-checks the status on the committed row and changes
//!   nothing. `redeem` returns the row with `RETURNING`, so exactly one caller gets it.
//! - **record_poll** locks the row (`SELECT ... FOR UPDATE`, which also returns the newest
//!   version after waiting), decides `slow_down` from that version and writes it back in the
//!   same transaction: concurrent polls of one device code are decided one after the other.
//! - **create** takes a transaction-scoped advisory lock keyed by the client before counting
//!   its pending requests. Every creation for that client takes the same lock, and the count is
//!   a new statement, so its snapshot is taken after the previous holder committed: it sees
//!   every request stored before and none can be added until this transaction ends. Approvals,
//!   denials and expiry only lower the count, so racing them can only make the bound stricter
//!   for an instant. A user code taken concurrently by another client is caught by the unique
//!   index (`ON CONFLICT DO NOTHING` waits for the other transaction, then skips).
//!
//! No transaction takes two row locks, and the advisory lock is taken before any row lock, so
//! no deadlock can arise between these operations.

use std::sync::Arc;

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::{PgStore, StoreError};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Executor as _, Row};

use crate::store::sql_row::{self, read_time, time};
use crate::store::{
    Created, DeviceAuthorization, DeviceStatus, DeviceStore, PollOutcome, SLOW_DOWN_STEP,
};
use crate::user_code::UserCode;

/// Schema migrations of the add-on, applied in order on open; `device_flow_migrations` records
/// which ran (the core's own migrations are recorded apart, in `oauth_endpoints_migrations`).
/// `{schema}` is replaced by the schema prefix (empty, or `"name".`). Never edit one that has
/// shipped: append a new one.
const MIGRATIONS: &[&str] = &[r"
CREATE TABLE IF NOT EXISTS {schema}device_authorizations (
    device_code_hash BYTEA PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL,
    subject          TEXT,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT
);
CREATE INDEX IF NOT EXISTS device_authorizations_expires
    ON {schema}device_authorizations (expires_at);
CREATE INDEX IF NOT EXISTS device_authorizations_pending
    ON {schema}device_authorizations (client_id, expires_at) WHERE status = 'pending';
"];

/// The transaction-scoped advisory lock that serializes the add-on's migrations across
/// instances opening at once (the ASCII bytes of `devflow8`; the core uses another key).
const MIGRATION_LOCK: i64 = 0x6465_7666_6c6f_7738;

/// The first key of the two-key advisory locks that serialize creations per client (the ASCII
/// bytes of `devf`); the second is `hashtext(client_id)`. Two-key and one-key advisory locks
/// never conflict with each other.
const CLIENT_LOCK_CLASS: i32 = 0x6465_7666;

/// How many expired rows one purge statement deletes at most.
const PURGE_BATCH: i64 = 1_000;

const COLUMNS: &str = "device_code_hash, user_code, client_id, scope, status, subject, \
     issued_at, expires_at, poll_interval, last_polled_at";

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

/// The statements, with the table's name qualified by the schema when one was given.
struct Statements {
    /// What qualifies the tables' names: empty, or `"schema".`.
    prefix: String,
    /// The schema's `CREATE SCHEMA`, if one was given.
    create_schema: Option<String>,
    migrations_table: String,
    migrations_version: String,
    migrations_record: String,
    delete_expired_code: String,
    count_pending: String,
    insert: String,
    find_by_hash: String,
    find_by_user_code: String,
    decide: String,
    lock_for_poll: String,
    record_poll: String,
    redeem: String,
    purge: String,
}

impl Statements {
    fn new(schema: Option<&str>) -> Self {
        // `valid_schema` admits no quote, so the name needs no escaping.
        let prefix = schema.map_or_else(String::new, |schema| format!("\"{schema}\"."));
        let t = format!("{prefix}device_authorizations");
        Self {
            prefix: prefix.clone(),
            create_schema: schema.map(|schema| format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")),
            migrations_table: format!(
                "CREATE TABLE IF NOT EXISTS {prefix}device_flow_migrations (\
                 version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ),
            migrations_version: format!(
                "SELECT COALESCE(MAX(version), 0) FROM {prefix}device_flow_migrations"
            ),
            migrations_record: format!(
                "INSERT INTO {prefix}device_flow_migrations (version) VALUES ($1)"
            ),
            delete_expired_code: format!(
                "DELETE FROM {t} WHERE user_code = $1 AND expires_at <= $2"
            ),
            count_pending: format!(
                "SELECT COUNT(*) FROM {t} \
                 WHERE client_id = $1 AND status = 'pending' AND expires_at > $2"
            ),
            insert: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (user_code) DO NOTHING"
            ),
            find_by_hash: format!("SELECT {COLUMNS} FROM {t} WHERE device_code_hash = $1"),
            find_by_user_code: format!("SELECT {COLUMNS} FROM {t} WHERE user_code = $1"),
            decide: format!(
                "UPDATE {t} SET status = $1, subject = $2 \
                 WHERE user_code = $3 AND status = 'pending' AND expires_at > $4"
            ),
            lock_for_poll: format!(
                "SELECT poll_interval, last_polled_at FROM {t} \
                 WHERE device_code_hash = $1 AND status = 'pending' FOR UPDATE"
            ),
            record_poll: format!(
                "UPDATE {t} SET poll_interval = $1, last_polled_at = $2 \
                 WHERE device_code_hash = $3"
            ),
            redeem: format!(
                "UPDATE {t} SET status = 'used' \
                 WHERE device_code_hash = $1 AND status = 'approved' AND expires_at > $2 \
                 RETURNING {COLUMNS}"
            ),
            // `SKIP LOCKED`: instances purging at once take different rows, and a purge never
            // waits for a row that a poll or a decision holds.
            purge: format!(
                "DELETE FROM {t} WHERE device_code_hash IN (SELECT device_code_hash FROM {t} \
                 WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ),
        }
    }

    fn migration(&self, index: usize) -> String {
        MIGRATIONS.get(index).map_or_else(String::new, |migration| {
            migration.replace("{schema}", &self.prefix)
        })
    }
}

/// Device authorizations in PostgreSQL, shared by every server instance on the database: the
/// device store for deployments on [`PgStore`].
///
/// - [`PgDeviceStore::open`] shares the pool of the server's [`PgStore`] (and so its schema,
///   timeouts and connection limit); [`PgDeviceStore::new`] takes any pool;
///   [`PgDeviceStore::with_schema`] keeps the tables in a schema of their own.
/// - Opening applies the add-on's migrations (its own versions, in `device_flow_migrations`)
///   under a transaction-scoped advisory lock, so instances starting together do not race.
/// - Every state change is atomic across instances; the module's source states why, statement
///   by statement. Each operation is one statement or one short transaction, bounded by the
///   pool's acquire timeout and, with [`PgStore`]'s pool, its `statement_timeout`.
/// - Connection failures are [`StoreError::Unavailable`] (503 with `Retry-After`).
#[derive(Clone)]
pub struct PgDeviceStore {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl std::fmt::Debug for PgDeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDeviceStore").finish_non_exhaustive()
    }
}

impl PgDeviceStore {
    /// Uses the pool of the server's [`PgStore`]: the tables live beside the core's, in its
    /// schema.
    pub async fn open(store: &PgStore) -> Result<Self, StoreError> {
        Self::new(store.pool().clone()).await
    }

    /// Uses `pool`, with the tables in its connections' `search_path`.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        Self::migrate(pool, None).await
    }

    /// Uses `pool`, with the tables in `schema` (created if missing). The name must be a plain
    /// lowercase identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes); opening fails otherwise.
    pub async fn with_schema(pool: PgPool, schema: &str) -> Result<Self, StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::backend(InvalidSchema(schema.to_owned())));
        }
        Self::migrate(pool, Some(schema)).await
    }

    async fn migrate(pool: PgPool, schema: Option<&str>) -> Result<Self, StoreError> {
        let sql = Statements::new(schema);
        let mut tx = pool.begin().await.map_err(error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        // A plain string runs as a simple query: several statements, no parameters.
        if let Some(create) = &sql.create_schema {
            (&mut *tx).execute(create.as_str()).await.map_err(error)?;
        }
        (&mut *tx)
            .execute(sql.migrations_table.as_str())
            .await
            .map_err(error)?;
        let version: i32 = sqlx::query_scalar(&sql.migrations_version)
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
        let applied = usize::try_from(version).unwrap_or(0);
        for index in applied..MIGRATIONS.len() {
            let migration = sql.migration(index);
            (&mut *tx)
                .execute(migration.as_str())
                .await
                .map_err(error)?;
            sqlx::query(&sql.migrations_record)
                .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;
        Ok(Self {
            pool,
            sql: Arc::new(sql),
        })
    }

    async fn decide(
        &self,
        user_code: &UserCode,
        status: DeviceStatus,
        subject: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        // One conditional UPDATE: see the module's documentation.
        let changed = sqlx::query(&self.sql.decide)
            .bind(status.as_str())
            .bind(subject)
            .bind(user_code.as_str())
            .bind(time(now))
            .execute(&self.pool)
            .await
            .map_err(error)?
            .rows_affected();
        Ok(changed == 1)
    }
}

/// Connection failures (SQLSTATE class 08, a server shutting down or refusing connections, a
/// pool timeout) and statement timeouts are `Unavailable`; anything else is `Backend`.
fn error(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57014" | "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    };
    if unavailable {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

fn row(row: &PgRow) -> Result<DeviceAuthorization, StoreError> {
    sql_row::read(row, "poll_interval", error)
}

impl DeviceStore for PgDeviceStore {
    async fn create(
        &self,
        authorization: &DeviceAuthorization,
        max_pending: u32,
    ) -> Result<Created, StoreError> {
        let issued_at = time(authorization.issued_at);
        let mut tx = self.pool.begin().await.map_err(error)?;
        // Serializes creations for this client across instances: see the module's docs.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(CLIENT_LOCK_CLASS)
            .bind(&authorization.client_id)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let pending: i64 = sqlx::query_scalar(&self.sql.count_pending)
            .bind(&authorization.client_id)
            .bind(issued_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
        if pending >= i64::from(max_pending) {
            // Rolled back here, not by dropping the transaction: sqlx rolls a dropped one back
            // from a background task, and the client's lock was seen held for the 5 s
            // idle-in-transaction timeout (`device_flow_stores.rs`, two tests on one client).
            tx.rollback().await.map_err(error)?;
            return Ok(Created::TooManyPending);
        }
        // Frees the user code of an expired request.
        sqlx::query(&self.sql.delete_expired_code)
            .bind(authorization.user_code.as_str())
            .bind(issued_at)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let inserted = sqlx::query(&self.sql.insert)
            .bind(authorization.device_code_hash.as_bytes().as_slice())
            .bind(authorization.user_code.as_str())
            .bind(&authorization.client_id)
            .bind(authorization.scope.as_str())
            .bind(authorization.status.as_str())
            .bind(authorization.subject.as_deref())
            .bind(issued_at)
            .bind(time(authorization.expires_at))
            .bind(time(authorization.interval))
            .bind(authorization.last_polled_at.map(time))
            .execute(&mut *tx)
            .await
            .map_err(error)?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await.map_err(error)?;
            return Ok(Created::UserCodeTaken);
        }
        tx.commit().await.map_err(error)?;
        Ok(Created::Stored)
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let found = sqlx::query(&self.sql.find_by_hash)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        found.as_ref().map(row).transpose()
    }

    async fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let found = sqlx::query(&self.sql.find_by_user_code)
            .bind(user_code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        found.as_ref().map(row).transpose()
    }

    async fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.decide(user_code, DeviceStatus::Approved, Some(subject), now)
            .await
    }

    async fn deny(&self, user_code: &UserCode, now: UnixTime) -> Result<bool, StoreError> {
        self.decide(user_code, DeviceStatus::Denied, None, now)
            .await
    }

    async fn record_poll(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<PollOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        // The row lock orders concurrent polls of this device code: see the module's docs.
        let locked = sqlx::query(&self.sql.lock_for_poll)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        let Some(locked) = locked else {
            tx.rollback().await.map_err(error)?;
            return Ok(PollOutcome::NotPending);
        };
        let interval = read_time(locked.try_get("poll_interval").map_err(error)?)?;
        let last: Option<i64> = locked.try_get("last_polled_at").map_err(error)?;
        let too_fast = last
            .map(read_time)
            .transpose()?
            .is_some_and(|last| now < last.saturating_add(interval));
        let interval = if too_fast {
            interval.saturating_add(SLOW_DOWN_STEP)
        } else {
            interval
        };
        sqlx::query(&self.sql.record_poll)
            .bind(time(interval))
            .bind(time(now))
            .bind(hash.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(if too_fast {
            PollOutcome::SlowDown { interval }
        } else {
            PollOutcome::Pending
        })
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        // One conditional UPDATE ... RETURNING: exactly one caller gets the row.
        let found = sqlx::query(&self.sql.redeem)
            .bind(hash.as_bytes().as_slice())
            .bind(time(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        found.as_ref().map(row).transpose()
    }

    async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut purged = 0;
        loop {
            let deleted = sqlx::query(&self.sql.purge)
                .bind(time(before))
                .bind(PURGE_BATCH)
                .execute(&self.pool)
                .await
                .map_err(error)?
                .rows_affected();
            purged += deleted;
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(purged);
            }
        }
    }
}

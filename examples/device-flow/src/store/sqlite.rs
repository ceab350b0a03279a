//! [`SqliteDeviceStore`]: device authorizations in a table of their own, beside the core's tables
//! in the same SQLite database (feature `sqlite`).

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::{SqliteStore, StoreError};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Sqlite, Transaction};

use crate::store::sql_row::{self, time};
use crate::store::{
    Created, DeviceAuthorization, DeviceStatus, DeviceStore, PollOutcome, SLOW_DOWN_STEP,
};
use crate::user_code::UserCode;

/// The table, created on open if missing. The core's migrations own `PRAGMA user_version`, so
/// this crate only ever uses `CREATE ... IF NOT EXISTS`.
const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS device_authorizations (
    device_code_hash BLOB PRIMARY KEY NOT NULL,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL,
    subject          TEXT,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    interval         INTEGER NOT NULL,
    last_polled_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS device_authorizations_expires ON device_authorizations (expires_at);
CREATE INDEX IF NOT EXISTS device_authorizations_client
    ON device_authorizations (client_id, status, expires_at);
";

const COLUMNS: &str = "device_code_hash, user_code, client_id, scope, status, subject, \
     issued_at, expires_at, interval, last_polled_at";

/// Device authorizations in SQLite. Share the pool of the server's [`SqliteStore`] with
/// [`SqliteDeviceStore::open`], or give any pool to [`SqliteDeviceStore::new`].
///
/// Each state change is one conditional `UPDATE` (or a transaction that starts with one, so it
/// holds the write lock from its first statement): of two concurrent redemptions exactly one
/// matches `status = 'approved'`.
#[derive(Clone, Debug)]
pub struct SqliteDeviceStore {
    pool: SqlitePool,
}

impl SqliteDeviceStore {
    /// Uses `pool`, creating the table if it is missing.
    pub async fn new(pool: SqlitePool) -> Result<Self, StoreError> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(error)?;
        Ok(Self { pool })
    }

    /// Uses the database of the server's [`SqliteStore`].
    pub async fn open(store: &SqliteStore) -> Result<Self, StoreError> {
        Self::new(store.pool().clone()).await
    }

    async fn decide(
        &self,
        user_code: &UserCode,
        status: DeviceStatus,
        subject: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE device_authorizations SET status = ?, subject = ? \
             WHERE user_code = ? AND status = 'pending' AND expires_at > ?",
        )
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

/// Connection and pool failures are `Unavailable`; anything else is `Backend`.
fn error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::unavailable(error)
        }
        other => StoreError::backend(other),
    }
}

fn row(row: &SqliteRow) -> Result<DeviceAuthorization, StoreError> {
    sql_row::read(row, "interval", error)
}

async fn find(
    tx: &mut Transaction<'_, Sqlite>,
    hash: &TokenHash,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let found = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM device_authorizations WHERE device_code_hash = ?"
    ))
    .bind(hash.as_bytes().as_slice())
    .fetch_optional(&mut **tx)
    .await
    .map_err(error)?;
    found.as_ref().map(row).transpose()
}

impl DeviceStore for SqliteDeviceStore {
    async fn create(
        &self,
        authorization: &DeviceAuthorization,
        max_pending: u32,
    ) -> Result<Created, StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        // Frees the user code of an expired request. A write statement, so it takes the
        // database's write lock before anything is read: the count below and the insertion
        // see no concurrent creation in between (SQLite has one writer), and of concurrent
        // calls for one client at most `max_pending` in all are stored.
        sqlx::query("DELETE FROM device_authorizations WHERE user_code = ? AND expires_at <= ?")
            .bind(authorization.user_code.as_str())
            .bind(time(authorization.issued_at))
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM device_authorizations \
             WHERE client_id = ? AND status = 'pending' AND expires_at > ?",
        )
        .bind(&authorization.client_id)
        .bind(time(authorization.issued_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(error)?;
        if pending >= i64::from(max_pending) {
            return Ok(Created::TooManyPending);
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO device_authorizations ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(authorization.device_code_hash.as_bytes().as_slice())
        .bind(authorization.user_code.as_str())
        .bind(&authorization.client_id)
        .bind(authorization.scope.as_str())
        .bind(authorization.status.as_str())
        .bind(authorization.subject.as_deref())
        .bind(time(authorization.issued_at))
        .bind(time(authorization.expires_at))
        .bind(time(authorization.interval))
        .bind(authorization.last_polled_at.map(time))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await.map_err(error)?;
                Ok(Created::Stored)
            }
            Err(sqlx::Error::Database(database))
                if database.is_unique_violation() && database.message().contains("user_code") =>
            {
                Ok(Created::UserCodeTaken)
            }
            Err(other) => Err(error(other)),
        }
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let found = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_authorizations WHERE device_code_hash = ?"
        ))
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
        let found = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_authorizations WHERE user_code = ?"
        ))
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
        // The slow-down update comes first: it takes the write lock, so the check and the
        // bump see no concurrent poll in between.
        let slowed = sqlx::query(
            "UPDATE device_authorizations SET interval = interval + ?, last_polled_at = ? \
             WHERE device_code_hash = ? AND status = 'pending' \
             AND last_polled_at IS NOT NULL AND ? < last_polled_at + interval",
        )
        .bind(time(SLOW_DOWN_STEP))
        .bind(time(now))
        .bind(hash.as_bytes().as_slice())
        .bind(time(now))
        .execute(&mut *tx)
        .await
        .map_err(error)?
        .rows_affected()
            == 1;
        let outcome = if slowed {
            let interval = find(&mut tx, hash)
                .await?
                .map_or(SLOW_DOWN_STEP, |found| found.interval);
            PollOutcome::SlowDown { interval }
        } else {
            let polled = sqlx::query(
                "UPDATE device_authorizations SET last_polled_at = ? \
                 WHERE device_code_hash = ? AND status = 'pending'",
            )
            .bind(time(now))
            .bind(hash.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(error)?
            .rows_affected()
                == 1;
            if polled {
                PollOutcome::Pending
            } else {
                PollOutcome::NotPending
            }
        };
        tx.commit().await.map_err(error)?;
        Ok(outcome)
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let found = sqlx::query(&format!(
            "UPDATE device_authorizations SET status = 'used' \
             WHERE device_code_hash = ? AND status = 'approved' AND expires_at > ? \
             RETURNING {COLUMNS}"
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(time(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        found.as_ref().map(row).transpose()
    }

    async fn purge_expired(&self, before: UnixTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM device_authorizations WHERE expires_at < ?")
            .bind(time(before))
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(result.rows_affected())
    }
}

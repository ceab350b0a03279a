//! [`Db`]: the pool and the operation timeout, and how statements and transactions run within
//! it; the statements of a write transaction ([`WriteTx`]) in PostgreSQL's dialect.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row as _, Transaction};
use tokio::time::Instant;

use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{
    FIND_AUTHORIZATION, FIND_TOKEN, GRANT_OF_TOKEN, GRANTS_OF_CLIENT, GRANTS_OF_SUBJECT,
    INSERT_TOKEN, REVOKE_GRANT, ROTATE, SET_SUCCESSOR, SUCCESSOR_OF, SUPERSEDE,
    consume_authorization, delete_client, insert_authorization, insert_client, lock_grant,
    remember_once, revoke_grant_row, revoke_token, save_client,
};
use crate::store::sql::row::{self, TokenRow, bind_token, read_authorization, read_token, time};
use crate::store::sql::{Finish, Holder, WriteTx, error, is_conflict};
use crate::store::{AuthorizationKind, AuthorizationRecord, StoreError};
use crate::token::TokenRecord;

// The first write of every transaction that commits something a client is answered about
// also returns the transaction's id, to find out what became of the transaction when the
// acknowledgement of its `COMMIT` is lost (see `PgStore::settle`).

/// `queries::lock_grant!`, and the transaction id.
const LOCK_GRANT: &str = concat!(lock_grant!(), ", txid_current()");

/// [`REVOKE_GRANT_ROW`](crate::store::sql::queries::REVOKE_GRANT_ROW), and the transaction id.
const REVOKE_GRANT_ROW: &str = concat!(revoke_grant_row!(), ", txid_current()");

/// [`REVOKE_TOKEN`](crate::store::sql::queries::REVOKE_TOKEN), and the transaction id.
pub(super) const REVOKE_TOKEN: &str = concat!(revoke_token!(), " RETURNING txid_current()");

/// [`DELETE_CLIENT`](crate::store::sql::queries::DELETE_CLIENT), and the transaction id.
const DELETE_CLIENT: &str = concat!(delete_client!(), " RETURNING txid_current()");

/// [`INSERT_CLIENT`](crate::store::sql::queries::INSERT_CLIENT), and the transaction id when a
/// row was inserted.
pub(super) const INSERT_CLIENT: &str = concat!(insert_client!(), " RETURNING txid_current()");

/// [`SAVE_CLIENT`](crate::store::sql::queries::SAVE_CLIENT), and the transaction id.
pub(super) const SAVE_CLIENT: &str = concat!(save_client!(), " RETURNING txid_current()");

/// [`INSERT_AUTHORIZATION`](crate::store::sql::queries::INSERT_AUTHORIZATION), and the
/// transaction id.
pub(super) const INSERT_AUTHORIZATION: &str =
    concat!(insert_authorization!(), " RETURNING txid_current()");

/// [`REMEMBER_ONCE`](crate::store::sql::queries::REMEMBER_ONCE), and the transaction id when
/// the key was remembered (no row when it already was).
pub(super) const REMEMBER_ONCE: &str = concat!(remember_once!(), " RETURNING txid_current()");

/// [`CONSUME_AUTHORIZATION`](crate::store::sql::queries::CONSUME_AUTHORIZATION), and the
/// transaction id (column `xid`) when a row was consumed.
const CONSUME_AUTHORIZATION: &str = concat!(consume_authorization!(), ", txid_current() AS xid");

/// What became of a transaction whose `COMMIT` was sent: `committed`, `aborted` or
/// `in progress` (NULL if too old to tell).
const TRANSACTION_STATUS: &str = "SELECT txid_status($1)";

/// How many times an operation is run again after PostgreSQL rolled it back for a conflict
/// with another transaction (SQLSTATE 40001, 40P01), within the operation timeout.
const CONFLICT_RETRIES: u32 = 5;

/// The database did not finish an operation in time.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {0:?}")]
pub(super) struct TimedOut(pub(super) Duration);

/// The acknowledgement of a `COMMIT` did not come in time.
#[derive(Debug, thiserror::Error)]
#[error("the database did not acknowledge a commit within {0:?}")]
struct CommitUnacknowledged(Duration);

/// The pool, the operation timeout, and the channel of client changes: what every operation of
/// a [`PgStore`](super::PgStore) runs on.
#[derive(Clone, Debug)]
pub(super) struct Db {
    pub(super) pool: PgPool,
    pub(super) operation_timeout: Duration,
    /// The `NOTIFY` channel of this schema's client changes (see
    /// [`ClientStore::watch_clients`](crate::store::ClientStore::watch_clients)).
    pub(super) channel: Arc<str>,
}

impl Db {
    /// Runs one read within the operation timeout.
    pub(super) async fn bounded<T>(
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
    pub(super) async fn write<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
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
                match outcome {
                    Ok(Finish::Commit(value)) => self.commit(tx, value).await,
                    Ok(Finish::Rollback(value)) => {
                        tx.roll_back(self.operation_timeout).await;
                        Ok(value)
                    }
                    Err(failure) => {
                        tx.roll_back(self.operation_timeout).await;
                        Err(failure)
                    }
                }
            }
            .await;
            match outcome {
                Err(failure) if is_conflict(&failure) && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::debug!(error = %failure.report(), conflicts, "conflict; running it again");
                    tokio::time::sleep(Duration::from_millis(u64::from(conflicts) * 3)).await;
                }
                outcome => return outcome,
            }
        }
    }

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
                    tracing::warn!(xid, error = %failure.report(), "a commit's answer was lost; it committed");
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
        tracing::error!(xid, error = %failure.report(), "the outcome of a commit is unknown");
        Err(failure)
    }
}

/// When an operation started plus the operation timeout.
#[derive(Clone, Copy)]
pub(super) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(super) fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// Waits for `step` until the deadline.
    pub(super) async fn bound<T>(
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
pub(super) struct PgTx {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) deadline: Deadline,
    /// The transaction's id, once a write returned it.
    pub(super) xid: Option<i64>,
}

impl PgTx {
    /// Rolls the transaction back now, releasing its locks. Dropping a sqlx transaction only
    /// queues its `ROLLBACK`, sent by a background task that returns the connection to the
    /// pool; the row and advisory locks stay held until that task runs, and if it never runs
    /// (its runtime is shutting down), until PostgreSQL notices: the device-flow add-on's
    /// store held a client's lock for the 5 s idle-in-transaction timeout that way. A rollback
    /// that fails or does not come within `timeout` changes nothing either: the connection is
    /// closed when it returns to the pool, and PostgreSQL rolls back a transaction whose
    /// session ends.
    pub(super) async fn roll_back(self, timeout: Duration) {
        match tokio::time::timeout(timeout, self.tx.rollback()).await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => tracing::debug!(error = %failure, "rollback failed"),
            Err(_) => tracing::debug!("rollback timed out"),
        }
    }

    /// Announces, on commit, that client `client_id` changed (see
    /// [`ClientStore::watch_clients`]).
    pub(super) async fn notify(
        &mut self,
        channel: &str,
        client_id: &str,
    ) -> Result<(), StoreError> {
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

    async fn mark_consumed(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        let row = self
            .deadline
            .bound(
                sqlx::query(CONSUME_AUTHORIZATION)
                    .bind(time(now))
                    .bind(hash.as_bytes().as_slice())
                    .bind(kind.as_str())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        self.xid = Some(row.try_get::<i64, _>("xid").map_err(error)?);
        read_authorization(&row).map(Some)
    }

    async fn find_authorization(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        let row = self
            .deadline
            .bound(
                sqlx::query(FIND_AUTHORIZATION)
                    .bind(hash.as_bytes().as_slice())
                    .bind(kind.as_str())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        row.as_ref().map(read_authorization).transpose()
    }
}

//! The [`PgStore`]'s [`AuthorizationStore`]: authorization codes and pushed authorization
//! requests in `oauth_authorizations` (migration 6), keyed by hash and kind, and remembered ids
//! in `oauth_replay_ids` (migration 7).

use sqlx::Row as _;

use super::PgStore;
use super::db::{INSERT_AUTHORIZATION, REMEMBER_ONCE};
use crate::clock::UnixTime;
use crate::secret::TokenHash;
use crate::store::sql::queries::FIND_AUTHORIZATION;
use crate::store::sql::row::{AuthorizationRow, bind_authorization, read_authorization, time};
use crate::store::sql::{self, Finish, error};
use crate::store::{
    AuthorizationKind, AuthorizationRecord, AuthorizationStore, Consumption, StoreError,
};

/// Deletes at most `$2` records that expired before `$1`. `SKIP LOCKED`, as the token purge:
/// instances purging at once take different rows, and a purge never waits for a row that a
/// consumption holds. Returns the count, and the transaction id (to settle a lost commit).
/// Remembered ids whose time passed go in the same statement, `SKIP LOCKED` likewise.
const PURGE_AUTHORIZATIONS: &str = "WITH purged AS (DELETE FROM oauth_authorizations \
     WHERE (hash, kind) IN (SELECT hash, kind FROM oauth_authorizations \
     WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1), \
     forgotten AS (DELETE FROM oauth_replay_ids WHERE hash IN (SELECT hash \
     FROM oauth_replay_ids WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1) \
     SELECT (SELECT COUNT(*) FROM purged) + (SELECT COUNT(*) FROM forgotten), txid_current()";

/// Every change is one statement in a transaction of its own, committed as the other writes
/// are (a commit whose acknowledgement is lost is settled, never reported as failed).
/// [`consume_authorization`](AuthorizationStore::consume_authorization) is one conditional
/// `UPDATE`: of concurrent consumptions on every instance, exactly one wins (the isolation
/// argument is in `store/sql/mod.rs`).
impl AuthorizationStore for PgStore {
    async fn insert_authorization(&self, record: &AuthorizationRecord) -> Result<(), StoreError> {
        self.db
            .write(|mut tx| async move {
                let inserted = tx
                    .deadline
                    .bound(
                        bind_authorization(
                            sqlx::query(INSERT_AUTHORIZATION),
                            AuthorizationRow::from_record(record),
                        )
                        .fetch_one(&mut *tx.tx),
                    )
                    .await;
                let inserted = inserted.and_then(|row| row.try_get::<i64, _>(0).map_err(error));
                tx.xid = inserted.as_ref().ok().copied();
                (tx, inserted.map(|_| Finish::Commit(())))
            })
            .await
    }

    async fn find_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        let row = self
            .db
            .bounded(
                sqlx::query(FIND_AUTHORIZATION)
                    .bind(hash.as_bytes().as_slice())
                    .bind(kind.as_str())
                    .fetch_optional(&self.db.pool),
            )
            .await?;
        row.as_ref().map(read_authorization).transpose()
    }

    async fn consume_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> Result<Consumption, StoreError> {
        self.db
            .write(|mut tx| async move {
                let outcome = sql::consume_authorization(&mut tx, hash, kind, now).await;
                (tx, outcome)
            })
            .await
    }

    /// One upsert (`queries::remember_once!`): a concurrent one with the same key, on any
    /// instance, waits for this one's commit and then finds the key remembered.
    async fn remember_once(
        &self,
        key: &TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.db
            .write(|mut tx| async move {
                let remembered = tx
                    .deadline
                    .bound(
                        sqlx::query(REMEMBER_ONCE)
                            .bind(key.as_bytes().as_slice())
                            .bind(time(until))
                            .bind(time(now))
                            .fetch_optional(&mut *tx.tx),
                    )
                    .await;
                let remembered = remembered.and_then(|row| {
                    row.map(|row| row.try_get::<i64, _>(0))
                        .transpose()
                        .map_err(error)
                });
                tx.xid = remembered.as_ref().ok().copied().flatten();
                let outcome = remembered.map(|xid| match xid {
                    Some(_) => Finish::Commit(true),
                    None => Finish::Rollback(false),
                });
                (tx, outcome)
            })
            .await
    }

    async fn purge_expired_authorizations(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .write(|mut tx| async move {
                let purged: Result<(i64, i64), StoreError> = tx
                    .deadline
                    .bound(
                        sqlx::query_as(PURGE_AUTHORIZATIONS)
                            .bind(time(before))
                            .bind(limit)
                            .fetch_one(&mut *tx.tx),
                    )
                    .await;
                tx.xid = purged.as_ref().ok().map(|&(_, xid)| xid);
                let purged = purged.map(|(count, _)| u64::try_from(count).unwrap_or(0));
                (tx, purged.map(Finish::Commit))
            })
            .await
    }
}

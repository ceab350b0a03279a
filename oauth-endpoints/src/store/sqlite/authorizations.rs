//! The [`SqliteStore`]'s [`AuthorizationStore`]: authorization codes and pushed authorization
//! requests in `oauth_authorizations` (migration 6), keyed by hash and kind, and remembered ids
//! in `oauth_replay_ids` (migration 7). Changes go through the store's one writer
//! (`writer.rs`), lookups through the readers.

use rusqlite::Connection;

use super::SqliteStore;
use super::rows::{authorization, bind_authorization};
use super::writer::at_once;
use crate::clock::UnixTime;
use crate::secret::TokenHash;
use crate::store::sql::queries::{FIND_AUTHORIZATION, INSERT_AUTHORIZATION, REMEMBER_ONCE};
use crate::store::sql::row::{AuthorizationRow, time};
use crate::store::sql::{self, Finish};
use crate::store::{
    AuthorizationKind, AuthorizationRecord, AuthorizationStore, Consumption, StoreError,
};

/// Deletes at most `$2` records that expired before `$1`.
const PURGE_AUTHORIZATIONS: &str = "DELETE FROM oauth_authorizations WHERE (hash, kind) IN \
     (SELECT hash, kind FROM oauth_authorizations WHERE expires_at < $1 LIMIT $2)";

/// Deletes at most `$2` remembered ids whose time passed before `$1`.
const PURGE_REPLAY_IDS: &str = "DELETE FROM oauth_replay_ids WHERE hash IN \
     (SELECT hash FROM oauth_replay_ids WHERE expires_at < $1 LIMIT $2)";

/// The record of `kind` whose hash is `hash`, read on `connection` (a reader's, or the
/// writer's inside its transaction).
pub(super) fn find(
    connection: &Connection,
    hash: &TokenHash,
    kind: AuthorizationKind,
) -> Result<Option<AuthorizationRecord>, StoreError> {
    super::rows::query_row(
        connection,
        FIND_AUTHORIZATION,
        (hash.as_bytes().as_slice(), kind.as_str()),
        authorization,
    )?
    .map(AuthorizationRow::into_record)
    .transpose()
}

/// Every change runs on the writer, so consumptions are serialized: those of this store by its
/// one writer thread, those of other stores or processes on the file by SQLite's write lock,
/// which each batch holds from its first statement. A consumption is answered once its batch
/// is committed and durable (the isolation argument is in `store/sql/mod.rs`).
impl AuthorizationStore for SqliteStore {
    async fn insert_authorization(&self, record: &AuthorizationRecord) -> Result<(), StoreError> {
        let row = AuthorizationRow::from_record(record);
        self.writer
            .run(move |tx| {
                tx.with_statement(INSERT_AUTHORIZATION, |statement| {
                    bind_authorization(statement, &row)
                })?;
                Ok(Finish::Commit(()))
            })
            .await
    }

    async fn find_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> Result<Option<AuthorizationRecord>, StoreError> {
        match &self.readers {
            Some(readers) => readers.run(|connection| find(connection, hash, kind)),
            None => {
                let hash = *hash;
                self.read(move |connection| find(connection, &hash, kind))
                    .await
            }
        }
    }

    async fn consume_authorization(
        &self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> Result<Consumption, StoreError> {
        let hash = *hash;
        self.writer
            .run(move |tx| at_once(sql::consume_authorization(tx, &hash, kind, now)))
            .await
    }

    /// One upsert on the writer, which holds the write lock: no other writer runs between its
    /// check of the row and its change.
    async fn remember_once(
        &self,
        key: &TokenHash,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let key = *key;
        self.writer
            .run(move |tx| {
                let rows = tx.execute(
                    REMEMBER_ONCE,
                    (key.as_bytes().as_slice(), time(until), time(now)),
                )?;
                Ok(if rows == 1 {
                    Finish::Commit(true)
                } else {
                    Finish::Rollback(false)
                })
            })
            .await
    }

    async fn purge_expired_authorizations(
        &self,
        before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.writer
            .run(move |tx| {
                let purged = tx.execute(PURGE_AUTHORIZATIONS, (time(before), limit))?;
                let forgotten = tx.execute(PURGE_REPLAY_IDS, (time(before), limit))?;
                Ok(Finish::Commit((purged + forgotten) as u64))
            })
            .await
    }
}

//! The one writer of a [`SqliteStore`](super::SqliteStore): a thread that owns the write
//! connection, takes operations from a queue and commits them in batches (group commit).
//!
//! # Why one writer
//!
//! SQLite lets one transaction write at a time. With several pooled connections writing, each
//! waits for the lock in SQLite's busy handler, which sleeps (1, 2, 5, 10 ... ms) between tries:
//! before this writer, `client_credentials` issuance reached 0.06 of the memory store with a p99
//! of 91 ms (BENCHMARKS.md). One thread that owns the only write connection never waits for a
//! lock held by this process, and runs the shared write logic (`store/sql/mod.rs`) through the
//! same [`WriteTx`] trait as PostgreSQL, without an await that could wait: every step is a
//! synchronous `rusqlite` call, so each operation's future completes on its first poll.
//!
//! # Group commit
//!
//! Making a commit durable (an `fsync` of the WAL) is the dominant cost of a write. The thread
//! takes the first queued operation, then every operation queued meanwhile (up to
//! [`MAX_BATCH`]), and runs them all in one `BEGIN IMMEDIATE` transaction, each inside its own
//! savepoint: an operation that fails or decides to roll back is rolled back to its savepoint
//! alone, the others are kept. One `COMMIT` then holds the whole batch, and one `fsync` makes it
//! durable: for a file, on the sync thread ([`Syncer`], which also explains why this is as
//! durable as `synchronous=FULL`) while the writer goes on with the next batch; only then is
//! each caller answered. If the commit fails, every caller of the batch gets the error and
//! nothing of the batch was stored.
//!
//! # Checkpoints
//!
//! The WAL is copied back into the database file out of the batches' commits, partly on a
//! thread of its own and partly by the writer between two batches, after answering the callers
//! (see [`Checkpoints`]): SQLite's automatic checkpoint, inside a commit, made the p99.
//!
//! # Grant serialization
//!
//! Operations run one at a time, in queue order, on one connection, inside a transaction that
//! holds SQLite's write lock from its first statement (`BEGIN IMMEDIATE`): each sees every
//! earlier operation of its batch and of earlier batches, and no other writer (another process
//! or store on the same file) can interleave, so the isolation argument of `store/sql/mod.rs`
//! holds as for one transaction per operation.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::rows::{authorization, bind_token, error, token_record};
use super::syncer::Syncer;
use super::{SqliteError, Target};
use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::sql::queries::{
    CONSUME_AUTHORIZATION, DELETE_CLIENT, FIND_TOKEN, GRANT_OF_TOKEN, GRANTS_OF_CLIENT,
    GRANTS_OF_SUBJECT, INSERT_TOKEN, REVOKE_GRANT, REVOKE_GRANT_ROW, ROTATE, SET_SUCCESSOR,
    SUCCESSOR_OF, SUPERSEDE,
};
use crate::store::sql::row::{self, AuthorizationRow, time};
use crate::store::sql::{Finish, Holder, WriteTx};
use crate::store::{AuthorizationKind, AuthorizationRecord, StoreError};
use crate::token::TokenRecord;

/// When grant `$1` was revoked; no row (or NULL) if it was not.
const GRANT_REVOKED: &str = "SELECT revoked_at FROM oauth_grants WHERE grant_id = $1";

/// The most operations committed together. Large enough that a burst of concurrent requests
/// (the benchmarks run 32 connections) shares one `fsync`, small enough that one batch holds the
/// write lock for milliseconds, not seconds, when another process shares the file.
const MAX_BATCH: usize = 256;

/// An operation as queued: it runs inside its savepoint and tells whether to keep its changes,
/// and how to answer its caller once the batch's commit succeeded (`None`) or failed.
type Work = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Settle) + Send>;
pub(super) type Settle = Box<dyn FnOnce(Option<&Failed>) + Send>;

/// A batch that could not be committed (nothing of it was stored), or whose commit could not be
/// made durable.
pub(super) struct Failed {
    unavailable: bool,
    message: String,
}

impl Failed {
    fn of(cause: &rusqlite::Error) -> Self {
        Self {
            unavailable: super::rows::is_unavailable(cause),
            message: cause.to_string(),
        }
    }

    /// The WAL could not be synced after the batch's commit.
    pub(super) fn unsynced(cause: &std::io::Error) -> Self {
        Self {
            unavailable: true,
            message: format!("the commit could not be synced to disk: {cause}"),
        }
    }

    fn error(&self) -> StoreError {
        let cause = SqliteError::Batch(self.message.clone());
        if self.unavailable {
            StoreError::unavailable(cause)
        } else {
            StoreError::backend(cause)
        }
    }
}

/// The queue of the writer thread. The thread ends when the last handle is dropped.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Work>,
}

impl Writer {
    /// Starts the writer thread on the database at `target`: it opens the write connection,
    /// applies `prepare` (pragmas, migrations), reports the outcome, then serves the queue.
    pub(super) async fn start(
        target: Target,
        prepare: fn(&mut Connection) -> Result<(), StoreError>,
    ) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::channel::<Work>();
        let (ready, opened) = oneshot::channel();
        std::thread::Builder::new()
            .name("oauth-sqlite-writer".into())
            .spawn(move || {
                let connection = target
                    .open(false)
                    .and_then(|mut connection| prepare(&mut connection).map(|()| connection));
                match connection {
                    Ok(connection) => {
                        if ready.send(Ok(())).is_ok() {
                            let checkpoints = Checkpoints::start(&target, &connection);
                            let syncer = match &target {
                                Target::File(path) => Syncer::start(path, &connection),
                                Target::Memory(_) => None,
                            };
                            serve(connection, &jobs, checkpoints.as_ref(), syncer.as_ref());
                        }
                    }
                    Err(failure) => {
                        let _ = ready.send(Err(failure));
                    }
                }
            })
            .map_err(StoreError::unavailable)?;
        opened
            .await
            .map_err(|_| StoreError::unavailable(SqliteError::WriterGone))??;
        Ok(Self { queue })
    }

    /// Queues `operation` and answers its outcome once the batch holding it is committed.
    /// `Finish::Commit` keeps the operation's changes, `Finish::Rollback` and errors undo them
    /// (back to its savepoint).
    pub(super) async fn run<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<Finish<T>, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let work: Work = Box::new(move |tx| {
            // A caller that gave up before its operation ran (its future dropped) gets nothing
            // done, as a transaction dropped before its commit did before.
            if reply.is_closed() {
                return (false, Box::new(|_| ()));
            }
            let (keep, outcome) = match operation(tx) {
                Ok(Finish::Commit(value)) => (true, Ok(value)),
                Ok(Finish::Rollback(value)) => (false, Ok(value)),
                Err(failure) => (false, Err(failure)),
            };
            let settle: Settle = Box::new(move |failed: Option<&Failed>| {
                // An operation's own error stands; an outcome stands only if its batch was
                // committed (even one that changed nothing read the batch's uncommitted state).
                let outcome = match (outcome, failed) {
                    (Err(failure), _) => Err(failure),
                    (Ok(_), Some(failed)) => Err(failed.error()),
                    (Ok(value), None) => Ok(value),
                };
                let _ = reply.send(outcome);
            });
            (keep, settle)
        });
        self.queue
            .send(work)
            .map_err(|_| StoreError::unavailable(SqliteError::WriterGone))?;
        answer
            .await
            .map_err(|_| StoreError::unavailable(SqliteError::WriterGone))?
    }
}

/// Batches committed between two checkpoints: about 80 WAL pages per batch of 32 issuances
/// (measured), so about SQLite's default of one checkpoint per 1,000 WAL pages.
const CHECKPOINT_EVERY: u32 = 12;

/// The checkpoints of a file database, taken out of the batches' commits.
///
/// Why: SQLite checkpoints inside the `COMMIT` that crosses 1,000 WAL pages, so the callers of
/// that batch wait for the copy of the WAL into the database file and its `fsync`: those
/// batches made the p99 of issuance (24 to 42 ms). Here a thread of its own copies the bulk
/// (a `PASSIVE` checkpoint on its own connection, beside the writer's next batches), and the
/// writer, between two batches, after answering the callers, copies the few frames committed
/// since: only then is everything copied at a moment when nothing is being appended, which lets
/// the next write transaction restart the WAL from its beginning. (The thread alone never
/// catches up with a writer that keeps appending: the WAL was never restarted and grew by a
/// gigabyte in a minute. The writer alone stalls a batch for the whole copy.)
struct Checkpoints {
    kick: mpsc::SyncSender<()>,
}

impl Checkpoints {
    /// Starts the checkpoint thread and turns off the writer's automatic checkpoints; `None`
    /// (SQLite's automatic checkpoints kept) for an in-memory database or if either fails.
    fn start(target: &Target, writer: &Connection) -> Option<Self> {
        if matches!(target, Target::Memory(_)) {
            return None;
        }
        let connection = target.open(true).ok()?;
        let (kick, kicks) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("oauth-sqlite-checkpoint".into())
            .spawn(move || {
                while kicks.recv().is_ok() {
                    checkpoint(&connection);
                }
            })
            .ok()?;
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0").ok()?;
        Some(Self { kick })
    }

    /// After each batch: the bulk copy on the thread half-way, the rest on the writer.
    fn after_batch(&self, writer: &Connection, batches: u32) {
        match batches % CHECKPOINT_EVERY {
            0 => checkpoint(writer),
            half if half == CHECKPOINT_EVERY / 2 => {
                // Already running: it will copy these frames too.
                let _ = self.kick.try_send(());
            }
            _ => {}
        }
    }
}

/// A `PASSIVE` checkpoint: copies the committed WAL frames that no reader still needs into the
/// database file, without waiting for readers; once all are copied, the next write transaction
/// restarts the WAL from its beginning, which keeps it bounded.
fn checkpoint(writer: &Connection) {
    if let Err(cause) = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %cause, "SQLite checkpoint failed");
    }
}

/// The writer thread's loop: a batch per turn, until every handle is dropped.
fn serve(
    mut connection: Connection,
    jobs: &mpsc::Receiver<Work>,
    checkpoints: Option<&Checkpoints>,
    syncer: Option<&Syncer>,
) {
    let mut batches: u32 = 0;
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        let mut settles = Vec::with_capacity(batch.len());
        let failed = commit_batch(&mut connection, batch, &mut settles).err();
        match (&failed, syncer) {
            (None, Some(syncer)) => syncer.after_commit(settles),
            _ => {
                if let Some(failed) = &failed {
                    tracing::warn!(error = %failed.message, "SQLite write batch failed");
                }
                for settle in settles {
                    settle(failed.as_ref());
                }
            }
        }
        batches = batches.wrapping_add(1);
        if let Some(checkpoints) = checkpoints {
            checkpoints.after_batch(&connection, batches);
        }
    }
}

/// Runs `batch` in one transaction, a savepoint per operation, and commits it.
fn commit_batch(
    connection: &mut Connection,
    batch: Vec<Work>,
    settles: &mut Vec<Settle>,
) -> Result<(), Failed> {
    let statement = |connection: &Connection, sql: &str| {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
    };
    statement(connection, "BEGIN IMMEDIATE").map_err(|cause| Failed::of(&cause))?;
    let run = || -> Result<(), rusqlite::Error> {
        let mut tx = Tx(&mut *connection);
        for work in batch {
            statement(tx.0, "SAVEPOINT operation")?;
            // A panicking operation (a bug) is rolled back alone; its caller, whose answer went
            // with it, gets an error, and the writer goes on serving the others.
            let (keep, settle) = match catch_unwind(AssertUnwindSafe(|| work(&mut tx))) {
                Ok((keep, settle)) => (keep, Some(settle)),
                Err(_) => (false, None),
            };
            settles.extend(settle);
            if !keep {
                statement(tx.0, "ROLLBACK TO operation")?;
            }
            statement(tx.0, "RELEASE operation")?;
        }
        statement(tx.0, "COMMIT")?;
        Ok(())
    };
    run().map_err(|cause| {
        // A failed statement or commit may leave the transaction open: end it, so that nothing
        // of the batch is stored and the next batch starts clean.
        if !connection.is_autocommit() {
            let _ = statement(connection, "ROLLBACK");
        }
        Failed::of(&cause)
    })
}

/// Runs a write step of the shared logic to completion. Every [`WriteTx`] step of [`Tx`] is a
/// synchronous call wrapped in a ready future, so the whole operation completes on its first
/// poll; one that did not would be a bug, reported as an error rather than a panic.
pub(super) fn at_once<T>(
    future: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => Err(StoreError::backend(SqliteError::Suspended)),
    }
}

/// The write connection inside a batch's transaction, as the shared write logic sees it.
pub(super) struct Tx<'c>(&'c mut Connection);

impl Tx<'_> {
    /// Runs a cached statement; the number of rows it changed.
    pub(super) fn execute(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        self.0
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(params))
            .map_err(error)
    }

    /// Runs the cached statement `sql` through `run` (which binds and executes it).
    pub(super) fn with_statement<T>(
        &self,
        sql: &str,
        run: impl FnOnce(&mut rusqlite::Statement<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.0
            .prepare_cached(sql)
            .and_then(|mut statement| run(&mut statement))
            .map_err(error)
    }

    /// The connection, for lookups run through the writer (in-memory databases).
    pub(super) fn connection(&self) -> &Connection {
        self.0
    }

    /// Runs a cached query; its first row through `read`, if any.
    pub(super) fn query_row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        super::rows::query_row(self.0, sql, params, read)
    }
}

fn ready<T>(value: T) -> std::future::Ready<T> {
    std::future::ready(value)
}

impl WriteTx for Tx<'_> {
    fn delete_client_row(
        &mut self,
        client_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(
            self.execute(DELETE_CLIENT, [client_id])
                .map(|rows| rows > 0),
        )
    }

    fn grants_of(
        &mut self,
        holder: Holder<'_>,
    ) -> impl Future<Output = Result<Vec<Id>, StoreError>> + Send {
        let (query, key) = match holder {
            Holder::Client(client_id) => (GRANTS_OF_CLIENT, client_id),
            Holder::Subject(subject) => (GRANTS_OF_SUBJECT, subject),
        };
        let grants = self
            .0
            .prepare_cached(query)
            .and_then(|mut statement| {
                statement
                    .query_map([key], |row| row.get::<_, Vec<u8>>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(error)
            .and_then(|grants| grants.iter().map(|bytes| row::id(bytes)).collect());
        ready(grants)
    }

    /// SQLite needs no row to lock: the batch holds the database's write lock from its first
    /// statement, so the grant's revoked flag, once read, stays as read until the commit. Only
    /// revoked grants have a row (`REVOKE_GRANT_ROW`): issuing into a new grant writes no grant
    /// row (BENCHMARKS.md, "The SQLite store").
    fn lock_grant(
        &mut self,
        grant_id: &Id,
        _expires_at: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let revoked_at = self.query_row(GRANT_REVOKED, [grant_id.as_bytes().as_slice()], |row| {
            row.get::<_, Option<i64>>(0)
        });
        ready(revoked_at.map(|revoked_at| revoked_at.flatten().is_some()))
    }

    fn mark_grant_revoked(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let marked = self.query_row(
            REVOKE_GRANT_ROW,
            (grant_id.as_bytes().as_slice(), time(now), time(now)),
            |_| Ok(()),
        );
        ready(marked.map(|_| ()))
    }

    fn revoke_grant_tokens(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let revoked = self.execute(REVOKE_GRANT, (time(now), grant_id.as_bytes().as_slice()));
        ready(revoked.map(|rows| rows as u64))
    }

    fn grant_of(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<Id>, StoreError>> + Send {
        let grant = self
            .query_row(GRANT_OF_TOKEN, [hash.as_bytes().as_slice()], |row| {
                row.get::<_, Vec<u8>>(0)
            })
            .and_then(|grant| grant.map(|bytes| row::id(&bytes)).transpose());
        ready(grant)
    }

    fn mark_rotated(
        &mut self,
        hash: &TokenHash,
        now: UnixTime,
        successor: Option<&TokenHash>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let rotated = self.execute(
            ROTATE,
            (
                time(now),
                successor.map(|successor| successor.as_bytes().as_slice()),
                hash.as_bytes().as_slice(),
            ),
        );
        ready(rotated.map(|rows| rows == 1))
    }

    fn successor_of(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<TokenHash>, StoreError>> + Send {
        let successor = self
            .query_row(SUCCESSOR_OF, [hash.as_bytes().as_slice()], |row| {
                row.get::<_, Option<Vec<u8>>>(0)
            })
            .and_then(|successor| {
                successor
                    .flatten()
                    .map(|bytes| row::hash(&bytes))
                    .transpose()
            });
        ready(successor)
    }

    fn supersede(
        &mut self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let superseded = self.execute(SUPERSEDE, (time(now), hash.as_bytes().as_slice()));
        ready(superseded.map(|rows| rows == 1))
    }

    fn set_successor(
        &mut self,
        hash: &TokenHash,
        successor: &TokenHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let set = self.execute(
            SET_SUCCESSOR,
            (successor.as_bytes().as_slice(), hash.as_bytes().as_slice()),
        );
        ready(set.map(|_| ()))
    }

    fn find_token(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
        let found = self
            .query_row(FIND_TOKEN, [hash.as_bytes().as_slice()], token_record)
            .and_then(Option::transpose);
        ready(found)
    }

    fn insert_token(
        &mut self,
        record: &TokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let inserted = self
            .0
            .prepare_cached(INSERT_TOKEN)
            .and_then(|mut statement| bind_token(&mut statement, record))
            .map_err(error);
        ready(inserted.map(|_| ()))
    }

    /// The batch holds the write lock: no other writer, of this store or another on the file,
    /// runs between the `UPDATE`'s check of `consumed_at` and its change.
    fn mark_consumed(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<AuthorizationRecord>, StoreError>> + Send {
        let consumed = self
            .query_row(
                CONSUME_AUTHORIZATION,
                (time(now), hash.as_bytes().as_slice(), kind.as_str()),
                authorization,
            )
            .and_then(|row| row.map(AuthorizationRow::into_record).transpose());
        ready(consumed)
    }

    fn find_authorization(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> impl Future<Output = Result<Option<AuthorizationRecord>, StoreError>> + Send {
        ready(super::authorizations::find(self.0, hash, kind))
    }
}

#[cfg(all(test, feature = "test-kit"))]
mod tests {
    use std::time::Duration;

    use super::at_once;
    use crate::store::sql::{self, Finish, WriteTx};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{StoreError, TokenStore};
    use crate::test_kit::record;
    use crate::{secret::Id, token::TokenKind};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_is_rolled_back_alone_and_its_batch_is_committed() {
        let store = SqliteStore::in_memory().await.expect("open");
        let writer = store.writer.clone();
        // Holds the writer thread, so that the three operations below queue up meanwhile and
        // are taken together as the next batch.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let hold = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(move |_| {
                        let _ = held.recv_timeout(Duration::from_secs(5));
                        Ok(Finish::Commit(()))
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let [kept, lost, also_kept] =
            [(); 3].map(|()| record(TokenKind::Access, Id::random(), "c1").1);
        let insert = |record: crate::token::TokenRecord| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .run(move |tx| at_once(sql::insert_tokens(tx, &[record])))
                    .await
            })
        };
        let first = insert(kept.clone());
        let failing = tokio::spawn({
            let (writer, lost) = (writer.clone(), lost.clone());
            async move {
                writer
                    .run(move |tx| {
                        // A change, then a failure: the change must not survive.
                        at_once(tx.insert_token(&lost))?;
                        Err::<Finish<()>, _>(StoreError::backend("refused"))
                    })
                    .await
            }
        });
        let last = insert(also_kept.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.send(()).expect("the hold is waiting");

        assert!(hold.await.expect("joined").is_ok());
        assert!(first.await.expect("joined").is_ok());
        assert!(matches!(
            failing.await.expect("joined"),
            Err(StoreError::Backend(_))
        ));
        assert!(last.await.expect("joined").is_ok());
        for (record, stored) in [(kept, true), (lost, false), (also_kept, true)] {
            let found = store.find_token(&record.hash, None).await.expect("find");
            assert_eq!(found.is_some(), stored, "{:?}", record.hash);
        }
    }
}

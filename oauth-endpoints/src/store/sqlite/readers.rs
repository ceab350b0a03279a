//! The read connections of a [`SqliteStore`](super::SqliteStore): each lookup runs on the
//! calling thread, on a connection of its own taken from a small pool.
//!
//! # Why on the calling thread
//!
//! Measured (`cargo run --release -p oauth-endpoints-bench --example sqlite_drivers`,
//! BENCHMARKS.md, "The SQLite driver"): a primary-key lookup of a token row costs about 3.6 µs of
//! CPU on the calling thread, 14 µs through two reader threads fed by a channel (the hand-off and
//! the wake-ups cost more than the lookup), and 80 µs through sqlx's pool (a worker thread and a
//! channel per connection). The lookup is bounded work: one B-tree descent of a `WITHOUT ROWID`
//! table by its key, no lock wait (in WAL mode readers never wait for the writer), far below the
//! tens of microseconds an async task may run between awaits. The exception is a page that is
//! in neither SQLite's cache nor the OS's: one read from disk, as a memory-mapped store would
//! take. A reader's busy timeout is short ([`READER_BUSY`]): the only waits a WAL reader can meet
//! are another connection's recovery of the WAL after a crash, or a file opened in exclusive
//! mode, and a thread of the async runtime must not sleep for seconds on them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use super::Target;
use crate::store::StoreError;

/// How long a reader waits for a lock before the lookup fails as unavailable.
const READER_BUSY: Duration = Duration::from_millis(250);

/// Idle connections kept for reuse. A lookup never awaits while it holds one, so at most one is
/// in use per thread that runs lookups at the same instant (the runtime's workers, 2 to a few
/// dozen); more are opened when needed and closed when returned to a full pool.
const IDLE_READERS: usize = 16;

/// A pool of read connections, shared by the clones of a store.
#[derive(Clone, Debug)]
pub(super) struct Readers {
    target: Arc<Target>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    /// Readers of the database at `target`; one connection is opened now, to report a database
    /// that cannot be read at once.
    pub(super) fn new(target: Target) -> Result<Self, StoreError> {
        let first = open(&target)?;
        Ok(Self {
            target: Arc::new(target),
            idle: Arc::new(Mutex::new(vec![first])),
        })
    }

    /// Runs `read` on an idle read connection (or a new one), on this thread.
    pub(super) fn run<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A panic while the lock is held cannot leave the list inconsistent (a push or a pop):
        // a poisoned lock is taken as it is.
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match idle {
            Some(connection) => connection,
            None => open(&self.target)?,
        };
        let outcome = read(&connection);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
        outcome
    }
}

fn open(target: &Target) -> Result<Connection, StoreError> {
    let connection = target.open(true)?;
    connection
        .busy_timeout(READER_BUSY)
        .map_err(super::rows::error)?;
    Ok(connection)
}

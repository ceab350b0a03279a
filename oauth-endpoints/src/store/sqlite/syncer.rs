//! Durability of a file [`SqliteStore`](super::SqliteStore)'s commits, off the writer's path:
//! the writer commits a batch and goes on with the next, a thread of its own syncs the
//! write-ahead log to disk, and only then are the batch's callers answered.
//!
//! # Why
//!
//! With `synchronous=FULL`, SQLite syncs the WAL inside each `COMMIT`, and the writer waits:
//! nothing is written while the disk syncs (0.6 to 3 ms per `fsync` on the machines measured),
//! so a fixed number of concurrent callers got at most that many answers per `fsync` time
//! (BENCHMARKS.md, "The SQLite store"). Here the writer commits without syncing
//! (`synchronous=NORMAL`) and hands the batch's answers over; the sync thread syncs the WAL once
//! for every batch committed since its last sync and answers them all. The writer's work and the
//! disk's overlap, as in PostgreSQL's WAL writer.
//!
//! # The durability argument
//!
//! In WAL mode, a commit appends the transaction's pages to the WAL file (`pwrite`), the last
//! one marked as a commit; `synchronous=FULL` adds one `fsync` of that file before `COMMIT`
//! returns, and differs from `NORMAL` in nothing else (both sync the WAL before a checkpoint,
//! the database file after it, and the WAL header when the log restarts). Here the same
//! `fsync`, of the same file, runs after `COMMIT` returned and before any caller of the batch
//! is answered: an `fsync` flushes every page written to the file before it began, whichever
//! descriptor wrote it, so every acknowledged change is on disk, as with `FULL`. A crash may
//! lose batches that were committed but not yet synced; their callers were not answered, and
//! recovery, which checks each frame's checksum against the previous ones, never keeps a later
//! batch without the earlier ones. (The test suite kills a process right after an
//! acknowledgement and finds the change; a power cut is argued, not tested.)
//!
//! What differs from `FULL`: other connections (lookups) see a batch from its commit, a sync
//! earlier than its callers hear of it. A revocation may thus be seen by an introspection a
//! millisecond before it is acknowledged, and be lost with the acknowledgement if the machine
//! fails in that millisecond; the revoking client, never answered, revokes again. Tokens created
//! by a batch are not known to anyone before their request is answered.
//!
//! If the sync fails, nothing tells whether the batch reached the disk: its callers get
//! [`StoreError::Unavailable`](crate::store::StoreError::Unavailable), and the failure is logged as an
//! error (a disk that fails `fsync` needs an operator).

use std::fs::File;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;

use super::writer::{Failed, Settle};

/// Hands committed batches to the sync thread; the thread ends when this is dropped, after
/// syncing and answering what it was handed.
pub(super) struct Syncer {
    committed: mpsc::Sender<Vec<Settle>>,
    /// The WAL, for syncing on the writer should the thread be gone.
    wal: File,
}

impl Syncer {
    /// Starts the sync thread for the database file at `path`, whose WAL the `writer` appends
    /// to, and turns off the writer's own sync at commit. `None` (the writer keeps
    /// `synchronous=FULL`) if the WAL cannot be opened or the thread cannot start.
    pub(super) fn start(path: &Path, writer: &Connection) -> Option<Self> {
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = File::open(&wal_path)
            .inspect_err(|cause| {
                tracing::warn!(error = %cause, "cannot open the SQLite WAL: syncing at each commit");
            })
            .ok()?;
        let own = wal.try_clone().ok()?;
        let (committed, batches) = mpsc::channel::<Vec<Settle>>();
        std::thread::Builder::new()
            .name("oauth-sqlite-sync".into())
            .spawn(move || {
                while let Ok(mut waiting) = batches.recv() {
                    waiting.extend(batches.try_iter().flatten());
                    sync_then_answer(&own, waiting);
                }
            })
            .ok()?;
        // Only now: should the thread not start, every commit syncs as before.
        writer
            .execute_batch("PRAGMA synchronous = NORMAL")
            .inspect_err(|cause| tracing::warn!(error = %cause, "cannot set synchronous=NORMAL"))
            .ok()?;
        Some(Self { committed, wal })
    }

    /// Answers the callers of a batch whose `COMMIT` returned, once the WAL is synced: on the
    /// sync thread (which takes every batch committed while it synced, for its next sync), or
    /// here should that thread be gone (it panicked).
    pub(super) fn after_commit(&self, settles: Vec<Settle>) {
        if let Err(mpsc::SendError(settles)) = self.committed.send(settles) {
            sync_then_answer(&self.wal, settles);
        }
    }
}

/// Syncs the WAL, then answers `waiting`: done if the sync succeeded, unavailable otherwise.
fn sync_then_answer(wal: &File, waiting: Vec<Settle>) {
    let failed = wal.sync_data().err().map(|cause| {
        tracing::error!(error = %cause, "cannot sync the SQLite WAL to disk");
        Failed::unsynced(&cause)
    });
    for settle in waiting {
        settle(failed.as_ref());
    }
}

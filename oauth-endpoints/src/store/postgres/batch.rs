//! [`Batcher`]: concurrent calls of one store operation, run together as one statement.
//!
//! # Why
//!
//! Each statement costs a round trip to the database, the driver's work on both ends and, for a
//! write, a commit (a WAL flush). When many requests arrive at once, each running its own
//! statement spends most of its time on that fixed cost. A batcher keeps a few *lanes*: a call
//! that finds a lane free starts it at once with whatever is queued (so a lone call waits for
//! nothing); calls that arrive while every lane is busy queue, and the next lane to finish takes
//! all of them as one batch. Under load the batches grow by themselves, and the fixed cost is
//! shared; the measurements are in BENCHMARKS.md.
//!
//! # Isolation
//!
//! A batch runs after every call in it has arrived and answers each before that call returns,
//! so what a call observes (a read's snapshot, a write's commit) happens within the call: the
//! operations stay linearizable, as if each had run alone at the instant its batch ran. What a
//! batch of writes must keep (grant serialization, all or none per call) is argued where the
//! batch's statement is written (`tokens.rs`).
//!
//! # Cancellation
//!
//! Lanes run on tasks of their own: a caller that stops waiting (its request was cancelled)
//! leaves the batch to run to its end; its answer is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::store::StoreError;

/// Runs one batch: one answer per request, in the requests' order.
type Run<R, A> = dyn Fn(Vec<R>) -> Pin<Box<dyn Future<Output = Vec<Result<A, StoreError>>> + Send>>
    + Send
    + Sync;

/// The batch lane stopped without an answer (a panic in the batch).
#[derive(Debug, thiserror::Error)]
#[error("the batch running this operation stopped without an answer")]
struct LaneStopped;

/// Gathers concurrent calls into batches (see the module documentation).
pub(super) struct Batcher<R, A> {
    inner: Arc<Inner<R, A>>,
}

impl<R, A> Clone for Batcher<R, A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R, A> std::fmt::Debug for Batcher<R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("lanes", &self.inner.lanes)
            .field("max_batch", &self.inner.max_batch)
            .finish_non_exhaustive()
    }
}

struct Inner<R, A> {
    queue: Mutex<Queue<R, A>>,
    /// Batches that may run at once.
    lanes: usize,
    /// The most calls in one batch.
    max_batch: usize,
    run: Box<Run<R, A>>,
}

struct Queue<R, A> {
    waiting: Vec<(R, oneshot::Sender<Result<A, StoreError>>)>,
    /// Lanes running (each a task taking batches until the queue is empty).
    running: usize,
}

impl<R: Send + 'static, A: Send + 'static> Batcher<R, A> {
    /// A batcher running at most `lanes` batches at once, each of at most `max_batch` calls,
    /// through `run`.
    pub(super) fn new<F, Fut>(lanes: usize, max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<A, StoreError>>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue {
                    waiting: Vec::new(),
                    running: 0,
                }),
                lanes: lanes.max(1),
                max_batch: max_batch.max(1),
                run: Box::new(move |requests| Box::pin(run(requests))),
            }),
        }
    }

    /// Runs `request` in the next batch and answers its outcome. Needs a Tokio runtime.
    pub(super) async fn call(&self, request: R) -> Result<A, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.inner.lock();
            queue.waiting.push((request, answer));
            let free = queue.running < self.inner.lanes;
            queue.running += usize::from(free);
            free
        };
        if start {
            tokio::spawn(lane(Arc::clone(&self.inner)));
        }
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable(LaneStopped)))
    }
}

impl<R, A> Inner<R, A> {
    /// The queue; a panic while it was held cannot leave it half changed (a push, a drain, a
    /// counter), so a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, Queue<R, A>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One lane: takes batches from the queue until it is empty.
async fn lane<R: Send + 'static, A: Send + 'static>(inner: Arc<Inner<R, A>>) {
    let mut release = Release {
        inner: Arc::clone(&inner),
        done: false,
    };
    loop {
        let batch: Vec<_> = {
            let mut queue = inner.lock();
            if queue.waiting.is_empty() {
                queue.running -= 1;
                release.done = true;
                return;
            }
            let take = queue.waiting.len().min(inner.max_batch);
            queue.waiting.drain(..take).collect()
        };
        let (requests, answers): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
        let outcomes = (inner.run)(requests).await;
        let mut outcomes = outcomes.into_iter();
        for answer in answers {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Err(StoreError::unavailable(LaneStopped)));
            // The caller may have stopped waiting: its answer is dropped.
            let _ = answer.send(outcome);
        }
    }
}

/// Gives a lane back if its task ends without emptying the queue (a panic in a batch): the
/// queued calls are then taken by a new lane rather than wait forever.
struct Release<R: Send + 'static, A: Send + 'static> {
    inner: Arc<Inner<R, A>>,
    done: bool,
}

impl<R: Send + 'static, A: Send + 'static> Drop for Release<R, A> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let restart = {
            let mut queue = self.inner.lock();
            let restart = !queue.waiting.is_empty();
            if !restart {
                queue.running -= 1;
            }
            restart
        };
        if restart {
            tokio::spawn(lane(Arc::clone(&self.inner)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_call_runs_at_once_and_concurrent_calls_share_batches() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&batches);
        let batcher = Batcher::new(1, 64, move |requests: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                requests.into_iter().map(|n| Ok(n * 2)).collect()
            }
        });
        assert_eq!(batcher.call(21).await.ok(), Some(42));
        assert_eq!(batches.load(Ordering::SeqCst), 1);

        let calls: Vec<_> = (0..50u32)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await.ok() })
            })
            .collect();
        for (n, call) in (0..50u32).zip(calls) {
            assert_eq!(call.await.ok().flatten(), Some(n * 2));
        }
        // One lane of 20 ms batches: 50 calls made at once ran in far fewer than 50 batches.
        let total = batches.load(Ordering::SeqCst);
        assert!(total <= 5, "{total} batches");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_panics_answers_its_calls_and_the_queue_goes_on() {
        let batcher = Batcher::new(1, 1, |requests: Vec<u32>| async move {
            assert!(requests[0] != 0, "a batch that panics");
            requests.into_iter().map(Ok).collect()
        });
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(0).await }
        });
        let second = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(7).await }
        });
        assert!(matches!(
            first.await.ok(),
            Some(Err(StoreError::Unavailable(_)))
        ));
        assert_eq!(second.await.ok().and_then(Result::ok), Some(7));
        assert_eq!(batcher.call(8).await.ok(), Some(8));
    }
}

//! [`Purger`]: the background purge of expired tokens on the Tokio runtime (feature `tokio`,
//! which `axum` enables).

use std::fmt;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::purge::PurgeOptions;
use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// Spawns a Tokio task that purges expired tokens: a bounded pass
    /// ([`purge_expired`](AuthorizationServer::purge_expired)) at once, then one every
    /// [`interval`](PurgeOptions::interval), until the returned [`Purger`] is dropped or
    /// [stopped](Purger::stop). Keep the handle as long as the server serves. Purged counts are
    /// logged at `info`, a pass that stopped at its bound with expired records left at `warn`
    /// (raise the bounds or shorten the interval), and store errors at `warn` (the next pass
    /// tries again).
    ///
    /// Every server instance on one database may run one: the stores delete each expired
    /// record once.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as `tokio::spawn` does.
    ///
    /// ```
    /// use oauth_endpoints::AuthorizationServer;
    /// use oauth_endpoints::purge::PurgeOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = AuthorizationServer::builder().build().unwrap();
    /// // Lives as long as `_purger`: bind it, `let _ = ...` would stop it at once.
    /// let _purger = server.spawn_purger(PurgeOptions::default());
    /// // ... serve `server.into_router()` or an `OAuthService` over it ...
    /// # }
    /// ```
    pub fn spawn_purger(&self, options: PurgeOptions) -> Purger {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(self.clone(), options, stopped));
        Purger {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// The handle of the background purge task of
/// [`AuthorizationServer::spawn_purger`]: dropping it stops the task (a store call in flight is
/// abandoned; the store's purge is atomic per call, so nothing is half done).
#[must_use = "the purger stops when its handle is dropped"]
pub struct Purger {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Purger {
    /// Stops the task and waits until it has ended.
    pub async fn stop(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            // The task ends by itself on the signal; it cannot panic, and is never aborted.
            let _ = task.await;
        }
    }

    /// Whether the task has ended (it ends only when stopped, or when its runtime shuts down).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Purger {
    fn drop(&mut self) {
        // Dropping the sender is the signal.
        self.stop.take();
    }
}

impl fmt::Debug for Purger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Purger")
            .field("finished", &self.is_finished())
            .finish()
    }
}

async fn run(
    server: AuthorizationServer,
    options: PurgeOptions,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut interval = tokio::time::interval(options.interval());
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => return,
            _ = interval.tick() => {}
        }
        let result = tokio::select! {
            biased;
            _ = &mut stopped => return,
            result = server.purge_expired(&options) => result,
        };
        match result {
            Ok(report) if report.more => tracing::warn!(
                purged = report.purged,
                batches = report.batches,
                "purged expired tokens; more remain past this pass's bound (raise \
                 PurgeOptions::with_max_batches or shorten the interval)"
            ),
            Ok(report) if report.purged > 0 => {
                tracing::info!(purged = report.purged, "purged expired tokens");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error.report(), "could not purge expired tokens")
            }
        }
    }
}

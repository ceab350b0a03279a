//! Purging expired tokens as part of the server's life: [`PurgeOptions`], one bounded batch
//! ([`AuthorizationServer::purge_expired_once`]), one bounded pass of batches
//! ([`AuthorizationServer::purge_expired`]), and with feature `tokio` a background task that runs
//! a pass every interval (`AuthorizationServer::spawn_purger`).
//!
//! The core takes no runtime: a pass is a plain future of store calls, so any executor or
//! scheduler (a cron job, a framework's background task) can drive it.
//!
//! Stores keep expired tokens until they are purged. With feature `tokio` (enabled by `axum`,
//! `sqlite` and `postgres`), one line beside the router purges for the server's whole life:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use oauth_endpoints::AuthorizationServer;
//! use oauth_endpoints::purge::PurgeOptions;
//!
//! let server = AuthorizationServer::builder().build().unwrap();
//! // A pass now and every minute: up to 100 batches of 1,000 records expired over an hour ago.
//! // Dropping `purger` stops it.
//! let purger = server.spawn_purger(PurgeOptions::default());
//! let app: axum::Router = server.into_router();
//! // axum::serve(listener, app).await ...
//! # drop(app);
//! purger.stop().await;
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! The grace period ([`PurgeOptions::with_grace`], an hour by default) keeps a token for a
//! while after it expires, so every instance still finds it and answers for it consistently
//! (`{"active":false}`); a token that has not expired, or expired within the grace, is never
//! purged. A pass repeats batches while they come back full, up to
//! [`PurgeOptions::with_max_batches`], so the work of one pass is bounded however far behind the
//! store is.

#[cfg(feature = "tokio")]
pub use crate::integration::Purger;

use std::time::Duration;

use crate::authorization::AuthorizationCodeFlow;
use crate::clock::UnixTime;
use crate::server::AuthorizationServer;
use crate::store::StoreError;
use crate::yield_now::yield_now;

/// How the server purges expired tokens: how long they are kept after they expire, how many
/// records one store call deletes, how many such batches one pass makes at most, and (for the
/// background task) how often a pass runs.
///
/// ```
/// use std::time::Duration;
/// use oauth_endpoints::purge::PurgeOptions;
///
/// let options = PurgeOptions::default()
///     .with_grace(Duration::from_secs(600))
///     .with_batch_size(500)
///     .with_max_batches(20)
///     .with_interval(Duration::from_secs(30));
/// assert_eq!(options.max_records_per_pass(), 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeOptions {
    grace: Duration,
    batch_size: u64,
    max_batches: u32,
    interval: Duration,
}

impl PurgeOptions {
    /// The default grace: expired tokens are kept an hour.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
    /// The default batch: 1,000 records per store call.
    pub const DEFAULT_BATCH_SIZE: u64 = 1_000;
    /// The default bound of a pass: 100 batches.
    pub const DEFAULT_MAX_BATCHES: u32 = 100;
    /// The default interval between passes of the background task: a minute.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

    /// The defaults: a grace of an hour, batches of 1,000 records, at most 100 batches (100,000
    /// records) per pass, a pass a minute.
    pub const fn new() -> Self {
        Self {
            grace: Self::DEFAULT_GRACE,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            max_batches: Self::DEFAULT_MAX_BATCHES,
            interval: Self::DEFAULT_INTERVAL,
        }
    }

    /// How long a token is kept after it expires (rounded up to whole seconds). Until then it
    /// is still found, so introspection and revocation answer for it as for any expired token
    /// (`{"active":false}`, 200), and a late refresh with it gets `invalid_grant`.
    pub const fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How many records one store call deletes at most (at least 1). Smaller batches hold a
    /// database's locks for less time.
    pub const fn with_batch_size(mut self, batch_size: u64) -> Self {
        self.batch_size = if batch_size == 0 { 1 } else { batch_size };
        self
    }

    /// How many batches one pass makes at most (at least 1): a pass repeats batches while the
    /// last one was full, and stops here even if expired records remain.
    pub const fn with_max_batches(mut self, max_batches: u32) -> Self {
        self.max_batches = if max_batches == 0 { 1 } else { max_batches };
        self
    }

    /// How long the background task waits between passes (at least a millisecond).
    pub const fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = if interval.is_zero() {
            Duration::from_millis(1)
        } else {
            interval
        };
        self
    }

    /// The grace period.
    pub const fn grace(&self) -> Duration {
        self.grace
    }

    /// Records per batch.
    pub const fn batch_size(&self) -> u64 {
        self.batch_size
    }

    /// Batches per pass, at most.
    pub const fn max_batches(&self) -> u32 {
        self.max_batches
    }

    /// The interval between passes of the background task.
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The most records one pass deletes: batch size × batches.
    pub const fn max_records_per_pass(&self) -> u64 {
        self.batch_size.saturating_mul(self.max_batches as u64)
    }
}

impl Default for PurgeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// What one pass ([`AuthorizationServer::purge_expired`]) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Records deleted.
    pub purged: u64,
    /// Store calls made.
    pub batches: u32,
    /// The pass stopped at its bound after a full batch: expired records may remain, and the
    /// next pass goes on with them.
    pub more: bool,
}

/// The expiry before which records go: `now` less the grace, rounded up to whole seconds so
/// that a record is never purged sooner than the grace says.
pub(crate) fn cutoff(now: UnixTime, grace: Duration) -> UnixTime {
    let seconds = grace
        .as_secs()
        .saturating_add(u64::from(grace.subsec_nanos() > 0));
    now.saturating_sub(seconds)
}

impl AuthorizationServer {
    /// Deletes at most `limit` token records that expired more than `grace` ago by the server's
    /// clock: one [`TokenStore::purge_expired`](crate::store::TokenStore::purge_expired) call. Returns
    /// how many went. An unexpired token, or one that expired within `grace`, is never deleted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use oauth_endpoints::{AuthorizationServer, Client};
    /// use oauth_endpoints::clock::ManualClock;
    /// use oauth_endpoints::secret::TokenHash;
    /// use oauth_endpoints::token::TokenRequest;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let clock = ManualClock::new(1_000_000);
    /// let server = AuthorizationServer::builder()
    ///     .clock(clock.clone())
    ///     .access_token_ttl(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// let client = Client::confidential("svc", "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1").build().unwrap();
    /// let issued = server.issuer().issue(&TokenRequest::new(&client, "".parse().unwrap())).await.unwrap();
    ///
    /// // Expired 60 s ago: within a grace of 5 minutes, kept.
    /// clock.advance(Duration::from_secs(120));
    /// let grace = Duration::from_secs(300);
    /// assert_eq!(server.purge_expired_once(grace, 100).await.unwrap(), 0);
    ///
    /// // Expired 6 minutes ago: purged.
    /// clock.advance(Duration::from_secs(300));
    /// assert_eq!(server.purge_expired_once(grace, 100).await.unwrap(), 1);
    /// let hash = TokenHash::of(issued.access_token());
    /// assert!(server.tokens().find(&hash, None).await.unwrap().is_none());
    /// # }
    /// ```
    pub async fn purge_expired_once(&self, grace: Duration, limit: u64) -> Result<u64, StoreError> {
        self.tokens()
            .purge_expired(cutoff(self.now(), grace), limit)
            .await
    }

    /// One bounded pass: batches of [`batch_size`](PurgeOptions::batch_size) token records
    /// expired more than the grace ago, repeated while a batch was full, at most
    /// [`max_batches`](PurgeOptions::max_batches) of them; then, on a server with an
    /// [`AuthorizationCodeFlow`], one batch of its expired codes and pushed requests, and on a
    /// server with an assertion store, one batch of the `private_key_jwt` assertion ids
    /// remembered past their expiry. The cut-off is taken once, at the start of the pass.
    /// Between batches the pass yields to the executor, so it never holds a worker for more
    /// than one batch.
    ///
    /// Run it from any scheduler; with feature `tokio`,
    /// `spawn_purger` (feature `tokio`) runs it every interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use oauth_endpoints::AuthorizationServer;
    /// use oauth_endpoints::purge::PurgeOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = AuthorizationServer::builder().build().unwrap();
    /// let options = PurgeOptions::default().with_grace(Duration::from_secs(600));
    /// let report = server.purge_expired(&options).await.unwrap();
    /// // One batch of tokens, and one of assertion ids (the memory store keeps those too).
    /// assert_eq!((report.purged, report.batches, report.more), (0, 2, false));
    /// # }
    /// ```
    pub async fn purge_expired(&self, options: &PurgeOptions) -> Result<PurgeReport, StoreError> {
        let before = cutoff(self.now(), options.grace);
        let mut report = PurgeReport::default();
        while report.batches < options.max_batches {
            if report.batches > 0 {
                yield_now().await;
            }
            let purged = self
                .tokens()
                .purge_expired(before, options.batch_size)
                .await?;
            report.batches += 1;
            report.purged = report.purged.saturating_add(purged);
            report.more = purged >= options.batch_size;
            if !report.more {
                break;
            }
        }
        // Authorization codes and pushed requests live a minute: one batch a pass keeps up.
        if let Some(flow) = self.state::<AuthorizationCodeFlow>() {
            let purged = flow
                .store()
                .purge_expired(before, options.batch_size)
                .await?;
            report.batches += 1;
            report.purged = report.purged.saturating_add(purged);
            report.more |= purged >= options.batch_size;
        }
        // The `jti` of `private_key_jwt` assertions live minutes too: one batch a pass.
        if let Some(assertions) = self.assertions() {
            let purged = assertions.purge_expired(before, options.batch_size).await?;
            report.batches += 1;
            report.purged = report.purged.saturating_add(purged);
            report.more |= purged >= options.batch_size;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_never_comes_sooner_than_the_grace() {
        assert_eq!(cutoff(1_000, Duration::from_secs(60)), 940);
        assert_eq!(cutoff(1_000, Duration::from_millis(60_001)), 939);
        assert_eq!(cutoff(1_000, Duration::ZERO), 1_000);
        assert_eq!(cutoff(10, Duration::from_secs(60)), 0);
    }

    #[test]
    fn bounds_are_at_least_one() {
        let options = PurgeOptions::new()
            .with_batch_size(0)
            .with_max_batches(0)
            .with_interval(Duration::ZERO);
        assert_eq!(options.batch_size(), 1);
        assert_eq!(options.max_batches(), 1);
        assert!(!options.interval().is_zero());
        assert_eq!(
            PurgeOptions::default().max_records_per_pass(),
            PurgeOptions::DEFAULT_BATCH_SIZE * u64::from(PurgeOptions::DEFAULT_MAX_BATCHES)
        );
    }
}

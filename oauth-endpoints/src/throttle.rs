//! The optional per-client request limit (feature `throttle`): how much each client may ask,
//! as a [`Quota`] given to
//! [`AuthorizationServerBuilder::throttle`](crate::AuthorizationServerBuilder::throttle), and
//! the limiter endpoints apply with [`Context::throttle`](crate::Context::throttle).
//!
//! A keyed GCRA limiter from the `governor` crate, keyed by `client_id`, on the standard
//! library's monotonic clock: no runtime, no background task. Only clients that authenticated
//! get a key, so the limiter holds at most one small cell per registered client.

use std::fmt;
use std::sync::Arc;

use governor::DefaultKeyedRateLimiter;
use governor::clock::{Clock as _, DefaultClock};

use crate::error::OAuthError;
pub use crate::quota::Quota;

/// A per-client request limit, shared by every endpoint of one server.
///
/// Set it with [`AuthorizationServerBuilder::throttle`](crate::AuthorizationServerBuilder::throttle);
/// endpoints apply it with [`Context::throttle`](crate::Context::throttle) after client
/// authentication.
pub(crate) struct Throttle {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    clock: DefaultClock,
    quota: Quota,
}

impl Throttle {
    /// A limiter allowing each client `quota` (e.g. `Quota::per_second(n).allow_burst(m)`).
    pub(crate) fn new(quota: Quota) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota.governor()),
            clock: DefaultClock::default(),
            quota,
        }
    }

    /// Counts one request of `client_id`: `Ok` under the limit; over it, 429 with `Retry-After`
    /// (see [`OAuthError::too_many_requests`]).
    pub(crate) fn check(&self, client_id: &Arc<str>) -> Result<(), OAuthError> {
        self.limiter.check_key(client_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up, at least one: a client that waits that long gets in.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            OAuthError::too_many_requests(u32::try_from(seconds.max(1)).unwrap_or(u32::MAX))
        })
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("quota", &self.quota)
            .field("clients", &self.limiter.len())
            .finish()
    }
}

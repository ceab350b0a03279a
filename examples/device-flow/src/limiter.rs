//! Rate-limiting user-code entries (RFC 8628 §5.1: brute forcing the user code).
//!
//! A keyed GCRA limiter from the `governor` crate (the one the core's per-client throttle
//! uses), keyed by the signed-in user, on the standard library's monotonic clock. Every code
//! entry that leads to a store lookup (a `GET` with `user_code`, a `POST` deciding one) takes a
//! cell **before** the lookup, in one atomic compare-and-swap: a burst of parallel entries
//! cannot all pass the check before any is counted, whatever the store's latency. Right and
//! wrong entries count alike (a right one cannot be known before the lookup, and governor gives
//! nothing back): the quota is sized for that, a user approving a device making two entries.
//!
//! Each user gets `max` entries at once, then one more every `window / max`. With about 34.5
//! bits per code and codes living minutes, this keeps a guess's odds negligible. Behind several
//! server processes each keeps its own count; put a shared limiter in front if that matters.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Beyond this many tracked users, those whose limit has fully recovered are dropped...
const PRUNE_ABOVE: usize = 10_000;
/// ...once every this many entries, so that many active users do not make every entry scan
/// them all.
const PRUNE_EVERY: u64 = 1_024;

pub(crate) struct AttemptLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    entries: AtomicU64,
    max: NonZeroU32,
    window: Duration,
}

impl AttemptLimiter {
    /// `max` entries at once (at least one), refilled evenly over `window`.
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        let max = NonZeroU32::new(max).unwrap_or(NonZeroU32::MIN);
        let period = (window / max.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(max);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            entries: AtomicU64::new(0),
            max,
            window,
        }
    }

    /// Counts one code entry by `user`: `Ok` under the limit; over it, `Err(seconds to wait)`
    /// (whole seconds, rounded up, at least one), and nothing is counted.
    pub(crate) fn attempt(&self, user: &str) -> Result<(), u64> {
        let entry = self.entries.fetch_add(1, Ordering::Relaxed);
        if entry.is_multiple_of(PRUNE_EVERY) && self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        let key = user.to_owned();
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

impl fmt::Debug for AttemptLimiter {
    /// The quota and how many users are tracked; never who they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptLimiter")
            .field("max", &self.max)
            .field("window", &self.window)
            .field("users", &self.limiter.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::AttemptLimiter;

    #[test]
    fn refuses_past_the_burst_per_user_and_refills() {
        let limiter = AttemptLimiter::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert_eq!(limiter.attempt("alice"), Ok(()));
        }
        assert_eq!(limiter.attempt("alice"), Err(1));
        assert_eq!(limiter.attempt("bob"), Ok(()));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(limiter.attempt("alice"), Ok(()));
        assert_eq!(limiter.attempt("alice"), Err(1));
        assert!(!format!("{limiter:?}").contains("alice"));
    }
}

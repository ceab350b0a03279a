//! Rate-limiting wrong user-code entries (RFC 8628 §5.1: brute forcing the user code).
//!
//! Counted per signed-in user in fixed windows, in process memory: a user who enters `max`
//! wrong codes within `window` seconds is refused (429) until the window ends. With about 34.5
//! bits per code and codes living minutes, this keeps a guess's odds negligible. Behind several
//! server processes each keeps its own count; put a shared limiter in front if that matters.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use oauth_endpoints::UnixTime;

/// Beyond this many tracked users, windows that have ended are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub(crate) struct AttemptLimiter {
    max: u32,
    window: u64,
    failures: Mutex<HashMap<String, (UnixTime, u32)>>,
}

impl AttemptLimiter {
    pub(crate) fn new(max: u32, window: u64) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when `user` is over the limit at `now`.
    pub(crate) fn blocked(&self, user: &str, now: UnixTime) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let (start, count) = failures.get(user)?;
        let ends = start.saturating_add(self.window);
        (now < ends && *count >= self.max).then(|| ends - now)
    }

    /// Counts one wrong entry by `user` at `now`.
    pub(crate) fn record_failure(&self, user: &str, now: UnixTime) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() > PRUNE_ABOVE {
            let window = self.window;
            failures.retain(|_, (start, _)| now < start.saturating_add(window));
        }
        let entry = failures.entry(user.to_owned()).or_insert((now, 0));
        if now >= entry.0.saturating_add(self.window) {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::AttemptLimiter;

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let limiter = AttemptLimiter::new(3, 60);
        for _ in 0..3 {
            assert_eq!(limiter.blocked("alice", 100), None);
            limiter.record_failure("alice", 100);
        }
        assert_eq!(limiter.blocked("alice", 100), Some(60));
        assert_eq!(limiter.blocked("alice", 159), Some(1));
        assert_eq!(limiter.blocked("bob", 100), None);
        assert_eq!(limiter.blocked("alice", 160), None);
        limiter.record_failure("alice", 160);
        assert_eq!(limiter.blocked("alice", 160), None);
    }
}

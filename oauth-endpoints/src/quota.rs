//! [`Quota`]: how many requests each client may make (feature `throttle`).

use std::num::NonZeroU32;
use std::time::Duration;

/// How many requests each client may make: one cell replenished every interval, and a burst of
/// that many cells at most (the GCRA quota of the `governor` crate, which counts them; wrapped
/// so that a new `governor` is not a breaking change of this crate).
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use oauth_endpoints::throttle::Quota;
///
/// let quota = Quota::per_second(NonZeroU32::new(10).unwrap())
///     .allow_burst(NonZeroU32::new(50).unwrap());
/// assert_eq!(quota.burst_size().get(), 50);
/// assert_eq!(quota.replenish_interval(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota(governor::Quota);

impl Quota {
    /// `max` requests a second, all of them at once at most.
    pub fn per_second(max: NonZeroU32) -> Self {
        Self(governor::Quota::per_second(max))
    }

    /// `max` requests a minute, all of them at once at most.
    pub fn per_minute(max: NonZeroU32) -> Self {
        Self(governor::Quota::per_minute(max))
    }

    /// `max` requests an hour, all of them at once at most.
    pub fn per_hour(max: NonZeroU32) -> Self {
        Self(governor::Quota::per_hour(max))
    }

    /// One request every `interval`, one at a time; `None` for a zero interval.
    pub fn with_period(interval: Duration) -> Option<Self> {
        governor::Quota::with_period(interval).map(Self)
    }

    /// The same rate, with bursts of up to `burst` requests.
    #[must_use]
    pub fn allow_burst(self, burst: NonZeroU32) -> Self {
        Self(self.0.allow_burst(burst))
    }

    /// How often one more request is allowed.
    pub fn replenish_interval(&self) -> Duration {
        self.0.replenish_interval()
    }

    /// The most requests at once.
    pub fn burst_size(&self) -> NonZeroU32 {
        self.0.burst_size()
    }

    /// The quota `governor` counts.
    pub(crate) fn governor(self) -> governor::Quota {
        self.0
    }
}

//! The one value type for instants: milliseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant, as whole milliseconds since the Unix epoch (UTC).
///
/// Every function of this crate that needs "now" takes one of these as an argument;
/// nothing here reads the clock. Get one from the system clock with
/// `UnixMillis::from(SystemTime::now())`, or build one by hand in tests.
///
/// One millisecond is the crate's *tick*: windows, buckets and retry-after instants are
/// computed to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The epoch itself (1970-01-01T00:00:00Z).
    pub const EPOCH: UnixMillis = UnixMillis(0);

    /// An instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        UnixMillis(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// An instant `since_epoch` after the epoch, truncated to the millisecond
    /// (saturating at `u64::MAX` milliseconds).
    pub fn from_since_epoch(since_epoch: Duration) -> Self {
        UnixMillis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// This instant plus `d`, `d` rounded up to whole milliseconds, saturating.
    pub fn saturating_add(self, d: Duration) -> Self {
        UnixMillis(self.0.saturating_add(duration_to_millis_ceil(d)))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: UnixMillis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl From<SystemTime> for UnixMillis {
    /// Converts a wall-clock time; times before the epoch become the epoch.
    fn from(t: SystemTime) -> Self {
        t.duration_since(UNIX_EPOCH)
            .map(UnixMillis::from_since_epoch)
            .unwrap_or(UnixMillis::EPOCH)
    }
}

/// `d` in whole milliseconds, rounded up, saturating at `u64::MAX`.
pub(crate) fn duration_to_millis_ceil(d: Duration) -> u64 {
    let ms = d.as_millis();
    let ms = if !d.subsec_nanos().is_multiple_of(1_000_000) {
        ms + 1
    } else {
        ms
    };
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// `d` in whole seconds, rounded up, saturating.
pub(crate) fn duration_to_secs_ceil(d: Duration) -> u64 {
    if d.subsec_nanos() > 0 {
        d.as_secs().saturating_add(1)
    } else {
        d.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(duration_to_millis_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_millis_ceil(Duration::from_millis(7)), 7);
        assert_eq!(duration_to_millis_ceil(Duration::from_micros(7001)), 8);
        assert_eq!(duration_to_secs_ceil(Duration::from_millis(1)), 1);
        assert_eq!(duration_to_secs_ceil(Duration::from_millis(60_000)), 60);
        assert_eq!(duration_to_secs_ceil(Duration::from_millis(60_001)), 61);
        assert_eq!(duration_to_secs_ceil(Duration::ZERO), 0);
    }

    #[test]
    fn conversions() {
        let t = UnixMillis::from(UNIX_EPOCH + Duration::from_millis(1234));
        assert_eq!(t, UnixMillis(1234));
        assert_eq!(t.since_epoch(), Duration::from_millis(1234));
        assert_eq!(
            UnixMillis::from(UNIX_EPOCH - Duration::from_secs(1)),
            UnixMillis::EPOCH
        );
        assert_eq!(t.saturating_add(Duration::from_micros(1)), UnixMillis(1235));
        assert_eq!(
            UnixMillis(10).saturating_duration_since(UnixMillis(20)),
            Duration::ZERO
        );
    }
}

//! The accounting algorithm: a bucketed sliding window with exact bounds.

use std::time::Duration;

use crate::time::{UnixMillis, duration_to_millis_ceil};

/// How many buckets a window is split into (the bucket width is the window divided
/// by this, rounded up to whole milliseconds).
///
/// A window therefore never counts more than `BUCKETS_PER_WINDOW + 1` buckets, and an
/// event is remembered at most one bucket width (1/60 of the window) longer than
/// the window: the limit is never exceeded in any window, and it may be enforced
/// slightly longer than strictly needed.
pub const BUCKETS_PER_WINDOW: u64 = 60;

/// The counts of one quota in one scope: a sliding window made of fixed,
/// epoch-aligned buckets.
///
/// # The rule
///
/// Time is cut into buckets of width `b` (bucket `i` covers `[i·b, (i+1)·b)`). Each
/// admitted unit is counted in the bucket of its instant, and each bucket remembers
/// the instant `last` of the latest unit counted in it. At instant `t`, a window of
/// length `W` counts every bucket whose `last` is in `(t − W, t]`, i.e. every bucket
/// holding at least one unit of the last `W` milliseconds (with all its units). A
/// request of `q` units is admitted when `counted + q ≤ limit`.
///
/// **No window ever holds more than the limit.** Take any interval of length `W`
/// and, among the units admitted in it, the one admitted last, at `t`. Every other
/// unit of the interval happened in `(t − W, t]`, so its bucket's `last` is in that
/// range too, so it was counted when that last unit was admitted, and that admission
/// kept the total within the limit. Hence no burst of twice the limit at a window
/// boundary, whatever the arrival sequence.
///
/// **The retry-after is exact.** With no further admissions, the counted sum only
/// drops when a bucket leaves, at `last + W`, oldest bucket first. A refusal returns
/// the earliest such instant at which the remaining buckets leave room for `q`: a
/// check at that instant is admitted, one millisecond earlier it is refused. A burst
/// at one instant is thus refused for exactly `W`; a unit is never remembered longer
/// than `W` plus one bucket width.
///
/// Time passed in may go backwards a little (threads race between reading the clock
/// and taking a lock): an instant earlier than the latest one seen is treated as the
/// latest one, which only ever remembers units longer, never shorter. The bounds
/// above hold for these effective instants.
///
/// Checking and counting are O(1) amortised (a running total, minus the one or two
/// buckets about to leave; buckets are cleared as the window slides over them); a
/// refusal, or the first check after a long quiet spell, reads at most
/// `BUCKETS_PER_WINDOW + 1` buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlidingWindow {
    window_ms: u64,
    bucket_ms: u64,
    /// The latest effective instant seen.
    latest_ms: u64,
    /// Index of the newest bucket in the ring.
    head: u64,
    /// Sum of the counts of every bucket in the ring.
    total: u64,
    /// Bucket `i` lives in `slots[i % len]`, for `i` in `head − len + 1 ..= head`;
    /// `len` is a power of two.
    slots: Box<[Slot]>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    count: u64,
    /// Instant of the latest unit counted in this bucket.
    last: u64,
}

impl SlidingWindow {
    /// An empty window of length `window` (rounded up to whole milliseconds; at least
    /// one millisecond).
    pub fn new(window: Duration) -> Self {
        let window_ms = duration_to_millis_ceil(window).max(1);
        let bucket_ms = bucket_ms_for(window_ms);
        // Buckets that can hold a unit of (t − W, t]: at most ⌊(W − 1)/b⌋ + 2, at
        // most 61; rounded up to a power of two, so that a slot is found by a mask.
        let len = ((window_ms - 1) / bucket_ms + 2).next_power_of_two();
        SlidingWindow {
            window_ms,
            bucket_ms,
            latest_ms: 0,
            head: 0,
            total: 0,
            slots: vec![Slot::default(); usize::try_from(len).unwrap_or(usize::MAX)]
                .into_boxed_slice(),
        }
    }

    /// The bucket width used for a window of length `window`:
    /// `⌈window / BUCKETS_PER_WINDOW⌉`, in whole milliseconds, at least one.
    pub fn bucket_width_for(window: Duration) -> Duration {
        Duration::from_millis(bucket_ms_for(duration_to_millis_ceil(window).max(1)))
    }

    /// The window length, in whole milliseconds.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// The width of one bucket.
    pub fn bucket_width(&self) -> Duration {
        Duration::from_millis(self.bucket_ms)
    }

    /// Units counted in the window at `now`.
    pub fn used(&self, now: UnixMillis) -> u64 {
        let cutoff = self.cutoff(self.effective(now));
        // Buckets below `lo` only hold units older than `cutoff`; buckets above it
        // only newer ones; bucket `lo` itself goes by its `last`.
        let lo = cutoff / self.bucket_ms;
        let oldest = self.oldest();
        if lo > self.head {
            return 0;
        }
        if lo < oldest {
            return self.total;
        }
        let at_lo = self.slots[self.slot(lo)];
        let lo_counts = if at_lo.last >= cutoff { at_lo.count } else { 0 };
        // Sum whichever side is shorter: usually the one or two buckets leaving.
        if lo - oldest <= self.head - lo {
            let leaving = self.sum(oldest, lo).saturating_add(at_lo.count - lo_counts);
            self.total.saturating_sub(leaving)
        } else {
            self.sum(lo + 1, self.head + 1).saturating_add(lo_counts)
        }
    }

    /// Whether `quantity` more units fit under `limit` at `now`; on refusal, the
    /// earliest instant at which they would (see the type's documentation).
    ///
    /// `None` (count only) always admits. A limit of 0, or a quantity larger than the
    /// limit, can never be admitted: the refusal then says "one window from now".
    pub fn check(
        &self,
        limit: Option<u64>,
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), UnixMillis> {
        let t = self.effective(now);
        check_unused(self.window_ms, limit, quantity, UnixMillis(t))?;
        let Some(limit) = limit else {
            return Ok(());
        };
        let used = self.used(UnixMillis(t));
        if used.saturating_add(quantity) <= limit {
            return Ok(());
        }
        // Let counted buckets leave, oldest first, until the rest leaves room.
        let cutoff = self.cutoff(t);
        let mut remaining = used;
        for i in (cutoff / self.bucket_ms).max(self.oldest())..=self.head {
            let slot = self.slots[self.slot(i)];
            if slot.count == 0 || slot.last < cutoff {
                continue;
            }
            remaining = remaining.saturating_sub(slot.count);
            if remaining.saturating_add(quantity) <= limit {
                return Err(UnixMillis(slot.last.saturating_add(self.window_ms)));
            }
        }
        // Unreachable with consistent counts (with every bucket gone, `quantity`
        // fits); refuse for one window rather than admit.
        Err(UnixMillis(t.saturating_add(self.window_ms)))
    }

    /// Counts `quantity` units at `now` (without checking any limit).
    pub fn add(&mut self, quantity: u64, now: UnixMillis) {
        let t = self.effective(now);
        self.latest_ms = t;
        let k = t / self.bucket_ms;
        self.advance(k);
        let slot = &mut self.slots[self.slot(k)];
        slot.count = slot.count.saturating_add(quantity);
        slot.last = t;
        self.total = self.total.saturating_add(quantity);
    }

    /// Whether nothing counted here matters any more at `now` (the window can be
    /// dropped).
    pub fn is_idle(&self, now: UnixMillis) -> bool {
        self.used(now) == 0
    }

    /// The non-empty buckets, oldest first, as `(bucket start, last unit, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (UnixMillis, UnixMillis, u64)> + '_ {
        (self.oldest()..=self.head).filter_map(move |i| {
            let slot = self.slots[self.slot(i)];
            (slot.count > 0).then(|| {
                (
                    UnixMillis(i.saturating_mul(self.bucket_ms)),
                    UnixMillis(slot.last),
                    slot.count,
                )
            })
        })
    }

    /// Adds `count` units counted between `start` and `last` (as saved by
    /// [`SlidingWindow::buckets`]) to the bucket holding `last`. Returns false, adding
    /// nothing, when `last < start` or when that bucket is already older than the
    /// window's memory.
    ///
    /// Buckets saved with another width are fine: their units are remembered until
    /// `last + W`, as the rule demands.
    pub fn restore_bucket(&mut self, start: UnixMillis, last: UnixMillis, count: u64) -> bool {
        if last < start {
            return false;
        }
        let index = last.0 / self.bucket_ms;
        if index > self.head {
            self.advance(index);
        } else if index < self.oldest() {
            return false;
        }
        self.latest_ms = self.latest_ms.max(last.0);
        let slot = &mut self.slots[self.slot(index)];
        slot.count = slot.count.saturating_add(count);
        slot.last = slot.last.max(last.0);
        self.total = self.total.saturating_add(count);
        true
    }

    /// The window length in milliseconds.
    pub(crate) fn window_ms(&self) -> u64 {
        self.window_ms
    }

    fn effective(&self, now: UnixMillis) -> u64 {
        now.0.max(self.latest_ms)
    }

    /// Units at instants below this no longer count at `t`: `t + 1 − W`.
    fn cutoff(&self, t: u64) -> u64 {
        t.saturating_add(1).saturating_sub(self.window_ms)
    }

    /// Sum of the counts of buckets `from .. to` (all within the ring).
    fn sum(&self, from: u64, to: u64) -> u64 {
        (from..to).fold(0u64, |sum, i| {
            sum.saturating_add(self.slots[self.slot(i)].count)
        })
    }

    /// Index of the oldest bucket the ring holds.
    fn oldest(&self) -> u64 {
        (self.head + 1).saturating_sub(self.slots.len() as u64)
    }

    fn slot(&self, index: u64) -> usize {
        // `slots.len()` is a power of two; the result is below it, so it fits a usize.
        (index & (self.slots.len() as u64 - 1)) as usize
    }

    /// Makes `k` the newest bucket, clearing the buckets that fall out of the ring.
    fn advance(&mut self, k: u64) {
        if k <= self.head {
            return;
        }
        let len = self.slots.len() as u64;
        if k - self.head >= len {
            self.slots.fill(Slot::default());
            self.total = 0;
        } else {
            for i in self.head + 1..=k {
                let slot = self.slot(i);
                self.total = self.total.saturating_sub(self.slots[slot].count);
                self.slots[slot] = Slot::default();
            }
        }
        self.head = k;
    }
}

fn bucket_ms_for(window_ms: u64) -> u64 {
    window_ms.div_ceil(BUCKETS_PER_WINDOW).max(1)
}

/// The decision for a window that has counted nothing: only a limit of 0 or a
/// quantity above the limit refuses, for one window.
pub(crate) fn check_unused(
    window_ms: u64,
    limit: Option<u64>,
    quantity: u64,
    now: UnixMillis,
) -> Result<(), UnixMillis> {
    match limit {
        Some(limit) if limit == 0 || quantity > limit => {
            Err(UnixMillis(now.0.saturating_add(window_ms)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ms: u64) -> SlidingWindow {
        SlidingWindow::new(Duration::from_millis(ms))
    }

    #[test]
    fn shape() {
        let s = w(60_000);
        assert_eq!(s.bucket_width(), Duration::from_secs(1));
        assert_eq!(s.slots.len(), 64);
        let s = w(1);
        assert_eq!(s.bucket_width(), Duration::from_millis(1));
        assert_eq!(s.slots.len(), 2);
        let s = SlidingWindow::new(Duration::ZERO);
        assert_eq!(s.window(), Duration::from_millis(1));
        let s = w(30 * 86_400_000);
        assert_eq!(s.bucket_width(), Duration::from_secs(12 * 3600));
        let s = w(1001);
        assert_eq!(s.bucket_width(), Duration::from_millis(17));
        assert_eq!(
            SlidingWindow::bucket_width_for(Duration::from_micros(1_000_001)),
            Duration::from_millis(17)
        );
    }

    #[test]
    fn no_double_burst_at_boundary() {
        // 10 per second; 10 at the very end of one second, then none in the next.
        let mut s = w(1000);
        for _ in 0..10 {
            assert_eq!(s.check(Some(10), 1, UnixMillis(999)), Ok(()));
            s.add(1, UnixMillis(999));
        }
        assert_eq!(
            s.check(Some(10), 1, UnixMillis(1000)),
            Err(UnixMillis(1999))
        );
        assert!(s.check(Some(10), 1, UnixMillis(1998)).is_err());
        assert_eq!(s.check(Some(10), 1, UnixMillis(1999)), Ok(()));
    }

    #[test]
    fn a_bucket_leaves_with_its_last_unit() {
        // Buckets of 17 ms: units at 986 and 1000 share bucket [986, 1003).
        let mut s = w(1000);
        s.add(1, UnixMillis(986));
        s.add(1, UnixMillis(1000));
        assert_eq!(s.check(Some(2), 1, UnixMillis(1500)), Err(UnixMillis(2000)));
        assert_eq!(s.used(UnixMillis(1999)), 2);
        assert_eq!(s.used(UnixMillis(2000)), 0);
    }

    #[test]
    fn retry_steps_over_buckets() {
        // window 60 ms, buckets of 1 ms: 3 units at 0, 3 at 10; limit 5.
        let mut s = w(60);
        s.add(3, UnixMillis(0));
        s.add(3, UnixMillis(10));
        // Need 1 unit: room once bucket 0 leaves, at 0 + 60.
        assert_eq!(s.check(Some(5), 1, UnixMillis(20)), Err(UnixMillis(60)));
        assert!(s.check(Some(5), 1, UnixMillis(59)).is_err());
        assert_eq!(s.check(Some(5), 1, UnixMillis(60)), Ok(()));
        // Need 5: only when bucket 10 leaves too, at 10 + 60.
        assert_eq!(s.check(Some(5), 5, UnixMillis(20)), Err(UnixMillis(70)));
        assert_eq!(s.used(UnixMillis(69)), 3);
        assert_eq!(s.used(UnixMillis(70)), 0);
        assert!(s.is_idle(UnixMillis(70)));
    }

    #[test]
    fn special_limits() {
        let s = w(1000);
        assert_eq!(s.check(None, u64::MAX, UnixMillis(5)), Ok(()));
        assert_eq!(s.check(Some(0), 0, UnixMillis(5)), Err(UnixMillis(1005)));
        assert_eq!(s.check(Some(3), 4, UnixMillis(5)), Err(UnixMillis(1005)));
        assert_eq!(s.check(Some(3), 3, UnixMillis(5)), Ok(()));
    }

    #[test]
    fn time_going_back_is_clamped() {
        let mut s = w(1000);
        s.add(1, UnixMillis(5000));
        s.add(1, UnixMillis(10));
        assert_eq!(s.used(UnixMillis(10)), 2);
        assert_eq!(s.used(UnixMillis(5999)), 2);
        assert_eq!(s.used(UnixMillis(6000)), 0);
    }

    #[test]
    fn long_gap_clears() {
        let mut s = w(1000);
        s.add(7, UnixMillis(0));
        s.add(1, UnixMillis(1_000_000));
        assert_eq!(s.used(UnixMillis(1_000_000)), 1);
        assert_eq!(s.buckets().count(), 1);
    }

    #[test]
    fn buckets_restore_into_equal_window() {
        let mut s = w(60_000);
        s.add(2, UnixMillis(1_000));
        s.add(3, UnixMillis(30_500));
        s.add(4, UnixMillis(59_999));
        let saved: Vec<_> = s.buckets().collect();
        assert_eq!(saved.len(), 3);
        assert_eq!(saved[1], (UnixMillis(30_000), UnixMillis(30_500), 3));
        let mut r = w(60_000);
        for (start, last, count) in &saved {
            assert!(r.restore_bucket(*start, *last, *count));
        }
        assert_eq!(r.buckets().collect::<Vec<_>>(), saved);
        for t in [59_999, 60_000, 61_000, 61_001, 90_499, 90_500, 120_000] {
            assert_eq!(r.used(UnixMillis(t)), s.used(UnixMillis(t)), "at {t}");
            assert_eq!(
                r.check(Some(8), 1, UnixMillis(t)),
                s.check(Some(8), 1, UnixMillis(t))
            );
        }
        // Malformed and too-old buckets are refused.
        assert!(!r.restore_bucket(UnixMillis(5), UnixMillis(4), 1));
        r.add(1, UnixMillis(10_000_000));
        assert!(!r.restore_bucket(UnixMillis(0), UnixMillis(999), 1));
    }

    #[test]
    fn restore_from_another_width() {
        let mut r = w(60_000);
        // A 5 s bucket from another width, last unit at 4 999.
        assert!(r.restore_bucket(UnixMillis(0), UnixMillis(4_999), 9));
        assert_eq!(r.used(UnixMillis(64_998)), 9);
        assert_eq!(r.used(UnixMillis(64_999)), 0);
    }

    fn naive_used(s: &SlidingWindow, t: u64) -> u64 {
        let cutoff = s.cutoff(t.max(s.latest_ms));
        s.slots
            .iter()
            .filter(|x| x.count > 0 && x.last >= cutoff)
            .map(|x| x.count)
            .sum()
    }

    proptest::proptest! {
        /// The O(1) `used` agrees with a scan of every bucket, on both of its paths.
        #[test]
        fn used_matches_a_full_scan(
            window in 1u64..5_000,
            adds in proptest::collection::vec((0u64..3_000, 1u64..5), 0..100),
            probes in proptest::collection::vec(0u64..12_000, 1..20),
        ) {
            let mut s = w(window);
            let mut t = 0;
            for (gap, q) in adds {
                t += gap;
                s.add(q, UnixMillis(t));
                for p in &probes {
                    proptest::prop_assert_eq!(s.used(UnixMillis(t + p)), naive_used(&s, t + p));
                }
            }
        }
    }
}

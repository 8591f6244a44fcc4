//! Where counts live: the [`Counter`] trait and the in-memory [`MemoryCounter`].

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::config::ScopedQuota;
use crate::time::{UnixMillis, duration_to_millis_ceil};
use crate::window::{SlidingWindow, check_unused};

/// One window to check and count in: the counter of quota `quota_id` for
/// `scope_key`, over `window`, against `limit`.
///
/// Counters are identified by `(quota_id, scope_key, window)`: changing a quota's
/// window starts its counts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowCheck<'a> {
    /// The quota's id.
    pub quota_id: &'a str,
    /// Which instance of the quota's scope (project id, key id …).
    pub scope_key: &'a str,
    /// The window length (rounded up to whole milliseconds).
    pub window: Duration,
    /// `None` counts only; `Some(0)` refuses everything.
    pub limit: Option<u64>,
}

impl<'a> From<ScopedQuota<'a>> for WindowCheck<'a> {
    fn from(s: ScopedQuota<'a>) -> Self {
        WindowCheck {
            quota_id: &s.quota.id,
            scope_key: s.scope_key,
            window: s.quota.window,
            limit: s.quota.limit,
        }
    }
}

/// One refused [`WindowCheck`]: `checks[index]` would admit the event again at
/// `retry_at` at the earliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// Position of the refusing check in the slice passed in.
    pub index: usize,
    /// The earliest instant at which this check would admit the same quantity, if
    /// nothing else were counted meanwhile.
    pub retry_at: UnixMillis,
}

/// Where counts live.
///
/// One required method, atomic over several windows: either every check admits
/// `quantity` and it is counted in all of them, or nothing is counted and every
/// refusing check is reported. Implementations must keep this true under
/// concurrency (two callers must never both be admitted into the last free unit),
/// and should use [`SlidingWindow`] semantics so that the bounds documented there
/// hold.
///
/// [`MemoryCounter`] is the in-process implementation; an implementation over a
/// shared store (for several replicas) would implement the same method.
pub trait Counter: Send + Sync {
    /// Checks every window for `quantity` more units at `now`; if all admit, counts
    /// them in each distinct window once, else counts nothing and returns the
    /// refusals (at least one, in `checks` order).
    fn check_and_count(
        &self,
        checks: &[WindowCheck<'_>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>>;
}

impl<C: Counter + ?Sized> Counter for &C {
    fn check_and_count(
        &self,
        checks: &[WindowCheck<'_>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        (**self).check_and_count(checks, quantity, now)
    }
}

impl<C: Counter + ?Sized> Counter for Arc<C> {
    fn check_and_count(
        &self,
        checks: &[WindowCheck<'_>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        (**self).check_and_count(checks, quantity, now)
    }
}

impl<C: Counter + ?Sized> Counter for Box<C> {
    fn check_and_count(
        &self,
        checks: &[WindowCheck<'_>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        (**self).check_and_count(checks, quantity, now)
    }
}

/// One saved bucket of a counter: `count` units counted by quota `quota_id` for
/// `scope_key` over `window`, in the bucket starting at `start`, the latest of them
/// at `last`.
///
/// What [`MemoryCounter::snapshot`] returns and [`MemoryCounter::restore`] takes
/// back, so that a server can save its counts (e.g. to a `usage` table, one row per
/// bucket) and reload them at start: quotas then survive a restart. The fields are
/// plain values meant to be stored as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageBucket {
    /// The quota's id.
    pub quota_id: String,
    /// The scope instance (project id, key id …).
    pub scope_key: String,
    /// The quota's window (whole milliseconds).
    pub window: Duration,
    /// Start of the bucket.
    pub start: UnixMillis,
    /// Instant of the latest unit counted in the bucket (the bucket counts until
    /// `last + window`).
    pub last: UnixMillis,
    /// Units counted in it.
    pub count: u64,
}

impl UsageBucket {
    /// A saved bucket whose `last` instant was not kept (a store that only saves
    /// `start` and `count`): `last` is taken as the bucket's final millisecond,
    /// `start + width − 1` with the width [`SlidingWindow::bucket_width_for`] gives,
    /// so the units are remembered at least as long as they were before. `start`
    /// should be a bucket start as [`MemoryCounter::snapshot`] gave it.
    pub fn assuming_last_at_end(
        quota_id: impl Into<String>,
        scope_key: impl Into<String>,
        window: Duration,
        start: UnixMillis,
        count: u64,
    ) -> Self {
        let width = duration_to_millis_ceil(SlidingWindow::bucket_width_for(window));
        UsageBucket {
            quota_id: quota_id.into(),
            scope_key: scope_key.into(),
            window,
            start,
            last: UnixMillis(start.0.saturating_add(width.saturating_sub(1))),
            count,
        }
    }
}

/// Thread-safe in-memory counts: a fixed number of shards, each a
/// `Mutex<HashMap>` from counter to [`SlidingWindow`].
///
/// A check of several windows locks their shards in ascending order (so two callers
/// never deadlock), decides, counts, and unlocks: atomic across the windows. One
/// uncontended single-window check-and-count is one hash, one lock and a few
/// arithmetic operations.
///
/// Memory: about 100 bytes plus 16 bytes per bucket (64 buckets at most) per live
/// counter, so about 1 KiB. Counters of idle
/// scopes stay until [`MemoryCounter::prune`] drops them; call it periodically (for
/// example together with [`MemoryCounter::snapshot`]).
///
/// # Surviving restarts
///
/// ```
/// use std::time::Duration;
/// use periscope_quota::{Counter, MemoryCounter, UnixMillis, WindowCheck};
///
/// let check = WindowCheck {
///     quota_id: "project_quota",
///     scope_key: "42",
///     window: Duration::from_secs(60),
///     limit: Some(2),
/// };
/// let counter = MemoryCounter::new();
/// counter.check_and_count(&[check], 2, UnixMillis(1_000)).unwrap();
///
/// // Periodically, and on shutdown: save the buckets (e.g. in the database).
/// let saved = counter.snapshot();
///
/// // At start: seed a fresh counter from them.
/// let restarted = MemoryCounter::new();
/// assert_eq!(restarted.restore(saved), 1);
/// assert!(restarted.check_and_count(&[check], 1, UnixMillis(2_000)).is_err());
/// ```
#[derive(Debug)]
pub struct MemoryCounter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

/// How many shards [`MemoryCounter::new`] uses.
const DEFAULT_SHARDS: usize = 16;

/// Up to this many windows per check are handled without allocating.
const INLINE: usize = 8;

#[derive(Debug, Default)]
struct Shard {
    /// Keyed by the counter's hash (computed once per check); the vector holds the
    /// rare counters whose hashes collide.
    map: HashMap<u64, Vec<Entry>, Prehashed>,
}

#[derive(Debug)]
struct Entry {
    quota_id: Box<str>,
    scope_key: Box<str>,
    window: SlidingWindow,
}

impl Entry {
    fn is(&self, quota_id: &str, scope_key: &str, window_ms: u64) -> bool {
        self.window.window_ms() == window_ms
            && same_str(&self.quota_id, quota_id)
            && same_str(&self.scope_key, scope_key)
    }
}

/// String equality that does not call `memcmp` for empty strings (an empty
/// `Box<str>` has a dangling pointer, which sends glibc's `memcmp` down a slow path:
/// it tripled the time of a check with an empty scope key).
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

impl Shard {
    fn find(&self, hash: u64, quota_id: &str, scope_key: &str, window_ms: u64) -> Option<&Entry> {
        self.map
            .get(&hash)?
            .iter()
            .find(|e| e.is(quota_id, scope_key, window_ms))
    }

    fn find_or_insert(
        &mut self,
        hash: u64,
        quota_id: &str,
        scope_key: &str,
        window_ms: u64,
    ) -> &mut SlidingWindow {
        let entries = self.map.entry(hash).or_default();
        match entries
            .iter()
            .position(|e| e.is(quota_id, scope_key, window_ms))
        {
            Some(i) => &mut entries[i].window,
            None => {
                entries.push(Entry {
                    quota_id: quota_id.into(),
                    scope_key: scope_key.into(),
                    window: SlidingWindow::new(Duration::from_millis(window_ms)),
                });
                let last = entries.len() - 1;
                &mut entries[last].window
            }
        }
    }
}

impl Default for MemoryCounter {
    fn default() -> Self {
        MemoryCounter::new()
    }
}

impl MemoryCounter {
    /// An empty counter with 16 shards.
    pub fn new() -> Self {
        MemoryCounter::with_shards(DEFAULT_SHARDS)
    }

    /// An empty counter with `shards` shards (at least one). More shards mean less
    /// contention between unrelated scopes.
    pub fn with_shards(shards: usize) -> Self {
        MemoryCounter {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// How many counters (quota × scope instance × window) are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).map.values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Units counted at `now` in one window (0 when it has counted nothing).
    pub fn used(&self, check: &WindowCheck<'_>, now: UnixMillis) -> u64 {
        let window_ms = window_ms(check.window);
        let hash = self.hash(check.quota_id, check.scope_key, window_ms);
        let shard = lock(&self.shards[self.shard_of(hash)]);
        shard
            .find(hash, check.quota_id, check.scope_key, window_ms)
            .map_or(0, |e| e.window.used(now))
    }

    /// Drops the counters whose counts no longer matter at `now`; returns how many.
    pub fn prune(&self, now: UnixMillis) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.map.retain(|_, entries| {
                let before = entries.len();
                entries.retain(|e| !e.window.is_idle(now));
                removed += before - entries.len();
                !entries.is_empty()
            });
        }
        removed
    }

    /// Every non-empty bucket of every counter, to be saved and later given to
    /// [`MemoryCounter::restore`].
    ///
    /// Each counter is read under its shard's lock, so each is consistent on its
    /// own; the shards are read one after the other, so checks running meanwhile may
    /// be in some counters of the snapshot and not in others. Call
    /// [`MemoryCounter::prune`] first to leave out counters that have expired.
    pub fn snapshot(&self) -> Vec<UsageBucket> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for entry in shard.map.values().flatten() {
                for (start, last, count) in entry.window.buckets() {
                    out.push(UsageBucket {
                        quota_id: entry.quota_id.to_string(),
                        scope_key: entry.scope_key.to_string(),
                        window: entry.window.window(),
                        start,
                        last,
                        count,
                    });
                }
            }
        }
        out
    }

    /// Adds saved buckets to the counts (usually into a fresh counter, at start);
    /// returns how many were applied. Buckets that are malformed (`last < start`) or
    /// already older than their counter's memory are skipped.
    ///
    /// Restoring adds: restoring the same snapshot twice counts it twice.
    pub fn restore(&self, buckets: impl IntoIterator<Item = UsageBucket>) -> usize {
        let mut applied = 0;
        for b in buckets {
            let window_ms = window_ms(b.window);
            let hash = self.hash(&b.quota_id, &b.scope_key, window_ms);
            let mut shard = lock(&self.shards[self.shard_of(hash)]);
            let window = shard.find_or_insert(hash, &b.quota_id, &b.scope_key, window_ms);
            if window.restore_bucket(b.start, b.last, b.count) {
                applied += 1;
            }
        }
        applied
    }

    fn hash(&self, quota_id: &str, scope_key: &str, window_ms: u64) -> u64 {
        self.hasher.hash_one((quota_id, scope_key, window_ms))
    }

    fn shard_of(&self, hash: u64) -> usize {
        // The map uses the low bits; take the shard from the middle ones. The
        // remainder is below `shards.len()`, so the cast back is lossless.
        ((hash >> 32) % self.shards.len() as u64) as usize
    }

    fn check_one(
        &self,
        check: &WindowCheck<'_>,
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        let window_ms = window_ms(check.window);
        let hash = self.hash(check.quota_id, check.scope_key, window_ms);
        let mut shard = lock(&self.shards[self.shard_of(hash)]);
        // One lookup: a counter created for a refused check is harmless (it stays
        // empty and `prune` drops it).
        let window = shard.find_or_insert(hash, check.quota_id, check.scope_key, window_ms);
        match window.check(check.limit, quantity, now) {
            Ok(()) => {
                window.add(quantity, now);
                Ok(())
            }
            Err(retry_at) => Err(vec![Refusal { index: 0, retry_at }]),
        }
    }

    /// The several-windows case; `keys`, `shard_ids` and `guards` are scratch space
    /// at least `checks.len()` long.
    fn check_many<'s>(
        &'s self,
        checks: &[WindowCheck<'_>],
        keys: &mut [(u64, u64)],
        shard_ids: &mut [usize],
        guards: &mut [Option<MutexGuard<'s, Shard>>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        let mut distinct = 0;
        for (c, key) in checks.iter().zip(keys.iter_mut()) {
            let window_ms = window_ms(c.window);
            let hash = self.hash(c.quota_id, c.scope_key, window_ms);
            *key = (hash, window_ms);
            let shard = self.shard_of(hash);
            if !shard_ids[..distinct].contains(&shard) {
                shard_ids[distinct] = shard;
                distinct += 1;
            }
        }
        // Lock in ascending shard order, so that concurrent callers never deadlock.
        shard_ids[..distinct].sort_unstable();
        for (guard, &shard) in guards.iter_mut().zip(&shard_ids[..distinct]) {
            *guard = Some(lock(&self.shards[shard]));
        }
        let guard_of = |hash: u64| {
            let shard = self.shard_of(hash);
            shard_ids[..distinct]
                .iter()
                .position(|&s| s == shard)
                .unwrap_or(0)
        };

        let mut refusals = Vec::new();
        for (index, (c, &(hash, window_ms))) in checks.iter().zip(keys.iter()).enumerate() {
            let Some(shard) = guards[guard_of(hash)].as_deref() else {
                continue;
            };
            let decision = match shard.find(hash, c.quota_id, c.scope_key, window_ms) {
                Some(e) => e.window.check(c.limit, quantity, now),
                None => check_unused(window_ms, c.limit, quantity, now),
            };
            if let Err(retry_at) = decision {
                refusals.push(Refusal { index, retry_at });
            }
        }
        if !refusals.is_empty() {
            return Err(refusals);
        }
        for (i, (c, &(hash, window_ms))) in checks.iter().zip(keys.iter()).enumerate() {
            // The same counter listed twice is counted once.
            let repeated = checks[..i].iter().zip(keys.iter()).any(|(d, &key)| {
                key == (hash, window_ms)
                    && same_str(d.quota_id, c.quota_id)
                    && same_str(d.scope_key, c.scope_key)
            });
            if repeated {
                continue;
            }
            if let Some(shard) = guards[guard_of(hash)].as_deref_mut() {
                shard
                    .find_or_insert(hash, c.quota_id, c.scope_key, window_ms)
                    .add(quantity, now);
            }
        }
        Ok(())
    }
}

impl Counter for MemoryCounter {
    fn check_and_count(
        &self,
        checks: &[WindowCheck<'_>],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), Vec<Refusal>> {
        match checks {
            [] => Ok(()),
            [one] => self.check_one(one, quantity, now),
            _ if checks.len() <= INLINE => {
                let mut keys = [(0, 0); INLINE];
                let mut shard_ids = [0; INLINE];
                let mut guards: [Option<MutexGuard<'_, Shard>>; INLINE] = Default::default();
                self.check_many(
                    checks,
                    &mut keys,
                    &mut shard_ids,
                    &mut guards,
                    quantity,
                    now,
                )
            }
            _ => {
                let n = checks.len();
                let mut keys = vec![(0, 0); n];
                let mut shard_ids = vec![0; n];
                let mut guards: Vec<Option<MutexGuard<'_, Shard>>> = (0..n).map(|_| None).collect();
                self.check_many(
                    checks,
                    &mut keys,
                    &mut shard_ids,
                    &mut guards,
                    quantity,
                    now,
                )
            }
        }
    }
}

/// Locks a shard. The code under a shard lock does not panic; if it ever did, the
/// counts are still usable (at worst one count is missing), so poisoning is ignored.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn window_ms(window: Duration) -> u64 {
    duration_to_millis_ceil(window).max(1)
}

/// A hasher for keys that already are hashes.
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wc<'a>(id: &'a str, scope: &'a str, ms: u64, limit: Option<u64>) -> WindowCheck<'a> {
        WindowCheck {
            quota_id: id,
            scope_key: scope,
            window: Duration::from_millis(ms),
            limit,
        }
    }

    #[test]
    fn atomic_across_windows() {
        let c = MemoryCounter::new();
        let a = wc("a", "1", 1000, Some(3));
        let b = wc("b", "1", 1000, Some(1));
        assert_eq!(c.check_and_count(&[a, b], 1, UnixMillis(0)), Ok(()));
        let err = c.check_and_count(&[a, b], 1, UnixMillis(1)).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].index, 1);
        // `a` was not counted by the refused call.
        assert_eq!(c.used(&a, UnixMillis(1)), 1);
        assert_eq!(c.check_and_count(&[a], 2, UnixMillis(2)), Ok(()));
        assert!(c.check_and_count(&[a], 1, UnixMillis(3)).is_err());
    }

    #[test]
    fn duplicate_counted_once_and_windows_separate() {
        let c = MemoryCounter::with_shards(1);
        let a = wc("a", "1", 1000, Some(5));
        let a2 = wc("a", "1", 2000, Some(5));
        assert_eq!(c.check_and_count(&[a, a, a2], 2, UnixMillis(0)), Ok(()));
        assert_eq!(c.used(&a, UnixMillis(0)), 2);
        assert_eq!(c.used(&a2, UnixMillis(0)), 2);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn many_windows_beyond_inline() {
        let c = MemoryCounter::new();
        let scopes: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let checks: Vec<_> = scopes.iter().map(|s| wc("q", s, 1000, Some(1))).collect();
        assert_eq!(c.check_and_count(&checks, 1, UnixMillis(0)), Ok(()));
        let err = c.check_and_count(&checks, 1, UnixMillis(0)).unwrap_err();
        assert_eq!(err.len(), 20);
        assert_eq!(c.len(), 20);
    }

    #[test]
    fn prune_and_snapshot() {
        let c = MemoryCounter::new();
        let a = wc("a", "1", 1000, None);
        let b = wc("b", "2", 60_000, None);
        c.check_and_count(&[a, b], 4, UnixMillis(500)).unwrap();
        let mut snap = c.snapshot();
        snap.sort();
        assert_eq!(
            snap[0],
            UsageBucket {
                quota_id: "a".into(),
                scope_key: "1".into(),
                window: Duration::from_secs(1),
                start: UnixMillis(493),
                last: UnixMillis(500),
                count: 4,
            }
        );
        assert_eq!(c.prune(UnixMillis(2_000)), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.prune(UnixMillis(100_000)), 1);
        assert!(c.is_empty());
        let r = MemoryCounter::new();
        assert_eq!(r.restore(snap.clone()), 2);
        assert_eq!(r.used(&b, UnixMillis(1_000)), 4);

        // Without `last`: remembered until the end of the bucket plus the window.
        let bare =
            UsageBucket::assuming_last_at_end("a", "1", Duration::from_secs(1), UnixMillis(493), 4);
        assert_eq!(bare.last, UnixMillis(509));
        let r = MemoryCounter::new();
        assert_eq!(r.restore([bare]), 1);
        assert_eq!(r.used(&a, UnixMillis(1_508)), 4);
        assert_eq!(r.used(&a, UnixMillis(1_509)), 0);
    }
}

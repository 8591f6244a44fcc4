//! The entry point: quotas in, a decision out.

use crate::DataCategory;
use crate::config::ScopedQuota;
use crate::counter::{Counter, MemoryCounter, WindowCheck};
use crate::decision::{RateLimit, RateLimits};
use crate::time::UnixMillis;

/// Checks events against quotas and counts them, in a [`Counter`].
///
/// ```
/// use std::time::Duration;
/// use periscope_quota::{DataCategory, Limiter, Quota, QuotaScope, UnixMillis};
///
/// let per_minute = Quota::new("project_quota", QuotaScope::Project, Some(2), Duration::from_secs(60))
///     .with_categories([DataCategory::Error, DataCategory::Default]);
/// let limiter = Limiter::default();
/// let quotas = [per_minute.scoped("42")];
/// let now = UnixMillis(1_700_000_000_000);
///
/// assert!(limiter.check_and_count(&quotas, &DataCategory::Error, 1, now).is_ok());
/// assert!(limiter.check_and_count(&quotas, &DataCategory::Error, 1, now).is_ok());
/// let limits = limiter.check_and_count(&quotas, &DataCategory::Error, 1, now).unwrap_err();
/// assert_eq!(limits.to_header_value(), "60:error;default:project:project_quota");
/// assert_eq!(limits.retry_after_header().as_deref(), Some("60"));
/// // Other categories are not limited by this quota.
/// assert!(limiter.check_and_count(&quotas, &DataCategory::Transaction, 1, now).is_ok());
/// ```
#[derive(Debug)]
pub struct Limiter<C = MemoryCounter> {
    counter: C,
}

impl Default for Limiter<MemoryCounter> {
    /// A limiter over a fresh [`MemoryCounter`].
    fn default() -> Self {
        Limiter::new(MemoryCounter::new())
    }
}

impl<C: Counter> Limiter<C> {
    /// A limiter keeping its counts in `counter`.
    pub fn new(counter: C) -> Self {
        Limiter { counter }
    }

    /// The counter (e.g. to [`snapshot`](MemoryCounter::snapshot) or
    /// [`prune`](MemoryCounter::prune) a [`MemoryCounter`]).
    pub fn counter(&self) -> &C {
        &self.counter
    }

    /// Gives the counter back.
    pub fn into_counter(self) -> C {
        self.counter
    }

    /// Admits `quantity` units of `category` at `now` if every quota of `quotas`
    /// that applies to the category allows it, and then counts them in all of those
    /// quotas; otherwise counts nothing and returns one [`RateLimit`] per refusing
    /// quota (its categories, scope, id as reason, and the exact time until it would
    /// admit this quantity again).
    ///
    /// The event would be admitted again once the longest of the returned
    /// retry-afters has passed (with nothing else counted meanwhile): counts only
    /// ever leave a window, so a quota that admits now admits later too.
    ///
    /// Quotas with no limit are counted but never refuse; a limit of 0 refuses
    /// everything (retry-after: one window); so does a quantity above the limit.
    pub fn check_and_count(
        &self,
        quotas: &[ScopedQuota<'_>],
        category: &DataCategory,
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), RateLimits> {
        const INLINE: usize = 8;
        if quotas.len() <= INLINE {
            let mut checks = [EMPTY_CHECK; INLINE];
            let mut origin = [0usize; INLINE];
            let mut n = 0;
            for (i, q) in quotas.iter().enumerate() {
                if q.quota.applies_to(category) {
                    checks[n] = WindowCheck::from(*q);
                    origin[n] = i;
                    n += 1;
                }
            }
            self.run(quotas, &checks[..n], &origin[..n], quantity, now)
        } else {
            let (origin, checks): (Vec<usize>, Vec<WindowCheck<'_>>) = quotas
                .iter()
                .enumerate()
                .filter(|(_, q)| q.quota.applies_to(category))
                .map(|(i, q)| (i, WindowCheck::from(*q)))
                .unzip();
            self.run(quotas, &checks, &origin, quantity, now)
        }
    }

    fn run(
        &self,
        quotas: &[ScopedQuota<'_>],
        checks: &[WindowCheck<'_>],
        origin: &[usize],
        quantity: u64,
        now: UnixMillis,
    ) -> Result<(), RateLimits> {
        let refusals = match self.counter.check_and_count(checks, quantity, now) {
            Ok(()) => return Ok(()),
            Err(refusals) => refusals,
        };
        let mut limits = RateLimits::new();
        for refusal in refusals {
            let Some(quota) = origin.get(refusal.index).and_then(|&i| quotas.get(i)) else {
                continue;
            };
            let quota = quota.quota;
            limits.add(RateLimit {
                categories: quota.categories.clone(),
                scope: quota.scope.clone(),
                reason: (!quota.id.is_empty()).then(|| quota.id.clone()),
                namespaces: Vec::new(),
                retry_after: refusal.retry_at.saturating_duration_since(now),
            });
        }
        Err(limits)
    }
}

const EMPTY_CHECK: WindowCheck<'static> = WindowCheck {
    quota_id: "",
    scope_key: "",
    window: std::time::Duration::ZERO,
    limit: None,
};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Quota, QuotaScope};

    #[test]
    fn refusals_of_the_same_target_merge_to_the_longest() {
        let minute = Quota::new(
            "minute",
            QuotaScope::Project,
            Some(1),
            Duration::from_secs(60),
        );
        let hour = Quota::new(
            "hour",
            QuotaScope::Project,
            Some(1),
            Duration::from_secs(3600),
        );
        let limiter = Limiter::default();
        let quotas = [minute.scoped("1"), hour.scoped("1")];
        let now = UnixMillis(10_000_000);
        limiter
            .check_and_count(&quotas, &DataCategory::Error, 1, now)
            .unwrap();
        let limits = limiter
            .check_and_count(&quotas, &DataCategory::Error, 1, now)
            .unwrap_err();
        assert_eq!(limits.to_header_value(), "3600::project:hour");
        // After the minute, only the hour quota still refuses.
        let later = UnixMillis(now.as_millis() + 60_000);
        let limits = limiter
            .check_and_count(&quotas, &DataCategory::Error, 1, later)
            .unwrap_err();
        assert_eq!(limits.to_header_value(), "3540::project:hour");
    }

    #[test]
    fn many_quotas_and_category_filter() {
        let scopes: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
        let quota = Quota::new("", QuotaScope::Key, Some(1), Duration::from_secs(1))
            .with_categories([DataCategory::Span]);
        let other = Quota::new("other", QuotaScope::Key, Some(0), Duration::from_secs(1))
            .with_categories([DataCategory::Error]);
        let mut quotas: Vec<_> = scopes.iter().map(|s| quota.scoped(s)).collect();
        quotas.push(other.scoped("x"));
        let limiter = Limiter::default();
        let now = UnixMillis(5_000);
        limiter
            .check_and_count(&quotas, &DataCategory::Span, 1, now)
            .unwrap();
        let limits = limiter
            .check_and_count(&quotas, &DataCategory::Span, 1, now)
            .unwrap_err();
        // Twelve refusals of one target, merged; no reason for an empty id.
        assert_eq!(limits.to_header_value(), "1:span:key");
        let limits = limiter
            .check_and_count(&quotas, &DataCategory::Error, 1, now)
            .unwrap_err();
        assert_eq!(limits.to_header_value(), "1:error:key:other");
        // The refused check left an empty counter behind; pruning drops it.
        let counter = limiter.into_counter();
        assert_eq!(counter.len(), 13);
        assert_eq!(counter.prune(now), 1);
        assert_eq!(counter.len(), 12);
    }
}

//! Property tests: the window bound, exact retry-afters, merging and header round
//! trips, for arbitrary inputs.

use std::time::Duration;

use periscope_quota::{
    DataCategory, Limiter, MemoryCounter, Quota, QuotaScope, RateLimit, RateLimits, UnixMillis,
};
use proptest::prelude::*;

/// A window length in milliseconds: short ones (buckets of 1 ms, or a few ms, with
/// windows that are not multiples of the bucket) and long ones.
fn window_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..=130,
        131u64..=5_000,
        Just(60_000u64),
        Just(3_600_000u64)
    ]
}

/// Arrivals as (gap since the previous one, quantity), with gaps scaled to the
/// window so that sequences cross many windows and bucket boundaries.
fn arrivals(window: u64) -> impl Strategy<Value = Vec<(u64, u64)>> {
    let gap = prop_oneof![
        3 => Just(0u64),
        4 => 0..=window / 10 + 1,
        2 => 0..=window + 1,
        1 => 0..=3 * window,
    ];
    prop::collection::vec((gap, 1u64..=3), 1..250)
}

/// Sum of quantities admitted in every interval `[s, s + w)` that starts at an
/// admitted event (the maximum over all intervals of length `w` is reached at one of
/// them), checked against `limit`.
fn assert_window_bound(admitted: &[(u64, u64)], w: u64, limit: u64) -> Result<(), TestCaseError> {
    let mut end = 0;
    let mut sum = 0;
    for (start, &(s, _)) in admitted.iter().enumerate() {
        while end < admitted.len() && admitted[end].0 < s + w {
            sum += admitted[end].1;
            end += 1;
        }
        prop_assert!(
            sum <= limit,
            "{} admitted in [{}, {}) with limit {}",
            sum,
            s,
            s + w,
            limit
        );
        sum -= admitted[start].1;
    }
    Ok(())
}

fn quota(id: &str, limit: u64, window: u64) -> Quota {
    Quota::new(
        id,
        QuotaScope::Project,
        Some(limit),
        Duration::from_millis(window),
    )
}

/// A copy of a limiter's counts, through snapshot and restore.
fn copy(limiter: &Limiter) -> Limiter {
    let copy = Limiter::new(MemoryCounter::new());
    copy.counter().restore(limiter.counter().snapshot());
    copy
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// For any arrival sequence, over every window of the configured length, the
    /// admitted quantity never exceeds the limit; and every refusal's retry-after is
    /// exact: refused one millisecond before it, admitted at it.
    #[test]
    fn window_bound_and_exact_retry(
        (w, seq) in window_ms().prop_flat_map(|w| (Just(w), arrivals(w))),
        limit in 0u64..12,
        start in 0u64..10_000_000,
    ) {
        let q = quota("q", limit, w);
        let quotas = [q.scoped("p")];
        let limiter = Limiter::default();
        let mut now = start;
        let mut admitted = Vec::new();
        for (gap, quantity) in seq {
            now += gap;
            let t = UnixMillis(now);
            match limiter.check_and_count(&quotas, &DataCategory::Error, quantity, t) {
                Ok(()) => admitted.push((now, quantity)),
                Err(limits) => {
                    prop_assert_eq!(limits.len(), 1);
                    let retry = limits.longest().unwrap_or_default();
                    prop_assert!(retry > Duration::ZERO);
                    if limit == 0 || quantity > limit {
                        prop_assert_eq!(retry, Duration::from_millis(w));
                        continue;
                    }
                    let at = t.saturating_add(retry);
                    let probe = copy(&limiter);
                    let before = UnixMillis(at.as_millis() - 1);
                    prop_assert!(
                        probe.check_and_count(&quotas, &DataCategory::Error, quantity, before).is_err(),
                        "admitted at {:?}, one tick before the retry-after {:?}", before, at
                    );
                    prop_assert!(
                        probe.check_and_count(&quotas, &DataCategory::Error, quantity, at).is_ok(),
                        "refused at the retry-after instant {:?}", at
                    );
                }
            }
        }
        assert_window_bound(&admitted, w, limit)?;
    }

    /// Several quotas checked together: each one's bound holds, an event is counted
    /// in all of them or none (the counters agree with what was admitted), and a
    /// refused event is admitted exactly when the longest retry-after has passed.
    #[test]
    fn several_quotas_stay_bounded_and_consistent(
        w1 in window_ms(),
        w2 in window_ms(),
        l1 in 1u64..15,
        l2 in 1u64..15,
        seq in prop::collection::vec((0u64..400, 1u64..=2, any::<bool>()), 1..200),
    ) {
        let a = quota("a", l1, w1);
        let b = Quota::new("b", QuotaScope::Key, Some(l2), Duration::from_millis(w2))
            .with_categories([DataCategory::Error]);
        let quotas = [a.scoped("p"), b.scoped("k")];
        let limiter = Limiter::default();
        let mut now = 1_000_000;
        let (mut in_a, mut in_b) = (Vec::new(), Vec::new());
        for (gap, quantity, is_error) in seq {
            now += gap;
            let category = if is_error { DataCategory::Error } else { DataCategory::Transaction };
            match limiter.check_and_count(&quotas, &category, quantity, UnixMillis(now)) {
                Ok(()) => {
                    in_a.push((now, quantity));
                    if is_error {
                        in_b.push((now, quantity));
                    }
                }
                // Admitted again exactly when the longest retry-after has passed.
                Err(limits) if quantity <= l1 && (!is_error || quantity <= l2) => {
                    let at = UnixMillis(now).saturating_add(limits.longest().unwrap_or_default());
                    let probe = copy(&limiter);
                    let before = UnixMillis(at.as_millis() - 1);
                    prop_assert!(probe.check_and_count(&quotas, &category, quantity, before).is_err());
                    prop_assert!(probe.check_and_count(&quotas, &category, quantity, at).is_ok());
                }
                Err(_) => {}
            }
        }
        assert_window_bound(&in_a, w1, l1)?;
        assert_window_bound(&in_b, w2, l2)?;
        // What each counter holds at the end is exactly what was admitted into it:
        // every unit of the last window, plus at most the rest of its bucket.
        let sum_since = |v: &[(u64, u64)], from: u64| -> u64 {
            v.iter().filter(|x| x.0 >= from).map(|x| x.1).sum()
        };
        for (q, scope, admitted, w) in [(&a, "p", &in_a, w1), (&b, "k", &in_b, w2)] {
            let used = limiter.counter().used(&q.scoped(scope).into(), UnixMillis(now));
            let bucket = w.div_ceil(60);
            prop_assert!(used >= sum_since(admitted, (now + 1).saturating_sub(w)));
            prop_assert!(used <= sum_since(admitted, (now + 1).saturating_sub(w + bucket)));
        }
    }
}

fn category() -> impl Strategy<Value = DataCategory> {
    prop_oneof![
        4 => prop::sample::select(DataCategory::KNOWN.to_vec()),
        1 => "x_[a-z]{1,6}".prop_map(DataCategory::Unknown),
    ]
}

fn scope() -> impl Strategy<Value = QuotaScope> {
    prop_oneof![
        Just(QuotaScope::Installation),
        Just(QuotaScope::Project),
        Just(QuotaScope::Key),
        "y_[a-z]{1,6}".prop_map(QuotaScope::Unknown),
    ]
}

fn rate_limit(whole_seconds: bool) -> impl Strategy<Value = RateLimit> {
    (
        prop::collection::vec(category(), 0..4),
        scope(),
        prop::option::of("[a-z_]{1,12}"),
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec("[a-z]{1,5}", 1..3)],
        if whole_seconds {
            (0u64..100_000).prop_map(Duration::from_secs).boxed()
        } else {
            (0u64..10_000_000).prop_map(Duration::from_millis).boxed()
        },
    )
        .prop_map(
            |(categories, scope, reason, namespaces, retry_after)| RateLimit {
                categories,
                scope,
                reason,
                namespaces,
                retry_after,
            },
        )
}

fn same<T: PartialEq>(x: &[T], y: &[T]) -> bool {
    x.iter().all(|c| y.contains(c)) && y.iter().all(|c| x.contains(c))
}

fn same_target(a: &RateLimit, b: &RateLimit) -> bool {
    a.scope == b.scope && same(&a.categories, &b.categories) && same(&a.namespaces, &b.namespaces)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Merging keeps, for each target, exactly the longest retry-after, one entry
    /// per target, in any order of arrival.
    #[test]
    fn merge_keeps_longest(input in prop::collection::vec(rate_limit(false), 0..12)) {
        let merged: RateLimits = input.iter().cloned().collect();
        for limit in &input {
            let kept: Vec<_> = merged.iter().filter(|m| same_target(m, limit)).collect();
            prop_assert_eq!(kept.len(), 1);
            let longest = input.iter().filter(|l| same_target(l, limit)).map(|l| l.retry_after).max();
            prop_assert_eq!(Some(kept[0].retry_after), longest);
        }
        prop_assert!(merged.iter().all(|m| input.iter().any(|l| l == m)));
        prop_assert_eq!(merged.longest(), input.iter().map(|l| l.retry_after).max());
        // Order does not matter (up to which of equal retry-afters keeps its reason).
        let mut reversed: RateLimits = input.iter().rev().cloned().collect();
        prop_assert_eq!(reversed.len(), merged.len());
        for m in &merged {
            prop_assert!(reversed.iter().any(|r| same_target(r, m) && r.retry_after == m.retry_after));
        }
        // Merging two halves equals adding all.
        let (left, right) = input.split_at(input.len() / 2);
        let mut halves: RateLimits = left.iter().cloned().collect();
        halves.merge(right.iter().cloned().collect());
        prop_assert_eq!(halves.len(), merged.len());
        reversed.merge(merged.clone());
        prop_assert_eq!(reversed.len(), merged.len());
    }

    /// Rendering to `X-Sentry-Rate-Limits` parses back to the same limits, and
    /// `Retry-After` carries the longest.
    #[test]
    fn header_round_trip(input in prop::collection::vec(rate_limit(true), 0..8)) {
        let limits: RateLimits = input.into_iter().collect();
        let header = limits.to_header_value();
        let parsed = RateLimits::parse(&header);
        prop_assert_eq!(parsed.as_ref(), Ok(&limits), "header {:?}", header);
        let retry = limits.retry_after_header();
        prop_assert_eq!(
            retry.as_deref().map(periscope_quota::parse_retry_after),
            limits.longest().map(Ok)
        );
    }

    /// Fractional retry-afters are rounded up, never down.
    #[test]
    fn rendering_rounds_up(ms in 1u64..10_000_000) {
        let limits = RateLimits::from(RateLimit::new(QuotaScope::Key, Duration::from_millis(ms)));
        let parsed = RateLimits::parse(&limits.to_header_value()).unwrap_or_default();
        let back = parsed.longest().unwrap_or_default();
        prop_assert!(back >= Duration::from_millis(ms));
        prop_assert!(back < Duration::from_millis(ms) + Duration::from_secs(1));
        prop_assert_eq!(limits.retry_after_secs(), Some(back.as_secs()));
    }

    /// Parsing any text never panics, and what it yields renders to a fixed point.
    #[test]
    fn parse_any_text(text in ".{0,200}", structured in "([0-9.]{0,4}:[a-z;_]{0,12}:[a-z]{0,8}(:[a-z_]{0,5}){0,3}, ?){0,4}") {
        for t in [text, structured] {
            if let Ok(first) = RateLimits::parse(&t) {
                let second = RateLimits::parse(&first.to_header_value());
                prop_assert!(second.is_ok());
                let second = second.unwrap_or_default();
                let third = RateLimits::parse(&second.to_header_value());
                prop_assert_eq!(third, Ok(second));
            }
        }
    }
}

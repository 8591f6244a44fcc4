//! The header examples and rules of the protocol notes (`PROTOCOL.md`, "Rate
//! limits"), checked end to end.

use std::time::Duration;

use periscope_quota::{
    DataCategory, Limiter, Quota, QuotaError, QuotaScope, RateLimit, RateLimits, UnixMillis,
    parse_retry_after,
};

/// The example of PROTOCOL.md, verbatim.
const EXAMPLE: &str = "60:error;default:project:project_quota, 3600::organization";

#[test]
fn protocol_example_round_trips() {
    let limits = RateLimits::parse(EXAMPLE).unwrap();
    let items: Vec<_> = limits.iter().collect();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].categories,
        [DataCategory::Error, DataCategory::Default]
    );
    assert_eq!(items[0].scope, QuotaScope::Project);
    assert_eq!(items[0].reason.as_deref(), Some("project_quota"));
    assert_eq!(items[0].retry_after, Duration::from_secs(60));
    assert!(items[1].categories.is_empty(), "empty means all categories");
    assert_eq!(items[1].scope, QuotaScope::Installation);
    assert_eq!(items[1].reason, None);
    assert_eq!(items[1].retry_after, Duration::from_secs(3600));
    assert_eq!(limits.to_header_value(), EXAMPLE);
    // "Retry-After: <seconds> holds the longest one."
    assert_eq!(limits.retry_after_header().as_deref(), Some("3600"));
    assert_eq!(
        limits.retry_after_for(&DataCategory::Error),
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn limiter_produces_the_protocol_example() {
    // The two quotas of the example, exhausted at the same instant.
    let project = Quota::new(
        "project_quota",
        QuotaScope::Project,
        Some(1),
        Duration::from_secs(60),
    )
    .with_categories([DataCategory::Error, DataCategory::Default]);
    let installation = Quota::new(
        "",
        QuotaScope::Installation,
        Some(1),
        Duration::from_secs(3600),
    );
    let limiter = Limiter::default();
    let now = UnixMillis(1_764_000_000_000);
    let quotas = [project.scoped("1"), installation.scoped("")];
    limiter
        .check_and_count(&quotas, &DataCategory::Error, 1, now)
        .unwrap();
    let limits = limiter
        .check_and_count(&quotas, &DataCategory::Error, 1, now)
        .unwrap_err();
    assert_eq!(limits.to_header_value(), EXAMPLE);
    assert_eq!(limits.retry_after_header().as_deref(), Some("3600"));
}

#[test]
fn categories_of_the_protocol_are_known() {
    let names = "default, error, transaction, security, attachment, session, profile, \
                 replay, feedback, monitor, span, log_item, log_byte";
    for name in names.split(", ") {
        let c: DataCategory = name.parse().unwrap();
        assert!(!c.is_unknown(), "{name}");
        assert_eq!(c.as_str(), name);
    }
    // Unknown ones are kept, not rejected.
    let limits = RateLimits::parse("10:metric_bucket;error:project").unwrap();
    let limit = limits.iter().next().unwrap();
    assert_eq!(
        limit.categories[0],
        DataCategory::Unknown("metric_bucket".into())
    );
    assert_eq!(limits.to_header_value(), "10:metric_bucket;error:project");
}

#[test]
fn retry_after_header() {
    assert_eq!(parse_retry_after("60"), Ok(Duration::from_secs(60)));
    assert!(matches!(
        parse_retry_after("soon"),
        Err(QuotaError::InvalidRetryAfter { .. })
    ));
    let mut limits = RateLimits::new();
    limits.add(RateLimit::new(QuotaScope::Key, Duration::from_millis(1500)));
    limits.add(RateLimit {
        categories: vec![DataCategory::Transaction],
        ..RateLimit::new(QuotaScope::Key, Duration::from_millis(900))
    });
    assert_eq!(limits.retry_after_header().as_deref(), Some("2"));
    assert_eq!(limits.to_header_value(), "2::key, 1:transaction:key");
}

#[test]
fn count_only_and_reject_all() {
    let counting = Quota::new("count", QuotaScope::Project, None, Duration::from_secs(60));
    let closed = Quota::new("closed", QuotaScope::Key, Some(0), Duration::from_secs(60))
        .with_categories([DataCategory::Attachment]);
    let limiter = Limiter::default();
    let quotas = [counting.scoped("1"), closed.scoped("k")];
    let now = UnixMillis(1_000_000);
    for _ in 0..100 {
        limiter
            .check_and_count(&quotas, &DataCategory::Error, 1, now)
            .unwrap();
    }
    let limits = limiter
        .check_and_count(&quotas, &DataCategory::Attachment, 1, now)
        .unwrap_err();
    assert_eq!(limits.to_header_value(), "60:attachment:key:closed");
    let used = limiter.counter().used(&counting.scoped("1").into(), now);
    assert_eq!(used, 100, "the refused attachment is not counted");
}

//! A tour of the crate: quotas for an installation, a project and a key; a client
//! in a loop; the headers it gets back; and counts saved and restored across a
//! "restart".
//!
//! Run with `cargo run -p periscope-quota --example limiter`.

use std::time::Duration;

use periscope_quota::{
    DataCategory, Limiter, MemoryCounter, Quota, QuotaError, QuotaScope, RateLimits, UnixMillis,
};

fn main() -> Result<(), QuotaError> {
    // Configuration (a server would load it from its database).
    let installation = Quota::new(
        "installation_quota",
        QuotaScope::Installation,
        Some(1_000),
        Duration::from_secs(60),
    );
    let project = Quota::new(
        "project_quota",
        QuotaScope::Project,
        Some(5),
        Duration::from_secs(60),
    )
    .with_categories([DataCategory::Error, DataCategory::Default]);
    let key = Quota::new(
        "key_quota",
        QuotaScope::Key,
        Some(3),
        Duration::from_secs(10),
    )
    .with_categories([DataCategory::Transaction]);
    for q in [&installation, &project, &key] {
        q.validate()?;
    }

    let limiter = Limiter::default();
    let quotas = [
        installation.scoped(""),
        project.scoped("42"),
        key.scoped("a1b2c3"),
    ];

    // A client stuck in a loop, one error every 100 ms. In a server, `now` is
    // `UnixMillis::from(SystemTime::now())`; here time is simulated.
    let start = UnixMillis(1_764_000_000_000);
    for i in 0..8u64 {
        let now = UnixMillis(start.as_millis() + i * 100);
        match limiter.check_and_count(&quotas, &DataCategory::Error, 1, now) {
            Ok(()) => println!("t+{:>4} ms  error accepted", i * 100),
            Err(limits) => println!(
                "t+{:>4} ms  429  Retry-After: {}  X-Sentry-Rate-Limits: {}",
                i * 100,
                limits.retry_after_header().unwrap_or_default(),
                limits.to_header_value()
            ),
        }
    }

    // Transactions are limited by the key quota only.
    let now = UnixMillis(start.as_millis() + 1_000);
    for _ in 0..4 {
        if let Err(limits) = limiter.check_and_count(&quotas, &DataCategory::Transaction, 1, now) {
            println!("transaction refused: {}", limits.to_header_value());
        }
    }

    // What an SDK (or a proxy) reads back.
    let header = "60:error;default:project:project_quota, 3600::organization";
    let parsed = RateLimits::parse(header)?;
    for limit in &parsed {
        println!(
            "SDK: stop sending {:?} for {} s (scope {}, reason {:?})",
            limit
                .categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            limit.retry_after_secs(),
            limit.scope,
            limit.reason
        );
    }

    // Periodically (and at shutdown) the server saves the counts ...
    let saved = limiter.counter().snapshot();
    println!("saved {} usage buckets", saved.len());
    // ... and at start it seeds a fresh counter with them: quotas survive restarts.
    let restarted = Limiter::new(MemoryCounter::new());
    restarted.counter().restore(saved);
    let later = UnixMillis(start.as_millis() + 5_000);
    match restarted.check_and_count(&quotas, &DataCategory::Error, 1, later) {
        Ok(()) => println!("after restart: accepted"),
        Err(limits) => println!(
            "after restart: still limited, Retry-After: {}",
            limits.retry_after_header().unwrap_or_default()
        ),
    }
    Ok(())
}

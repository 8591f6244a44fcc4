//! Nanoseconds per check-and-count: one quota uncontended, three quotas at once,
//! and one quota hammered by two threads.
//!
//! Run with `cargo bench -p periscope-quota --bench check`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use periscope_quota::{DataCategory, Limiter, Quota, QuotaScope, UnixMillis};

const START: u64 = 1_764_000_000_000;

fn quotas() -> (Quota, Quota, Quota) {
    // Limits high enough that the benchmark measures admissions, windows short
    // enough that buckets keep sliding as the clock advances.
    let installation = Quota::new(
        "installation",
        QuotaScope::Installation,
        Some(u64::MAX / 2),
        Duration::from_secs(60),
    );
    let project = Quota::new(
        "project",
        QuotaScope::Project,
        Some(u64::MAX / 2),
        Duration::from_secs(3600),
    )
    .with_categories([DataCategory::Error, DataCategory::Default]);
    let key = Quota::new(
        "key",
        QuotaScope::Key,
        Some(u64::MAX / 2),
        Duration::from_secs(60),
    );
    (installation, project, key)
}

fn uncontended(c: &mut Criterion) {
    let (installation, project, key) = quotas();
    let mut group = c.benchmark_group("check_and_count");

    let limiter = Limiter::default();
    let one = [project.scoped("42")];
    let mut tick = 0u64;
    group.bench_function("one quota", |b| {
        b.iter(|| {
            // One millisecond per 16 events: buckets fill and slide.
            tick += 1;
            let now = UnixMillis(START + tick / 16);
            black_box(limiter.check_and_count(black_box(&one), &DataCategory::Error, 1, now))
        })
    });

    let limiter = Limiter::default();
    let three = [
        installation.scoped(""),
        project.scoped("42"),
        key.scoped("k1"),
    ];
    let mut tick = 0u64;
    group.bench_function("three quotas", |b| {
        b.iter(|| {
            tick += 1;
            let now = UnixMillis(START + tick / 16);
            black_box(limiter.check_and_count(black_box(&three), &DataCategory::Error, 1, now))
        })
    });

    // A refused check (computes the exact retry-after and builds the decision).
    let limiter = Limiter::default();
    let full = Quota::new(
        "full",
        QuotaScope::Project,
        Some(100),
        Duration::from_secs(60),
    );
    let refused = [full.scoped("42")];
    for i in 0..100 {
        limiter
            .check_and_count(
                &refused,
                &DataCategory::Error,
                1,
                UnixMillis(START + i * 500),
            )
            .unwrap();
    }
    group.bench_function("one quota, refused", |b| {
        b.iter(|| {
            black_box(limiter.check_and_count(
                black_box(&refused),
                &DataCategory::Error,
                1,
                UnixMillis(START + 50_000),
            ))
        })
    });
    group.finish();
}

/// Wall time per check-and-count on each of `threads` threads hitting the same
/// quota (the same lock) at once.
fn contended(c: &mut Criterion) {
    let (_, project, _) = quotas();
    let mut group = c.benchmark_group("check_and_count contended");
    for threads in [1usize, 2] {
        group.bench_function(format!("one quota, {threads} threads"), |b| {
            b.iter_custom(|iters| {
                let limiter = Limiter::default();
                let barrier = Barrier::new(threads + 1);
                thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                let q = [project.scoped("42")];
                                barrier.wait();
                                for i in 0..iters {
                                    let now = UnixMillis(START + i / 16);
                                    black_box(
                                        limiter
                                            .check_and_count(&q, &DataCategory::Error, 1, now)
                                            .is_ok(),
                                    );
                                }
                            })
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for h in handles {
                        h.join().unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);

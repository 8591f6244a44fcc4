//! Many threads hammering the same quotas never admit more than the limits, and
//! several quotas checked together stay consistent with each other.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use periscope_quota::{
    DataCategory, Limiter, MemoryCounter, Quota, QuotaScope, UnixMillis, WindowCheck,
};

const THREADS: usize = 8;

#[test]
fn one_quota_never_admits_more_than_its_limit() {
    let quota = Quota::new("q", QuotaScope::Project, Some(500), Duration::from_secs(60));
    let limiter = Limiter::default();
    // Three instants: the start, within the same window, one window later.
    for (now, expected) in [(1_000_000, 500), (1_030_000, 0), (1_060_000, 500)] {
        let admitted = AtomicU64::new(0);
        let barrier = Barrier::new(THREADS);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let quotas = [quota.scoped("p")];
                    barrier.wait();
                    for _ in 0..200 {
                        let r = limiter.check_and_count(
                            &quotas,
                            &DataCategory::Error,
                            1,
                            UnixMillis(now),
                        );
                        if r.is_ok() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), expected, "at {now}");
    }
}

#[test]
fn several_quotas_at_once_stay_consistent() {
    for shards in [1, 3, 16] {
        let installation = Quota::new(
            "installation",
            QuotaScope::Installation,
            Some(1_000),
            Duration::from_secs(60),
        );
        let project = Quota::new(
            "project",
            QuotaScope::Project,
            Some(300),
            Duration::from_secs(3600),
        );
        let key = Quota::new("key", QuotaScope::Key, Some(200), Duration::from_secs(60));
        let limiter = Limiter::new(MemoryCounter::with_shards(shards));
        let projects = ["p0", "p1", "p2", "p3"];
        let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
        let per_project: Vec<AtomicU64> = projects.iter().map(|_| AtomicU64::new(0)).collect();
        let per_key: Vec<AtomicU64> = keys.iter().map(|_| AtomicU64::new(0)).collect();
        let barrier = Barrier::new(THREADS);
        let now = UnixMillis(5_000_000);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (installation, project, key) = (&installation, &project, &key);
                let (per_project, per_key, barrier, limiter) =
                    (&per_project, &per_key, &barrier, &limiter);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..600 {
                        // Threads switch keys and projects, so lock sets overlap in
                        // every order.
                        let k = (t + i) % keys.len();
                        let p = k % projects.len();
                        let quotas = [
                            key.scoped(keys[k]),
                            installation.scoped(""),
                            project.scoped(projects[p]),
                        ];
                        if limiter
                            .check_and_count(&quotas, &DataCategory::Error, 1, now)
                            .is_ok()
                        {
                            per_project[p].fetch_add(1, Ordering::Relaxed);
                            per_key[k].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let counter = limiter.counter();
        let used = |q: &Quota, scope: &str| counter.used(&WindowCheck::from(q.scoped(scope)), now);
        let mut total = 0;
        for (p, name) in projects.iter().enumerate() {
            let admitted = per_project[p].load(Ordering::Relaxed);
            assert!(admitted <= 300);
            assert_eq!(used(&project, name), admitted, "project {name}");
            total += admitted;
        }
        for (k, name) in keys.iter().enumerate() {
            let admitted = per_key[k].load(Ordering::Relaxed);
            assert!(admitted <= 200);
            assert_eq!(used(&key, name), admitted, "key {name}");
        }
        assert!(total <= 1_000);
        assert_eq!(used(&installation, ""), total);
        // 8 × 600 attempts against 4 × 300 project units and 1 000 installation
        // units: the installation quota is the binding one.
        assert_eq!(total, 1_000, "shards {shards}");
    }
}

//! Retention that cannot stall or wipe: bounded eviction in the ingest batch,
//! bounded maintenance steps, kept events, idle issues, old alerts and the tag
//! index cap. SQLite always, PostgreSQL when `PERISCOPE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::{all_issues as issues, at, backend_test, event, t0};
use periscope_store::{
    AlertKind, AlertStore, IngestStore, IssueAction, IssueFilter, IssueStore, NewEvent,
    ProjectSettings, ProjectStore, ProjectUpdate, RetentionLimits, StatusFilter, Store,
};

const DAY: i64 = 86_400;

fn project(store: &Store, name: &str) -> periscope_store::ProjectId {
    store
        .create_project(name, &common::event_id(), t0())
        .unwrap()
        .id
}

fn set_cap(store: &Store, p: periscope_store::ProjectId, max_events: Option<u64>) {
    store
        .update_project(
            p,
            &ProjectUpdate {
                name: None,
                settings: Some(ProjectSettings {
                    max_events,
                    ..Default::default()
                }),
            },
        )
        .unwrap();
}

fn stored(store: &Store, p: periscope_store::ProjectId) -> u64 {
    store.get_project(p).unwrap().unwrap().stored_events
}

/// Event ids stored for the project (all issues).
fn stored_ids(store: &Store, p: periscope_store::ProjectId) -> Vec<String> {
    let mut out = Vec::new();
    for issue in issues(store, p) {
        out.extend(
            store
                .list_events(issue.id, None, 1000, None)
                .unwrap()
                .items
                .into_iter()
                .map(|e| e.event_id),
        );
    }
    out.sort();
    out
}

/// Runs retention steps until no work is left; returns the reports.
fn drain(
    store: &Store,
    secs: i64,
    limits: &RetentionLimits,
) -> Vec<periscope_store::RetentionReport> {
    let mut reports = Vec::new();
    loop {
        let r = store.retention_step(at(secs), limits).unwrap();
        let more = r.more;
        reports.push(r);
        if !more {
            return reports;
        }
        assert!(reports.len() < 100_000, "retention does not converge");
    }
}

backend_test!(lowering_a_cap_evicts_in_bounded_steps, |db, store| {
    const SEEDED: u64 = 20_000;
    let p = project(store, "big");
    let started = Instant::now();
    let mut kept_newest = Vec::new();
    for b in 0..(SEEDED / 1000) as i64 {
        let batch: Vec<NewEvent> = (0..1000)
            .map(|i| event(p, &format!("k{}", i % 50), b * 1000 + i))
            .collect();
        if b == 0 {
            // The first events of the 50 issues are kept; the newest ten of
            // them are the ones a cap of 10 leaves.
            kept_newest = batch[40..50].iter().map(|e| e.event_id.clone()).collect();
        }
        store.ingest_batch(&batch, at(b * 1000 + 999)).unwrap();
    }
    println!(
        "{}: seeded {SEEDED} events in {:?}",
        db.name,
        started.elapsed()
    );
    assert_eq!(stored(store, p), SEEDED);

    set_cap(store, p, Some(10));
    let limits = RetentionLimits::default();
    let started = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    let mut reports = Vec::new();
    loop {
        let t = Instant::now();
        let r = store.retention_step(at(30_000), &limits).unwrap();
        slowest = slowest.max(t.elapsed());
        reports.push(r);
        if !r.more {
            break;
        }
    }
    let steps = reports.iter().filter(|r| r.capped_events > 0).count();
    println!(
        "{}: cap 20000 -> 10 in {} steps ({} calls), {:?} in all, slowest step {:?}",
        db.name,
        steps,
        reports.len(),
        started.elapsed(),
        slowest
    );
    assert!(
        reports
            .iter()
            .all(|r| r.capped_events <= u64::from(limits.max_rows_per_step))
    );
    assert_eq!(
        reports.iter().map(|r| r.capped_events).sum::<u64>(),
        SEEDED - 10
    );
    assert_eq!(steps as u64, (SEEDED - 10).div_ceil(1000));
    assert_eq!(stored(store, p), 10);
    // 50 issues, 50 kept first events, but only 10 events may stay: every
    // ordinary event went first, then the oldest kept ones.
    let mut want = kept_newest;
    want.sort();
    assert_eq!(stored_ids(store, p), want);
    assert_eq!(issues(store, p).len(), 50, "issues are never evicted");
});

backend_test!(
    ingest_evicts_at_most_the_configured_rows_per_batch,
    |db, _store| {
        let mut config = db.config.clone();
        config.max_evictions_per_batch = 5;
        let store = Store::open(&config).unwrap();
        let p = project(&store, "bounded");
        let seed: Vec<_> = (0..100).map(|i| event(p, "A", i)).collect();
        store.ingest_batch(&seed, at(100)).unwrap();
        set_cap(&store, p, Some(10));
        let e = event(p, "A", 101);
        store
            .ingest_batch(std::slice::from_ref(&e), at(101))
            .unwrap();
        assert_eq!(stored(&store, p), 101 - 5);
        assert!(store.get_event(p, &e.event_id).unwrap().is_some());
        // The maintenance step catches up.
        drain(&store, 102, &RetentionLimits::default());
        assert_eq!(stored(&store, p), 10);
        assert!(store.get_event(p, &e.event_id).unwrap().is_some());
    }
);

backend_test!(
    a_flood_of_new_issues_keeps_the_cap_and_the_newest_events,
    |_, store| {
        let p = project(store, "flood");
        set_cap(store, p, Some(10));
        let mut last = Vec::new();
        for b in 0..6 {
            // Every event is the first of its issue: all kept.
            last = (0..10)
                .map(|i| event(p, &format!("new-{b}-{i}"), b * 10 + i))
                .collect::<Vec<_>>();
            let out = store.ingest_batch(&last, at(b * 10 + 9)).unwrap();
            assert!(out.iter().all(|o| o.created));
            assert_eq!(stored(store, p), 10, "batch {b}");
        }
        let mut want: Vec<String> = last.iter().map(|e| e.event_id.clone()).collect();
        want.sort();
        assert_eq!(stored_ids(store, p), want);
        assert_eq!(issues(store, p).len(), 60);

        // One new issue per batch with a cap of one: the event just inserted is
        // the one that stays.
        set_cap(store, p, Some(1));
        drain(store, 100, &RetentionLimits::default());
        for s in 0..5 {
            let e = event(p, &format!("single-{s}"), 100 + s);
            store
                .ingest_batch(std::slice::from_ref(&e), at(100 + s))
                .unwrap();
            assert_eq!(stored_ids(store, p), vec![e.event_id.clone()]);
        }
    }
);

backend_test!(a_batch_never_evicts_its_own_events, |_, store| {
    let p = project(store, "own");
    set_cap(store, p, Some(3));
    let old = event(p, "A", 0);
    store
        .ingest_batch(std::slice::from_ref(&old), at(0))
        .unwrap();
    // Five ordinary events of one issue, more than the cap.
    let batch: Vec<_> = (1..6).map(|s| event(p, "A", s)).collect();
    store.ingest_batch(&batch, at(6)).unwrap();
    let mut want: Vec<String> = batch.iter().map(|e| e.event_id.clone()).collect();
    want.sort();
    assert_eq!(
        stored_ids(store, p),
        want,
        "the older kept event went first"
    );
    assert_eq!(
        stored(store, p),
        5,
        "over the cap until the maintenance step"
    );
    drain(store, 7, &RetentionLimits::default());
    let mut want: Vec<String> = batch[2..].iter().map(|e| e.event_id.clone()).collect();
    want.sort();
    assert_eq!(stored_ids(store, p), want);
    assert_eq!(stored(store, p), 3);
});

backend_test!(
    a_resolved_issue_whose_events_were_evicted_regresses,
    |_, store| {
        let p = project(store, "regress");
        let first = event(p, "A", 0);
        let a = store
            .ingest_batch(std::slice::from_ref(&first), at(0))
            .unwrap()[0]
            .issue_id;
        store
            .update_issue(a, &IssueAction::Resolve, None, at(1))
            .unwrap();
        set_cap(store, p, Some(1));
        for s in 2..5 {
            store
                .ingest_batch(&[event(p, &format!("B{s}"), s)], at(s))
                .unwrap();
        }
        assert!(
            store
                .list_events(a, None, 10, None)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(store.get_event(p, &first.event_id).unwrap().is_none());
        let issue = store.get_issue(a).unwrap().expect("the issue is kept");
        assert_eq!(issue.count, 1);

        let again = event(p, "A", 10);
        let out = store
            .ingest_batch(std::slice::from_ref(&again), at(10))
            .unwrap();
        assert_eq!(out[0].issue_id, a);
        assert!(!out[0].created);
        assert!(out[0].regressed);
        assert_eq!(store.get_issue(a).unwrap().unwrap().count, 2);
        let kinds: Vec<AlertKind> = store
            .list_alerts(p, 100, None)
            .unwrap()
            .into_iter()
            .filter(|x| x.alert.subject.issue_id() == Some(a))
            .map(|x| x.alert.kind)
            .collect();
        assert_eq!(kinds, vec![AlertKind::Regression, AlertKind::NewIssue]);
    }
);

backend_test!(idle_issues_and_old_alerts_age_out, |_, store| {
    let p = project(store, "idle");
    store
        .create_destination(p, "webhook", &serde_json::json!({"url": "http://x"}), t0())
        .unwrap();
    // Issue A: three events received at day 0 (one batch per event).
    for s in 0..3 {
        store.ingest_batch(&[event(p, "A", s)], at(s)).unwrap();
    }
    // Issue B: received at day 300, but with an old client timestamp (the
    // idle time is the receive time, not the event's own timestamp).
    let b_event = event(p, "B", 0);
    let b = store
        .ingest_batch(std::slice::from_ref(&b_event), at(300 * DAY))
        .unwrap()[0]
        .issue_id;
    assert_eq!(stored(store, p), 4);
    // Deliver both new-issue alerts.
    for d in store
        .claim_deliveries(at(300 * DAY), 10, at(300 * DAY + 60))
        .unwrap()
    {
        store
            .complete_delivery(d.delivery_id, at(300 * DAY + 1))
            .unwrap();
    }

    // Day 366: A is idle for more than 365 days, B is not. Steps of two rows.
    let mut limits = RetentionLimits::default();
    limits.max_rows_per_step = 2;
    limits.alert_max_age = None;
    let reports = drain(store, 366 * DAY, &limits);
    let idle_events: u64 = reports.iter().map(|r| r.idle_events).sum();
    let idle_issues: u64 = reports.iter().map(|r| r.idle_issues).sum();
    assert_eq!((idle_events, idle_issues), (3, 1));
    assert!(reports.iter().all(|r| r.deleted() <= 2));
    let left = issues(store, p);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, b);
    assert_eq!(stored(store, p), 1);
    assert_eq!(
        store.list_alerts(p, 100, None).unwrap().len(),
        1,
        "A's alert went with it"
    );

    limits.alert_max_age = RetentionLimits::default().alert_max_age;
    // Day 331+: B's delivered alert is older than 30 days and goes; the
    // issue stays (idle for 31 days only).
    let reports = drain(store, 331 * DAY, &limits);
    assert_eq!(reports.iter().map(|r| r.alerts).sum::<u64>(), 1);
    assert!(store.list_alerts(p, 100, None).unwrap().is_empty());
    assert!(store.get_issue(b).unwrap().is_some());
    assert!(store.get_event(p, &b_event.event_id).unwrap().is_some());

    // A pending alert (never delivered) stays until twice the age.
    store
        .update_issue(b, &IssueAction::Resolve, None, at(331 * DAY))
        .unwrap();
    let out = store
        .ingest_batch(&[event(p, "B", 5)], at(332 * DAY))
        .unwrap();
    assert!(out[0].regressed);
    store
        .claim_deliveries(at(332 * DAY), 10, at(332 * DAY + 60))
        .unwrap();
    drain(store, 332 * DAY + 40 * DAY, &limits);
    assert_eq!(
        store.list_alerts(p, 100, None).unwrap().len(),
        1,
        "pending: kept"
    );
    drain(store, 332 * DAY + 61 * DAY, &limits);
    assert!(
        store.list_alerts(p, 100, None).unwrap().is_empty(),
        "stale: pruned"
    );
});

backend_test!(the_tag_index_is_capped_per_issue, |db, _store| {
    let mut config = db.config.clone();
    config.max_tag_values_per_issue = 4;
    let store = Store::open(&config).unwrap();
    let p = project(&store, "tags");
    let events: Vec<NewEvent> = (0..20)
        .map(|i| {
            let mut e = event(p, "A", i);
            e.tags = vec![("user".into(), format!("u{i}"))];
            e
        })
        .collect();
    // Two batches: the count of index rows carries over.
    store.ingest_batch(&events[..2], at(2)).unwrap();
    store.ingest_batch(&events[2..], at(20)).unwrap();
    let search = |q: &str| {
        store
            .list_issues(
                p,
                &IssueFilter {
                    query: q.into(),
                    status: StatusFilter::All,
                    ..Default::default()
                },
            )
            .unwrap()
            .items
            .len()
    };
    // Built-in keys first: level and environment, then the first users.
    assert_eq!(search("level:error"), 1);
    assert_eq!(search("environment:production"), 1);
    assert_eq!(search("user:u0"), 1);
    assert_eq!(search("user:u1"), 1);
    assert_eq!(search("user:u2"), 0, "over the cap of 4 rows");
    assert_eq!(search("user:u19"), 0);
});

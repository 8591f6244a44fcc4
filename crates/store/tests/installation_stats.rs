//! Installation-wide counters ([`StatsStore`]): what several writers add up to,
//! minute and hour buckets, pruning; the database's size; deliveries pending
//! and failed. SQLite always, PostgreSQL when `PERISCOPE_TEST_POSTGRES_URL` is
//! set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::{at, backend_test, event, t0};
use periscope_store::{
    AlertStore, CounterResolution, IngestStore, ProjectStore, StatsStore, Store,
};

/// counter → sum of its buckets of `resolution` since `since`.
fn totals(store: &Store, res: CounterResolution, since: DateTime<Utc>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for b in store.installation_counts(res, since).unwrap() {
        *out.entry(b.name).or_default() += b.count;
    }
    out
}

backend_test!(two_writers_add_up, |db, store| {
    // Two handles with pools of their own, as two replicas on one database.
    let other = db.open();
    let writers = [store.clone(), other];
    std::thread::scope(|s| {
        for (i, w) in writers.iter().enumerate() {
            s.spawn(move || {
                for round in 0..50 {
                    // Both writers touch the same rows in every round.
                    let counts = [
                        ("events_accepted", 2),
                        ("rejected_rate_limited", 1),
                        ("rejected_bad_request", u64::from(i == 0)),
                        ("rejected_overloaded", 0),
                    ];
                    w.add_installation_counts(&counts, at(round)).unwrap();
                }
            });
        }
    });
    let hours = totals(store, CounterResolution::Hour, t0());
    assert_eq!(hours.get("events_accepted"), Some(&200));
    assert_eq!(hours.get("rejected_rate_limited"), Some(&100));
    assert_eq!(hours.get("rejected_bad_request"), Some(&50));
    assert_eq!(
        hours.get("rejected_overloaded"),
        None,
        "zero counts write nothing"
    );
    // Rounds 0..50 are seconds 0..49 after t0 (12:00:00): one minute, one hour.
    let minutes = store
        .installation_counts(CounterResolution::Minute, t0())
        .unwrap();
    assert_eq!(minutes.len(), 3);
    assert!(minutes.iter().all(|b| b.start == t0()));
    assert_eq!(totals(store, CounterResolution::Minute, t0()), hours);

    // Buckets by time: the same counter the same minute adds up; the next
    // minute and the next hour are buckets of their own.
    store
        .add_installation_counts(&[("events_accepted", 5), ("events_accepted", 1)], at(90))
        .unwrap();
    store
        .add_installation_counts(&[("events_accepted", 7)], at(3600 + 10))
        .unwrap();
    let minutes = store
        .installation_counts(CounterResolution::Minute, at(60))
        .unwrap();
    let accepted: Vec<(DateTime<Utc>, u64)> = minutes
        .iter()
        .filter(|b| b.name == "events_accepted")
        .map(|b| (b.start, b.count))
        .collect();
    assert_eq!(accepted, vec![(at(60), 6), (at(3600), 7)]);
    let hourly: Vec<(DateTime<Utc>, u64)> = store
        .installation_counts(CounterResolution::Hour, t0())
        .unwrap()
        .into_iter()
        .filter(|b| b.name == "events_accepted")
        .map(|b| (b.start, b.count))
        .collect();
    assert_eq!(hourly, vec![(t0(), 206), (at(3600), 7)]);
    // `since` inside a bucket takes the whole bucket.
    assert_eq!(
        totals(store, CounterResolution::Hour, at(1800)).get("events_accepted"),
        Some(&213)
    );
});

backend_test!(pruning_keeps_the_recent_buckets, |_db, store| {
    let now = at(40 * 86_400);
    for days_ago in [0, 29, 31, 60] {
        store
            .add_installation_counts(&[("events_accepted", 1)], now - Duration::days(days_ago))
            .unwrap();
    }
    for minutes_ago in [0, 30, 61, 120] {
        store
            .add_installation_counts(
                &[("rejected_unauthorized", 1)],
                now - Duration::minutes(minutes_ago),
            )
            .unwrap();
    }
    let deleted = store
        .prune_installation_counts(now - Duration::days(30), now - Duration::hours(1))
        .unwrap();
    // Hourly: the 31- and 60-day-old ones. Minutes: those 29, 31 and 60 days
    // old, and those 61 and 120 minutes old.
    assert_eq!(deleted, 2 + 5);
    let hours = totals(store, CounterResolution::Hour, at(0));
    assert_eq!(hours.get("events_accepted"), Some(&2));
    assert_eq!(hours.get("rejected_unauthorized"), Some(&4));
    let minutes = totals(store, CounterResolution::Minute, at(0));
    assert_eq!(minutes.get("events_accepted"), Some(&1));
    assert_eq!(minutes.get("rejected_unauthorized"), Some(&2));
    // Nothing more to prune.
    assert_eq!(
        store
            .prune_installation_counts(now - Duration::days(30), now - Duration::hours(1))
            .unwrap(),
        0
    );
});

backend_test!(database_size_and_backend, |db, store| {
    let info = store.database_info().unwrap();
    assert_eq!(info.backend, db.name);
    assert!(info.size_bytes > 0, "{info:?}");
    let p = store
        .create_project("big", &common::event_id(), t0())
        .unwrap();
    let batch: Vec<_> = (0..200).map(|i| event(p.id, &format!("k{i}"), i)).collect();
    store.ingest_batch(&batch, t0()).unwrap();
    let grown = store.database_info().unwrap();
    assert!(grown.size_bytes >= info.size_bytes, "{info:?} → {grown:?}");
});

backend_test!(deliveries_pending_and_failed, |_db, store| {
    assert_eq!(store.delivery_counts().unwrap(), Default::default());
    let p = store
        .create_project("alerts", &common::event_id(), t0())
        .unwrap();
    for _ in 0..2 {
        store
            .create_destination(p.id, "internal_logger", &serde_json::json!({}), t0())
            .unwrap();
    }
    // Two new issues, two alerts, each fanned out to two destinations.
    store
        .ingest_batch(&[event(p.id, "a", 0), event(p.id, "b", 1)], at(1))
        .unwrap();
    let claimed = store.claim_deliveries(at(2), 10, at(60)).unwrap();
    assert_eq!(claimed.len(), 4);
    let counts = store.delivery_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.failed),
        (4, 0),
        "leased ones are pending"
    );
    store
        .complete_delivery(claimed[0].delivery_id, at(3))
        .unwrap();
    store
        .fail_delivery(claimed[1].delivery_id, at(3), "refused", None)
        .unwrap();
    store
        .fail_delivery(claimed[2].delivery_id, at(3), "timeout", Some(at(30)))
        .unwrap();
    let counts = store.delivery_counts().unwrap();
    assert_eq!((counts.pending, counts.failed), (2, 1));
});

//! Issues with several grouping keys: lookup order at ingest, merge and
//! unmerge, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use common::{all_issues, at, backend_test, event, t0};
use periscope_store::{
    ActivityKind, AlertStore, CountBucket, GroupingError, GroupingKey, GroupingStore, IngestStore,
    Issue, IssueFilter, IssueId, IssueStore, NewEvent, ProjectId, ProjectStore, StatusFilter,
    Store, StoreError,
};

fn project(store: &Store, name: &str) -> ProjectId {
    store
        .create_project(name, &common::event_id(), t0())
        .unwrap()
        .id
}

/// An event whose grouping keys are `keys`, in this lookup order.
fn keyed(project: ProjectId, keys: &[&str], secs: i64) -> NewEvent {
    let mut e = event(project, keys[0], secs);
    e.grouping_keys = keys
        .iter()
        .map(|k| GroupingKey::new(*k, "test:1"))
        .collect();
    e
}

fn ingest(store: &Store, events: &[NewEvent], now: DateTime<Utc>) -> Vec<IssueId> {
    store
        .ingest_batch(events, now)
        .unwrap()
        .iter()
        .map(|o| o.issue_id)
        .collect()
}

fn issue(store: &Store, id: IssueId) -> Issue {
    store.get_issue(id).unwrap().unwrap()
}

fn keys_of(store: &Store, id: IssueId) -> Vec<(String, u64)> {
    let mut keys: Vec<(String, u64)> = store
        .issue_keys(id)
        .unwrap()
        .into_iter()
        .map(|k| (k.key, k.event_count))
        .collect();
    keys.sort();
    keys
}

/// What must be equal between two ways of getting the same events into one
/// issue.
#[derive(Debug, PartialEq, Eq)]
struct Counters {
    count: u64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    user_count: u64,
    hours: Vec<CountBucket>,
    tags: Vec<periscope_store::TagDistribution>,
}

fn counters(store: &Store, id: IssueId) -> Counters {
    let i = issue(store, id);
    let hours = store
        .issue_counts(&[id], t0() - Duration::days(30))
        .unwrap()
        .remove(0)
        .1;
    let tags = store.tag_distribution(id, 100).unwrap();
    Counters {
        count: i.count,
        first_seen: i.first_seen,
        last_seen: i.last_seen,
        user_count: i.user_count,
        hours,
        tags,
    }
}

/// Events of one group: spread over hours, with tags, releases and users
/// (user ids from `users`).
fn group(
    project: ProjectId,
    key: &str,
    n: i64,
    offset: i64,
    users: std::ops::Range<i64>,
) -> Vec<NewEvent> {
    let span = users.end - users.start;
    (0..n)
        .map(|k| {
            let secs = offset + k * 977;
            let mut e = keyed(project, &[key], secs);
            e.received_at = at(secs + 5);
            e.tags = vec![
                ("browser".into(), format!("b{}", k % 3)),
                ("os".into(), format!("o{}", (k + offset) % 2)),
            ];
            e.release = Some(format!("1.{}", k % 4));
            e.user = Some(format!("id:{}", users.start + k % span));
            e
        })
        .collect()
}

/// The same events under another key (same ids: use another project).
fn rekeyed(events: &[NewEvent], project: ProjectId, key: &str) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.project_id = project;
            e.grouping_keys = vec![GroupingKey::new(key, "test:1")];
            e
        })
        .collect()
}

/// The refusal of a merge or unmerge.
fn grouping<T>(r: Result<T, StoreError>) -> GroupingError {
    match r {
        Err(StoreError::Grouping(g)) => g,
        other => panic!("{:?}", other.map(|_| ())),
    }
}

fn ingest_chunked(store: &Store, events: &[NewEvent]) -> IssueId {
    let mut id = IssueId(0);
    for chunk in events.chunks(250) {
        id = ingest(store, chunk, at(100_000))[0];
    }
    id
}

backend_test!(keys_are_looked_up_in_the_events_order, |_, store| {
    let p = project(store, "p");
    let a = ingest(store, &[keyed(p, &["A"], 1)], at(1))[0];
    // The first key is new, the second is stored: the event joins A's issue
    // by its second key and attaches the first.
    let out = store
        .ingest_batch(&[keyed(p, &["B", "A"], 2)], at(2))
        .unwrap();
    assert_eq!(out[0].issue_id, a);
    assert!(!out[0].created);
    assert_eq!(keys_of(store, a), vec![("A".into(), 2), ("B".into(), 0)]);
    let b = store
        .issue_keys(a)
        .unwrap()
        .into_iter()
        .find(|k| k.key == "B")
        .unwrap();
    assert_eq!(
        (b.first_seen, b.last_seen, b.config.as_str()),
        (None, None, "test:1")
    );
    // An attached key is counted once events join by it.
    assert_eq!(ingest(store, &[keyed(p, &["B"], 3)], at(3))[0], a);
    assert_eq!(keys_of(store, a), vec![("A".into(), 2), ("B".into(), 1)]);
    let k = store
        .issue_keys(a)
        .unwrap()
        .into_iter()
        .find(|k| k.key == "B")
        .unwrap();
    assert_eq!((k.first_seen, k.last_seen), (Some(at(3)), Some(at(3))));
    assert_eq!(issue(store, a).count, 3);

    // Two keys on two issues: the first in the event's order wins, the other
    // keeps its issue.
    let c = ingest(store, &[keyed(p, &["C"], 4)], at(4))[0];
    assert_ne!(c, a);
    let ids = ingest(
        store,
        &[keyed(p, &["C", "A"], 5), keyed(p, &["A", "C"], 6)],
        at(6),
    );
    assert_eq!(ids, vec![c, a]);
    assert_eq!(keys_of(store, c), vec![("C".into(), 2)]);
    assert_eq!(keys_of(store, a), vec![("A".into(), 3), ("B".into(), 1)]);
    assert_eq!(issue(store, a).count, 4);
    assert_eq!(issue(store, c).count, 2);
    // New keys only: a new issue under the first, the second attached to it.
    let out = store
        .ingest_batch(&[keyed(p, &["D", "E"], 7)], at(7))
        .unwrap();
    assert!(out[0].created);
    assert_eq!(issue(store, out[0].issue_id).grouping_key, "D");
    assert_eq!(
        keys_of(store, out[0].issue_id),
        vec![("D".into(), 1), ("E".into(), 0)]
    );
    assert_eq!(
        ingest(store, &[keyed(p, &["E"], 8)], at(8))[0],
        out[0].issue_id
    );
    // Keys are per project.
    let q = project(store, "q");
    let other = store.ingest_batch(&[keyed(q, &["A"], 9)], at(9)).unwrap();
    assert!(other[0].created);
});

backend_test!(find_issue_follows_the_lookup_order, |_, store| {
    let p = project(store, "p");
    let q = project(store, "q");
    let a = ingest(store, &[keyed(p, &["A"], 1)], at(1))[0];
    let c = ingest(store, &[keyed(p, &["C"], 2)], at(2))[0];
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        store.find_issue(p, &keys(&["X", "C", "A"])).unwrap(),
        Some(c)
    );
    assert_eq!(store.find_issue(p, &keys(&["A", "C"])).unwrap(), Some(a));
    assert_eq!(store.find_issue(p, &keys(&["X"])).unwrap(), None);
    assert_eq!(store.find_issue(p, &[]).unwrap(), None);
    // Keys are per project.
    assert_eq!(store.find_issue(q, &keys(&["A"])).unwrap(), None);
    // After a merge, the merged issue's key finds the target.
    store.merge_issues(p, a, &[c], None, at(3)).unwrap();
    assert_eq!(store.find_issue(p, &keys(&["C"])).unwrap(), Some(a));
});

backend_test!(an_event_without_keys_fails_its_batch, |_, store| {
    let p = project(store, "p");
    let mut bad = keyed(p, &["A"], 1);
    bad.grouping_keys.clear();
    let err = store
        .ingest_batch(&[keyed(p, &["A"], 1), bad], at(1))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert_eq!(err.class(), periscope_store::ErrorClass::Data);
    assert!(all_issues(store, p).is_empty());
});

backend_test!(
    merged_counters_equal_one_issue_of_the_same_events,
    |_, store| {
        let p = project(store, "merged");
        let direct = project(store, "direct");
        // 900 + 700 users, 400 in common: 1200 in all, past the exact bound, so
        // the merged sketch is compared with the one ingest builds.
        let ea = group(p, "A", 1000, 0, 0..900);
        let eb = group(p, "B", 800, 500, 500..1200);
        let a = ingest_chunked(store, &ea);
        let b = ingest_chunked(store, &eb);
        assert_ne!(a, b);
        let one = ingest_chunked(store, &rekeyed(&ea, direct, "A"));
        assert_eq!(ingest_chunked(store, &rekeyed(&eb, direct, "A")), one);

        let out = store
            .merge_issues(p, a, &[b], Some("ann@example.com"), at(200_000))
            .unwrap();
        assert_eq!(out.merged, vec![b]);
        assert_eq!(out.moved_keys, 1);
        assert_eq!(out.moved_events, 800);
        assert_eq!(out.target.id, a);
        assert_eq!(counters(store, a), counters(store, one));
        assert_eq!(issue(store, a).user_count, issue(store, one).user_count);
        assert!(issue(store, a).user_count > 1000);
        assert_eq!(
            keys_of(store, a),
            vec![("A".into(), 1000), ("B".into(), 800)]
        );
        assert_eq!(issue(store, a).first_release.as_deref(), Some("1.0"));
        assert_eq!(issue(store, a).last_release.as_deref(), Some("1.3"));
        // Nothing was evicted or added: the project's stored events are as they were.
        assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 1800);

        // The source is a tombstone that redirects.
        let tomb = issue(store, b);
        assert_eq!(tomb.merged_into, Some(a));
        assert_eq!(tomb.grouping_key, format!("merged:{b}"));
        assert_eq!(store.resolve_issue(b).unwrap().unwrap().id, a);
        assert_eq!(store.resolve_issue(a).unwrap().unwrap().id, a);
        assert!(store.issue_keys(b).unwrap().is_empty());
        let listed: Vec<IssueId> = all_issues(store, p).iter().map(|i| i.id).collect();
        assert_eq!(listed, vec![a]);
        let searched = store
            .list_issues(
                p,
                &IssueFilter {
                    status: StatusFilter::Unresolved,
                    query: "boom".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(searched.items.len(), 1);
        let unresolved = store.unresolved_counts().unwrap();
        assert!(unresolved.contains(&(p, 1)), "{unresolved:?}");
        // History moved along: both new-issue alerts, and one merge entry.
        assert_eq!(store.issue_alerts(a, 10).unwrap().len(), 2);
        assert!(store.issue_alerts(b, 10).unwrap().is_empty());
        let activity = store.list_activity(a, 10).unwrap();
        assert_eq!(activity[0].kind, ActivityKind::Merged);
        assert_eq!(
            activity[0].detail.as_deref(),
            Some(format!("#{b}").as_str())
        );
        assert_eq!(activity[0].actor.as_deref(), Some("ann@example.com"));
        // Events of B's key now join A; the events moved.
        assert_eq!(ingest(store, &[keyed(p, &["B"], 10)], at(200_001))[0], a);
        assert_eq!(issue(store, a).count, 1801);
        let page = store.list_events(a, None, 1000, None).unwrap();
        assert!(page.items.iter().all(|e| e.issue_id == a));
    }
);

backend_test!(merged_small_issues_count_users_exactly, |_, store| {
    let p = project(store, "p");
    let a = ingest_chunked(store, &group(p, "A", 30, 0, 0..20));
    let b = ingest_chunked(store, &group(p, "B", 30, 100, 10..40));
    let c = ingest_chunked(store, &group(p, "C", 5, 200, 100..105));
    let out = store
        .merge_issues(p, a, &[c, b, b], None, at(200_000))
        .unwrap();
    assert_eq!(out.merged, vec![b, c]);
    assert_eq!(issue(store, a).user_count, 45);
    assert_eq!(issue(store, a).count, 65);
    // A tombstone of a merged issue follows the next merge in one hop.
    let d = ingest_chunked(store, &group(p, "D", 3, 300, 0..1));
    store.merge_issues(p, d, &[a], None, at(200_001)).unwrap();
    assert_eq!(issue(store, b).merged_into, Some(d));
    assert_eq!(store.resolve_issue(c).unwrap().unwrap().id, d);
    assert_eq!(issue(store, d).user_count, 45);
});

backend_test!(unmerge_restores_the_original_counters, |_, store| {
    let p = project(store, "p");
    let a = ingest_chunked(store, &group(p, "A", 120, 0, 0..50));
    let b = ingest_chunked(store, &group(p, "B", 90, 3000, 30..90));
    let (before_a, before_b) = (counters(store, a), counters(store, b));
    store.merge_issues(p, a, &[b], None, at(200_000)).unwrap();

    let u = store
        .unmerge_issue(p, a, &["B".to_owned()], Some("bob"), at(200_001))
        .unwrap();
    assert_ne!(u, a);
    assert_ne!(u, b);
    assert_eq!(counters(store, a), before_a);
    assert_eq!(counters(store, u), before_b);
    assert_eq!(keys_of(store, a), vec![("A".into(), 120)]);
    assert_eq!(keys_of(store, u), vec![("B".into(), 90)]);
    let new = issue(store, u);
    assert_eq!(new.grouping_key, "B");
    assert_eq!(new.status, periscope_store::IssueStatus::Unresolved);
    assert_eq!(new.title, "Error: boom in B");
    assert!(new.merged_into.is_none());
    assert_eq!(
        store.list_events(u, None, 1000, None).unwrap().items.len(),
        90
    );
    assert_eq!(
        store.list_activity(u, 1).unwrap()[0].kind,
        ActivityKind::Unmerged
    );
    assert_eq!(
        store.list_activity(a, 1).unwrap()[0].kind,
        ActivityKind::Unmerged
    );
    // New events of the key go to the new issue.
    assert_eq!(ingest(store, &[keyed(p, &["B"], 5)], at(200_002))[0], u);

    // Unmerging the issue's own key: the issue is re-keyed to a remaining
    // key, the new issue takes the own key.
    let c = ingest_chunked(store, &group(p, "C", 40, 9000, 200..230));
    let before_c = counters(store, c);
    let before_u = counters(store, u);
    store.merge_issues(p, c, &[u], None, at(200_003)).unwrap();
    let v = store
        .unmerge_issue(p, c, &["C".to_owned()], None, at(200_004))
        .unwrap();
    assert_eq!(issue(store, c).grouping_key, "B");
    assert_eq!(issue(store, v).grouping_key, "C");
    assert_eq!(counters(store, v), before_c);
    assert_eq!(counters(store, c), before_u);
    assert_eq!(ingest(store, &[keyed(p, &["C"], 6)], at(200_005))[0], v);
    assert_eq!(ingest(store, &[keyed(p, &["B"], 7)], at(200_005))[0], c);
});

backend_test!(merge_and_unmerge_refuse_what_cannot_be_done, |_, store| {
    let p = project(store, "p");
    let q = project(store, "q");
    let a = ingest(store, &[keyed(p, &["A"], 1)], at(1))[0];
    let b = ingest(store, &[keyed(p, &["B"], 2)], at(2))[0];
    let other = ingest(store, &[keyed(q, &["A"], 3)], at(3))[0];
    assert_eq!(
        grouping(store.merge_issues(p, a, &[other], None, at(4))),
        GroupingError::OtherProject {
            issue: other,
            actual: q,
            expected: p
        }
    );
    assert_eq!(
        grouping(store.merge_issues(p, a, &[a], None, at(4))),
        GroupingError::SelfMerge(a)
    );
    assert_eq!(
        grouping(store.merge_issues(p, a, &[], None, at(4))),
        GroupingError::NoSources
    );
    assert_eq!(
        grouping(store.merge_issues(p, a, &[IssueId(999_999)], None, at(4))),
        GroupingError::UnknownIssue(IssueId(999_999))
    );
    // Nothing was written by the refusals.
    assert_eq!(all_issues(store, p).len(), 2);
    assert_eq!(keys_of(store, a), vec![("A".into(), 1)]);

    assert_eq!(
        grouping(store.unmerge_issue(p, a, &["Z".to_owned()], None, at(4))),
        GroupingError::UnknownKey {
            issue: a,
            key: "Z".into()
        }
    );
    assert_eq!(
        grouping(store.unmerge_issue(p, a, &["A".to_owned()], None, at(4))),
        GroupingError::AllKeys(a)
    );
    assert_eq!(
        grouping(store.unmerge_issue(p, a, &[], None, at(4))),
        GroupingError::NoKeys
    );
    assert_eq!(
        grouping(store.unmerge_issue(q, a, &["A".to_owned()], None, at(4))),
        GroupingError::OtherProject {
            issue: a,
            actual: p,
            expected: q
        }
    );
    store.merge_issues(p, a, &[b], None, at(5)).unwrap();
    // Tombstones: neither target nor source nor unmerged.
    let tomb = GroupingError::Tombstone { issue: b, into: a };
    assert_eq!(grouping(store.merge_issues(p, b, &[a], None, at(6))), tomb);
    assert_eq!(grouping(store.merge_issues(p, a, &[b], None, at(6))), tomb);
    assert_eq!(
        grouping(store.unmerge_issue(p, b, &["B".to_owned()], None, at(6))),
        tomb
    );
    // A key of another issue is unknown to this one.
    let c = ingest(store, &[keyed(p, &["C"], 7)], at(7))[0];
    assert_eq!(
        grouping(store.unmerge_issue(p, c, &["A".to_owned()], None, at(8))),
        GroupingError::UnknownKey {
            issue: c,
            key: "A".into()
        }
    );
    assert_eq!(
        StoreError::from(GroupingError::NoKeys).class(),
        periscope_store::ErrorClass::Data
    );
});

backend_test!(duplicates_across_a_merge_stay_duplicates, |_, store| {
    let p = project(store, "p");
    let e1 = keyed(p, &["A"], 1);
    let e2 = keyed(p, &["B"], 2);
    let a = ingest(store, std::slice::from_ref(&e1), at(1))[0];
    let b = ingest(store, std::slice::from_ref(&e2), at(2))[0];
    store.merge_issues(p, a, &[b], None, at(3)).unwrap();
    let out = store
        .ingest_batch(&[e2.clone(), e1.clone()], at(4))
        .unwrap();
    assert!(out.iter().all(|o| o.duplicate));
    assert_eq!(out[0].issue_id, a);
    assert_eq!(issue(store, a).count, 2);
    assert_eq!(keys_of(store, a), vec![("A".into(), 1), ("B".into(), 1)]);
    // A duplicate sent with other keys attaches none of them.
    let mut again = e2.clone();
    again
        .grouping_keys
        .insert(0, GroupingKey::new("N", "test:2"));
    let out = store.ingest_batch(&[again], at(5)).unwrap();
    assert!(out[0].duplicate);
    assert_eq!(keys_of(store, a), vec![("A".into(), 1), ("B".into(), 1)]);
    assert_eq!(issue(store, a).count, 2);
    // And a duplicate inside a batch counts once.
    let e3 = keyed(p, &["B", "A"], 6);
    let out = store.ingest_batch(&[e3.clone(), e3], at(6)).unwrap();
    assert!(!out[0].duplicate && out[1].duplicate);
    assert_eq!(keys_of(store, a), vec![("A".into(), 1), ("B".into(), 2)]);
    assert_eq!(issue(store, a).count, 3);
});

/// Two writers (two `Store`s: two replicas) ingest events of two issues'
/// keys while a third merges and unmerges them: no event is lost or counted
/// twice, every event's issue is the final target or redirects to it, the
/// issue's count is the sum of its keys' counts, and no error surfaces.
fn concurrent_merges_lose_nothing(db: &common::TestDb, store: &Store) {
    let p = project(store, "p");
    let x = ingest(store, &[keyed(p, &["x"], 0)], at(0))[0];
    let y = ingest(store, &[keyed(p, &["y"], 0)], at(0))[0];
    let done = std::sync::atomic::AtomicBool::new(false);
    let sent: Vec<Vec<String>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let store = db.open();
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for round in 0..40i64 {
                        let batch: Vec<NewEvent> = (0..16i64)
                            .map(|k| {
                                let n = round * 16 + k;
                                let fresh = format!("z{w}-{n}");
                                let keys: Vec<&str> = match n % 4 {
                                    0 => vec!["x"],
                                    1 => vec!["y"],
                                    2 => vec![fresh.as_str(), "y"],
                                    _ => vec![fresh.as_str(), "x", "y"],
                                };
                                keyed(p, &keys, n)
                            })
                            .collect();
                        let out = store.ingest_batch(&batch, at(1000 + round)).unwrap();
                        assert!(out.iter().all(|o| !o.duplicate));
                        ids.extend(batch.into_iter().map(|e| e.event_id));
                    }
                    ids
                })
            })
            .collect();
        let merger = db.open();
        let done = &done;
        s.spawn(move || {
            let mut source = y;
            let mut merges = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || merges < 4 {
                merger
                    .merge_issues(p, x, &[source], None, at(5000))
                    .unwrap();
                merges += 1;
                std::thread::sleep(std::time::Duration::from_millis(3));
                source = merger
                    .unmerge_issue(p, x, &["y".to_owned()], None, at(5001))
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            merger
                .merge_issues(p, x, &[source], None, at(5002))
                .unwrap();
        });
        let sent = writers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sent
    });
    let sent: BTreeSet<String> = sent.into_iter().flatten().collect();
    assert_eq!(sent.len(), 2 * 40 * 16);
    let live = all_issues(store, p);
    assert_eq!(live.len(), 1, "{live:?}");
    let target = &live[0];
    assert_eq!(target.id, x);
    // The two first events, and every event sent.
    assert_eq!(target.count, sent.len() as u64 + 2);
    let key_sum: u64 = store
        .issue_keys(x)
        .unwrap()
        .iter()
        .map(|k| k.event_count)
        .sum();
    assert_eq!(key_sum, target.count);
    for id in &sent {
        let e = store.get_event(p, id).unwrap().unwrap();
        let owner = store.resolve_issue(e.summary.issue_id).unwrap().unwrap();
        assert_eq!(owner.id, x, "event {id}");
    }
    let mut stored = 0;
    let mut cursor = None;
    loop {
        let page = store.list_events(x, cursor.as_deref(), 1000, None).unwrap();
        stored += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(stored as u64, target.count);
    let hours: u64 = store.issue_counts(&[x], t0() - Duration::days(1)).unwrap()[0]
        .1
        .iter()
        .map(|b| b.count)
        .sum();
    assert_eq!(hours, target.count);
}

backend_test!(concurrent_ingest_and_merges_lose_nothing, |db, store| {
    concurrent_merges_lose_nothing(db, store);
});

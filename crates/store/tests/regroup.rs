//! Regrouping stored events (`periscope regroup`): the cursor over a
//! project's stored events and `regroup_batch`, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{all_issues, at, backend_test, event, t0};
use periscope_store::{
    ActivityKind, AlertStore, CountBucket, GroupingKey, GroupingStore, IngestStore, Issue, IssueId,
    IssueStore, NewEvent, ProjectId, ProjectSettings, ProjectStore, ProjectUpdate, RegroupOutcome,
    Store, StoreError, TagDistribution,
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
    e.grouping_keys = keys.iter().map(|k| GroupingKey::new(*k, "old:1")).collect();
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

fn ingest_chunked(store: &Store, events: &[NewEvent]) -> IssueId {
    let mut id = IssueId(0);
    for chunk in events.chunks(250) {
        id = ingest(store, chunk, at(100_000))[0];
    }
    id
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

/// What must be equal between a regrouped issue and one ingested fresh
/// with the same events.
#[derive(Debug, PartialEq, Eq)]
struct Counters {
    count: u64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    user_count: u64,
    hours: Vec<CountBucket>,
    tags: Vec<TagDistribution>,
}

fn counters(store: &Store, id: IssueId) -> Counters {
    let i = issue(store, id);
    let hours = store
        .issue_counts(&[id], t0() - Duration::days(30))
        .unwrap()
        .remove(0)
        .1;
    Counters {
        count: i.count,
        first_seen: i.first_seen,
        last_seen: i.last_seen,
        user_count: i.user_count,
        hours,
        tags: store.tag_distribution(id, 100).unwrap(),
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
                ("shard".into(), format!("s{}", k % 7)),
            ];
            e.release = Some(format!("1.{}", k % 4));
            e.user = Some(format!("id:{}", users.start + k % span));
            e
        })
        .collect()
}

/// The same events in another project (same ids: they are per project),
/// grouped under `key`.
fn rekeyed(events: &[&NewEvent], project: ProjectId, key: &str) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| {
            let mut e = (*e).clone();
            e.project_id = project;
            e.grouping_keys = vec![GroupingKey::new(key, "old:1")];
            e
        })
        .collect()
}

/// A regroup batch: each event with new keys (configuration `new:1`).
fn batch(
    events: &[&NewEvent],
    keys: impl Fn(usize) -> Vec<&'static str>,
) -> Vec<(String, Vec<GroupingKey>)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                e.event_id.clone(),
                keys(i)
                    .into_iter()
                    .map(|k| GroupingKey::new(k, "new:1"))
                    .collect(),
            )
        })
        .collect()
}

fn regroup(store: &Store, p: ProjectId, b: &[(String, Vec<GroupingKey>)]) -> RegroupOutcome {
    store.regroup_batch(p, b, Some("cli"), at(200_000)).unwrap()
}

backend_test!(splitting_an_issue_equals_ingesting_fresh, |_, store| {
    let p = project(store, "p");
    let direct = project(store, "direct");
    let events = group(p, "A", 90, 0, 0..40);
    let a = ingest_chunked(store, &events);
    let all: Vec<&NewEvent> = events.iter().collect();
    // Every third event goes to a new key B, the others stay on A.
    let to_b: Vec<&NewEvent> = all.iter().step_by(3).copied().collect();
    let stay: Vec<&NewEvent> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, e)| *e)
        .collect();
    let fresh_b = ingest_chunked(store, &rekeyed(&to_b, direct, "B"));
    let fresh_a = ingest_chunked(store, &rekeyed(&stay, direct, "A"));

    // In two batches, as the cursor would hand them over.
    let b = batch(&all, |i| if i % 3 == 0 { vec!["B"] } else { vec!["A"] });
    let first = regroup(store, p, &b[..50]);
    let second = regroup(store, p, &b[50..]);
    assert_eq!(first.events_seen + second.events_seen, 90);
    assert_eq!(first.events_moved + second.events_moved, 30);
    assert_eq!(first.issues_created.len(), 1);
    assert!(second.issues_created.is_empty());
    assert!(first.issues_emptied.is_empty() && second.issues_emptied.is_empty());
    let new = first.issues_created[0];
    assert_eq!(first.keys_attached, 1);

    assert_eq!(counters(store, new), counters(store, fresh_b));
    assert_eq!(counters(store, a), counters(store, fresh_a));
    assert!(issue(store, new).user_count > 0);
    assert_eq!(keys_of(store, a), vec![("A".into(), 60)]);
    assert_eq!(keys_of(store, new), vec![("B".into(), 30)]);
    let n = issue(store, new);
    assert_eq!(n.status, periscope_store::IssueStatus::Unresolved);
    assert_eq!(n.grouping_key, "B");
    assert_eq!(n.title, "Error: boom in A");
    assert_eq!(n.first_release.as_deref(), Some("1.0"));
    assert_eq!(n.last_release.as_deref(), Some("1.3"));
    // No new-issue alert for history.
    assert!(store.issue_alerts(new, 10).unwrap().is_empty());
    assert_eq!(store.issue_alerts(a, 10).unwrap().len(), 1);
    // One activity entry per issue per batch.
    let act = store.list_activity(new, 10).unwrap();
    assert_eq!(act.len(), 2);
    assert!(act.iter().all(|x| x.kind == ActivityKind::Regrouped));
    assert_eq!(
        act[1].detail.as_deref(),
        Some(format!("created; +17 from #{a}").as_str())
    );
    assert_eq!(act[1].actor.as_deref(), Some("cli"));
    let act = store.list_activity(a, 10).unwrap();
    assert_eq!(
        act[0].detail.as_deref(),
        Some(format!("-13 to #{new}").as_str())
    );
    // The events moved, each with its new join key.
    let page = store.list_events(new, None, 1000, None).unwrap();
    assert_eq!(page.items.len(), 30);
    // The project's stored events and hourly counts are unchanged.
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 90);
    // A later event of the same shape joins the regrouped issue.
    assert_eq!(ingest(store, &[keyed(p, &["B"], 7)], at(200_001))[0], new);
    assert_eq!(ingest(store, &[keyed(p, &["A"], 7)], at(200_001))[0], a);
});

backend_test!(splitting_over_two_new_keys_empties_the_issue, |_, store| {
    let p = project(store, "p");
    let direct = project(store, "direct");
    let events = group(p, "A", 40, 0, 0..25);
    let a = ingest_chunked(store, &events);
    let all: Vec<&NewEvent> = events.iter().collect();
    // 25 to X, 15 to Y: A is emptied and merged into X, which got most.
    let b = batch(&all, |i| if i % 8 < 5 { vec!["X"] } else { vec!["Y"] });
    let out = regroup(store, p, &b);
    assert_eq!(out.events_seen, 40);
    assert_eq!(out.events_moved, 40);
    assert_eq!(out.issues_created.len(), 2);
    let (x, y) = (out.issues_created[0], out.issues_created[1]);
    assert_eq!(out.issues_emptied, vec![a]);
    assert_eq!(out.merged_into, vec![(a, x)]);
    let xs: Vec<&NewEvent> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 8 < 5)
        .map(|(_, e)| *e)
        .collect();
    let ys: Vec<&NewEvent> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 8 >= 5)
        .map(|(_, e)| *e)
        .collect();
    assert_eq!(
        counters(store, x),
        counters(store, ingest_chunked(store, &rekeyed(&xs, direct, "X")))
    );
    assert_eq!(
        counters(store, y),
        counters(store, ingest_chunked(store, &rekeyed(&ys, direct, "Y")))
    );
    // The tombstone redirects; its key went with it, its history too.
    let tomb = issue(store, a);
    assert_eq!(tomb.merged_into, Some(x));
    assert_eq!(tomb.grouping_key, format!("merged:{a}"));
    assert_eq!(store.resolve_issue(a).unwrap().unwrap().id, x);
    let listed: Vec<IssueId> = all_issues(store, p).iter().map(|i| i.id).collect();
    assert_eq!(listed.len(), 2);
    assert!(!listed.contains(&a));
    assert_eq!(keys_of(store, x), vec![("A".into(), 0), ("X".into(), 25)]);
    assert_eq!(store.issue_alerts(x, 10).unwrap().len(), 1);
    let act = store.list_activity(x, 10).unwrap();
    assert!(
        act.iter().any(|e| e.detail.as_deref()
            == Some(format!("-40 to #{x}, #{y}; merged into #{x}").as_str()))
    );
    // An old-configuration event joins where its issue went.
    assert_eq!(ingest(store, &[keyed(p, &["A"], 3)], at(200_001))[0], x);
    assert_eq!(issue(store, x).count, 26);
});

backend_test!(two_issues_with_one_new_key_become_one, |_, store| {
    let p = project(store, "p");
    let direct = project(store, "direct");
    let ea = group(p, "A", 50, 0, 0..30);
    let eb = group(p, "B", 30, 400, 20..45);
    let a = ingest_chunked(store, &ea);
    let b = ingest_chunked(store, &eb);
    let all: Vec<&NewEvent> = ea.iter().chain(&eb).collect();
    let fresh = ingest_chunked(store, &rekeyed(&all, direct, "A"));
    // The new configuration computes A's key for both.
    let out = regroup(store, p, &batch(&all, |_| vec!["A"]));
    assert_eq!(out.events_seen, 80);
    assert_eq!(out.events_moved, 30);
    assert!(out.issues_created.is_empty());
    assert_eq!(out.issues_emptied, vec![b]);
    assert_eq!(out.merged_into, vec![(b, a)]);
    assert_eq!(out.keys_attached, 0);
    assert_eq!(counters(store, a), counters(store, fresh));
    assert_eq!(issue(store, a).user_count, 45);
    assert_eq!(keys_of(store, a), vec![("A".into(), 80), ("B".into(), 0)]);
    assert_eq!(issue(store, b).merged_into, Some(a));
    assert_eq!(all_issues(store, p).len(), 1);
    // Both new-issue alerts are on the survivor.
    assert_eq!(store.issue_alerts(a, 10).unwrap().len(), 2);
    assert_eq!(ingest(store, &[keyed(p, &["B"], 9)], at(200_001))[0], a);
});

backend_test!(new_keys_are_attached_and_later_events_follow, |_, store| {
    let p = project(store, "p");
    let events = group(p, "A", 12, 0, 0..5);
    let a = ingest_chunked(store, &events);
    let all: Vec<&NewEvent> = events.iter().collect();
    // The new configuration's key first, the old one second (a
    // transition): the old key decides, the new one is attached and
    // becomes the events' join key.
    let out = regroup(store, p, &batch(&all, |_| vec!["N", "A"]));
    assert_eq!(out.events_moved, 0);
    assert_eq!(out.keys_attached, 1);
    assert!(out.issues_created.is_empty());
    assert_eq!(keys_of(store, a), vec![("A".into(), 0), ("N".into(), 12)]);
    assert_eq!(issue(store, a).count, 12);
    let n = store
        .issue_keys(a)
        .unwrap()
        .into_iter()
        .find(|k| k.key == "N")
        .unwrap();
    assert_eq!(n.config, "new:1");
    assert_eq!(
        (n.first_seen, n.last_seen),
        (Some(at(0)), Some(at(11 * 977)))
    );
    // No activity: nothing moved between issues.
    assert!(store.list_activity(a, 10).unwrap().is_empty());
    // Events computing only the new key join the issue.
    let mut later = keyed(p, &["N"], 5);
    later.grouping_keys[0].config = "new:1".into();
    let out = store.ingest_batch(&[later], at(200_001)).unwrap();
    assert_eq!(out[0].issue_id, a);
    assert!(!out[0].created);
});

backend_test!(the_same_batch_twice_changes_nothing, |_, store| {
    let p = project(store, "p");
    let ea = group(p, "A", 30, 0, 0..10);
    let eb = group(p, "B", 20, 300, 5..25);
    let a = ingest_chunked(store, &ea);
    let b = ingest_chunked(store, &eb);
    let all: Vec<&NewEvent> = ea.iter().chain(&eb).collect();
    // A mix: some A events to a new key (with A second), B's to A's key,
    // some B events to "C" first then "A".
    let keys = |i: usize| match i % 5 {
        0 => vec!["Z", "Q"],
        1 => vec!["A"],
        2 => vec!["C", "A"],
        3 => vec!["B"],
        _ => vec!["Q", "B"],
    };
    let b1 = batch(&all, keys);
    let first = regroup(store, p, &b1);
    assert!(first.events_moved > 0);
    let snapshot = |store: &Store| {
        let issues = all_issues(store, p);
        let mut out = Vec::new();
        for i in &issues {
            out.push((
                i.id,
                counters(store, i.id),
                keys_of(store, i.id),
                store.list_activity(i.id, 100).unwrap().len(),
                i.first_release.clone(),
                i.last_release.clone(),
            ));
        }
        out
    };
    let before = snapshot(store);
    let second = regroup(store, p, &b1);
    assert_eq!(second.events_seen, 50);
    assert_eq!(second.events_moved, 0);
    assert_eq!(second.keys_attached, 0);
    assert!(second.issues_created.is_empty() && second.issues_emptied.is_empty());
    assert_eq!(snapshot(store), before);
    // The sums hold: each issue's count is its keys'.
    for i in all_issues(store, p) {
        let sum: u64 = store
            .issue_keys(i.id)
            .unwrap()
            .iter()
            .map(|k| k.event_count)
            .sum();
        assert_eq!(sum, i.count, "issue {}", i.id);
    }
    let _ = (a, b);
});

backend_test!(events_no_longer_stored_are_skipped, |_, store| {
    let p = project(store, "p");
    store
        .update_project(
            p,
            &ProjectUpdate {
                name: None,
                settings: Some(ProjectSettings {
                    max_events: Some(3),
                    ..Default::default()
                }),
            },
        )
        .unwrap();
    // One event per batch: the cap evicts the oldest ordinary events.
    let events: Vec<NewEvent> = (0..5)
        .map(|k| {
            let mut e = keyed(p, &["A"], k * 10);
            e.user = Some(format!("id:{k}"));
            e
        })
        .collect();
    let mut a = IssueId(0);
    for e in &events {
        a = ingest(store, std::slice::from_ref(e), at(1000))[0];
    }
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 3);
    let all: Vec<&NewEvent> = events.iter().collect();
    let mut b = batch(&all, |_| vec!["B"]);
    b.push((
        "0000000000000000ffffffffffffffff".into(),
        vec![GroupingKey::new("B", "new:1")],
    ));
    let out = regroup(store, p, &b);
    assert_eq!(out.events_seen, 3);
    assert_eq!(out.events_moved, 3);
    // A keeps the count of its two evicted events: it stays, listed.
    assert_eq!(out.issues_emptied, vec![a]);
    assert!(out.merged_into.is_empty());
    let new = out.issues_created[0];
    assert_eq!(issue(store, new).count, 3);
    assert_eq!(issue(store, new).user_count, 3);
    let left = issue(store, a);
    assert_eq!(left.count, 2);
    assert!(left.merged_into.is_none());
    assert_eq!(all_issues(store, p).len(), 2);
    // An empty key list is refused, and nothing was written.
    let err = store
        .regroup_batch(
            p,
            &[(events[0].event_id.clone(), vec![])],
            None,
            at(200_001),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    let err = store
        .regroup_batch(ProjectId(999_999), &b, None, at(200_001))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
});

backend_test!(the_cursor_pages_through_stored_events, |_, store| {
    let p = project(store, "p");
    let q = project(store, "q");
    let mut sent = Vec::new();
    for k in 0..25 {
        let key = if k % 2 == 0 { "A" } else { "B" };
        let e = keyed(p, &[key], k);
        ingest(store, std::slice::from_ref(&e), at(100));
        ingest(store, &[keyed(q, &["A"], k)], at(100));
        sent.push(e);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.stored_events_after(p, cursor, 10).unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 10);
        cursor = page.last().map(|e| e.row_id);
        seen.extend(page);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0].row_id < w[1].row_id));
    for (got, e) in seen.iter().zip(&sent) {
        assert_eq!(got.event_id, e.event_id);
        assert_eq!(got.payload, e.payload);
        assert_eq!(
            got.grouping_key.as_deref(),
            Some(e.grouping_keys[0].key.as_str())
        );
        let stored = store.get_event(p, &e.event_id).unwrap().unwrap();
        assert_eq!(got.issue_id, stored.summary.issue_id);
    }
    // The limit is clamped: 0 reads one.
    assert_eq!(store.stored_events_after(p, None, 0).unwrap().len(), 1);
    assert!(
        store
            .stored_events_after(p, cursor, 1000)
            .unwrap()
            .is_empty()
    );
});

/// Two writers (two `Store`s: two replicas) ingest events of key `x` while a
/// third regroups the stored events again and again under a new key each
/// round (a new issue each time, the emptied one merged into it): nothing
/// is lost or counted twice, no error surfaces (deadlocks would), and every
/// issue's count is its keys' and its hourly counts'.
fn concurrent_regroups_lose_nothing(db: &common::TestDb, store: &Store) {
    let p = project(store, "p");
    ingest(store, &[keyed(p, &["x"], 0)], at(0));
    let done = std::sync::atomic::AtomicBool::new(false);
    let sent: usize = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let store = db.open();
                s.spawn(move || {
                    let mut n = 0;
                    for round in 0..30i64 {
                        let batch: Vec<NewEvent> =
                            (0..8i64).map(|k| keyed(p, &["x"], round * 8 + k)).collect();
                        let out = store.ingest_batch(&batch, at(1000 + round)).unwrap();
                        assert!(out.iter().all(|o| !o.duplicate));
                        n += batch.len();
                    }
                    n
                })
            })
            .collect();
        let regrouper = db.open();
        let done = &done;
        s.spawn(move || {
            let keys = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
            let mut round = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || round < 3 {
                let key = keys[round % keys.len()];
                let mut cursor = None;
                loop {
                    let page = regrouper.stored_events_after(p, cursor, 40).unwrap();
                    let Some(last) = page.last() else { break };
                    cursor = Some(last.row_id);
                    let b: Vec<(String, Vec<GroupingKey>)> = page
                        .iter()
                        .map(|e| (e.event_id.clone(), vec![GroupingKey::new(key, "new:1")]))
                        .collect();
                    regrouper.regroup_batch(p, &b, None, at(5000)).unwrap();
                }
                round += 1;
            }
        });
        let sent = writers.into_iter().map(|h| h.join().unwrap()).sum();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sent
    });
    let live = all_issues(store, p);
    let total: u64 = live.iter().map(|i| i.count).sum();
    assert_eq!(total, sent as u64 + 1);
    for i in &live {
        let keys: u64 = store
            .issue_keys(i.id)
            .unwrap()
            .iter()
            .map(|k| k.event_count)
            .sum();
        assert_eq!(keys, i.count, "keys of issue {}", i.id);
        let hours: u64 = store
            .issue_counts(&[i.id], t0() - Duration::days(1))
            .unwrap()[0]
            .1
            .iter()
            .map(|b| b.count)
            .sum();
        assert_eq!(hours, i.count, "hours of issue {}", i.id);
        let stored = store
            .list_events(i.id, None, 1000, None)
            .unwrap()
            .items
            .len();
        assert_eq!(stored as u64, i.count, "events of issue {}", i.id);
    }
}

backend_test!(concurrent_ingest_and_regroups_lose_nothing, |db, store| {
    concurrent_regroups_lose_nothing(db, store);
});

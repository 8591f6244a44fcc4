//! What the web UI reads: users and sessions, the activity log, hourly counts,
//! tag distributions, distinct users, event positions and event search, and
//! the retention of the counts. SQLite always, PostgreSQL when
//! `PERISCOPE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Utc};
use common::{at, backend_test, event, t0, with_release};
use periscope_store::{
    ActivityKind, CountBucket, ErrorClass, IngestStore, IssueAction, IssueStore, NewEvent,
    ProjectSettings, ProjectStore, ProjectUpdate, RetentionLimits, Role, Store, StoreError,
    UserStore,
};
use periscope_store::{IssueId, UserId};

const HOUR: i64 = 3600;

/// An activity entry as compared: kind, actor, detail, time.
type Entry<'a> = (
    ActivityKind,
    Option<&'a str>,
    Option<&'a str>,
    DateTime<Utc>,
);
/// A tag distribution as compared: key, total, values, other.
type Dist<'a> = (&'a str, u64, Vec<(&'a str, u64)>, u64);
const DAY: i64 = 86_400;

fn project(store: &Store, name: &str) -> periscope_store::ProjectId {
    store
        .create_project(name, &common::event_id(), t0())
        .unwrap()
        .id
}

/// Ingests the events in one batch committed at `now`; returns their issue
/// ids.
fn ingest(store: &Store, events: &[NewEvent], now: DateTime<Utc>) -> Vec<periscope_store::IssueId> {
    store
        .ingest_batch(events, now)
        .unwrap()
        .iter()
        .map(|o| o.issue_id)
        .collect()
}

fn received(mut e: NewEvent, t: DateTime<Utc>) -> NewEvent {
    e.received_at = t;
    e
}

fn tagged(mut e: NewEvent, tags: &[(&str, &str)]) -> NewEvent {
    e.tags = tags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    e
}

fn by_user(mut e: NewEvent, user: &str) -> NewEvent {
    e.user = Some(user.to_owned());
    e
}

fn bucket(secs: i64, count: u64) -> CountBucket {
    CountBucket {
        start: at(secs),
        count,
    }
}

// ---------------------------------------------------------------- users

backend_test!(users_crud_with_case_insensitive_emails, |_db, store| {
    assert_eq!(store.count_users().unwrap(), 0);
    let ann = store
        .create_user("Ann@Example.COM", "hash-a", &Role::Admin, at(1))
        .unwrap();
    assert_eq!(ann.email, "ann@example.com");
    assert_eq!(ann.role, Role::Admin);
    assert_eq!(ann.password_hash, "hash-a");
    assert_eq!(ann.created_at, at(1));
    assert_eq!(ann.password_changed_at, at(1));
    // The hash stays out of Debug and JSON.
    assert!(!format!("{ann:?}").contains("hash-a"));
    assert!(!serde_json::to_string(&ann).unwrap().contains("hash-a"));

    // The same email in another case is a conflict (a data error).
    let err = store
        .create_user("ann@EXAMPLE.com", "hash-x", &Role::Member, at(2))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Data);
    assert!(err.to_string().contains("ann@example.com"), "{err}");

    let bob = store
        .create_user("bob@example.com", "hash-b", &Role::Member, at(3))
        .unwrap();
    assert_eq!(store.count_users().unwrap(), 2);
    let all = store.list_users().unwrap();
    assert_eq!(
        all.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ann.id, bob.id]
    );
    assert_eq!(store.get_user(bob.id).unwrap().unwrap(), bob);
    assert_eq!(store.get_user(UserId(999_999)).unwrap(), None);
    assert_eq!(
        store.user_by_email("BOB@example.com").unwrap().unwrap().id,
        bob.id
    );
    assert_eq!(store.user_by_email("carol@example.com").unwrap(), None);

    // Roles, including one written by a newer version.
    assert!(store.set_role(bob.id, &Role::Admin).unwrap());
    assert_eq!(store.get_user(bob.id).unwrap().unwrap().role, Role::Admin);
    let auditor = Role::Unknown("auditor".into());
    assert!(store.set_role(bob.id, &auditor).unwrap());
    assert_eq!(store.get_user(bob.id).unwrap().unwrap().role, auditor);
    assert!(!store.set_role(UserId(999_999), &Role::Member).unwrap());

    assert!(store.set_password(bob.id, "hash-b2", None, at(9)).unwrap());
    let bob2 = store.get_user(bob.id).unwrap().unwrap();
    assert_eq!(bob2.password_hash, "hash-b2");
    assert_eq!(bob2.password_changed_at, at(9));
    assert!(
        !store
            .set_password(UserId(999_999), "h", None, at(9))
            .unwrap()
    );

    assert!(store.delete_user(bob.id).unwrap());
    assert!(!store.delete_user(bob.id).unwrap());
    assert_eq!(store.count_users().unwrap(), 1);
    // The email is free again.
    store
        .create_user("BOB@example.com", "hash-b3", &Role::Member, at(10))
        .unwrap();
});

backend_test!(
    sessions_expire_and_end_with_password_and_user,
    |_db, store| {
        let ann = store
            .create_user("ann@example.com", "h", &Role::Member, at(0))
            .unwrap();
        let other = store
            .create_user("other@example.com", "h", &Role::Member, at(0))
            .unwrap();
        store.create_session("s1", ann.id, at(0), at(100)).unwrap();
        store.create_session("s2", ann.id, at(0), at(100)).unwrap();
        store.create_session("s3", ann.id, at(0), at(10)).unwrap();
        store
            .create_session("o1", other.id, at(0), at(100))
            .unwrap();

        // A token hash in use, an unknown user: errors that say so.
        let err = store
            .create_session("s1", ann.id, at(0), at(100))
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let err = store
            .create_session("zz", UserId(999_999), at(0), at(100))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

        let s = store.session("s1", at(5)).unwrap().unwrap();
        assert_eq!(s.user.id, ann.id);
        assert_eq!(s.user.email, "ann@example.com");
        assert_eq!(s.created_at, at(0));
        assert_eq!(s.expires_at, at(100));
        assert_eq!(store.session("nope", at(5)).unwrap(), None);

        // Expiry: gone at its time, pruned after.
        assert!(store.session("s3", at(9)).unwrap().is_some());
        assert_eq!(store.session("s3", at(10)).unwrap(), None);
        assert_eq!(store.prune_sessions(at(10)).unwrap(), 1);
        assert_eq!(store.prune_sessions(at(10)).unwrap(), 0);

        // A password change ends the other sessions, keeps the given one, and
        // leaves other users alone.
        store.create_session("s4", ann.id, at(1), at(100)).unwrap();
        assert!(
            store
                .set_password(ann.id, "h2", Some("s2"), at(20))
                .unwrap()
        );
        assert_eq!(store.session("s1", at(21)).unwrap(), None);
        assert_eq!(store.session("s4", at(21)).unwrap(), None);
        let kept = store.session("s2", at(21)).unwrap().unwrap();
        assert_eq!(kept.user.password_hash, "h2");
        assert!(store.session("o1", at(21)).unwrap().is_some());
        // Without a session to keep, all of them end.
        assert!(store.set_password(ann.id, "h3", None, at(22)).unwrap());
        assert_eq!(store.session("s2", at(23)).unwrap(), None);

        // Logging out.
        store.create_session("s5", ann.id, at(30), at(100)).unwrap();
        assert!(store.delete_session("s5").unwrap());
        assert!(!store.delete_session("s5").unwrap());

        // Deleting a user ends their sessions.
        store.create_session("s6", ann.id, at(30), at(100)).unwrap();
        assert!(store.delete_user(ann.id).unwrap());
        assert_eq!(store.session("s6", at(31)).unwrap(), None);
        assert_eq!(store.prune_sessions(at(1000)).unwrap(), 1); // o1 only
    }
);

// ---------------------------------------------------------------- activity

backend_test!(activity_for_manual_changes_and_regressions, |_db, store| {
    let p = project(store, "web");
    let id = ingest(store, &[event(p, "a", 0)], at(0))[0];
    assert!(store.list_activity(id, 10).unwrap().is_empty());

    store
        .update_issue(id, &IssueAction::Resolve, Some("ann@example.com"), at(10))
        .unwrap()
        .unwrap();
    // An event re-opens it: a regression, by no one, with the event's release.
    let outcome = store
        .ingest_batch(&[with_release(event(p, "a", 20), "1.4.0")], at(20))
        .unwrap();
    assert!(outcome[0].regressed);
    store
        .update_issue(id, &IssueAction::MuteUntil(at(3600)), None, at(30))
        .unwrap();
    store
        .update_issue(id, &IssueAction::MuteForEvents(100), Some("bob"), at(40))
        .unwrap();
    store
        .update_issue(id, &IssueAction::Mute, Some("bob"), at(50))
        .unwrap();
    store
        .update_issue(
            id,
            &IssueAction::ResolveInRelease("2.0.0".into()),
            Some("bob"),
            at(60),
        )
        .unwrap();
    store
        .update_issue(id, &IssueAction::Reopen, Some("ann@example.com"), at(70))
        .unwrap();
    // An issue that does not exist: nothing written.
    assert!(
        store
            .update_issue(IssueId(999_999), &IssueAction::Resolve, Some("x"), at(80))
            .unwrap()
            .is_none()
    );

    let log = store.list_activity(id, 100).unwrap();
    let got: Vec<Entry<'_>> = log
        .iter()
        .map(|a| {
            (
                a.kind.clone(),
                a.actor.as_deref(),
                a.detail.as_deref(),
                a.created_at,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                ActivityKind::Unresolved,
                Some("ann@example.com"),
                None,
                at(70)
            ),
            (
                ActivityKind::ResolvedInRelease,
                Some("bob"),
                Some("2.0.0"),
                at(60)
            ),
            (ActivityKind::Muted, Some("bob"), None, at(50)),
            (
                ActivityKind::Muted,
                Some("bob"),
                Some("100 more events"),
                at(40)
            ),
            (
                ActivityKind::Muted,
                None,
                Some("until 2026-01-01T13:00:00Z"),
                at(30)
            ),
            (ActivityKind::Regression, None, Some("1.4.0"), at(20)),
            (
                ActivityKind::Resolved,
                Some("ann@example.com"),
                None,
                at(10)
            ),
        ]
    );
    assert!(log.iter().all(|a| a.issue_id == id));
    assert!(log.windows(2).all(|w| w[0].id > w[1].id));
    // The limit keeps the newest.
    let two = store.list_activity(id, 2).unwrap();
    assert_eq!(two, log[..2].to_vec());
    // The log goes with its project's issues.
    assert!(store.delete_project(p).unwrap());
    assert!(store.list_activity(id, 10).unwrap().is_empty());
});

// ---------------------------------------------------------------- counts

backend_test!(hourly_counts_across_batches_and_hours, |_db, store| {
    let p = project(store, "web");
    let q = project(store, "api");
    let idle = project(store, "idle");
    // Batch 1, received in hour 0: two events of issue a, one of b, one in q.
    let b1 = vec![
        received(event(p, "a", 0), at(10)),
        received(event(p, "a", 1), at(20)),
        received(event(p, "b", 2), at(30)),
        received(event(q, "c", 3), at(40)),
    ];
    let ids = ingest(store, &b1, at(50));
    let (a, b, c) = (ids[0], ids[2], ids[3]);
    // Batch 2, received across hours 0 and 1 (the client's timestamps do not
    // matter: one claims to be from a day earlier).
    let b2 = vec![
        received(event(p, "a", -DAY), at(HOUR - 1)),
        received(event(p, "a", 5), at(HOUR)),
        received(event(p, "b", 6), at(HOUR + 5)),
    ];
    ingest(store, &b2, at(HOUR + 10));
    // A repeated event is not counted.
    let dup = b1[0].clone();
    assert!(store.ingest_batch(&[dup], at(HOUR + 20)).unwrap()[0].duplicate);

    let counts = store
        .issue_counts(&[b, a, IssueId(999_999), a], at(0))
        .unwrap();
    assert_eq!(
        counts,
        vec![
            (b, vec![bucket(0, 1), bucket(HOUR, 1)]),
            (a, vec![bucket(0, 3), bucket(HOUR, 1)]),
            (IssueId(999_999), vec![]),
        ]
    );
    // `since` inside an hour includes that hour; later hours only after it.
    assert_eq!(
        store.issue_counts(&[a], at(30)).unwrap(),
        vec![(a, vec![bucket(0, 3), bucket(HOUR, 1)])]
    );
    assert_eq!(
        store.issue_counts(&[a, c], at(HOUR)).unwrap(),
        vec![(a, vec![bucket(HOUR, 1)]), (c, vec![])]
    );
    assert!(store.issue_counts(&[], at(0)).unwrap().is_empty());
    // Many ids: answered in chunks.
    let many: Vec<IssueId> = (0..1200)
        .map(|i| if i == 700 { b } else { IssueId(-i) })
        .collect();
    let answer = store.issue_counts(&many, at(0)).unwrap();
    assert_eq!(answer.len(), 1200);
    assert_eq!(answer[700], (b, vec![bucket(0, 1), bucket(HOUR, 1)]));

    assert_eq!(
        store.project_counts(at(0)).unwrap(),
        vec![
            (p, vec![bucket(0, 4), bucket(HOUR, 2)]),
            (q, vec![bucket(0, 1)]),
            (idle, vec![]),
        ]
    );

    // Unresolved issues per project, every project.
    store
        .update_issue(b, &IssueAction::Resolve, None, at(HOUR + 30))
        .unwrap();
    assert_eq!(
        store.unresolved_counts().unwrap(),
        vec![(p, 1), (q, 1), (idle, 0)]
    );
});

backend_test!(retention_prunes_old_count_buckets, |_db, store| {
    let p = project(store, "web");
    // Three hours 100 days ago, one recent.
    for h in 0..3 {
        ingest(
            store,
            &[received(event(p, "a", h * HOUR), at(h * HOUR))],
            at(h * HOUR),
        );
    }
    let a = ingest(
        store,
        &[received(event(p, "a", 99 * DAY), at(99 * DAY))],
        at(99 * DAY),
    )[0];
    let now = at(100 * DAY);
    let mut limits = RetentionLimits::default();
    limits.max_rows_per_step = 2;
    limits.issue_max_idle = None;
    limits.alert_max_age = None;
    let mut pruned = 0;
    let mut steps = 0;
    loop {
        let r = store.retention_step(now, &limits).unwrap();
        assert!(r.count_buckets <= 2, "{r:?}");
        pruned += r.count_buckets;
        assert_eq!(r.deleted(), r.count_buckets);
        if !r.more {
            break;
        }
        steps += 1;
        assert!(steps < 100);
    }
    // 3 issue buckets and 3 project buckets.
    assert_eq!(pruned, 6);
    assert_eq!(
        store.issue_counts(&[a], at(0)).unwrap(),
        vec![(a, vec![bucket(99 * DAY, 1)])]
    );
    assert_eq!(
        store.project_counts(at(0)).unwrap(),
        vec![(p, vec![bucket(99 * DAY, 1)])]
    );
    // The issue's count itself is untouched.
    assert_eq!(store.get_issue(a).unwrap().unwrap().count, 4);
    // Nothing left to do: one more step finds nothing.
    assert!(!store.retention_step(now, &limits).unwrap().more);
    // `None` keeps them.
    limits.count_max_age = None;
    assert!(!store.retention_step(at(1000 * DAY), &limits).unwrap().more);
    assert_eq!(store.issue_counts(&[a], at(0)).unwrap()[0].1.len(), 1);
});

// ---------------------------------------------------------------- tags

backend_test!(tag_distribution_with_other, |db, _store| {
    // A small tag index cap, so that values go over it.
    let mut config = db.config.clone();
    config.max_tag_values_per_issue = 7;
    let store = Store::open(&config).unwrap();
    let p = project(&store, "web");
    let e = |secs: i64, tags: &[(&str, &str)]| {
        let mut ev = tagged(event(p, "a", secs), tags);
        ev.environment = None; // built-in values: level only
        ev
    };
    // Batch 1: level=error (built-in, row 1), browser firefox x3, chrome x2 (rows
    // 2-3), os linux x2 (row 4), and a repeated pair in one event counts once.
    let b1 = vec![
        e(
            0,
            &[
                ("browser", "firefox"),
                ("os", "linux"),
                ("browser", "firefox"),
            ],
        ),
        e(1, &[("browser", "firefox"), ("os", "linux")]),
        e(2, &[("browser", "chrome")]),
        e(3, &[("browser", "chrome")]),
        e(4, &[("browser", "firefox"), ("level", "error")]),
    ];
    let id = ingest(&store, &b1, at(5))[0];
    // Batch 2: room for three candidates, the first being level=error again
    // (a stored candidate takes room too), so two more rows fit (safari,
    // os=mac); the rest is over the cap: edge and os=windows are not indexed
    // but count in their key's total; indexed values keep counting.
    let b2 = vec![
        e(10, &[("browser", "safari"), ("os", "mac")]),
        e(11, &[("browser", "edge"), ("os", "windows")]),
        e(12, &[("browser", "edge")]),
        e(13, &[("browser", "chrome"), ("os", "linux")]),
        e(14, &[("region", "eu")]), // a key with no indexed value: not shown
    ];
    ingest(&store, &b2, at(15));

    let dist = store.tag_distribution(id, 2).unwrap();
    let got: Vec<Dist<'_>> = dist
        .iter()
        .map(|d| {
            (
                d.key.as_str(),
                d.total,
                d.values.iter().map(|(v, n)| (v.as_str(), *n)).collect(),
                d.other,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            // 9 events with a browser: firefox 3, chrome 3, safari 1, edge 2
            // (not indexed).
            ("browser", 9, vec![("chrome", 3), ("firefox", 3)], 3),
            // linux 3, mac 1, windows 1 (not indexed).
            ("os", 5, vec![("linux", 3), ("mac", 1)], 1),
            // Sent as a tag by one event (the built-in value is not counted).
            ("level", 1, vec![("error", 1)], 0),
        ]
    );
    // top = 0: totals only.
    let totals = store.tag_distribution(id, 0).unwrap();
    assert!(
        totals
            .iter()
            .all(|d| d.values.is_empty() && d.other == d.total)
    );
    // The index cap still holds for search.
    assert_eq!(store.tag_distribution(IssueId(999_999), 5).unwrap(), vec![]);
});

// ---------------------------------------------------------------- users of an issue

backend_test!(user_count_exact_then_sketch, |_db, store| {
    let p = project(store, "web");
    let batch = |from: u32, to: u32, secs: i64| -> Vec<NewEvent> {
        (from..to)
            .map(|u| by_user(event(p, "a", secs), &format!("id:{u}")))
            .collect()
    };
    let id = ingest(store, &batch(0, 400, 0), at(0))[0];
    assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, 400);
    // Repeats and events without a user do not count.
    ingest(store, &batch(0, 400, 1), at(1));
    ingest(store, &[event(p, "a", 2)], at(2));
    assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, 400);
    // Up to the bound: exact.
    ingest(store, &batch(300, 1000, 3), at(3));
    assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, 1000);
    ingest(store, &batch(990, 1000, 4), at(4));
    assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, 1000);
    // Past it: an estimate, never less than 1001.
    ingest(store, &batch(1000, 1001, 5), at(5));
    let n = store.get_issue(id).unwrap().unwrap().user_count;
    assert!((1001..=1100).contains(&n), "{n}");
    // Growing on the sketch, repeats still not counted.
    for k in 0..4 {
        ingest(
            store,
            &batch(1001 + k * 1000, 2001 + k * 1000, 6 + i64::from(k)),
            at(6),
        );
    }
    let n = store.get_issue(id).unwrap().unwrap().user_count;
    assert!((4500..=5500).contains(&n), "{n}");
    ingest(store, &batch(0, 1000, 20), at(20));
    assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, n);
    // Another issue, in the same batches, counts its own users.
    let other = ingest(
        store,
        &[
            by_user(event(p, "b", 30), "id:1"),
            by_user(event(p, "b", 31), "email:x@y"),
        ],
        at(30),
    )[0];
    assert_eq!(store.get_issue(other).unwrap().unwrap().user_count, 2);
});

// ---------------------------------------------------------------- releases

backend_test!(first_and_last_release, |_db, store| {
    let p = project(store, "web");
    let id = ingest(
        store,
        &[
            with_release(event(p, "a", 0), "1.0"),
            with_release(event(p, "a", 1), "1.1"),
        ],
        at(2),
    )[0];
    let i = store.get_issue(id).unwrap().unwrap();
    assert_eq!(i.first_release.as_deref(), Some("1.0"));
    assert_eq!(i.last_release.as_deref(), Some("1.1"));
    ingest(store, &[with_release(event(p, "a", 3), "1.2")], at(3));
    let i = store.get_issue(id).unwrap().unwrap();
    assert_eq!(i.first_release.as_deref(), Some("1.0"));
    assert_eq!(i.last_release.as_deref(), Some("1.2"));
    // A latest event without a release says so.
    ingest(store, &[event(p, "a", 4)], at(4));
    let i = store.get_issue(id).unwrap().unwrap();
    assert_eq!(i.first_release.as_deref(), Some("1.0"));
    assert_eq!(i.last_release, None);
});

// ---------------------------------------------------------------- events

backend_test!(event_position_and_eviction, |_db, store| {
    let p = project(store, "web");
    // Five events; two share a timestamp (storage order breaks the tie); the
    // batch order is not the time order.
    let evs = vec![
        event(p, "a", 30),
        event(p, "a", 10),
        event(p, "a", 20),
        event(p, "a", 20),
        event(p, "a", 40),
    ];
    let ids: Vec<String> = evs.iter().map(|e| e.event_id.clone()).collect();
    let issue = ingest(store, &evs, at(50))[0];
    // Oldest first: 10, 20 (first stored), 20, 30, 40.
    let order: Vec<String> = {
        let page = store.list_events(issue, None, 100, None).unwrap();
        page.items.into_iter().rev().map(|e| e.event_id).collect()
    };
    assert_eq!(
        order,
        vec![
            ids[1].clone(),
            ids[2].clone(),
            ids[3].clone(),
            ids[0].clone(),
            ids[4].clone()
        ]
    );

    let pos = |id: &str| store.event_position(issue, id).unwrap().unwrap();
    let first = pos(&order[0]);
    assert_eq!((first.index, first.total), (1, 5));
    assert_eq!(first.first, None);
    assert_eq!(first.previous, None);
    assert_eq!(first.next.as_deref(), Some(order[1].as_str()));
    assert_eq!(first.latest.as_deref(), Some(order[4].as_str()));

    let middle = pos(&order[2]);
    assert_eq!((middle.index, middle.total), (3, 5));
    assert_eq!(middle.first.as_deref(), Some(order[0].as_str()));
    assert_eq!(middle.previous.as_deref(), Some(order[1].as_str()));
    assert_eq!(middle.next.as_deref(), Some(order[3].as_str()));
    assert_eq!(middle.latest.as_deref(), Some(order[4].as_str()));

    let second = pos(&order[1]);
    assert_eq!(second.index, 2);
    assert_eq!(second.first.as_deref(), Some(order[0].as_str()));
    assert_eq!(second.previous.as_deref(), Some(order[0].as_str()));

    let last = pos(&order[4]);
    assert_eq!((last.index, last.total), (5, 5));
    assert_eq!(last.next, None);
    assert_eq!(last.latest, None);
    assert_eq!(last.previous.as_deref(), Some(order[3].as_str()));
    assert_eq!(last.first.as_deref(), Some(order[0].as_str()));

    // Unknown event, an event of another issue: none.
    assert_eq!(store.event_position(issue, "0000").unwrap(), None);
    let other_ev = event(p, "b", 60);
    let other_id = other_ev.event_id.clone();
    let other = ingest(store, &[other_ev], at(60))[0];
    assert_eq!(store.event_position(issue, &other_id).unwrap(), None);
    let alone = store.event_position(other, &other_id).unwrap().unwrap();
    assert_eq!((alone.index, alone.total), (1, 1));
    assert_eq!(
        (alone.first, alone.previous, alone.next, alone.latest),
        (None, None, None, None)
    );

    // Eviction: a cap of 4 on the project (6 stored) removes the two oldest
    // ordinary events (the issues' first events are kept).
    store
        .update_project(
            p,
            &ProjectUpdate {
                name: None,
                settings: Some(ProjectSettings {
                    max_events: Some(4),
                    ..Default::default()
                }),
            },
        )
        .unwrap();
    let mut limits = RetentionLimits::default();
    limits.issue_max_idle = None;
    while store.retention_step(at(70), &limits).unwrap().more {}
    let remaining: Vec<String> = store
        .list_events(issue, None, 100, None)
        .unwrap()
        .items
        .into_iter()
        .rev()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(remaining.len(), 3);
    let last = pos(remaining.last().unwrap());
    assert_eq!((last.index, last.total), (3, 3));
    let first = pos(&remaining[0]);
    assert_eq!((first.index, first.total), (1, 3));
    assert_eq!(first.next.as_deref(), Some(remaining[1].as_str()));
    for gone in order.iter().filter(|id| !remaining.contains(id)) {
        assert_eq!(store.event_position(issue, gone).unwrap(), None);
    }
    // The stored counter agrees.
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 4);
});

backend_test!(list_events_with_a_query, |_db, store| {
    let p = project(store, "web");
    let mut e1 = tagged(
        with_release(event(p, "a", 1), "shop@1.0"),
        &[("browser", "Firefox 120"), ("os", "linux")],
    );
    e1.title = "TypeError: boom 50%".into();
    let mut e2 = tagged(
        with_release(event(p, "a", 2), "shop@2.0"),
        &[("browser", "chrome"), ("quote", "say \"hi\"")],
    );
    e2.environment = Some("staging".into());
    e2.level = "warning".into();
    e2.title = "Timeout".into();
    let mut e3 = tagged(event(p, "a", 3), &[("browser", "firefox 120")]);
    e3.culprit = Some("app.checkout in pay".into());
    e3.title = "Declined".into();
    let ids = [
        e1.event_id.clone(),
        e2.event_id.clone(),
        e3.event_id.clone(),
    ];
    let issue = ingest(store, &[e1, e2, e3], at(5))[0];

    let find = |q: &str| -> Vec<String> {
        store
            .list_events(issue, None, 100, Some(q))
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.event_id)
            .collect()
    };
    let (one, two, three) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    assert_eq!(find(""), vec![three.clone(), two.clone(), one.clone()]);
    assert_eq!(find("   "), find(""));
    // key:value on the columns.
    assert_eq!(find("level:warning"), vec![two.clone()]);
    assert_eq!(find("release:shop@1.0"), vec![one.clone()]);
    assert_eq!(find("environment:staging"), vec![two.clone()]);
    assert_eq!(find("env:production"), vec![three.clone(), one.clone()]);
    // key:value on the tags: exact (case and whole value), quotes for spaces.
    assert_eq!(find(r#"browser:"Firefox 120""#), vec![one.clone()]);
    assert_eq!(find(r#"browser:"firefox 120""#), vec![three.clone()]);
    assert_eq!(find("browser:Firefox"), Vec::<String>::new());
    assert_eq!(find("os:linux browser:chrome"), Vec::<String>::new());
    assert_eq!(find(r#"quote:"say "hi"""#), Vec::<String>::new());
    assert_eq!(find("browser:chrome"), vec![two.clone()]);
    // Free words: title, culprit, release, environment; case-insensitive; all
    // must match; LIKE characters are literal.
    assert_eq!(find("BOOM"), vec![one.clone()]);
    assert_eq!(find("50%"), vec![one.clone()]);
    assert_eq!(find("5_%"), Vec::<String>::new());
    assert_eq!(find("checkout"), vec![three.clone()]);
    assert_eq!(find("shop@2"), vec![two.clone()]);
    assert_eq!(find("STAGING"), vec![two.clone()]);
    assert_eq!(find("shop production"), vec![one.clone()]);
    assert_eq!(find("boom level:error"), vec![one.clone()]);
    // Pages of a search.
    let page = store
        .list_events(issue, None, 1, Some("env:production"))
        .unwrap();
    assert_eq!(page.items[0].event_id, three);
    let next = store
        .list_events(
            issue,
            page.next_cursor.as_deref(),
            1,
            Some("env:production"),
        )
        .unwrap();
    assert_eq!(next.items[0].event_id, one);
    assert_eq!(next.next_cursor, None);
});

// ---------------------------------------------------------------- concurrency

backend_test!(concurrent_writers_keep_every_counter_exact, |db, store| {
    const THREADS: usize = 4;
    const BATCHES: usize = 6;
    const KEYS: usize = 4;
    let p = project(store, "race");
    // A resolved issue that all writers hit at once: one regression entry.
    let resolved = ingest(store, &[event(p, "R", 0)], at(0))[0];
    store
        .update_issue(resolved, &IssueAction::Resolve, Some("ann"), at(0))
        .unwrap();
    let browsers = ["firefox", "chrome", "safari"];
    let barrier = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let barrier = &barrier;
            s.spawn(move || {
                // Each writer has its own store, like a separate replica.
                let own = db.open();
                barrier.wait();
                for b in 0..BATCHES {
                    let mut batch: Vec<NewEvent> = Vec::new();
                    for k in 0..KEYS {
                        for j in 0..3 {
                            let n = t * 7 + b * 3 + j;
                            let e = tagged(
                                event(p, &format!("shared-{k}"), 1),
                                &[("browser", browsers[n % 3])],
                            );
                            // Users overlap across writers and batches.
                            let e = by_user(e, &format!("id:{}", n % 20));
                            batch.push(received(e, at(HOUR * (n as i64 % 2))));
                        }
                    }
                    batch.push(event(p, "R", 3));
                    if (t + b) % 2 == 1 {
                        batch.reverse();
                    }
                    own.ingest_batch(&batch, at(2 * HOUR)).unwrap();
                }
            });
        }
    });

    let issues = common::all_issues(store, p);
    assert_eq!(issues.len(), KEYS + 1);
    let ids: Vec<IssueId> = issues.iter().map(|i| i.id).collect();
    let counts = store.issue_counts(&ids, at(0)).unwrap();
    let mut total = 0;
    for (issue, (id, buckets)) in issues.iter().zip(&counts) {
        assert_eq!(issue.id, *id);
        let sum: u64 = buckets.iter().map(|b| b.count).sum();
        assert_eq!(sum, issue.count, "issue {}", issue.grouping_key);
        total += sum;
        if issue.id == resolved {
            continue;
        }
        // Every n in 0..20 occurs: t*7 + b*3 + j covers 0..=35.
        assert_eq!(issue.user_count, 20, "issue {}", issue.grouping_key);
        let dist = store.tag_distribution(issue.id, 10).unwrap();
        let browser = dist.iter().find(|d| d.key == "browser").unwrap();
        assert_eq!(browser.total, (THREADS * BATCHES * 3) as u64);
        assert_eq!(browser.other, 0);
        assert_eq!(browser.values.len(), 3);
    }
    let projects = store.project_counts(at(0)).unwrap();
    let project_sum: u64 = projects[0].1.iter().map(|b| b.count).sum();
    assert_eq!(project_sum, total);
    assert_eq!(total, (1 + THREADS * BATCHES * (KEYS * 3 + 1)) as u64);
    let log = store.list_activity(resolved, 10).unwrap();
    let kinds: Vec<ActivityKind> = log.into_iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![ActivityKind::Regression, ActivityKind::Resolved]
    );
});

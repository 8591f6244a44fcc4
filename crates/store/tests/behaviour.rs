//! One behavioural suite, run against SQLite and (when configured) PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{all_issues, at, backend_test, event, t0, with_release};
use periscope_store::{
    AlertKind, AlertStore, DeliveryState, IngestStore, IssueAction, IssueFilter, IssueId,
    IssueSort, IssueStatus, IssueStore, MaintenanceStore, ProjectId, ProjectSettings, ProjectStore,
    ProjectUpdate, StatusFilter, Store, StoreError, UsageDelta, UsageStore,
};
use periscope_store::{DeliveryId, DestinationId};

fn project(store: &Store, name: &str) -> ProjectId {
    store
        .create_project(name, &common::event_id(), t0())
        .unwrap()
        .id
}

fn alerts_of(store: &Store, project_id: ProjectId) -> Vec<(IssueId, AlertKind)> {
    store
        .list_alerts(project_id, 1000, None)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.alert.subject.issue_id().unwrap_or(IssueId(0)),
                a.alert.kind,
            )
        })
        .collect()
}

backend_test!(projects_and_keys, |_, store| {
    store.health().unwrap();
    let p = store
        .create_project("web", "0123456789abcdef0123456789abcdef", t0())
        .unwrap();
    assert_eq!(p.name, "web");
    assert_eq!(p.keys.len(), 1);
    assert_eq!(p.created_at, t0());
    assert_eq!(p.settings, ProjectSettings::default());
    let same_key = store.create_project("other", "0123456789abcdef0123456789abcdef", t0());
    assert!(
        matches!(same_key, Err(StoreError::Conflict(_))),
        "{same_key:?}"
    );

    let by_key = store
        .project_by_key("0123456789abcdef0123456789abcdef")
        .unwrap()
        .unwrap();
    assert_eq!(by_key.id, p.id);
    assert!(
        store
            .project_by_key("ffffffffffffffffffffffffffffffff")
            .unwrap()
            .is_none()
    );

    let p2 = store
        .add_project_key(p.id, "fedcba9876543210fedcba9876543210", at(5))
        .unwrap()
        .unwrap();
    assert_eq!(p2.keys.len(), 2);
    assert!(
        store
            .add_project_key(ProjectId(999_999), "aa", at(5))
            .unwrap()
            .is_none()
    );

    let settings = ProjectSettings {
        quota_per_minute: Some(100),
        quota_per_hour: None,
        quota_per_day: Some(10_000),
        max_events: Some(5000),
        max_age_days: Some(30),
        grouping_strategy: "newstyle".into(),
        grouping_transition_from: Some("legacy:2019".into()),
        grouping_transition_until: Some(at(3600)),
        fingerprint_rules: "error.type:ValueError -> value-error".into(),
        stacktrace_rules: "family:native -app".into(),
    };
    let updated = store
        .update_project(
            p.id,
            &ProjectUpdate {
                name: Some("website".into()),
                settings: Some(settings.clone()),
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(updated.name, "website");
    assert_eq!(updated.settings, settings);
    assert!(
        store
            .update_project(ProjectId(424_242), &ProjectUpdate::default())
            .unwrap()
            .is_none()
    );

    let q = store
        .create_project("api", "11111111111111111111111111111111", t0())
        .unwrap();
    let list = store.list_projects().unwrap();
    assert_eq!(
        list.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![p.id, q.id]
    );

    // Deleting cascades over everything of the project.
    store.ingest_batch(&[event(q.id, "k", 1)], at(1)).unwrap();
    store
        .create_destination(q.id, "internal_logger", &serde_json::json!({}), t0())
        .unwrap();
    assert!(store.delete_project(q.id).unwrap());
    assert!(!store.delete_project(q.id).unwrap());
    assert!(store.get_project(q.id).unwrap().is_none());
    assert!(
        store
            .project_by_key("11111111111111111111111111111111")
            .unwrap()
            .is_none()
    );
    assert!(all_issues(store, q.id).is_empty());
    assert!(store.list_destinations(q.id).unwrap().is_empty());
});

backend_test!(
    key_version_moves_with_every_project_or_key_change,
    |_, store| {
        let mut last = store.keys_version().unwrap();
        let mut moved = |store: &Store, what: &str| {
            let now = store.keys_version().unwrap();
            assert!(now > last, "{what}: {last} -> {now}");
            last = now;
        };
        let p = store
            .create_project("v", "11111111111111111111111111111111", t0())
            .unwrap();
        moved(store, "create");
        store
            .add_project_key(p.id, "22222222222222222222222222222222", t0())
            .unwrap();
        moved(store, "new key");
        let update = ProjectUpdate {
            settings: Some(ProjectSettings {
                quota_per_minute: Some(5),
                ..ProjectSettings::default()
            }),
            ..ProjectUpdate::default()
        };
        store.update_project(p.id, &update).unwrap();
        moved(store, "settings");
        // Reads and ingest leave it alone.
        let before = store.keys_version().unwrap();
        store
            .project_by_key("11111111111111111111111111111111")
            .unwrap();
        store.ingest_batch(&[event(p.id, "k", 1)], t0()).unwrap();
        assert_eq!(store.keys_version().unwrap(), before);
        assert!(store.delete_project(p.id).unwrap());
        moved(store, "delete");
        assert!(!store.delete_project(p.id).unwrap());
        assert_eq!(store.keys_version().unwrap(), last, "nothing deleted");
    }
);

backend_test!(revoked_keys_authenticate_nothing, |_, store| {
    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let p = store.create_project("keys", A, t0()).unwrap().id;
    // The only key cannot go.
    let last = store.revoke_project_key(p, A, at(1));
    assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
    assert!(store.project_by_key(A).unwrap().is_some());

    store.add_project_key(p, B, at(2)).unwrap().unwrap();
    let before = store.keys_version().unwrap();
    assert!(store.revoke_project_key(p, A, at(10)).unwrap());
    let after = store.keys_version().unwrap();
    assert!(after > before, "the key version moves: {before} → {after}");
    assert!(store.project_by_key(A).unwrap().is_none(), "revoked");
    assert_eq!(store.project_by_key(B).unwrap().unwrap().id, p);
    let keys = store.get_project(p).unwrap().unwrap().keys;
    assert_eq!(keys.len(), 2, "revoked keys stay listed");
    assert_eq!(
        (keys[0].public_key.as_str(), keys[0].revoked_at),
        (A, Some(at(10)))
    );
    assert_eq!((keys[1].public_key.as_str(), keys[1].revoked_at), (B, None));
    assert!(!keys[0].is_active() && keys[1].is_active());

    // Twice is fine and changes nothing.
    assert!(store.revoke_project_key(p, A, at(20)).unwrap());
    assert_eq!(
        store.get_project(p).unwrap().unwrap().keys[0].revoked_at,
        Some(at(10))
    );
    assert_eq!(store.keys_version().unwrap(), after);
    // B is now the last active key.
    let last = store.revoke_project_key(p, B, at(21));
    assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
    // No such key: here, in another project, or no such project.
    let other = store
        .create_project("other", "cccccccccccccccccccccccccccccccc", t0())
        .unwrap()
        .id;
    assert!(
        !store
            .revoke_project_key(p, "dddddddddddddddddddddddddddddddd", at(22))
            .unwrap()
    );
    assert!(!store.revoke_project_key(other, B, at(22)).unwrap());
    assert!(
        !store
            .revoke_project_key(ProjectId(987_654), B, at(22))
            .unwrap()
    );
    // A revoked key is not free for reuse.
    let reuse = store.add_project_key(other, A, at(23));
    assert!(matches!(reuse, Err(StoreError::Conflict(_))), "{reuse:?}");

    // Two concurrent revocations of the two active keys of a project: one
    // wins, the other finds the last active key and is refused.
    for round in 0..5 {
        let keys = [
            format!("{round:x}{}", "e".repeat(31)),
            format!("{round:x}{}", "f".repeat(31)),
        ];
        let q = store.create_project("race", &keys[0], t0()).unwrap().id;
        store.add_project_key(q, &keys[1], t0()).unwrap();
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .map(|k| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        store.revoke_project_key(q, k, at(30))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!((won, refused), (1, 1), "{results:?}");
        let active = store
            .get_project(q)
            .unwrap()
            .unwrap()
            .keys
            .iter()
            .filter(|k| k.is_active())
            .count();
        assert_eq!(active, 1);
    }
});

backend_test!(ingest_groups_counts_and_keeps_payloads, |_, store| {
    let p = project(store, "ingest");
    let a1 = event(p, "A", 10);
    let mut a2 = event(p, "A", 20);
    a2.payload = b"{\"weird\":  \"spacing\" ,\"unicode\":\"\xc3\xa9\"}".to_vec();
    a2.title = "Error: latest title".into();
    let b1 = event(p, "B", 15);
    let dup_in_batch = a1.clone();
    let out = store
        .ingest_batch(&[a1.clone(), a2.clone(), b1.clone(), dup_in_batch], at(30))
        .unwrap();
    assert_eq!(out.len(), 4);
    assert!(out[0].created && !out[0].duplicate);
    assert!(!out[1].created && !out[1].duplicate);
    assert_eq!(out[0].issue_id, out[1].issue_id);
    assert!(out[2].created);
    assert_ne!(out[2].issue_id, out[0].issue_id);
    assert!(out[3].duplicate && !out[3].created);
    assert_eq!(out[3].issue_id, out[0].issue_id);

    // The same event again in a later batch: a duplicate, not counted.
    let again = store
        .ingest_batch(std::slice::from_ref(&a2), at(40))
        .unwrap();
    assert!(again[0].duplicate);
    assert_eq!(again[0].issue_id, out[0].issue_id);

    let a = store.get_issue(out[0].issue_id).unwrap().unwrap();
    assert_eq!(a.count, 2);
    assert_eq!(a.first_seen, at(10));
    assert_eq!(a.last_seen, at(20));
    assert_eq!(a.title, "Error: latest title");
    assert_eq!(a.status, IssueStatus::Unresolved);
    assert_eq!(a.grouping_key, "A");
    let b = store.get_issue(out[2].issue_id).unwrap().unwrap();
    assert_eq!(b.count, 1);

    let alerts = alerts_of(store, p);
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|(_, k)| *k == AlertKind::NewIssue));

    // Payloads come back byte for byte.
    let got = store.get_event(p, &a2.event_id).unwrap().unwrap();
    assert_eq!(got.payload, a2.payload);
    assert_eq!(got.summary.issue_id, a.id);
    assert_eq!(got.summary.environment.as_deref(), Some("production"));
    assert_eq!(got.summary.tags, a2.tags);
    assert_eq!(got.summary.timestamp, at(20));
    assert!(
        store
            .get_event(p, "00000000000000000000000000000000")
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_event(ProjectId(p.get() + 1000), &a2.event_id)
            .unwrap()
            .is_none()
    );
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 3);

    // An event for a missing project fails the whole batch.
    let bad = store.ingest_batch(
        &[event(p, "C", 1), event(ProjectId(987_654), "C", 1)],
        at(50),
    );
    assert!(
        matches!(bad, Err(StoreError::UnknownProject(987_654))),
        "{bad:?}"
    );
    assert_eq!(all_issues(store, p).len(), 2);
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 3);
    assert!(store.ingest_batch(&[], at(50)).unwrap().is_empty());
});

backend_test!(
    regression_on_resolved_and_resolved_in_release,
    |_, store| {
        let p = project(store, "regress");
        let id = store.ingest_batch(&[event(p, "A", 1)], at(1)).unwrap()[0].issue_id;
        let resolved = store
            .update_issue(id, &IssueAction::Resolve, None, at(2))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.status, IssueStatus::Resolved);
        assert_eq!(resolved.status_changed_at, Some(at(2)));
        assert_eq!(
            store
                .list_issues(p, &IssueFilter::default())
                .unwrap()
                .items
                .len(),
            0,
            "resolved issues are not in the default (unresolved) list"
        );

        // Three events in one batch: the first regresses, one alert.
        let out = store
            .ingest_batch(
                &[event(p, "A", 3), event(p, "A", 4), event(p, "A", 5)],
                at(5),
            )
            .unwrap();
        assert_eq!(
            out.iter().map(|o| o.regressed).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        let issue = store.get_issue(id).unwrap().unwrap();
        assert_eq!(issue.status, IssueStatus::Unresolved);
        assert_eq!(issue.count, 4);
        let more = store.ingest_batch(&[event(p, "A", 6)], at(6)).unwrap();
        assert!(!more[0].regressed);
        let kinds: Vec<AlertKind> = alerts_of(store, p).into_iter().map(|a| a.1).collect();
        assert_eq!(kinds, vec![AlertKind::Regression, AlertKind::NewIssue]);

        // Resolved in 1.2.0: older, equal and release-less events do not regress.
        store
            .update_issue(
                id,
                &IssueAction::ResolveInRelease("1.2.0".into()),
                None,
                at(7),
            )
            .unwrap();
        let out = store
            .ingest_batch(
                &[
                    with_release(event(p, "A", 8), "1.1.9"),
                    with_release(event(p, "A", 9), "1.2.0"),
                    event(p, "A", 10),
                ],
                at(10),
            )
            .unwrap();
        assert!(out.iter().all(|o| !o.regressed));
        let issue = store.get_issue(id).unwrap().unwrap();
        assert_eq!(issue.status, IssueStatus::Resolved);
        assert_eq!(issue.resolved_in_release.as_deref(), Some("1.2.0"));
        let out = store
            .ingest_batch(
                &[
                    with_release(event(p, "A", 11), "1.1.0"),
                    with_release(event(p, "A", 12), "1.10.0"),
                ],
                at(12),
            )
            .unwrap();
        assert_eq!(
            out.iter().map(|o| o.regressed).collect::<Vec<_>>(),
            vec![false, true]
        );
        let issue = store.get_issue(id).unwrap().unwrap();
        assert_eq!(issue.status, IssueStatus::Unresolved);
        assert_eq!(issue.resolved_in_release, None);
        assert_eq!(issue.count, 10);
        let regressions = alerts_of(store, p)
            .into_iter()
            .filter(|a| a.1 == AlertKind::Regression)
            .count();
        assert_eq!(regressions, 2);

        // Reopen by hand: no alert.
        store
            .update_issue(id, &IssueAction::Resolve, None, at(13))
            .unwrap();
        let reopened = store
            .update_issue(id, &IssueAction::Reopen, None, at(14))
            .unwrap()
            .unwrap();
        assert_eq!(reopened.status, IssueStatus::Unresolved);
        assert_eq!(alerts_of(store, p).len(), 3);
        assert!(
            store
                .update_issue(IssueId(999_999), &IssueAction::Resolve, None, at(1))
                .unwrap()
                .is_none()
        );
    }
);

backend_test!(unmute_by_volume_and_by_time, |_, store| {
    let p = project(store, "mute");
    let vol = store.ingest_batch(&[event(p, "V", 1)], at(1)).unwrap()[0].issue_id;
    let time = store.ingest_batch(&[event(p, "T", 1)], at(1)).unwrap()[0].issue_id;
    let forever = store.ingest_batch(&[event(p, "F", 1)], at(1)).unwrap()[0].issue_id;

    let muted = store
        .update_issue(vol, &IssueAction::MuteForEvents(3), None, at(2))
        .unwrap()
        .unwrap();
    assert_eq!(muted.status, IssueStatus::Muted);
    assert_eq!(muted.unmute_at_count, Some(4));
    store
        .update_issue(time, &IssueAction::MuteUntil(at(100)), None, at(2))
        .unwrap();
    store
        .update_issue(forever, &IssueAction::Mute, None, at(2))
        .unwrap();

    // Two events: still muted.
    let out = store
        .ingest_batch(
            &[event(p, "V", 3), event(p, "V", 4), event(p, "T", 4)],
            at(50),
        )
        .unwrap();
    assert!(out.iter().all(|o| !o.unmuted));
    assert_eq!(
        store.get_issue(vol).unwrap().unwrap().status,
        IssueStatus::Muted
    );
    assert_eq!(
        store.get_issue(time).unwrap().unwrap().status,
        IssueStatus::Muted
    );
    // The third event since muting unmutes, in the middle of a batch.
    let out = store
        .ingest_batch(
            &[event(p, "V", 5), event(p, "V", 6), event(p, "F", 6)],
            at(60),
        )
        .unwrap();
    assert_eq!(
        out.iter().map(|o| o.unmuted).collect::<Vec<_>>(),
        vec![true, false, false]
    );
    let v = store.get_issue(vol).unwrap().unwrap();
    assert_eq!(v.status, IssueStatus::Unresolved);
    assert_eq!(v.unmute_at_count, None);
    assert_eq!(v.count, 5);
    // Past the mute time: the next event unmutes.
    let out = store.ingest_batch(&[event(p, "T", 101)], at(101)).unwrap();
    assert!(out[0].unmuted);
    assert_eq!(
        store.get_issue(time).unwrap().unwrap().status,
        IssueStatus::Unresolved
    );
    assert_eq!(
        store.get_issue(forever).unwrap().unwrap().status,
        IssueStatus::Muted
    );

    let unmutes: Vec<IssueId> = alerts_of(store, p)
        .into_iter()
        .filter(|a| a.1 == AlertKind::Unmute)
        .map(|a| a.0)
        .collect();
    assert_eq!(unmutes, vec![time, vol]);
    let muted_list = store
        .list_issues(
            p,
            &IssueFilter {
                status: StatusFilter::Muted,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        muted_list.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![forever]
    );
});

backend_test!(
    retention_cap_keeps_first_and_regression_events,
    |_, store| {
        let p = project(store, "retention");
        let mut settings = ProjectSettings {
            max_events: Some(4),
            ..Default::default()
        };
        store
            .update_project(
                p,
                &ProjectUpdate {
                    name: None,
                    settings: Some(settings.clone()),
                },
            )
            .unwrap();
        let first = event(p, "A", 1);
        let id = store
            .ingest_batch(std::slice::from_ref(&first), at(1))
            .unwrap()[0]
            .issue_id;
        // One event per batch: a batch never evicts its own events, so a batch
        // larger than the cap would stay over it until `retention_step`.
        let ordinary: Vec<_> = (2..8).map(|s| event(p, "A", s)).collect();
        for e in &ordinary {
            store.ingest_batch(std::slice::from_ref(e), at(8)).unwrap();
        }
        assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 4);
        store
            .update_issue(id, &IssueAction::Resolve, None, at(9))
            .unwrap();
        let regression = event(p, "A", 10);
        let r = store
            .ingest_batch(std::slice::from_ref(&regression), at(10))
            .unwrap();
        assert!(r[0].regressed);
        let later: Vec<_> = (11..20).map(|s| event(p, "A", s)).collect();
        for e in &later {
            store.ingest_batch(std::slice::from_ref(e), at(20)).unwrap();
        }

        let issue = store.get_issue(id).unwrap().unwrap();
        assert_eq!(
            issue.count,
            1 + 6 + 1 + 9,
            "counters keep counting evicted events"
        );
        assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 4);
        let page = store.list_events(id, None, 100, None).unwrap();
        let kept: Vec<String> = page.items.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(kept.len(), 4);
        assert!(kept.contains(&first.event_id), "first event kept");
        assert!(kept.contains(&regression.event_id), "regression event kept");
        assert!(kept.contains(&later[8].event_id) && kept.contains(&later[7].event_id));
        assert!(store.get_event(p, &ordinary[0].event_id).unwrap().is_none());

        // Age cap: everything older than the cutoff goes, the issue stays.
        settings.max_events = None;
        settings.max_age_days = Some(1);
        store
            .update_project(
                p,
                &ProjectUpdate {
                    name: None,
                    settings: Some(settings),
                },
            )
            .unwrap();
        let fresh = event(p, "A", 86_400 * 2);
        store
            .ingest_batch(std::slice::from_ref(&fresh), at(86_400 * 2))
            .unwrap();
        let report = store.evict_expired(at(86_400 * 2 + 10)).unwrap();
        assert_eq!(report.expired_events, 4);
        let left: Vec<String> = store
            .list_events(id, None, 100, None)
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(left, vec![fresh.event_id]);
        assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 1);
        assert_eq!(store.get_issue(id).unwrap().unwrap().count, 18);
    }
);

backend_test!(evict_expired_applies_count_cap_lowered_later, |_, store| {
    let p = project(store, "cap-later");
    let events: Vec<_> = (0..30)
        .map(|s| event(p, &format!("k{}", s % 3), s))
        .collect();
    store.ingest_batch(&events, at(30)).unwrap();
    let settings = ProjectSettings {
        max_events: Some(10),
        ..Default::default()
    };
    store
        .update_project(
            p,
            &ProjectUpdate {
                name: None,
                settings: Some(settings),
            },
        )
        .unwrap();
    let report = store.evict_expired(at(31)).unwrap();
    assert_eq!(report.capped_events, 20);
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 10);
    for issue in all_issues(store, p) {
        assert_eq!(issue.count, 10);
        // The first event of each issue survived.
        let events = store.list_events(issue.id, None, 100, None).unwrap().items;
        assert!(events.iter().any(|e| e.timestamp == issue.first_seen));
    }
});

backend_test!(pagination_has_no_duplicates_or_gaps, |_, store| {
    let p = project(store, "pages");
    // 150 issues (more than one multi-row chunk), many sharing the same last_seen.
    let events: Vec<_> = (0..150)
        .map(|i| event(p, &format!("key-{i}"), i / 10))
        .collect();
    store.ingest_batch(&events, at(100)).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_issues(
                p,
                &IssueFilter {
                    status: StatusFilter::All,
                    query: String::new(),
                    cursor: cursor.clone(),
                    limit: 7,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|i| (i.last_seen, i.id)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 150);
    let unique: HashSet<_> = seen.iter().map(|s| s.1).collect();
    assert_eq!(unique.len(), 150);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id");

    // Events of one issue, equal timestamps.
    let events: Vec<_> = (0..45).map(|i| event(p, "many", i / 4)).collect();
    let id = store.ingest_batch(&events, at(100)).unwrap()[0].issue_id;
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_events(id, cursor.as_deref(), 10, None).unwrap();
        ids.extend(page.items.iter().map(|e| (e.timestamp, e.event_id.clone())));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(ids.len(), 45);
    let unique: HashSet<_> = ids.iter().map(|e| e.1.clone()).collect();
    assert_eq!(unique.len(), 45);
    assert!(ids.windows(2).all(|w| w[0].0 >= w[1].0));

    let bad = store.list_issues(
        p,
        &IssueFilter {
            cursor: Some("garbage".into()),
            ..Default::default()
        },
    );
    assert!(matches!(bad, Err(StoreError::InvalidCursor(_))));
    assert!(store.list_events(id, Some("i1_2"), 10, None).is_err());
});

/// Every page of a sorted listing, from the first: the issues in order.
fn pages(
    store: &Store,
    p: periscope_store::ProjectId,
    filter: &IssueFilter,
) -> Vec<periscope_store::Issue> {
    let mut out = Vec::new();
    let mut filter = filter.clone();
    loop {
        let page = store.list_issues(p, &filter).unwrap();
        assert!(page.items.len() <= filter.limit);
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return out,
        }
    }
}

backend_test!(issue_sorts_paginate_with_ties, |_, store| {
    let p = project(store, "sorts");
    // 30 issues with many equal first_seen, last_seen and counts: issue n has
    // 1 + n % 4 events, the first at n % 5 s, the others 10 s apart (so the
    // last at n % 5 + 10 × (n % 4) s).
    let mut events = Vec::new();
    for n in 0..30_i64 {
        for k in 0..=(n % 4) {
            events.push(event(p, &format!("sort-{n}"), n % 5 + 10 * k));
        }
    }
    store.ingest_batch(&events, at(100)).unwrap();
    // Some resolved, to page through a status too.
    let all = all_issues(store, p);
    assert_eq!(all.len(), 30);
    for i in all.iter().filter(|i| i.id.get() % 3 == 0) {
        store
            .update_issue(i.id, &IssueAction::Resolve, None, at(101))
            .unwrap();
    }
    let all = all_issues(store, p);
    for sort in [
        IssueSort::LastSeen,
        IssueSort::FirstSeen,
        IssueSort::EventCount,
    ] {
        let key = |i: &periscope_store::Issue| match sort {
            IssueSort::LastSeen => i.last_seen.timestamp_millis(),
            IssueSort::FirstSeen => i.first_seen.timestamp_millis(),
            IssueSort::EventCount => i.count as i64,
        };
        for status in [StatusFilter::All, StatusFilter::Unresolved] {
            let mut want: Vec<_> = all
                .iter()
                .filter(|i| status == StatusFilter::All || i.status == IssueStatus::Unresolved)
                .map(|i| (key(i), i.id))
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            for limit in [1, 4, 7, 1000] {
                let filter = IssueFilter {
                    status,
                    sort,
                    limit,
                    ..Default::default()
                };
                let got: Vec<_> = pages(store, p, &filter)
                    .iter()
                    .map(|i| (key(i), i.id))
                    .collect();
                assert_eq!(got, want, "{sort:?} {status:?} limit {limit}");
            }
        }
        // The sort's own key decides: the order differs from last_seen's.
        if sort != IssueSort::LastSeen {
            let ids = |sort| -> Vec<IssueId> {
                let filter = IssueFilter {
                    status: StatusFilter::All,
                    sort,
                    limit: 1000,
                    ..Default::default()
                };
                pages(store, p, &filter).iter().map(|i| i.id).collect()
            };
            assert_ne!(ids(sort), ids(IssueSort::LastSeen), "{sort:?}");
        }
    }
    // A cursor is only valid with its own sort.
    let first = store
        .list_issues(
            p,
            &IssueFilter {
                status: StatusFilter::All,
                sort: IssueSort::FirstSeen,
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    for other in [IssueSort::LastSeen, IssueSort::EventCount] {
        let got = store.list_issues(
            p,
            &IssueFilter {
                status: StatusFilter::All,
                sort: other,
                cursor: Some(cursor.clone()),
                ..Default::default()
            },
        );
        assert!(
            matches!(got, Err(StoreError::InvalidCursor(_))),
            "{other:?}: {got:?}"
        );
    }
});

backend_test!(search_by_text_and_tags, |_, store| {
    let p = project(store, "search");
    let mut a = event(p, "A", 1);
    a.title = "TypeError: Cannot read property 'x' of undefined".into();
    a.culprit = Some("checkout/cart.js".into());
    a.tags = vec![("browser".into(), "Chrome 120".into())];
    a.release = Some("web@2.0.0".into());
    let mut b = event(p, "B", 2);
    b.title = "ValueError: 50% off".into();
    b.level = "warning".into();
    b.environment = Some("staging".into());
    let ids: Vec<IssueId> = store
        .ingest_batch(&[a, b], at(3))
        .unwrap()
        .iter()
        .map(|o| o.issue_id)
        .collect();
    let search = |q: &str| -> Vec<IssueId> {
        store
            .list_issues(
                p,
                &IssueFilter {
                    status: StatusFilter::All,
                    query: q.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(search("typeerror"), vec![ids[0]]);
    assert_eq!(search("cart.js"), vec![ids[0]]);
    assert_eq!(search("50%"), vec![ids[1]]);
    assert_eq!(search("error"), vec![ids[1], ids[0]]);
    assert_eq!(search("level:warning"), vec![ids[1]]);
    assert_eq!(search("level:error"), vec![ids[0]]);
    assert_eq!(search("environment:staging"), vec![ids[1]]);
    assert_eq!(search("env:production"), vec![ids[0]]);
    assert_eq!(search("release:web@2.0.0"), vec![ids[0]]);
    assert_eq!(search(r#"browser:"Chrome 120" undefined"#), vec![ids[0]]);
    assert_eq!(search("browser:Chrome"), Vec::<IssueId>::new());
    assert_eq!(search("nothing-like-this"), Vec::<IssueId>::new());
    assert_eq!(search("   "), vec![ids[1], ids[0]]);
});

backend_test!(outbox_fan_out_lease_retry_and_states, |_, store| {
    let p = project(store, "outbox");
    let hook = store
        .create_destination(
            p,
            "generic_webhook",
            &serde_json::json!({"url": "http://127.0.0.1:9/hook"}),
            t0(),
        )
        .unwrap();
    let log = store
        .create_destination(p, "internal_logger", &serde_json::json!({}), t0())
        .unwrap();
    assert_eq!(hook.config["url"], "http://127.0.0.1:9/hook");
    assert_eq!(store.list_destinations(p).unwrap().len(), 2);
    assert!(
        !store
            .delete_destination(ProjectId(p.get() + 1), log.id)
            .unwrap(),
        "other project"
    );

    let issue = store.ingest_batch(&[event(p, "A", 1)], at(1)).unwrap()[0].issue_id;
    let claimed = store.claim_deliveries(at(2), 10, at(62)).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.attempt == 1
        && c.alert.kind == AlertKind::NewIssue
        && c.issue.id == issue
        && c.project_name == "outbox"));
    // Leased: a second claimer gets nothing until the lease ends.
    assert!(
        store
            .claim_deliveries(at(3), 10, at(63))
            .unwrap()
            .is_empty()
    );

    let to_hook = claimed
        .iter()
        .find(|c| c.destination.id == hook.id)
        .unwrap();
    let to_log = claimed.iter().find(|c| c.destination.id == log.id).unwrap();
    store.complete_delivery(to_log.delivery_id, at(4)).unwrap();
    store
        .fail_delivery(
            to_hook.delivery_id,
            at(4),
            "connection refused",
            Some(at(30)),
        )
        .unwrap();
    assert!(
        store
            .claim_deliveries(at(10), 10, at(70))
            .unwrap()
            .is_empty()
    );
    let retry = store.claim_deliveries(at(30), 10, at(90)).unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 2);
    store
        .fail_delivery(retry[0].delivery_id, at(31), "HTTP 500", None)
        .unwrap();
    assert!(
        store
            .claim_deliveries(at(10_000), 10, at(10_060))
            .unwrap()
            .is_empty()
    );

    let alerts = store.list_alerts(p, 50, None).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].issue_title, "Error: boom in A");
    let mut states: Vec<_> = alerts[0]
        .deliveries
        .iter()
        .map(|d| {
            (
                d.destination_kind.clone(),
                d.state.clone(),
                d.attempts,
                d.last_error.clone(),
            )
        })
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        states,
        vec![
            (
                "generic_webhook".into(),
                DeliveryState::Failed,
                2,
                Some("HTTP 500".into())
            ),
            ("internal_logger".into(), DeliveryState::Delivered, 1, None),
        ]
    );
    assert!(store.complete_delivery(DeliveryId(123_456), at(1)).is_err());
    // The same alert by its issue; another issue has none.
    let by_issue = store.issue_alerts(issue, 50).unwrap();
    assert_eq!(by_issue.len(), 1);
    assert_eq!(by_issue[0].alert.id, alerts[0].alert.id);
    assert_eq!(by_issue[0].deliveries.len(), 2);
    assert!(
        store
            .issue_alerts(IssueId(issue.get() + 1000), 50)
            .unwrap()
            .is_empty()
    );

    // An expired lease (crashed notifier) is claimed again.
    store.resolve_and_regress(p, issue);
    let c1 = store.claim_deliveries(at(100), 10, at(110)).unwrap();
    assert_eq!(c1.len(), 2);
    assert!(c1.iter().all(|c| c.alert.kind == AlertKind::Regression));
    let c2 = store.claim_deliveries(at(111), 10, at(200)).unwrap();
    assert_eq!(c2.len(), 2);
    assert!(c2.iter().all(|c| c.attempt == 2));

    // An updated config is what the next claim sees; the kind stays; another
    // project's destination is not touched.
    let new_config = serde_json::json!({"type": "generic_webhook", "url": "https://new.example/h"});
    assert!(
        store
            .update_destination(ProjectId(p.get() + 1), hook.id, &new_config)
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .update_destination(p, DestinationId(987_654), &new_config)
            .unwrap()
            .is_none()
    );
    let updated = store
        .update_destination(p, hook.id, &new_config)
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.id, updated.kind.as_str(), updated.created_at),
        (hook.id, "generic_webhook", t0())
    );
    assert_eq!(updated.config, new_config);
    assert_eq!(
        store.list_destinations(p).unwrap()[0].config["url"],
        "https://new.example/h"
    );
    store.resolve_and_regress(p, issue);
    let c3 = store.claim_deliveries(at(300), 10, at(400)).unwrap();
    let to_hook = c3.iter().find(|c| c.destination.id == hook.id).unwrap();
    assert_eq!(to_hook.destination.config["url"], "https://new.example/h");

    // Deleting a destination removes its deliveries.
    assert!(store.delete_destination(p, hook.id).unwrap());
    let alerts = store.list_alerts(p, 50, None).unwrap();
    assert!(alerts.iter().all(|a| a.deliveries.len() == 1));
});

backend_test!(
    deliveries_are_retried_now_and_filtered_by_state,
    |_, store| {
        let p = project(store, "retry");
        let other = project(store, "other");
        let hook = store
            .create_destination(
                p,
                "generic_webhook",
                &serde_json::json!({"url": "https://hooks.example.com/x"}),
                t0(),
            )
            .unwrap();
        store
            .create_destination(p, "internal_logger", &serde_json::json!({}), t0())
            .unwrap();
        store.ingest_batch(&[event(p, "A", 1)], at(1)).unwrap();
        let claimed = store.claim_deliveries(at(2), 10, at(62)).unwrap();
        let to_hook = claimed
            .iter()
            .find(|c| c.destination.id == hook.id)
            .unwrap()
            .delivery_id;
        let to_log = claimed
            .iter()
            .find(|c| c.destination.id != hook.id)
            .unwrap()
            .delivery_id;
        // Leased (an attempt in flight): not retried, the lease stays.
        let in_flight = store.retry_delivery(to_hook, p, at(3));
        assert!(
            matches!(in_flight, Err(StoreError::Conflict(_))),
            "{in_flight:?}"
        );
        assert!(
            store
                .claim_deliveries(at(4), 10, at(64))
                .unwrap()
                .is_empty()
        );

        store.complete_delivery(to_log, at(5)).unwrap();
        store
            .fail_delivery(to_hook, at(5), "HTTP 500", None)
            .unwrap();
        let state_of = |id: DeliveryId| store.get_delivery(p, id).unwrap().unwrap();
        assert_eq!(state_of(to_hook).state, DeliveryState::Failed);
        assert_eq!(state_of(to_hook).next_attempt_at, None);

        // Filtered by state: the alert with a failed delivery, with all its
        // deliveries.
        let failed = store
            .list_alerts(p, 50, Some(&DeliveryState::Failed))
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].deliveries.len(), 2);
        assert_eq!(
            store
                .list_alerts(p, 50, Some(&DeliveryState::Delivered))
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .list_alerts(p, 50, Some(&DeliveryState::Pending))
                .unwrap()
                .is_empty()
        );

        // Retried now: pending, due now, no lease; attempts and error kept.
        assert!(store.retry_delivery(to_hook, p, at(1000)).unwrap());
        let d = state_of(to_hook);
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.next_attempt_at, Some(at(1000)));
        assert_eq!(d.attempts, 1);
        assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(d.last_attempt_at, Some(at(5)));
        assert_eq!(
            store
                .list_alerts(p, 50, Some(&DeliveryState::Pending))
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .claim_deliveries(at(999), 10, at(1060))
                .unwrap()
                .is_empty()
        );
        let again = store.claim_deliveries(at(1000), 10, at(1060)).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].delivery_id, again[0].attempt), (to_hook, 2));

        // Pending and waiting for a later attempt: due now instead.
        store
            .fail_delivery(to_hook, at(1001), "HTTP 502", Some(at(5000)))
            .unwrap();
        assert!(store.retry_delivery(to_hook, p, at(1002)).unwrap());
        assert_eq!(state_of(to_hook).next_attempt_at, Some(at(1002)));
        // An expired lease does not hold it either.
        assert_eq!(
            store
                .claim_deliveries(at(1002), 10, at(1010))
                .unwrap()
                .len(),
            1
        );
        assert!(store.retry_delivery(to_hook, p, at(1010)).unwrap());

        // Delivered: a conflict. Unknown, or another project's: false.
        let done = store.retry_delivery(to_log, p, at(1011));
        assert!(matches!(done, Err(StoreError::Conflict(_))), "{done:?}");
        assert_eq!(state_of(to_log).state, DeliveryState::Delivered);
        assert!(!store.retry_delivery(to_hook, other, at(1011)).unwrap());
        assert!(
            !store
                .retry_delivery(DeliveryId(987_654), p, at(1011))
                .unwrap()
        );
        assert!(store.get_delivery(other, to_hook).unwrap().is_none());
    }
);

trait Helpers {
    fn resolve_and_regress(&self, p: ProjectId, issue: IssueId);
}

impl Helpers for Store {
    fn resolve_and_regress(&self, p: ProjectId, issue: IssueId) {
        self.update_issue(issue, &IssueAction::Resolve, None, at(90))
            .unwrap();
        let out = self.ingest_batch(&[event(p, "A", 95)], at(95)).unwrap();
        assert!(out[0].regressed);
    }
}

backend_test!(usage_counters, |_, store| {
    let d = |k: &str, b: i64, c: i64| UsageDelta {
        key: k.into(),
        bucket_start: b,
        count: c,
    };
    store
        .add_usage(&[d("p:1:m", 60, 5), d("p:1:m", 120, 1), d("p:1:m", 60, 2)])
        .unwrap();
    store
        .add_usage(&[d("p:1:m", 60, 3), d("global", 0, 7)])
        .unwrap();
    store.add_usage(&[]).unwrap();
    assert_eq!(
        store.load_usage(60).unwrap(),
        vec![d("p:1:m", 60, 10), d("p:1:m", 120, 1)]
    );
    assert_eq!(store.load_usage(0).unwrap().len(), 3);
    store
        .set_usage(&[d("p:1:m", 120, 40), d("p:1:h", 0, 9)])
        .unwrap();
    assert_eq!(
        store.load_usage(0).unwrap(),
        vec![
            d("global", 0, 7),
            d("p:1:h", 0, 9),
            d("p:1:m", 60, 10),
            d("p:1:m", 120, 40)
        ]
    );
    assert_eq!(store.prune_usage(100).unwrap(), 3);
    assert_eq!(
        store.load_usage(i64::MIN).unwrap(),
        vec![d("p:1:m", 120, 40)]
    );
});

backend_test!(
    concurrent_writers_create_one_issue_and_one_alert_per_key,
    |db, store| {
        const THREADS: usize = 4;
        const BATCHES: usize = 8;
        const KEYS: usize = 6;
        let p = project(store, "race");
        // A resolved issue that all writers hit at once: exactly one regression.
        let resolved = store.ingest_batch(&[event(p, "R", 0)], at(0)).unwrap()[0].issue_id;
        store
            .update_issue(resolved, &IssueAction::Resolve, None, at(0))
            .unwrap();

        let barrier = std::sync::Barrier::new(THREADS);
        let results: Vec<Vec<periscope_store::IngestOutcome>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        // Each writer has its own store (own pool, own connections),
                        // like a separate replica.
                        let own = db.open();
                        barrier.wait();
                        let mut outs = Vec::new();
                        for b in 0..BATCHES {
                            let mut batch: Vec<_> = (0..KEYS)
                                .flat_map(|k| {
                                    let key = format!("shared-{k}");
                                    vec![event(p, &key, 1), event(p, &key, 2)]
                                })
                                .collect();
                            batch.push(event(p, "R", 3));
                            if (t + b) % 2 == 1 {
                                batch.reverse();
                            }
                            outs.extend(own.ingest_batch(&batch, at(10)).unwrap());
                        }
                        outs
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(all.len(), THREADS * BATCHES * (KEYS * 2 + 1));
        assert_eq!(all.iter().filter(|o| o.created).count(), KEYS);
        assert_eq!(all.iter().filter(|o| o.regressed).count(), 1);
        assert!(all.iter().all(|o| !o.duplicate));

        let issues = all_issues(store, p);
        assert_eq!(issues.len(), KEYS + 1);
        for i in &issues {
            let expected = if i.id == resolved {
                1 + THREADS * BATCHES
            } else {
                THREADS * BATCHES * 2
            };
            assert_eq!(i.count, expected as u64, "issue {}", i.grouping_key);
            assert_eq!(i.status, IssueStatus::Unresolved);
        }
        let alerts = alerts_of(store, p);
        let new_issue: HashSet<IssueId> = alerts
            .iter()
            .filter(|a| a.1 == AlertKind::NewIssue)
            .map(|a| a.0)
            .collect();
        assert_eq!(
            alerts.iter().filter(|a| a.1 == AlertKind::NewIssue).count(),
            KEYS + 1
        );
        assert_eq!(new_issue.len(), KEYS + 1);
        assert_eq!(
            alerts
                .iter()
                .filter(|a| a.1 == AlertKind::Regression)
                .count(),
            1
        );
        assert_eq!(
            store.get_project(p).unwrap().unwrap().stored_events,
            (1 + THREADS * BATCHES * (KEYS * 2 + 1)) as u64
        );
    }
);

backend_test!(
    concurrent_duplicate_event_ids_are_counted_once,
    |db, store| {
        let p = project(store, "dups");
        let events: Vec<_> = (0..20)
            .map(|i| event(p, &format!("d{}", i % 4), i))
            .collect();
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                let events = events.clone();
                let barrier = &barrier;
                s.spawn(move || {
                    let own = db.open();
                    barrier.wait();
                    own.ingest_batch(&events, at(30)).unwrap();
                });
            }
        });
        let issues = all_issues(store, p);
        assert_eq!(issues.len(), 4);
        assert!(issues.iter().all(|i| i.count == 5));
        assert_eq!(alerts_of(store, p).len(), 4);
        assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 20);
    }
);

#[test]
fn in_memory_sqlite_works() {
    let store = Store::open_url("sqlite::memory:").unwrap();
    let p = store
        .create_project("mem", "22222222222222222222222222222222", t0())
        .unwrap();
    store.ingest_batch(&[event(p.id, "A", 1)], at(1)).unwrap();
    // Several calls reuse the one connection (the database must persist).
    assert_eq!(all_issues(&store, p.id).len(), 1);
}

backend_test!(
    concurrent_notifiers_never_claim_the_same_delivery,
    |db, store| {
        let p = project(store, "notifiers");
        store
            .create_destination(p, "internal_logger", &serde_json::json!({}), t0())
            .unwrap();
        let events: Vec<_> = (0..24).map(|i| event(p, &format!("n{i}"), i)).collect();
        store.ingest_batch(&events, at(30)).unwrap();
        let barrier = std::sync::Barrier::new(4);
        let claimed: Vec<DeliveryId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let own = db.open();
                        barrier.wait();
                        let mut ids = Vec::new();
                        for _ in 0..4 {
                            for c in own.claim_deliveries(at(40), 5, at(100)).unwrap() {
                                ids.push(c.delivery_id);
                            }
                        }
                        ids
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let unique: HashSet<DeliveryId> = claimed.iter().copied().collect();
        assert_eq!(unique.len(), claimed.len(), "a delivery was claimed twice");
        assert_eq!(unique.len(), 24);
        let alerts = store.list_alerts(p, 100, None).unwrap();
        assert_eq!(alerts.len(), 24);
        assert!(
            alerts
                .iter()
                .all(|a| a.deliveries.len() == 1 && a.deliveries[0].attempts == 1)
        );
    }
);

//! Grouping that lasts: an upgrade of the grouping configuration keeps every
//! issue (in process, on the corpus, with the clock passed in), and the doors —
//! a configuration switch through the API with real SDK events, issue keys,
//! merge and unmerge through the API and the CLI, rules refused with their
//! line and column, and trying rules on an event.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use periscope_sentry_envelope::Event;
use periscope_server::service::grouping::ProjectGrouping;
use periscope_store::{
    AlertStore, IngestStore, NewEvent, ProjectSettings, ProjectStore, ProjectUpdate, Store,
};
use serde_json::{Value, json};

use crate::common::{Server, http, issues_in, small_event, store_post};

/// Events of many shapes: the corpus when it is there, else a handful.
fn sample_events() -> Vec<Vec<u8>> {
    if let Some(dir) = crate::common::corpus_dir() {
        let files = crate::common::corpus_files(&dir);
        if !files.is_empty() {
            return files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        }
    }
    (0..6)
        .map(|i| small_event(&format!("g{i}")).1)
        .chain([
            br#"{"message": "disk full on /dev/sda1"}"#.to_vec(),
            br#"{"logentry": {"message": "user %s logged out", "params": ["ann"]}}"#.to_vec(),
        ])
        .collect()
}

/// Every event grouped by `grouping` at `now` and stored in one batch; returns
/// how many created an issue.
fn ingest(
    store: &Store,
    project: periscope_store::ProjectId,
    grouping: &ProjectGrouping,
    events: &[Vec<u8>],
    now: DateTime<Utc>,
) -> usize {
    let batch: Vec<NewEvent> = events
        .iter()
        .map(|payload| {
            let event = Event::from_slice(payload).unwrap();
            let grouped = grouping.group(&event, now);
            NewEvent {
                project_id: project,
                event_id: format!("{:032x}", rand::random::<u128>()),
                grouping_keys: grouped.keys,
                title: grouped.grouping.title.clone(),
                culprit: grouped.grouping.culprit.clone(),
                level: "error".into(),
                timestamp: now,
                received_at: now,
                release: None,
                environment: None,
                tags: Vec::new(),
                payload: payload.clone(),
                grouping_explanation: None,
                user: None,
            }
        })
        .collect();
    let writer = store.ingest_writer().unwrap();
    writer
        .ingest_batch(&batch, now)
        .unwrap()
        .iter()
        .filter(|o| o.created)
        .count()
}

fn with_config(store: &Store, project: periscope_store::ProjectId, settings: ProjectSettings) {
    store
        .update_project(
            project,
            &ProjectUpdate {
                name: None,
                settings: Some(settings),
            },
        )
        .unwrap();
}

/// The upgrade test: issues made under `periscope:2026-11`, then a switch to
/// `periscope:2026-12`, whose keys all differ (its hash has another version tag,
/// and its rules differ). During the transition no event of an existing issue
/// opens a new issue or alerts; after it, the same events still land in the
/// issues that existed before the switch. Without a transition (the negative
/// control) the same switch opens new issues.
#[test]
fn an_upgrade_keeps_every_issue() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_url(&format!("sqlite://{}", dir.path().join("db").display())).unwrap();
    let t0 = Utc::now();
    let events = sample_events();
    for transition in [true, false] {
        let project = store
            .create_project(
                &format!("upgrade-{transition}"),
                &format!("{:032x}", rand::random::<u128>()),
                t0,
            )
            .unwrap()
            .id;
        let old = ProjectSettings {
            grouping_strategy: "default".into(),
            ..ProjectSettings::default()
        };
        with_config(&store, project, old.clone());
        let created = ingest(&store, project, &ProjectGrouping::of(&old), &events, t0);
        let before: BTreeSet<i64> = issues_in(&store, project.get())
            .iter()
            .map(|i| i.id.get())
            .collect();
        assert_eq!(created, before.len());
        assert!(before.len() > 1);
        let alerts_before = store.list_alerts(project, 1000, None).unwrap().len();

        // The switch, as the service makes it.
        let mut new = ProjectSettings {
            grouping_strategy: "periscope:2026-12".into(),
            ..old.clone()
        };
        if transition {
            new.grouping_transition_from = Some("periscope:2026-11".into());
            new.grouping_transition_until = Some(t0 + Duration::days(30));
        }
        with_config(&store, project, new.clone());
        let grouping = ProjectGrouping::of(&new);
        // The two configurations disagree on every key.
        for payload in &events {
            let e = Event::from_slice(payload).unwrap();
            let a = ProjectGrouping::of(&old).group(&e, t0).grouping.key;
            assert_ne!(grouping.current().group(&e).key, a);
        }
        let during = t0 + Duration::days(1);
        let created = ingest(&store, project, &grouping, &events, during);
        let issues: BTreeSet<i64> = issues_in(&store, project.get())
            .iter()
            .map(|i| i.id.get())
            .collect();
        if !transition {
            assert!(
                created > 0,
                "without a transition the switch opens new issues"
            );
            assert!(issues.len() > before.len());
            continue;
        }
        assert_eq!(created, 0, "no new issue during the transition");
        assert_eq!(issues, before);
        assert_eq!(
            store.list_alerts(project, 1000, None).unwrap().len(),
            alerts_before,
            "no new-issue alert during the transition"
        );
        // After the transition: only the new keys, which the issues now carry.
        let after = t0 + Duration::days(31);
        assert!(grouping.previous(after).is_none());
        assert_eq!(ingest(&store, project, &grouping, &events, after), 0);
        let issues: BTreeSet<i64> = issues_in(&store, project.get())
            .iter()
            .map(|i| i.id.get())
            .collect();
        assert_eq!(issues, before, "after the transition, the same issues");
        let total: u64 = issues_in(&store, project.get())
            .iter()
            .map(|i| i.count)
            .sum();
        assert_eq!(total, 3 * events.len() as u64);
    }
}

fn api(s: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}{path}", s.base()))
        .header(
            "authorization",
            "Bearer grouping-admin-key-0123456789-abcdefghij",
        );
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn send(s: &Server, project: i64, key: &str, body: &Value) -> i64 {
    let answer = store_post(s, project, key, serde_json::to_vec(body).unwrap());
    assert_eq!(answer.status, 200, "{}", answer.body);
    let id = answer.id().unwrap();
    let store = s.store();
    let stored = periscope_test_support::wait::until(
        "the event stored",
        std::time::Duration::from_secs(20),
        || crate::common::stored_event(&store, project, &id),
    );
    stored.summary.issue_id.get()
}

fn exception(ty: &str, function: &str) -> Value {
    json!({
        "event_id": crate::common::new_event_id(),
        "platform": "python",
        "exception": {"values": [{"type": ty, "value": "it broke",
            "stacktrace": {"frames": [{"module": "app.jobs", "function": function, "in_app": true}]}}]}
    })
}

#[test]
fn the_doors_switch_merge_unmerge_and_try_rules() {
    let mut s = Server::sqlite();
    s.set(
        "API_SECRET_KEY_ADMIN",
        "grouping-admin-key-0123456789-abcdefghij",
    );
    s.start();
    let (project, _dsn, key) = s.create_project("grouping");
    use reqwest::Method;

    // New projects group with the newest configuration, and say so.
    let (status, g) = api(
        &s,
        Method::GET,
        &format!("/api/admin/projects/{project}/grouping"),
        None,
    );
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["config"], "periscope:2026-12");
    assert_eq!(g["transition_from"], Value::Null);
    assert!(g["configs"].as_array().unwrap().len() >= 3);

    // Back to the first configuration, then issues under it.
    let (status, _) = api(
        &s,
        Method::PATCH,
        &format!("/api/admin/projects/{project}"),
        Some(json!({"grouping_strategy": "periscope:2026-11"})),
    );
    assert_eq!(status, 200);
    let a = send(&s, project, &key, &exception("ValueError", "load"));
    let b = send(&s, project, &key, &exception("KeyError", "save"));
    assert_ne!(a, b);

    // The switch starts a transition: an event of issue A still joins it,
    // and A gains the new configuration's key.
    let (status, p) = api(
        &s,
        Method::PATCH,
        &format!("/api/admin/projects/{project}"),
        Some(json!({"grouping_strategy": "periscope:2026-12"})),
    );
    assert_eq!(status, 200, "{p}");
    let (_, g) = api(
        &s,
        Method::GET,
        &format!("/api/admin/projects/{project}/grouping"),
        None,
    );
    assert_eq!(g["config"], "periscope:2026-12");
    assert_eq!(g["transition_from"], "periscope:2026-11");
    assert!(g["transition_until"].is_string());
    assert_eq!(send(&s, project, &key, &exception("ValueError", "load")), a);
    let (status, keys) = api(
        &s,
        Method::GET,
        &format!("/api/admin/issues/{a}/keys"),
        None,
    );
    assert_eq!(status, 200);
    let configs: BTreeSet<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["config"].as_str().unwrap())
        .collect();
    assert_eq!(
        configs,
        BTreeSet::from(["periscope:2026-11", "periscope:2026-12"])
    );
    let cli_keys = s.cli(&["issue", "keys", &a.to_string()]);
    assert!(cli_keys.contains("periscope:2026-12"), "{cli_keys}");

    // Merge B into A (API): B redirects, A counts both.
    let (status, m) = api(
        &s,
        Method::POST,
        &format!("/api/admin/issues/{a}/merge"),
        Some(json!({"issues": [b]})),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["merged"], json!([b]));
    assert_eq!(m["moved_events"], 1);
    let (_, issue_b) = api(&s, Method::GET, &format!("/api/admin/issues/{b}"), None);
    assert_eq!(issue_b["issue"]["merged_into"], a);
    let (_, issue_a) = api(&s, Method::GET, &format!("/api/admin/issues/{a}"), None);
    assert_eq!(issue_a["issue"]["count"], 3);
    // A new event of B's shape now joins A.
    assert_eq!(send(&s, project, &key, &exception("KeyError", "save")), a);
    // Merging an issue into itself or from a tombstone: clear 4xx.
    let (status, e) = api(
        &s,
        Method::POST,
        &format!("/api/admin/issues/{a}/merge"),
        Some(json!({"issues": [a]})),
    );
    assert_eq!(status, 409, "{e}");
    let (status, e) = api(
        &s,
        Method::POST,
        &format!("/api/admin/issues/{a}/merge"),
        Some(json!({"issues": [b]})),
    );
    assert_eq!(status, 409, "{e}");
    let (status, _) = api(
        &s,
        Method::POST,
        &format!("/api/admin/issues/{a}/merge"),
        Some(json!({"issues": []})),
    );
    assert_eq!(status, 400);

    // Unmerge B's keys again (CLI): a new issue with B's events.
    let (_, keys) = api(
        &s,
        Method::GET,
        &format!("/api/admin/issues/{a}/keys"),
        None,
    );
    let b_keys: Vec<String> = keys["keys"].as_array().unwrap().iter()
        .filter(|k| k["count"].as_u64().unwrap() > 0)
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .filter(|k| {
            let issue_of = |ty: &str| {
                let (_, t) = api(&s, Method::POST, &format!("/api/admin/projects/{project}/grouping/test"),
                    Some(json!({"event": exception(ty, if ty == "KeyError" { "save" } else { "load" }), "config": "periscope:2026-11"})));
                t["key"].as_str().unwrap().to_owned()
            };
            *k == issue_of("KeyError")
        })
        .collect();
    assert_eq!(b_keys.len(), 1, "{keys}");
    let out = s.cli(&["issue", "unmerge", &a.to_string(), &b_keys[0], "--json"]);
    let out: Value = serde_json::from_str(out.trim()).unwrap();
    let c = out["issue_id"].as_i64().unwrap();
    assert_ne!(c, a);
    let (_, issue_c) = api(&s, Method::GET, &format!("/api/admin/issues/{c}"), None);
    assert_eq!(issue_c["issue"]["count"], 1, "{issue_c}");
    let (_, issue_a) = api(&s, Method::GET, &format!("/api/admin/issues/{a}"), None);
    assert_eq!(issue_a["issue"]["count"], 3);
    // And merged back with the CLI.
    let out = s.cli(&["issue", "merge", &a.to_string(), &c.to_string()]);
    assert!(out.contains(&format!("into issue {a}")), "{out}");

    // Rules: refused with line and column, naming the field; saved when valid.
    let (status, e) = api(
        &s,
        Method::PATCH,
        &format!("/api/admin/projects/{project}"),
        Some(json!({"fingerprint_rules": "error.type:ValueError -> values\nerror.tpye:X -> y"})),
    );
    assert_eq!(status, 400);
    assert!(e["detail"].as_str().unwrap().contains("2:1"), "{e}");
    let rules = "error.type:ValueError -> all-value-errors title=\"Value errors\"";
    let (status, p) = api(
        &s,
        Method::PATCH,
        &format!("/api/admin/projects/{project}"),
        Some(json!({"fingerprint_rules": rules})),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["project"]["settings"]["fingerprint_rules"], rules);
    // Trying it names the rule; an event of the rule's shape opens one issue.
    let (status, t) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({"event": exception("ValueError", "elsewhere")})),
    );
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["variant"], "custom-fingerprint");
    assert_eq!(t["title"], "Value errors");
    assert!(
        t["explanation"]
            .to_string()
            .contains("error.type:ValueError"),
        "{t}"
    );
    assert_eq!(t["issue_id"], Value::Null);
    let v1 = send(&s, project, &key, &exception("ValueError", "one"));
    let v2 = send(&s, project, &key, &exception("ValueError", "two"));
    assert_eq!(v1, v2);
    let (_, t) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({"event": exception("ValueError", "three")})),
    );
    assert_eq!(t["issue_id"], v1);
    // Draft rules are tried without being saved; bad input is a clear 400.
    let (status, t) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({"event": exception("KeyError", "x"), "stacktrace_rules": "function:x -group"})),
    );
    assert_eq!(status, 200, "{t}");
    let (status, _) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({"event": "not an event"})),
    );
    assert_eq!(status, 400);
    let (status, _) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({})),
    );
    // Neither event nor event_id: the project's latest event, which joins its
    // own issue.
    assert_eq!(status, 200);
    let (status, t) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({})),
    );
    assert_eq!(status, 200);
    assert!(t["issue_id"].is_i64(), "{t}");
    let (status, _) = api(
        &s,
        Method::POST,
        &format!("/api/admin/projects/{project}/grouping/test"),
        Some(json!({"event": {}, "stacktrace_rules": "x".repeat(100_000)})),
    );
    assert_eq!(status, 400);
    // The CLI shows the settings and groups a file as the project does.
    let shown = s.cli(&["project", "grouping", &project.to_string()]);
    assert!(
        shown.contains("periscope:2026-12") && shown.contains("all-value-errors"),
        "{shown}"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        serde_json::to_vec(&exception("ValueError", "four")).unwrap(),
    )
    .unwrap();
    let line = s.cli(&[
        "group",
        "--project",
        &project.to_string(),
        file.path().to_str().unwrap(),
    ]);
    let line: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(line["issue_id"], v1);
}

/// `periscope regroup`: a rule that makes three issues one, applied to the
/// stored events; the dry run changes nothing and says what would move.
#[test]
fn regroup_applies_a_new_rule_to_stored_events() {
    let mut s = Server::sqlite();
    s.set(
        "API_SECRET_KEY_ADMIN",
        "grouping-admin-key-0123456789-abcdefghij",
    );
    s.start();
    let (project, _dsn, key) = s.create_project("regroup");
    let issues: BTreeSet<i64> = ["one", "two", "three"]
        .iter()
        .map(|f| send(&s, project, &key, &exception("ValueError", f)))
        .collect();
    assert_eq!(issues.len(), 3);
    let other = send(&s, project, &key, &exception("KeyError", "four"));
    // Through the API, whose change reaches this server's project cache at
    // once (a CLI change reaches it within the key-version poll, ~1 s).
    let (status, _) = api(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/admin/projects/{project}"),
        Some(json!({"fingerprint_rules": "error.type:ValueError -> value-errors"})),
    );
    assert_eq!(status, 200);

    let p = project.to_string();
    let dry: Value = serde_json::from_str(
        s.cli(&["regroup", "--project", &p, "--dry-run", "--json"])
            .trim(),
    )
    .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["events_seen"], 4);
    assert_eq!(dry["events_moved"], 3, "{dry}");
    assert_eq!(dry["new_issues"], 1);
    assert_eq!(dry["complete"], true);
    let from: BTreeSet<i64> = dry["merges"][0][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(from, issues);
    // Nothing changed.
    let live = |s: &Server| -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64)> = issues_in(&s.store(), project)
            .iter()
            .map(|i| (i.id.get(), i.count))
            .collect();
        v.sort();
        v
    };
    assert_eq!(live(&s).len(), 4);

    // In batches of two, resumable: the cursor is printed.
    let out = s.cli(&["regroup", "--project", &p, "--batch", "2", "--json"]);
    let done: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(done["events_moved"], 3, "{done}");
    assert_eq!(done["new_issues"], 1);
    let now = live(&s);
    assert_eq!(now.len(), 2, "{now:?}");
    let merged = now.iter().find(|(id, _)| *id != other).unwrap();
    assert_eq!(merged.1, 3);
    // A new event of the rule's shape joins the regrouped issue; a second run
    // moves nothing.
    let five = send(&s, project, &key, &exception("ValueError", "five"));
    assert_eq!(five, merged.0);
    let again: Value =
        serde_json::from_str(s.cli(&["regroup", "--project", &p, "--json"]).trim()).unwrap();
    assert_eq!(again["events_moved"], 0, "{again}");
    // The old issues redirect.
    for old in &issues {
        let (status, i) = api(
            &s,
            reqwest::Method::GET,
            &format!("/api/admin/issues/{old}"),
            None,
        );
        assert_eq!(status, 200);
        assert!(
            i["issue"]["merged_into"] == merged.0 || *old == merged.0,
            "{i}"
        );
    }
    // Bad input: a clear error.
    let (ok, _, err) = s.cli_raw(&["regroup", "--project", &p, "--batch", "0"]);
    assert!(!ok);
    assert!(err.contains("batch"), "{err}");
}

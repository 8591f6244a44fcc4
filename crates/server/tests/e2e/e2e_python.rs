//! The official Python SDK (`sentry-sdk` from PyPI) as a client of the real binary:
//! `tests/python/sdk_e2e.py` sends an exception with a stack trace (twice), a message
//! (twice), a chained exception, a custom fingerprint, breadcrumbs and tags; here we
//! check each became the expected issue. The interpreter comes from
//! `PERISCOPE_TEST_PYTHON` (`.ci/run` makes a venv with sentry-sdk 2.x).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use crate::common::{Server, cli_issues, stored_json};

fn ids(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(list) => list.iter().flat_map(ids).collect(),
        serde_json::Value::String(s) => vec![s.replace('-', "")],
        other => panic!("not an event id: {other}"),
    }
}

#[test]
fn python_sdk_events_become_issues() {
    let Some(python) = std::env::var_os("PERISCOPE_TEST_PYTHON").filter(|p| !p.is_empty()) else {
        println!("skipped: PERISCOPE_TEST_PYTHON not set");
        return;
    };
    let mut server = Server::sqlite();
    server.start();
    // Created once the server runs, so that the CLI's DSN names its address.
    let (project, dsn, _key) = server.create_project("python-sdk");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_e2e.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&dsn)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed: {stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();

    // Every event the SDK reported as captured is stored under its id.
    for case in ["exception", "message", "chained", "fingerprint", "tagged"] {
        let case_ids = ids(&sent[case]);
        assert!(!case_ids.is_empty(), "{case}: no ids in {sent}");
        for id in case_ids {
            stored_json(&server, project, &id);
        }
    }
    let issue_of = |id: &str| -> i64 {
        let e = crate::common::stored_event(&server.store(), project, id).unwrap();
        e.summary.issue_id.get()
    };
    let issues = cli_issues(&server, project);
    let by_id = |id: i64| issues.iter().find(|i| i["id"] == id).unwrap().clone();

    // The same exception twice: one issue of 2 events, titled by type and value.
    let exc = ids(&sent["exception"]);
    assert_eq!(issue_of(&exc[0]), issue_of(&exc[1]));
    let issue = by_id(issue_of(&exc[0]));
    assert_eq!(issue["count"], 2);
    assert_eq!(issue["title"], "ZeroDivisionError: division by zero");
    let payload = stored_json(&server, project, &exc[0]);
    let frames = payload["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap();
    assert!(
        frames.iter().any(|f| f["function"] == "divide"),
        "a stack trace: {frames:?}"
    );
    assert!(
        issue["culprit"].as_str().unwrap_or("").contains("divide"),
        "{issue}"
    );

    // The message twice: one issue of 2.
    let msg = ids(&sent["message"]);
    assert_eq!(issue_of(&msg[0]), issue_of(&msg[1]));
    let issue = by_id(issue_of(&msg[0]));
    assert_eq!(issue["count"], 2);
    assert!(
        issue["title"].as_str().unwrap().starts_with("Invoice "),
        "{issue}"
    );
    assert_eq!(issue["level"], "warning");

    // `raise RuntimeError from ValueError`: both kept, the outer one names the issue.
    let chained = ids(&sent["chained"]);
    let issue = by_id(issue_of(&chained[0]));
    assert_eq!(issue["count"], 1);
    assert!(
        issue["title"]
            .as_str()
            .unwrap()
            .starts_with("RuntimeError: could not load settings"),
        "{issue}"
    );
    let payload = stored_json(&server, project, &chained[0]);
    let types: Vec<&str> = payload["exception"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ValueError", "RuntimeError"]);

    // A custom fingerprint: two different exceptions, one issue.
    let fp = ids(&sent["fingerprint"]);
    assert_eq!(issue_of(&fp[0]), issue_of(&fp[1]));
    assert_eq!(by_id(issue_of(&fp[0]))["count"], 2);

    // Breadcrumbs and tags are kept, tags are searchable.
    let tagged = ids(&sent["tagged"]);
    let payload = stored_json(&server, project, &tagged[0]);
    let crumbs = payload["breadcrumbs"]["values"].as_array().unwrap();
    assert!(
        crumbs.iter().any(|c| c["message"] == "SELECT 1"),
        "{crumbs:?}"
    );
    assert!(
        crumbs.iter().any(|c| c["category"] == "ui.click"),
        "{crumbs:?}"
    );
    assert_eq!(payload["tags"]["feature"], "reports");
    let pid = project.to_string();
    let found = server.cli(&[
        "issue",
        "list",
        "--project",
        &pid,
        "--query",
        "feature:reports",
        "--json",
    ]);
    let found: Vec<serde_json::Value> = found
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], issue_of(&tagged[0]));
    assert!(
        found[0]["title"].as_str().unwrap().starts_with("KeyError"),
        "{}",
        found[0]
    );

    // Five issues in all: exception, message, chained, fingerprint, tagged.
    assert_eq!(issues.len(), 5, "{issues:#?}");
    server.stop();
}

//! The admin API and the CLI are two doors to one application layer: the same
//! rules and the same answers (JSON shapes and millisecond timestamps).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use crate::common::{Server, auth_header, http};

const KEY: &str = "doors-admin-key-0123456789abcdefghijkl";

fn api(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = http();
    let url = format!("{}{path}", s.base());
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        _ => client.delete(url),
    }
    .header("authorization", format!("Bearer {KEY}"));
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Runs the CLI expecting failure; returns its error line.
fn cli_error(s: &Server, args: &[&str]) -> String {
    let (ok, _out, err) = s.cli_raw(args);
    assert!(!ok, "{args:?} should fail");
    err
}

fn is_millis_timestamp(v: &Value) -> bool {
    let t = v.as_str().unwrap_or_default();
    t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.'
}

#[test]
fn both_doors_give_the_same_answers_and_follow_the_same_rules() {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    // DSNs are built from the public URL, which both doors share.
    s.set("PERISCOPE_BASE_URL", "https://errors.example.com");
    s.start();

    // A name is trimmed at both doors.
    let cli_project: Value =
        serde_json::from_str(s.cli(&["project", "create", "  spaced  ", "--json"]).trim()).unwrap();
    assert_eq!(cli_project["name"], "spaced");
    let (status, api_project) = api(
        &s,
        "POST",
        "/api/admin/projects",
        Some(json!({"name": "  spaced too "})),
    );
    assert_eq!(status, 201);
    assert_eq!(api_project["project"]["name"], "spaced too");
    // The same project, read through both doors, is the same JSON.
    let id = cli_project["id"].as_i64().unwrap();
    let (_, via_api) = api(&s, "GET", &format!("/api/admin/projects/{id}"), None);
    assert_eq!(via_api["project"], cli_project);
    assert!(
        is_millis_timestamp(&cli_project["created_at"]),
        "{cli_project}"
    );

    // A name longer than 200 characters is refused at both, with the same words.
    let long = "n".repeat(201);
    let cli = cli_error(&s, &["project", "create", &long]);
    let (status, api_err) = api(
        &s,
        "POST",
        "/api/admin/projects",
        Some(json!({"name": long})),
    );
    assert_eq!(status, 400);
    let detail = api_err["detail"].as_str().unwrap();
    assert!(cli.contains(detail), "CLI {cli:?} vs API {detail:?}");

    // An issue, through both doors.
    let key = cli_project["keys"][0]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = http()
        .post(format!("{}/api/{id}/store/", s.base()))
        .header("x-sentry-auth", auth_header(&key))
        .body(r#"{"exception": {"values": [{"type": "KeyError", "value": "'x'"}]}}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let lines = s.cli(&["issue", "list", "--project", &id.to_string(), "--json"]);
    let cli_issue: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let (_, api_list) = api(&s, "GET", &format!("/api/admin/projects/{id}/issues"), None);
    assert_eq!(api_list["issues"][0], cli_issue);
    for field in ["first_seen", "last_seen", "created_at"] {
        assert!(
            is_millis_timestamp(&cli_issue[field]),
            "{field}: {cli_issue}"
        );
    }
    let issue_id = cli_issue["id"].as_i64().unwrap();
    let cli_detail: Value = serde_json::from_str(
        s.cli(&["issue", "show", &issue_id.to_string(), "--json"])
            .trim(),
    )
    .unwrap();
    let (_, api_detail) = api(&s, "GET", &format!("/api/admin/issues/{issue_id}"), None);
    assert_eq!(api_detail["issue"], cli_detail);

    // Mute and resolve rules, with the same words at both doors.
    let issue_path = format!("/api/admin/issues/{issue_id}");
    let sid = issue_id.to_string();
    for (args, body) in [
        (
            vec!["issue", "mute", sid.as_str(), "--until-count", "0"],
            json!({"status": "muted", "mute_until_count": 0}),
        ),
        (
            vec!["issue", "resolve", sid.as_str(), "--release", "   "],
            json!({"status": "resolved", "resolved_in_release": "   "}),
        ),
        (
            vec!["issue", "mute", sid.as_str(), "--for", "3651d"],
            json!({"status": "muted", "mute_for_seconds": 3651 * 86_400}),
        ),
    ] {
        let cli = cli_error(&s, &args);
        let (status, err) = api(&s, "PATCH", &issue_path, Some(body));
        assert_eq!(status, 400, "{err}");
        let detail = err["detail"].as_str().unwrap();
        assert!(cli.contains(detail), "CLI {cli:?} vs API {detail:?}");
    }
    // A release is trimmed at both doors.
    s.cli(&["issue", "resolve", &sid, "--release", " 1.0 "]);
    let (_, detail) = api(&s, "GET", &issue_path, None);
    assert_eq!(detail["issue"]["resolved_in_release"], "1.0");
    let (status, patched) = api(
        &s,
        "PATCH",
        &issue_path,
        Some(json!({"status": "resolved", "resolved_in_release": " 2.0 "})),
    );
    assert_eq!(status, 200);
    assert_eq!(patched["issue"]["resolved_in_release"], "2.0");
}

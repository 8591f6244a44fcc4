//! The admin API and the CLI end to end, against the real `periscope` binary:
//! every endpoint's success, 401, 404, 400 and cross-project cases, the OpenAPI
//! document's coverage of the router, and search and pagination over 10,000 events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::collapsible_if)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Server, auth_header, http};
use serde_json::{Value, json};

const KEY: &str = "test-admin-key-0123456789-abcdefghij";

/// A started server with the admin key set.
fn server() -> Server {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.start();
    s
}

/// A started server on a fresh PostgreSQL database, or `None` (prints "skipped").
fn postgres_server(hint: &str) -> Option<Server> {
    let mut s = Server::postgres(hint)?;
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.start();
    Some(s)
}

/// The status a CLI status change reports ("issue 7 is now muted" → "muted"): a
/// whole word, so "unmuted" or "unresolved" never pass for "muted" or "resolved".
fn status_word(out: &str) -> &str {
    out.split_whitespace().last().unwrap_or("")
}

/// One admin request with the right key: (status, JSON body or Null).
fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_with(s, method, path, body, Some(&format!("Bearer {KEY}")))
}

fn call_with(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<Value>,
    authorization: Option<&str>,
) -> (u16, Value) {
    let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base()));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A request with a raw body.
fn call_raw(s: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let resp = http()
        .request(method.parse().unwrap(), format!("{}{path}", s.base()))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().unwrap()).unwrap_or(Value::Null),
    )
}

/// Asserts a status and that the body is `{"detail": "..."}` containing `needle`.
#[track_caller]
fn assert_error(got: (u16, Value), status: u16, needle: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    let detail = got.1["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail in {}", got.1));
    assert!(
        detail.to_lowercase().contains(&needle.to_lowercase()),
        "{detail:?} does not mention {needle:?}"
    );
}

fn create_project(s: &Server, name: &str) -> (i64, String) {
    let (status, v) = call(
        s,
        "POST",
        "/api/admin/projects",
        Some(json!({ "name": name })),
    );
    assert_eq!(status, 201, "{v}");
    let p = &v["project"];
    (
        p["id"].as_i64().unwrap(),
        p["keys"][0]["public_key"].as_str().unwrap().to_owned(),
    )
}

/// Sends an event through the store endpoint; returns its id.
fn send(
    s: &Server,
    client: &reqwest::blocking::Client,
    project: i64,
    key: &str,
    event: &Value,
) -> String {
    let resp = client
        .post(format!("{}/api/{project}/store/", s.base()))
        .header("x-sentry-auth", auth_header(key))
        .json(event)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn error_event(ty: &str, value: &str, extra: Value) -> Value {
    let mut e = json!({
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "module": "shop.checkout",
            "stacktrace": {"frames": [
                {"module": "shop.main", "function": "main", "filename": "shop/main.py", "lineno": 10, "in_app": true},
                {"module": "shop.checkout", "function": "pay", "filename": "shop/checkout.py", "lineno": 42,
                 "in_app": true, "context_line": "    total = amount / count"}
            ]}
        }]}
    });
    if let (Some(obj), Some(more)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    e
}

fn issues_of(s: &Server, project: i64, query: &str) -> Vec<Value> {
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{project}/issues?{query}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["issues"].as_array().unwrap().clone()
}

#[test]
fn projects_crud_and_errors() {
    let s = server();
    let (id, key) = create_project(&s, "shop");
    let (status, v) = call(&s, "GET", &format!("/api/admin/projects/{id}"), None);
    assert_eq!(status, 200);
    assert_eq!(v["project"]["name"], "shop");
    assert!(v["project"]["dsn"].as_str().unwrap().contains(&key));
    assert!(v["project"]["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, v) = call(&s, "GET", "/api/admin/projects", None);
    assert_eq!(status, 200);
    assert_eq!(v["projects"].as_array().unwrap().len(), 1);

    // Bad bodies: 400 with a JSON detail.
    assert_error(
        call(&s, "POST", "/api/admin/projects", Some(json!({}))),
        400,
        "name",
    );
    assert_error(
        call(
            &s,
            "POST",
            "/api/admin/projects",
            Some(json!({"name": "  "})),
        ),
        400,
        "empty",
    );
    assert_error(
        call(&s, "POST", "/api/admin/projects", Some(json!({"name": 5}))),
        400,
        "invalid",
    );
    assert_error(
        call(
            &s,
            "POST",
            "/api/admin/projects",
            Some(json!({"name": "x", "nmae": 1})),
        ),
        400,
        "nmae",
    );
    assert_error(
        call_raw(&s, "POST", "/api/admin/projects", "{"),
        400,
        "invalid",
    );
    assert_error(call_raw(&s, "POST", "/api/admin/projects", ""), 400, "json");

    // PATCH: name, quotas, retention, strategy; null clears.
    let path = format!("/api/admin/projects/{id}");
    let (status, v) = call(
        &s,
        "PATCH",
        &path,
        Some(
            json!({"name": "shop-2", "quota_per_minute": 100, "quota_per_hour": 1000, "quota_per_day": 5000,
                    "max_events": 10000, "max_age_days": 30, "grouping_strategy": "type-and-value"}),
        ),
    );
    assert_eq!(status, 200, "{v}");
    let p = &v["project"];
    assert_eq!(p["name"], "shop-2");
    assert_eq!(p["settings"]["quota_per_minute"], 100);
    assert_eq!(p["settings"]["quota_per_hour"], 1000);
    assert_eq!(p["settings"]["quota_per_day"], 5000);
    assert_eq!(p["settings"]["max_events"], 10000);
    assert_eq!(p["settings"]["max_age_days"], 30);
    assert_eq!(p["settings"]["grouping_strategy"], "type-and-value");
    let (status, v) = call(&s, "PATCH", &path, Some(json!({"quota_per_minute": null})));
    assert_eq!(status, 200);
    assert!(v["project"]["settings"]["quota_per_minute"].is_null());
    assert_eq!(
        v["project"]["settings"]["quota_per_hour"], 1000,
        "absent fields are kept"
    );
    assert_error(
        call(
            &s,
            "PATCH",
            &path,
            Some(json!({"grouping_strategy": "fancy"})),
        ),
        400,
        "grouping_strategy",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"quota_per_hour": "many"}))),
        400,
        "invalid",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"quota_per_hour": -1}))),
        400,
        "invalid",
    );
    assert_error(
        call(
            &s,
            "PATCH",
            &path,
            Some(json!({"quota_per_day": 10u64.pow(15)})),
        ),
        400,
        "quota_per_day",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"max_age_days": 100_000}))),
        400,
        "max_age_days",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"max_events": 0}))),
        400,
        "max_events",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"retention": 3}))),
        400,
        "retention",
    );
    assert_error(
        call(&s, "PATCH", &path, Some(json!({"name": ""}))),
        400,
        "empty",
    );

    // Unknown and malformed ids.
    for method in ["GET", "PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| json!({"name": "x"}));
        assert_error(
            call(&s, method, "/api/admin/projects/987654", body.clone()),
            404,
            "no project",
        );
        assert_error(
            call(&s, method, "/api/admin/projects/abc", body),
            400,
            "path",
        );
    }

    // The project's DSN works, then stops working once it is deleted (the key
    // cache is invalidated by the admin API).
    let client = http();
    send(
        &s,
        &client,
        id,
        &key,
        &error_event("ValueError", "before delete", json!({})),
    );
    let (status, _) = call(&s, "DELETE", &path, None);
    assert_eq!(status, 204);
    assert_error(call(&s, "GET", &path, None), 404, "no project");
    assert_error(call(&s, "DELETE", &path, None), 404, "no project");
    let resp = client
        .post(format!("{}/api/{id}/store/", s.base()))
        .header("x-sentry-auth", auth_header(&key))
        .json(&error_event("ValueError", "after delete", json!({})))
        .send()
        .unwrap();
    assert!(
        matches!(resp.status().as_u16(), 401 | 403 | 404),
        "ingest for a deleted project answered {}",
        resp.status()
    );
}

/// Every `(method, path)` the OpenAPI document lists, with ids filled in.
fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn fill(path: &str) -> String {
    path.replace("{event_id}", "0123456789abcdef0123456789abcdef")
        .replace("{public_key}", "fedcba9876543210fedcba9876543210")
        .replace("{delivery_id}", "987654")
        .replace("{dest_id}", "987654")
        .replace("{destination_id}", "987654")
        .replace("{id}", "987654")
}

#[test]
fn authentication() {
    // No key configured: every authenticated route says how to enable it.
    let mut off = Server::sqlite();
    off.start();
    let (status, doc) = call_with(&off, "GET", "/api/admin/openapi.json", None, None);
    assert_eq!(status, 200, "the OpenAPI document needs no key");
    let routes = documented_routes(&doc);
    assert!(routes.len() >= 14, "{routes:?}");
    for (method, path) in &routes {
        if path.ends_with("openapi.json") {
            continue;
        }
        let got = call_with(
            &off,
            method,
            &fill(path),
            Some(json!({})),
            Some(&format!("Bearer {KEY}")),
        );
        assert_error(got, 401, "API_SECRET_KEY_ADMIN");
    }
    drop(off);

    // Many wrong keys follow: this server does not slow them down (see
    // `wrong_admin_keys_are_slowed_down` for the default).
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.set("PERISCOPE_AUTH_FREE_FAILURES", "100000");
    s.start();
    let (id, _) = create_project(&s, "p");
    let projects = format!("/api/admin/projects/{id}");
    for auth in [
        None,
        Some("Bearer wrong-key"),
        Some(&format!("Basic {KEY}")[..]),
        Some("Bearer "),
        Some(KEY),
    ] {
        let got = call_with(&s, "GET", &projects, None, auth);
        assert_eq!(got.0, 401, "{auth:?}: {}", got.1);
        assert!(got.1["detail"].is_string());
    }
    // Every documented route refuses a missing or wrong key, before looking at
    // ids or bodies.
    for (method, path) in &routes {
        if path.ends_with("openapi.json") {
            continue;
        }
        let path = fill(path).replace("987654", &id.to_string());
        assert_eq!(
            call_with(&s, method, &path, Some(json!({})), None).0,
            401,
            "{method} {path}"
        );
        assert_eq!(
            call_with(&s, method, &path, Some(json!({})), Some("Bearer nope")).0,
            401,
            "{method} {path}"
        );
    }
    assert_eq!(
        call_with(&s, "GET", &projects, None, Some(&format!("bearer {KEY}"))).0,
        200
    );
}

#[test]
fn wrong_admin_keys_are_slowed_down() {
    let s = server();
    let path = "/api/admin/projects";
    for i in 0..5 {
        let got = call_with(&s, "GET", path, None, Some("Bearer wrong"));
        assert_eq!(got.0, 401, "attempt {i}: {}", got.1);
    }
    // The sixth wrong key from this address must wait, and so must the right key
    // until the wait is over: nothing is checked while waiting.
    let got = call_with(&s, "GET", path, None, Some("Bearer wrong"));
    assert_eq!(got.0, 429, "{}", got.1);
    let got = call_with(&s, "GET", path, None, Some(&format!("Bearer {KEY}")));
    assert_eq!(got.0, 429, "{}", got.1);
    // A missing header is not a guess and does not count.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(call_with(&s, "GET", path, None, None).0, 401);
    // After the wait the right key works and clears the record.
    assert_eq!(
        call_with(&s, "GET", path, None, Some(&format!("Bearer {KEY}"))).0,
        200
    );
    for _ in 0..5 {
        assert_eq!(
            call_with(&s, "GET", path, None, Some("Bearer wrong")).0,
            401
        );
    }
}

#[test]
fn short_admin_keys_stop_the_start() {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", "short");
    let out = s.run_serve_expecting_failure();
    assert!(out.contains("API_SECRET_KEY_ADMIN"), "{out}");
    assert!(out.contains("at least 32"), "{out}");
    assert!(!out.contains("short\""), "the key is not echoed: {out}");
}

#[test]
fn openapi_describes_every_route() {
    let s = server();
    let (status, doc) = call_with(&s, "GET", "/api/admin/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = documented_routes(&doc).into_iter().collect();

    // Every route registered in src/http/admin.rs is documented.
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/admin.rs")).unwrap();
    let mut registered = BTreeSet::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + 7..];
        let open = rest.find('"').unwrap();
        let close = open + 1 + rest[open + 1..].find('"').unwrap();
        let path = rest[open + 1..close].to_owned();
        // The method routers up to the end of this `.route(...)` call.
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[close..end];
        for method in ["get", "post", "patch", "put", "delete"] {
            if call.contains(&format!("{method}(")) {
                registered.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(registered.len() >= 15, "{registered:?}");
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");

    // And every documented route is served (not the 404 fallback, not 405).
    for (method, path) in &documented {
        let (status, v) = call(
            &s,
            method,
            &fill(path),
            Some(json!({"name": "n", "status": "resolved", "type": "internal_logger"})),
        );
        assert_ne!(status, 405, "{method} {path}");
        assert_ne!(v["detail"], "no such endpoint", "{method} {path}");
    }
}

#[test]
fn issues_events_alerts_destinations() {
    issues_events_alerts_destinations_on(&server());
}

#[test]
fn issues_events_alerts_destinations_postgres() {
    if let Some(s) = postgres_server("admin_issues") {
        issues_events_alerts_destinations_on(&s);
    }
}

fn issues_events_alerts_destinations_on(s: &Server) {
    let client = http();
    let (a, key_a) = create_project(s, "alpha");
    let (b, key_b) = create_project(s, "beta");

    let zero = error_event(
        "ZeroDivisionError",
        "division by zero",
        json!({"release": "shop@1.0.0", "environment": "production", "tags": {"customer": "acme"}}),
    );
    let mut zero_ids = Vec::new();
    for i in 0..3 {
        let mut e = zero.clone();
        e["timestamp"] = json!(1_700_000_000 + i);
        zero_ids.push(send(s, &client, a, &key_a, &e));
    }
    let key_err_id = send(
        s,
        &client,
        a,
        &key_a,
        &error_event("KeyError", "'user'", json!({"level": "warning"})),
    );
    let b_event = error_event("ZeroDivisionError", "division by zero", json!({}));
    let b_id = send(s, &client, b, &key_b, &b_event);

    // List.
    let issues = issues_of(s, a, "");
    assert_eq!(issues.len(), 2, "{issues:?}");
    let zi = issues
        .iter()
        .find(|i| {
            i["title"]
                .as_str()
                .unwrap()
                .starts_with("ZeroDivisionError")
        })
        .unwrap();
    let zid = zi["id"].as_i64().unwrap();
    for field in [
        "id",
        "title",
        "culprit",
        "level",
        "status",
        "count",
        "first_seen",
        "last_seen",
        "grouping_key",
    ] {
        assert!(zi.get(field).is_some(), "issue has no {field}: {zi}");
    }
    assert_eq!(zi["count"], 3);
    assert_eq!(zi["status"], "unresolved");
    let b_issues = issues_of(s, b, "");
    assert_eq!(b_issues.len(), 1);
    let bid = b_issues[0]["id"].as_i64().unwrap();
    assert_ne!(bid, zid, "same error in two projects: two issues");
    assert_error(
        call(s, "GET", "/api/admin/projects/987654/issues", None),
        404,
        "no project",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?status=bogus"),
            None,
        ),
        400,
        "status",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?limit=0"),
            None,
        ),
        400,
        "limit",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?limit=x"),
            None,
        ),
        400,
        "query",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?cursor=junk"),
            None,
        ),
        400,
        "cursor",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?colour=red"),
            None,
        ),
        400,
        "colour",
    );
    let long = "x".repeat(2000);
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/issues?query={long}"),
            None,
        ),
        400,
        "at most",
    );

    // One issue, with the grouping explanation and the latest event.
    let (status, v) = call(s, "GET", &format!("/api/admin/issues/{zid}"), None);
    assert_eq!(status, 200, "{v}");
    let issue = &v["issue"];
    assert_eq!(issue["project_id"], a);
    assert_eq!(
        issue["grouping"]["key"], issue["grouping_key"],
        "recomputed key matches the stored one"
    );
    assert!(issue["grouping"]["explanation"].is_object(), "{issue}");
    assert!(issue["grouping"]["variant"].is_string());
    assert_eq!(issue["latest_event"]["event_id"], zero_ids[2].as_str());
    assert_eq!(
        call(
            s,
            "GET",
            &format!("/api/admin/issues/{zid}?project={a}"),
            None
        )
        .0,
        200
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/issues/{zid}?project={b}"),
            None,
        ),
        404,
        "no issue",
    );
    assert_error(
        call(s, "GET", "/api/admin/issues/987654", None),
        404,
        "no issue",
    );
    assert_error(call(s, "GET", "/api/admin/issues/x", None), 400, "path");

    // Its events, newest first, paginated.
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/admin/issues/{zid}/events?limit=2"),
        None,
    );
    assert_eq!(status, 200);
    let first: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(first, [zero_ids[2].as_str(), zero_ids[1].as_str()]);
    assert_eq!(v["events"][0]["release"], "shop@1.0.0");
    assert_eq!(v["events"][0]["tags"]["customer"], "acme");
    let cursor = v["next_cursor"].as_str().unwrap();
    let (_, v) = call(
        s,
        "GET",
        &format!("/api/admin/issues/{zid}/events?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(v["events"][0]["event_id"], zero_ids[0].as_str());
    assert!(v["next_cursor"].is_null());
    assert_error(
        call(s, "GET", "/api/admin/issues/987654/events", None),
        404,
        "no issue",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/issues/{zid}/events?project={b}"),
            None,
        ),
        404,
        "no issue",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/issues/{zid}/events?cursor=zzz"),
            None,
        ),
        400,
        "cursor",
    );

    // One event: the payload as sent, only in its own project.
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{a}/events/{key_err_id}"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(v["exception"]["values"][0]["type"], "KeyError");
    assert_eq!(
        v["exception"]["values"][0]["stacktrace"]["frames"][1]["context_line"],
        "    total = amount / count"
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{b}/events/{key_err_id}"),
            None,
        ),
        404,
        "no event",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/events/{b_id}"),
            None,
        ),
        404,
        "no event",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/events/not-an-id"),
            None,
        ),
        400,
        "event id",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/987654/events/{b_id}"),
            None,
        ),
        404,
        "no project",
    );

    // Status changes.
    let ip = format!("/api/admin/issues/{zid}");
    let (status, v) = call(s, "PATCH", &ip, Some(json!({"status": "resolved"})));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["issue"]["status"], "resolved");
    assert!(issues_of(s, a, "").iter().all(|i| i["id"] != zid));
    assert!(
        issues_of(s, a, "status=resolved")
            .iter()
            .any(|i| i["id"] == zid)
    );
    assert_eq!(issues_of(s, a, "status=all").len(), 2);
    let (_, v) = call(
        s,
        "PATCH",
        &ip,
        Some(json!({"status": "resolved", "resolved_in_release": "shop@1.2.0"})),
    );
    assert_eq!(v["issue"]["resolved_in_release"], "shop@1.2.0");
    let (_, v) = call(
        s,
        "PATCH",
        &ip,
        Some(json!({"status": "muted", "mute_for_seconds": 3600})),
    );
    assert_eq!(v["issue"]["status"], "muted");
    assert!(v["issue"]["muted_until"].is_string());
    let (_, v) = call(
        s,
        "PATCH",
        &ip,
        Some(json!({"status": "muted", "mute_until_count": 100})),
    );
    assert_eq!(v["issue"]["status"], "muted");
    assert!(
        issues_of(s, a, "status=muted")
            .iter()
            .any(|i| i["id"] == zid)
    );
    let (_, v) = call(s, "PATCH", &ip, Some(json!({"status": "unresolved"})));
    assert_eq!(v["issue"]["status"], "unresolved");
    for bad in [
        json!({}),
        json!({"status": "fixed"}),
        json!({"status": "muted", "mute_for_seconds": 10, "mute_until_count": 5}),
        json!({"status": "muted", "mute_for_seconds": 0}),
        json!({"status": "resolved", "mute_for_seconds": 10}),
        json!({"status": "unresolved", "resolved_in_release": "1.0"}),
        json!({"status": "resolved", "resolved_in_release": ""}),
        json!({"status": "resolved", "when": "now"}),
        json!({"status": 1}),
    ] {
        let got = call(s, "PATCH", &ip, Some(bad.clone()));
        assert_eq!(got.0, 400, "{bad} gave {}", got.1);
        assert!(got.1["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_error(
        call(
            s,
            "PATCH",
            "/api/admin/issues/987654",
            Some(json!({"status": "resolved"})),
        ),
        404,
        "no issue",
    );
    // Cross-project: the beta scope cannot change an alpha issue.
    assert_error(
        call(
            s,
            "PATCH",
            &format!("{ip}?project={b}"),
            Some(json!({"status": "resolved"})),
        ),
        404,
        "no issue",
    );
    assert_eq!(call(s, "GET", &ip, None).1["issue"]["status"], "unresolved");

    // Alerts: one new-issue alert per issue, per project.
    let (status, v) = call(s, "GET", &format!("/api/admin/projects/{a}/alerts"), None);
    assert_eq!(status, 200);
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{v}");
    assert!(
        alerts
            .iter()
            .all(|al| al["kind"] == "new_issue" && al["project_id"] == a)
    );
    let (_, v) = call(s, "GET", &format!("/api/admin/projects/{b}/alerts"), None);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["alerts"][0]["issue_id"], bid);
    assert_error(
        call(s, "GET", "/api/admin/projects/987654/alerts", None),
        404,
        "no project",
    );
    assert_error(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{a}/alerts?limit=-1"),
            None,
        ),
        400,
        "query",
    );

    // Destinations.
    let dests = format!("/api/admin/projects/{a}/alert_notification_destinations");
    let (status, v) = call(
        s,
        "POST",
        &dests,
        Some(
            json!({"type": "generic_webhook", "url": "https://hooks.example.com/x", "secret": "s3cret",
                    "headers": {"X-Team": "core"}, "max_per_hour": 10}),
        ),
    );
    assert_eq!(status, 201, "{v}");
    let d = &v["destination"];
    let did = d["id"].as_i64().unwrap();
    assert_eq!(d["type"], "generic_webhook");
    assert_eq!(d["config"]["secret"], "***");
    assert_eq!(d["config"]["headers"]["X-Team"], "***");
    assert_eq!(d["config"]["max_per_hour"], 10);
    assert!(!v.to_string().contains("s3cret"));
    for body in [
        json!({"type": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/C"}),
        json!({"type": "discord_webhook", "url": "https://discord.com/api/webhooks/1/abc"}),
        json!({"type": "internal_logger"}),
    ] {
        let (status, v) = call(s, "POST", &dests, Some(body.clone()));
        assert_eq!(status, 201, "{body}: {v}");
    }
    let (status, v) = call(s, "GET", &dests, None);
    assert_eq!(status, 200);
    let list = v["destinations"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert!(!v.to_string().contains("s3cret"), "secrets are never shown");
    for secret_path in ["/services/T/B/C", "/webhooks/1/abc"] {
        assert!(
            !v.to_string().contains(secret_path),
            "webhook paths are secrets: {v}"
        );
    }
    assert!(v.to_string().contains("https://hooks.slack.com/"), "{v}");
    for (bad, needle) in [
        (json!({"type": "pager"}), "invalid destination"),
        (json!({"url": "https://x.example"}), "invalid destination"),
        (json!({"type": "generic_webhook"}), "url"),
        (
            json!({"type": "generic_webhook", "url": "ftp://x.example/"}),
            "invalid destination",
        ),
        (
            json!({"type": "email", "to": ["ops@example.com"]}),
            "PERISCOPE_SMTP_URL",
        ),
        (
            json!({"type": "internal_logger", "max_per_hour": 0}),
            "max_per_hour",
        ),
        (json!(["internal_logger"]), "object"),
    ] {
        assert_error(call(s, "POST", &dests, Some(bad)), 400, needle);
    }
    assert_error(
        call(
            s,
            "POST",
            "/api/admin/projects/987654/alert_notification_destinations",
            Some(json!({"type": "internal_logger"})),
        ),
        404,
        "no project",
    );
    assert_error(
        call(
            s,
            "GET",
            "/api/admin/projects/987654/alert_notification_destinations",
            None,
        ),
        404,
        "no project",
    );
    // Beta cannot see nor delete alpha's destinations.
    let b_dests = format!("/api/admin/projects/{b}/alert_notification_destinations");
    assert_eq!(call(s, "GET", &b_dests, None).1["destinations"], json!([]));
    assert_error(
        call(s, "DELETE", &format!("{b_dests}/{did}"), None),
        404,
        "no destination",
    );
    assert_eq!(call(s, "DELETE", &format!("{dests}/{did}"), None).0, 204);
    assert_error(
        call(s, "DELETE", &format!("{dests}/{did}"), None),
        404,
        "no destination",
    );
    assert_error(
        call(s, "DELETE", &format!("{dests}/abc"), None),
        400,
        "path",
    );
    assert_eq!(
        call(s, "GET", &dests, None).1["destinations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Deleting alpha leaves beta whole.
    assert_eq!(
        call(s, "DELETE", &format!("/api/admin/projects/{a}"), None).0,
        204
    );
    assert_error(
        call(s, "GET", &format!("/api/admin/issues/{zid}"), None),
        404,
        "no issue",
    );
    assert_eq!(issues_of(s, b, "").len(), 1);
    assert_eq!(
        call(
            s,
            "GET",
            &format!("/api/admin/projects/{b}/events/{b_id}"),
            None
        )
        .0,
        200
    );
}

#[test]
fn cli_issue_destination_and_group_commands() {
    let s = server();
    let client = http();
    let (a, key) = create_project(&s, "cli");
    let eid = send(
        &s,
        &client,
        a,
        &key,
        &error_event("ZeroDivisionError", "division by zero", json!({})),
    );
    send(
        &s,
        &client,
        a,
        &key,
        &error_event("KeyError", "'user'", json!({})),
    );

    let out = s.cli(&["issue", "list", "--project", &a.to_string()]);
    assert!(out.contains("ZeroDivisionError: division by zero"), "{out}");
    assert!(out.contains("KeyError"), "{out}");
    // --sort: the KeyError was first seen last; both have one event (ties by
    // id, newest first).
    for sort in ["first_seen", "count"] {
        let out = s.cli(&["issue", "list", "--project", &a.to_string(), "--sort", sort]);
        let first = out.lines().next().unwrap_or_default();
        assert!(first.contains("KeyError"), "{sort}: {out}");
    }
    let (ok, _, err) = s.cli_raw(&["issue", "list", "--project", &a.to_string(), "--sort", "x"]);
    assert!(!ok && err.contains("last_seen, first_seen, count"), "{err}");
    let json_lines = s.cli(&["issue", "list", "--project", &a.to_string(), "--json"]);
    let zid = json_lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|i| {
            i["title"]
                .as_str()
                .unwrap()
                .starts_with("ZeroDivisionError")
        })
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    let show = s.cli(&["issue", "show", &zid.to_string()]);
    assert!(
        show.contains(&format!("Issue {zid}: ZeroDivisionError: division by zero")),
        "{show}"
    );
    assert!(show.contains("Traceback"), "{show}");
    assert!(
        show.contains("shop/checkout.py:42 in pay") || show.contains("shop.checkout:42 in pay"),
        "{show}"
    );
    assert!(show.contains("total = amount / count"), "{show}");
    assert!(show.contains("Grouping ("), "{show}");
    assert!(show.contains(&eid), "{show}");

    let out = s.cli(&["issue", "resolve", &zid.to_string()]);
    assert_eq!(status_word(&out), "resolved", "{out}");
    assert_eq!(
        call(&s, "GET", &format!("/api/admin/issues/{zid}"), None).1["issue"]["status"],
        "resolved"
    );
    let out = s.cli(&["issue", "mute", &zid.to_string(), "--for", "2h"]);
    assert_eq!(status_word(&out), "muted", "{out}");
    let out = s.cli(&["issue", "reopen", &zid.to_string()]);
    assert_eq!(status_word(&out), "unresolved", "{out}");
    let (ok, _, err) = s.cli_raw(&["issue", "show", "987654"]);
    assert!(!ok && err.contains("no issue"), "{err}");

    let out = s.cli(&[
        "destination",
        "add",
        "--project",
        &a.to_string(),
        "--type",
        "generic_webhook",
        "--url",
        "https://hooks.example.com/p",
        "--secret",
        "hush",
    ]);
    assert!(out.contains("added destination"), "{out}");
    let listed = s.cli(&["destination", "list", "--project", &a.to_string()]);
    assert!(
        listed.contains("generic_webhook") && listed.contains("hooks.example.com"),
        "{listed}"
    );
    assert!(!listed.contains("hush"), "{listed}");
    let (_, v) = call(
        &s,
        "GET",
        &format!("/api/admin/projects/{a}/alert_notification_destinations"),
        None,
    );
    let did = v["destinations"][0]["id"].as_i64().unwrap();
    let (ok, _, err) = s.cli_raw(&[
        "destination",
        "add",
        "--project",
        &a.to_string(),
        "--type",
        "pager",
    ]);
    assert!(!ok && err.contains("invalid destination"), "{err}");
    let out = s.cli(&[
        "destination",
        "remove",
        "--project",
        &a.to_string(),
        &did.to_string(),
    ]);
    assert!(out.contains("removed"), "{out}");
    assert!(
        s.cli(&["destination", "list", "--project", &a.to_string()])
            .contains("no destinations")
    );

    let file = s.dir.path().join("event.json");
    std::fs::write(
        &file,
        error_event("ZeroDivisionError", "division by zero", json!({})).to_string(),
    )
    .unwrap();
    // As the project groups (its configuration, from the database): the key
    // of its issue, which the event would join.
    let out = s.cli(&["group", "--project", &a.to_string(), file.to_str().unwrap()]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    let (_, issue) = call(&s, "GET", &format!("/api/admin/issues/{zid}"), None);
    assert_eq!(
        line["key"], issue["issue"]["grouping_key"],
        "the CLI groups as ingest does"
    );
    assert_eq!(line["issue_id"], zid);
    assert_eq!(line["title"], "ZeroDivisionError: division by zero");
    // Offline, with a configuration named: the key of that configuration.
    let out = s.cli(&[
        "group",
        "--config",
        "periscope:2026-12",
        file.to_str().unwrap(),
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["key"], issue["issue"]["grouping_key"]);
    assert_eq!(line["config"], "periscope:2026-12");
}

#[test]
fn cli_alert_list_and_retry() {
    use periscope_store::{AlertStore, IngestStore};
    // No server: the CLI works on the database, and no notifier runs to touch
    // the deliveries.
    let s = Server::sqlite();
    let (p, _, _) = s.create_project("alerts");
    s.cli(&[
        "destination",
        "add",
        "--project",
        &p.to_string(),
        "--type",
        "internal_logger",
    ]);
    let store = s.store();
    let now = chrono::Utc::now();
    let event = periscope_store::NewEvent {
        project_id: periscope_store::ProjectId(p),
        event_id: "0123456789abcdef0123456789abcdef".into(),
        grouping_keys: vec![periscope_store::GroupingKey::new("k", "periscope:2026-11")],
        title: "Error: \u{1b}[31mred".into(),
        culprit: None,
        level: "error".into(),
        timestamp: now,
        received_at: now,
        release: None,
        environment: None,
        tags: Vec::new(),
        payload: b"{}".to_vec(),
        grouping_explanation: None,
        user: None,
    };
    store.ingest_batch(&[event], now).unwrap();
    let id = store.claim_deliveries(now, 10, now).unwrap()[0].delivery_id;
    store.fail_delivery(id, now, "HTTP 500", None).unwrap();
    let project = p.to_string();

    let out = s.cli(&["alert", "list", "--project", &project, "--state", "failed"]);
    assert!(out.contains(&format!("delivery {id:>6}")), "{out}");
    assert!(out.contains("failed") && out.contains("HTTP 500"), "{out}");
    assert!(!out.contains('\u{1b}'), "event data is escaped: {out:?}");
    let out = s.cli(&["alert", "list", "--project", &project, "--state", "pending"]);
    assert!(out.contains("no alerts with a pending delivery"), "{out}");
    let (ok, _, err) = s.cli_raw(&["alert", "list", "--project", &project, "--state", "lost"]);
    assert!(!ok && err.contains("pending, delivered, failed"), "{err}");

    let out = s.cli(&["alert", "retry", "--project", &project, &id.to_string()]);
    assert!(
        out.contains(&format!("delivery {id} is pending again (attempt 2 next)")),
        "{out}"
    );
    let line = s.cli(&["alert", "list", "--project", &project, "--json"]);
    let alert: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(alert["deliveries"][0]["state"], "pending");
    assert_eq!(alert["deliveries"][0]["attempts"], 1);
    let (ok, _, err) = s.cli_raw(&["alert", "retry", "--project", &project, "987654"]);
    assert!(!ok && err.contains("no delivery 987654"), "{err}");
}

#[test]
fn cli_destination_update() {
    // No server needed: the CLI works on the database.
    let s = Server::sqlite();
    let (p, _, _) = s.create_project("dest");
    let project = p.to_string();
    s.cli(&[
        "destination",
        "add",
        "--project",
        &project,
        "--type",
        "generic_webhook",
        "--url",
        "https://hooks.example.com/a",
        "--secret",
        "hush",
        "--header",
        "X-Team: web",
    ]);
    let (ok, _, err) = s.cli_raw(&[
        "destination",
        "add",
        "--project",
        &project,
        "--type",
        "slack_webhook",
        "--url",
        "http://127.0.0.1:9/hook",
    ]);
    assert!(
        !ok && err
            .contains("127.0.0.1 is a private address; set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true"),
        "{err}"
    );
    let id = s.store_destinations(p)[0].id.to_string();
    let out = s.cli(&[
        "destination",
        "update",
        "--project",
        &project,
        &id,
        "--url",
        "https://hooks.example.com/b",
        "--header",
        "X-Team:",
        "--header",
        "X-Env: prod",
        "--max-per-hour",
        "9",
    ]);
    assert!(out.contains(&format!("updated destination {id}")), "{out}");
    assert!(
        !out.contains("hush") && !out.contains("prod"),
        "secrets stay hidden: {out}"
    );
    let config = &s.store_destinations(p)[0].config;
    assert_eq!(config["url"], "https://hooks.example.com/b");
    assert_eq!(config["secret"], "hush", "kept");
    assert_eq!(config["headers"], json!({"X-Env": "prod", "X-Team": "web"}));
    assert_eq!(config["max_per_hour"], 9);
    s.cli(&[
        "destination",
        "update",
        "--project",
        &project,
        &id,
        "--no-secret",
        "--default-max-per-hour",
    ]);
    let config = &s.store_destinations(p)[0].config;
    assert!(
        config.get("secret").is_none() && config.get("max_per_hour").is_none(),
        "{config}"
    );
    let (ok, _, err) = s.cli_raw(&[
        "destination",
        "update",
        "--project",
        &project,
        &id,
        "--to",
        "a@example.com",
    ]);
    assert!(!ok && err.contains("has no to"), "{err}");
    let (ok, _, err) = s.cli_raw(&[
        "destination",
        "update",
        "--project",
        &project,
        &id,
        "--url",
        "http://localhost/x",
    ]);
    assert!(
        !ok && err.contains("localhost is a private address"),
        "{err}"
    );
}

trait Destinations {
    fn store_destinations(&self, project: i64) -> Vec<periscope_store::Destination>;
}

impl Destinations for Server {
    fn store_destinations(&self, project: i64) -> Vec<periscope_store::Destination> {
        use periscope_store::AlertStore;
        self.store()
            .list_destinations(periscope_store::ProjectId(project))
            .unwrap()
    }
}

/// 10,000 events over 500 issues: every page walk is complete and duplicate-free,
/// and searches return exactly the expected issues.
#[test]
fn search_and_pagination_over_10k_events() {
    search_and_pagination_on(&server());
}

#[test]
fn search_and_pagination_over_10k_events_postgres() {
    if let Some(s) = postgres_server("admin_search") {
        search_and_pagination_on(&s);
    }
}

fn search_and_pagination_on(s: &Server) {
    const ISSUES: usize = 500;
    const BIG: usize = 1018; // events of issue 0
    const EACH: usize = 18; // events of every other issue
    let (p, key) = create_project(s, "big");
    let levels = ["error", "warning", "info", "fatal", "debug"];
    let base_ts = chrono::Utc::now().timestamp() - 4 * 3600;

    // The plan: (sequence number, issue) for every event, interleaved.
    let mut plan: Vec<usize> = Vec::new();
    plan.extend(std::iter::repeat_n(0, BIG));
    for i in 1..ISSUES {
        plan.extend(std::iter::repeat_n(i, EACH));
    }
    assert_eq!(plan.len(), 10_000);
    // Deterministic shuffle so the issues interleave.
    let n = plan.len();
    for k in 0..n {
        let j = (k * 7919 + 13) % n;
        plan.swap(k, j);
    }
    let event_for = move |seq: usize, i: usize| -> Value {
        error_event(
            &format!("Err{i}"),
            &format!("problem number {i}"),
            json!({
                "event_id": format!("{:032x}", 0xabc0_0000_0000u64 as usize + seq),
                "timestamp": base_ts + seq as i64,
                "level": levels[i % 5],
                "release": format!("app@{}.0.0", i % 10),
                "environment": if i.is_multiple_of(2) { "production" } else { "staging" },
                "tags": {"shard": (i % 7).to_string()},
            }),
        )
    };
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let plan = plan.clone();
            let next = next.clone();
            let base = s.base();
            let key = key.clone();
            std::thread::spawn(move || {
                let client = http();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = plan.get(seq) else { return };
                    let resp = client
                        .post(format!("{base}/api/{p}/store/"))
                        .header("x-sentry-auth", auth_header(&key))
                        .json(&event_for(seq, i))
                        .send()
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().unwrap());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // Walk every issue page.
    let walk_issues = |query: &str, limit: usize| -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("limit={limit}&query={}", urlencode(query));
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let (status, v) = call(
                s,
                "GET",
                &format!("/api/admin/projects/{p}/issues?{q}"),
                None,
            );
            assert_eq!(status, 200, "{v}");
            let page = v["issues"].as_array().unwrap();
            assert!(page.len() <= limit);
            all.extend(page.iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => {
                    assert!(!page.is_empty(), "a next_cursor after an empty page");
                    cursor = Some(c.to_owned());
                }
                None => break,
            }
        }
        all
    };
    let all = walk_issues("", 37);
    assert_eq!(all.len(), ISSUES);
    let ids: HashSet<i64> = all.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), ISSUES, "no duplicates");
    let total: u64 = all.iter().map(|i| i["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 10_000);
    // Newest last_seen first, across pages.
    let seen: Vec<&str> = all
        .iter()
        .map(|i| i["last_seen"].as_str().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "pages are ordered");
    // The other sorts: every issue once, in the sort's order (ties by id,
    // newest first), across pages of 37.
    for sort in ["first_seen", "count"] {
        let mut got: Vec<(Value, i64)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("limit=37&sort={sort}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let (status, v) = call(
                s,
                "GET",
                &format!("/api/admin/projects/{p}/issues?{q}"),
                None,
            );
            assert_eq!(status, 200, "{v}");
            got.extend(
                v["issues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| (i[sort].clone(), i["id"].as_i64().unwrap())),
            );
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(got.len(), ISSUES, "{sort}");
        let unique: HashSet<i64> = got.iter().map(|g| g.1).collect();
        assert_eq!(unique.len(), ISSUES, "{sort}: no duplicates");
        let ordered = got.windows(2).all(|w| {
            let (a, b) = (&w[0], &w[1]);
            let key = match (a.0.as_u64(), b.0.as_u64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.0.as_str().unwrap().cmp(b.0.as_str().unwrap()),
            };
            key.then(a.1.cmp(&b.1)) == std::cmp::Ordering::Greater
        });
        assert!(ordered, "{sort}: pages are ordered");
        if sort == "count" {
            assert_eq!(got[0].0, BIG as u64, "the biggest issue first");
        }
    }
    let by_number: BTreeMap<usize, i64> = all
        .iter()
        .map(|i| {
            let title = i["title"].as_str().unwrap();
            let n: usize = title
                .trim_start_matches("Err")
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (n, i["id"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(by_number.len(), ISSUES);
    assert_eq!(
        all.iter().find(|i| i["id"] == by_number[&0]).unwrap()["count"],
        BIG as u64
    );

    // Searches.
    let numbers = |found: &[Value]| -> BTreeSet<usize> {
        let rev: BTreeMap<i64, usize> = by_number.iter().map(|(n, id)| (*id, *n)).collect();
        found
            .iter()
            .map(|i| rev[&i["id"].as_i64().unwrap()])
            .collect()
    };
    let expect = |pred: &dyn Fn(usize) -> bool| -> BTreeSet<usize> {
        (0..ISSUES).filter(|i| pred(*i)).collect()
    };
    assert_eq!(
        numbers(&walk_issues("level:fatal", 7)),
        expect(&|i| i % 5 == 3)
    );
    assert_eq!(
        numbers(&walk_issues("release:app@3.0.0", 1000)),
        expect(&|i| i % 10 == 3)
    );
    assert_eq!(
        numbers(&walk_issues("environment:staging", 50)),
        expect(&|i| i % 2 == 1)
    );
    assert_eq!(
        numbers(&walk_issues("shard:4", 50)),
        expect(&|i| i % 7 == 4)
    );
    assert_eq!(
        numbers(&walk_issues("level:fatal environment:staging shard:2", 50)),
        expect(&|i| i % 5 == 3 && i % 2 == 1 && i % 7 == 2)
    );
    assert_eq!(numbers(&walk_issues("Err123:", 50)), BTreeSet::from([123]));
    assert_eq!(
        numbers(&walk_issues("problem number 49", 50)),
        expect(&|i| i.to_string().contains("49"))
    );
    assert!(walk_issues("release:app@99.0.0", 50).is_empty());
    assert!(walk_issues("nosuchword", 50).is_empty());

    // Walk every event of the big issue: exactly its events, newest first.
    let expected: Vec<String> = {
        let mut seqs: Vec<usize> = plan
            .iter()
            .enumerate()
            .filter(|(_, i)| **i == 0)
            .map(|(seq, _)| seq)
            .collect();
        seqs.sort_unstable_by(|x, y| y.cmp(x));
        seqs.iter()
            .map(|seq| format!("{:032x}", 0xabc0_0000_0000u64 as usize + seq))
            .collect()
    };
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/admin/issues/{}/events?limit=97", by_number[&0]);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, v) = call(s, "GET", &path, None);
        assert_eq!(status, 200, "{v}");
        for e in v["events"].as_array().unwrap() {
            got.push(e["event_id"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(got.len(), BIG);
    assert_eq!(got, expected, "every event once, newest first");
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

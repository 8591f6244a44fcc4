//! The web UI's test sends through the admin API and the CLI: a test alert to a
//! destination (`POST /api/admin/projects/{id}/destinations/{destination_id}/test`,
//! `periscope destination test`) and a test event to a project
//! (`POST /api/admin/projects/{id}/test-event`, `periscope project test-event`).
//! The answers and errors in process (the router with `oneshot`, its "own
//! listener" a recorder), then end to end against the real binary: the alert
//! reaches a webhook recorder, the event becomes an issue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use periscope_test_support::http::{HttpRecorder, Reply};
use periscope_test_support::net::RefusingPort;
use periscope_test_support::wait::until_true;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Server, http};
use periscope_server::app::{build_state, router};
use periscope_server::config::Config;

const KEY: &str = "test-sends-admin-key-0123456789abcdefghij";
const SECRET: &str = "test-sends-webhook-secret";

// ---------------------------------------------------------------------------
// In process

/// The router on a fresh SQLite database in `dir` with the admin key, its own
/// listen address `listen` (where its test events go), and the store under it.
fn app(dir: &tempfile::TempDir, listen: std::net::SocketAddr) -> (axum::Router, i64) {
    use periscope_store::ProjectStore;
    let db = dir.path().join("periscope.db");
    let port = listen.port().to_string();
    let lookup = |name: &str| match name {
        "SQLITE_PATH" => Some(db.to_str().unwrap().to_owned()),
        "API_SECRET_KEY_ADMIN" => Some(KEY.to_owned()),
        "HOST" => Some(listen.ip().to_string()),
        "PORT" => Some(port.clone()),
        _ => None,
    };
    let config = Config::from_lookup(&lookup).unwrap();
    let store = periscope_store::Store::open_url(&format!("sqlite://{}", db.display())).unwrap();
    let project = store
        .create_project(
            "sends",
            "0123456789abcdef0123456789abcdef",
            chrono::Utc::now(),
        )
        .unwrap()
        .id
        .get();
    let (state, _writer) = build_state(config, std::sync::Arc::new(store)).unwrap();
    (router(state), project)
}

/// One admin request: (status, JSON body or Null).
async fn call(app: &axum::Router, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[track_caller]
fn assert_error(got: (StatusCode, Value), status: u16, needle: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        detail.contains(&needle.to_lowercase()),
        "{needle:?} not in {detail:?}"
    );
}

#[tokio::test]
async fn a_test_alert_answers_its_outcome_and_unknown_ids_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let refusing = RefusingPort::new();
    let (app, p) = app(&dir, refusing.addr());
    let (status, v) = call(
        &app,
        "POST",
        &format!("/api/admin/projects/{p}/alert_notification_destinations"),
        &json!({"type": "internal_logger"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let d = v["destination"]["id"].as_i64().unwrap();

    let (status, v) = call(
        &app,
        "POST",
        &format!("/api/admin/projects/{p}/destinations/{d}/test"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"destination_id": d, "delivered": true, "error": null})
    );
    // A test alert is not an alert: the log stays empty.
    let (_, v) = call(&app, "GET", &format!("/api/admin/projects/{p}/alerts"), "").await;
    assert_eq!(v["alerts"], json!([]), "{v}");

    for path in [
        format!("/api/admin/projects/{p}/destinations/987654/test"),
        format!("/api/admin/projects/987654/destinations/{d}/test"),
    ] {
        assert_error(call(&app, "POST", &path, "").await, 404, "no ");
    }
    assert_error(
        call(
            &app,
            "POST",
            &format!("/api/admin/projects/{p}/destinations/x/test"),
            "",
        )
        .await,
        400,
        "path",
    );
    assert_error(
        call(&app, "POST", "/api/admin/projects/987654/test-event", "").await,
        404,
        "no project 987654",
    );
    assert_error(
        call(&app, "POST", "/api/admin/projects/x/test-event", "").await,
        400,
        "path",
    );
}

#[tokio::test]
async fn a_test_event_goes_to_the_servers_own_listener_a_quota_refusal_is_a_409_and_no_listener_a_502()
 {
    // The server's "own listener" is a recorder: first it refuses, then accepts.
    let listener = HttpRecorder::start(vec![Reply::Status(
        429,
        Some(("retry-after", "60")),
        r#"{"detail": "project quota exceeded"}"#,
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (app, p) = app(&dir, listener.addr);
    let path = format!("/api/admin/projects/{p}/test-event");

    let got = call(&app, "POST", &path, "").await;
    assert_error(got, 409, "refused the test event (429");
    let got = call(&app, "POST", &path, "").await;
    assert_eq!(got.0, StatusCode::ACCEPTED, "{}", got.1);
    let event_id = got.1["event_id"].as_str().unwrap().to_owned();
    assert_eq!(event_id.len(), 32);
    assert!(event_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(got.1.as_object().unwrap().len(), 1, "{}", got.1);

    let sent = listener.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].method, "POST");
    assert_eq!(sent[1].path, format!("/api/{p}/store/"));
    let auth = sent[1].header("x-sentry-auth").unwrap();
    assert!(
        auth.contains("sentry_key=0123456789abcdef0123456789abcdef"),
        "{auth}"
    );
    assert_eq!(sent[1].json()["event_id"], event_id.as_str());

    // Nothing listening there: a 502 too, saying so.
    let dir = tempfile::tempdir().unwrap();
    let refusing = RefusingPort::new();
    let (app, p) = self::app(&dir, refusing.addr());
    let got = call(
        &app,
        "POST",
        &format!("/api/admin/projects/{p}/test-event"),
        "",
    )
    .await;
    assert_error(got, 502, "sending the test event failed");

    // The document says so exactly.
    let (_, doc) = call(&app, "GET", "/api/admin/openapi.json", "").await;
    let op = &doc["paths"]["/api/admin/projects/{id}/test-event"]["post"];
    let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
    assert_eq!(codes, ["202", "400", "401", "404", "409", "502"], "{op}");
    let op = &doc["paths"]["/api/admin/projects/{id}/destinations/{destination_id}/test"]["post"];
    let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
    assert_eq!(codes, ["200", "400", "401", "404"], "{op}");
    let schema = &doc["components"]["schemas"]["TestDelivery"];
    let mut fields: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["delivered", "destination_id", "error"], "{schema}");
}

// ---------------------------------------------------------------------------
// End to end

fn server() -> Server {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY)
        .set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    s.start();
    s
}

fn api(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method.parse().unwrap(), format!("{}{path}", s.base()))
        .header("authorization", format!("Bearer {KEY}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().unwrap()).unwrap_or(Value::Null),
    )
}

fn add_webhook(s: &Server, project: i64, url: &str) -> i64 {
    let (status, v) = api(
        s,
        "POST",
        &format!("/api/admin/projects/{project}/alert_notification_destinations"),
        Some(json!({"type": "generic_webhook", "url": url, "secret": SECRET})),
    );
    assert_eq!(status, 201, "{v}");
    v["destination"]["id"].as_i64().unwrap()
}

#[track_caller]
fn assert_test_alert(request: &periscope_test_support::http::Request) {
    let body = request.json();
    let title = body["alert"]["title"].as_str().unwrap();
    assert!(title.contains("Test alert"), "{body}");
    let signature = request.header("x-periscope-signature").expect("signed");
    assert!(periscope_notify::format::verify_signature(
        SECRET.as_bytes(),
        &request.body,
        signature
    ));
}

#[test]
fn a_test_alert_reaches_a_webhook_from_the_api_and_the_cli() {
    let s = server();
    let (p, _dsn, _key) = s.create_project("shop");
    let hook = HttpRecorder::ok();
    let d = add_webhook(&s, p, &hook.url("/hook"));

    // The API: one signed test alert, and its outcome.
    let (status, v) = api(
        &s,
        "POST",
        &format!("/api/admin/projects/{p}/destinations/{d}/test"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"destination_id": d, "delivered": true, "error": null})
    );
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].path, "/hook");
    assert_test_alert(&got[0]);

    // The CLI, from its own process (its own PERISCOPE_ALLOW_PRIVATE_WEBHOOKS).
    let d_arg = d.to_string();
    let p_arg = p.to_string();
    let out = s.cli(&["destination", "test", "--project", &p_arg, &d_arg]);
    assert!(out.starts_with("delivered"), "{out}");
    let got = hook.wait_for(2, Duration::from_secs(10));
    assert_test_alert(&got[1]);
    let out = s.cli(&["destination", "test", "--project", &p_arg, &d_arg, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v,
        json!({"destination_id": d, "delivered": true, "error": null})
    );
    assert_eq!(hook.wait_for(3, Duration::from_secs(10)).len(), 3);

    // A destination that refuses: the exact error, 200 from the API, a failure
    // from the CLI; one attempt each.
    let failing = HttpRecorder::start(vec![
        Reply::Status(500, None, "broken"),
        Reply::Status(500, None, "broken"),
    ]);
    let bad = add_webhook(&s, p, &failing.url("/hook"));
    let (status, v) = api(
        &s,
        "POST",
        &format!("/api/admin/projects/{p}/destinations/{bad}/test"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["delivered"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("500"), "{v}");
    let (ok, out, err) = s.cli_raw(&["destination", "test", "--project", &p_arg, &bad.to_string()]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("not delivered") && err.contains("500"),
        "{err}"
    );
    assert_eq!(failing.count(), 2, "one attempt each");

    // Unknown destinations, and one of another project.
    let (other, _dsn, _key) = s.create_project("other");
    let got = api(
        &s,
        "POST",
        &format!("/api/admin/projects/{other}/destinations/{d}/test"),
        None,
    );
    assert_eq!(got.0, 404, "{}", got.1);
    let (ok, _, err) = s.cli_raw(&[
        "destination",
        "test",
        "--project",
        &other.to_string(),
        &d_arg,
    ]);
    assert!(!ok);
    assert!(err.contains("no destination"), "{err}");
    assert_eq!(hook.count(), 3, "nothing more reached the first hook");
}

/// Waits until `event_id` is stored in `project` (the admin API finds it) and
/// the project's issues count `events` events in all.
fn wait_for_event(s: &Server, project: i64, event_id: &str, events: u64) {
    until_true(
        &format!("test event {event_id} stored as an issue"),
        Duration::from_secs(20),
        || {
            let stored = api(
                s,
                "GET",
                &format!("/api/admin/projects/{project}/events/{event_id}"),
                None,
            )
            .0 == 200;
            let issues = s.issues(project);
            stored && issues.iter().map(|i| i.count).sum::<u64>() == events
        },
    );
}

#[test]
fn a_test_event_arrives_from_the_api_and_the_cli() {
    let mut s = server();
    let (p, _dsn, _key) = s.create_project("shop");
    let p_arg = p.to_string();

    // The API: through the server's own listener.
    let (status, v) = api(
        &s,
        "POST",
        &format!("/api/admin/projects/{p}/test-event"),
        None,
    );
    assert_eq!(status, 202, "{v}");
    let first = v["event_id"].as_str().unwrap().to_owned();
    wait_for_event(&s, p, &first, 1);
    let issues = s.issues(p);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].title.contains("test event"),
        "{}",
        issues[0].title
    );

    // The CLI: PORT is 0 for it here (the server picked a free one), so the
    // server is the one PERISCOPE_BASE_URL names.
    let out = s.cli(&["project", "test-event", &p_arg, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let second = v["event_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    wait_for_event(&s, p, &second, 2);
    // With the port the server listens on: HOST:PORT.
    let port = s.addr().port().to_string();
    s.set("PORT", &port);
    let out = s.cli(&["project", "test-event", &p_arg]);
    assert!(out.starts_with("sent test event "), "{out}");
    let third = out.split_whitespace().nth(3).unwrap().to_owned();
    wait_for_event(&s, p, &third, 3);
    assert_eq!(s.issues(p).len(), 1, "one issue for the three test events");

    // Unknown project.
    let got = api(&s, "POST", "/api/admin/projects/987654/test-event", None);
    assert_eq!(got.0, 404, "{}", got.1);
    let (ok, _, err) = s.cli_raw(&["project", "test-event", "987654"]);
    assert!(!ok);
    assert!(err.contains("no project 987654"), "{err}");

    // Refused by the server (a daily quota of 1: counted from when it is set,
    // so the first test event may still pass): a 409 with the server's answer,
    // and a CLI failure saying the same.
    let (status, v) = api(
        &s,
        "PATCH",
        &format!("/api/admin/projects/{p}"),
        Some(json!({"quota_per_day": 1})),
    );
    assert_eq!(status, 200, "{v}");
    let test_event = || {
        api(
            &s,
            "POST",
            &format!("/api/admin/projects/{p}/test-event"),
            None,
        )
    };
    let (mut status, mut v) = test_event();
    if status == 202 {
        (status, v) = test_event();
    }
    assert_eq!(status, 409, "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("refused the test event (429"), "{detail}");
    let (ok, _, err) = s.cli_raw(&["project", "test-event", &p_arg]);
    assert!(!ok);
    assert!(err.contains("refused the test event (429"), "{err}");

    // Nothing listening where the configuration says: explained.
    let refusing = RefusingPort::new();
    s.set("PORT", &refusing.port().to_string());
    let (ok, _, err) = s.cli_raw(&["project", "test-event", &p_arg]);
    assert!(!ok);
    assert!(
        err.contains(&format!("nothing listens on 127.0.0.1:{}", refusing.port()))
            && err.contains("running server"),
        "{err}"
    );
}

//! The admin API's request validation, in process: the router is called with
//! `tower::ServiceExt::oneshot`, no process, socket or port involved (no process
//! boundary is under test here; `admin_api.rs` covers the real binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use periscope_server::app::{build_state, router};
use periscope_server::config::Config;

const KEY: &str = "router-admin-key-0123456789abcdefghij";

/// The router on a fresh SQLite database in `dir`, with the admin key set.
fn app(dir: &tempfile::TempDir) -> axum::Router {
    app_and_store(dir).0
}

/// The router and the store under it (to put records in directly).
fn app_and_store(dir: &tempfile::TempDir) -> (axum::Router, periscope_store::Store) {
    let db = dir.path().join("periscope.db");
    let lookup = |name: &str| match name {
        "SQLITE_PATH" => Some(db.to_str().unwrap().to_owned()),
        "API_SECRET_KEY_ADMIN" => Some(KEY.to_owned()),
        _ => None,
    };
    let config = Config::from_lookup(&lookup).unwrap();
    let store = periscope_store::Store::open_url(&format!("sqlite://{}", db.display())).unwrap();
    let (state, _writer) = build_state(config, std::sync::Arc::new(store.clone())).unwrap();
    (router(state), store)
}

/// One request: (status, JSON body or Null).
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn assert_error(got: (StatusCode, Value), status: u16, needle: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        detail.contains(&needle.to_lowercase()),
        "{needle:?} not in {detail:?}"
    );
}

#[tokio::test]
async fn project_creation_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let post = |body: String| {
        let app = app.clone();
        async move { call(&app, "POST", "/api/admin/projects", Some(KEY), &body).await }
    };
    assert_error(post(json!({}).to_string()).await, 400, "name");
    assert_error(post(json!({"name": "  "}).to_string()).await, 400, "empty");
    assert_error(post(json!({"name": 5}).to_string()).await, 400, "invalid");
    assert_error(
        post(json!({"name": "x", "nmae": 1}).to_string()).await,
        400,
        "nmae",
    );
    assert_error(post("{".to_owned()).await, 400, "invalid");
    assert_error(post(String::new()).await, 400, "json");
    let (status, v) = post(json!({"name": "  shop  "}).to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["project"]["name"], "shop", "names are trimmed");
}

#[tokio::test]
async fn the_admin_api_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    for key in [None, Some("wrong-key-0123456789abcdefghijklmnop")] {
        let (status, v) = call(&app, "GET", "/api/admin/projects", key, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (status, v) = call(&app, "GET", "/api/admin/projects", Some(KEY), "").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["projects"], json!([]));
}

/// An event of issue `key` at `secs` after 2026-01-01, straight into the store.
fn event(project: periscope_store::ProjectId, key: &str, secs: i64) -> periscope_store::NewEvent {
    let t = chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap();
    periscope_store::NewEvent {
        project_id: project,
        event_id: format!("{:032x}", rand_id()),
        grouping_keys: vec![periscope_store::GroupingKey::new(key, "periscope:2026-11")],
        title: format!("Error: {key}"),
        culprit: None,
        level: "error".to_owned(),
        timestamp: t,
        received_at: t,
        release: None,
        environment: None,
        tags: Vec::new(),
        payload: b"{}".to_vec(),
        grouping_explanation: None,
        user: None,
    }
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test]
async fn issues_are_listed_in_each_sort_with_cursors_of_that_sort() {
    use periscope_store::{IngestStore, ProjectStore};
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app_and_store(&dir);
    let p = store
        .create_project(
            "sorts",
            "0123456789abcdef0123456789abcdef",
            chrono::Utc::now(),
        )
        .unwrap()
        .id;
    // old: first seen first, 3 events; new: first seen last, 1 event; mid: seen
    // last, 2 events.
    let events = [
        event(p, "old", 0),
        event(p, "old", 10),
        event(p, "old", 20),
        event(p, "mid", 5),
        event(p, "mid", 60),
        event(p, "new", 30),
    ];
    store.ingest_batch(&events, chrono::Utc::now()).unwrap();
    let titles = |v: &Value| -> Vec<String> {
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["title"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("Error: ")
                    .to_owned()
            })
            .collect()
    };
    for (sort, want) in [
        ("", ["mid", "new", "old"]),
        ("&sort=last_seen", ["mid", "new", "old"]),
        ("&sort=first_seen", ["new", "mid", "old"]),
        ("&sort=count", ["old", "mid", "new"]),
    ] {
        // Whole, then one per page through the cursors.
        let path = format!("/api/admin/projects/{p}/issues?status=all{sort}");
        let (status, v) = call(&app, "GET", &path, Some(KEY), "").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(titles(&v), want, "{sort}");
        let mut got = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, v) = call(
                &app,
                "GET",
                &format!("{path}&limit=1&cursor={cursor}"),
                Some(KEY),
                "",
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            got.extend(titles(&v));
            match v["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert_eq!(got, want, "{sort} page by page");
    }
    // An unknown sort names the known ones.
    let got = call(
        &app,
        "GET",
        &format!("/api/admin/projects/{p}/issues?sort=priority"),
        Some(KEY),
        "",
    )
    .await;
    assert_error(got.clone(), 400, "last_seen, first_seen, count");
    assert_error(got, 400, "priority");
    // A cursor of one sort is refused by another: a conflict naming its sort.
    let (_, v) = call(
        &app,
        "GET",
        &format!("/api/admin/projects/{p}/issues?status=all&sort=count&limit=1"),
        Some(KEY),
        "",
    )
    .await;
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    for other in ["last_seen", "first_seen"] {
        let got = call(
            &app,
            "GET",
            &format!("/api/admin/projects/{p}/issues?status=all&sort={other}&cursor={cursor}"),
            Some(KEY),
            "",
        )
        .await;
        assert_error(got, 409, "sort=count");
    }
}

#[tokio::test]
async fn failed_deliveries_are_filtered_and_retried() {
    use periscope_store::{AlertStore, IngestStore, ProjectStore};
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app_and_store(&dir);
    let now = chrono::Utc::now();
    let p = store
        .create_project("retry", "0123456789abcdef0123456789abcdef", now)
        .unwrap()
        .id;
    let (status, v) = call(
        &app,
        "POST",
        &format!("/api/admin/projects/{p}/alert_notification_destinations"),
        Some(KEY),
        &json!({"type": "internal_logger"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    store.ingest_batch(&[event(p, "x", 0)], now).unwrap();
    let id = store
        .claim_deliveries(now, 10, now + chrono::Duration::seconds(60))
        .unwrap()[0]
        .delivery_id;
    let retry = format!("/api/admin/projects/{p}/deliveries/{id}/retry");
    assert_error(
        call(&app, "POST", &retry, Some(KEY), "").await,
        409,
        "attempted now",
    );
    store.fail_delivery(id, now, "refused", None).unwrap();

    let alerts = |state: &str| {
        let app = app.clone();
        let path = format!("/api/admin/projects/{p}/alerts?state={state}");
        async move { call(&app, "GET", &path, Some(KEY), "").await }
    };
    let (status, v) = alerts("failed").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["alerts"][0]["deliveries"][0]["id"], id.get());
    assert_eq!(
        v["alerts"][0]["deliveries"][0]["alert_id"],
        v["alerts"][0]["id"]
    );
    let (_, v) = alerts("pending").await;
    assert_eq!(v["alerts"], json!([]));
    assert_error(alerts("lost").await, 400, "pending, delivered, failed");

    let (status, v) = call(&app, "POST", &retry, Some(KEY), "").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["delivery"]["id"], id.get());
    assert_eq!(v["delivery"]["state"], "pending");
    assert_eq!(v["delivery"]["attempts"], 1);
    assert_eq!(v["delivery"]["last_error"], "refused");
    assert!(v["delivery"]["next_attempt_at"].is_string());
    // Pending and not in flight: retrying again is fine.
    let (status, _) = call(&app, "POST", &retry, Some(KEY), "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = alerts("pending").await;
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);

    for path in [
        format!("/api/admin/projects/{p}/deliveries/987654/retry"),
        format!("/api/admin/projects/987654/deliveries/{id}/retry"),
    ] {
        assert_error(call(&app, "POST", &path, Some(KEY), "").await, 404, "no ");
    }
    assert_error(
        call(
            &app,
            "POST",
            &format!("/api/admin/projects/{p}/deliveries/x/retry"),
            Some(KEY),
            "",
        )
        .await,
        400,
        "path",
    );
    let claimed = store
        .claim_deliveries(chrono::Utc::now(), 10, chrono::Utc::now())
        .unwrap();
    store
        .complete_delivery(claimed[0].delivery_id, chrono::Utc::now())
        .unwrap();
    assert_error(
        call(&app, "POST", &retry, Some(KEY), "").await,
        409,
        "delivered",
    );
}

#[tokio::test]
async fn destinations_are_changed_with_write_only_secrets_and_private_targets_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let (_, v) = call(
        &app,
        "POST",
        "/api/admin/projects",
        Some(KEY),
        r#"{"name": "p"}"#,
    )
    .await;
    let p = v["project"]["id"].as_i64().unwrap();
    let list = format!("/api/admin/projects/{p}/alert_notification_destinations");

    // A literal private target is refused at creation, naming the switch.
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/x",
        "http://10.0.0.8/x",
    ] {
        let body = json!({"type": "generic_webhook", "url": url}).to_string();
        let got = call(&app, "POST", &list, Some(KEY), &body).await;
        assert_error(
            got,
            400,
            "is a private address; set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true",
        );
    }
    let body = json!({"type": "generic_webhook", "url": "https://hooks.example.com/a",
        "secret": "s3cret", "headers": {"X-Team": "web"}})
    .to_string();
    let (status, v) = call(&app, "POST", &list, Some(KEY), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["destination"]["id"].as_i64().unwrap();
    let one = format!("/api/admin/projects/{p}/destinations/{id}");

    // Blank or *** keeps the secret and header values; the answer hides them.
    let change =
        json!({"secret": "", "headers": {"X-Team": "***", "X-Env": "prod"}, "max_per_hour": 7});
    let (status, v) = call(&app, "PATCH", &one, Some(KEY), &change.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let shown = &v["destination"]["config"];
    assert_eq!(shown["secret"], "***");
    assert_eq!(shown["headers"], json!({"X-Env": "***", "X-Team": "***"}));
    assert_eq!(shown["max_per_hour"], 7);
    assert_eq!(shown["url"], "https://hooks.example.com/…");

    // Refusals: the private rule (400 on url), a field of another type or a
    // type change (409), malformed (400), unknown (404).
    assert_error(
        call(
            &app,
            "PATCH",
            &one,
            Some(KEY),
            r#"{"url": "http://192.168.0.1/h"}"#,
        )
        .await,
        400,
        "192.168.0.1 is a private address",
    );
    assert_error(
        call(
            &app,
            "PATCH",
            &one,
            Some(KEY),
            r#"{"to": ["a@example.com"]}"#,
        )
        .await,
        409,
        "has no to",
    );
    assert_error(
        call(
            &app,
            "PATCH",
            &one,
            Some(KEY),
            r#"{"type": "slack_webhook"}"#,
        )
        .await,
        409,
        "cannot change",
    );
    assert_error(
        call(
            &app,
            "PATCH",
            &one,
            Some(KEY),
            r#"{"headers": {"X-Other": ""}}"#,
        )
        .await,
        409,
        "no stored value",
    );
    assert_error(
        call(&app, "PATCH", &one, Some(KEY), r#"{"colour": 1}"#).await,
        400,
        "colour",
    );
    assert_error(
        call(&app, "PATCH", &one, Some(KEY), "[]").await,
        400,
        "object",
    );
    assert_error(call(&app, "PATCH", &one, Some(KEY), "").await, 400, "json");
    assert_error(
        call(
            &app,
            "PATCH",
            &format!("/api/admin/projects/{p}/destinations/987654"),
            Some(KEY),
            "{}",
        )
        .await,
        404,
        "no destination",
    );

    // The document describes the change exactly.
    let (_, doc) = call(&app, "GET", "/api/admin/openapi.json", None, "").await;
    let schema = &doc["components"]["schemas"]["DestinationChangeInput"];
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert!(schema["properties"]["secret"].is_object());
    let op = &doc["paths"]["/api/admin/projects/{id}/destinations/{destination_id}"]["patch"];
    for status in ["200", "400", "401", "404", "409"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
}

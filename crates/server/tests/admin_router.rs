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
    let db = dir.path().join("periscope.db");
    let lookup = |name: &str| match name {
        "SQLITE_PATH" => Some(db.to_str().unwrap().to_owned()),
        "API_SECRET_KEY_ADMIN" => Some(KEY.to_owned()),
        _ => None,
    };
    let config = Config::from_lookup(&lookup).unwrap();
    let store = periscope_store::Store::open_url(&format!("sqlite://{}", db.display())).unwrap();
    let (state, _writer) = build_state(config, std::sync::Arc::new(store)).unwrap();
    router(state)
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

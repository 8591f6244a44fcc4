//! Users over the admin API (in process: the router called with
//! `tower::ServiceExt::oneshot`) and the `periscope user` commands (the real
//! binary): creating with a given or generated password, roles and the last
//! admin, deleting, invitations and reset links made from PERISCOPE_BASE_URL
//! (never from the request's Host), used through the service once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use periscope_server::app::{build_state, router};
use periscope_server::config::Config;
use periscope_server::service::{Service, ServiceError};

const KEY: &str = "users-admin-key-0123456789abcdefghijk";
const BASE: &str = "https://errors.example.com/periscope";

/// The router on a fresh SQLite database in `dir`, and a service on the same
/// database (to use the links as the web UI would).
fn app(dir: &tempfile::TempDir) -> (axum::Router, Service) {
    let db = dir.path().join("periscope.db");
    let lookup = |name: &str| match name {
        "SQLITE_PATH" => Some(db.to_str().unwrap().to_owned()),
        "API_SECRET_KEY_ADMIN" => Some(KEY.to_owned()),
        "PERISCOPE_BASE_URL" => Some(BASE.to_owned()),
        _ => None,
    };
    let config = Config::from_lookup(&lookup).unwrap();
    let store = periscope_store::Store::open_url(&format!("sqlite://{}", db.display())).unwrap();
    let service = Service::new(Arc::new(store.clone()), Arc::new(config.clone()));
    let (state, _writer) = build_state(config, Arc::new(store)).unwrap();
    (router(state), service)
}

/// One request with the admin key (and any extra headers): (status, JSON or Null).
async fn call_with(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_with(app, method, path, body, &[]).await
}

fn assert_error(got: (StatusCode, Value), status: u16, needle: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        detail.contains(&needle.to_lowercase()),
        "{needle:?} not in {detail:?}"
    );
}

/// The token of a link made under BASE.
fn token(link: &str, kind: &str) -> String {
    let prefix = format!("{BASE}/{kind}/");
    let token = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link} does not start with {prefix}"));
    assert_eq!(token.len(), 43, "{link}");
    token.to_owned()
}

#[tokio::test]
async fn users_are_created_changed_and_deleted_and_an_admin_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _service) = app(&dir);
    let (status, v) = call(&app, "GET", "/api/admin/users", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"users": []}));

    // With a password: none in the answer.
    let (status, v) = call(
        &app,
        "POST",
        "/api/admin/users",
        Some(json!({"email": " Ann@Example.com ", "role": "admin", "password": "ann's password"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["user"]["email"], "ann@example.com");
    assert_eq!(v["user"]["role"], "admin");
    assert!(v.get("password").is_none(), "{v}");
    let ann = v["user"]["id"].as_i64().unwrap();

    // Without one (absent or null): generated, shown once.
    for (email, password) in [
        ("bob@example.com", None),
        ("carl@example.com", Some(Value::Null)),
    ] {
        let mut body = json!({"email": email, "role": "member"});
        if let Some(p) = password {
            body["password"] = p;
        }
        let (status, v) = call(&app, "POST", "/api/admin/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["password"].as_str().unwrap().len(), 20, "{v}");
        assert_eq!(v["user"]["role"], "member");
    }

    // Refused: a taken email, bad emails, roles, passwords and fields.
    assert_error(
        call(
            &app,
            "POST",
            "/api/admin/users",
            Some(json!({"email": "ANN@example.com", "role": "member"})),
        )
        .await,
        409,
        "exists",
    );
    for (body, needle) in [
        (json!({"email": "ann", "role": "member"}), "not an email"),
        (json!({"email": "a@b", "role": "root"}), "unknown variant"),
        (json!({"email": "a@b", "role": "Admin"}), "unknown variant"),
        (json!({"email": "a@b"}), "role"),
        (
            json!({"email": "a@b", "role": "member", "password": "short"}),
            "at least 8",
        ),
        (
            json!({"email": "a@b", "role": "member", "admin": true}),
            "admin",
        ),
    ] {
        assert_error(
            call(&app, "POST", "/api/admin/users", Some(body.clone())).await,
            400,
            needle,
        );
    }

    let (status, v) = call(&app, "GET", "/api/admin/users", None).await;
    assert_eq!(status, StatusCode::OK);
    let users = v["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert!(users.iter().all(|u| u.get("password_hash").is_none()));
    let bob = users[1]["id"].as_i64().unwrap();
    let (status, v) = call(&app, "GET", &format!("/api/admin/users/{bob}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["user"]["email"], "bob@example.com");
    assert_error(
        call(&app, "GET", "/api/admin/users/987654", None).await,
        404,
        "no user",
    );
    assert_error(
        call(&app, "GET", "/api/admin/users/bob", None).await,
        400,
        "path",
    );

    // The last admin stays: not demoted, not deleted.
    let patch = |id: i64, role: &str| {
        let app = app.clone();
        let role = role.to_owned();
        async move {
            call(
                &app,
                "PATCH",
                &format!("/api/admin/users/{id}"),
                Some(json!({ "role": role })),
            )
            .await
        }
    };
    assert_error(patch(ann, "member").await, 409, "last admin");
    assert_error(
        call(&app, "DELETE", &format!("/api/admin/users/{ann}"), None).await,
        409,
        "last admin",
    );
    assert_error(patch(ann, "owner").await, 400, "unknown variant");
    assert_error(patch(987_654, "member").await, 404, "no user");
    let (status, v) = patch(bob, "admin").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "admin");
    let (status, v) = patch(ann, "member").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "member");

    let (status, _) = call(&app, "DELETE", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        call(&app, "GET", &format!("/api/admin/users/{ann}"), None).await,
        404,
        "no user",
    );
    assert_error(
        call(&app, "DELETE", &format!("/api/admin/users/{ann}"), None).await,
        404,
        "no user",
    );
    assert_error(
        call(&app, "DELETE", &format!("/api/admin/users/{bob}"), None).await,
        409,
        "last admin",
    );
}

#[tokio::test]
async fn invitations_come_from_the_base_url_and_work_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, service) = app(&dir);
    service
        .create_user(
            "ann@example.com",
            "ann's password",
            periscope_store::Role::Admin,
        )
        .unwrap();
    // A request naming another host gets a link of the configured base URL.
    let (status, v) = call_with(
        &app,
        "POST",
        "/api/admin/users/invitations",
        Some(json!({"email": "Dan@Example.com", "role": "member"})),
        &[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], "dan@example.com");
    assert_eq!(v["role"], "member");
    let first = token(v["link"].as_str().unwrap(), "invite");
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));

    // Again: it replaces the pending one (now an admin).
    let (status, v) = call(
        &app,
        "POST",
        "/api/admin/users/invitations",
        Some(json!({"email": "dan@example.com", "role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let second = token(v["link"].as_str().unwrap(), "invite");
    let (status, v) = call(&app, "GET", "/api/admin/users/invitations", None).await;
    assert_eq!(status, StatusCode::OK);
    let pending = v["invitations"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{v}");
    assert_eq!(pending[0]["email"], "dan@example.com");
    assert_eq!(pending[0]["role"], "admin");
    assert_eq!(pending[0]["invited_by"], Value::Null);
    assert!(pending[0].get("link").is_none());

    // Refused: an existing user's email, a bad email or role.
    assert_error(
        call(
            &app,
            "POST",
            "/api/admin/users/invitations",
            Some(json!({"email": "ann@example.com", "role": "member"})),
        )
        .await,
        409,
        "exists",
    );
    assert_error(
        call(
            &app,
            "POST",
            "/api/admin/users/invitations",
            Some(json!({"email": "a@b@c", "role": "member"})),
        )
        .await,
        400,
        "not an email",
    );
    assert_error(
        call(
            &app,
            "POST",
            "/api/admin/users/invitations",
            Some(json!({"email": "x@y", "role": "superuser"})),
        )
        .await,
        400,
        "unknown variant",
    );

    // The links, used as the web UI does: the replaced one is dead, the new
    // one works once and makes an admin.
    let now = Utc::now();
    assert!(matches!(
        service.accept_invite(&first, "dan's password", now),
        Err(ServiceError::NotFound(_))
    ));
    let dan = service
        .accept_invite(&second, "dan's password", now)
        .unwrap();
    assert_eq!(dan.role, "admin");
    assert!(matches!(
        service.accept_invite(&second, "dan's password", now),
        Err(ServiceError::NotFound(_))
    ));
    let (_, v) = call(&app, "GET", "/api/admin/users/invitations", None).await;
    assert_eq!(v["invitations"], json!([]));

    // Withdrawing (the email in any case, URL-encoded).
    let (status, _) = call(
        &app,
        "POST",
        "/api/admin/users/invitations",
        Some(json!({"email": "eve+ops@example.com", "role": "member"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = call(
        &app,
        "DELETE",
        "/api/admin/users/invitations/EVE%2Bops%40example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert_error(
        call(
            &app,
            "DELETE",
            "/api/admin/users/invitations/eve+ops@example.com",
            None,
        )
        .await,
        404,
        "no pending invitation",
    );
    assert_error(
        call(&app, "DELETE", "/api/admin/users/invitations/nobody", None).await,
        400,
        "not an email",
    );
}

#[tokio::test]
async fn reset_links_come_from_the_base_url_and_end_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (app, service) = app(&dir);
    let ann = service
        .create_user(
            "ann@example.com",
            "ann's password",
            periscope_store::Role::Admin,
        )
        .unwrap();
    let now = Utc::now();
    let session = service
        .sign_in("ann@example.com", "ann's password", now)
        .unwrap();

    let path = format!("/api/admin/users/{}/reset-link", ann.id);
    let (status, v) = call_with(&app, "POST", &path, None, &[("host", "evil.example")]).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], "ann@example.com");
    let reset = token(v["link"].as_str().unwrap(), "reset");
    assert_error(
        call(&app, "POST", "/api/admin/users/987654/reset-link", None).await,
        404,
        "no user",
    );

    let user = service
        .reset_password(&reset, "a new password", now)
        .unwrap();
    assert_eq!(user.id, ann.id);
    assert!(service.session(&session.token, now).unwrap().is_none());
    assert!(
        service
            .sign_in("ann@example.com", "a new password", now)
            .is_ok()
    );
    assert!(matches!(
        service.reset_password(&reset, "third password", now),
        Err(ServiceError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_user_routes_need_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _service) = app(&dir);
    for (method, path) in [
        ("GET", "/api/admin/users"),
        ("POST", "/api/admin/users"),
        ("GET", "/api/admin/users/1"),
        ("PATCH", "/api/admin/users/1"),
        ("DELETE", "/api/admin/users/1"),
        ("POST", "/api/admin/users/1/reset-link"),
        ("GET", "/api/admin/users/invitations"),
        ("POST", "/api/admin/users/invitations"),
        ("DELETE", "/api/admin/users/invitations/a@b"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(r#"{"email":"a@b","role":"admin"}"#))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

/// `periscope user invite|invitations|uninvite|role|reset-link` on the real binary.
#[test]
fn the_user_commands() {
    let mut s = crate::common::Server::sqlite();
    s.set("PERISCOPE_BASE_URL", "https://errors.example.com/");
    let out = s.cli(&["user", "create", "ann@example.com", "--admin", "--generate"]);
    assert!(out.contains("created admin ann@example.com"), "{out}");

    let out = s.cli(&["user", "invite", "Bob@Example.com"]);
    assert!(out.contains("invited bob@example.com as member"), "{out}");
    let link = out
        .lines()
        .find(|l| l.starts_with("https://errors.example.com/invite/"))
        .unwrap_or_else(|| panic!("no link in {out}"));
    assert_eq!(link.len(), "https://errors.example.com/invite/".len() + 43);
    let v: Value = serde_json::from_str(
        s.cli(&["user", "invite", "bob@example.com", "--admin", "--json"])
            .trim(),
    )
    .unwrap();
    assert_eq!(v["role"], "admin");
    assert_ne!(v["link"], link, "a new invitation, a new link");
    let out = s.cli(&["user", "invitations"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("bob@example.com\tadmin\tuntil "), "{out}");
    let v: Value = serde_json::from_str(s.cli(&["user", "invitations", "--json"]).trim()).unwrap();
    assert_eq!(v[0]["email"], "bob@example.com");
    let (ok, _, err) = s.cli_raw(&["user", "invite", "ann@example.com"]);
    assert!(!ok && err.contains("exists"), "{err}");
    s.cli(&["user", "uninvite", "BOB@example.com"]);
    assert!(
        s.cli(&["user", "invitations"])
            .contains("no pending invitations")
    );
    let (ok, _, err) = s.cli_raw(&["user", "uninvite", "bob@example.com"]);
    assert!(!ok && err.contains("no pending invitation"), "{err}");

    // Roles: the last admin stays.
    let (ok, _, err) = s.cli_raw(&["user", "role", "ann@example.com", "member"]);
    assert!(!ok && err.contains("last admin"), "{err}");
    let (ok, _, err) = s.cli_raw(&["user", "role", "ann@example.com", "root"]);
    assert!(!ok && err.contains("unknown role"), "{err}");
    s.cli(&["user", "create", "carl@example.com", "--generate"]);
    let out = s.cli(&["user", "role", "carl@example.com", "Admin"]);
    assert!(out.contains("carl@example.com is now admin"), "{out}");
    let out = s.cli(&["user", "role", "ann@example.com", "member"]);
    assert!(out.contains("ann@example.com is now member"), "{out}");
    let (ok, _, err) = s.cli_raw(&["user", "delete", "carl@example.com", "--yes"]);
    assert!(!ok && err.contains("last admin"), "{err}");

    // Reset links.
    let out = s.cli(&["user", "reset-link", "ann@example.com"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("https://errors.example.com/reset/")),
        "{out}"
    );
    let (ok, _, err) = s.cli_raw(&["user", "reset-link", "nobody@example.com"]);
    assert!(!ok && err.contains("no user"), "{err}");

    // Without PERISCOPE_BASE_URL the link says where it points.
    let t = crate::common::Server::sqlite();
    t.cli(&["user", "create", "x@example.com", "--admin", "--generate"]);
    let (ok, out, err) = t.cli_raw(&["user", "reset-link", "x@example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains("http://127.0.0.1:0/reset/"), "{out}");
    assert!(err.contains("PERISCOPE_BASE_URL is not set"), "{err}");
}

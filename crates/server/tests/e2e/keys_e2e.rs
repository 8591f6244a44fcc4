//! Client keys end to end, against the real `periscope` binary: a key added
//! with the CLI or the admin API works at once; a key revoked with
//! `periscope project key revoke` (another process) stops authenticating on the
//! running server within seconds while the project's other key keeps working;
//! revoked keys stay listed; the last active key cannot be revoked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::{Server, auth_header, http, small_event};
use periscope_test_support::wait::until_true;
use serde_json::{Value, json};

const KEY: &str = "keys-e2e-admin-key-0123456789abcdefghij";

/// Posts one small event to the store endpoint with `key`; returns the status.
fn send_with(s: &Server, project: i64, key: &str) -> u16 {
    let (_, body) = small_event("keys");
    http()
        .post(s.store_url(project))
        .header("X-Sentry-Auth", auth_header(key))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// One admin request: (status, JSON body or Null).
fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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

#[test]
fn a_revoked_key_stops_working_while_the_other_key_keeps_working() {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.start();
    let (p, _dsn, first) = s.create_project("keys");
    let added: Value = serde_json::from_str(
        s.cli(&["project", "key", "add", &p.to_string(), "--json"])
            .trim(),
    )
    .unwrap();
    let second = added["public_key"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(added["revoked_at"], Value::Null);

    // Both keys authenticate (the new one at once: it was never cached as
    // unknown).
    assert_eq!(send_with(&s, p, &first), 200);
    assert_eq!(send_with(&s, p, &second), 200);

    // Revoked by another process: the server notices through the key version.
    let out = s.cli(&["project", "key", "revoke", &p.to_string(), &first]);
    assert!(out.contains(&format!("revoked key {first}")), "{out}");
    until_true(
        "the revoked key to be refused",
        Duration::from_secs(5),
        || matches!(send_with(&s, p, &first), 401 | 403),
    );
    assert_eq!(send_with(&s, p, &second), 200, "the other key still works");

    // Listed for the record.
    let listed: Value = serde_json::from_str(
        s.cli(&["project", "key", "list", &p.to_string(), "--json"])
            .trim(),
    )
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["public_key"], first.as_str());
    assert!(listed[0]["revoked_at"].is_string(), "{listed:?}");
    assert_eq!(listed[1]["revoked_at"], Value::Null);
    let text = s.cli(&["project", "key", "list", &p.to_string()]);
    assert!(
        text.contains("revoked 20") && text.contains("active"),
        "{text}"
    );
    // The project's DSN is its active key's.
    let (_, v) = call(&s, "GET", &format!("/api/admin/projects/{p}"), None);
    assert!(
        v["project"]["dsn"].as_str().unwrap().contains(&second),
        "{v}"
    );

    // The last active key cannot go; revoking twice is fine.
    let (ok, _, err) = s.cli_raw(&["project", "key", "revoke", &p.to_string(), &second]);
    assert!(!ok && err.contains("last active key"), "{err}");
    s.cli(&["project", "key", "revoke", &p.to_string(), &first]);
    assert_eq!(send_with(&s, p, &second), 200);
}

#[test]
fn keys_through_the_admin_api() {
    let mut s = Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.start();
    let (p, _dsn, first) = s.create_project("api");
    let keys = format!("/api/admin/projects/{p}/keys");

    let (status, v) = call(&s, "POST", &keys, None);
    assert_eq!(status, 201, "{v}");
    let second = v["key"]["public_key"].as_str().unwrap().to_owned();
    assert!(v["key"]["dsn"].as_str().unwrap().contains(&second));
    assert_eq!(v["key"]["revoked_at"], Value::Null);
    assert_eq!(send_with(&s, p, &second), 200);

    let (status, v) = call(
        &s,
        "DELETE",
        &format!("{keys}/{}", first.to_uppercase()),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["key"]["public_key"], first.as_str());
    assert!(v["key"]["revoked_at"].is_string());
    // Revoked in this process: its key cache is dropped at once.
    assert!(matches!(send_with(&s, p, &first), 401 | 403));
    assert_eq!(send_with(&s, p, &second), 200);

    let (status, v) = call(&s, "GET", &keys, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);

    let (status, v) = call(&s, "DELETE", &format!("{keys}/{second}"), None);
    assert_eq!(status, 409, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("last active key"),
        "{v}"
    );
    let (status, _) = call(&s, "DELETE", &format!("{keys}/{}", "0".repeat(32)), None);
    assert_eq!(status, 404);
    let (status, v) = call(&s, "DELETE", &format!("{keys}/nope"), None);
    assert_eq!(status, 400, "{v}");
    for (method, path) in [
        ("GET", "/api/admin/projects/987654/keys".to_owned()),
        ("POST", "/api/admin/projects/987654/keys".to_owned()),
        (
            "DELETE",
            format!("/api/admin/projects/987654/keys/{second}"),
        ),
    ] {
        assert_eq!(
            call(&s, method, &path, Some(json!({}))).0,
            404,
            "{method} {path}"
        );
    }
}

//! The web UI's admin pages over HTTP: a new project and its setup page (test
//! event, first event), project settings with errors next to their field,
//! deletion with a typed confirmation, and members kept out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::Server;
use crate::common::ui::{Ui, create_user};

fn started() -> Server {
    let mut server = Server::sqlite();
    server.start();
    server
}

fn admin(server: &Server) -> Ui {
    let password = create_user(server, "ada@example.com", true);
    Ui::sign_in(server, "ada@example.com", &password)
}

fn project_json(server: &Server, id: i64) -> serde_json::Value {
    let out = server.cli(&["project", "list", "--json"]);
    let all: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_new_project_leads_to_its_setup_page_and_a_test_event_arrives() {
    let server = started();
    let mut ui = admin(&server);
    let csrf = ui.get("/projects/new").csrf();
    let created = ui.post("/projects", &[("_csrf", &csrf), ("name", "  web shop  ")]);
    assert_eq!(created.status, 303, "{}", created.body);
    let setup = created.header("location");
    assert!(setup.ends_with("/setup"), "{setup}");
    let id: i64 = setup.split('/').nth(2).unwrap().parse().unwrap();
    assert_eq!(project_json(&server, id)["name"], "web shop");
    let page = ui.get(&setup);
    assert_eq!(page.status, 200);
    let dsn = project_json(&server, id)["dsn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.body.contains(&dsn), "the DSN is shown");
    for platform in [
        "Python",
        "JavaScript (browser)",
        "Node.js",
        "Rust",
        "Go",
        "Java",
        ".NET",
        "PHP",
    ] {
        assert!(
            page.body
                .contains(&format!("<summary>{platform}</summary>")),
            "{platform}"
        );
    }
    assert!(page.body.contains("id=\"waiting\""));
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "the page waits without script"
    );
    // The test event goes through the protocol to the server's own listener.
    let csrf = page.csrf();
    let sent = ui.post(&format!("/projects/{id}/test-event"), &[("_csrf", &csrf)]);
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert!(
        sent.header("location").contains("sent="),
        "{}",
        sent.header("location")
    );
    periscope_test_support::wait::until_true(
        "the test event's issue",
        Duration::from_secs(20),
        || !server.issues(id).is_empty(),
    );
    let page = ui.get(&setup);
    assert!(page.body.contains("id=\"arrived\""), "{}", page.body);
    assert!(
        page.body
            .contains("This is a test event sent from Periscope")
    );
    assert!(!page.body.contains("http-equiv=\"refresh\""));
}

#[test]
fn settings_errors_are_shown_next_to_their_field() {
    let server = started();
    let (id, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{id}/settings");
    let csrf = ui.get(&path).csrf();
    let long = "x".repeat(201);
    let cases: &[(&str, &str, &str)] = &[
        ("name", "   ", "name must not be empty"),
        ("name", &long, "name must be at most 200 characters"),
        ("quota_per_minute", "-5", "must be at least 1"),
        ("quota_per_hour", "lots", "must be a whole number"),
        ("quota_per_day", "99999999999999999999999", "far too large"),
        ("max_events", "1000000000001", "max_events must be at most"),
        ("max_age_days", "0", "max_age_days must be at least 1"),
        (
            "max_age_days",
            "36501",
            "max_age_days must be at most 36500",
        ),
    ];
    for (field, value, message) in cases {
        let mut form = vec![("_csrf", csrf.as_str()), ("name", "shop")];
        form.retain(|(k, _)| k != field);
        form.push((field, value));
        let p = ui.post(&path, &form);
        assert_eq!(p.status, 400, "{field}={value}");
        // The message sits inside the field's own label.
        let at = p.body.find(&format!("name=\"{field}\"")).unwrap();
        let label_end = p.body[at..].find("</label>").unwrap() + at;
        let label = &p.body[at..label_end];
        assert!(
            label.contains("field-error") && label.contains(message),
            "{field}={value}: {label}"
        );
    }
    assert_eq!(project_json(&server, id)["name"], "shop", "nothing saved");
    // A valid form saves; empty fields mean no limit.
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("name", "shop 2"),
            ("quota_per_minute", "3"),
            ("quota_per_hour", ""),
            ("quota_per_day", ""),
            ("max_events", "5000"),
            ("max_age_days", "30"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let v = project_json(&server, id);
    assert_eq!(v["name"], "shop 2");
    assert_eq!(v["settings"]["quota_per_minute"], 3);
    assert_eq!(v["settings"]["max_events"], 5000);
    assert_eq!(v["settings"]["max_age_days"], 30);
    assert!(v["settings"]["quota_per_hour"].is_null());
}

#[test]
fn a_quota_set_in_the_browser_limits_the_sdk() {
    let server = started();
    let (id, _dsn, key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{id}/settings");
    let csrf = ui.get(&path).csrf();
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("name", "shop"),
            ("quota_per_minute", "2"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let mut limited = None;
    for _ in 0..6 {
        let (_, body) = crate::common::small_event("quota");
        let r = crate::common::store_post(&server, id, &key, body);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = limited.expect("a 429 past the quota");
    assert!(!r.header("x-sentry-rate-limits").is_empty());
    assert!(!r.header("retry-after").is_empty());
}

#[test]
fn deleting_needs_the_name_typed() {
    let server = started();
    let (id, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let csrf = ui.get(&format!("/projects/{id}/settings")).csrf();
    let p = ui.post(
        &format!("/projects/{id}/delete"),
        &[("_csrf", &csrf), ("confirm", "shoP")],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("does not match"));
    assert!(!project_json(&server, id).is_null());
    let p = ui.post(
        &format!("/projects/{id}/delete"),
        &[("_csrf", &csrf), ("confirm", "shop")],
    );
    assert_eq!(p.status, 303);
    assert!(project_json(&server, id).is_null());
}

#[test]
fn members_cannot_open_settings_or_create_projects() {
    let server = started();
    let (id, _dsn, _key) = server.create_project("shop");
    let password = create_user(&server, "mo@example.com", false);
    let mut m = Ui::sign_in(&server, "mo@example.com", &password);
    for path in [
        "/projects/new".to_owned(),
        format!("/projects/{id}/settings"),
    ] {
        assert_eq!(m.get(&path).status, 403, "{path}");
    }
    let csrf = m.get(&format!("/projects/{id}/setup")).csrf();
    for (path, form) in [
        (
            "/projects".to_owned(),
            vec![("_csrf", csrf.as_str()), ("name", "x")],
        ),
        (
            format!("/projects/{id}/settings"),
            vec![("_csrf", csrf.as_str()), ("name", "x")],
        ),
        (
            format!("/projects/{id}/delete"),
            vec![("_csrf", csrf.as_str()), ("confirm", "shop")],
        ),
        (
            format!("/projects/{id}/test-event"),
            vec![("_csrf", csrf.as_str())],
        ),
    ] {
        let p = m.post(&path, &form);
        assert_eq!(p.status, 403, "{path}");
    }
    assert_eq!(project_json(&server, id)["name"], "shop");
    // Members still read the setup page (the DSN is not a secret).
    let page = m.get(&format!("/projects/{id}/setup"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Send a test event"));
}

#[test]
fn destinations_are_added_and_removed_and_alerts_are_logged() {
    let server = started();
    let (id, _dsn, key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{id}/destinations");
    let page = ui.get(&path);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"no-destinations\""));
    let csrf = page.csrf();
    // Bad input is refused with the reason, and the form keeps what was typed.
    for (kind, url, headers, per_hour, message) in [
        (
            "generic_webhook",
            "not a url",
            "",
            "",
            "invalid destination",
        ),
        (
            "slack_webhook",
            "ftp://hooks.example.com/x",
            "",
            "",
            "invalid destination",
        ),
        (
            "generic_webhook",
            "https://hooks.example.com/x",
            "no colon here",
            "",
            "is not `Name: value`",
        ),
        (
            "generic_webhook",
            "https://hooks.example.com/x",
            "",
            "-3",
            "max_per_hour must be a whole number",
        ),
        (
            "generic_webhook",
            "https://hooks.example.com/x",
            "",
            "100001",
            "max_per_hour must be a whole number",
        ),
    ] {
        let p = ui.post(
            &path,
            &[
                ("_csrf", &csrf),
                ("type", kind),
                ("url", url),
                ("headers", headers),
                ("max_per_hour", per_hour),
            ],
        );
        assert_eq!(
            p.status, 400,
            "{kind} {url} {headers} {per_hour}: {}",
            p.body
        );
        assert!(p.body.contains(message), "{message}: {}", p.body);
        assert!(
            p.body
                .contains(&format!("value=\"{}\"", url.replace('&', "&amp;"))),
            "the URL is kept"
        );
    }
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("type", "generic_webhook"),
            ("url", "https://hooks.example.com/periscope?team=web"),
            ("secret", "s3cret-value"),
            ("headers", "X-Team: web"),
            ("max_per_hour", "10"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let page = ui.get(&path);
    assert!(page.body.contains("hooks.example.com"));
    assert!(
        !page.body.contains("s3cret-value"),
        "secrets are never shown"
    );
    let destination = page
        .body
        .split("data-destination=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_owned)
        .expect("a destination row");

    // An event raises a new-issue alert; the log shows it with its delivery.
    let (_, body) = crate::common::small_event("logged");
    let r = crate::common::store_post(&server, id, &key, body);
    assert_eq!(r.status, 200);
    periscope_test_support::wait::until_true("the alert", Duration::from_secs(20), || {
        let body = ui.get(&format!("/projects/{id}/alerts")).body;
        body.contains("new_issue") && body.contains("generic_webhook #")
    });
    let log = ui.get(&format!("/projects/{id}/alerts"));
    assert!(log.body.contains("generic_webhook #"), "{}", log.body);
    let delivered = ui.get(&format!("/projects/{id}/alerts?state=delivered"));
    assert!(
        delivered.body.contains("id=\"no-alerts\""),
        "nothing reaches hooks.example.com here"
    );

    // Members read the log but cannot open destinations.
    let password = create_user(&server, "mo@example.com", false);
    let mut m = Ui::sign_in(&server, "mo@example.com", &password);
    assert_eq!(m.get(&format!("/projects/{id}/alerts")).status, 200);
    assert_eq!(m.get(&path).status, 403);
    let member_csrf = m.get("/").csrf();
    let p = m.post(
        &format!("{path}/{destination}/delete"),
        &[("_csrf", &member_csrf)],
    );
    assert_eq!(p.status, 403);

    // The admin deletes it.
    let p = ui.post(&format!("{path}/{destination}/delete"), &[("_csrf", &csrf)]);
    assert_eq!(p.status, 303);
    assert!(ui.get(&path).body.contains("id=\"no-destinations\""));
}

fn add_webhook(ui: &mut Ui, project: i64, url: &str, secret: &str) -> String {
    let path = format!("/projects/{project}/destinations");
    let csrf = ui.get(&path).csrf();
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("type", "generic_webhook"),
            ("url", url),
            ("secret", secret),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    ui.get(&path)
        .body
        .split("data-destination=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_owned)
        .expect("a destination row")
}

#[test]
fn a_test_alert_arrives_signed_or_says_exactly_why_not() {
    use periscope_test_support::http::HttpRecorder;
    let recorder = HttpRecorder::ok();
    let mut server = Server::sqlite();
    server.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    server.start();
    let (id, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let destination = add_webhook(&mut ui, id, &recorder.url("/hook"), "test-secret");
    let csrf = ui.get(&format!("/projects/{id}/destinations")).csrf();
    let p = ui.post(
        &format!("/projects/{id}/destinations/{destination}/test"),
        &[("_csrf", &csrf)],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Test alert delivered"), "{}", p.body);
    let got = recorder.wait_for(1, Duration::from_secs(10));
    let body = got[0].json();
    assert!(
        body["alert"]["title"]
            .as_str()
            .unwrap()
            .contains("Test alert")
    );
    let signature = got[0].header("x-periscope-signature").expect("signed");
    assert!(periscope_notify::format::verify_signature(
        b"test-secret",
        &got[0].body,
        signature
    ));
}

#[test]
fn a_private_target_is_explained_with_the_setting_to_change() {
    use periscope_test_support::http::HttpRecorder;
    let recorder = HttpRecorder::ok();
    let server = started();
    let (id, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{id}/destinations");
    let csrf = ui.get(&path).csrf();
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("type", "slack_webhook"),
            ("url", &recorder.url("/hook")),
        ],
    );
    // Refused at creation, with the variable to set, next to the URL field.
    assert_eq!(p.status, 400, "{}", p.body);
    let at = p.body.find("name=\"url\"").unwrap();
    let label = &p.body[at..at + p.body[at..].find("</label>").unwrap()];
    assert!(
        label.contains("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true"),
        "{label}"
    );
    assert!(
        ui.get(&path).body.contains("id=\"no-destinations\""),
        "nothing created"
    );
    assert_eq!(recorder.count(), 0);
}

#[test]
fn a_key_revoked_in_the_browser_stops_working_within_seconds() {
    let server = started();
    let (id, _dsn, old_key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{id}/settings");
    let csrf = ui.get(&path).csrf();
    // The only active key cannot be revoked.
    let p = ui.post(
        &format!("/projects/{id}/keys/{old_key}/revoke"),
        &[("_csrf", &csrf)],
    );
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("id=\"key-error\""));
    let p = ui.post(&format!("/projects/{id}/keys"), &[("_csrf", &csrf)]);
    assert_eq!(p.status, 303);
    let page = ui.get(&path);
    let keys: Vec<String> = page
        .body
        .split("data-key=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    let new_key = keys.iter().find(|k| **k != old_key).unwrap().clone();
    let send = |key: &str| {
        let (_, body) = crate::common::small_event("keys");
        crate::common::store_post(&server, id, key, body).status
    };
    assert_eq!(send(&old_key), 200);
    let p = ui.post(
        &format!("/projects/{id}/keys/{old_key}/revoke"),
        &[("_csrf", &csrf)],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    periscope_test_support::wait::until_true(
        "the revoked key refused",
        Duration::from_secs(5),
        || matches!(send(&old_key), 401 | 403),
    );
    assert_eq!(send(&new_key), 200, "the other key still works");
    assert!(ui.get(&path).body.contains("revoked "));
}

fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn data_value(body: &str, id: &str) -> Option<u64> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let rest = &body[at..];
    let v = rest.split("data-value=\"").nth(1)?.split('"').next()?;
    v.parse().ok()
}

#[test]
fn the_status_page_agrees_with_metrics() {
    let server = started();
    let (id, _dsn, key) = server.create_project("shop");
    let mut ui = admin(&server);
    for i in 0..3 {
        let (_, body) = crate::common::small_event(&format!("status {i}"));
        let r = crate::common::store_post(&server, id, &key, body);
        assert_eq!(r.status, 200);
    }
    let (_, body) = crate::common::small_event("bad key");
    let r = crate::common::post(
        &crate::common::http(),
        &server.store_url(id),
        &[(
            "x-sentry-auth",
            "Sentry sentry_key=00000000000000000000000000000000, sentry_version=7",
        )],
        body,
    );
    assert!(matches!(r.status, 401 | 403));
    // The database figures follow the counters within the save interval (5 s).
    let page = periscope_test_support::wait::until(
        "the status page to agree with /metrics",
        Duration::from_secs(20),
        || {
            let m = server.metrics();
            let page = ui.get("/status");
            assert_eq!(page.status, 200);
            let accepted = data_value(&page.body, "accepted-24h")?;
            let refused = data_value(&page.body, "refused-24h")?;
            let rejected = metric(
                &m,
                "periscope_events_rejected_total{reason=\"unauthorized\"}",
            ) + metric(&m, "periscope_events_rejected_total{reason=\"forbidden\"}");
            (accepted == metric(&m, "periscope_events_accepted_total")
                && accepted == 3
                && refused == rejected
                && refused == 1)
                .then_some(page)
        },
    );
    // The live figures are this process's: nothing queued, this request alone.
    assert_eq!(data_value(&page.body, "bus-depth"), Some(0));
    assert!(page.body.contains("shop"));
    // Members cannot open it.
    let password = create_user(&server, "mo@example.com", false);
    let mut m = Ui::sign_in(&server, "mo@example.com", &password);
    assert_eq!(m.get("/status").status, 403);
}

#[test]
fn a_failed_delivery_is_retried_from_the_alerts_log() {
    use periscope_test_support::http::{HttpRecorder, Reply};
    // The first delivery is answered 404 (permanent: given up at once), the retry 200.
    let recorder = HttpRecorder::start(vec![Reply::Status(404, None, "gone")]);
    let mut server = Server::sqlite();
    server.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    server.start();
    let (id, _dsn, key) = server.create_project("shop");
    let mut ui = admin(&server);
    add_webhook(&mut ui, id, &recorder.url("/hook"), "s");
    let (_, body) = crate::common::small_event("retry");
    let r = crate::common::store_post(&server, id, &key, body);
    assert_eq!(r.status, 200);
    let log =
        periscope_test_support::wait::until("a failed delivery", Duration::from_secs(20), || {
            let page = ui.get(&format!("/projects/{id}/alerts?state=failed"));
            page.body.contains("Retry now").then_some(page)
        });
    assert!(
        log.body.contains("404"),
        "the last error is shown: {}",
        log.body
    );
    let action = log
        .body
        .split("action=\"")
        .find_map(|r| r.split('"').next().filter(|a| a.ends_with("/retry")))
        .unwrap()
        .to_owned();
    // Members read the log but cannot retry.
    let password = create_user(&server, "mo@example.com", false);
    let mut m = Ui::sign_in(&server, "mo@example.com", &password);
    let member_log = m.get(&format!("/projects/{id}/alerts"));
    assert_eq!(member_log.status, 200);
    assert!(!member_log.body.contains("Retry now"));
    let member_csrf = member_log.csrf();
    assert_eq!(m.post(&action, &[("_csrf", &member_csrf)]).status, 403);
    let p = ui.post(&action, &[("_csrf", &log.csrf())]);
    assert_eq!(p.status, 303, "{}", p.body);
    recorder.wait_for(2, Duration::from_secs(20));
    periscope_test_support::wait::until_true(
        "the retry delivered",
        Duration::from_secs(20),
        || {
            ui.get(&format!("/projects/{id}/alerts?state=delivered"))
                .body
                .contains("delivered ")
        },
    );
}

#[test]
fn a_destination_is_edited_keeping_its_secret() {
    use periscope_test_support::http::HttpRecorder;
    let (first, second) = (HttpRecorder::ok(), HttpRecorder::ok());
    let mut server = Server::sqlite();
    server.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    server.start();
    let (id, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let destination = add_webhook(&mut ui, id, &first.url("/hook"), "kept-secret");
    let path = format!("/projects/{id}/destinations");
    let csrf = ui.get(&path).csrf();
    let edit = format!("{path}/{destination}/edit");
    // A bad cap is refused, naming the destination and the field.
    let p = ui.post(&edit, &[("_csrf", &csrf), ("max_per_hour", "lots")]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("max_per_hour"), "{}", p.body);
    // A new URL, the secret left blank: kept.
    let p = ui.post(
        &edit,
        &[
            ("_csrf", &csrf),
            ("url", &second.url("/new")),
            ("secret", ""),
            ("max_per_hour", "5"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let page = ui.get(&path);
    assert!(page.body.contains(&format!("{}", second.addr.port())));
    assert!(!page.body.contains("kept-secret"));
    assert!(page.body.contains("secret: set"));
    let p = ui.post(&format!("{path}/{destination}/test"), &[("_csrf", &csrf)]);
    assert!(p.body.contains("Test alert delivered"), "{}", p.body);
    let got = second.wait_for(1, Duration::from_secs(10));
    let signature = got[0]
        .header("x-periscope-signature")
        .expect("still signed");
    assert!(periscope_notify::format::verify_signature(
        b"kept-secret",
        &got[0].body,
        signature
    ));
    assert_eq!(first.count(), 0);
    // The secret removed: no signature any more.
    let p = ui.post(&edit, &[("_csrf", &csrf), ("remove_secret", "1")]);
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(ui.get(&path).body.contains("secret: not set"));
    ui.post(&format!("{path}/{destination}/test"), &[("_csrf", &csrf)]);
    let got = second.wait_for(2, Duration::from_secs(10));
    assert!(got[1].header("x-periscope-signature").is_none());
}

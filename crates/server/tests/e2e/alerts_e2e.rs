//! Alerts end to end, against the real `periscope` binary and the official Rust SDK:
//! a new issue alerts once, repeats do not, a regression after a resolve through the
//! admin API alerts once more, both to a webhook (a local HTTP server) and by email
//! (a local SMTP server); a dead destination does not slow ingest and its failed,
//! retried attempts are visible in `GET /api/admin/projects/{id}/alerts`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::collapsible_if)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Server, auth_header, http, metric};
use periscope_test_support::http::HttpRecorder;
use periscope_test_support::net::{RefusingPort, SilentServer};
use periscope_test_support::smtp::SmtpRecorder;
use serde_json::{Value, json};

const KEY: &str = "alerts-admin-key-0123456789abcdefghij";
const SECRET: &str = "webhook-signing-secret";

fn server(extra: &[(&str, &str)]) -> Server {
    configured(Server::sqlite(), extra)
}

/// A server on a fresh PostgreSQL database, or `None` (prints "skipped").
fn postgres_server(hint: &str) -> Option<Server> {
    Some(configured(Server::postgres(hint)?, &[]))
}

fn configured(mut s: Server, extra: &[(&str, &str)]) -> Server {
    s.set("API_SECRET_KEY_ADMIN", KEY)
        .set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true")
        .set("PERISCOPE_NOTIFIER_INTERVAL_MS", "100")
        .set("PERISCOPE_ALERT_RETRY_BASE_MS", "200");
    for (k, v) in extra {
        s.set(k, v);
    }
    s.start();
    s
}

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

/// Creates a project through the API; returns (id, dsn, public key).
fn project(s: &Server, name: &str) -> (i64, String, String) {
    let (status, v) = call(
        s,
        "POST",
        "/api/admin/projects",
        Some(json!({ "name": name })),
    );
    assert_eq!(status, 201, "{v}");
    let p = &v["project"];
    let id = p["id"].as_i64().unwrap();
    let key = p["keys"][0]["public_key"].as_str().unwrap().to_owned();
    // The DSN at the address the server bound (its own base URL says port 0).
    (id, s.dsn(&key, id), key)
}

fn add_destination(s: &Server, project: i64, body: Value) -> i64 {
    let (status, v) = call(
        s,
        "POST",
        &format!("/api/admin/projects/{project}/alert_notification_destinations"),
        Some(body),
    );
    assert_eq!(status, 201, "{v}");
    v["destination"]["id"].as_i64().unwrap()
}

fn alerts(s: &Server, project: i64) -> Vec<Value> {
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{project}/alerts"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

/// Polls `f` until it returns `Some`, for at most 30 s.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The official SDK

/// The error the application under test reports.
#[derive(Debug)]
struct PaymentDeclined {
    code: u32,
}

impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment declined with code {}", self.code)
    }
}

impl std::error::Error for PaymentDeclined {}

/// Sends `n` copies of the same error with the Rust Sentry SDK and flushes.
fn sdk_send_errors(dsn: &str, n: usize) {
    // The HTTP transport, as `sentry::init` sets it up.
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(
        sentry::ClientOptions {
            dsn: Some(dsn.parse().unwrap()),
            release: Some("shop@1.0.0".into()),
            environment: Some("production".into()),
            ..Default::default()
        },
    )));
    assert!(client.is_enabled(), "the SDK refused the DSN {dsn}");
    let hub = sentry::Hub::new(Some(client.clone()), Arc::new(sentry::Scope::default()));
    for _ in 0..n {
        let id = hub.capture_error(&PaymentDeclined { code: 51 });
        assert!(!id.is_nil());
    }
    assert!(client.flush(Some(Duration::from_secs(20))), "SDK flush");
}

/// The count of the project's only issue (0 while there is none).
fn issue_count(s: &Server, project: i64) -> (i64, u64) {
    let (_, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{project}/issues?status=all"),
        None,
    );
    let issues = v["issues"].as_array().cloned().unwrap_or_default();
    assert!(issues.len() <= 1, "one error, one issue: {issues:?}");
    issues
        .first()
        .map(|i| (i["id"].as_i64().unwrap(), i["count"].as_u64().unwrap()))
        .unwrap_or((0, 0))
}

// ---------------------------------------------------------------------------
// The scenario, for any destination

/// Runs "one error → one new-issue alert; ten more → none; resolve → the same
/// error → one regression alert", with `delivered()` counting what the
/// destination received and `kinds()` telling what each was.
fn new_issue_then_regression(
    s: &Server,
    project: i64,
    dsn: &str,
    delivered: &dyn Fn() -> usize,
    kinds: &dyn Fn() -> Vec<String>,
) {
    sdk_send_errors(dsn, 1);
    wait_for("the new-issue alert", || (delivered() >= 1).then_some(()));
    let (issue, count) = issue_count(s, project);
    assert_eq!(count, 1);
    assert_eq!(kinds(), ["new_issue"]);

    sdk_send_errors(dsn, 10);
    wait_for("eleven events counted", || {
        (issue_count(s, project).1 == 11).then_some(())
    });
    // The store raised no alert for the repeats.
    let list = alerts(s, project);
    assert_eq!(list.len(), 1, "repeats raise no alert: {list:?}");
    wait_for("the delivery recorded", || {
        let list = alerts(s, project);
        (list[0]["deliveries"][0]["state"] == "delivered").then_some(())
    });
    // The server's own ledger of attempts agrees with what arrived: one.
    assert_eq!(attempts(s), (1, 0));
    assert_eq!(delivered(), 1, "ten repeats gave no more alerts");

    let (status, v) = call(
        s,
        "PATCH",
        &format!("/api/admin/issues/{issue}"),
        Some(json!({"status": "resolved"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["issue"]["status"], "resolved");

    sdk_send_errors(dsn, 1);
    wait_for("the regression alert", || (delivered() >= 2).then_some(()));
    assert_eq!(kinds(), ["new_issue", "regression"]);
    let (same, count) = issue_count(s, project);
    assert_eq!(
        (same, count),
        (issue, 12),
        "the regression re-opened the same issue"
    );
    let (_, v) = call(s, "GET", &format!("/api/admin/issues/{issue}"), None);
    assert_eq!(v["issue"]["status"], "unresolved");
    wait_for("both deliveries recorded", || {
        let list = alerts(s, project);
        (list.len() == 2
            && list
                .iter()
                .all(|a| a["deliveries"][0]["state"] == "delivered"))
        .then_some(list)
    });
    let list = alerts(s, project);
    let kinds_listed: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds_listed, ["regression", "new_issue"], "newest first");
    assert!(list.iter().all(|a| a["deliveries"][0]["attempts"] == 1));
    // Both deliveries are recorded as done and the server made exactly two
    // attempts (its metric), so nothing further is on its way: no sleep needed.
    assert_eq!(attempts(s), (2, 0));
    assert_eq!(delivered(), 2, "exactly one regression alert");
}

/// The server's alert delivery attempts so far: (delivered, failed).
fn attempts(s: &Server) -> (u64, u64) {
    let text = s.metrics();
    let get = |result: &str| {
        metric(
            &text,
            &format!("periscope_alert_deliveries_total{{result=\"{result}\"}}"),
        )
        .map_or(0, |v| v as u64)
    };
    (get("delivered"), get("failed"))
}

#[test]
fn sdk_error_alerts_a_webhook_once_then_on_regression() {
    webhook_scenario(&server(&[]));
}

#[test]
fn sdk_error_alerts_a_webhook_once_then_on_regression_postgres() {
    if let Some(s) = postgres_server("alerts_webhook") {
        webhook_scenario(&s);
    }
}

fn webhook_scenario(s: &Server) {
    let hook = HttpRecorder::ok();
    let hook_url = hook.url("/hook");
    let (project, dsn, _) = project(s, "webhook-shop");
    add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": hook_url, "secret": SECRET, "headers": {"X-Team": "payments"}}),
    );
    let delivered = || hook.count();
    let kinds = || {
        hook.requests()
            .iter()
            .map(|r| r.json()["alert"]["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    new_issue_then_regression(s, project, &dsn, &delivered, &kinds);

    let got = hook.requests();
    for r in &got {
        let body = r.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["alert"]["project_id"], project);
        assert_eq!(body["alert"]["project_name"], "webhook-shop");
        let title = body["alert"]["title"].as_str().unwrap();
        assert!(title.contains("payment declined with code 51"), "{title}");
        // The alert is about the issue: its subject, the deprecated `issue_id`
        // beside it, and the link agree.
        let subject = &body["alert"]["subject"];
        assert_eq!(subject["type"], "issue", "{body}");
        let issue_id = subject["id"].as_i64().expect("an issue id");
        assert_eq!(body["alert"]["issue_id"], issue_id, "{body}");
        let url = body["alert"]["url"].as_str().unwrap();
        assert!(url.ends_with(&format!("/issues/{issue_id}")), "{url}");
        // The environment and release of the issue's latest event reach the message.
        assert_eq!(body["alert"]["environment"], "production", "{body}");
        assert_eq!(body["alert"]["release"], "shop@1.0.0", "{body}");
        assert_eq!(r.header("x-team"), Some("payments"));
        let signature = r.header("x-periscope-signature").expect("signed");
        assert!(
            periscope_notify::format::verify_signature(SECRET.as_bytes(), &r.body, signature),
            "the signature verifies"
        );
    }
    assert_eq!(got[1].json()["alert"]["event_count"], 12);
    // The regression is about the same issue as the first alert.
    assert_eq!(
        got[0].json()["alert"]["subject"],
        got[1].json()["alert"]["subject"]
    );

    // The alert's link is the issue's page in the web UI.
    let url = got[0].json()["alert"]["url"].as_str().unwrap().to_owned();
    let path = &url[url.find("/issues/").unwrap()..];
    let password = crate::common::ui::create_user(s, "ops@example.com", false);
    let mut ui = crate::common::ui::Ui::sign_in(s, "ops@example.com", &password);
    let page = ui.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("payment declined with code 51"));
    assert!(page.body.contains(&format!("/projects/{project}/issues")));
}

#[test]
fn sdk_error_alerts_by_email_once_then_on_regression() {
    let smtp = SmtpRecorder::start();
    let smtp_url = smtp.url();
    let s = server(&[
        ("PERISCOPE_SMTP_URL", &smtp_url),
        ("PERISCOPE_EMAIL_FROM", "Periscope <periscope@example.com>"),
    ]);
    let (project, dsn, _) = project(&s, "mail-shop");
    add_destination(
        &s,
        project,
        json!({"type": "email", "to": ["oncall@example.com", "Lead <lead@example.com>"]}),
    );
    let delivered = || smtp.mails().len();
    let kinds = || {
        smtp.mails()
            .iter()
            .map(|mail| {
                let subject = mail.subject();
                if subject.contains("New issue in mail-shop") {
                    "new_issue".to_owned()
                } else if subject.contains("Regression in mail-shop") {
                    "regression".to_owned()
                } else {
                    format!("unexpected subject {subject:?}")
                }
            })
            .collect::<Vec<_>>()
    };
    new_issue_then_regression(&s, project, &dsn, &delivered, &kinds);
    for mail in smtp.mails() {
        assert_eq!(mail.to, ["oncall@example.com", "lead@example.com"]);
        assert_eq!(mail.from, "periscope@example.com");
        let data = mail.decoded();
        assert!(data.contains("periscope@example.com"), "{data}");
        assert!(data.contains("payment declined"), "{data}");
    }
}

#[test]
fn dead_destination_does_not_slow_ingest_and_its_failures_are_visible() {
    dead_destination_scenario(&server(&[]));
}

#[test]
fn dead_destination_does_not_slow_ingest_and_its_failures_are_visible_postgres() {
    if let Some(s) = postgres_server("alerts_dead") {
        dead_destination_scenario(&s);
    }
}

fn dead_destination_scenario(s: &Server) {
    // Two dead destinations: one that hangs (accepts, never answers: each attempt
    // lasts the notifier's whole 15 s timeout) and one whose port refuses at once
    // (a socket bound and never listening, held for the test).
    let silent = SilentServer::start();
    let refusing = RefusingPort::new();
    let (project, _, key) = project(s, "dead-hook");
    add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": silent.url("/hook")}),
    );
    let dest = add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": format!("http://{}/hook", refusing.addr())}),
    );
    // Also a working destination, to show the dead ones do not hold it back.
    let hook = HttpRecorder::ok();
    add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": hook.url("/hook")}),
    );

    // Ingest answers every event promptly while the notifier is stuck on the
    // hanging destination (awaited: it holds a connection) and keeps failing on
    // the refusing one.
    let client = http();
    let send = |i: usize| {
        let event = json!({
            "level": "error",
            "exception": {"values": [{"type": format!("DeadHookError{}", i % 20), "value": "boom"}]},
        });
        let started = Instant::now();
        let resp = client
            .post(format!("{}/api/{project}/store/", s.base()))
            .header("x-sentry-auth", auth_header(&key))
            .json(&event)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        started.elapsed()
    };
    send(0);
    wait_for("the notifier to hang on the silent destination", || {
        (silent.accepted() >= 1).then_some(())
    });
    let mut slowest = Duration::ZERO;
    for i in 1..40 {
        slowest = slowest.max(send(i));
    }
    println!("slowest ingest request while a destination hangs: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "a hanging destination slowed ingest: {slowest:?}"
    );
    assert!(silent.accepted() >= 1);
    let (_, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{project}/issues?limit=100"),
        None,
    );
    assert_eq!(v["issues"].as_array().unwrap().len(), 20);

    // The working destination got all twenty new-issue alerts.
    hook.wait_for(20, Duration::from_secs(30));

    // The dead one's failures are visible, with retries.
    let retried = wait_for("retried failures", || {
        let list = alerts(s, project);
        let dead: Vec<Value> = list
            .iter()
            .flat_map(|a| a["deliveries"].as_array().cloned().unwrap_or_default())
            .filter(|d| d["destination_id"] == dest)
            .collect();
        (dead.len() == 20
            && dead
                .iter()
                .any(|d| d["attempts"].as_u64().unwrap_or(0) >= 2))
        .then_some(dead)
    });
    for d in &retried {
        let state = d["state"].as_str().unwrap();
        assert!(matches!(state, "pending" | "failed"), "{d}");
        assert!(d["attempts"].as_u64().unwrap() >= 1, "{d}");
        let error = d["last_error"].as_str().unwrap_or("");
        if d["attempts"].as_u64().unwrap() >= 2 {
            assert!(!error.is_empty(), "{d}");
        }
        assert!(d["delivered_at"].is_null());
    }
    let with_error = retried
        .iter()
        .find(|d| d["last_error"].is_string())
        .unwrap();
    let error = with_error["last_error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("connect") || error.contains("refused"),
        "the error says what failed: {error}"
    );
    assert_eq!(hook.count(), 20, "no duplicates to the working one");
    let health = http().get(format!("{}/health", s.base())).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// Sends one exception event with a release through the store endpoint.
fn send_release(s: &Server, project: i64, key: &str, release: &str) {
    let resp = http()
        .post(format!("{}/api/{project}/store/", s.base()))
        .header("x-sentry-auth", auth_header(key))
        .json(&json!({
            "level": "error",
            "release": release,
            "exception": {"values": [{"type": "LifecycleError", "value": "it broke"}]},
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn resolve_in_release_and_unmutes_alert_once_each() {
    let s = server(&[]);
    let hook = HttpRecorder::ok();
    let (project, _, key) = project(&s, "lifecycle");
    add_destination(
        &s,
        project,
        json!({"type": "generic_webhook", "url": hook.url("/hook")}),
    );
    let kinds = || -> Vec<String> {
        alerts(&s, project)
            .iter()
            .rev()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let patch = |body: Value| {
        let issue = issue_count(&s, project).0;
        let (status, v) = call(
            &s,
            "PATCH",
            &format!("/api/admin/issues/{issue}"),
            Some(body),
        );
        assert_eq!(status, 200, "{v}");
        v["issue"].clone()
    };
    send_release(&s, project, &key, "shop@1.0.0");
    assert_eq!(kinds(), ["new_issue"]);

    // Resolved in 1.2.0: events from 1.1.0 and 1.2.0 do not re-open it, 1.10.0 does.
    let issue = patch(json!({"status": "resolved", "resolved_in_release": "shop@1.2.0"}));
    assert_eq!(issue["resolved_in_release"], "shop@1.2.0");
    send_release(&s, project, &key, "shop@1.1.0");
    send_release(&s, project, &key, "shop@1.2.0");
    assert_eq!(kinds(), ["new_issue"]);
    let (_, v) = call(
        &s,
        "GET",
        &format!("/api/admin/issues/{}", issue["id"]),
        None,
    );
    assert_eq!(v["issue"]["status"], "resolved");
    send_release(&s, project, &key, "shop@1.10.0");
    assert_eq!(kinds(), ["new_issue", "regression"]);
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(
        kinds(),
        ["new_issue", "regression"],
        "one alert per transition"
    );

    // Muted until three more events: the third unmutes, once.
    // (Each event's alert is committed with it, before its 200: checked after each.)
    patch(json!({"status": "muted", "mute_until_count": 3}));
    for n in 1..=2 {
        send_release(&s, project, &key, "shop@1.11.0");
        assert_eq!(kinds(), ["new_issue", "regression"], "event {n} of 3");
    }
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(
        kinds(),
        ["new_issue", "regression", "unmute"],
        "the third event unmutes, not a later one"
    );
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute"], "once");

    // Muted for one second: the first event after it unmutes.
    patch(json!({"status": "muted", "mute_for_seconds": 1}));
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute"]);
    std::thread::sleep(Duration::from_millis(1500));
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute", "unmute"]);

    // (The sleep above is pacing: the mute lasts one second of wall time.)
    // A mute with no end never alerts.
    patch(json!({"status": "muted"}));
    send_release(&s, project, &key, "shop@2.0.0");
    assert_eq!(kinds().len(), 4);

    // Each of the four alerts reached the webhook exactly once.
    hook.wait_for(4, Duration::from_secs(30));
    wait_for("all delivered", || {
        alerts(&s, project)
            .iter()
            .all(|a| a["deliveries"][0]["state"] == "delivered")
            .then_some(())
    });
    let got: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["alert"]["kind"].as_str().unwrap().to_owned())
        .collect();
    // Deliveries run concurrently: the arrival order is not the alert order.
    let mut got = got;
    got.sort();
    assert_eq!(got, ["new_issue", "regression", "unmute", "unmute"]);
}

//! Alerts end to end, against the real `periscope` binary and the official Rust SDK:
//! a new issue alerts once, repeats do not, a regression after a resolve through the
//! admin API alerts once more, both to a webhook (a local HTTP server) and by email
//! (a local SMTP server); a dead destination does not slow ingest and its failed,
//! retried attempts are visible in `GET /api/admin/projects/{id}/alerts`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::collapsible_if)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, auth_header, http};
use serde_json::{Value, json};

const KEY: &str = "alerts-admin-key-0123456789abcdefghij";
const SECRET: &str = "webhook-signing-secret";

fn server(extra: &[(&str, &str)]) -> Server {
    configured(Server::sqlite(), extra)
}

/// A server on a fresh PostgreSQL database, or `None` (prints "skipped").
fn postgres_server(hint: &str) -> Option<Server> {
    let Some(url) = common::postgres_url() else {
        println!("skipped: PERISCOPE_TEST_POSTGRES_URL not set");
        return None;
    };
    let db = common::fresh_postgres_database(&url, hint);
    Some(configured(Server::with_database(&db), &[]))
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
    (
        p["id"].as_i64().unwrap(),
        p["dsn"].as_str().unwrap().to_owned(),
        p["keys"][0]["public_key"].as_str().unwrap().to_owned(),
    )
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
// A webhook receiver

#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A tiny HTTP server recording every request; answers 200.
fn webhook_server() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || serve_http(stream, &sink));
        }
    });
    (url, got)
}

fn serve_http(stream: TcpStream, sink: &Mutex<Vec<Received>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        sink.lock().unwrap().push(Received { headers, body });
        if writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok",
            )
            .is_err()
        {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// An SMTP receiver

/// Messages received: (RCPT TO lines, DATA).
type Mailbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A tiny SMTP server (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, no TLS)
/// recording each message's envelope recipients and data.
fn smtp_server() -> (u16, Mailbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let _ = serve_smtp(stream, &sink);
            });
        }
    });
    (port, got)
}

fn serve_smtp(stream: TcpStream, sink: &Mutex<Vec<(Vec<String>, String)>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    w.write_all(b"220 test.local ESMTP ready\r\n")?;
    let mut rcpt = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => w.write_all(b"250-test.local\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n")?,
            "HELO" | "NOOP" => w.write_all(b"250 OK\r\n")?,
            "MAIL" => {
                rcpt.clear();
                w.write_all(b"250 OK\r\n")?;
            }
            "RSET" => {
                rcpt.clear();
                w.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                rcpt.push(cmd.clone());
                w.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l.trim_end_matches(['\r', '\n']) == "." {
                        break;
                    }
                    data.push_str(&l);
                }
                sink.lock().unwrap().push((rcpt.clone(), data));
                w.write_all(b"250 OK queued\r\n")?;
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => w.write_all(b"502 not implemented\r\n")?,
        }
    }
}

/// The `Subject:` header of a message (unfolded).
fn subject(data: &str) -> String {
    let mut out = String::new();
    let mut in_subject = false;
    for line in data.lines() {
        if line.is_empty() {
            break;
        }
        if in_subject && line.starts_with([' ', '\t']) {
            out.push_str(line.trim_start());
            continue;
        }
        in_subject = line.to_ascii_lowercase().starts_with("subject:");
        if in_subject {
            out.push_str(line["subject:".len()..].trim());
        }
    }
    out
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
    // The store raised no alert for the repeats; let the notifier run a few more
    // rounds and check that nothing else arrived.
    let list = alerts(s, project);
    assert_eq!(list.len(), 1, "repeats raise no alert: {list:?}");
    wait_for("the delivery recorded", || {
        let list = alerts(s, project);
        (list[0]["deliveries"][0]["state"] == "delivered").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1000));
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
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(delivered(), 2, "exactly one regression alert");
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
    let (hook_url, received) = webhook_server();
    let (project, dsn, _) = project(s, "webhook-shop");
    add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": hook_url, "secret": SECRET, "headers": {"X-Team": "payments"}}),
    );
    let delivered = || received.lock().unwrap().len();
    let kinds = || {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.json()["alert"]["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    new_issue_then_regression(s, project, &dsn, &delivered, &kinds);

    let got = received.lock().unwrap().clone();
    for r in &got {
        let body = r.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["alert"]["project_id"], project);
        assert_eq!(body["alert"]["project_name"], "webhook-shop");
        let title = body["alert"]["title"].as_str().unwrap();
        assert!(title.contains("payment declined with code 51"), "{title}");
        let url = body["alert"]["url"].as_str().unwrap();
        assert!(url.contains("/api/admin/issues/"), "{url}");
        assert_eq!(r.header("x-team"), Some("payments"));
        let signature = r.header("x-periscope-signature").expect("signed");
        assert!(
            periscope_notify::format::verify_signature(SECRET.as_bytes(), &r.body, signature),
            "the signature verifies"
        );
    }
    assert_eq!(got[1].json()["alert"]["event_count"], 12);

    // The alert's link works with the admin key and names the right project.
    let url = got[0].json()["alert"]["url"].as_str().unwrap().to_owned();
    let path = &url[url.find("/api/admin/").unwrap()..];
    let (status, v) = call(s, "GET", path, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["issue"]["project_id"], project);
}

#[test]
fn sdk_error_alerts_by_email_once_then_on_regression() {
    let (smtp_port, mails) = smtp_server();
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}?tls=none");
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
    let delivered = || mails.lock().unwrap().len();
    let kinds = || {
        mails
            .lock()
            .unwrap()
            .iter()
            .map(|(_, data)| {
                let subject = subject(data);
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
    for (rcpt, data) in mails.lock().unwrap().iter() {
        assert_eq!(rcpt.len(), 2, "{rcpt:?}");
        assert!(rcpt.iter().any(|r| r.contains("oncall@example.com")));
        assert!(rcpt.iter().any(|r| r.contains("lead@example.com")));
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
    // A port nobody listens on: connections are refused.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (project, _, key) = project(s, "dead-hook");
    let dest = add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": format!("http://127.0.0.1:{dead}/hook")}),
    );
    // Also a working destination, to show one dead destination does not hold the
    // others back.
    let (hook_url, received) = webhook_server();
    add_destination(
        s,
        project,
        json!({"type": "generic_webhook", "url": hook_url}),
    );

    // Ingest answers every event while the notifier keeps failing.
    let client = http();
    for i in 0..40 {
        let event = json!({
            "level": "error",
            "exception": {"values": [{"type": format!("DeadHookError{}", i % 20), "value": "boom"}]},
        });
        let resp = client
            .post(format!("{}/api/{project}/store/", s.base()))
            .header("x-sentry-auth", auth_header(&key))
            .json(&event)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let (_, v) = call(
        s,
        "GET",
        &format!("/api/admin/projects/{project}/issues?limit=100"),
        None,
    );
    assert_eq!(v["issues"].as_array().unwrap().len(), 20);

    // The working destination got all twenty new-issue alerts.
    wait_for("twenty webhook deliveries", || {
        (received.lock().unwrap().len() >= 20).then_some(())
    });

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
    assert_eq!(
        received.lock().unwrap().len(),
        20,
        "no duplicates to the working one"
    );
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
    let (hook_url, received) = webhook_server();
    let (project, _, key) = project(&s, "lifecycle");
    add_destination(
        &s,
        project,
        json!({"type": "generic_webhook", "url": hook_url}),
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
    patch(json!({"status": "muted", "mute_until_count": 3}));
    send_release(&s, project, &key, "shop@1.11.0");
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression"]);
    send_release(&s, project, &key, "shop@1.11.0");
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute"]);

    // Muted for one second: the first event after it unmutes.
    patch(json!({"status": "muted", "mute_for_seconds": 1}));
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute"]);
    std::thread::sleep(Duration::from_millis(1500));
    send_release(&s, project, &key, "shop@1.11.0");
    assert_eq!(kinds(), ["new_issue", "regression", "unmute", "unmute"]);

    // A mute with no end never alerts.
    patch(json!({"status": "muted"}));
    send_release(&s, project, &key, "shop@2.0.0");
    assert_eq!(kinds().len(), 4);

    // Each of the four alerts reached the webhook exactly once.
    wait_for("four webhook deliveries", || {
        (received.lock().unwrap().len() >= 4).then_some(())
    });
    wait_for("all delivered", || {
        alerts(&s, project)
            .iter()
            .all(|a| a["deliveries"][0]["state"] == "delivered")
            .then_some(())
    });
    let got: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json()["alert"]["kind"].as_str().unwrap().to_owned())
        .collect();
    // Deliveries run concurrently: the arrival order is not the alert order.
    let mut got = got;
    got.sort();
    assert_eq!(got, ["new_issue", "regression", "unmute", "unmute"]);
}

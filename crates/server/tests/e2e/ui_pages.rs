//! The web UI over HTTP, without a browser: who may see and do what, CSRF and
//! origin checks, the security headers, and every corpus event's issue page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Server;
use crate::common::ui::{Ui, create_user};

fn started() -> Server {
    let mut server = Server::sqlite();
    server.start();
    server
}

fn send(server: &Server, project: i64, key: &str, event: &serde_json::Value) -> i64 {
    let r = crate::common::store_post(server, project, key, serde_json::to_vec(event).unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    let id = event["event_id"].as_str().unwrap().replace('-', "");
    let store = server.store();
    periscope_test_support::wait::until(
        "the event to be stored",
        std::time::Duration::from_secs(20),
        || crate::common::stored_event(&store, project, &id),
    )
    .summary
    .issue_id
    .get()
}

fn error_event(message: &str) -> serde_json::Value {
    serde_json::json!({
        "event_id": crate::common::new_event_id(),
        "level": "error",
        "platform": "python",
        "exception": {"values": [{"type": "RuntimeError", "value": message}]},
    })
}

#[test]
fn without_a_session_pages_redirect_and_forms_are_refused() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let issue = send(&server, project, &key, &error_event("x"));
    let mut anon = Ui::new(&server);
    for path in [
        "/".to_owned(),
        format!("/projects/{project}/issues"),
        format!("/issues/{issue}"),
        "/users".to_owned(),
    ] {
        let p = anon.get(&path);
        assert_eq!(p.status, 303, "{path}");
        assert!(
            p.header("location").starts_with("/signin?next=%2F"),
            "{path}: {}",
            p.header("location")
        );
    }
    for path in [
        format!("/issues/{issue}/status"),
        format!("/projects/{project}/issues/bulk"),
        "/signout".to_owned(),
    ] {
        let p = anon.post(&path, &[("action", "resolve"), ("id", &issue.to_string())]);
        assert_eq!(p.status, 403, "{path}: {}", p.body);
    }
    let p = anon.get(&format!("/issues/{issue}/events/{}/json", "0".repeat(32)));
    assert_eq!(p.status, 303);
    // Nothing changed.
    assert_eq!(server.issues(project)[0].status.as_str(), "unresolved");
}

#[test]
fn the_first_sign_in_page_explains_the_setup() {
    let server = started();
    let mut anon = Ui::new(&server);
    let page = anon.get("/signin");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("no account exists yet"), "{}", page.body);
    assert!(
        page.body
            .contains("periscope user create you@example.com --admin")
    );
    create_user(&server, "ann@example.com", true);
    let page = anon.get("/signin");
    assert!(!page.body.contains("no account exists yet"));
}

#[test]
fn wrong_passwords_are_refused_and_slowed_down() {
    let mut server = Server::sqlite();
    server.set("PERISCOPE_AUTH_FREE_FAILURES", "2");
    // A wait long enough that a slow (loaded) machine still tries within it.
    server.set("PERISCOPE_AUTH_FAILURE_DELAY_SECS", "60");
    server.start();
    let password = create_user(&server, "ann@example.com", false);
    let mut ui = Ui::new(&server);
    let csrf = ui.get("/signin").csrf();
    let attempt = |ui: &mut Ui, email: &str, password: &str| {
        ui.post(
            "/signin",
            &[("_csrf", &csrf), ("email", email), ("password", password)],
        )
    };
    let p = attempt(&mut ui, "ann@example.com", "wrong password");
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Wrong email or password"));
    // An unknown account gets the same answer.
    let p = attempt(&mut ui, "nobody@example.com", "wrong password");
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Wrong email or password"));
    // Past the free failures: a wait, even for the right password.
    let p = attempt(&mut ui, "ann@example.com", "wrong again");
    assert_eq!(p.status, 429, "{}", p.body);
    let p = attempt(&mut ui, "ann@example.com", &password);
    assert_eq!(p.status, 429);
    assert!(p.body.contains("Too many failed sign-ins"));
    // The sign-in form needs its CSRF cookie and token.
    let mut fresh = Ui::new(&server);
    let p = fresh.post(
        "/signin",
        &[
            ("_csrf", "forged"),
            ("email", "ann@example.com"),
            ("password", &password),
        ],
    );
    assert_eq!(p.status, 403);
}

#[test]
fn forms_need_the_token_and_our_origin() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let issue = send(&server, project, &key, &error_event("csrf"));
    let password = create_user(&server, "ann@example.com", true);
    let mut ui = Ui::sign_in(&server, "ann@example.com", &password);
    let page = ui.get(&format!("/issues/{issue}"));
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    assert_eq!(csrf.len(), 64);
    let path = format!("/issues/{issue}/status");
    // No token, a wrong token, another origin, no origin at all: refused.
    assert_eq!(ui.post(&path, &[("action", "resolve")]).status, 403);
    assert_eq!(
        ui.post(&path, &[("action", "resolve"), ("_csrf", &"0".repeat(64))])
            .status,
        403
    );
    let evil = ui.post_from(
        &path,
        &[("action", "resolve"), ("_csrf", &csrf)],
        Some("https://evil.example"),
    );
    assert_eq!(evil.status, 403);
    assert!(evil.body.contains("Origin"));
    assert_eq!(
        ui.post_from(&path, &[("action", "resolve"), ("_csrf", &csrf)], None)
            .status,
        403
    );
    assert_eq!(server.issues(project)[0].status.as_str(), "unresolved");
    // With both: done, and back to the issue page.
    let ok = ui.post(&path, &[("action", "resolve"), ("_csrf", &csrf)]);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), format!("/issues/{issue}"));
    assert_eq!(server.issues(project)[0].status.as_str(), "resolved");
    // A GET never changes anything.
    let p = ui.get(&format!("{path}?action=reopen&_csrf={csrf}"));
    assert_eq!(p.status, 405);
    assert_eq!(server.issues(project)[0].status.as_str(), "resolved");
}

#[test]
fn every_page_carries_the_security_headers() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let issue = send(&server, project, &key, &error_event("headers"));
    let password = create_user(&server, "ann@example.com", true);
    let mut ui = Ui::sign_in(&server, "ann@example.com", &password);
    for path in [
        "/".to_owned(),
        "/signin".to_owned(),
        format!("/projects/{project}/issues"),
        format!("/issues/{issue}"),
    ] {
        let p = ui.get(&path);
        let csp = p.header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(p.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(p.header("x-content-type-options"), "nosniff");
        assert_eq!(p.header("referrer-policy"), "same-origin");
        assert!(!p.body.contains("style=\""), "{path}: an inline style");
        assert!(!p.body.contains("<script>"), "{path}: an inline script");
    }
    let css = ui.get("/static/app.css");
    assert_eq!(css.status, 200);
    assert!(css.header("cache-control").contains("immutable"));
}

#[test]
fn sessions_end_with_sign_out_and_password_changes() {
    let server = started();
    let password = create_user(&server, "ann@example.com", false);
    let mut a = Ui::sign_in(&server, "ann@example.com", &password);
    let mut b = Ui::sign_in(&server, "ann@example.com", &password);
    assert_ne!(a.cookies, b.cookies, "each sign-in opens its own session");
    // Sign out ends only that session.
    let csrf = a.get("/").csrf();
    assert_eq!(a.post("/signout", &[("_csrf", &csrf)]).status, 303);
    assert_eq!(a.get("/").status, 303);
    assert_eq!(b.get("/").status, 200);
    // A password change (CLI) ends every session.
    server.cli(&["user", "passwd", "ann@example.com", "--generate"]);
    assert_eq!(b.get("/").status, 303);
    // The session cookie is HttpOnly and SameSite=Lax; a new one at each sign-in.
    let password = server
        .cli(&["user", "passwd", "ann@example.com", "--generate"])
        .lines()
        .find_map(|l| l.strip_prefix("password: ").map(str::to_owned))
        .unwrap();
    let mut c = Ui::new(&server);
    let csrf = c.get("/signin").csrf();
    let p = c.post(
        "/signin",
        &[
            ("_csrf", &csrf),
            ("email", "ANN@example.com"),
            ("password", &password),
        ],
    );
    assert_eq!(p.status, 303, "emails are matched without case: {}", p.body);
    let cookie = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("periscope_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "http base URL: no Secure flag");
}

#[test]
fn members_cannot_reach_admin_pages() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let issue = send(&server, project, &key, &error_event("member"));
    let member = create_user(&server, "mo@example.com", false);
    let admin = create_user(&server, "ada@example.com", true);
    let mut m = Ui::sign_in(&server, "mo@example.com", &member);
    let p = m.get("/users");
    assert_eq!(p.status, 403, "{}", p.body);
    // Members read and act on issues.
    let csrf = m.get(&format!("/issues/{issue}")).csrf();
    let p = m.post(
        &format!("/issues/{issue}/status"),
        &[("action", "mute"), ("_csrf", &csrf)],
    );
    assert_eq!(p.status, 303);
    assert_eq!(server.issues(project)[0].status.as_str(), "muted");
    let mut a = Ui::sign_in(&server, "ada@example.com", &admin);
    let p = a.get("/users");
    assert_eq!(p.status, 200);
    assert!(p.body.contains("mo@example.com") && p.body.contains("member"));
}

#[test]
fn bulk_actions_and_the_raw_json() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let one = send(&server, project, &key, &error_event("one"));
    let two = send(&server, project, &key, &error_event("two"));
    let password = create_user(&server, "ann@example.com", false);
    let mut ui = Ui::sign_in(&server, "ann@example.com", &password);
    let list = ui.get(&format!("/projects/{project}/issues"));
    assert!(list.body.contains("RuntimeError: one") && list.body.contains("RuntimeError: two"));
    let csrf = list.csrf();
    let p = ui.post(
        &format!("/projects/{project}/issues/bulk"),
        &[
            ("_csrf", &csrf),
            ("action", "resolve"),
            ("id", &one.to_string()),
            ("id", &two.to_string()),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        server
            .issues(project)
            .iter()
            .all(|i| i.status.as_str() == "resolved")
    );
    // Another project's issue cannot be changed through this project's form.
    let (other, _, other_key) = server.create_project("q");
    let foreign = send(&server, other, &other_key, &error_event("three"));
    let p = ui.post(
        &format!("/projects/{project}/issues/bulk"),
        &[
            ("_csrf", &csrf),
            ("action", "resolve"),
            ("id", &foreign.to_string()),
        ],
    );
    assert_eq!(p.status, 404);
    assert_eq!(server.issues(other)[0].status.as_str(), "unresolved");
    // The stored payload, as a download.
    let event_id = {
        use periscope_store::IssueStore;
        server
            .store()
            .list_events(periscope_store::IssueId(one), None, 1, None)
            .unwrap()
            .items[0]
            .event_id
            .clone()
    };
    let event = crate::common::stored_event(&server.store(), project, &event_id).unwrap();
    let raw = ui.get(&format!(
        "/issues/{one}/events/{}/json",
        event.summary.event_id
    ));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), "application/json");
    assert!(raw.header("content-disposition").starts_with("attachment"));
    assert_eq!(raw.body.as_bytes(), event.payload.as_slice());
}

#[test]
fn every_corpus_event_renders_its_issue_page() {
    let Some(dir) = crate::common::corpus_dir() else {
        println!("skipped: PERISCOPE_CORPUS_DIR not set");
        return;
    };
    let server = started();
    let (project, _dsn, key) = server.create_project("corpus");
    let password = create_user(&server, "ann@example.com", false);
    let mut ui = Ui::sign_in(&server, "ann@example.com", &password);
    let files = crate::common::corpus_files(&dir);
    assert!(!files.is_empty());
    let mut issues = std::collections::BTreeSet::new();
    let mut rendered = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let Ok(mut event) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if !event.is_object() {
            continue;
        }
        let id = crate::common::new_event_id();
        event["event_id"] = serde_json::Value::String(id.clone());
        event.as_object_mut().unwrap().remove("timestamp");
        let issue = send(&server, project, &key, &event);
        issues.insert(issue);
        let page = ui.get(&format!("/issues/{issue}?event={id}&frames=all&crumbs=all"));
        assert_eq!(page.status, 200, "{}: {}", file.display(), page.body);
        assert!(
            !page.body.contains("Something went wrong"),
            "{}",
            file.display()
        );
        rendered += 1;
    }
    println!(
        "{rendered} corpus events rendered on {} issue pages",
        issues.len()
    );
    let list = ui.get(&format!("/projects/{project}/issues?status=all"));
    assert_eq!(list.status, 200);
}

#[test]
fn the_list_sorts_by_last_seen_first_seen_and_count() {
    let server = started();
    let (project, _dsn, key) = server.create_project("p");
    let busy = send(&server, project, &key, &error_event("busy"));
    for _ in 0..2 {
        send(&server, project, &key, &error_event("busy"));
    }
    let recent = send(&server, project, &key, &error_event("recent"));
    let password = create_user(&server, "ann@example.com", false);
    let mut ui = Ui::sign_in(&server, "ann@example.com", &password);
    let order = |ui: &mut Ui, sort: &str| -> Vec<i64> {
        let page = ui.get(&format!("/projects/{project}/issues?sort={sort}"));
        assert_eq!(page.status, 200);
        page.body
            .split("data-issue=\"")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(order(&mut ui, "last_seen"), vec![recent, busy]);
    assert_eq!(order(&mut ui, "first_seen"), vec![recent, busy]);
    assert_eq!(order(&mut ui, "count"), vec![busy, recent]);
    // An unknown sort falls back to the default rather than failing.
    assert_eq!(order(&mut ui, "nonsense"), vec![recent, busy]);
}

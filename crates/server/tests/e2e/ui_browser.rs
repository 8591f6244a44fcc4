//! The web UI in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` over WebDriver with `fantoccini`).
//!
//! One Chromium serves the whole binary: the scenarios run in order inside one
//! test, each a named step, so a failure names the step. The driver comes from
//! `PERISCOPE_TEST_CHROMEDRIVER` (`.ci/run` installs Chromium and sets it); without
//! it the test says it skipped. Errors are sent by the real Python SDK
//! (`PERISCOPE_TEST_PYTHON`). Screenshots of the list and the issue page, light and
//! dark, are written to `target/ui-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::Server;
use crate::common::ui::create_user;
use fantoccini::{Client, ClientBuilder, Locator};
use periscope_test_support::http::HttpRecorder;
use serde_json::{Value, json};

/// `chromedriver --port=0`, killed when dropped (even when a step panics).
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(path: &Path) -> Driver {
        let mut child = Command::new(path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver exited before saying its port")
                .unwrap();
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
            }
        };
        // Keep reading (and discarding) its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver vendor command (`goog/cdp/execute`, `se/log`).
#[derive(Debug)]
struct Vendor {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Vendor {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or(""),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

async fn dark(c: &Client, on: bool) {
    c.issue_cmd(Vendor {
        path: "goog/cdp/execute",
        body: json!({"cmd": "Emulation.setEmulatedMedia", "params": {
            "features": [{"name": "prefers-color-scheme", "value": if on { "dark" } else { "light" }}]
        }}),
    })
    .await
    .unwrap();
}

/// The browser console's entries since the last call.
async fn console(c: &Client) -> Vec<Value> {
    let v = c
        .issue_cmd(Vendor {
            path: "se/log",
            body: json!({"type": "browser"}),
        })
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(name), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn path_of(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

fn send_python_error(python: &std::ffi::OsStr, dsn: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ui_event.py");
    let out = Command::new(python).arg(&script).arg(dsn).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .replace('-', "")
}

fn wait_for_event(server: &Server, project: i64, event_id: &str) {
    let store = server.store();
    periscope_test_support::wait::until_true(
        "the event to be stored",
        Duration::from_secs(20),
        || crate::common::stored_event(&store, project, event_id).is_some(),
    );
}

/// Blocking work (a subprocess, a blocking HTTP client) inside the async steps.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[test]
fn the_ui_in_chromium() {
    let Some(driver_path) = std::env::var_os("PERISCOPE_TEST_CHROMEDRIVER")
        .filter(|p| !p.is_empty() && Path::new(p).exists())
    else {
        println!("skipped: PERISCOPE_TEST_CHROMEDRIVER not set (or missing)");
        return;
    };
    let Some(python) = std::env::var_os("PERISCOPE_TEST_PYTHON").filter(|p| !p.is_empty()) else {
        println!("skipped: PERISCOPE_TEST_PYTHON not set");
        return;
    };
    let driver = Driver::start(Path::new(&driver_path));
    let mut server = Server::sqlite();
    // The test alert goes to a recorder on loopback.
    server.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    server.start();
    let (project, dsn, key) = server.create_project("shop");
    let password = create_user(&server, "admin@example.com", true);
    let base = server.base();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "goog:chromeOptions": {
                "binary": std::env::var("PERISCOPE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--window-size=1280,1100"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }))
        .unwrap();
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");

        // 1. Without a session every page leads to the sign-in form.
        c.goto(&format!("{base}/projects/{project}/issues")).await.unwrap();
        assert!(path_of(&c).await.starts_with("/signin?next="), "step 1: {}", path_of(&c).await);

        // 2. Sign in; back to the page asked for.
        c.find(Locator::Css("input[name=email]")).await.unwrap().send_keys("admin@example.com").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(&password).await.unwrap();
        c.find(Locator::Css("form[action='/signin'] button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("nav.tabs")).await.unwrap();
        assert_eq!(path_of(&c).await, format!("/projects/{project}/issues"), "step 2");

        // 3. An error from the Python SDK appears in the list.
        let first = blocking(|| send_python_error(&python, &dsn));
        blocking(|| wait_for_event(&server, project, &first));
        c.refresh().await.unwrap();
        let title = text_of(&c, "table.issues td.title a").await;
        assert_eq!(title, "ValueError: order quantity 12 is over the limit", "step 3");
        shot(&c, "issue-list-light.png").await;
        dark(&c, true).await;
        shot(&c, "issue-list-dark.png").await;
        dark(&c, false).await;

        // 4. Its page: the source line of the raise, breadcrumbs, tags, user, release.
        c.find(Locator::Css("table.issues td.title a")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("h1#title")).await.unwrap();
        let current = text_of(&c, "details.frame.app[open] li.current").await;
        assert!(current.contains("raise ValueError(\"order quantity %d is over the limit\" % quantity)"), "step 4: {current}");
        let line_no = text_of(&c, "details.frame.app[open] li.current .ln").await;
        assert_eq!(line_no, "20", "step 4: the raise is on line 20 of ui_event.py");
        let crumbs = text_of(&c, "table.crumbs-table").await;
        assert!(crumbs.contains("added 12 lamps to the cart") && crumbs.contains("user ada signed in"), "step 4: {crumbs}");
        let tags = text_of(&c, "div.tags").await;
        assert!(tags.contains("customer_tier gold") && tags.contains("region eu-west"), "step 4: {tags}");
        let page = c.source().await.unwrap();
        assert!(page.contains("ada@example.com") && page.contains("shop@1.4.2"), "step 4: user and release shown");
        let vars = text_of(&c, "details.frame.app[open] .vars").await;
        assert!(vars.contains("quantity") && vars.contains("12"), "step 4: local variables: {vars}");
        c.set_window_size(1280, 2600).await.unwrap();
        shot(&c, "issue-page-light.png").await;
        dark(&c, true).await;
        shot(&c, "issue-page-dark.png").await;
        dark(&c, false).await;
        c.set_window_size(1280, 1100).await.unwrap();

        // 5. "Show all frames" reveals the json module's frames.
        let hidden = c.find_all(Locator::Css("details.frame.library.hidden")).await.unwrap().len();
        assert!(hidden >= 3, "step 5: the library frames start folded ({hidden})");
        c.find(Locator::Css("a[data-frames=all]")).await.unwrap().click().await.unwrap();
        let shown = c.find_all(Locator::Css("details.frame.library")).await.unwrap();
        let mut visible = 0;
        for f in &shown {
            if f.is_displayed().await.unwrap() {
                visible += 1;
            }
        }
        assert_eq!(visible, hidden, "step 5: every library frame shown");
        assert!(text_of(&c, ".stack").await.contains("json"), "step 5");

        // 6. Resolve from the page: the issue moves to "resolved".
        c.find(Locator::Css("form input[value=resolve] ~ button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("span.status-resolved")).await.unwrap();
        c.goto(&format!("{base}/projects/{project}/issues?status=resolved")).await.unwrap();
        assert_eq!(text_of(&c, "table.issues td.title a").await, title, "step 6");
        c.goto(&format!("{base}/projects/{project}/issues")).await.unwrap();
        assert!(c.find(Locator::Css("#empty")).await.is_ok(), "step 6: no unresolved issue left");

        // 7. The same error again reopens it as a regression.
        let second = blocking(|| send_python_error(&python, &dsn));
        blocking(|| wait_for_event(&server, project, &second));
        c.refresh().await.unwrap();
        assert_eq!(text_of(&c, "table.issues td.title a").await, title, "step 7");
        c.find(Locator::Css("table.issues td.title a")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("span.status-unresolved")).await.unwrap();
        let activity = text_of(&c, "ul.activity").await;
        assert!(activity.contains("regression") && activity.contains("resolved by admin@example.com"), "step 7: {activity}");

        // 8. Walk the events: latest is 2 of 2, first is 1 of 2, next goes back.
        assert_eq!(text_of(&c, "#position").await, "Event 2 of 2 stored", "step 8");
        c.find(Locator::Css("a[rel=first]")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("a[rel=next]")).await.unwrap();
        assert_eq!(text_of(&c, "#position").await, "Event 1 of 2 stored", "step 8");
        assert!(path_of(&c).await.contains(&first), "step 8: the first event's permalink");
        c.find(Locator::Css("a[rel=next]")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("a[rel=first]")).await.unwrap();
        assert_eq!(text_of(&c, "#position").await, "Event 2 of 2 stored", "step 8");
        assert!(path_of(&c).await.contains(&second), "step 8");
        c.find(Locator::Css("a[rel=prev]")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("a[rel=last]")).await.unwrap();
        assert_eq!(text_of(&c, "#position").await, "Event 1 of 2 stored", "step 8");
        c.find(Locator::Css("a[rel=last]")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("a[rel=prev]")).await.unwrap();
        assert_eq!(text_of(&c, "#position").await, "Event 2 of 2 stored", "step 8: latest");
        assert!(console(&c).await.iter().all(|e| e["level"] != "SEVERE"), "step 8: no console errors");

        // 9. Hostile event data: shown literally, nothing runs, nothing is fetched.
        xss(&c, &server, project, &key).await;
        // 9b. Two issues merged through the issue page's form; the merged one's
        // page then leads to the issue it went into.
        merge_in_browser(&c, &server, project).await;

        // 10. A project made in the browser; its setup page gives the DSN, and
        // shows the first event the Python SDK sends with it.
        c.goto(&format!("{base}/")).await.unwrap();
        c.find(Locator::Css("a[href='/projects/new']")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("input[name=name]")).await.unwrap().send_keys("checkout").await.unwrap();
        c.find(Locator::Css("form[action='/projects'] button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#waiting")).await.unwrap();
        let new_dsn = text_of(&c, "#dsn-value").await;
        assert!(new_dsn.starts_with("http://") && new_dsn.ends_with(&format!("/{}", project + 1)), "step 10: {new_dsn}");
        shot(&c, "onboarding-waiting.png").await;
        let sent = blocking(|| send_python_error(&python, &new_dsn));
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#arrived"))
            .await
            .expect("step 10: the setup page shows the first event");
        assert!(text_of(&c, "#arrived").await.contains("ValueError"), "step 10");
        shot(&c, "onboarding-arrived.png").await;
        blocking(|| wait_for_event(&server, project + 1, &sent));

        // 11. A webhook destination pointed at a recorder; "send a test alert"
        // arrives there, signed.
        let recorder = HttpRecorder::ok();
        c.goto(&format!("{base}/projects/{project}/destinations")).await.unwrap();
        c.find(Locator::Css("input[name=url]")).await.unwrap().send_keys(&recorder.url("/hook")).await.unwrap();
        c.find(Locator::Css("input[name=secret]")).await.unwrap().send_keys("browser-secret").await.unwrap();
        c.find(Locator::Css("form[action$='/destinations'] button.primary")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("table.destinations")).await.unwrap();
        c.find(Locator::Css("form[action$='/test'] button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#test-outcome")).await.unwrap();
        assert!(text_of(&c, "#test-outcome").await.contains("delivered"), "step 11");
        let got = blocking(|| recorder.wait_for(1, Duration::from_secs(10)));
        let signature = got[0].header("x-periscope-signature").expect("step 11: signed");
        assert!(periscope_notify::format::verify_signature(b"browser-secret", &got[0].body, signature), "step 11");
        shot(&c, "destinations.png").await;
        c.goto(&format!("{base}/projects/{project}/alerts")).await.unwrap();
        c.wait().for_element(Locator::Css("table.alerts")).await.unwrap();
        shot(&c, "alerts-log.png").await;
        c.goto(&format!("{base}/status")).await.unwrap();
        c.wait().for_element(Locator::Css("#accepted-24h")).await.unwrap();
        shot(&c, "status.png").await;

        // 11b. A key revoked and a quota set in the browser reach ingest.
        keys_and_quota(&c, &server, project, &key).await;
        // 12. An invitation accepted in a second browser session; the new member
        // cannot open the settings.
        c.goto(&format!("{base}/users")).await.unwrap();
        c.find(Locator::Css("form[action='/users/invite'] input[name=email]")).await.unwrap().send_keys("mo@example.com").await.unwrap();
        c.find(Locator::Css("form[action='/users/invite'] button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#link-value")).await.unwrap();
        let link = text_of(&c, "#link-value").await;
        c.delete_all_cookies().await.unwrap();
        c.goto(&link).await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("mo's password").await.unwrap();
        c.find(Locator::Css("input[name=again]")).await.unwrap().send_keys("mo's password").await.unwrap();
        c.find(Locator::Css("form button.primary")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("input[name=email]")).await.unwrap();
        c.find(Locator::Css("input[name=email]")).await.unwrap().send_keys("mo@example.com").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("mo's password").await.unwrap();
        c.find(Locator::Css("form[action='/signin'] button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("table.projects")).await.unwrap();
        assert!(c.find(Locator::Css("a[href='/projects/new']")).await.is_err(), "step 12: no admin links");
        c.goto(&format!("{base}/projects/{project}/settings")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Only an admin"), "step 12");

        // 13. A private target refused when the destination is created (on a
        // second server; last, since cookies are shared across ports).
        private_target(&c).await;

        c.close().await.unwrap();
    });
    drop(driver);
}

/// Merges the project's newest issue into its oldest through the issue page,
/// as an admin typing its number; the count grows and the merged issue's page
/// leads to the oldest.
async fn merge_in_browser(c: &Client, server: &Server, project: i64) {
    let base = server.base();
    let mut ids: Vec<i64> = blocking(|| server.issues(project))
        .iter()
        .map(|i| i.id.get())
        .collect();
    ids.sort_unstable();
    assert!(ids.len() >= 2, "step 9b: two issues to merge ({ids:?})");
    let (into, from) = (ids[0], ids[ids.len() - 1]);
    let count = |text: String| text.replace(',', "").parse::<u64>().unwrap();
    c.goto(&format!("{base}/issues/{into}")).await.unwrap();
    let before = count(text_of(c, "#count").await);
    c.find(Locator::Css("form.merge input[name=issues]"))
        .await
        .unwrap()
        .send_keys(&format!("#{from}"))
        .await
        .unwrap();
    c.find(Locator::Css("form.merge button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#grouping-notice"))
        .await
        .unwrap();
    let notice = text_of(c, "#grouping-notice").await;
    assert!(
        notice.contains(&format!("Merged #{from} into this issue")),
        "step 9b: {notice}"
    );
    assert!(
        count(text_of(c, "#count").await) > before,
        "step 9b: the count grew"
    );
    assert!(
        text_of(c, "ul.activity")
            .await
            .contains(&format!("merged #{from}")),
        "step 9b"
    );
    shot(c, "issue-merged.png").await;
    c.goto(&format!("{base}/issues/{from}")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("h1#title"))
        .await
        .unwrap();
    assert_eq!(
        path_of(c).await,
        format!("/issues/{into}"),
        "step 9b: the merged issue leads here"
    );
}

/// Events whose every field a page shows carries script or a link to a recorder.
async fn xss(c: &Client, server: &Server, project: i64, key: &str) {
    let recorder = HttpRecorder::ok();
    let evil_url = recorder.url("/stolen");
    let script = format!("<script>window.__xss=1;fetch('{evil_url}')</script>");
    let img = format!("\"><img src=\"{evil_url}\" onerror=\"window.__xss=1\">");
    let js = "javascript:window.__xss=1".to_owned();
    let event_id = crate::common::new_event_id();
    let event = json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "message": script,
        "release": img,
        "environment": "prod",
        "server_name": script,
        "tags": {"k<script>": img, "kind": js},
        "user": {"id": script, "email": img, "username": js, "ip_address": "127.0.0.1"},
        "request": {"url": js, "method": "GET", "headers": {"Referer": evil_url, "X-Evil": script},
                    "cookies": {"session<script>": "secret-cookie-value"}},
        "breadcrumbs": {"values": [{"timestamp": 1.0, "category": script, "message": img, "data": {"url": js}}]},
        "exception": {"values": [{"type": "Evil<script>", "value": img, "stacktrace": {"frames": [
            {"filename": script, "abs_path": js, "function": img, "lineno": 3, "in_app": true,
             "context_line": script, "pre_context": [img], "post_context": [js],
             "vars": {"x": script, img.as_str(): js}}
        ]}}]},
        "contexts": {"browser": {"name": script, "version": img}},
        "modules": {"evil<script>": img},
        "sdk": {"name": script, "version": img},
    });
    let body = serde_json::to_vec(&event).unwrap();
    let r = blocking(|| crate::common::store_post(server, project, key, body));
    assert_eq!(r.status, 200, "step 9: hostile event accepted: {}", r.body);
    let event_hex = event_id.replace('-', "");
    let issue = blocking(|| {
        wait_for_event(server, project, &event_hex);
        crate::common::stored_event(&server.store(), project, &event_hex)
            .unwrap()
            .summary
            .issue_id
    });
    let base = server.base();
    let _ = console(c).await;
    for path in [
        format!("/projects/{project}/issues"),
        format!("/issues/{issue}?frames=all&crumbs=all"),
        "/".to_owned(),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        c.wait().for_element(Locator::Css("main")).await.unwrap();
        let ran = c
            .execute("return window.__xss === undefined", vec![])
            .await
            .unwrap();
        assert_eq!(
            ran,
            Value::Bool(true),
            "step 9: injected script ran on {path}"
        );
        assert!(
            c.get_alert_text().await.is_err(),
            "step 9: a dialog opened on {path}"
        );
        let severe: Vec<Value> = console(c)
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(
            severe.is_empty(),
            "step 9: console errors on {path}: {severe:?}"
        );
        let links = c
            .find_all(Locator::Css("a[href^='javascript:' i]"))
            .await
            .unwrap();
        assert!(links.is_empty(), "step 9: a javascript: link on {path}");
    }
    // The issue page shows the hostile text literally.
    c.goto(&format!("{base}/issues/{issue}?frames=all&crumbs=all"))
        .await
        .unwrap();
    let text = text_of(c, "main").await;
    for literal in [
        "<script>window.__xss=1;",
        "\"><img src=",
        "javascript:window.__xss=1",
        "Evil<script>",
    ] {
        assert!(
            text.contains(literal),
            "step 9: {literal:?} not shown literally"
        );
    }
    assert!(
        !text.contains("secret-cookie-value"),
        "step 9: a cookie value was shown"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        recorder.count(),
        0,
        "step 9: the browser fetched an injected URL: {:?}",
        recorder.requests()
    );
}

fn post_event(server: &Server, project: i64, key: &str) -> crate::common::Answer {
    let (_, body) = crate::common::small_event("browser quota");
    blocking(|| crate::common::store_post(server, project, key, body))
}

/// Step 11b: on the settings page, add a key and revoke the first one (its
/// events are refused within 5 s, the new key's accepted), then set a quota of
/// one event per minute (the SDK gets 429 with `X-Sentry-Rate-Limits`).
async fn keys_and_quota(c: &Client, server: &Server, project: i64, old_key: &str) {
    let base = server.base();
    c.goto(&format!("{base}/projects/{project}/settings"))
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/keys'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#keys")).await.unwrap();
    let rows = c.find_all(Locator::Css("tr[data-key]")).await.unwrap();
    assert_eq!(rows.len(), 2, "step 11b: two keys");
    let mut new_key = String::new();
    for r in rows {
        let k = r.attr("data-key").await.unwrap().unwrap_or_default();
        if k != old_key {
            new_key = k;
        }
    }
    c.find(Locator::Css(&format!(
        "tr[data-key='{old_key}'] form[action$='/revoke'] button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait().for_element(Locator::Css("#keys")).await.unwrap();
    assert!(
        text_of(c, &format!("tr[data-key='{old_key}']"))
            .await
            .contains("revoked"),
        "step 11b"
    );
    blocking(|| {
        periscope_test_support::wait::until_true(
            "the revoked key refused",
            Duration::from_secs(5),
            || matches!(post_event(server, project, old_key).status, 401 | 403),
        )
    });
    assert_eq!(
        post_event(server, project, &new_key).status,
        200,
        "step 11b: the new key works"
    );
    // A quota of one event per minute, set in the form.
    let minute = c
        .find(Locator::Css("input[name=quota_per_minute]"))
        .await
        .unwrap();
    minute.clear().await.unwrap();
    minute.send_keys("1").await.unwrap();
    c.find(Locator::Css("form[action$='/settings'] button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("p.ok")).await.unwrap();
    let limited = (0..3)
        .map(|_| post_event(server, project, &new_key))
        .find(|a| a.status == 429)
        .expect("step 11b: a 429 past the quota");
    assert!(
        !limited.header("x-sentry-rate-limits").is_empty(),
        "step 11b"
    );
}

/// Step 13: a server that does not allow private targets refuses a Slack
/// destination on 127.0.0.1 at once, saying which setting would allow it.
async fn private_target(c: &Client) {
    let (strict, project, password) = blocking(|| {
        let mut strict = Server::sqlite();
        strict.start();
        let (project, _, _) = strict.create_project("strict");
        let password = create_user(&strict, "admin@example.com", true);
        (strict, project, password)
    });
    let base = strict.base();
    c.goto(&format!("{base}/projects/{project}/destinations"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .unwrap();
    c.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("admin@example.com")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(&password)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/signin'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("select[name=type]"))
        .await
        .unwrap();
    c.find(Locator::Css(
        "select[name=type] option[value=slack_webhook]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.find(Locator::Css("input[name=url]"))
        .await
        .unwrap()
        .send_keys("http://127.0.0.1:9/hook")
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/destinations'] button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".field-error"))
        .await
        .unwrap();
    let error = text_of(c, ".field-error").await;
    assert!(
        error.contains("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true"),
        "step 13: {error}"
    );
    assert!(
        c.find(Locator::Css("#no-destinations")).await.is_ok(),
        "step 13: nothing created"
    );
    blocking(|| drop(strict));
}

//! The server reports its own errors to `PERISCOPE_SENTRY_DSN` with the Rust Sentry
//! SDK — here to itself: an alert that can never be delivered is logged at error level,
//! reaches the server's own project as an event and becomes an issue there.

use std::time::{Duration, Instant};

use crate::common::{Server, auth_header, http};

#[test]
fn server_reports_its_own_errors_to_itself() {
    // The server's own DSN must name its address before it starts (it binds port
    // 0): a test-owned proxy holds that address.
    let mut s = Server::sqlite().behind_proxy();
    let (app, _app_dsn, app_key) = s.create_project("app");
    let (own, own_dsn, _) = s.create_project("periscope-self");
    s.set("PERISCOPE_SENTRY_DSN", &own_dsn);
    s.set("PERISCOPE_NOTIFIER_INTERVAL_MS", "100");
    // Private webhook targets are refused (the default): delivery fails for good.
    s.start();
    // A literal private address is refused at creation too, so this one is
    // added by a CLI that allows them (as if made while they were allowed):
    // the running server still refuses it at delivery.
    s.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true");
    s.cli(&[
        "destination",
        "add",
        "--project",
        &app.to_string(),
        "--type",
        "generic_webhook",
        "--url",
        "http://127.0.0.1:9/hook",
    ]);
    s.set("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "false");

    let body = br#"{"message": "checkout failed", "level": "error"}"#.to_vec();
    let resp = http()
        .post(format!("{}/api/{app}/store/", s.base()))
        .header("X-Sentry-Auth", auth_header(&app_key))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = s.cli(&["issue", "list", "--project", &own.to_string(), "--json"]);
        let titles: Vec<String> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["title"].as_str().map(str::to_owned))
            .collect();
        if titles
            .iter()
            .any(|t| t.contains("alert delivery failed for good"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no self-reported issue in project {own}; titles {titles:?}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The application's own issue is there too, and unharmed.
    let out = s.cli(&["issue", "list", "--project", &app.to_string(), "--json"]);
    assert!(out.contains("checkout failed"), "{out}");
}

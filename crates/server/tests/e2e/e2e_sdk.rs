//! The official Rust SDK (the `sentry` crate) as a client of the real binary: an
//! exception with a stack trace, a message, a chained error, a custom fingerprint,
//! breadcrumbs and tags each become the expected issue; the same error twice is one
//! issue counted twice. And past a quota the SDK gets 429 with the rate-limit
//! headers, honours them (sends nothing more) and nothing over the limit is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use sentry::protocol::{Breadcrumb, Event, Exception, Frame, Level, Stacktrace};
use sentry::{Client, ClientOptions, Hub, Scope};

use crate::common::{Server, cli_issues, metric, stored_json};

/// A client and hub of our own (tests run in parallel; the global hub is shared).
fn sdk(dsn: &str) -> (Arc<Client>, Arc<Hub>) {
    let options: ClientOptions = (
        dsn,
        ClientOptions {
            release: Some("e2e@1.2.3".into()),
            environment: Some("test".into()),
            // No panic hook or other process-wide integrations in a test binary.
            default_integrations: false,
            ..Default::default()
        },
    )
        .into();
    // The HTTP transport, as `sentry::init` would set it up.
    let client = Arc::new(Client::from_config(sentry::apply_defaults(options)));
    assert!(client.is_enabled(), "the SDK refused the DSN {dsn}");
    let hub = Arc::new(Hub::new(Some(client.clone()), Arc::new(Scope::default())));
    (client, hub)
}

fn frame(module: &str, function: &str, lineno: u64, in_app: bool) -> Frame {
    Frame {
        module: Some(module.into()),
        function: Some(function.into()),
        filename: Some(format!("src/{}.rs", module.replace("::", "/"))),
        lineno: Some(lineno),
        in_app: Some(in_app),
        ..Default::default()
    }
}

/// An `Event` with one exception and a stack trace, built through the SDK's types.
fn exception_event(ty: &str, value: &str, function: &str, lineno: u64) -> Event<'static> {
    Event {
        level: Level::Error,
        exception: vec![Exception {
            ty: ty.into(),
            value: Some(value.into()),
            module: Some("shop::checkout".into()),
            stacktrace: Some(Stacktrace {
                frames: vec![
                    frame("std::rt", "lang_start", 100, false),
                    frame("shop::main", "main", 12, true),
                    frame("shop::checkout", function, lineno, true),
                ],
                ..Default::default()
            }),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    }
}

#[derive(Debug)]
struct ConfigMissing {
    path: String,
}

impl std::fmt::Display for ConfigMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration file {} not found", self.path)
    }
}

impl std::error::Error for ConfigMissing {}

#[derive(Debug)]
struct StartupFailed {
    source: ConfigMissing,
}

impl std::fmt::Display for StartupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the service could not start")
    }
}

impl std::error::Error for StartupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn issue_with<'a>(issues: &'a [serde_json::Value], title_part: &str) -> &'a serde_json::Value {
    let found: Vec<_> = issues
        .iter()
        .filter(|i| i["title"].as_str().unwrap_or("").contains(title_part))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "issues titled *{title_part}*: {found:?} of {issues:#?}"
    );
    found[0]
}

#[test]
fn rust_sdk_events_become_issues() {
    let mut server = Server::sqlite();
    server.start();
    // Created once the server runs, so that the CLI's DSN names its address.
    let (project, dsn, _key) = server.create_project("rust-sdk");
    let (client, hub) = sdk(&dsn);

    // 1. An exception with a stack trace, twice (different numbers in the value, a
    //    different line: one issue), and a third from another function (another issue).
    let first = hub.capture_event(exception_event(
        "InvalidOrder",
        "order 17 has no items",
        "validate",
        40,
    ));
    let second = hub.capture_event(exception_event(
        "InvalidOrder",
        "order 98 has no items",
        "validate",
        44,
    ));
    let other = hub.capture_event(exception_event(
        "InvalidOrder",
        "order 5 has no items",
        "submit",
        80,
    ));

    // 2. A message, twice with different numbers: one issue.
    let msg1 = hub.capture_message("Payment 4711 declined by the bank", Level::Warning);
    let msg2 = hub.capture_message("Payment 4712 declined by the bank", Level::Warning);

    // 3. A chained error (`source()`): the outermost error names the issue.
    let chained = hub.capture_error(&StartupFailed {
        source: ConfigMissing {
            path: "/etc/shop.toml".into(),
        },
    });

    // 4. A custom fingerprint: two unrelated errors, one issue.
    let fp: Vec<_> = ["TimeoutError", "ForbiddenError"]
        .iter()
        .map(|ty| {
            hub.with_scope(
                |scope| scope.set_fingerprint(Some(&["payment-gateway", "checkout"])),
                || hub.capture_event(exception_event(ty, "gateway said no", ty, 1)),
            )
        })
        .collect();

    // 5. Breadcrumbs and tags.
    let tagged = hub.with_scope(
        |scope| {
            scope.set_tag("feature", "checkout");
            scope.set_tag("customer.tier", "gold");
        },
        || {
            hub.add_breadcrumb(Breadcrumb {
                category: Some("http".into()),
                message: Some("GET /cart 200".into()),
                level: Level::Info,
                ..Default::default()
            });
            hub.add_breadcrumb(Breadcrumb {
                category: Some("ui.click".into()),
                message: Some("button#pay".into()),
                ..Default::default()
            });
            hub.capture_event(exception_event("CartEmpty", "the cart is empty", "pay", 7))
        },
    );
    assert!(
        client.flush(Some(Duration::from_secs(20))),
        "the SDK could not deliver"
    );

    // Every event is stored under the id the SDK gave it.
    for id in [
        first, second, other, msg1, msg2, chained, fp[0], fp[1], tagged,
    ] {
        stored_json(&server, project, &id.simple().to_string());
    }

    let issues = cli_issues(&server, project);
    let count = |i: &serde_json::Value| i["count"].as_u64().unwrap();
    let validate: Vec<_> = issues
        .iter()
        .filter(|i| i["title"].as_str().unwrap().starts_with("InvalidOrder"))
        .collect();
    assert_eq!(validate.len(), 2, "{validate:#?}");
    let mut counts: Vec<u64> = validate.iter().map(|i| count(i)).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [1, 2],
        "the same error twice is one issue of 2 events"
    );

    let message = issue_with(&issues, "declined by the bank");
    assert_eq!(count(message), 2);
    assert_eq!(message["level"], "warning");

    let chain = issue_with(&issues, "StartupFailed");
    assert_eq!(count(chain), 1);
    let payload = stored_json(&server, project, &chained.simple().to_string());
    let values = payload["exception"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2, "both links of the chain are kept");
    assert_eq!(values[0]["type"], "ConfigMissing");
    assert_eq!(values[1]["type"], "StartupFailed");

    let fingerprinted: Vec<_> = issues
        .iter()
        .filter(|i| {
            let t = i["title"].as_str().unwrap();
            t.starts_with("TimeoutError") || t.starts_with("ForbiddenError")
        })
        .collect();
    assert_eq!(
        fingerprinted.len(),
        1,
        "one issue for one fingerprint: {fingerprinted:#?}"
    );
    assert_eq!(count(fingerprinted[0]), 2);

    let cart = issue_with(&issues, "CartEmpty");
    assert_eq!(count(cart), 1);
    let payload = stored_json(&server, project, &tagged.simple().to_string());
    let crumbs = &payload["breadcrumbs"]["values"];
    assert_eq!(crumbs[0]["message"], "GET /cart 200");
    assert_eq!(crumbs[1]["category"], "ui.click");
    assert_eq!(payload["tags"]["feature"], "checkout");
    assert_eq!(payload["release"], "e2e@1.2.3");
    // Tags are searchable.
    let pid = project.to_string();
    let found = server.cli(&[
        "issue",
        "list",
        "--project",
        &pid,
        "--query",
        "feature:checkout",
        "--json",
    ]);
    let found: Vec<serde_json::Value> = found
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], cart["id"]);

    assert_eq!(issues.len(), 6, "{issues:#?}");
    server.stop();
}

#[test]
fn rust_sdk_honours_the_quota() {
    let mut server = Server::sqlite();
    server.set("PERISCOPE_QUOTA_PROJECT_PER_MINUTE", "5");
    server.start();
    // Created once the server runs, so that the CLI's DSN names its address.
    let (project, dsn, _key) = server.create_project("rust-sdk-quota");
    let (client, hub) = sdk(&dsn);
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(hub.capture_message(&format!("quota message {i}"), Level::Error));
        // One at a time, so the SDK has read each answer before the next event.
        assert!(client.flush(Some(Duration::from_secs(20))));
    }
    let stored: Vec<bool> = ids
        .iter()
        .map(|id| {
            crate::common::stored_event(&server.store(), project, &id.simple().to_string())
                .is_some()
        })
        .collect();
    assert_eq!(
        stored,
        [
            true, true, true, true, true, false, false, false, false, false
        ]
    );
    let metrics = server.metrics();
    // The 6th request got 429; the SDK then kept the other 4 to itself.
    assert_eq!(
        metric(
            &metrics,
            "periscope_events_rejected_total{reason=\"rate_limited\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "periscope_events_accepted_total"),
        Some(5.0)
    );
    let issues = server.issues(project);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].count, 5);
    server.stop();
}

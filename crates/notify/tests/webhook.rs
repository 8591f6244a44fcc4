//! Webhook delivery (generic, Slack, Discord) against a local HTTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use periscope_notify::{
    Admission, DeliveryError, Destination, Dispatcher, DispatcherConfig, Notifier, RateCap,
    RateCapState, RetryPolicy, deliver_with_retries, format,
};
use support::{HttpRecorder, RefusingPort, Reply, alert};

fn dispatcher(allow_private: bool, timeout: Duration) -> Dispatcher {
    Dispatcher::new(DispatcherConfig {
        allow_private_targets: allow_private,
        timeout,
        ..DispatcherConfig::default()
    })
    .unwrap()
}

fn local() -> Dispatcher {
    dispatcher(true, Duration::from_secs(10))
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    }
}

fn generic(url: String, secret: Option<&str>) -> Destination {
    Destination::GenericWebhook {
        url,
        headers: BTreeMap::from([("X-Team".to_owned(), "payments".to_owned())]),
        secret: secret.map(str::to_owned),
    }
}

#[tokio::test]
async fn generic_webhook_sends_versioned_signed_json_with_custom_headers() {
    let server = HttpRecorder::start(vec![]);
    let destination = generic(server.url("/hooks/periscope"), Some("s3cret"));
    local().deliver(&alert(), &destination).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/periscope");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-team"), Some("payments"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("periscope-notify/")
    );

    let signature = request.header("x-periscope-signature").unwrap();
    assert!(format::verify_signature(
        b"s3cret",
        &request.body,
        signature
    ));
    assert!(!format::verify_signature(
        b"wrong",
        &request.body,
        signature
    ));

    let body = request.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["alert"]["kind"], "new_issue");
    assert_eq!(body["alert"]["project_id"], 7);
    assert_eq!(
        body["alert"]["subject"],
        serde_json::json!({"type": "issue", "id": 42})
    );
    // Deprecated, still written for receivers of earlier versions.
    assert_eq!(body["alert"]["issue_id"], 42);
    // A receiver using this crate reads the body back to the alert sent.
    let received: periscope_notify::Alert = serde_json::from_value(body["alert"].clone()).unwrap();
    assert_eq!(received, alert());
    assert_eq!(
        body["alert"]["title"],
        "ZeroDivisionError: division by zero"
    );
    assert_eq!(body["alert"]["url"], "http://periscope.test/issues/42");
    let sent_at = chrono::DateTime::parse_from_rfc3339(body["sent_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        request.header("x-periscope-timestamp").unwrap(),
        sent_at.timestamp().to_string()
    );
}

#[tokio::test]
async fn generic_webhook_without_secret_is_not_signed() {
    let server = HttpRecorder::start(vec![]);
    local()
        .deliver(&alert(), &generic(server.url("/h"), None))
        .await
        .unwrap();
    assert_eq!(server.requests()[0].header("x-periscope-signature"), None);
}

#[tokio::test]
async fn slack_and_discord_get_their_own_formats() {
    let server = HttpRecorder::start(vec![]);
    let d = local();
    d.deliver(
        &alert(),
        &Destination::SlackWebhook {
            url: server.url("/slack"),
        },
    )
    .await
    .unwrap();
    d.deliver(
        &alert(),
        &Destination::DiscordWebhook {
            url: server.url("/discord"),
        },
    )
    .await
    .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);

    let slack = requests.iter().find(|r| r.path == "/slack").unwrap().json();
    assert_eq!(
        slack["text"],
        "New issue in shop: ZeroDivisionError: division by zero"
    );
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("<http://periscope.test/issues/42|ZeroDivisionError: division by zero>")
    );

    let discord = requests
        .iter()
        .find(|r| r.path == "/discord")
        .unwrap()
        .json();
    assert_eq!(discord["content"], "**New issue** in shop");
    assert_eq!(
        discord["embeds"][0]["title"],
        "ZeroDivisionError: division by zero"
    );
    assert_eq!(
        discord["embeds"][0]["url"],
        "http://periscope.test/issues/42"
    );
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = HttpRecorder::start(vec![Reply::Status(500, None, "boom")]);
    let delivered = deliver_with_retries(
        &local(),
        &alert(),
        &generic(server.url("/h"), None),
        &fast_policy(4),
    )
    .await
    .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    // Two 429s: the first is seen by a bare `deliver` (how the error reads), the
    // second by `deliver_with_retries`, which must try again and get the 200.
    let slow_down = Reply::Status(429, Some(("Retry-After", "0")), "slow down");
    let server = HttpRecorder::start(vec![slow_down.clone(), slow_down]);
    let destination = Destination::SlackWebhook {
        url: server.url("/s"),
    };
    let first = local().deliver(&alert(), &destination).await.unwrap_err();
    assert!(!first.is_permanent(), "{first}");
    assert_eq!(first.retry_after(), Some(Duration::ZERO));
    assert_eq!(server.count(), 1);
    let delivered = deliver_with_retries(&local(), &alert(), &destination, &fast_policy(3))
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2, "the 429 was retried");
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        3,
        "one bare attempt, then a 429 and its retry"
    );
    assert!(requests.iter().all(|r| r.path == "/s"));
    assert_eq!(
        requests[1].body, requests[2].body,
        "the retry sends the same alert"
    );
}

#[tokio::test]
async fn bad_request_is_permanent_and_not_retried() {
    let server = HttpRecorder::start(vec![Reply::Status(400, None, "invalid payload")]);
    let url = server.url("/h?token=abc");
    let gave_up = deliver_with_retries(&local(), &alert(), &generic(url, None), &fast_policy(5))
        .await
        .unwrap_err();
    assert_eq!(gave_up.attempts, 1);
    assert_eq!(server.requests().len(), 1);
    assert!(gave_up.error.is_permanent());
    assert_eq!(
        gave_up.error.to_string(),
        format!(
            "webhook: 400 from http://{}/h: invalid payload",
            server.addr
        )
    );
}

#[tokio::test]
async fn persistent_failure_gives_up_after_max_attempts() {
    let server = HttpRecorder::start(vec![
        Reply::Status(503, None, ""),
        Reply::Status(502, None, ""),
        Reply::Status(500, None, ""),
        Reply::Status(500, None, ""),
    ]);
    let gave_up = deliver_with_retries(
        &local(),
        &alert(),
        &generic(server.url("/h"), None),
        &fast_policy(3),
    )
    .await
    .unwrap_err();
    assert_eq!(gave_up.attempts, 3);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        gave_up.error.to_string(),
        format!("webhook: 500 from http://{}/h", server.addr)
    );
}

#[tokio::test]
async fn slow_server_times_out_and_is_retryable() {
    let server = HttpRecorder::start(vec![Reply::Hang]);
    let err = dispatcher(true, Duration::from_millis(300))
        .deliver(&alert(), &generic(server.url("/slow"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Timeout { .. }), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(
        err.to_string(),
        format!(
            "webhook: no answer from http://{}/slow within 300ms",
            server.addr
        )
    );
}

#[tokio::test]
async fn retry_loop_bounds_each_attempt_with_the_policy_timeout() {
    // The first request hangs; the policy's timeout cuts it short and the
    // second attempt succeeds.
    let server = HttpRecorder::start(vec![Reply::Hang]);
    let policy = RetryPolicy {
        timeout: Duration::from_secs(1),
        ..fast_policy(3)
    };
    let delivered = deliver_with_retries(
        &local(),
        &alert(),
        &generic(server.url("/slow"), None),
        &policy,
    )
    .await
    .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert_eq!(server.requests().len(), 2);

    let always_slow = HttpRecorder::start(vec![Reply::Hang, Reply::Hang]);
    let policy = RetryPolicy {
        timeout: Duration::from_millis(200),
        ..fast_policy(2)
    };
    let gave_up = deliver_with_retries(
        &local(),
        &alert(),
        &generic(always_slow.url("/slow"), None),
        &policy,
    )
    .await
    .unwrap_err();
    assert_eq!(gave_up.attempts, 2);
    assert!(
        matches!(gave_up.error, DeliveryError::Timeout { .. }),
        "{:?}",
        gave_up.error
    );
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    // Bound and never listening: refused at once, and no one else can take the port.
    let refusing = RefusingPort::new();
    let port = refusing.port();
    let err = local()
        .deliver(
            &alert(),
            &generic(format!("http://127.0.0.1:{port}/h"), None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Connect { .. }), "{err:?}");
    assert!(!err.is_permanent());
    assert!(
        err.to_string().starts_with(&format!(
            "webhook: cannot connect to http://127.0.0.1:{port}/h: "
        )),
        "{err}"
    );
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = HttpRecorder::start(vec![]);
    let guarded = dispatcher(false, Duration::from_secs(5));
    let port = server.addr.port();
    for destination in [
        generic(server.url("/h"), None),
        generic(format!("http://localhost:{port}/h"), None),
        Destination::SlackWebhook {
            url: server.url("/s"),
        },
        Destination::DiscordWebhook {
            url: format!("http://[::ffff:127.0.0.1]:{port}/d"),
        },
    ] {
        let err = guarded.deliver(&alert(), &destination).await.unwrap_err();
        assert!(matches!(err, DeliveryError::Refused { .. }), "{err:?}");
        assert!(err.is_permanent());
        assert!(err.to_string().contains("allow_private_targets"), "{err}");
    }
    // An embedding application names its own setting in the refusal.
    let embedded = Dispatcher::new(DispatcherConfig {
        allow_private_hint: "set MY_APP_ALLOW_INTERNAL=1".into(),
        ..DispatcherConfig::default()
    })
    .unwrap();
    let err = embedded
        .deliver(&alert(), &generic(server.url("/h"), None))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(set MY_APP_ALLOW_INTERNAL=1 to allow internal targets)"),
        "{err}"
    );
    assert!(server.requests().is_empty(), "nothing may reach the server");
    local()
        .deliver(&alert(), &generic(server.url("/h"), None))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn chat_errors_do_not_reveal_the_secret_path() {
    let server = HttpRecorder::start(vec![Reply::Status(500, None, "")]);
    let url = server.url("/services/T000/B000/SECRETTOKEN");
    let err = local()
        .deliver(&alert(), &Destination::SlackWebhook { url })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("slack: 500 from http://{}/…", server.addr)
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = HttpRecorder::start(vec![Reply::Status(
        302,
        Some(("Location", "http://169.254.169.254/latest/meta-data")),
        "",
    )]);
    let err = local()
        .deliver(&alert(), &generic(server.url("/h"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::HttpStatus { status: 302, .. }));
    assert!(err.is_permanent());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn rate_cap_holds_back_and_sends_one_summary() {
    let server = HttpRecorder::start(vec![]);
    let destination = generic(server.url("/h"), None);
    let d = local();
    let cap = RateCap::new(2);
    let mut state = RateCapState::new();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();

    let mut held = 0;
    for i in 0..5 {
        let now = t0 + TimeDelta::minutes(i);
        match state.admit(cap, now) {
            Admission::Deliver { summary } => {
                assert!(summary.is_none());
                d.deliver(&alert(), &destination).await.unwrap();
            }
            Admission::HoldBack { held: n, summary } => {
                assert!(summary.is_none());
                held = n;
            }
        }
    }
    assert_eq!(held, 3);
    assert_eq!(server.requests().len(), 2);

    let reopened = state.summary_due_at(cap).unwrap();
    assert_eq!(state.flush(cap, reopened - TimeDelta::seconds(1)), None);
    let summary = state.flush(cap, reopened).unwrap();
    let summary_alert = summary.to_alert(
        periscope_notify::ProjectId(7),
        "shop",
        "http://periscope.test/projects/7/issues",
    );
    d.deliver(&summary_alert, &destination).await.unwrap();
    assert_eq!(state.flush(cap, reopened + TimeDelta::minutes(5)), None);

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "two alerts and exactly one summary");
    let body = requests[2].json();
    assert_eq!(body["alert"]["kind"], "held_back");
    assert_eq!(body["alert"]["title"], "3 alerts were held back");
    assert_eq!(body["alert"]["event_count"], 3);
    assert_eq!(body["alert"]["subject"], serde_json::Value::Null);
    assert_eq!(body["alert"]["issue_id"], 0);
}

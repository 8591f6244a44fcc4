//! Sends one sample alert to a webhook and reports the outcome.
//!
//! ```text
//! cargo run -p periscope-notify --example send_webhook -- <URL> [--slack|--discord] [--secret S] [--allow-private]
//! ```
//!
//! Without `--slack`/`--discord` the generic JSON body is sent (signed when a
//! secret is given). `--allow-private` is needed for targets on this machine
//! or the local network, e.g. `http://127.0.0.1:8080/hook`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use periscope_notify::{
    Alert, AlertKind, AlertSubject, Destination, Dispatcher, DispatcherConfig, IssueId, ProjectId,
    RetryPolicy, deliver_with_retries,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut url = None;
    let mut flavour = "generic";
    let mut secret = None;
    let mut allow_private = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--slack" => flavour = "slack",
            "--discord" => flavour = "discord",
            "--allow-private" => allow_private = true,
            "--secret" => secret = args.next(),
            "-h" | "--help" => {
                eprintln!(
                    "usage: send_webhook <URL> [--slack|--discord] [--secret S] [--allow-private]"
                );
                return ExitCode::SUCCESS;
            }
            other => url = Some(other.to_owned()),
        }
    }
    let Some(url) = url else {
        eprintln!("usage: send_webhook <URL> [--slack|--discord] [--secret S] [--allow-private]");
        return ExitCode::from(2);
    };

    let destination = match flavour {
        "slack" => Destination::SlackWebhook { url },
        "discord" => Destination::DiscordWebhook { url },
        _ => Destination::GenericWebhook {
            url,
            headers: BTreeMap::new(),
            secret,
        },
    };
    if let Err(e) = destination.validate() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }

    let now = Utc::now();
    let alert = Alert {
        kind: AlertKind::NewIssue,
        project_id: ProjectId(1),
        project_name: "example".into(),
        subject: Some(AlertSubject::Issue(IssueId(1))),
        title: "ZeroDivisionError: division by zero".into(),
        culprit: Some("app.views.divide".into()),
        level: "error".into(),
        event_count: 1,
        first_seen: now - TimeDelta::seconds(5),
        last_seen: now,
        url: "http://127.0.0.1:8000/issues/1".into(),
        environment: Some("development".into()),
        release: None,
    };

    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(4),
        timeout: Duration::from_secs(10),
    };
    let dispatcher = match Dispatcher::new(DispatcherConfig {
        allow_private_targets: allow_private,
        timeout: policy.timeout,
        ..DispatcherConfig::default()
    }) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match deliver_with_retries(&dispatcher, &alert, &destination, &policy).await {
        Ok(delivered) => {
            println!("delivered in {} attempt(s)", delivered.attempts);
            ExitCode::SUCCESS
        }
        Err(gave_up) => {
            eprintln!(
                "{gave_up} ({})",
                if gave_up.error.is_permanent() {
                    "permanent"
                } else {
                    "transient"
                }
            );
            ExitCode::FAILURE
        }
    }
}

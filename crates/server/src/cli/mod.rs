//! The command line: `periscope <command>`.

pub mod commands;
pub mod grouping;
pub mod show;
pub mod status;
pub mod stress;
pub mod test_sends;
pub mod users;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Periscope: a self-hosted error tracker that speaks the Sentry protocol.
///
/// Configuration comes from environment variables (DATABASE_URL or SQLITE_PATH or
/// POSTGRES_*, HOST, PORT, PERISCOPE_BASE_URL, API_SECRET_KEY_ADMIN, ...); every
/// command uses the same database as the server.
#[derive(Debug, Parser)]
#[command(name = "periscope", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (ingest, admin API, alert delivery).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Inspect and act on issues.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Manage alert destinations.
    #[command(subcommand)]
    Destination(DestinationCommand),
    /// Inspect alerts and retry their deliveries.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Manage the web UI's accounts.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Show the installation status from the database: version, database
    /// size, events stored, accepted and refused over 24 hours, alert
    /// deliveries, quotas. Live figures (bus, requests in flight, uptime, quota
    /// usage) come from a running server: GET /api/admin/status or /metrics.
    Status {
        /// Print JSON (the admin API's shape, with "process": null).
        #[arg(long)]
        json: bool,
    },
    /// Print the grouping of event JSON files, one JSON line each: with a
    /// configuration and rules to try, or as a project groups (--project).
    Group(grouping::GroupArgs),
    /// Group a project's stored events again with its current grouping (after
    /// a change of rules or configuration), in resumable batches; --dry-run
    /// reports which issues would merge or split.
    Regroup(grouping::RegroupArgs),
    /// Send a real event through the Sentry protocol (with the Rust Sentry SDK).
    SendTestEvent(SendTestEventArgs),
    /// Load generator: send realistic events to a DSN and report throughput and latency.
    Stress(StressArgs),
}

/// `periscope project ...`
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project and print its DSN.
    Create {
        /// The project's name.
        name: String,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List projects with their DSNs.
    List {
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Delete a project with its keys, issues, events and alerts. Its DSN stops
    /// working on every running server within about a second.
    Delete {
        /// The project id.
        id: i64,
        /// Confirm: without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Manage a project's client keys (DSNs).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show a project's grouping (configuration, transition, rules), or
    /// change it with the options.
    Grouping(grouping::ProjectGroupingArgs),
    /// Send a test event to a project through a running server and print its
    /// event id (as the project setup page does).
    ///
    /// The server must be running: this command has no listener of its own, so
    /// the event goes through the Sentry protocol, with the project's first
    /// active key, to the server of this configuration: HOST:PORT (0.0.0.0 or ::
    /// meaning this machine's loopback), or, when PORT is 0, the host and port of
    /// an http:// PERISCOPE_BASE_URL. It is stored, grouped and alerted on like
    /// any event.
    TestEvent {
        /// The project id.
        id: i64,
        /// Print JSON: {"event_id": "..."}.
        #[arg(long)]
        json: bool,
    },
}

/// `periscope project key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a new client key to a project and print its DSN.
    Add {
        /// The project id.
        project: i64,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client key: its DSN stops working on every running server
    /// within about a second. The project's last active key cannot be revoked.
    Revoke {
        /// The project id.
        project: i64,
        /// The public key (32 hexadecimal digits).
        public_key: String,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List a project's client keys, revoked ones included.
    List {
        /// The project id.
        project: i64,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
}

/// `periscope issue ...`
#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// List a project's issues, most recently seen first (or as --sort says).
    List {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// unresolved, resolved, muted or all.
        #[arg(long, default_value = "unresolved")]
        status: String,
        /// The order, newest or largest first: last_seen, first_seen or count.
        #[arg(long, default_value = "last_seen")]
        sort: String,
        /// Free text and key:value terms (level:, release:, environment:, tag keys).
        #[arg(long)]
        query: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one issue: counts, the latest event's stack trace and the grouping explanation.
    Show {
        /// The issue id.
        id: i64,
        /// Print JSON (the admin API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Resolve an issue (optionally: resolved in a release).
    Resolve {
        /// The issue id.
        id: i64,
        /// Only events from a newer release reopen it.
        #[arg(long)]
        release: Option<String>,
    },
    /// Mute an issue, for a time or until a volume.
    Mute {
        /// The issue id.
        id: i64,
        /// Mute for this long (e.g. 30m, 2h, 7d).
        #[arg(long = "for")]
        for_: Option<String>,
        /// Unmute after this many more events.
        #[arg(long)]
        until_count: Option<u64>,
    },
    /// Reopen (unresolve / unmute) an issue.
    Reopen {
        /// The issue id.
        id: i64,
    },
    /// List an issue's grouping keys with their own event counts.
    Keys {
        /// The issue id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge issues of the same project into one: their keys, events,
    /// counters, alerts and activity move to it; they redirect to it.
    Merge {
        /// The issue to merge into.
        id: i64,
        /// The issues to merge into it.
        #[arg(required = true)]
        issues: Vec<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move some grouping keys of an issue (see `issue keys`), with the
    /// events that joined by them, to a new issue.
    Unmerge {
        /// The issue id.
        id: i64,
        /// The keys to move.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `periscope destination ...`
#[derive(Debug, Subcommand)]
pub enum DestinationCommand {
    /// Add an alert destination to a project.
    Add {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// email, generic_webhook, slack_webhook, discord_webhook or internal_logger.
        #[arg(long = "type")]
        kind: String,
        /// The webhook URL (webhook types).
        #[arg(long)]
        url: Option<String>,
        /// Recipient (email; repeatable).
        #[arg(long)]
        to: Vec<String>,
        /// HMAC secret for generic webhooks.
        #[arg(long)]
        secret: Option<String>,
        /// Extra header `Name: value` for generic webhooks (repeatable).
        #[arg(long)]
        header: Vec<String>,
    },
    /// List a project's destinations.
    List {
        /// The project id.
        #[arg(long)]
        project: i64,
    },
    /// Deliver a test alert to a destination now, from this process, through
    /// the same dispatcher as real alerts (one attempt); prints "delivered", or
    /// the exact error and exits non-zero.
    Test {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// The destination id.
        id: i64,
        /// Print JSON (the admin API's shape: destination_id, delivered, error).
        #[arg(long)]
        json: bool,
    },
    /// Change a destination: what is not given stays as it is (secrets
    /// included: they are write-only).
    Update {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// The destination id.
        id: i64,
        /// A new webhook URL.
        #[arg(long)]
        url: Option<String>,
        /// New recipients (email; repeatable; replaces them all).
        #[arg(long)]
        to: Vec<String>,
        /// A new HMAC secret (generic webhooks).
        #[arg(long)]
        secret: Option<String>,
        /// Remove the HMAC secret.
        #[arg(long)]
        no_secret: bool,
        /// The headers from now on, `Name: value` (repeatable; `Name:` keeps
        /// that header's stored value; headers not given are removed).
        #[arg(long)]
        header: Vec<String>,
        /// Remove every custom header.
        #[arg(long)]
        no_headers: bool,
        /// Alerts per hour before a summary.
        #[arg(long)]
        max_per_hour: Option<u64>,
        /// Back to the default alerts per hour.
        #[arg(long)]
        default_max_per_hour: bool,
    },
    /// Remove a destination.
    Remove {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// The destination id.
        id: i64,
    },
}

/// `periscope alert ...`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// List a project's latest alerts with the state of each delivery.
    List {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// Only alerts with a delivery in this state: pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Retry a delivery now (one that failed for good or waits for its next
    /// attempt); its attempts and last error are kept.
    Retry {
        /// The project id.
        #[arg(long)]
        project: i64,
        /// The delivery id (from `periscope alert list`).
        delivery_id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `periscope send-test-event DSN`
#[derive(Debug, Args)]
pub struct SendTestEventArgs {
    /// Where to send it.
    pub dsn: String,
    /// The message of the event.
    #[arg(
        long,
        default_value = "This is a test event sent by periscope send-test-event"
    )]
    pub message: String,
}

/// `periscope stress`
#[derive(Debug, Args)]
pub struct StressArgs {
    /// The DSN to send to.
    #[arg(long)]
    pub dsn: String,
    /// Parallel connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Total requests.
    #[arg(long, default_value_t = 20_000)]
    pub requests: u64,
    /// Stop after this many seconds even if requests remain.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Gzip the bodies.
    #[arg(long)]
    pub gzip: bool,
    /// Number of distinct errors.
    #[arg(long, default_value_t = 50)]
    pub distinct: usize,
    /// Write the ids of acknowledged events to this file.
    #[arg(long)]
    pub ids_out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a duration like `90s`, `30m`, `2h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30m, 2h, 7d)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        "w" => n.saturating_mul(7 * 86_400),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}

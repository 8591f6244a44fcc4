//! What each command of the command line does.

use std::fmt::Write as _;

use chrono::Utc;
use periscope_grouping::{Grouper, GroupingConfig, Strategy};
use periscope_sentry_envelope::Event;
use periscope_store::{
    AlertStore, IssueAction, IssueFilter, IssueStore, Project, ProjectStore, StatusFilter, Store,
};

use crate::cli::{Cli, Command, DestinationCommand, IssueCommand, ProjectCommand, StressArgs};
use crate::config::Config;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve => serve(),
        Command::Migrate => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::app::open_store(&config)?;
            println!(
                "migrations applied to {}",
                crate::app::redact(&config.database_url)
            );
            Ok(())
        }
        Command::Project(cmd) => project(cmd),
        Command::Issue(cmd) => issue(cmd),
        Command::Destination(cmd) => destination(cmd),
        Command::Group(args) => group(&args.files, &args.strategy),
        Command::SendTestEvent(args) => send_test_event(&args.dsn, &args.message),
        Command::Stress(args) => stress(args),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        EnvFilter::try_from_env("PERISCOPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_target(false))
        .with(sentry::integrations::tracing::layer())
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn serve() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    // The server reports its own errors (tracing errors, panics) to a DSN, possibly its own.
    let _sentry = config.sentry_dsn.as_ref().map(|dsn| {
        sentry::init((
            dsn.as_str(),
            sentry::ClientOptions {
                release: Some(concat!("periscope@", env!("CARGO_PKG_VERSION")).into()),
                ..Default::default()
            },
        ))
    });
    init_tracing();
    runtime()?.block_on(crate::app::serve(config))
}

fn open() -> Result<(Config, Store), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let store = crate::app::open_store(&config)?;
    Ok((config, store))
}

/// A new random public key: 32 lowercase hex characters.
pub fn new_public_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The DSN of a key of a project, from the public base URL.
pub fn dsn_for(base_url: &str, public_key: &str, project_id: i64) -> String {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("http", base_url));
    format!(
        "{scheme}://{public_key}@{}/{project_id}",
        rest.trim_end_matches('/')
    )
}

/// The JSON shape of a project in the CLI and the admin API.
pub fn project_json(base_url: &str, p: &Project) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = p
        .keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "public_key": k.public_key,
                "dsn": dsn_for(base_url, &k.public_key, p.id),
                "created_at": k.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
        })
        .collect();
    serde_json::json!({
        "id": p.id,
        "name": p.name,
        "dsn": p.keys.first().map(|k| dsn_for(base_url, &k.public_key, p.id)),
        "keys": keys,
        "created_at": p.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "settings": p.settings,
        "stored_events": p.stored_events,
    })
}

fn project(cmd: ProjectCommand) -> Result<(), String> {
    let (config, store) = open()?;
    match cmd {
        ProjectCommand::Create { name, json } => {
            let name = name.trim();
            if name.is_empty() {
                return Err("the project name must not be empty".into());
            }
            let p = store
                .create_project(name, &new_public_key(), Utc::now())
                .map_err(|e| e.to_string())?;
            if json {
                println!("{}", project_json(&config.base_url, &p));
            } else {
                println!("created project {} ({})", p.id, p.name);
                if let Some(k) = p.keys.first() {
                    println!("DSN: {}", dsn_for(&config.base_url, &k.public_key, p.id));
                }
            }
        }
        ProjectCommand::List { json } => {
            let projects = store.list_projects().map_err(|e| e.to_string())?;
            if json {
                let all: Vec<_> = projects
                    .iter()
                    .map(|p| project_json(&config.base_url, p))
                    .collect();
                println!("{}", serde_json::Value::Array(all));
            } else if projects.is_empty() {
                println!("no projects yet: periscope project create NAME");
            } else {
                for p in &projects {
                    let dsn = p
                        .keys
                        .first()
                        .map(|k| dsn_for(&config.base_url, &k.public_key, p.id));
                    println!("{:>5}  {:<30}  {}", p.id, p.name, dsn.unwrap_or_default());
                }
            }
        }
        ProjectCommand::Delete { id, yes } => {
            let p = store
                .get_project(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no project {id}"))?;
            if !yes {
                return Err(format!(
                    "this deletes project {id} ({}) with its {} stored events; run again with --yes",
                    p.name, p.stored_events
                ));
            }
            if store.delete_project(id).map_err(|e| e.to_string())? {
                println!("deleted project {id} ({})", p.name);
            } else {
                return Err(format!("no project {id}"));
            }
        }
    }
    Ok(())
}

fn status_filter(s: &str) -> Result<StatusFilter, String> {
    match s {
        "unresolved" => Ok(StatusFilter::Unresolved),
        "resolved" => Ok(StatusFilter::Resolved),
        "muted" => Ok(StatusFilter::Muted),
        "all" => Ok(StatusFilter::All),
        other => Err(format!(
            "unknown status {other:?} (use unresolved, resolved, muted or all)"
        )),
    }
}

fn issue(cmd: IssueCommand) -> Result<(), String> {
    let (_config, store) = open()?;
    let now = Utc::now();
    let act = |id: i64, action: IssueAction| -> Result<(), String> {
        match store
            .update_issue(id, &action, now)
            .map_err(|e| e.to_string())?
        {
            Some(i) => {
                println!("issue {} is now {}", i.id, i.status.as_str());
                Ok(())
            }
            None => Err(format!("no issue {id}")),
        }
    };
    match cmd {
        IssueCommand::List {
            project,
            status,
            query,
            limit,
            json,
        } => {
            let filter = IssueFilter {
                status: status_filter(&status)?,
                query: query.unwrap_or_default(),
                cursor: None,
                limit,
            };
            let page = store
                .list_issues(project, &filter)
                .map_err(|e| e.to_string())?;
            if json {
                for i in &page.items {
                    println!("{}", serde_json::to_string(i).unwrap_or_default());
                }
            } else if page.items.is_empty() {
                println!("no {status} issues in project {project}");
            } else {
                for i in &page.items {
                    println!(
                        "{:>6}  {:<10}  {:>7}  {}  {}{}",
                        i.id,
                        i.status.as_str(),
                        i.count,
                        i.last_seen.format("%Y-%m-%d %H:%M"),
                        i.title,
                        i.culprit
                            .as_deref()
                            .map(|c| format!("  ({c})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        IssueCommand::Show { id } => {
            let detail = issue_detail(&store, id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no issue {id}"))?;
            print!(
                "{}",
                render_issue(&detail.issue, detail.latest.as_ref(), &detail.strategy)
            );
            Ok(())
        }
        IssueCommand::Resolve { id, release } => act(
            id,
            match release {
                Some(r) => IssueAction::ResolveInRelease(r),
                None => IssueAction::Resolve,
            },
        ),
        IssueCommand::Mute {
            id,
            for_,
            until_count,
        } => {
            let action = match (for_, until_count) {
                (Some(_), Some(_)) => return Err("give --for or --until-count, not both".into()),
                (Some(d), None) => {
                    let d = crate::cli::parse_duration(&d)?;
                    let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
                    IssueAction::MuteUntil(now + d)
                }
                (None, Some(n)) => IssueAction::MuteForEvents(n),
                (None, None) => IssueAction::Mute,
            };
            act(id, action)
        }
        IssueCommand::Reopen { id } => act(id, IssueAction::Reopen),
    }
}

/// An issue with what `issue show` and `GET /api/admin/issues/{id}` display.
#[derive(Debug, Clone)]
pub struct IssueDetail {
    /// The issue.
    pub issue: periscope_store::Issue,
    /// Its latest stored event, with the payload.
    pub latest: Option<periscope_store::StoredEvent>,
    /// Its project's grouping strategy name.
    pub strategy: String,
}

/// Loads an issue, its latest stored event and its project's grouping strategy
/// (`None` when the issue does not exist). Blocking.
pub fn issue_detail(
    store: &Store,
    id: i64,
) -> Result<Option<IssueDetail>, periscope_store::StoreError> {
    let Some(issue) = store.get_issue(id)? else {
        return Ok(None);
    };
    let project = store.get_project(issue.project_id)?;
    let latest = store.list_events(id, None, 1)?;
    let latest = match latest.items.first() {
        Some(s) => store.get_event(issue.project_id, &s.event_id)?,
        None => None,
    };
    let strategy = project
        .map(|p| p.settings.grouping_strategy)
        .unwrap_or_default();
    Ok(Some(IssueDetail {
        issue,
        latest,
        strategy,
    }))
}

/// The grouping of a stored payload with a project's strategy (unknown names use
/// the default): the explanation shown for an issue, recomputed from its latest
/// event (grouping is deterministic). `None` when the payload is not an event.
pub fn regroup(payload: &[u8], strategy: &str) -> Option<periscope_grouping::Grouping> {
    let event = Event::from_slice(payload).ok()?;
    let grouper = Grouper::new(GroupingConfig::new(strategy.parse().unwrap_or_default()));
    Some(grouper.group(&event))
}

/// The text of `periscope issue show`: counts, the latest event's stack trace and the
/// grouping explanation (recomputed from the latest event, which is deterministic).
pub fn render_issue(
    issue: &periscope_store::Issue,
    latest: Option<&periscope_store::StoredEvent>,
    strategy: &str,
) -> String {
    let payload = latest.map(|e| e.payload.as_slice());
    let mut out = String::new();
    let _ = writeln!(out, "Issue {}: {}", issue.id, issue.title);
    if let Some(c) = &issue.culprit {
        let _ = writeln!(out, "Culprit:    {c}");
    }
    let _ = writeln!(out, "Status:     {}", issue.status.as_str());
    let _ = writeln!(out, "Level:      {}", issue.level);
    let _ = writeln!(out, "Events:     {}", issue.count);
    let _ = writeln!(
        out,
        "First seen: {}",
        issue
            .first_seen
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let _ = writeln!(
        out,
        "Last seen:  {}",
        issue
            .last_seen
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let _ = writeln!(out, "Key:        {}", issue.grouping_key);
    let Some(event) = payload.and_then(|p| Event::from_slice(p).ok()) else {
        let _ = writeln!(out, "\n(no stored event)");
        return out;
    };
    let _ = writeln!(
        out,
        "\nLatest event {}",
        latest
            .map(|e| e.summary.event_id.as_str())
            .unwrap_or_default()
    );
    for exc in &event.exceptions {
        let _ = writeln!(
            out,
            "\n{}: {}",
            exc.ty.as_deref().unwrap_or("Error"),
            exc.value.as_deref().unwrap_or("")
        );
        if let Some(st) = &exc.stacktrace {
            let _ = writeln!(out, "Traceback (most recent call last):");
            for f in &st.frames {
                let place = f
                    .module
                    .as_deref()
                    .or(f.filename.as_deref())
                    .or(f.abs_path.as_deref())
                    .unwrap_or("?");
                let line = f.lineno.map(|l| format!(":{l}")).unwrap_or_default();
                let app = if f.in_app == Some(true) {
                    ""
                } else {
                    "  [system]"
                };
                let _ = writeln!(
                    out,
                    "  {place}{line} in {}{app}",
                    f.function.as_deref().unwrap_or("?")
                );
                if let Some(ctx) = &f.context_line {
                    let _ = writeln!(out, "      {}", ctx.trim());
                }
            }
        }
    }
    if event.exceptions.is_empty()
        && let Some(m) = event.message()
    {
        let _ = writeln!(out, "\nMessage: {m}");
    }
    let grouping = match payload.and_then(|p| regroup(p, strategy)) {
        Some(g) => g,
        None => return out,
    };
    let _ = writeln!(out, "\nGrouping ({} variant):", grouping.variant);
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&grouping.explanation).unwrap_or_default()
    );
    out
}

fn destination(cmd: DestinationCommand) -> Result<(), String> {
    let (config, store) = open()?;
    match cmd {
        DestinationCommand::Add {
            project,
            kind,
            url,
            to,
            secret,
            header,
        } => {
            let body = crate::alerts::destination_body(&kind, url, to, secret, &header)?;
            let dest = crate::alerts::validate_destination(&config, &body)?;
            store
                .get_project(project)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no project {project}"))?;
            let stored = store
                .create_destination(
                    project,
                    &kind,
                    &serde_json::to_value(&dest).map_err(|e| e.to_string())?,
                    Utc::now(),
                )
                .map_err(|e| e.to_string())?;
            println!(
                "added destination {} ({kind}) to project {project}",
                stored.id
            );
        }
        DestinationCommand::List { project } => {
            let list = store
                .list_destinations(project)
                .map_err(|e| e.to_string())?;
            if list.is_empty() {
                println!("no destinations for project {project}");
            }
            for d in list {
                println!(
                    "{:>5}  {:<16}  {}",
                    d.id,
                    d.kind,
                    crate::alerts::redacted_config(&d.config)
                );
            }
        }
        DestinationCommand::Remove { project, id } => {
            if store
                .delete_destination(project, id)
                .map_err(|e| e.to_string())?
            {
                println!("removed destination {id}");
            } else {
                return Err(format!("no destination {id} in project {project}"));
            }
        }
    }
    Ok(())
}

fn group(files: &[std::path::PathBuf], strategy: &str) -> Result<(), String> {
    let strategy: Strategy = strategy.parse().map_err(|e| format!("--strategy: {e}"))?;
    let grouper = Grouper::new(GroupingConfig::new(strategy));
    let mut failed = 0;
    for path in files {
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Event::from_slice(&bytes).map_err(|e| e.to_string()));
        match result {
            Ok(event) => println!("{}", grouper.group(&event).to_json_line()),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        Err(format!("{failed} file(s) could not be grouped"))
    } else {
        Ok(())
    }
}

fn send_test_event(dsn: &str, message: &str) -> Result<(), String> {
    // Checked here for a clear error: the SDK would silently disable itself.
    let parsed: periscope_sentry_envelope::Dsn = dsn
        .parse()
        .map_err(|e| format!("invalid DSN {dsn:?}: {e}"))?;
    let guard = sentry::init((
        dsn,
        sentry::ClientOptions {
            release: Some(concat!("periscope@", env!("CARGO_PKG_VERSION")).into()),
            ..Default::default()
        },
    ));
    if !guard.is_enabled() {
        return Err(format!("the Sentry SDK refused the DSN {dsn:?}"));
    }
    let id = sentry::capture_message(message, sentry::Level::Error);
    let flushed = guard.flush(Some(std::time::Duration::from_secs(10)));
    drop(guard);
    if !flushed {
        return Err(format!(
            "could not deliver the event to {} within 10 s",
            parsed.envelope_url()
        ));
    }
    println!("sent event {} to {}", id.simple(), parsed.envelope_url());
    Ok(())
}

fn stress(args: StressArgs) -> Result<(), String> {
    let opts = crate::stress::StressOptions {
        dsn: args.dsn,
        concurrency: args.concurrency,
        requests: args.requests,
        duration: std::time::Duration::from_secs(args.seconds),
        gzip: args.gzip,
        distinct_errors: args.distinct,
        ids_out: args.ids_out,
        timeout: std::time::Duration::from_secs(30),
    };
    let report = runtime()?.block_on(crate::stress::run(opts))?;
    if args.json {
        let statuses: serde_json::Map<String, serde_json::Value> = report
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "sent": report.sent,
                "seconds": report.elapsed.as_secs_f64(),
                "accepted_per_second": report.ok_per_second(),
                "p50_ms": report.percentile(50.0).as_secs_f64() * 1e3,
                "p99_ms": report.percentile(99.0).as_secs_f64() * 1e3,
                "statuses": statuses,
            })
        );
    } else {
        println!("{}", report.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_from_base_urls() {
        assert_eq!(
            dsn_for("http://127.0.0.1:8000", "abc", 3),
            "http://abc@127.0.0.1:8000/3"
        );
        assert_eq!(
            dsn_for("https://errors.example.com/sub/", "k", 1),
            "https://k@errors.example.com/sub/1"
        );
        let key = new_public_key();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

//! What each command of the command line does.

use chrono::Utc;

use crate::service::views::IssueView;
use crate::service::{IssueChange, IssueQuery, NewDestination, Service};

use crate::cli::{
    AlertCommand, Cli, Command, DestinationCommand, IssueCommand, KeyCommand, ProjectCommand,
    StressArgs,
};
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
        Command::Alert(cmd) => alert(cmd),
        Command::User(cmd) => super::users::user(&open()?, cmd),
        Command::Status { json } => super::status::status(&open()?, json),
        Command::Group(args) => super::grouping::group(args, open),
        Command::Regroup(args) => super::grouping::regroup(&open()?, args),
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

/// The application layer over the configured database: what every command calls.
fn open() -> Result<Service, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let store = crate::app::open_store(&config)?;
    Ok(Service::new(
        std::sync::Arc::new(store),
        std::sync::Arc::new(config),
    ))
}

fn json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn project(cmd: ProjectCommand) -> Result<(), String> {
    let service = open()?;
    match cmd {
        ProjectCommand::Create { name, json } => {
            let p = service.create_project(&name).map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&p));
            } else {
                println!("created project {} ({})", p.id, p.name);
                if let Some(dsn) = &p.dsn {
                    println!("DSN: {dsn}");
                }
            }
        }
        ProjectCommand::List { json } => {
            let projects = service.list_projects().map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&projects));
            } else if projects.is_empty() {
                println!("no projects yet: periscope project create NAME");
            } else {
                for p in &projects {
                    println!(
                        "{:>5}  {:<30}  {}",
                        p.id,
                        p.name,
                        p.dsn.as_deref().unwrap_or_default()
                    );
                }
            }
        }
        ProjectCommand::Delete { id, yes } => {
            let p = service.project(id).map_err(|e| e.to_string())?;
            if !yes {
                return Err(format!(
                    "this deletes project {id} ({}) with its {} stored events; run again with --yes",
                    p.name, p.stored_events
                ));
            }
            let p = service.delete_project(id).map_err(|e| e.to_string())?;
            println!("deleted project {id} ({})", p.name);
        }
        ProjectCommand::Key(cmd) => key(&service, cmd)?,
        ProjectCommand::Grouping(args) => super::grouping::project_grouping(&service, args)?,
        ProjectCommand::TestEvent { id, json } => {
            super::test_sends::project_test_event(&service, id, json)?;
        }
    }
    Ok(())
}

fn key(service: &Service, cmd: KeyCommand) -> Result<(), String> {
    match cmd {
        KeyCommand::Add { project, json } => {
            let k = service.add_key(project).map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&k));
            } else {
                println!("added key {} to project {project}", k.public_key);
                println!("DSN: {}", k.dsn);
            }
        }
        KeyCommand::Revoke {
            project,
            public_key,
            json,
        } => {
            let k = service
                .revoke_key(project, &public_key)
                .map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&k));
            } else {
                println!(
                    "revoked key {} of project {project} (at {})",
                    k.public_key,
                    k.revoked_at.as_deref().unwrap_or("?")
                );
            }
        }
        KeyCommand::List { project, json } => {
            let keys = service.keys(project).map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&keys));
            } else {
                for k in &keys {
                    let state = match &k.revoked_at {
                        Some(t) => format!("revoked {t}"),
                        None => "active".to_owned(),
                    };
                    println!("{}  {:<32}  {}", k.public_key, state, k.dsn);
                }
            }
        }
    }
    Ok(())
}

fn status_line(i: &IssueView) -> String {
    // `2026-11-30T12:34:56.789Z` → `2026-11-30 12:34`
    let seen: String = i
        .last_seen
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ");
    format!(
        "{:>6}  {:<10}  {:>7}  {}  {}{}",
        i.id,
        i.status,
        i.count,
        seen,
        i.title,
        i.culprit
            .as_deref()
            .map(|c| format!("  ({c})"))
            .unwrap_or_default()
    )
}

fn issue(cmd: IssueCommand) -> Result<(), String> {
    let service = open()?;
    let now = Utc::now();
    let act = |id: i64, change: IssueChange| -> Result<(), String> {
        let i = service
            .update_issue(id, None, change, None, now)
            .map_err(|e| e.to_string())?;
        println!("issue {} is now {}", i.id, i.status);
        Ok(())
    };
    match cmd {
        IssueCommand::List {
            project,
            status,
            sort,
            query,
            limit,
            json,
        } => {
            let page = service
                .list_issues(
                    project,
                    IssueQuery {
                        status: Some(status.clone()),
                        query,
                        sort: Some(sort),
                        cursor: None,
                        limit: Some(limit),
                    },
                )
                .map_err(|e| e.to_string())?;
            if json {
                for i in &page.items {
                    println!("{}", json_line(i));
                }
            } else if page.items.is_empty() {
                println!("no {status} issues in project {project}");
            } else {
                for i in &page.items {
                    println!("{}", status_line(i));
                }
            }
            Ok(())
        }
        IssueCommand::Show { id, json } => {
            let detail = service.issue_detail(id, None).map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&detail.view()));
            } else {
                let event = detail
                    .latest
                    .as_ref()
                    .map(|e| crate::service::event_details(&e.payload));
                print!(
                    "{}",
                    crate::cli::show::render_issue(&detail.view(), event.as_ref())
                );
            }
            Ok(())
        }
        IssueCommand::Resolve { id, release } => act(
            id,
            IssueChange {
                status: "resolved".into(),
                resolved_in_release: release,
                ..IssueChange::default()
            },
        ),
        IssueCommand::Mute {
            id,
            for_,
            until_count,
        } => {
            let mute_for_seconds = match for_ {
                Some(d) => Some(crate::cli::parse_duration(&d)?.as_secs()),
                None => None,
            };
            act(
                id,
                IssueChange {
                    status: "muted".into(),
                    mute_for_seconds,
                    mute_until_count: until_count,
                    ..IssueChange::default()
                },
            )
        }
        IssueCommand::Reopen { id } => act(
            id,
            IssueChange {
                status: "unresolved".into(),
                ..IssueChange::default()
            },
        ),
        IssueCommand::Keys { id, json } => super::grouping::keys(&service, id, json),
        IssueCommand::Merge { id, issues, json } => {
            super::grouping::merge(&service, id, &issues, json)
        }
        IssueCommand::Unmerge { id, keys, json } => {
            super::grouping::unmerge(&service, id, &keys, json)
        }
    }
}

fn destination(cmd: DestinationCommand) -> Result<(), String> {
    let service = open()?;
    match cmd {
        DestinationCommand::Add {
            project,
            kind,
            url,
            to,
            secret,
            header,
        } => {
            let body = crate::service::destination_body(&kind, url, to, secret, &header)?;
            let d = service
                .create_destination(project, NewDestination(body))
                .map_err(|e| e.to_string())?;
            println!(
                "added destination {} ({}) to project {project}",
                d.id, d.kind
            );
        }
        DestinationCommand::List { project } => {
            let list = service
                .list_destinations(project)
                .map_err(|e| e.to_string())?;
            if list.is_empty() {
                println!("no destinations for project {project}");
            }
            for d in list {
                println!("{:>5}  {:<16}  {}", d.id, d.kind, d.config);
            }
        }
        DestinationCommand::Test { project, id, json } => {
            super::test_sends::destination_test(&service, project, id, json)?;
        }
        DestinationCommand::Update {
            project,
            id,
            url,
            to,
            secret,
            no_secret,
            header,
            no_headers,
            max_per_hour,
            default_max_per_hour,
        } => {
            let body = crate::service::destination_change_body(crate::service::ChangeFlags {
                url,
                to,
                secret,
                no_secret,
                headers: header,
                no_headers,
                max_per_hour,
                default_max_per_hour,
            })?;
            let d = service
                .update_destination(project, id, crate::service::DestinationChange(body))
                .map_err(|e| e.to_string())?;
            println!("updated destination {} ({}): {}", d.id, d.kind, d.config);
        }
        DestinationCommand::Remove { project, id } => {
            service
                .delete_destination(project, id)
                .map_err(|e| e.to_string())?;
            println!("removed destination {id}");
        }
    }
    Ok(())
}

fn alert(cmd: AlertCommand) -> Result<(), String> {
    let service = open()?;
    match cmd {
        AlertCommand::List {
            project,
            state,
            limit,
            json,
        } => {
            let alerts = service
                .query_alerts(
                    project,
                    crate::service::AlertQuery {
                        limit: Some(limit),
                        state: state.clone(),
                    },
                )
                .map_err(|e| e.to_string())?;
            if json {
                for a in &alerts {
                    println!("{}", json_line(a));
                }
            } else if alerts.is_empty() {
                match &state {
                    Some(s) => println!("no alerts with a {s} delivery in project {project}"),
                    None => println!("no alerts in project {project}"),
                }
            } else {
                for a in &alerts {
                    println!(
                        "alert {:>6}  {:<10}  {}  issue {}: {}",
                        a.id,
                        a.kind,
                        a.created_at,
                        a.issue_id.map(|i| i.to_string()).unwrap_or_default(),
                        crate::cli::show::esc(crate::text::shorten(&a.issue_title, 80))
                    );
                    for d in &a.deliveries {
                        let mut line = format!(
                            "  delivery {:>6}  {:<16} {:<9}  attempts {}",
                            d.id, d.destination_type, d.state, d.attempts
                        );
                        if let (Some(t), "pending") = (&d.next_attempt_at, d.state.as_str()) {
                            line.push_str(&format!("  next {t}"));
                        }
                        if let Some(e) = &d.last_error {
                            line.push_str(&format!(
                                "  last error: {}",
                                crate::cli::show::esc(crate::text::shorten(e, 120))
                            ));
                        }
                        println!("{line}");
                    }
                }
            }
        }
        AlertCommand::Retry {
            project,
            delivery_id,
            json,
        } => {
            let d = service
                .retry_delivery(project, delivery_id)
                .map_err(|e| e.to_string())?;
            if json {
                println!("{}", json_line(&d));
            } else {
                println!(
                    "delivery {} is {} again (attempt {} next)",
                    d.id,
                    d.state,
                    d.attempts.saturating_add(1)
                );
            }
        }
    }
    Ok(())
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
    let opts = crate::cli::stress::StressOptions {
        dsn: args.dsn,
        concurrency: args.concurrency,
        requests: args.requests,
        duration: std::time::Duration::from_secs(args.seconds),
        gzip: args.gzip,
        distinct_errors: args.distinct,
        ids_out: args.ids_out,
        timeout: std::time::Duration::from_secs(30),
    };
    let report = runtime()?.block_on(crate::cli::stress::run(opts))?;
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

//! `periscope project grouping`, `periscope group`, and the grouping commands
//! of `periscope issue` (keys, merge, unmerge): thin over
//! [`Service`].

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::Args;
use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

use crate::service::grouping::{GroupingSettingsView, GroupingTest, compile_rules};
use crate::service::{ProjectChange, Service};

/// `periscope project grouping ID [...]`
#[derive(Debug, Args)]
pub struct ProjectGroupingArgs {
    /// The project id.
    pub id: i64,
    /// Switch to this grouping configuration (e.g. periscope:2026-12). Events
    /// are grouped under both for PERISCOPE_GROUPING_TRANSITION_DAYS, so
    /// existing issues keep their events.
    #[arg(long)]
    pub config: Option<String>,
    /// Replace the fingerprint rules with this file's (Sentry syntax; `-` reads
    /// standard input; an empty file removes them).
    #[arg(long, value_name = "FILE")]
    pub fingerprint_rules: Option<PathBuf>,
    /// Replace the stack-trace rules with this file's (as --fingerprint-rules).
    #[arg(long, value_name = "FILE")]
    pub stacktrace_rules: Option<PathBuf>,
    /// Print JSON (the admin API's shape).
    #[arg(long)]
    pub json: bool,
}

/// `periscope group FILE...`
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Event JSON files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The grouping configuration: periscope:2026-12 (the newest),
    /// periscope:2026-11 or type-and-value:2026-11; the names stored before
    /// versioning are read too (default = periscope:2026-11, what a project
    /// created with them groups by; type-and-value = type-and-value:2026-11).
    /// With --project: the project's, unless given.
    #[arg(long, alias = "config")]
    pub strategy: Option<String>,
    /// Group as this project does (its configuration and rules, from the
    /// database) and name the issue each event would join now.
    #[arg(long)]
    pub project: Option<i64>,
    /// Fingerprint rules to try (a file in Sentry's syntax), instead of the
    /// project's (or none).
    #[arg(long, value_name = "FILE")]
    pub fingerprint_rules: Option<PathBuf>,
    /// Stack-trace rules to try, instead of the project's (or none).
    #[arg(long, value_name = "FILE")]
    pub stacktrace_rules: Option<PathBuf>,
}

/// A rules file (`-`: standard input), at most 1 MiB (the rules are refused
/// past 64 KiB anyway, with a clear message).
fn read_rules(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    let limit = 1 << 20;
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_string(&mut text)
            .map_err(|e| format!("standard input: {e}"))
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_string(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    read.map(|_| text)
}

/// `periscope project grouping`.
pub(crate) fn project_grouping(service: &Service, args: ProjectGroupingArgs) -> Result<(), String> {
    let fingerprint_rules = args
        .fingerprint_rules
        .as_deref()
        .map(read_rules)
        .transpose()?;
    let stacktrace_rules = args
        .stacktrace_rules
        .as_deref()
        .map(read_rules)
        .transpose()?;
    if args.config.is_some() || fingerprint_rules.is_some() || stacktrace_rules.is_some() {
        service
            .update_project(
                args.id,
                ProjectChange {
                    grouping_strategy: args.config,
                    fingerprint_rules,
                    stacktrace_rules,
                    ..ProjectChange::default()
                },
            )
            .map_err(|e| e.to_string())?;
    }
    let view = service
        .grouping_settings(args.id)
        .map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string(&view).unwrap_or_default());
    } else {
        print!("{}", describe(&view));
    }
    Ok(())
}

fn describe(v: &GroupingSettingsView) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "Configuration: {}", v.config);
    if let (Some(from), Some(until)) = (&v.transition_from, &v.transition_until) {
        let _ = writeln!(
            out,
            "Transition:    from {from} until {until} (events are grouped under both)"
        );
    }
    for (name, rules) in [
        ("Fingerprint rules", &v.fingerprint_rules),
        ("Stack-trace rules", &v.stacktrace_rules),
    ] {
        if rules.trim().is_empty() {
            let _ = writeln!(out, "{name}: none");
        } else {
            let _ = writeln!(out, "{name}:");
            for line in rules.lines() {
                let _ = writeln!(out, "  {}", crate::cli::show::esc(line));
            }
        }
    }
    let _ = writeln!(out, "Configurations:");
    for c in &v.configs {
        let _ = writeln!(
            out,
            "  {}{}  {}",
            c.id,
            if c.newest { " (newest)" } else { "" },
            c.description
        );
    }
    out
}

/// `periscope group`: offline with a configuration (and optional rules), or
/// as a project groups with `--project`.
pub(crate) fn group(
    args: GroupArgs,
    open: impl Fn() -> Result<Service, String>,
) -> Result<(), String> {
    let fingerprint_rules = args
        .fingerprint_rules
        .as_deref()
        .map(read_rules)
        .transpose()?;
    let stacktrace_rules = args
        .stacktrace_rules
        .as_deref()
        .map(read_rules)
        .transpose()?;
    let mut failed = 0;
    let mut each = |path: &Path, line: Result<String, String>| match line {
        Ok(line) => println!("{line}"),
        Err(e) => {
            failed += 1;
            eprintln!("{}: {e}", path.display());
        }
    };
    let read =
        |path: &Path| -> Result<Vec<u8>, String> { std::fs::read(path).map_err(|e| e.to_string()) };
    if let Some(project) = args.project {
        let service = open()?;
        for path in &args.files {
            let line = read(path).and_then(|bytes| {
                let event: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| format!("invalid event: {e}"))?;
                let test = GroupingTest {
                    event: Some(event),
                    event_id: None,
                    config: args.strategy.clone(),
                    fingerprint_rules: fingerprint_rules.clone(),
                    stacktrace_rules: stacktrace_rules.clone(),
                };
                let view = service
                    .test_grouping(project, test)
                    .map_err(|e| e.to_string())?;
                let mut value = serde_json::to_value(&view).map_err(|e| e.to_string())?;
                if let Some(o) = value.as_object_mut() {
                    o.remove("explanation");
                    o.insert("source".into(), path.display().to_string().into());
                }
                Ok(value.to_string())
            });
            each(path, line);
        }
    } else {
        let config: ConfigId = args
            .strategy
            .as_deref()
            .unwrap_or("default")
            .parse()
            .map_err(|e| format!("--strategy: {e}"))?;
        let (fp, st) = compile_rules(
            fingerprint_rules.as_deref().unwrap_or(""),
            stacktrace_rules.as_deref().unwrap_or(""),
        )
        .map_err(|e| e.to_string())?;
        let grouper = Grouper::new(GroupingConfig::with_rules(config, fp, st));
        for path in &args.files {
            let line = read(path)
                .and_then(|bytes| Event::from_slice(&bytes).map_err(|e| e.to_string()))
                .map(|event| grouper.group(&event).to_json_line());
            each(path, line);
        }
    }
    if failed > 0 {
        Err(format!("{failed} file(s) could not be grouped"))
    } else {
        Ok(())
    }
}

/// `periscope issue keys ID`.
pub(crate) fn keys(service: &Service, id: i64, json: bool) -> Result<(), String> {
    let keys = service.issue_keys(id, None).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string(&keys).unwrap_or_default());
        return Ok(());
    }
    if keys.is_empty() {
        println!("issue {id} has no grouping keys (it was merged into another issue)");
    }
    for k in &keys {
        println!(
            "{}  {:>8} events  {:<22} last {}",
            k.key,
            k.count,
            k.config,
            k.last_seen.as_deref().unwrap_or("never")
        );
    }
    Ok(())
}

/// `periscope issue merge TARGET SOURCE...`.
pub(crate) fn merge(
    service: &Service,
    target: i64,
    sources: &[i64],
    json: bool,
) -> Result<(), String> {
    let out = service
        .merge_issues(target, None, sources, None, Utc::now())
        .map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string(&out).unwrap_or_default());
    } else {
        let merged: Vec<String> = out.merged.iter().map(i64::to_string).collect();
        println!(
            "merged issue(s) {} into issue {}: {} key(s), {} stored event(s) moved",
            merged.join(", "),
            out.issue_id,
            out.moved_keys,
            out.moved_events
        );
    }
    Ok(())
}

/// `periscope issue unmerge ID KEY...`.
pub(crate) fn unmerge(
    service: &Service,
    id: i64,
    keys: &[String],
    json: bool,
) -> Result<(), String> {
    let new = service
        .unmerge_issue(id, None, keys, None, Utc::now())
        .map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::json!({"issue_id": new, "from": id}));
    } else {
        println!(
            "moved {} key(s) of issue {id} to the new issue {new}",
            keys.len()
        );
    }
    Ok(())
}

/// `periscope regroup --project P [--dry-run]`
#[derive(Debug, Args)]
pub struct RegroupArgs {
    /// The project id.
    #[arg(long)]
    pub project: i64,
    /// Change nothing: report which issues would merge or split and how many
    /// events would move.
    #[arg(long)]
    pub dry_run: bool,
    /// Events per batch (one transaction each), 1 to 1000.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Resume after this row (printed after every batch as `next_after`).
    #[arg(long)]
    pub after: Option<i64>,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print the final report as JSON (progress lines go to standard error).
    #[arg(long)]
    pub json: bool,
}

/// `periscope regroup`.
pub(crate) fn regroup(service: &Service, args: RegroupArgs) -> Result<(), String> {
    use crate::service::regroup::RegroupRequest;
    let report = service
        .regroup(
            RegroupRequest {
                project: args.project,
                dry_run: args.dry_run,
                batch: args.batch,
                after: args.after,
                limit: args.limit,
            },
            |r| {
                eprintln!(
                    "{} events read, {} {}moved; next_after {}",
                    r.events_seen,
                    r.events_moved,
                    if r.dry_run { "would be " } else { "" },
                    r.next_after
                        .map_or_else(|| "-".to_owned(), |a| a.to_string())
                );
            },
        )
        .map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return Ok(());
    }
    let would = if report.dry_run { "would " } else { "" };
    println!(
        "{} events read{}; {} {would}move, {} new issue(s) {would}open",
        report.events_seen,
        if report.complete { " (all)" } else { "" },
        report.events_moved,
        report.new_issues
    );
    for (to, from) in &report.merges {
        let from: Vec<String> = from.iter().map(|i| format!("#{i}")).collect();
        if *to == 0 {
            println!("  a new issue {would}receive events of {}", from.join(", "));
        } else {
            println!("  issue #{to} {would}receive events of {}", from.join(", "));
        }
    }
    for (issue, parts) in &report.splits {
        println!("  issue #{issue} {would}split into {parts}");
    }
    if report.unreadable > 0 {
        println!(
            "  {} stored event(s) could not be read again",
            report.unreadable
        );
    }
    if let (false, Some(after)) = (report.complete, report.next_after) {
        println!("resume with --after {after}");
    }
    Ok(())
}

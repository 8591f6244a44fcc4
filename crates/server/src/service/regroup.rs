//! Regrouping stored events after a project's grouping changed (its rules or
//! its configuration): `periscope regroup --project P [--dry-run]`.
//!
//! The stored events are read in row order, in batches of at most
//! [`MAX_BATCH`], each grouped with the project's current grouper; a batch is
//! one store transaction ([`GroupingStore::regroup_batch`](periscope_store::GroupingStore::regroup_batch)) that moves the
//! events whose keys now lead to another issue, attaches the new keys, and
//! moves the counts with them, so a run can stop anywhere and resume after the
//! last row it reported (`--after`). The dry run changes nothing: it resolves
//! every event's keys against the stored keys (and the keys earlier events of
//! the run would attach) and reports which issues would receive events of
//! others (merge) and which would spread over several (split), and how many
//! events would move. Events that retention deleted are not regrouped: an
//! issue's count keeps them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use periscope_sentry_envelope::Event;
use periscope_store::{IssueId, ProjectId};
use serde::Serialize;
use utoipa::ToSchema;

use super::grouping::ProjectGrouping;
use super::{Result, Service, ServiceError};

/// Most events one batch regroups (one transaction).
pub const MAX_BATCH: usize = 1000;
/// Most distinct keys a dry run remembers (its memory bound); a larger
/// project is analysed in parts with `--after` / `--limit`.
pub const MAX_DRY_RUN_KEYS: usize = 1_000_000;

/// What to regroup.
#[derive(Debug, Clone, Copy)]
pub struct RegroupRequest {
    /// The project.
    pub project: i64,
    /// Change nothing; report what would change.
    pub dry_run: bool,
    /// Events per batch (1 to [`MAX_BATCH`]).
    pub batch: usize,
    /// Resume after this row (the `next_after` of an earlier report).
    pub after: Option<i64>,
    /// Stop after this many events (`None`: all).
    pub limit: Option<u64>,
}

/// Where an event goes: an issue that exists, or a new one (named by the key
/// that would open it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Target {
    Issue(i64),
    New(String),
}

/// What a regroup did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegroupReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Stored events read.
    pub events_seen: u64,
    /// Events whose issue changes (changed, or would change).
    pub events_moved: u64,
    /// Issues opened for events no stored issue holds (would be, in a dry run).
    pub new_issues: u64,
    /// Issues that receive events of other issues, each with them:
    /// `[issue, [from, ...]]` (in a dry run, a new issue is `0`).
    pub merges: Vec<(i64, Vec<i64>)>,
    /// Issues whose events spread over several issues: `[issue, how many]`.
    pub splits: Vec<(i64, u64)>,
    /// Events that could not be grouped again (payload no longer parses).
    pub unreadable: u64,
    /// The last row read: `--after` resumes here (`null`: nothing read).
    pub next_after: Option<i64>,
    /// Whether every stored event after the start was read.
    pub complete: bool,
}

impl Service {
    /// Regroups (or with `dry_run`, analyses) a project's stored events with
    /// its current grouping; `progress` sees the report after each batch.
    pub fn regroup(
        &self,
        req: RegroupRequest,
        mut progress: impl FnMut(&RegroupReport),
    ) -> Result<RegroupReport> {
        if req.batch == 0 || req.batch > MAX_BATCH {
            return Err(ServiceError::field(
                "batch",
                format!("batch must be 1 to {MAX_BATCH}"),
            ));
        }
        let project = self.require_project(req.project)?;
        let pid: ProjectId = project.id;
        let grouping = ProjectGrouping::of(&project.settings);
        let mut report = RegroupReport {
            dry_run: req.dry_run,
            ..RegroupReport::default()
        };
        // The dry run's memory of the run: key → where it leads, and per
        // issue, where its events go.
        let mut attached: HashMap<String, Target> = HashMap::new();
        let mut spread: BTreeMap<i64, BTreeSet<Target>> = BTreeMap::new();
        let mut received: BTreeMap<Target, BTreeSet<i64>> = BTreeMap::new();
        let mut created: BTreeSet<IssueId> = BTreeSet::new();
        let mut after = req.after;
        loop {
            let left = req
                .limit
                .map(|l| l.saturating_sub(report.events_seen))
                .unwrap_or(u64::MAX);
            if left == 0 {
                break;
            }
            let take = req.batch.min(usize::try_from(left).unwrap_or(usize::MAX));
            let rows = self.db.stored_events_after(pid, after, take)?;
            if rows.is_empty() {
                report.complete = true;
                break;
            }
            let now = Utc::now();
            let mut batch = Vec::with_capacity(rows.len());
            let mut sources: Vec<IssueId> = Vec::with_capacity(rows.len());
            for row in &rows {
                report.events_seen += 1;
                after = Some(row.row_id);
                let Ok(event) = Event::from_slice(&row.payload) else {
                    report.unreadable += 1;
                    continue;
                };
                let grouped = grouping.group(&event, now);
                if req.dry_run {
                    let keys: Vec<String> = grouped.keys.iter().map(|k| k.key.clone()).collect();
                    let target = match keys.iter().find_map(|k| attached.get(k)) {
                        Some(t) => t.clone(),
                        None => match self.db.find_issue(pid, &keys)? {
                            Some(issue) => Target::Issue(issue.get()),
                            None => Target::New(keys[0].clone()),
                        },
                    };
                    if attached.len() + keys.len() > MAX_DRY_RUN_KEYS {
                        return Err(ServiceError::invalid(format!(
                            "the dry run remembers at most {MAX_DRY_RUN_KEYS} keys: analyse in parts with --limit and --after (stopped after row {})",
                            row.row_id
                        )));
                    }
                    for k in keys {
                        attached.entry(k).or_insert_with(|| target.clone());
                    }
                    let from = row.issue_id.get();
                    spread.entry(from).or_default().insert(target.clone());
                    if target != Target::Issue(from) {
                        report.events_moved += 1;
                        received.entry(target).or_default().insert(from);
                    }
                } else {
                    batch.push((row.event_id.clone(), grouped.keys));
                    sources.push(row.issue_id);
                }
            }
            if !req.dry_run && !batch.is_empty() {
                let out = self.db.regroup_batch(pid, &batch, None, now)?;
                report.events_moved += out.events_moved;
                created.extend(out.issues_created.iter().copied());
                // Where each event went: its keys now lead there.
                for ((_, keys), from) in batch.iter().zip(&sources) {
                    let keys: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
                    let Some(to) = self.db.find_issue(pid, &keys)? else {
                        continue;
                    };
                    spread
                        .entry(from.get())
                        .or_default()
                        .insert(Target::Issue(to.get()));
                    if to != *from {
                        received
                            .entry(Target::Issue(to.get()))
                            .or_default()
                            .insert(from.get());
                    }
                }
            }
            report.next_after = after;
            summarize(&mut report, &spread, &received, created.len());
            progress(&report);
            if rows.len() < take {
                report.complete = true;
                break;
            }
        }
        summarize(&mut report, &spread, &received, created.len());
        Ok(report)
    }
}

fn summarize(
    report: &mut RegroupReport,
    spread: &BTreeMap<i64, BTreeSet<Target>>,
    received: &BTreeMap<Target, BTreeSet<i64>>,
    created: usize,
) {
    let new_in_dry_run = received
        .keys()
        .filter(|t| matches!(t, Target::New(_)))
        .count();
    report.new_issues = u64::try_from(if report.dry_run {
        new_in_dry_run
    } else {
        created
    })
    .unwrap_or(u64::MAX);
    report.merges = received
        .iter()
        .map(|(t, from)| {
            let to = match t {
                Target::Issue(i) => *i,
                Target::New(_) => 0,
            };
            (to, from.iter().copied().collect())
        })
        .collect();
    report.splits = spread
        .iter()
        .filter(|(_, targets)| targets.len() > 1)
        .map(|(i, targets)| (*i, u64::try_from(targets.len()).unwrap_or(u64::MAX)))
        .collect();
}

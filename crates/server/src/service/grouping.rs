//! Grouping as a project sets it: its configuration (with a transition after
//! a switch), its fingerprint and stack-trace rules, merging and unmerging
//! issues, and trying grouping on an event.
//!
//! # Transitions
//!
//! Switching a project's grouping configuration changes the keys its events
//! get. For [`transition`](crate::config::Config::grouping_transition) after a
//! switch, each event is grouped under both configurations: its keys are
//! looked up new configuration first, then old (app before system in each),
//! and the first that exists decides the issue, so an event of an existing
//! issue joins it — no new issue, no new-issue alert — and attaches its new
//! key to it. After the transition only the new configuration's keys are
//! computed; the issues that received an event meanwhile carry them. A switch
//! during a transition starts a new one from the configuration in use.
//!
//! # Rules
//!
//! A project's rules are text in Sentry's syntax, checked when saved (errors
//! name line and column) and compiled once per project into the grouper the
//! ingest path caches with the project ([`ProjectGrouping`]). A rule change
//! takes effect for new events (as in Sentry); it starts no transition.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use periscope_grouping::rules::{FingerprintRules, StacktraceRules};
use periscope_grouping::{ConfigId, Grouper, Grouping, GroupingConfig};
use periscope_sentry_envelope::Event;
use periscope_store::{GroupingKey, IssueId, ProjectSettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Result, Service, ServiceError};

/// The grouping configuration a project's stored name means: a configuration
/// id, or a strategy name stored before configurations were versioned
/// (`default` is `periscope:2026-11`). A name no version knows groups as
/// `default` always did, the column's default, so its issues keep their keys.
pub fn stored_config(stored: &str) -> ConfigId {
    stored.parse().unwrap_or(ConfigId::Periscope2026_11)
}

/// A project's rules compiled, or why they do not compile (`field` is
/// `fingerprint_rules` or `stacktrace_rules`).
pub fn compile_rules(
    fingerprint: &str,
    stacktrace: &str,
) -> Result<(FingerprintRules, StacktraceRules)> {
    let fp = FingerprintRules::parse(fingerprint)
        .map_err(|e| ServiceError::field("fingerprint_rules", format!("fingerprint rules: {e}")))?;
    let st = StacktraceRules::parse(stacktrace)
        .map_err(|e| ServiceError::field("stacktrace_rules", format!("stack-trace rules: {e}")))?;
    Ok((fp, st))
}

/// The grouper of configuration `id` with a project's rules.
fn grouper(id: ConfigId, rules: &(FingerprintRules, StacktraceRules)) -> Grouper {
    Grouper::new(GroupingConfig::with_rules(
        id,
        rules.0.clone(),
        rules.1.clone(),
    ))
}

/// How a project groups its events, compiled once (the ingest path caches it
/// with the project).
#[derive(Debug, Clone)]
pub struct ProjectGrouping {
    current: Grouper,
    previous: Option<(Grouper, DateTime<Utc>)>,
}

/// One event grouped the way its project groups: the decision of the current
/// configuration and every key to look up, in order.
#[derive(Debug, Clone)]
pub struct GroupedEvent {
    /// The current configuration's decision (title, culprit, explanation).
    pub grouping: Grouping,
    /// The keys in lookup order: the current configuration's, then, during a
    /// transition, the previous one's; no key twice.
    pub keys: Vec<GroupingKey>,
}

impl ProjectGrouping {
    /// The grouping of a project with these settings. Rules that no longer
    /// compile (they were checked when saved; a downgrade could refuse them)
    /// are left out, with a warning in the log.
    pub fn of(settings: &ProjectSettings) -> Self {
        let rules = compile_rules(&settings.fingerprint_rules, &settings.stacktrace_rules)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a project's grouping rules do not compile; grouping without them");
                (FingerprintRules::default(), StacktraceRules::default())
            });
        let current = grouper(stored_config(&settings.grouping_strategy), &rules);
        let previous = match (
            &settings.grouping_transition_from,
            settings.grouping_transition_until,
        ) {
            (Some(from), Some(until)) => {
                let from = stored_config(from);
                (from != current.config().id).then(|| (grouper(from, &rules), until))
            }
            _ => None,
        };
        Self { current, previous }
    }

    /// The current configuration's grouper.
    pub fn current(&self) -> &Grouper {
        &self.current
    }

    /// The previous configuration, while its transition lasts at `now`.
    pub fn previous(&self, now: DateTime<Utc>) -> Option<&Grouper> {
        self.previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(g, _)| g)
    }

    /// Groups `event` as of `now`.
    pub fn group(&self, event: &Event, now: DateTime<Utc>) -> GroupedEvent {
        let grouping = self.current.group(event);
        let mut keys: Vec<GroupingKey> = Vec::with_capacity(4);
        push_keys(&mut keys, &grouping);
        if let Some(previous) = self.previous(now) {
            push_keys(&mut keys, &previous.group(event));
        }
        GroupedEvent { grouping, keys }
    }
}

fn push_keys(keys: &mut Vec<GroupingKey>, g: &Grouping) {
    for k in g.keys() {
        if !keys.iter().any(|have| have.key == k) {
            keys.push(GroupingKey::new(k, g.config.as_str()));
        }
    }
}

/// Grouping for the settings after a change of configuration from `old` to
/// `new` (stored names) at `now`: a transition of `transition` from the old
/// configuration, unless the two mean the same configuration or the transition
/// is zero.
pub(crate) fn start_transition(
    settings: &mut ProjectSettings,
    old: &str,
    now: DateTime<Utc>,
    transition: std::time::Duration,
) {
    let (from, to) = (
        stored_config(old),
        stored_config(&settings.grouping_strategy),
    );
    if from == to {
        return;
    }
    let until = chrono::Duration::from_std(transition)
        .ok()
        .and_then(|d| now.checked_add_signed(d));
    match until {
        Some(until) if !transition.is_zero() => {
            settings.grouping_transition_from = Some(from.as_str().to_owned());
            settings.grouping_transition_until = Some(until);
        }
        _ => {
            settings.grouping_transition_from = None;
            settings.grouping_transition_until = None;
        }
    }
}

/// A grouping configuration one can choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConfigChoice {
    /// Its id (`periscope:2026-12`).
    pub id: String,
    /// What it does, in a sentence.
    pub description: String,
    /// Whether new projects get it.
    pub newest: bool,
}

/// Every configuration, the newest first.
pub fn config_choices() -> Vec<ConfigChoice> {
    let mut all: Vec<ConfigChoice> = ConfigId::ALL
        .iter()
        .map(|c| ConfigChoice {
            id: c.as_str().to_owned(),
            description: c.description().to_owned(),
            newest: *c == ConfigId::NEWEST,
        })
        .collect();
    all.sort_by_key(|c| !c.newest);
    all
}

/// A project's grouping, as every door shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupingSettingsView {
    /// The configuration in use (its id).
    pub config: String,
    /// The configuration being left, while a transition lasts.
    pub transition_from: Option<String>,
    /// When the transition ends (RFC 3339).
    pub transition_until: Option<String>,
    /// The project's fingerprint rules (Sentry syntax).
    pub fingerprint_rules: String,
    /// The project's stack-trace rules (Sentry syntax).
    pub stacktrace_rules: String,
    /// The configurations one can switch to, the newest first.
    pub configs: Vec<ConfigChoice>,
}

impl GroupingSettingsView {
    /// The view of stored settings at `now` (a transition that ended is not shown).
    pub fn of(s: &ProjectSettings, now: DateTime<Utc>) -> Self {
        let active = s.grouping_transition_until.filter(|until| now < *until);
        Self {
            config: stored_config(&s.grouping_strategy).as_str().to_owned(),
            transition_from: active.and(s.grouping_transition_from.clone()),
            transition_until: active.map(|t| t.to_rfc3339()),
            fingerprint_rules: s.fingerprint_rules.clone(),
            stacktrace_rules: s.stacktrace_rules.clone(),
            configs: config_choices(),
        }
    }
}

/// Trying grouping on an event: the event (JSON as an SDK sends it), else a
/// stored event's id, else the project's latest stored event; and optionally
/// draft settings to try instead of the saved ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupingTest {
    /// The event, as an SDK sends it (takes precedence over `event_id`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
    /// Or a stored event of the project (32 hex, dashes and case ignored);
    /// with neither, the project's latest stored event (409 when it has none).
    #[serde(default)]
    #[schema(pattern = "^-*([0-9a-fA-F]-*){32}$")]
    pub event_id: Option<String>,
    /// A configuration to try (default: the project's).
    #[serde(default)]
    pub config: Option<String>,
    /// Fingerprint rules to try (default: the project's).
    #[serde(default)]
    pub fingerprint_rules: Option<String>,
    /// Stack-trace rules to try (default: the project's).
    #[serde(default)]
    pub stacktrace_rules: Option<String>,
}

/// The outcome of [`Service::test_grouping`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupingTestView {
    /// The configuration used.
    pub config: String,
    /// The key.
    pub key: String,
    /// Its further keys (the system variant's when the app variant won).
    pub other_keys: Vec<String>,
    /// The issue title.
    pub title: String,
    /// The culprit.
    pub culprit: Option<String>,
    /// What decided: `app`, `system`, `custom-fingerprint`, ...
    pub variant: String,
    /// The values that made the key, as `[component, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub values: Vec<(String, String)>,
    /// The explanation tree (every component, whether it counted and why not,
    /// naming the rule that changed it).
    #[schema(value_type = Object)]
    pub explanation: serde_json::Value,
    /// The project's issue an event grouped so would join now (`null`: it
    /// would open a new issue).
    pub issue_id: Option<i64>,
}

/// Merging issues into one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The issues to merge into this one (same project).
    #[schema(min_items = 1, max_items = 100)]
    #[serde(deserialize_with = "whole_ids")]
    pub issues: Vec<i64>,
}

/// Issue ids that JSON may write as `12` or `12.0`.
fn whole_ids<'de, D>(d: D) -> std::result::Result<Vec<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let numbers: Vec<serde_json::Number> = Vec::deserialize(d)?;
    numbers
        .into_iter()
        .map(|n| {
            if let Some(i) = n.as_i64() {
                return Ok(i);
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= 9.0e15 => Ok(f as i64),
                _ => Err(serde::de::Error::custom(format!("{n} is not an issue id"))),
            }
        })
        .collect()
}

/// Moving grouping keys of an issue to a new issue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeRequest {
    /// The keys to move (some, not all, of the issue's).
    #[schema(min_items = 1, max_items = 1000)]
    pub keys: Vec<String>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MergeView {
    /// The issue everything went to.
    pub issue_id: i64,
    /// The issues merged into it (they redirect to it from now on).
    pub merged: Vec<i64>,
    /// Grouping keys moved.
    pub moved_keys: u64,
    /// Stored events moved.
    pub moved_events: u64,
}

/// One grouping key of an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IssueKeyView {
    /// The key.
    pub key: String,
    /// The configuration that computed it.
    pub config: String,
    /// Events that joined the issue by it.
    pub count: u64,
    /// The first such event (`null`: only attached so far).
    pub first_seen: Option<String>,
    /// The latest such event.
    pub last_seen: Option<String>,
}

/// Most issues one merge takes.
pub const MAX_MERGE: usize = 100;
/// Most keys one unmerge moves.
pub const MAX_UNMERGE_KEYS: usize = 1000;

impl Service {
    /// A project's grouping settings.
    pub fn grouping_settings(&self, project: i64) -> Result<GroupingSettingsView> {
        let p = self.require_project(project)?;
        Ok(GroupingSettingsView::of(&p.settings, Utc::now()))
    }

    /// Groups an event the way `project` does (or with the draft settings of
    /// `test`), and names the issue it would join now.
    pub fn test_grouping(&self, project: i64, test: GroupingTest) -> Result<GroupingTestView> {
        let p = self.require_project(project)?;
        let payload = match (&test.event, &test.event_id) {
            (Some(event), _) => serde_json::to_vec(event)
                .map_err(|e| ServiceError::field("event", format!("event: {e}")))?,
            (None, Some(id)) => self.event(project, id)?.payload,
            (None, None) => {
                // The latest event of the issue seen last.
                let none = || {
                    ServiceError::Conflict(format!(
                        "project {project} has no stored event to try: send one, or name an event"
                    ))
                };
                let issues = self.list_issues(
                    project,
                    super::IssueQuery {
                        status: Some("all".to_owned()),
                        limit: Some(1),
                        ..super::IssueQuery::default()
                    },
                )?;
                let issue = issues.items.first().ok_or_else(none)?;
                let page = self.db.list_events(IssueId(issue.id), None, 1, None)?;
                let latest = page.items.first().ok_or_else(none)?;
                self.event(project, &latest.event_id)?.payload
            }
        };
        let event = Event::from_slice(&payload)
            .map_err(|e| ServiceError::field("event", format!("invalid event: {e}")))?;
        let mut settings = p.settings.clone();
        if let Some(config) = &test.config {
            let id: ConfigId = config
                .parse()
                .map_err(|e: periscope_grouping::ConfigError| {
                    ServiceError::field("config", e.to_string())
                })?;
            settings.grouping_strategy = id.as_str().to_owned();
        }
        if let Some(rules) = test.fingerprint_rules {
            settings.fingerprint_rules = rules;
        }
        if let Some(rules) = test.stacktrace_rules {
            settings.stacktrace_rules = rules;
        }
        // Drafts must compile: say where they do not.
        compile_rules(&settings.fingerprint_rules, &settings.stacktrace_rules)?;
        let grouped = ProjectGrouping::of(&settings).group(&event, Utc::now());
        let keys: Vec<String> = grouped.keys.iter().map(|k| k.key.clone()).collect();
        let issue = self.db.find_issue(p.id, &keys)?;
        let g = grouped.grouping;
        Ok(GroupingTestView {
            config: g.config.as_str().to_owned(),
            key: g.key.clone(),
            other_keys: g.other_keys.clone(),
            title: g.title.clone(),
            culprit: g.culprit.clone(),
            variant: g.variant.clone(),
            values: g
                .contributing_values()
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            explanation: serde_json::to_value(&g.explanation).unwrap_or_default(),
            issue_id: issue.map(IssueId::get),
        })
    }

    /// Merges `sources` into issue `target` (same project): keys, events,
    /// counters, alerts and activity; the sources redirect to it afterwards.
    pub fn merge_issues(
        &self,
        target: i64,
        project: Option<i64>,
        sources: &[i64],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<MergeView> {
        if sources.is_empty() {
            return Err(ServiceError::field(
                "issues",
                "name at least one issue to merge",
            ));
        }
        if sources.len() > MAX_MERGE {
            return Err(ServiceError::field(
                "issues",
                format!("at most {MAX_MERGE} issues are merged at once"),
            ));
        }
        let unique: BTreeSet<i64> = sources.iter().copied().collect();
        let issue = self.scoped_issue(target, project)?;
        let sources: Vec<IssueId> = unique.into_iter().map(IssueId).collect();
        let out = self
            .db
            .merge_issues(issue.project_id, issue.id, &sources, actor, now)?;
        Ok(MergeView {
            issue_id: out.target.id.get(),
            merged: out.merged.iter().map(|i| i.get()).collect(),
            moved_keys: out.moved_keys,
            moved_events: out.moved_events,
        })
    }

    /// Moves `keys` of issue `id` (and the events that joined by them) to a
    /// new issue, and returns the new issue's id.
    pub fn unmerge_issue(
        &self,
        id: i64,
        project: Option<i64>,
        keys: &[String],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        if keys.is_empty() {
            return Err(ServiceError::field(
                "keys",
                "name at least one grouping key",
            ));
        }
        if keys.len() > MAX_UNMERGE_KEYS {
            return Err(ServiceError::field(
                "keys",
                format!("at most {MAX_UNMERGE_KEYS} keys are moved at once"),
            ));
        }
        let issue = self.scoped_issue(id, project)?;
        let keys: Vec<String> = keys
            .iter()
            .map(|k| k.trim().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let new = self
            .db
            .unmerge_issue(issue.project_id, issue.id, &keys, actor, now)?;
        Ok(new.get())
    }

    /// An issue's grouping keys, the busiest first.
    pub fn issue_keys(&self, id: i64, project: Option<i64>) -> Result<Vec<IssueKeyView>> {
        let issue = self.scoped_issue(id, project)?;
        Ok(self
            .db
            .issue_keys(issue.id)?
            .into_iter()
            .map(|k| IssueKeyView {
                key: k.key,
                config: k.config,
                count: k.event_count,
                first_seen: k.first_seen.map(|t| t.to_rfc3339()),
                last_seen: k.last_seen.map(|t| t.to_rfc3339()),
            })
            .collect())
    }

    /// The issue a merged issue redirects to (the issue itself when it was
    /// not merged).
    pub fn live_issue(&self, id: i64) -> Result<i64> {
        match self.db.resolve_issue(IssueId(id))? {
            Some(i) => Ok(i.id.get()),
            None => Err(ServiceError::NotFound(format!("no issue {id}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(config: &str) -> ProjectSettings {
        ProjectSettings {
            grouping_strategy: config.to_owned(),
            ..ProjectSettings::default()
        }
    }

    fn event(json: &str) -> Event {
        Event::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_switch_starts_a_transition_from_the_configuration_in_use() {
        let now = Utc::now();
        let mut s = settings("periscope:2026-12");
        start_transition(&mut s, "default", now, Duration::from_secs(86_400));
        assert_eq!(
            s.grouping_transition_from.as_deref(),
            Some("periscope:2026-11")
        );
        assert_eq!(
            s.grouping_transition_until,
            Some(now + chrono::Duration::days(1))
        );
        // The same configuration under another name: no transition.
        let mut s = settings("periscope:2026-11");
        start_transition(&mut s, "default", now, Duration::from_secs(86_400));
        assert_eq!(s.grouping_transition_from, None);
        // A zero transition switches at once.
        let mut s = settings("periscope:2026-12");
        s.grouping_transition_from = Some("x".into());
        start_transition(&mut s, "default", now, Duration::ZERO);
        assert_eq!(
            (s.grouping_transition_from, s.grouping_transition_until),
            (None, None)
        );
    }

    #[test]
    fn during_a_transition_both_configurations_keys_are_looked_up_new_first() {
        let now = Utc::now();
        let mut s = settings("periscope:2026-12");
        start_transition(&mut s, "periscope:2026-11", now, Duration::from_secs(60));
        let g = ProjectGrouping::of(&s);
        // A message event: the two configurations disagree (the key version).
        let e = event(r#"{"message": "disk full on /dev/sda1"}"#);
        let out = g.group(&e, now);
        let new = Grouper::new(GroupingConfig::new(ConfigId::Periscope2026_12)).group(&e);
        let old = Grouper::new(GroupingConfig::new(ConfigId::Periscope2026_11)).group(&e);
        assert_ne!(new.key, old.key);
        let keys: Vec<(&str, &str)> = out
            .keys
            .iter()
            .map(|k| (k.key.as_str(), k.config.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (new.key.as_str(), "periscope:2026-12"),
                (old.key.as_str(), "periscope:2026-11")
            ]
        );
        assert_eq!(out.grouping.key, new.key);
        // After it: the new configuration only.
        let later = g.group(&e, now + chrono::Duration::seconds(61));
        assert_eq!(later.keys.len(), 1);
        assert_eq!(later.keys[0].key, new.key);
    }

    #[test]
    fn merge_requests_take_whole_numbers_written_either_way() {
        let r: MergeRequest = serde_json::from_str(r#"{"issues": [12, 13.0, -1]}"#).unwrap();
        assert_eq!(r.issues, vec![12, 13, -1]);
        assert!(serde_json::from_str::<MergeRequest>(r#"{"issues": [1.5]}"#).is_err());
        assert!(serde_json::from_str::<MergeRequest>(r#"{"issues": ["1"]}"#).is_err());
    }

    #[test]
    fn rules_that_do_not_compile_name_their_field_line_and_column() {
        let e = compile_rules("error.type:X -> a\nnope:1 -> b", "").unwrap_err();
        assert_eq!(e.field_name(), Some("fingerprint_rules"));
        assert!(e.to_string().contains("2:1"), "{e}");
        let e = compile_rules("", "stack.function:foo -ap").unwrap_err();
        assert_eq!(e.field_name(), Some("stacktrace_rules"));
    }

    #[test]
    fn project_rules_change_the_key() {
        let e = event(
            r#"{"exception": {"values": [{"type": "DatabaseUnavailable", "value": "down"}]}}"#,
        );
        let plain = ProjectGrouping::of(&settings("periscope:2026-12")).group(&e, Utc::now());
        let mut s = settings("periscope:2026-12");
        s.fingerprint_rules = "error.type:DatabaseUnavailable -> system-down".into();
        let ruled = ProjectGrouping::of(&s).group(&e, Utc::now());
        assert_ne!(plain.grouping.key, ruled.grouping.key);
        assert_eq!(ruled.grouping.variant, "custom-fingerprint");
    }
}

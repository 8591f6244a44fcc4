//! What the application shows of its records: one shape per record, the same at
//! every door (the admin API's JSON, the CLI's `--json`, the web UI's pages).
//! Timestamps are RFC 3339 in UTC with millisecond precision everywhere.

use chrono::{DateTime, SecondsFormat, Utc};
use periscope_store::{
    AlertWithDeliveries, Delivery, Destination, EventSummary, Issue, IssueId, Project, ProjectKey,
    ProjectSettings,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A timestamp as every door shows it: `2026-11-30T12:00:00.123Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn timestamp_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(timestamp)
}

/// The DSN of a key of a project, from the public base URL.
pub fn dsn_for(base_url: &str, public_key: &str, project_id: i64) -> String {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("http", base_url));
    format!(
        "{scheme}://{public_key}@{}/{project_id}",
        rest.trim_end_matches('/')
    )
}

/// A client key of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyView {
    /// The public key (32 hex digits).
    pub public_key: String,
    /// The DSN an SDK is configured with.
    pub dsn: String,
    /// When the key was made.
    pub created_at: String,
    /// When the key was revoked (`null`: active). A revoked key authenticates
    /// nothing; it is listed for the record.
    pub revoked_at: Option<String>,
}

impl KeyView {
    /// The view of key `k` of project `project_id`, with its DSN under `base_url`.
    pub fn of(base_url: &str, project_id: i64, k: &ProjectKey) -> Self {
        Self {
            public_key: k.public_key.clone(),
            dsn: dsn_for(base_url, &k.public_key, project_id),
            created_at: timestamp(k.created_at),
            revoked_at: timestamp_opt(k.revoked_at),
        }
    }
}

/// A project's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SettingsView {
    /// Accepted events per minute (`null`: no limit).
    pub quota_per_minute: Option<u64>,
    /// Accepted events per hour (`null`: no limit).
    pub quota_per_hour: Option<u64>,
    /// Accepted events per day (`null`: no limit).
    pub quota_per_day: Option<u64>,
    /// Most events stored (`null`: no cap).
    pub max_events: Option<u64>,
    /// Events older than this many days are deleted (`null`: kept).
    pub max_age_days: Option<u32>,
    /// The grouping configuration (see `GET /api/admin/projects/{id}/grouping`).
    pub grouping_strategy: String,
    /// Fingerprint rules (Sentry syntax).
    pub fingerprint_rules: String,
    /// Stack-trace rules (Sentry syntax).
    pub stacktrace_rules: String,
}

impl From<&ProjectSettings> for SettingsView {
    fn from(s: &ProjectSettings) -> Self {
        Self {
            quota_per_minute: s.quota_per_minute,
            quota_per_hour: s.quota_per_hour,
            quota_per_day: s.quota_per_day,
            max_events: s.max_events,
            max_age_days: s.max_age_days,
            grouping_strategy: s.grouping_strategy.clone(),
            fingerprint_rules: s.fingerprint_rules.clone(),
            stacktrace_rules: s.stacktrace_rules.clone(),
        }
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProjectView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The DSN of its first active key.
    pub dsn: Option<String>,
    /// Its client keys, oldest first, revoked ones included.
    pub keys: Vec<KeyView>,
    /// When it was made.
    pub created_at: String,
    /// Quotas, retention and grouping.
    pub settings: SettingsView,
    /// Events stored now.
    pub stored_events: u64,
}

impl ProjectView {
    /// The view of `p`, with DSNs under `base_url`.
    pub fn of(base_url: &str, p: &Project) -> Self {
        Self {
            id: p.id.get(),
            name: p.name.clone(),
            dsn: p
                .keys
                .iter()
                .find(|k| k.is_active())
                .map(|k| dsn_for(base_url, &k.public_key, p.id.get())),
            keys: p
                .keys
                .iter()
                .map(|k| KeyView::of(base_url, p.id.get(), k))
                .collect(),
            created_at: timestamp(p.created_at),
            settings: SettingsView::from(&p.settings),
            stored_events: p.stored_events,
        }
    }
}

/// An issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IssueView {
    /// Its id (global).
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// `Type: value` or the message.
    pub title: String,
    /// Where it happened.
    pub culprit: Option<String>,
    /// The latest event's level.
    pub level: String,
    /// `unresolved`, `resolved` or `muted`.
    pub status: String,
    /// Events counted.
    pub count: u64,
    /// The earliest event's time.
    pub first_seen: String,
    /// The latest event's time.
    pub last_seen: String,
    /// The grouping key.
    pub grouping_key: String,
    /// When the issue was made.
    pub created_at: String,
    /// When its status last changed.
    pub status_changed_at: Option<String>,
    /// The release it was resolved in, if any.
    pub resolved_in_release: Option<String>,
    /// Muted until then, if muted for a time.
    pub muted_until: Option<String>,
    /// Muted until its count reaches this, if muted for a number of events.
    pub unmute_at_count: Option<u64>,
    /// The issue it was merged into (it redirects there), if merged.
    pub merged_into: Option<i64>,
}

impl From<&Issue> for IssueView {
    fn from(i: &Issue) -> Self {
        Self {
            id: i.id.get(),
            project_id: i.project_id.get(),
            title: i.title.clone(),
            culprit: i.culprit.clone(),
            level: i.level.clone(),
            status: i.status.as_str().to_owned(),
            count: i.count,
            first_seen: timestamp(i.first_seen),
            last_seen: timestamp(i.last_seen),
            grouping_key: i.grouping_key.clone(),
            created_at: timestamp(i.created_at),
            status_changed_at: timestamp_opt(i.status_changed_at),
            resolved_in_release: i.resolved_in_release.clone(),
            muted_until: timestamp_opt(i.muted_until),
            unmute_at_count: i.unmute_at_count,
            merged_into: i.merged_into.map(|m| m.get()),
        }
    }
}

/// A stored event's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventView {
    /// The event id (32 hex digits).
    pub event_id: String,
    /// Its project.
    pub project_id: i64,
    /// Its issue.
    pub issue_id: i64,
    /// When it happened (the SDK's clock).
    pub timestamp: String,
    /// When it was received.
    pub received_at: String,
    /// Its level.
    pub level: String,
    /// Its issue's title as of this event.
    pub title: String,
    /// Where it happened.
    pub culprit: Option<String>,
    /// Its release.
    pub release: Option<String>,
    /// Its environment.
    pub environment: Option<String>,
    /// Its indexed tags.
    #[schema(value_type = Object)]
    pub tags: serde_json::Map<String, Value>,
    /// The size of the payload the SDK sent, in bytes.
    pub payload_size: u64,
}

impl From<&EventSummary> for EventView {
    fn from(e: &EventSummary) -> Self {
        Self {
            event_id: e.event_id.clone(),
            project_id: e.project_id.get(),
            issue_id: e.issue_id.get(),
            timestamp: timestamp(e.timestamp),
            received_at: timestamp(e.received_at),
            level: e.level.clone(),
            title: e.title.clone(),
            culprit: e.culprit.clone(),
            release: e.release.clone(),
            environment: e.environment.clone(),
            tags: e
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            payload_size: e.payload_size,
        }
    }
}

/// How an issue's latest event groups.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupingView {
    /// The project's strategy.
    pub strategy: String,
    /// The key the latest event groups to now.
    pub key: Option<String>,
    /// The variant that decided it.
    pub variant: Option<String>,
    /// The whole component tree.
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<Value>,
    /// The explanation stored at ingest, if any.
    pub stored_explanation: Option<String>,
}

/// An issue with its grouping and latest event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IssueDetailView {
    /// The issue.
    #[serde(flatten)]
    pub issue: IssueView,
    /// Its grouping.
    pub grouping: GroupingView,
    /// Its latest stored event.
    pub latest_event: Option<EventView>,
}

/// An alert destination (secrets hidden, URLs as scheme and host).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DestinationView {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// `email`, `generic_webhook`, `slack_webhook`, `discord_webhook` or `internal_logger`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its configuration, redacted.
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it was made.
    pub created_at: String,
}

impl From<&Destination> for DestinationView {
    fn from(d: &Destination) -> Self {
        Self {
            id: d.id.get(),
            project_id: d.project_id.get(),
            kind: d.kind.clone(),
            config: crate::service::redacted_config(&d.config),
            created_at: timestamp(d.created_at),
        }
    }
}

/// One delivery of an alert to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Its id.
    pub id: i64,
    /// The alert it delivers.
    pub alert_id: i64,
    /// The destination.
    pub destination_id: i64,
    /// The destination's type.
    pub destination_type: String,
    /// `pending`, `delivered`, `failed` ...
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was last tried.
    pub last_attempt_at: Option<String>,
    /// When it will be tried next.
    pub next_attempt_at: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.get(),
            alert_id: d.alert_id.get(),
            destination_id: d.destination_id.get(),
            destination_type: d.destination_kind.clone(),
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            last_attempt_at: timestamp_opt(d.last_attempt_at),
            next_attempt_at: timestamp_opt(d.next_attempt_at),
            delivered_at: timestamp_opt(d.delivered_at),
        }
    }
}

/// An alert with its deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AlertView {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// What it is about: `{"type": "issue", "id": 7}`.
    #[schema(value_type = Object)]
    pub subject: periscope_store::AlertSubject,
    /// Its issue, when it is about one (the same as the subject's id).
    pub issue_id: Option<i64>,
    /// The issue's title.
    pub issue_title: String,
    /// `new_issue`, `regression`, `unmute` ...
    pub kind: String,
    /// When it was raised.
    pub created_at: String,
    /// Its deliveries.
    pub deliveries: Vec<DeliveryView>,
}

impl From<&AlertWithDeliveries> for AlertView {
    fn from(a: &AlertWithDeliveries) -> Self {
        Self {
            id: a.alert.id.get(),
            project_id: a.alert.project_id.get(),
            subject: a.alert.subject,
            issue_id: a.alert.subject.issue_id().map(IssueId::get),
            issue_title: a.issue_title.clone(),
            kind: a.alert.kind.as_str().to_owned(),
            created_at: timestamp(a.alert.created_at),
            deliveries: a.deliveries.iter().map(DeliveryView::from).collect(),
        }
    }
}

/// A page of records and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageView<T> {
    /// The records.
    pub items: Vec<T>,
    /// Pass it back for the next page (`null` on the last one).
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use periscope_store::ProjectId;

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
        let key = crate::service::new_public_key();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_dsn_is_the_first_active_keys() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let key = |k: &str, revoked: bool| ProjectKey {
            public_key: k.repeat(32),
            created_at: t,
            revoked_at: revoked.then_some(t),
        };
        let mut p = Project {
            id: ProjectId(3),
            name: "p".into(),
            created_at: t,
            keys: vec![key("a", true), key("b", false), key("c", false)],
            settings: ProjectSettings::default(),
            stored_events: 0,
        };
        let v = ProjectView::of("http://h", &p);
        assert_eq!(
            v.dsn.as_deref(),
            Some(format!("http://{}@h/3", "b".repeat(32)).as_str())
        );
        assert_eq!(v.keys.len(), 3, "revoked keys are listed");
        assert_eq!(
            v.keys[0].revoked_at.as_deref(),
            Some("2026-11-30T12:00:00.000Z")
        );
        assert_eq!(v.keys[1].revoked_at, None);
        p.keys.retain(|k| k.revoked_at.is_some());
        assert_eq!(ProjectView::of("http://h", &p).dsn, None);
    }

    #[test]
    fn timestamps_have_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-11-30T12:00:00.000Z");
    }
}

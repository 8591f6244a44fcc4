//! The values the store takes and returns.

use chrono::{DateTime, Utc};
use std::fmt;

pub(crate) use periscope_types::{AlertId, DeliveryId, DestinationId, IssueId, ProjectId, UserId};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A project: the unit events are sent to (one DSN per key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Numeric id (the `{project_id}` of the ingest URL).
    pub id: ProjectId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its client keys, oldest first, revoked ones included (see
    /// [`ProjectKey::revoked_at`]).
    pub keys: Vec<ProjectKey>,
    /// Quotas, retention and grouping settings.
    pub settings: ProjectSettings,
    /// How many events are stored right now (maintained incrementally).
    pub stored_events: u64,
}

/// A client key of a project (the public part of a DSN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectKey {
    /// The 32-hex public key SDKs send as `sentry_key`.
    pub public_key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked (`None`: active). A revoked key authenticates
    /// nothing ([`ProjectStore::project_by_key`](crate::ProjectStore::project_by_key)
    /// does not find it) and is kept for the record.
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ProjectKey {
    /// Whether the key still authenticates (not revoked).
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Per-project settings. `None` means "no limit".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// Accepted events per minute.
    pub quota_per_minute: Option<u64>,
    /// Accepted events per hour.
    pub quota_per_hour: Option<u64>,
    /// Accepted events per day.
    pub quota_per_day: Option<u64>,
    /// Retention cap: most events stored for the project (issues keep counting).
    pub max_events: Option<u64>,
    /// Retention cap: events older than this many days are deleted by
    /// [`MaintenanceStore::evict_expired`](crate::MaintenanceStore::evict_expired).
    pub max_age_days: Option<u32>,
    /// The grouping configuration new events are grouped with (its id; opaque
    /// to the store).
    pub grouping_strategy: String,
    /// During a move to a new grouping configuration: the configuration moved
    /// from, whose keys are still computed (as lookup keys after the new
    /// ones) until [`grouping_transition_until`](Self::grouping_transition_until),
    /// so events keep joining the issues the old configuration made. Opaque
    /// to the store.
    #[serde(default)]
    pub grouping_transition_from: Option<String>,
    /// When the transition ends (after it, only `grouping_strategy` counts).
    #[serde(default)]
    pub grouping_transition_until: Option<DateTime<Utc>>,
    /// The project's fingerprint rules (Sentry's syntax; opaque to the store,
    /// checked by the caller). Empty: none.
    #[serde(default)]
    pub fingerprint_rules: String,
    /// The project's stack-trace rules (Sentry's syntax; opaque to the store,
    /// checked by the caller). Empty: none.
    #[serde(default)]
    pub stacktrace_rules: String,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            quota_per_minute: None,
            quota_per_hour: None,
            quota_per_day: None,
            max_events: None,
            max_age_days: None,
            grouping_strategy: "default".to_owned(),
            grouping_transition_from: None,
            grouping_transition_until: None,
            fingerprint_rules: String::new(),
            stacktrace_rules: String::new(),
        }
    }
}

/// A change to a project; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    /// New name.
    pub name: Option<String>,
    /// New settings (replaces all of them).
    pub settings: Option<ProjectSettings>,
}

/// One grouping key of an event, with the grouping configuration that computed
/// it (see [`NewEvent::grouping_keys`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupingKey {
    /// The key (e.g. a hash of the parts of the event that counted).
    pub key: String,
    /// The id of the grouping configuration that computed it (opaque to the
    /// store; kept with the key when the key is first stored).
    pub config: String,
}

impl GroupingKey {
    /// A key computed by configuration `config`.
    pub fn new(key: impl Into<String>, config: impl Into<String>) -> Self {
        GroupingKey {
            key: key.into(),
            config: config.into(),
        }
    }
}

/// One grouping key of an issue, with the events that joined the issue by it
/// (see [`GroupingStore::issue_keys`](crate::GroupingStore::issue_keys)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueKey {
    /// The key.
    pub key: String,
    /// The grouping configuration that computed it.
    pub config: String,
    /// Events that joined the issue by this key (the first of their keys that
    /// was stored), duplicates excluded, evicted ones included.
    pub event_count: u64,
    /// Earliest timestamp of those events (`None` while no event joined by
    /// the key: it was only attached, by an event that joined by another).
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest timestamp of those events.
    pub last_seen: Option<DateTime<Utc>>,
}

/// What [`GroupingStore::merge_issues`](crate::GroupingStore::merge_issues)
/// did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// The target as it is after the merge.
    pub target: Issue,
    /// The issues merged into it (now tombstones), in id order.
    pub merged: Vec<IssueId>,
    /// Grouping keys moved to the target.
    pub moved_keys: u64,
    /// Stored events moved to the target.
    pub moved_events: u64,
}

/// One stored event as [`GroupingStore::stored_events_after`](crate::GroupingStore::stored_events_after)
/// hands it to a regroup: what is needed to group it again and to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredForRegroup {
    /// The event's row id: the cursor (pass the last one seen as `after`).
    pub row_id: i64,
    /// The SDK's event id (what
    /// [`GroupingStore::regroup_batch`](crate::GroupingStore::regroup_batch)
    /// takes back).
    pub event_id: String,
    /// The issue it is in now.
    pub issue_id: IssueId,
    /// The grouping key it joined its issue by (`None` only for rows no
    /// migration could name one for).
    pub grouping_key: Option<String>,
    /// The JSON the SDK sent, decompressed (as
    /// [`IssueStore::get_event`](crate::IssueStore::get_event) returns it).
    pub payload: Vec<u8>,
}

/// What [`GroupingStore::regroup_batch`](crate::GroupingStore::regroup_batch)
/// did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegroupOutcome {
    /// Events of the batch still stored (the others were skipped), each
    /// counted once.
    pub events_seen: u64,
    /// Of those, the events whose issue changed.
    pub events_moved: u64,
    /// Issues the batch created (for keys no issue had), in creation order.
    /// No new-issue alert is raised for them.
    pub issues_created: Vec<IssueId>,
    /// Issues the batch left without any stored event, in id order: each is
    /// now a tombstone merged into the issue that received most of its events
    /// (see [`RegroupOutcome::merged_into`]), unless it still counts events
    /// evicted by retention (then it stays, with that count).
    pub issues_emptied: Vec<IssueId>,
    /// The emptied issues that became tombstones: (issue, the issue it was
    /// merged into).
    pub merged_into: Vec<(IssueId, IssueId)>,
    /// Grouping keys attached to an issue by the batch (keys no issue had).
    pub keys_attached: u64,
}

/// One grouped event handed to [`IngestStore::ingest_batch`](crate::IngestStore::ingest_batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The project it was sent to (must exist).
    pub project_id: ProjectId,
    /// The SDK's event id (32 hex); unique per project.
    pub event_id: String,
    /// The event's grouping keys in **lookup order** (at least one): the
    /// first of them that is stored decides the issue; when none is, a new
    /// issue is created under the first. Every key is then attached to the
    /// event's issue (a key already stored keeps its issue). With one grouping
    /// configuration this is one key; during a transition, the new
    /// configuration's key then the old one's. An empty list fails the batch
    /// with [`StoreError::InvalidInput`](crate::StoreError::InvalidInput).
    pub grouping_keys: Vec<GroupingKey>,
    /// Issue title (from grouping).
    pub title: String,
    /// Issue culprit (from grouping).
    pub culprit: Option<String>,
    /// `fatal`, `error`, `warning`, `info` or `debug` (kept as given).
    pub level: String,
    /// When the event happened (the SDK's timestamp; the caller may clamp it).
    pub timestamp: DateTime<Utc>,
    /// When the server received it.
    pub received_at: DateTime<Utc>,
    /// The release it came from.
    pub release: Option<String>,
    /// The environment it came from.
    pub environment: Option<String>,
    /// Its tags (searchable per issue with `key:value`).
    pub tags: Vec<(String, String)>,
    /// The event JSON exactly as the SDK sent it; stored compressed and returned
    /// byte for byte by [`IssueStore::get_event`](crate::IssueStore::get_event).
    pub payload: Vec<u8>,
    /// Optional human-readable explanation of the grouping (stored on the issue,
    /// refreshed by each batch that carries one).
    pub grouping_explanation: Option<String>,
    /// An identifier of the event's user (e.g. `id:42`, `email:a@b.example`),
    /// for counting an issue's distinct users ([`Issue::user_count`]). The store
    /// keeps only its SHA-256, never the value itself.
    pub user: Option<String>,
}

/// What happened to one event of a batch (same order as the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// The issue the event belongs to (for a duplicate: the issue of the stored copy
    /// when known, else the issue its grouping key names).
    pub issue_id: IssueId,
    /// This event created the issue (a `new_issue` alert was written).
    pub created: bool,
    /// This event re-opened a resolved issue (a `regression` alert was written).
    pub regressed: bool,
    /// This event ended a mute (an `unmute` alert was written).
    pub unmuted: bool,
    /// An event with the same id was already stored: nothing was written or counted.
    pub duplicate: bool,
}

/// The state of an issue.
///
/// Serialized as its plain stored text (`"muted"`, or the unknown text); the
/// `{"unknown": "x"}` form older versions wrote is still read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IssueStatus {
    /// Open.
    Unresolved,
    /// Fixed; a new event re-opens it (see [`Issue::resolved_in_release`]).
    Resolved,
    /// Silenced until a time or a number of events (or forever).
    Muted,
    /// A value written by a newer version of the store.
    Unknown(String),
}

impl IssueStatus {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Muted => "muted",
            IssueStatus::Unknown(s) => s,
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Self {
        match s {
            "unresolved" => IssueStatus::Unresolved,
            "resolved" => IssueStatus::Resolved,
            "muted" => IssueStatus::Muted,
            other => IssueStatus::Unknown(other.to_owned()),
        }
    }
}

/// An issue: a group of events that share a grouping key (an issue owns one
/// or more keys, see [`GroupingStore::issue_keys`](crate::GroupingStore::issue_keys)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Numeric id (unique across projects).
    pub id: IssueId,
    /// Its project.
    pub project_id: ProjectId,
    /// The issue's own grouping key: the key it was created under (or, after
    /// an unmerge took that key away, one of its remaining keys); for a
    /// tombstone, `merged:<id>`. An issue may own more keys.
    pub grouping_key: String,
    /// Title of the latest batch's event.
    pub title: String,
    /// Culprit of the latest batch's event.
    pub culprit: Option<String>,
    /// Level of the latest batch's event.
    pub level: String,
    /// Status.
    pub status: IssueStatus,
    /// Events received, including those evicted by retention and excluding duplicates.
    pub count: u64,
    /// Earliest event timestamp.
    pub first_seen: DateTime<Utc>,
    /// Latest event timestamp.
    pub last_seen: DateTime<Utc>,
    /// When the issue was created.
    pub created_at: DateTime<Utc>,
    /// When the status last changed (by an update or an event).
    pub status_changed_at: Option<DateTime<Utc>>,
    /// When resolved "in release R": only events from a newer release re-open it.
    pub resolved_in_release: Option<String>,
    /// When muted until a time: the first event after it unmutes the issue.
    pub muted_until: Option<DateTime<Utc>>,
    /// When muted until a volume: the issue unmutes once `count` reaches this.
    pub unmute_at_count: Option<u64>,
    /// The grouping explanation given with the events, if any.
    pub grouping_explanation: Option<String>,
    /// Distinct users of its events ([`NewEvent::user`]): exact up to 1000,
    /// beyond that a HyperLogLog estimate (relative standard error about 3 %).
    pub user_count: u64,
    /// Release of its first event (`None` if it had none, or for issues
    /// created before this was recorded whose first event is gone).
    pub first_release: Option<String>,
    /// Release of the latest event of the latest batch (`None` if it had
    /// none).
    pub last_release: Option<String>,
    /// Set on a tombstone: the issue this one was merged into (follow it, see
    /// [`GroupingStore::resolve_issue`](crate::GroupingStore::resolve_issue)).
    /// Tombstones are in no list, count or search.
    #[serde(default)]
    pub merged_into: Option<IssueId>,
}

/// A change to an issue's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssueAction {
    /// Resolve: any later event re-opens it.
    Resolve,
    /// Resolve in a release: only events from a newer release re-open it (see
    /// [`release_is_newer`](crate::release_is_newer)).
    ResolveInRelease(String),
    /// Mute with no end.
    Mute,
    /// Mute until the given time: the first event at or after it unmutes the
    /// issue (and raises an `unmute` alert); until such an event arrives the
    /// status stays `muted` ([`Issue::muted_until`] tells when it ended).
    MuteUntil(DateTime<Utc>),
    /// Mute until this many more events arrive.
    MuteForEvents(u64),
    /// Back to unresolved (no alert).
    Reopen,
}

/// Which issues to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Only unresolved issues (the default).
    #[default]
    Unresolved,
    /// Only resolved issues.
    Resolved,
    /// Only muted issues.
    Muted,
    /// All issues.
    All,
}

/// The order of an issue listing: each newest (or largest) first, ties broken
/// by id, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    /// Most recently seen first ([`Issue::last_seen`]; the default).
    #[default]
    LastSeen,
    /// Most recently first seen first ([`Issue::first_seen`]): the newest issues.
    FirstSeen,
    /// Most events first ([`Issue::count`]).
    EventCount,
}

impl IssueSort {
    /// The first character of this sort's cursors.
    pub(crate) fn cursor_prefix(self) -> char {
        match self {
            // As before sorts existed, so older cursors stay valid.
            IssueSort::LastSeen => 'i',
            IssueSort::FirstSeen => 'f',
            IssueSort::EventCount => 'c',
        }
    }

    /// The sort a [`Page::next_cursor`] of an issue listing was made for
    /// (`None` for text that is not such a cursor, which the listing refuses
    /// as [`StoreError::InvalidCursor`](crate::StoreError::InvalidCursor)).
    /// Lets a caller tell "a cursor of another sort" from junk.
    pub fn of_cursor(cursor: &str) -> Option<IssueSort> {
        let mut chars = cursor.chars();
        let prefix = chars.next()?;
        let (key, id) = chars.as_str().split_once('_')?;
        if key.parse::<i64>().is_err() || id.parse::<i64>().is_err() {
            return None;
        }
        [
            IssueSort::LastSeen,
            IssueSort::FirstSeen,
            IssueSort::EventCount,
        ]
        .into_iter()
        .find(|s| s.cursor_prefix() == prefix)
    }
}

/// A query over a project's issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFilter {
    /// Status to show.
    pub status: StatusFilter,
    /// The order. A [`Page::next_cursor`] holds its sort's key: it is only
    /// valid with the same sort (another sort's cursor is
    /// [`StoreError::InvalidCursor`](crate::StoreError::InvalidCursor)).
    pub sort: IssueSort,
    /// Search text: `key:value` terms match the level, `release`, `environment` or a
    /// tag of any event of the issue (exact value; quote with `key:"a b"`); other
    /// words must all appear in the title or the culprit (case-insensitive).
    pub query: String,
    /// Cursor from a previous page's [`Page::next_cursor`].
    pub cursor: Option<String>,
    /// Page size (clamped to 1..=1000).
    pub limit: usize,
}

impl Default for IssueFilter {
    fn default() -> Self {
        IssueFilter {
            status: StatusFilter::Unresolved,
            sort: IssueSort::LastSeen,
            query: String::new(),
            cursor: None,
            limit: 50,
        }
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A stored event without its payload (for listings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    /// The SDK's event id.
    pub event_id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Its issue.
    pub issue_id: IssueId,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// Level.
    pub level: String,
    /// Title.
    pub title: String,
    /// Culprit.
    pub culprit: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Size of the payload as sent, in bytes.
    pub payload_size: u64,
}

/// A stored event with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Everything but the payload.
    pub summary: EventSummary,
    /// The JSON the SDK sent, byte for byte.
    pub payload: Vec<u8>,
}

/// Why an alert was raised: the one definition, shared with the notifier.
pub use periscope_types::AlertKind;
/// What an alert is about: the one definition, shared with the notifier.
pub use periscope_types::AlertSubject;

/// An alert in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Id.
    pub id: AlertId,
    /// Project.
    pub project_id: ProjectId,
    /// What it is about (an issue today).
    pub subject: AlertSubject,
    /// Why.
    pub kind: AlertKind,
    /// When it was raised (the `now` of the batch).
    pub created_at: DateTime<Utc>,
}

/// Where a project's alerts go. `kind` and `config` are opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Id.
    pub id: DestinationId,
    /// Project.
    pub project_id: ProjectId,
    /// Type, e.g. `email`, `generic_webhook`, `slack_webhook`.
    pub kind: String,
    /// Type-specific settings, stored as JSON.
    pub config: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// State of one alert's delivery to one destination.
///
/// Serialized as its plain stored text (`"pending"`, or the unknown text); the
/// `{"unknown": "x"}` form older versions wrote is still read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not delivered yet (maybe retrying).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up.
    Failed,
    /// A value written by a newer version of the store.
    Unknown(String),
}

impl DeliveryState {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown(s) => s,
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            other => DeliveryState::Unknown(other.to_owned()),
        }
    }
}

/// One alert's delivery to one destination, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Id (pass it to `complete_delivery` / `fail_delivery`).
    pub id: DeliveryId,
    /// The alert.
    pub alert_id: AlertId,
    /// The destination.
    pub destination_id: DestinationId,
    /// The destination's type.
    pub destination_kind: String,
    /// State.
    pub state: DeliveryState,
    /// Attempts started so far (counted when claimed).
    pub attempts: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When the last attempt ended.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An alert with the state of its deliveries (for the admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertWithDeliveries {
    /// The alert.
    pub alert: Alert,
    /// Title of its issue.
    pub issue_title: String,
    /// One per destination it was fanned out to.
    pub deliveries: Vec<Delivery>,
}

/// A delivery leased to the caller by [`AlertStore::claim_deliveries`](crate::AlertStore::claim_deliveries):
/// everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedDelivery {
    /// The delivery id.
    pub delivery_id: DeliveryId,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The alert.
    pub alert: Alert,
    /// The issue as it is now.
    pub issue: Issue,
    /// The project's name.
    pub project_name: String,
    /// Where to send it.
    pub destination: Destination,
}

/// A usage counter increment (or a loaded value): `count` events for `key` in
/// the window bucket starting at `bucket_start` (caller-defined units, e.g. Unix
/// seconds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageDelta {
    /// Counter name (e.g. `project:1:minute`).
    pub key: String,
    /// Bucket start.
    pub bucket_start: i64,
    /// Count to add (or the stored total when loaded).
    pub count: i64,
}

/// What [`MaintenanceStore::evict_expired`](crate::MaintenanceStore::evict_expired) removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvictionReport {
    /// Events deleted because they were older than the project's `max_age_days`.
    pub expired_events: u64,
    /// Events deleted because the project was over `max_events`.
    pub capped_events: u64,
}

/// The bounds of one [`Store::retention_step`](crate::Store::retention_step).
///
/// `#[non_exhaustive]`: start from [`RetentionLimits::default`] and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionLimits {
    /// Most events (or alerts) one step deletes, in one transaction. Default
    /// 1000.
    pub max_rows_per_step: u32,
    /// Alerts older than this are deleted (with their deliveries) once every
    /// delivery is finished (delivered or given up), and those older than twice
    /// this whatever their state (a notifier that never finished them). `None`
    /// keeps alerts forever. Default 30 days.
    pub alert_max_age: Option<std::time::Duration>,
    /// Issues that received no event for this long are deleted with their
    /// events, tag index, alerts and deliveries (the events first, in steps).
    /// The time is the server's receive time, not the events' own timestamps.
    /// `None` keeps issues forever. Default 365 days.
    pub issue_max_idle: Option<std::time::Duration>,
    /// Hourly event counts (per issue and per project, for the charts) whose
    /// hour started longer ago than this are deleted. `None` keeps them
    /// forever. Default 90 days.
    pub count_max_age: Option<std::time::Duration>,
}

impl Default for RetentionLimits {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionLimits {
            max_rows_per_step: 1000,
            alert_max_age: Some(std::time::Duration::from_secs(30 * DAY)),
            issue_max_idle: Some(std::time::Duration::from_secs(365 * DAY)),
            count_max_age: Some(std::time::Duration::from_secs(90 * DAY)),
        }
    }
}

/// What one [`Store::retention_step`](crate::Store::retention_step) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Events deleted because their project was over `max_events`.
    pub capped_events: u64,
    /// Events deleted because they were older than their project's
    /// `max_age_days`.
    pub expired_events: u64,
    /// Events deleted because their issue was idle for longer than
    /// [`RetentionLimits::issue_max_idle`].
    pub idle_events: u64,
    /// Idle issues deleted.
    pub idle_issues: u64,
    /// Alerts deleted (their deliveries went with them).
    pub alerts: u64,
    /// Hourly count buckets deleted (older than
    /// [`RetentionLimits::count_max_age`]).
    pub count_buckets: u64,
    /// True when this step found work: call again (soon) until it is false.
    /// A step that finds nothing to do returns `false` and costs a few indexed
    /// queries.
    pub more: bool,
}

impl RetentionReport {
    /// Rows deleted by this step (events, issues, alerts and count buckets).
    pub fn deleted(&self) -> u64 {
        self.capped_events
            + self.expired_events
            + self.idle_events
            + self.idle_issues
            + self.alerts
            + self.count_buckets
    }
}

/// What a user may do.
///
/// Serialized as its plain stored text (`"admin"`, `"member"`, or the unknown
/// text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including managing users.
    Admin,
    /// Everyday work on projects and issues.
    Member,
    /// A value written by a newer version of the store.
    Unknown(String),
}

impl Role {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Unknown(s) => s,
        }
    }

    /// Parses the stored text (never fails: other text is [`Role::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "admin" => Role::Admin,
            "member" => Role::Member,
            other => Role::Unknown(other.to_owned()),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Role::parse(s))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who signs in to the web UI.
///
/// Its `Debug` output and its serialized form leave out the password hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Numeric id.
    pub id: UserId,
    /// Email address, lower-cased (unique, compared case-insensitively).
    pub email: String,
    /// What the user may do.
    pub role: Role,
    /// The password hash (e.g. Argon2id PHC string), opaque to the store.
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the password was last set.
    pub password_changed_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

/// A signed-in session (found by the hash of its token), with its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user it belongs to, as stored now.
    pub user: User,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// One of a user's sessions, as listed (the token's hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSession {
    /// The hash of the session's token, as given to
    /// [`UserStore::create_session`](crate::UserStore::create_session).
    pub token_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What a one-time user token (a link sent to a person) is for.
///
/// Serialized as its plain stored text (`"invite"`, `"reset"`, or the unknown
/// text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An invitation: whoever holds it picks a password and becomes a user
    /// with the token's email and role.
    Invite,
    /// A password reset of an existing user.
    Reset,
    /// A value written by a newer version of the store.
    Unknown(String),
}

impl TokenKind {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            TokenKind::Invite => "invite",
            TokenKind::Reset => "reset",
            TokenKind::Unknown(s) => s,
        }
    }

    /// Parses the stored text (never fails: other text is [`TokenKind::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "invite" => TokenKind::Invite,
            "reset" => TokenKind::Reset,
            other => TokenKind::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A one-time user token as stored: an invitation or a password reset. The
/// token itself never reaches the store, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserToken {
    /// What it is for.
    pub kind: TokenKind,
    /// The invitee's email, or the email of the user to reset (lower-cased).
    pub email: String,
    /// The role an invitee gets (for a reset: the user's role when it was made).
    pub role: Role,
    /// The user a reset is for (`None` for an invitation).
    pub user_id: Option<UserId>,
    /// The user who made it, if known (and not deleted since).
    pub created_by: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used (it works once).
    pub used_at: Option<DateTime<Utc>>,
}

/// What happened to an issue, in its activity log.
///
/// Serialized as its plain stored text (`"resolved_in_release"`, or the unknown
/// text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    /// Resolved by hand.
    Resolved,
    /// Resolved in a release (the release is the detail).
    ResolvedInRelease,
    /// Muted by hand (the detail says until when, if bounded).
    Muted,
    /// Re-opened by hand.
    Unresolved,
    /// Re-opened by a new event (no actor; the event's release is the detail).
    Regression,
    /// Other issues were merged into this one (the detail names them,
    /// `#12, #13`); on the target.
    Merged,
    /// Grouping keys were split off into a new issue (on the issue they left,
    /// the detail `into #N: <keys>`) or came from one (on the new issue,
    /// `from #M: <keys>`).
    Unmerged,
    /// A regroup (re-running grouping over stored events, see
    /// [`GroupingStore::regroup_batch`](crate::GroupingStore::regroup_batch))
    /// moved events into or out of this issue; no actor unless given. The
    /// detail says how many and from or to where (`+3 from #12; -2 to #15`,
    /// `created`, `merged into #15`). One entry per issue per batch.
    Regrouped,
    /// A value written by a newer version of the store.
    Unknown(String),
}

impl ActivityKind {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            ActivityKind::Resolved => "resolved",
            ActivityKind::ResolvedInRelease => "resolved_in_release",
            ActivityKind::Muted => "muted",
            ActivityKind::Unresolved => "unresolved",
            ActivityKind::Regression => "regression",
            ActivityKind::Merged => "merged",
            ActivityKind::Unmerged => "unmerged",
            ActivityKind::Regrouped => "regrouped",
            ActivityKind::Unknown(s) => s,
        }
    }

    /// Parses the stored text (never fails: other text is
    /// [`ActivityKind::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "resolved" => ActivityKind::Resolved,
            "resolved_in_release" => ActivityKind::ResolvedInRelease,
            "muted" => ActivityKind::Muted,
            "unresolved" => ActivityKind::Unresolved,
            "regression" => ActivityKind::Regression,
            "merged" => ActivityKind::Merged,
            "unmerged" => ActivityKind::Unmerged,
            "regrouped" => ActivityKind::Regrouped,
            other => ActivityKind::Unknown(other.to_owned()),
        }
    }
}

impl std::str::FromStr for ActivityKind {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ActivityKind::parse(s))
    }
}

/// One entry of an issue's activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Id (increasing: later entries have larger ids).
    pub id: i64,
    /// The issue.
    pub issue_id: IssueId,
    /// What happened.
    pub kind: ActivityKind,
    /// Who did it (as the caller named them, e.g. an email); `None` for the
    /// system (regressions) or when not given.
    pub actor: Option<String>,
    /// A short text: the release of a resolve-in-release or a regression,
    /// `until <RFC 3339 time>` or `<n> more events` for a bounded mute.
    pub detail: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// How one tag key's values are distributed over an issue's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDistribution {
    /// The tag key.
    pub key: String,
    /// Events of the issue that carried this key (counting since the key's
    /// first indexed value).
    pub total: u64,
    /// The most frequent values with their event counts, most frequent first
    /// (then by value).
    pub values: Vec<(String, u64)>,
    /// Events with other values: `total` minus the sum of `values` (values not
    /// shown, and values over the issue's tag index cap).
    pub other: u64,
}

/// Where an event stands among its issue's stored events (oldest first, by
/// event timestamp then storage order, the order of
/// [`IssueStore::list_events`](crate::IssueStore::list_events) reversed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPosition {
    /// 1-based position; the oldest stored event is 1.
    pub index: u64,
    /// Stored events of the issue (evicted ones are not counted).
    pub total: u64,
    /// The oldest stored event's id (`None` when it is this one).
    pub first: Option<String>,
    /// The next older event's id (`None` for the oldest).
    pub previous: Option<String>,
    /// The next newer event's id (`None` for the latest).
    pub next: Option<String>,
    /// The latest stored event's id (`None` when it is this one).
    pub latest: Option<String>,
}

/// Events received in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountBucket {
    /// Start of the hour (UTC).
    pub start: DateTime<Utc>,
    /// Events received in it (by the server's receive time).
    pub count: u64,
}

/// The serde of an enum with an `Unknown(String)` case, stored as text: written
/// as the plain string of `as_str`, read with `parse` from a string, or from the
/// `{"unknown": "x"}` map that derived serde wrote before (kept readable, so a
/// value serialized by an older version still loads).
macro_rules! plain_string_serde {
    ($ty:ident, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::parse(v))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        let legacy = match map.next_key::<String>()? {
                            Some(key) if key == "unknown" => map.next_value::<String>()?,
                            _ => return Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                        };
                        if map.next_key::<de::IgnoredAny>()?.is_some() {
                            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
                        }
                        Ok($ty::parse(&legacy))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

plain_string_serde!(IssueStatus, "an issue status such as \"unresolved\"");
plain_string_serde!(DeliveryState, "a delivery state such as \"pending\"");
plain_string_serde!(Role, "a role such as \"admin\"");
plain_string_serde!(ActivityKind, "an activity kind such as \"resolved\"");
plain_string_serde!(TokenKind, "a token kind such as \"invite\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_cases_serialize_as_plain_strings() {
        let json = serde_json::to_string(&(
            IssueStatus::Unknown("archived".into()),
            AlertKind::Unknown("escalation".into()),
            DeliveryState::Unknown("paused".into()),
        ))
        .unwrap();
        assert_eq!(json, r#"["archived","escalation","paused"]"#);
        let back: (IssueStatus, AlertKind, DeliveryState) = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, IssueStatus::Unknown("archived".into()));
        assert_eq!(back.1, AlertKind::Unknown("escalation".into()));
        assert_eq!(back.2, DeliveryState::Unknown("paused".into()));
    }

    #[test]
    fn known_cases_keep_their_text() {
        // The same text as before (derived serde, snake_case) and as stored.
        for s in [
            IssueStatus::Unresolved,
            IssueStatus::Resolved,
            IssueStatus::Muted,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<IssueStatus>(&json).unwrap(), s);
        }
        for k in [
            AlertKind::NewIssue,
            AlertKind::Regression,
            AlertKind::Unmute,
        ] {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), k);
        }
        for d in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
            assert_eq!(serde_json::from_str::<DeliveryState>(&json).unwrap(), d);
        }
        assert_eq!(
            serde_json::to_string(&IssueStatus::Muted).unwrap(),
            r#""muted""#
        );
        assert_eq!(
            serde_json::to_string(&AlertKind::NewIssue).unwrap(),
            r#""new_issue""#
        );
    }

    #[test]
    fn roles_and_activity_kinds_are_plain_strings() {
        for r in [Role::Admin, Role::Member, Role::Unknown("auditor".into())] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), r);
            assert_eq!(r.as_str().parse::<Role>(), Ok(r.clone()));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), r#""admin""#);
        assert_eq!("member".parse::<Role>(), Ok(Role::Member));
        for k in [
            ActivityKind::Resolved,
            ActivityKind::ResolvedInRelease,
            ActivityKind::Muted,
            ActivityKind::Unresolved,
            ActivityKind::Regression,
            ActivityKind::Merged,
            ActivityKind::Unmerged,
            ActivityKind::Regrouped,
            ActivityKind::Unknown("assigned".into()),
        ] {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ActivityKind>(&json).unwrap(), k);
            assert_eq!(k.as_str().parse::<ActivityKind>(), Ok(k.clone()));
        }
        assert_eq!(
            serde_json::to_string(&ActivityKind::ResolvedInRelease).unwrap(),
            r#""resolved_in_release""#
        );
    }

    #[test]
    fn the_old_map_form_is_still_read() {
        assert_eq!(
            serde_json::from_str::<IssueStatus>(r#"{"unknown":"archived"}"#).unwrap(),
            IssueStatus::Unknown("archived".into())
        );
        assert_eq!(
            serde_json::from_str::<AlertKind>(r#"{"unknown":"escalation"}"#).unwrap(),
            AlertKind::Unknown("escalation".into())
        );
        assert_eq!(
            serde_json::from_str::<DeliveryState>(r#"{"unknown":"paused"}"#).unwrap(),
            DeliveryState::Unknown("paused".into())
        );
        // A name that is known now reads as the known case.
        assert_eq!(
            serde_json::from_str::<IssueStatus>(r#"{"unknown":"muted"}"#).unwrap(),
            IssueStatus::Muted
        );
        // Other shapes are errors.
        for bad in [
            r#"{"other":"x"}"#,
            r#"{"unknown":"x","b":1}"#,
            "{}",
            "1",
            "null",
            "[]",
        ] {
            assert!(serde_json::from_str::<IssueStatus>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inside_a_struct() {
        let alert = Alert {
            id: AlertId(1),
            project_id: ProjectId(2),
            subject: AlertSubject::Issue(IssueId(3)),
            kind: AlertKind::Unknown("escalation".into()),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let v = serde_json::to_value(&alert).unwrap();
        assert_eq!(v["kind"], "escalation");
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, alert);
    }
}

//! The ingest batch: one transaction for N grouped events.
//!
//! Steps, in an order that is the same for every writer (so concurrent writers on
//! PostgreSQL lock rows in the same order and cannot deadlock), each a function
//! of its own:
//!
//! 0. [`check_projects`]: every project named exists (share-locked on
//!    PostgreSQL) and every event has a grouping key; [`in_batch_copies`]:
//!    later copies of an event id inside the batch are set aside (they share
//!    the first copy's outcome);
//! 1. [`resolve_keys`]: every grouping key of the batch looked up in
//!    `grouping_keys` (one multi-row query, sorted; on PostgreSQL the rows
//!    found are locked `FOR KEY SHARE`, so no merge or unmerge can move them
//!    before this transaction ends), then the current `issues.grouping_key`
//!    of the issues found (a second statement: it sees a merge that
//!    committed while the first waited for its locks). [`route_events`]: the
//!    first key of an event (in its order) that was found decides its issue,
//!    and the event is upserted under that issue's own key; an event none of
//!    whose keys was found is upserted under its first key;
//! 2. [`upsert_issues`]: one issue upsert per distinct (project, issue key),
//!    sorted ([`group_by_issue`]): `INSERT … ON CONFLICT DO UPDATE SET
//!    event_count = event_count + n … RETURNING` the counter and the status as
//!    they were before this batch. The upsert holds the issue's row lock until
//!    commit, so no other writer can change its status or counter in between:
//!    what we read is exactly what we transition from. An issue was created by
//!    this statement iff the returned count equals `n` (a stored issue always
//!    has a count of at least 1). An event routed to an existing issue must
//!    land in it: if the upsert returns another row, a concurrent merge moved
//!    the issue's key meanwhile and the batch fails [`StoreError::Raced`]
//!    (the store retries it);
//! 3. [`insert_events`]: the events, sorted by (project, event id), in multi-row
//!    `INSERT … ON CONFLICT DO NOTHING RETURNING`, each with the key it joined
//!    by and its user's hash: rows not returned are duplicates, whose counting
//!    is undone;
//! 4. [`settle_issue`], per issue: duplicates uncounted, tag candidates
//!    gathered, and the status [`transition`] (new, regression, unmute) decided
//!    on the inserted events in batch order by a pure function over typed
//!    statuses; a status change is a conditional `UPDATE … WHERE status = <old>`
//!    and writes one alert row;
//! 5. [`set_keep_flags`] (first events and regressions survive the count cap),
//!    [`index_tags`] (at most `max_tag_values_per_issue` rows per issue, counted
//!    in `issues.tag_count`, with the number of events carrying each indexed
//!    value and each key), [`count_hours`] (events per issue and per project
//!    and hour of receipt), [`count_users`] (distinct users per issue, exact
//!    then a sketch, see [`crate::distinct`]), [`attach_keys`] (every key of
//!    every inserted event attached to the event's issue, `ON CONFLICT DO
//!    NOTHING`: a stored key keeps its issue; the key each event joined by
//!    counts it, with its first and last seen; a joined key found on another
//!    issue than its events' is a race with a merge: [`StoreError::Raced`]),
//!    and [`count_and_evict`]: the
//!    per-project stored-event counters and the `max_events` eviction: at most
//!    `max_evictions_per_batch` rows, never one of this batch (see
//!    [`crate::ops::evict_capped`]).
//!
//! Everything counted is aggregated over the batch in memory first, then
//! written with one upsert per row touched (sorted, like every lock this
//! transaction takes); nothing reads the events table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::IssueId;
use crate::distinct::{EXACT_LIMIT, Sketch, UserHash, bits_of_hex, sketch_count};
use crate::error::{Result, StoreError};
use crate::model::{ActivityKind, AlertKind, IngestOutcome, IssueStatus, NewEvent};
use crate::ops::{CounterRow, IdRow, evict_capped, insert_activity, ms, to_i64};
use crate::release::release_is_newer;
use crate::sql::{Exec, MultiRow, Q, multi_row, split_rows};
use crate::stats::hour_of;
/// Longest tag key or value indexed for search (longer ones are cut).
pub(crate) const MAX_TAG_LEN: usize = 200;

/// The bounds of one ingest batch's work (from the [`crate::StoreConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestLimits {
    /// Most events deleted by the count cap in one batch.
    pub(crate) max_evictions: i64,
    /// Most tag index rows per issue.
    pub(crate) max_tags_per_issue: i64,
}

/// An event ready for the transaction (payload already compressed).
pub(crate) struct Prepared<'e> {
    pub(crate) event: &'e NewEvent,
    pub(crate) compressed: Vec<u8>,
    pub(crate) tags_json: String,
    /// The hash of the event's user, if it names one.
    pub(crate) user: Option<UserHash>,
}

#[derive(QueryableByName)]
struct UpsertRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = BigInt)]
    event_count: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    resolved_in_release: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    muted_until: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    unmute_at_count: Option<i64>,
    #[diesel(sql_type = BigInt)]
    tag_count: i64,
    #[diesel(sql_type = BigInt)]
    user_count: i64,
}

#[derive(QueryableByName)]
struct FoundKeyRow {
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
}

#[derive(QueryableByName)]
struct IssueKeyRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    merged_into: Option<i64>,
}

#[derive(QueryableByName)]
struct InsertedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
}

#[derive(QueryableByName)]
struct IssueIdRow {
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
}

#[derive(QueryableByName)]
struct TagRow {
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Text)]
    tag_key: String,
    #[diesel(sql_type = Text)]
    tag_value: String,
}

#[derive(QueryableByName)]
struct UserHashRow {
    #[diesel(sql_type = Text)]
    user_hash: String,
}

#[derive(QueryableByName)]
struct SketchRow {
    #[diesel(sql_type = Nullable<diesel::sql_types::Binary>)]
    user_sketch: Option<Vec<u8>>,
}

const UPSERT_HEAD: &str = "INSERT INTO issues (project_id, grouping_key, title, culprit, level, status, event_count, first_seen, last_seen, created_at, grouping_explanation, last_received_at, tag_count, user_count, first_release, last_release) VALUES ";
const UPSERT_ROW: &str = "(?, ?, ?, ?, ?, 'unresolved', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)";
const UPSERT_TAIL: &str = " ON CONFLICT (project_id, grouping_key) DO UPDATE SET \
event_count = issues.event_count + excluded.event_count, \
title = excluded.title, culprit = excluded.culprit, level = excluded.level, \
first_seen = CASE WHEN excluded.first_seen < issues.first_seen THEN excluded.first_seen ELSE issues.first_seen END, \
last_seen = CASE WHEN excluded.last_seen > issues.last_seen THEN excluded.last_seen ELSE issues.last_seen END, \
grouping_explanation = COALESCE(excluded.grouping_explanation, issues.grouping_explanation), \
last_received_at = CASE WHEN excluded.last_received_at > issues.last_received_at THEN excluded.last_received_at ELSE issues.last_received_at END, \
last_release = excluded.last_release \
RETURNING id, project_id, grouping_key, event_count, status, resolved_in_release, muted_until, unmute_at_count, tag_count, user_count";

const EVENT_INSERT_HEAD: &str = "INSERT INTO events (project_id, issue_id, event_id, occurred_at, received_at, level, title, culprit, release_name, environment, tags, keep, payload_size, payload, grouping_key, user_hash) VALUES ";
const EVENT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?, ?, ?)";
const EVENT_INSERT_TAIL: &str =
    " ON CONFLICT (project_id, event_id) DO NOTHING RETURNING id, project_id, event_id";

// The batch's multi-row statements. Each runs with a row count from
// `ROW_COUNTS` (a batch's rows are split by `split_rows`), so each has a handful
// of texts, each prepared once per connection and found in the statement cache
// by type, without rendering the text again.
multi_row!(
    ProjectLookup,
    "SELECT id FROM projects WHERE id IN (",
    "?",
    ", ",
    ")"
);
multi_row!(
    ProjectLookupLocked,
    "SELECT id FROM projects WHERE id IN (",
    "?",
    ", ",
    ") FOR KEY SHARE"
);
// The batch's keys that are stored, in key order (the order their row locks
// are taken in on PostgreSQL).
multi_row!(
    KeyLookup,
    "SELECT g.project_id, g.grouping_key, g.issue_id FROM (VALUES ",
    "(?, ?)",
    ", ",
    ") AS v JOIN grouping_keys g ON g.project_id = v.column1 AND g.grouping_key = v.column2 ORDER BY g.project_id, g.grouping_key"
);
// The same, locking the keys found against merges and unmerges (which take
// them `FOR UPDATE`). KEY SHARE, not SHARE: the counter updates of
// `attach_keys` (by this writer and others holding the same key) must not
// conflict with it.
multi_row!(
    KeyLookupLocked,
    "SELECT g.project_id, g.grouping_key, g.issue_id FROM (VALUES ",
    "(?, ?)",
    ", ",
    ") AS v JOIN grouping_keys g ON g.project_id = v.column1 AND g.grouping_key = v.column2 ORDER BY g.project_id, g.grouping_key FOR KEY SHARE OF g"
);
multi_row!(
    IssueKeyLookup,
    "SELECT id, grouping_key, merged_into FROM issues WHERE id IN (",
    "?",
    ", ",
    ")"
);
multi_row!(IssueUpsert, UPSERT_HEAD, UPSERT_ROW, ", ", UPSERT_TAIL);
// Attaches keys to issues and counts the events that joined by them; a stored
// key keeps its issue (and is returned only when events joined by it).
multi_row!(
    KeyUpsert,
    "INSERT INTO grouping_keys (project_id, grouping_key, issue_id, config, event_count, first_seen, last_seen, created_at) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?)",
    ", ",
    " ON CONFLICT (project_id, grouping_key) DO UPDATE SET \
event_count = grouping_keys.event_count + excluded.event_count, \
first_seen = CASE WHEN grouping_keys.first_seen IS NULL OR excluded.first_seen < grouping_keys.first_seen THEN excluded.first_seen ELSE grouping_keys.first_seen END, \
last_seen = CASE WHEN grouping_keys.last_seen IS NULL OR excluded.last_seen > grouping_keys.last_seen THEN excluded.last_seen ELSE grouping_keys.last_seen END \
WHERE excluded.event_count > 0 \
RETURNING project_id, grouping_key, issue_id"
);
multi_row!(
    EventInsert,
    EVENT_INSERT_HEAD,
    EVENT_ROW,
    ", ",
    EVENT_INSERT_TAIL
);
multi_row!(
    KeepFlag,
    "UPDATE events SET keep = TRUE WHERE id IN (",
    "?",
    ", ",
    ")"
);
multi_row!(
    TagInsert,
    "INSERT INTO issue_tags (issue_id, tag_key, tag_value, count) VALUES ",
    "(?, ?, ?, ?)",
    ", ",
    " ON CONFLICT (issue_id, tag_key, tag_value) DO NOTHING RETURNING issue_id, tag_key, tag_value"
);
// Adds to the counts of values already indexed; values not indexed (over the
// cap) match no row and are left out.
multi_row!(
    TagCountUpdate,
    "UPDATE issue_tags SET count = issue_tags.count + v.column4 FROM (VALUES ",
    "(?, ?, ?, ?)",
    ", ",
    ") AS v WHERE issue_tags.issue_id = v.column1 AND issue_tags.tag_key = v.column2 AND issue_tags.tag_value = v.column3"
);
// Key totals, only for keys with an indexed value (so at most as many rows as
// the tag index has).
multi_row!(
    TagKeyUpsert,
    "INSERT INTO issue_tag_keys (issue_id, tag_key, total) SELECT v.column1, v.column2, v.column3 FROM (VALUES ",
    "(?, ?, ?)",
    ", ",
    ") AS v WHERE EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = v.column1 AND t.tag_key = v.column2) \
ON CONFLICT (issue_id, tag_key) DO UPDATE SET total = issue_tag_keys.total + excluded.total"
);
multi_row!(
    IssueHourUpsert,
    "INSERT INTO issue_counts (issue_id, bucket_start, count) VALUES ",
    "(?, ?, ?)",
    ", ",
    " ON CONFLICT (issue_id, bucket_start) DO UPDATE SET count = issue_counts.count + excluded.count"
);
multi_row!(
    ProjectHourUpsert,
    "INSERT INTO project_counts (project_id, bucket_start, count) VALUES ",
    "(?, ?, ?)",
    ", ",
    " ON CONFLICT (project_id, bucket_start) DO UPDATE SET count = project_counts.count + excluded.count"
);
multi_row!(
    UserCountAdd,
    "UPDATE issues SET user_count = issues.user_count + v.column2 FROM (VALUES ",
    "(?, ?)",
    ", ",
    ") AS v WHERE issues.id = v.column1"
);
multi_row!(
    UserInsert,
    "INSERT INTO issue_users (issue_id, user_hash) VALUES ",
    "(?, ?)",
    ", ",
    " ON CONFLICT (issue_id, user_hash) DO NOTHING RETURNING issue_id"
);

/// A tag key or value as indexed: cut to [`MAX_TAG_LEN`] bytes (on a
/// character boundary).
pub(crate) fn cut(s: &str) -> &str {
    if s.len() <= MAX_TAG_LEN {
        return s;
    }
    let mut end = MAX_TAG_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What the events of a batch did to their issue's status (each raises one
/// alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The batch created the issue.
    New,
    /// A resolved issue received an event that re-opens it.
    Regression,
    /// A muted issue's mute ended (by time or by count).
    Unmute,
}

impl Transition {
    /// The alert it raises.
    fn alert(self) -> AlertKind {
        match self {
            Transition::New => AlertKind::NewIssue,
            Transition::Regression => AlertKind::Regression,
            Transition::Unmute => AlertKind::Unmute,
        }
    }

    /// Whether the event that caused it survives the count cap (the first event
    /// of an issue and the event of a regression do).
    fn keeps_event(self) -> bool {
        matches!(self, Transition::New | Transition::Regression)
    }
}

/// An issue's status as stored before the batch, with what bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredStatus {
    /// The status.
    pub(crate) status: IssueStatus,
    /// Resolved "in release R": only events from a newer release re-open it.
    pub(crate) resolved_in_release: Option<String>,
    /// Muted until this time (Unix milliseconds).
    pub(crate) muted_until: Option<i64>,
    /// Muted until the issue's count reaches this.
    pub(crate) unmute_at_count: Option<i64>,
}

impl StoredStatus {
    fn of(row: &UpsertRow) -> Self {
        StoredStatus {
            status: IssueStatus::parse(&row.status),
            resolved_in_release: row.resolved_in_release.clone(),
            muted_until: row.muted_until,
            unmute_at_count: row.unmute_at_count,
        }
    }
}

/// What the transition decision needs to know of one inserted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventFacts<'a> {
    /// The release it came from.
    pub(crate) release: Option<&'a str>,
}

/// The status transition the batch's newly inserted events of one issue cause,
/// and which of them (an index into `inserted`, which is in batch order) causes
/// it; `None` when the status stays.
///
/// `before_count` is the issue's event count before this batch: 0 means the
/// batch created the issue (a stored issue always has a count of at least 1).
/// `now` is the batch's time in Unix milliseconds.
///
/// - created: [`Transition::New`], by the first event;
/// - resolved: [`Transition::Regression`] by the first event, or, when resolved
///   in a release, by the first event of a newer release (see
///   [`release_is_newer`]; an event without a release never re-opens it);
/// - muted until a time: [`Transition::Unmute`] by the first event once `now` is
///   at or after it; otherwise, muted until a count: by the event that brings the
///   count to it; muted without bounds: none;
/// - unresolved (or a status written by a newer store): none.
pub(crate) fn transition(
    status: &StoredStatus,
    inserted: &[EventFacts<'_>],
    before_count: i64,
    now: i64,
) -> Option<(usize, Transition)> {
    if inserted.is_empty() {
        return None;
    }
    if before_count == 0 {
        return Some((0, Transition::New));
    }
    match status.status {
        IssueStatus::Resolved => inserted
            .iter()
            .position(|e| match &status.resolved_in_release {
                None => true,
                Some(r) => e.release.is_some_and(|er| release_is_newer(er, r)),
            })
            .map(|k| (k, Transition::Regression)),
        IssueStatus::Muted => {
            if status.muted_until.is_some_and(|t| now >= t) {
                Some((0, Transition::Unmute))
            } else if let Some(target) = status.unmute_at_count {
                (0..inserted.len())
                    .find(|&k| before_count + count(k) + 1 >= target)
                    .map(|k| (k, Transition::Unmute))
            } else {
                None
            }
        }
        IssueStatus::Unresolved | IssueStatus::Unknown(_) => None,
    }
}

/// One issue of the batch after its upsert: the batch positions of its events
/// (first copies only, in batch order) and the row as returned.
struct Upserted {
    members: Vec<usize>,
    row: UpsertRow,
}

/// Where step 1 sends an event (first copies only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route<'k> {
    /// The event's project.
    pub(crate) project: i64,
    /// The key its issue is upserted under: the found issue's own key, or the
    /// event's first key.
    pub(crate) issue_key: &'k str,
    /// The key it joined by (an index into its `grouping_keys`).
    pub(crate) joined: usize,
    /// The issue the key found belongs to (`None`: no key found).
    pub(crate) found: Option<i64>,
}

/// What the per-issue steps produce: the outcomes, and what they leave for the
/// batch-wide steps.
struct Settled<'b> {
    /// One per event of the batch, in batch order.
    outcomes: Vec<IngestOutcome>,
    /// Event rows to flag `keep` (first events of issues, regressions).
    keep_ids: Vec<i64>,
    /// Per project: events inserted, lowest row id inserted.
    inserted_per_project: BTreeMap<i64, (i64, i64)>,
    /// Tag index candidates (issue, key, value) with the number of inserted
    /// events carrying the pair among their own tags (0 for a value of the
    /// level, release or environment only), sorted.
    tags: BTreeMap<(i64, &'b str, &'b str), i64>,
    /// Every (issue, key, value) of the inserted events' own tags, with the
    /// number of events carrying it.
    tag_counts: BTreeMap<(i64, &'b str, &'b str), i64>,
    /// Every (issue, key) of the inserted events' own tags, with the number of
    /// events carrying it.
    key_totals: BTreeMap<(i64, &'b str), i64>,
    /// Inserted events per (issue, hour of receipt).
    issue_hours: BTreeMap<(i64, i64), i64>,
    /// Inserted events per (project, hour of receipt).
    project_hours: BTreeMap<(i64, i64), i64>,
    /// Per issue with users in the batch: its user count before the batch and
    /// the users (hex hash → sketch bits).
    users: BTreeMap<i64, (i64, BTreeMap<&'b str, u64>)>,
}

pub(crate) fn ingest_batch<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    now: chrono::DateTime<chrono::Utc>,
    limits: IngestLimits,
) -> Result<Vec<IngestOutcome>> {
    let now = ms(now);
    check_projects(c, batch)?;
    let copy_of = in_batch_copies(batch);
    let (found, issue_keys) = resolve_keys(c, batch, &copy_of)?;
    let routes = route_events(batch, &copy_of, &found, &issue_keys)?;
    let upserted = upsert_issues(c, batch, group_by_issue(&routes), now)?;
    let issue_of = issue_of_events(batch.len(), &upserted);
    let row_id = insert_events(c, batch, &routes, &issue_of)?;

    let mut settled = Settled {
        outcomes: vec![
            IngestOutcome {
                issue_id: IssueId(0),
                created: false,
                regressed: false,
                unmuted: false,
                duplicate: false,
            };
            batch.len()
        ],
        keep_ids: Vec::new(),
        inserted_per_project: BTreeMap::new(),
        tags: BTreeMap::new(),
        tag_counts: BTreeMap::new(),
        key_totals: BTreeMap::new(),
        issue_hours: BTreeMap::new(),
        project_hours: BTreeMap::new(),
        users: BTreeMap::new(),
    };
    for issue in &upserted {
        settle_issue(c, batch, issue, &row_id, now, limits, &mut settled)?;
    }
    resolve_copies(&mut settled.outcomes, &copy_of);

    set_keep_flags(c, &settled.keep_ids)?;
    index_tags(c, &settled.tags, &settled.tag_counts, &settled.key_totals)?;
    count_hours(c, &settled.issue_hours, &settled.project_hours)?;
    count_users(c, &settled.users)?;
    attach_keys(c, batch, &routes, &issue_of, &row_id, now)?;
    count_and_evict(c, settled.inserted_per_project, limits)?;
    Ok(settled.outcomes)
}

/// Every project must exist (one query; the foreign keys would reject the batch
/// anyway, but without saying which project).
///
/// On PostgreSQL the rows are also share-locked (as the foreign keys would do
/// later), so that a concurrent project deletion waits for this batch, or this
/// batch sees the project gone, instead of the two deadlocking.
fn check_projects<C: Exec>(c: &mut C, batch: &[Prepared<'_>]) -> Result<()> {
    if let Some(p) = batch.iter().find(|p| p.event.grouping_keys.is_empty()) {
        return Err(StoreError::InvalidInput(format!(
            "event {} of project {} has no grouping key: give every event at least one",
            p.event.event_id, p.event.project_id
        )));
    }
    let projects: Vec<i64> = batch
        .iter()
        .map(|p| p.event.project_id.get())
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let mut found: BTreeSet<i64> = BTreeSet::new();
    for range in split_rows(projects.len()) {
        let len = range.len();
        let mut q = if c.is_postgres() {
            ProjectLookupLocked::query(len)
        } else {
            ProjectLookup::query(len)
        };
        for &id in &projects[range] {
            q.push(id);
        }
        let rows: Vec<IdRow> = if c.is_postgres() {
            ProjectLookupLocked::rows(c, len, q)?
        } else {
            ProjectLookup::rows(c, len, q)?
        };
        found.extend(rows.into_iter().map(|r| r.id));
    }
    match projects.iter().find(|id| !found.contains(id)) {
        Some(&missing) => Err(StoreError::UnknownProject(missing)),
        None => Ok(()),
    }
}

/// Duplicates inside the batch: for each event, the position of the first event
/// with the same (project, event id) when it is a later copy, else `None`.
fn in_batch_copies(batch: &[Prepared<'_>]) -> Vec<Option<usize>> {
    let mut first_copy: HashMap<(i64, &str), usize> = HashMap::with_capacity(batch.len());
    let mut copy_of: Vec<Option<usize>> = vec![None; batch.len()];
    for (i, p) in batch.iter().enumerate() {
        let k = (p.event.project_id.get(), p.event.event_id.as_str());
        match first_copy.get(&k) {
            Some(&f) => copy_of[i] = Some(f),
            None => {
                first_copy.insert(k, i);
            }
        }
    }
    copy_of
}

/// The stored keys of a batch: (project, key) → issue.
type FoundKeys<'b> = HashMap<(i64, &'b str), i64>;
/// The events of one issue of a batch: its (project, own key), the issue
/// found by key (if any), the events' positions in batch order.
type IssueGroup<'k> = ((i64, &'k str), Option<i64>, Vec<usize>);

/// Step 1: the batch's grouping keys that are stored (first copies' keys,
/// sorted, one multi-row query; `FOR KEY SHARE` on PostgreSQL), as (project,
/// key) → issue, and the current own key of each issue found.
fn resolve_keys<'b, C: Exec>(
    c: &mut C,
    batch: &'b [Prepared<'_>],
    copy_of: &[Option<usize>],
) -> Result<(FoundKeys<'b>, HashMap<i64, String>)> {
    let keys: Vec<(i64, &'b str)> = batch
        .iter()
        .zip(copy_of)
        .filter(|(_, copy)| copy.is_none())
        .flat_map(|(p, _)| {
            let project = p.event.project_id.get();
            p.event
                .grouping_keys
                .iter()
                .map(move |k| (project, k.key.as_str()))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found: HashMap<(i64, &'b str), i64> = HashMap::new();
    let lookup: HashMap<(i64, &str), &'b str> = keys.iter().map(|&(p, k)| ((p, k), k)).collect();
    for range in split_rows(keys.len()) {
        let chunk = &keys[range];
        let mut q = if c.is_postgres() {
            KeyLookupLocked::query(chunk.len())
        } else {
            KeyLookup::query(chunk.len())
        };
        for &(project, key) in chunk {
            q.push(project);
            q.push(key);
        }
        let rows: Vec<FoundKeyRow> = if c.is_postgres() {
            KeyLookupLocked::rows(c, chunk.len(), q)?
        } else {
            KeyLookup::rows(c, chunk.len(), q)?
        };
        for r in rows {
            if let Some(&k) = lookup.get(&(r.project_id, r.grouping_key.as_str())) {
                found.insert((r.project_id, k), r.issue_id);
            }
        }
    }
    let issues: Vec<i64> = found
        .values()
        .copied()
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let mut issue_keys: HashMap<i64, String> = HashMap::with_capacity(issues.len());
    for range in split_rows(issues.len()) {
        let chunk = &issues[range];
        let mut q = IssueKeyLookup::query(chunk.len());
        for &id in chunk {
            q.push(id);
        }
        let rows: Vec<IssueKeyRow> = IssueKeyLookup::rows(c, chunk.len(), q)?;
        for r in rows {
            if let Some(into) = r.merged_into {
                // Merges move every key off the issues they merge.
                return Err(StoreError::Raced(format!(
                    "issue {} was merged into issue {into}",
                    r.id
                )));
            }
            issue_keys.insert(r.id, r.grouping_key);
        }
    }
    Ok((found, issue_keys))
}

/// Where each event goes (`None` for later in-batch copies): the first of its
/// keys (in its order) that was found decides its issue and is the key it
/// joined by; with none found, its first key is both.
pub(crate) fn route_events<'k>(
    batch: &'k [Prepared<'_>],
    copy_of: &[Option<usize>],
    found: &HashMap<(i64, &str), i64>,
    issue_keys: &'k HashMap<i64, String>,
) -> Result<Vec<Option<Route<'k>>>> {
    let mut routes = Vec::with_capacity(batch.len());
    for (p, copy) in batch.iter().zip(copy_of) {
        if copy.is_some() {
            routes.push(None);
            continue;
        }
        let e = p.event;
        let project = e.project_id.get();
        let hit = e
            .grouping_keys
            .iter()
            .enumerate()
            .find_map(|(j, k)| found.get(&(project, k.key.as_str())).map(|&id| (j, id)));
        let route = match hit {
            Some((joined, id)) => {
                let issue_key = issue_keys.get(&id).ok_or_else(|| {
                    StoreError::Raced(format!("issue {id} was deleted meanwhile"))
                })?;
                Route {
                    project,
                    issue_key: issue_key.as_str(),
                    joined,
                    found: Some(id),
                }
            }
            None => Route {
                project,
                // Not empty: checked by `check_projects`.
                issue_key: e.grouping_keys.first().map_or("", |k| k.key.as_str()),
                joined: 0,
                found: None,
            },
        };
        routes.push(Some(route));
    }
    Ok(routes)
}

/// The routed events grouped by issue (project, issue key), sorted by it;
/// each group's positions in batch order, and the issue its key was found on
/// (if any).
fn group_by_issue<'k>(routes: &[Option<Route<'k>>]) -> Vec<IssueGroup<'k>> {
    let mut groups: BTreeMap<(i64, &str), IssueGroup<'k>> = BTreeMap::new();
    for (i, r) in routes.iter().enumerate() {
        if let Some(r) = r {
            let slot = groups
                .entry((r.project, r.issue_key))
                .or_insert_with(|| ((r.project, r.issue_key), None, Vec::new()));
            slot.1 = slot.1.or(r.found);
            slot.2.push(i);
        }
    }
    groups.into_values().collect()
}

/// Step 2: one issue upsert per group, in the groups' (sorted) order, counting
/// each group's events and returning the row as it was before the batch
/// (status, bounds) with the new count.
fn upsert_issues<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    groups: Vec<IssueGroup<'_>>,
    now: i64,
) -> Result<Vec<Upserted>> {
    let mut upserted: Vec<Upserted> = Vec::with_capacity(groups.len());
    let mut groups = groups.into_iter();
    for range in split_rows(groups.len()) {
        let chunk: Vec<IssueGroup<'_>> = groups.by_ref().take(range.len()).collect();
        let mut q = IssueUpsert::query(chunk.len());
        for ((project_id, key), _, members) in &chunk {
            let last = batch[members[members.len() - 1]].event;
            let times = || members.iter().map(|&i| ms(batch[i].event.timestamp));
            let explanation = members
                .iter()
                .rev()
                .find_map(|&i| batch[i].event.grouping_explanation.as_deref());
            q.push(*project_id);
            q.push(*key);
            q.push(last.title.as_str());
            q.push(last.culprit.as_deref());
            q.push(last.level.as_str());
            q.push(members.len() as i64);
            q.push(times().min().unwrap_or(now));
            q.push(times().max().unwrap_or(now));
            q.push(now);
            q.push(explanation);
            q.push(now);
            q.push(batch[members[0]].event.release.as_deref());
            q.push(last.release.as_deref());
        }
        let rows: Vec<UpsertRow> = IssueUpsert::rows(c, chunk.len(), q)?;
        let position: HashMap<(i64, &str), usize> = chunk
            .iter()
            .enumerate()
            .map(|(j, (k, _, _))| (*k, j))
            .collect();
        let mut slots: Vec<Option<UpsertRow>> = (0..chunk.len()).map(|_| None).collect();
        for r in rows {
            if let Some(&j) = position.get(&(r.project_id, r.grouping_key.as_str())) {
                slots[j] = Some(r);
            }
        }
        for ((_, found, members), slot) in chunk.into_iter().zip(slots) {
            let row = slot.ok_or_else(|| StoreError::Database(diesel::result::Error::NotFound))?;
            if let Some(id) = found
                && id != row.id
            {
                // The issue found by key lost that own key meanwhile (merged
                // or re-keyed by a transaction that committed after the
                // lookup): the events must not start another issue.
                return Err(StoreError::Raced(format!(
                    "issue {id} changed its own grouping key"
                )));
            }
            upserted.push(Upserted { members, row });
        }
    }
    Ok(upserted)
}

/// The issue id of each event of the batch (0 for later in-batch copies).
fn issue_of_events(n: usize, upserted: &[Upserted]) -> Vec<i64> {
    let mut issue_of = vec![0i64; n];
    for u in upserted {
        for &i in &u.members {
            issue_of[i] = u.row.id;
        }
    }
    issue_of
}

/// Step 3: the first copies of the events, sorted by (project, event id); the
/// row id of each inserted event, `None` for events already stored (and for
/// later in-batch copies).
fn insert_events<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    routes: &[Option<Route<'_>>],
    issue_of: &[i64],
) -> Result<Vec<Option<i64>>> {
    let mut order: Vec<usize> = (0..batch.len()).filter(|&i| routes[i].is_some()).collect();
    order.sort_by(|&a, &b| {
        (batch[a].event.project_id, &batch[a].event.event_id)
            .cmp(&(batch[b].event.project_id, &batch[b].event.event_id))
    });
    let mut row_id: Vec<Option<i64>> = vec![None; batch.len()];
    for range in split_rows(order.len()) {
        let chunk = &order[range];
        let mut q = EventInsert::query(chunk.len());
        for &i in chunk {
            let p = &batch[i];
            let e = p.event;
            q.push(e.project_id);
            q.push(issue_of[i]);
            q.push(e.event_id.as_str());
            q.push(ms(e.timestamp));
            q.push(ms(e.received_at));
            q.push(e.level.as_str());
            q.push(e.title.as_str());
            q.push(e.culprit.as_deref());
            q.push(e.release.as_deref());
            q.push(e.environment.as_deref());
            q.push(p.tags_json.as_str());
            q.push(e.payload.len() as i64);
            q.push(p.compressed.as_slice());
            q.push(
                routes[i]
                    .as_ref()
                    .and_then(|r| e.grouping_keys.get(r.joined))
                    .map(|k| k.key.as_str()),
            );
            q.push(p.user.as_ref().map(|u| u.hex.as_str()));
        }
        let rows: Vec<InsertedRow> = EventInsert::rows(c, chunk.len(), q)?;
        let mut by_key: HashMap<(i64, &str), i64> = HashMap::with_capacity(rows.len());
        for r in &rows {
            by_key.insert((r.project_id, r.event_id.as_str()), r.id);
        }
        for &i in chunk {
            let e = batch[i].event;
            row_id[i] = by_key
                .get(&(e.project_id.get(), e.event_id.as_str()))
                .copied();
        }
    }
    Ok(row_id)
}

/// Step 4, for one issue: undoes the counting of events already stored, counts
/// the inserted ones for their project, gathers tag index candidates, and
/// applies the status [`transition`] (a conditional update and one alert).
fn settle_issue<'b, C: Exec>(
    c: &mut C,
    batch: &'b [Prepared<'_>],
    issue: &Upserted,
    row_id: &[Option<i64>],
    now: i64,
    limits: IngestLimits,
    settled: &mut Settled<'b>,
) -> Result<()> {
    let Upserted { members, row } = issue;
    let inserted: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| row_id[i].is_some())
        .collect();
    let before = row.event_count - count(members.len());
    let project_id = batch[members[0]].event.project_id.get();

    if !undo_stored_duplicates(
        c,
        batch,
        issue,
        row_id,
        inserted.len(),
        before,
        &mut settled.outcomes,
    )? {
        return Ok(());
    }
    if inserted.is_empty() {
        return Ok(());
    }
    let lowest = inserted
        .iter()
        .filter_map(|&i| row_id[i])
        .min()
        .unwrap_or(i64::MAX);
    let slot = settled
        .inserted_per_project
        .entry(project_id)
        .or_insert((0, i64::MAX));
    slot.0 += count(inserted.len());
    slot.1 = slot.1.min(lowest);

    let own = own_tag_counts(batch, &inserted);
    let room = usize::try_from(limits.max_tags_per_issue - row.tag_count).unwrap_or(0);
    for (k, v) in tag_candidates(batch, &inserted, room) {
        let n = own.pairs.get(&(k, v)).copied().unwrap_or(0);
        settled.tags.insert((row.id, k, v), n);
    }
    for ((k, v), n) in own.pairs {
        settled.tag_counts.insert((row.id, k, v), n);
    }
    for (k, n) in own.keys {
        settled.key_totals.insert((row.id, k), n);
    }
    let mut users: BTreeMap<&str, u64> = BTreeMap::new();
    for &i in &inserted {
        settled.outcomes[i].issue_id = IssueId(row.id);
        let hour = hour_of(ms(batch[i].event.received_at));
        *settled.issue_hours.entry((row.id, hour)).or_default() += 1;
        *settled.project_hours.entry((project_id, hour)).or_default() += 1;
        if let Some(u) = &batch[i].user {
            users.insert(u.hex.as_str(), u.bits);
        }
    }
    if !users.is_empty() {
        settled.users.insert(row.id, (row.user_count, users));
    }

    let facts: Vec<EventFacts<'_>> = inserted
        .iter()
        .map(|&i| EventFacts {
            release: batch[i].event.release.as_deref(),
        })
        .collect();
    let stored = StoredStatus::of(row);
    let Some((k, t)) = transition(&stored, &facts, before, now) else {
        return Ok(());
    };
    let i = inserted[k];
    if t != Transition::New {
        // Conditional on the status read by the upsert (which holds the row
        // lock): 0 rows changed means another writer got there first.
        let changed = c.exec(
            Q::new("UPDATE issues SET status = ?, status_changed_at = ?, resolved_in_release = NULL, muted_until = NULL, unmute_at_count = NULL WHERE id = ? AND status = ?")
                .bind(IssueStatus::Unresolved.as_str())
                .bind(now)
                .bind(row.id)
                .bind(stored.status.as_str()),
        )?;
        if changed != 1 {
            return Ok(());
        }
    }
    match t {
        Transition::New => settled.outcomes[i].created = true,
        Transition::Regression => settled.outcomes[i].regressed = true,
        Transition::Unmute => settled.outcomes[i].unmuted = true,
    }
    if t.keeps_event() {
        settled.keep_ids.extend(row_id[i]);
    }
    if t == Transition::Regression {
        insert_activity(
            c,
            IssueId(row.id),
            &ActivityKind::Regression,
            None,
            batch[i].event.release.as_deref(),
            now,
        )?;
    }
    insert_alert(c, project_id, row.id, &t.alert(), now)
}

/// Marks the issue's events that were already stored as duplicates (with the
/// stored copy's issue) and takes them out of the issue's count; deletes an
/// issue the batch created with nothing but such events. Returns whether the
/// issue is still there.
fn undo_stored_duplicates<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    issue: &Upserted,
    row_id: &[Option<i64>],
    n_inserted: usize,
    before: i64,
    outcomes: &mut [IngestOutcome],
) -> Result<bool> {
    let Upserted { members, row } = issue;
    for &i in members {
        if row_id[i].is_none() {
            let e = batch[i].event;
            let stored: Option<IssueIdRow> = c.row(
                Q::new("SELECT issue_id FROM events WHERE project_id = ? AND event_id = ?")
                    .bind(e.project_id)
                    .bind(e.event_id.as_str()),
            )?;
            outcomes[i].duplicate = true;
            outcomes[i].issue_id = IssueId(stored.map_or(row.id, |s| s.issue_id));
        }
    }
    if n_inserted < members.len() {
        if before == 0 && n_inserted == 0 {
            c.exec(Q::new("DELETE FROM issues WHERE id = ?").bind(row.id))?;
            return Ok(false);
        }
        c.exec(
            Q::new("UPDATE issues SET event_count = event_count - ? WHERE id = ?")
                .bind(count(members.len() - n_inserted))
                .bind(row.id),
        )?;
    }
    Ok(true)
}

/// How often the inserted events of an issue carry each of their own tags
/// (cut to [`MAX_TAG_LEN`]): per (key, value) and per key, each counted once
/// per event.
struct OwnTags<'b> {
    pairs: BTreeMap<(&'b str, &'b str), i64>,
    keys: BTreeMap<&'b str, i64>,
}

fn own_tag_counts<'b>(batch: &'b [Prepared<'_>], inserted: &[usize]) -> OwnTags<'b> {
    let mut own = OwnTags {
        pairs: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    let mut pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for &i in inserted {
        pairs.clear();
        keys.clear();
        for (k, v) in &batch[i].event.tags {
            let (k, v) = (cut(k), cut(v));
            if pairs.insert((k, v)) {
                *own.pairs.entry((k, v)).or_default() += 1;
            }
            if keys.insert(k) {
                *own.keys.entry(k).or_default() += 1;
            }
        }
    }
    own
}

/// The tag index candidates of an issue's inserted events, up to `room`: the
/// built-in keys (`level`, `release`, `environment`) of every event first, then
/// the events' own tags, in batch order, cut to [`MAX_TAG_LEN`], without
/// repeats. A candidate already stored takes room too (conservative: never over
/// the cap).
fn tag_candidates<'b>(
    batch: &'b [Prepared<'_>],
    inserted: &[usize],
    room: usize,
) -> Vec<(&'b str, &'b str)> {
    let mut candidates: Vec<(&str, &str)> = Vec::new();
    if room == 0 {
        return candidates;
    }
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let builtin = inserted.iter().flat_map(|&i| {
        let e = batch[i].event;
        [
            Some(("level", e.level.as_str())),
            e.release.as_deref().map(|r| ("release", r)),
            e.environment.as_deref().map(|env| ("environment", env)),
        ]
        .into_iter()
        .flatten()
    });
    let own = inserted.iter().flat_map(|&i| {
        batch[i]
            .event
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    });
    for (k, v) in builtin.chain(own) {
        if candidates.len() >= room {
            break;
        }
        let kv = (cut(k), cut(v));
        if seen.insert(kv) {
            candidates.push(kv);
        }
    }
    candidates
}

/// Later copies inside the batch are duplicates sharing the first copy's issue.
fn resolve_copies(outcomes: &mut [IngestOutcome], copy_of: &[Option<usize>]) {
    for (i, copy) in copy_of.iter().enumerate() {
        if let Some(f) = *copy {
            outcomes[i].duplicate = true;
            outcomes[i].issue_id = outcomes[f].issue_id;
        }
    }
}

/// Keep flags: first events of issues and regressions survive the count cap.
fn set_keep_flags<C: Exec>(c: &mut C, keep_ids: &[i64]) -> Result<()> {
    for range in split_rows(keep_ids.len()) {
        let chunk = &keep_ids[range];
        let mut q = KeepFlag::query(chunk.len());
        for &id in chunk {
            q.push(id);
        }
        KeepFlag::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

/// Step 5: the tag index (sorted, so concurrent writers lock index entries in
/// one order) and each issue's count of index rows; then the counts: the
/// candidates inserted now start with their count, the values already indexed
/// get theirs added, values over the cap are not indexed but still add to
/// their key's total (the "other" of a distribution).
pub(crate) fn index_tags<C: Exec>(
    c: &mut C,
    candidates: &BTreeMap<(i64, &str, &str), i64>,
    counts: &BTreeMap<(i64, &str, &str), i64>,
    key_totals: &BTreeMap<(i64, &str), i64>,
) -> Result<()> {
    let candidates: Vec<_> = candidates.iter().collect();
    let mut new_tags: BTreeMap<i64, i64> = BTreeMap::new();
    let mut inserted: BTreeSet<(i64, String, String)> = BTreeSet::new();
    for range in split_rows(candidates.len()) {
        let chunk = &candidates[range];
        let mut q = TagInsert::query(chunk.len());
        for ((id, k, v), n) in chunk {
            q.push(*id);
            q.push(*k);
            q.push(*v);
            q.push(**n);
        }
        let rows: Vec<TagRow> = TagInsert::rows(c, chunk.len(), q)?;
        for r in rows {
            *new_tags.entry(r.issue_id).or_default() += 1;
            inserted.insert((r.issue_id, r.tag_key, r.tag_value));
        }
    }
    for (issue_id, added) in new_tags {
        c.exec(
            Q::new("UPDATE issues SET tag_count = tag_count + ? WHERE id = ?")
                .bind(added)
                .bind(issue_id),
        )?;
    }
    let to_add: Vec<_> = counts
        .iter()
        .filter(|((id, k, v), _)| !inserted.contains(&(*id, (*k).to_owned(), (*v).to_owned())))
        .collect();
    for range in split_rows(to_add.len()) {
        let chunk = &to_add[range];
        let mut q = TagCountUpdate::query(chunk.len());
        for ((id, k, v), n) in chunk {
            q.push(*id);
            q.push(*k);
            q.push(*v);
            q.push(**n);
        }
        TagCountUpdate::exec(c, chunk.len(), q)?;
    }
    let keys: Vec<_> = key_totals.iter().collect();
    for range in split_rows(keys.len()) {
        let chunk = &keys[range];
        let mut q = TagKeyUpsert::query(chunk.len());
        for ((id, k), n) in chunk {
            q.push(*id);
            q.push(*k);
            q.push(**n);
        }
        TagKeyUpsert::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

/// The hourly event counts, per issue and per project (sorted).
fn count_hours<C: Exec>(
    c: &mut C,
    issue_hours: &BTreeMap<(i64, i64), i64>,
    project_hours: &BTreeMap<(i64, i64), i64>,
) -> Result<()> {
    let rows: Vec<_> = issue_hours.iter().collect();
    for range in split_rows(rows.len()) {
        let chunk = &rows[range];
        let mut q = IssueHourUpsert::query(chunk.len());
        for ((id, hour), n) in chunk {
            q.push(*id);
            q.push(*hour);
            q.push(**n);
        }
        IssueHourUpsert::exec(c, chunk.len(), q)?;
    }
    let rows: Vec<_> = project_hours.iter().collect();
    for range in split_rows(rows.len()) {
        let chunk = &rows[range];
        let mut q = ProjectHourUpsert::query(chunk.len());
        for ((id, hour), n) in chunk {
            q.push(*id);
            q.push(*hour);
            q.push(**n);
        }
        ProjectHourUpsert::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

/// Distinct users per issue (see [`crate::distinct`]): issues still counted
/// exactly get one row per new user hash and their count raised by the rows
/// inserted; an issue whose count would pass [`EXACT_LIMIT`] switches to a
/// sketch seeded from its rows (which are then deleted); issues already on a
/// sketch get their sketch updated and the estimate stored.
pub(crate) fn count_users<C: Exec>(
    c: &mut C,
    users: &BTreeMap<i64, (i64, BTreeMap<&str, u64>)>,
) -> Result<()> {
    let limit = to_i64(EXACT_LIMIT);
    let exact: Vec<(i64, &str)> = users
        .iter()
        .filter(|(_, (before, _))| *before <= limit)
        .flat_map(|(id, (_, hashes))| hashes.keys().map(move |h| (*id, *h)))
        .collect();
    let mut added: BTreeMap<i64, i64> = BTreeMap::new();
    for range in split_rows(exact.len()) {
        let chunk = &exact[range];
        let mut q = UserInsert::query(chunk.len());
        for (id, h) in chunk {
            q.push(*id);
            q.push(*h);
        }
        let rows: Vec<IssueIdRow> = UserInsert::rows(c, chunk.len(), q)?;
        for r in rows {
            *added.entry(r.issue_id).or_default() += 1;
        }
    }
    let mut exact_adds: Vec<(i64, i64)> = Vec::new();
    for (&issue_id, (before, hashes)) in users {
        if *before > limit {
            let stored: Option<SketchRow> =
                c.row(Q::new("SELECT user_sketch FROM issues WHERE id = ?").bind(issue_id))?;
            let stored = stored
                .and_then(|r| r.user_sketch)
                .and_then(|b| Sketch::from_bytes(&b));
            let lost = stored.is_none();
            let mut sketch = stored.unwrap_or_default();
            for &bits in hashes.values() {
                sketch.insert(bits);
            }
            let mut n = to_i64(sketch_count(&sketch));
            if lost {
                // A sketch that was lost (or corrupt) restarts empty: the
                // count never goes below what it was.
                n = n.max(*before);
            }
            write_sketch(c, issue_id, &sketch, n)?;
            continue;
        }
        let Some(&k) = added.get(&issue_id) else {
            continue;
        };
        if before + k <= limit {
            exact_adds.push((issue_id, k));
            continue;
        }
        // Past the bound: the exact rows (at most the bound plus this batch's)
        // seed the sketch and go.
        let rows: Vec<UserHashRow> =
            c.rows(Q::new("SELECT user_hash FROM issue_users WHERE issue_id = ?").bind(issue_id))?;
        let sketch = Sketch::of(rows.iter().filter_map(|r| bits_of_hex(&r.user_hash)));
        c.exec(Q::new("DELETE FROM issue_users WHERE issue_id = ?").bind(issue_id))?;
        write_sketch(c, issue_id, &sketch, to_i64(sketch_count(&sketch)))?;
    }
    for range in split_rows(exact_adds.len()) {
        let chunk = &exact_adds[range];
        let mut q = UserCountAdd::query(chunk.len());
        for (id, k) in chunk {
            q.push(*id);
            q.push(*k);
        }
        UserCountAdd::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

fn write_sketch<C: Exec>(c: &mut C, issue_id: i64, sketch: &Sketch, count: i64) -> Result<()> {
    c.exec(
        Q::new("UPDATE issues SET user_sketch = ?, user_count = ? WHERE id = ?")
            .bind(sketch.as_bytes())
            .bind(count)
            .bind(issue_id),
    )?;
    Ok(())
}

/// What one key of the batch's inserted events adds to `grouping_keys`.
struct KeyDelta<'b> {
    /// The issue it is attached to when not stored yet: the issue of the
    /// events that joined by it, else of the first event carrying it.
    issue_id: i64,
    /// The configuration of the first event carrying it.
    config: &'b str,
    /// Inserted events that joined by it, with their first and last
    /// timestamps.
    joined: i64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
}

/// Every key of every inserted event attached to the event's issue (`ON
/// CONFLICT DO NOTHING` for keys stored: a key keeps its issue), and the
/// events counted on the key they joined by (one upsert per distinct key,
/// sorted). Duplicates (not inserted) count nowhere. A joined key returned
/// on another issue than its events' was moved by a merge or unmerge that
/// committed after step 1 (possible only for a key not stored then, which
/// step 1 could not lock): [`StoreError::Raced`].
fn attach_keys<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    routes: &[Option<Route<'_>>],
    issue_of: &[i64],
    row_id: &[Option<i64>],
    now: i64,
) -> Result<()> {
    let mut deltas: BTreeMap<(i64, &str), KeyDelta<'_>> = BTreeMap::new();
    for (i, p) in batch.iter().enumerate() {
        let (Some(route), Some(_)) = (&routes[i], row_id[i]) else {
            continue;
        };
        let e = p.event;
        let t = ms(e.timestamp);
        for (j, k) in e.grouping_keys.iter().enumerate() {
            let d = deltas
                .entry((route.project, k.key.as_str()))
                .or_insert(KeyDelta {
                    issue_id: issue_of[i],
                    config: k.config.as_str(),
                    joined: 0,
                    first_seen: None,
                    last_seen: None,
                });
            if j == route.joined {
                d.issue_id = issue_of[i];
                d.joined += 1;
                d.first_seen = Some(d.first_seen.map_or(t, |f| f.min(t)));
                d.last_seen = Some(d.last_seen.map_or(t, |l| l.max(t)));
            }
        }
    }
    let rows: Vec<_> = deltas.iter().collect();
    for range in split_rows(rows.len()) {
        let chunk = &rows[range];
        let mut q = KeyUpsert::query(chunk.len());
        for ((project, key), d) in chunk {
            q.push(*project);
            q.push(*key);
            q.push(d.issue_id);
            q.push(d.config);
            q.push(d.joined);
            q.push(d.first_seen);
            q.push(d.last_seen);
            q.push(now);
        }
        let stored: Vec<FoundKeyRow> = KeyUpsert::rows(c, chunk.len(), q)?;
        for r in stored {
            if let Some(d) = deltas.get(&(r.project_id, r.grouping_key.as_str()))
                && d.joined > 0
                && d.issue_id != r.issue_id
            {
                return Err(StoreError::Raced(format!(
                    "grouping key {:?} moved to issue {}",
                    r.grouping_key, r.issue_id
                )));
            }
        }
    }
    Ok(())
}

/// Stored-event counters and the count cap: at most `max_evictions` rows for the
/// whole batch, never one inserted by this batch (ids from this batch's lowest
/// inserted id of the project on; on PostgreSQL a concurrent batch's uncommitted
/// rows are invisible, so neither are they deleted).
fn count_and_evict<C: Exec>(
    c: &mut C,
    inserted_per_project: BTreeMap<i64, (i64, i64)>,
    limits: IngestLimits,
) -> Result<()> {
    let mut budget = limits.max_evictions.max(0);
    for (project_id, (added, lowest)) in inserted_per_project {
        let row: Option<CounterRow> = c.row(
            Q::new("UPDATE projects SET stored_events = stored_events + ? WHERE id = ? RETURNING stored_events, max_events")
                .bind(added)
                .bind(project_id),
        )?;
        if let Some(CounterRow {
            stored_events,
            max_events: Some(cap),
        }) = row
            && stored_events > cap
            && budget > 0
        {
            let n = (stored_events - cap).min(budget);
            let deleted = evict_capped(c, project_id, n, lowest)?;
            budget -= to_i64(deleted);
        }
    }
    Ok(())
}

fn insert_alert<C: Exec>(
    c: &mut C,
    project_id: i64,
    issue_id: i64,
    kind: &AlertKind,
    now: i64,
) -> Result<()> {
    c.exec(
        Q::new("INSERT INTO alerts (project_id, issue_id, kind, created_at, fanned_out) VALUES (?, ?, ?, ?, FALSE)")
            .bind(project_id)
            .bind(issue_id)
            .bind(kind.as_str())
            .bind(now),
    )?;
    Ok(())
}

/// A number of events as the database's integer.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn stored(status: IssueStatus) -> StoredStatus {
        StoredStatus {
            status,
            resolved_in_release: None,
            muted_until: None,
            unmute_at_count: None,
        }
    }

    fn resolved_in(release: &str) -> StoredStatus {
        StoredStatus {
            resolved_in_release: Some(release.to_owned()),
            ..stored(IssueStatus::Resolved)
        }
    }

    fn muted(until: Option<i64>, at_count: Option<i64>) -> StoredStatus {
        StoredStatus {
            muted_until: until,
            unmute_at_count: at_count,
            ..stored(IssueStatus::Muted)
        }
    }

    fn events(releases: &[Option<&'static str>]) -> Vec<EventFacts<'static>> {
        releases
            .iter()
            .map(|&release| EventFacts { release })
            .collect()
    }

    fn plain(n: usize) -> Vec<EventFacts<'static>> {
        vec![EventFacts { release: None }; n]
    }

    #[test]
    fn nothing_inserted_changes_nothing() {
        assert_eq!(
            transition(&stored(IssueStatus::Resolved), &[], 3, NOW),
            None
        );
        assert_eq!(
            transition(&stored(IssueStatus::Unresolved), &[], 0, NOW),
            None
        );
    }

    #[test]
    fn a_created_issue_is_new_by_its_first_event() {
        let t = transition(&stored(IssueStatus::Unresolved), &plain(3), 0, NOW);
        assert_eq!(t, Some((0, Transition::New)));
    }

    #[test]
    fn resolved_regresses_on_the_first_event() {
        let t = transition(&stored(IssueStatus::Resolved), &plain(2), 5, NOW);
        assert_eq!(t, Some((0, Transition::Regression)));
        // Also when the event has a release: plain "resolved" has no bound.
        let t = transition(
            &stored(IssueStatus::Resolved),
            &events(&[Some("0.0.1")]),
            5,
            NOW,
        );
        assert_eq!(t, Some((0, Transition::Regression)));
    }

    #[test]
    fn resolved_in_release_regresses_on_the_first_newer_release() {
        let s = resolved_in("app@1.2.0");
        // Older, equal, missing: no regression.
        let t = transition(
            &s,
            &events(&[Some("app@1.1.9"), Some("app@1.2.0"), None]),
            5,
            NOW,
        );
        assert_eq!(t, None);
        // The first newer one (in batch order) is the regression.
        let t = transition(
            &s,
            &events(&[
                Some("app@1.1.0"),
                None,
                Some("app@1.10.0"),
                Some("app@1.3.0"),
            ]),
            5,
            NOW,
        );
        assert_eq!(t, Some((2, Transition::Regression)));
        // A build suffix does not make a release newer.
        assert_eq!(
            transition(&s, &events(&[Some("app@1.2.0+build.9")]), 5, NOW),
            None
        );
    }

    #[test]
    fn resolved_in_release_with_unparseable_releases_compares_as_text() {
        // Not version-like on the event's side: text sorts before digits.
        let s = resolved_in("1.2.0");
        assert_eq!(
            transition(&s, &events(&[Some("nightly"), Some("")]), 5, NOW),
            None
        );
        // Not version-like on the issue's side: a version is newer than text,
        // other text compares as text (commit hashes give no useful order).
        let s = resolved_in("deadbeef");
        assert_eq!(transition(&s, &events(&[Some("cafebabe")]), 5, NOW), None);
        assert_eq!(
            transition(&s, &events(&[Some("cafebabe"), Some("f00d")]), 5, NOW),
            Some((1, Transition::Regression))
        );
        assert_eq!(
            transition(&s, &events(&[Some("1.0")]), 5, NOW),
            Some((0, Transition::Regression))
        );
    }

    #[test]
    fn muted_until_a_time_unmutes_at_or_after_it() {
        let t = transition(&muted(Some(NOW), None), &plain(2), 5, NOW);
        assert_eq!(t, Some((0, Transition::Unmute)));
        let t = transition(&muted(Some(NOW - 1), None), &plain(1), 5, NOW);
        assert_eq!(t, Some((0, Transition::Unmute)));
        let t = transition(&muted(Some(NOW + 1), None), &plain(2), 5, NOW);
        assert_eq!(t, None);
    }

    #[test]
    fn muted_until_a_count_unmutes_on_the_event_reaching_it() {
        // Count 5 before; target 8: the third event brings it to 8.
        let s = muted(None, Some(8));
        assert_eq!(transition(&s, &plain(2), 5, NOW), None);
        assert_eq!(
            transition(&s, &plain(3), 5, NOW),
            Some((2, Transition::Unmute))
        );
        assert_eq!(
            transition(&s, &plain(10), 5, NOW),
            Some((2, Transition::Unmute))
        );
        // One short of the target after the batch: still muted.
        assert_eq!(transition(&s, &plain(2), 5, NOW), None);
        assert_eq!(
            transition(&muted(None, Some(7)), &plain(2), 5, NOW),
            Some((1, Transition::Unmute))
        );
        // A target already passed (e.g. lowered): the first event.
        assert_eq!(
            transition(&muted(None, Some(3)), &plain(1), 5, NOW),
            Some((0, Transition::Unmute))
        );
    }

    #[test]
    fn muted_with_both_bounds_unmutes_by_whichever_comes_first() {
        // The time has not come, the count has.
        let s = muted(Some(NOW + 1000), Some(7));
        assert_eq!(
            transition(&s, &plain(3), 5, NOW),
            Some((1, Transition::Unmute))
        );
        // The time has come: the first event, whatever the count.
        let s = muted(Some(NOW), Some(100));
        assert_eq!(
            transition(&s, &plain(3), 5, NOW),
            Some((0, Transition::Unmute))
        );
    }

    #[test]
    fn muted_without_bounds_stays_muted() {
        assert_eq!(transition(&muted(None, None), &plain(50), 5, NOW), None);
    }

    #[test]
    fn unresolved_and_unknown_statuses_stay() {
        assert_eq!(
            transition(&stored(IssueStatus::Unresolved), &plain(3), 5, NOW),
            None
        );
        let unknown = StoredStatus {
            resolved_in_release: Some("1.0".into()),
            muted_until: Some(NOW - 1),
            unmute_at_count: Some(1),
            ..stored(IssueStatus::Unknown("archived".into()))
        };
        assert_eq!(transition(&unknown, &plain(3), 5, NOW), None);
    }

    #[test]
    fn transitions_raise_their_alerts() {
        assert_eq!(Transition::New.alert(), AlertKind::NewIssue);
        assert_eq!(Transition::Regression.alert(), AlertKind::Regression);
        assert_eq!(Transition::Unmute.alert(), AlertKind::Unmute);
        assert!(Transition::New.keeps_event());
        assert!(Transition::Regression.keeps_event());
        assert!(!Transition::Unmute.keeps_event());
    }

    #[test]
    fn new_issues_are_stored_unresolved() {
        // The upsert's literal initial status is the typed one.
        let literal = format!("'{}'", IssueStatus::Unresolved.as_str());
        assert!(UPSERT_ROW.contains(&literal), "{UPSERT_ROW}");
    }
}

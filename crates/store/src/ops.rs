//! The store logic, written once over [`Exec`] and run on either backend.
//!
//! Every timestamp column is a BIGINT of Unix milliseconds (UTC).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::error::{Result, StoreError};
use crate::model::{
    ActivityKind, Alert, AlertKind, AlertSubject, AlertWithDeliveries, ClaimedDelivery, Delivery,
    DeliveryState, Destination, EventSummary, Issue, IssueAction, IssueFilter, IssueSort,
    IssueStatus, Page, Project, ProjectKey, ProjectSettings, ProjectUpdate, StatusFilter,
    UsageDelta,
};
use crate::sql::{Exec, Q};
use crate::{AlertId, DeliveryId, DestinationId, IssueId, ProjectId};

/// Unix milliseconds of a time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time of Unix milliseconds (the epoch for values out of range).
pub(crate) fn dt(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn clamp_limit(limit: usize) -> i64 {
    to_i64(limit.clamp(1, 1000) as u64)
}

/// `?, ?, …` with `n` placeholders.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

// ---------------------------------------------------------------- projects

#[derive(QueryableByName)]
struct ProjectRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    stored_events: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    quota_per_minute: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    quota_per_hour: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    quota_per_day: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_events: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_age_days: Option<i64>,
    #[diesel(sql_type = Text)]
    grouping_strategy: String,
    #[diesel(sql_type = Nullable<Text>)]
    grouping_transition_from: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    grouping_transition_until: Option<i64>,
    #[diesel(sql_type = Text)]
    fingerprint_rules: String,
    #[diesel(sql_type = Text)]
    stacktrace_rules: String,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    public_key: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    revoked_at: Option<i64>,
}

#[derive(QueryableByName)]
pub(crate) struct IdRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
}

const PROJECT_COLS: &str = "SELECT id, name, created_at, stored_events, quota_per_minute, quota_per_hour, quota_per_day, max_events, max_age_days, grouping_strategy, grouping_transition_from, grouping_transition_until, fingerprint_rules, stacktrace_rules FROM projects";

fn project_from(row: ProjectRow, keys: Vec<ProjectKey>) -> Project {
    Project {
        id: ProjectId(row.id),
        name: row.name,
        created_at: dt(row.created_at),
        keys,
        settings: ProjectSettings {
            quota_per_minute: row.quota_per_minute.map(to_u64),
            quota_per_hour: row.quota_per_hour.map(to_u64),
            quota_per_day: row.quota_per_day.map(to_u64),
            max_events: row.max_events.map(to_u64),
            max_age_days: row
                .max_age_days
                .map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)),
            grouping_strategy: row.grouping_strategy,
            grouping_transition_from: row.grouping_transition_from,
            grouping_transition_until: row.grouping_transition_until.map(dt),
            fingerprint_rules: row.fingerprint_rules,
            stacktrace_rules: row.stacktrace_rules,
        },
        stored_events: to_u64(row.stored_events),
    }
}

fn with_keys<C: Exec>(c: &mut C, rows: Vec<ProjectRow>) -> Result<Vec<Project>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let keys: Vec<KeyRow> = c.rows(
            Q::new("SELECT project_id, public_key, created_at, revoked_at FROM project_keys WHERE project_id = ? ORDER BY id")
                .bind(row.id),
        )?;
        let keys = keys
            .into_iter()
            .filter(|k| k.project_id == row.id)
            .map(|k| ProjectKey {
                public_key: k.public_key,
                created_at: dt(k.created_at),
                revoked_at: k.revoked_at.map(dt),
            })
            .collect();
        out.push(project_from(row, keys));
    }
    Ok(out)
}

pub(crate) fn get_project<C: Exec>(c: &mut C, id: ProjectId) -> Result<Option<Project>> {
    let rows: Vec<ProjectRow> = c.rows(
        Q::dynamic(format!("{PROJECT_COLS} WHERE id = ?"))
            .cached()
            .bind(id),
    )?;
    Ok(with_keys(c, rows)?.into_iter().next())
}

pub(crate) fn list_projects<C: Exec>(c: &mut C) -> Result<Vec<Project>> {
    let rows: Vec<ProjectRow> =
        c.rows(Q::dynamic(format!("{PROJECT_COLS} ORDER BY id")).cached())?;
    with_keys(c, rows)
}

/// The project of an active key (a revoked key finds nothing).
pub(crate) fn project_by_key<C: Exec>(c: &mut C, key: &str) -> Result<Option<Project>> {
    let id: Option<IdRow> = c.row(
        Q::new(
            "SELECT project_id AS id FROM project_keys WHERE public_key = ? AND revoked_at IS NULL",
        )
        .bind(key),
    )?;
    match id {
        Some(r) => get_project(c, ProjectId(r.id)),
        None => Ok(None),
    }
}

pub(crate) fn create_project<C: Exec>(
    c: &mut C,
    name: &str,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<Project> {
    let settings = ProjectSettings::default();
    let row: Option<IdRow> = c.row(
        Q::new("INSERT INTO projects (name, created_at, stored_events, grouping_strategy) VALUES (?, ?, 0, ?) RETURNING id")
            .bind(name)
            .bind(ms(now))
            .bind(settings.grouping_strategy.as_str()),
    )?;
    let id = ProjectId(
        row.ok_or_else(|| StoreError::Database(diesel::result::Error::NotFound))?
            .id,
    );
    insert_key(c, id, public_key, now)?;
    bump_key_version(c)?;
    get_project(c, id)?.ok_or_else(|| StoreError::NotFound(format!("project {id}")))
}

/// Raises the key version (in the caller's transaction): every change that can
/// alter what a public key resolves to calls this.
fn bump_key_version<C: Exec>(c: &mut C) -> Result<()> {
    c.exec(Q::new(
        "UPDATE key_version SET version = version + 1 WHERE id = 1",
    ))?;
    Ok(())
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = BigInt)]
    version: i64,
}

pub(crate) fn keys_version<C: Exec>(c: &mut C) -> Result<i64> {
    let row: Option<VersionRow> = c.row(Q::new("SELECT version FROM key_version WHERE id = 1"))?;
    Ok(row.map_or(0, |r| r.version))
}

fn insert_key<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    c.exec(
        Q::new("INSERT INTO project_keys (project_id, public_key, created_at) VALUES (?, ?, ?)")
            .bind(project_id)
            .bind(public_key)
            .bind(ms(now)),
    )
    .map_err(|e| match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("the public key {public_key} is already in use"))
        }
        other => other,
    })?;
    Ok(())
}

pub(crate) fn add_project_key<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Project>> {
    if get_project(c, project_id)?.is_none() {
        return Ok(None);
    }
    insert_key(c, project_id, public_key, now)?;
    bump_key_version(c)?;
    get_project(c, project_id)
}

#[derive(QueryableByName)]
struct RevokedRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    revoked_at: Option<i64>,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Revokes a key of a project (see [`ProjectStore::revoke_project_key`]):
/// `false` if the project has no such key; a key already revoked stays as it
/// was; the project's last active key is a conflict.
///
/// [`ProjectStore::revoke_project_key`]: crate::ProjectStore::revoke_project_key
pub(crate) fn revoke_project_key<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    // Two revocations of two keys of one project must not both see the other
    // key active: they queue on the project row (PostgreSQL; SQLite writers
    // already hold the database's write lock from BEGIN IMMEDIATE).
    if c.is_postgres() {
        let locked: Option<IdRow> =
            c.row(Q::new("SELECT id FROM projects WHERE id = ? FOR UPDATE").bind(project_id))?;
        if locked.is_none() {
            return Ok(false);
        }
    }
    let key: Option<RevokedRow> = c.row(
        Q::new("SELECT revoked_at FROM project_keys WHERE project_id = ? AND public_key = ?")
            .bind(project_id)
            .bind(public_key),
    )?;
    match key {
        None => return Ok(false),
        Some(RevokedRow {
            revoked_at: Some(_),
        }) => return Ok(true),
        Some(RevokedRow { revoked_at: None }) => {}
    }
    let active: Option<CountRow> = c.row(
        Q::new(
            "SELECT COUNT(*) AS n FROM project_keys WHERE project_id = ? AND revoked_at IS NULL",
        )
        .bind(project_id),
    )?;
    if active.map_or(0, |r| r.n) <= 1 {
        return Err(StoreError::Conflict(format!(
            "the key {public_key} is the last active key of project {project_id}: add another key before revoking it"
        )));
    }
    c.exec(
        Q::new("UPDATE project_keys SET revoked_at = ? WHERE project_id = ? AND public_key = ? AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(project_id)
            .bind(public_key),
    )?;
    bump_key_version(c)?;
    Ok(true)
}

pub(crate) fn update_project<C: Exec>(
    c: &mut C,
    id: ProjectId,
    update: &ProjectUpdate,
) -> Result<Option<Project>> {
    if let Some(name) = &update.name {
        c.exec(
            Q::new("UPDATE projects SET name = ? WHERE id = ?")
                .bind(name)
                .bind(id),
        )?;
    }
    if let Some(s) = &update.settings {
        c.exec(
            Q::new("UPDATE projects SET quota_per_minute = ?, quota_per_hour = ?, quota_per_day = ?, max_events = ?, max_age_days = ?, grouping_strategy = ?, grouping_transition_from = ?, grouping_transition_until = ?, fingerprint_rules = ?, stacktrace_rules = ? WHERE id = ?")
                .bind(s.quota_per_minute.map(to_i64))
                .bind(s.quota_per_hour.map(to_i64))
                .bind(s.quota_per_day.map(to_i64))
                .bind(s.max_events.map(to_i64))
                .bind(s.max_age_days.map(i64::from))
                .bind(s.grouping_strategy.as_str())
                .bind(s.grouping_transition_from.as_deref())
                .bind(s.grouping_transition_until.map(ms))
                .bind(s.fingerprint_rules.as_str())
                .bind(s.stacktrace_rules.as_str())
                .bind(id),
        )?;
        bump_key_version(c)?;
    }
    get_project(c, id)
}

pub(crate) fn delete_project<C: Exec>(c: &mut C, id: ProjectId) -> Result<bool> {
    let deleted = c.exec(Q::new("DELETE FROM projects WHERE id = ?").bind(id))? > 0;
    if deleted {
        bump_key_version(c)?;
    }
    Ok(deleted)
}

// ---------------------------------------------------------------- issues

#[derive(QueryableByName)]
pub(crate) struct IssueRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    culprit: Option<String>,
    #[diesel(sql_type = Text)]
    level: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    event_count: i64,
    #[diesel(sql_type = BigInt)]
    first_seen: i64,
    #[diesel(sql_type = BigInt)]
    last_seen: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    status_changed_at: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    resolved_in_release: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    muted_until: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    unmute_at_count: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    grouping_explanation: Option<String>,
    #[diesel(sql_type = BigInt)]
    user_count: i64,
    #[diesel(sql_type = Nullable<Text>)]
    first_release: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_release: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    merged_into: Option<i64>,
}

pub(crate) const ISSUE_COLS: &str = "i.id, i.project_id, i.grouping_key, i.title, i.culprit, i.level, i.status, i.event_count, i.first_seen, i.last_seen, i.created_at, i.status_changed_at, i.resolved_in_release, i.muted_until, i.unmute_at_count, i.grouping_explanation, i.user_count, i.first_release, i.last_release, i.merged_into";

impl From<IssueRow> for Issue {
    fn from(r: IssueRow) -> Self {
        Issue {
            id: IssueId(r.id),
            project_id: ProjectId(r.project_id),
            grouping_key: r.grouping_key,
            title: r.title,
            culprit: r.culprit,
            level: r.level,
            status: IssueStatus::parse(&r.status),
            count: to_u64(r.event_count),
            first_seen: dt(r.first_seen),
            last_seen: dt(r.last_seen),
            created_at: dt(r.created_at),
            status_changed_at: r.status_changed_at.map(dt),
            resolved_in_release: r.resolved_in_release,
            muted_until: r.muted_until.map(dt),
            unmute_at_count: r.unmute_at_count.map(to_u64),
            grouping_explanation: r.grouping_explanation,
            user_count: to_u64(r.user_count),
            first_release: r.first_release,
            last_release: r.last_release,
            merged_into: r.merged_into.map(IssueId),
        }
    }
}

pub(crate) fn get_issue<C: Exec>(c: &mut C, id: IssueId) -> Result<Option<Issue>> {
    let row: Option<IssueRow> = c.row(
        Q::dynamic(format!("SELECT {ISSUE_COLS} FROM issues i WHERE i.id = ?"))
            .cached()
            .bind(id),
    )?;
    Ok(row.map(Issue::from))
}

/// Encodes a `(sort key, id)` position as an opaque cursor (the sort key is a
/// time in milliseconds or a count; the prefix names what it is).
pub(crate) fn encode_cursor(prefix: char, t: i64, id: i64) -> String {
    format!("{prefix}{t}_{id}")
}

fn decode_cursor(prefix: char, s: &str) -> Result<(i64, i64)> {
    let bad = || StoreError::InvalidCursor(s.to_owned());
    let rest = s.strip_prefix(prefix).ok_or_else(bad)?;
    let (a, b) = rest.split_once('_').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// Splits a search query into words, keeping `"quoted parts"` together.
fn split_query(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in q.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One word of a search query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// `key:value` (`env` means `environment`): an exact match.
    Tag(String, String),
    /// Any other word: a case-insensitive substring match (a `LIKE` pattern).
    Word(String),
}

/// The terms of a search query (see [`IssueFilter::query`]).
fn search_terms(q: &str) -> Vec<Term> {
    split_query(q)
        .into_iter()
        .map(|word| match word.split_once(':') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                let key = match k {
                    "env" => "environment",
                    other => other,
                };
                Term::Tag(key.to_owned(), v.to_owned())
            }
            _ => Term::Word(like_pattern(&word)),
        })
        .collect()
}

fn like_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() + 2);
    p.push('%');
    for ch in word.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The column an issue listing is ordered by, and the prefix of its cursors.
fn sort_key(sort: IssueSort) -> (&'static str, char) {
    let column = match sort {
        IssueSort::LastSeen => "last_seen",
        IssueSort::FirstSeen => "first_seen",
        IssueSort::EventCount => "event_count",
    };
    (column, sort.cursor_prefix())
}

/// The SQL of one page of [`list_issues`] and its bound values (the limit is
/// the last one: `limit + 1`, to know whether a next page exists). Every sort
/// and status has an index that gives the order (`issues_list`,
/// `issues_status_list` and the `issues_*_first_seen` / `issues_*_count` ones),
/// so a page reads about `limit` index entries and never sorts.
pub(crate) fn issue_list_query(
    project_id: ProjectId,
    filter: &IssueFilter,
) -> Result<(String, Vec<crate::sql::Val<'static>>)> {
    let limit = clamp_limit(filter.limit);
    let (column, prefix) = sort_key(filter.sort);
    // Tombstones (merged issues) are never listed.
    let mut sql = format!(
        "SELECT {ISSUE_COLS} FROM issues i WHERE i.project_id = ? AND i.merged_into IS NULL"
    );
    let mut binds: Vec<crate::sql::Val<'static>> = vec![project_id.into()];
    let status = match filter.status {
        StatusFilter::Unresolved => Some("unresolved"),
        StatusFilter::Resolved => Some("resolved"),
        StatusFilter::Muted => Some("muted"),
        StatusFilter::All => None,
    };
    if let Some(s) = status {
        sql.push_str(" AND i.status = ?");
        binds.push(s.into());
    }
    for term in search_terms(&filter.query) {
        match term {
            Term::Tag(key, value) => {
                sql.push_str(" AND EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = i.id AND t.tag_key = ? AND t.tag_value = ?)");
                binds.push(key.into());
                binds.push(value.into());
            }
            Term::Word(p) => {
                sql.push_str(" AND (LOWER(i.title) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(i.culprit, '')) LIKE ? ESCAPE '\\')");
                binds.push(p.clone().into());
                binds.push(p.into());
            }
        }
    }
    if let Some(cur) = &filter.cursor {
        let (key, id) = decode_cursor(prefix, cur)?;
        sql.push_str(&format!(
            " AND (i.{column} < ? OR (i.{column} = ? AND i.id < ?))"
        ));
        binds.push(key.into());
        binds.push(key.into());
        binds.push(id.into());
    }
    sql.push_str(&format!(" ORDER BY i.{column} DESC, i.id DESC LIMIT ?"));
    binds.push((limit + 1).into());
    Ok((sql, binds))
}

pub(crate) fn list_issues<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    filter: &IssueFilter,
) -> Result<Page<Issue>> {
    let limit = clamp_limit(filter.limit);
    let (sql, binds) = issue_list_query(project_id, filter)?;
    let mut q = Q::dynamic(sql);
    for b in binds {
        q.push(b);
    }
    let rows: Vec<IssueRow> = c.rows(q)?;
    let mut items: Vec<Issue> = rows.into_iter().map(Issue::from).collect();
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let (_, prefix) = sort_key(filter.sort);
        items.last().map(|i| {
            let key = match filter.sort {
                IssueSort::LastSeen => ms(i.last_seen),
                IssueSort::FirstSeen => ms(i.first_seen),
                IssueSort::EventCount => to_i64(i.count),
            };
            encode_cursor(prefix, key, i.id.get())
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(crate) fn update_issue<C: Exec>(
    c: &mut C,
    id: IssueId,
    action: &IssueAction,
    actor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Issue>> {
    const SET: &str = "UPDATE issues SET status = ?, status_changed_at = ?, resolved_in_release = ?, muted_until = ?, unmute_at_count = ";
    let (kind, detail) = activity_of(action);
    let now = ms(now);
    let (status, release, until, volume): (&str, Option<&str>, Option<i64>, Option<i64>) =
        match action {
            IssueAction::Resolve => ("resolved", None, None, None),
            IssueAction::ResolveInRelease(r) => ("resolved", Some(r.as_str()), None, None),
            IssueAction::Mute => ("muted", None, None, None),
            IssueAction::MuteUntil(t) => ("muted", None, Some(ms(*t)), None),
            IssueAction::MuteForEvents(n) => ("muted", None, None, Some(to_i64(*n).min(1 << 53))),
            IssueAction::Reopen => ("unresolved", None, None, None),
        };
    let q = match volume {
        Some(n) => Q::dynamic(format!("{SET}event_count + ? WHERE id = ?"))
            .cached()
            .bind(status)
            .bind(now)
            .bind(release)
            .bind(until)
            .bind(n)
            .bind(id),
        None => Q::dynamic(format!("{SET}NULL WHERE id = ?"))
            .cached()
            .bind(status)
            .bind(now)
            .bind(release)
            .bind(until)
            .bind(id),
    };
    if c.exec(q)? == 0 {
        return Ok(None);
    }
    insert_activity(c, id, &kind, actor, detail.as_deref(), now)?;
    get_issue(c, id)
}

/// The activity entry a manual change writes: its kind and detail.
fn activity_of(action: &IssueAction) -> (ActivityKind, Option<String>) {
    match action {
        IssueAction::Resolve => (ActivityKind::Resolved, None),
        IssueAction::ResolveInRelease(r) => (ActivityKind::ResolvedInRelease, Some(r.clone())),
        IssueAction::Mute => (ActivityKind::Muted, None),
        IssueAction::MuteUntil(t) => (
            ActivityKind::Muted,
            Some(format!(
                "until {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        ),
        IssueAction::MuteForEvents(n) => (ActivityKind::Muted, Some(format!("{n} more events"))),
        IssueAction::Reopen => (ActivityKind::Unresolved, None),
    }
}

/// Writes one activity entry (in the caller's transaction).
pub(crate) fn insert_activity<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    kind: &ActivityKind,
    actor: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> Result<()> {
    c.exec(
        Q::new("INSERT INTO activity (issue_id, kind, actor, detail, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(issue_id)
            .bind(kind.as_str())
            .bind(actor)
            .bind(detail)
            .bind(now),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- events

#[derive(QueryableByName)]
pub(crate) struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = BigInt)]
    occurred_at: i64,
    #[diesel(sql_type = BigInt)]
    received_at: i64,
    #[diesel(sql_type = Text)]
    level: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    culprit: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    release_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    environment: Option<String>,
    #[diesel(sql_type = Text)]
    tags: String,
    #[diesel(sql_type = BigInt)]
    payload_size: i64,
}

#[derive(QueryableByName)]
struct PayloadRow {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    payload: Vec<u8>,
}

const EVENT_COLS: &str = "id, project_id, issue_id, event_id, occurred_at, received_at, level, title, culprit, release_name, environment, tags, payload_size";

impl From<EventRow> for EventSummary {
    fn from(r: EventRow) -> Self {
        EventSummary {
            event_id: r.event_id,
            project_id: ProjectId(r.project_id),
            issue_id: IssueId(r.issue_id),
            timestamp: dt(r.occurred_at),
            received_at: dt(r.received_at),
            level: r.level,
            title: r.title,
            culprit: r.culprit,
            release: r.release_name,
            environment: r.environment,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            payload_size: to_u64(r.payload_size),
        }
    }
}

pub(crate) fn list_events<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    cursor: Option<&str>,
    limit: usize,
    query: Option<&str>,
) -> Result<Page<EventSummary>> {
    let limit = clamp_limit(limit);
    let terms = query.map(search_terms).unwrap_or_default();
    let mut sql = format!("SELECT {EVENT_COLS} FROM events WHERE issue_id = ?");
    let mut binds: Vec<crate::sql::Val<'_>> = vec![issue_id.into()];
    for term in terms {
        match term {
            Term::Tag(key, value) => {
                let column = match key.as_str() {
                    "level" => Some("level"),
                    "release" => Some("release_name"),
                    "environment" => Some("environment"),
                    _ => None,
                };
                match column {
                    Some(col) => {
                        sql.push_str(&format!(" AND {col} = ?"));
                        binds.push(value.into());
                    }
                    None => {
                        // The stored tags are the JSON of the pairs, `[["k","v"],…]`;
                        // inside a JSON string `"` is escaped, so `["k","v"]` can
                        // only be one whole pair.
                        sql.push_str(if c.is_postgres() {
                            " AND strpos(tags, ?) > 0"
                        } else {
                            " AND instr(tags, ?) > 0"
                        });
                        binds.push(tag_pair_json(&key, &value).into());
                    }
                }
            }
            Term::Word(p) => {
                sql.push_str(" AND (LOWER(title) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(culprit, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(release_name, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(environment, '')) LIKE ? ESCAPE '\\')");
                for _ in 0..4 {
                    binds.push(p.clone().into());
                }
            }
        }
    }
    let searched = binds.len() > 1;
    if let Some(cur) = cursor {
        let (t, id) = decode_cursor('e', cur)?;
        sql.push_str(" AND (occurred_at < ? OR (occurred_at = ? AND id < ?))");
        binds.push(t.into());
        binds.push(t.into());
        binds.push(id.into());
    }
    sql.push_str(" ORDER BY occurred_at DESC, id DESC LIMIT ?");
    binds.push((limit + 1).into());
    let mut q = Q::dynamic(sql);
    if !searched {
        // Without a search the text takes two forms: keep them prepared.
        q = q.cached();
    }
    for b in binds {
        q.push(b);
    }
    let mut rows: Vec<EventRow> = c.rows(q)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|r| encode_cursor('e', r.occurred_at, r.id))
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(EventSummary::from).collect(),
        next_cursor,
    })
}

/// A tag pair as it appears in an event's stored tags JSON.
fn tag_pair_json(key: &str, value: &str) -> String {
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!("[{},{}]", json(key), json(value))
}

/// Returns the summary, the compressed payload.
pub(crate) fn get_event<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    event_id: &str,
) -> Result<Option<(EventSummary, Vec<u8>)>> {
    let row: Option<EventRow> = c.row(
        Q::dynamic(format!(
            "SELECT {EVENT_COLS} FROM events WHERE project_id = ? AND event_id = ?"
        ))
        .cached()
        .bind(project_id)
        .bind(event_id),
    )?;
    let Some(row) = row else { return Ok(None) };
    let payload: Option<PayloadRow> =
        c.row(Q::new("SELECT payload FROM events WHERE id = ?").bind(row.id))?;
    Ok(payload.map(|p| (EventSummary::from(row), p.payload)))
}

// ---------------------------------------------------------------- destinations and alerts

#[derive(QueryableByName)]
struct DestinationRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    config: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

impl From<DestinationRow> for Destination {
    fn from(r: DestinationRow) -> Self {
        Destination {
            id: DestinationId(r.id),
            project_id: ProjectId(r.project_id),
            kind: r.kind,
            config: serde_json::from_str(&r.config).unwrap_or(serde_json::Value::Null),
            created_at: dt(r.created_at),
        }
    }
}

pub(crate) fn create_destination<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    kind: &str,
    config: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Destination> {
    let row: Option<DestinationRow> = c.row(
        Q::new("INSERT INTO destinations (project_id, kind, config, created_at) VALUES (?, ?, ?, ?) RETURNING id, project_id, kind, config, created_at")
            .bind(project_id)
            .bind(kind)
            .bind(config.to_string())
            .bind(ms(now)),
    )?;
    row.map(Destination::from)
        .ok_or_else(|| StoreError::NotFound(format!("project {project_id}")))
}

pub(crate) fn list_destinations<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
) -> Result<Vec<Destination>> {
    let rows: Vec<DestinationRow> = c.rows(
        Q::new("SELECT id, project_id, kind, config, created_at FROM destinations WHERE project_id = ? ORDER BY id")
            .bind(project_id),
    )?;
    Ok(rows.into_iter().map(Destination::from).collect())
}

pub(crate) fn update_destination<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    id: DestinationId,
    config: &serde_json::Value,
) -> Result<Option<Destination>> {
    let row: Option<DestinationRow> = c.row(
        Q::new("UPDATE destinations SET config = ? WHERE id = ? AND project_id = ? RETURNING id, project_id, kind, config, created_at")
            .bind(config.to_string())
            .bind(id)
            .bind(project_id),
    )?;
    Ok(row.map(Destination::from))
}

pub(crate) fn delete_destination<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    id: DestinationId,
) -> Result<bool> {
    Ok(c.exec(
        Q::new("DELETE FROM destinations WHERE id = ? AND project_id = ?")
            .bind(id)
            .bind(project_id),
    )? > 0)
}

#[derive(QueryableByName)]
struct AlertRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Text)]
    title: String,
}

#[derive(QueryableByName)]
struct DeliveryRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    alert_id: i64,
    #[diesel(sql_type = BigInt)]
    destination_id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    attempts: i64,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_attempt_at: Option<i64>,
    #[diesel(sql_type = BigInt)]
    next_attempt_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    delivered_at: Option<i64>,
}

impl From<&DeliveryRow> for Delivery {
    fn from(d: &DeliveryRow) -> Self {
        let state = DeliveryState::parse(&d.state);
        Delivery {
            id: DeliveryId(d.id),
            alert_id: AlertId(d.alert_id),
            destination_id: DestinationId(d.destination_id),
            destination_kind: d.kind.clone(),
            next_attempt_at: (state == DeliveryState::Pending).then(|| dt(d.next_attempt_at)),
            state,
            attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at.map(dt),
            delivered_at: d.delivered_at.map(dt),
        }
    }
}

const DELIVERY_COLS: &str = "d.id, d.alert_id, d.destination_id, t.kind, d.state, d.attempts, d.last_error, d.last_attempt_at, d.next_attempt_at, d.delivered_at";

pub(crate) fn list_alerts<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    limit: usize,
    state: Option<&DeliveryState>,
) -> Result<Vec<AlertWithDeliveries>> {
    let alerts: Vec<AlertRow> = match state {
        None => c.rows(
            Q::new("SELECT a.id, a.project_id, a.issue_id, a.kind, a.created_at, i.title FROM alerts a JOIN issues i ON i.id = a.issue_id WHERE a.project_id = ? ORDER BY a.id DESC LIMIT ?")
                .bind(project_id)
                .bind(clamp_limit(limit)),
        )?,
        Some(state) => c.rows(
            Q::new("SELECT a.id, a.project_id, a.issue_id, a.kind, a.created_at, i.title FROM alerts a JOIN issues i ON i.id = a.issue_id WHERE a.project_id = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.state = ?) ORDER BY a.id DESC LIMIT ?")
                .bind(project_id)
                .bind(state.as_str())
                .bind(clamp_limit(limit)),
        )?,
    };
    with_deliveries(c, alerts)
}

/// An issue's alerts with their deliveries, newest first.
pub(crate) fn issue_alerts<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    limit: usize,
) -> Result<Vec<AlertWithDeliveries>> {
    let alerts: Vec<AlertRow> = c.rows(
        Q::new("SELECT a.id, a.project_id, a.issue_id, a.kind, a.created_at, i.title FROM alerts a JOIN issues i ON i.id = a.issue_id WHERE a.issue_id = ? ORDER BY a.id DESC LIMIT ?")
            .bind(issue_id)
            .bind(clamp_limit(limit)),
    )?;
    with_deliveries(c, alerts)
}

/// Alert rows with their deliveries (one query for all of them).
fn with_deliveries<C: Exec>(c: &mut C, alerts: Vec<AlertRow>) -> Result<Vec<AlertWithDeliveries>> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Q::dynamic(format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d JOIN destinations t ON t.id = d.destination_id WHERE d.alert_id IN ({}) ORDER BY d.id",
        placeholders(alerts.len())
    ));
    for a in &alerts {
        q.push(a.id);
    }
    let deliveries: Vec<DeliveryRow> = c.rows(q)?;
    Ok(alerts
        .into_iter()
        .map(|a| AlertWithDeliveries {
            deliveries: deliveries
                .iter()
                .filter(|d| d.alert_id == a.id)
                .map(Delivery::from)
                .collect(),
            issue_title: a.title,
            alert: Alert {
                id: AlertId(a.id),
                project_id: ProjectId(a.project_id),
                subject: AlertSubject::Issue(IssueId(a.issue_id)),
                kind: AlertKind::parse(&a.kind),
                created_at: dt(a.created_at),
            },
        })
        .collect())
}

#[derive(QueryableByName)]
struct FanoutRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    attempts: i64,
}

#[derive(QueryableByName)]
struct ClaimDataRow {
    #[diesel(sql_type = BigInt)]
    delivery_id: i64,
    #[diesel(sql_type = BigInt)]
    alert_id: i64,
    #[diesel(sql_type = Text)]
    alert_kind: String,
    #[diesel(sql_type = BigInt)]
    alert_created_at: i64,
    #[diesel(sql_type = Text)]
    project_name: String,
    #[diesel(sql_type = BigInt)]
    destination_id: i64,
    #[diesel(sql_type = Text)]
    destination_kind: String,
    #[diesel(sql_type = Text)]
    destination_config: String,
    #[diesel(sql_type = BigInt)]
    destination_created_at: i64,
}

pub(crate) fn claim_deliveries<C: Exec>(
    c: &mut C,
    now: DateTime<Utc>,
    limit: usize,
    lease_until: DateTime<Utc>,
) -> Result<Vec<ClaimedDelivery>> {
    let now = ms(now);
    // 1. Fan new alerts out to the destinations their project has now. The unique
    //    (alert, destination) key makes this idempotent across replicas.
    let fresh: Vec<FanoutRow> = c.rows(Q::new(
        "SELECT id, project_id FROM alerts WHERE fanned_out = FALSE ORDER BY id LIMIT 500",
    ))?;
    for a in &fresh {
        c.exec(
            Q::new("INSERT INTO deliveries (alert_id, destination_id, state, attempts, next_attempt_at, created_at) SELECT ?, d.id, 'pending', 0, ?, ? FROM destinations d WHERE d.project_id = ? ON CONFLICT (alert_id, destination_id) DO NOTHING")
                .bind(a.id)
                .bind(now)
                .bind(now)
                .bind(a.project_id),
        )?;
        c.exec(Q::new("UPDATE alerts SET fanned_out = TRUE WHERE id = ?").bind(a.id))?;
    }
    // 2. Lease due deliveries. The outer WHERE repeats the conditions so that a
    //    concurrent claimer (PostgreSQL re-checks them after waiting for the row
    //    lock) skips rows another replica just leased.
    let claimed: Vec<ClaimRow> = c.rows(
        Q::new("UPDATE deliveries SET lease_until = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?) AND state = 'pending' AND (lease_until IS NULL OR lease_until <= ?) RETURNING id, attempts")
            .bind(ms(lease_until))
            .bind(now)
            .bind(now)
            .bind(clamp_limit(limit))
            .bind(now),
    )?;
    let mut out = Vec::with_capacity(claimed.len());
    for cl in claimed {
        let data: Option<ClaimDataRow> = c.row(
            Q::new("SELECT d.id AS delivery_id, a.id AS alert_id, a.kind AS alert_kind, a.created_at AS alert_created_at, p.name AS project_name, t.id AS destination_id, t.kind AS destination_kind, t.config AS destination_config, t.created_at AS destination_created_at FROM deliveries d JOIN alerts a ON a.id = d.alert_id JOIN projects p ON p.id = a.project_id JOIN destinations t ON t.id = d.destination_id WHERE d.id = ?")
                .bind(cl.id),
        )?;
        let Some(data) = data else { continue };
        let issue: Option<IssueRow> = c.row(
            Q::dynamic(format!(
                "SELECT {ISSUE_COLS} FROM issues i JOIN alerts a ON a.issue_id = i.id WHERE a.id = ?"
            ))
            .cached()
            .bind(data.alert_id),
        )?;
        let Some(issue) = issue else { continue };
        let issue = Issue::from(issue);
        out.push(ClaimedDelivery {
            delivery_id: DeliveryId(data.delivery_id),
            attempt: u32::try_from(cl.attempts).unwrap_or(u32::MAX),
            alert: Alert {
                id: AlertId(data.alert_id),
                project_id: issue.project_id,
                subject: AlertSubject::Issue(issue.id),
                kind: AlertKind::parse(&data.alert_kind),
                created_at: dt(data.alert_created_at),
            },
            project_name: data.project_name,
            destination: Destination {
                id: DestinationId(data.destination_id),
                project_id: issue.project_id,
                kind: data.destination_kind,
                config: serde_json::from_str(&data.destination_config)
                    .unwrap_or(serde_json::Value::Null),
                created_at: dt(data.destination_created_at),
            },
            issue,
        });
    }
    Ok(out)
}

/// One delivery of a project's alert.
pub(crate) fn get_delivery<C: Exec>(
    c: &mut C,
    project_id: ProjectId,
    id: DeliveryId,
) -> Result<Option<Delivery>> {
    let row: Option<DeliveryRow> = c.row(
        Q::dynamic(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN destinations t ON t.id = d.destination_id JOIN alerts a ON a.id = d.alert_id WHERE d.id = ? AND a.project_id = ?"
        ))
        .cached()
        .bind(id)
        .bind(project_id),
    )?;
    Ok(row.as_ref().map(Delivery::from))
}

#[derive(QueryableByName)]
struct RetryRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    lease_until: Option<i64>,
}

/// Makes a failed or pending delivery of a project's alert due at `now`
/// (see [`AlertStore::retry_delivery`](crate::AlertStore::retry_delivery)).
pub(crate) fn retry_delivery<C: Exec>(
    c: &mut C,
    id: DeliveryId,
    project_id: ProjectId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let now = ms(now);
    let row: Option<RetryRow> = c.row(
        Q::new("SELECT d.state, d.lease_until FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.id = ? AND a.project_id = ?")
            .bind(id)
            .bind(project_id),
    )?;
    let Some(row) = row else { return Ok(false) };
    let leased = row.lease_until.is_some_and(|t| t > now);
    match DeliveryState::parse(&row.state) {
        DeliveryState::Failed => {}
        DeliveryState::Pending if !leased => {}
        DeliveryState::Pending => {
            return Err(StoreError::Conflict(format!(
                "delivery {id} is being attempted now; retry it once that attempt is recorded"
            )));
        }
        other => {
            return Err(StoreError::Conflict(format!(
                "delivery {id} is {}: only failed or pending deliveries are retried",
                other.as_str()
            )));
        }
    }
    // The same conditions again, so that a notifier that leased the delivery
    // meanwhile (PostgreSQL) keeps it.
    let n = c.exec(
        Q::new("UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL WHERE id = ? AND (state = 'failed' OR (state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)))")
            .bind(now)
            .bind(id)
            .bind(now),
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "delivery {id} is being attempted now; retry it once that attempt is recorded"
        )));
    }
    Ok(true)
}

pub(crate) fn complete_delivery<C: Exec>(
    c: &mut C,
    id: DeliveryId,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = c.exec(
        Q::new("UPDATE deliveries SET state = 'delivered', delivered_at = ?, last_attempt_at = ?, lease_until = NULL WHERE id = ?")
            .bind(ms(now))
            .bind(ms(now))
            .bind(id),
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("delivery {id}")));
    }
    Ok(())
}

pub(crate) fn fail_delivery<C: Exec>(
    c: &mut C,
    id: DeliveryId,
    now: DateTime<Utc>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let error: String = error.chars().take(2000).collect();
    let n = match retry_at {
        Some(t) => c.exec(
            Q::new("UPDATE deliveries SET last_error = ?, last_attempt_at = ?, next_attempt_at = ?, lease_until = NULL WHERE id = ? AND state = 'pending'")
                .bind(error)
                .bind(ms(now))
                .bind(ms(t))
                .bind(id),
        )?,
        None => c.exec(
            Q::new("UPDATE deliveries SET state = 'failed', last_error = ?, last_attempt_at = ?, lease_until = NULL WHERE id = ? AND state = 'pending'")
                .bind(error)
                .bind(ms(now))
                .bind(id),
        )?,
    };
    if n == 0 {
        return Err(StoreError::NotFound(format!("pending delivery {id}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- usage

#[derive(QueryableByName)]
struct UsageRow {
    #[diesel(sql_type = Text)]
    usage_key: String,
    #[diesel(sql_type = BigInt)]
    bucket_start: i64,
    #[diesel(sql_type = BigInt)]
    usage_count: i64,
}

/// Adds (`add = true`) or sets each counter.
pub(crate) fn write_usage<C: Exec>(c: &mut C, deltas: &[UsageDelta], add: bool) -> Result<()> {
    // Merge and sort so concurrent writers lock rows in the same order.
    let mut merged: std::collections::BTreeMap<(&str, i64), i64> = Default::default();
    for d in deltas {
        let slot = merged.entry((d.key.as_str(), d.bucket_start)).or_default();
        if add {
            *slot += d.count;
        } else {
            *slot = d.count;
        }
    }
    let sql = if add {
        "INSERT INTO usage_counters (usage_key, bucket_start, usage_count) VALUES (?, ?, ?) ON CONFLICT (usage_key, bucket_start) DO UPDATE SET usage_count = usage_counters.usage_count + excluded.usage_count"
    } else {
        "INSERT INTO usage_counters (usage_key, bucket_start, usage_count) VALUES (?, ?, ?) ON CONFLICT (usage_key, bucket_start) DO UPDATE SET usage_count = excluded.usage_count"
    };
    for ((key, bucket), count) in merged {
        c.exec(Q::new(sql).bind(key).bind(bucket).bind(count))?;
    }
    Ok(())
}

pub(crate) fn load_usage<C: Exec>(c: &mut C, since: i64) -> Result<Vec<UsageDelta>> {
    let rows: Vec<UsageRow> = c.rows(
        Q::new("SELECT usage_key, bucket_start, usage_count FROM usage_counters WHERE bucket_start >= ? ORDER BY usage_key, bucket_start")
            .bind(since),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| UsageDelta {
            key: r.usage_key,
            bucket_start: r.bucket_start,
            count: r.usage_count,
        })
        .collect())
}

pub(crate) fn prune_usage<C: Exec>(c: &mut C, before: i64) -> Result<u64> {
    Ok(c.exec(Q::new("DELETE FROM usage_counters WHERE bucket_start < ?").bind(before))? as u64)
}

// ---------------------------------------------------------------- retention

#[derive(QueryableByName)]
pub(crate) struct RetentionRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) max_events: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) max_age_days: Option<i64>,
}

pub(crate) fn retention_projects<C: Exec>(c: &mut C) -> Result<Vec<RetentionRow>> {
    c.rows(Q::new(
        "SELECT id, max_events, max_age_days FROM projects WHERE max_events IS NOT NULL OR max_age_days IS NOT NULL ORDER BY id",
    ))
}

/// The count cap's rule: deletes up to `n` of the project's events whose id is
/// below `below_id` (the ingest batch passes its lowest inserted id, so that no
/// event of the batch is deleted; maintenance passes `i64::MAX`): the oldest
/// ordinary events first (index `events_evict`), then, once none is left, the
/// oldest kept ones (first events of issues and regressions; index
/// `events_kept`), so that the cap holds even when kept events alone exceed
/// it. Lowers the project's counter. Issues are never deleted here: an issue
/// without events still turns its next event into a regression.
pub(crate) fn evict_capped<C: Exec>(
    c: &mut C,
    project_id: i64,
    n: i64,
    below_id: i64,
) -> Result<u64> {
    if n <= 0 {
        return Ok(0);
    }
    let mut deleted = c.exec(
        Q::new("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ? AND keep = FALSE AND id < ? ORDER BY id LIMIT ?)")
            .bind(project_id)
            .bind(below_id)
            .bind(n),
    )?;
    if (deleted as i64) < n {
        deleted += c.exec(
            Q::new("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ? AND keep = TRUE AND id < ? ORDER BY id LIMIT ?)")
                .bind(project_id)
                .bind(below_id)
                .bind(n - deleted as i64),
        )?;
    }
    lower_counter(c, project_id, deleted)?;
    Ok(deleted as u64)
}

/// A project over its count cap, if any (the lowest id).
pub(crate) fn project_over_cap<C: Exec>(c: &mut C) -> Result<Option<IdRow>> {
    c.row(Q::new(
        "SELECT id FROM projects WHERE max_events IS NOT NULL AND stored_events > max_events ORDER BY id LIMIT 1",
    ))
}

/// One count-cap step for a project: re-reads its counter in the transaction
/// and deletes at most `n` events (any of them: nothing is being inserted by
/// this transaction). If the counter says "over" but no event is left, the
/// counter had drifted: it is set to 0.
pub(crate) fn cap_step<C: Exec>(c: &mut C, project_id: i64, n: i64) -> Result<u64> {
    let row: Option<CounterRow> = c.row(
        Q::new("SELECT stored_events, max_events FROM projects WHERE id = ?").bind(project_id),
    )?;
    match row {
        Some(CounterRow {
            stored_events,
            max_events: Some(cap),
        }) if stored_events > cap => {
            let deleted = evict_capped(c, project_id, (stored_events - cap).min(n), i64::MAX)?;
            if deleted == 0 {
                c.exec(
                    Q::new("UPDATE projects SET stored_events = 0 WHERE id = ?").bind(project_id),
                )?;
            }
            Ok(deleted)
        }
        _ => Ok(0),
    }
}

#[derive(QueryableByName)]
pub(crate) struct IdleIssueRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) project_id: i64,
}

/// The issue idle the longest, if it received no event since `cutoff`.
pub(crate) fn idle_issue<C: Exec>(c: &mut C, cutoff: i64) -> Result<Option<IdleIssueRow>> {
    c.row(
        Q::new("SELECT id, project_id FROM issues WHERE last_received_at < ? ORDER BY last_received_at, id LIMIT 1")
            .bind(cutoff),
    )
}

/// One step of ageing out an idle issue: deletes up to `n` of its events, and
/// once it has none left, the issue itself with its tag index rows, alerts and
/// deliveries (by cascade). Every statement re-checks that the issue is still
/// idle, so an issue that received an event meanwhile is left alone. Returns
/// (events deleted, issues deleted).
pub(crate) fn idle_issue_step<C: Exec>(
    c: &mut C,
    issue: &IdleIssueRow,
    cutoff: i64,
    n: i64,
) -> Result<(u64, u64)> {
    if c.is_postgres() {
        // Keys before issues, as ingest and merges lock them (see
        // `crate::grouping`): the issue's deletion cascades to its keys.
        let _: Vec<IdRow> = c.rows(
            Q::new("SELECT issue_id AS id FROM grouping_keys WHERE issue_id = ? ORDER BY project_id, grouping_key FOR UPDATE")
                .bind(issue.id),
        )?;
    }
    let deleted = c.exec(
        Q::new("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE issue_id = ? LIMIT ?) AND EXISTS (SELECT 1 FROM issues WHERE id = ? AND last_received_at < ?)")
            .bind(issue.id)
            .bind(n)
            .bind(issue.id)
            .bind(cutoff),
    )?;
    lower_counter(c, issue.project_id, deleted)?;
    if (deleted as i64) == n {
        return Ok((deleted as u64, 0));
    }
    let issues = c.exec(
        Q::new("DELETE FROM issues WHERE id = ? AND last_received_at < ?")
            .bind(issue.id)
            .bind(cutoff),
    )?;
    Ok((deleted as u64, issues as u64))
}

/// Deletes up to `n` alerts (and their deliveries, by cascade) created before
/// `finished_before` whose deliveries are all finished (delivered or given
/// up; fanned out), or created before `stale_before` whatever their state.
pub(crate) fn prune_alerts<C: Exec>(
    c: &mut C,
    finished_before: i64,
    stale_before: i64,
    n: i64,
) -> Result<u64> {
    Ok(c.exec(
        Q::new("DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a WHERE a.created_at < ? AND (a.created_at < ? OR (a.fanned_out = TRUE AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.state = 'pending'))) ORDER BY a.created_at, a.id LIMIT ?)")
            .bind(finished_before)
            .bind(stale_before)
            .bind(n),
    )? as u64)
}

/// Deletes up to `n` of the project's events received before `cutoff`.
pub(crate) fn evict_older<C: Exec>(c: &mut C, project_id: i64, cutoff: i64, n: i64) -> Result<u64> {
    let deleted = c.exec(
        Q::new("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ? AND received_at < ? LIMIT ?)")
            .bind(project_id)
            .bind(cutoff)
            .bind(n),
    )?;
    lower_counter(c, project_id, deleted)?;
    Ok(deleted as u64)
}

fn lower_counter<C: Exec>(c: &mut C, project_id: i64, deleted: usize) -> Result<()> {
    if deleted > 0 {
        c.exec(
            Q::new("UPDATE projects SET stored_events = CASE WHEN stored_events > ? THEN stored_events - ? ELSE 0 END WHERE id = ?")
                .bind(deleted as i64)
                .bind(deleted as i64)
                .bind(project_id),
        )?;
    }
    Ok(())
}

#[derive(QueryableByName)]
pub(crate) struct CounterRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) stored_events: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) max_events: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = encode_cursor('i', 1_700_000_000_000, 42);
        assert_eq!(decode_cursor('i', &c).unwrap(), (1_700_000_000_000, 42));
        assert!(decode_cursor('e', &c).is_err());
        assert!(decode_cursor('i', "i12").is_err());
        assert!(decode_cursor('i', "ix_1").is_err());
        // Each sort has its own prefix: a cursor of another sort is refused.
        let f = encode_cursor('f', 7, 3);
        assert_eq!(decode_cursor('f', &f).unwrap(), (7, 3));
        assert!(decode_cursor('c', &f).is_err());
        assert!(decode_cursor('i', &f).is_err());
        // And a cursor says which sort it belongs to.
        for sort in [
            IssueSort::LastSeen,
            IssueSort::FirstSeen,
            IssueSort::EventCount,
        ] {
            let (_, prefix) = sort_key(sort);
            let c = encode_cursor(prefix, -5, 9);
            assert_eq!(IssueSort::of_cursor(&c), Some(sort));
        }
        for junk in ["", "x1_2", "i1", "i_2", "ia_2", "f1_b", "i1_2_3"] {
            assert_eq!(IssueSort::of_cursor(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn query_words() {
        assert_eq!(
            split_query(r#"  boom release:"1.0 beta" level:error "#),
            vec!["boom", "release:1.0 beta", "level:error"]
        );
        assert_eq!(like_pattern("50%_A"), "%50\\%\\_a%");
    }
}

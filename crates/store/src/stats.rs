//! What the issue pages show besides the issues themselves: the activity log,
//! an event's position among its issue's events, hourly counts and tag
//! distributions. Reads only; the counters are kept by the ingest batch
//! ([`crate::ingest`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::error::Result;
use crate::model::{Activity, ActivityKind, CountBucket, EventPosition, TagDistribution};
use crate::ops::{IdRow, clamp_limit, dt, ms, placeholders, to_u64};
use crate::sql::{Exec, Q};
use crate::{IssueId, ProjectId};

/// One hour in Unix milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The start of the hour containing `t` (Unix milliseconds).
pub(crate) fn hour_of(t: i64) -> i64 {
    t - t.rem_euclid(HOUR_MS)
}

/// Ids per `IN (…)` list of the per-issue counts.
const IDS_PER_QUERY: usize = 500;

// ---------------------------------------------------------------- activity

#[derive(QueryableByName)]
struct ActivityRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

pub(crate) fn list_activity<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    limit: usize,
) -> Result<Vec<Activity>> {
    let rows: Vec<ActivityRow> = c.rows(
        Q::new("SELECT id, issue_id, kind, actor, detail, created_at FROM activity WHERE issue_id = ? ORDER BY id DESC LIMIT ?")
            .bind(issue_id)
            .bind(clamp_limit(limit)),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| Activity {
            id: r.id,
            issue_id: IssueId(r.issue_id),
            kind: ActivityKind::parse(&r.kind),
            actor: r.actor,
            detail: r.detail,
            created_at: dt(r.created_at),
        })
        .collect())
}

// ---------------------------------------------------------------- event position

#[derive(QueryableByName)]
struct PositionRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    occurred_at: i64,
}

#[derive(QueryableByName)]
struct EventIdRow {
    #[diesel(sql_type = Text)]
    event_id: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The order of [`crate::IssueStore::list_events`], oldest first: by event
/// timestamp, then row id. Each query is an index range on
/// `events_issue (issue_id, occurred_at, id)`.
pub(crate) fn event_position<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    event_id: &str,
) -> Result<Option<EventPosition>> {
    // Found through (project_id, event_id), the unique index.
    let at: Option<PositionRow> = c.row(
        Q::new("SELECT e.id, e.occurred_at FROM events e JOIN issues i ON e.project_id = i.project_id WHERE i.id = ? AND e.event_id = ? AND e.issue_id = i.id")
            .bind(issue_id)
            .bind(event_id),
    )?;
    let Some(at) = at else { return Ok(None) };
    let (t, id) = (at.occurred_at, at.id);
    let count = |c: &mut C, q: Q<'_>| -> Result<u64> {
        let row: Option<CountRow> = c.row(q)?;
        Ok(row.map_or(0, |r| to_u64(r.n)))
    };
    let older = count(
        c,
        Q::new("SELECT COUNT(*) AS n FROM events WHERE issue_id = ? AND (occurred_at < ? OR (occurred_at = ? AND id < ?))")
            .bind(issue_id)
            .bind(t)
            .bind(t)
            .bind(id),
    )?;
    let newer = count(
        c,
        Q::new("SELECT COUNT(*) AS n FROM events WHERE issue_id = ? AND (occurred_at > ? OR (occurred_at = ? AND id > ?))")
            .bind(issue_id)
            .bind(t)
            .bind(t)
            .bind(id),
    )?;
    let one = |c: &mut C, q: Q<'_>| -> Result<Option<String>> {
        let row: Option<EventIdRow> = c.row(q)?;
        Ok(row.map(|r| r.event_id))
    };
    let previous = one(
        c,
        Q::new("SELECT event_id FROM events WHERE issue_id = ? AND (occurred_at < ? OR (occurred_at = ? AND id < ?)) ORDER BY occurred_at DESC, id DESC LIMIT 1")
            .bind(issue_id)
            .bind(t)
            .bind(t)
            .bind(id),
    )?;
    let next = one(
        c,
        Q::new("SELECT event_id FROM events WHERE issue_id = ? AND (occurred_at > ? OR (occurred_at = ? AND id > ?)) ORDER BY occurred_at, id LIMIT 1")
            .bind(issue_id)
            .bind(t)
            .bind(t)
            .bind(id),
    )?;
    let first = if older > 1 {
        one(
            c,
            Q::new(
                "SELECT event_id FROM events WHERE issue_id = ? ORDER BY occurred_at, id LIMIT 1",
            )
            .bind(issue_id),
        )?
    } else {
        // Itself (None) or the previous one.
        previous.clone()
    };
    let latest = if newer > 1 {
        one(
            c,
            Q::new("SELECT event_id FROM events WHERE issue_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 1")
                .bind(issue_id),
        )?
    } else {
        next.clone()
    };
    Ok(Some(EventPosition {
        index: older + 1,
        total: older + newer + 1,
        first,
        previous,
        next,
        latest,
    }))
}

// ---------------------------------------------------------------- hourly counts

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = BigInt)]
    owner: i64,
    #[diesel(sql_type = BigInt)]
    bucket_start: i64,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn bucket(r: &BucketRow) -> CountBucket {
    CountBucket {
        start: dt(r.bucket_start),
        count: to_u64(r.count),
    }
}

/// Groups rows (sorted by owner, then bucket) into one entry per owner of
/// `owners`, in that order.
fn per_owner<T: From<i64>>(owners: &[i64], rows: &[BucketRow]) -> Vec<(T, Vec<CountBucket>)> {
    let mut by_owner: BTreeMap<i64, Vec<CountBucket>> = BTreeMap::new();
    for r in rows {
        by_owner.entry(r.owner).or_default().push(bucket(r));
    }
    owners
        .iter()
        .map(|&o| (T::from(o), by_owner.remove(&o).unwrap_or_default()))
        .collect()
}

pub(crate) fn issue_counts<C: Exec>(
    c: &mut C,
    issue_ids: &[IssueId],
    since: DateTime<Utc>,
) -> Result<Vec<(IssueId, Vec<CountBucket>)>> {
    let mut seen = std::collections::HashSet::with_capacity(issue_ids.len());
    let ids: Vec<i64> = issue_ids
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .map(IssueId::get)
        .collect();
    let since = hour_of(ms(since));
    let mut rows: Vec<BucketRow> = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = Q::dynamic(format!(
            "SELECT issue_id AS owner, bucket_start, count FROM issue_counts WHERE bucket_start >= ? AND issue_id IN ({}) ORDER BY issue_id, bucket_start",
            placeholders(chunk.len())
        ));
        q.push(since);
        for &id in chunk {
            q.push(id);
        }
        rows.extend(c.rows::<BucketRow>(q)?);
    }
    Ok(per_owner(&ids, &rows))
}

pub(crate) fn project_counts<C: Exec>(
    c: &mut C,
    since: DateTime<Utc>,
) -> Result<Vec<(ProjectId, Vec<CountBucket>)>> {
    let projects: Vec<IdRow> = c.rows(Q::new("SELECT id FROM projects ORDER BY id"))?;
    let rows: Vec<BucketRow> = c.rows(
        Q::new("SELECT project_id AS owner, bucket_start, count FROM project_counts WHERE bucket_start >= ? ORDER BY project_id, bucket_start")
            .bind(hour_of(ms(since))),
    )?;
    let ids: Vec<i64> = projects.into_iter().map(|p| p.id).collect();
    Ok(per_owner(&ids, &rows))
}

#[derive(QueryableByName)]
struct ProjectCountRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub(crate) fn unresolved_counts<C: Exec>(c: &mut C) -> Result<Vec<(ProjectId, u64)>> {
    // One index range (issues_status_list) per project.
    let rows: Vec<ProjectCountRow> = c.rows(Q::new(
        "SELECT p.id, (SELECT COUNT(*) FROM issues i WHERE i.project_id = p.id AND i.status = 'unresolved' AND i.merged_into IS NULL) AS n FROM projects p ORDER BY p.id",
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| (ProjectId(r.id), to_u64(r.n)))
        .collect())
}

/// Deletes up to `n` hourly buckets (issue ones first, then project ones)
/// that started before `before`; returns how many.
pub(crate) fn prune_counts<C: Exec>(c: &mut C, before: i64, n: i64) -> Result<u64> {
    let issues = c.exec(
        Q::new("DELETE FROM issue_counts WHERE (issue_id, bucket_start) IN (SELECT issue_id, bucket_start FROM issue_counts WHERE bucket_start < ? LIMIT ?)")
            .bind(before)
            .bind(n),
    )?;
    let left = n - i64::try_from(issues).unwrap_or(n);
    let projects = if left > 0 {
        c.exec(
            Q::new("DELETE FROM project_counts WHERE (project_id, bucket_start) IN (SELECT project_id, bucket_start FROM project_counts WHERE bucket_start < ? LIMIT ?)")
                .bind(before)
                .bind(left),
        )?
    } else {
        0
    };
    Ok((issues + projects) as u64)
}

/// Whether any hourly bucket started before `before` (a read, so that a
/// retention step with nothing to do takes no write lock).
pub(crate) fn any_old_counts<C: Exec>(c: &mut C, before: i64) -> Result<bool> {
    let a: Option<IdRow> = c.row(
        Q::new("SELECT issue_id AS id FROM issue_counts WHERE bucket_start < ? LIMIT 1")
            .bind(before),
    )?;
    if a.is_some() {
        return Ok(true);
    }
    let b: Option<IdRow> = c.row(
        Q::new("SELECT project_id AS id FROM project_counts WHERE bucket_start < ? LIMIT 1")
            .bind(before),
    )?;
    Ok(b.is_some())
}

// ---------------------------------------------------------------- tag distribution

#[derive(QueryableByName)]
struct KeyTotalRow {
    #[diesel(sql_type = Text)]
    tag_key: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[derive(QueryableByName)]
struct ValueCountRow {
    #[diesel(sql_type = Text)]
    tag_key: String,
    #[diesel(sql_type = Text)]
    tag_value: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Two reads of at most the issue's tag index (bounded by
/// `max_tag_values_per_issue` rows).
pub(crate) fn tag_distribution<C: Exec>(
    c: &mut C,
    issue_id: IssueId,
    top: usize,
) -> Result<Vec<TagDistribution>> {
    let keys: Vec<KeyTotalRow> = c.rows(
        Q::new("SELECT tag_key, total FROM issue_tag_keys WHERE issue_id = ? ORDER BY total DESC, tag_key")
            .bind(issue_id),
    )?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<ValueCountRow> = c.rows(
        Q::new("SELECT tag_key, tag_value, count FROM issue_tags WHERE issue_id = ? AND count > 0 ORDER BY tag_key, count DESC, tag_value")
            .bind(issue_id),
    )?;
    let mut by_key: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for v in values {
        let list = by_key.entry(v.tag_key).or_default();
        if list.len() < top {
            list.push((v.tag_value, to_u64(v.count)));
        }
    }
    Ok(keys
        .into_iter()
        .map(|k| {
            let values = by_key.remove(&k.tag_key).unwrap_or_default();
            let total = to_u64(k.total);
            let shown: u64 = values.iter().map(|(_, n)| *n).sum();
            TagDistribution {
                key: k.tag_key,
                total,
                other: total.saturating_sub(shown),
                values,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_down_also_before_the_epoch() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(HOUR_MS), HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
        assert_eq!(hour_of(1_700_000_123_456), 1_699_999_200_000);
    }
}

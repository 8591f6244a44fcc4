//! Issues with several grouping keys: merge and unmerge.
//!
//! An issue owns one or more grouping keys (table `grouping_keys`, key →
//! issue, each with the configuration that computed it and the counters of
//! the events that *joined* the issue by it: the first of their keys that was
//! stored). So an issue's `event_count` is the sum of its keys' counts, its
//! first and last seen the min and max of theirs, and every stored event
//! records the key it joined by (`events.grouping_key`) and its user's hash
//! (`events.user_hash`).
//!
//! - **Merge** moves the source issues' keys, events, alerts and activity to
//!   the target and adds their counters to it (counts and hourly counts
//!   summed, first/last seen min/max, tag value and key counts summed under
//!   the target's tag row cap, users united: exact rows, or HyperLogLog
//!   sketches merged register by register, see [`crate::distinct`]). The
//!   sources stay as **tombstones**: `merged_into` names the target (and the
//!   tombstones that pointed at a source now point at the target, so a
//!   redirect is one hop), their own key becomes `merged:<id>` (freeing it),
//!   and they are left out of every list, count and search.
//! - **Unmerge** moves chosen keys, and the stored events that joined by them,
//!   to a new issue. Its `event_count`, first and last seen are exactly the
//!   moved keys' counters (and the source keeps its remaining keys'). Hourly
//!   counts, tag counts, distinct users and releases are recounted from the
//!   stored events that move (added to the new issue, taken from the source):
//!   exact as long as no event of the moved keys was evicted by retention
//!   and no hourly bucket was pruned; the source's distinct users are
//!   recounted only while it counts them exactly (a HyperLogLog sketch cannot
//!   forget users: a source on a sketch keeps its estimate).
//!
//! # Locks (PostgreSQL)
//!
//! Every writer takes row locks in one order: the project (`FOR KEY SHARE`),
//! then grouping keys (sorted by project and key), then issues, then the rest.
//! Ingest locks the keys it finds `FOR KEY SHARE` (see [`crate::ingest`]); a
//! merge or unmerge locks every key of the issues it changes `FOR UPDATE`
//! (sorted), so it waits for the batches that resolved one of those keys and
//! they wait for it, and only then locks the issues (`FOR UPDATE`, by id). A
//! batch that resolved a key it could not lock (stored after its lookup)
//! and finds it moved fails [`StoreError::Raced`] and is retried. On SQLite
//! writers are serialized (`BEGIN IMMEDIATE`).

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};

use crate::distinct::{EXACT_LIMIT, Sketch, bits_of_hex, sketch_count};
use crate::error::{GroupingError, Result, StoreError};
use crate::ingest::cut;
use crate::model::{ActivityKind, IssueKey, MergeOutcome};
use crate::ops::{IdRow, dt, get_issue, insert_activity, placeholders, to_i64, to_u64};
use crate::release::compare_releases;
use crate::sql::{Exec, MultiRow, Q, multi_row, split_rows};
use crate::stats::hour_of;
use crate::{IssueId, ProjectId};

/// Longest chain of tombstones [`crate::GroupingStore::resolve_issue`]
/// follows (merges re-point older tombstones, so one hop is the rule).
pub(crate) const MAX_REDIRECTS: usize = 8;

/// What a merge or unmerge reads of an issue (locked).
#[derive(QueryableByName)]
struct IssueState {
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
    #[diesel(sql_type = BigInt)]
    event_count: i64,
    #[diesel(sql_type = BigInt)]
    first_seen: i64,
    #[diesel(sql_type = BigInt)]
    last_seen: i64,
    #[diesel(sql_type = BigInt)]
    last_received_at: i64,
    #[diesel(sql_type = BigInt)]
    tag_count: i64,
    #[diesel(sql_type = BigInt)]
    user_count: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    user_sketch: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    first_release: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_release: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    merged_into: Option<i64>,
}

const STATE_COLS: &str = "id, project_id, grouping_key, title, culprit, level, event_count, first_seen, last_seen, last_received_at, tag_count, user_count, user_sketch, first_release, last_release, merged_into";

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = Text)]
    config: String,
    #[diesel(sql_type = BigInt)]
    event_count: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    first_seen: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_seen: Option<i64>,
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Text)]
    user_hash: String,
}

#[derive(QueryableByName)]
struct HashRow {
    #[diesel(sql_type = Text)]
    user_hash: String,
}

#[derive(QueryableByName)]
struct TagSumRow {
    #[diesel(sql_type = Text)]
    tag_key: String,
    #[diesel(sql_type = Text)]
    tag_value: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MovedEventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
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
    #[diesel(sql_type = Nullable<Text>)]
    user_hash: Option<String>,
}

#[derive(QueryableByName)]
struct ReleaseRow {
    #[diesel(sql_type = Nullable<Text>)]
    release_name: Option<String>,
}

multi_row!(
    TagRowInsert,
    "INSERT INTO issue_tags (issue_id, tag_key, tag_value, count) VALUES ",
    "(?, ?, ?, ?)",
    ", ",
    " ON CONFLICT (issue_id, tag_key, tag_value) DO NOTHING"
);
multi_row!(
    UserRowInsert,
    "INSERT INTO issue_users (issue_id, user_hash) VALUES ",
    "(?, ?)",
    ", ",
    " ON CONFLICT (issue_id, user_hash) DO NOTHING"
);

/// A list of ids as a query's `IN (…)`: the text and the values.
fn id_list(ids: &[i64]) -> String {
    placeholders(ids.len())
}

/// The project row, share-locked on PostgreSQL (as ingest does), so a
/// concurrent deletion of the project waits or is seen.
pub(crate) fn lock_project<C: Exec>(c: &mut C, project: ProjectId) -> Result<()> {
    let sql = if c.is_postgres() {
        "SELECT id FROM projects WHERE id = ? FOR KEY SHARE"
    } else {
        "SELECT id FROM projects WHERE id = ?"
    };
    let row: Option<IdRow> = c.row(Q::new(sql).bind(project))?;
    match row {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("project {project}"))),
    }
}

/// Every grouping key of the issues `FOR UPDATE` (PostgreSQL; sorted as
/// ingest sorts its key locks).
fn lock_keys<C: Exec>(c: &mut C, issues: &[i64]) -> Result<()> {
    if !c.is_postgres() || issues.is_empty() {
        return Ok(());
    }
    let mut q = Q::dynamic(format!(
        "SELECT issue_id AS id FROM grouping_keys WHERE issue_id IN ({}) ORDER BY project_id, grouping_key FOR UPDATE",
        id_list(issues)
    ));
    for &id in issues {
        q.push(id);
    }
    let _: Vec<IdRow> = c.rows(q)?;
    Ok(())
}

/// The issues (sorted by id), locked `FOR UPDATE` on PostgreSQL, checked:
/// each exists, belongs to `project` and is no tombstone.
fn lock_issues<C: Exec>(
    c: &mut C,
    project: ProjectId,
    issues: &[i64],
) -> Result<BTreeMap<i64, IssueState>> {
    let lock = if c.is_postgres() { " FOR UPDATE" } else { "" };
    let mut q = Q::dynamic(format!(
        "SELECT {STATE_COLS} FROM issues WHERE id IN ({}) ORDER BY id{lock}",
        id_list(issues)
    ));
    for &id in issues {
        q.push(id);
    }
    let rows: Vec<IssueState> = c.rows(q)?;
    let rows: BTreeMap<i64, IssueState> = rows.into_iter().map(|r| (r.id, r)).collect();
    for &id in issues {
        let Some(r) = rows.get(&id) else {
            return Err(GroupingError::UnknownIssue(IssueId(id)).into());
        };
        if r.project_id != project.get() {
            return Err(GroupingError::OtherProject {
                issue: IssueId(id),
                actual: ProjectId(r.project_id),
                expected: project,
            }
            .into());
        }
        if let Some(into) = r.merged_into {
            return Err(GroupingError::Tombstone {
                issue: IssueId(id),
                into: IssueId(into),
            }
            .into());
        }
    }
    Ok(rows)
}

/// Runs `sql` with `head` values bound, then the ids, then `tail` values.
fn exec_ids<C: Exec>(
    c: &mut C,
    sql: String,
    head: &[i64],
    ids: &[i64],
    tail: &[i64],
) -> Result<usize> {
    let mut q = Q::dynamic(sql);
    for &v in head.iter().chain(ids).chain(tail) {
        q.push(v);
    }
    c.exec(q)
}

/// The built-in tag keys, indexed before the events' own tags.
fn is_builtin(key: &str) -> bool {
    matches!(key, "level" | "release" | "environment")
}

/// Merges `sources` into `target` (see the module docs and
/// [`crate::GroupingStore::merge_issues`]).
pub(crate) fn merge_issues<C: Exec>(
    c: &mut C,
    project: ProjectId,
    target: IssueId,
    sources: &[IssueId],
    actor: Option<&str>,
    now: i64,
    max_tags: i64,
) -> Result<MergeOutcome> {
    let sources: Vec<i64> = sources
        .iter()
        .map(|s| s.get())
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    if sources.is_empty() {
        return Err(GroupingError::NoSources.into());
    }
    if sources.contains(&target.get()) {
        return Err(GroupingError::SelfMerge(target).into());
    }
    let t = target.get();
    let mut all: Vec<i64> = sources.clone();
    all.push(t);
    all.sort_unstable();

    lock_project(c, project)?;
    lock_keys(c, &all)?;
    let states = lock_issues(c, project, &all)?;
    let list = id_list(&sources);

    let moved_keys = exec_ids(
        c,
        format!("UPDATE grouping_keys SET issue_id = ? WHERE issue_id IN ({list})"),
        &[t],
        &sources,
        &[],
    )?;
    let moved_events = exec_ids(
        c,
        format!("UPDATE events SET issue_id = ? WHERE issue_id IN ({list})"),
        &[t],
        &sources,
        &[],
    )?;
    merge_hours(c, t, &sources)?;
    merge_tags(c, t, &sources, &states, max_tags)?;
    merge_users(c, t, &sources, &states)?;

    // The counters: sums, min and max over the target and its sources.
    let parts: Vec<&IssueState> = all.iter().filter_map(|id| states.get(id)).collect();
    let event_count: i64 = parts.iter().map(|s| s.event_count).sum();
    let first_seen = parts.iter().map(|s| s.first_seen).min().unwrap_or(now);
    let last_seen = parts.iter().map(|s| s.last_seen).max().unwrap_or(now);
    let last_received = parts
        .iter()
        .map(|s| s.last_received_at)
        .max()
        .unwrap_or(now);
    let first_release = parts
        .iter()
        .filter_map(|s| s.first_release.as_deref())
        .min_by(|a, b| compare_releases(a, b));
    let last_release = parts
        .iter()
        .filter_map(|s| s.last_release.as_deref())
        .max_by(|a, b| compare_releases(a, b));
    c.exec(
        Q::new("UPDATE issues SET event_count = ?, first_seen = ?, last_seen = ?, last_received_at = ?, first_release = ?, last_release = ? WHERE id = ?")
            .bind(event_count)
            .bind(first_seen)
            .bind(last_seen)
            .bind(last_received)
            .bind(first_release)
            .bind(last_release)
            .bind(t),
    )?;

    // History follows the events: alerts and activity of the sources now show
    // on the target.
    for table in ["alerts", "activity"] {
        exec_ids(
            c,
            format!("UPDATE {table} SET issue_id = ? WHERE issue_id IN ({list})"),
            &[t],
            &sources,
            &[],
        )?;
    }
    // Tombstones: redirect (older tombstones of the sources too, so a
    // redirect stays one hop) and free the key.
    exec_ids(
        c,
        format!("UPDATE issues SET merged_into = ? WHERE merged_into IN ({list})"),
        &[t],
        &sources,
        &[],
    )?;
    for &s in &sources {
        c.exec(
            Q::new("UPDATE issues SET merged_into = ?, grouping_key = ?, tag_count = 0, user_sketch = NULL WHERE id = ?")
                .bind(t)
                .bind(format!("merged:{s}"))
                .bind(s),
        )?;
    }
    let named: Vec<String> = sources.iter().map(|s| format!("#{s}")).collect();
    insert_activity(
        c,
        target,
        &ActivityKind::Merged,
        actor,
        Some(&named.join(", ")),
        now,
    )?;
    let target = get_issue(c, target)?.ok_or(GroupingError::UnknownIssue(target))?;
    Ok(MergeOutcome {
        target,
        merged: sources.into_iter().map(IssueId).collect(),
        moved_keys: moved_keys as u64,
        moved_events: moved_events as u64,
    })
}

/// Hourly counts: the sources' buckets added to the target's.
fn merge_hours<C: Exec>(c: &mut C, t: i64, sources: &[i64]) -> Result<()> {
    let list = id_list(sources);
    exec_ids(
        c,
        format!(
            "INSERT INTO issue_counts (issue_id, bucket_start, count) SELECT ?, bucket_start, CAST(SUM(count) AS BIGINT) FROM issue_counts WHERE issue_id IN ({list}) GROUP BY bucket_start ON CONFLICT (issue_id, bucket_start) DO UPDATE SET count = issue_counts.count + excluded.count"
        ),
        &[t],
        sources,
        &[],
    )?;
    exec_ids(
        c,
        format!("DELETE FROM issue_counts WHERE issue_id IN ({list})"),
        &[],
        sources,
        &[],
    )?;
    Ok(())
}

/// Tag counts: values the target has indexed get the sources' counts added;
/// other values are indexed while the target has room (built-in keys first,
/// then the most frequent), the rest count only in their key's total (as
/// "other", like values over the cap at ingest); key totals are summed for
/// keys with an indexed value.
fn merge_tags<C: Exec>(
    c: &mut C,
    t: i64,
    sources: &[i64],
    states: &BTreeMap<i64, IssueState>,
    max_tags: i64,
) -> Result<()> {
    let list = id_list(sources);
    exec_ids(
        c,
        format!(
            "UPDATE issue_tags SET count = issue_tags.count + s.n FROM (SELECT tag_key, tag_value, CAST(SUM(count) AS BIGINT) AS n FROM issue_tags WHERE issue_id IN ({list}) GROUP BY tag_key, tag_value) AS s WHERE issue_tags.issue_id = ? AND issue_tags.tag_key = s.tag_key AND issue_tags.tag_value = s.tag_value"
        ),
        &[],
        sources,
        &[t],
    )?;
    let mut q = Q::dynamic(format!(
        "SELECT s.tag_key, s.tag_value, CAST(SUM(s.count) AS BIGINT) AS n FROM issue_tags s WHERE s.issue_id IN ({list}) AND NOT EXISTS (SELECT 1 FROM issue_tags x WHERE x.issue_id = ? AND x.tag_key = s.tag_key AND x.tag_value = s.tag_value) GROUP BY s.tag_key, s.tag_value"
    ));
    for &s in sources {
        q.push(s);
    }
    q.push(t);
    let mut fresh: Vec<TagSumRow> = c.rows(q)?;
    fresh.sort_by(|a, b| {
        (
            !is_builtin(&a.tag_key),
            std::cmp::Reverse(a.n),
            &a.tag_key,
            &a.tag_value,
        )
            .cmp(&(
                !is_builtin(&b.tag_key),
                std::cmp::Reverse(b.n),
                &b.tag_key,
                &b.tag_value,
            ))
    });
    let room = states
        .get(&t)
        .map_or(0, |s| (max_tags - s.tag_count).max(0));
    fresh.truncate(usize::try_from(room).unwrap_or(0));
    insert_tag_rows(
        c,
        fresh
            .iter()
            .map(|r| (t, r.tag_key.as_str(), r.tag_value.as_str(), r.n)),
    )?;
    c.exec(
        Q::new("UPDATE issues SET tag_count = tag_count + ? WHERE id = ?")
            .bind(to_i64(fresh.len() as u64))
            .bind(t),
    )?;
    exec_ids(
        c,
        format!(
            "INSERT INTO issue_tag_keys (issue_id, tag_key, total) SELECT ?, k.tag_key, CAST(SUM(k.total) AS BIGINT) FROM issue_tag_keys k WHERE k.issue_id IN ({list}) AND EXISTS (SELECT 1 FROM issue_tags x WHERE x.issue_id = ? AND x.tag_key = k.tag_key) GROUP BY k.tag_key ON CONFLICT (issue_id, tag_key) DO UPDATE SET total = issue_tag_keys.total + excluded.total"
        ),
        &[t],
        sources,
        &[t],
    )?;
    for table in ["issue_tags", "issue_tag_keys"] {
        exec_ids(
            c,
            format!("DELETE FROM {table} WHERE issue_id IN ({list})"),
            &[],
            sources,
            &[],
        )?;
    }
    Ok(())
}

/// Inserts tag index rows (issue, key, value, count), new ones only.
fn insert_tag_rows<'a, C: Exec>(
    c: &mut C,
    rows: impl Iterator<Item = (i64, &'a str, &'a str, i64)>,
) -> Result<()> {
    let rows: Vec<_> = rows.collect();
    for range in split_rows(rows.len()) {
        let chunk = &rows[range];
        let mut q = TagRowInsert::query(chunk.len());
        for &(id, k, v, n) in chunk {
            q.push(id);
            q.push(k);
            q.push(v);
            q.push(n);
        }
        TagRowInsert::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

/// How an issue counts its users: exactly (rows) while its count is at most
/// [`EXACT_LIMIT`], else on a sketch.
fn on_sketch(s: &IssueState) -> bool {
    to_u64(s.user_count) > EXACT_LIMIT
}

/// Distinct users: united exactly while the union stays within
/// [`EXACT_LIMIT`] and every part counts exactly; otherwise the parts'
/// sketches (an exact part's made from its rows) merged register by register.
fn merge_users<C: Exec>(
    c: &mut C,
    t: i64,
    sources: &[i64],
    states: &BTreeMap<i64, IssueState>,
) -> Result<()> {
    let mut all: Vec<i64> = sources.to_vec();
    all.push(t);
    let mut q = Q::dynamic(format!(
        "SELECT issue_id, user_hash FROM issue_users WHERE issue_id IN ({})",
        id_list(&all)
    ));
    for &id in &all {
        q.push(id);
    }
    let rows: Vec<UserRow> = c.rows(q)?;
    let any_sketch = all.iter().filter_map(|id| states.get(id)).any(on_sketch);
    let union: BTreeSet<&str> = rows.iter().map(|r| r.user_hash.as_str()).collect();
    if !any_sketch && to_i64(union.len() as u64) <= to_i64(EXACT_LIMIT) {
        let missing: Vec<&str> = rows
            .iter()
            .filter(|r| r.issue_id != t)
            .map(|r| r.user_hash.as_str())
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .collect();
        insert_user_rows(c, t, &missing)?;
        c.exec(
            Q::new("UPDATE issues SET user_count = ? WHERE id = ?")
                .bind(to_i64(union.len() as u64))
                .bind(t),
        )?;
    } else {
        let mut sketch = Sketch::of(union.iter().filter_map(|h| bits_of_hex(h)));
        let mut floor = 0i64;
        for id in &all {
            let Some(s) = states.get(id) else { continue };
            if !on_sketch(s) {
                continue;
            }
            match s.user_sketch.as_deref().and_then(Sketch::from_bytes) {
                Some(stored) => sketch.merge(&stored),
                // A lost sketch: the count never goes below what it was.
                None => floor = floor.max(s.user_count),
            }
        }
        let count = to_i64(sketch_count(&sketch)).max(floor);
        c.exec(Q::new("DELETE FROM issue_users WHERE issue_id = ?").bind(t))?;
        c.exec(
            Q::new("UPDATE issues SET user_sketch = ?, user_count = ? WHERE id = ?")
                .bind(sketch.as_bytes())
                .bind(count)
                .bind(t),
        )?;
    }
    exec_ids(
        c,
        format!(
            "DELETE FROM issue_users WHERE issue_id IN ({})",
            id_list(sources)
        ),
        &[],
        sources,
        &[],
    )?;
    Ok(())
}

fn insert_user_rows<C: Exec>(c: &mut C, issue: i64, hashes: &[&str]) -> Result<()> {
    for range in split_rows(hashes.len()) {
        let chunk = &hashes[range];
        let mut q = UserRowInsert::query(chunk.len());
        for h in chunk {
            q.push(issue);
            q.push(*h);
        }
        UserRowInsert::exec(c, chunk.len(), q)?;
    }
    Ok(())
}

/// Moves `keys` of `issue` (and the stored events that joined by them) to a
/// new issue (see the module docs and
/// [`crate::GroupingStore::unmerge_issue`]).
pub(crate) fn unmerge_issue<C: Exec>(
    c: &mut C,
    project: ProjectId,
    issue: IssueId,
    keys: &[String],
    actor: Option<&str>,
    now: i64,
    max_tags: i64,
) -> Result<IssueId> {
    let chosen: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    if chosen.is_empty() {
        return Err(GroupingError::NoKeys.into());
    }
    let s_id = issue.get();
    lock_project(c, project)?;
    lock_keys(c, &[s_id])?;
    let mut states = lock_issues(c, project, &[s_id])?;
    let Some(source) = states.remove(&s_id) else {
        return Err(GroupingError::UnknownIssue(issue).into());
    };
    let owned: Vec<KeyRow> = c.rows(
        Q::new("SELECT grouping_key, config, event_count, first_seen, last_seen FROM grouping_keys WHERE issue_id = ? ORDER BY grouping_key")
            .bind(s_id),
    )?;
    let owned_names: BTreeSet<&str> = owned.iter().map(|k| k.grouping_key.as_str()).collect();
    if let Some(k) = chosen.iter().find(|k| !owned_names.contains(**k)) {
        return Err(GroupingError::UnknownKey {
            issue,
            key: (*k).to_owned(),
        }
        .into());
    }
    let (moved, remaining): (Vec<&KeyRow>, Vec<&KeyRow>) = owned
        .iter()
        .partition(|k| chosen.contains(k.grouping_key.as_str()));
    if remaining.is_empty() {
        return Err(GroupingError::AllKeys(issue).into());
    }
    let moved_names: Vec<&str> = moved.iter().map(|k| k.grouping_key.as_str()).collect();
    let most_events = |ks: &[&KeyRow]| -> String {
        ks.iter()
            .max_by(|a, b| {
                a.event_count
                    .cmp(&b.event_count)
                    .then_with(|| b.grouping_key.cmp(&a.grouping_key))
            })
            .map(|k| k.grouping_key.clone())
            .unwrap_or_default()
    };
    // The issue keeps one of its remaining keys as its own; the new issue
    // takes the issue's own key if it moves, else its busiest moved key.
    let new_key = if chosen.contains(source.grouping_key.as_str()) {
        c.exec(
            Q::new("UPDATE issues SET grouping_key = ? WHERE id = ?")
                .bind(most_events(&remaining))
                .bind(s_id),
        )?;
        source.grouping_key.clone()
    } else {
        most_events(&moved)
    };

    // The new issue's counters: exactly its keys'.
    let count: i64 = moved.iter().map(|k| k.event_count).sum();
    let first = moved.iter().filter_map(|k| k.first_seen).min();
    let last = moved.iter().filter_map(|k| k.last_seen).max();
    let mut q = Q::dynamic(format!(
        "SELECT id, occurred_at, received_at, level, title, culprit, release_name, environment, tags, user_hash FROM events WHERE issue_id = ? AND grouping_key IN ({}) ORDER BY occurred_at, id",
        placeholders(moved_names.len())
    ));
    q.push(s_id);
    for k in &moved_names {
        q.push(*k);
    }
    let events: Vec<MovedEventRow> = c.rows(q)?;
    let newest = events.last();
    let (title, culprit, level) = match newest {
        Some(e) => (e.title.clone(), e.culprit.clone(), e.level.clone()),
        None => (
            source.title.clone(),
            source.culprit.clone(),
            source.level.clone(),
        ),
    };
    let first_seen = first
        .or_else(|| events.first().map(|e| e.occurred_at))
        .unwrap_or(now);
    let last_seen = last
        .or_else(|| events.last().map(|e| e.occurred_at))
        .unwrap_or(now);
    let last_received = events
        .iter()
        .map(|e| e.received_at)
        .max()
        .unwrap_or(source.last_received_at);
    let new_row: Option<IdRow> = c.row(
        Q::new("INSERT INTO issues (project_id, grouping_key, title, culprit, level, status, event_count, first_seen, last_seen, created_at, last_received_at, tag_count, user_count, first_release, last_release) VALUES (?, ?, ?, ?, ?, 'unresolved', ?, ?, ?, ?, ?, 0, 0, ?, ?) RETURNING id")
            .bind(project)
            .bind(new_key)
            .bind(title)
            .bind(culprit)
            .bind(level)
            .bind(count)
            .bind(first_seen)
            .bind(last_seen)
            .bind(now)
            .bind(last_received)
            .bind(events.first().and_then(|e| e.release_name.clone()))
            .bind(events.last().and_then(|e| e.release_name.clone())),
    )?;
    let u = new_row
        .ok_or_else(|| StoreError::Database(diesel::result::Error::NotFound))?
        .id;

    let mut q = Q::dynamic(format!(
        "UPDATE grouping_keys SET issue_id = ? WHERE issue_id = ? AND grouping_key IN ({})",
        placeholders(moved_names.len())
    ));
    q.push(u);
    q.push(s_id);
    for k in &moved_names {
        q.push(*k);
    }
    c.exec(q)?;
    let mut q = Q::dynamic(format!(
        "UPDATE events SET issue_id = ? WHERE issue_id = ? AND grouping_key IN ({})",
        placeholders(moved_names.len())
    ));
    q.push(u);
    q.push(s_id);
    for k in &moved_names {
        q.push(*k);
    }
    c.exec(q)?;
    // The new issue's first stored event survives the count cap, as every
    // issue's first event does.
    if let Some(e) = events.iter().min_by_key(|e| e.id) {
        c.exec(Q::new("UPDATE events SET keep = TRUE WHERE id = ?").bind(e.id))?;
    }

    // The source keeps its remaining keys' counters.
    let left: i64 = remaining.iter().map(|k| k.event_count).sum();
    let left_first = remaining.iter().filter_map(|k| k.first_seen).min();
    let left_last = remaining.iter().filter_map(|k| k.last_seen).max();
    c.exec(
        Q::new("UPDATE issues SET event_count = ?, first_seen = COALESCE(?, first_seen), last_seen = COALESCE(?, last_seen) WHERE id = ?")
            .bind(left)
            .bind(left_first)
            .bind(left_last)
            .bind(s_id),
    )?;
    split_hours(c, s_id, u, &events)?;
    split_tags(c, s_id, u, &events, max_tags)?;
    split_users(c, &source, u, &events)?;
    recount_releases(c, s_id)?;

    let keys_text = moved_names.join(", ");
    insert_activity(
        c,
        issue,
        &ActivityKind::Unmerged,
        actor,
        Some(&format!("into #{u}: {keys_text}")),
        now,
    )?;
    insert_activity(
        c,
        IssueId(u),
        &ActivityKind::Unmerged,
        actor,
        Some(&format!("from #{s_id}: {keys_text}")),
        now,
    )?;
    Ok(IssueId(u))
}

/// Hourly counts of the moved events: added to the new issue, taken from the
/// source (buckets left empty go).
fn split_hours<C: Exec>(c: &mut C, s: i64, u: i64, events: &[MovedEventRow]) -> Result<()> {
    let mut hours: BTreeMap<i64, i64> = BTreeMap::new();
    for e in events {
        *hours.entry(hour_of(e.received_at)).or_default() += 1;
    }
    for (&hour, &n) in &hours {
        c.exec(
            Q::new("INSERT INTO issue_counts (issue_id, bucket_start, count) VALUES (?, ?, ?)")
                .bind(u)
                .bind(hour)
                .bind(n),
        )?;
        c.exec(
            Q::new(
                "UPDATE issue_counts SET count = count - ? WHERE issue_id = ? AND bucket_start = ?",
            )
            .bind(n)
            .bind(s)
            .bind(hour),
        )?;
    }
    c.exec(Q::new("DELETE FROM issue_counts WHERE issue_id = ? AND count <= 0").bind(s))?;
    Ok(())
}

/// Tag counts of the moved events: the new issue's index built from them
/// (built-in keys first, then their own tags, up to the cap), the source's
/// counts and key totals lowered (values no longer carried go).
fn split_tags<C: Exec>(
    c: &mut C,
    s: i64,
    u: i64,
    events: &[MovedEventRow],
    max_tags: i64,
) -> Result<()> {
    let tags: Vec<Vec<(String, String)>> = events
        .iter()
        .map(|e| serde_json::from_str(&e.tags).unwrap_or_default())
        .collect();
    let mut pairs: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut keys: BTreeMap<&str, i64> = BTreeMap::new();
    for own in &tags {
        let mut seen_pairs = BTreeSet::new();
        let mut seen_keys = BTreeSet::new();
        for (k, v) in own {
            let (k, v) = (cut(k), cut(v));
            if seen_pairs.insert((k, v)) {
                *pairs.entry((k, v)).or_default() += 1;
            }
            if seen_keys.insert(k) {
                *keys.entry(k).or_default() += 1;
            }
        }
    }
    let room = usize::try_from(max_tags.max(0)).unwrap_or(0);
    let mut candidates: Vec<(&str, &str)> = Vec::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let builtin = events.iter().flat_map(|e| {
        [
            Some(("level", e.level.as_str())),
            e.release_name.as_deref().map(|r| ("release", r)),
            e.environment.as_deref().map(|env| ("environment", env)),
        ]
        .into_iter()
        .flatten()
    });
    let own = tags
        .iter()
        .flat_map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (k, v) in builtin.chain(own) {
        if candidates.len() >= room {
            break;
        }
        let kv = (cut(k), cut(v));
        if seen.insert(kv) {
            candidates.push(kv);
        }
    }
    insert_tag_rows(
        c,
        candidates
            .iter()
            .map(|&(k, v)| (u, k, v, pairs.get(&(k, v)).copied().unwrap_or(0))),
    )?;
    c.exec(
        Q::new("UPDATE issues SET tag_count = ? WHERE id = ?")
            .bind(to_i64(candidates.len() as u64))
            .bind(u),
    )?;
    for (&k, &n) in &keys {
        if seen.iter().any(|(ck, _)| *ck == k) {
            c.exec(
                Q::new("INSERT INTO issue_tag_keys (issue_id, tag_key, total) VALUES (?, ?, ?)")
                    .bind(u)
                    .bind(k)
                    .bind(n),
            )?;
        }
        c.exec(
            Q::new(
                "UPDATE issue_tag_keys SET total = total - ? WHERE issue_id = ? AND tag_key = ?",
            )
            .bind(n)
            .bind(s)
            .bind(k),
        )?;
    }
    for (&(k, v), &n) in &pairs {
        c.exec(
            Q::new("UPDATE issue_tags SET count = count - ? WHERE issue_id = ? AND tag_key = ? AND tag_value = ?")
                .bind(n)
                .bind(s)
                .bind(k)
                .bind(v),
        )?;
        c.exec(
            Q::new("DELETE FROM issue_tags WHERE issue_id = ? AND tag_key = ? AND tag_value = ? AND count <= 0")
                .bind(s)
                .bind(k)
                .bind(v),
        )?;
    }
    c.exec(Q::new("DELETE FROM issue_tag_keys WHERE issue_id = ? AND total <= 0").bind(s))?;
    c.exec(
        Q::new("UPDATE issues SET tag_count = (SELECT COUNT(*) FROM issue_tags t WHERE t.issue_id = issues.id) WHERE id = ?")
            .bind(s),
    )?;
    Ok(())
}

/// Distinct users of the moved events: the new issue's rows (or sketch) made
/// from them; a source that counts exactly loses the users none of its
/// remaining stored events has.
fn split_users<C: Exec>(
    c: &mut C,
    source: &IssueState,
    u: i64,
    events: &[MovedEventRow],
) -> Result<()> {
    let moved: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.user_hash.as_deref())
        .collect();
    if to_i64(moved.len() as u64) <= to_i64(EXACT_LIMIT) {
        let hashes: Vec<&str> = moved.iter().copied().collect();
        insert_user_rows(c, u, &hashes)?;
        c.exec(
            Q::new("UPDATE issues SET user_count = ? WHERE id = ?")
                .bind(to_i64(moved.len() as u64))
                .bind(u),
        )?;
    } else {
        let sketch = Sketch::of(moved.iter().filter_map(|h| bits_of_hex(h)));
        c.exec(
            Q::new("UPDATE issues SET user_sketch = ?, user_count = ? WHERE id = ?")
                .bind(sketch.as_bytes())
                .bind(to_i64(sketch_count(&sketch)))
                .bind(u),
        )?;
    }
    if on_sketch(source) || moved.is_empty() {
        return Ok(());
    }
    let kept: Vec<HashRow> = c.rows(
        Q::new(
            "SELECT DISTINCT user_hash FROM events WHERE issue_id = ? AND user_hash IS NOT NULL",
        )
        .bind(source.id),
    )?;
    let kept: BTreeSet<&str> = kept.iter().map(|r| r.user_hash.as_str()).collect();
    for h in moved.difference(&kept) {
        c.exec(
            Q::new("DELETE FROM issue_users WHERE issue_id = ? AND user_hash = ?")
                .bind(source.id)
                .bind(*h),
        )?;
    }
    c.exec(
        Q::new("UPDATE issues SET user_count = (SELECT COUNT(*) FROM issue_users x WHERE x.issue_id = issues.id) WHERE id = ?")
            .bind(source.id),
    )?;
    Ok(())
}

/// The source's first and last release from its remaining stored events (by
/// event time), when it has any left.
pub(crate) fn recount_releases<C: Exec>(c: &mut C, s: i64) -> Result<()> {
    let first: Option<ReleaseRow> = c.row(
        Q::new(
            "SELECT release_name FROM events WHERE issue_id = ? ORDER BY occurred_at, id LIMIT 1",
        )
        .bind(s),
    )?;
    let Some(first) = first else { return Ok(()) };
    let last: Option<ReleaseRow> = c.row(
        Q::new("SELECT release_name FROM events WHERE issue_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 1")
            .bind(s),
    )?;
    c.exec(
        Q::new("UPDATE issues SET first_release = ?, last_release = ? WHERE id = ?")
            .bind(first.release_name)
            .bind(last.and_then(|r| r.release_name))
            .bind(s),
    )?;
    Ok(())
}

/// An issue's grouping keys, the busiest first (then by key).
pub(crate) fn issue_keys<C: Exec>(c: &mut C, issue: IssueId) -> Result<Vec<IssueKey>> {
    let rows: Vec<KeyRow> = c.rows(
        Q::new("SELECT grouping_key, config, event_count, first_seen, last_seen FROM grouping_keys WHERE issue_id = ? ORDER BY event_count DESC, grouping_key")
            .bind(issue),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| IssueKey {
            key: r.grouping_key,
            config: r.config,
            event_count: to_u64(r.event_count),
            first_seen: r.first_seen.map(dt),
            last_seen: r.last_seen.map(dt),
        })
        .collect())
}

#[derive(QueryableByName)]
struct KeyIssueRow {
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
}

/// The issue of the first of `keys` that exists in `project` (the lookup order
/// of ingest). At most [`MAX_LOOKUP_KEYS`] keys are considered.
pub(crate) fn find_issue<C: Exec>(
    c: &mut C,
    project: ProjectId,
    keys: &[String],
) -> Result<Option<IssueId>> {
    let keys = &keys[..keys.len().min(MAX_LOOKUP_KEYS)];
    if keys.is_empty() {
        return Ok(None);
    }
    let mut q = Q::dynamic(format!(
        "SELECT grouping_key, issue_id FROM grouping_keys WHERE project_id = ? AND grouping_key IN ({})",
        placeholders(keys.len())
    ))
    .cached()
    .bind(project);
    for k in keys {
        q = q.bind(k.as_str());
    }
    let rows: Vec<KeyIssueRow> = c.rows(q)?;
    Ok(keys.iter().find_map(|k| {
        rows.iter()
            .find(|r| &r.grouping_key == k)
            .map(|r| IssueId(r.issue_id))
    }))
}

/// Most keys [`find_issue`] looks up (an event has at most four: app and
/// system under two configurations).
pub(crate) const MAX_LOOKUP_KEYS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tag_keys_are_the_indexed_columns() {
        assert!(is_builtin("level") && is_builtin("release") && is_builtin("environment"));
        assert!(!is_builtin("browser"));
    }
}

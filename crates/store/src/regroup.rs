//! Regrouping: re-running grouping over stored events (`periscope regroup`).
//!
//! The caller reads a project's stored events in row-id order
//! ([`stored_events_after`], a resumable cursor), groups each payload with the
//! project's current grouping, and hands the keys back per batch
//! ([`regroup_batch`], one transaction). The batch resolves each event's new
//! keys as ingest does and moves the event, with everything counted for it,
//! when its issue changes.
//!
//! # Rules
//!
//! - **Resolution**, event by event in the order given: the first of its keys
//!   stored in `grouping_keys` decides its issue (keys attached by earlier
//!   events of the same batch count: a batch behaves as if its events were
//!   regrouped one at a time); with none stored, a new unresolved issue is
//!   created under its first key, with the title, culprit and level of the
//!   event. **No new-issue alert** is raised: regrouping history is not news.
//!   Every key of the event is then attached to its issue (`ON CONFLICT DO
//!   NOTHING`: a stored key keeps its issue).
//! - **Join key**: the event's recorded key (`events.grouping_key`) becomes
//!   its *first* key. After the attaching that is the key a fresh ingest of
//!   the event would join by (the first key is either the one that decided or
//!   was just attached to the decided issue), which makes a batch idempotent:
//!   run again, every event resolves to the issue and key it has.
//! - **Moving an event** from issue I to J moves what was counted for it:
//!   `event_count` −1/+1 (never below 0), the hourly count of its receipt
//!   hour, its tag value and key counts (J indexes new values within its tag
//!   row cap, built-in keys first, as ingest does), the per-key counters (old
//!   join key −1, new join key +1 with first/last seen), first/last seen (J:
//!   min/max with the event; I: recomputed from its remaining stored events
//!   when the event was its min or max), first/last release (J: oldest/newest
//!   by [`compare_releases`]; I: recounted from its remaining stored events
//!   when the event carried one of them), distinct users (J gains the event's
//!   user hash: exact rows or sketch, as ingest; I loses the users none of its
//!   remaining stored events has, only while it counts exactly: a HyperLogLog
//!   sketch cannot forget, so an issue on a sketch keeps its estimate). An
//!   event whose issue stays only has its keys attached and, if its join key
//!   changes, its per-key count moved.
//! - **Emptied issues**: an issue the batch leaves with no stored event and
//!   an `event_count` of 0 becomes a tombstone merged into the issue that
//!   received most of its events in this batch (ties: the lowest id), as a
//!   merge makes one: `merged_into` set (older tombstones re-pointed), its own
//!   key freed (`merged:<id>`), its remaining keys, alerts and activity moved
//!   to that issue (so events still computing its old keys join it), its tag
//!   index, users and hourly counts dropped. An issue left with no stored
//!   event but a count of events evicted by retention stays (listed, with that
//!   count): nothing stored says where those events would go.
//! - **Activity**: one [`ActivityKind::Regrouped`] entry per issue that
//!   gained or lost events in the batch (`created`, `+N from #a, #b`, `-N to
//!   #c`, `merged into #c`).
//!
//! # Exactness
//!
//! The moved counts are exact (the event's own receipt hour, tags and user
//! are stored on its row). What cannot be undone: a key's first/last seen
//! after its events leave (kept), the tag index rows of level, release and
//! environment values no longer carried (kept, searchable), users of an issue
//! on a sketch, and hourly buckets already pruned by retention (the decrement
//! finds no row).
//!
//! # Locks (PostgreSQL)
//!
//! As merge and unmerge (see [`crate::grouping`]): the project `FOR KEY
//! SHARE`, then grouping keys `FOR UPDATE` sorted (the batch's keys, the
//! events' old join keys and every key of the issues involved), then the
//! issues `FOR UPDATE` by id, then the events' rows. The set of issues is
//! read before the locks and checked after them: a merge, unmerge or
//! eviction that committed in between makes the batch fail
//! [`StoreError::Raced`], and the store retries it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};

use crate::distinct::{EXACT_LIMIT, bits_of_hex};
use crate::error::{Result, StoreError};
use crate::grouping::{lock_project, recount_releases};
use crate::ingest::{count_users, cut, index_tags};
use crate::model::{ActivityKind, GroupingKey, RegroupOutcome};
use crate::ops::{IdRow, clamp_limit, insert_activity, placeholders, to_i64};
use crate::release::compare_releases;
use crate::sql::{Exec, Q};
use crate::stats::hour_of;
use crate::{IssueId, ProjectId};

/// Most events one [`regroup_batch`] takes.
pub(crate) const MAX_REGROUP_EVENTS: usize = 1000;

/// Most values in one `IN (…)` list.
const IN_CHUNK: usize = 500;

/// One stored event as the cursor reads it (payload still compressed).
#[derive(QueryableByName)]
pub(crate) struct CursorRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
    #[diesel(sql_type = Text)]
    pub(crate) event_id: String,
    #[diesel(sql_type = BigInt)]
    pub(crate) issue_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) grouping_key: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub(crate) payload_size: i64,
    #[diesel(sql_type = Binary)]
    pub(crate) payload: Vec<u8>,
}

/// The project's stored events after row id `after`, in row-id order, at
/// most `limit` (clamped to 1..=1000).
pub(crate) fn stored_events_after<C: Exec>(
    c: &mut C,
    project: ProjectId,
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<CursorRow>> {
    c.rows(
        Q::new("SELECT id, event_id, issue_id, grouping_key, payload_size, payload FROM events WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?")
            .bind(project)
            .bind(after.unwrap_or(i64::MIN))
            .bind(clamp_limit(limit)),
    )
}

/// What a regroup reads of a stored event.
#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    grouping_key: Option<String>,
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
struct KeyOwner {
    #[diesel(sql_type = Text)]
    grouping_key: String,
    #[diesel(sql_type = BigInt)]
    issue_id: i64,
}

/// What a regroup reads of an issue (locked).
#[derive(QueryableByName)]
struct IssueRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = BigInt)]
    first_seen: i64,
    #[diesel(sql_type = BigInt)]
    last_seen: i64,
    #[diesel(sql_type = BigInt)]
    tag_count: i64,
    #[diesel(sql_type = BigInt)]
    user_count: i64,
    #[diesel(sql_type = Nullable<Text>)]
    first_release: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_release: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    merged_into: Option<i64>,
}

#[derive(QueryableByName)]
struct SeenRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    first: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last: Option<i64>,
}

#[derive(QueryableByName)]
struct HashRow {
    #[diesel(sql_type = Text)]
    user_hash: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    user_count: i64,
}

const EVENT_COLS: &str = "id, event_id, issue_id, grouping_key, occurred_at, received_at, level, title, culprit, release_name, environment, tags, user_hash";

/// The stored events of `project` among `ids`, by row id (locked `FOR
/// UPDATE` on PostgreSQL when `lock`).
fn read_events<C: Exec>(
    c: &mut C,
    project: ProjectId,
    ids: &[&str],
    lock: bool,
) -> Result<Vec<EventRow>> {
    let lock = if lock && c.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut rows: Vec<EventRow> = Vec::with_capacity(ids.len());
    let mut sorted: Vec<&str> = ids.to_vec();
    sorted.sort_unstable();
    for chunk in sorted.chunks(IN_CHUNK) {
        let mut q = Q::dynamic(format!(
            "SELECT {EVENT_COLS} FROM events WHERE project_id = ? AND event_id IN ({}) ORDER BY id{lock}",
            placeholders(chunk.len())
        ));
        q.push(project);
        for id in chunk {
            q.push(*id);
        }
        rows.extend(c.rows::<EventRow>(q)?);
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// The issues of the stored keys among `keys` (sorted by key; locked `FOR
/// UPDATE` on PostgreSQL when `lock`, chunk by chunk in key order).
fn key_owners<C: Exec>(
    c: &mut C,
    project: ProjectId,
    keys: &BTreeSet<&str>,
    lock: bool,
) -> Result<HashMap<String, i64>> {
    let lock = if lock && c.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let keys: Vec<&str> = keys.iter().copied().collect();
    let mut owners = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(IN_CHUNK) {
        let mut q = Q::dynamic(format!(
            "SELECT grouping_key, issue_id FROM grouping_keys WHERE project_id = ? AND grouping_key IN ({}) ORDER BY project_id, grouping_key{lock}",
            placeholders(chunk.len())
        ));
        q.push(project);
        for k in chunk {
            q.push(*k);
        }
        for r in c.rows::<KeyOwner>(q)? {
            owners.insert(r.grouping_key, r.issue_id);
        }
    }
    Ok(owners)
}

/// Every key of the issues (not locked).
fn keys_of_issues<C: Exec>(c: &mut C, issues: &BTreeSet<i64>) -> Result<Vec<String>> {
    let issues: Vec<i64> = issues.iter().copied().collect();
    let mut keys = Vec::new();
    for chunk in issues.chunks(IN_CHUNK) {
        let mut q = Q::dynamic(format!(
            "SELECT grouping_key, issue_id FROM grouping_keys WHERE issue_id IN ({})",
            placeholders(chunk.len())
        ));
        for id in chunk {
            q.push(*id);
        }
        keys.extend(c.rows::<KeyOwner>(q)?.into_iter().map(|r| r.grouping_key));
    }
    Ok(keys)
}

/// The issues, locked `FOR UPDATE` by id on PostgreSQL; each must exist,
/// belong to `project` and be no tombstone, else the batch raced with a
/// merge or a deletion.
fn lock_issue_rows<C: Exec>(
    c: &mut C,
    project: ProjectId,
    issues: &BTreeSet<i64>,
) -> Result<BTreeMap<i64, IssueRow>> {
    let lock = if c.is_postgres() { " FOR UPDATE" } else { "" };
    let ids: Vec<i64> = issues.iter().copied().collect();
    let mut rows = BTreeMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = Q::dynamic(format!(
            "SELECT id, project_id, first_seen, last_seen, tag_count, user_count, first_release, last_release, merged_into FROM issues WHERE id IN ({}) ORDER BY id{lock}",
            placeholders(chunk.len())
        ));
        for id in chunk {
            q.push(*id);
        }
        for r in c.rows::<IssueRow>(q)? {
            rows.insert(r.id, r);
        }
    }
    for id in issues {
        match rows.get(id) {
            None => {
                return Err(StoreError::Raced(format!(
                    "issue {id} was deleted meanwhile"
                )));
            }
            Some(r) if r.project_id != project.get() => {
                return Err(StoreError::Raced(format!(
                    "issue {id} is not of project {project}"
                )));
            }
            Some(r) => {
                if let Some(into) = r.merged_into {
                    return Err(StoreError::Raced(format!(
                        "issue {id} was merged into issue {into}"
                    )));
                }
            }
        }
    }
    Ok(rows)
}

/// What the batch does to one issue.
#[derive(Default)]
struct Change {
    /// Created by this batch.
    created: bool,
    /// Events moved in (indexes into the rows), in batch order.
    gained: Vec<usize>,
    /// Events moved out, in batch order, with the issue each went to.
    lost: Vec<(usize, i64)>,
}

/// One event of the batch that changes issue or join key.
struct Move {
    row: usize,
    to: i64,
    key: String,
}

/// Regroups a batch (see the module docs and
/// [`crate::GroupingStore::regroup_batch`]).
pub(crate) fn regroup_batch<C: Exec>(
    c: &mut C,
    project: ProjectId,
    events: &[(String, Vec<GroupingKey>)],
    actor: Option<&str>,
    now: i64,
    max_tags: i64,
) -> Result<RegroupOutcome> {
    if events.len() > MAX_REGROUP_EVENTS {
        return Err(StoreError::InvalidInput(format!(
            "a regroup batch has at most {MAX_REGROUP_EVENTS} events, not {}",
            events.len()
        )));
    }
    if let Some((id, _)) = events.iter().find(|(_, keys)| keys.is_empty()) {
        return Err(StoreError::InvalidInput(format!(
            "event {id} of project {project} has no grouping key: give every event at least one"
        )));
    }
    // First copies only, in the order given.
    let mut seen_ids: HashSet<&str> = HashSet::with_capacity(events.len());
    let batch: Vec<(&str, &[GroupingKey])> = events
        .iter()
        .filter(|(id, _)| seen_ids.insert(id.as_str()))
        .map(|(id, keys)| (id.as_str(), keys.as_slice()))
        .collect();
    let ids: Vec<&str> = batch.iter().map(|(id, _)| *id).collect();

    lock_project(c, project)?;

    // Which keys and issues are involved, read before locking; then the keys
    // locked in order, the issues, the events, and the set checked again.
    let before = read_events(c, project, &ids, false)?;
    let stored: HashSet<&str> = before.iter().map(|r| r.event_id.as_str()).collect();
    let mut named: BTreeSet<&str> = batch
        .iter()
        .filter(|(id, _)| stored.contains(id))
        .flat_map(|(_, keys)| keys.iter().map(|k| k.key.as_str()))
        .collect();
    named.extend(before.iter().filter_map(|r| r.grouping_key.as_deref()));
    let owners_before = key_owners(c, project, &named, false)?;
    let mut issues: BTreeSet<i64> = before.iter().map(|r| r.issue_id).collect();
    issues.extend(owners_before.values().copied());
    let issue_keys = keys_of_issues(c, &issues)?;
    let mut lock_names: BTreeSet<&str> = named.clone();
    lock_names.extend(issue_keys.iter().map(String::as_str));
    let mut owner = key_owners(c, project, &lock_names, true)?;
    let states = lock_issue_rows(c, project, &issues)?;
    let rows = read_events(c, project, &ids, true)?;
    for (k, id) in &owner {
        if named.contains(k.as_str()) && !issues.contains(id) {
            return Err(StoreError::Raced(format!(
                "grouping key {k:?} moved to issue {id}"
            )));
        }
    }
    if let Some(r) = rows.iter().find(|r| !issues.contains(&r.issue_id)) {
        return Err(StoreError::Raced(format!(
            "event {} moved to issue {}",
            r.event_id, r.issue_id
        )));
    }

    let row_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.event_id.as_str(), i))
        .collect();
    let mut outcome = RegroupOutcome {
        events_seen: rows.len() as u64,
        ..RegroupOutcome::default()
    };
    // Keys attached by this batch: (key, config, issue), in attach order.
    let mut attached: Vec<(&str, &str, i64)> = Vec::new();
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
    let mut moves: Vec<Move> = Vec::new();
    for (id, keys) in &batch {
        let Some(&i) = row_of.get(id) else { continue };
        let e = &rows[i];
        let found = keys.iter().find_map(|k| owner.get(k.key.as_str()).copied());
        let to = match found {
            Some(to) => to,
            None => {
                let to = create_issue(c, project, &keys[0].key, e, now)?;
                outcome.issues_created.push(IssueId(to));
                changes.entry(to).or_default().created = true;
                to
            }
        };
        for k in keys.iter() {
            if !owner.contains_key(k.key.as_str()) {
                owner.insert(k.key.clone(), to);
                attached.push((k.key.as_str(), k.config.as_str(), to));
            }
        }
        let key = keys[0].key.as_str();
        if to != e.issue_id {
            changes.entry(to).or_default().gained.push(i);
            changes.entry(e.issue_id).or_default().lost.push((i, to));
            outcome.events_moved += 1;
        }
        if to != e.issue_id || e.grouping_key.as_deref() != Some(key) {
            moves.push(Move {
                row: i,
                to,
                key: key.to_owned(),
            });
        }
    }

    outcome.keys_attached = attach_keys(c, project, &attached, now)?;
    move_key_counts(c, project, &rows, &moves)?;
    move_events(c, &rows, &moves)?;
    let tags: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.tags).unwrap_or_default())
        .collect();
    gain(c, &rows, &tags, &states, &changes, max_tags)?;
    lose(c, &rows, &tags, &states, &changes)?;

    // Emptied issues, then one activity entry per issue changed.
    let mut merged: BTreeMap<i64, i64> = BTreeMap::new();
    for (&id, ch) in &changes {
        if ch.lost.is_empty() || has_events(c, id)? {
            continue;
        }
        outcome.issues_emptied.push(IssueId(id));
        let count: Option<IdRow> =
            c.row(Q::new("SELECT event_count AS id FROM issues WHERE id = ?").bind(id))?;
        if count.is_some_and(|r| r.id > 0) {
            continue;
        }
        let mut to: BTreeMap<i64, usize> = BTreeMap::new();
        for &(_, t) in &ch.lost {
            *to.entry(t).or_default() += 1;
        }
        // The most events; ties to the lowest id.
        if let Some((&into, _)) = to.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) {
            merged.insert(id, into);
        }
    }
    for (&id, ch) in &changes {
        if ch.gained.is_empty() && ch.lost.is_empty() {
            continue;
        }
        let from: BTreeSet<i64> = ch.gained.iter().map(|&i| rows[i].issue_id).collect();
        let detail = describe(ch, &from, merged.get(&id).copied());
        insert_activity(
            c,
            IssueId(id),
            &ActivityKind::Regrouped,
            actor,
            Some(&detail),
            now,
        )?;
    }
    for (&id, &into) in &merged {
        tombstone(c, id, into)?;
        outcome.merged_into.push((IssueId(id), IssueId(into)));
    }
    Ok(outcome)
}

/// A new unresolved issue under `key` for event `e` (its counters start
/// empty; the moves add to them). An issue with that own key created
/// meanwhile by another writer is a race.
fn create_issue<C: Exec>(
    c: &mut C,
    project: ProjectId,
    key: &str,
    e: &EventRow,
    now: i64,
) -> Result<i64> {
    let row: Option<IdRow> = c.row(
        Q::new("INSERT INTO issues (project_id, grouping_key, title, culprit, level, status, event_count, first_seen, last_seen, created_at, last_received_at, tag_count, user_count) VALUES (?, ?, ?, ?, ?, 'unresolved', 0, ?, ?, ?, ?, 0, 0) ON CONFLICT (project_id, grouping_key) DO NOTHING RETURNING id")
            .bind(project)
            .bind(key)
            .bind(e.title.as_str())
            .bind(e.culprit.as_deref())
            .bind(e.level.as_str())
            .bind(e.occurred_at)
            .bind(e.occurred_at)
            .bind(now)
            .bind(e.received_at),
    )?;
    match row {
        Some(r) => Ok(r.id),
        None => Err(StoreError::Raced(format!(
            "an issue with grouping key {key:?} was created meanwhile"
        ))),
    }
}

/// Attaches the keys no issue had (`ON CONFLICT DO NOTHING`, in key order);
/// returns how many were inserted. A key inserted meanwhile by another
/// writer is a race (it would not be this batch's issue's).
fn attach_keys<C: Exec>(
    c: &mut C,
    project: ProjectId,
    attached: &[(&str, &str, i64)],
    now: i64,
) -> Result<u64> {
    let mut sorted: Vec<&(&str, &str, i64)> = attached.iter().collect();
    sorted.sort_by_key(|(k, _, _)| *k);
    let mut n = 0;
    for &&(key, config, issue) in &sorted {
        let done = c.exec(
            Q::new("INSERT INTO grouping_keys (project_id, grouping_key, issue_id, config, event_count, created_at) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (project_id, grouping_key) DO NOTHING")
                .bind(project)
                .bind(key)
                .bind(issue)
                .bind(config)
                .bind(now),
        )?;
        if done != 1 {
            return Err(StoreError::Raced(format!(
                "grouping key {key:?} was stored meanwhile"
            )));
        }
        n += 1;
    }
    Ok(n)
}

/// What a batch does to one key's counters: events (−1 leaving, +1
/// joining), first and last seen of the events joining by it.
type KeyDelta = (i64, Option<i64>, Option<i64>);

/// Per-key counters: each moved event leaves its old join key (−1, on its
/// old issue, never below 0) and counts on its new one (+1, first/last seen
/// widened). One statement per key, in key order.
fn move_key_counts<C: Exec>(
    c: &mut C,
    project: ProjectId,
    rows: &[EventRow],
    moves: &[Move],
) -> Result<()> {
    let mut deltas: BTreeMap<(&str, i64), KeyDelta> = BTreeMap::new();
    for m in moves {
        let e = &rows[m.row];
        if let Some(old) = e.grouping_key.as_deref() {
            deltas.entry((old, e.issue_id)).or_default().0 -= 1;
        }
        let d = deltas.entry((m.key.as_str(), m.to)).or_default();
        d.0 += 1;
        d.1 = Some(d.1.map_or(e.occurred_at, |f| f.min(e.occurred_at)));
        d.2 = Some(d.2.map_or(e.occurred_at, |l| l.max(e.occurred_at)));
    }
    for ((key, issue), (n, first, last)) in deltas {
        if n == 0 && first.is_none() {
            continue;
        }
        c.exec(
            Q::new("UPDATE grouping_keys SET event_count = CASE WHEN event_count + ? < 0 THEN 0 ELSE event_count + ? END, \
first_seen = CASE WHEN ? IS NOT NULL AND (first_seen IS NULL OR ? < first_seen) THEN ? ELSE first_seen END, \
last_seen = CASE WHEN ? IS NOT NULL AND (last_seen IS NULL OR ? > last_seen) THEN ? ELSE last_seen END \
WHERE project_id = ? AND grouping_key = ? AND issue_id = ?")
                .bind(n)
                .bind(n)
                .bind(first)
                .bind(first)
                .bind(first)
                .bind(last)
                .bind(last)
                .bind(last)
                .bind(project)
                .bind(key)
                .bind(issue),
        )?;
    }
    Ok(())
}

/// The events' new issue and join key: one statement per (issue, key).
fn move_events<C: Exec>(c: &mut C, rows: &[EventRow], moves: &[Move]) -> Result<()> {
    let mut by_target: BTreeMap<(i64, &str), Vec<i64>> = BTreeMap::new();
    for m in moves {
        by_target
            .entry((m.to, m.key.as_str()))
            .or_default()
            .push(rows[m.row].id);
    }
    for ((to, key), ids) in by_target {
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = Q::dynamic(format!(
                "UPDATE events SET issue_id = ?, grouping_key = ? WHERE id IN ({})",
                placeholders(chunk.len())
            ));
            q.push(to);
            q.push(key);
            for id in chunk {
                q.push(*id);
            }
            c.exec(q)?;
        }
    }
    Ok(())
}

/// What the issues that gained events add: counts, seen, releases, hourly
/// counts, tags (as ingest indexes them), users (as ingest counts them),
/// and the `keep` flag of a created issue's first event.
fn gain<C: Exec>(
    c: &mut C,
    rows: &[EventRow],
    tags: &[Vec<(String, String)>],
    states: &BTreeMap<i64, IssueRow>,
    changes: &BTreeMap<i64, Change>,
    max_tags: i64,
) -> Result<()> {
    let mut candidates: BTreeMap<(i64, &str, &str), i64> = BTreeMap::new();
    let mut counts: BTreeMap<(i64, &str, &str), i64> = BTreeMap::new();
    let mut key_totals: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    let mut users: BTreeMap<i64, (i64, BTreeMap<&str, u64>)> = BTreeMap::new();
    for (&id, ch) in changes {
        if ch.gained.is_empty() {
            continue;
        }
        let state = states.get(&id);
        let events: Vec<&EventRow> = ch.gained.iter().map(|&i| &rows[i]).collect();
        let first = events.iter().map(|e| e.occurred_at).min();
        let last = events.iter().map(|e| e.occurred_at).max();
        let received = events.iter().map(|e| e.received_at).max();
        let releases = || events.iter().filter_map(|e| e.release_name.as_deref());
        let first_release = state
            .and_then(|s| s.first_release.as_deref())
            .into_iter()
            .chain(releases())
            .min_by(|a, b| compare_releases(a, b));
        let last_release = state
            .and_then(|s| s.last_release.as_deref())
            .into_iter()
            .chain(releases())
            .max_by(|a, b| compare_releases(a, b));
        c.exec(
            Q::new(
                "UPDATE issues SET event_count = event_count + ?, \
first_seen = CASE WHEN ? < first_seen THEN ? ELSE first_seen END, \
last_seen = CASE WHEN ? > last_seen THEN ? ELSE last_seen END, \
last_received_at = CASE WHEN ? > last_received_at THEN ? ELSE last_received_at END, \
first_release = ?, last_release = ? WHERE id = ?",
            )
            .bind(to_i64(events.len() as u64))
            .bind(first)
            .bind(first)
            .bind(last)
            .bind(last)
            .bind(received)
            .bind(received)
            .bind(first_release)
            .bind(last_release)
            .bind(id),
        )?;
        if ch.created {
            // Title, culprit and level of the newest event; its first event
            // survives the count cap, as every issue's first event does.
            if let Some(newest) = events.iter().max_by_key(|e| (e.occurred_at, e.id)) {
                c.exec(
                    Q::new("UPDATE issues SET title = ?, culprit = ?, level = ? WHERE id = ?")
                        .bind(newest.title.as_str())
                        .bind(newest.culprit.as_deref())
                        .bind(newest.level.as_str())
                        .bind(id),
                )?;
            }
            if let Some(oldest) = events.iter().map(|e| e.id).min() {
                c.exec(Q::new("UPDATE events SET keep = TRUE WHERE id = ?").bind(oldest))?;
            }
        }
        let mut hours: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &events {
            *hours.entry(hour_of(e.received_at)).or_default() += 1;
        }
        for (hour, n) in hours {
            c.exec(
                Q::new("INSERT INTO issue_counts (issue_id, bucket_start, count) VALUES (?, ?, ?) ON CONFLICT (issue_id, bucket_start) DO UPDATE SET count = issue_counts.count + excluded.count")
                    .bind(id)
                    .bind(hour)
                    .bind(n),
            )?;
        }

        // Tags: the events' own pairs and keys, each once per event; the
        // index candidates as ingest picks them.
        let mut pairs: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for &i in &ch.gained {
            let mut seen_pairs = BTreeSet::new();
            let mut seen_keys = BTreeSet::new();
            for (k, v) in &tags[i] {
                let (k, v) = (cut(k), cut(v));
                if seen_pairs.insert((k, v)) {
                    *pairs.entry((k, v)).or_default() += 1;
                }
                if seen_keys.insert(k) {
                    *key_totals.entry((id, k)).or_default() += 1;
                }
            }
        }
        let room = usize::try_from(max_tags - state.map_or(0, |s| s.tag_count)).unwrap_or(0);
        let builtin = ch.gained.iter().flat_map(|&i| {
            let e = &rows[i];
            [
                Some(("level", e.level.as_str())),
                e.release_name.as_deref().map(|r| ("release", r)),
                e.environment.as_deref().map(|env| ("environment", env)),
            ]
            .into_iter()
            .flatten()
        });
        let own = ch
            .gained
            .iter()
            .flat_map(|&i| tags[i].iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut picked: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (k, v) in builtin.chain(own) {
            if picked.len() >= room {
                break;
            }
            let kv = (cut(k), cut(v));
            if picked.insert(kv) {
                candidates.insert((id, kv.0, kv.1), pairs.get(&kv).copied().unwrap_or(0));
            }
        }
        for ((k, v), n) in pairs {
            counts.insert((id, k, v), n);
        }

        let hashes: BTreeMap<&str, u64> = events
            .iter()
            .filter_map(|e| e.user_hash.as_deref())
            .map(|h| (h, bits_of_hex(h).unwrap_or(0)))
            .collect();
        if !hashes.is_empty() {
            users.insert(id, (state.map_or(0, |s| s.user_count), hashes));
        }
    }
    index_tags(c, &candidates, &counts, &key_totals)?;
    count_users(c, &users)?;
    Ok(())
}

/// What the issues that lost events give up: counts (never below 0),
/// hourly counts, tag counts (rows and keys left at 0 go), first/last seen
/// and releases when a moved event held them, users while counted exactly.
fn lose<C: Exec>(
    c: &mut C,
    rows: &[EventRow],
    tags: &[Vec<(String, String)>],
    states: &BTreeMap<i64, IssueRow>,
    changes: &BTreeMap<i64, Change>,
) -> Result<()> {
    for (&id, ch) in changes {
        if ch.lost.is_empty() {
            continue;
        }
        let events: Vec<&EventRow> = ch.lost.iter().map(|&(i, _)| &rows[i]).collect();
        let n = to_i64(events.len() as u64);
        c.exec(
            Q::new("UPDATE issues SET event_count = CASE WHEN event_count - ? < 0 THEN 0 ELSE event_count - ? END WHERE id = ?")
                .bind(n)
                .bind(n)
                .bind(id),
        )?;
        let mut hours: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &events {
            *hours.entry(hour_of(e.received_at)).or_default() += 1;
        }
        for (hour, n) in hours {
            c.exec(
                Q::new("UPDATE issue_counts SET count = count - ? WHERE issue_id = ? AND bucket_start = ?")
                    .bind(n)
                    .bind(id)
                    .bind(hour),
            )?;
        }
        c.exec(Q::new("DELETE FROM issue_counts WHERE issue_id = ? AND count <= 0").bind(id))?;

        let mut pairs: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut keys: BTreeMap<&str, i64> = BTreeMap::new();
        for &(i, _) in &ch.lost {
            let mut seen_pairs = BTreeSet::new();
            let mut seen_keys = BTreeSet::new();
            for (k, v) in &tags[i] {
                let (k, v) = (cut(k), cut(v));
                if seen_pairs.insert((k, v)) {
                    *pairs.entry((k, v)).or_default() += 1;
                }
                if seen_keys.insert(k) {
                    *keys.entry(k).or_default() += 1;
                }
            }
        }
        for ((k, v), n) in &pairs {
            c.exec(
                Q::new("UPDATE issue_tags SET count = count - ? WHERE issue_id = ? AND tag_key = ? AND tag_value = ?")
                    .bind(*n)
                    .bind(id)
                    .bind(*k)
                    .bind(*v),
            )?;
            c.exec(
                Q::new("DELETE FROM issue_tags WHERE issue_id = ? AND tag_key = ? AND tag_value = ? AND count <= 0")
                    .bind(id)
                    .bind(*k)
                    .bind(*v),
            )?;
        }
        for (k, n) in &keys {
            c.exec(
                Q::new("UPDATE issue_tag_keys SET total = total - ? WHERE issue_id = ? AND tag_key = ?")
                    .bind(*n)
                    .bind(id)
                    .bind(*k),
            )?;
        }
        if !pairs.is_empty() {
            c.exec(
                Q::new("DELETE FROM issue_tag_keys WHERE issue_id = ? AND total <= 0").bind(id),
            )?;
            c.exec(
                Q::new("UPDATE issues SET tag_count = (SELECT COUNT(*) FROM issue_tags t WHERE t.issue_id = issues.id) WHERE id = ?")
                    .bind(id),
            )?;
        }

        if let Some(s) = states.get(&id) {
            let held_first = events.iter().any(|e| e.occurred_at <= s.first_seen);
            let held_last = events.iter().any(|e| e.occurred_at >= s.last_seen);
            if held_first || held_last {
                let seen: Option<SeenRow> = c.row(
                    Q::new("SELECT MIN(occurred_at) AS first, MAX(occurred_at) AS last FROM events WHERE issue_id = ?")
                        .bind(id),
                )?;
                if let Some(SeenRow {
                    first: Some(first),
                    last: Some(last),
                }) = seen
                {
                    c.exec(
                        Q::new("UPDATE issues SET first_seen = ?, last_seen = ? WHERE id = ?")
                            .bind(if held_first { first } else { s.first_seen })
                            .bind(if held_last { last } else { s.last_seen })
                            .bind(id),
                    )?;
                }
            }
            let held_release = events.iter().any(|e| {
                e.release_name.is_some()
                    && (e.release_name == s.first_release || e.release_name == s.last_release)
            });
            if held_release {
                recount_releases(c, id)?;
            }
        }
        lose_users(c, id, &events)?;
    }
    Ok(())
}

/// The users of moved-out events that none of the issue's remaining stored
/// events has, while the issue counts exactly (a sketch keeps its estimate).
fn lose_users<C: Exec>(c: &mut C, id: i64, events: &[&EventRow]) -> Result<()> {
    let moved: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.user_hash.as_deref())
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    let count: Option<CountRow> =
        c.row(Q::new("SELECT user_count FROM issues WHERE id = ?").bind(id))?;
    if count.is_none_or(|r| r.user_count > to_i64(EXACT_LIMIT)) {
        return Ok(());
    }
    let kept: Vec<HashRow> = c.rows(
        Q::new(
            "SELECT DISTINCT user_hash FROM events WHERE issue_id = ? AND user_hash IS NOT NULL",
        )
        .bind(id),
    )?;
    let kept: BTreeSet<&str> = kept.iter().map(|r| r.user_hash.as_str()).collect();
    for h in moved.difference(&kept) {
        c.exec(
            Q::new("DELETE FROM issue_users WHERE issue_id = ? AND user_hash = ?")
                .bind(id)
                .bind(*h),
        )?;
    }
    c.exec(
        Q::new("UPDATE issues SET user_count = (SELECT COUNT(*) FROM issue_users x WHERE x.issue_id = issues.id) WHERE id = ?")
            .bind(id),
    )?;
    Ok(())
}

/// Whether the issue has a stored event.
fn has_events<C: Exec>(c: &mut C, id: i64) -> Result<bool> {
    let row: Option<IdRow> =
        c.row(Q::new("SELECT id FROM events WHERE issue_id = ? LIMIT 1").bind(id))?;
    Ok(row.is_some())
}

/// The activity detail of one issue's change.
fn describe(ch: &Change, from: &BTreeSet<i64>, merged_into: Option<i64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if ch.created {
        parts.push("created".to_owned());
    }
    let names = |ids: &BTreeSet<i64>| {
        ids.iter()
            .map(|id| format!("#{id}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !ch.gained.is_empty() {
        parts.push(format!("+{} from {}", ch.gained.len(), names(from)));
    }
    if !ch.lost.is_empty() {
        let to: BTreeSet<i64> = ch.lost.iter().map(|&(_, t)| t).collect();
        parts.push(format!("-{} to {}", ch.lost.len(), names(&to)));
    }
    if let Some(into) = merged_into {
        parts.push(format!("merged into #{into}"));
    }
    parts.join("; ")
}

/// An emptied issue becomes a tombstone merged into `into`, as a merge makes
/// one (see [`crate::grouping`]): keys, alerts and activity move, older
/// tombstones re-point, the own key is freed, the per-issue rows go.
fn tombstone<C: Exec>(c: &mut C, id: i64, into: i64) -> Result<()> {
    for table in ["grouping_keys", "alerts", "activity"] {
        c.exec(
            Q::dynamic(format!(
                "UPDATE {table} SET issue_id = ? WHERE issue_id = ?"
            ))
            .bind(into)
            .bind(id),
        )?;
    }
    c.exec(
        Q::new("UPDATE issues SET merged_into = ? WHERE merged_into = ?")
            .bind(into)
            .bind(id),
    )?;
    for table in [
        "issue_tags",
        "issue_tag_keys",
        "issue_users",
        "issue_counts",
    ] {
        c.exec(Q::dynamic(format!("DELETE FROM {table} WHERE issue_id = ?")).bind(id))?;
    }
    c.exec(
        Q::new("UPDATE issues SET merged_into = ?, grouping_key = ?, tag_count = 0, user_sketch = NULL WHERE id = ?")
            .bind(into)
            .bind(format!("merged:{id}"))
            .bind(id),
    )?;
    Ok(())
}

//! The ingest batch: one transaction for N grouped events.
//!
//! Steps, in an order that is the same for every writer (so concurrent writers on
//! PostgreSQL lock rows in the same order and cannot deadlock):
//!
//! 1. one issue upsert per distinct (project, grouping key), sorted: `INSERT … ON
//!    CONFLICT DO UPDATE SET event_count = event_count + n … RETURNING` the
//!    counter and the status as they were before this batch. The upsert holds the
//!    issue's row lock until commit, so no other writer can change its status or
//!    counter in between: what we read is exactly what we transition from. An
//!    issue was created by this statement iff the returned count equals `n`
//!    (a stored issue always has a count of at least 1);
//! 2. the events, sorted by (project, event id), in multi-row `INSERT … ON CONFLICT
//!    DO NOTHING RETURNING`: rows not returned are duplicates, whose counting is
//!    undone;
//! 3. per issue, the transitions (new, regression, unmute) are decided on the
//!    inserted events in batch order; a status change is a conditional `UPDATE …
//!    WHERE status = <old>` and writes one alert row;
//! 4. the per-issue tag index (at most `max_tag_values_per_issue` rows per
//!    issue, counted in `issues.tag_count`), the per-project stored-event
//!    counters, and the `max_events` eviction: at most `max_evictions_per_batch`
//!    rows, never one of this batch (see [`crate::ops::evict_capped`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::error::{Result, StoreError};
use crate::model::{IngestOutcome, NewEvent};
use crate::ops::{CounterRow, IdRow, evict_capped, ms, to_i64};
use crate::release::release_is_newer;
use crate::sql::{Exec, MultiRow, Q, multi_row, split_rows};
/// Longest tag key or value indexed for search (longer ones are cut).
const MAX_TAG_LEN: usize = 200;

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

const UPSERT_HEAD: &str = "INSERT INTO issues (project_id, grouping_key, title, culprit, level, status, event_count, first_seen, last_seen, created_at, grouping_explanation, last_received_at, tag_count) VALUES ";
const UPSERT_ROW: &str = "(?, ?, ?, ?, ?, 'unresolved', ?, ?, ?, ?, ?, ?, 0)";
const UPSERT_TAIL: &str = " ON CONFLICT (project_id, grouping_key) DO UPDATE SET \
event_count = issues.event_count + excluded.event_count, \
title = excluded.title, culprit = excluded.culprit, level = excluded.level, \
first_seen = CASE WHEN excluded.first_seen < issues.first_seen THEN excluded.first_seen ELSE issues.first_seen END, \
last_seen = CASE WHEN excluded.last_seen > issues.last_seen THEN excluded.last_seen ELSE issues.last_seen END, \
grouping_explanation = COALESCE(excluded.grouping_explanation, issues.grouping_explanation), \
last_received_at = CASE WHEN excluded.last_received_at > issues.last_received_at THEN excluded.last_received_at ELSE issues.last_received_at END \
RETURNING id, project_id, grouping_key, event_count, status, resolved_in_release, muted_until, unmute_at_count, tag_count";

const EVENT_INSERT_HEAD: &str = "INSERT INTO events (project_id, issue_id, event_id, occurred_at, received_at, level, title, culprit, release_name, environment, tags, keep, payload_size, payload) VALUES ";
const EVENT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?)";
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
multi_row!(IssueUpsert, UPSERT_HEAD, UPSERT_ROW, ", ", UPSERT_TAIL);
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
    "INSERT INTO issue_tags (issue_id, tag_key, tag_value) VALUES ",
    "(?, ?, ?)",
    ", ",
    " ON CONFLICT (issue_id, tag_key, tag_value) DO NOTHING RETURNING issue_id"
);

fn cut(s: &str) -> &str {
    if s.len() <= MAX_TAG_LEN {
        return s;
    }
    let mut end = MAX_TAG_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

enum Transition {
    Regression,
    Unmute,
}

pub(crate) fn ingest_batch<C: Exec>(
    c: &mut C,
    batch: &[Prepared<'_>],
    now: chrono::DateTime<chrono::Utc>,
    limits: IngestLimits,
) -> Result<Vec<IngestOutcome>> {
    let now = ms(now);
    let n = batch.len();
    let mut outcomes = vec![
        IngestOutcome {
            issue_id: 0,
            created: false,
            regressed: false,
            unmuted: false,
            duplicate: false,
        };
        n
    ];

    // Every project must exist (one query; the foreign keys would reject the
    // batch anyway, but without saying which project).
    let projects: Vec<i64> = batch
        .iter()
        .map(|p| p.event.project_id)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    // On PostgreSQL the rows are also share-locked (as the foreign keys would
    // do later), so that a concurrent project deletion waits for this batch, or
    // this batch sees the project gone, instead of the two deadlocking.
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
    if let Some(&missing) = projects.iter().find(|id| !found.contains(id)) {
        return Err(StoreError::UnknownProject(missing));
    }

    // Duplicates inside the batch: later copies point at the first one.
    let mut first_copy: HashMap<(i64, &str), usize> = HashMap::with_capacity(n);
    let mut copy_of: Vec<Option<usize>> = vec![None; n];
    for (i, p) in batch.iter().enumerate() {
        let k = (p.event.project_id, p.event.event_id.as_str());
        match first_copy.get(&k) {
            Some(&f) => copy_of[i] = Some(f),
            None => {
                first_copy.insert(k, i);
            }
        }
    }

    // 1. Issue upserts, one per (project, grouping key), in sorted order.
    let mut groups: BTreeMap<(i64, &str), Vec<usize>> = BTreeMap::new();
    for (i, p) in batch.iter().enumerate() {
        if copy_of[i].is_none() {
            groups
                .entry((p.event.project_id, p.event.grouping_key.as_str()))
                .or_default()
                .push(i);
        }
    }
    let groups: Vec<((i64, &str), Vec<usize>)> = groups.into_iter().collect();
    let mut upserted: Vec<(Vec<usize>, UpsertRow)> = Vec::with_capacity(groups.len());
    let mut issue_of = vec![0i64; n];
    for range in split_rows(groups.len()) {
        let chunk = &groups[range];
        let mut q = IssueUpsert::query(chunk.len());
        for ((project_id, key), members) in chunk {
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
        }
        let rows: Vec<UpsertRow> = IssueUpsert::rows(c, chunk.len(), q)?;
        let position: HashMap<(i64, &str), usize> = chunk
            .iter()
            .enumerate()
            .map(|(j, (k, _))| (*k, j))
            .collect();
        let mut slots: Vec<Option<UpsertRow>> = (0..chunk.len()).map(|_| None).collect();
        for r in rows {
            if let Some(&j) = position.get(&(r.project_id, r.grouping_key.as_str())) {
                slots[j] = Some(r);
            }
        }
        for ((_, members), slot) in chunk.iter().zip(slots) {
            let row = slot.ok_or_else(|| StoreError::Database(diesel::result::Error::NotFound))?;
            for &i in members {
                issue_of[i] = row.id;
            }
            upserted.push((members.clone(), row));
        }
    }

    // 2. Events, sorted by (project, event id).
    let mut order: Vec<usize> = (0..n).filter(|&i| copy_of[i].is_none()).collect();
    order.sort_by(|&a, &b| {
        (batch[a].event.project_id, &batch[a].event.event_id)
            .cmp(&(batch[b].event.project_id, &batch[b].event.event_id))
    });
    let mut row_id: Vec<Option<i64>> = vec![None; n];
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
        }
        let rows: Vec<InsertedRow> = EventInsert::rows(c, chunk.len(), q)?;
        let mut by_key: HashMap<(i64, &str), i64> = HashMap::with_capacity(rows.len());
        for r in &rows {
            by_key.insert((r.project_id, r.event_id.as_str()), r.id);
        }
        for &i in chunk {
            let e = batch[i].event;
            row_id[i] = by_key.get(&(e.project_id, e.event_id.as_str())).copied();
        }
    }

    // 3. Transitions and alerts, per issue.
    let mut keep_ids: Vec<i64> = Vec::new();
    // Per project: events inserted, lowest row id inserted.
    let mut inserted_per_project: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut tags: BTreeSet<(i64, &str, &str)> = BTreeSet::new();
    for (members, row) in &upserted {
        let inserted: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| row_id[i].is_some())
            .collect();
        let n_all = members.len() as i64;
        let n_ins = inserted.len() as i64;
        let created = row.event_count == n_all;
        let before = row.event_count - n_all;
        let project_id = batch[members[0]].event.project_id;

        // Duplicates against stored events: undo their counting.
        for &i in members {
            if row_id[i].is_none() {
                let e = batch[i].event;
                let stored: Option<IssueIdRow> = c.row(
                    Q::new("SELECT issue_id FROM events WHERE project_id = ? AND event_id = ?")
                        .bind(e.project_id)
                        .bind(e.event_id.as_str()),
                )?;
                outcomes[i].duplicate = true;
                outcomes[i].issue_id = stored.map_or(row.id, |s| s.issue_id);
            }
        }
        if n_ins < n_all {
            if created && n_ins == 0 {
                c.exec(Q::new("DELETE FROM issues WHERE id = ?").bind(row.id))?;
                continue;
            }
            c.exec(
                Q::new("UPDATE issues SET event_count = event_count - ? WHERE id = ?")
                    .bind(n_all - n_ins)
                    .bind(row.id),
            )?;
        }
        if n_ins == 0 {
            continue;
        }
        let lowest = inserted
            .iter()
            .filter_map(|&i| row_id[i])
            .min()
            .unwrap_or(i64::MAX);
        let slot = inserted_per_project
            .entry(project_id)
            .or_insert((0, i64::MAX));
        slot.0 += n_ins;
        slot.1 = slot.1.min(lowest);
        // The tag index, up to the issue's room: the built-in keys of every
        // event first, then the events' own tags, in batch order. A candidate
        // already stored takes room here too (conservative: never over the cap).
        let room = usize::try_from(limits.max_tags_per_issue - row.tag_count).unwrap_or(0);
        if room > 0 {
            let mut candidates: Vec<(&str, &str)> = Vec::new();
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
            tags.extend(candidates.into_iter().map(|(k, v)| (row.id, k, v)));
        }
        for &i in &inserted {
            outcomes[i].issue_id = row.id;
        }

        if created {
            let first = inserted[0];
            outcomes[first].created = true;
            keep_ids.extend(row_id[first]);
            insert_alert(c, project_id, row.id, "new_issue", now)?;
            continue;
        }

        let mut transition: Option<(usize, Transition)> = None;
        match row.status.as_str() {
            "resolved" => {
                transition = inserted
                    .iter()
                    .copied()
                    .find(|&i| match &row.resolved_in_release {
                        None => true,
                        Some(r) => batch[i]
                            .event
                            .release
                            .as_deref()
                            .is_some_and(|er| release_is_newer(er, r)),
                    })
                    .map(|i| (i, Transition::Regression));
            }
            "muted" => {
                if row.muted_until.is_some_and(|t| now >= t) {
                    transition = Some((inserted[0], Transition::Unmute));
                } else if let Some(target) = row.unmute_at_count {
                    transition = inserted
                        .iter()
                        .enumerate()
                        .find(|(k, _)| before + *k as i64 + 1 >= target)
                        .map(|(_, &i)| (i, Transition::Unmute));
                }
            }
            _ => {}
        }
        if let Some((i, t)) = transition {
            let changed = c.exec(
                Q::new("UPDATE issues SET status = 'unresolved', status_changed_at = ?, resolved_in_release = NULL, muted_until = NULL, unmute_at_count = NULL WHERE id = ? AND status = ?")
                    .bind(now)
                    .bind(row.id)
                    .bind(row.status.as_str()),
            )?;
            if changed == 1 {
                match t {
                    Transition::Regression => {
                        outcomes[i].regressed = true;
                        keep_ids.extend(row_id[i]);
                        insert_alert(c, project_id, row.id, "regression", now)?;
                    }
                    Transition::Unmute => {
                        outcomes[i].unmuted = true;
                        insert_alert(c, project_id, row.id, "unmute", now)?;
                    }
                }
            }
        }
    }

    // Later copies inside the batch share the first copy's issue.
    for i in 0..n {
        if let Some(f) = copy_of[i] {
            outcomes[i].duplicate = true;
            outcomes[i].issue_id = outcomes[f].issue_id;
        }
    }

    // Keep flags: first events of issues and regressions survive the count cap.
    for range in split_rows(keep_ids.len()) {
        let chunk = &keep_ids[range];
        let mut q = KeepFlag::query(chunk.len());
        for &id in chunk {
            q.push(id);
        }
        KeepFlag::exec(c, chunk.len(), q)?;
    }

    // 4. Tag index (sorted, so concurrent writers lock index entries in one
    //    order), and each issue's count of index rows.
    let tags: Vec<_> = tags.into_iter().collect();
    let mut new_tags: BTreeMap<i64, i64> = BTreeMap::new();
    for range in split_rows(tags.len()) {
        let chunk = &tags[range];
        let mut q = TagInsert::query(chunk.len());
        for (id, k, v) in chunk {
            q.push(*id);
            q.push(*k);
            q.push(*v);
        }
        let rows: Vec<IssueIdRow> = TagInsert::rows(c, chunk.len(), q)?;
        for r in rows {
            *new_tags.entry(r.issue_id).or_default() += 1;
        }
    }
    for (issue_id, added) in new_tags {
        c.exec(
            Q::new("UPDATE issues SET tag_count = tag_count + ? WHERE id = ?")
                .bind(added)
                .bind(issue_id),
        )?;
    }

    // Stored-event counters and the count cap: at most `max_evictions` rows for
    // the whole batch, never one inserted by this batch (ids from this batch's
    // lowest inserted id of the project on; on PostgreSQL a concurrent batch's
    // uncommitted rows are invisible, so neither are they deleted).
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
    Ok(outcomes)
}

fn insert_alert<C: Exec>(
    c: &mut C,
    project_id: i64,
    issue_id: i64,
    kind: &str,
    now: i64,
) -> Result<()> {
    c.exec(
        Q::new("INSERT INTO alerts (project_id, issue_id, kind, created_at, fanned_out) VALUES (?, ?, ?, ?, FALSE)")
            .bind(project_id)
            .bind(issue_id)
            .bind(kind)
            .bind(now),
    )?;
    Ok(())
}

//! Installation-wide figures ([`StatsStore`](crate::StatsStore)): counters that
//! every replica adds to (events accepted, ingest requests refused by reason),
//! the database's size and the alert deliveries not delivered.
//!
//! The counters have a table of their own, `installation_counters`, not the
//! quota usage table: they are kept 30 days while quota usage is pruned after a
//! day by bucket start alone ([`UsageStore::prune_usage`](crate::UsageStore::prune_usage)),
//! and the quotas reload every usage row at start, which these rows would only
//! burden. Each count is kept twice: in its hour (the history) and in its minute
//! (the rate now; kept about an hour).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ops::{dt, ms, to_i64, to_u64};
use crate::sql::{Exec, Q};

/// How finely an installation counter is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterResolution {
    /// One-minute buckets (for the rate now; kept about an hour).
    Minute,
    /// One-hour buckets (the history; kept 30 days).
    Hour,
}

impl CounterResolution {
    /// Both resolutions.
    pub const ALL: [CounterResolution; 2] = [CounterResolution::Minute, CounterResolution::Hour];

    /// The bucket width in seconds (60 or 3600; stored as the `resolution` column).
    pub fn seconds(self) -> i64 {
        match self {
            CounterResolution::Minute => 60,
            CounterResolution::Hour => 3600,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        dt(self.bucket_ms(ms(t)))
    }

    fn bucket_ms(self, t: i64) -> i64 {
        let width = self.seconds() * 1000;
        t - t.rem_euclid(width)
    }
}

/// One bucket of an installation-wide counter: the sum over every replica of
/// what was added to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationCount {
    /// The counter's name (chosen by the caller, e.g. `events_accepted`).
    pub name: String,
    /// The start of the bucket (UTC).
    pub start: DateTime<Utc>,
    /// What was added to it.
    pub count: u64,
}

/// The database itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// `"sqlite"` or `"postgres"`.
    pub backend: String,
    /// Its size in bytes: SQLite's `page_count * page_size` (the main file; the
    /// write-ahead log is not counted), PostgreSQL's
    /// `pg_database_size(current_database())`.
    pub size_bytes: u64,
}

/// Alert deliveries not delivered (still on record: they go with their alert,
/// see [`RetentionLimits::alert_max_age`](crate::RetentionLimits::alert_max_age)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Waiting for an attempt, a retry or an attempt in flight.
    pub pending: u64,
    /// Given up after their last attempt.
    pub failed: u64,
}

#[derive(QueryableByName)]
struct CounterRow {
    #[diesel(sql_type = Text)]
    counter_name: String,
    #[diesel(sql_type = BigInt)]
    bucket_start: i64,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

#[derive(QueryableByName)]
struct SizeRow {
    #[diesel(sql_type = BigInt)]
    size_bytes: i64,
}

#[derive(QueryableByName)]
struct StateCountRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Adds each count to its counter's minute and hour holding `now`. Rows are
/// written in one order (resolution, bucket, name), so writers adding at once
/// on PostgreSQL queue on the rows instead of deadlocking.
pub(crate) fn add_counts<C: Exec>(c: &mut C, counts: &[(&str, u64)], now: i64) -> Result<()> {
    let mut rows: Vec<(i64, i64, &str, i64)> = Vec::with_capacity(counts.len() * 2);
    for &(name, count) in counts {
        if count == 0 {
            continue;
        }
        for res in CounterResolution::ALL {
            rows.push((res.seconds(), res.bucket_ms(now), name, to_i64(count)));
        }
    }
    rows.sort_unstable();
    // The same counter twice in one call adds up.
    rows.dedup_by(|later, kept| {
        if (later.0, later.1, later.2) == (kept.0, kept.1, kept.2) {
            kept.3 = kept.3.saturating_add(later.3);
            true
        } else {
            false
        }
    });
    for (resolution, start, name, amount) in rows {
        c.exec(
            Q::new("INSERT INTO installation_counters (resolution, bucket_start, counter_name, amount) VALUES (?, ?, ?, ?) ON CONFLICT (resolution, bucket_start, counter_name) DO UPDATE SET amount = installation_counters.amount + excluded.amount")
                .bind(resolution)
                .bind(start)
                .bind(name)
                .bind(amount),
        )?;
    }
    Ok(())
}

/// The buckets of `resolution` starting at or after `since`, by start then name.
pub(crate) fn counts_since<C: Exec>(
    c: &mut C,
    resolution: CounterResolution,
    since: i64,
) -> Result<Vec<InstallationCount>> {
    let rows: Vec<CounterRow> = c.rows(
        Q::new("SELECT counter_name, bucket_start, amount FROM installation_counters WHERE resolution = ? AND bucket_start >= ? ORDER BY bucket_start, counter_name")
            .bind(resolution.seconds())
            .bind(resolution.bucket_ms(since)),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| InstallationCount {
            name: r.counter_name,
            start: dt(r.bucket_start),
            count: to_u64(r.amount),
        })
        .collect())
}

/// Deletes the hourly buckets before `hours_before` and the minute buckets
/// before `minutes_before`; returns how many.
pub(crate) fn prune_counts<C: Exec>(
    c: &mut C,
    hours_before: i64,
    minutes_before: i64,
) -> Result<u64> {
    let mut deleted = 0;
    for (res, before) in [
        (CounterResolution::Hour, hours_before),
        (CounterResolution::Minute, minutes_before),
    ] {
        deleted += c.exec(
            Q::new("DELETE FROM installation_counters WHERE resolution = ? AND bucket_start < ?")
                .bind(res.seconds())
                .bind(before),
        )? as u64;
    }
    Ok(deleted)
}

/// The backend and the database's size.
pub(crate) fn database_info<C: Exec>(c: &mut C) -> Result<DatabaseInfo> {
    let (backend, sql) = if c.is_postgres() {
        (
            "postgres",
            "SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS size_bytes",
        )
    } else {
        (
            "sqlite",
            "SELECT p.page_count * s.page_size AS size_bytes FROM pragma_page_count() p, pragma_page_size() s",
        )
    };
    let row: Option<SizeRow> = c.row(Q::new(sql))?;
    Ok(DatabaseInfo {
        backend: backend.to_owned(),
        size_bytes: row.map_or(0, |r| to_u64(r.size_bytes)),
    })
}

/// Deliveries pending and failed (the `deliveries_due` index covers it).
pub(crate) fn delivery_counts<C: Exec>(c: &mut C) -> Result<DeliveryCounts> {
    let rows: Vec<StateCountRow> = c.rows(Q::new(
        "SELECT state, COUNT(*) AS n FROM deliveries WHERE state IN ('pending', 'failed') GROUP BY state",
    ))?;
    let mut out = DeliveryCounts::default();
    for r in rows {
        match r.state.as_str() {
            "pending" => out.pending = to_u64(r.n),
            "failed" => out.failed = to_u64(r.n),
            _ => {}
        }
    }
    Ok(out)
}

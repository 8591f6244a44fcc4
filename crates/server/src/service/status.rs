//! The installation status: what the installation holds and how ingest has
//! gone, for the admin API (`GET /api/admin/status`), `periscope status` and
//! the web UI's status page.
//!
//! Two sources. The database, shared by every replica: the version, the
//! database's backend and size, the events stored, the installation-wide
//! counters (events accepted and refusals by reason, per hour for 30 days and
//! per minute for the last hour, which every replica's maintenance worker adds
//! its new counts to every 5 s), the alert deliveries not delivered and each
//! project's quota limits. And the process asked, passed in by its door as
//! [`LiveFigures`]: the bus, the requests in flight, the uptime and the quota
//! usage it counts (the quotas live in the ingest pipeline, above this layer).
//! A door without a running server (the command line) passes `None`: those
//! figures are then `null`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use periscope_store::{CounterResolution, InstallationCount};
use serde::Serialize;
use utoipa::ToSchema;

use super::views::timestamp;
use super::{Result, Service};
use crate::metrics::{ACCEPTED_COUNTER, Rejection};

/// Hours in the hourly series of the status.
pub const STATUS_HOURS: usize = 24;
/// The span the ingest rate is measured over, in seconds.
pub const RATE_SECONDS: i64 = 300;

/// What a running server knows of itself, passed in by its door.
#[derive(Debug, Clone, Default)]
pub struct LiveFigures {
    /// The process's own figures.
    pub process: ProcessStatus,
    /// The quota usage it counts.
    pub quotas: QuotaUsage,
}

/// Quota usage as one process counts it (its admissions, plus the usage
/// restored from the database when it started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Used of the installation's per-minute quota (`None`: no such quota).
    pub installation_per_minute: Option<u64>,
    /// Used of each project's windows, by project id (a project not listed
    /// has used nothing).
    pub projects: BTreeMap<i64, QuotaUsed>,
}

/// Used of one project's quota windows (0 where nothing is counted: a window
/// without a limit counts nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsed {
    /// In the last minute.
    pub per_minute: u64,
    /// In the last hour.
    pub per_hour: u64,
    /// In the last day.
    pub per_day: u64,
}

/// The figures of the server process that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProcessStatus {
    /// Events waiting in its ingest bus.
    pub bus_depth: u64,
    /// Its bus capacity (`PERISCOPE_BUS_CAPACITY`).
    pub bus_capacity: u64,
    /// Ingest requests it is handling now.
    pub requests_in_flight: u64,
    /// Most ingest requests it handles at once (`PERISCOPE_MAX_INFLIGHT_REQUESTS`).
    pub max_requests_in_flight: u64,
    /// Seconds since it started.
    pub uptime_seconds: u64,
}

/// The database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DatabaseStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Its size in bytes (SQLite: the main file's pages, without the
    /// write-ahead log; PostgreSQL: `pg_database_size`).
    pub size_bytes: u64,
}

/// Why ingest requests were refused, grouped from the reasons of
/// `periscope_events_rejected_total` (given with each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// 429, a quota (`rate_limited`).
    RateLimited,
    /// 503, the server was full: ingest bus, body memory or requests in
    /// flight, or the database unavailable (`overloaded`).
    Overloaded,
    /// 400 or 413, input that could not be read or was too large
    /// (`bad_request`, `too_large`).
    BadInput,
    /// 401 or 403, missing, malformed or unknown credentials, or a key not of
    /// the project (`unauthorized`, `forbidden`).
    Unauthenticated,
    /// 500, the store failed (`store_error`).
    StoreError,
}

impl RefusalReason {
    /// Every reason, in the order the status lists them.
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::RateLimited,
        RefusalReason::Overloaded,
        RefusalReason::BadInput,
        RefusalReason::Unauthenticated,
        RefusalReason::StoreError,
    ];

    /// Its name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::RateLimited => "rate_limited",
            RefusalReason::Overloaded => "overloaded",
            RefusalReason::BadInput => "bad_input",
            RefusalReason::Unauthenticated => "unauthenticated",
            RefusalReason::StoreError => "store_error",
        }
    }

    fn of(r: Rejection) -> Self {
        match r {
            Rejection::BadRequest | Rejection::TooLarge => RefusalReason::BadInput,
            Rejection::Unauthorized | Rejection::Forbidden => RefusalReason::Unauthenticated,
            Rejection::RateLimited => RefusalReason::RateLimited,
            Rejection::Overloaded => RefusalReason::Overloaded,
            Rejection::StoreError => RefusalReason::StoreError,
        }
    }

    /// The reason counted under an installation counter's name, if it is a
    /// refusal counter.
    fn of_counter(name: &str) -> Option<Self> {
        Rejection::ALL
            .into_iter()
            .find(|r| r.counter_name() == name)
            .map(Self::of)
    }
}

/// Refusals of one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RefusalCount {
    /// The reason.
    pub reason: RefusalReason,
    /// Requests refused for it.
    pub count: u64,
}

/// Alert deliveries not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryStatus {
    /// Waiting for their first attempt or a retry (or being attempted now).
    pub pending: u64,
    /// Given up; kept with their alert until it ages out.
    pub failed: u64,
}

/// Where a quota limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The project's own setting.
    Project,
    /// The installation default (`PERISCOPE_QUOTA_*`).
    Default,
    /// No limit.
    None,
}

/// One quota window: its limit and what is used of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct QuotaWindow {
    /// Events allowed per window (`null`: no limit).
    #[schema(required = true)]
    pub limit: Option<u64>,
    /// Where the limit comes from.
    pub source: LimitSource,
    /// Events counted in the sliding window now, by the server that answered
    /// (each replica counts what it admits, starting from the stored sum);
    /// `null` without a limit (nothing is counted) or without a running server.
    #[schema(required = true)]
    pub used: Option<u64>,
}

/// A project's quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProjectQuotaStatus {
    /// The project id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Events it has stored.
    pub stored_events: u64,
    /// Per minute.
    pub per_minute: QuotaWindow,
    /// Per hour.
    pub per_hour: QuotaWindow,
    /// Per day.
    pub per_day: QuotaWindow,
}

/// The installation status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InstallationStatus {
    /// The server's version.
    pub version: String,
    /// When the figures were taken.
    pub generated_at: String,
    /// The database.
    pub database: DatabaseStatus,
    /// Events stored, over every project.
    pub events_stored: u64,
    /// Events accepted per hour, every replica's, for the last 24 hours
    /// (clock hours, oldest first; the last is the hour under way).
    pub events_accepted_hourly: Vec<u64>,
    /// Their sum.
    pub events_accepted_24h: u64,
    /// Events accepted per second over the last 5 minutes, every replica's
    /// (from the minute counters; the oldest minute counted pro rata).
    pub ingest_rate_per_second: f64,
    /// Ingest requests refused in the same 24 hours, by reason (every reason
    /// listed, in a fixed order).
    pub refusals_24h: Vec<RefusalCount>,
    /// Their sum.
    pub refused_24h: u64,
    /// Alert deliveries not delivered.
    pub deliveries: DeliveryStatus,
    /// The installation-wide per-minute quota (`PERISCOPE_QUOTA_INSTALLATION_PER_MINUTE`).
    pub installation_quota: QuotaWindow,
    /// Every project's quotas, by id.
    pub projects: Vec<ProjectQuotaStatus>,
    /// The figures of the server process that answered (`null` from the
    /// command line: they come from a running server's `/metrics` or
    /// `GET /api/admin/status`).
    #[schema(required = true)]
    pub process: Option<ProcessStatus>,
}

/// The limit that applies, and where it comes from.
fn limit(own: Option<u64>, default: Option<u64>) -> (Option<u64>, LimitSource) {
    match (own, default) {
        (Some(l), _) => (Some(l), LimitSource::Project),
        (None, Some(l)) => (Some(l), LimitSource::Default),
        (None, None) => (None, LimitSource::None),
    }
}

fn window(own: Option<u64>, default: Option<u64>, used: Option<u64>) -> QuotaWindow {
    let (limit, source) = limit(own, default);
    QuotaWindow {
        limit,
        source,
        used: limit.and(used),
    }
}

/// Accepted per hour (`STATUS_HOURS` buckets ending with the hour of `now`)
/// and the refusals by reason over the same hours.
fn hourly(rows: &[InstallationCount], now: DateTime<Utc>) -> (Vec<u64>, Vec<RefusalCount>) {
    let last = CounterResolution::Hour.bucket_of(now);
    let mut accepted = vec![0u64; STATUS_HOURS];
    let mut refused: Vec<RefusalCount> = RefusalReason::ALL
        .into_iter()
        .map(|reason| RefusalCount { reason, count: 0 })
        .collect();
    for row in rows {
        let back = (last - row.start).num_hours();
        let Ok(back) = usize::try_from(back) else {
            continue;
        };
        if back >= STATUS_HOURS {
            continue;
        }
        if row.name == ACCEPTED_COUNTER {
            let slot = &mut accepted[STATUS_HOURS - 1 - back];
            *slot = slot.saturating_add(row.count);
        } else if let Some(reason) = RefusalReason::of_counter(&row.name)
            && let Some(r) = refused.iter_mut().find(|r| r.reason == reason)
        {
            r.count = r.count.saturating_add(row.count);
        }
    }
    (accepted, refused)
}

/// Events accepted per second over the `RATE_SECONDS` before `now`, from
/// minute buckets: the buckets inside the span fully, the one it starts in
/// for its part inside.
fn rate(rows: &[InstallationCount], now: DateTime<Utc>) -> f64 {
    let from = now - Duration::seconds(RATE_SECONDS);
    let width = Duration::seconds(CounterResolution::Minute.seconds());
    let mut events = 0.0;
    for row in rows.iter().filter(|r| r.name == ACCEPTED_COUNTER) {
        let end = row.start + width;
        if end <= from || row.start > now {
            continue;
        }
        let share = if row.start >= from {
            1.0
        } else {
            (end - from).num_milliseconds() as f64 / width.num_milliseconds() as f64
        };
        events += row.count as f64 * share;
    }
    events / RATE_SECONDS as f64
}

impl Service {
    /// The installation status at `now`: the database's figures, and those
    /// of the process that asks (`None` from a door without a running server:
    /// its figures and the quota usage are then `null`).
    pub fn installation_status(
        &self,
        now: DateTime<Utc>,
        live: Option<LiveFigures>,
    ) -> Result<InstallationStatus> {
        let database = self.db.database_info()?;
        let projects = self.db.list_projects()?;
        let since = now - Duration::hours(STATUS_HOURS as i64 - 1);
        let hours = self
            .db
            .installation_counts(CounterResolution::Hour, since)?;
        let minutes = self.db.installation_counts(
            CounterResolution::Minute,
            now - Duration::seconds(RATE_SECONDS),
        )?;
        let deliveries = self.db.delivery_counts()?;
        let (events_accepted_hourly, refusals_24h) = hourly(&hours, now);
        let defaults = &self.config.quotas;
        let (process, usage) = match live {
            Some(l) => (Some(l.process), Some(l.quotas)),
            None => (None, None),
        };
        let project_usage = |id: i64| -> Option<QuotaUsed> {
            usage
                .as_ref()
                .map(|u| u.projects.get(&id).copied().unwrap_or_default())
        };
        let projects = projects
            .iter()
            .map(|p| {
                let used = project_usage(p.id.get());
                let s = &p.settings;
                ProjectQuotaStatus {
                    id: p.id.get(),
                    name: p.name.clone(),
                    stored_events: p.stored_events,
                    per_minute: window(
                        s.quota_per_minute,
                        defaults.project_per_minute,
                        used.map(|u| u.per_minute),
                    ),
                    per_hour: window(
                        s.quota_per_hour,
                        defaults.project_per_hour,
                        used.map(|u| u.per_hour),
                    ),
                    per_day: window(
                        s.quota_per_day,
                        defaults.project_per_day,
                        used.map(|u| u.per_day),
                    ),
                }
            })
            .collect::<Vec<_>>();
        Ok(InstallationStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_at: timestamp(now),
            database: DatabaseStatus {
                backend: database.backend,
                size_bytes: database.size_bytes,
            },
            events_stored: projects
                .iter()
                .fold(0u64, |sum, p| sum.saturating_add(p.stored_events)),
            events_accepted_24h: events_accepted_hourly
                .iter()
                .fold(0u64, |sum, n| sum.saturating_add(*n)),
            events_accepted_hourly,
            ingest_rate_per_second: rate(&minutes, now),
            refused_24h: refusals_24h
                .iter()
                .fold(0u64, |sum, r| sum.saturating_add(r.count)),
            refusals_24h,
            deliveries: DeliveryStatus {
                pending: deliveries.pending,
                failed: deliveries.failed,
            },
            installation_quota: {
                let limit = defaults.installation_per_minute;
                QuotaWindow {
                    limit,
                    source: if limit.is_some() {
                        LimitSource::Default
                    } else {
                        LimitSource::None
                    },
                    used: limit.and(usage.as_ref().and_then(|u| u.installation_per_minute)),
                }
            },
            projects,
            process,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
    }

    fn row(name: &str, start: DateTime<Utc>, count: u64) -> InstallationCount {
        InstallationCount {
            name: name.into(),
            start,
            count,
        }
    }

    #[test]
    fn hours_and_reasons() {
        let now = at(12, 30, 0);
        let rows = [
            row("events_accepted", at(12, 0, 0), 5),
            row("events_accepted", at(11, 0, 0), 3),
            // 24 hours back: outside.
            row("events_accepted", at(12, 0, 0) - Duration::hours(24), 100),
            // 23 hours back: the first slot.
            row("events_accepted", at(12, 0, 0) - Duration::hours(23), 1),
            row("rejected_bad_request", at(12, 0, 0), 2),
            row("rejected_too_large", at(10, 0, 0), 1),
            row("rejected_forbidden", at(12, 0, 0), 4),
            row("rejected_unauthorized", at(12, 0, 0), 1),
            row("something_else", at(12, 0, 0), 9),
        ];
        let (accepted, refused) = hourly(&rows, now);
        assert_eq!(accepted.len(), STATUS_HOURS);
        assert_eq!(accepted[23], 5);
        assert_eq!(accepted[22], 3);
        assert_eq!(accepted[0], 1);
        assert_eq!(accepted.iter().sum::<u64>(), 9);
        let count = |r: RefusalReason| refused.iter().find(|c| c.reason == r).unwrap().count;
        assert_eq!(count(RefusalReason::BadInput), 3);
        assert_eq!(count(RefusalReason::Unauthenticated), 5);
        assert_eq!(count(RefusalReason::RateLimited), 0);
        assert_eq!(refused.len(), RefusalReason::ALL.len());
    }

    #[test]
    fn rate_over_five_minutes() {
        let now = at(12, 5, 30);
        let rows = [
            // 12:00 starts 30 s before the span: half of it counts.
            row("events_accepted", at(12, 0, 0), 60),
            row("events_accepted", at(12, 1, 0), 60),
            row("events_accepted", at(12, 5, 0), 30),
            row("rejected_overloaded", at(12, 2, 0), 1000),
            // Before the span.
            row("events_accepted", at(11, 59, 0), 600),
        ];
        let r = rate(&rows, now);
        assert!((r - (30.0 + 60.0 + 30.0) / 300.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn limits_and_their_source() {
        assert_eq!(
            window(Some(5), Some(10), Some(2)),
            QuotaWindow {
                limit: Some(5),
                source: LimitSource::Project,
                used: Some(2)
            }
        );
        assert_eq!(window(None, Some(10), None).source, LimitSource::Default);
        let free = window(None, None, Some(7));
        assert_eq!(
            (free.limit, free.source, free.used),
            (None, LimitSource::None, None)
        );
    }
}

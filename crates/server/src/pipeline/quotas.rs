//! Quotas of the ingest path: the installation default and each project's own, checked
//! at once (atomically) with the quota crate's in-memory limiter, and persisted to the
//! store's usage table so a restart does not reset them.
//!
//! Persistence works in deltas: every few seconds the server takes a snapshot of the
//! in-memory buckets, writes to the store what each bucket gained since the previous
//! save, and at start reloads the recent buckets into the limiter. Several replicas on
//! one database each enforce their own share of the counts they see; the stored
//! totals are the sum over replicas, and a restarted replica starts from that sum.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use periscope_quota::{
    DataCategory, Limiter, Quota, QuotaScope, RateLimits, UnixMillis, UsageBucket, WindowCheck,
};
use periscope_store::UsageDelta;

use crate::config::QuotaDefaults;
use crate::pipeline::keys::ProjectInfo;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const SEP: char = '\u{1f}';
/// The ids of the project quotas, with their windows.
const PROJECT_WINDOWS: [(&str, Duration); 3] = [
    ("project_minute_quota", MINUTE),
    ("project_hour_quota", HOUR),
    ("project_day_quota", DAY),
];

/// The ingest quotas.
pub(crate) struct Quotas {
    limiter: Limiter,
    installation: Option<Quota>,
    defaults: QuotaDefaults,
    saved: Mutex<HashMap<(String, String, u64, u64), u64>>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

fn error_quota(id: &str, scope: QuotaScope, limit: u64, window: Duration) -> Quota {
    Quota::new(id, scope, Some(limit), window)
        .with_categories([DataCategory::Error, DataCategory::Default])
}

/// Milliseconds since the Unix epoch of `now`.
pub(crate) fn unix_millis(now: DateTime<Utc>) -> UnixMillis {
    UnixMillis(u64::try_from(now.timestamp_millis()).unwrap_or(0))
}

impl Quotas {
    /// Quotas with these installation defaults.
    pub(crate) fn new(defaults: QuotaDefaults) -> Self {
        let installation = defaults.installation_per_minute.map(|limit| {
            error_quota(
                "installation_quota",
                QuotaScope::Installation,
                limit,
                MINUTE,
            )
        });
        Self {
            limiter: Limiter::default(),
            installation,
            defaults,
            saved: Mutex::new(HashMap::new()),
        }
    }

    /// The project quotas that apply: the project's own settings, else the defaults.
    fn project_quotas(&self, project: &ProjectInfo) -> Vec<Quota> {
        let pick = |own: Option<u64>, default: Option<u64>| own.or(default);
        let mut out = Vec::new();
        if let Some(l) = pick(project.quota_per_minute, self.defaults.project_per_minute) {
            out.push(error_quota(
                "project_minute_quota",
                QuotaScope::Project,
                l,
                MINUTE,
            ));
        }
        if let Some(l) = pick(project.quota_per_hour, self.defaults.project_per_hour) {
            out.push(error_quota(
                "project_hour_quota",
                QuotaScope::Project,
                l,
                HOUR,
            ));
        }
        if let Some(l) = pick(project.quota_per_day, self.defaults.project_per_day) {
            out.push(error_quota(
                "project_day_quota",
                QuotaScope::Project,
                l,
                DAY,
            ));
        }
        out
    }

    /// Admits and counts one error event for `project`, or returns the limits to answer 429 with.
    pub(crate) fn check(
        &self,
        project: &ProjectInfo,
        now: DateTime<Utc>,
    ) -> Result<(), RateLimits> {
        let project_quotas = self.project_quotas(project);
        let project_key = project.project_id.to_string();
        let mut scoped = Vec::with_capacity(project_quotas.len() + 1);
        if let Some(q) = &self.installation {
            scoped.push(q.scoped("installation"));
        }
        for q in &project_quotas {
            scoped.push(q.scoped(&project_key));
        }
        if scoped.is_empty() {
            return Ok(());
        }
        self.limiter
            .check_and_count(&scoped, &DataCategory::Error, 1, unix_millis(now))
    }

    /// What the counts gained since the last call, as store deltas; prunes idle counters.
    pub(crate) fn take_deltas(&self, now: DateTime<Utc>) -> Vec<UsageDelta> {
        let counter = self.limiter.counter();
        let snapshot = counter.snapshot();
        counter.prune(unix_millis(now));
        let Ok(mut saved) = self.saved.lock() else {
            return Vec::new();
        };
        let mut deltas = Vec::new();
        let mut current = HashMap::with_capacity(snapshot.len());
        for b in snapshot {
            let window_ms = u64::try_from(b.window.as_millis()).unwrap_or(u64::MAX);
            let id = (
                b.quota_id.clone(),
                b.scope_key.clone(),
                window_ms,
                b.start.0,
            );
            let before = saved.get(&id).copied().unwrap_or(0);
            if b.count > before {
                deltas.push(UsageDelta {
                    key: format!("{}{SEP}{}{SEP}{}", b.quota_id, b.scope_key, window_ms),
                    bucket_start: i64::try_from(b.start.0).unwrap_or(i64::MAX),
                    count: i64::try_from(b.count - before).unwrap_or(i64::MAX),
                });
            }
            current.insert(id, b.count);
        }
        *saved = current;
        deltas
    }

    /// Seeds the limiter from stored usage (at start). Returns how many buckets were restored.
    pub(crate) fn restore(&self, rows: Vec<UsageDelta>) -> usize {
        let mut buckets = Vec::with_capacity(rows.len());
        for row in rows {
            let mut parts = row.key.split(SEP);
            let (Some(quota_id), Some(scope_key), Some(window_ms), None) = (
                parts.next(),
                parts.next(),
                parts.next().and_then(|w| w.parse::<u64>().ok()),
                parts.next(),
            ) else {
                continue;
            };
            let (Ok(start), Ok(count)) =
                (u64::try_from(row.bucket_start), u64::try_from(row.count))
            else {
                continue;
            };
            // The bucket's last unit is not stored: assume the end of the bucket, which
            // keeps the count in the window for as long as it can have been (never
            // admits more than the limit after a restart).
            buckets.push(UsageBucket::assuming_last_at_end(
                quota_id,
                scope_key,
                Duration::from_millis(window_ms),
                UnixMillis(start),
                count,
            ));
        }
        self.limiter.counter().restore(buckets)
    }

    /// What is used now of each quota window this process counts: the
    /// installation's per-minute quota (when one is set) and each project's
    /// windows that it holds a counter for (those with a limit; a project or
    /// window not listed has used nothing). Read-only: this process's counts,
    /// which include the usage restored from the database at its start (see
    /// the module docs).
    pub(crate) fn usage(&self, now: DateTime<Utc>) -> crate::service::status::QuotaUsage {
        let counter = self.limiter.counter();
        let at = unix_millis(now);
        let used = |quota_id: &str, scope_key: &str, window: Duration| {
            counter.used(
                &WindowCheck {
                    quota_id,
                    scope_key,
                    window,
                    limit: None,
                },
                at,
            )
        };
        let installation_per_minute = self
            .installation
            .as_ref()
            .map(|q| used(&q.id, "installation", q.window));
        let scopes: BTreeSet<String> = counter
            .snapshot()
            .into_iter()
            .filter(|b| PROJECT_WINDOWS.iter().any(|(id, _)| b.quota_id == *id))
            .map(|b| b.scope_key)
            .collect();
        let mut projects = BTreeMap::new();
        for scope in scopes {
            let Ok(project_id) = scope.parse::<i64>() else {
                continue;
            };
            let [minute, hour, day] = PROJECT_WINDOWS.map(|(id, window)| used(id, &scope, window));
            projects.insert(
                project_id,
                crate::service::status::QuotaUsed {
                    per_minute: minute,
                    per_hour: hour,
                    per_day: day,
                },
            );
        }
        crate::service::status::QuotaUsage {
            installation_per_minute,
            projects,
        }
    }

    /// The oldest bucket start worth loading at `now` (the longest window we use).
    pub(crate) fn load_since(now: DateTime<Utc>) -> i64 {
        let ms = unix_millis(now)
            .0
            .saturating_sub(u64::try_from(DAY.as_millis()).unwrap_or(0) + 60_000);
        i64::try_from(ms).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(per_minute: Option<u64>) -> ProjectInfo {
        ProjectInfo {
            project_id: 7,
            quota_per_minute: per_minute,
            quota_per_hour: None,
            quota_per_day: None,
            grouping: crate::service::grouping::ProjectGrouping::of(&Default::default()),
        }
    }

    #[test]
    fn project_limit_refuses_with_headers() {
        let q = Quotas::new(QuotaDefaults::default());
        let now = Utc::now();
        let p = project(Some(2));
        assert!(q.check(&p, now).is_ok());
        assert!(q.check(&p, now).is_ok());
        let limits = q.check(&p, now).unwrap_err();
        assert_eq!(
            limits.to_header_value(),
            "60:error;default:project:project_minute_quota"
        );
        assert_eq!(limits.retry_after_header().as_deref(), Some("60"));
        // No quota configured: never refused.
        let free = project(None);
        for _ in 0..100 {
            assert!(q.check(&free, now).is_ok());
        }
    }

    #[test]
    fn usage_reads_the_windows() {
        let q = Quotas::new(QuotaDefaults {
            installation_per_minute: Some(100),
            project_per_day: Some(50),
            ..QuotaDefaults::default()
        });
        let now = Utc::now();
        let empty = q.usage(now);
        assert_eq!(empty.installation_per_minute, Some(0));
        assert!(empty.projects.is_empty());
        let p = project(Some(2));
        for _ in 0..3 {
            let _ = q.check(&p, now);
        }
        let usage = q.usage(now);
        // The third was refused by the minute quota: counted nowhere.
        assert_eq!(usage.installation_per_minute, Some(2));
        let used = usage.projects.get(&7).copied().unwrap_or_default();
        assert_eq!(
            (used.per_minute, used.per_hour, used.per_day),
            (2, 0, 2),
            "no hourly limit: no hourly counter"
        );
        // Without an installation quota, nothing to report for it.
        let free = Quotas::new(QuotaDefaults::default());
        assert_eq!(free.usage(now).installation_per_minute, None);
    }

    #[test]
    fn counts_survive_a_restart_through_deltas() {
        let now = Utc::now();
        let p = project(Some(3));
        let q = Quotas::new(QuotaDefaults::default());
        q.check(&p, now).unwrap();
        q.check(&p, now).unwrap();
        let deltas = q.take_deltas(now);
        assert_eq!(deltas.iter().map(|d| d.count).sum::<i64>(), 2);
        assert!(
            q.take_deltas(now).is_empty(),
            "nothing new since the last save"
        );
        q.check(&p, now).unwrap();
        let more = q.take_deltas(now);
        assert_eq!(more.iter().map(|d| d.count).sum::<i64>(), 1);

        // Sum the deltas per (key, bucket) as the store does, and restore.
        let mut totals: HashMap<(String, i64), i64> = HashMap::new();
        for d in deltas.into_iter().chain(more) {
            *totals.entry((d.key, d.bucket_start)).or_default() += d.count;
        }
        let rows = totals
            .into_iter()
            .map(|((key, bucket_start), count)| UsageDelta {
                key,
                bucket_start,
                count,
            })
            .collect();
        let restarted = Quotas::new(QuotaDefaults::default());
        assert!(restarted.restore(rows) >= 1);
        assert!(
            restarted.check(&p, now).is_err(),
            "3 of 3 already used before the restart"
        );
    }
}

//! [`Store`]: the diesel implementation of every trait, on SQLite or PostgreSQL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{Backend, SqliteSynchronous, StoreConfig};
use crate::distinct::UserHash;
use crate::error::{ErrorClass, Result, StoreError};
use crate::ingest::{self, IngestLimits, Prepared};
use crate::model::{
    Activity, AlertWithDeliveries, ClaimedDelivery, CountBucket, Delivery, DeliveryState,
    Destination, EventPosition, EventSummary, EvictionReport, IngestOutcome, Issue, IssueAction,
    IssueFilter, NewEvent, Page, Project, ProjectUpdate, RetentionLimits, RetentionReport, Role,
    Session, StoredEvent, TagDistribution, UsageDelta, User,
};
use crate::model::{DeliveryId, DestinationId, IssueId, ProjectId, UserId};
use crate::model::{GroupingKey, IssueKey, MergeOutcome, RegroupOutcome, StoredForRegroup};
use crate::model::{TokenKind, UserSession, UserToken};
use crate::sql::{Exec, Q};
use crate::traits::{
    AlertStore, GroupingStore, IngestStore, IssueStore, MaintenanceStore, ProjectStore, UsageStore,
    UserStore,
};
use crate::{grouping, ops, regroup, stats, users};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Advisory lock key held while migrating PostgreSQL, so that replicas starting
/// together do not migrate twice.
const MIGRATION_LOCK: i64 = 0x7065_7269_7363_6f70; // "periscop"
/// Events deleted per transaction by the periodic eviction.
const EVICT_STEP: i64 = 1000;
/// Attempts of a write transaction that fails with a transient error (a
/// PostgreSQL deadlock or serialization failure, or [`StoreError::Raced`]):
/// the work is redone from the start, in a new transaction.
const TRANSIENT_ATTEMPTS: u32 = 3;

#[derive(Clone)]
enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// A handle on the database: cheap to clone, `Send + Sync`, with a connection
/// pool inside. Implements every storage trait.
///
/// All methods block: call them from blocking threads (e.g.
/// `tokio::task::spawn_blocking`), not from async tasks.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    compression_level: i32,
    config: Arc<StoreConfig>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .field("compression_level", &self.compression_level)
            .finish()
    }
}

#[derive(Debug)]
struct SqliteSetup {
    busy_timeout_ms: u128,
    cache_kib: u32,
    synchronous: SqliteSynchronous,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(
        &self,
        conn: &mut SqliteConnection,
    ) -> std::result::Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8192; PRAGMA journal_size_limit = 67108864;",
            self.busy_timeout_ms,
            self.synchronous.as_pragma(),
            self.cache_kib
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Runs `$body` with `$c` bound to a pooled connection of either backend.
macro_rules! with_conn {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite(pool) => {
                let mut guard = pool.get()?;
                let $c: &mut SqliteConnection = &mut guard;
                $body
            }
            Pools::Postgres(pool) => {
                let mut guard = pool.get()?;
                let $c: &mut PgConnection = &mut guard;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction (`BEGIN IMMEDIATE` on SQLite so writers
/// queue on the busy timeout instead of failing on lock upgrade).
macro_rules! with_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite(pool) => {
                let mut guard = pool.get()?;
                let conn: &mut SqliteConnection = &mut guard;
                conn.immediate_transaction(|$c| -> Result<_> { $body })
            }
            Pools::Postgres(pool) => {
                let mut guard = pool.get()?;
                let conn: &mut PgConnection = &mut guard;
                conn.transaction(|$c| -> Result<_> { $body })
            }
        }
    };
}

impl Store {
    /// Opens the database described by `config`, creating the SQLite file if
    /// needed, and applies the embedded migrations.
    pub fn open(config: &StoreConfig) -> Result<Store> {
        let pools = match &config.backend {
            Backend::Sqlite(path) => {
                let url = path.to_str().ok_or_else(|| {
                    StoreError::Config(format!("SQLite path {path:?} is not valid UTF-8"))
                })?;
                Pools::Sqlite(sqlite_pool(url, config, false)?)
            }
            Backend::SqliteMemory => Pools::Sqlite(sqlite_pool(":memory:", config, true)?),
            Backend::Postgres(url) => {
                let pool = Pool::builder()
                    .max_size(config.pool_size.max(1))
                    .min_idle(Some(1))
                    .connection_timeout(config.connect_timeout)
                    .build(ConnectionManager::<PgConnection>::new(url.as_str()))
                    .map_err(|e| StoreError::Connect {
                        backend: "postgres",
                        message: e.to_string(),
                    })?;
                Pools::Postgres(pool)
            }
        };
        let store = Store {
            pools,
            compression_level: config.compression_level,
            config: Arc::new(config.clone()),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens a store from a URL with default settings (see
    /// [`StoreConfig::from_url`]).
    pub fn open_url(url: &str) -> Result<Store> {
        Store::open(&StoreConfig::from_url(url)?)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.pools {
            Pools::Sqlite(_) => "sqlite",
            Pools::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations (done by [`Store::open`]; safe to repeat).
    pub fn migrate(&self) -> Result<()> {
        let err =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut conn = pool.get()?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(err)?;
            }
            Pools::Postgres(pool) => {
                let mut conn = pool.get()?;
                conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let result = conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                result.map_err(err)?;
            }
        }
        Ok(())
    }

    /// A handle for the digest writer with a database connection of its own
    /// (a pool of one), so that admin reads and key lookups on this store's pool
    /// never make the writer wait; implements [`IngestStore`].
    ///
    /// Same database and settings as this store, but a batch waits at most
    /// [`StoreConfig::writer_connect_timeout`] (default 2 s) for the connection
    /// and, on PostgreSQL, for a new one to be made (libpq `connect_timeout`,
    /// added to the URL unless it has one; at least 2 s), then fails with an
    /// [unavailable](StoreError::is_unavailable) error. The connection is
    /// checked (`SELECT 1`) before each batch and replaced when broken, so the
    /// writer reconnects by itself when the database comes back. For an
    /// in-memory SQLite database (one connection, one database) the writer
    /// shares this store's only connection.
    ///
    /// Creating it does not connect (that happens in the background and on the
    /// first batch), so it succeeds while the database is down. Call it once
    /// and keep the handle (each call opens another connection).
    pub fn ingest_writer(&self) -> Result<IngestWriter> {
        let config = &self.config;
        let pools = match &config.backend {
            Backend::SqliteMemory => self.pools.clone(),
            Backend::Sqlite(path) => {
                let url = path.to_str().ok_or_else(|| {
                    StoreError::Config(format!("SQLite path {path:?} is not valid UTF-8"))
                })?;
                Pools::Sqlite(
                    writer_builder(config)
                        .connection_customizer(Box::new(sqlite_setup(config)))
                        .build_unchecked(ConnectionManager::<SqliteConnection>::new(url)),
                )
            }
            Backend::Postgres(url) => {
                Pools::Postgres(writer_builder(config).build_unchecked(ConnectionManager::<
                    PgConnection,
                >::new(
                    with_connect_timeout(url, config.writer_connect_timeout),
                )))
            }
        };
        Ok(IngestWriter {
            store: Store {
                pools,
                compression_level: self.compression_level,
                config: self.config.clone(),
            },
        })
    }

    /// The key version: a counter raised by every change to a project or its
    /// keys (creation, new key, revoked key, settings, deletion), in the same
    /// transaction.
    /// Poll it to know when cached key lookups may be stale, also changes made
    /// by other processes sharing the database.
    pub fn keys_version(&self) -> Result<i64> {
        with_conn!(self, |c| ops::keys_version(c))
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// One bounded step of retention: at most
    /// [`RetentionLimits::max_rows_per_step`] rows deleted in one short
    /// transaction, so that no step holds the write lock for long (lowering a
    /// project's cap from 100,000 to 10 takes many quick steps, with ingest
    /// batches in between). Call it repeatedly while
    /// [`RetentionReport::more`] is true (and again periodically, e.g. every
    /// minute).
    ///
    /// A step does the first of these that has work:
    ///
    /// 1. a project over its `max_events` cap: its oldest ordinary events go
    ///    first, then, if they are not enough, its oldest kept events (first
    ///    events of issues, regressions) — the newest `max_events` events stay;
    /// 2. a project with `max_age_days`: its events received before the cutoff
    ///    (kept ones too: the age cap is a hard bound);
    /// 3. the issue idle the longest, if idle longer than
    ///    [`RetentionLimits::issue_max_idle`]: its events, then (in the step that
    ///    finds none left) the issue with its tag index, alerts and deliveries;
    /// 4. alerts older than [`RetentionLimits::alert_max_age`] whose deliveries
    ///    are finished, or older than twice that whatever their state;
    /// 5. hourly event counts (per issue, then per project) of hours that
    ///    started before [`RetentionLimits::count_max_age`] (default 90 days).
    ///
    /// Issues are never deleted for the count or age caps: an issue whose events
    /// were all evicted keeps its counters and status, so its next event is a
    /// regression if it was resolved, not a new issue.
    pub fn retention_step(
        &self,
        now: DateTime<Utc>,
        limits: &RetentionLimits,
    ) -> Result<RetentionReport> {
        let n = i64::from(limits.max_rows_per_step.max(1));
        let now_ms = ops::ms(now);
        let mut report = RetentionReport::default();

        // 1. Count caps.
        if let Some(p) = with_conn!(self, |c| ops::project_over_cap(c))? {
            report.capped_events = with_tx!(self, |c| ops::cap_step(c, p.id, n))?;
            report.more = true;
            return Ok(report);
        }
        // 2. Age caps.
        for p in with_conn!(self, |c| ops::retention_projects(c))? {
            if let Some(days) = p.max_age_days {
                let cutoff = now_ms - days.max(0).saturating_mul(86_400_000);
                // Looked for first with a read, so that a step with nothing to
                // do takes no write lock.
                let due: Option<ops::IdRow> = with_conn!(self, |c| c.row(
                    Q::new(
                        "SELECT id FROM events WHERE project_id = ? AND received_at < ? LIMIT 1"
                    )
                    .bind(p.id)
                    .bind(cutoff)
                ))?;
                if due.is_none() {
                    continue;
                }
                let deleted = with_tx!(self, |c| ops::evict_older(c, p.id, cutoff, n))?;
                if deleted > 0 {
                    report.expired_events = deleted;
                    report.more = true;
                    return Ok(report);
                }
            }
        }
        // 3. Idle issues.
        if let Some(idle) = limits.issue_max_idle {
            let cutoff = now_ms.saturating_sub(duration_ms(idle));
            if let Some(issue) = with_conn!(self, |c| ops::idle_issue(c, cutoff))? {
                let (events, issues) =
                    with_tx!(self, |c| ops::idle_issue_step(c, &issue, cutoff, n))?;
                report.idle_events = events;
                report.idle_issues = issues;
                report.more = true;
                return Ok(report);
            }
        }
        // 4. Old alerts.
        if let Some(age) = limits.alert_max_age {
            let age = duration_ms(age);
            let finished_before = now_ms.saturating_sub(age);
            let stale_before = now_ms.saturating_sub(age.saturating_mul(2));
            let any_old: Option<ops::IdRow> = with_conn!(self, |c| c.row(
                Q::new("SELECT id FROM alerts WHERE created_at < ? LIMIT 1").bind(finished_before)
            ))?;
            if any_old.is_some() {
                let deleted = with_tx!(self, |c| ops::prune_alerts(
                    c,
                    finished_before,
                    stale_before,
                    n
                ))?;
                if deleted > 0 {
                    report.alerts = deleted;
                    report.more = true;
                    return Ok(report);
                }
            }
        }
        // 5. Old hourly counts.
        if let Some(age) = limits.count_max_age {
            let before = now_ms.saturating_sub(duration_ms(age));
            if with_conn!(self, |c| stats::any_old_counts(c, before))? {
                let deleted = with_tx!(self, |c| stats::prune_counts(c, before, n))?;
                if deleted > 0 {
                    report.count_buckets = deleted;
                    report.more = true;
                }
            }
        }
        Ok(report)
    }

    /// Runs `work` (a whole transaction) again while it fails with a
    /// transient error, at most [`TRANSIENT_ATTEMPTS`] times in all.
    fn retrying<T>(&self, mut work: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            match work() {
                Err(e) if e.class() == ErrorClass::Transient && attempt < TRANSIENT_ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
                }
                other => return other,
            }
        }
    }

    fn ingest_limits(&self) -> IngestLimits {
        IngestLimits {
            max_evictions: i64::from(self.config.max_evictions_per_batch),
            max_tags_per_issue: i64::from(self.config.max_tag_values_per_issue),
        }
    }

    /// Compresses the payloads (outside the transaction), on several threads for
    /// large batches.
    fn prepare<'e>(&self, events: &'e [NewEvent]) -> Result<Vec<Prepared<'e>>> {
        const PER_THREAD: usize = 64;
        let level = self.compression_level;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(events.len() / PER_THREAD)
            .clamp(1, 8);
        if threads == 1 {
            return events.iter().map(|e| prepare_one(e, level)).collect();
        }
        let per = events.len().div_ceil(threads);
        let results: Vec<Result<Vec<Prepared<'e>>>> = std::thread::scope(|s| {
            let handles: Vec<_> = events
                .chunks(per)
                .map(|part| s.spawn(move || part.iter().map(|e| prepare_one(e, level)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StoreError::Config(
                            "payload compression thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(events.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

fn prepare_one(event: &NewEvent, level: i32) -> Result<Prepared<'_>> {
    let compressed = compress(&event.payload, level)?;
    let tags_json = serde_json::to_string(&event.tags).unwrap_or_else(|_| "[]".into());
    Ok(Prepared {
        event,
        compressed,
        tags_json,
        user: event.user.as_deref().map(UserHash::of),
    })
}

thread_local! {
    /// A zstd context per thread and level: creating one costs more than
    /// compressing a 5 KB event, so it is reused.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(payload: &[u8], level: i32) -> Result<Vec<u8>> {
    let fail = |e: std::io::Error| StoreError::Config(format!("zstd compression failed: {e}"));
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).map_err(fail)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(payload).map_err(fail),
            None => zstd::bulk::compress(payload, level).map_err(fail),
        }
    })
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn sqlite_setup(config: &StoreConfig) -> SqliteSetup {
    SqliteSetup {
        busy_timeout_ms: config.busy_timeout.as_millis(),
        cache_kib: config.sqlite_cache_kib,
        synchronous: config.sqlite_synchronous,
    }
}

/// The writer's pool: one connection, checked before each use (a broken one is
/// replaced), a short wait.
fn writer_builder<C>(config: &StoreConfig) -> diesel::r2d2::Builder<ConnectionManager<C>>
where
    C: diesel::r2d2::R2D2Connection + Send + 'static,
{
    Pool::builder()
        .max_size(1)
        .min_idle(Some(1))
        .test_on_check_out(true)
        .connection_timeout(config.writer_connect_timeout.max(Duration::from_millis(10)))
}

/// Adds libpq's `connect_timeout` (whole seconds, at least 2: libpq's minimum)
/// to a PostgreSQL URL that does not set it, so that making a connection to an
/// unreachable host gives up in time.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let secs = timeout.as_secs().max(2);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={secs}")
}

fn sqlite_pool(
    url: &str,
    config: &StoreConfig,
    memory: bool,
) -> Result<Pool<ConnectionManager<SqliteConnection>>> {
    let mut builder = Pool::builder()
        .connection_timeout(config.connect_timeout)
        .connection_customizer(Box::new(sqlite_setup(config)));
    if memory {
        // One private database per connection: keep exactly one, forever.
        builder = builder
            .max_size(1)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false);
    } else {
        builder = builder.max_size(config.pool_size.max(1)).min_idle(Some(1));
    }
    builder
        .build(ConnectionManager::<SqliteConnection>::new(url))
        .map_err(|e| StoreError::Connect {
            backend: "sqlite",
            message: e.to_string(),
        })
}

fn decompress(payload: &[u8], size: u64) -> Result<Vec<u8>> {
    let cap = usize::try_from(size).map_err(|_| StoreError::CorruptPayload("size".into()))?;
    zstd::bulk::decompress(payload, cap).map_err(|e| StoreError::CorruptPayload(e.to_string()))
}

impl ProjectStore for Store {
    fn create_project(&self, name: &str, public_key: &str, now: DateTime<Utc>) -> Result<Project> {
        with_tx!(self, |c| ops::create_project(c, name, public_key, now))
    }

    fn add_project_key(
        &self,
        project_id: ProjectId,
        public_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Project>> {
        with_tx!(self, |c| ops::add_project_key(
            c, project_id, public_key, now
        ))
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        with_conn!(self, |c| ops::list_projects(c))
    }

    fn get_project(&self, id: ProjectId) -> Result<Option<Project>> {
        with_conn!(self, |c| ops::get_project(c, id))
    }

    fn project_by_key(&self, public_key: &str) -> Result<Option<Project>> {
        with_conn!(self, |c| ops::project_by_key(c, public_key))
    }

    fn revoke_project_key(
        &self,
        project_id: ProjectId,
        public_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        with_tx!(self, |c| ops::revoke_project_key(
            c, project_id, public_key, now
        ))
    }

    fn update_project(&self, id: ProjectId, update: &ProjectUpdate) -> Result<Option<Project>> {
        with_tx!(self, |c| ops::update_project(c, id, update))
    }

    fn delete_project(&self, id: ProjectId) -> Result<bool> {
        with_tx!(self, |c| ops::delete_project(c, id))
    }
}

impl IngestStore for Store {
    fn ingest_batch(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<Vec<IngestOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = self.prepare(events)?;
        let limits = self.ingest_limits();
        // A batch that lost a race with a merge on another connection (or a
        // PostgreSQL deadlock) is redone whole: its transaction was rolled
        // back.
        self.retrying(|| with_tx!(self, |c| ingest::ingest_batch(c, &prepared, now, limits)))
    }
}

impl GroupingStore for Store {
    fn merge_issues(
        &self,
        project: ProjectId,
        target: IssueId,
        sources: &[IssueId],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<MergeOutcome> {
        let max_tags = self.ingest_limits().max_tags_per_issue;
        self.retrying(|| {
            with_tx!(self, |c| grouping::merge_issues(
                c,
                project,
                target,
                sources,
                actor,
                ops::ms(now),
                max_tags
            ))
        })
    }

    fn unmerge_issue(
        &self,
        project: ProjectId,
        issue: IssueId,
        keys: &[String],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<IssueId> {
        let max_tags = self.ingest_limits().max_tags_per_issue;
        self.retrying(|| {
            with_tx!(self, |c| grouping::unmerge_issue(
                c,
                project,
                issue,
                keys,
                actor,
                ops::ms(now),
                max_tags
            ))
        })
    }

    fn issue_keys(&self, issue: IssueId) -> Result<Vec<IssueKey>> {
        with_conn!(self, |c| grouping::issue_keys(c, issue))
    }

    fn find_issue(&self, project: ProjectId, keys: &[String]) -> Result<Option<IssueId>> {
        with_conn!(self, |c| grouping::find_issue(c, project, keys))
    }

    fn stored_events_after(
        &self,
        project: ProjectId,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredForRegroup>> {
        let rows = with_conn!(self, |c| regroup::stored_events_after(
            c, project, after, limit
        ))?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredForRegroup {
                    row_id: r.id,
                    event_id: r.event_id,
                    issue_id: IssueId(r.issue_id),
                    grouping_key: r.grouping_key,
                    payload: decompress(&r.payload, ops::to_u64(r.payload_size))?,
                })
            })
            .collect()
    }

    fn regroup_batch(
        &self,
        project: ProjectId,
        events: &[(String, Vec<GroupingKey>)],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RegroupOutcome> {
        let max_tags = self.ingest_limits().max_tags_per_issue;
        self.retrying(|| {
            with_tx!(self, |c| regroup::regroup_batch(
                c,
                project,
                events,
                actor,
                ops::ms(now),
                max_tags
            ))
        })
    }
}

impl IssueStore for Store {
    fn list_issues(&self, project_id: ProjectId, filter: &IssueFilter) -> Result<Page<Issue>> {
        with_conn!(self, |c| ops::list_issues(c, project_id, filter))
    }

    fn get_issue(&self, issue_id: IssueId) -> Result<Option<Issue>> {
        with_conn!(self, |c| ops::get_issue(c, issue_id))
    }

    fn update_issue(
        &self,
        issue_id: IssueId,
        action: &IssueAction,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Issue>> {
        with_tx!(self, |c| ops::update_issue(c, issue_id, action, actor, now))
    }

    fn list_activity(&self, issue_id: IssueId, limit: usize) -> Result<Vec<Activity>> {
        with_conn!(self, |c| stats::list_activity(c, issue_id, limit))
    }

    fn list_events(
        &self,
        issue_id: IssueId,
        cursor: Option<&str>,
        limit: usize,
        query: Option<&str>,
    ) -> Result<Page<EventSummary>> {
        with_conn!(self, |c| ops::list_events(
            c, issue_id, cursor, limit, query
        ))
    }

    fn event_position(&self, issue_id: IssueId, event_id: &str) -> Result<Option<EventPosition>> {
        with_conn!(self, |c| stats::event_position(c, issue_id, event_id))
    }

    fn issue_counts(
        &self,
        issue_ids: &[IssueId],
        since: DateTime<Utc>,
    ) -> Result<Vec<(IssueId, Vec<CountBucket>)>> {
        with_conn!(self, |c| stats::issue_counts(c, issue_ids, since))
    }

    fn project_counts(&self, since: DateTime<Utc>) -> Result<Vec<(ProjectId, Vec<CountBucket>)>> {
        with_conn!(self, |c| stats::project_counts(c, since))
    }

    fn unresolved_counts(&self) -> Result<Vec<(ProjectId, u64)>> {
        with_conn!(self, |c| stats::unresolved_counts(c))
    }

    fn tag_distribution(&self, issue_id: IssueId, top: usize) -> Result<Vec<TagDistribution>> {
        with_conn!(self, |c| stats::tag_distribution(c, issue_id, top))
    }

    fn get_event(&self, project_id: ProjectId, event_id: &str) -> Result<Option<StoredEvent>> {
        let found = with_conn!(self, |c| ops::get_event(c, project_id, event_id))?;
        match found {
            None => Ok(None),
            Some((summary, compressed)) => {
                let payload = decompress(&compressed, summary.payload_size)?;
                Ok(Some(StoredEvent { summary, payload }))
            }
        }
    }
}

impl UserStore for Store {
    fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: &Role,
        now: DateTime<Utc>,
    ) -> Result<User> {
        with_tx!(self, |c| users::create_user(
            c,
            email,
            password_hash,
            role,
            now
        ))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        with_conn!(self, |c| users::list_users(c))
    }

    fn count_users(&self) -> Result<u64> {
        with_conn!(self, |c| users::count_users(c))
    }

    fn get_user(&self, id: UserId) -> Result<Option<User>> {
        with_conn!(self, |c| users::get_user(c, id))
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        with_conn!(self, |c| users::user_by_email(c, email))
    }

    fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        with_tx!(self, |c| users::set_password(
            c,
            id,
            password_hash,
            keep_session,
            now
        ))
    }

    fn set_role(&self, id: UserId, role: &Role) -> Result<bool> {
        with_tx!(self, |c| users::set_role(c, id, role))
    }

    fn delete_user(&self, id: UserId) -> Result<bool> {
        with_tx!(self, |c| users::delete_user(c, id))
    }

    fn create_session(
        &self,
        token_hash: &str,
        user_id: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, |c| users::create_session(
            c, token_hash, user_id, now, expires_at
        ))
    }

    fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        with_conn!(self, |c| users::session(c, token_hash, now))
    }

    fn delete_session(&self, token_hash: &str) -> Result<bool> {
        with_tx!(self, |c| users::delete_session(c, token_hash))
    }

    fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        with_tx!(self, |c| users::prune_sessions(c, now))
    }

    fn list_sessions(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<UserSession>> {
        with_conn!(self, |c| users::list_sessions(c, user_id, now))
    }

    fn end_sessions(&self, user_id: UserId, keep: Option<&str>) -> Result<u64> {
        with_tx!(self, |c| users::end_sessions(c, user_id, keep))
    }

    fn create_user_token(&self, token_hash: &str, token: &UserToken) -> Result<UserToken> {
        with_tx!(self, |c| users::create_user_token(c, token_hash, token))
    }

    fn user_token(
        &self,
        kind: &TokenKind,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserToken>> {
        with_conn!(self, |c| users::user_token(c, kind, token_hash, now))
    }

    fn redeem_user_token(
        &self,
        kind: &TokenKind,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>> {
        with_tx!(self, |c| users::redeem_user_token(
            c,
            kind,
            token_hash,
            password_hash,
            now
        ))
    }

    fn pending_invitations(&self, now: DateTime<Utc>) -> Result<Vec<UserToken>> {
        with_conn!(self, |c| users::pending_invitations(c, now))
    }

    fn revoke_invitation(&self, email: &str, now: DateTime<Utc>) -> Result<bool> {
        with_tx!(self, |c| users::revoke_invitation(c, email, now))
    }

    fn prune_user_tokens(&self, now: DateTime<Utc>) -> Result<u64> {
        with_tx!(self, |c| users::prune_user_tokens(c, now))
    }
}

impl AlertStore for Store {
    fn create_destination(
        &self,
        project_id: ProjectId,
        kind: &str,
        config: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Destination> {
        with_tx!(self, |c| ops::create_destination(
            c, project_id, kind, config, now
        ))
    }

    fn list_destinations(&self, project_id: ProjectId) -> Result<Vec<Destination>> {
        with_conn!(self, |c| ops::list_destinations(c, project_id))
    }

    fn update_destination(
        &self,
        project_id: ProjectId,
        destination_id: DestinationId,
        config: &serde_json::Value,
    ) -> Result<Option<Destination>> {
        with_tx!(self, |c| ops::update_destination(
            c,
            project_id,
            destination_id,
            config
        ))
    }

    fn delete_destination(
        &self,
        project_id: ProjectId,
        destination_id: DestinationId,
    ) -> Result<bool> {
        with_tx!(self, |c| ops::delete_destination(
            c,
            project_id,
            destination_id
        ))
    }

    fn list_alerts(
        &self,
        project_id: ProjectId,
        limit: usize,
        state: Option<&DeliveryState>,
    ) -> Result<Vec<AlertWithDeliveries>> {
        with_conn!(self, |c| ops::list_alerts(c, project_id, limit, state))
    }

    fn issue_alerts(&self, issue_id: IssueId, limit: usize) -> Result<Vec<AlertWithDeliveries>> {
        with_conn!(self, |c| ops::issue_alerts(c, issue_id, limit))
    }

    fn get_delivery(
        &self,
        project_id: ProjectId,
        delivery_id: DeliveryId,
    ) -> Result<Option<Delivery>> {
        with_conn!(self, |c| ops::get_delivery(c, project_id, delivery_id))
    }

    fn retry_delivery(
        &self,
        delivery_id: DeliveryId,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        with_tx!(self, |c| ops::retry_delivery(
            c,
            delivery_id,
            project_id,
            now
        ))
    }

    fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<ClaimedDelivery>> {
        with_tx!(self, |c| ops::claim_deliveries(c, now, limit, lease_until))
    }

    fn complete_delivery(&self, delivery_id: DeliveryId, now: DateTime<Utc>) -> Result<()> {
        with_tx!(self, |c| ops::complete_delivery(c, delivery_id, now))
    }

    fn fail_delivery(
        &self,
        delivery_id: DeliveryId,
        now: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        with_tx!(self, |c| ops::fail_delivery(
            c,
            delivery_id,
            now,
            error,
            retry_at
        ))
    }
}

impl UsageStore for Store {
    fn add_usage(&self, deltas: &[UsageDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c| ops::write_usage(c, deltas, true))
    }

    fn set_usage(&self, values: &[UsageDelta]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c| ops::write_usage(c, values, false))
    }

    fn load_usage(&self, since_bucket: i64) -> Result<Vec<UsageDelta>> {
        with_conn!(self, |c| ops::load_usage(c, since_bucket))
    }

    fn prune_usage(&self, before_bucket: i64) -> Result<u64> {
        with_tx!(self, |c| ops::prune_usage(c, before_bucket))
    }
}

impl MaintenanceStore for Store {
    fn health(&self) -> Result<()> {
        with_conn!(self, |c| c.exec(Q::new("SELECT 1")).map(|_| ()))
    }

    fn evict_expired(&self, now: DateTime<Utc>) -> Result<EvictionReport> {
        let mut report = EvictionReport::default();
        let projects = with_conn!(self, |c| ops::retention_projects(c))?;
        for p in projects {
            if let Some(days) = p.max_age_days {
                let cutoff = ops::ms(now) - days.max(0).saturating_mul(86_400_000);
                loop {
                    let n = with_tx!(self, |c| ops::evict_older(c, p.id, cutoff, EVICT_STEP))?;
                    report.expired_events += n;
                    if n < EVICT_STEP as u64 {
                        break;
                    }
                }
            }
            if p.max_events.is_some() {
                loop {
                    let n = with_tx!(self, |c| ops::cap_step(c, p.id, EVICT_STEP))?;
                    report.capped_events += n;
                    if n < EVICT_STEP as u64 {
                        break;
                    }
                }
            }
        }
        Ok(report)
    }
}

impl crate::traits::StatsStore for Store {
    fn add_installation_counts(&self, counts: &[(&str, u64)], now: DateTime<Utc>) -> Result<()> {
        if counts.iter().all(|&(_, n)| n == 0) {
            return Ok(());
        }
        with_tx!(self, |c| crate::installation::add_counts(
            c,
            counts,
            ops::ms(now)
        ))
    }

    fn installation_counts(
        &self,
        resolution: crate::installation::CounterResolution,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::installation::InstallationCount>> {
        with_conn!(self, |c| crate::installation::counts_since(
            c,
            resolution,
            ops::ms(since)
        ))
    }

    fn prune_installation_counts(
        &self,
        hours_before: DateTime<Utc>,
        minutes_before: DateTime<Utc>,
    ) -> Result<u64> {
        with_tx!(self, |c| crate::installation::prune_counts(
            c,
            ops::ms(hours_before),
            ops::ms(minutes_before)
        ))
    }

    fn database_info(&self) -> Result<crate::installation::DatabaseInfo> {
        with_conn!(self, |c| crate::installation::database_info(c))
    }

    fn delivery_counts(&self) -> Result<crate::installation::DeliveryCounts> {
        with_conn!(self, |c| crate::installation::delivery_counts(c))
    }
}

/// The digest writer's handle: a [`Store`]'s database through a dedicated
/// connection (see [`Store::ingest_writer`]). Cheap to clone (clones share the
/// one connection); implements [`IngestStore`].
#[derive(Clone, Debug)]
pub struct IngestWriter {
    store: Store,
}

impl IngestWriter {
    /// Pings the database through the writer's connection (reconnecting if
    /// needed).
    pub fn health(&self) -> Result<()> {
        self.store.health()
    }
}

impl IngestStore for IngestWriter {
    fn ingest_batch(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<Vec<IngestOutcome>> {
        self.store.ingest_batch(events, now)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds_libpq_connect_timeout() {
        use std::time::Duration;
        assert_eq!(
            super::with_connect_timeout("postgres://u@h/d", Duration::from_millis(500)),
            "postgres://u@h/d?connect_timeout=2"
        );
        assert_eq!(
            super::with_connect_timeout("postgres://u@h/d?sslmode=disable", Duration::from_secs(5)),
            "postgres://u@h/d?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            super::with_connect_timeout(
                "postgres://u@h/d?connect_timeout=9",
                Duration::from_secs(5)
            ),
            "postgres://u@h/d?connect_timeout=9"
        );
    }

    #[test]
    fn sqlite_synchronous_is_applied_to_every_connection() {
        use super::*;
        #[derive(diesel::QueryableByName)]
        struct Sync {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        for (setting, want) in [(None, 2), (Some(SqliteSynchronous::Normal), 1)] {
            let mut config = StoreConfig::new(Backend::Sqlite(path.clone()));
            if let Some(s) = setting {
                config.sqlite_synchronous = s;
            }
            let store = Store::open(&config).unwrap();
            let writer = store.ingest_writer().unwrap();
            for pools in [&store.pools, &writer.store.pools] {
                let Pools::Sqlite(pool) = pools else {
                    panic!("sqlite")
                };
                let mut c = pool.get().unwrap();
                let got: Sync = diesel::RunQueryDsl::get_result(
                    diesel::sql_query("PRAGMA synchronous"),
                    &mut *c,
                )
                .unwrap();
                assert_eq!(got.synchronous, want);
            }
        }
    }

    /// The UI migration on a database written before it: reverted (its down
    /// migration runs, after those of the later migrations), the data kept in
    /// the old columns, migrated again (its up migration fills the new columns
    /// from what is there).
    fn ui_migration_fills_existing_rows(store: &super::Store) {
        use super::*;
        use crate::model::NewEvent;
        use chrono::TimeZone;
        let t = |s: i64| {
            Utc.timestamp_opt(1_767_268_800 + s, 0)
                .single()
                .unwrap_or_default()
        };
        let p = store
            .create_project("p", "0123456789abcdef0123456789abcdef", t(0))
            .unwrap();
        let e = |n: u32, secs: i64, release: &str, browser: &str| NewEvent {
            project_id: p.id,
            event_id: format!("{n:032x}"),
            grouping_keys: vec![crate::model::GroupingKey::new("k", "default")],
            title: "t".into(),
            culprit: None,
            level: "error".into(),
            timestamp: t(secs),
            received_at: t(secs),
            release: Some(release.into()),
            environment: None,
            tags: vec![("browser".into(), browser.into())],
            payload: b"{}".to_vec(),
            grouping_explanation: None,
            user: Some(format!("id:{n}")),
        };
        let batch = [
            e(1, 0, "1.0", "firefox"),
            e(2, 10, "2.0", "firefox"),
            e(3, 5, "3.0", "chrome"),
        ];
        let id = store.ingest_batch(&batch, t(20)).unwrap()[0].issue_id;
        // Revert every migration down to the UI one (later ones first).
        const UI_VERSION: &str = "20261203000000";
        loop {
            let reverted = match &store.pools {
                Pools::Sqlite(pool) => {
                    let mut c = pool.get().unwrap();
                    c.revert_last_migration(SQLITE_MIGRATIONS).unwrap()
                }
                Pools::Postgres(pool) => {
                    let mut c = pool.get().unwrap();
                    c.revert_last_migration(POSTGRES_MIGRATIONS).unwrap()
                }
            };
            if reverted.to_string() == UI_VERSION {
                break;
            }
        }
        store.migrate().unwrap();
        let issue = store.get_issue(id).unwrap().unwrap();
        // From the events at first_seen and last_seen (not batch order).
        assert_eq!(issue.first_release.as_deref(), Some("1.0"));
        assert_eq!(issue.last_release.as_deref(), Some("2.0"));
        assert_eq!(issue.user_count, 0);
        // Every indexed value counts 1, its key the sum.
        let dist = store.tag_distribution(id, 10).unwrap();
        let browser = dist.iter().find(|d| d.key == "browser").unwrap();
        assert_eq!(browser.total, 2);
        assert_eq!(
            browser.values,
            vec![("chrome".to_owned(), 1), ("firefox".to_owned(), 1)]
        );
        let release = dist.iter().find(|d| d.key == "release").unwrap();
        assert_eq!(release.total, 3);
        // New events count on.
        store
            .ingest_batch(&[e(4, 30, "4.0", "chrome")], t(30))
            .unwrap();
        let dist = store.tag_distribution(id, 10).unwrap();
        let browser = dist.iter().find(|d| d.key == "browser").unwrap();
        assert_eq!(browser.total, 3);
        assert_eq!(browser.values[0], ("chrome".to_owned(), 2));
        assert_eq!(store.get_issue(id).unwrap().unwrap().user_count, 1);
    }

    #[test]
    fn ui_migration_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            super::Store::open_url(&format!("sqlite://{}", dir.path().join("m.db").display()))
                .unwrap();
        ui_migration_fills_existing_rows(&store);
    }

    #[test]
    fn ui_migration_on_postgres() {
        let Some(db) = periscope_test_support::postgres::TestDatabase::create("store_migration")
        else {
            return;
        };
        let store = super::Store::open_url(db.url()).unwrap();
        ui_migration_fills_existing_rows(&store);
    }

    /// Every sort of the issue list, with and without a status and a cursor,
    /// reads its order from an index on SQLite: no sort step, the index meant
    /// for it.
    #[test]
    fn issue_lists_are_read_in_index_order() {
        use super::*;
        use crate::model::{IssueFilter, IssueSort, StatusFilter};
        #[derive(diesel::QueryableByName)]
        struct PlanRow {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_url(&format!("sqlite://{}", dir.path().join("p.db").display())).unwrap();
        let Pools::Sqlite(pool) = &store.pools else {
            panic!("sqlite")
        };
        let mut c = pool.get().unwrap();
        let c: &mut SqliteConnection = &mut c;
        for (sort, prefix, all, by_status) in [
            (
                IssueSort::LastSeen,
                'i',
                "issues_list",
                "issues_status_list",
            ),
            (
                IssueSort::FirstSeen,
                'f',
                "issues_first_seen",
                "issues_status_first_seen",
            ),
            (
                IssueSort::EventCount,
                'c',
                "issues_count",
                "issues_status_count",
            ),
        ] {
            for (status, index) in [
                (StatusFilter::All, all),
                (StatusFilter::Unresolved, by_status),
            ] {
                for cursor in [None, Some(ops::encode_cursor(prefix, 5, 5))] {
                    for query in ["", "boom level:error"] {
                        let filter = IssueFilter {
                            status,
                            sort,
                            query: query.to_owned(),
                            cursor: cursor.clone(),
                            limit: 50,
                        };
                        let (sql, binds) = ops::issue_list_query(ProjectId(1), &filter).unwrap();
                        let mut q = Q::dynamic(format!("EXPLAIN QUERY PLAN {sql}"));
                        for b in binds {
                            q.push(b);
                        }
                        let plan: Vec<PlanRow> = c.rows(q).unwrap();
                        let plan: Vec<&str> = plan.iter().map(|r| r.detail.as_str()).collect();
                        let text = plan.join("; ");
                        assert!(
                            plan.iter().any(|d| d.starts_with("SCAN i USING INDEX")
                                || d.starts_with("SEARCH i USING INDEX")),
                            "{filter:?}: {text}"
                        );
                        assert!(
                            text.contains(&format!("USING INDEX {index} ")),
                            "{filter:?}: {text}"
                        );
                        assert!(!text.contains("TEMP B-TREE"), "{filter:?}: {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn writer_is_send_sync_clone() {
        fn f<T: Send + Sync + Clone + 'static>() {}
        f::<super::IngestWriter>();
    }

    #[test]
    fn store_is_send_sync_clone() {
        fn f<T: Send + Sync + Clone + 'static>() {}
        f::<super::Store>();
    }
}

//! Storage for Periscope, a self-hosted error tracker that speaks the Sentry
//! protocol: projects and their keys, issues and the events grouped into them, an
//! alert outbox, usage counters for quotas, and what the web UI shows (users and
//! sessions, issue activity, hourly counts, tag distributions, distinct users) —
//! behind narrow traits, with one diesel implementation for SQLite and
//! PostgreSQL chosen at run time.
//!
//! # The shape
//!
//! - **Traits by concern**, each with few methods, so an embedder can implement
//!   only what it needs or put its own storage behind one of them:
//!   [`ProjectStore`] (projects, client keys, settings), [`IngestStore`] (the one
//!   batch call of the digest writer), [`IssueStore`] (listing, searching,
//!   resolving, muting, the activity log; events, their payloads, search and
//!   position; hourly counts and tag distributions), [`GroupingStore`]
//!   (an issue's grouping keys, merge and unmerge, regrouping), [`AlertStore`]
//!   (destinations and the outbox the notifier drains), [`UsageStore`] (quota
//!   counters that survive restarts), [`UserStore`] (web UI users and their
//!   sessions), [`StatsStore`] (installation-wide counters every replica adds
//!   to, the database's size, deliveries not delivered) and
//!   [`MaintenanceStore`] (health and retention).
//! - **[`Store`]** implements all of them. It is opened from a [`StoreConfig`]
//!   (built from a URL: `sqlite://file.db`, `sqlite::memory:`,
//!   `postgres://user@host/db`), applies the embedded migrations, and holds an r2d2
//!   connection pool; it is `Clone + Send + Sync` and synchronous (call it from
//!   blocking threads). [`Store::ingest_writer`] gives the digest writer a
//!   connection of its own ([`IngestWriter`]). SQLite runs in WAL mode with
//!   `synchronous=FULL` (configurable, see [Durability](#durability)), a busy
//!   timeout, foreign keys on, a 32 MiB page cache, in-memory statement journals
//!   and checkpoints every 8192 pages (the WAL file is truncated back to 64 MiB);
//!   writes take `BEGIN IMMEDIATE`.
//! - **One set of queries**: every statement is written once, with `?`
//!   placeholders, and rendered for the backend by diesel; both dialects share
//!   `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, so there is no per-backend
//!   logic. Hot statements are prepared once per connection.
//! - **Typed ids**: records are named by [`ProjectId`], [`IssueId`],
//!   [`DestinationId`], [`AlertId`], [`DeliveryId`] and [`UserId`] (transparent
//!   `i64` wrappers shared through `periscope-types`), so one kind of id cannot
//!   be passed for another; they are converted to and from `BIGINT` only where
//!   statements are bound and rows read.
//! - **Plain values in, plain values out**: the store depends on neither the
//!   envelope nor the grouping crate; the caller hands over [`NewEvent`]s that
//!   carry the grouping keys, title and culprit it computed, plus the raw
//!   payload. Grouping configurations and rules are opaque strings here.
//!   Time is always passed in (`now`), never read, so tests control it.
//!
//! # The ingest batch
//!
//! [`IngestStore::ingest_batch`] takes N events and does everything in **one
//! transaction** (group commit): one lookup of the batch's grouping keys (the
//! first stored key of each event, in its order, decides its issue; see
//! [Grouping keys](#grouping-keys)), one upsert per distinct `(project, issue key)`
//! (`event_count = event_count + n`, never `COUNT(*)`), a multi-row insert of the
//! events with `ON CONFLICT (project_id, event_id) DO NOTHING` (a repeated event id
//! is reported `duplicate` and not counted), the status transitions, one alert row
//! per transition (and an [`Activity`] entry for a regression), the per-issue tag
//! index used by search with the count of events per indexed value and per key
//! (for [`IssueStore::tag_distribution`]), the hourly event counts per issue and
//! per project (by receive time, for [`IssueStore::issue_counts`] and
//! [`IssueStore::project_counts`]), the issue's distinct users
//! ([`Issue::user_count`]: exact up to 1000 per issue, then a HyperLogLog sketch
//! of 1 KiB with a relative standard error of about 3 %; only a SHA-256 of
//! [`NewEvent::user`] is kept), the issue's first and last release, the
//! per-project stored event counter and the `max_events` eviction. Everything
//! counted is aggregated over the batch in memory and written with one upsert
//! per row touched: nothing scans the events table. The upsert keeps the issue row
//! locked until commit, and every writer locks rows in the same (sorted) order, so
//! concurrent writers — threads, or replicas sharing one PostgreSQL — create
//! exactly one issue and one alert per new grouping key, and exactly one
//! regression or unmute alert per transition, without deadlocks.
//!
//! The store retries a batch (and a merge or unmerge) that fails with a
//! transient error ([`ErrorClass::Transient`]: a PostgreSQL deadlock or
//! serialization failure, or [`StoreError::Raced`]) up to three times in all,
//! each time in a new transaction.
//!
//! Transitions: an event on a **resolved** issue re-opens it (`regression`); when
//! resolved *in a release R*, only an event whose release is newer than R does
//! (see [`release_is_newer`]: natural, semver-aware order; an event without a
//! release never does). A **muted** issue unmutes (`unmute`) on the first event
//! at or after its `muted_until` time, or on the event that makes its count reach
//! `unmute_at_count` ("N more events"). A plain mute lasts until changed by hand.
//!
//! # Grouping keys
//!
//! An issue owns one or more grouping keys (table `grouping_keys`: key →
//! issue, the grouping configuration that computed the key, and the count,
//! first and last seen of the events that **joined** the issue by it). A
//! [`NewEvent`] carries its keys in lookup order ([`GroupingKey`]): the first
//! one stored decides the issue; with none stored, a new issue is created
//! under the first. Every key of the event is then attached to its issue (a
//! stored key keeps its issue), and the event counts on the key it joined by
//! (which it records, with its user's hash). So an issue's count, first and
//! last seen are the sums, minimum and maximum of its keys', which is what
//! makes an unmerge exact.
//!
//! [`GroupingStore::merge_issues`] moves the keys, events, alerts and activity
//! of source issues to a target and adds up their counters (hourly counts,
//! tag counts within the tag row cap, distinct users: exact rows or merged
//! HyperLogLog sketches); the sources stay as tombstones
//! ([`Issue::merged_into`]) that redirect ([`GroupingStore::resolve_issue`])
//! and are in no list, count or search. [`GroupingStore::unmerge_issue`]
//! moves chosen keys and the events that joined by them to a new issue, whose
//! count and first/last seen are exactly the moved keys'; hourly counts, tag
//! counts and users are recounted from the stored events that move (exact
//! while none of them was evicted). Locks on PostgreSQL: every writer takes
//! the project, then grouping keys (sorted), then issues; ingest holds the
//! keys it found `FOR KEY SHARE`, merges take an issue's keys `FOR UPDATE`,
//! so neither overtakes the other and they cannot deadlock.
//!
//! # Regrouping
//!
//! After a project's grouping changed, `periscope regroup` groups its stored
//! events again in bounded, resumable batches:
//! [`GroupingStore::stored_events_after`] reads them in row-id order (the
//! cursor) with their payloads, the caller computes each event's keys with
//! the current grouping, and [`GroupingStore::regroup_batch`] resolves them as
//! ingest does (first stored key decides, none: a new issue under the first,
//! without a new-issue alert), attaches every key, and moves each event whose
//! issue changes with everything counted for it (event, hourly, tag, per-key
//! and user counts, first/last seen and release). The event's join key
//! becomes its first key, so a batch run twice changes nothing. An issue left
//! with no stored event and no count becomes a tombstone merged into the
//! issue that received most of its events (its keys, alerts and activity
//! follow); one still counting evicted events stays. One
//! [`ActivityKind::Regrouped`] entry per issue changed. Locks as a merge
//! (keys, sorted, before issues). See the `regroup` module for what cannot
//! be undone exactly.
//!
//! # Storage
//!
//! Timestamps are BIGINT Unix milliseconds (UTC) on both backends. Payloads are
//! stored zstd-compressed next to indexed columns (project, issue, event id,
//! timestamp, level, release, environment) and come back byte for byte.
//! Issue counters keep counting evicted events.
//!
//! # Retention: bounded, never wiping
//!
//! The database's size is bounded by the settings, and no retention work holds
//! the write lock for long:
//!
//! - **Count cap** (`max_events` per project). The rule: the oldest ordinary
//!   events go first; only when none is left, the oldest *kept* ones (each
//!   issue's first event and the events that re-opened it), so the cap holds
//!   even when a flood of new issues makes every event a kept one, and the
//!   newest events stay. In the ingest transaction the cap is applied only when
//!   the counter exceeds it, deletes at most
//!   [`StoreConfig::max_evictions_per_batch`] events (default 1000, a full
//!   batch) and **never an event of the batch itself** (only ids below the
//!   batch's first inserted id): an acknowledged event is never deleted by the
//!   transaction that stored it. What is left over the cap (a cap just lowered,
//!   a batch larger than the cap) is removed by [`Store::retention_step`].
//! - **Age cap** (`max_age_days`): every older event goes (kept ones too).
//! - **Issues are kept** when their events are evicted, with their counters and
//!   status: a resolved issue whose events are all gone still turns its next
//!   event into a regression. An issue that received no event for
//!   [`RetentionLimits::issue_max_idle`] (default 365 days; receive time, not
//!   the clients' timestamps) is deleted with its events, tag index, alerts and
//!   deliveries.
//! - **Alerts** older than [`RetentionLimits::alert_max_age`] (default 30 days)
//!   go with their deliveries once every delivery is finished (delivered or
//!   given up); those older than twice that go whatever their state.
//! - **The tag index** (`issue_tags`, for `key:value` search) has at most
//!   [`StoreConfig::max_tag_values_per_issue`] rows per issue (default 1000,
//!   counted in the issue row): `level`, `release` and `environment` are indexed
//!   before the events' own tags; values first seen after the cap are not
//!   searchable on that issue and not shown in its tag distribution (they count
//!   in their key's total, as "other"; a key is counted only once it has an
//!   indexed value, so the key totals are bounded by the same cap). The rows go
//!   with their issue, as do the issue's hourly counts, distinct users and
//!   activity.
//! - **Hourly counts** older than [`RetentionLimits::count_max_age`] (default
//!   90 days) are deleted by [`Store::retention_step`].
//! - [`Store::retention_step`] does one of these in **one short transaction of
//!   at most [`RetentionLimits::max_rows_per_step`] rows** (default 1000) and says
//!   whether more work remains ([`RetentionReport::more`]); call it in a loop
//!   with pauses between steps. Lowering a cap from 20,000 to 10 takes 20 steps
//!   of a few milliseconds each.
//!
//! # Failures
//!
//! [`StoreError::class`] tells what a failure concerns ([`ErrorClass`]):
//! [`Unavailable`](ErrorClass::Unavailable) — the database as a whole cannot
//! work now (connection refused or lost, pool timeout, SQLite busy or locked,
//! I/O error, disk full, read-only, PostgreSQL shutting down, out of
//! resources); [`Transient`](ErrorClass::Transient) — a lost race (deadlock,
//! serialization failure); [`Data`](ErrorClass::Data) — this request's data
//! (constraints, unknown project, bad cursor); [`Internal`](ErrorClass::Internal).
//! A writer whose batch fails `Unavailable` keeps the batch whole and backs off
//! instead of retrying it event by event (each retry would wait out the same
//! busy or connection timeout). Diesel exposes neither SQLite's result code nor
//! PostgreSQL's SQLSTATE, so besides diesel's error kinds the classification
//! reads the (English) message texts; see [`StoreError::class`].
//!
//! The writer's own connection ([`Store::ingest_writer`]) waits at most
//! [`StoreConfig::writer_connect_timeout`] (default 2 s) for a connection, is
//! checked before each batch and replaced when broken, so a dead PostgreSQL fails
//! a batch in about 2 s and the writer reconnects by itself when it returns;
//! admin reads and key lookups use the main pool and cannot starve it.
//!
//! # Durability
//!
//! What an acknowledged event (its batch committed) survives:
//!
//! | backend, setting | process crash | power loss / OS crash |
//! | --- | --- | --- |
//! | SQLite, WAL, `synchronous=FULL` (default, [`SqliteSynchronous::Full`]) | yes | yes (the WAL is synced before the commit returns; needs storage that honours flushes) |
//! | SQLite, WAL, `synchronous=NORMAL` ([`SqliteSynchronous::Normal`]) | yes (the OS holds the written WAL) | no: the transactions committed since the last WAL sync (checkpoint) may be rolled back; the database stays consistent |
//! | PostgreSQL, server defaults `fsync=on`, `synchronous_commit=on` | yes | yes (the commit waits for its WAL flush) |
//! | PostgreSQL, `synchronous_commit=off` | yes | no: up to about three `wal_writer_delay` of commits may be lost; consistent |
//!
//! The store sets nothing on PostgreSQL: it relies on the server's settings
//! (the defaults are durable; `fsync=off` risks corruption). With replicas,
//! surviving the loss of the primary also needs synchronous replication
//! (`synchronous_standby_names`). Because commits are per batch, `FULL` costs
//! one sync per batch, not per event.
//!
//! The outbox: alerts are written with the events that caused them;
//! [`AlertStore::claim_deliveries`] fans each new alert out to its project's
//! destinations (one delivery row each), then leases due deliveries with a
//! conditional `UPDATE` so two notifiers never send the same one; each attempt is
//! recorded with [`AlertStore::complete_delivery`] or [`AlertStore::fail_delivery`].
//!
//! # Example
//!
//! ```
//! use chrono::Utc;
//! use periscope_store::{
//!     GroupingKey, IngestStore, IssueFilter, IssueStore, NewEvent, ProjectStore, Store,
//! };
//!
//! # fn main() -> Result<(), periscope_store::StoreError> {
//! let store = Store::open_url("sqlite::memory:")?;
//! let now = Utc::now();
//! let project = store.create_project("web", "0123456789abcdef0123456789abcdef", now)?;
//! // One key, computed by the project's grouping configuration.
//! let event = NewEvent {
//!     project_id: project.id,
//!     event_id: "fc6d8c0c43fc4630ad850ee518f1b9d0".into(),
//!     grouping_keys: vec![GroupingKey::new("3f2a…", "default")],
//!     title: "ValueError: bad input".into(),
//!     culprit: Some("app.views in index".into()),
//!     level: "error".into(),
//!     timestamp: now,
//!     received_at: now,
//!     release: Some("web@1.0.0".into()),
//!     environment: Some("production".into()),
//!     tags: vec![("browser".into(), "Firefox".into())],
//!     payload: br#"{"message":"bad input"}"#.to_vec(),
//!     grouping_explanation: None,
//!     user: Some("id:42".into()),
//! };
//! let outcomes = store.ingest_batch(&[event], now)?;
//! assert!(outcomes[0].created);
//! let page = store.list_issues(project.id, &IssueFilter::default())?;
//! assert_eq!(page.items[0].title, "ValueError: bad input");
//! assert_eq!(page.items[0].user_count, 1);
//! # Ok(())
//! # }
//! ```

mod config;
mod distinct;
mod error;
mod grouping;
mod ingest;
mod installation;
mod model;
mod ops;
mod regroup;
mod release;
mod sql;
mod stats;
mod store;
mod traits;
mod users;

pub use config::{Backend, SqliteSynchronous, StoreConfig};
pub use error::{ErrorClass, GroupingError, Result, StoreError};
pub use installation::{CounterResolution, DatabaseInfo, DeliveryCounts, InstallationCount};
pub use model::{
    Activity, ActivityKind, Alert, AlertKind, AlertSubject, AlertWithDeliveries, ClaimedDelivery,
    CountBucket, Delivery, DeliveryState, Destination, EventPosition, EventSummary, EvictionReport,
    GroupingKey, IngestOutcome, Issue, IssueAction, IssueFilter, IssueKey, IssueSort, IssueStatus,
    MergeOutcome, NewEvent, Page, Project, ProjectKey, ProjectSettings, ProjectUpdate,
    RegroupOutcome, RetentionLimits, RetentionReport, Role, Session, StatusFilter, StoredEvent,
    StoredForRegroup, TagDistribution, UsageDelta, User,
};
pub use model::{TokenKind, UserSession, UserToken};
/// The ids of the store's records, shared with the other crates (see
/// [`periscope_types`]); re-exported so that users of the store need not depend
/// on that crate.
pub use periscope_types::{AlertId, DeliveryId, DestinationId, IssueId, ProjectId, UserId};
pub use release::{compare_releases, release_is_newer};
pub use store::{IngestWriter, Store};
pub use traits::{
    AlertStore, GroupingStore, IngestStore, IssueStore, MaintenanceStore, ProjectStore, StatsStore,
    UsageStore, UserStore,
};

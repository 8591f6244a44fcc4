//! Storage for Periscope, a self-hosted error tracker that speaks the Sentry
//! protocol: projects and their keys, issues and the events grouped into them, an
//! alert outbox, and usage counters for quotas — behind narrow traits, with one
//! diesel implementation for SQLite and PostgreSQL chosen at run time.
//!
//! # The shape
//!
//! - **Traits by concern**, each with few methods, so an embedder can implement
//!   only what it needs or put its own storage behind one of them:
//!   [`ProjectStore`] (projects, client keys, settings), [`IngestStore`] (the one
//!   batch call of the digest writer), [`IssueStore`] (listing, searching,
//!   resolving, muting; events and their payloads), [`AlertStore`] (destinations
//!   and the outbox the notifier drains), [`UsageStore`] (quota counters that
//!   survive restarts) and [`MaintenanceStore`] (health and retention).
//! - **[`Store`]** implements all of them. It is opened from a [`StoreConfig`]
//!   (built from a URL: `sqlite://file.db`, `sqlite::memory:`,
//!   `postgres://user@host/db`), applies the embedded migrations, and holds an r2d2
//!   connection pool; it is `Clone + Send + Sync` and synchronous (call it from
//!   blocking threads). SQLite runs in WAL mode with `synchronous=NORMAL`, a busy
//!   timeout, foreign keys on, a 32 MiB page cache, in-memory statement journals
//!   and checkpoints every 8192 pages (the WAL file is truncated back to 64 MiB);
//!   writes take `BEGIN IMMEDIATE`.
//! - **One set of queries**: every statement is written once, with `?`
//!   placeholders, and rendered for the backend by diesel; both dialects share
//!   `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, so there is no per-backend
//!   logic. Hot statements are prepared once per connection.
//! - **Plain values in, plain values out**: the store depends on neither the
//!   envelope nor the grouping crate; the caller hands over [`NewEvent`]s that
//!   carry the grouping key, title and culprit it computed, plus the raw payload.
//!   Time is always passed in (`now`), never read, so tests control it.
//!
//! # The ingest batch
//!
//! [`IngestStore::ingest_batch`] takes N events and does everything in **one
//! transaction** (group commit): one upsert per distinct `(project, grouping key)`
//! (`event_count = event_count + n`, never `COUNT(*)`), a multi-row insert of the
//! events with `ON CONFLICT (project_id, event_id) DO NOTHING` (a repeated event id
//! is reported `duplicate` and not counted), the status transitions, one alert row
//! per transition, the per-issue tag index used by search, the per-project stored
//! event counter and the `max_events` eviction. The upsert keeps the issue row
//! locked until commit, and every writer locks rows in the same (sorted) order, so
//! concurrent writers — threads, or replicas sharing one PostgreSQL — create
//! exactly one issue and one alert per new grouping key, and exactly one
//! regression or unmute alert per transition, without deadlocks.
//!
//! Transitions: an event on a **resolved** issue re-opens it (`regression`); when
//! resolved *in a release R*, only an event whose release is newer than R does
//! (see [`release_is_newer`]: natural, semver-aware order; an event without a
//! release never does). A **muted** issue unmutes (`unmute`) on the first event
//! at or after its `muted_until` time, or on the event that makes its count reach
//! `unmute_at_count` ("N more events"). A plain mute lasts until changed by hand.
//!
//! # Storage
//!
//! Timestamps are BIGINT Unix milliseconds (UTC) on both backends. Payloads are
//! stored zstd-compressed next to indexed columns (project, issue, event id,
//! timestamp, level, release, environment) and come back byte for byte.
//! Retention: a per-project `max_events` cap, enforced in the ingest transaction
//! only when the stored-event counter exceeds it, deletes the oldest events except
//! each issue's first event and the events that re-opened it; an age cap
//! (`max_age_days`), applied by [`MaintenanceStore::evict_expired`], deletes every
//! older event. Issue counters keep counting evicted events.
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
//! use periscope_store::{IngestStore, IssueFilter, IssueStore, NewEvent, ProjectStore, Store};
//!
//! # fn main() -> Result<(), periscope_store::StoreError> {
//! let store = Store::open_url("sqlite::memory:")?;
//! let now = Utc::now();
//! let project = store.create_project("web", "0123456789abcdef0123456789abcdef", now)?;
//! let event = NewEvent {
//!     project_id: project.id,
//!     event_id: "fc6d8c0c43fc4630ad850ee518f1b9d0".into(),
//!     grouping_key: "3f2a…".into(),
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
//! };
//! let outcomes = store.ingest_batch(&[event], now)?;
//! assert!(outcomes[0].created);
//! let page = store.list_issues(project.id, &IssueFilter::default())?;
//! assert_eq!(page.items[0].title, "ValueError: bad input");
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod ingest;
mod model;
mod ops;
mod release;
mod sql;
mod store;
mod traits;

pub use config::{Backend, SqliteSynchronous, StoreConfig};
pub use error::{ErrorClass, Result, StoreError};
pub use model::{
    Alert, AlertKind, AlertWithDeliveries, ClaimedDelivery, Delivery, DeliveryState, Destination,
    EventSummary, EvictionReport, IngestOutcome, Issue, IssueAction, IssueFilter, IssueStatus,
    NewEvent, Page, Project, ProjectKey, ProjectSettings, ProjectUpdate, RetentionLimits,
    RetentionReport, StatusFilter, StoredEvent, UsageDelta,
};
pub use release::{compare_releases, release_is_newer};
pub use store::{IngestWriter, Store};
pub use traits::{AlertStore, IngestStore, IssueStore, MaintenanceStore, ProjectStore, UsageStore};

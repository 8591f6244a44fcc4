//! The database as the application sees it: the store crate's traits, plus the
//! few operations the server needs beyond them, behind one object-safe trait, so
//! that tests can put a database that fails or stalls behind any door.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use periscope_store::{
    AlertStore, GroupingStore, IngestStore, IssueStore, MaintenanceStore, ProjectStore,
    RetentionLimits, RetentionReport, StatsStore, Store, StoreError, UsageStore, UserStore,
};

/// Everything the server asks of its database.
pub trait Database:
    ProjectStore
    + IssueStore
    + GroupingStore
    + AlertStore
    + UsageStore
    + UserStore
    + StatsStore
    + MaintenanceStore
    + Send
    + Sync
    + 'static
{
    /// The digest writer's own connection (see `Store::ingest_writer`).
    fn ingest_writer(&self) -> Result<Box<dyn IngestStore + Send>, StoreError>;
    /// The key version (see `Store::keys_version`).
    fn keys_version(&self) -> Result<i64, StoreError>;
    /// One bounded retention step (see `Store::retention_step`).
    fn retention_step(
        &self,
        now: DateTime<Utc>,
        limits: &RetentionLimits,
    ) -> Result<RetentionReport, StoreError>;
}

impl Database for Store {
    fn ingest_writer(&self) -> Result<Box<dyn IngestStore + Send>, StoreError> {
        Ok(Box::new(Store::ingest_writer(self)?))
    }

    fn keys_version(&self) -> Result<i64, StoreError> {
        Store::keys_version(self)
    }

    fn retention_step(
        &self,
        now: DateTime<Utc>,
        limits: &RetentionLimits,
    ) -> Result<RetentionReport, StoreError> {
        Store::retention_step(self, now, limits)
    }
}

/// The shared handle to the database.
pub type Db = Arc<dyn Database>;

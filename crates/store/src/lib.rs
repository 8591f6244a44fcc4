//! Storage for Periscope (wip essay).

mod config;
mod error;
mod ingest;
mod model;
mod ops;
mod release;
mod sql;
mod store;
mod traits;

pub use config::{Backend, StoreConfig};
pub use error::{Result, StoreError};
pub use model::{
    Alert, AlertKind, AlertWithDeliveries, ClaimedDelivery, Delivery, DeliveryState, Destination,
    EventSummary, EvictionReport, IngestOutcome, Issue, IssueAction, IssueFilter, IssueStatus,
    NewEvent, Page, Project, ProjectKey, ProjectSettings, ProjectUpdate, StatusFilter, StoredEvent,
    UsageDelta,
};
pub use release::{compare_releases, release_is_newer};
pub use store::Store;
pub use traits::{AlertStore, IngestStore, IssueStore, MaintenanceStore, ProjectStore, UsageStore};

//! The application layer: every operation the doors of Periscope offer.
//!
//! The admin API, the command line and (next) the web UI are adapters: they turn
//! their input into the request types of this module, call one [`Service`] method,
//! and show the result (the [`views`]) in their own way. Every rule — a name is
//! trimmed and at most 200 characters, a mute lasts between 1 s and ten years, a
//! count is at least 1, a release is trimmed and not empty, a page holds 1 to
//! 1000 records, a search is at most 1000 bytes — lives here, once, so each door
//! follows it identically. Nothing here knows HTTP, clap or a terminal: errors are
//! a [`ServiceError`], results are plain values. Methods are blocking (the database
//! is); async doors call them on the blocking pool.

pub mod alerting;
pub mod db;
mod destinations;
pub mod error;
pub mod event;
pub mod grouping;
mod issues;
pub mod overview;
mod projects;
pub mod regroup;
pub mod status;
pub mod users;
pub mod views;

use std::sync::Arc;

pub use db::{Database, Db};
pub use destinations::{
    AlertQuery, ChangeFlags, DELIVERY_STATES, DestinationChange, MAX_ALERTS, NewDestination,
    destination_body, destination_change_body, destination_change_schema, destination_schema,
    redacted_config, validate_destination,
};
pub use error::{Result, ServiceError};
pub use event::{
    BreadcrumbView, ContextView, EventDetails, ExceptionView, FrameView, MechanismView, Relation,
    RequestView, SourceLine, StacktraceView, ThreadView, event_details, safe_link,
};
pub use issues::{
    ISSUE_SORTS, IssueChange, IssueDetail, IssueQuery, MAX_MUTE_SECONDS, MAX_QUERY_CHARS,
};
pub(crate) use projects::loopback;
pub use projects::{MAX_AGE_DAYS, MAX_LIMIT, MAX_NAME_CHARS, ProjectChange, new_public_key};

use crate::config::Config;

/// Most records one page holds.
pub const MAX_PAGE: usize = 1000;

/// The operations, over one database.
#[derive(Clone)]
pub struct Service {
    db: Db,
    config: Arc<Config>,
    keys_changed: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("base_url", &self.config.base_url)
            .finish()
    }
}

impl Service {
    /// The operations over `db`, with the server's configuration (base URL for
    /// DSNs, SMTP for email destinations).
    pub fn new(db: Db, config: Arc<Config>) -> Self {
        Self {
            db,
            config,
            keys_changed: Arc::new(|| {}),
        }
    }

    /// Calls `hook` after every change to a project or its keys (the server
    /// drops its key cache; other processes notice through the key version).
    pub fn on_keys_changed(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.keys_changed = Arc::new(hook);
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// The page size asked for, within `1..=MAX_PAGE` (`default` when not given).
pub fn page_limit(limit: Option<usize>, default: usize) -> Result<usize> {
    match limit {
        None => Ok(default),
        Some(n @ 1..=MAX_PAGE) => Ok(n),
        Some(n) => Err(ServiceError::invalid(format!(
            "limit must be between 1 and {MAX_PAGE} (got {n})"
        ))),
    }
}

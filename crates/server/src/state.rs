//! The state every handler and worker shares.

use std::sync::Arc;

use periscope_store::{IngestOutcome, NewEvent};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::bus::Bus;
use crate::pipeline::health::Health;
use crate::pipeline::keys::KeyCache;
use crate::pipeline::quotas::Quotas;
use crate::throttle::Throttle;

/// The state shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub(crate) config: Arc<Config>,
    /// The database.
    pub(crate) store: crate::service::Db,
    /// The application layer (what the admin API and the CLI call).
    pub(crate) service: crate::service::Service,
    /// The ingest bus to the digest writer.
    pub(crate) bus: Bus<NewEvent, IngestOutcome>,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Ingest requests in flight.
    pub(crate) inflight: Arc<Semaphore>,
    /// Body memory of ingest requests, in KiB permits.
    pub(crate) body_memory: Arc<Semaphore>,
    /// Public key → project.
    pub(crate) keys: Arc<KeyCache>,
    /// Quotas.
    pub(crate) quotas: Arc<Quotas>,
    /// CPU-heavy ingest work (decode, parse, group) running at once, one per core.
    pub(crate) cpu: Arc<Semaphore>,
    /// Whether the database and the digest writer can work.
    pub(crate) health: Arc<Health>,
    /// Failed admin-key attempts per client address.
    pub(crate) throttle: Arc<Throttle>,
    /// Failed sign-ins per client address.
    pub(crate) sign_in_by_address: Arc<Throttle>,
    /// Failed sign-ins per account (email), so spreading guesses over many
    /// addresses does not help; a wait, never a lockout.
    pub(crate) sign_in_by_account: Arc<Throttle<String>>,
    /// Password hashes computed at once (Argon2 is CPU-heavy by design).
    pub(crate) password_hashes: Arc<Semaphore>,
}

impl AppState {
    /// This process's figures for the installation status
    /// ([`Service::installation_status`](crate::service::Service::installation_status)):
    /// its bus, its ingest requests in flight, its uptime and the quota usage
    /// it counts at `now`.
    pub(crate) fn live_figures(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::service::status::LiveFigures {
        let max = self.config.max_inflight_requests;
        let to_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        crate::service::status::LiveFigures {
            process: crate::service::status::ProcessStatus {
                bus_depth: self.metrics.bus_depth(),
                bus_capacity: to_u64(self.config.bus_capacity),
                requests_in_flight: to_u64(max.saturating_sub(self.inflight.available_permits())),
                max_requests_in_flight: to_u64(max),
                uptime_seconds: self.metrics.uptime().as_secs(),
            },
            quotas: self.quotas.usage(now),
        }
    }
}

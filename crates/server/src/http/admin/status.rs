//! The admin API's installation status (`GET /api/admin/status`): version,
//! database, events stored, events accepted and refused (every replica's, from
//! the database), alert deliveries not delivered, quotas, and the figures of
//! the server process that answers.
//!
//! ```text
//! $ curl -s -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" http://127.0.0.1:8000/api/admin/status
//! {"status": {"version": "0.1.0", "database": {"backend": "sqlite", "size_bytes": 1232896},
//!  "events_stored": 1520, "events_accepted_hourly": [0, …, 37], "events_accepted_24h": 1520,
//!  "ingest_rate_per_second": 0.12, "refusals_24h": [{"reason": "rate_limited", "count": 4}, …],
//!  "refused_24h": 6, "deliveries": {"pending": 0, "failed": 1}, …,
//!  "process": {"bus_depth": 0, "bus_capacity": 10000, …}}}
//! ```
//!
//! The counts in the database lag the process's `/metrics` counters by up to
//! the 5 s between two saves of the maintenance worker.

use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorAnswer, call};
use crate::error::ApiError;
use crate::service::status::InstallationStatus;
use crate::state::AppState;

/// `{"status": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct StatusAnswer {
    /// The installation status.
    pub(crate) status: InstallationStatus,
}

/// The installation status: version, database backend and size, events
/// stored, events accepted per hour over 24 hours and per second over the last
/// 5 minutes, refusals by reason, alert deliveries pending and failed, each
/// project's quota limits and usage, and this server process's bus, requests in
/// flight and uptime. Accepted and refused counts are every replica's, saved to
/// the database every 5 s.
#[utoipa::path(get, path = "/api/admin/status", tag = "meta",
    responses((status = 200, body = StatusAnswer),
              (status = 401, body = ErrorAnswer),
              (status = 429, description = "Too many wrong admin keys from this address (`Retry-After` says when to retry).", body = ErrorAnswer),
              (status = 503, description = "The database is unavailable (`Retry-After` says when to retry).", body = ErrorAnswer)))]
pub(crate) async fn get_status(
    State(state): State<AppState>,
) -> Result<axum::Json<StatusAnswer>, ApiError> {
    let now = Utc::now();
    let live = state.live_figures(now);
    let status = call(&state, move |s| s.installation_status(now, Some(live))).await?;
    Ok(axum::Json(StatusAnswer { status }))
}

/// The status's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_status))]
pub(crate) struct StatusDoc;

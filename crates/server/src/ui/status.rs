//! The installation status page (admins): what the database says for every
//! replica (events, refusals, deliveries) and what this process sees now (bus,
//! requests in flight, quota windows). The same figures as `GET
//! /api/admin/status` and `periscope status`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::auth::Viewer;
use super::layout;
use crate::service::status::QuotaWindow;
use crate::state::AppState;

fn window(w: &QuotaWindow) -> Markup {
    html! {
        @match (w.limit, w.used) {
            (Some(limit), Some(used)) => {
                meter min="0" max=(limit) value=(used.min(limit)) {}
                " " (layout::count(used)) " / " (layout::count(limit))
            }
            (Some(limit), None) => { "limit " (layout::count(limit)) }
            (None, _) => span.muted { "no limit" },
        }
    }
}

/// `GET /status` (admins).
pub(crate) async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    let now = Utc::now();
    let live = state.live_figures(now);
    let service = state.service.clone();
    let status =
        match tokio::task::spawn_blocking(move || service.installation_status(now, Some(live)))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return super::service_error(e),
            Err(e) => {
                return super::service_error(crate::service::ServiceError::Internal(e.to_string()));
            }
        };
    let body = html! {
        h1 { "Installation status" }
        dl.facts {
            div { dt { "Version" } dd #version { (status.version) } }
            div { dt { "Database" } dd { (status.database.backend) ", " (crate::text::bytes(status.database.size_bytes)) } }
            div { dt { "Events stored" } dd #events-stored { (layout::count(status.events_stored)) } }
            div { dt { "Accepted, 24 h" } dd #accepted-24h data-value=(status.events_accepted_24h) { (layout::count(status.events_accepted_24h)) } }
            div { dt { "Ingest rate now" } dd #rate { (format!("{:.2}", status.ingest_rate_per_second)) " events/s" } }
            div { dt { "Refused, 24 h" } dd #refused-24h data-value=(status.refused_24h) { (layout::count(status.refused_24h)) } }
            div { dt { "Deliveries pending" } dd #deliveries-pending { (layout::count(status.deliveries.pending)) } }
            div { dt { "Deliveries failed" } dd #deliveries-failed { (layout::count(status.deliveries.failed)) } }
        }
        (layout::chart(&status.events_accepted_hourly, "24 h ago", "now", "Events accepted per hour, every server, last 24 hours"))
        h2 { "Refusals in the last 24 hours" }
        table.refusals {
            thead { tr { th { "Reason" } th.num { "Requests" } } }
            tbody {
                @for r in &status.refusals_24h {
                    tr { td { (r.reason.as_str()) } td.num data-reason=(r.reason.as_str()) { (layout::count(r.count)) } }
                }
            }
        }
        @if let Some(p) = &status.process {
            h2 { "This server now" }
            dl.facts {
                div { dt { "Ingest bus" } dd #bus-depth data-value=(p.bus_depth) { (layout::count(p.bus_depth)) " / " (layout::count(p.bus_capacity)) } }
                div { dt { "Requests in flight" } dd #in-flight data-value=(p.requests_in_flight) { (layout::count(p.requests_in_flight)) " / " (layout::count(p.max_requests_in_flight)) } }
                div { dt { "Up for" } dd { (layout::span(p.uptime_seconds)) } }
                div { dt { "Installation quota, minute" } dd { (window(&status.installation_quota)) } }
            }
        }
        h2 { "Quotas by project" }
        p.muted { "Usage is what this server counts in the current windows; limits come from the project's settings or the installation defaults." }
        table.quotas {
            thead { tr { th { "Project" } th.num { "Stored" } th { "Per minute" } th { "Per hour" } th { "Per day" } } }
            tbody {
                @for p in &status.projects {
                    tr {
                        td { a href={ "/projects/" (p.id) "/issues" } { (p.name) } }
                        td.num { (layout::count(p.stored_events)) }
                        td { (window(&p.per_minute)) }
                        td { (window(&p.per_hour)) }
                        td { (window(&p.per_day)) }
                    }
                }
            }
        }
        p.muted { "The same figures: " code { "GET /api/admin/status" } ", " code { "periscope status" } ", and this server's counters at " code { "/metrics" } "." }
    };
    layout::page("Status", &viewer, &[("Status", "/status".to_owned())], body).into_response()
}

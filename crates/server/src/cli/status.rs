//! `periscope status`: the installation status from the database (version,
//! database size, events stored, accepted and refused over 24 hours, the rate
//! over the last 5 minutes, alert deliveries not delivered, quota limits). This
//! command has no running process behind it: the live figures (bus, requests
//! in flight, uptime, quota usage) come from a running server, through
//! `GET /api/admin/status` or `/metrics`.

use std::fmt::Write as _;

use chrono::Utc;

use crate::cli::show::esc;
use crate::service::Service;
use crate::service::status::{InstallationStatus, LimitSource, QuotaWindow};

/// Prints the status: text, or with `json` the admin API's shape (with
/// `"process": null`).
pub fn status(service: &Service, json: bool) -> Result<(), String> {
    let status = service
        .installation_status(Utc::now(), None)
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&status).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render_status(&status));
    }
    Ok(())
}

fn window(w: &QuotaWindow) -> String {
    let Some(limit) = w.limit else {
        return "no limit".to_owned();
    };
    let source = match w.source {
        LimitSource::Project => "project",
        LimitSource::Default => "default",
        LimitSource::None => "none",
    };
    match w.used {
        Some(used) => format!("{used}/{limit} ({source})"),
        None => format!("{limit} ({source})"),
    }
}

/// The status as text.
pub fn render_status(s: &InstallationStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Periscope {} (at {})", s.version, s.generated_at);
    let _ = writeln!(
        out,
        "database          {}, {}",
        s.database.backend,
        crate::text::bytes(s.database.size_bytes)
    );
    let _ = writeln!(out, "events stored     {}", s.events_stored);
    let _ = writeln!(
        out,
        "accepted, 24 h    {}  (now {:.2}/s over the last 5 minutes)",
        s.events_accepted_24h, s.ingest_rate_per_second
    );
    let hourly: Vec<String> = s
        .events_accepted_hourly
        .iter()
        .map(u64::to_string)
        .collect();
    let _ = writeln!(
        out,
        "  per hour        {}  (oldest first)",
        hourly.join(" ")
    );
    let reasons: Vec<String> = s
        .refusals_24h
        .iter()
        .map(|r| format!("{} {}", r.reason.as_str(), r.count))
        .collect();
    let _ = writeln!(
        out,
        "refused, 24 h     {}  ({})",
        s.refused_24h,
        reasons.join(", ")
    );
    let _ = writeln!(
        out,
        "alert deliveries  {} pending, {} failed",
        s.deliveries.pending, s.deliveries.failed
    );
    let _ = writeln!(
        out,
        "quotas            installation per minute: {}",
        window(&s.installation_quota)
    );
    for p in &s.projects {
        let _ = writeln!(
            out,
            "  {:>5} {:<24} {:>10} stored; per minute {}, per hour {}, per day {}",
            p.id,
            esc(&p.name),
            p.stored_events,
            window(&p.per_minute),
            window(&p.per_hour),
            window(&p.per_day)
        );
    }
    match &s.process {
        Some(p) => {
            let _ = writeln!(
                out,
                "this server       bus {}/{}, {}/{} requests in flight, up {} s",
                p.bus_depth,
                p.bus_capacity,
                p.requests_in_flight,
                p.max_requests_in_flight,
                p.uptime_seconds
            );
        }
        None => {
            let _ = writeln!(
                out,
                "live figures      (bus, requests in flight, uptime, quota usage) come from a running server: GET /api/admin/status or /metrics"
            );
        }
    }
    out
}

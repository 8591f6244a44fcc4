//! Periodic work beside ingest: quota usage saved and pruned, the
//! installation-wide counters saved and pruned, retention in bounded steps,
//! and the key version polled so that key changes made on any replica reach
//! this one's key cache.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::pipeline::quotas::Quotas;
use crate::state::AppState;

/// Periodic work: persist quota usage and what the installation counters
/// gained (every 5 s; a replica that dies loses at most those seconds), prune
/// them with expired sessions (every 5 min), and retention in
/// bounded steps (each a short transaction of at most 1000 rows, so ingest never
/// waits long for the write lock), at most 2 s of it per round.
pub(crate) async fn maintenance_loop(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    let day = |d: u64| Duration::from_secs(d * 86_400);
    let mut counters = SavedCounters::default();
    let mut limits = periscope_store::RetentionLimits::default();
    limits.alert_max_age = state.config.alert_max_age_days.map(day);
    limits.issue_max_idle = state.config.issue_max_idle_days.map(day);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                save_usage(&state).await;
                counters.save(&state, Utc::now()).await;
                return;
            }
        }
        rounds += 1;
        save_usage(&state).await;
        counters.save(&state, Utc::now()).await;
        if rounds % 60 == 1 {
            let store = state.store.clone();
            let pruned = tokio::task::spawn_blocking(move || {
                store.prune_usage(Quotas::load_since(Utc::now()))
            })
            .await;
            if let Ok(Err(e)) = pruned {
                tracing::warn!(error = %e, "could not prune quota usage");
            }
            // Installation counters: hours kept 30 days, minutes an hour.
            let store = state.store.clone();
            let now = Utc::now();
            let pruned = tokio::task::spawn_blocking(move || {
                store.prune_installation_counts(
                    now - chrono::Duration::days(COUNTER_DAYS),
                    now - chrono::Duration::hours(1),
                )
            })
            .await;
            if let Ok(Err(e)) = pruned {
                tracing::warn!(error = %e, "could not prune the installation counters");
            }
            // Expired web UI sessions, every five minutes.
            let store = state.store.clone();
            match tokio::task::spawn_blocking(move || store.prune_sessions(Utc::now())).await {
                Ok(Ok(n)) if n > 0 => tracing::debug!(sessions = n, "expired sessions removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not prune sessions"),
                _ => {}
            }
            // Expired invitation and password-reset links.
            let store = state.store.clone();
            match tokio::task::spawn_blocking(move || store.prune_user_tokens(Utc::now())).await {
                Ok(Ok(n)) if n > 0 => tracing::debug!(tokens = n, "expired user links removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not prune user links"),
                _ => {}
            }
        }
        if state.health.ingest().is_err() {
            continue;
        }
        let started = std::time::Instant::now();
        let mut total = periscope_store::RetentionReport::default();
        loop {
            let store = state.store.clone();
            let step_limits = limits.clone();
            let step =
                tokio::task::spawn_blocking(move || store.retention_step(Utc::now(), &step_limits))
                    .await;
            match step {
                Ok(Ok(report)) => {
                    total.capped_events += report.capped_events;
                    total.expired_events += report.expired_events;
                    total.idle_events += report.idle_events;
                    total.idle_issues += report.idle_issues;
                    total.alerts += report.alerts;
                    if !report.more || started.elapsed() > Duration::from_secs(2) {
                        break;
                    }
                    // Let the digest writer take the lock between steps.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "retention step failed");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention task failed");
                    break;
                }
            }
        }
        if total.deleted() > 0 {
            tracing::info!(
                capped_events = total.capped_events,
                expired_events = total.expired_events,
                idle_events = total.idle_events,
                idle_issues = total.idle_issues,
                alerts = total.alerts,
                "retention"
            );
        }
    }
}

async fn save_usage(state: &AppState) {
    let deltas = state.quotas.take_deltas(Utc::now());
    if deltas.is_empty() {
        return;
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.add_usage(&deltas)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not save quota usage"),
        Err(e) => tracing::warn!(error = %e, "quota usage task failed"),
    }
}

/// Days the hourly installation counters are kept.
const COUNTER_DAYS: i64 = 30;

/// The installation counters' totals as last written to the database.
#[derive(Debug, Default)]
struct SavedCounters {
    saved: HashMap<&'static str, u64>,
}

impl SavedCounters {
    /// Adds to the database what the counters gained since the last save
    /// that succeeded, in the buckets holding `now` (a failed save is
    /// retried with the next).
    async fn save(&mut self, state: &AppState, now: DateTime<Utc>) {
        let totals = state.metrics.installation_totals();
        let deltas: Vec<(&'static str, u64)> = totals
            .iter()
            .map(|&(name, total)| {
                let before = self.saved.get(name).copied().unwrap_or(0);
                (name, total.saturating_sub(before))
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        if deltas.is_empty() {
            return;
        }
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.add_installation_counts(&deltas, now)).await
        {
            Ok(Ok(())) => self.saved.extend(totals),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not save the installation counters"),
            Err(e) => tracing::warn!(error = %e, "installation counter task failed"),
        }
    }
}

/// Polls the database's key version every second, so that a key or project
/// changed on any replica reaches this one's key cache within about a second.
pub(crate) async fn key_version_loop(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.keys_version()).await {
            Ok(Ok(version)) => state.keys.observe_version(version),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not read the key version"),
            Err(e) => tracing::warn!(error = %e, "key version task failed"),
        }
    }
}

//! The notifier task: delivers the alert outbox.
//!
//! Alerts are written to the store's outbox in the same transaction as the events
//! that caused them. This task claims due deliveries (leased, so several replicas
//! never send the same one), sends each through the notify crate's [`Dispatcher`],
//! and records the attempt: delivered, retried later with back-off, or failed for
//! good. It runs beside ingest and never blocks it: a dead destination costs only
//! its own timeouts here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use periscope_notify::{
    Admission, Destination, Dispatcher, Notifier, RateCap, RateCapState, RetryDecision, RetryPolicy,
};
use periscope_store::{ClaimedDelivery, DestinationId};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::state::AppState;

/// Delivery attempts in flight at once.
const MAX_CONCURRENT_DELIVERIES: usize = 32;

/// Alerts per destination per hour unless the destination says otherwise.
pub(crate) const DEFAULT_MAX_PER_HOUR: u32 = 60;

/// The link to an issue in alerts: its page in the web UI.
pub(crate) fn issue_url(base_url: &str, issue_id: i64) -> String {
    format!("{}/issues/{issue_id}", base_url.trim_end_matches('/'))
}

/// The message of a claimed delivery: about the alert record's subject (an
/// issue, whose row the claim carries); the environment and release are those
/// of the issue's latest event (`latest`), when it is known.
fn to_notify_alert(
    base_url: &str,
    d: &ClaimedDelivery,
    latest: Option<&periscope_store::EventSummary>,
) -> periscope_notify::Alert {
    periscope_notify::Alert {
        kind: d.alert.kind.clone(),
        project_id: d.alert.project_id,
        project_name: d.project_name.clone(),
        subject: Some(d.alert.subject),
        title: d.issue.title.clone(),
        culprit: d.issue.culprit.clone(),
        level: d.issue.level.clone(),
        event_count: i64::try_from(d.issue.count).unwrap_or(i64::MAX),
        first_seen: d.issue.first_seen,
        last_seen: d.issue.last_seen,
        url: issue_url(base_url, d.issue.id.get()),
        environment: latest.and_then(|e| e.environment.clone()),
        release: latest.and_then(|e| e.release.clone()),
    }
}

/// Builds the dispatcher from the configuration.
pub(crate) fn dispatcher(config: &Config) -> Result<Dispatcher, String> {
    crate::service::alerting::dispatcher(config)
}

/// Delivers alerts until shutdown.
pub(crate) async fn notifier_loop(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let dispatcher = match dispatcher(&state.config) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            tracing::error!(error = %e, "alert delivery disabled");
            let _ = shutdown.changed().await;
            return;
        }
    };
    let policy = RetryPolicy {
        timeout: Duration::from_secs(15),
        base_delay: Duration::from_millis(state.config.alert_retry_base_ms),
        ..RetryPolicy::default()
    };
    let mut caps: HashMap<DestinationId, RateCapState> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.notifier_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Deliveries run concurrently and independently: a destination that hangs until
    // its timeout occupies one slot, it does not hold back the next round of claims.
    // The lease (120 s) outlasts the longest attempt (15 s), so a delivery still in
    // flight is never claimed twice.
    let mut jobs: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                // Let attempts in flight record their outcome, within their timeout.
                while jobs.join_next().await.is_some() {}
                return;
            }
        }
        while jobs.try_join_next().is_some() {}
        let free = MAX_CONCURRENT_DELIVERIES.saturating_sub(jobs.len());
        if free == 0 {
            continue;
        }
        let store = state.store.clone();
        let now = Utc::now();
        let lease = now + chrono::Duration::seconds(120);
        let claimed =
            match tokio::task::spawn_blocking(move || store.claim_deliveries(now, free, lease))
                .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not claim alert deliveries");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim task failed");
                    continue;
                }
            };
        if claimed.is_empty() {
            continue;
        }
        for delivery in claimed {
            let cap = RateCap::new(
                delivery
                    .destination
                    .config
                    .get("max_per_hour")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(DEFAULT_MAX_PER_HOUR),
            );
            let admission = caps
                .entry(delivery.destination.id)
                .or_default()
                .admit(cap, Utc::now());
            let (deliver, summary) = match admission {
                Admission::Deliver { summary } => (true, summary),
                Admission::HoldBack { summary, .. } => (false, summary),
            };
            let state = state.clone();
            let dispatcher = dispatcher.clone();
            jobs.spawn(async move {
                handle_delivery(
                    &state,
                    dispatcher.as_ref(),
                    policy,
                    delivery,
                    deliver,
                    summary,
                )
                .await;
            });
        }
    }
}

async fn handle_delivery(
    state: &AppState,
    dispatcher: &Dispatcher,
    policy: RetryPolicy,
    delivery: ClaimedDelivery,
    deliver: bool,
    summary: Option<periscope_notify::HeldBack>,
) {
    let base = &state.config.base_url;
    let destination = {
        let mut cfg = delivery.destination.config.clone();
        if let Some(obj) = cfg.as_object_mut() {
            obj.remove("max_per_hour");
        }
        serde_json::from_value::<Destination>(cfg)
    };
    let store = state.store.clone();
    let id = delivery.delivery_id;
    let destination = match destination {
        Ok(d) => d,
        Err(e) => {
            let msg = format!(
                "destination {} cannot be read: {e}",
                delivery.destination.id
            );
            let _ = tokio::task::spawn_blocking(move || {
                store.fail_delivery(id, Utc::now(), &msg, None)
            })
            .await;
            return;
        }
    };
    if let Some(held) = summary {
        let alert = held.to_alert(delivery.alert.project_id, &delivery.project_name, base);
        if let Err(e) = dispatcher.deliver(&alert, &destination).await {
            tracing::warn!(error = %e, "held-back summary not delivered");
        }
    }
    if !deliver {
        let msg = "held back: this destination's hourly alert cap was reached (a summary follows)"
            .to_owned();
        let _ =
            tokio::task::spawn_blocking(move || store.fail_delivery(id, Utc::now(), &msg, None))
                .await;
        return;
    }
    // The issue's latest event names the environment and release the message shows.
    let issue_id = delivery.issue.id;
    let latest = {
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || store.list_events(issue_id, None, 1, None))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|page| page.items.into_iter().next())
    };
    let alert = to_notify_alert(base, &delivery, latest.as_ref());
    // The dispatcher bounds every attempt by its own timeout.
    let result = dispatcher.deliver(&alert, &destination).await;
    state.metrics.alert_attempt(result.is_ok());
    let now = Utc::now();
    let outcome = match result {
        Ok(()) => tokio::task::spawn_blocking(move || store.complete_delivery(id, now)).await,
        Err(err) => {
            let retry_at =
                match policy.decide(delivery.attempt, &err, periscope_notify::random_jitter()) {
                    RetryDecision::RetryAfter(d) => {
                        Some(now + chrono::Duration::from_std(d).unwrap_or_default())
                    }
                    RetryDecision::GiveUpPermanent | RetryDecision::GiveUpExhausted => None,
                };
            if retry_at.is_some() {
                tracing::warn!(error = %err, delivery = id.get(), "alert delivery failed; will retry");
            } else {
                // Given up: an operator must hear of it. At error level this also
                // reaches PERISCOPE_SENTRY_DSN when the server reports to itself.
                tracing::error!(
                    error = %err,
                    delivery = id.get(),
                    destination = delivery.destination.id.get(),
                    project = delivery.alert.project_id.get(),
                    "alert delivery failed for good"
                );
            }
            let msg = err.to_string();
            tokio::task::spawn_blocking(move || store.fail_delivery(id, now, &msg, retry_at)).await
        }
    };
    if let Ok(Err(e)) = outcome {
        tracing::warn!(error = %e, delivery = id.get(), "could not record the delivery attempt");
    }
}

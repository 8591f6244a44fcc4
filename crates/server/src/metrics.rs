//! Process metrics, rendered in the Prometheus text format at `GET /metrics`.
//!
//! Plain atomics: incrementing a counter on the ingest path costs one relaxed
//! atomic add, and rendering reads them without locks.
//!
//! Envelope items that are counted but not stored are counted **by item type**
//! (`periscope_items_accepted_total{type="session"}`), the wire name of
//! [`ItemType`]: one label per type the protocol crate knows
//! ([`ItemType::KNOWN`]) except those stored as the event (`event`, `security`,
//! `raw_security`, counted by `periscope_events_*_total`), and `other` for
//! unknown types, so the number of series stays bounded. Rate limits are by data
//! category ([`ItemType::data_category`]), a different table: several item types
//! share a category and some (`client_report`) have none.
//!
//! Changed labels: until issue 13, `periscope_items_accepted_total` was labelled
//! `category` with 8 values (`transaction`, `session`, `attachment`,
//! `client_report`, `profile`, `replay`, `monitor`, `other`), and
//! `client_report` never moved (client reports have no category). It is now
//! labelled `type`, one value per item type; `sum by ()` over the old and new
//! series is the same total, except that client reports are now counted.
//!
//! Installation-wide counters: besides these process counters, the events
//! accepted and the refusals by reason are added to the database every few
//! seconds by the maintenance worker ([`Metrics::installation_totals`], under
//! the names [`ACCEPTED_COUNTER`] and [`Rejection::counter_name`]), so that the
//! installation status sums every replica's counts over 30 days. The process
//! counters here are left as they are.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use periscope_sentry_envelope::ItemType;

/// Why an ingest request was refused (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// 400: malformed input.
    BadRequest,
    /// 401: missing or malformed credentials.
    Unauthorized,
    /// 403: key not valid for the project.
    Forbidden,
    /// 413: too large.
    TooLarge,
    /// 429: quota.
    RateLimited,
    /// 503: the ingest bus or request limit is full.
    Overloaded,
    /// 500: the store failed.
    StoreError,
}

/// The installation counter of events accepted (`periscope_events_accepted_total`).
pub(crate) const ACCEPTED_COUNTER: &str = "events_accepted";

impl Rejection {
    /// Every reason, in the order of the rendered series.
    pub(crate) const ALL: [Rejection; 7] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::TooLarge,
        Self::RateLimited,
        Self::Overloaded,
        Self::StoreError,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::StoreError => "store_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The name of its installation counter: `rejected_` and its label.
    pub(crate) fn counter_name(self) -> &'static str {
        match self {
            Self::BadRequest => "rejected_bad_request",
            Self::Unauthorized => "rejected_unauthorized",
            Self::Forbidden => "rejected_forbidden",
            Self::TooLarge => "rejected_too_large",
            Self::RateLimited => "rejected_rate_limited",
            Self::Overloaded => "rejected_overloaded",
            Self::StoreError => "rejected_store_error",
        }
    }
}

/// Item types whose items become the stored event (see `ingest.rs`): counted by
/// the event metrics, not by `periscope_items_accepted_total`.
const STORED_AS_EVENT: [ItemType; 3] = [ItemType::Event, ItemType::Security, ItemType::RawSecurity];

/// The label values of `periscope_items_accepted_total`, in order: every known
/// item type not stored as the event, then `other`.
fn item_labels() -> impl Iterator<Item = &'static str> {
    ItemType::KNOWN
        .iter()
        .filter(|ty| !STORED_AS_EVENT.contains(ty))
        .map(|ty| ty.as_str())
        .chain(std::iter::once(OTHER_ITEMS))
}

/// The label of items of unknown types (and of any type without its own label).
const OTHER_ITEMS: &str = "other";

/// The server's counters and gauges.
#[derive(Debug)]
pub(crate) struct Metrics {
    events_accepted: AtomicU64,
    events_duplicate: AtomicU64,
    rejected: [AtomicU64; 7],
    /// One per [`item_labels`] value, in order; the last is `other`.
    items_accepted: Box<[AtomicU64]>,
    bus_depth: AtomicU64,
    batches: AtomicU64,
    batch_events: AtomicU64,
    commit_micros_sum: AtomicU64,
    commit_micros_max: AtomicU64,
    commit_failures: AtomicU64,
    alerts_delivered: AtomicU64,
    alerts_failed: AtomicU64,
    /// When the process started counting (for its uptime).
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            events_accepted: AtomicU64::default(),
            events_duplicate: AtomicU64::default(),
            rejected: Default::default(),
            items_accepted: item_labels().map(|_| AtomicU64::default()).collect(),
            bus_depth: AtomicU64::default(),
            batches: AtomicU64::default(),
            batch_events: AtomicU64::default(),
            commit_micros_sum: AtomicU64::default(),
            commit_micros_max: AtomicU64::default(),
            commit_failures: AtomicU64::default(),
            alerts_delivered: AtomicU64::default(),
            alerts_failed: AtomicU64::default(),
            started: Instant::now(),
        }
    }
}

impl Metrics {
    /// An event was committed.
    pub(crate) fn event_accepted(&self, duplicate: bool) {
        if duplicate {
            self.events_duplicate.fetch_add(1, Ordering::Relaxed);
        } else {
            self.events_accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request was refused.
    pub(crate) fn rejected(&self, why: Rejection) {
        self.rejected[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A non-event envelope item was accepted (counted, not stored), by its
    /// type; unknown types (and types stored as the event) count as `other`.
    pub(crate) fn item_accepted(&self, ty: &ItemType) {
        let name = match ty {
            ItemType::Unknown(_) => OTHER_ITEMS,
            known => known.as_str(),
        };
        let last = self.items_accepted.len() - 1;
        let idx = item_labels().position(|l| l == name).unwrap_or(last);
        self.items_accepted[idx].fetch_add(1, Ordering::Relaxed);
    }

    /// The bus depth changed by `delta`.
    pub(crate) fn bus_add(&self, delta: i64) {
        if delta >= 0 {
            self.bus_depth
                .fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            self.bus_depth
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// A digest batch was committed (or failed).
    pub(crate) fn batch(&self, events: usize, micros: u64, ok: bool) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.commit_micros_sum.fetch_add(micros, Ordering::Relaxed);
        self.commit_micros_max.fetch_max(micros, Ordering::Relaxed);
        if !ok {
            self.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An alert delivery attempt finished.
    pub(crate) fn alert_attempt(&self, ok: bool) {
        if ok {
            self.alerts_delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.alerts_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The totals since the start of the counters that are also kept
    /// installation-wide: events accepted ([`ACCEPTED_COUNTER`]) and refusals
    /// by reason ([`Rejection::counter_name`]).
    pub(crate) fn installation_totals(&self) -> [(&'static str, u64); 8] {
        let mut out = [(
            ACCEPTED_COUNTER,
            self.events_accepted.load(Ordering::Relaxed),
        ); 8];
        for (slot, r) in out[1..].iter_mut().zip(Rejection::ALL) {
            *slot = (
                r.counter_name(),
                self.rejected[r.index()].load(Ordering::Relaxed),
            );
        }
        out
    }

    /// Events waiting in the ingest bus now.
    pub(crate) fn bus_depth(&self) -> u64 {
        self.bus_depth.load(Ordering::Relaxed)
    }

    /// How long the process has been counting (since its state was built).
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Renders all metrics in the Prometheus text exposition format, with the
    /// number of ingest requests being handled now (the caller reads it off the
    /// in-flight semaphore: nothing to count twice).
    pub(crate) fn render(&self, requests_in_flight: usize) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let plain = |v: u64| vec![(String::new(), v.to_string())];
        let mut out = String::with_capacity(2048);
        family(
            &mut out,
            "periscope_events_accepted_total",
            "Error events committed to the store.",
            "counter",
            &plain(load(&self.events_accepted)),
        );
        family(
            &mut out,
            "periscope_events_duplicate_total",
            "Events whose id was already stored (acknowledged, not stored twice).",
            "counter",
            &plain(load(&self.events_duplicate)),
        );
        let rejected: Vec<(String, String)> = Rejection::ALL
            .iter()
            .map(|r| {
                (
                    format!("{{reason=\"{}\"}}", r.label()),
                    load(&self.rejected[r.index()]).to_string(),
                )
            })
            .collect();
        family(
            &mut out,
            "periscope_events_rejected_total",
            "Ingest requests refused, by reason.",
            "counter",
            &rejected,
        );
        let items: Vec<(String, String)> = item_labels()
            .zip(self.items_accepted.iter())
            .map(|(ty, count)| (format!("{{type=\"{ty}\"}}"), load(count).to_string()))
            .collect();
        family(
            &mut out,
            "periscope_items_accepted_total",
            "Envelope items accepted and counted but not stored, by item type.",
            "counter",
            &items,
        );
        family(
            &mut out,
            "periscope_ingest_requests_in_flight",
            "Ingest requests being handled now (their body arriving, or waiting for the commit).",
            "gauge",
            &plain(requests_in_flight as u64),
        );
        family(
            &mut out,
            "periscope_bus_depth",
            "Events waiting in the ingest bus.",
            "gauge",
            &plain(load(&self.bus_depth)),
        );
        family(
            &mut out,
            "periscope_digest_batches_total",
            "Digest transactions run.",
            "counter",
            &plain(load(&self.batches)),
        );
        family(
            &mut out,
            "periscope_digest_batch_events_total",
            "Events handed to digest transactions (divide by batches for the mean batch size).",
            "counter",
            &plain(load(&self.batch_events)),
        );
        let secs = |micros: u64| vec![(String::new(), (micros as f64 / 1e6).to_string())];
        family(
            &mut out,
            "periscope_digest_commit_seconds_sum",
            "Total time spent in digest transactions.",
            "counter",
            &secs(load(&self.commit_micros_sum)),
        );
        family(
            &mut out,
            "periscope_digest_commit_seconds_max",
            "Longest digest transaction.",
            "gauge",
            &secs(load(&self.commit_micros_max)),
        );
        family(
            &mut out,
            "periscope_digest_failures_total",
            "Digest transactions that failed (their events were answered 503).",
            "counter",
            &plain(load(&self.commit_failures)),
        );
        family(
            &mut out,
            "periscope_alert_deliveries_total",
            "Alert delivery attempts, by result.",
            "counter",
            &[
                (
                    "{result=\"delivered\"}".to_owned(),
                    load(&self.alerts_delivered).to_string(),
                ),
                (
                    "{result=\"failed\"}".to_owned(),
                    load(&self.alerts_failed).to_string(),
                ),
            ],
        );
        out
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.event_accepted(false);
        m.event_accepted(false);
        m.rejected(Rejection::RateLimited);
        m.item_accepted(&ItemType::Session);
        m.item_accepted(&ItemType::Unknown("weird".into()));
        m.item_accepted(&ItemType::ClientReport);
        m.item_accepted(&ItemType::ClientReport);
        m.batch(10, 1500, true);
        let text = m.render(0);
        assert!(
            text.contains("periscope_events_accepted_total 2\n"),
            "{text}"
        );
        assert!(text.contains("periscope_events_rejected_total{reason=\"rate_limited\"} 1\n"));
        assert!(text.contains("periscope_items_accepted_total{type=\"session\"} 1\n"));
        assert!(text.contains("periscope_items_accepted_total{type=\"other\"} 1\n"));
        assert!(text.contains("periscope_items_accepted_total{type=\"client_report\"} 2\n"));
        assert!(text.contains("periscope_items_accepted_total{type=\"sessions\"} 0\n"));
        assert!(
            text.contains("periscope_digest_commit_seconds_sum 0.0015\n"),
            "{text}"
        );
        assert!(text.contains("periscope_digest_batch_events_total 10\n"));
    }

    #[test]
    fn installation_totals_follow_the_counters() {
        let m = Metrics::default();
        m.event_accepted(false);
        m.event_accepted(true);
        m.rejected(Rejection::Forbidden);
        m.rejected(Rejection::Forbidden);
        let totals = m.installation_totals();
        assert_eq!(
            totals[0],
            ("events_accepted", 1),
            "duplicates are not counted"
        );
        assert!(totals.contains(&("rejected_forbidden", 2)));
        assert!(totals.contains(&("rejected_store_error", 0)));
        // One counter per rendered reason, named after its label.
        for r in Rejection::ALL {
            assert_eq!(r.counter_name(), format!("rejected_{}", r.label()));
        }
    }

    #[test]
    fn one_label_per_item_type() {
        let m = Metrics::default();
        for ty in ItemType::KNOWN {
            m.item_accepted(ty);
        }
        m.item_accepted(&ItemType::parse("some_future_type"));
        let text = m.render(0);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("periscope_items_accepted_total{"))
            .collect();
        // Bounded: the known types but the event ones, and `other`.
        assert_eq!(
            lines.len(),
            ItemType::KNOWN.len() - STORED_AS_EVENT.len() + 1
        );
        for ty in ItemType::KNOWN {
            let line = format!("periscope_items_accepted_total{{type=\"{ty}\"}} 1");
            assert_eq!(
                lines.contains(&line.as_str()),
                !STORED_AS_EVENT.contains(ty),
                "{ty}: {text}"
            );
        }
        // Unknown types and the three event types.
        assert!(lines.contains(&"periscope_items_accepted_total{type=\"other\"} 4"));
    }
}
